"""Choose the structures of a candidate pool that add most to the active set's volume.

Greedy: the candidate whose largest per-atom grade against the current active set is
highest is taken (swapping that atom in grows the volume |det| of its element's active
set by that factor), its atoms are swapped into the active set (activeset.update_element),
and the grades of the rest are recomputed; N times. Identical frames count once.
"""
import hashlib

import numpy as np

from ace_lin.trust.activeset import ElementActiveSet, update_element
from ace_lin.trust.grade import NoActiveSetError, element_columns, vectors_by_element


def frame_key(atoms) -> str:
    """Identity of a frame (numbers, positions, cell, pbc): equal frames, equal keys."""
    h = hashlib.sha256()
    for a in (atoms.numbers.astype(np.int64), np.round(atoms.positions, 10),
              np.round(atoms.cell.array, 10), np.asarray(atoms.pbc, dtype=np.int8)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def distinct_frames(structures) -> list:
    """Indices of the first occurrence of every distinct frame."""
    seen, out = set(), []
    for k, atoms in enumerate(structures):
        key = frame_key(atoms)
        if key not in seen:
            seen.add(key)
            out.append(k)
    return out


def select_structures(model, structures, n, progress=False, n_threads=0):
    """(indices into structures, in the order chosen; the largest grade of each when it was
    chosen). model: a LinearACEModel with an active set for every element of the pool."""
    if not model.has_active_set:
        raise NoActiveSetError("the model has no active set: build one with "
                               "`ace-lin activeset MODEL TRAIN_DATA`")
    n = int(n)
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    keep = distinct_frames(structures)
    if n > len(keep):
        dup = len(structures) - len(keep)
        raise ValueError(f"asked for {n} structures, but the pool has only {len(keep)} distinct "
                         f"frames ({len(structures)} in all{f', {dup} duplicates' if dup else ''})")
    elements = list(model.elements)
    present = sorted({s for k in keep for s in structures[k].get_chemical_symbols()})
    missing = [el for el in present if el not in model.active_set]
    if missing:
        raise NoActiveSetError(f"the model has no active set for element(s) {missing} of the pool")
    columns = element_columns(model.basis, elements)
    pool = [structures[k] for k in keep]
    vecs, src = vectors_by_element(model.core, pool, present, columns, progress, n_threads)
    sets = {el: ElementActiveSet(el, columns[el], np.array(G)) for el, G in model.active_set.items()}
    chosen, grades = [], []
    alive = np.ones(len(pool), dtype=bool)
    for _ in range(n):
        score = np.full(len(pool), -np.inf)
        for el in vecs:
            g = sets[el].grade(vecs[el])
            np.maximum.at(score, src[el], g)
        score[~alive] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        grades.append(float(score[best]))
        alive[best] = False
        for el in vecs:
            rows = vecs[el][src[el] == best]
            if rows.size:
                sets[el] = update_element(sets[el], rows)[0]
    return [keep[k] for k in chosen], grades
