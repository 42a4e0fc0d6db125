"""Design rows agree with the evaluator (E = B.c, F = -dB/dr.c, virial) and across threads."""
from dataclasses import replace

import numpy as np
import pytest

from ace_lin import ACECalculator, BasisSpec
from ace_lin.evaluate import design_and_reference, design_rows, reference_terms
from helpers import random_model, random_structure

SPEC = BasisSpec(elements=["Si", "O"], order=3, degree=(9, 8, 7), r_cut=4.5, r_in=0.9, r_core=1.6)
# with a long-range channel of lower lmax: far neighbours fill their own design tiles
SPEC_LONG = replace(SPEC, long_r_cut={"Si-Si": 6.0, "Si-O": 5.5, "O-O": 4.0}, long_degree=(7, 6),
                    long_w_l=2.0)


@pytest.mark.parametrize("spec", [SPEC, SPEC_LONG], ids=["short", "long"])
def test_linearity_against_calculator(spec):
    model = random_model(spec, seed=5)
    at = random_structure(["Si", "O"], 12, 2, periodic=True, triclinic=True)
    at.positions[1] = at.positions[0] + [1.3, 0.2, 0.0]  # one pair in the core region
    at.calc = ACECalculator(model)
    rows = design_rows(spec, at)
    ref = reference_terms(spec, at)
    n_el = {el: at.get_chemical_symbols().count(el) for el in spec.elements}
    e0 = sum(n_el[el] * model.e0[el] for el in spec.elements)
    c = model.coefficients
    assert abs(rows.energy @ c + ref.energy + e0 - at.get_potential_energy()) < 1e-10
    np.testing.assert_allclose(rows.forces @ c + ref.forces, at.get_forces(), atol=1e-10)
    stress = (rows.virial @ c + ref.virial) / at.get_volume()
    np.testing.assert_allclose(stress, at.get_stress(), atol=1e-12)
    assert abs(ref.energy) > 1e-3  # the core term is really exercised
    # the assembly's one-neighbour-list call gives exactly the same two parts
    both, ref2 = design_and_reference(spec, at)
    for x, y in ((both.energy, rows.energy), (both.forces, rows.forces),
                 (both.virial, rows.virial), (ref2.forces, ref.forces), (ref2.virial, ref.virial)):
        assert np.array_equal(x, y)
    assert ref2.energy == ref.energy and np.array_equal(ref2.energies, ref.energies)


@pytest.mark.parametrize("spec", [SPEC, SPEC_LONG], ids=["short", "long"])
def test_design_threads_agree(spec):
    at = random_structure(["Si", "O"], 30, 3, periodic=True)
    a = design_rows(spec, at, n_threads=1)
    b = design_rows(spec, at, n_threads=2)
    for x, y in ((a.energy, b.energy), (a.forces, b.forces), (a.virial, b.virial)):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-12 * max(1.0, np.abs(x).max()))


def test_structure_without_bonds():
    """Dilute configurations (no pair within the cutoff) have zero ACE rows, not an error
    (regression: W-Be EOS frames at > 40 A^3/atom)."""
    from ase import Atoms

    at = Atoms("SiO", positions=[[0, 0, 0], [0, 0, 9.0]], cell=[20, 20, 20], pbc=True)
    rows = design_rows(SPEC, at)
    assert not rows.energy.any() and not rows.forces.any() and not rows.virial.any()
    at.calc = ACECalculator(random_model(SPEC, seed=1))
    assert at.get_potential_energy() == sum(at.calc.model.e0[s] for s in ("Si", "O"))
