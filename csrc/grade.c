/* grade.c - per-atom basis vectors and the extrapolation grade (D-optimality, MaxVol).
 *
 * The basis vector of atom i is B_i[k] = value of invariant k at i (k in the centre
 * species' block): the sum over atoms is the energy design row. The grade is
 * gamma_i = max_j |sum_k B_i[k] G_s[k, j]| with G_s = P A^-1 of the species' active set
 * (ace_lin/trust/activeset.py builds it); gamma <= 1 means that B_i, written in the basis
 * of the active set's environments, has no coefficient above 1 in magnitude (interpolation).
 * Each atom writes only its own outputs, so the results do not depend on the thread count.
 * The grade takes blocks of atoms of one species, so that its map is read once per block
 * (invariant_blocks; the product: kernels_impl.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "workspace.h"

/* Atoms per block of the grade and the basis vectors: the grade's map streams from memory
 * once per block (a multiple of the product's tile of four; B and S of a block are
 * GRADE_BLOCK x the species' invariants and map columns per thread, 0.76 MB each for
 * `large`). */
#define GRADE_BLOCK 64

enum { BASIS_VECTORS, GRADE, ATOMIC_BASE };

/* A of one atom in the file layout (block, channel, l+m): a[z*n_nlm + nl_offset + l + m]
 * (0 for a channel no invariant uses: the core does not build it) */
static void atomic_base_of(const acelin_model *m, const double *A, double *out)
{
    for (int z = 0; z < m->n_ablock; ++z)
        for (int ch = 0; ch < m->n_nl; ++ch) {
            const int l = m->nl_l[ch];
            for (int i = 0; i <= 2 * l; ++i)
                out[(size_t)z * m->n_nlm + m->nl_offset[ch] + i] = m->nl_pos[ch] < 0 ? 0.0 :
                    A[(size_t)z * m->n_int + m->loff[l] + i * m->Nl[l] + m->nl_pos[ch]];
        }
}

/* The arguments' checks shared by the per-atom calls; *cap: the most bonds of one atom. */
static acelin_status check_args(const acelin_model *m, int n_atoms, const int *species, const int64_t *start,
                                const int *neigh_species, const double *dr, const double *out, int mode,
                                int64_t *cap, acelin_error *e)
{
    acelin_error_clear(e);
    if (!m || n_atoms < 0 || (n_atoms && (!species || !start || !out)) ||
        (n_atoms && start[n_atoms] > 0 && (!neigh_species || !dr)))
        return acelin_error_set(e, ACELIN_ERR_INVALID, -1, -1, "invalid arguments");
    if (n_atoms && start[0] != 0) return acelin_error_set(e, ACELIN_ERR_INVALID, -1, -1, "neigh_start[0] must be 0");
    *cap = 0;
    for (int i = 0; i < n_atoms; ++i) {
        if (species[i] < 0 || species[i] >= m->ns)
            return acelin_error_set(e, ACELIN_ERR_SPECIES, i, -1, "atom %d: species %d not in the model (0..%d)", i, species[i], m->ns - 1);
        if (start[i + 1] < start[i])
            return acelin_error_set(e, ACELIN_ERR_INVALID, i, -1, "neigh_start not increasing at atom %d", i);
        if (mode == GRADE && m->active_n[species[i]] == 0)
            return acelin_error_set(e, ACELIN_ERR_NO_ACTIVE_SET, i, -1,
                                    "atom %d: the model has no active set for %s, so no extrapolation grade "
                                    "(build one: ace-lin activeset MODEL TRAIN_DATA)", i, m->elements[species[i]]);
        if (start[i + 1] - start[i] > *cap) *cap = start[i + 1] - start[i];
    }
    if (*cap > INT32_MAX) return acelin_error_set(e, ACELIN_ERR_INVALID, -1, -1, "more than 2^31 neighbours of one atom");
    return ACELIN_OK;
}

/* The atomic base A of one atom into w->A, or a failure (msg, *bad_bond) */
static acelin_status atom_base(const acelin_model *m, acelin_ws *w, int zc, int64_t start, int64_t end,
                               const int *neigh_species, const double *dr, int64_t *bad_bond, char *msg,
                               size_t msglen)
{
    int na = 0;
    double ec;
    acelin_status s = acelin_gather(m, w, zc, start, end, neigh_species, dr, 0, &ec, NULL, &na, bad_bond, msg, msglen);
    if (s == ACELIN_OK) acelin_density(m, w);
    return s;
}

/* The invariants of the atoms list[0 .. cnt) of species zc into dst[q][0 .. the species'
 * block), four atoms at a time (acelin_invariants4); ok[q]: atom q's bonds were valid (else
 * its row is zero and the failure is recorded in first). w: four workspaces; A4, B4 and
 * zeros: n_A * 4, (the block's size) * 4 and n_A doubles, spare: as many as a row. */
