/* design.c - design-matrix rows of one configuration: dE/dc, dF/dc and d(virial)/dc.
 *
 * Per centre atom: A once; per invariant b its value and dB/dA on its support (a few
 * dozen A's), kept for all of the atom's invariants. Then the neighbours go in tiles of
 * ACELIN_TILE = 8 (one SIMD lane each: two 4-double vectors, which amortize the support's
 * index and dB/dA loads over twice the lanes of one: 17 % faster than 4 at 1482
 * functions, 10 % at 341; 16 spills L2); a tile holds one atomic-base block (a species,
 * or all neighbours with contracted channels), near or far ones only: dA_a/d dr_j of the
 * tile, then per invariant dB/d dr_j = sum_support dB/dA_a dA_a/d dr_j for the whole tile
 * at once, added straight into the force and virial rows. The tile's
 * derivatives stay in cache, and the rows are written contiguously along the basis.
 * Atoms are spread over OpenMP threads, each with private row accumulators that are
 * added in thread order (deterministic for a given thread count). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "simd4.h"
#include "workspace.h"

#define NU ACELIN_NU_MAX
#define TJ ACELIN_TILE
#define NV (TJ / 4) /* 4-double vectors per tile */

/* D[nlm][a][lane] = d(R_nl Y_lm)/d dr_a for the tile's neighbours order[t0 .. t0+nt).
 * Far neighbours fill only the long channel's entries (the only ones their invariants
 * read); lanes >= nt are zero. */
static void fill_tile(const acelin_model *m, acelin_ws *w, int t0, int nt, int far)
{
    const int nlm = m->n_lm;
    if (nt < TJ) memset(w->D, 0, (size_t)m->n_int * 3 * TJ * sizeof(double));
    for (int lane = 0; lane < nt; ++lane) {
        const int j = w->order[t0 + lane];
        const double *R0 = ws_R(m, w, j), *dR0 = ws_dR(m, w, j); /* entry n at [4 n] */
        const double *Y = ws_Y(m, w, j), *dY = ws_dY(m, w, j); /* entry k at [4 k] */
        const double *u = w->nb_u + 3 * j, inv_r = 1.0 / w->nb_r[j];
        const int lmax = far ? m->lmax_far : m->lmax;
        for (int l = 0; l <= lmax; ++l) {
            const int N = m->Nl[l], n0 = far ? m->c0[l] : 0;
            const double *R = R0 + 4 * m->roff[l], *dR = dR0 + 4 * m->roff[l];
            for (int i = 0; i <= 2 * l; ++i) {
                const int k = l * l + i;
                const double dy[3] = {dY[4 * k], dY[4 * (nlm + k)], dY[4 * (2 * nlm + k)]}, y = Y[4 * k];
                const double ud = u[0] * dy[0] + u[1] * dy[1] + u[2] * dy[2];
                const double ca[3] = {u[0] * y, u[1] * y, u[2] * y};
                const double cb[3] = {(dy[0] - u[0] * ud) * inv_r, (dy[1] - u[1] * ud) * inv_r,
                                      (dy[2] - u[2] * ud) * inv_r};
                double *Dk = w->D + (size_t)(m->loff[l] + i * N) * 3 * TJ + lane;
                for (int n = n0; n < N; ++n)
                    for (int a = 0; a < 3; ++a) Dk[(3 * n + a) * TJ] = dR[4 * n] * ca[a] + R[4 * n] * cb[a];
            }
        }
    }
}

/* B_b, and dB/dA on the support of b into g. */
static double invariant_and_gradient(const acelin_model *m, const double *A, int b, double *g)
{
    const int nu = m->basis_nu[b];
    const int64_t ns = m->sup_start[b + 1] - m->sup_start[b];
    memset(g, 0, (size_t)ns * sizeof(double));
    double B = 0.0;
    for (int64_t t = m->term_start[b]; t < m->term_start[b + 1]; ++t) {
        const int *f = m->term_factors + t * NU, *slot = m->term_slot + t * NU;
        double a[NU], pre[NU + 1], suf[NU + 1];
        for (int k = 0; k < nu; ++k) a[k] = A[f[k]];
        pre[0] = 1.0;
        for (int k = 0; k < nu; ++k) pre[k + 1] = pre[k] * a[k];
        suf[nu] = 1.0;
        for (int k = nu - 1; k >= 0; --k) suf[k] = suf[k + 1] * a[k];
        const double c = m->term_coupling[t];
        B += c * pre[nu];
        for (int k = 0; k < nu; ++k) g[slot[k]] += c * pre[k] * suf[k + 1];
    }
    return B;
}

/* One tile of neighbours (one atomic-base block z, near or far): for every invariant that
 * can see them, dB/d dr_j for the tile's lanes; F_i += dB/d dr_ij, F_j -= dB/d dr_ij, and the
 * virial sum_bonds dr (x) dB/d dr. */
