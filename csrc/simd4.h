/* simd4.h - 4 doubles in one vector register (GCC/Clang vector extension; AVX2 when the
 * build passes -march=native), shared by the per-atom kernels. Private to the core. */
#ifndef ACELIN_SIMD4_H
#define ACELIN_SIMD4_H

#include <string.h>

typedef double v4d __attribute__((vector_size(32)));

static inline v4d load4(const double *p)
{
    v4d v;
    memcpy(&v, p, sizeof v); /* unaligned load */
    return v;
}

static inline double hsum4(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }

#endif
