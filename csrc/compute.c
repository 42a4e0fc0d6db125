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

/* The products of a group of GROUP atoms of one species run in one vector pass
 * (acelin_products4; the groups: acelin_species_groups). The grouping depends only on the
 * input, and an atom's result is bitwise the same in any group, lane and thread count
 * (tests/test_core_physics.py). */
#define GROUP 4

/* Each thread owns a contiguous range of groups, the same static split in atom order as a
 * caller that builds the bonds and scatters the forces per thread (the LAMMPS adapter), so
 * that every bond's dr and dE/dr stay in the cache of the one core that touches them; a
 * dynamic split sends about half of them between cores every step, which cost up to a
 * quarter of the threaded speed-up (benchmarks/RESULTS.md, "MPI and OpenMP scaling in
 * LAMMPS"). A thread takes its own groups from the front; one that has finished takes
 * groups from the back of the range with most left, so a thread that loses its core for a
 * while (a shared host) is not waited for. A range is one 64-bit word, next and end, on a
 * cache line of its own, changed by compare-and-swap: an owner and a thief cannot take the
 * same group. Without the GCC atomics every thread does its own range. */
typedef struct { int64_t word; char pad[56]; } span_t;

static int64_t span_pack(int64_t next, int64_t end) { return (int64_t)((uint64_t)end << 32 | (uint32_t)next); }
static int span_next(int64_t w) { return (int)(uint32_t)w; }
static int span_end(int64_t w) { return (int)((uint64_t)w >> 32); }

