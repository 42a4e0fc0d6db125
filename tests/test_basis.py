"""The symbolic basis: harmonics, couplings, selection, radial functions, independence."""
import numpy as np
import pytest
from ase import Atoms
from scipy.special import sph_harm_y

from ace_lin import BasisSpec
from ace_lin.basis.coupling import complex_from_real, invariant_couplings
from ace_lin.basis.radial import radial_basis
from ace_lin.basis.ylm import real_ylm_numpy
from ace_lin.evaluate import design_rows
from helpers import random_structure


def test_real_harmonics_orthonormal_and_match_complex():
    rng = np.random.default_rng(0)
    u = rng.normal(size=(20000, 3))
    u /= np.linalg.norm(u, axis=1)[:, None]
    Y = real_ylm_numpy(4, u)
    gram = Y.T @ Y * 4 * np.pi / len(u)
    assert np.abs(gram - np.eye(25)).max() < 0.05  # Monte Carlo quadrature
    theta, phi = np.arccos(u[:50, 2]), np.arctan2(u[:50, 1], u[:50, 0])
    for l in range(5):
        Yc = np.stack([sph_harm_y(l, m, theta, phi) for m in range(-l, l + 1)], axis=1)
        Yr = Y[:50, l * l:(l + 1) ** 2]
        np.testing.assert_allclose(Yc, Yr @ complex_from_real(l).T, atol=1e-12)


def test_couplings_are_invariant_and_orthonormal():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(1)
    ls = (1, 2, 2, 3)
    V = invariant_couplings(ls, (0, 1, 2, 3))
    assert V.shape[0] == 3  # multiplicity of L=0 in 1x2x2x3 with even parity... computed
    flat = V.reshape(len(V), -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(len(V)), atol=1e-12)
    vecs = [rng.normal(size=(4, 3)) for _ in ls]
    R = Rotation.random(random_state=2).as_matrix()

    def B(vs):
        T = None
        for v, l in zip(vs, ls):
            v = v / np.linalg.norm(v, axis=1)[:, None]
            a = real_ylm_numpy(l, v)[:, l * l:(l + 1) ** 2].sum(0)
            T = a if T is None else np.multiply.outer(T, a)
        return np.tensordot(V, T, axes=len(ls))

    np.testing.assert_allclose(B(vecs), B([v @ R.T for v in vecs]), atol=1e-12)


def test_selection_and_sizes():
    spec = BasisSpec(elements=["Si"], order=4, degree=(10, 10, 9, 8))
    t = spec.basis()
    assert t.n_basis == spec.n_basis
    for b in range(t.n_basis):
        lab = t.labels[b][t.labels[b][:, 0] >= 0]
        assert len(lab) == t.nu[b]
        assert np.sum(lab[:, 1] + spec.w_l * lab[:, 2]) <= spec.degree[t.nu[b] - 1] + 1e-9
        assert np.sum(lab[:, 2]) % 2 == 0
    two = BasisSpec(elements=["Si", "O"], order=4, degree=(10, 10, 9, 8))
    assert two.n_basis > 2 * spec.n_basis  # mixed-species products add functions


def test_generation_is_deterministic_and_cached(tmp_path, monkeypatch):
    from ace_lin.basis import tables

    spec = BasisSpec(elements=["W", "Be"], order=3, degree=7)
    first = tables._build(spec)
    second = tables._build(spec)
    for k in first:
        assert np.array_equal(first[k], second[k]), k
    assert spec.basis() is spec.basis()


def test_radial_basis_matches_reference():
    """nu=1 invariants of a dimer are R_n(r) Y_00 on each atom: check the C radial code."""
    spec = BasisSpec(elements=["Si"], order=1, degree=9, r_cut=5.0, r_in=1.0, r_core=0)
    for r in (1.05, 2.0, 3.3, 4.99):
        rows = design_rows(spec, Atoms("Si2", positions=[[0, 0, 0], [0, 0, r]]))
        ref = 2 * radial_basis(r, 9, 1.0, 5.0, spec.pair_value("r_scale", "Si", "Si"), 2)[0] / np.sqrt(4 * np.pi)
        np.testing.assert_allclose(rows.energy, ref, rtol=1e-12, atol=1e-14)


