"""Bad input gives a clear exception (or a finite core energy), never a crash or hang."""
import numpy as np
import pytest
from ase import Atoms

from ace_lin import ACECalculator, BasisSpec, LinearACEModel
from helpers import random_model

SPEC = BasisSpec(elements=["Si", "O"], order=3, degree=7, r_cut=4.0)


@pytest.fixture(scope="module")
def calc():
    return ACECalculator(random_model(SPEC, seed=1))


def _energy(calc, atoms):
    atoms.calc = calc
    return atoms.get_potential_energy()


def test_unknown_element(calc):
    with pytest.raises(ValueError, match=r"\['C'\] not in the model"):
        _energy(calc, Atoms("SiC", positions=[[0, 0, 0], [2, 0, 0]]))


def test_nan_positions(calc):
    with pytest.raises(ValueError, match="NaN"):
        _energy(calc, Atoms("SiO", positions=[[0, 0, 0], [np.nan, 0, 0]]))


def test_empty_structure(calc):
    with pytest.raises(ValueError, match="empty structure"):
        _energy(calc, Atoms())


def test_atoms_at_same_position(calc):
    with pytest.raises(ValueError, match="same position"):
        _energy(calc, Atoms("SiO", positions=[[1, 1, 1], [1, 1, 1]]))


def test_close_atoms_are_repelled_by_the_core(calc):
    e = [_energy(calc, Atoms("SiO", positions=[[0, 0, 0], [r, 0, 0]])) for r in (0.05, 0.2, 0.5)]
    assert all(np.isfinite(e)) and e[0] > e[1] > e[2] > 0


def test_bad_coefficients():
    with pytest.raises(ValueError, match="expected"):
        LinearACEModel(SPEC, np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        LinearACEModel(SPEC, np.full(SPEC.n_basis, np.nan))
    with pytest.raises(ValueError, match="not in the spec"):
        LinearACEModel(SPEC, np.zeros(SPEC.n_basis), e0={"Fe": 1.0})
