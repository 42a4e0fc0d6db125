"""Limits of the C core that the basis specification and its tables both obey."""

NU_MAX = 5          # largest correlation order of the C core (ACELIN_NU_MAX in csrc/acelin.h)
