/* profile_force.c - stage timing of the C core's force call (benchmarks/profile_force.py
 * compiles and runs this; not part of the library).
 *
 * Input (binary, little endian, written by profile_force.py): int32 n_atoms, double cell[9],
 * int32 pbc[3], double positions[3n], int32 species[n]. Arguments: MODEL.json INPUT REPEATS.
 *
 * Per repeat, for every atom, in the order of the library's own force call (compute.c):
 * gather (bond checks, core term, radial functions, harmonics), density (A), products and
 * their adjoint (dE/dA), back-propagation to per-bond gradients; then the force/virial
 * scatter of acelin_evaluate. The products stage is timed as the library runs it, four
 * atoms per call (acelin_products4), in a pass of its own over the atoms' saved A. The
 * radial functions and the harmonics are timed a second time alone over the same
 * neighbours (into scratch) to split the gather. Neighbour-list
 * build (C cell list) and the untimed library call (acelin_compute: gather to backprop) are
 * timed too, so the timer overhead shows. Output: one "key seconds" line per stage, medians over the repeats.
 */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workspace.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#define N_STAGE 9
static const char *NAMES[N_STAGE] = {"neighbour_list", "gather", "radial", "harmonics", "density",
                                     "products", "backprop", "scatter", "library_call"};

static void die(const char *msg) { fprintf(stderr, "profile_force: %s\n", msg); exit(1); }

