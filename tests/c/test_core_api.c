/* Unit tests of the core's C API on a tiny hand-made model (tests/test_c_units.py builds
 * and runs this with the core sources). Exit status 0 when every check passes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "acelin.h"

static int failures = 0;

#define CHECK(cond) do { if (!(cond)) { ++failures; \
    fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

/* One species (Si), radial functions n = 1, 2 with l = 0 only; invariants
 * B0 = A_1, B1 = A_2, B2 = A_1 A_2 (factor index = channel). */
typedef struct {
    const char *el[1];
    int Z[1], nl_n[2], nl_l[2], sp[3], nu[3], factors[3 * ACELIN_NU_MAX];
    double e0[1], rc[1], ri[1], rco[1], rs[1], coupling[3], coef[3];
    int64_t ts[4];
    acelin_tables t;
} tiny;

static void tiny_tables(tiny *m)
{
    static const int f[3 * ACELIN_NU_MAX] = {0, -1, -1, -1, -1, 1, -1, -1, -1, -1, 0, 1, -1, -1, -1};
    memset(m, 0, sizeof *m);
    m->el[0] = "Si";
    m->Z[0] = 14;
    m->e0[0] = -0.5;
    m->rc[0] = 4.0;
    m->ri[0] = 0.5;
    m->rco[0] = 0.0;
    m->rs[0] = 2.0;
    m->nl_n[0] = 1; m->nl_n[1] = 2;
    m->nl_l[0] = 0; m->nl_l[1] = 0;
    for (int b = 0; b < 3; ++b) { m->sp[b] = 0; m->nu[b] = b < 2 ? 1 : 2; m->ts[b] = b; m->coupling[b] = 1.0; }
    m->ts[3] = 3;
    m->coef[0] = 0.3; m->coef[1] = -0.2; m->coef[2] = 0.1;
    memcpy(m->factors, f, sizeof f);
    acelin_tables *t = &m->t;
    t->n_species = 1;
    t->elements = m->el;
    t->atomic_numbers = m->Z;
    t->e0 = m->e0;
    t->r_cut = m->rc;
    t->r_in = m->ri;
    t->r_core = m->rco;
    t->r_scale = m->rs;
    t->transform_power = 2;
    t->n_radial = 2;
    t->lmax = 0;
    t->n_nl = 2;
    t->nl_n = m->nl_n;
    t->nl_l = m->nl_l;
    t->n_basis = 3;
    t->basis_species = m->sp;
    t->basis_nu = m->nu;
    t->basis_term_start = m->ts;
    t->n_terms = 3;
    t->term_coupling = m->coupling;
    t->term_factors = m->factors;
    t->coefficients = m->coef;
}

/* A chain of n atoms, each bonded to its two ring neighbours at 2.1 A. */
enum { N_ATOMS = 6, N_BONDS = 2 * N_ATOMS };
typedef struct {
    int species[N_ATOMS], neigh_atom[N_BONDS], neigh_species[N_BONDS];
    int64_t start[N_ATOMS + 1];
    double dr[3 * N_BONDS];
} ring;

static void ring_bonds(ring *r)
{
    for (int i = 0; i < N_ATOMS; ++i) {
        r->species[i] = 0;
        r->start[i] = 2 * i;
        for (int k = 0; k < 2; ++k) {
            const int b = 2 * i + k;
            r->neigh_atom[b] = (i + (k ? N_ATOMS - 1 : 1)) % N_ATOMS;
            r->neigh_species[b] = 0;
            r->dr[3 * b] = k ? -2.1 : 2.1;
            r->dr[3 * b + 1] = 0.05 * i;
            r->dr[3 * b + 2] = 0.0;
        }
    }
    r->start[N_ATOMS] = N_BONDS;
}

