"""Contracted radial channels in the C core (tables.radial_weights).

A species-resolved basis can be written exactly as a contracted one: one channel per
(species, n, l) whose weights pick the base function n for neighbours of that species and
are zero for the others. Both forms must give the same energies, forces, virials, design
rows, basis vectors and atomic bases (to round-off: the products are summed in another
order), for one and several elements and with the long-range channel.
"""
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("ace_lin._core")

from ace_lin import BasisSpec  # noqa: E402
from ace_lin._core import CoreModel  # noqa: E402
from ace_lin.evaluate import species_indices  # noqa: E402
from ace_lin.neighbours import neighbour_list_from_atoms  # noqa: E402
from helpers import random_model, random_structure  # noqa: E402

NU_MAX = 5

SPECS = {
    "one element": BasisSpec(elements=["Si"], order=4, degree=(8, 8, 6, 5), r_cut=4.5, r_in=1.0,
                             r_core=1.6),
    "three elements": BasisSpec(elements=["Si", "O", "H"], order=3, degree=(6, 6, 5), r_cut=4.2,
                                r_in=0.7, r_core=1.0),
    "long-range channel": BasisSpec(elements=["Si", "Ge"], order=3, degree=(7, 7, 5), r_cut=4.0,
                                    r_in=1.0, r_core=1.6, long_r_cut=6.0, long_order=2,
                                    long_degree=(8, 7), long_lmax=3),
}


def as_contracted(t):
    """The same basis as contracted channels: channel (z, n, l) gets the label
    z * n_max + n and the weight 1 on base function n for neighbours of species z."""
    ns = len(t.elements)
    nbase = t.n_radial + t.n_radial_long
    n_nlm = int(np.sum(2 * t.nl_l + 1))
    chans = [(z, int(n), int(l)) for z in range(ns) for n, l in zip(t.nl_n, t.nl_l)]
    off, new_off = 0, {}
    for c in chans:
        new_off[c] = off
        off += 2 * c[2] + 1
    old_off = np.concatenate([[0], np.cumsum(2 * t.nl_l + 1)[:-1]])
    remap = np.empty(ns * n_nlm, dtype=np.int32)
    for z in range(ns):
        for k, (n, l) in enumerate(zip(t.nl_n, t.nl_l)):
            for m in range(2 * l + 1):
                remap[z * n_nlm + old_off[k] + m] = new_off[(z, int(n), int(l))] + m
    f = np.asarray(t.term_factors).reshape(-1, NU_MAX)
    f = np.where(f >= 0, remap[np.maximum(f, 0)], -1).astype(np.int32)
    W = np.zeros((ns * ns, len(chans), nbase))
    for zc in range(ns):
        for zj in range(ns):
            for k, (z, n, _l) in enumerate(chans):
                if z == zj:
                    W[zc * ns + zj, k, n - 1] = 1.0
    n_max = int(t.nl_n.max())
    return replace(t, nl_n=np.array([z * n_max + n for z, n, _ in chans], dtype=np.int32),
                   nl_l=np.array([l for _, _, l in chans], dtype=np.int32),
                   term_factors=f, radial_weights=W)


def _bonds(core, elements, atoms):
    species = species_indices(atoms, elements)
    nl = neighbour_list_from_atoms(atoms, core.max_cutoff)
    return species, nl, species[nl.j]


