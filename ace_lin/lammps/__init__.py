"""ace_lin.lammps"""
