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

/* The machine's own vector width (32 bytes with AVX, else 16: SSE2, NEON): GCC keeps a
 * v4d accumulator of a loop in memory when it has no 32-byte registers, so loops whose
 * accumulators must stay in registers use vnd, VN lanes (the radial counts per l, Nl, are
 * padded to multiples of the running kernels' VN: model.c, acelin_kernel_width). */
#if defined(__AVX__) || defined(ACELIN_VN4) /* ACELIN_VN4: kernels_avx2.c (target pragma) */
typedef double vnd __attribute__((vector_size(32)));
#define VN 4
#define hsumn(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))
#else
typedef double vnd __attribute__((vector_size(16)));
#define VN 2
#define hsumn(v) ((v)[0] + (v)[1])
#endif

static inline vnd loadn(const double *p)
{
    vnd v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* sum of the 4 lanes, pairwise (a macro: a vector argument would draw GCC's ABI note;
 * pass a variable, it is read 4 times) */
#define hsum4(v) (((v)[0] + (v)[1]) + ((v)[2] + (v)[3]))

#endif
