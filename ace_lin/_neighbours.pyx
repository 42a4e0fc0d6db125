# cython: language_level=3
"""Thin Cython layer over the C neighbour list (csrc/neighbours.c): dtype, contiguity
and shape checks, GIL release, status -> Python exception. Lengths in Angstrom."""
import numpy as np
from libc.stdint cimport int64_t
from libc.string cimport memcpy

cdef extern from "acelin.h":
    ctypedef enum acelin_status:
        ACELIN_OK
        ACELIN_ERR_ALLOC
        ACELIN_ERR_INVALID
        ACELIN_ERR_NONFINITE
    ctypedef struct acelin_neighbours:
        int n_atoms
        int64_t n_bonds
        int64_t *start
        int *j
        int *shift
        double *dr
    acelin_status acelin_neighbours_build(int n_atoms, const double *positions,
                                          const double *cell, const int *pbc, double cutoff,
                                          acelin_neighbours **out, char *err,
                                          size_t errlen) nogil
    void acelin_neighbours_free(acelin_neighbours *list) nogil
    acelin_status acelin_neighbours_refilter(int n_atoms, const double *positions,
                                             const double *cell, const int64_t *cand_start,
                                             const int *cand_j, const int *cand_shift,
                                             double cutoff, acelin_neighbours **out, char *err,
                                             size_t errlen) nogil


def build(const double[:, ::1] positions, const double[:, ::1] cell, const int[::1] pbc,
          double cutoff):
    """Full neighbour list in CSR form.

    positions: float64 C-contiguous [n, 3] (A); cell: float64 C-contiguous [3, 3], rows are
    the lattice vectors (A); pbc: int32 [3]; cutoff (A).
    Returns (start int64 [n+1], j int32 [n_bonds], shift int32 [n_bonds, 3],
    dr float64 [n_bonds, 3] in A). ValueError for invalid or non-finite input,
    MemoryError when the list does not fit in memory.
    """
    if positions.shape[1] != 3:
        raise ValueError(f"positions must have shape (n, 3), got (n, {positions.shape[1]})")
    if cell.shape[0] != 3 or cell.shape[1] != 3:
        raise ValueError(f"cell must have shape (3, 3), got ({cell.shape[0]}, {cell.shape[1]})")
    if pbc.shape[0] != 3:
        raise ValueError(f"pbc must have 3 entries, got {pbc.shape[0]}")
    if positions.shape[0] > 2147483647:
        raise ValueError("too many atoms for a 32-bit atom index")
    cdef int n = <int>positions.shape[0]
    cdef const double *ppos = &positions[0, 0] if n > 0 else NULL
    cdef const double *pcell = &cell[0, 0]
    cdef const int *ppbc = &pbc[0]
    cdef acelin_neighbours *nl = NULL
    cdef char err[512]
    cdef acelin_status st
    err[0] = 0
    with nogil:
        st = acelin_neighbours_build(n, ppos, pcell, ppbc, cutoff, &nl, err, sizeof(err))
    return _take_list(st, nl, err, n)


def refilter(const double[:, ::1] positions, const double[:, ::1] cell,
             const int64_t[::1] cand_start, const int[::1] cand_j, const int[:, ::1] cand_shift,
             double cutoff):
    """The bonds shorter than cutoff among the candidates (start, j, shift of a list built
    with a larger cutoff from which no atom has moved by half the difference; the caller
    checks that): bitwise what build(positions, cell, pbc, cutoff) returns. Same arrays
    as build."""
    if positions.shape[1] != 3 or cell.shape[0] != 3 or cell.shape[1] != 3:
        raise ValueError("positions must have shape (n, 3) and cell (3, 3)")
    cdef int n = <int>positions.shape[0]
    if cand_start.shape[0] != n + 1:
        raise ValueError(f"candidate start has {cand_start.shape[0]} entries for {n} atoms")
    cdef int64_t nc = cand_start[n]
    if nc < 0 or cand_j.shape[0] < nc or cand_shift.shape[0] < nc or cand_shift.shape[1] != 3:
        raise ValueError("candidate arrays shorter than their start says")
    cdef const double *ppos = &positions[0, 0] if n > 0 else NULL
    cdef const int *pj = &cand_j[0] if nc > 0 else NULL
    cdef const int *ps = &cand_shift[0, 0] if nc > 0 else NULL
    cdef acelin_neighbours *nl = NULL
    cdef char err[512]
    cdef acelin_status st
    err[0] = 0
    with nogil:
        st = acelin_neighbours_refilter(n, ppos, &cell[0, 0], &cand_start[0], pj, ps, cutoff,
                                        &nl, err, sizeof(err))
    return _take_list(st, nl, err, n)


cdef _take_list(acelin_status st, acelin_neighbours *nl, char *err, int n):
    """(start, j, shift, dr) as numpy arrays owning their memory; the C list is freed.
    Raises for a failed status."""
    if st != ACELIN_OK:
        text = err.decode("utf-8", "replace")
        if st == ACELIN_ERR_ALLOC:
            raise MemoryError(text)
        raise ValueError(text)
    cdef int64_t nb
    try:
        nb = nl.n_bonds
        start = np.empty(n + 1, dtype=np.int64)
        j = np.empty(nb, dtype=np.int32)
        shift = np.empty((nb, 3), dtype=np.int32)
        dr = np.empty((nb, 3), dtype=np.float64)
        # copy out of the C allocation so that numpy owns the memory
        _copy(start, <const void *>nl.start, (n + 1) * sizeof(int64_t))
        if nb > 0:
            _copy(j, <const void *>nl.j, nb * sizeof(int))
            _copy(shift, <const void *>nl.shift, 3 * nb * sizeof(int))
            _copy(dr, <const void *>nl.dr, 3 * nb * sizeof(double))
    finally:
        acelin_neighbours_free(nl)
    return start, j, shift, dr


cdef _copy(arr, const void *src, size_t nbytes):
    cdef unsigned char[::1] dst = arr.reshape(-1).view(np.uint8)
    if nbytes:
        memcpy(&dst[0], src, nbytes)