@pytest.mark.parametrize("name", sorted(SPECS))
def test_contracted_form_of_a_species_basis_is_the_same_model(name):
    spec = SPECS[name]
    model = random_model(spec, seed=3)
    e0 = np.array([model.e0[el] for el in spec.elements])
    t = spec.basis()
    ref = CoreModel.from_tables(t, model.coefficients, e0)
    con = CoreModel.from_tables(as_contracted(t), model.coefficients, e0)
    atoms = random_structure(list(spec.elements), 24, seed=7, density=0.07, min_dist=1.9)
    species, nl, nsp = _bonds(ref, spec.elements, atoms)
    assert con.max_cutoff == ref.max_cutoff
    a = ref.evaluate(species, nl.start, nl.j, nsp, nl.dr)
    b = con.evaluate(species, nl.start, nl.j, nsp, nl.dr)
    assert abs(a[0]) > 1e-3 and np.abs(a[2]).max() > 1e-3  # not trivially zero
    assert abs(a[0] - b[0]) < 1e-12 * abs(a[0])
    for x, y in zip(a[1:], b[1:]):
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-12 * np.abs(x).max())
    da = ref.design(species, nl.start, nl.j, nsp, nl.dr)
    db = con.design(species, nl.start, nl.j, nsp, nl.dr)
    for x, y in zip(da, db):
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-12 * np.abs(x).max())
    np.testing.assert_allclose(con.basis_vectors(species, nl.start, nsp, nl.dr),
                               ref.basis_vectors(species, nl.start, nsp, nl.dr), rtol=1e-13, atol=1e-13)


def test_atomic_base_layout():
    """acelin_atomic_base: species blocks of the file layout; the contracted form holds the
    same numbers under its own channel order."""
    spec = SPECS["three elements"]
    t = spec.basis()
    zero = np.zeros(t.n_basis)
    ref = CoreModel.from_tables(t, zero, np.zeros(3))
    con = CoreModel.from_tables(as_contracted(t), zero, np.zeros(3))
    atoms = random_structure(list(spec.elements), 12, seed=2, density=0.07, min_dist=1.9)
    species, nl, nsp = _bonds(ref, spec.elements, atoms)
    A = ref.atomic_base(species, nl.start, nsp, nl.dr)
    B = con.atomic_base(species, nl.start, nsp, nl.dr)
    assert A.shape == B.shape == (12, 3 * int(np.sum(2 * t.nl_l + 1)))
    # the species-resolved layout is [z][channel][m]; the contracted one [(z, channel)][m]
    np.testing.assert_allclose(B, A, rtol=0, atol=1e-13 * np.abs(A).max())
    # A_{z, n, l=0}: sum over neighbours of species z of R_n (l = 0, m = 0, Y_00 constant)
    assert np.abs(A).max() > 0


def test_contracted_weights_must_be_finite():
    t = as_contracted(SPECS["one element"].basis())
    W = t.radial_weights.copy()
    W[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        CoreModel.from_tables(replace(t, radial_weights=W), np.zeros(t.n_basis), np.zeros(1))


def test_wide_and_portable_kernels_agree(monkeypatch):
    """The AVX2/FMA kernels (chosen at run time where the CPU has them) and the build's own
    give the same energies, forces and design rows to round-off."""
    spec = SPECS["long-range channel"]
    model = random_model(spec, seed=4)
    e0 = np.array([model.e0[el] for el in spec.elements])
    t = spec.basis()
    wide = CoreModel.from_tables(t, model.coefficients, e0)
    monkeypatch.setenv("ACE_LIN_KERNELS", "portable")
    portable = CoreModel.from_tables(t, model.coefficients, e0)
    if wide.kernel_width == portable.kernel_width:
        pytest.skip("this CPU or build runs one kernel width only")
    atoms = random_structure(list(spec.elements), 24, seed=9, density=0.07, min_dist=1.9)
    species, nl, nsp = _bonds(wide, spec.elements, atoms)
    a = wide.evaluate(species, nl.start, nl.j, nsp, nl.dr)
    b = portable.evaluate(species, nl.start, nl.j, nsp, nl.dr)
    assert abs(a[0] - b[0]) < 1e-12 * abs(a[0])
    for x, y in zip(a[1:], b[1:]):
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-11 * np.abs(x).max())
    for x, y in zip(wide.design(species, nl.start, nl.j, nsp, nl.dr),
                    portable.design(species, nl.start, nl.j, nsp, nl.dr)):
        np.testing.assert_allclose(y, x, rtol=0, atol=1e-11 * np.abs(x).max())