def test_basis_is_linearly_independent():
    spec = BasisSpec(elements=["Si", "C"], order=3, degree=(7, 7, 6), r_cut=4.0)
    rows = []
    for seed in range(3 * spec.n_basis // 2):
        at = random_structure(["Si", "C"], 10, seed, periodic=False, min_dist=1.2, density=0.15)
        rows.append(design_rows(spec, at).energy)
    M = np.array(rows)
    M /= np.linalg.norm(M, axis=0)
    s = np.linalg.svd(M, compute_uv=False)
    assert s[-1] / s[0] > 1e-9, (spec.n_basis, s[-5:] / s[0])


@pytest.mark.parametrize("bad", [dict(order=6), dict(degree=0.5), dict(elements=["Xx"]),
                                 dict(r_cut={"Si-Q": 3.0}), dict(r_in=6.0), dict(lmax=9)])
def test_spec_rejects_bad_values(bad):
    kw = dict(elements=["Si"], order=3, degree=8)
    kw.update(bad)
    with pytest.raises(ValueError):
        BasisSpec(**kw)


def test_spec_round_trip():
    spec = BasisSpec(elements=["W", "Be"], order=3, degree=(9, 8, 7), r_cut={"W-W": 5.0, "Be-W": 4.5, "Be-Be": 4.0})
    again = BasisSpec.from_dict(spec.to_dict())
    assert again == spec and again.spec_hash() == spec.spec_hash()
    with pytest.raises(ValueError, match="unknown basis spec key"):
        BasisSpec.from_dict(dict(spec.to_dict(), colour="red"))


@pytest.mark.parametrize("long_w_l, long_lmax, lmax_long", [(1.0, None, 2), (2.0, None, 1), (1.0, 1, 1)],
                         ids=["same_lmax", "lower_lmax", "capped_lmax"])
def test_long_range_channel_is_the_union_of_two_bases(long_w_l, long_lmax, lmax_long):
    """A long-range channel adds exactly the functions of a second basis built with its
    cutoff, scale, order and degrees (same rows for energy, forces and virial), after the
    short channel's in each centre species' block, with the degree counted inside the
    channel. long_w_l 2 (or long_lmax 1) gives the channel l <= 1 against the short
    channel's l <= 2: the core then evaluates far neighbours' harmonics only up to l = 1."""
    kw = dict(elements=["Si", "C"], order=3, degree=(8, 8, 6), w_l=1.5, r_cut=4.0, r_in=1.0, r_core=0)
    long = dict(long_r_cut={"Si-Si": 6.0, "C-Si": 5.0, "C-C": 3.5},
                long_r_scale={"Si-Si": 4.0, "C-Si": 2.0, "C-C": 1.5}, long_degree=(6, 6),
                long_w_l=long_w_l, long_lmax=long_lmax)
    both = BasisSpec(**kw, **long)
    short = BasisSpec(**kw)
    second = BasisSpec(**dict(kw, order=2, degree=(6, 6), w_l=long_w_l, r_cut=long["long_r_cut"],
                              r_scale=long["long_r_scale"], lmax=long_lmax))
    lmax_of = lambda s, channel: max(l for l, n in zip(s.basis().nl_l, s.basis().nl_n) if channel(n))
    assert lmax_of(second, lambda n: True) == lmax_long == both.long_lmax
    assert lmax_of(both, lambda n: n > both.n_radial) == lmax_long
    assert lmax_of(short, lambda n: True) == 2
    assert both.n_radial_long == 6 and both.max_reach == 6.0
    assert both.n_basis == short.n_basis + second.n_basis
    sp_s, sp_l = short.basis().species, second.basis().species
    # columns of [short | second] in the order of `both`: per centre species, short then long
    order = np.concatenate([np.r_[np.flatnonzero(sp_s == z), short.n_basis + np.flatnonzero(sp_l == z)]
                            for z in range(2)])
    np.testing.assert_array_equal(both.basis().degree,
                                  np.r_[short.basis().degree, second.basis().degree][order])
    at = random_structure(["Si", "C"], 12, 4, periodic=True, triclinic=True, density=0.06)
    rows = [design_rows(s, at) for s in (both, short, second)]
    for part in ("energy", "forces", "virial"):
        a, b, c = (np.asarray(getattr(r, part)) for r in rows)
        joined = np.concatenate([b, c], axis=-1)[..., order]
        assert np.abs(c).max() > 1e-3  # the long functions see something
        np.testing.assert_allclose(a, joined, rtol=0, atol=1e-12 * np.abs(joined).max())


def test_long_range_spec_round_trip_and_errors():
    spec = BasisSpec(elements=["W", "Be"], order=2, degree=6, long_r_cut=7.0, long_degree=(8, 6))
    again = BasisSpec.from_dict(spec.to_dict())
    assert again == spec and again.long_r_cut == {"Be-Be": 7.0, "Be-W": 7.0, "W-W": 7.0}
    # a model written before long_lmax existed (no such key) reads back to the same basis
    old = {k: v for k, v in spec.to_dict().items() if k != "long_lmax"}
    assert BasisSpec.from_dict(old).long_lmax == spec.long_lmax == 3  # (8 - 2) // 2
    wide = dict(elements=["Si"], order=2, degree=6, long_r_cut=7.0, long_degree=(8, 8))
    capped = BasisSpec(**wide, long_lmax=1)
    assert BasisSpec.from_dict(capped.to_dict()) == capped
    assert capped.long_lmax == 1 and BasisSpec(**wide).long_lmax == 3
    assert capped.n_basis < BasisSpec(**wide).n_basis
    plain = BasisSpec(elements=["Si"], order=2, degree=6)
    assert not any(k.startswith("long_") for k in plain.to_dict())  # earlier specs keep their hash
    for bad in (dict(long_r_cut=0.1), dict(long_r_cut=6.0, long_degree=(6,)),
                dict(long_r_cut=6.0, long_lmax=9), dict(long_r_cut=6.0, long_lmax=-1),
                dict(long_r_cut=6.0, long_order=0), dict(long_r_cut=6.0, long_r_scale=-1.0)):
        with pytest.raises(ValueError, match="long"):
            BasisSpec(elements=["Si"], order=2, degree=6, **bad)
