/* kernels_impl.h - the per-atom kernels after the gather: atomic base A, products and
 * dE/dA, back-propagation to the bonds. Compiled twice, by kernels.c (the build's own
 * instruction set) and by kernels_avx2.c (AVX2 and FMA, chosen at run time on CPUs that
 * have them: csrc/atom.c), so that a portable build runs the wide vectors where it can.
 * The includer defines K(name) (the symbol suffix) before including this file. Vector
 * width VN (simd4.h) is that of the compilation; the model pads its radial counts to the
 * width of the kernels it will run (acelin_model.vn). */
#include <string.h>

#include "simd4.h"
#include "workspace.h"
#include "acelin_ylm4.h"

#define NU ACELIN_NU_MAX

/* Base radial functions of the nl <= 4 neighbours js[0 .. nl) in the lanes of one vector:
 * the operations of radial.c's channel() lane by lane (zero outside r_in < r < r_cut),
 * written into each neighbour's row of R, dR (n_rpad per neighbour; the long-range channel
 * from n_spad). */
typedef long long v4l __attribute__((vector_size(32)));

static void radial4(const acelin_model *m, const acelin_ws *w, const int *js, int nl, int lng, double *R, double *dR)
{
    const int N = lng ? m->n_long : m->n_radial, off = lng ? m->n_spad : 0, NR = m->n_rpad;
    double r[4], rin[4], rcut[4], sc[4], tin[4], tsp[4];
    for (int q = 0; q < 4; ++q) {
        const int j = js[q < nl ? q : 0]; /* idle lanes repeat the first neighbour */
        const int p = w->nb_pair[j];
        r[q] = w->nb_r[j];
        rin[q] = m->r_in[p];
        rcut[q] = lng ? m->r_cut_long[p] : m->r_cut[p];
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
    double *Rq[4], *dRq[4];
    for (int q = 0; q < nl; ++q) {
        Rq[q] = R + (size_t)js[q] * NR + off;
        dRq[q] = dR + (size_t)js[q] * NR + off;
    }
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
        const v4d Rv = P * env, dRv = (dP * env + P * denv) * dx;
        for (int q = 0; q < nl; ++q) {
            Rq[q][n] = Rv[q];
            dRq[q][n] = dRv[q];
        }
    }
}

/* Harmonics and their derivatives of the grouped neighbours (w->order), four per call of
 * the generated vector kernel, one neighbour per lane: near ones up to lmax, far ones
 * (beyond the short cutoff) only up to the long channel's lmax_far. Each block of four
 * is stored with its lanes interleaved (workspace.h: ws_Y, ws_dY), so the kernel's
 * vectors go to memory as they are; idle lanes repeat the range's first neighbour. */
