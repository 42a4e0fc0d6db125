"""Radii derived from the training data (fit/radii.py): cutoffs that follow the size of
the atoms, inner radii from the closest pairs, and what a user sets is final."""
from types import SimpleNamespace

import numpy as np
import pytest
from ase.build import bulk

pytest.importorskip("ace_lin._neighbours")

from ace_lin.fit.radii import CUT_PER_NN, data_distances, data_radii  # noqa: E402

SMALL = {"order": 4, "degree": [16, 16, 12, 10], "w_l": 1.5, "r_cut": 5.0}


def frames(atoms, n=4, rattle=0.05, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = atoms.copy()
        a.positions += rng.normal(scale=rattle, size=a.positions.shape)
        out.append(SimpleNamespace(atoms=a))
    return out


def test_small_atoms_keep_the_preset_cutoff_and_get_inner_radii_from_closest_pairs():
    data = frames(bulk("Si", "diamond", a=5.43, cubic=True))
    dist = data_distances(data)
    assert dist.typical_nn["Si"] == pytest.approx(2.35, abs=0.1)
    out = data_radii(data, ["Si"], dict(SMALL))
    assert "r_cut" not in out  # 1.85 x 2.35 A < 5 A
    closest = dist.closest["Si-Si"]
    assert out["r_core"]["Si-Si"] == pytest.approx(0.999 * closest, abs=1e-3)
    assert out["r_in"]["Si-Si"] == pytest.approx(0.8 * closest, abs=1e-3)


def test_large_atoms_get_a_cutoff_between_the_third_and_fourth_shell():
    a = 6.05  # bcc Cs: nearest neighbour a sqrt(3)/2 = 5.24 A, more than the preset's 5 A
    data = frames(bulk("Cs", "bcc", a=a, cubic=True).repeat(2), rattle=0.02)
    out = data_radii(data, ["Cs"], dict(SMALL))
    nn = a * np.sqrt(3) / 2
    rc = out["r_cut"]["Cs-Cs"]
    assert rc == pytest.approx(CUT_PER_NN * nn, rel=0.02)
    assert np.sqrt(8 / 3) * nn < rc < np.sqrt(11 / 3) * nn  # 3rd shell a sqrt(2), 4th a sqrt(11)/2
    assert out["r_in"]["Cs-Cs"] < out["r_core"]["Cs-Cs"] < rc


def test_a_cutoff_the_user_gives_is_final():
    data = frames(bulk("Cs", "bcc", a=6.05, cubic=True))
    fields = dict(SMALL, r_cut=5.5)
    out = data_radii(data, ["Cs"], fields, explicit={"r_cut": 5.5})
    assert "r_cut" not in out
    # r_in / r_core given by the user are kept as well
    assert data_radii(data, ["Cs"], dict(fields, r_in=2.0, r_core=3.0), explicit=fields).keys() == set()


def test_dilute_atoms_do_not_inflate_their_pair_cutoff():
    # two Au in a Cu host, far apart: Au-Au never within 5 A, its size is set by the Cu
    # around it, and a pair that never comes within its cutoff keeps the BasisSpec radii
    host = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(3)
    host.symbols[0] = "Au"
    far = np.argmax(host.get_distances(0, range(len(host)), mic=True))
    host.symbols[far] = "Au"
    data = frames(host, rattle=0.02)
    dist = data_distances(data)
    assert dist.closest.get("Au-Au", np.inf) > 5.0  # not even searched for
    out = data_radii(data, ["Cu", "Au"], dict(SMALL))
    assert "r_cut" not in out
    assert "Au-Au" not in out["r_in"] and "Au-Au" not in out["r_core"]
    assert set(out["r_in"]) == {"Au-Cu", "Cu-Cu"}


def _lj_frames(path, n, seed):
    """Rattled, strained bcc cells of a large atom (nearest neighbour 5.24 A) with
    Lennard-Jones energies, forces and stresses, written as extended XYZ."""
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk("Cs", "bcc", a=6.05, cubic=True).repeat((2, 2, 1))
        a.set_cell(a.cell.array @ (np.eye(3) + rng.uniform(-0.03, 0.03, (3, 3))), scale_atoms=True)
        a.positions += rng.normal(scale=0.25, size=a.positions.shape)
        a.calc = LennardJones(sigma=5.24 / 2 ** (1 / 6), epsilon=0.05, rc=12.0, smooth=True)
        e, f, s = a.get_potential_energy(), a.get_forces(), a.get_stress()
        a.calc = SinglePointCalculator(a, energy=e, forces=f, stress=s)
        out.append(a)
    write(path, out, format="extxyz")


def test_default_fit_of_large_atoms_sees_their_neighbours(tmp_path):
    """With the preset's fixed 5 A cutoff a bcc Cs-sized crystal has almost no neighbours
    and the forces cannot be fitted; the data-derived cutoff fits them."""
    pytest.importorskip("ace_lin._core")
    from ace_lin.fit.driver import fit

    _lj_frames(tmp_path / "train.xyz", 16, 0)
    _lj_frames(tmp_path / "test.xyz", 4, 1)
    base = {"data": {"train": str(tmp_path / "train.xyz"), "test": str(tmp_path / "test.xyz")},
            "basis": {"size": "small"}, "output": str(tmp_path / "default.json")}
    model, report = fit(base)
    fixed, report5 = fit(dict(base, basis={"size": "small", "r_cut": 5.0},
                              output=str(tmp_path / "fixed.json")))
    assert model.spec.r_cut["Cs-Cs"] > 1.6 * 5.24 and fixed.spec.r_cut == {"Cs-Cs": 5.0}
    f_default, f_fixed = report.test_errors["force_rmse"], report5.test_errors["force_rmse"]
    print("test force RMSE eV/A: data-derived cutoff", f_default, "fixed 5 A", f_fixed)
    assert f_default < 0.2 * f_fixed


def test_long_range_cutoff_follows_the_raised_cutoff():
    """The long-range channel keeps its reach beyond r_cut when r_cut grows for large
    atoms; for small atoms the preset value stays, and a user's value is final."""
    fields = dict(SMALL, long_r_cut=7.0)
    si = frames(bulk("Si", "diamond", a=5.43, cubic=True))
    assert "long_r_cut" not in data_radii(si, ["Si"], dict(fields))
    cs = frames(bulk("Cs", "bcc", a=6.05, cubic=True).repeat(2), rattle=0.02)
    out = data_radii(cs, ["Cs"], dict(fields))
    assert out["long_r_cut"]["Cs-Cs"] == pytest.approx(1.4 * out["r_cut"]["Cs-Cs"], abs=0.01)
    assert "long_r_cut" not in data_radii(cs, ["Cs"], dict(fields), explicit={"long_r_cut": 7.0})
