"""The active-learning loop and on-the-fly mode end to end with ASE's EMT as the oracle:
labels are the oracle's, none is lost or repeated after kill -9, a failing oracle call
is recorded and skipped."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import read, write

from ace_lin.learn.journal import Journal

HERE = os.path.dirname(os.path.abspath(__file__))


class SlowEMT(EMT):
    """EMT that takes its time (so that a test can kill the loop while it labels) and, with
    fail_odd, fails on about half of the frames, chosen by their positions (a failing DFT run)."""

    def __init__(self, delay=0.0, fail_odd=False, **kw):
        super().__init__(**kw)
        self.delay, self.fail_odd = delay, fail_odd

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        time.sleep(self.delay)
        if self.fail_odd and int(np.abs(atoms.positions).sum() * 1e4) % 2:
            raise RuntimeError("SCF did not converge")
        super().calculate(atoms, properties, system_changes)


def _start(path, n=4, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        a = bulk("Cu", "fcc", a=3.59, cubic=True)
        a.positions += rng.normal(0, 0.04, a.positions.shape)
        b = a.copy()
        b.calc = EMT()
        a.calc = SinglePointCalculator(a, energy=b.get_potential_energy(), forces=b.get_forces(),
                                       stress=b.get_stress())
        frames.append(a)
    write(path, frames)


def _config(d, **over):
    _start(os.path.join(d, "start.extxyz"))
    raw = {"fit": {"data": {"train": "start.extxyz"}, "basis": {"order": 3, "degree": 8, "r_cut": 4.5},
                   "assembly": {"progress": False}},
           "oracle": {"calculator": "test_active_learn.SlowEMT", "kwargs": {"delay": 0.0}},
           "structures": "start.extxyz",
           "explore": {"temperatures": [900], "strains": [0.0, 0.04], "steps": 40, "timestep": 2.0,
                       "stride": 10},
           "threshold": 1.1, "select_per_iteration": 3, "budget": 6, "iterations": 3, "seed": 3,
           "output": "run"}
    for k, v in over.items():
        raw[k] = v
    path = os.path.join(d, "al.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(raw, fh)
    return path


def _run(config, wait=True):
    env = dict(os.environ, PYTHONPATH=HERE + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "ace_lin.cli.main", "active-learn", config, "--no-progress"]
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def _check_run(root):
    """No label lost or repeated; each label is the oracle's result on its selected frame."""
    labelled = Journal(os.path.join(root, "labelled.extxyz"))
    failed = Journal(os.path.join(root, "failed.jsonl"))
    assert len(set(labelled.keys)) == len(labelled.keys)
    frames = read(os.path.join(root, "labelled.extxyz"), ":") if len(labelled) else []
    assert len(frames) == len(labelled)
    state = json.load(open(os.path.join(root, "state.json")))
    done = {}
    for k in range(state["iteration"]):
        sel_path = os.path.join(root, "iterations", f"{k:03d}", "selected.extxyz")
        sel = read(sel_path, ":") if os.path.getsize(sel_path) else []
        keys = {key for key in labelled.keys + failed.keys if key[0] == k}
        assert keys == {(k, j) for j in range(len(sel))}, f"iteration {k}: labels {sorted(keys)}"
        done.update({(k, j): a for j, a in enumerate(sel)})
    for key, frame in zip(labelled.keys, frames):
        assert np.allclose(frame.positions, done[key].positions, atol=1e-8)
        ref = frame.copy()
        ref.calc = EMT()
        assert np.allclose(frame.get_forces(), ref.get_forces(), atol=1e-6)
    model = json.load(open(os.path.join(root, "model.json")))
    assert model["metadata"].get("active_learning", {}).get("labels_folded", 0) == len(labelled)
    return state, labelled, failed


@pytest.mark.slow
def test_loop_labels_extrapolating_frames_and_survives_kill_9(tmp_path):
    config = _config(str(tmp_path), oracle={"calculator": "test_active_learn.SlowEMT",
                                            "kwargs": {"delay": 0.4}})
    root = str(tmp_path / "run")
    proc = _run(config, wait=False)
    index = os.path.join(root, "labelled.extxyz.index.json")
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # kill while it labels
        if os.path.exists(index) and len(json.load(open(index))["keys"]) >= 1:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the loop ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    out = _run(config)
    assert out.returncode == 0, out.stderr[-2000:]
    state, labelled, failed = _check_run(root)
    assert state["finished"] in ("budget", "converged", "iterations")
    assert 1 <= len(labelled) <= 6 and len(failed) == 0
    rows = list(open(os.path.join(root, "progress.csv")))
    assert rows[0].strip() == "iteration,labels,frames_checked,frames_above_threshold,max_grade,selected,failed"
    assert len(rows) - 1 == len(state["rows"])
    # running the finished run again changes nothing
    before = open(os.path.join(root, "labelled.extxyz")).read()
    assert _run(config).returncode == 0
    assert open(os.path.join(root, "labelled.extxyz")).read() == before
    # a different configuration in the same folder is refused with one line
    other = _config(str(tmp_path), budget=7)
    bad = _run(other)
    assert bad.returncode == 2 and "another configuration" in bad.stderr
    assert os.path.exists(os.path.join(root, "progress.png"))


@pytest.mark.slow
def test_failing_oracle_is_recorded_and_skipped(tmp_path):
    config = _config(str(tmp_path), oracle={"calculator": "test_active_learn.SlowEMT",
                                            "kwargs": {"fail_odd": True}},
                     iterations=1, select_per_iteration=6)
    out = _run(config)
    assert out.returncode == 0, out.stderr[-2000:]
    state, labelled, failed = _check_run(str(tmp_path / "run"))
    records = [json.loads(line) for line in open(tmp_path / "run" / "failed.jsonl")]
    assert len(records) == len(failed)
    assert all("SCF did not converge" in r["error"] for r in records)
    assert len(labelled) + len(failed) == state["rows"][0]["selected"]
    assert len(failed) >= 1 and len(labelled) >= 1, (len(labelled), len(failed))


@pytest.mark.slow
def test_on_the_fly_labels_along_one_trajectory(tmp_path):
    config = _config(str(tmp_path), mode="on-the-fly", budget=3,
                     explore={"temperatures": [900], "strains": [0.0], "steps": 60,
                              "timestep": 2.0, "stride": 10})
    out = _run(config)
    assert out.returncode == 0, out.stderr[-2000:]
    root = str(tmp_path / "run")
    labelled = Journal(os.path.join(root, "labelled.extxyz"))
    assert 1 <= len(labelled) <= 3
    assert all(key[0] == "otf" for key in labelled.keys)
    steps = [key[1] for key in labelled.keys]
    assert steps == sorted(set(steps))
    model = json.load(open(os.path.join(root, "model.json")))
    assert model["metadata"]["active_learning"]["labels_folded"] == len(labelled)
    ck = json.load(open(os.path.join(root, "onthefly.checkpoint.json")))
    assert ck["step"] == 60 or len(labelled) == 3
