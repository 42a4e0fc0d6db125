/* kernels_avx2.c - the per-atom kernels with AVX2 and FMA (4-double vectors, fused
 * multiply-add), for x86-64 builds that do not already target AVX2; atom.c runs them on
 * CPUs that support both. Elsewhere this file compiles to nothing. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__AVX2__)
#pragma GCC target("avx2,fma")
/* a * b + c as one fused multiply-add (the build's -std=c99 turns contraction off): the
 * kernels are chains of multiply-adds, and the fused form is faster (benchmarks/RESULTS.md,
 * "Revision 2358f93: fused multiply-adds"); the results move by round-off only */
#pragma GCC optimize("fp-contract=fast")
#define ACELIN_VN4 1
#define K(name) name##_avx2
#include "kernels_impl.h"
#else
typedef int acelin_kernels_avx2_unused; /* ISO C: a translation unit is not empty */
#endif
