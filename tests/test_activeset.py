"""Extrapolation grade (ace_lin/trust/activeset.py, grade.py): <= 1 on every training atom,
clearly > 1 outside the data (compressed cells, an element pair never seen), the C grade
equal to the numpy reference, maxvol's volume property, incremental updates."""
import itertools

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from ace_lin import BasisSpec
from ace_lin.calculator import ACECalculator
from ace_lin.evaluate import basis_vectors, design_rows
from ace_lin.trust.activeset import (ElementActiveSet, build_element, maxvol, update_element)
from ace_lin.trust.grade import (NoActiveSetError, build_active_set, element_columns,
                                 grade_from_vectors)
from helpers import random_model

TOL = 1 + 1e-8


def _basis_vectors_by_centre(core, species, nl, nspec):
    """Per-atom vectors from the energy design rows of single-centre sub-problems (atom i
    with its neighbours as neighbour-less atoms): a reference independent of the C core's
    basis_vectors."""
    out = np.zeros((species.size, core.n_basis))
    for i in range(species.size):
        a, b = int(nl.start[i]), int(nl.start[i + 1])
        k = b - a
        sub_species = np.r_[species[i], nspec[a:b]].astype(np.int32)
        start = np.r_[0, np.full(k + 1, k)].astype(np.int64)
        out[i] = core.design(sub_species, start, np.arange(1, k + 1, dtype=np.int32),
                             nspec[a:b], nl.dr[a:b])[0]
    return out


def _cells(symbol, a0, n, seed, strain=0.03, rattle=0.12, crystal="diamond"):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        a = bulk(symbol, crystal, a0 * rng.uniform(1 - strain, 1 + strain), cubic=True)
        a.rattle(rattle, seed=seed * 100 + k)
        out.append(a)
    return out


@pytest.fixture(scope="module")
def si():
    spec = BasisSpec(elements=("Si",), order=3, degree=[8, 8, 6], r_cut=5.0)
    train = _cells("Si", 5.43, 5, seed=1)
    model = random_model(spec).with_trust(active_set=build_active_set(spec, train))
    return spec, train, model


@pytest.fixture(scope="module")
def sic():
    """Si and C models trained on pure Si and pure C (diamond) only: no Si-C pair."""
    spec = BasisSpec(elements=("Si", "C"), order=3, degree=[6, 6, 4], r_cut=4.5)
    train = _cells("Si", 5.43, 3, seed=2) + _cells("C", 3.57, 3, seed=3, rattle=0.06)
    return spec, train, random_model(spec).with_trust(active_set=build_active_set(spec, train))


def test_basis_vectors_sum_to_the_energy_design_row(si):
    spec, train, _ = si
    for atoms in train[:2]:
        B = basis_vectors(spec, atoms)
        assert B.shape == (len(atoms), spec.n_basis)
        row = design_rows(spec, atoms).energy
        assert np.allclose(B.sum(axis=0), row, rtol=1e-12, atol=1e-12 * np.abs(row).max())


def test_basis_vectors_of_the_core_equal_single_centre_design_rows(sic):
    """C basis vectors against the single-centre sub-problems."""
    from ace_lin.evaluate import _bonds, _design_core, species_indices

    spec, train, _ = sic
    atoms = train[0].copy()
    atoms.symbols[[0, 3]] = "C"
    core = _design_core(spec)
    species = species_indices(atoms, spec.elements)
    nl, nspec = _bonds(atoms, core.max_cutoff, species)
    ref = _basis_vectors_by_centre(core, species, nl, nspec)
    B = basis_vectors(spec, atoms)
    assert np.allclose(B, ref, rtol=1e-12, atol=1e-13 * np.abs(ref).max())
    cols = element_columns(spec.basis(), spec.elements)
    assert not np.any(B[np.ix_(np.flatnonzero(species == 0), cols["C"])])  # other centre: 0


def test_grade_is_at_most_one_on_every_training_atom(si, sic):
    for spec, train, model in (si, sic):
        for atoms in train:
            g = model.grade(atoms)
            assert g.shape == (len(atoms),) and np.all(g <= TOL) and g.max() > 0.1


def test_active_atoms_have_grade_one(si):
    spec, train, _ = si
    aset = build_active_set(spec, train)["Si"]
    real = aset.rows[aset.real]
    assert 0 < real.shape[0] <= aset.columns.size
    g = aset.grade(real)
    assert np.all(np.abs(g - 1) <= 1e-8)


def test_grade_is_large_on_compressed_cells(si):
    spec, train, model = si
    grades = []
    for f in (0.95, 0.9, 0.8):
        atoms = bulk("Si", "diamond", 5.43 * f, cubic=True)
        atoms.rattle(0.05, seed=4)
        grades.append(model.grade(atoms).max())
    assert grades[0] > 1.5 and grades[2] > 100
    assert grades == sorted(grades)  # further out, larger grade


def test_grade_is_large_for_an_element_pair_never_seen(sic):
    """Si-C bonds never occur in the training data: their invariants are zero there, so a
    projection onto the training span alone would not see them; the grade must."""
    spec, train, model = sic
    atoms = bulk("SiC", "zincblende", 4.36, cubic=True)
    atoms.rattle(0.02, seed=1)
    g = model.grade(atoms)
    assert g.min() > 10
    # the same cell with Si on all sites has only Si-Si bonds, which the data did see
    # (compressed against diamond Si, hence above 1, but far below the Si-C grades)
    pure = atoms.copy()
    pure.symbols[:] = "Si"
    assert model.grade(pure).max() < 0.1 * g.min()


