"""Molecular dynamics with the ASE calculator (restartable, atomic checkpoints)."""
