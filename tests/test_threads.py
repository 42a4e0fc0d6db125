"""Thread settings (ace_lin/threads.py): importing ace_lin changes nothing in the
environment; configure_threads() and the `ace-lin` entry point apply them, a user's
values win."""
import os
import subprocess
import sys

from ace_lin.threads import configure_threads

THREAD_VARS = ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")


def _clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update(extra)
    return env


def _python(code, env):
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_changes_no_environment_variable():
    # MPI_LOCALNRANKS set: the core share would apply if importing configured threads
    code = ("import os; e = dict(os.environ); import ace_lin; "
            "from ace_lin import BasisSpec, LinearACEModel, ACECalculator; "
            "import ace_lin.fit.driver; assert dict(os.environ) == e, "
            "set(os.environ.items()) ^ set(e.items())")
    _python(code, _clean_env())
    _python(code, _clean_env(MPI_LOCALNRANKS="2"))


def test_configure_threads_sets_passive_wait_and_the_rank_share():
    env = {}
    assert configure_threads(env) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"MPI_LOCALNRANKS": "2"}
    done = configure_threads(env)
    share = str(max(1, len(os.sched_getaffinity(0)) // 2))
    assert done == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": share,
                    "OPENBLAS_NUM_THREADS": share}
    assert env["OMP_NUM_THREADS"] == share and env["MPI_LOCALNRANKS"] == "2"


def test_configure_threads_keeps_the_users_values():
    env = {"OMP_WAIT_POLICY": "ACTIVE", "OMPI_COMM_WORLD_LOCAL_SIZE": "4", "MKL_NUM_THREADS": "3"}
    before = dict(env)
    assert configure_threads(env) == {}
    assert env == before


def test_cli_applies_the_settings_before_heavy_imports():
    """The entry point sets OMP_WAIT_POLICY=PASSIVE when it is unset, before numpy is
    loaded (it reads the variables once, at load time), and a user's value wins."""
    code = ("import os, sys; from ace_lin.cli.main import main; "
            "assert 'numpy' not in sys.modules, 'numpy loaded before configure_threads'; "
            "seen = {}; import ace_lin.cli.info as info; "
            "info.run = lambda args: seen.update(policy=os.environ.get('OMP_WAIT_POLICY')) or 0; "
            "r = main(['info', 'model.json']); print(r, seen['policy'])")
    assert _python(code, _clean_env()) == "0 PASSIVE"
    assert _python(code, _clean_env(OMP_WAIT_POLICY="ACTIVE")) == "0 ACTIVE"
