/* acelin.h - the one public header of the ace_lin C core.
 *
 * Flat C API: plain pointers and sizes, no Python, no globals, no printing.
 * Units: energies in eV, lengths in Angstrom, forces in eV/Angstrom.
 * Every function that can fail returns an acelin_status and, when err != NULL,
 * writes a human-readable message (at most errlen bytes, NUL-terminated). The per-atom
 * calls also come as *_ex variants that fill an acelin_error instead: the same message
 * plus the failing atom and bond as numbers, for callers that act on them.
 */
#ifndef ACELIN_H
#define ACELIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ACELIN_API_VERSION 5 /* 3: acelin_error and the *_ex calls; 4: the extrapolation grade;
                                5: contracted radial channels (acelin_tables.radial_weights) */
#define ACELIN_FORMAT_VERSION 4 /* model-file format version this core reads (and 1 to 3) */
#define ACELIN_NU_MAX 5         /* largest correlation order (body order 6) */

typedef enum {
    ACELIN_OK = 0,
    ACELIN_ERR_ALLOC = 1,     /* out of memory */
    ACELIN_ERR_INVALID = 2,   /* inconsistent arguments or tables */
    ACELIN_ERR_SPECIES = 3,   /* species index outside the model */
    ACELIN_ERR_IO = 4,        /* file missing or unreadable */
    ACELIN_ERR_FORMAT = 5,    /* model file malformed (not JSON, missing key, bad shape) */
    ACELIN_ERR_CHECKSUM = 6,  /* model file content does not match its sha256 */
    ACELIN_ERR_VERSION = 7,   /* model file format_version newer than this core */
    ACELIN_ERR_NONFINITE = 8, /* NaN or Inf in the input */
    ACELIN_ERR_NO_ACTIVE_SET = 9 /* a grade was asked for a species without an active set */
} acelin_status;

/* Where a per-atom call failed. With several failing atoms the lowest index is reported,
 * whatever the thread count. Always written by the *_ex calls (status ACELIN_OK, atom and
 * bond -1, empty message on success). */
typedef struct acelin_error {
    acelin_status status;
    int atom;          /* failing centre atom: index into the call's species[], or -1 */
    int64_t bond;      /* failing bond: index into neigh_species[] and dr[] (global, not per
                          atom), or -1 when the failure is not one bond's */
    char message[256]; /* one line, the text the variant without _ex writes to err */
} acelin_error;

/* Everything the evaluator needs, as flat arrays (the "tables" of a model file).
 * ns = n_species; pair arrays are [ns*ns], row-major [centre*ns + neighbour]. */
