/* workspace.h - per-thread scratch of the evaluator, sized once per call (never inside
 * the per-atom loop). Shapes are given per array; cap = neighbour capacity. */
#ifndef ACELIN_WORKSPACE_H
#define ACELIN_WORKSPACE_H

#include "internal.h"

#define ACELIN_TILE 8 /* neighbours per design tile (a multiple of 4): one vector lane each */

typedef struct {
    int cap;
    double *A, *dEdA;          /* [n_A] atomic base and dE/dA */
    int64_t *nb_bond;          /* [cap] caller's bond index of each active neighbour */
    int *nb_block;             /* [cap] atomic-base block the neighbour adds to (its species, or 0
                                  with contracted channels) */
    int *nb_far;               /* [cap] 1: beyond the short cutoff (long-range channel only) */
    double *nb_u, *nb_r;       /* [cap*3] unit vectors, [cap] distances (A) */
    double *R, *dR;            /* radial values, d/dr (internal layout, roff per l) of four
                                  neighbours per block, lanes interleaved: block b holds
                                  [n_rtot][4] (ws_R, ws_dR); idle lanes are zero */
    double *Rb, *dRb;          /* base radial functions, [n_rpad][4] per block (contracted
                                  channels: before W) */
    int *nb_pair;              /* [cap] species pair (centre * ns + neighbour) of each active neighbour */
    double *Y, *dY;            /* harmonics and d/du of four neighbours per block, lanes
                                  interleaved: block b holds Y [n_lm][4] and dY [3][n_lm][4]
                                  (acelin_harmonics; read them through ws_Y, ws_dY) */
    int *nb_slot;              /* [cap] 4 * block + lane of each neighbour (harmonics, radial) */
    double *bu;                /* per block of four: u_x, u_y, u_z and 1/r of its lanes, [4][4]
                                  (acelin_harmonics; the back-propagation's vectors) */
    int *blk_start, *blk_near; /* [n_ablock+1], [n_ablock]: blocks of four of each atomic-base
                                  block: near ones from blk_start[z], far ones from
                                  blk_near[z] to blk_start[z+1] (acelin_harmonics) */
    int *order;                /* [cap] active neighbours grouped by block, near ones first */
    int *sp_start;             /* [n_ablock+1] neighbour range of each block in order */
    int *sp_near;              /* [n_ablock] end of the block's near neighbours (they come first) */
    /* design only (NULL otherwise) */
    double *D;                 /* [n_int*3*ACELIN_TILE] d(R_n Y_lm)/d dr of one tile of neighbours,
                                  entry-major, then component, then neighbour (one SIMD lane) */
    double *g;                 /* [support of one species' invariants] dB/dA, per invariant */
} acelin_ws;

acelin_ws *acelin_ws_new(const acelin_model *m, int cap, int design);
/* bytes in whole 64-byte cache lines of their own (aligned; free() releases them), for
 * per-thread scratch; NULL when out of memory */
void *acelin_line_alloc(size_t bytes);

/* lane of neighbour j in an array of blocks of four neighbours, `block` doubles per block */
static inline const double *ws_lane(const acelin_ws *w, const double *a, size_t block, int j)
{
    const int s = w->nb_slot[j];
    return a + (size_t)(s >> 2) * block + (s & 3);
}
/* Y_lm of active neighbour j at ws_Y(m, w, j)[4 k] (k = l*l+l+m), dY_lm/du_a at
 * ws_dY(m, w, j)[4 (a n_lm + k)] */
static inline const double *ws_Y(const acelin_model *m, const acelin_ws *w, int j)
{
    return ws_lane(w, w->Y, (size_t)4 * m->n_lm, j);
}
static inline const double *ws_dY(const acelin_model *m, const acelin_ws *w, int j)
{
    return ws_lane(w, w->dY, (size_t)12 * m->n_lm, j);
}
/* R_n (internal position n) of active neighbour j at ws_R(m, w, j)[4 n], R_n' likewise */
static inline const double *ws_R(const acelin_model *m, const acelin_ws *w, int j)
{
    return ws_lane(w, w->R, (size_t)4 * m->n_rtot, j);
}
static inline const double *ws_dR(const acelin_model *m, const acelin_ws *w, int j)
{
    return ws_lane(w, w->dR, (size_t)4 * m->n_rtot, j);
}
void acelin_ws_free(acelin_ws *w);

/* groups.c: atoms grouped by species (species already checked), `group` per group (the last of a
 * species may be partial), in input order within a species: group g holds the atoms
 * list[start[g] .. start[g+1]) of the returned array, start = it, list = it + n_groups + 1.
 * NULL when out of memory; free() releases it. */
int *acelin_species_groups(const acelin_model *m, int n_atoms, const int *species, int group, int *n_groups);

/* atom.c */
acelin_status acelin_gather(const acelin_model *m, acelin_ws *w, int zc, int64_t start, int64_t end,
                            const int *neigh_species, const double *dr, int with_core,
                            double *e_core, double *dE_dr, int *n_active, int64_t *bad_bond,
                            char *err, size_t errlen);
/* w->order, sp_start, sp_near from the gathered neighbours (acelin_gather does it) */
void acelin_group_neighbours(const acelin_model *m, acelin_ws *w, int n_active);
/* the harmonics of the grouped neighbours into w->Y, dY, nb_slot (kernels_impl.h) */
void acelin_harmonics(const acelin_model *m, acelin_ws *w);
/* the base radial functions (acelin_radial's layout, [n_rpad][4] per block of four) of the
 * grouped neighbours into R, dR (kernels_impl.h) */
void acelin_radial_batch(const acelin_model *m, const acelin_ws *w, double *R, double *dR);
void acelin_density(const acelin_model *m, acelin_ws *w);
/* E and dE/dA of the products of four atoms of species zc at once (kernels_impl.h):
 * A4, g4 [n_A * 4], entry a of atom q at [4 a + q] (g4: dE/dA, out); E4 [4] (eV). */
void acelin_products4(const acelin_model *m, const double *A4, double *g4, int zc, double *E4);
/* four atoms' arrays of n entries into acelin_products4's layout [n][4], and back */
void acelin_interleave4(const acelin_model *m, const double *const src[4], double *dst, size_t n);
void acelin_deinterleave4(const acelin_model *m, const double *src, double *const dst[4], size_t n);
/* the invariants b0 .. b1-1 (one centre species) of four atoms, A4 and B4 [b1 - b0][4] in
 * acelin_products4's layout */
void acelin_invariants4(const acelin_model *m, const double *A4, int b0, int b1, double *B4);
/* S = B G (the extrapolation grade's product) for na atoms of one species: B [na][rows]
 * (row stride ldb), G [rows][r], S [na][r] (row stride lds); each S[a][j] sums over k in
 * increasing order, so an atom's result does not depend on the other atoms (kernels_impl.h) */
void acelin_grade_product(const acelin_model *m, const double *B, size_t ldb, int na, int rows, const double *G,
                          int r, double *S, size_t lds);
/* dE/dA to the per-bond gradients of the neighbours acelin_gather grouped (w->order) */
void acelin_backprop(const acelin_model *m, const acelin_ws *w, double *dE_dr);

#endif
