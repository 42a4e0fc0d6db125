/* kernels_impl.h - the per-atom kernels after the gather: atomic base A, products and
 * dE/dA, back-propagation to the bonds. Compiled twice, by kernels.c (the build's own
 * instruction set) and by kernels_avx2.c (AVX2 and FMA, chosen at run time on CPUs that
 * have them: csrc/atom.c), so that a portable build runs the wide vectors where it can.
 * The includer defines K(name) (the symbol suffix) before including this file.
 * The per-neighbour kernels work on blocks of four neighbours of one atomic-base block and
 * range (acelin_harmonics makes them), one neighbour per lane of a 4-double vector, with
 * their harmonics and radial functions stored lane-interleaved (workspace.h): every
 * load serves four neighbours, and no kernel needs a lane sum per entry. */
#include <string.h>

#include "simd4.h"
#include "workspace.h"
#include "acelin_ylm4.h"

#define NU ACELIN_NU_MAX

typedef long long v4l __attribute__((vector_size(32)));

/* Base radial functions of the nl <= 4 neighbours js[0 .. nl) in the lanes of one vector:
 * the operations of radial.c's channel() lane by lane (zero outside r_in < r < r_cut, and
 * in idle lanes), stored as they are into the block's interleaved rows R4, dR4 ([n_rpad][4];
 * the long-range channel from n_spad). */
static void radial4(const acelin_model *m, const acelin_ws *w, const int *js, int nl, int lng, double *R4,
                    double *dR4)
{
    const int N = lng ? m->n_long : m->n_radial, off = lng ? m->n_spad : 0;
    double r[4], rin[4], rcut[4], sc[4], tin[4], tsp[4];
    for (int q = 0; q < 4; ++q) {
        const int j = js[q < nl ? q : 0];
        const int p = w->nb_pair[j];
        r[q] = w->nb_r[j];
        rin[q] = m->r_in[p];
        rcut[q] = q < nl ? (lng ? m->r_cut_long[p] : m->r_cut[p]) : 0.0; /* idle: never inside */
        sc[q] = lng ? m->r_scale_long[p] : m->r_scale[p];
        tin[q] = lng ? m->t_in_long[p] : m->t_in[p];
        tsp[q] = lng ? m->t_span_long[p] : m->t_span[p];
    }
    const v4d vr = load4(r), vs = load4(sc), vtin = load4(tin), vtsp = load4(tsp);
    const v4l inside = (vr > load4(rin)) & (vr < load4(rcut));
    const v4d one = {1.0, 1.0, 1.0, 1.0};
    const v4d b = one + vr / vs, inv = one / b;
    v4d t = one;
    for (int k = 0; k < m->p; ++k) t *= inv;
    const v4d dt = -(double)m->p * t * inv / vs;
    v4d x = 2.0 * (t - vtin) / vtsp + 1.0;
    x = (v4d)((v4l)x & inside); /* outside: x = 0 keeps P finite; env = 0 zeroes it */
    const v4d dx = 2.0 * dt / vtsp;
    const v4d wv = one - x * x;
    const v4d env = (v4d)((v4l)(wv * wv * wv) & inside);
    const v4d denv = (v4d)((v4l)(-6.0 * x * wv * wv) & inside);
    v4d *Rv = (v4d *)(R4 + 4 * off), *dRv = (v4d *)(dR4 + 4 * off);
    v4d p0 = one, p1 = x, d0 = {0}, d1 = one;
    for (int n = 0; n < N; ++n) {
        v4d P, dP;
        if (n == 0) { P = p0; dP = d0; }
        else if (n == 1) { P = p1; dP = d1; }
        else {
            const int k = n - 1;
            P = m->leg[2 * k] * x * p1 - m->leg[2 * k + 1] * p0;
            dP = d0 + (double)(2 * k + 1) * p1;
            p0 = p1; p1 = P; d0 = d1; d1 = dP;
        }
        Rv[n] = P * env;
        dRv[n] = (dP * env + P * denv) * dx;
    }
}

/* Harmonics and their derivatives of the grouped neighbours (w->order), four per call of
 * the generated vector kernel, one neighbour per lane: near ones up to lmax, far ones
 * (beyond the short cutoff) only up to the long channel's lmax_far. Each block of four
 * is stored with its lanes interleaved (workspace.h: ws_Y, ws_dY), so the kernel's
 * vectors go to memory as they are; idle lanes repeat the range's first neighbour (their
 * radial functions are zero). Numbers the blocks: nb_slot, blk_start, blk_near. */
