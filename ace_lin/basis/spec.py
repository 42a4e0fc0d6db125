"""BasisSpec: the plain-data specification of a linear ACE basis.

All lengths in Angstrom. Per-element-pair settings are named maps {"Si-O": 4.5}
(symmetric; "O-Si" means the same pair), never positional lists.
"""
import hashlib
import json
from dataclasses import dataclass, fields
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from ase.data import atomic_numbers, covalent_radii

from ace_lin.basis.limits import NU_MAX
SPEC_VERSION = 1

PairValue = Union[float, Mapping[str, float], None]


def _pair_key(a: str, b: str) -> str:
    return "-".join(sorted((a, b)))


def pair_map(name: str, value: PairValue, elements: Sequence[str], default) -> Dict[str, float]:
    """Expand a scalar / named map / None into a full {"A-B": value} map over all pairs."""
    pairs = {_pair_key(a, b): (a, b) for a in elements for b in elements}
    if value is None:
        return {k: float(default(*ab)) for k, ab in sorted(pairs.items())}
    if isinstance(value, Mapping):
        out = {}
        for key, v in value.items():
            parts = str(key).split("-")
            if len(parts) != 2 or any(p not in elements for p in parts):
                raise ValueError(f"{name}: key {key!r} is not a pair of the elements {list(elements)} "
                                 "(write it as 'A-B')")
            out[_pair_key(*parts)] = float(v)
        missing = sorted(set(pairs) - set(out))
        if missing:
            # a partial map falls back to the default per missing pair, stated explicitly
            for k in missing:
                out[k] = float(default(*pairs[k]))
        return dict(sorted(out.items()))
    return {k: float(value) for k in sorted(pairs)}


