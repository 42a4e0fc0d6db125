"""Molecular dynamics (ASE or LAMMPS engine), resumable; see ace_lin.md.config for the keys."""
