# cython: language_level=3, cdivision=True
"""The per-atom rows of an extended-XYZ frame as text, formatted in C without the GIL and
split over OpenMP threads. Writing an every-step window of frames is mostly number
formatting (benchmarks/RESULTS.md, "The text of the frames"), which Python's % operator
does under the GIL, one number at a time.

Each number is written as Python's "%.12g" writes it (tests/test_md_outputs.py compares
the two on random and edge values):
- the 12 significant digits m of |x| come from one correctly rounded product
  |x| * 10^p (p = 11 - decimal exponent, |p| <= 22, so 10^p is an exact double): its error
  is below 1.2e-4, so m is exact unless the product's fraction is within 1e-3 of 1/2;
- those near-ties, and zero, NaN, inf and |x| outside [1e-11, 1e33), go to C's snprintf
  "%.12g", which rounds correctly as Python does (half to even on exact ties), with NaN
  written "nan" (C may write "-nan"). snprintf alone is 5-10x slower per number than
  the first path.
"""
import numpy as np

from cpython.unicode cimport PyUnicode_DecodeASCII
from cython.parallel import prange
from libc.math cimport fabs, floor, isnan, log10
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memmove

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    static int rows_max_threads(void) { return omp_get_max_threads(); }
    #else
    static int rows_max_threads(void) { return 1; }
    #endif
    """
    int rows_max_threads() nogil

cdef extern from *:
    """
    static const double rows_pow10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
        1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    """
    const double rows_pow10[23]

cdef enum:
    NUMBER_MAX = 32  # bytes for " " + "%.12g" of any double (at most 1 + 19), with room to spare


cdef int _digits12(double x, char *out) noexcept nogil:
    """'%.12g' of x into out as Python writes it; -1 (nothing written) where the product
    cannot decide the digits (see the module docstring)."""
    cdef double a = fabs(x), s, whole, frac
    cdef int e, p, n = 0, nd, i, ae, tries
    cdef long long m = 0
    cdef char d[12]
    if not (a >= 1e-11 and a < 1e33):  # zero, NaN and inf too
        return -1
    e = <int>floor(log10(a))  # may be off by one near powers of 10: fixed below
    for tries in range(4):
        if tries == 3:
            return -1
        p = 11 - e
        if p > 22 or p < -22:
            return -1
        s = a * rows_pow10[p] if p >= 0 else a / rows_pow10[-p]
        whole = floor(s)
        frac = s - whole  # exact: s < 2^41
        if fabs(frac - 0.5) < 1e-3:
            return -1
        m = <long long>whole + (1 if frac > 0.5 else 0)
        if m < 100000000000LL:
            e -= 1
        elif m >= 1000000000000LL:  # 10^12 itself: the digits rounded up to the next decade
            e += 1
        else:
            break
    for i in range(11, -1, -1):
        d[i] = <char>(48 + m % 10)
        m //= 10
    nd = 12
    while nd > 1 and d[nd - 1] == 48:  # %g drops trailing zeros
        nd -= 1
    if x < 0:
        out[n] = 45  # '-'
        n += 1
    if e < -4 or e >= 12:  # d.ddde+XX
        out[n] = d[0]
        n += 1
        if nd > 1:
            out[n] = 46  # '.'
            memcpy(out + n + 1, d + 1, nd - 1)
            n += nd
        out[n] = 101  # 'e'
        out[n + 1] = 45 if e < 0 else 43
        n += 2
        ae = -e if e < 0 else e
        if ae >= 100:
            out[n] = <char>(48 + ae // 100)
            n += 1
        out[n] = <char>(48 + (ae // 10) % 10)
        out[n + 1] = <char>(48 + ae % 10)
        n += 2
    elif e >= 0:  # ddd.ddd
        memcpy(out + n, d, e + 1)
        n += e + 1
        if nd > e + 1:
            out[n] = 46
            memcpy(out + n + 1, d + e + 1, nd - e - 1)
            n += nd - e
    else:  # 0.000ddd
        out[n] = 48
        out[n + 1] = 46
        n += 2
        for i in range(-e - 1):
            out[n] = 48
            n += 1
        memcpy(out + n, d, nd)
        n += nd
    return n


cdef Py_ssize_t _chunk(const char *names, const Py_ssize_t *name_at, const int *row_name,
                       const double *v, Py_ssize_t ncol, Py_ssize_t r0, Py_ssize_t r1,
                       char *out) noexcept nogil:
    """Rows r0..r1-1 into out; returns the bytes written."""
    cdef Py_ssize_t r, c, k = 0, a, b
    cdef int w
    cdef double x
    for r in range(r0, r1):
        a = name_at[row_name[r]]
        b = name_at[row_name[r] + 1]
        memcpy(out + k, names + a, b - a)
        k += b - a
        for c in range(ncol):
            x = v[r * ncol + c]
            out[k] = 32  # ' '
            k += 1
            w = _digits12(x, out + k)
            if w >= 0:
                k += w
            elif isnan(x):
                memcpy(out + k, b"nan", 3)
                k += 3
            else:
                k += snprintf(out + k, NUMBER_MAX, "%.12g", x)
        out[k] = 10  # '\n'
        k += 1
    return k


def format_rows(symbols, rows, int n_threads=0) -> str:
    """For each row, its symbol and its numbers: the text of
    "".join(("%s" + " %.12g" * ncol + "\\n") % (s, *row) for s, row in zip(symbols, rows)).
    symbols: one str per row (ASCII); rows: [n, ncol] numbers; n_threads 0: OpenMP's
    default (OMP_NUM_THREADS, else the cores)."""
    cdef const double[:, ::1] v = np.ascontiguousarray(rows, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] != len(symbols):
        raise ValueError(f"format_rows: {len(symbols)} symbols for rows of shape "
                         f"{np.shape(rows)}")
    cdef Py_ssize_t n = v.shape[0], ncol = v.shape[1]
    if n == 0:
        return ""
    index = {}
    row_name_np = np.fromiter((index.setdefault(s, len(index)) for s in symbols),
                              dtype=np.intc, count=n)
    encoded = [s.encode("ascii") for s in index]  # in the order of first appearance
    names_b = b"".join(encoded)
    name_at_np = np.zeros(len(encoded) + 1, dtype=np.intp)
    name_at_np[1:] = np.cumsum([len(e) for e in encoded])
    cdef const int[::1] row_name = row_name_np
    cdef const Py_ssize_t[::1] name_at = name_at_np
    cdef const char *names = names_b
    cdef Py_ssize_t row_max = max(len(e) for e in encoded) + ncol * NUMBER_MAX + 1
    cdef int nt = n_threads if n_threads > 0 else rows_max_threads()
    if nt > n:
        nt = <int>n
    cdef char *buf = <char *>malloc(n * row_max)
    cdef Py_ssize_t *length = <Py_ssize_t *>malloc(nt * sizeof(Py_ssize_t))
    if buf == NULL or length == NULL:
        free(buf)
        free(length)
        raise MemoryError("format_rows: no memory for the text")
    cdef Py_ssize_t t, r0, r1, at, total = 0
    cdef const double *pv = &v[0, 0]
    cdef const int *prn = &row_name[0]
    cdef const Py_ssize_t *pna = &name_at[0]
    try:
        # each thread formats a contiguous range of rows into its own part of buf
        for t in prange(nt, nogil=True, num_threads=nt, schedule="static", chunksize=1):
            r0 = n * t // nt
            r1 = n * (t + 1) // nt
            length[t] = _chunk(names, pna, prn, pv, ncol, r0, r1, buf + r0 * row_max)
        for t in range(nt):  # close the gaps, front to back (destinations never pass sources)
            at = (n * t // nt) * row_max
            if at != total:
                memmove(buf + total, buf + at, length[t])
            total += length[t]
        return PyUnicode_DecodeASCII(buf, total, NULL)
    finally:
        free(buf)
        free(length)