typedef struct {
    int n_species;
    const char *const *elements;    /* [ns]  chemical symbols, e.g. "Si" */
    const int *atomic_numbers;      /* [ns]  Z, used by the ZBL core repulsion */
    const double *e0;               /* [ns]  one-body reference energy, eV */
    const double *r_cut;            /* [ns*ns] outer cutoff, A */
    const double *r_in;             /* [ns*ns] inner end of the ACE radial basis, A */
    const double *r_core;           /* [ns*ns] ZBL core fully off beyond this, A (<=0: no core) */
    const double *r_scale;          /* [ns*ns] length scale of the distance transform, A */
    int transform_power;            /* p in t(r) = (1 + r/r_scale)^(-p) */
    int n_radial;                   /* radial functions n = 1..n_radial */
    int lmax;                       /* largest l of the spherical harmonics used */
    int n_nl;                       /* one-particle (n, l) channels used by the basis */
    const int *nl_n;                /* [n_nl] n (1-based) */
    const int *nl_l;                /* [n_nl] l */
    int n_basis;                    /* invariants B, all centre species together */
    const int *basis_species;       /* [n_basis] centre species of each invariant */
    const int *basis_nu;            /* [n_basis] correlation order */
    const int64_t *basis_term_start;/* [n_basis+1] range into the term arrays */
    int64_t n_terms;
    const double *term_coupling;    /* [n_terms] coupling coefficient of one product of A's */
    const int *term_factors;        /* [n_terms*ACELIN_NU_MAX] atomic-base indices, -1 padded;
                                       index = (species_j * n_nlm) + nlm, nlm = nl_offset[nl] + l + m
                                       (nlm alone with radial_weights, below) */
    const double *coefficients;     /* [n_basis] linear coefficients, eV */
    /* optional long-range channel: a second radial set with its own cutoff and scale
       (same r_in and transform power); its functions have the one-particle index
       n = n_radial+1 .. n_radial+n_radial_long. 0: none, and the two arrays may be NULL */
    int n_radial_long;
    const double *r_cut_long;       /* [ns*ns] outer cutoff of the long-range channel, A */
    const double *r_scale_long;     /* [ns*ns] its distance-transform scale, A */
    /* optional extrapolation grade (the model file's "active_set"): for species s,
       active_n[s] = r_s columns of its map (0: no grade for s) and active_map[s] the
       m_s x r_s matrix G, row-major, m_s = invariants with basis_species s in increasing
       basis index; grade gamma_i = max_j |sum_k B_i[k] G[k, j]|. active_n NULL: none. */
    const int *active_n;            /* [ns] */
    const double *const *active_map;/* [ns], entries may be NULL where active_n[s] = 0 */
    /* optional contracted radial channels (model-file format 4, tables.radial_weights);
       NULL: the species-resolved channels described above. Otherwise every one-particle
       channel (n, l) of nl_n/nl_l is a radial function of its own for each species pair,
       a fixed combination of that pair's base functions,
           g^{zi zj}_{nl}(r) = sum_k W[zi*ns + zj][nl][k] R_k(r),
       k = 0..n_radial-1 the short base, n_radial..n_radial+n_radial_long-1 the long-range
       base; n is then only a label (>= 1, distinct per l). Neighbours of every species add
       to one shared atomic base (the species enter through W), so term factor indices
       are nlm alone (no species part). A channel with a non-zero long-base weight for any
       pair is a long-range one (invariants must not mix the two kinds, as above). */
    const double *radial_weights;   /* [ns*ns * n_nl * (n_radial + n_radial_long)] */
} acelin_tables;

typedef struct acelin_model acelin_model; /* immutable after creation; share between threads */

acelin_status acelin_model_create(const acelin_tables *tables, acelin_model **out,
                                  char *err, size_t errlen);
/* Read the JSON model file written by ace_lin (checks format, version, sha256). */
acelin_status acelin_model_load(const char *path, acelin_model **out, char *err, size_t errlen);
void acelin_model_free(acelin_model *model);

int acelin_model_n_species(const acelin_model *model);
int acelin_model_n_basis(const acelin_model *model);
const char *acelin_model_element(const acelin_model *model, int species); /* NULL if unknown */
int acelin_model_species_index(const acelin_model *model, const char *element); /* -1 if absent */
/* doubles per vector of the kernels this model runs: 4 with the AVX2 and FMA kernels (chosen
 * at creation on CPUs that have them; ACE_LIN_KERNELS=portable in the environment keeps the
 * build's own), else the build's width. Results of the two agree to round-off. */
int acelin_model_kernel_width(const acelin_model *model);
/* the pair's interaction range, A: the larger of the ACE cutoff and the long-range channel's */
double acelin_model_cutoff(const acelin_model *model, int centre, int neighbour);
double acelin_model_max_cutoff(const acelin_model *model);

/* Energies and forces for a block of centre atoms, OpenMP over the atoms.
 * Neighbours in CSR form: the bonds of atom i are neigh_start[i] .. neigh_start[i+1]-1,
 * dr[3*b] = r_j - r_i (A), neigh_species[b] = species of j. Bonds longer than the
 * pair cutoff are allowed and ignored.
 * Out: energy[i] (eV, includes E0 and half of the core pair energy),
 *      dE_dr[3*b] = dE_i/d(dr_b) (eV/A); the caller scatters: f_i += dE_dr, f_j -= dE_dr.
 * n_threads <= 0 means the OpenMP default. Results do not depend on n_threads. */
