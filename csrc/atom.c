/* atom.c - the per-atom pipeline: neighbours -> atomic base A -> products -> dE/dA -> forces
 * (the products for four atoms of one species at once: compute.c).
 * Cost per atom O(N_neighbours * N_A + N_products): A is built once and reused by every
 * invariant, and forces come from the adjoint dE/dA in a second neighbour loop. The
 * gather (bonds, radial functions, harmonics) is here; the kernels after it are in
 * kernels_impl.h, run in the widest instruction set the CPU has (acelin_kernel_width). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "simd4.h"
#include "workspace.h"

#define NU ACELIN_NU_MAX

/* Contracted channels: g = W R and g' = W R' for every (l, position) row of the internal
 * layout (only W's non-zero entries), from the neighbour's base functions Rb, dRb; all
 * four are a lane of their block (stride 4), g and dg zero before. */
static void contracted_radial(const acelin_model *m, int pair, const double *Rb, const double *dRb,
                              double *g, double *dg)
{
    for (int64_t k = m->wnz_start[pair]; k < m->wnz_start[pair + 1]; ++k) {
        const int row = 4 * m->wnz_row[k], col = 4 * m->wnz_col[k];
        g[row] += m->wnz_w[k] * Rb[col];
        dg[row] += m->wnz_w[k] * dRb[col];
    }
}

/* Validate the bonds of one centre atom, add the core pair term, and collect the
 * neighbours inside the ACE radial range with their R_n, Y_lm (and derivatives).
 * On failure *bad_bond is the offending bond (or -1). */
acelin_status acelin_gather(const acelin_model *m, acelin_ws *w, int zc, int64_t start, int64_t end,
                            const int *neigh_species, const double *dr, int with_core,
                            double *e_core, double *dE_dr, int *n_active, int64_t *bad_bond,
                            char *err, size_t errlen)
{
    int na = 0;
    *bad_bond = -1;
    double ec = 0.0;
    for (int64_t b = start; b < end; ++b) {
        int zj = neigh_species[b];
        if (zj < 0 || zj >= m->ns) {
            *bad_bond = b;
            return acelin_fail(err, errlen, ACELIN_ERR_SPECIES, "bond %lld: neighbour species %d not in the model (0..%d)", (long long)b, zj, m->ns - 1);
        }
        const double *d = dr + 3 * b;
        double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if (!isfinite(r2)) {
            *bad_bond = b;
            return acelin_fail(err, errlen, ACELIN_ERR_NONFINITE, "bond %lld: non-finite displacement", (long long)b);
        }
        double r = sqrt(r2);
        if (r < ACELIN_MIN_DISTANCE) {
            *bad_bond = b;
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "bond %lld: two atoms at the same position (distance %.3g A)", (long long)b, r);
        }
        if (dE_dr) dE_dr[3 * b] = dE_dr[3 * b + 1] = dE_dr[3 * b + 2] = 0.0;
        int pair = zc * m->ns + zj;
        if (r >= m->max_cut) continue;
        if (with_core && r < m->r_core[pair]) { /* beyond r_core the term is zero: no call */
            double dV, V = acelin_core_pair(m, pair, r, &dV);
            if (V != 0.0 || dV != 0.0) {
                ec += 0.5 * V; /* the pair is seen from both atoms */
                if (dE_dr)
                    for (int a = 0; a < 3; ++a) dE_dr[3 * b + a] += 0.5 * dV * d[a] / r;
            }
        }
        if (r <= m->r_in[pair] || r >= m->r_reach[pair]) continue;
        if (na >= w->cap)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "internal: neighbour capacity exceeded");
        w->nb_bond[na] = b;
        w->nb_block[na] = m->chan ? 0 : zj;
        w->nb_far[na] = r >= m->r_cut[pair]; /* only the long-range channel reaches it */
        w->nb_r[na] = r;
        double *u = w->nb_u + 3 * na;
        const double ir = 1.0 / r;
        u[0] = d[0] * ir; u[1] = d[1] * ir; u[2] = d[2] * ir;
        w->nb_pair[na] = pair;
        ++na;
    }
    /* grouped by block, near ones first (w->order): the harmonics and radial functions go
       four at a time through each range, far ones only up to the long channel's lmax and
       only its radial functions */
    acelin_group_neighbours(m, w, na);
    acelin_harmonics(m, w);
    if (m->chan) {
        acelin_radial_batch(m, w, w->Rb, w->dRb);
        const size_t nblk = (size_t)w->blk_start[m->n_ablock];
        memset(w->R, 0, nblk * 4 * m->n_rtot * sizeof(double));
        memset(w->dR, 0, nblk * 4 * m->n_rtot * sizeof(double));
        for (int j = 0; j < na; ++j) {
            const size_t b = (size_t)(w->nb_slot[j] >> 2), q = (size_t)(w->nb_slot[j] & 3);
            contracted_radial(m, w->nb_pair[j], w->Rb + b * 4 * m->n_rpad + q, w->dRb + b * 4 * m->n_rpad + q,
                              w->R + b * 4 * m->n_rtot + q, w->dR + b * 4 * m->n_rtot + q);
        }
    } else {
        acelin_radial_batch(m, w, w->R, w->dR);
    }
    *e_core = ec;
    *n_active = na;
    return ACELIN_OK;
}