static void test_errors_as_data(const acelin_model *model)
{
    ring r;
    ring_bonds(&r);
    double energy[N_ATOMS], dE[3 * N_BONDS];
    acelin_error e;
    memset(&e, 0x5a, sizeof e); /* must be overwritten on success too */
    CHECK(acelin_compute_ex(model, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, energy, dE, 1, &e) == ACELIN_OK);
    CHECK(e.status == ACELIN_OK && e.atom == -1 && e.bond == -1 && e.message[0] == '\0');

    /* NaN in the second bond of atom 3 (bond 7), and a bad neighbour species at atom 4 */
    r.dr[3 * 7 + 1] = NAN;
    r.neigh_species[9] = 5;
    for (int nt = 1; nt <= 4; nt *= 2) {
        acelin_status st = acelin_compute_ex(model, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, energy, dE, nt, &e);
        CHECK(st == ACELIN_ERR_NONFINITE && e.status == st);
        CHECK(e.atom == 3 && e.bond == 7); /* the lowest failing atom, whatever the threads */
        CHECK(strncmp(e.message, "atom 3: bond 7:", 15) == 0);
        char text[256];
        st = acelin_compute(model, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, energy, dE, nt, text, sizeof text);
        CHECK(st == ACELIN_ERR_NONFINITE && strcmp(text, e.message) == 0);
    }
    r.dr[3 * 7 + 1] = 0.0;
    double etot, energies[N_ATOMS], forces[3 * N_ATOMS], virial[6];
    CHECK(acelin_evaluate_ex(model, N_ATOMS, r.species, r.start, r.neigh_atom, r.neigh_species, r.dr, &etot,
                             energies, forces, virial, dE, 2, &e) == ACELIN_ERR_SPECIES);
    CHECK(e.atom == 4 && e.bond == 9);
    r.neigh_species[9] = 0;

    /* overlapping atoms; a neighbour atom index out of range (a bond-level argument error) */
    r.dr[3 * 2] = r.dr[3 * 2 + 1] = 0.0;
    double erow[3], frows[3 * 3 * N_ATOMS], vrows[6 * 3];
    CHECK(acelin_design_ex(model, N_ATOMS, r.species, r.start, r.neigh_atom, r.neigh_species, r.dr, erow, frows,
                           vrows, 2, &e) == ACELIN_ERR_INVALID);
    CHECK(e.atom == 1 && e.bond == 2 && strstr(e.message, "same position") != NULL);
    ring_bonds(&r);
    r.neigh_atom[5] = N_ATOMS;
    CHECK(acelin_evaluate_ex(model, N_ATOMS, r.species, r.start, r.neigh_atom, r.neigh_species, r.dr, &etot,
                             energies, forces, virial, dE, 1, &e) == ACELIN_ERR_INVALID);
    CHECK(e.atom == 2 && e.bond == 5);
    /* a centre species outside the model: an atom, no bond */
    ring_bonds(&r);
    r.species[5] = 1;
    CHECK(acelin_compute_ex(model, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, energy, dE, 1, &e) == ACELIN_ERR_SPECIES);
    CHECK(e.atom == 5 && e.bond == -1);
    /* NULL error pointer is allowed */
    CHECK(acelin_compute_ex(model, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, energy, dE, 1, NULL) == ACELIN_ERR_SPECIES);
}