static void block_invariants(const acelin_model *m, acelin_ws *const w[4], const int *list, int cnt, int zc,
                             const int64_t *start, const int *neigh_species, const double *dr,
                             double *const *dst, int *ok, double *A4, double *B4, const double *zeros,
                             double *spare, acelin_error *first)
{
    const int b0 = m->species_basis_start[zc], b1 = m->species_basis_start[zc + 1];
    char msg[200];
    for (int q0 = 0; q0 < cnt; q0 += 4) {
        const double *lane_A[4];
        double *lane_B[4];
        for (int lane = 0; lane < 4; ++lane) {
            const int q = q0 + lane;
            lane_A[lane] = zeros;
            lane_B[lane] = spare;
            if (q >= cnt) continue;
            const int i = list[q];
            int64_t bad_bond = -1;
            const acelin_status s = atom_base(m, w[lane], zc, start[i], start[i + 1], neigh_species, dr, &bad_bond,
                                              msg, sizeof msg);
            ok[q] = s == ACELIN_OK;
            lane_B[lane] = dst[q];
            if (ok[q]) {
                lane_A[lane] = w[lane]->A;
            } else {
#ifdef _OPENMP
#pragma omp critical(acelin_grade_error)
#endif
                acelin_first_failure(first, s, i, bad_bond, msg);
            }
        }
        acelin_interleave4(m, lane_A, A4, (size_t)m->n_A);
        acelin_invariants4(m, A4, b0, b1, B4);
        acelin_deinterleave4(m, B4, lane_B, (size_t)(b1 - b0)); /* a failed atom's A is zero: so is its row */
    }
}

/* Blocks of GRADE_BLOCK atoms of one species: their invariants (block_invariants), then
 * BASIS_VECTORS: those rows of out [n_atoms][n_basis] (zero elsewhere);
 * GRADE: gamma[i] = out[i] = max_j |(B_i G)_j|, one product with the map per block
 * (acelin_grade_product), NaN for an atom whose bonds fail. */
static acelin_status invariant_blocks(const acelin_model *m, int n_atoms, const int *species, const int64_t *start,
                                      const int *neigh_species, const double *dr, double *out, int mode,
                                      int n_threads, acelin_error *e)
{
    int64_t cap = 0;
    acelin_status st = check_args(m, n_atoms, species, start, neigh_species, dr, out, mode, &cap, e);
    if (st || n_atoms == 0) return st;
    const int grade = mode == GRADE;
    if (!grade) memset(out, 0, (size_t)n_atoms * m->n_basis * sizeof(double));
    int widest = 0, r_max = 0;
    for (int s = 0; s < m->ns; ++s) {
        if (m->species_basis_start[s + 1] - m->species_basis_start[s] > widest)
            widest = m->species_basis_start[s + 1] - m->species_basis_start[s];
        if (m->active_n[s] > r_max) r_max = m->active_n[s];
    }
    int n_groups = 0;
    int *groups = acelin_species_groups(m, n_atoms, species, GRADE_BLOCK, &n_groups);
    if (!groups) return acelin_error_set(e, ACELIN_ERR_ALLOC, -1, -1, "out of memory (atom groups)");
    const int *g_start = groups, *g_atoms = groups + n_groups + 1;
    acelin_error first;
    acelin_error_clear(&first);
#ifdef _OPENMP
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
#else
    (void)n_threads;
#endif
    {
        const size_t ldb = (size_t)(widest ? widest : 1), lds = (size_t)(r_max ? r_max : 1);
        const size_t nA = (size_t)(m->n_A ? m->n_A : 1);
        acelin_ws *w[4];
        int ready = 1;
        for (int q = 0; q < 4; ++q) ready &= (w[q] = acelin_ws_new(m, (int)cap, 0)) != NULL;
        double *B = grade ? acelin_line_alloc(GRADE_BLOCK * ldb * sizeof(double)) : NULL;
        double *S = grade ? acelin_line_alloc(GRADE_BLOCK * lds * sizeof(double)) : NULL;
        double *A4 = acelin_line_alloc(4 * nA * sizeof(double)), *B4 = acelin_line_alloc(4 * ldb * sizeof(double));
        double *zeros = calloc(nA, sizeof(double)), *spare = malloc(ldb * sizeof(double));
        ready &= (!grade || (B && S)) && A4 && B4 && zeros && spare;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (int g = 0; g < n_groups; ++g) {
            const int a0 = g_start[g], cnt = g_start[g + 1] - a0, zc = species[g_atoms[a0]];
            const int *list = g_atoms + a0;
            if (!ready) {
                if (grade)
                    for (int q = 0; q < cnt; ++q) out[list[q]] = NAN;
#ifdef _OPENMP
#pragma omp critical(acelin_grade_error)
#endif
                acelin_first_failure(&first, ACELIN_ERR_ALLOC, list[0], -1, "out of memory (workspace)");
                continue;
            }
            double *dst[GRADE_BLOCK]; /* each atom's row: of the block's B, or of out */
            for (int q = 0; q < cnt; ++q)
                dst[q] = grade ? B + q * ldb : out + (size_t)list[q] * m->n_basis + m->species_basis_start[zc];
            int ok[GRADE_BLOCK];
            block_invariants(m, w, list, cnt, zc, start, neigh_species, dr, dst, ok, A4, B4, zeros, spare, &first);
            if (!grade) continue;
            const int rows = m->species_basis_start[zc + 1] - m->species_basis_start[zc], r = m->active_n[zc];
            acelin_grade_product(m, B, ldb, cnt, rows, m->active_map + m->active_off[zc], r, S, lds);
            for (int q = 0; q < cnt; ++q) {
                double worst = 0.0;
                for (int j = 0; j < r; ++j)
                    if (fabs(S[q * lds + j]) > worst) worst = fabs(S[q * lds + j]);
                out[list[q]] = ok[q] ? worst : NAN;
            }
        }
        free(B); free(S); free(A4); free(B4); free(zeros); free(spare);
        for (int q = 0; q < 4; ++q) acelin_ws_free(w[q]);
    }
    free(groups);
    return acelin_report_first(&first, e);
}

