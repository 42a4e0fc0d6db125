"""C neighbour list (ace_lin.neighbours) against ase.neighborlist.neighbor_list.

Same set of bonds (i, j, shift) and the same dr (A, to 1e-12) on periodic triclinic
cells, cells far smaller than the cutoff, slabs, wires, open molecules, atoms outside
the cell and a 1000+ atom crystal; plus the ordering guarantee and the error cases.
"""
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list

from ace_lin.neighbours import NeighbourList, neighbour_list, neighbour_list_from_atoms


def bond_table(i, j, shift, dr):
    """{(i, j, s0, s1, s2): dr} for comparing two lists irrespective of order."""
    keys = zip(np.asarray(i).tolist(), np.asarray(j).tolist(), *np.asarray(shift).T.tolist())
    table = dict(zip(keys, np.asarray(dr)))
    assert len(table) == len(i), "duplicate bonds"
    return table


def assert_matches_ase(atoms, cutoff):
    nl = neighbour_list_from_atoms(atoms, cutoff)
    i, j, d, D, S = ase_neighbor_list("ijdDS", atoms, cutoff)
    ours = bond_table(nl.i(), nl.j, nl.shift, nl.dr)
    ref = bond_table(i, j, S, D)
    missing = sorted(set(ref) - set(ours))
    extra = sorted(set(ours) - set(ref))
    assert not missing and not extra, f"missing {missing[:5]}, extra {extra[:5]}"
    if ref:
        keys = sorted(ref)
        np.testing.assert_allclose(np.array([ours[k] for k in keys]),
                                   np.array([ref[k] for k in keys]), rtol=0, atol=1e-12)
    assert_invariants(nl, atoms.positions, atoms.cell.array, cutoff)
    return nl


def assert_invariants(nl, positions, cell, cutoff):
    """CSR shape and dtypes, sorted order, dr formula, cutoff, no self bond, full list."""
    n = len(positions)
    assert isinstance(nl, NeighbourList)
    assert nl.start.dtype == np.int64 and nl.start.shape == (n + 1,)
    assert nl.j.dtype == np.int32 and nl.j.shape == (nl.n_bonds,)
    assert nl.shift.dtype == np.int32 and nl.shift.shape == (nl.n_bonds, 3)
    assert nl.dr.dtype == np.float64 and nl.dr.shape == (nl.n_bonds, 3)
    assert nl.n_atoms == n and nl.start[0] == 0 and nl.start[-1] == nl.n_bonds
    assert np.all(np.diff(nl.start) >= 0)
    i = nl.i()
    assert i.dtype == np.int32
    if nl.n_bonds == 0:
        return
    # strictly increasing (i, j, s0, s1, s2): sorted and without duplicates
    keys = np.column_stack([i, nl.j, nl.shift]).astype(np.int64)
    diff = keys[1:] - keys[:-1]
    first = diff[np.arange(len(diff)), np.argmax(diff != 0, axis=1)]
    assert np.all(first > 0), "bonds not sorted by (i, j, shift)"
    expected = positions[nl.j] + nl.shift @ cell - positions[i]
    np.testing.assert_allclose(nl.dr, expected, rtol=0, atol=1e-12)
    assert np.all(np.linalg.norm(nl.dr, axis=1) < cutoff)
    self_zero = (i == nl.j) & np.all(nl.shift == 0, axis=1)
    assert not np.any(self_zero)
    # full list: every i->j (shift S) has its j->i (shift -S), with dr negated
    rev = np.column_stack([nl.j, i, -nl.shift]).astype(np.int64)
    order = np.lexsort(rev.T[::-1])
    np.testing.assert_array_equal(rev[order], keys)
    np.testing.assert_allclose(-nl.dr[order], nl.dr, rtol=0, atol=1e-12)


def random_cell(rng, length, skew):
    return np.eye(3) * length * rng.uniform(0.7, 1.3, 3) + rng.uniform(-skew, skew, (3, 3)) * length


@pytest.mark.parametrize("seed", range(6))
def test_random_triclinic_periodic(seed):
    rng = np.random.default_rng(seed)
    cell = random_cell(rng, rng.uniform(4.0, 9.0), 0.35)
    n = int(rng.integers(2, 40))
    atoms = Atoms(f"H{n}", scaled_positions=rng.uniform(0, 1, (n, 3)), cell=cell, pbc=True)
    nl = assert_matches_ase(atoms, rng.uniform(2.0, 7.0))
    assert nl.n_bonds > 0


