"""Errors as data: the core reports the failing atom and bond as numbers (acelin_error),
through CoreModel as CoreComputeError (a ValueError) with .atom and .bond."""
import numpy as np
import pytest
from ase.build import bulk

from ace_lin import BasisSpec
from ace_lin._core import CoreComputeError
from ace_lin.evaluate import species_indices
from ace_lin.neighbours import neighbour_list_from_atoms
from helpers import random_model


@pytest.fixture(scope="module")
def case():
    spec = BasisSpec(elements=["Si"], order=3, degree=6, r_cut=4.5)
    model = random_model(spec, seed=1)
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.rattle(0.05, seed=2)
    nl = neighbour_list_from_atoms(atoms, model.core.max_cutoff)
    sp = species_indices(atoms, spec.elements)
    return model.core, sp, nl


def _calls(core, sp, nl, dr, nspec, nt):
    yield lambda: core.compute(sp, nl.start, nspec, dr, n_threads=nt)
    yield lambda: core.evaluate(sp, nl.start, nl.j, nspec, dr, n_threads=nt)
    yield lambda: core.design(sp, nl.start, nl.j, nspec, dr, n_threads=nt)


@pytest.mark.parametrize("nt", [1, 2])
def test_nan_displacement_names_atom_and_bond(case, nt):
    core, sp, nl = case
    dr = np.array(nl.dr, dtype=float).reshape(-1, 3)
    bad = int(nl.start[3]) + 2  # the third bond of atom 3
    dr[bad, 1] = np.nan
    dr[int(nl.start[6]), 0] = np.inf  # a later atom fails too: the lowest one is reported
    for call in _calls(core, sp, nl, dr, sp[nl.j], nt):
        with pytest.raises(CoreComputeError) as info:
            call()
        assert (info.value.atom, info.value.bond) == (3, bad)
        assert str(info.value).startswith(f"atom 3: bond {bad}: non-finite")
        assert isinstance(info.value, ValueError)


def test_unknown_neighbour_species_and_centre(case):
    core, sp, nl = case
    nspec = np.array(sp[nl.j])
    bad = int(nl.start[5])
    nspec[bad] = 7
    with pytest.raises(CoreComputeError) as info:
        core.compute(sp, nl.start, nspec, nl.dr)
    assert (info.value.atom, info.value.bond) == (5, bad)
    centre = np.array(sp)
    centre[4] = 2
    with pytest.raises(CoreComputeError) as info:
        core.compute(centre, nl.start, sp[nl.j], nl.dr)
    assert (info.value.atom, info.value.bond) == (4, -1)
