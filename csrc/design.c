/* design.c - design-matrix rows of one configuration: dE/dc, dF/dc and d(virial)/dc.
 *
 * Per centre atom: A once; per invariant b its value and dB/dA on its support (a few
 * dozen A's); then dB/d dr_j = sum_support dB/dA_a * dA_a/d dr_j, where dA_a/d dr_j is
 * precomputed for all neighbours of a's species as one contiguous vector, so the inner
 * loop is an axpy over 3 x neighbours. Atoms are spread over OpenMP threads, each with
 * private row accumulators that are added in thread order (deterministic for a given
 * thread count). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "workspace.h"

#define NU ACELIN_NU_MAX

/* D[nlm][3*jj + a] = d(R_n Y_lm)/d dr for the active neighbours regrouped by species. */
static void fill_derivatives(const acelin_model *m, acelin_ws *w, int na, int *order)
{
    int *cnt = w->sp_start;
    memset(cnt, 0, (size_t)(m->ns + 1) * sizeof(int));
    for (int j = 0; j < na; ++j) cnt[w->nb_species[j] + 1]++;
    for (int s = 0; s < m->ns; ++s) cnt[s + 1] += cnt[s];
    int fill[64];
    for (int s = 0; s < m->ns; ++s) fill[s] = cnt[s];
    for (int far = 0; far <= 1; ++far) { /* per species: near neighbours first */
        for (int j = 0; j < na; ++j)
            if (w->nb_far[j] == far) order[fill[w->nb_species[j]]++] = j;
        if (!far)
            for (int s = 0; s < m->ns; ++s) w->sp_near[s] = fill[s];
    }
    const size_t stride = 3 * (size_t)w->cap;
    const int nlm = m->n_lm;
    for (int jj = 0; jj < na; ++jj) {
        const int j = order[jj];
        const double *R = w->R + (size_t)j * m->n_rpad, *dR = w->dR + (size_t)j * m->n_rpad;
        const double *Y = w->Y + (size_t)j * nlm, *dY = w->dY + (size_t)j * 3 * nlm;
        const double *u = w->nb_u + 3 * j, r = w->nb_r[j];
        const int n0 = w->nb_far[j] ? m->n_spad : 0; /* short entries of far ones are never read */
        const int lmax = w->nb_far[j] ? m->lmax_far : m->lmax;
        for (int l = 0; l <= lmax; ++l) {
            const int N = m->Nl[l];
            for (int i = 0; i <= 2 * l; ++i) {
                const int k = l * l + i;
                const double dy[3] = {dY[k], dY[nlm + k], dY[2 * nlm + k]};
                const double ud = u[0] * dy[0] + u[1] * dy[1] + u[2] * dy[2];
                for (int n = n0; n < N; ++n) {
                    double *Dk = w->D + (size_t)(m->loff[l] + i * N + n) * stride + 3 * jj;
                    for (int a = 0; a < 3; ++a)
                        Dk[a] = dR[n] * u[a] * Y[k] + R[n] * (dy[a] - u[a] * ud) / r;
                }
            }
        }
    }
}

