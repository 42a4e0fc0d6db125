/* kernels.c - the per-atom kernels in the build's own instruction set (kernels_impl.h). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__FMA__)
#pragma GCC optimize("fp-contract=fast") /* as in kernels_avx2.c, for builds with FMA */
#endif
#define K(name) name##_base
#include "kernels_impl.h"
