"""The MPI communicator of a fit or cross-validation, if it runs under an MPI launcher.

Assembly is the only distributed step: every rank assembles a share of the
configurations and the triangular factors are folded together (fit/assemble.py).
mpi4py is optional; without it (or outside mpirun) a fit runs on one process.
"""
import os

from ace_lin.fit.config import ConfigError

# environment variables set by MPI launchers (Open MPI, MPICH/Hydra, PMIx, Intel MPI)
MPI_ENV = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS")


def launched_by_mpi() -> bool:
    """True when an MPI launcher started this process (one of MPI_ENV is set)."""
    return any(k in os.environ for k in MPI_ENV)


def mpi_comm(mode: str):
    """mpi4py COMM_WORLD when asked for (mode 'on', or 'auto' when launched by mpirun) and
    it has more than one rank; else None. mode is the configuration's assembly.mpi."""
    if mode == "off" or (mode == "auto" and not launched_by_mpi()):
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        if mode == "on":
            raise ConfigError("assembly.mpi is 'on' but mpi4py is not installed") from None
        return None
    comm = MPI.COMM_WORLD
    return comm if comm.Get_size() > 1 else None
