"""The extrapolation grade on the Python side: numpy reference of the C core's grade,
active sets from training structures, and per-structure helpers.

gamma_i = max_j |(b_i[columns] @ G)_j| for atom i of element s with per-atom basis vector
b_i (ace_lin.evaluate.basis_vectors) and the grade map G of s (trust/activeset.py).
"""
import numpy as np

from ace_lin.trust.activeset import ElementActiveSet, build_element


class NoActiveSetError(ValueError):
    """A grade was asked for an element (or a model) without an active set."""


def element_columns(tables, elements) -> dict:
    """{element: global indices of the invariants centred on it} (increasing)."""
    sp = np.asarray(tables.species)
    return {el: np.flatnonzero(sp == k) for k, el in enumerate(elements)}


def check_maps(maps, columns) -> dict:
    """{element: G as a float array [m, r]} with m = that element's invariant count."""
    out = {}
    for el, G in maps.items():
        if el not in columns:
            raise ValueError(f"active set for {el!r}, which is not an element of the model "
                             f"{sorted(columns)}")
        G = np.array(G, dtype=float)
        m = columns[el].size
        if G.ndim != 2 or G.shape[0] != m or G.shape[1] < 1:
            raise ValueError(f"active set of {el}: map must be [{m}, r >= 1], got {G.shape}")
        if not np.all(np.isfinite(G)):
            raise ValueError(f"active set of {el}: map contains NaN or Inf")
        out[el] = G
    return out


def grade_from_vectors(vectors, symbols, maps, columns) -> np.ndarray:
    """Numpy reference: grade [n] of atoms with per-atom vectors [n, n_basis] and chemical
    symbols [n], from maps {element: G} and columns {element: invariant indices}."""
    vectors = np.asarray(vectors, dtype=float)
    symbols = np.asarray(symbols)
    gamma = np.zeros(len(symbols))
    for el in np.unique(symbols):
        if el not in maps:
            raise NoActiveSetError(f"no active set for element {el}: no extrapolation grade "
                                   f"(active sets: {sorted(maps) or 'none'})")
        at = np.flatnonzero(symbols == el)
        c = vectors[np.ix_(at, columns[el])] @ maps[el]
        gamma[at] = np.abs(c).max(axis=1)
    return gamma


def vectors_by_element(core_or_spec, structures, elements, columns, progress=False,
                       n_threads=0):
    """{element: [N_el, m_el] per-atom vectors} of all atoms of `structures` (ase.Atoms),
    and {element: [N_el] index of the structure each row comes from}."""
    from ace_lin.evaluate import basis_vectors

    rows = {el: [] for el in elements}
    where = {el: [] for el in elements}
    items = structures
    if progress:
        from tqdm import tqdm

        items = tqdm(structures, desc="per-atom basis vectors", unit="config")
    for k, atoms in enumerate(items):
        B = basis_vectors(core_or_spec, atoms, n_threads=n_threads)
        sym = np.array(atoms.get_chemical_symbols())
        for el in elements:
            at = np.flatnonzero(sym == el)
            if at.size:
                rows[el].append(B[np.ix_(at, columns[el])])
                where[el].append(np.full(at.size, k))
    out, src = {}, {}
    for el in elements:
        if rows[el]:
            out[el] = np.concatenate(rows[el])
            src[el] = np.concatenate(where[el])
    return out, src


def build_active_set(spec, structures, progress=False, n_threads=0) -> dict:
    """{element: ElementActiveSet} from training structures (ase.Atoms). Elements without
    any training atom get none (their atoms have no grade)."""
    t = spec.basis()
    columns = element_columns(t, spec.elements)
    vecs, _ = vectors_by_element(spec, structures, spec.elements, columns, progress, n_threads)
    nu = np.asarray(t.nu)
    return {el: build_element(el, columns[el], vecs[el], nu[columns[el]])
            for el in spec.elements if el in vecs}


def maps_of(active_set) -> dict:
    """{element: G} of {element: ElementActiveSet or G}."""
    return {el: (a.G if isinstance(a, ElementActiveSet) else np.asarray(a))
            for el, a in active_set.items()}
