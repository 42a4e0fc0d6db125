/* internal.h - private layout of the ace_lin core (not installed, not part of the API). */
#ifndef ACELIN_INTERNAL_H
#define ACELIN_INTERNAL_H

#include "acelin.h"

#define ACELIN_MIN_DISTANCE 1e-6 /* A; closer atoms are "overlapping" and refused */
#define ACELIN_MAX_CUTOFF 50.0   /* A; larger cutoffs are refused as corrupted (an ACE cutoff is a
                                    few A; 1e308 would make every neighbour list explode) */

struct acelin_model {
    int ns;                 /* species */
    char **elements;        /* [ns] */
    int *Z;                 /* [ns] */
    double *e0;             /* [ns] eV */
    double *r_cut, *r_in, *r_core, *r_scale; /* [ns*ns] A */
    double *t_in, *t_span;  /* [ns*ns] distance transform at r_in and t(r_in) - t(r_cut) */
    double *zbl_a;          /* [ns*ns] ZBL screening length, A */
    int n_long;             /* radial functions of the long-range channel (0: none) */
    double *r_cut_long, *r_scale_long, *t_in_long, *t_span_long; /* [ns*ns], as above */
    double *r_reach;        /* [ns*ns] max(r_cut, r_cut_long): the pair's ACE range, A */
    double *leg;            /* [3*(max(n_radial, n_long)+1)]: Legendre recurrence factors
                               (2k+1)/(k+1), k/(k+1), 2k+1 interleaved (no division or
                               conversion per call) */
    double *rpar;           /* [2][ns*ns][4] per channel (short, long) and pair: r_cut,
                               1/r_scale, t(r_in), 2/t_span (radial kernels: no division
                               but the transform's one) */
    int p;                  /* transform power */
    double max_cut;         /* largest pair cutoff (ACE and core), A */
    int n_radial, lmax, n_lm; /* n_radial: short channel only; n_lm = (lmax+1)^2 */
    int lmax_far;           /* largest l of the long-range channel: neighbours beyond the
                               short cutoff need harmonics only up to it */
    int n_spad;             /* internal radial index where the long channel starts (n_radial,
                               rounded up to a multiple of 4 when there is a long channel) */
    int *species_long_start;/* [ns] first long-channel invariant of each species' block; the
                               long invariants of a species follow its short ones */
    int n_rpad;             /* n_spad + n_long rounded up to a multiple of 4 (zero padded; whole SIMD lanes):
                               the base radial functions of a neighbour (acelin_radial's layout) */
    /* contracted channels (tables.radial_weights): chan = 1, one shared atomic-base block,
       and each neighbour's radial values per l are g = W R (per species pair) */
    int chan;               /* 0: species-resolved channels, 1: contracted */
    int n_ablock;           /* atomic-base blocks: ns (species-resolved) or 1 (chan) */
    int roff[10];           /* offset of l's radial values in a neighbour's R (all 0 unless chan:
                               species-resolved channels share R_n across l) */
    int c0[9];              /* first long-range position of each l: neighbours beyond the short
                               cutoff fill positions c0[l] .. Nl[l] only (a multiple of vn) */
    int s_end[9], l_end[9]; /* per l, the positions a used channel holds: short ones below
                               s_end[l] <= c0[l], long ones in c0[l] .. l_end[l]; the
                               kernels visit only these */
    int n_rtot;             /* radial values per neighbour: n_rpad, or roff[9] (chan) */
    /* chan: the non-zero weights of each pair, g[row] += w R_base[col] (an embedding has
       one per row, a species-resolved pair channel none for the other species) */
    int64_t *wnz_start;     /* [ns*ns+1] */
    int *wnz_row, *wnz_col; /* [nnz] internal row (roff[l] + position), acelin_radial column */
    double *wnz_w;          /* [nnz] */
    int n_nl;
    int *nl_n, *nl_l, *nl_offset; /* [n_nl] */
    int *nl_pos;            /* [n_nl] internal radial position of each channel inside its l */
    int n_nlm;              /* file layout: sum over channels of 2l+1 */
    /* internal layout of the atomic base, per neighbour species: [l][m][n], n fastest,
       so that building A and contracting dE/dA are contiguous loops over n */
    int vn;                 /* vector width (doubles) of the kernels this model runs: 4 with
                               AVX2 and FMA, else the build's own (acelin_kernel_width) */
    int Nl[9];              /* radial functions used with each l, rounded up to whole vectors
                               of vn */
    int loff[10];           /* offset of l inside a species block */
    int n_int;              /* size of a species block */
    int n_A;                /* n_ablock * n_int: atomic base size per centre atom */
    int n_basis;
    int *basis_species, *basis_nu;
    int64_t *term_start;    /* [n_basis+1] */
    int64_t n_terms;
    double *term_coupling;  /* [n_terms] */
    int *term_factors;      /* [n_terms*ACELIN_NU_MAX] */
    double *coef;           /* [n_basis] */
    /* evaluation form: coefficient x coupling folded into one list of distinct products
       per centre species and order (PACE's "c-tilde"), sorted by factors */
    int64_t *ct_start;      /* [ns*(ACELIN_NU_MAX+1)+1]: range of (species, nu) */
    double *ct_coef;
    int *ct_factors;        /* [n_ct*ACELIN_NU_MAX] */
    /* the same products as a prefix tree: nodes hold the first nu-1 factors, leaves the
       last factor and its coefficient, so prod of the prefix is computed once per node */
    int64_t *node_start;    /* [ns*(ACELIN_NU_MAX+1)+1]: node range of (species, nu) */
    int *node_factors;      /* [n_nodes*(ACELIN_NU_MAX-1)] */
    int64_t *node_leaf;     /* [n_nodes+1]: leaf range of each node */
    int *leaf_a;            /* [n_ct] last factor */
    double *leaf_c;         /* [n_ct] coefficient */
    /* design form: per invariant its distinct A indices ("support") and, per term
       factor, the slot of that index in the support */
    int64_t *sup_start;     /* [n_basis+1] */
    int *sup_z, *sup_nlm;   /* [n_sup] each support entry's neighbour species and (n, l, m) entry */
    int *term_slot;         /* [n_terms*ACELIN_NU_MAX] */
    int *species_basis_start; /* [ns+1]: invariants are grouped by centre species */
    /* extrapolation grade: species s has active_n[s] columns (0: none); its map G is
       active_map[active_off[s] ..] as m_s x active_n[s], m_s = its block of invariants */
    int *active_n;          /* [ns] */
    int64_t *active_off;    /* [ns+1] */
    double *active_map;
};

/* atom.c: 4 where the AVX2 and FMA kernels run (this CPU has them; the environment variable
 * ACE_LIN_KERNELS=portable keeps the build's own), else the build's vector width */
int acelin_kernel_width(void);

/* radial.c */
double acelin_transform_t(double r, double scale, int p, double *dt_dr);
double acelin_core_pair(const acelin_model *m, int pair, double r, double *dV_dr);

/* error.c */
acelin_status acelin_fail(char *err, size_t errlen, acelin_status st, const char *fmt, ...);
void acelin_error_clear(acelin_error *e); /* NULL allowed */
acelin_status acelin_error_set(acelin_error *e, acelin_status st, int atom, int64_t bond,
                               const char *fmt, ...);
/* the message of e into err (for the variants without _ex); returns st */
acelin_status acelin_error_text(acelin_status st, const acelin_error *e, char *err, size_t errlen);
/* Inside the parallel atom loops: keep the failure of the lowest atom (call in a critical
 * section; first starts cleared), then report it as "atom i: <msg>". */
void acelin_first_failure(acelin_error *first, acelin_status st, int atom, int64_t bond, const char *msg);
acelin_status acelin_report_first(const acelin_error *first, acelin_error *e);

#endif
