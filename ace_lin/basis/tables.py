"""From a BasisSpec to the flat tables the C evaluator reads (acelin_tables).

One-particle functions phi_{z n l m}(r_ij) = R_n^{z_i z}(r_ij) Y_lm(r_ij/|r_ij|) for
neighbours of species z. The atomic base A_{z n l m} = sum_j phi is indexed as
    a = z * n_nlm + nl_offset[(n, l)] + (l + m)
with the used (n, l) channels sorted by (n, l). An invariant of order nu is
    B = sum_terms coupling * prod_k A_{a_k}
over sorted index tuples (a_1 <= ... <= a_nu); identical one-particle functions are
merged, so each distinct product appears once per invariant.

With a long-range channel (BasisSpec.long_r_cut) its radial functions take the indices
n = n_radial + 1 .. n_radial + n_radial_long, and its invariants (appended after the
short channel's) are products of long-channel functions only; their degree counts the
channel's own n (1..n_radial_long) with long_w_l.

`spec` arguments are BasisSpec objects (basis/spec.py); this module reads their fields and
does not import it (BasisSpec.basis() imports this one).
"""
import hashlib
import os
from dataclasses import dataclass
from typing import Tuple

import numpy as np

from ace_lin.basis import clebsch, embedding
from ace_lin.basis.coupling import RANK_TOL
from ace_lin.basis.limits import NU_MAX
from ace_lin.basis.products import emit_invariants, labels as _labels, multisets as _multisets
from ace_lin.codegen.cache import cache_dir

TABLES_VERSION = "3"  # bump when the table layout or the construction changes


@dataclass(frozen=True)
class BasisTables:
    elements: Tuple[str, ...]
    atomic_numbers: np.ndarray      # [ns]
    r_cut: np.ndarray               # [ns*ns] A
    r_in: np.ndarray                # [ns*ns] A
    r_core: np.ndarray              # [ns*ns] A
    r_scale: np.ndarray             # [ns*ns] A
    transform_power: int
    n_radial: int
    lmax: int
    nl_n: np.ndarray                # [n_nl]
    nl_l: np.ndarray                # [n_nl]
    species: np.ndarray             # [n_basis] centre species
    nu: np.ndarray                  # [n_basis]
    degree: np.ndarray              # [n_basis] sum_k (n_k + w_l l_k)
    labels: np.ndarray              # [n_basis, NU_MAX, 3] (z, n, l), -1 padded
    term_start: np.ndarray          # [n_basis+1] int64
    term_coupling: np.ndarray       # [n_terms]
    term_factors: np.ndarray        # [n_terms, NU_MAX] int32, -1 padded
    tables_hash: str
    n_radial_long: int = 0          # long-range channel (0: none)
    r_cut_long: np.ndarray = None   # [ns*ns] A (= r_cut when there is no such channel)
    r_scale_long: np.ndarray = None # [ns*ns] A (= r_scale when there is none)
    radial_weights: np.ndarray = None  # contracted channels: [ns*ns, n_nl, n_radial + n_radial_long]

    @property
    def n_basis(self) -> int:
        return int(self.nu.size)

    def size_by_order(self) -> dict:
        return {int(nu): int(np.sum(self.nu == nu)) for nu in np.unique(self.nu)}

    def to_dict(self) -> dict:
        """The "tables" section of a model file (names as in acelin_tables)."""
        return {
            "atomic_numbers": self.atomic_numbers, "r_cut": self.r_cut, "r_in": self.r_in,
            "r_core": self.r_core, "r_scale": self.r_scale,
            "transform_power": self.transform_power, "n_radial": self.n_radial,
            "lmax": self.lmax, "nl_n": self.nl_n, "nl_l": self.nl_l,
            "basis_species": self.species, "basis_nu": self.nu,
            "basis_term_start": self.term_start, "term_coupling": self.term_coupling,
            "term_factors": self.term_factors.ravel(),
            "n_radial_long": self.n_radial_long, "r_cut_long": self.r_cut_long,
            "r_scale_long": self.r_scale_long,
            **({} if self.radial_weights is None else {"radial_weights": self.radial_weights.ravel()}),
        }


def _pair_array(spec, name: str) -> np.ndarray:
    els = spec.elements
    return np.array([spec.pair_value(name, a, b) for a in els for b in els], dtype=float)


def _channels(spec):
    """(order, degrees, w_l, lmax per order, n offset, n_radial) of each radial channel."""
    out = [(spec.order, spec.degree, spec.w_l, spec.lmax, 0, spec.n_radial)]
    if spec.has_long:
        out.append((spec.long_order, spec.long_degree, spec.long_w_l,
                    (spec.long_lmax,) * spec.long_order, spec.n_radial, spec.n_radial_long))
    return out


