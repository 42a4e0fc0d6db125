"""The C core's per-atom basis vectors and extrapolation grade (CoreModel.basis_vectors,
grade, has_grade; the active set through from_tables and the v3 model file)."""
from dataclasses import replace

import numpy as np
import pytest

from ace_lin import BasisSpec, LinearACEModel
from ace_lin._core import CoreModel, NoActiveSetError
from ace_lin.evaluate import species_indices
from ace_lin.io.model_file import FORMAT_VERSION
from ace_lin.neighbours import neighbour_list_from_atoms
from helpers import random_model, random_structure

SPEC = BasisSpec(elements=["Si", "O"], order=3, degree=7, r_cut={"Si-Si": 4.6, "Si-O": 4.2, "O-O": 3.9},
                 r_in=0.9, r_core=1.5)
SPEC_LONG = replace(SPEC, long_r_cut={"Si-Si": 6.3, "Si-O": 5.4, "O-O": 3.4},
                    long_r_scale={"Si-Si": 5.0, "Si-O": 2.0, "O-O": 1.0}, long_degree=(7, 6),
                    long_w_l=2.0)


def bonds(core, atoms, elements):
    sp = species_indices(atoms, elements)
    nl = neighbour_list_from_atoms(atoms, core.max_cutoff)
    return sp, nl, sp[nl.j]


def random_maps(spec, rng, r=(7, 5)):
    """{species index: G (m_s, r_s)} of the right shapes (not a MaxVol set: a random map)."""
    species = spec.basis().species
    return {s: rng.normal(size=(int(np.sum(species == s)), r[s])) for s in range(len(spec.elements))}


@pytest.fixture(scope="module", params=["short", "long"])
def case(request):
    spec = SPEC if request.param == "short" else SPEC_LONG
    model = random_model(spec, seed=4)
    atoms = random_structure(["Si", "O"], 14, seed=5)
    # one pair at 1.3 A, inside r_core = 1.5 A (the ZBL core term is on there)
    rng = np.random.default_rng(0)
    for _ in range(500):
        u = rng.normal(size=3)
        u /= np.linalg.norm(u)
        trial = atoms.copy()
        trial.positions[1] = trial.positions[0] + 1.3 * u
        d = trial.get_distances(1, range(len(trial)), mic=True)
        if np.sort(d)[2] > 1.6:
            return spec, model, trial
    raise AssertionError("no direction for the close pair")


def test_basis_vectors_sum_to_the_energy_design_row(case):
    spec, model, atoms = case
    core = model.core
    sp, nl, nspec = bonds(core, atoms, spec.elements)
    B = core.basis_vectors(sp, nl.start, nspec, nl.dr)
    assert B.shape == (len(atoms), spec.n_basis)
    erow = core.design(sp, nl.start, nl.j, nspec, nl.dr)[0]
    assert np.abs(erow).max() > 1e-2
    assert np.allclose(B.sum(axis=0), erow, rtol=1e-12, atol=1e-12 * np.abs(erow).max())
    # invariants of the other species are 0
    species_of = spec.basis().species
    for i, s in enumerate(sp):
        assert np.all(B[i, species_of != s] == 0.0) and np.any(B[i, species_of == s] != 0.0)


def test_energies_are_e0_plus_coefficients_dot_basis_vector(case):
    """E_i = E0 + c . B_i + (ZBL core term of atom i), per atom."""
    spec, model, atoms = case
    core = model.core
    sp, nl, nspec = bonds(core, atoms, spec.elements)
    B = core.basis_vectors(sp, nl.start, nspec, nl.dr)
    _, energies, _, _ = core.evaluate(sp, nl.start, nl.j, nspec, nl.dr)
    _, core_term, _, _ = core.evaluate(sp, nl.start, nl.j, nspec, nl.dr, reference_only=True)
    assert np.abs(core_term).max() > 1e-3  # the structure reaches into the core region
    e0 = np.array([model.e0[el] for el in spec.elements])[sp]
    assert np.allclose(energies - core_term, e0 + B @ model.coefficients, rtol=0, atol=1e-11)


def test_grade_equals_numpy_reference(case):
    spec, model, atoms = case
    rng = np.random.default_rng(8)
    maps = random_maps(spec, rng)
    e0 = np.array([model.e0[el] for el in spec.elements])
    core = CoreModel.from_tables(spec.basis(), model.coefficients, e0, active_set=maps)
    assert core.has_grade(0) and core.has_grade(1) and not core.has_grade(2)
    sp, nl, nspec = bonds(core, atoms, spec.elements)
    B = core.basis_vectors(sp, nl.start, nspec, nl.dr)
    species_of = spec.basis().species
    ref = np.array([np.abs(B[i, species_of == s] @ maps[s]).max() for i, s in enumerate(sp)])
    gamma = core.grade(sp, nl.start, nspec, nl.dr)
    assert gamma.shape == (len(atoms),) and np.all(gamma > 0)
    assert np.allclose(gamma, ref, rtol=1e-12, atol=0)
    # one vs two threads: bit-identical (every atom writes only its own outputs)
    for nt in (1, 2, 3):
        assert np.array_equal(core.grade(sp, nl.start, nspec, nl.dr, n_threads=nt), gamma)
        assert np.array_equal(core.basis_vectors(sp, nl.start, nspec, nl.dr, n_threads=nt), B)


