"""ace_lin.basis"""