/* out [n_atoms][n_ablock * n_nlm]: each atom's atomic base in the file layout (zero for an
 * atom whose bonds fail) */
static acelin_status atomic_bases(const acelin_model *m, int n_atoms, const int *species, const int64_t *start,
                                  const int *neigh_species, const double *dr, double *out, int n_threads,
                                  acelin_error *e)
{
    int64_t cap = 0;
    acelin_status st = check_args(m, n_atoms, species, start, neigh_species, dr, out, ATOMIC_BASE, &cap, e);
    if (st) return st;
    acelin_error first;
    acelin_error_clear(&first);
#ifdef _OPENMP
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
#pragma omp parallel num_threads(nt)
#else
    (void)n_threads;
#endif
    {
        acelin_ws *w = acelin_ws_new(m, (int)cap, 0);
        char msg[200];
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 8)
#endif
        for (int i = 0; i < n_atoms; ++i) {
            int64_t bad_bond = -1;
            acelin_status s = ACELIN_ERR_ALLOC;
            strcpy(msg, "out of memory (workspace)");
            if (w) s = atom_base(m, w, species[i], start[i], start[i + 1], neigh_species, dr, &bad_bond, msg, sizeof msg);
            double *a = out + (size_t)i * m->n_ablock * m->n_nlm;
            if (s == ACELIN_OK) {
                atomic_base_of(m, w->A, a);
            } else {
                memset(a, 0, (size_t)m->n_ablock * m->n_nlm * sizeof(double));
#ifdef _OPENMP
#pragma omp critical(acelin_grade_error)
#endif
                acelin_first_failure(&first, s, i, bad_bond, msg);
            }
        }
        acelin_ws_free(w);
    }
    return acelin_report_first(&first, e);
}

acelin_status acelin_basis_vectors_ex(const acelin_model *m, int n_atoms, const int *species,
                                      const int64_t *start, const int *neigh_species, const double *dr,
                                      double *b, int n_threads, acelin_error *e)
{
    return invariant_blocks(m, n_atoms, species, start, neigh_species, dr, b, BASIS_VECTORS, n_threads, e);
}

acelin_status acelin_basis_vectors(const acelin_model *m, int n_atoms, const int *species,
                                   const int64_t *start, const int *neigh_species, const double *dr,
                                   double *b, int n_threads, char *err, size_t errlen)
{
    acelin_error e;
    return acelin_error_text(invariant_blocks(m, n_atoms, species, start, neigh_species, dr, b, BASIS_VECTORS,
                                              n_threads, &e), &e, err, errlen);
}

acelin_status acelin_grade_ex(const acelin_model *m, int n_atoms, const int *species,
                              const int64_t *start, const int *neigh_species, const double *dr,
                              double *gamma, int n_threads, acelin_error *e)
{
    return invariant_blocks(m, n_atoms, species, start, neigh_species, dr, gamma, GRADE, n_threads, e);
}

acelin_status acelin_grade(const acelin_model *m, int n_atoms, const int *species,
                           const int64_t *start, const int *neigh_species, const double *dr,
                           double *gamma, int n_threads, char *err, size_t errlen)
{
    acelin_error e;
    return acelin_error_text(invariant_blocks(m, n_atoms, species, start, neigh_species, dr, gamma, GRADE, n_threads,
                                              &e), &e, err, errlen);
}

int acelin_model_atomic_base_size(const acelin_model *m) { return m ? m->n_ablock * m->n_nlm : 0; }

acelin_status acelin_atomic_base_ex(const acelin_model *m, int n_atoms, const int *species,
                                    const int64_t *start, const int *neigh_species, const double *dr,
                                    double *a, int n_threads, acelin_error *e)
{
    return atomic_bases(m, n_atoms, species, start, neigh_species, dr, a, n_threads, e);
}
