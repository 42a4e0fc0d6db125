/* kernels.c - the per-atom kernels in the build's own instruction set (kernels_impl.h). */
#define K(name) name##_base
#include "kernels_impl.h"
