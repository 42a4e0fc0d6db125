"""Clebsch-Gordan coefficients, exact (sympy.physics.wigner), in numpy blocks.

block(j1, j2, J)[m1 + j1, m2 + j2] = <j1 m1 j2 m2 | J m1+m2>  (0 where |m1+m2| > J).
Sympy evaluates each coefficient exactly (square roots of rationals) before the
conversion to float; that costs ~0.3 ms per coefficient, so blocks are memoized and
kept in a persistent cache file (content addressed, in the user cache directory).
"""
import os
import threading

import numpy as np

from ace_lin.codegen.cache import cache_dir

_LOCK = threading.Lock()
_BLOCKS = {}
_DIRTY = False
_LOADED = False
_CACHE_NAME = "clebsch_gordan_v1.npz"


def _load():
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    path = os.path.join(cache_dir(), _CACHE_NAME)
    try:
        with np.load(path) as data:
            for key in data.files:
                j1, j2, J = (int(x) for x in key.split("_"))
                _BLOCKS[(j1, j2, J)] = data[key]
    except (OSError, ValueError, KeyError):
        pass  # a missing or damaged cache is rebuilt from sympy


def _compute(j1: int, j2: int, J: int) -> np.ndarray:
    from sympy.physics.wigner import clebsch_gordan

    out = np.zeros((2 * j1 + 1, 2 * j2 + 1))
    if not (abs(j1 - j2) <= J <= j1 + j2):
        return out
    for m1 in range(-j1, j1 + 1):
        for m2 in range(-j2, j2 + 1):
            if abs(m1 + m2) <= J:
                out[m1 + j1, m2 + j2] = float(clebsch_gordan(j1, j2, J, m1, m2, m1 + m2))
    return out


def block(j1: int, j2: int, J: int) -> np.ndarray:
    global _DIRTY
    key = (int(j1), int(j2), int(J))
    with _LOCK:
        _load()
        if key not in _BLOCKS:
            _BLOCKS[key] = _compute(*key)
            _DIRTY = True
        return _BLOCKS[key]


def save_cache():
    """Persist new blocks (atomic rename; concurrent writers only lose work, never data)."""
    global _DIRTY
    with _LOCK:
        if not _DIRTY:
            return
        path = os.path.join(cache_dir(), _CACHE_NAME)
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        try:
            np.savez(tmp, **{f"{a}_{b}_{c}": v for (a, b, c), v in _BLOCKS.items()})
            os.replace(tmp, path)
            _DIRTY = False
        except OSError:
            pass  # caching is an optimisation; a read-only home directory is fine