@pytest.mark.parametrize("seed", range(4))
def test_random_periodicity_and_atoms_outside(seed):
    """Every pbc combination, atoms up to 3 cells outside, cutoff up to 2x the cell."""
    rng = np.random.default_rng(100 + seed)
    cell = random_cell(rng, rng.uniform(3.0, 6.0), 0.3)
    n = int(rng.integers(1, 25))
    frac = rng.uniform(-3.0, 4.0, (n, 3))
    for pbc in [(1, 0, 0), (0, 1, 1), (1, 1, 0), (1, 1, 1)]:
        atoms = Atoms(f"H{n}", positions=frac @ cell, cell=cell, pbc=pbc)
        assert_matches_ase(atoms, rng.uniform(1.0, 2.0 * np.min(np.abs(np.diag(cell)))))


def test_cell_much_smaller_than_cutoff():
    atoms = Atoms("H", positions=[[0.3, 0.2, 0.1]], cell=np.eye(3) * 2.0, pbc=True)
    nl = assert_matches_ase(atoms, 5.0)
    # only self-image bonds: all |n| < 2.5 lattice points except the origin
    g = np.arange(-2, 3)
    pts = np.array(np.meshgrid(g, g, g)).reshape(3, -1).T * 2.0
    r = np.linalg.norm(pts, axis=1)
    assert nl.n_bonds == np.count_nonzero((r > 0) & (r < 5.0))
    assert np.all(nl.j == 0)


def test_small_triclinic_cell_two_atoms():
    cell = np.array([[1.9, 0.0, 0.0], [0.8, 1.7, 0.0], [0.5, -0.6, 2.1]])
    atoms = Atoms("H2", scaled_positions=[[0.1, 0.2, 0.3], [0.6, 0.5, 0.9]], cell=cell, pbc=True)
    assert_matches_ase(atoms, 6.0)


def test_slab_mixed_periodicity():
    slab = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 2, 3))
    slab.rattle(0.05, seed=3)
    slab.pbc = (True, True, False)
    slab.cell[2] = [0.0, 0.0, 0.0]  # no vector in the open direction
    slab.positions[:, 2] -= 4.0     # atoms below the cell origin
    assert_matches_ase(slab, 5.0)
    slab.cell[2] = [1.0, 2.0, 9.0]  # an arbitrary one: must not matter
    nl = assert_matches_ase(slab, 5.0)
    assert np.all(nl.shift[:, 2] == 0)


def test_wire_one_periodic_direction():
    atoms = Atoms("H2", positions=[[0.0, 0.0, 0.0], [0.7, 0.9, 0.3]],
                  cell=[[1.3, 0.4, 0.2], [0, 0, 0], [0, 0, 0]], pbc=(True, False, False))
    nl = assert_matches_ase(atoms, 4.0)
    assert np.all(nl.shift[:, 1:] == 0)


def test_open_molecule():
    mol = molecule("C6H6")
    assert not mol.pbc.any() and np.all(mol.cell.array == 0)
    nl = assert_matches_ase(mol, 3.0)
    assert np.all(nl.shift == 0)
    # cell None is the same as a zero cell; the result does not depend on translation
    nl2 = neighbour_list(mol.positions + [50.0, -20.0, 3.0], None, False, 3.0)
    np.testing.assert_array_equal(nl.start, nl2.start)
    np.testing.assert_array_equal(nl.j, nl2.j)
    np.testing.assert_allclose(nl.dr, nl2.dr, atol=1e-12)


def test_open_cluster_with_isolated_atoms():
    pos = np.array([[0.0, 0.0, 0.0], [1.0e5, 0.0, 0.0], [1.0e5 + 1.0, 0.0, 0.0], [0.0, 0.0, 2.9]])
    nl = neighbour_list(pos, None, False, 3.0)
    assert_invariants(nl, pos, np.zeros((3, 3)), 3.0)
    assert bond_table(nl.i(), nl.j, nl.shift, nl.dr).keys() == {
        (0, 3, 0, 0, 0), (3, 0, 0, 0, 0), (1, 2, 0, 0, 0), (2, 1, 0, 0, 0)}


