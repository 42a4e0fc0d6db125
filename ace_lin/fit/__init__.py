"""ace_lin.fit"""