acelin_status acelin_compute(const acelin_model *model, int n_atoms, const int *species,
                             const int64_t *neigh_start, const int *neigh_species,
                             const double *dr, double *energy, double *dE_dr,
                             int n_threads, char *err, size_t errlen);

/* Whole-configuration evaluation: acelin_compute plus the scatter of the per-bond
 * gradients, in bond order (deterministic). neigh_atom[b] = real atom behind bond b.
 * Out: *energy_total (eV), energies [n_atoms] (eV), forces [n_atoms*3] (eV/A),
 *      virial [6] = sum_b dr_b (x) dE/d dr_b, symmetrized, Voigt xx yy zz yz xz xy (eV);
 *      ASE stress = virial / volume. dE_dr [n_bonds*3] is caller-provided scratch. */
acelin_status acelin_evaluate(const acelin_model *model, int n_atoms, const int *species,
                              const int64_t *neigh_start, const int *neigh_atom,
                              const int *neigh_species, const double *dr, double *energy_total,
                              double *energies, double *forces, double *virial, double *dE_dr,
                              int n_threads, char *err, size_t errlen);

/* Design-matrix rows of one configuration (the derivatives w.r.t. the coefficients).
 * neigh_atom[b] = index (0..n_atoms-1) of the real atom behind bond b (periodic images folded).
 * Out (all overwritten, no E0 and no core term):
 *   energy_row[n_basis]            dE/dc
 *   force_rows[n_atoms*3*n_basis]  dF_(i,alpha)/dc, layout [i][alpha][basis]
 *   virial_rows[6*n_basis]         d(sum_b dr_b,alpha dE/d dr_b,beta)/dc in Voigt order
 *                                  xx yy zz yz xz xy (ASE stress = virial / volume) */
acelin_status acelin_design(const acelin_model *model, int n_atoms, const int *species,
                            const int64_t *neigh_start, const int *neigh_atom,
                            const int *neigh_species, const double *dr,
                            double *energy_row, double *force_rows, double *virial_rows,
                            int n_threads, char *err, size_t errlen);

/* The fixed (not fitted) part alone, the ZBL core: no E0, no ACE. Same layout as
 * acelin_evaluate; used to subtract it from the fitting targets. */
acelin_status acelin_evaluate_reference(const acelin_model *model, int n_atoms, const int *species,
                                        const int64_t *neigh_start, const int *neigh_atom,
                                        const int *neigh_species, const double *dr,
                                        double *energy_total, double *energies, double *forces,
                                        double *virial, double *dE_dr, char *err, size_t errlen);

/* Per-atom basis vectors: b[i*n_basis + k] = value of invariant k at atom i when k belongs
 * to atom i's species (0 otherwise). Their sum over atoms is acelin_design's energy_row;
 * E_i = E0 + coefficients . b_i + the core term. No E0, no core term. Same input as
 * acelin_compute; results do not depend on n_threads. */
acelin_status acelin_basis_vectors(const acelin_model *model, int n_atoms, const int *species,
                                   const int64_t *neigh_start, const int *neigh_species,
                                   const double *dr, double *b, int n_threads,
                                   char *err, size_t errlen);
/* 1 if the model has an active set (an extrapolation grade) for this species, else 0. */
int acelin_model_has_grade(const acelin_model *model, int species);
/* Extrapolation grade per atom, gamma[i] = max_j |b_i G_s|_j (dimensionless; <= 1 inside
 * the active set's span). ACELIN_ERR_NO_ACTIVE_SET if a centre atom's species has none
 * (acelin_model_has_grade). Results do not depend on n_threads. */
acelin_status acelin_grade(const acelin_model *model, int n_atoms, const int *species,
                           const int64_t *neigh_start, const int *neigh_species, const double *dr,
                           double *gamma, int n_threads, char *err, size_t errlen);

