/* kernels_impl.h - the per-atom kernels after the gather: atomic base A, products and
 * dE/dA, back-propagation to the bonds; and the extrapolation grade's product with its
 * map. Compiled twice, by kernels.c (the build's own instruction set) and by
 * kernels_avx2.c (AVX2 and FMA, chosen at run time on CPUs that have them: csrc/atom.c),
 * so that a portable build runs the wide vectors where it can.
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

/* The distance transform of one block of four neighbours js[0 .. nl) (nl <= 4) for one
 * channel (lng: the long-range one), one neighbour per lane: x(r) of radial.c's
 * definition, the envelope env = (1 - x^2)^3, env dx/dr and d env/dx dx/dr, all zero
 * outside r_in < r < r_cut and in idle lanes (x = 0 there keeps the polynomials finite).
 * The lanes' parameters are assembled in registers (a vector load of four scalar
 * stores would wait for the stores). */
typedef struct { v4d x, env, edx, ddx; } radial_lanes;

static inline radial_lanes radial_prep(const acelin_model *m, const acelin_ws *w, const int *js, int nl,
                                       int lng)
{
    const double *par = m->rpar + (size_t)4 * lng * m->ns * m->ns;
    const int j0 = js[0], j1 = js[nl > 1], j2 = js[nl > 2 ? 2 : 0], j3 = js[nl > 3 ? 3 : 0];
    const int p0 = w->nb_pair[j0], p1 = w->nb_pair[j1], p2 = w->nb_pair[j2], p3 = w->nb_pair[j3];
    const double *q0 = par + 4 * p0, *q1 = par + 4 * p1, *q2 = par + 4 * p2, *q3 = par + 4 * p3;
    const v4d one = {1.0, 1.0, 1.0, 1.0};
    const v4d r = {w->nb_r[j0], w->nb_r[j1], w->nb_r[j2], w->nb_r[j3]};
    const v4d rin = {m->r_in[p0], m->r_in[p1], m->r_in[p2], m->r_in[p3]};
    const v4d rcut = {q0[0], nl > 1 ? q1[0] : 0.0, nl > 2 ? q2[0] : 0.0, nl > 3 ? q3[0] : 0.0}; /* idle: never inside */
    const v4d isc = {q0[1], q1[1], q2[1], q3[1]}, tin = {q0[2], q1[2], q2[2], q3[2]};
    const v4d tk = {q0[3], q1[3], q2[3], q3[3]};
    const v4l inside = (r > rin) & (r < rcut);
    const v4d inv = one / (one + r * isc);
    v4d t = one;
    for (int k = 0; k < m->p; ++k) t *= inv;
    const v4d dx = -(double)m->p * t * inv * isc * tk;
    radial_lanes o;
    o.x = (v4d)((v4l)((t - tin) * tk + one) & inside);
    const v4d wv = one - o.x * o.x;
    o.env = (v4d)((v4l)(wv * wv * wv) & inside);
    o.edx = (v4d)((v4l)(wv * wv * wv * dx) & inside);
    o.ddx = (v4d)((v4l)(-6.0 * o.x * wv * wv * dx) & inside);
    return o;
}

/* R_n = P_{n-1}(x) env and R_n' of N functions for NB blocks side by side (their prepared
 * transforms L[0 .. NB)), into the interleaved rows Rv[v], dRv[v]. The Legendre recurrence
 * is a chain of dependent multiplies and adds: two blocks' chains side by side fill the
 * vector units (NB = 2). */
