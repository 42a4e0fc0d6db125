"""MD driver: a restarted run continues exactly where the checkpoint left it."""
import os

import numpy as np
import pytest
from ase.build import bulk
from ase.io import read

from ace_lin import ACECalculator
from ace_lin.fit.driver import fit
from ace_lin.md.run import MDSettings, plot_md, run_md

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples", "data")


@pytest.fixture(scope="module")
def si_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("md")
    cfg = {"data": {"train": os.path.join(EXAMPLES, "Si_train.xyz")}, "elements": ["Si"],
           "basis": {"size": "small", "order": 3, "degree": [10, 10, 8]},
           "output": str(out / "si.json")}
    model, _ = fit(cfg, progress=False)
    return model


def test_restart_reproduces_uninterrupted_run(si_model, tmp_path):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    calc = ACECalculator(si_model)
    s = dict(dt_fs=1.0, temperature_K=600, ensemble="nvt", interval=5, checkpoint_every=10, seed=3)
    full = run_md(atoms, calc, MDSettings(steps=30, **s), str(tmp_path / "full"))
    run_md(atoms, calc, MDSettings(steps=20, **s), str(tmp_path / "part"))
    # a crashed run leaves frames after its last checkpoint: they must be dropped
    with open(tmp_path / "part.extxyz", "a") as fh:
        fh.write("garbage from a crashed run\n")
    part = run_md(atoms, calc, MDSettings(steps=30, **s), str(tmp_path / "part"), restart=True)
    np.testing.assert_array_equal(part["etot"], full["etot"])
    a = read(tmp_path / "full.extxyz", ":")
    b = read(tmp_path / "part.extxyz", ":")
    assert len(a) == len(b) == 7
    np.testing.assert_array_equal(a[-1].positions, b[-1].positions)
    plot_md(part, str(tmp_path / "md.png"))
    assert os.path.getsize(tmp_path / "md.png") > 1000


def test_nve_conserves_energy(si_model, tmp_path):
    atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 2, 2))
    log = run_md(atoms, ACECalculator(si_model), MDSettings(steps=200, dt_fs=1.0, temperature_K=300,
                                                           ensemble="nve", interval=10), str(tmp_path / "nve"))
    assert np.ptp(log["etot"]) / len(atoms) < 2e-4  # eV/atom
    # kinetic energy flows into the lattice: ~T0/2 on average, fluctuating for 64 atoms
    assert 40 < log["temperature"][-10:].mean() < 260


def test_bad_settings():
    with pytest.raises(ValueError, match="ensemble"):
        MDSettings(ensemble="npt").check()