static void tile_rows(const acelin_model *m, acelin_ws *w, int i, int zc, int z, int t0, int nt,
                      int far, const int *neigh_atom, const double *dr, double *fr, double *vr)
{
    const int b0 = m->species_basis_start[zc], b1 = m->species_basis_start[zc + 1];
    const int nb = m->n_basis;
    const int64_t g0 = m->sup_start[b0];
    int atom[TJ];
    double dx[TJ] = {0}, dy[TJ] = {0}, dz[TJ] = {0}; /* zero on empty lanes */
    for (int lane = 0; lane < nt; ++lane) {
        const int64_t bond = w->nb_bond[w->order[t0 + lane]];
        atom[lane] = neigh_atom[bond];
        dx[lane] = dr[3 * bond];
        dy[lane] = dr[3 * bond + 1];
        dz[lane] = dr[3 * bond + 2];
    }
    v4d vx[NV], vy[NV], vz[NV];
    for (int v = 0; v < NV; ++v) {
        vx[v] = load4(dx + 4 * v);
        vy[v] = load4(dy + 4 * v);
        vz[v] = load4(dz + 4 * v);
    }
    double *fi = fr + (size_t)i * 3 * nb;
    /* a far neighbour only moves the long-range invariants (the block's suffix) */
    for (int b = far ? m->species_long_start[zc] : b0; b < b1; ++b) {
        v4d ox[NV], oy[NV], oz[NV];
        for (int v = 0; v < NV; ++v) ox[v] = oy[v] = oz[v] = (v4d){0, 0, 0, 0};
        for (int64_t s = m->sup_start[b]; s < m->sup_start[b + 1]; ++s) {
            if (m->sup_z[s] != z) continue; /* an entry of another neighbour species */
            const double gs = w->g[s - g0];
            const double *Dk = w->D + (size_t)m->sup_nlm[s] * 3 * TJ;
            for (int v = 0; v < NV; ++v) {
                ox[v] += gs * load4(Dk + 4 * v);
                oy[v] += gs * load4(Dk + TJ + 4 * v);
                oz[v] += gs * load4(Dk + 2 * TJ + 4 * v);
            }
        }
        v4d sx = ox[0], sy = oy[0], sz = oz[0];
        v4d wxx = vx[0] * ox[0], wyy = vy[0] * oy[0], wzz = vz[0] * oz[0];
        v4d wyz = vy[0] * oz[0] + vz[0] * oy[0], wxz = vx[0] * oz[0] + vz[0] * ox[0];
        v4d wxy = vx[0] * oy[0] + vy[0] * ox[0];
        for (int v = 1; v < NV; ++v) {
            sx += ox[v];
            sy += oy[v];
            sz += oz[v];
            wxx += vx[v] * ox[v];
            wyy += vy[v] * oy[v];
            wzz += vz[v] * oz[v];
            wyz += vy[v] * oz[v] + vz[v] * oy[v];
            wxz += vx[v] * oz[v] + vz[v] * ox[v];
            wxy += vx[v] * oy[v] + vy[v] * ox[v];
        }
        fi[b] += hsum4(sx);
        fi[(size_t)nb + b] += hsum4(sy);
        fi[2 * (size_t)nb + b] += hsum4(sz);
        for (int lane = 0; lane < nt; ++lane) {
            double *fj = fr + (size_t)atom[lane] * 3 * nb;
            fj[b] -= ox[lane / 4][lane % 4];
            fj[(size_t)nb + b] -= oy[lane / 4][lane % 4];
            fj[2 * (size_t)nb + b] -= oz[lane / 4][lane % 4];
        }
        vr[0 * nb + b] += hsum4(wxx);
        vr[1 * nb + b] += hsum4(wyy);
        vr[2 * nb + b] += hsum4(wzz);
        vr[3 * nb + b] += 0.5 * hsum4(wyz);
        vr[4 * nb + b] += 0.5 * hsum4(wxz);
        vr[5 * nb + b] += 0.5 * hsum4(wxy);
    }
}

static void atom_rows(const acelin_model *m, acelin_ws *w, int i, int zc,
                      const int *neigh_atom, const double *dr, double *er, double *fr, double *vr)
{
    const int b0 = m->species_basis_start[zc], b1 = m->species_basis_start[zc + 1];
    const int64_t g0 = m->sup_start[b0];
    for (int b = b0; b < b1; ++b) er[b] += invariant_and_gradient(m, w->A, b, w->g + (m->sup_start[b] - g0));
    /* the neighbours as acelin_gather grouped them (w->order, sp_start, sp_near) */
    for (int z = 0; z < m->n_ablock; ++z)
        for (int far = 0; far <= 1; ++far) {
            const int lo = far ? w->sp_near[z] : w->sp_start[z], hi = far ? w->sp_start[z + 1] : w->sp_near[z];
            for (int t0 = lo; t0 < hi; t0 += TJ) {
                const int nt = hi - t0 < TJ ? hi - t0 : TJ;
                fill_tile(m, w, t0, nt, far);
                tile_rows(m, w, i, zc, z, t0, nt, far, neigh_atom, dr, fr, vr);
            }
        }
}