def test_c_grade_equals_the_numpy_reference(sic):
    spec, train, model = sic
    atoms = bulk("SiC", "zincblende", 4.4, cubic=True) * (1, 1, 2)
    atoms.rattle(0.1, seed=2)
    for a in (atoms, train[1]):
        ref = grade_from_vectors(_reference_vectors(spec, a), a.get_chemical_symbols(),
                                 model.active_set, element_columns(model.basis, model.elements))
        assert np.allclose(model.grade(a), ref, rtol=1e-10, atol=0)
        calc = ACECalculator(model)
        b = a.copy()
        b.calc = calc
        b.get_potential_energy()
        assert np.allclose(calc.results["gamma"], ref, rtol=1e-10)
        assert calc.results["max_gamma"] == pytest.approx(ref.max(), rel=1e-10)


def _reference_vectors(spec, atoms):
    from ace_lin.evaluate import _bonds, _design_core, species_indices

    core = _design_core(spec)
    species = species_indices(atoms, spec.elements)
    nl, nspec = _bonds(atoms, core.max_cutoff, species)
    return _basis_vectors_by_centre(core, species, nl, nspec)


def test_grade_without_active_set_is_a_clear_error(si):
    spec, train, _ = si
    plain = random_model(spec)
    assert not plain.has_active_set and plain.active_set is None
    with pytest.raises(NoActiveSetError, match="ace-lin activeset"):
        plain.grade(train[0])
    calc = ACECalculator(plain)
    atoms = train[0].copy()
    atoms.calc = calc
    atoms.get_potential_energy()
    assert "gamma" not in calc.results  # runs; no grade
    with pytest.raises(ValueError, match="no active set"):
        ACECalculator(plain, grade=True)


def test_maxvol_is_a_local_volume_maximum():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)) * [1, 10, 0.1, 3]
    idx = maxvol(X)
    assert len(set(idx)) == 4
    C = X @ np.linalg.inv(X[idx])
    assert np.abs(C).max() <= TOL
    vol = abs(np.linalg.det(X[idx]))
    for j, i in itertools.product(range(4), range(40)):  # no single swap grows the volume
        trial = idx.copy()
        trial[j] = i
        assert abs(np.linalg.det(X[trial])) <= vol * TOL


def test_rank_deficient_vectors_and_a_broken_identity():
    """Column 2 = column 0 + column 1 in all training rows: the span has rank 2; a row that
    breaks the identity is outside it and grades > 1, rows inside it do not."""
    rng = np.random.default_rng(1)
    B = rng.normal(size=(30, 2))
    B = np.c_[B, B[:, 0] + B[:, 1], np.zeros(30)]
    a = build_element("X", np.arange(4), B)
    assert a.G.shape == (4, 4) and a.n_real == 2
    assert np.all(a.grade(B) <= TOL)
    inside = np.array([[0.3, -0.2, 0.1, 0.0]])
    assert a.grade(inside)[0] <= TOL
    assert a.grade(np.array([[0.3, -0.2, 0.1 + 1e-3, 0.0]]))[0] > 100
    assert a.grade(np.array([[0.3, -0.2, 0.1, 1e-3]]))[0] > 100  # an all-zero invariant


def test_update_takes_new_rows_in_and_grows_the_volume(si):
    spec, train, model = si
    aset = build_active_set(spec, train)["Si"]
    new = basis_vectors(spec, _cells("Si", 5.43 * 0.92, 1, seed=9)[0])[:, aset.columns]
    assert aset.grade(new).max() > 2
    upd, taken = update_element(aset, new)
    assert taken.size > 0 and np.all(upd.grade(new) <= TOL)
    assert np.all(upd.real[:] >= aset.real)  # virtual rows may become real, never the reverse
    # |det G| = 1 / volume: it shrinks
    s0, l0 = np.linalg.slogdet(aset.G)
    s1, l1 = np.linalg.slogdet(upd.G)
    assert l1 < l0 - np.log(2)
    # the Sherman-Morrison updates keep G the inverse of the active rows where they are real
    again, none = update_element(upd, new)
    assert none.size == 0 and np.array_equal(again.G, upd.G)
    # a set known only by its map (as read from a model file) updates the same way
    bare, _ = update_element(ElementActiveSet("Si", aset.columns, aset.G), new)
    assert np.allclose(bare.G, upd.G) and bare.rows is None


def test_bad_inputs_give_clear_errors(si):
    spec, train, model = si
    cols = element_columns(model.basis, model.elements)["Si"]
    with pytest.raises(ValueError, match="no training atoms"):
        build_element("Si", cols, np.zeros((0, cols.size)))
    with pytest.raises(ValueError, match="NaN"):
        build_element("Si", cols, np.full((3, cols.size), np.nan))
    with pytest.raises(ValueError, match=r"must be \[n_atoms"):
        build_element("Si", cols, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"map must be"):
        random_model(spec).with_trust(active_set={"Si": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="not an element"):
        random_model(spec).with_trust(active_set={"Cu": np.zeros((3, 3))})
    with pytest.raises(ValueError, match="not in the model"):
        model.grade(Atoms("Cu", positions=[[0, 0, 0]]))


def test_grade_from_the_c_reader_of_the_model_file(sic, tmp_path):
    """The active set travels in the model file: the C reader's model grades the same."""
    from ace_lin._core import CoreModel
    from ace_lin.evaluate import compute_grade

    spec, train, model = sic
    model.save(tmp_path / "m.json")
    core = CoreModel.from_file(str(tmp_path / "m.json"))
    assert core.has_grade(0) and core.has_grade(1)
    atoms = bulk("SiC", "zincblende", 4.4, cubic=True)
    atoms.rattle(0.1, seed=3)
    for a in (atoms, train[4]):
        assert np.allclose(compute_grade(core, spec.elements, a), model.grade(a), rtol=1e-12, atol=0)