void K(acelin_harmonics)(const acelin_model *m, acelin_ws *w)
{
    const int nlm = m->n_lm;
    int b = 0;
    for (int z = 0; z < m->n_ablock; ++z) {
        const int bounds[3] = {w->sp_start[z], w->sp_near[z], w->sp_start[z + 1]};
        for (int part = 0; part < 2; ++part)
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

/* The base radial functions of the grouped neighbours (w->order), four at a time: near
 * ones both channels, far ones (beyond the short cutoff, where the short channel is zero)
 * only the long one, their short positions set to zero. */
void K(acelin_radial_batch)(const acelin_model *m, const acelin_ws *w, double *R, double *dR)
{
    const int NR = m->n_rpad, N = m->n_radial, S = m->n_spad, NL = m->n_long;
    for (int z = 0; z < m->n_ablock; ++z) {
        const int bounds[3] = {w->sp_start[z], w->sp_near[z], w->sp_start[z + 1]};
        for (int part = 0; part < 2; ++part)
            for (int q0 = bounds[part]; q0 < bounds[part + 1]; q0 += 4) {
                const int *js = w->order + q0, nl = bounds[part + 1] - q0 < 4 ? bounds[part + 1] - q0 : 4;
                if (!part) radial4(m, w, js, nl, 0, R, dR);
                if (NL) radial4(m, w, js, nl, 1, R, dR);
                for (int q = 0; q < nl; ++q) { /* the gaps of the layout (far: the short part) */
                    double *Rj = R + (size_t)js[q] * NR, *dRj = dR + (size_t)js[q] * NR;
                    for (int n = part ? 0 : N; n < S; ++n) Rj[n] = dRj[n] = 0.0;
                    for (int n = S + NL; n < NR; ++n) Rj[n] = dRj[n] = 0.0;
                }
            }
    }
}

/* A register tile of the density: DROWS rows (l, m) by DCHUNK vectors of n, DROWS * DCHUNK
 * accumulators; with the DROWS harmonics and one radial vector they fill the 16 AVX
 * registers. (-DDROWS=2 builds the narrower tile, for comparisons.) */
#define DCHUNK 4
#ifndef DROWS
#define DROWS 3
#endif

/* One tile of A: rows k .. k+MR-1 (stride N in Ai), vectors n0 .. n0+NV of n, summed over
 * the neighbours order[qa .. qb) and stored once. MR and NV are compile-time constants at
 * every call, so the accumulators live in registers, and each neighbour's loads (MR
 * harmonics, NV radial vectors) serve MR * NV multiply-adds. */
static inline __attribute__((always_inline)) void density_tile(
    const acelin_model *m, const acelin_ws *w, const double *R0, int nr, int k, int n0, int qa, int qb,
    double *Ai, int N, const int MR, const int NV)
{
    vnd acc[DROWS][DCHUNK];
    for (int r = 0; r < MR; ++r)
        for (int v = 0; v < NV; ++v) acc[r][v] = (vnd){0};
    for (int q = qa; q < qb; ++q) {
        const int j = w->order[q];
        const double *Y = ws_Y(m, w, j) + 4 * k, *R = R0 + (size_t)j * nr + n0;
        double y[DROWS];
        for (int r = 0; r < MR; ++r) y[r] = Y[4 * r];
        for (int v = 0; v < NV; ++v) {
            const vnd Rv = loadn(R + v * VN);
            for (int r = 0; r < MR; ++r) acc[r][v] += y[r] * Rv;
        }
    }
    for (int r = 0; r < MR; ++r) memcpy(Ai + r * N + n0, acc[r], (size_t)NV * VN * sizeof(double));
}

/* the tile shape as compile-time constants (MR 1..DROWS, NV 1..DCHUNK) */
static void density_dispatch(const acelin_model *m, const acelin_ws *w, const double *R0, int nr, int k,
                             int n0, int qa, int qb, double *Ai, int N, int mr, int nv)
{
#define DT(MR, NV) density_tile(m, w, R0, nr, k, n0, qa, qb, Ai, N, MR, NV)
#define DT4(MR) switch (nv) { case 1: DT(MR, 1); break; case 2: DT(MR, 2); break; \
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
 * Tiles of DROWS rows (z, l, m..) by DCHUNK vectors of n are summed over the block's
 * neighbours in registers and stored once: A is written once per entry instead of read
 * and written once per neighbour. The positions n of an l are tiled in two segments,
 * the short channel's [0, c0[l]) (near neighbours only) and the long one's [c0[l], N)
 * (near and far ones, if l <= lmax_far): neighbours beyond the short cutoff (far) add
 * only there (their short-channel R are zero, their higher harmonics not computed), and
 * their tiles are whole. */
void K(acelin_density)(const acelin_model *m, acelin_ws *w)
{
    memset(w->A, 0, (size_t)m->n_A * sizeof(double));
    /* w->order (acelin_gather): by block, near ones first */
    const int *cnt = w->sp_start, nblk = m->n_ablock;
    const int nr = m->n_rtot;
    for (int z = 0; z < nblk; ++z) {
        const int j0 = cnt[z], j1 = w->sp_near[z], j2 = cnt[z + 1];
        if (j0 == j2) continue;
        double *Az = w->A + (size_t)z * m->n_int;
        for (int l = 0; l <= m->lmax; ++l) {
            /* c0 is a whole vector where a long channel exists (else the unpadded short
             * count, and there are no far neighbours: one segment) */
            const int N = m->Nl[l], c0 = m->c0[l] < N && m->c0[l] % VN == 0 ? m->c0[l] : N;
            const int far_end = l <= m->lmax_far ? j2 : j1; /* far ones: order[j1 .. far_end) */
            const double *R0 = w->R + m->roff[l];
            double *Al = Az + m->loff[l];
            for (int i = 0; i <= 2 * l; i += DROWS) {
                const int mr = 2 * l + 1 - i < DROWS ? 2 * l + 1 - i : DROWS, k = l * l + i;
                for (int n0 = 0; n0 < c0; n0 += DCHUNK * VN) { /* short: near neighbours */
                    const int nv = (c0 - n0 < DCHUNK * VN ? c0 - n0 : DCHUNK * VN) / VN;
                    density_dispatch(m, w, R0, nr, k, n0, j0, j1, Al + i * N, N, mr, nv);
                }
                for (int n0 = c0; n0 < N; n0 += DCHUNK * VN) { /* long: near and far */
                    const int nv = (N - n0 < DCHUNK * VN ? N - n0 : DCHUNK * VN) / VN;
                    density_dispatch(m, w, R0, nr, k, n0, j0, far_end, Al + i * N, N, mr, nv);
                }
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

/* dE/d dr_j = sum_{nlm} dE/dA_{z_j nlm} (R_n' u Y_lm + R_n (I - u u^T) dY_lm/du / r).
 * Contract over n first, per (l, m): h_lm = sum_n g_lmn R_n, h'_lm = sum_n g_lmn R_n' (two
 * products per entry, VN radial indices per vector, each l only up to its own radial
 * count), then s1 = sum_lm h'_lm Y_lm and G = sum_lm h_lm dY_lm/du. The lane sums of h are
 * taken once per neighbour, after the (l, m) sum (both are linear). Neighbours go in pairs
 * of the same block and range (w->order): the pair shares the loads of dE/dA, and each
 * neighbour keeps its own sums in the order of a single one, so its result is the same. */
static inline __attribute__((always_inline)) void backprop_nb(
    const acelin_model *m, const acelin_ws *w, const int *js, const int nj, double *dE_dr)
{
    const int nlm = m->n_lm, N0 = m->n_rtot;
    const double *gz = w->dEdA + (size_t)w->nb_block[js[0]] * m->n_int;
    const int far = w->nb_far[js[0]];
    const int lmax = far ? m->lmax_far : m->lmax; /* harmonics filled up to here */
    const double *R0[2], *dR0[2], *Y[2], *dY[2];
    vnd S1[2], H0[2], H1[2], H2[2];
    for (int p = 0; p < nj; ++p) {
        R0[p] = w->R + (size_t)js[p] * N0;
        dR0[p] = w->dR + (size_t)js[p] * N0;
        Y[p] = ws_Y(m, w, js[p]);
        dY[p] = ws_dY(m, w, js[p]);
        S1[p] = H0[p] = H1[p] = H2[p] = (vnd){0};
    }
    for (int l = 0; l <= lmax; ++l) {
        const int N = m->Nl[l];
        const int c0 = far ? m->c0[l] : 0; /* short-channel R are zero there */
        if (N <= c0) continue;
        for (int i = 0, k = l * l; i <= 2 * l; ++i, ++k) {
            const double *gl = gz + m->loff[l] + i * N;
            vnd h[2], q[2];
            for (int p = 0; p < nj; ++p) h[p] = q[p] = (vnd){0};
            for (int c = c0; c < N; c += VN) {
                const vnd gv = loadn(gl + c);
                for (int p = 0; p < nj; ++p) {
                    h[p] += gv * loadn(R0[p] + m->roff[l] + c);
                    q[p] += gv * loadn(dR0[p] + m->roff[l] + c);
                }
            }
            for (int p = 0; p < nj; ++p) {
                S1[p] += q[p] * Y[p][4 * k];
                H0[p] += h[p] * dY[p][4 * k];
                H1[p] += h[p] * dY[p][4 * (nlm + k)];
                H2[p] += h[p] * dY[p][4 * (2 * nlm + k)];
            }
        }
    }
    for (int p = 0; p < nj; ++p) {
        const int j = js[p];
        const double s1 = hsumn(S1[p]), G0 = hsumn(H0[p]), G1 = hsumn(H1[p]), G2 = hsumn(H2[p]);
        const double *u = w->nb_u + 3 * j;
        const double r = w->nb_r[j], ug = u[0] * G0 + u[1] * G1 + u[2] * G2;
        double *out = dE_dr + 3 * w->nb_bond[j];
        out[0] += s1 * u[0] + (G0 - u[0] * ug) / r;
        out[1] += s1 * u[1] + (G1 - u[1] * ug) / r;
        out[2] += s1 * u[2] + (G2 - u[2] * ug) / r;
    }
}

/* The lane sums of four vectors, as one vector: out[p] = sum of the lanes of v[p]. */
static inline __attribute__((always_inline)) v4d lane_sums4(const vnd *v)
{
#if VN == 4
    typedef long long v4i __attribute__((vector_size(32)));
    /* pairs within 128-bit halves, then the halves: 6 shuffles and 3 adds */
    const vnd a = __builtin_shuffle(v[0], v[1], (v4i){0, 4, 2, 6}) + __builtin_shuffle(v[0], v[1], (v4i){1, 5, 3, 7});
    const vnd b = __builtin_shuffle(v[2], v[3], (v4i){0, 4, 2, 6}) + __builtin_shuffle(v[2], v[3], (v4i){1, 5, 3, 7});
    return __builtin_shuffle(a, b, (v4i){0, 1, 4, 5}) + __builtin_shuffle(a, b, (v4i){2, 3, 6, 7});
#else
    return (v4d){hsumn(v[0]), hsumn(v[1]), hsumn(v[2]), hsumn(v[3])};
#endif
}

/* backprop_nb for the four neighbours js[0 .. 4) of one block of harmonics (acelin_harmonics
 * made it from the same range, so neighbour p sits in lane p): h and h' are reduced over
 * their n lanes per row (lane_sums4), which puts the four neighbours in the lanes of one
 * vector, and the (l, m) sums become vector products with the block's interleaved Y and
 * dY rows (one load each, for four neighbours). */
static void backprop_block(const acelin_model *m, const acelin_ws *w, const int *js, double *dE_dr)
{
    const int nlm = m->n_lm, N0 = m->n_rtot;
    const double *gz = w->dEdA + (size_t)w->nb_block[js[0]] * m->n_int;
    const int far = w->nb_far[js[0]];
    const int lmax = far ? m->lmax_far : m->lmax; /* harmonics filled up to here */
    const double *Yb = ws_Y(m, w, js[0]), *dYb = ws_dY(m, w, js[0]); /* lane 0 */
    const double *R0[4], *dR0[4];
    v4d S1 = {0}, H0 = {0}, H1 = {0}, H2 = {0};
    for (int l = 0; l <= lmax; ++l) {
        const int N = m->Nl[l];
        const int c0 = far ? m->c0[l] : 0; /* short-channel R are zero there */
        if (N <= c0) continue;
        for (int p = 0; p < 4; ++p) {
            R0[p] = w->R + (size_t)js[p] * N0 + m->roff[l];
            dR0[p] = w->dR + (size_t)js[p] * N0 + m->roff[l];
        }
        const double *gl = gz + m->loff[l];
        for (int i = 0, k = l * l; i <= 2 * l; ++i, ++k, gl += N) {
            vnd h[4], q[4];
            for (int p = 0; p < 4; ++p) h[p] = q[p] = (vnd){0};
            for (int c = c0; c < N; c += VN) {
                const vnd gv = loadn(gl + c);
                for (int p = 0; p < 4; ++p) {
                    h[p] += gv * loadn(R0[p] + c);
                    q[p] += gv * loadn(dR0[p] + c);
                }
            }
            const v4d hs = lane_sums4(h), qs = lane_sums4(q);
            S1 += qs * load4(Yb + 4 * k);
            H0 += hs * load4(dYb + 4 * k);
            H1 += hs * load4(dYb + 4 * (nlm + k));
            H2 += hs * load4(dYb + 4 * (2 * nlm + k));
        }
    }
    for (int p = 0; p < 4; ++p) {
        const int j = js[p];
        const double *u = w->nb_u + 3 * j;
        const double r = w->nb_r[j], ug = u[0] * H0[p] + u[1] * H1[p] + u[2] * H2[p];
        double *out = dE_dr + 3 * w->nb_bond[j];
        out[0] += S1[p] * u[0] + (H0[p] - u[0] * ug) / r;
        out[1] += S1[p] * u[1] + (H1[p] - u[1] * ug) / r;
        out[2] += S1[p] * u[2] + (H2[p] - u[2] * ug) / r;
    }
}

/* w->order (acelin_gather made it for these neighbours): by block, near ones first; whole
 * blocks of four harmonics at once, the rest of a range in pairs */
void K(acelin_backprop)(const acelin_model *m, const acelin_ws *w, double *dE_dr)
{
    for (int z = 0; z < m->n_ablock; ++z) {
        const int bounds[3] = {w->sp_start[z], w->sp_near[z], w->sp_start[z + 1]};
        for (int part = 0; part < 2; ++part) {
            int q = bounds[part];
            for (; q + 3 < bounds[part + 1]; q += 4) backprop_block(m, w, w->order + q, dE_dr);
            for (; q + 1 < bounds[part + 1]; q += 2) backprop_nb(m, w, w->order + q, 2, dE_dr);
            if (q < bounds[part + 1]) backprop_nb(m, w, w->order + q, 1, dE_dr);
        }
    }
}
