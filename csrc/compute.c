/* compute.c - energies and per-bond energy gradients for a block of atoms (OpenMP). */
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "workspace.h"

static int max_neighbours(int n_atoms, const int64_t *start)
{
    int64_t mx = 0;
    for (int i = 0; i < n_atoms; ++i)
        if (start[i + 1] - start[i] > mx) mx = start[i + 1] - start[i];
    return (int)mx;
}

static acelin_status check_block(const acelin_model *m, int n_atoms, const int *species,
                                 const int64_t *start, acelin_error *e)
{
    if (!m || n_atoms < 0 || (n_atoms && (!species || !start)))
        return acelin_error_set(e, ACELIN_ERR_INVALID, -1, -1, "invalid arguments");
    if (n_atoms && start[0] != 0) return acelin_error_set(e, ACELIN_ERR_INVALID, -1, -1, "neigh_start[0] must be 0");
    for (int i = 0; i < n_atoms; ++i) {
        if (species[i] < 0 || species[i] >= m->ns)
            return acelin_error_set(e, ACELIN_ERR_SPECIES, i, -1, "atom %d: species %d not in the model (0..%d)", i, species[i], m->ns - 1);
        if (start[i + 1] < start[i])
            return acelin_error_set(e, ACELIN_ERR_INVALID, i, -1, "neigh_start not increasing at atom %d", i);
    }
    return ACELIN_OK;
}

static acelin_status run(const acelin_model *m, int n_atoms, const int *species, const int64_t *start,
                         const int *neigh_species, const double *dr, double *energy, double *dE_dr,
                         int n_threads, int with_ace, acelin_error *e)
{
    acelin_error_clear(e);
    acelin_status st = check_block(m, n_atoms, species, start, e);
    if (st || n_atoms == 0) return st;
    const int cap = max_neighbours(n_atoms, start);
    acelin_error first; /* lowest failing atom, so the reported error is deterministic */
    acelin_error_clear(&first);
#ifdef _OPENMP
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
#else
    (void)n_threads;
#endif
    {
        acelin_ws *w = acelin_ws_new(m, cap, 0);
        char msg[200];
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 8)
#endif
        for (int i = 0; i < n_atoms; ++i) {
            acelin_status s = ACELIN_ERR_ALLOC;
            int na = 0;
            int64_t bad_bond = -1;
            double ec = 0.0, e_ace = 0.0;
            strcpy(msg, "out of memory (workspace)");
            if (w) s = acelin_gather(m, w, species[i], start[i], start[i + 1], neigh_species, dr, 1, &ec, dE_dr, &na, &bad_bond, msg, sizeof msg);
            if (s == ACELIN_OK && with_ace && na >= 0) {
                acelin_density(m, w, na);
                e_ace = acelin_products(m, w, species[i]);
                acelin_backprop(m, w, na, dE_dr);
            }
            energy[i] = (with_ace ? m->e0[species[i]] : 0.0) + ec + e_ace;
            if (s != ACELIN_OK) {
#ifdef _OPENMP
#pragma omp critical(acelin_error)
#endif
                acelin_first_failure(&first, s, i, bad_bond, msg);
            }
        }
        acelin_ws_free(w);
    }
    return acelin_report_first(&first, e);
}

acelin_status acelin_compute_ex(const acelin_model *m, int n_atoms, const int *species,
                                const int64_t *start, const int *neigh_species, const double *dr,
                                double *energy, double *dE_dr, int n_threads, acelin_error *e)
{
    return run(m, n_atoms, species, start, neigh_species, dr, energy, dE_dr, n_threads, 1, e);
}

acelin_status acelin_compute(const acelin_model *m, int n_atoms, const int *species,
                             const int64_t *start, const int *neigh_species, const double *dr,
                             double *energy, double *dE_dr, int n_threads, char *err, size_t errlen)
{
    acelin_error e;
    return acelin_error_text(acelin_compute_ex(m, n_atoms, species, start, neigh_species, dr, energy,
                                               dE_dr, n_threads, &e), &e, err, errlen);
}