def test_atoms_far_outside_the_cell():
    atoms = bulk("Si", "diamond", a=5.43).repeat(2)
    atoms.rattle(0.05, seed=7)
    wrapped = neighbour_list_from_atoms(atoms, 4.0)
    rng = np.random.default_rng(5)
    atoms.positions += rng.integers(-50, 50, (len(atoms), 3)) @ atoms.cell.array
    moved = assert_matches_ase(atoms, 4.0)
    np.testing.assert_array_equal(wrapped.start, moved.start)
    np.testing.assert_array_equal(wrapped.j, moved.j)
    # same bonds in the same order (the cell is too big for two images of one j);
    # dr equal up to rounding of the moved coordinates, shifts compensate the move
    np.testing.assert_allclose(wrapped.dr, moved.dr, rtol=0, atol=1e-9)
    assert np.any(wrapped.shift != moved.shift)


def test_thousand_atoms():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((7, 7, 7))  # 1372 atoms
    atoms.rattle(0.1, seed=11)
    atoms.set_cell(atoms.cell.array + np.array([[0, 0, 0], [2.0, 0, 0], [1.0, -1.5, 0]]),
                   scale_atoms=False)
    assert len(atoms) >= 1000
    nl = assert_matches_ase(atoms, 4.5)
    assert nl.n_bonds > 25 * len(atoms)


def test_sorted_order_and_determinism():
    rng = np.random.default_rng(3)
    cell = random_cell(rng, 3.0, 0.3)
    pos = rng.uniform(-1, 2, (6, 3)) @ cell
    a = neighbour_list(pos, cell, True, 7.0)
    b = neighbour_list(pos, cell, [True, True, True], 7.0)
    assert_invariants(a, pos, cell, 7.0)
    for name in ("start", "j", "shift", "dr"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_cutoff_is_strict():
    pos = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 0.0]])
    assert neighbour_list(pos, None, False, 2.5).n_bonds == 0
    assert neighbour_list(pos, None, False, np.nextafter(2.5, 3.0)).n_bonds == 2
    # a periodic self image exactly at the cutoff is excluded, just inside is kept
    assert neighbour_list(pos[:1], np.eye(3) * 2.5, True, 2.5).n_bonds == 0
    assert neighbour_list(pos[:1], np.eye(3) * 2.5, True, 2.5 + 1e-9).n_bonds == 6


def test_threads_give_identical_lists():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((4, 4, 4))
    atoms.rattle(0.1, seed=2)
    ref = neighbour_list_from_atoms(atoms, 5.0)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: neighbour_list_from_atoms(atoms, 5.0), range(8)))
    for nl in results:
        np.testing.assert_array_equal(nl.j, ref.j)
        np.testing.assert_array_equal(nl.shift, ref.shift)
        np.testing.assert_array_equal(nl.dr, ref.dr)


# ---------------------------------------------------------------------------------- errors

def test_empty_structure():
    for cell, pbc in [(None, False), (np.eye(3) * 3.0, True)]:
        nl = neighbour_list(np.zeros((0, 3)), cell, pbc, 3.0)
        assert nl.n_atoms == 0 and nl.n_bonds == 0
        np.testing.assert_array_equal(nl.start, [0])
        assert nl.i().shape == (0,) and nl.dr.shape == (0, 3) and nl.shift.shape == (0, 3)
    nl = neighbour_list_from_atoms(Atoms(), 3.0)
    assert nl.n_atoms == 0 and nl.n_bonds == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_positions(bad):
    pos = np.array([[0.0, 0.0, 0.0], [1.0, bad, 0.0]])
    with pytest.raises(ValueError, match="atom 1 is not finite"):
        neighbour_list(pos, np.eye(3) * 5.0, True, 3.0)


def test_nonfinite_cell():
    cell = np.eye(3) * 5.0
    cell[1, 2] = np.nan
    with pytest.raises(ValueError, match="not finite"):
        neighbour_list([[0.0, 0.0, 0.0]], cell, True, 3.0)


@pytest.mark.parametrize("cutoff", [0.0, -1.0, np.nan, np.inf])
def test_bad_cutoff(cutoff):
    with pytest.raises(ValueError, match="cutoff"):
        neighbour_list([[0.0, 0.0, 0.0]], np.eye(3) * 5.0, True, cutoff)


@pytest.mark.parametrize("cell, pbc", [
    (np.diag([3.0, 3.0, 0.0]), True),                                 # zero vector
    (np.array([[3.0, 0, 0], [0, 3.0, 0], [3.0, 3.0, 0]]), True),      # coplanar
    (np.array([[3.0, 0, 0], [6.0, 0, 0], [0, 0, 0]]), (1, 1, 0)),     # parallel, slab
    (np.zeros((3, 3)), (0, 0, 1)),                                    # no cell at all
])
def test_singular_periodic_cell(cell, pbc):
    with pytest.raises(ValueError, match="singular"):
        neighbour_list([[0.0, 0.0, 0.0]], cell, pbc, 3.0)