def _build(spec) -> dict:
    if spec.species_channels is not None:
        arrays = embedding.build(spec)
        clebsch.save_cache()
        return arrays
    ns = len(spec.elements)
    chosen = []  # (nu, label tuple with the global n, degree)
    for order, degree, w_l, lmax, n0, n_radial in _channels(spec):
        labels = _labels(ns, n_radial, max(lmax), w_l, max(degree))
        for nu in range(1, order + 1):
            for ms in _multisets(labels, nu, degree[nu - 1], w_l):
                ls = tuple(labels[k][2] for k in ms)
                if nu == 1 and ls[0] != 0:
                    continue
                if sum(ls) % 2 or max(ls) > lmax[nu - 1]:
                    continue
                lab = tuple(labels[k] for k in ms)
                chosen.append((nu, tuple((z, n0 + n, l) for (z, n, l) in lab),
                               sum(n + w_l * l for (_, n, l) in lab)))
    per_centre = [[c for c in chosen if not (c[0] == 1 and c[1][0][0] < zc)] for zc in range(ns)]
    # (the pair sum of (centre zc, neighbour z) equals that of (centre z, neighbour zc) in
    # every total property: keep one of the two)
    arrays = emit_invariants(per_centre)
    clebsch.save_cache()
    return arrays


def _cache_path(spec) -> str:
    key = hashlib.sha256((spec.spec_hash() + TABLES_VERSION + repr(RANK_TOL)).encode()).hexdigest()
    return os.path.join(cache_dir(), f"tables_{key[:32]}.npz")


def _load_or_build(spec) -> dict:
    path = _cache_path(spec)
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError):
        pass
    arrays = _build(spec)
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass
    return arrays


_MEMO = {}


def basis_tables(spec) -> BasisTables:
    """Tables of spec, memoized in memory and on disk (keyed by the spec hash)."""
    key = spec.spec_hash()
    if key not in _MEMO:
        _MEMO[key] = _make_tables(spec)
    return _MEMO[key]


def _make_tables(spec) -> BasisTables:
    from ase.data import atomic_numbers

    arr = _load_or_build(spec)
    h = hashlib.sha256()
    for k in sorted(arr):
        h.update(k.encode())
        h.update(np.ascontiguousarray(arr[k]).tobytes())
    return BasisTables(
        elements=spec.elements,
        atomic_numbers=np.array([atomic_numbers[e] for e in spec.elements], dtype=np.int32),
        r_cut=_pair_array(spec, "r_cut"), r_in=_pair_array(spec, "r_in"),
        r_core=_pair_array(spec, "r_core"), r_scale=_pair_array(spec, "r_scale"),
        transform_power=spec.transform_power, n_radial=spec.n_radial,
        lmax=int(arr["nl_l"].max()) if arr["nl_l"].size else 0,
        nl_n=arr["nl_n"], nl_l=arr["nl_l"], species=arr["species"], nu=arr["nu"],
        degree=arr["degree"], labels=arr["labels"], term_start=arr["term_start"],
        term_coupling=arr["term_coupling"], term_factors=arr["term_factors"],
        tables_hash=h.hexdigest(), n_radial_long=spec.n_radial_long,
        r_cut_long=_pair_array(spec, "long_r_cut" if spec.has_long else "r_cut"),
        r_scale_long=_pair_array(spec, "long_r_scale" if spec.has_long else "r_scale"),
        radial_weights=arr.get("radial_weights"),
    )


def probe_tables(spec, long: bool = False, lmax: int = 0) -> BasisTables:
    """A species-resolved basis whose atomic base holds every base function n = 1..n_radial
    (with long=True: of the long-range channel, on its cutoff and scale) at every l <= lmax:
    the atomic base the embedding weights are derived from (fit/embedding.py,
    CoreModel.atomic_base). Its invariants, sum_m A_{z n l m}^2 of centre species 0, only
    make the core build every channel."""
    from ase.data import atomic_numbers

    n = spec.n_radial_long if long else spec.n_radial
    nl = sorted((k, l) for k in range(1, n + 1) for l in range(lmax + 1))
    ns = len(spec.elements)
    n_nlm = sum(2 * l + 1 for _, l in nl)
    starts, factors, offset = [0], [], 0
    for k, l in nl:
        for z in range(ns):
            for m in range(2 * l + 1):
                factors.append([z * n_nlm + offset + m] * 2 + [-1] * (NU_MAX - 2))
            starts.append(starts[-1] + 2 * l + 1)
        offset += 2 * l + 1
    nb = len(starts) - 1
    r_cut = _pair_array(spec, "long_r_cut" if long else "r_cut")
    r_scale = _pair_array(spec, "long_r_scale" if long else "r_scale")
    return BasisTables(
        elements=spec.elements,
        atomic_numbers=np.array([atomic_numbers[e] for e in spec.elements], dtype=np.int32),
        r_cut=r_cut, r_in=_pair_array(spec, "r_in"), r_core=np.zeros_like(r_cut),
        r_scale=r_scale, transform_power=spec.transform_power, n_radial=n, lmax=lmax,
        nl_n=np.array([k for k, _ in nl], dtype=np.int32),
        nl_l=np.array([l for _, l in nl], dtype=np.int32),
        species=np.zeros(nb, dtype=np.int32), nu=np.full(nb, 2, dtype=np.int32),
        degree=np.zeros(nb), labels=-np.ones((nb, NU_MAX, 3), dtype=np.int32),
        term_start=np.array(starts, dtype=np.int64), term_coupling=np.ones(len(factors)),
        term_factors=np.array(factors, dtype=np.int32).reshape(-1, NU_MAX), tables_hash="probe",
        n_radial_long=0, r_cut_long=r_cut, r_scale_long=r_scale)
