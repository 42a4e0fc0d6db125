/* simd4.h - 4 doubles in one vector register (GCC/Clang vector extension: AVX2 when the
 * build passes -march=native, pairs of SSE2 registers in the portable build), shared by
 * the per-atom kernels. Private to the core. */
#ifndef ACELIN_SIMD4_H
#define ACELIN_SIMD4_H

#include <string.h>

typedef double v4d __attribute__((vector_size(32)));

/* Without AVX (the portable build) GCC warns, at every call, that passing a 32-byte vector
 * changes the ABI; v4d values never cross a function boundary that is not inlined within
 * the including file, so the warning is off for the (private) files that include this. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

static inline v4d load4(const double *p)
{
    v4d v;
    memcpy(&v, p, sizeof v); /* unaligned load */
    return v;
}

/* The machine's own vector width in doubles (4 with AVX, else 2: SSE2, NEON): the width
 * acelin_kernel_width reports for the build's own kernels. */
#if defined(__AVX__) || defined(ACELIN_VN4) /* ACELIN_VN4: kernels_avx2.c (target pragma) */
#define VN 4
#else
#define VN 2
#endif

/* sum of the 4 lanes, pairwise (a macro: a vector argument would draw GCC's ABI note;
 * pass a variable, it is read 4 times) */
#define hsum4(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))

#endif