void K(acelin_harmonics)(const acelin_model *m, acelin_ws *w)
{
    const int nlm = m->n_lm;
    int b = 0;
    for (int z = 0; z < m->n_ablock; ++z) {
        const int bounds[3] = {w->sp_start[z], w->sp_near[z], w->sp_start[z + 1]};
        w->blk_start[z] = b;
        for (int part = 0; part < 2; ++part) {
            if (part) w->blk_near[z] = b;
            for (int q = bounds[part]; q < bounds[part + 1]; q += 4, ++b) {
                double u[3][4];
                for (int lane = 0; lane < 4; ++lane) {
                    const int live = q + lane < bounds[part + 1], j = w->order[live ? q + lane : q];
                    for (int a = 0; a < 3; ++a) u[a][lane] = w->nb_u[3 * j + a];
                    if (live) w->nb_slot[j] = 4 * b + lane;
                }
                acelin_ylm4(part ? m->lmax_far : m->lmax, load4(u[0]), load4(u[1]), load4(u[2]),
                            (v4d *)(w->Y + (size_t)b * 4 * nlm), (v4d *)(w->dY + (size_t)b * 12 * nlm), nlm);
            }
        }
    }
    w->blk_start[m->n_ablock] = b;
}

/* The base radial functions of the grouped neighbours in acelin_harmonics' blocks of four
 * ([n_rpad][4] per block in R, dR): near ones both channels, far ones (beyond the short
 * cutoff, where the short channel is zero) only the long one; the rest of a block zero. */
void K(acelin_radial_batch)(const acelin_model *m, const acelin_ws *w, double *R, double *dR)
{
    const int NR = m->n_rpad, N = m->n_radial, S = m->n_spad, NL = m->n_long;
    for (int z = 0; z < m->n_ablock; ++z) {
        const int bounds[3] = {w->sp_start[z], w->sp_near[z], w->sp_start[z + 1]};
        for (int part = 0; part < 2; ++part)
            for (int q0 = bounds[part]; q0 < bounds[part + 1]; q0 += 4) {
                const int *js = w->order + q0, nl = bounds[part + 1] - q0 < 4 ? bounds[part + 1] - q0 : 4;
                const size_t at = (size_t)(w->nb_slot[js[0]] >> 2) * 4 * NR;
                double *R4 = R + at, *dR4 = dR + at;
                if (!part) radial4(m, w, js, nl, 0, R4, dR4);
                if (NL) radial4(m, w, js, nl, 1, R4, dR4);
                const int z0 = part ? 0 : N; /* the gaps of the layout (far: the short part) */
                memset(R4 + 4 * z0, 0, (size_t)(S - z0) * 4 * sizeof(double));
                memset(dR4 + 4 * z0, 0, (size_t)(S - z0) * 4 * sizeof(double));
                memset(R4 + 4 * (S + NL), 0, (size_t)(NR - S - NL) * 4 * sizeof(double));
                memset(dR4 + 4 * (S + NL), 0, (size_t)(NR - S - NL) * 4 * sizeof(double));
            }
    }
}

/* A register tile of the density: DROWS rows (l, m) by DCOLS positions n, one accumulator
 * each over the four neighbours of a block (lanes); with the DROWS harmonics and one
 * radial vector they fill the 16 AVX registers. */
#define DCOLS 4
#define DROWS 3

/* One tile of A: rows k .. k+MR-1 (stride N in Ai) by positions n0 .. n0+NC, summed over
 * the blocks of four neighbours [b0, b1) (lane-wise; the lanes are added at the end) and
 * stored once. MR and NC are compile-time constants at every call, so the accumulators
 * live in registers, and each block's loads (MR harmonics, NC radial vectors) serve
 * MR * NC multiply-adds of four neighbours each. */