/* the group taken from range sp (its front if front, else its back), or -1 if it is empty */
static int span_take(span_t *sp, int front)
{
#if defined(__GNUC__)
    int64_t old = __atomic_load_n(&sp->word, __ATOMIC_RELAXED);
    for (;;) {
        const int nx = span_next(old), en = span_end(old);
        if (nx >= en) return -1;
        const int64_t nw = front ? span_pack(nx + 1, en) : span_pack(nx, en - 1);
        if (__atomic_compare_exchange_n(&sp->word, &old, nw, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return front ? nx : en - 1;
    }
#else
    if (!front || span_next(sp->word) >= span_end(sp->word)) return -1;
    const int nx = span_next(sp->word);
    sp->word = span_pack(nx + 1, span_end(sp->word));
    return nx;
#endif
}

/* the next group for thread t of nth: its own first, then the back of the fullest range */
static int next_group(span_t *spans, int t, int nth)
{
    int g = span_take(&spans[t], 1);
#if defined(__GNUC__)
    while (g < 0) {
        int victim = -1, most = 0;
        for (int u = 0; u < nth; ++u) {
            const int64_t w = __atomic_load_n(&spans[u].word, __ATOMIC_RELAXED);
            if (span_end(w) - span_next(w) > most) { most = span_end(w) - span_next(w); victim = u; }
        }
        if (victim < 0) return -1;
        g = span_take(&spans[victim], 0);
    }
#else
    (void)nth;
#endif
    return g;
}

static acelin_status run(const acelin_model *m, int n_atoms, const int *species, const int64_t *start,
                         const int *neigh_species, const double *dr, double *energy, double *dE_dr,
                         int n_threads, int with_ace, acelin_error *e)
{
    acelin_error_clear(e);
    acelin_status st = check_block(m, n_atoms, species, start, e);
    if (st || n_atoms == 0) return st;
    const int cap = max_neighbours(n_atoms, start);
    int n_groups = 0;
    int *groups = acelin_species_groups(m, n_atoms, species, GROUP, &n_groups);
    if (!groups) return acelin_error_set(e, ACELIN_ERR_ALLOC, -1, -1, "out of memory (atom groups)");
    const int *g_start = groups, *g_atoms = groups + n_groups + 1;
    acelin_error first; /* lowest failing atom, so the reported error is deterministic */
    acelin_error_clear(&first);
#ifdef _OPENMP
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#else
    int nt = 1;
    (void)n_threads;
#endif
    span_t *spans = acelin_line_alloc((size_t)nt * sizeof(span_t));
    if (!spans) {
        free(groups);
        return acelin_error_set(e, ACELIN_ERR_ALLOC, -1, -1, "out of memory (thread ranges)");
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(nt)
#endif
    {
        acelin_ws *w[GROUP];
        int ok_ws = 1;
        for (int q = 0; q < GROUP; ++q) ok_ws &= (w[q] = acelin_ws_new(m, cap, 0)) != NULL;
        const size_t nA = (size_t)m->n_A;
        double *A4 = acelin_line_alloc(nA * GROUP * sizeof(double));
        double *g4 = acelin_line_alloc(nA * GROUP * sizeof(double));
        double *zeros = calloc(nA ? nA : 1, sizeof(double)); /* the A of an idle lane */
        ok_ws &= A4 && g4 && zeros;
        char msg[200];
#ifdef _OPENMP
        const int t = omp_get_thread_num(), nth = omp_get_num_threads();
#else
        const int t = 0, nth = 1;
#endif
        { /* this thread's range: the split of the LAMMPS adapter's thread_span */
            const int chunk = n_groups / nth, rest = n_groups % nth;
            const int g0 = t * chunk + (t < rest ? t : rest);
            spans[t].word = span_pack(g0, g0 + chunk + (t < rest));
        }
#ifdef _OPENMP
#pragma omp barrier
#endif
        for (int gr; (gr = next_group(spans, t, nth)) >= 0;) {
            const int a0 = g_start[gr], cnt = g_start[gr + 1] - a0;
            const int zc = species[g_atoms[a0]];
            acelin_status s[GROUP];
            int any = 0;
            double ec[GROUP], e_ace[GROUP] = {0.0};
            const double *lane_A[GROUP];
            for (int q = 0; q < GROUP; ++q) {
                ec[q] = 0.0;
                lane_A[q] = zeros;
                s[q] = ACELIN_OK;
                int ace = 0;
                if (q < cnt) {
                    const int i = g_atoms[a0 + q];
                    int64_t bad_bond = -1;
                    int na = 0;
                    s[q] = ACELIN_ERR_ALLOC;
                    if (!ok_ws) strcpy(msg, "out of memory (workspace)");
                    else s[q] = acelin_gather(m, w[q], zc, start[i], start[i + 1], neigh_species, dr, 1, &ec[q],
                                             dE_dr, &na, &bad_bond, msg, sizeof msg);
                    if (s[q] != ACELIN_OK) {
#ifdef _OPENMP
#pragma omp critical(acelin_error)
#endif
                        acelin_first_failure(&first, s[q], i, bad_bond, msg);
                    } else if (with_ace) {
                        acelin_density(m, w[q]);
                        lane_A[q] = w[q]->A;
                        ace = 1;
                    }
                }
                any |= ace;
            }
            if (any) { /* any implies the workspaces */
                double *const lane_g[GROUP] = {w[0]->dEdA, w[1]->dEdA, w[2]->dEdA, w[3]->dEdA};
                acelin_interleave4(m, lane_A, A4, nA);
                acelin_products4(m, A4, g4, zc, e_ace);
                acelin_deinterleave4(m, g4, lane_g, nA);
                for (int q = 0; q < cnt; ++q)
                    if (s[q] == ACELIN_OK) acelin_backprop(m, w[q], dE_dr);
            }
            for (int q = 0; q < cnt; ++q) {
                const int i = g_atoms[a0 + q];
                energy[i] = (with_ace ? m->e0[zc] : 0.0) + ec[q] + (s[q] == ACELIN_OK ? e_ace[q] : 0.0);
            }
        }
        for (int q = 0; q < GROUP; ++q) acelin_ws_free(w[q]);
        free(A4);
        free(g4);
        free(zeros);
    }
    free(spans);
    free(groups);
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
