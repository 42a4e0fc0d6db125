"""Radii the fit derives from the training data where the configuration leaves them open.

All lengths in Angstrom, per element pair ("A-B", symmetric).

- r_core (ZBL core fully off beyond it) = the closest pair in the data: the core never
  competes with the fit where there are data.
- r_in (inner end of the ACE radial basis) = 0.8 x the closest pair: the radial
  resolution is spent where the data are.
- r_cut (outer cutoff) = at least CUT_PER_NN x the typical nearest-neighbour distance
  (pair A-B: the mean of the two elements' typical distances).
  A fixed cutoff in Angstrom (the preset's 5 A) is right for most of the periodic table
  but would see almost no neighbours in, say, bcc Cs (nearest neighbour ~5.3 A); scaling
  with the data keeps the same number of neighbour shells for large atoms. 1.85 lies
  between the 3rd and 4th shells of bcc (1.63, 1.91) and of fcc (1.73, 2.00), so the
  cutoff never sits on a shell. For Si, Mo, W, Be, Ta and molecules the preset value wins.

"Typical nearest-neighbour distance" of an element: the median, over its atoms in the data,
of the distance to the nearest atom (any species). Per element, not per pair, so that two
dilute atoms that never meet (typical A-A distance 10 A) do not get a huge A-A cutoff.
Pairs whose closest approach is beyond their cutoff keep the BasisSpec r_in / r_core.

- long_r_cut (long-range channel, when the basis has one) = at least LONG_PER_CUT x the
  pair's r_cut, so that it keeps its reach beyond r_cut when r_cut grows for large atoms
  (the presets' 7 A over 5 A); a user's long_r_cut is final.
"""
from dataclasses import dataclass
from typing import Dict, Iterable, Sequence

import numpy as np

CUT_PER_NN = 1.85
NN_REACH = 8.0      # A: far enough to find the nearest neighbour of any element
FIRST_REACH = 4.5   # A: enough for most elements; NN_REACH only where it is not
INNER_PER_CLOSEST = 0.8
CORE_PER_CLOSEST = 0.999
LONG_PER_CUT = 1.4


@dataclass(frozen=True)
class DataDistances:
    closest: Dict[str, float]       # smallest distance seen per pair "A-B", A
    typical_nn: Dict[str, float]    # median nearest-neighbour distance per element, A


def data_distances(configs: Iterable, reach: float = NN_REACH) -> DataDistances:
    """Closest pair distances and typical nearest-neighbour distances in `configs`
    (objects with an `.atoms`). Each structure is searched to FIRST_REACH A, and again to
    `reach` A only if some atom has no neighbour that close (large atoms, sparse data)."""
    from ace_lin.neighbours import neighbour_list_from_atoms

    closest: Dict[str, float] = {}
    nearest: Dict[str, list] = {}
    for c in configs:
        atoms = c.atoms
        sym = np.array(atoms.get_chemical_symbols())
        species = sorted(set(sym.tolist()))
        code = np.searchsorted(species, sym)
        for r in (min(FIRST_REACH, reach), reach):
            nl = neighbour_list_from_atoms(atoms, r)
            i, d = nl.i(), nl.distances()
            m = np.full(len(atoms), np.inf)
            np.minimum.at(m, i, d)
            if np.isfinite(m).all() or r >= reach:
                break
        if nl.n_bonds == 0:
            continue
        for k, el in enumerate(species):
            v = m[(code == k) & np.isfinite(m)]
            if v.size:
                nearest.setdefault(el, []).append(v)
        ns = len(species)
        pc = code[i] * ns + code[nl.j]
        pmin = np.full(ns * ns, np.inf)
        np.minimum.at(pmin, pc, d)
        for q in np.flatnonzero(np.isfinite(pmin)):
            key = "-".join(sorted((species[q // ns], species[q % ns])))
            closest[key] = min(closest.get(key, np.inf), float(pmin[q]))
    typical = {k: float(np.median(np.concatenate(v))) for k, v in nearest.items()}
    return DataDistances(closest=dict(sorted(closest.items())), typical_nn=dict(sorted(typical.items())))


def data_radii(configs, elements: Sequence[str], fields: dict, explicit: Iterable[str] = ()) -> dict:
    """BasisSpec fields derived from the data: r_cut raised to CUT_PER_NN x typical nearest
    neighbour unless named in `explicit` (the keys the user set: a preset's r_cut is a floor,
    a user's r_cut is final); r_core and r_in unless present in `fields`."""
    from ace_lin.basis.spec import pair_map

    dist = data_distances(configs)
    out = {}
    cut = pair_map("r_cut", fields.get("r_cut", 5.0), list(elements), lambda a, b: 5.0)
    if "r_cut" not in set(explicit):
        raised = dict(cut)
        for key in cut:
            a, b = key.split("-")
            if a in dist.typical_nn and b in dist.typical_nn:
                floor = round(CUT_PER_NN * 0.5 * (dist.typical_nn[a] + dist.typical_nn[b]), 2)
                raised[key] = max(cut[key], floor)
        if raised != cut:
            out["r_cut"] = cut = raised
    if fields.get("long_r_cut") is not None and "long_r_cut" not in set(explicit):
        long = pair_map("long_r_cut", fields["long_r_cut"], list(elements), lambda a, b: 0.0)
        raised = {k: max(v, round(LONG_PER_CUT * cut[k], 2)) for k, v in long.items()}
        if raised != long:
            out["long_r_cut"] = raised
    # only pairs that come within their cutoff: the others never see the core or r_in
    near = {k: v for k, v in dist.closest.items() if k in cut and v < cut[k]}
    if "r_core" not in fields and near:
        out["r_core"] = {k: round(CORE_PER_CLOSEST * v, 3) for k, v in near.items()}
    if "r_in" not in fields and near:
        out["r_in"] = {k: round(INNER_PER_CLOSEST * v, 3) for k, v in near.items()}
    return out