static inline __attribute__((always_inline)) void density_tile(
    const acelin_model *m, const acelin_ws *w, int roff, int k, int n0, int b0, int b1, double *Ai, int N,
    const int MR, const int NC)
{
    const size_t ys = (size_t)4 * m->n_lm, rs = (size_t)4 * m->n_rtot;
    v4d acc[DROWS][DCOLS];
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < NC; ++c) acc[r][c] = (v4d){0};
    for (int b = b0; b < b1; ++b) {
        const double *Y = w->Y + b * ys + 4 * k, *R = w->R + b * rs + 4 * (roff + n0);
        v4d y[DROWS];
        for (int r = 0; r < MR; ++r) y[r] = load4(Y + 4 * r);
        for (int c = 0; c < NC; ++c) {
            const v4d Rv = load4(R + 4 * c);
            for (int r = 0; r < MR; ++r) acc[r][c] += y[r] * Rv;
        }
    }
    for (int r = 0; r < MR; ++r)
        for (int c = 0; c < NC; ++c) Ai[r * N + n0 + c] = hsum4(acc[r][c]);
}

/* the tile shape as compile-time constants (MR 1..DROWS, NC 1..DCOLS) */
static void density_dispatch(const acelin_model *m, const acelin_ws *w, int roff, int k, int n0, int b0,
                             int b1, double *Ai, int N, int mr, int nc)
{
#define DT(MR, NC) density_tile(m, w, roff, k, n0, b0, b1, Ai, N, MR, NC)
#define DT4(MR) switch (nc) { case 1: DT(MR, 1); break; case 2: DT(MR, 2); break; \
                              case 3: DT(MR, 3); break; default: DT(MR, 4); }
    switch (mr) {
    case 1: DT4(1); break;
    case 2: DT4(2); break;
    default: DT4(3);
    }
#undef DT4
#undef DT
}

/* A_{z n l m} = sum over neighbours j of block z (their species, or the one block of
 * contracted channels) of R_nl(r_ij) Y_lm(u_ij); internal layout [z][l][m][n].
 * Tiles of DROWS rows (z, l, m..) by DCOLS positions n are summed over the block's
 * neighbours, four per vector, in registers and stored once: A is written once per entry
 * instead of read and written once per neighbour. The positions n of an l are tiled in
 * two segments, those of the used short channels, [0, s_end[l]) (near neighbours only),
 * and of the long ones, [c0[l], l_end[l]) (near and far ones, if l <= lmax_far):
 * neighbours beyond the short cutoff (far) add only there (their short-channel R are
 * zero, their higher harmonics not computed). Other positions of A stay zero. */
void K(acelin_density)(const acelin_model *m, acelin_ws *w)
{
    memset(w->A, 0, (size_t)m->n_A * sizeof(double));
    for (int z = 0; z < m->n_ablock; ++z) {
        const int b0 = w->blk_start[z], b1 = w->blk_near[z], b2 = w->blk_start[z + 1];
        if (b0 == b2) continue;
        double *Az = w->A + (size_t)z * m->n_int;
        for (int l = 0; l <= m->lmax; ++l) {
            const int N = m->Nl[l], se = m->s_end[l], c0 = m->c0[l], le = m->l_end[l];
            const int far_end = l <= m->lmax_far ? b2 : b1; /* far blocks: [b1, far_end) */
            double *Al = Az + m->loff[l];
            for (int i = 0; i <= 2 * l; i += DROWS) {
                const int mr = 2 * l + 1 - i < DROWS ? 2 * l + 1 - i : DROWS, k = l * l + i;
                for (int n0 = 0; n0 < se; n0 += DCOLS) /* short: near neighbours */
                    density_dispatch(m, w, m->roff[l], k, n0, b0, b1, Al + i * N, N, mr,
                                     se - n0 < DCOLS ? se - n0 : DCOLS);
                for (int n0 = c0; n0 < le; n0 += DCOLS) /* long: near and far */
                    density_dispatch(m, w, m->roff[l], k, n0, b0, far_end, Al + i * N, N, mr,
                                     le - n0 < DCOLS ? le - n0 : DCOLS);
            }
        }
    }
}

/* E = sum over folded products c * prod A and dE/dA by the product rule, for four atoms
 * of one species at once, one per vector lane: every atom of a species has the same
 * products, so the tree's indices are shared and only the values differ (no gathers, a
 * quarter of the instructions per atom). A4 and g4 hold entry a of lane q at [4 a + q],
 * n_A entries. Products sharing their first nu-1 factors form one node: its prefix
 * product p is computed once, the leaves add c * A_last to S and c * p to dE/dA_last, and
 * S is then passed back to the prefix factors (prefix/suffix partial products, O(nu) per
 * node). Nodes are sorted by their factors, so consecutive nodes mostly share their first
 * prefix factors: those dE/dA contributions are summed in registers until the factor
 * changes (adding each to memory would chain all nodes on one entry's store-to-load
 * latency). np is a compile-time constant in each call, so the small arrays live in
 * registers. Lanes do not mix: an atom's result does not depend on the other three. */
