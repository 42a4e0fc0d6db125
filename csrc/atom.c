/* atom.c - the one-atom kernel: neighbours -> atomic base A -> products -> dE/dA -> forces.
 * Cost per atom O(N_neighbours * N_A + N_products): A is built once and reused by every
 * invariant, and forces come from the adjoint dE/dA in a second neighbour loop. */
#include <math.h>
#include <string.h>

#include "acelin_ylm.h"
#include "workspace.h"

#define NU ACELIN_NU_MAX

/* Validate the bonds of one centre atom, add the core pair term, and collect the
 * neighbours inside the ACE radial range with their R_n, Y_lm (and derivatives). */
acelin_status acelin_gather(const acelin_model *m, acelin_ws *w, int zc, int64_t start, int64_t end,
                            const int *neigh_species, const double *dr, int with_core,
                            double *e_core, double *dE_dr, int *n_active, char *err, size_t errlen)
{
    int na = 0;
    double ec = 0.0;
    for (int64_t b = start; b < end; ++b) {
        int zj = neigh_species[b];
        if (zj < 0 || zj >= m->ns)
            return acelin_fail(err, errlen, ACELIN_ERR_SPECIES, "bond %lld: neighbour species %d not in the model (0..%d)", (long long)b, zj, m->ns - 1);
        const double *d = dr + 3 * b;
        double r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if (!isfinite(r2))
            return acelin_fail(err, errlen, ACELIN_ERR_NONFINITE, "bond %lld: non-finite displacement", (long long)b);
        double r = sqrt(r2);
        if (r < ACELIN_MIN_DISTANCE)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "bond %lld: two atoms at the same position (distance %.3g A)", (long long)b, r);
        if (dE_dr) dE_dr[3 * b] = dE_dr[3 * b + 1] = dE_dr[3 * b + 2] = 0.0;
        int pair = zc * m->ns + zj;
        if (r >= m->max_cut) continue;
        if (with_core) {
            double dV, V = acelin_core_pair(m, pair, r, &dV);
            if (V != 0.0 || dV != 0.0) {
                ec += 0.5 * V; /* the pair is seen from both atoms */
                if (dE_dr)
                    for (int a = 0; a < 3; ++a) dE_dr[3 * b + a] += 0.5 * dV * d[a] / r;
            }
        }
        if (r <= m->r_in[pair] || r >= m->r_cut[pair]) continue;
        if (na >= w->cap)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "internal: neighbour capacity exceeded");
        w->nb_bond[na] = b;
        w->nb_species[na] = zj;
        w->nb_r[na] = r;
        double *u = w->nb_u + 3 * na;
        u[0] = d[0] / r; u[1] = d[1] / r; u[2] = d[2] / r;
        acelin_radial(m, pair, r, w->R + (size_t)na * m->n_radial, w->dR + (size_t)na * m->n_radial);
        acelin_ylm(m->lmax, u, w->Y + (size_t)na * m->n_lm, w->dY + (size_t)na * 3 * m->n_lm);
        ++na;
    }
    *e_core = ec;
    *n_active = na;
    return ACELIN_OK;
}

/* A_{z n l m} = sum over neighbours j of species z of R_n(r_ij) Y_lm(u_ij) */
void acelin_density(const acelin_model *m, acelin_ws *w, int na)
{
    memset(w->A, 0, (size_t)m->n_A * sizeof(double));
    for (int j = 0; j < na; ++j) {
        double *A = w->A + (size_t)w->nb_species[j] * m->n_nlm;
        const double *R = w->R + (size_t)j * m->n_radial, *Y = w->Y + (size_t)j * m->n_lm;
        for (int k = 0; k < m->n_nl; ++k) {
            const int l = m->nl_l[k];
            const double Rn = R[m->nl_n[k] - 1];
            const double *Yl = Y + l * l;
            double *Ak = A + m->nl_offset[k];
            for (int i = 0; i <= 2 * l; ++i) Ak[i] += Rn * Yl[i];
        }
    }
}