/* The atomic base A of each atom, in the file layout of the term factors:
 * a[i*size + block*n_nlm + nl_offset[channel] + l + m], size = acelin_model_atomic_base_size
 * (blocks: the neighbour species, or one with contracted channels); 0 for a channel that no
 * invariant uses (the core does not build those). Not used by an evaluation; the fit derives
 * contracted channels from it. Results do not depend on n_threads. */
int acelin_model_atomic_base_size(const acelin_model *model);
acelin_status acelin_atomic_base_ex(const acelin_model *model, int n_atoms, const int *species,
                                    const int64_t *neigh_start, const int *neigh_species,
                                    const double *dr, double *a, int n_threads, acelin_error *error);

/* The same calls reporting failures as acelin_error (error may be NULL). */
acelin_status acelin_compute_ex(const acelin_model *model, int n_atoms, const int *species,
                                const int64_t *neigh_start, const int *neigh_species,
                                const double *dr, double *energy, double *dE_dr,
                                int n_threads, acelin_error *error);
acelin_status acelin_evaluate_ex(const acelin_model *model, int n_atoms, const int *species,
                                 const int64_t *neigh_start, const int *neigh_atom,
                                 const int *neigh_species, const double *dr, double *energy_total,
                                 double *energies, double *forces, double *virial, double *dE_dr,
                                 int n_threads, acelin_error *error);
acelin_status acelin_design_ex(const acelin_model *model, int n_atoms, const int *species,
                               const int64_t *neigh_start, const int *neigh_atom,
                               const int *neigh_species, const double *dr,
                               double *energy_row, double *force_rows, double *virial_rows,
                               int n_threads, acelin_error *error);
acelin_status acelin_evaluate_reference_ex(const acelin_model *model, int n_atoms, const int *species,
                                           const int64_t *neigh_start, const int *neigh_atom,
                                           const int *neigh_species, const double *dr,
                                           double *energy_total, double *energies, double *forces,
                                           double *virial, double *dE_dr, acelin_error *error);

acelin_status acelin_basis_vectors_ex(const acelin_model *model, int n_atoms, const int *species,
                                      const int64_t *neigh_start, const int *neigh_species,
                                      const double *dr, double *b, int n_threads, acelin_error *error);
acelin_status acelin_grade_ex(const acelin_model *model, int n_atoms, const int *species,
                              const int64_t *neigh_start, const int *neigh_species, const double *dr,
                              double *gamma, int n_threads, acelin_error *error);

/* Neighbour list (cell lists; triclinic; any periodicity; cells smaller than the cutoff).
 * cell rows are the lattice vectors (A); pbc[3] flags; positions [n*3] (A).
 * Returns a list owned by the caller, freed with acelin_neighbours_free. Bonds are sorted by
 * centre atom i, and for each i by (j, shift) so the order is deterministic. */
typedef struct {
    int n_atoms;
    int64_t n_bonds;
    int64_t *start;   /* [n_atoms+1] CSR offsets */
    int *j;           /* [n_bonds] neighbour atom index (0..n_atoms-1) */
    int *shift;       /* [n_bonds*3] integer lattice shift of the image of j */
    double *dr;       /* [n_bonds*3] r_j + shift.cell - r_i, A */
} acelin_neighbours;

acelin_status acelin_neighbours_build(int n_atoms, const double *positions, const double *cell,
                                      const int *pbc, double cutoff, acelin_neighbours **out,
                                      char *err, size_t errlen);
void acelin_neighbours_free(acelin_neighbours *list);

/* The bonds shorter than cutoff among the candidates (cand_start [n_atoms+1], cand_j,
 * cand_shift [*3]) of a list built with a larger cutoff, at positions from which no atom
 * has moved by half the difference or more (the caller checks that): bitwise the list that
 * acelin_neighbours_build gives for these positions, same order. cell may be NULL when no
 * direction is periodic (shifts are then zero). */
acelin_status acelin_neighbours_refilter(int n_atoms, const double *positions, const double *cell,
                                         const int64_t *cand_start, const int *cand_j,
                                         const int *cand_shift, double cutoff,
                                         acelin_neighbours **out, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* ACELIN_H */
