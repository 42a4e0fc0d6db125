"""ace_lin.data"""