static inline __attribute__((always_inline)) void radial_recur(const acelin_model *m, const radial_lanes *L,
                                                               v4d *const *Rv, v4d *const *dRv, int N, const int NB)
{
    const v4d one = {1.0, 1.0, 1.0, 1.0};
    v4d p0[2], p1[2], d0[2], d1[2];
    for (int v = 0; v < NB; ++v) {
        Rv[v][0] = L[v].env; /* P_0 = 1, P_1 = x */
        dRv[v][0] = L[v].ddx;
        if (N > 1) {
            Rv[v][1] = L[v].x * L[v].env;
            dRv[v][1] = L[v].edx + L[v].x * L[v].ddx;
        }
        p0[v] = one; p1[v] = L[v].x; d0[v] = (v4d){0}; d1[v] = one;
    }
    for (int n = 2; n < N; ++n) {
        const double *lk = m->leg + 3 * (n - 1); /* P_{k+1} from P_k, P_{k-1}, k = n - 1 */
        const double a = lk[0], b = lk[1], c = lk[2];
        for (int v = 0; v < NB; ++v) {
            const v4d P = (a * L[v].x) * p1[v] - b * p0[v];
            const v4d dP = d0[v] + c * p1[v];
            p0[v] = p1[v]; p1[v] = P; d0[v] = d1[v]; d1[v] = dP;
            Rv[v][n] = P * L[v].env;
            dRv[v][n] = dP * L[v].edx + P * L[v].ddx;
        }
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
                const int end = bounds[part + 1];
                int j[4];
                for (int lane = 0; lane < 4; ++lane) {
                    const int live = q + lane < end;
                    j[lane] = w->order[live ? q + lane : q];
                    if (live) w->nb_slot[j[lane]] = 4 * b + lane;
                }
                /* the lanes assembled in registers (a vector load of four scalar stores would
                   wait for the stores), then kept for the back-propagation */
                const double *nu = w->nb_u;
                const v4d one = {1.0, 1.0, 1.0, 1.0};
                const v4d ux = {nu[3 * j[0]], nu[3 * j[1]], nu[3 * j[2]], nu[3 * j[3]]};
                const v4d uy = {nu[3 * j[0] + 1], nu[3 * j[1] + 1], nu[3 * j[2] + 1], nu[3 * j[3] + 1]};
                const v4d uz = {nu[3 * j[0] + 2], nu[3 * j[1] + 2], nu[3 * j[2] + 2], nu[3 * j[3] + 2]};
                const v4d ir = one / (v4d){w->nb_r[j[0]], w->nb_r[j[1]], w->nb_r[j[2]], w->nb_r[j[3]]};
                double *u = w->bu + (size_t)16 * b; /* [u_x, u_y, u_z, 1/r][lane] */
                memcpy(u, &ux, sizeof ux);
                memcpy(u + 4, &uy, sizeof uy);
                memcpy(u + 8, &uz, sizeof uz);
                memcpy(u + 12, &ir, sizeof ir);
                acelin_ylm4(part ? m->lmax_far : m->lmax, ux, uy, uz,
                            (v4d *)(w->Y + (size_t)b * 4 * nlm), (v4d *)(w->dY + (size_t)b * 12 * nlm), nlm);
            }
        }
    }
    w->blk_start[m->n_ablock] = b;
}

/* The base radial functions of the grouped neighbours in acelin_harmonics' blocks of four
 * ([n_rpad][4] per block in R, dR): near ones both channels, far ones (beyond the short
 * cutoff, where the short channel is zero) only the long one; the rest of a block zero. */
#define RCHUNK 8 /* blocks whose transforms are prepared together */

