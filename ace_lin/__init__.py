"""ace_lin: linear atomic cluster expansion force fields with a C core.

Units everywhere: energy eV, length Angstrom, force eV/Angstrom, stress eV/Angstrom^3
(ASE sign and Voigt order xx yy zz yz xz xy).

Public names are imported lazily so that importing the package has no side effects
and does not load the compiled core until it is needed. Importing it leaves os.environ
alone; the thread settings that keep fits fast are ace_lin.threads.configure_threads(),
which the `ace-lin` command applies and a script calls before importing numpy.
"""
__version__ = "0.1.0"

_PUBLIC = {
    "BasisSpec": "ace_lin.basis.spec",
    "LinearACEModel": "ace_lin.model",
    "load_model": "ace_lin.model",
    "ACECalculator": "ace_lin.calculator",
    "configure_threads": "ace_lin.threads",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name):
    if name in _PUBLIC:
        import importlib

        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'ace_lin' has no attribute {name!r}")