static inline v4d at4(const double *p, int a) { return load4(p + 4 * (size_t)a); }
#define put4(p, a, v) do { const v4d v_ = (v); memcpy((p) + 4 * (size_t)(a), &v_, sizeof v_); } while (0)

static inline __attribute__((always_inline)) v4d products4_np(
    const acelin_model *m, const double *restrict A4, double *restrict g4, int64_t n0, int64_t n1,
    const int np)
{
    int cur[NU];
    v4d acc[NU];
    for (int k = 0; k < np; ++k) { cur[k] = -1; acc[k] = (v4d){0}; }
    v4d E = {0};
    for (int64_t node = n0; node < n1; ++node) {
        const int *f = m->node_factors + node * (NU - 1);
        v4d a[NU], pre[NU], suf[NU];
        pre[0] = (v4d){1.0, 1.0, 1.0, 1.0};
        for (int k = 0; k < np; ++k) { a[k] = at4(A4, f[k]); pre[k + 1] = pre[k] * a[k]; }
        const v4d p = pre[np];
        v4d S = {0};
        for (int64_t t = m->node_leaf[node]; t < m->node_leaf[node + 1]; ++t) {
            const int d = m->leaf_a[t];
            const double c = m->leaf_c[t];
            S += c * at4(A4, d);
            put4(g4, d, at4(g4, d) + c * p);
        }
        E += p * S;
        suf[np] = S;
        for (int k = np - 1; k >= 0; --k) suf[k] = suf[k + 1] * a[k];
        for (int k = 0; k < np; ++k) {
            const v4d v = pre[k] * suf[k + 1];
            if (f[k] == cur[k]) {
                acc[k] += v;
            } else {
                if (cur[k] >= 0) put4(g4, cur[k], at4(g4, cur[k]) + acc[k]);
                cur[k] = f[k];
                acc[k] = v;
            }
        }
    }
    for (int k = 0; k < np; ++k)
        if (cur[k] >= 0) put4(g4, cur[k], at4(g4, cur[k]) + acc[k]);
    return E;
}

void K(acelin_products4)(const acelin_model *m, const double *restrict A4, double *restrict g4, int zc,
                         double *E4)
{
    memset(g4, 0, (size_t)m->n_A * 4 * sizeof(double));
    v4d E = {0};
    const int64_t *ns = m->node_start + zc * (NU + 1);
    for (int nu = 1; nu <= NU; ++nu) {
        switch (nu - 1) { /* prefix length: a constant inside each call */
        case 0: E += products4_np(m, A4, g4, ns[nu], ns[nu + 1], 0); break;
        case 1: E += products4_np(m, A4, g4, ns[nu], ns[nu + 1], 1); break;
        case 2: E += products4_np(m, A4, g4, ns[nu], ns[nu + 1], 2); break;
        case 3: E += products4_np(m, A4, g4, ns[nu], ns[nu + 1], 3); break;
        case 4: E += products4_np(m, A4, g4, ns[nu], ns[nu + 1], 4); break;
        default: E += products4_np(m, A4, g4, ns[nu], ns[nu + 1], nu - 1); break;
        }
    }
    memcpy(E4, &E, sizeof E);
}

/* dE/d dr_j = sum_{nlm} dE/dA_{z_j nlm} (R_n' u Y_lm + R_n (I - u u^T) dY_lm/du / r),
 * for the four neighbours of one block (acelin_harmonics), one per lane: per (l, m)
 * h_lm = sum_n g_lmn R_n and h'_lm = sum_n g_lmn R_n' (each g broadcast to the four
 * lanes, each load of R and R' serving BROWS rows m), then s1 = sum_lm h'_lm Y_lm and
 * G = sum_lm h_lm dY_lm/du with the block's interleaved harmonics. Idle lanes (R = 0)
 * are not written. */
#define BROWS 4