static acelin_status evaluate(const acelin_model *m, int n_atoms, const int *species,
                              const int64_t *start, const int *neigh_atom, const int *neigh_species,
                              const double *dr, double *energy_total, double *energies,
                              double *forces, double *virial, double *dE_dr, int n_threads,
                              int with_ace, acelin_error *e)
{
    acelin_error_clear(e);
    if (!energy_total || !virial || (n_atoms && (!energies || !forces || !start)) ||
        (n_atoms && start[n_atoms] > 0 && !neigh_atom))
        return acelin_error_set(e, ACELIN_ERR_INVALID, -1, -1, "invalid arguments");
    acelin_status st = run(m, n_atoms, species, start, neigh_species, dr, energies, dE_dr,
                           n_threads, with_ace, e);
    if (st) return st;
    double etot = 0.0, v[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < n_atoms; ++i) etot += energies[i];
    memset(forces, 0, (size_t)n_atoms * 3 * sizeof(double));
    for (int i = 0; i < n_atoms; ++i)
        for (int64_t b = start[i]; b < start[i + 1]; ++b) {
            const int j = neigh_atom[b];
            if (j < 0 || j >= n_atoms)
                return acelin_error_set(e, ACELIN_ERR_INVALID, i, b, "atom %d: bond %lld: neighbour atom %d out of range",
                                        i, (long long)b, j);
            const double *g = dE_dr + 3 * b, *d = dr + 3 * b;
            for (int a = 0; a < 3; ++a) { forces[3 * i + a] += g[a]; forces[3 * j + a] -= g[a]; }
            v[0] += d[0] * g[0];
            v[1] += d[1] * g[1];
            v[2] += d[2] * g[2];
            v[3] += 0.5 * (d[1] * g[2] + d[2] * g[1]);
            v[4] += 0.5 * (d[0] * g[2] + d[2] * g[0]);
            v[5] += 0.5 * (d[0] * g[1] + d[1] * g[0]);
        }
    *energy_total = etot;
    memcpy(virial, v, sizeof v);
    return ACELIN_OK;
}

acelin_status acelin_evaluate_ex(const acelin_model *m, int n_atoms, const int *species,
                                 const int64_t *start, const int *neigh_atom, const int *neigh_species,
                                 const double *dr, double *energy_total, double *energies,
                                 double *forces, double *virial, double *dE_dr, int n_threads,
                                 acelin_error *e)
{
    return evaluate(m, n_atoms, species, start, neigh_atom, neigh_species, dr, energy_total,
                    energies, forces, virial, dE_dr, n_threads, 1, e);
}

acelin_status acelin_evaluate(const acelin_model *m, int n_atoms, const int *species,
                              const int64_t *start, const int *neigh_atom, const int *neigh_species,
                              const double *dr, double *energy_total, double *energies,
                              double *forces, double *virial, double *dE_dr, int n_threads,
                              char *err, size_t errlen)
{
    acelin_error e;
    return acelin_error_text(evaluate(m, n_atoms, species, start, neigh_atom, neigh_species, dr,
                                      energy_total, energies, forces, virial, dE_dr, n_threads, 1, &e),
                             &e, err, errlen);
}

acelin_status acelin_evaluate_reference_ex(const acelin_model *m, int n_atoms, const int *species,
                                           const int64_t *start, const int *neigh_atom,
                                           const int *neigh_species, const double *dr,
                                           double *energy_total, double *energies, double *forces,
                                           double *virial, double *dE_dr, acelin_error *e)
{
    return evaluate(m, n_atoms, species, start, neigh_atom, neigh_species, dr, energy_total,
                    energies, forces, virial, dE_dr, 1, 0, e);
}

acelin_status acelin_evaluate_reference(const acelin_model *m, int n_atoms, const int *species,
                                        const int64_t *start, const int *neigh_atom,
                                        const int *neigh_species, const double *dr,
                                        double *energy_total, double *energies, double *forces,
                                        double *virial, double *dE_dr, char *err, size_t errlen)
{
    acelin_error e;
    return acelin_error_text(evaluate(m, n_atoms, species, start, neigh_atom, neigh_species, dr,
                                      energy_total, energies, forces, virial, dE_dr, 1, 0, &e),
                             &e, err, errlen);
}