def _lmax_allowed(order: int, degree, w_l: float) -> int:
    """Largest l a product of order >= 2 can carry within the degree (two factors of l)."""
    return max(int((max(degree) - 2) // (2 * w_l)), 0) if order >= 2 and w_l > 0 else 0


def _covalent_sum(a: str, b: str) -> float:
    return float(covalent_radii[atomic_numbers[a]] + covalent_radii[atomic_numbers[b]])


@dataclass(frozen=True, eq=False)
class BasisSpec:
    """Specification of a linear ACE basis.

    elements     chemical symbols, e.g. ["W", "Be"]; the order defines species indices
    order        largest correlation order nu (1..5; body order nu + 1)
    degree       D_nu: one number for all orders or one per order (nu = 1..order);
                 a product of nu one-particle functions (n_k, l_k) is kept if
                 sum_k (n_k + w_l * l_k) <= D_nu, with n_k >= 1
    r_cut        outer cutoff, A (scalar or {"A-B": value})
    w_l          weight of l in the degree
    n_radial     number of radial functions per pair (default: D_1)
    lmax         largest l: one number, or one per order (nu = 1..order) to keep high-l
                 channels for low orders only (default: as the degree allows, at most 8)
    r_in         inner end of the ACE radial basis, A (default 0.5 x sum of covalent radii):
                 the basis goes smoothly (C2) to zero there and stays zero inside
    r_core       ZBL core repulsion is switched fully off beyond r_core and fully on
                 below r_in, A (default 0.7 x sum of covalent radii; 0 disables the core)
    r_scale      length scale of the distance transform t(r) = (1 + r/r_scale)^-p, A
                 (default: sum of covalent radii)
    transform_power   p of the distance transform
    long_r_cut   cutoff of an optional long-range channel, A (None: no such channel): a
                 second radial set, reaching further than r_cut, used only by products of
                 its own (low) orders. Two- and three-body terms decay more slowly than the
                 many-body ones, so they get the longer range at a fraction of the cost
    long_order, long_degree, long_w_l   its correlation order, degrees and w_l (as above)
    long_lmax    its largest l (default: as its degree allows, at most 8). Its radial
                 resolution is what the data reward; a lower lmax keeps its cost per
                 neighbour (n_radial_long x (long_lmax + 1)^2) down
    long_r_scale  its distance-transform scale, A (default: 2 x sum of covalent radii)
    species_channels  None (default): the many-body functions are species-resolved, one
                 atomic base per neighbour element, so products grow like
                 (number of elements)^order; K: chemical embedding, K species channels
                 (linear combinations of the elements, species_weights) for the products
                 of order >= 2, whose number then depends on K only; the pair part stays
                 species-resolved (basis/embedding.py)
    species_weights  the embedding, {centre element: K x n_elements array}; derived from
                 the training structures by ace_lin.fit.embedding.embed
    """
    elements: Tuple[str, ...]
    order: int = 3
    degree: Union[float, Tuple[float, ...]] = 12
    r_cut: PairValue = 5.0
    w_l: float = 1.5
    n_radial: Optional[int] = None
    lmax: Union[int, Tuple[int, ...], None] = None
    r_in: PairValue = None
    r_core: PairValue = None
    r_scale: PairValue = None
    transform_power: int = 2
    long_r_cut: PairValue = None
    long_order: int = 2
    long_degree: Union[float, Tuple[float, ...]] = 16
    long_w_l: float = 1.0
    long_lmax: Optional[int] = None
    long_r_scale: PairValue = None
    species_channels: Optional[int] = None
    species_weights: Optional[Mapping[str, Sequence]] = None

    def __post_init__(self):
        els = tuple(str(e) for e in self.elements)
        if not els:
            raise ValueError("BasisSpec needs at least one element")
        bad = [e for e in els if e not in atomic_numbers or e == "X"]
        if bad:
            raise ValueError(f"unknown chemical symbol(s): {bad}")
        if len(set(els)) != len(els):
            raise ValueError(f"elements repeated: {list(els)}")
        object.__setattr__(self, "elements", els)
        if not (1 <= int(self.order) <= NU_MAX):
            raise ValueError(f"order must be 1..{NU_MAX}, got {self.order}")
        object.__setattr__(self, "order", int(self.order))
        deg = self.degree
        if isinstance(deg, (int, float)):
            deg = (float(deg),) * self.order
        deg = tuple(float(d) for d in deg)
        if len(deg) != self.order:
            raise ValueError(f"degree needs {self.order} values (one per order), got {len(deg)}")
        for nu, d in enumerate(deg, 1):
            if d < nu:
                raise ValueError(f"degree D_{nu} = {d} < {nu}: no function of order {nu} fits")
        object.__setattr__(self, "degree", deg)
        n_radial = int(self.n_radial) if self.n_radial is not None else int(deg[0])
        if n_radial < 1:
            raise ValueError("n_radial must be >= 1")
        object.__setattr__(self, "n_radial", n_radial)
        lmax_allowed = _lmax_allowed(self.order, deg, self.w_l)
        lm = self.lmax
        if lm is None:
            lm = (min(8, max(lmax_allowed, 0)),) * self.order
        elif isinstance(lm, (int, float)):
            lm = (int(lm),) * self.order
        lm = tuple(int(x) for x in lm)
        if len(lm) != self.order:
            raise ValueError(f"lmax needs one value or {self.order} (one per order), got {len(lm)}")
        if any(not (0 <= x <= 8) for x in lm):
            raise ValueError(f"lmax must be 0..8 (generated kernel limit), got {list(lm)}")
        object.__setattr__(self, "lmax", lm)
        rc = pair_map("r_cut", self.r_cut, els, lambda a, b: 5.0)
        rin = pair_map("r_in", self.r_in, els, lambda a, b: 0.5 * _covalent_sum(a, b))
        rcore = pair_map("r_core", self.r_core, els, lambda a, b: 0.7 * _covalent_sum(a, b))
        rscale = pair_map("r_scale", self.r_scale, els, _covalent_sum)
        for k in rc:
            if not (0 <= rin[k] < rc[k]):
                raise ValueError(f"pair {k}: need 0 <= r_in ({rin[k]}) < r_cut ({rc[k]}) A")
            if rcore[k] != 0 and not (rin[k] < rcore[k] < rc[k]):
                raise ValueError(f"pair {k}: need r_in ({rin[k]}) < r_core ({rcore[k]}) < r_cut "
                                 f"({rc[k]}) A, or r_core = 0 to disable the core")
            if rscale[k] <= 0:
                raise ValueError(f"pair {k}: r_scale must be > 0")
        for name, m in (("r_cut", rc), ("r_in", rin), ("r_core", rcore), ("r_scale", rscale)):
            object.__setattr__(self, name, m)
        if int(self.transform_power) < 1:
            raise ValueError("transform_power must be >= 1")
        object.__setattr__(self, "transform_power", int(self.transform_power))
        object.__setattr__(self, "w_l", float(self.w_l))
        self._check_long(els, rin)
        self._check_embedding(els)

    def _check_embedding(self, els):
        """species_channels and its weights (float arrays K x n_elements per element)."""
        K = self.species_channels
        if K is None:
            if self.species_weights is not None:
                raise ValueError("species_weights needs species_channels")
            return
        if isinstance(K, bool) or int(K) != K or not 1 <= int(K) <= len(els):
            raise ValueError(f"species_channels must be an integer 1..{len(els)} (the number of "
                             f"elements), got {K!r}")
        object.__setattr__(self, "species_channels", int(K))
        W = self.species_weights
        if W is None:
            return
        if not isinstance(W, Mapping) or sorted(W) != sorted(els):
            raise ValueError(f"species_weights: expected one entry per element {list(els)}")
        out = {}
        for el in els:
            u = np.asarray(W[el], dtype=float)
            if u.shape != (int(K), len(els)) or not np.all(np.isfinite(u)):
                raise ValueError(f"species_weights[{el}]: expected finite {int(K)} x {len(els)} "
                                 f"weights, got shape {u.shape}")
            out[el] = u
        object.__setattr__(self, "species_weights", out)

    def _check_long(self, els, rin):
        """Normalise the long-range channel fields (all left as given when it is off)."""
        if self.long_r_cut is None:
            return
        order = int(self.long_order)
        if not (1 <= order <= NU_MAX):
            raise ValueError(f"long_order must be 1..{NU_MAX}, got {self.long_order}")
        deg = self.long_degree
        deg = (float(deg),) * order if isinstance(deg, (int, float)) else tuple(float(d) for d in deg)
        if len(deg) != order:
            raise ValueError(f"long_degree needs {order} values (one per long order), got {len(deg)}")
        if any(d < nu for nu, d in enumerate(deg, 1)):
            raise ValueError(f"long_degree {list(deg)}: D_nu must be >= nu")
        w_l = float(self.long_w_l)
        if not w_l > 0:
            raise ValueError("long_w_l must be > 0")
        allowed = min(8, _lmax_allowed(order, deg, w_l))
        lmax = allowed if self.long_lmax is None else int(self.long_lmax)
        if not (0 <= lmax <= 8):
            raise ValueError(f"long_lmax must be 0..8 (generated kernel limit), got {self.long_lmax}")
        rc = pair_map("long_r_cut", self.long_r_cut, els, lambda a, b: 0.0)
        rs = pair_map("long_r_scale", self.long_r_scale, els, lambda a, b: 2.0 * _covalent_sum(a, b))
        for k in rc:
            if not rc[k] > rin[k]:
                raise ValueError(f"pair {k}: need long_r_cut ({rc[k]}) > r_in ({rin[k]}) A")
            if not rs[k] > 0:
                raise ValueError(f"pair {k}: long_r_scale must be > 0")
        for name, value in (("long_order", order), ("long_degree", deg), ("long_w_l", w_l),
                            ("long_lmax", min(lmax, allowed)), ("long_r_cut", rc),
                            ("long_r_scale", rs)):
            object.__setattr__(self, name, value)

    @property
    def has_long(self) -> bool:
        return self.long_r_cut is not None

    @property
    def n_radial_long(self) -> int:
        return int(self.long_degree[0]) if self.has_long else 0

    @property
    def max_reach(self) -> float:
        """Largest distance (A) at which two atoms interact through the ACE part."""
        reach = list(self.r_cut.values()) + (list(self.long_r_cut.values()) if self.has_long else [])
        return float(max(reach))

    # -- plain data --------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["elements"] = list(self.elements)
        d["degree"] = list(self.degree)
        d["lmax"] = list(self.lmax)
        if self.has_long:
            d["long_degree"] = list(self.long_degree)
        else:  # no long-range channel: the spec (and its hash) is that of earlier versions
            for k in [k for k in d if k.startswith("long_")]:
                del d[k]
        if self.species_channels is None:  # likewise: species-resolved specs are unchanged
            del d["species_channels"], d["species_weights"]
        elif d["species_weights"] is not None:
            d["species_weights"] = {el: u.tolist() for el, u in d["species_weights"].items()}
        d["spec_version"] = SPEC_VERSION
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "BasisSpec":
        d = dict(d)
        version = d.pop("spec_version", SPEC_VERSION)
        if version > SPEC_VERSION:
            raise ValueError(f"basis spec version {version} is newer than this ace_lin ({SPEC_VERSION})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown basis spec key(s): {unknown}")
        for key in ("degree", "lmax", "long_degree"):
            if key in d and isinstance(d[key], list):
                d[key] = tuple(d[key])
        return cls(**d)

    def spec_hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def __eq__(self, other):
        return isinstance(other, BasisSpec) and self.spec_hash() == other.spec_hash()

    def __hash__(self):
        return hash(self.spec_hash())

    # -- derived -----------------------------------------------------------------------
    def pair_value(self, name: str, a: str, b: str) -> float:
        return getattr(self, name)[_pair_key(a, b)]

    def basis(self):
        """The generated basis tables (cached per spec)."""
        from ace_lin.basis.tables import basis_tables

        return basis_tables(self)

    @property
    def n_basis(self) -> int:
        return self.basis().n_basis