def test_singular_cell_in_open_direction_is_fine():
    nl = neighbour_list([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.diag([3.0, 3.0, 0.0]),
                        (True, True, False), 1.5)
    assert nl.n_bonds == 2


def test_absurd_image_count_is_refused_quickly():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="far smaller than the cutoff"):
        neighbour_list([[0.0, 0.0, 0.0]], np.eye(3) * 0.01, True, 5.0)
    assert time.perf_counter() - t0 < 1.0


def test_bad_shapes():
    with pytest.raises(ValueError, match="positions"):
        neighbour_list(np.zeros((4, 2)), None, False, 3.0)
    with pytest.raises(ValueError, match="cell"):
        neighbour_list(np.zeros((4, 3)), np.eye(2), False, 3.0)
    with pytest.raises(ValueError, match="pbc"):
        neighbour_list(np.zeros((4, 3)), np.eye(3), [True, False], 3.0)


# -- lists reused while the atoms move (VerletNeighbours) --------------------------------
def assert_same_list(a, b):
    for name in ("start", "j", "shift", "dr"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


@pytest.mark.parametrize("pbc, thin", [(True, False), ((True, True, False), False),
                                       (False, False), (True, True)])
def test_reused_lists_are_the_fresh_lists_bit_for_bit(pbc, thin):
    """A random walk (periodic triclinic, slab, open cluster, a cell thinner than the
    cutoff): at every step the reused list equals a fresh build exactly (bonds, order, dr),
    with far fewer builds than steps; a strained cell builds anew."""
    from ace_lin.neighbours import VerletNeighbours

    rng = np.random.default_rng(7)
    if thin:
        atoms = Atoms("Si2", positions=[[0, 0, 0], [1.2, 1.3, 1.1]], cell=random_cell(rng, 2.6, 0.1),
                      pbc=True)
    else:
        atoms = bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 2, 2))
        atoms.set_cell(random_cell(rng, 10.9, 0.06), scale_atoms=True)
        atoms.pbc = pbc
    cutoff, skin = 4.5, 0.6
    vn = VerletNeighbours(cutoff, skin)
    for step in range(40):
        atoms.positions += rng.normal(scale=0.04, size=atoms.positions.shape)
        if step == 30:
            atoms.set_cell(atoms.cell.array * 1.01, scale_atoms=False)
        assert_same_list(vn.from_atoms(atoms), neighbour_list_from_atoms(atoms, cutoff))
    assert 2 <= vn.builds <= 12, vn.builds


def test_an_atom_moving_half_the_skin_rebuilds():
    """Two atoms just beyond cutoff + skin (not candidates) each move 0.3 skin towards each
    other: still no bond, no build. Then 0.6 skin each, which brings them inside the
    cutoff: a list that waited for a whole skin of motion would miss the bond."""
    from ace_lin.neighbours import VerletNeighbours

    cutoff, skin = 5.0, 1.0
    d0 = cutoff + 1.001 * skin
    atoms = Atoms("Si2", positions=[[0, 0, 0], [d0, 0, 0]], pbc=False)
    vn = VerletNeighbours(cutoff, skin)
    assert vn.from_atoms(atoms).n_bonds == 0 and vn.builds == 1
    atoms.positions = [[0.3 * skin, 0, 0], [d0 - 0.3 * skin, 0, 0]]
    assert vn.from_atoms(atoms).n_bonds == 0 and vn.builds == 1
    atoms.positions = [[0.6 * skin, 0, 0], [d0 - 0.6 * skin, 0, 0]]
    nl = vn.from_atoms(atoms)
    assert nl.n_bonds == 2 and vn.builds == 2
    assert_same_list(nl, neighbour_list_from_atoms(atoms, cutoff))


def test_refilter_refuses_a_bad_candidate_list():
    from ace_lin._neighbours import refilter

    pos = np.zeros((2, 3))
    pos[1, 0] = 1.0
    with pytest.raises(ValueError, match="points to atom 5 of 2"):
        refilter(pos, np.zeros((3, 3)), np.array([0, 1, 1], dtype=np.int64),
                 np.array([5], dtype=np.int32), np.zeros((1, 3), dtype=np.int32), 2.0)
    with pytest.raises(ValueError, match="entries for 2 atoms"):
        refilter(pos, np.zeros((3, 3)), np.array([0, 1], dtype=np.int64),
                 np.array([1], dtype=np.int32), np.zeros((1, 3), dtype=np.int32), 2.0)