void K(acelin_radial_batch)(const acelin_model *m, const acelin_ws *w, double *R, double *dR)
{
    const int NR = m->n_rpad, N = m->n_radial, S = m->n_spad, NL = m->n_long;
    const size_t bs = (size_t)4 * NR; /* one block */
    radial_lanes L[RCHUNK];
    for (int z = 0; z < m->n_ablock; ++z) {
        const int bounds[3] = {w->sp_start[z], w->sp_near[z], w->sp_start[z + 1]};
        for (int part = 0; part < 2; ++part)
            for (int q0 = bounds[part]; q0 < bounds[part + 1]; q0 += 4 * RCHUNK) {
                /* blocks k = 0 .. nbk of this range are consecutive (acelin_harmonics) */
                const int left = bounds[part + 1] - q0, nbk = left < 4 * RCHUNK ? (left + 3) / 4 : RCHUNK;
                double *R0 = R + (size_t)(w->nb_slot[w->order[q0]] >> 2) * bs, *dR0 = dR + (R0 - R);
                for (int lng = part ? 1 : 0; lng <= (NL ? 1 : 0); ++lng) { /* far: long channel only */
                    const int off = lng ? S : 0, nf = lng ? NL : N;
                    /* all transforms first: their division and gathers are independent */
                    for (int k = 0; k < nbk; ++k)
                        L[k] = radial_prep(m, w, w->order + q0 + 4 * k, left - 4 * k < 4 ? left - 4 * k : 4, lng);
                    int k = 0;
                    for (; k + 2 <= nbk; k += 2) {
                        v4d *Rv[2] = {(v4d *)(R0 + k * bs + 4 * off), (v4d *)(R0 + (k + 1) * bs + 4 * off)};
                        v4d *dRv[2] = {(v4d *)(dR0 + k * bs + 4 * off), (v4d *)(dR0 + (k + 1) * bs + 4 * off)};
                        radial_recur(m, L + k, Rv, dRv, nf, 2);
                    }
                    if (k < nbk) {
                        v4d *Rv[1] = {(v4d *)(R0 + k * bs + 4 * off)}, *dRv[1] = {(v4d *)(dR0 + k * bs + 4 * off)};
                        radial_recur(m, L + k, Rv, dRv, nf, 1);
                    }
                }
                /* the gaps of the layout (between the channels, after the long one; far
                   blocks also the short part) are read only by the contraction W R (chan):
                   without it they stay as acelin_ws_new zeroed them, as nothing writes them */
                if (!m->chan) continue;
                const int z0 = part ? 0 : N;
                for (int k = 0; k < nbk; ++k) {
                    double *Rb = R0 + k * bs, *dRb = dR0 + k * bs;
                    memset(Rb + 4 * z0, 0, (size_t)(S - z0) * 4 * sizeof(double));
                    memset(dRb + 4 * z0, 0, (size_t)(S - z0) * 4 * sizeof(double));
                    memset(Rb + 4 * (S + NL), 0, (size_t)(NR - S - NL) * 4 * sizeof(double));
                    memset(dRb + 4 * (S + NL), 0, (size_t)(NR - S - NL) * 4 * sizeof(double));
                }
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

/* The invariants b0 .. b1-1 of four atoms of one species at once, one per lane (A4 in
 * acelin_products4's layout; B4 [b1 - b0][4], the same layout): every term's factors are
 * shared by the four, so each load and multiply serves four atoms (the basis vectors and
 * the grade: grade.c). */
void K(acelin_invariants4)(const acelin_model *m, const double *restrict A4, int b0, int b1, double *restrict B4)
{
    for (int b = b0; b < b1; ++b) {
        const int nu = m->basis_nu[b];
        v4d v = {0};
        for (int64_t t = m->term_start[b]; t < m->term_start[b + 1]; ++t) {
            const int *f = m->term_factors + t * NU;
            v4d p = {1.0, 1.0, 1.0, 1.0};
            for (int k = 0; k < nu; ++k) p *= at4(A4, f[k]);
            v += m->term_coupling[t] * p;
        }
        put4(B4, b - b0, v);
    }
}

/* Four atoms' arrays of n entries into one, entry a of atom q at [4 a + q] (the layout of
 * acelin_products4), and back: 4 x 4 tiles transposed in registers. A transpose is its own
 * inverse, so one tile routine serves both directions. */
#if defined(__clang__)
#define SHUF4(a, b, i, j, k, l) __builtin_shufflevector(a, b, i, j, k, l)
#else
#define SHUF4(a, b, i, j, k, l) __builtin_shuffle(a, b, (v4l){i, j, k, l})
#endif
static inline __attribute__((always_inline)) void transpose4(const v4d r[4], v4d o[4])
{
    const v4d t0 = SHUF4(r[0], r[1], 0, 4, 2, 6), t1 = SHUF4(r[0], r[1], 1, 5, 3, 7);
    const v4d t2 = SHUF4(r[2], r[3], 0, 4, 2, 6), t3 = SHUF4(r[2], r[3], 1, 5, 3, 7);
    o[0] = SHUF4(t0, t2, 0, 1, 4, 5);
    o[1] = SHUF4(t1, t3, 0, 1, 4, 5);
    o[2] = SHUF4(t0, t2, 2, 3, 6, 7);
    o[3] = SHUF4(t1, t3, 2, 3, 6, 7);
}
#undef SHUF4

void K(acelin_interleave4)(const double *const src[4], double *restrict dst, size_t n)
{
    const double *restrict s0 = src[0], *restrict s1 = src[1], *restrict s2 = src[2], *restrict s3 = src[3];
    size_t a = 0;
    for (; a + 4 <= n; a += 4) {
        const v4d r[4] = {load4(s0 + a), load4(s1 + a), load4(s2 + a), load4(s3 + a)};
        v4d o[4];
        transpose4(r, o);
        double *p = dst + 4 * a;
        memcpy(p, &o[0], sizeof o[0]);
        memcpy(p + 4, &o[1], sizeof o[1]);
        memcpy(p + 8, &o[2], sizeof o[2]);
        memcpy(p + 12, &o[3], sizeof o[3]);
    }
    for (; a < n; ++a) {
        dst[4 * a] = s0[a];
        dst[4 * a + 1] = s1[a];
        dst[4 * a + 2] = s2[a];
        dst[4 * a + 3] = s3[a];
    }
}

void K(acelin_deinterleave4)(const double *restrict src, double *const dst[4], size_t n)
{
    double *restrict d0 = dst[0], *restrict d1 = dst[1], *restrict d2 = dst[2], *restrict d3 = dst[3];
    size_t a = 0;
    for (; a + 4 <= n; a += 4) {
        const double *p = src + 4 * a;
        const v4d r[4] = {load4(p), load4(p + 4), load4(p + 8), load4(p + 12)};
        v4d o[4];
        transpose4(r, o);
        memcpy(d0 + a, &o[0], sizeof o[0]);
        memcpy(d1 + a, &o[1], sizeof o[1]);
        memcpy(d2 + a, &o[2], sizeof o[2]);
        memcpy(d3 + a, &o[3], sizeof o[3]);
    }
    for (; a < n; ++a) {
        d0[a] = src[4 * a];
        d1[a] = src[4 * a + 1];
        d2[a] = src[4 * a + 2];
        d3[a] = src[4 * a + 3];
    }
}

/* dE/d dr_j = sum_{nlm} dE/dA_{z_j nlm} (R_n' u Y_lm + R_n (I - u u^T) dY_lm/du / r),
 * for the four neighbours of one block (acelin_harmonics), one per lane: per (l, m)
 * h_lm = sum_n g_lmn R_n and h'_lm = sum_n g_lmn R_n' (each g broadcast to the four
 * lanes, each load of R and R' serving BROWS rows m), then s1 = sum_lm h'_lm Y_lm and
 * G = sum_lm h_lm dY_lm/du with the block's interleaved harmonics. Idle lanes (R = 0)
 * are not written. */
#define BROWS 4

/* rows k .. k+MB-1 (stride N in gl) over the positions [0, se) and [c0, le). Each row's
 * sums over n are chains of dependent multiply-adds; with few rows (l = 0, and the last row
 * of l = 2, 4, ...) there are too few chains to hide their latency, so the positions are
 * split over P partial sums (P x MB >= 4 chains of h and of q), added at the end. */
static inline __attribute__((always_inline)) void backprop_rows(
    const double *gl, int N, int se, int c0, int le, const double *R, const double *dR, const double *Y,
    const double *dY, int nlm, int k, v4d *S1, v4d *H0, v4d *H1, v4d *H2, const int MB)
{
    enum { PMAX = 4 };
    const int P = MB == 1 ? 4 : MB == 2 ? 2 : 1;
    v4d h[PMAX][BROWS], q[PMAX][BROWS];
    for (int p = 0; p < P; ++p)
        for (int r = 0; r < MB; ++r) h[p][r] = q[p][r] = (v4d){0};
    for (int seg = 0; seg < 2; ++seg) {
        const int n1 = seg ? le : se;
        int n = seg ? c0 : 0;
        for (; n + P <= n1; n += P)
            for (int p = 0; p < P; ++p) {
                const v4d Rv = load4(R + 4 * (n + p)), dRv = load4(dR + 4 * (n + p));
                for (int r = 0; r < MB; ++r) {
                    const double g = gl[r * N + n + p];
                    h[p][r] += g * Rv;
                    q[p][r] += g * dRv;
                }
            }
        for (; n < n1; ++n) {
            const v4d Rv = load4(R + 4 * n), dRv = load4(dR + 4 * n);
            for (int r = 0; r < MB; ++r) {
                const double g = gl[r * N + n];
                h[0][r] += g * Rv;
                q[0][r] += g * dRv;
            }
        }
    }
    for (int p = 1; p < P; ++p)
        for (int r = 0; r < MB; ++r) {
            h[0][r] += h[p][r];
            q[0][r] += q[p][r];
        }
    for (int r = 0; r < MB; ++r) {
        *S1 += q[0][r] * load4(Y + 4 * (k + r));
        *H0 += h[0][r] * load4(dY + 4 * (k + r));
        *H1 += h[0][r] * load4(dY + 4 * (nlm + k + r));
        *H2 += h[0][r] * load4(dY + 4 * (2 * nlm + k + r));
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
    /* the four lanes at once (acelin_harmonics kept their u and 1/r), then the live ones out */
    const double *ub = w->bu + (size_t)16 * b;
    const v4d u0 = load4(ub), u1 = load4(ub + 4), u2 = load4(ub + 8), ir = load4(ub + 12);
    const v4d ug = u0 * H0 + u1 * H1 + u2 * H2;
    const v4d o0 = S1 * u0 + (H0 - u0 * ug) * ir, o1 = S1 * u1 + (H1 - u1 * ug) * ir;
    const v4d o2 = S1 * u2 + (H2 - u2 * ug) * ir;
    for (int p = 0; p < nl; ++p) {
        double *out = dE_dr + 3 * w->nb_bond[js[p]];
        out[0] += o0[p];
        out[1] += o1[p];
        out[2] += o2[p];
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

/* The grade's product S = B G for the na atoms of one species in a block: B [na][rows] (row
 * stride ldb), G [rows][r], S [na][r] (row stride lds). A tile of four atoms by twelve
 * columns sits in registers while k runs over a chunk of GRADE_KC rows; a chunk of
 * GRADE_KC rows by GRADE_NC columns of G (12 kB) serves every atom of the block before the
 * next is read, so the map streams from memory once per block of atoms instead of once
 * per atom (for `large`, 17.6 MB per atom). Every S[a][j] is one sum over k in increasing
 * order, carried in S between chunks: an atom's result does not depend on the block, its
 * place in it, or the thread count. The chunk's shape and the block size were chosen by
 * timing the grade of the fitted presets (benchmarks/RESULTS.md, "Cost of the
 * extrapolation grade in LAMMPS"). */
#define GRADE_KC 32
#define GRADE_NC 48

static inline __attribute__((always_inline)) void grade_tile(const double *B, size_t ldb, int k0, int k1,
                                                             const double *G, int r, int j0, double *S,
                                                             size_t lds, int first, const int MA, const int NV)
{
    v4d acc[4][3];
    for (int a = 0; a < MA; ++a)
        for (int v = 0; v < NV; ++v) acc[a][v] = first ? (v4d){0} : load4(S + a * lds + j0 + 4 * v);
    for (int k = k0; k < k1; ++k) {
        const double *g = G + (size_t)k * r + j0;
        v4d gv[3];
        for (int v = 0; v < NV; ++v) gv[v] = load4(g + 4 * v);
        for (int a = 0; a < MA; ++a) {
            const double b = B[a * ldb + k];
            for (int v = 0; v < NV; ++v) acc[a][v] += b * gv[v];
        }
    }
    for (int a = 0; a < MA; ++a)
        for (int v = 0; v < NV; ++v) memcpy(S + a * lds + j0 + 4 * v, &acc[a][v], sizeof(v4d));
}

void K(acelin_grade_product)(const double *B, size_t ldb, int na, int rows, const double *G, int r,
                             double *S, size_t lds)
{
    const int r4 = r - r % 4; /* columns in whole vectors; the rest one by one below */
    if (rows == 0)
        for (int a = 0; a < na; ++a) memset(S + a * lds, 0, (size_t)r * sizeof(double));
    for (int k0 = 0; k0 < rows; k0 += GRADE_KC) {
        const int k1 = rows - k0 < GRADE_KC ? rows : k0 + GRADE_KC, first = k0 == 0;
        for (int c0 = 0; c0 < r4; c0 += GRADE_NC) {
            const int c1 = r4 - c0 < GRADE_NC ? r4 : c0 + GRADE_NC;
            for (int a0 = 0; a0 < na; a0 += 4) {
                const int ma = na - a0 < 4 ? na - a0 : 4;
                const double *Ba = B + a0 * ldb;
                double *Sa = S + a0 * lds;
#define GT(MA, NV) grade_tile(Ba, ldb, k0, k1, G, r, j, Sa, lds, first, MA, NV)
#define GT_MA(NV) switch (ma) { case 1: GT(1, NV); break; case 2: GT(2, NV); break; \
                                case 3: GT(3, NV); break; default: GT(4, NV); }
                int j = c0;
                for (; j + 12 <= c1; j += 12) GT_MA(3);
                for (; j < c1; j += 4) GT_MA(1);
#undef GT_MA
#undef GT
            }
        }
    }
    for (int j = r4; j < r; ++j) /* the last columns, in the same order over k */
        for (int a = 0; a < na; ++a) {
            double v = 0.0;
            for (int k = 0; k < rows; ++k) v += B[a * ldb + k] * G[(size_t)k * r + j];
            S[a * lds + j] = v;
        }
}
