"""Physics of the evaluator: derivatives, symmetries, locality, smoothness."""
from dataclasses import replace

import numpy as np
import pytest
from ase.build import bulk
from scipy.spatial.transform import Rotation

from ace_lin import ACECalculator, BasisSpec
from helpers import numerical_forces, numerical_stress, random_model, random_structure

SPEC2 = BasisSpec(elements=["Si", "O"], order=4, degree=(8, 8, 7, 6), r_cut={"Si-Si": 4.6, "Si-O": 4.2, "O-O": 3.9},
                  r_in=0.9, r_core=1.5)
# SPEC2 with a long-range channel: per-pair reach and scale, O-O shorter than its r_cut;
# long_w_l 2 gives it l <= 1 against l <= 2 of the short channel, so neighbours beyond the
# short cutoff take the core's reduced-harmonics path
SPEC2_LONG = replace(SPEC2, long_r_cut={"Si-Si": 6.3, "Si-O": 5.4, "O-O": 3.4},
                     long_r_scale={"Si-Si": 5.0, "Si-O": 2.0, "O-O": 1.0}, long_degree=(7, 6),
                     long_w_l=2.0)


@pytest.fixture(scope="module", params=["short", "long"])
def model2(request):
    spec = SPEC2 if request.param == "short" else SPEC2_LONG
    return random_model(spec, seed=3)


def _calc(model, atoms):
    atoms = atoms.copy()
    atoms.calc = ACECalculator(model)
    return atoms


@pytest.mark.parametrize("periodic,triclinic,seed", [(True, True, 1), (True, False, 2), (False, False, 3)])
def test_forces_match_finite_differences(model2, periodic, triclinic, seed):
    at = _calc(model2, random_structure(["Si", "O"], 10, seed, periodic=periodic, triclinic=triclinic))
    f = at.get_forces()
    fd = numerical_forces(at)
    assert np.abs(f).max() > 1e-2  # a test that can fail: forces are not trivially zero
    assert np.abs(f - fd).max() / np.abs(f).max() < 1e-6


def test_core_region_forces_match_finite_differences(model2):
    # two atoms inside the switched ZBL region (r_in 0.9 < r < r_core 1.5 A)
    at = random_structure(["Si", "O"], 6, 7, periodic=False, min_dist=2.0)
    at.positions[1] = at.positions[0] + [1.1, 0.3, 0.2]
    at = _calc(model2, at)
    f = at.get_forces()
    assert np.abs(f - numerical_forces(at, h=1e-6)).max() / np.abs(f).max() < 1e-6


def test_stress_matches_finite_differences(model2):
    at = _calc(model2, random_structure(["Si", "O"], 9, 4, periodic=True, triclinic=True))
    s = at.get_stress()
    fd = numerical_stress(at)
    assert np.abs(s).max() > 1e-4
    assert np.abs(s - fd).max() / np.abs(s).max() < 1e-6


def test_rotation_reflection_translation_permutation(model2):
    at = _calc(model2, random_structure(["Si", "O"], 12, 5, periodic=True, triclinic=True))
    e, f, s = at.get_potential_energy(), at.get_forces(), at.get_stress(voigt=False)
    R = Rotation.random(random_state=11).as_matrix()
    for Q in (R, -R, np.diag([1.0, 1.0, -1.0]) @ R):  # rotation, inversion, mirror
        x = _calc(model2, at)
        x.set_cell(at.cell.array @ Q.T, scale_atoms=False)
        x.positions = at.positions @ Q.T
        assert abs(x.get_potential_energy() - e) < 1e-10 * abs(e)
        np.testing.assert_allclose(x.get_forces(), f @ Q.T, atol=1e-10 * np.abs(f).max())
        np.testing.assert_allclose(x.get_stress(voigt=False), Q @ s @ Q.T, atol=1e-10 * np.abs(s).max())
    x = _calc(model2, at)
    x.positions += [0.37, -1.2, 2.9]
    assert abs(x.get_potential_energy() - e) < 1e-10 * abs(e)
    perm = np.random.default_rng(0).permutation(len(at))
    x = _calc(model2, at[perm])
    assert abs(x.get_potential_energy() - e) < 1e-10 * abs(e)
    np.testing.assert_allclose(x.get_forces(), f[perm], atol=1e-10 * np.abs(f).max())