/* B_b and dB/dA on the support of b (into w->g). */
static double invariant_and_gradient(const acelin_model *m, acelin_ws *w, int b)
{
    const int nu = m->basis_nu[b];
    const int64_t s0 = m->sup_start[b], ns = m->sup_start[b + 1] - s0;
    double *g = w->g;
    memset(g, 0, (size_t)ns * sizeof(double));
    double B = 0.0;
    for (int64_t t = m->term_start[b]; t < m->term_start[b + 1]; ++t) {
        const int *f = m->term_factors + t * NU, *slot = m->term_slot + t * NU;
        double a[NU], pre[NU + 1], suf[NU + 1];
        for (int k = 0; k < nu; ++k) a[k] = w->A[f[k]];
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

static void atom_rows(const acelin_model *m, acelin_ws *w, int i, int zc, int na, const int *order,
                      const int *neigh_atom, const double *dr, double *er, double *fr, double *vr)
{
    const int b0 = m->species_basis_start[zc], b1 = m->species_basis_start[zc + 1];
    const int nb = m->n_basis;
    const size_t stride = 3 * (size_t)w->cap;
    for (int b = b0; b < b1; ++b) {
        er[b] += invariant_and_gradient(m, w, b);
        double *out = w->out + (size_t)(b - b0) * stride;
        memset(out, 0, 3 * (size_t)na * sizeof(double));
        const int64_t s0 = m->sup_start[b];
        for (int64_t s = s0; s < m->sup_start[b + 1]; ++s) {
            const double gs = w->g[s - s0];
            if (gs == 0.0) continue;
            const int a = m->sup_a[s], z = a / m->n_int, nlm = a % m->n_int;
            /* a short-channel entry has no derivative for neighbours beyond the short cutoff */
            const int lo = 3 * w->sp_start[z], hi = 3 * (m->a_long[nlm] ? w->sp_start[z + 1] : w->sp_near[z]);
            const double *Da = w->D + (size_t)nlm * stride;
            for (int q = lo; q < hi; ++q) out[q] += gs * Da[q];
        }
    }
    /* scatter: F_i += dB/d dr_ij, F_j -= dB/d dr_ij; virial sum_bonds dr (x) dB/d dr */
    for (int jj = 0; jj < na; ++jj) {
        const int j = order[jj];
        const int64_t bond = w->nb_bond[j];
        const int aj = neigh_atom[bond];
        const double *d = dr + 3 * bond;
        double *fi = fr + (size_t)i * 3 * nb, *fj = fr + (size_t)aj * 3 * nb;
        /* a far neighbour only moves the long-range invariants (the block's suffix) */
        for (int b = w->nb_far[j] ? m->species_long_start[zc] : b0; b < b1; ++b) {
            const double *o = w->out + (size_t)(b - b0) * stride + 3 * jj;
            for (int a = 0; a < 3; ++a) {
                fi[(size_t)a * nb + b] += o[a];
                fj[(size_t)a * nb + b] -= o[a];
            }
            vr[0 * nb + b] += d[0] * o[0];
            vr[1 * nb + b] += d[1] * o[1];
            vr[2 * nb + b] += d[2] * o[2];
            vr[3 * nb + b] += 0.5 * (d[1] * o[2] + d[2] * o[1]);
            vr[4 * nb + b] += 0.5 * (d[0] * o[2] + d[2] * o[0]);
            vr[5 * nb + b] += 0.5 * (d[0] * o[1] + d[1] * o[0]);
        }
    }
}

acelin_status acelin_design(const acelin_model *m, int n_atoms, const int *species,
                            const int64_t *start, const int *neigh_atom, const int *neigh_species,
                            const double *dr, double *energy_row, double *force_rows,
                            double *virial_rows, int n_threads, char *err, size_t errlen)
{
    if (!m || n_atoms < 0 || (n_atoms && (!species || !start)) || !energy_row ||
        (n_atoms && !force_rows) || !virial_rows ||
        (n_atoms && start[n_atoms] > 0 && (!neigh_atom || !neigh_species || !dr)))
        return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "invalid arguments");
    const int nb = m->n_basis;
    const size_t nf = (size_t)n_atoms * 3 * nb;
    memset(energy_row, 0, (size_t)nb * sizeof(double));
    memset(virial_rows, 0, 6 * (size_t)nb * sizeof(double));
    if (nf) memset(force_rows, 0, nf * sizeof(double));
    int64_t cap = 0;
    for (int i = 0; i < n_atoms; ++i) {
        if (species[i] < 0 || species[i] >= m->ns)
            return acelin_fail(err, errlen, ACELIN_ERR_SPECIES, "atom %d: species %d not in the model", i, species[i]);
        if (start[i + 1] - start[i] > cap) cap = start[i + 1] - start[i];
    }
    if (n_atoms && start[0] != 0) return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "neigh_start[0] must be 0");
    for (int64_t b = 0; n_atoms && b < start[n_atoms]; ++b)
        if (neigh_atom[b] < 0 || neigh_atom[b] >= n_atoms)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "bond %lld: neighbour atom %d out of range", (long long)b, neigh_atom[b]);
    int nt = 1;
#ifdef _OPENMP
    nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    if (nt > n_atoms) nt = n_atoms > 0 ? n_atoms : 1;
#else
    (void)n_threads;
#endif
    /* thread 0 writes straight into the outputs; the others into private buffers */
    double **priv = calloc((size_t)nt, sizeof(double *));
    if (!priv) return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory");
    int fail_atom = n_atoms;
    acelin_status fail_st = ACELIN_OK;
    char fail_msg[256] = "";
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
        int *order = malloc((size_t)(cap ? cap : 1) * sizeof(int));
        char msg[256] = "out of memory (design workspace)";
        int ok = w && order && (tid == 0 || priv[tid]);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
        for (int i = 0; i < n_atoms; ++i) {
            acelin_status s = ok ? ACELIN_OK : ACELIN_ERR_ALLOC;
            int na = 0;
            double ec;
            if (s == ACELIN_OK)
                s = acelin_gather(m, w, species[i], start[i], start[i + 1], neigh_species, dr, 0, &ec, NULL, &na, msg, sizeof msg);
            if (s == ACELIN_OK) {
                acelin_density(m, w, na);
                fill_derivatives(m, w, na, order);
                atom_rows(m, w, i, species[i], na, order, neigh_atom, dr, er, fr, vr);
            } else {
#ifdef _OPENMP
#pragma omp critical(acelin_design_error)
#endif
                if (i < fail_atom) { fail_atom = i; fail_st = s; strcpy(fail_msg, msg); }
            }
        }
        acelin_ws_free(w);
        free(order);
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
    if (fail_st) return acelin_fail(err, errlen, fail_st, "atom %d: %s", fail_atom, fail_msg);
    return ACELIN_OK;
}
