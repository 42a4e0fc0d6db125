"""ace_lin: linear atomic cluster expansion force fields with a C core.

Units everywhere: energy eV, length Angstrom, force eV/Angstrom, stress eV/Angstrom^3
(ASE sign and Voigt order xx yy zz yz xz xy).

Public names are imported lazily so that importing the package has no side effects
and does not load the compiled core until it is needed.
"""
import os as _os

__version__ = "0.1.0"

# OpenMP threads of the core must not spin-wait after a parallel region: on small nodes
# they would fight BLAS's own threads in the fit (measured: 50 s -> 12 s for a Si fit on
# 2 cores). A user's explicit OMP_WAIT_POLICY wins. Must be set before libgomp loads.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_PUBLIC = {
    "BasisSpec": "ace_lin.basis.spec",
    "LinearACEModel": "ace_lin.model",
    "load_model": "ace_lin.model",
    "ACECalculator": "ace_lin.calculator",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'ace_lin' has no attribute {name!r}")
