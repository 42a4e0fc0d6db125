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


def _share_cores_under_mpi():
    """Under mpirun, N ranks on a node would each start one BLAS and one OpenMP thread per
    core; with the launcher's busy-polling that oversubscribes the node (measured: 2 ranks
    on 2 cores, `ace-lin cv` of the bundled example 53 s instead of 2.8 s). Give each rank
    its share of the cores unless the user set a thread count. Must run before numpy loads
    BLAS (the CLI imports this package first; a script that imports numpy earlier should
    set OMP_NUM_THREADS itself)."""
    env = _os.environ
    local = env.get("MPI_LOCALNRANKS") or env.get("OMPI_COMM_WORLD_LOCAL_SIZE")
    if not local or any(k in env for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                            "MKL_NUM_THREADS")):
        return
    try:
        cores = len(_os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = _os.cpu_count() or 1
    share = str(max(1, cores // max(1, int(local))))
    env["OMP_NUM_THREADS"] = share
    env["OPENBLAS_NUM_THREADS"] = share


_share_cores_under_mpi()

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
