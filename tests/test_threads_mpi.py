"""Under mpirun every rank gets its share of the node's cores for BLAS and OpenMP
(ace_lin/threads.py configure_threads, as the `ace-lin` command applies it), unless the
user set a thread count."""
import os
import shutil
import subprocess
import sys

import pytest

pytestmark = pytest.mark.mpi

# each process writes one line to its own file (ranks' stdout lines can interleave)
PROBE = ("import os, sys; from ace_lin.threads import configure_threads; configure_threads(); "
         "e = os.environ; "
         "rank = e.get('PMI_RANK') or e.get('OMPI_COMM_WORLD_RANK') or 'serial'; "
         "open(os.path.join(sys.argv[1], rank), 'w').write(' '.join(map(str, ["
         "e.get('OMP_NUM_THREADS'), e.get('OPENBLAS_NUM_THREADS'), "
         "len(os.sched_getaffinity(0))])))")


def _run(cmd, env, folder):
    out = subprocess.run(cmd + [sys.executable, "-c", PROBE, str(folder)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [(folder / name).read_text().split() for name in sorted(os.listdir(folder))]


def _ranks(env, folder):
    if shutil.which("mpirun") is None:
        pytest.skip("mpirun not found")
    return _run(["mpirun", "-n", "2"], env, folder)


def test_ranks_share_the_cores(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    rows = _ranks(env, tmp_path)
    assert len(rows) == 2
    for omp, blas, cores in rows:
        share = str(max(1, int(cores) // 2))
        assert omp == share and blas == share


def test_a_user_thread_count_is_kept(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="3")
    env.pop("OPENBLAS_NUM_THREADS", None)
    for omp, blas, _ in _ranks(env, tmp_path):
        assert omp == "3" and blas == "None"


def test_serial_import_leaves_threads_alone(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MPI_LOCALNRANKS",
                        "OMPI_COMM_WORLD_LOCAL_SIZE")}
    (row,) = _run([], env, tmp_path)
    assert row[:2] == ["None", "None"]