int main(int argc, char **argv)
{
    if (argc != 4) die("usage: profile_force MODEL.json INPUT REPEATS");
    char err[512];
    acelin_model *m = NULL;
    if (acelin_model_load(argv[1], &m, err, sizeof err)) die(err);
    FILE *fh = fopen(argv[2], "rb");
    if (!fh) die("cannot open the input");
    int n, pbc[3];
    double cell[9];
    if (fread(&n, sizeof n, 1, fh) != 1 || fread(cell, sizeof(double), 9, fh) != 9 ||
        fread(pbc, sizeof(int), 3, fh) != 3) die("short input");
    double *pos = malloc((size_t)n * 3 * sizeof(double));
    int *species = malloc((size_t)n * sizeof(int));
    if (fread(pos, sizeof(double), 3 * (size_t)n, fh) != 3 * (size_t)n ||
        fread(species, sizeof(int), n, fh) != (size_t)n) die("short input");
    fclose(fh);
    const int repeats = atoi(argv[3]);
    double *t[N_STAGE];
    for (int s = 0; s < N_STAGE; ++s) t[s] = calloc(repeats, sizeof(double));

    acelin_neighbours *nl = NULL;
    double *E = malloc((size_t)n * sizeof(double)), *F = malloc((size_t)n * 3 * sizeof(double));
    size_t n_active_total = 0;
    for (int rep = -1; rep < repeats; ++rep) { /* rep -1: warm-up */
        double a = now();
        if (nl) acelin_neighbours_free(nl);
        if (acelin_neighbours_build(n, pos, cell, pbc, acelin_model_max_cutoff(m), &nl, err, sizeof err)) die(err);
        const double t_nl = now() - a;
        const int64_t nb = nl->n_bonds;
        int *nsp = malloc((size_t)(nb ? nb : 1) * sizeof(int));
        double *g = malloc((size_t)(nb ? nb : 1) * 3 * sizeof(double));
        for (int64_t b = 0; b < nb; ++b) nsp[b] = species[nl->j[b]];
        int cap = 1;
        for (int i = 0; i < n; ++i)
            if (nl->start[i + 1] - nl->start[i] > cap) cap = (int)(nl->start[i + 1] - nl->start[i]);
        acelin_ws *w = acelin_ws_new(m, cap, 0);
        /* every atom's A, for the products of four atoms at once (as acelin_compute runs them) */
        double *Aall = malloc((size_t)n * m->n_A * sizeof(double));
        double *A4 = calloc((size_t)m->n_A * 4, sizeof(double)), *g4 = malloc((size_t)m->n_A * 4 * sizeof(double));
        if (!w || !Aall || !A4 || !g4) die("out of memory");
        double st[N_STAGE] = {0};
        st[0] = t_nl;
        n_active_total = 0;
        for (int i = 0; i < n; ++i) {
            int na;
            int64_t bad;
            double ec;
            double t0 = now();
            if (acelin_gather(m, w, species[i], nl->start[i], nl->start[i + 1], nsp, nl->dr, 1, &ec, g,
                              &na, &bad, err, sizeof err)) die(err);
            double t1 = now();
            acelin_density(m, w);
            double t2 = now();
            memcpy(Aall + (size_t)i * m->n_A, w->A, (size_t)m->n_A * sizeof(double));
            for (int a = 0; a < m->n_A; ++a) A4[4 * a] = w->A[a]; /* lane 0 (the others 0) */
            double e4[4];
            acelin_products4(m, A4, g4, species[i], e4);
            for (int a = 0; a < m->n_A; ++a) w->dEdA[a] = g4[4 * a];
            const double e = e4[0];
            double t3 = now();
            acelin_backprop(m, w, g);
            double t4 = now();
            E[i] = m->e0[species[i]] + ec + e;
            /* the same neighbours' radial functions, then harmonics, alone (the same values again) */
            acelin_radial_batch(m, w, m->chan ? w->Rb : w->R, m->chan ? w->dRb : w->dR);
            double t5 = now();
            acelin_harmonics(m, w);
            double t6 = now();
            st[1] += t1 - t0; st[4] += t2 - t1; st[5] += t3 - t2; st[6] += t4 - t3;
            st[2] += t5 - t4; st[3] += t6 - t5;
            n_active_total += na;
        }
        /* the products as acelin_compute runs them: four atoms of one species per call (this
           one-element cell: consecutive atoms), with the copies in and out of the lanes */
        double tp = now();
        for (int i0 = 0; i0 < n; i0 += 4) {
            const int c = n - i0 < 4 ? n - i0 : 4;
            for (int a = 0; a < m->n_A; ++a)
                for (int q = 0; q < 4; ++q) A4[4 * a + q] = q < c ? Aall[(size_t)(i0 + q) * m->n_A + a] : 0.0;
            double e4[4];
            acelin_products4(m, A4, g4, species[i0], e4);
            for (int q = 0; q < c; ++q)
                for (int a = 0; a < m->n_A; ++a) w->dEdA[a] = g4[4 * a + q];
        }
        st[5] = now() - tp;
        /* force/virial scatter as in acelin_evaluate (compute.c) */
        double t0 = now();
        double v[6] = {0, 0, 0, 0, 0, 0};
        memset(F, 0, (size_t)n * 3 * sizeof(double));
        for (int i = 0; i < n; ++i)
            for (int64_t b = nl->start[i]; b < nl->start[i + 1]; ++b) {
                const int j = nl->j[b];
                const double *gb = g + 3 * b, *d = nl->dr + 3 * b;
                for (int k = 0; k < 3; ++k) { F[3 * i + k] += gb[k]; F[3 * j + k] -= gb[k]; }
                v[0] += d[0] * gb[0]; v[1] += d[1] * gb[1]; v[2] += d[2] * gb[2];
                v[3] += 0.5 * (d[1] * gb[2] + d[2] * gb[1]);
                v[4] += 0.5 * (d[0] * gb[2] + d[2] * gb[0]);
                v[5] += 0.5 * (d[0] * gb[1] + d[1] * gb[0]);
            }
        st[7] = now() - t0;
        t0 = now();
        if (acelin_compute(m, n, species, nl->start, nsp, nl->dr, E, g, 1, err, sizeof err)) die(err);
        st[8] = now() - t0;
        if (rep >= 0)
            for (int s = 0; s < N_STAGE; ++s) t[s][rep] = st[s];
        acelin_ws_free(w);
        free(nsp); free(g); free(Aall); free(A4); free(g4);
    }
    printf("atoms %d\nbonds %lld\nactive_neighbours %zu\nn_basis %d\n", n, (long long)nl->n_bonds,
           n_active_total, acelin_model_n_basis(m));
    for (int s = 0; s < N_STAGE; ++s) printf("%s %.9g\n", NAMES[s], median(t[s], repeats));
    acelin_neighbours_free(nl);
    acelin_model_free(m);
    return 0;
}
