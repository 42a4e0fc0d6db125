"""The chemically embedded basis (BasisSpec.species_channels = K): many-body products of K
species channels instead of one per element.

The atomic base of the many-body part (order nu >= 2) is
    A_{c n l m}(i) = sum_j u_c^{z_i}(z_j) R_n^{z_i z_j}(r_ij) Y_lm(r_ij),   c = 1..K,
a fixed linear combination, per centre element, of the species-resolved base A_{z n l m}
(BasisSpec.species_weights u, derived from the training structures by fit/embedding.py).
The model stays linear in its coefficients; the number of products depends on K, not on
the number of elements (K^nu instead of n_elements^nu tuples of species), and the cost
per neighbour is K times that of one element. Products are selected exactly as in the
species-resolved basis with the channel c in place of the neighbour species:
sum_k (n_k + w_l l_k) <= D_nu. The pair part (nu = 1), and with a long-range channel its
pair part, stay species-resolved: one function per neighbour element and n, at no cost in
products. With K = n_elements and u the identity the basis is the species-resolved one.

In the C core these are contracted radial channels (tables.radial_weights): channel
(c, n, l) has the weight u_c^{z_i}(z_j) on the base function n of the pair (z_i, z_j).
Channel labels (the table's nl_n; unique per l): short pair (z, n) -> z * N + n; short
body (c, n) -> ns * N + (c - 1) * N + n; long pair (z, n) -> L + z * N_long + n; long body
-> L + ns * N_long + (c - 1) * N_long + n, with N = n_radial, N_long = n_radial_long and
L = (ns + K) * N. `spec` arguments are BasisSpec objects (not imported here).
"""
from typing import List, Tuple

import numpy as np

from ace_lin.basis.products import emit_invariants, labels, multisets


def _body_products(K, n_radial, order, degree, w_l, lmax) -> List[Tuple[int, tuple, float]]:
    """(nu, ((c, n, l), ...), degree) of the many-body products (nu >= 2), c = 0..K-1."""
    if order < 2:
        return []
    lab = labels(K, n_radial, max(lmax[1:]), w_l, max(degree[1:]))
    out = []
    for nu in range(2, order + 1):
        for ms in multisets(lab, nu, degree[nu - 1], w_l):
            t = tuple(lab[i] for i in ms)
            ls = [l for _, _, l in t]
            if sum(ls) % 2 or max(ls) > lmax[nu - 1]:
                continue
            out.append((nu, t, sum(n + w_l * l for _, n, l in t)))
    return out


def build(spec) -> dict:
    """BasisTables arrays of an embedded spec (emit_invariants plus radial_weights)."""
    if spec.species_weights is None:  # their shapes BasisSpec checks when they are given
        raise ValueError("species_channels needs species_weights (derived from training data by "
                         "ace_lin.fit.embedding.embed)")
    ns, K = len(spec.elements), spec.species_channels
    N, NL = spec.n_radial, spec.n_radial_long
    P, L = ns * N, (ns + K) * N

    def body(lab, base, width):
        return tuple((0, base + c * width + n, l) for c, n, l in lab)

    short = [(nu, body(t, P, N), d)
             for nu, t, d in _body_products(K, N, spec.order, spec.degree, spec.w_l, spec.lmax)]
    long = []
    if spec.has_long:
        long = [(nu, body(t, L + ns * NL, NL), d)
                for nu, t, d in _body_products(K, NL, spec.long_order, spec.long_degree,
                                               spec.long_w_l, (spec.long_lmax,) * spec.long_order)]
    per_centre = []
    for zc in range(ns):
        # pair part: neighbour species z >= zc (the pair sum of (zc, z) equals that of (z, zc))
        pairs = [(1, ((0, z * N + n, 0),), float(n)) for z in range(zc, ns)
                 for n in range(1, min(N, int(spec.degree[0] + 1e-9)) + 1)]
        long_pairs = []
        if spec.has_long:
            long_pairs = [(1, ((0, L + z * NL + n, 0),), float(n)) for z in range(zc, ns)
                          for n in range(1, min(NL, int(spec.long_degree[0] + 1e-9)) + 1)]
        # the long-range invariants follow the short ones (the C core requires it)
        per_centre.append(pairs + short + long_pairs + long)
    arrays = emit_invariants(per_centre)
    arrays["radial_weights"] = _weights(spec, arrays["nl_n"])
    return arrays


def _weights(spec, nl_n) -> np.ndarray:
    """[ns*ns, n_nl, N + N_long]: each channel's weights on the pair's base functions."""
    ns, K = len(spec.elements), spec.species_channels
    N, NL = spec.n_radial, spec.n_radial_long
    P, L = ns * N, (ns + K) * N
    W = np.zeros((ns * ns, len(nl_n), N + NL))
    u = np.array([spec.species_weights[el] for el in spec.elements])  # [zc, c, zj]
    for ch, lab in enumerate(int(n) for n in nl_n):
        if lab <= P:                                   # short pair (z, n)
            z, n = divmod(lab - 1, N)
            W[[zc * ns + z for zc in range(ns)], ch, n] = 1.0
        elif lab <= L:                                 # short body (c, n)
            c, n = divmod(lab - P - 1, N)
            W[:, ch, n] = u[:, c, :].ravel()
        elif lab <= L + ns * NL:                       # long pair
            z, n = divmod(lab - L - 1, NL)
            W[[zc * ns + z for zc in range(ns)], ch, N + n] = 1.0
        else:                                          # long body
            c, n = divmod(lab - L - ns * NL - 1, NL)
            W[:, ch, N + n] = u[:, c, :].ravel()
    return W