/* E = sum over folded products c * prod A, and dE/dA by the product rule (prefix and
 * suffix partial products, so each term costs O(nu)). */
double acelin_products(const acelin_model *m, acelin_ws *w, int zc)
{
    const double *A = w->A;
    double *g = w->dEdA;
    memset(g, 0, (size_t)m->n_A * sizeof(double));
    double E = 0.0;
    const int64_t *cs = m->ct_start + zc * (NU + 1);
    for (int nu = 1; nu <= NU; ++nu) {
        for (int64_t t = cs[nu]; t < cs[nu + 1]; ++t) {
            const int *f = m->ct_factors + t * NU;
            const double c = m->ct_coef[t];
            switch (nu) {
            case 1:
                E += c * A[f[0]];
                g[f[0]] += c;
                break;
            case 2: {
                double a0 = A[f[0]], a1 = A[f[1]];
                E += c * a0 * a1;
                g[f[0]] += c * a1;
                g[f[1]] += c * a0;
                break;
            }
            case 3: {
                double a0 = A[f[0]], a1 = A[f[1]], a2 = A[f[2]], p01 = a0 * a1;
                E += c * p01 * a2;
                g[f[0]] += c * a1 * a2;
                g[f[1]] += c * a0 * a2;
                g[f[2]] += c * p01;
                break;
            }
            default: {
                double a[NU], pre[NU + 1], suf[NU + 1];
                for (int k = 0; k < nu; ++k) a[k] = A[f[k]];
                pre[0] = 1.0;
                for (int k = 0; k < nu; ++k) pre[k + 1] = pre[k] * a[k];
                suf[nu] = 1.0;
                for (int k = nu - 1; k >= 0; --k) suf[k] = suf[k + 1] * a[k];
                E += c * pre[nu];
                for (int k = 0; k < nu; ++k) g[f[k]] += c * pre[k] * suf[k + 1];
            }
            }
        }
    }
    return E;
}

/* dE/d dr_j = sum_{nlm} dE/dA_{z_j nlm} (R_n' u Y_lm + R_n (I - u u^T) dY_lm/du / r) */
void acelin_backprop(const acelin_model *m, const acelin_ws *w, int na, double *dE_dr)
{
    for (int j = 0; j < na; ++j) {
        const double *gz = w->dEdA + (size_t)w->nb_species[j] * m->n_nlm;
        const double *R = w->R + (size_t)j * m->n_radial, *dR = w->dR + (size_t)j * m->n_radial;
        const double *Y = w->Y + (size_t)j * m->n_lm, *dY = w->dY + (size_t)j * 3 * m->n_lm;
        double s1 = 0.0, G[3] = {0.0, 0.0, 0.0};
        for (int k = 0; k < m->n_nl; ++k) {
            const int l = m->nl_l[k], n = m->nl_n[k] - 1;
            const double *gk = gz + m->nl_offset[k];
            const double *Yl = Y + l * l, *dYl = dY + 3 * l * l;
            double sy = 0.0, gx = 0.0, gy = 0.0, gzz = 0.0;
            for (int i = 0; i <= 2 * l; ++i) {
                sy += gk[i] * Yl[i];
                gx += gk[i] * dYl[3 * i];
                gy += gk[i] * dYl[3 * i + 1];
                gzz += gk[i] * dYl[3 * i + 2];
            }
            s1 += dR[n] * sy;
            G[0] += R[n] * gx; G[1] += R[n] * gy; G[2] += R[n] * gzz;
        }
        const double *u = w->nb_u + 3 * j;
        const double r = w->nb_r[j], ug = u[0] * G[0] + u[1] * G[1] + u[2] * G[2];
        double *out = dE_dr + 3 * w->nb_bond[j];
        for (int a = 0; a < 3; ++a) out[a] += s1 * u[a] + (G[a] - u[a] * ug) / r;
    }
}