def test_grade_in_blocks_of_atoms_equals_numpy_reference():
    """The core grades blocks of atoms of one species against the map at once, in tiles of
    atoms and columns and in chunks of rows (csrc/grade.c, kernels_impl.h). Here the map
    widths (55, 63 columns) reach the wide and narrow column tiles and the last columns,
    the species' invariants exceed one chunk of rows, and about 75 atoms per species fill
    more than one block, the last one partial. Each atom's grade must not depend on which
    atoms share its block: the same centres in another order give bitwise the same grades."""
    spec = SPEC_LONG
    model = random_model(spec, seed=4)
    rows = np.bincount(spec.basis().species, minlength=2)
    assert rows.min() > 64, rows  # more than one chunk of rows per species
    maps = random_maps(spec, np.random.default_rng(11), r=(55, 63))
    e0 = np.array([model.e0[el] for el in spec.elements])
    core = CoreModel.from_tables(spec.basis(), model.coefficients, e0, active_set=maps)
    atoms = random_structure(["Si", "O"], 150, seed=12)
    sp, nl, nspec = bonds(core, atoms, spec.elements)
    assert np.bincount(sp).min() > 64  # more than one block per species
    B = core.basis_vectors(sp, nl.start, nspec, nl.dr)
    species_of = spec.basis().species
    ref = np.array([np.abs(B[i, species_of == s] @ maps[s]).max() for i, s in enumerate(sp)])
    gamma = core.grade(sp, nl.start, nspec, nl.dr)
    assert np.allclose(gamma, ref, rtol=1e-12, atol=0)
    for nt in (2, 3):
        assert np.array_equal(core.grade(sp, nl.start, nspec, nl.dr, n_threads=nt), gamma)
    # the centres in another order, each with its bonds as before: other blocks, same inputs
    perm = np.random.default_rng(13).permutation(len(atoms))
    rows_of = [np.arange(nl.start[i], nl.start[i + 1]) for i in perm]
    start = np.concatenate([[0], np.cumsum([len(r) for r in rows_of])]).astype(np.int64)
    bond = np.concatenate(rows_of)
    assert np.array_equal(core.grade(sp[perm], start, nspec[bond], nl.dr[bond]), gamma[perm])


@pytest.mark.parametrize("nt", [1, 2])
def test_grade_names_the_lowest_failing_atom_and_bond(case, nt):
    """A bad bond in a block of atoms: the grade reports the lowest failing atom and its
    bond, whatever the blocks and threads (two atoms of the same block fail here)."""
    from ace_lin._core import CoreComputeError

    spec, model, atoms = case
    maps = random_maps(spec, np.random.default_rng(8))
    e0 = np.array([model.e0[el] for el in spec.elements])
    core = CoreModel.from_tables(spec.basis(), model.coefficients, e0, active_set=maps)
    sp, nl, nspec = bonds(core, atoms, spec.elements)
    late = int(np.flatnonzero(sp == sp[3])[-1])  # the same species as atom 3, so the same block
    assert late > 3
    dr = np.array(nl.dr, dtype=float)
    dr[int(nl.start[late]), 0] = np.inf
    dr[int(nl.start[3]) + 1, 2] = np.nan
    with pytest.raises(CoreComputeError, match="atom 3: bond") as info:
        core.grade(sp, nl.start, nspec, dr, n_threads=nt)
    assert (info.value.atom, info.value.bond) == (3, int(nl.start[3]) + 1)


def test_grade_from_the_model_file_equals_from_tables(tmp_path):
    """The v3 file's active set (written by ace_lin.io) read by the C reader gives the same
    grade as the maps handed to from_tables."""
    rng = np.random.default_rng(9)
    base = random_model(SPEC, seed=2)
    maps = random_maps(SPEC, rng, r=(4, 3))
    model = LinearACEModel(SPEC, base.coefficients, e0=base.e0,
                           active_set={el: maps[s] for s, el in enumerate(SPEC.elements)})
    path = tmp_path / "m.json"
    model.save(path)
    from_file = CoreModel.from_file(path)
    e0 = np.array([base.e0[el] for el in SPEC.elements])
    from_tables = CoreModel.from_tables(SPEC.basis(), base.coefficients, e0, active_set=maps)
    atoms = random_structure(["Si", "O"], 10, seed=6)
    sp, nl, nspec = bonds(from_file, atoms, SPEC.elements)
    g = from_file.grade(sp, nl.start, nspec, nl.dr)
    assert np.array_equal(g, from_tables.grade(sp, nl.start, nspec, nl.dr))
    assert from_file.has_grade(0) and from_file.has_grade(1)