static void test_grade(tiny *tm)
{
    /* G: 3 invariants x 2 columns */
    static const double G[6] = {0.5, -1.0, 2.0, 0.25, -0.75, 1.5};
    const int active_n[1] = {2};
    const double *active_map[1] = {G};
    char err[256];
    acelin_model *plain = NULL, *graded = NULL;
    CHECK(acelin_model_create(&tm->t, &plain, err, sizeof err) == ACELIN_OK);
    tm->t.active_n = active_n;
    tm->t.active_map = active_map;
    CHECK(acelin_model_create(&tm->t, &graded, err, sizeof err) == ACELIN_OK);
    if (!plain || !graded) return;
    CHECK(acelin_model_has_grade(graded, 0) == 1 && acelin_model_has_grade(plain, 0) == 0);
    CHECK(acelin_model_has_grade(graded, 1) == 0 && acelin_model_has_grade(graded, -1) == 0);

    ring r;
    ring_bonds(&r);
    double b[N_ATOMS * 3], gamma[N_ATOMS], gamma4[N_ATOMS], erow[3], frows[3 * 3 * N_ATOMS], vrows[18];
    CHECK(acelin_basis_vectors(graded, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, b, 1, err, sizeof err) == ACELIN_OK);
    CHECK(acelin_design(graded, N_ATOMS, r.species, r.start, r.neigh_atom, r.neigh_species, r.dr, erow, frows, vrows, 1,
                        err, sizeof err) == ACELIN_OK);
    for (int k = 0; k < 3; ++k) {
        double sum = 0.0;
        for (int i = 0; i < N_ATOMS; ++i) sum += b[3 * i + k];
        CHECK(fabs(sum - erow[k]) <= 1e-13 * (1.0 + fabs(erow[k])));
        CHECK(fabs(b[k]) > 1e-6);
    }
    for (int i = 0; i < N_ATOMS; ++i) /* the third invariant is the product of the first two */
        CHECK(fabs(b[3 * i + 2] - b[3 * i] * b[3 * i + 1]) <= 1e-14 * (1.0 + fabs(b[3 * i + 2])));
    CHECK(acelin_grade(graded, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, gamma, 1, err, sizeof err) == ACELIN_OK);
    CHECK(acelin_grade(graded, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, gamma4, 4, err, sizeof err) == ACELIN_OK);
    for (int i = 0; i < N_ATOMS; ++i) {
        double worst = 0.0;
        for (int j = 0; j < 2; ++j) {
            double v = 0.0;
            for (int k = 0; k < 3; ++k) v += b[3 * i + k] * G[2 * k + j];
            if (fabs(v) > worst) worst = fabs(v);
        }
        CHECK(fabs(gamma[i] - worst) <= 1e-14 * worst && worst > 0.0);
        CHECK(gamma[i] == gamma4[i]);
    }
    /* no active set: a clear error naming the first atom */
    acelin_error e;
    CHECK(acelin_grade_ex(plain, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, gamma, 2, &e) == ACELIN_ERR_NO_ACTIVE_SET);
    CHECK(e.atom == 0 && e.bond == -1 && strstr(e.message, "no active set for Si") != NULL);
    /* a bad bond in the grade: atom and bond as data */
    r.dr[3 * 9] = INFINITY;
    CHECK(acelin_grade_ex(graded, N_ATOMS, r.species, r.start, r.neigh_species, r.dr, gamma, 2, &e) == ACELIN_ERR_NONFINITE);
    CHECK(e.atom == 4 && e.bond == 9);
    /* bad maps are refused */
    acelin_model *bad = NULL;
    const double nan_map[6] = {0, 0, NAN, 0, 0, 0};
    active_map[0] = nan_map;
    CHECK(acelin_model_create(&tm->t, &bad, err, sizeof err) == ACELIN_ERR_NONFINITE && bad == NULL);
    const int negative[1] = {-1};
    tm->t.active_n = negative;
    CHECK(acelin_model_create(&tm->t, &bad, err, sizeof err) == ACELIN_ERR_INVALID && bad == NULL);
    tm->t.active_n = NULL;
    tm->t.active_map = NULL;
    acelin_model_free(plain);
    acelin_model_free(graded);
}

int main(void)
{
    tiny tm;
    tiny_tables(&tm);
    char err[256];
    acelin_model *model = NULL;
    CHECK(acelin_model_create(&tm.t, &model, err, sizeof err) == ACELIN_OK);
    if (!model) { fprintf(stderr, "cannot create the tiny model: %s\n", err); return 1; }
    test_errors_as_data(model);
    acelin_model_free(model);
    test_grade(&tm);
    if (failures) { fprintf(stderr, "%d checks failed\n", failures); return 1; }
    printf("all checks passed\n");
    return 0;
}