def test_supercell_consistency(model2):
    at = _calc(model2, random_structure(["Si", "O"], 8, 6, periodic=True, triclinic=True))
    big = _calc(model2, at.repeat((2, 2, 3)))
    assert abs(big.get_potential_energy() / len(big) - at.get_potential_energy() / len(at)) < 1e-12 * 100
    np.testing.assert_allclose(big.get_forces()[: len(at)], at.get_forces(), atol=1e-10)
    np.testing.assert_allclose(big.get_stress(), at.get_stress(), atol=1e-12)


def test_small_cell_many_images():
    spec = BasisSpec(elements=["Si"], order=3, degree=8, r_cut=5.5)
    model = random_model(spec, seed=1)
    prim = _calc(model, bulk("Si", "diamond", a=5.43))  # 2 atoms, cell << cutoff
    prim.positions[0] += [0.05, -0.02, 0.03]
    conv = _calc(model, prim.repeat((3, 2, 2)))
    assert abs(conv.get_potential_energy() / len(conv) - prim.get_potential_energy() / len(prim)) < 1e-10
    assert np.abs(prim.get_forces()).max() > 1e-3


@pytest.mark.parametrize("extra", [{}, {"r_cut": 3.0, "long_r_cut": 4.0, "long_degree": (8, 8)}],
                         ids=["r_cut", "long_r_cut"])
def test_smooth_at_cutoff(extra):
    """Energy and force go continuously (C2 energy) to zero as a neighbour leaves the
    interaction range (r_cut, or the long-range channel's cutoff beyond it)."""
    spec = BasisSpec(**dict(dict(elements=["Si"], order=3, degree=8, r_cut=4.0, r_core=0), **extra))
    model = random_model(spec, seed=2)
    from ase import Atoms

    rc = 4.0
    d = np.array([-3e-3, -1e-3, -1e-4, 1e-4, 1e-3])
    es, fs = [], []
    for x in rc + d:
        at = _calc(model, Atoms("Si3", positions=[[0, 0, 0], [2.3, 0, 0], [0, x, 0]]))
        es.append(at.get_potential_energy())
        fs.append(at.get_forces()[2, 1])
    base = _calc(model, Atoms("Si2", positions=[[0, 0, 0], [2.3, 0, 0]])).get_potential_energy() + model.e0["Si"]
    es, fs = np.array(es) - base, np.array(fs)
    assert np.all(es[d > 0] == 0) and np.all(fs[d > 0] == 0)
    # inside, the energy vanishes like (rc - r)^3 and the force like (rc - r)^2
    assert abs(es[2]) < 1e-9 and abs(fs[2]) < 1e-6
    assert abs(es[0]) > abs(es[1]) > abs(es[2])
    ratio = es[0] / es[1]
    assert 20 < ratio < 34  # (3e-3/1e-3)^3 = 27