def test_no_active_set_is_a_clear_error(case):
    spec, model, atoms = case
    core = model.core  # no active set
    sp, nl, nspec = bonds(core, atoms, spec.elements)
    assert not core.has_grade(0) and not core.has_grade(1)
    with pytest.raises(NoActiveSetError, match=r"atom 0: the model has no active set for (Si|O)"):
        core.grade(sp, nl.start, nspec, nl.dr)
    # an active set for Si only: the first O atom is named
    maps = random_maps(spec, np.random.default_rng(1))
    e0 = np.array([model.e0[el] for el in spec.elements])
    si_only = CoreModel.from_tables(spec.basis(), model.coefficients, e0, active_set={0: maps[0]})
    first_o = int(np.flatnonzero(sp == 1)[0])
    with pytest.raises(NoActiveSetError, match=f"atom {first_o}: .* for O") as info:
        si_only.grade(sp, nl.start, nspec, nl.dr)
    assert info.value.atom == first_o
    si = np.flatnonzero(sp == 0)
    assert si_only.grade(sp[si], np.zeros(len(si) + 1, np.int64), [], np.zeros((0, 3))).shape == (len(si),)


def test_bad_active_set_tables_are_refused(case):
    spec, model, _ = case
    e0 = np.array([model.e0[el] for el in spec.elements])
    maps = random_maps(spec, np.random.default_rng(2))
    with pytest.raises(ValueError, match=r"active_set\[0\]: expected an \(m, r\) array"):
        CoreModel.from_tables(spec.basis(), model.coefficients, e0, active_set={0: maps[0][:-1]})
    bad = maps[1].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        CoreModel.from_tables(spec.basis(), model.coefficients, e0, active_set={1: bad})
    with pytest.raises(ValueError, match="species index 2"):
        CoreModel.from_tables(spec.basis(), model.coefficients, e0, active_set={2: maps[1]})


def _rechecksum(data: bytes) -> bytes:
    """The checksum rule of ace_lin/io/model_file.py: sha256 of the bytes with the 64 hex
    digits of checksum.value as '0's."""
    import hashlib
    import re

    m = re.search(rb'"value": "([0-9a-f]{64})"', data)
    zeroed = data[:m.start(1)] + b"0" * 64 + data[m.end(1):]
    return data[:m.start(1)] + hashlib.sha256(zeroed).hexdigest().encode() + data[m.end(1):]


@pytest.mark.parametrize("old,new,match", [
    ('"kind": "maxvol"', '"kind": "other"', r'active_set.kind: expected "maxvol"'),
    ('"n_active": 4', '"n_active": 0', r"n_active: expected an integer >= 1"),
    ('"n_active": 4', '"n_active": 5', r"per_element.Si.map: expected an array of m\*n_active"),
    ('"per_element": {"Si"', '"per_element": {"Xe"', r"'Xe' is not one of the model's elements"),
    ('"n_active": 4, ', '', r"missing required key 'active_set.per_element.Si.n_active'"),
    ('"posterior": null', '"posterior": 3', r"posterior: expected null or an object"),
])
def test_bad_active_set_in_the_file_is_refused(tmp_path, old, new, match):
    from ace_lin._core import CoreFileError

    base = random_model(SPEC, seed=2)
    maps = random_maps(SPEC, np.random.default_rng(3), r=(4, 3))
    model = LinearACEModel(SPEC, base.coefficients, e0=base.e0,
                           active_set={el: maps[s] for s, el in enumerate(SPEC.elements)})
    path = tmp_path / "m.json"
    model.save(path)
    data = path.read_bytes()
    assert old.encode() in data, f"{old!r} not in the written file (format changed?)"
    bad = tmp_path / "bad.json"
    bad.write_bytes(_rechecksum(data.replace(old.encode(), new.encode(), 1)))
    with pytest.raises(CoreFileError, match=match):
        CoreModel.from_file(bad)


def test_version_2_file_loads_without_grade(tmp_path):
    """A format_version 2 file (no active_set, no posterior keys) still loads; no grade."""
    import json

    path = tmp_path / "m.json"
    random_model(SPEC, seed=2).save(path)
    text = path.read_text()
    doc = json.loads(text)
    assert doc["format_version"] == FORMAT_VERSION and doc["active_set"] is None
    v3_keys = ('"active_set"', '"posterior"')
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith(v3_keys)]
    v2 = "\n".join(lines).replace(f'"format_version": {FORMAT_VERSION}', '"format_version": 2') + "\n"
    old = tmp_path / "v2.json"
    old.write_bytes(_rechecksum(v2.encode()))
    core = CoreModel.from_file(old)
    assert core.n_basis == SPEC.n_basis and not core.has_grade(0)
