"""ace_lin.cli"""