def test_one_vs_two_threads(model2):
    at = random_structure(["Si", "O"], 40, 8, periodic=True, triclinic=True, density=0.07)
    r = []
    for nt in (1, 2):
        x = at.copy()
        x.calc = ACECalculator(model2, n_threads=nt)
        r.append((x.get_potential_energy(), x.get_forces(), x.get_stress()))
    assert abs(r[0][0] - r[1][0]) <= 1e-12 * abs(r[0][0])
    np.testing.assert_allclose(r[0][1], r[1][1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(r[0][2], r[1][2], rtol=0, atol=1e-12)


def test_threads_taking_groups_from_each_other(model2):
    """The core splits the atom groups into one range per thread, and a thread that has
    finished its own takes groups from the others' (compute.c). With more threads than
    groups (13 atoms: 4 groups; up to 7 threads on this machine's cores) most threads start
    with an empty range and take, and the threads interleave at random: every atom must
    still be done once, with the single-thread result bit for bit, in every repeat."""
    at = random_structure(["Si", "O"], 13, 5, periodic=True, triclinic=True, density=0.07)
    ref = None
    for nt in (1, 2, 3, 5, 7, 7, 7):
        x = at.copy()
        x.calc = ACECalculator(model2, n_threads=nt)
        r = (x.get_potential_energies(), x.get_forces(), x.get_stress())
        if ref is None:
            ref = r
            assert np.abs(r[1]).max() > 1e-3  # forces not trivially zero
            continue
        for a, b in zip(ref, r):
            assert np.array_equal(a, b), f"{nt} threads differ from 1"


def test_atom_result_independent_of_its_block(model2):
    """The core evaluates the products of four atoms of one species at once (compute.c):
    an atom's energy and bond gradients must not depend on which atoms share its group,
    nor on its lane. Each atom alone (a block of one) against the whole mixed block and
    the block reversed: bitwise equal."""
    from ace_lin.evaluate import species_indices
    from ace_lin.neighbours import neighbour_list_from_atoms

    at = random_structure(["Si", "O"], 23, 8, periodic=True, triclinic=True, density=0.07)
    core = model2.core
    sp = species_indices(at, model2.elements)
    nl = neighbour_list_from_atoms(at, core.max_cutoff)
    start, nsp, dr = nl.start, sp[nl.j], nl.dr
    e_all, g_all = core.compute(sp, start, nsp, dr)
    assert len(set(sp)) == 2 and np.any(g_all != 0)
    for i in range(len(at)):
        b0, b1 = start[i], start[i + 1]
        e1, g1 = core.compute(sp[i:i + 1], np.array([0, b1 - b0]), nsp[b0:b1], dr[b0:b1])
        assert e1[0] == e_all[i]
        assert np.array_equal(g1, g_all[b0:b1])
    order = np.arange(len(at))[::-1]  # the same atoms and bonds, other groups and lanes
    counts = np.diff(start)[order]
    bonds = np.concatenate([np.arange(start[i], start[i + 1]) for i in order])
    e_rev, g_rev = core.compute(sp[order], np.r_[0, np.cumsum(counts)], nsp[bonds], dr[bonds])
    assert np.array_equal(e_rev, e_all[order])
    assert np.array_equal(g_rev, g_all[bonds])


def test_per_atom_energies_sum(model2):
    at = _calc(model2, random_structure(["Si", "O"], 10, 9))
    assert abs(at.get_potential_energies().sum() - at.get_potential_energy()) < 1e-10


def test_md_with_the_reused_neighbour_list_is_bitwise_the_md_without(model2):
    """NVE through ASE on a Si-O structure (long-range channel in the "long" case): the
    calculator's reused neighbour list (skin 0.5 A) gives the trajectory of a list built at
    every step, bit for bit; it built the list fewer times than it was called."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    start = random_structure(["Si", "O"], 40, seed=11)
    kt = 1500 * units.kB  # eV
    m = start.get_masses()[:, None]
    start.set_momenta(np.random.default_rng(2).normal(size=(len(start), 3)) * np.sqrt(m * kt))
    runs = {}
    for skin in (0.0, 0.5):
        atoms = start.copy()
        atoms.calc = ACECalculator(model2, n_threads=1, grade=False, skin=skin)
        VelocityVerlet(atoms, 1.0 * units.fs).run(60)
        runs[skin] = (atoms.positions.copy(), atoms.get_forces().copy(), atoms.calc.neighbours.builds)
    assert np.array_equal(runs[0.0][0], runs[0.5][0]) and np.array_equal(runs[0.0][1], runs[0.5][1])
    assert runs[0.0][2] == 61 and runs[0.5][2] < 30, (runs[0.0][2], runs[0.5][2])
    assert np.abs(runs[0.5][0] - start.positions).max() > 0.3  # the atoms did move
