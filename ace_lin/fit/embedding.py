"""The chemical embedding of a basis with species_channels (basis/embedding.py), derived
from the training structures.

What: for each centre element, the K leading principal directions over the neighbour
elements of the species-resolved atomic base. With A_{z n l m} the projections of the
density of neighbours of element z onto R_n Y_lm, each element's part is first scaled to
unit second moment over the data (so that an abundant element, hydrogen in an organic
molecule, does not outweigh a scarce one), then
    Q[z, z'] = sum over atoms, n, l, m of a_z a_z'
is diagonalised; channel c weights element z by u_c(z) = v_c(z) / s_z, v_c the c-th
eigenvector and s_z the scale. Only structures enter, never energies or forces.

Why: the number of many-body products grows like K^order instead of
(number of elements)^order; the principal channels keep the species combinations in which
neighbourhoods of the data differ most. benchmarks/many_elements.py and benchmarks/fit_cv.py
measure what the embedding costs in accuracy against the species-resolved basis at the
same degrees and at an equal number of functions (benchmarks/RESULTS.md).
"""
from dataclasses import replace

import numpy as np

from ace_lin.basis.tables import probe_tables

MAX_ATOMS = 40000     # centre atoms sampled per derivation (evenly over the configurations)
PROBE_LMAX = 4        # the angular channels the statistics include


def _sample(configs, max_atoms):
    """Every k-th configuration, k chosen so that about max_atoms atoms remain."""
    configs = list(configs)
    total = sum(len(c.atoms) for c in configs)
    step = max(1, int(np.ceil(total / max_atoms)))
    return configs[::step]


def species_moments(spec, configs, n_threads: int = 0) -> np.ndarray:
    """Q[zc, z, z'] = sum over atoms of element zc and over (n, l, m) of A_z A_z'."""
    from ace_lin._core import CoreModel
    from ace_lin.evaluate import species_indices
    from ace_lin.neighbours import neighbour_list_from_atoms

    lmax = min(PROBE_LMAX, max(spec.lmax))
    t = probe_tables(spec, lmax=lmax)
    ns = len(spec.elements)
    core = CoreModel.from_tables(t, np.zeros(t.n_basis), np.zeros(ns))
    Q = np.zeros((ns, ns, ns))
    for c in _sample(configs, MAX_ATOMS):
        atoms = c.atoms
        species = species_indices(atoms, spec.elements)
        nl = neighbour_list_from_atoms(atoms, core.max_cutoff)
        A = core.atomic_base(species, nl.start, species[nl.j], nl.dr, n_threads=n_threads)
        A = A.reshape(len(atoms), ns, -1)
        for zc in np.unique(species):
            X = A[species == zc]
            Q[int(zc)] += np.einsum("iak,ibk->ab", X, X)
    return Q


def principal_channels(Q: np.ndarray, K: int) -> np.ndarray:
    """u [K, ns] from the second moment Q [ns, ns] of one centre element (see the module)."""
    ns = Q.shape[0]
    d = np.diag(Q).copy()
    s = np.sqrt(np.where(d > 0, d, 1.0))          # an element never seen keeps scale 1
    C = Q / np.outer(s, s)
    lam, V = np.linalg.eigh(C + 1e-12 * np.eye(ns))
    V = V[:, ::-1][:, :K]
    big = np.argmax(np.abs(V) > np.abs(V).max(axis=0) * (1 - 1e-9), axis=0)
    V *= np.sign(V[big, np.arange(K)])
    return (V / s[:, None]).T * np.sqrt(np.mean(d[d > 0])) if np.any(d > 0) else V.T


def embed(spec, configs, n_threads=0):
    """spec with species_weights derived from the structures of configs (objects with
    .atoms); a spec without species_channels is returned unchanged."""
    if spec.species_channels is None:
        return spec
    bare = replace(spec, species_weights=None)
    Q = species_moments(bare, configs, n_threads or 0)
    u = {el: principal_channels(Q[zc], spec.species_channels) for zc, el in enumerate(spec.elements)}
    return replace(bare, species_weights=u)
