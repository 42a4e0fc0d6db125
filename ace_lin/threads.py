"""Thread settings for fits and MD runs: configure_threads().

The compiled core runs OpenMP threads (libgomp) and numpy runs BLAS threads, in the same
process and often one after the other. Two defaults of those libraries cost time here:
- OpenMP threads spin (busy-wait) for a while after each parallel region. During a fit,
  the core's assembly alternates with BLAS factorizations, and the spinning OpenMP
  threads take the cores BLAS needs; on a small node this slows a fit several-fold.
  OMP_WAIT_POLICY=PASSIVE makes them sleep instead.
- Under mpirun, every rank on a node starts one BLAS and one OpenMP thread per core: N
  ranks oversubscribe the node N times (and MPI launchers busy-poll too). Each rank gets
  its share of the cores instead.
Both libraries read these variables once, when they are loaded: configure_threads() must
run before numpy (BLAS) and ace_lin's compiled core (libgomp) are imported. The `ace-lin`
command calls it first thing (ace_lin/cli/main.py). A script or notebook calls it before
importing numpy:

    from ace_lin.threads import configure_threads
    configure_threads()
    import numpy as np
    ...

Importing ace_lin itself changes nothing in the environment.
"""
import os
from typing import Dict, MutableMapping, Optional

# set by MPI launchers: number of ranks on this node (MPICH/Hydra, Open MPI)
LOCAL_RANKS_ENV = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")
# a user's thread count in any of these means: leave the thread counts alone
THREAD_COUNT_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def configure_threads(environ: Optional[MutableMapping[str, str]] = None) -> Dict[str, str]:
    """Set the thread variables in `environ` (default os.environ) where the user has not:
    - OMP_WAIT_POLICY=PASSIVE (a user's OMP_WAIT_POLICY is kept);
    - when an MPI launcher reports N ranks on this node (LOCAL_RANKS_ENV) and none of
      THREAD_COUNT_ENV is set: OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = max(1, cores // N),
      cores being those this process may run on.
    Returns {name: value} of what it set (empty when everything was already set). Call it
    before numpy and the compiled core are imported (see the module docstring)."""
    env = os.environ if environ is None else environ
    done = {}
    if "OMP_WAIT_POLICY" not in env:
        done["OMP_WAIT_POLICY"] = "PASSIVE"
    local = next((env[k] for k in LOCAL_RANKS_ENV if env.get(k)), None)
    if local and not any(k in env for k in THREAD_COUNT_ENV):
        share = str(max(1, _cores() // max(1, int(local))))
        done["OMP_NUM_THREADS"] = done["OPENBLAS_NUM_THREADS"] = share
    env.update(done)
    return done