/* The kernels of kernels_impl.h: AVX2 and FMA where the build does not target them itself
 * (kernels_avx2.c) and the CPU has them, else the build's own (kernels.c). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__AVX2__)
#define ACELIN_HAVE_AVX2_KERNELS 1
void acelin_radial_batch_avx2(const acelin_model *m, const acelin_ws *w, double *R, double *dR);
void acelin_density_avx2(const acelin_model *m, acelin_ws *w);
void acelin_harmonics_avx2(const acelin_model *m, acelin_ws *w);
void acelin_products4_avx2(const acelin_model *m, const double *A4, double *g4, int zc, double *E4);
void acelin_backprop_avx2(const acelin_model *m, const acelin_ws *w, double *dE_dr);
void acelin_interleave4_avx2(const double *const src[4], double *dst, size_t n);
void acelin_deinterleave4_avx2(const double *src, double *const dst[4], size_t n);
void acelin_invariants4_avx2(const acelin_model *m, const double *A4, int b0, int b1, double *B4);
void acelin_grade_product_avx2(const double *B, size_t ldb, int na, int rows, const double *G, int r,
                               double *S, size_t lds);
#endif
void acelin_radial_batch_base(const acelin_model *m, const acelin_ws *w, double *R, double *dR);
void acelin_density_base(const acelin_model *m, acelin_ws *w);
void acelin_harmonics_base(const acelin_model *m, acelin_ws *w);
void acelin_products4_base(const acelin_model *m, const double *A4, double *g4, int zc, double *E4);
void acelin_backprop_base(const acelin_model *m, const acelin_ws *w, double *dE_dr);
void acelin_interleave4_base(const double *const src[4], double *dst, size_t n);
void acelin_deinterleave4_base(const double *src, double *const dst[4], size_t n);
void acelin_invariants4_base(const acelin_model *m, const double *A4, int b0, int b1, double *B4);
void acelin_grade_product_base(const double *B, size_t ldb, int na, int rows, const double *G, int r,
                               double *S, size_t lds);

int acelin_kernel_width(void)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    const char *force = getenv("ACE_LIN_KERNELS"); /* "portable": the build's own kernels */
    if (!(force && strcmp(force, "portable") == 0)) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 4;
    }
#endif
    return VN;
}

void acelin_radial_batch(const acelin_model *m, const acelin_ws *w, double *R, double *dR)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_radial_batch_avx2(m, w, R, dR); return; }
#endif
    acelin_radial_batch_base(m, w, R, dR);
}

void acelin_harmonics(const acelin_model *m, acelin_ws *w)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_harmonics_avx2(m, w); return; }
#endif
    acelin_harmonics_base(m, w);
}

void acelin_density(const acelin_model *m, acelin_ws *w)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_density_avx2(m, w); return; }
#endif
    acelin_density_base(m, w);
}

void acelin_products4(const acelin_model *m, const double *A4, double *g4, int zc, double *E4)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_products4_avx2(m, A4, g4, zc, E4); return; }
#endif
    acelin_products4_base(m, A4, g4, zc, E4);
}

void acelin_backprop(const acelin_model *m, const acelin_ws *w, double *dE_dr)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_backprop_avx2(m, w, dE_dr); return; }
#endif
    acelin_backprop_base(m, w, dE_dr);
}

void acelin_interleave4(const acelin_model *m, const double *const src[4], double *dst, size_t n)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_interleave4_avx2(src, dst, n); return; }
#endif
    (void)m;
    acelin_interleave4_base(src, dst, n);
}

void acelin_deinterleave4(const acelin_model *m, const double *src, double *const dst[4], size_t n)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_deinterleave4_avx2(src, dst, n); return; }
#endif
    (void)m;
    acelin_deinterleave4_base(src, dst, n);
}

void acelin_grade_product(const acelin_model *m, const double *B, size_t ldb, int na, int rows, const double *G,
                          int r, double *S, size_t lds)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_grade_product_avx2(B, ldb, na, rows, G, r, S, lds); return; }
#endif
    (void)m;
    acelin_grade_product_base(B, ldb, na, rows, G, r, S, lds);
}

void acelin_invariants4(const acelin_model *m, const double *A4, int b0, int b1, double *B4)
{
#ifdef ACELIN_HAVE_AVX2_KERNELS
    if (m->vn == 4) { acelin_invariants4_avx2(m, A4, b0, b1, B4); return; }
#endif
    acelin_invariants4_base(m, A4, b0, b1, B4);
}
