# cython: language_level=3
"""Singular values of X and the projections U^T q, without forming U or V.

The evidence of Bayesian linear regression (fit/solvers.py) needs only the singular
values s of the scaled design factor X and z = U^T q. A full SVD also builds U and V,
which is most of its cost; here X = Q B P^T is reduced to bidiagonal form (LAPACK dgebrd),
Q^T is applied to q (dormbr), and the bidiagonal QR iteration (dbdsqr) carries that one
column along instead of accumulating singular vectors. scipy.linalg.lapack does not expose
these three routines; scipy.linalg.cython_lapack does (no link-time dependency).

A wide X (fewer rows m than columns n: fewer data rows than basis functions) costs
O(m^2 n) instead of O(n^3): dgebrd then gives a lower bidiagonal of size m, and X has
only m nonzero singular values.
"""
import numpy as np

cimport scipy.linalg.cython_lapack as lapack


def singular_values_and_projection(X, q):
    """(s, z, outside): X is m x n, q has m entries. s: the k = min(m, n) singular values
    (descending), z = U^T q (U: the k left singular vectors), outside = ||q||^2 - ||z||^2,
    the part of q no column of X reaches (computed from its own components, >= 0; 0 when
    m <= n: U is then square). The other n - k singular values are 0."""
    cdef double[::1, :] a = np.array(X, dtype=np.float64, order="F", copy=True)
    cdef int m = a.shape[0], n = a.shape[1]
    cdef double[::1] c = np.array(q, dtype=np.float64, copy=True).ravel()
    if c.shape[0] != m:
        raise ValueError(f"q must have {m} entries, got {c.shape[0]}")
    cdef int k = min(m, n)
    s_arr = np.zeros(k)
    if k == 0:
        return s_arr, np.zeros(0), float(np.dot(c, c))
    cdef double[::1] d = s_arr
    cdef double[::1] e = np.zeros(max(k - 1, 1))
    cdef double[::1] tauq = np.zeros(k)
    cdef double[::1] taup = np.zeros(k)
    cdef double query = 0.0
    cdef int lwork = -1, info = 0, one = 1, zero = 0, ldvt = 1, ldu = 1
    cdef double dummy = 0.0
    cdef char side = b"L", trans = b"T", vect = b"Q"
    # dgebrd's bidiagonal is upper for m >= n, lower for m < n
    cdef char uplo = b"U" if m >= n else b"L"
    # workspace queries, then the largest of the three
    lapack.dgebrd(&m, &n, &a[0, 0], &m, &d[0], &e[0], &tauq[0], &taup[0], &query, &lwork, &info)
    cdef int need = <int>query
    lapack.dormbr(&vect, &side, &trans, &m, &one, &n, &a[0, 0], &m, &tauq[0], &c[0], &m,
                  &query, &lwork, &info)
    need = max(need, <int>query, 4 * k)
    cdef double[::1] work = np.zeros(need)
    lwork = need
    lapack.dgebrd(&m, &n, &a[0, 0], &m, &d[0], &e[0], &tauq[0], &taup[0], &work[0], &lwork, &info)
    if info != 0:
        raise np.linalg.LinAlgError(f"dgebrd failed (info {info})")
    lapack.dormbr(&vect, &side, &trans, &m, &one, &n, &a[0, 0], &m, &tauq[0], &c[0], &m,
                  &work[0], &lwork, &info)
    if info != 0:
        raise np.linalg.LinAlgError(f"dormbr failed (info {info})")
    # dbdsqr rotates the first k entries of c: they become U_B^T (Q^T q)[:k]
    lapack.dbdsqr(&uplo, &k, &zero, &zero, &one, &d[0], &e[0], &dummy, &ldvt, &dummy, &ldu,
                  &c[0], &m, &work[0], &info)
    if info != 0:
        raise np.linalg.LinAlgError(f"dbdsqr did not converge (info {info})")
    z = np.asarray(c[:k]).copy()
    rest = np.asarray(c[k:])
    return s_arr, z, float(np.dot(rest, rest))
