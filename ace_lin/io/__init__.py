"""ace_lin.io"""
