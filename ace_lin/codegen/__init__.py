"""ace_lin.codegen"""