/* rows k .. k+MB-1 (stride N in gl) over the positions [0, se) and [c0, le) */
static inline __attribute__((always_inline)) void backprop_rows(
    const double *gl, int N, int se, int c0, int le, const double *R, const double *dR, const double *Y,
    const double *dY, int nlm, int k, v4d *S1, v4d *H0, v4d *H1, v4d *H2, const int MB)
{
    v4d h[BROWS], q[BROWS];
    for (int r = 0; r < MB; ++r) h[r] = q[r] = (v4d){0};
    for (int seg = 0; seg < 2; ++seg)
        for (int n = seg ? c0 : 0; n < (seg ? le : se); ++n) {
            const v4d Rv = load4(R + 4 * n), dRv = load4(dR + 4 * n);
            for (int r = 0; r < MB; ++r) {
                const double g = gl[r * N + n];
                h[r] += g * Rv;
                q[r] += g * dRv;
            }
        }
    for (int r = 0; r < MB; ++r) {
        *S1 += q[r] * load4(Y + 4 * (k + r));
        *H0 += h[r] * load4(dY + 4 * (k + r));
        *H1 += h[r] * load4(dY + 4 * (nlm + k + r));
        *H2 += h[r] * load4(dY + 4 * (2 * nlm + k + r));
    }
}

static void backprop_block(const acelin_model *m, const acelin_ws *w, int b, const int *js, int nl,
                           double *dE_dr)
{
    const int nlm = m->n_lm, nr = m->n_rtot;
    const double *gz = w->dEdA + (size_t)w->nb_block[js[0]] * m->n_int;
    const int far = w->nb_far[js[0]];
    const int lmax = far ? m->lmax_far : m->lmax; /* harmonics filled up to here */
    const double *Y = w->Y + (size_t)b * 4 * nlm, *dY = w->dY + (size_t)b * 12 * nlm;
    const double *R = w->R + (size_t)b * 4 * nr, *dR = w->dR + (size_t)b * 4 * nr;
    v4d S1 = {0}, H0 = {0}, H1 = {0}, H2 = {0};
    for (int l = 0; l <= lmax; ++l) {
        /* far: only the long positions (their short-channel R are zero) */
        const int N = m->Nl[l], se = far ? 0 : m->s_end[l], c0 = m->c0[l], le = m->l_end[l];
        if (se == 0 && le <= c0) continue;
        const double *gl = gz + m->loff[l], *Rl = R + 4 * m->roff[l], *dRl = dR + 4 * m->roff[l];
        int i = 0;
#define BR(MB) backprop_rows(gl + i * N, N, se, c0, le, Rl, dRl, Y, dY, nlm, l * l + i, &S1, &H0, &H1, &H2, MB)
        for (; i + BROWS <= 2 * l + 1; i += BROWS) BR(BROWS);
        switch (2 * l + 1 - i) {
        case 1: BR(1); break;
        case 2: BR(2); break;
        case 3: BR(3); break;
        default: break;
        }
#undef BR
    }
    for (int p = 0; p < nl; ++p) {
        const int j = js[p];
        const double *u = w->nb_u + 3 * j;
        const double r = w->nb_r[j], ug = u[0] * H0[p] + u[1] * H1[p] + u[2] * H2[p];
        double *out = dE_dr + 3 * w->nb_bond[j];
        out[0] += S1[p] * u[0] + (H0[p] - u[0] * ug) / r;
        out[1] += S1[p] * u[1] + (H1[p] - u[1] * ug) / r;
        out[2] += S1[p] * u[2] + (H2[p] - u[2] * ug) / r;
    }
}

/* the blocks of four of w->order (acelin_gather grouped the neighbours, acelin_harmonics
 * made the blocks) */
void K(acelin_backprop)(const acelin_model *m, const acelin_ws *w, double *dE_dr)
{
    for (int z = 0; z < m->n_ablock; ++z) {
        const int bounds[3] = {w->sp_start[z], w->sp_near[z], w->sp_start[z + 1]};
        for (int part = 0; part < 2; ++part)
            for (int q = bounds[part]; q < bounds[part + 1]; q += 4) {
                const int nl = bounds[part + 1] - q < 4 ? bounds[part + 1] - q : 4;
                backprop_block(m, w, w->nb_slot[w->order[q]] >> 2, w->order + q, nl, dE_dr);
            }
    }
}