acelin_status acelin_design_ex(const acelin_model *m, int n_atoms, const int *species,
                               const int64_t *start, const int *neigh_atom, const int *neigh_species,
                               const double *dr, double *energy_row, double *force_rows,
                               double *virial_rows, int n_threads, acelin_error *e)
{
    acelin_error_clear(e);
    if (!m || n_atoms < 0 || (n_atoms && (!species || !start)) || !energy_row ||
        (n_atoms && !force_rows) || !virial_rows ||
        (n_atoms && start[n_atoms] > 0 && (!neigh_atom || !neigh_species || !dr)))
        return acelin_error_set(e, ACELIN_ERR_INVALID, -1, -1, "invalid arguments");
    const int nb = m->n_basis;
    const size_t nf = (size_t)n_atoms * 3 * nb;
    memset(energy_row, 0, (size_t)nb * sizeof(double));
    memset(virial_rows, 0, 6 * (size_t)nb * sizeof(double));
    if (nf) memset(force_rows, 0, nf * sizeof(double));
    int64_t cap = 0;
    for (int i = 0; i < n_atoms; ++i) {
        if (species[i] < 0 || species[i] >= m->ns)
            return acelin_error_set(e, ACELIN_ERR_SPECIES, i, -1, "atom %d: species %d not in the model", i, species[i]);
        if (start[i + 1] - start[i] > cap) cap = start[i + 1] - start[i];
    }
    if (n_atoms && start[0] != 0) return acelin_error_set(e, ACELIN_ERR_INVALID, -1, -1, "neigh_start[0] must be 0");
    for (int i = 0; i < n_atoms; ++i)
        for (int64_t b = start[i]; b < start[i + 1]; ++b)
            if (neigh_atom[b] < 0 || neigh_atom[b] >= n_atoms)
                return acelin_error_set(e, ACELIN_ERR_INVALID, i, b, "atom %d: bond %lld: neighbour atom %d out of range",
                                        i, (long long)b, neigh_atom[b]);
    int nt = 1;
#ifdef _OPENMP
    nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    if (nt > n_atoms) nt = n_atoms > 0 ? n_atoms : 1;
#else
    (void)n_threads;
#endif
    /* thread 0 writes straight into the outputs; the others into private buffers */
    double **priv = calloc((size_t)nt, sizeof(double *));
    if (!priv) return acelin_error_set(e, ACELIN_ERR_ALLOC, -1, -1, "out of memory");
    acelin_error first;
    acelin_error_clear(&first);
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        double *er = energy_row, *fr = force_rows, *vr = virial_rows;
        if (tid > 0) {
            priv[tid] = calloc((size_t)nb * 7 + nf, sizeof(double));
            if (priv[tid]) { er = priv[tid]; vr = er + nb; fr = vr + 6 * (size_t)nb; }
        }
        acelin_ws *w = acelin_ws_new(m, (int)cap, 1);
        char msg[200] = "out of memory (design workspace)";
        int ok = w && (tid == 0 || priv[tid]);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int i = 0; i < n_atoms; ++i) {
            acelin_status s = ok ? ACELIN_OK : ACELIN_ERR_ALLOC;
            int na = 0;
            int64_t bad_bond = -1;
            double ec;
            if (s == ACELIN_OK)
                s = acelin_gather(m, w, species[i], start[i], start[i + 1], neigh_species, dr, 0, &ec, NULL, &na, &bad_bond, msg, sizeof msg);
            if (s == ACELIN_OK) {
                acelin_density(m, w);
                atom_rows(m, w, i, species[i], neigh_atom, dr, er, fr, vr);
            } else {
#ifdef _OPENMP
#pragma omp critical(acelin_design_error)
#endif
                acelin_first_failure(&first, s, i, bad_bond, msg);
            }
        }
        acelin_ws_free(w);
    }
    for (int t = 1; t < nt; ++t) { /* fixed order: deterministic sums */
        if (!priv[t]) continue;
        const double *er = priv[t], *vr = er + nb, *fr = vr + 6 * (size_t)nb;
        for (int b = 0; b < nb; ++b) energy_row[b] += er[b];
        for (size_t k = 0; k < 6 * (size_t)nb; ++k) virial_rows[k] += vr[k];
        for (size_t k = 0; k < nf; ++k) force_rows[k] += fr[k];
        free(priv[t]);
    }
    free(priv);
    return acelin_report_first(&first, e);
}

acelin_status acelin_design(const acelin_model *m, int n_atoms, const int *species,
                            const int64_t *start, const int *neigh_atom, const int *neigh_species,
                            const double *dr, double *energy_row, double *force_rows,
                            double *virial_rows, int n_threads, char *err, size_t errlen)
{
    acelin_error e;
    return acelin_error_text(acelin_design_ex(m, n_atoms, species, start, neigh_atom, neigh_species, dr,
                                              energy_row, force_rows, virial_rows, n_threads, &e),
                             &e, err, errlen);
}
