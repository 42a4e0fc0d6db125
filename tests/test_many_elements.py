"""Five elements: derivatives and symmetries of the evaluator, and a fit that does not
depend on the order in which the elements are listed (species indices are labels only)."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

pytest.importorskip("ace_lin._core")

from ace_lin import BasisSpec  # noqa: E402
from helpers import (five_element_cell, numerical_forces, numerical_stress, random_model,  # noqa: E402
                     with_calculator)

ELEMENTS = ["Al", "Cu", "Ni", "Pd", "Pt"]
SPEC5 = BasisSpec(elements=ELEMENTS, order=4, degree=(6, 5, 4, 4), r_cut=4.2, r_in=0.9,
                  r_core=1.5)


@pytest.fixture(scope="module")
def model5():
    return random_model(SPEC5, seed=5)


@pytest.fixture(scope="module")
def cell5():
    return five_element_cell(ELEMENTS)


def test_five_element_basis_couples_all_species(model5):
    """The basis has functions of every order for every centre element."""
    t = SPEC5.basis()
    for el in range(len(ELEMENTS)):
        assert set(t.nu[t.species == el]) == {1, 2, 3, 4}


def test_forces_and_stress_match_finite_differences(model5, cell5):
    at = with_calculator(model5, cell5)
    f, s = at.get_forces(), at.get_stress()
    assert np.abs(f).max() > 1e-2 and np.abs(s).max() > 1e-4  # not trivially zero
    assert np.abs(f - numerical_forces(at)).max() / np.abs(f).max() < 1e-6
    assert np.abs(s - numerical_stress(at)).max() / np.abs(s).max() < 1e-6


def test_rotation_reflection_permutation(model5, cell5):
    at = with_calculator(model5, cell5)
    e, f, s = at.get_potential_energy(), at.get_forces(), at.get_stress(voigt=False)
    R = Rotation.random(random_state=4).as_matrix()
    for Q in (R, -R, np.diag([1.0, -1.0, 1.0]) @ R):
        x = with_calculator(model5, at)
        x.set_cell(at.cell.array @ Q.T, scale_atoms=False)
        x.positions = at.positions @ Q.T
        assert abs(x.get_potential_energy() - e) < 1e-10 * abs(e)
        np.testing.assert_allclose(x.get_forces(), f @ Q.T, atol=1e-10 * np.abs(f).max())
        np.testing.assert_allclose(x.get_stress(voigt=False), Q @ s @ Q.T,
                                   atol=1e-10 * np.abs(s).max())
    perm = np.random.default_rng(2).permutation(len(at))
    x = with_calculator(model5, at[perm])
    assert abs(x.get_potential_energy() - e) < 1e-10 * abs(e)
    np.testing.assert_allclose(x.get_forces(), f[perm], atol=1e-10 * np.abs(f).max())
    # swapping two atoms of different elements changes the energy (species matter)
    sym = at.get_chemical_symbols()
    i, j = 0, next(k for k in range(len(at)) if sym[k] != sym[0])
    y = at.copy()
    y.symbols[i], y.symbols[j] = sym[j], sym[i]
    assert abs(with_calculator(model5, y).get_potential_energy() - e) > 1e-6 * abs(e)


def _emt_frames(seed, n):
    """Small random five-element fcc alloys labelled with ASE's EMT (eV, eV/A, eV/A^3)."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = bulk("Cu", "fcc", a=3.85, cubic=True).repeat((2, 2, 1))
        a.set_chemical_symbols(list(rng.choice(ELEMENTS, size=len(a))))
        eps = rng.uniform(-0.02, 0.02, (3, 3))
        a.set_cell(a.cell.array @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        a.positions += rng.normal(0, 0.08, a.positions.shape)
        ref = a.copy()
        ref.calc = EMT()
        a.calc = SinglePointCalculator(a, energy=ref.get_potential_energy(),
                                       forces=ref.get_forces(), stress=ref.get_stress())
        out.append(a)
    return out


@pytest.mark.parametrize("channels", [None, 2])
def test_fit_does_not_depend_on_the_order_of_the_elements(tmp_path, channels):
    """The same data fitted with the elements listed in two orders (species indices
    permuted in the basis, the design and the model) give the same model: equal
    predictions on new structures and an equal r_scale search; also with a chemical
    embedding, whose weights come from the data."""
    from ase.io import write

    from ace_lin.fit.driver import fit

    train = str(tmp_path / "train.extxyz")
    write(train, _emt_frames(1, 8), format="extxyz")
    test = _emt_frames(2, 2)
    basis = {"order": 3, "degree": [5, 4, 3], "r_cut": 4.2, "species_channels": channels}
    preds = []
    for k, order in enumerate((ELEMENTS, ["Pt", "Ni", "Al", "Pd", "Cu"])):
        cfg = {"data": {"train": train}, "elements": order, "e0": "fit", "basis": basis,
               "output": str(tmp_path / f"model{k}.json"), "assembly": {"progress": False}}
        model, report = fit(cfg)
        assert list(model.spec.elements) == order
        e = [with_calculator(model, a).get_potential_energy() for a in test]
        f = np.concatenate([with_calculator(model, a).get_forces() for a in test])
        preds.append((np.array(e), f, report.r_scale_search["factor"], model.e0))
    (e0, f0, r0, z0), (e1, f1, r1, z1) = preds
    assert r0 == r1
    np.testing.assert_allclose(e1, e0, rtol=1e-8)
    np.testing.assert_allclose(f1, f0, atol=1e-6 * np.abs(f0).max())
    for el in ELEMENTS:
        assert z1[el] == pytest.approx(z0[el], rel=1e-8)


@pytest.mark.lammps
def test_lammps_matches_calculator_for_five_elements(model5, tmp_path):
    """pair_style acelin with five atom types (listed in another order than the model's
    elements) gives the ASE calculator's energy, forces and stress."""
    pytest.importorskip("lammps")
    from test_lammps import check_against_calculator

    check_against_calculator(model5, ["Pd", "Al", "Pt", "Cu", "Ni"], str(tmp_path / "five.json"), tmp_path)
