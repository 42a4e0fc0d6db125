/* neighbours.c - full neighbour list by cell lists (binning); cost O(N) for large N.
 *
 * Method: every atom gets fractional coordinates s = r . F^-1 in a "frame" F whose rows
 * are the lattice vectors in the periodic directions and unit vectors completing them in
 * the open directions. Periodic coordinates are wrapped into [0, 1) and the integer part
 * is remembered, so the output shifts and dr refer to the positions exactly as given.
 * Space is cut into bins at least one cutoff thick (measured perpendicular to the bin
 * faces, which is what matters in a triclinic cell); an atom's neighbours lie in the
 * bins within "reach" of its own. When the cell is thinner than the cutoff the reach
 * exceeds the number of bins and the same bin is visited again as further periodic
 * images, so tiny cells need no special case.
 *
 * Units: Angstrom throughout. No globals, no printing; thread safe.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acelin.h"

/* Refuse when more candidate pairs than this are expected *and* they are not simply the
 * size of a large system (more than NB_MAX_PER_ATOM per atom): that only happens for
 * cells far smaller than the cutoff, where the list itself would exhaust memory. */
#define NB_MAX_CANDIDATES 1e8
#define NB_MAX_PER_ATOM 1e4
/* |fractional coordinate| limit so that wrap counts and shifts fit an int */
#define NB_MAX_FRACTIONAL 5e8
/* relative safety margin on the bin reach so rounding never loses a pair */
#define NB_MARGIN 1e-9
#ifndef NB_SUBDIV
#define NB_SUBDIV 2
#endif

static acelin_status nb_fail(char *err, size_t errlen, acelin_status st, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

static void cross3(const double *a, const double *b, double *c)
{
    c[0] = a[1] * b[2] - a[2] * b[1];
    c[1] = a[2] * b[0] - a[0] * b[2];
    c[2] = a[0] * b[1] - a[1] * b[0];
}

static double norm3(const double *a) { return sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2]); }

/* Binning frame: rows frame_33[k] (A); inverse columns give fractional coordinates;
 * height[k] = distance between the planes s_k = 0 and s_k = 1 (A). */
typedef struct {
    double frame_33[9];
    double inv_33[9];   /* s_k = sum_a r_a inv_33[3a + k] */
    double height_3[3];
} nb_frame;

/* Rows in periodic directions are the cell vectors; open directions get unit vectors
 * orthogonal to the periodic ones (the cell there may be zero or arbitrary, and only its
 * periodic rows enter dr). Fails if the periodic rows are (nearly) linearly dependent. */
static acelin_status nb_make_frame(const double *cell_33, const int *pbc_3, nb_frame *f,
                                   char *err, size_t errlen)
{
    double *F = f->frame_33;
    int n_per = 0, per = -1, open = -1;
    memset(F, 0, sizeof(f->frame_33));
    for (int k = 0; k < 3; ++k) {
        if (pbc_3[k]) {
            for (int a = 0; a < 3; ++a) F[3 * k + a] = cell_33[3 * k + a];
            if (norm3(F + 3 * k) == 0.0)
                return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                               "cell vector %d is zero but the cell is periodic in that direction", k);
            ++n_per;
            per = k;
        } else {
            open = k;
        }
    }
    if (n_per == 0) {
        F[0] = F[4] = F[8] = 1.0;
    } else if (n_per == 1) {
        /* two unit vectors orthogonal to the one lattice vector a and to each other */
        const double *a = F + 3 * per;
        double e[3] = {0.0, 0.0, 0.0}, u[3], v[3];
        int small = 0;
        for (int c = 1; c < 3; ++c)
            if (fabs(a[c]) < fabs(a[small])) small = c;
        e[small] = 1.0; /* the axis least aligned with a, so a x e is well conditioned */
        cross3(a, e, u);
        cross3(a, u, v);
        double nu = norm3(u), nv = norm3(v);
        for (int c = 0; c < 3; ++c) {
            F[3 * ((per + 1) % 3) + c] = u[c] / nu;
            F[3 * ((per + 2) % 3) + c] = v[c] / nv;
        }
    } else if (n_per == 2) {
        double nrm[3];
        cross3(F + 3 * ((open + 1) % 3), F + 3 * ((open + 2) % 3), nrm);
        double nn = norm3(nrm);
        if (!(nn > 1e-12 * norm3(F + 3 * ((open + 1) % 3)) * norm3(F + 3 * ((open + 2) % 3))))
            return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                           "the two periodic cell vectors are parallel (singular cell)");
        for (int c = 0; c < 3; ++c) F[3 * open + c] = nrm[c] / nn;
    }
    double c12[3], c20[3], c01[3];
    cross3(F + 3, F + 6, c12);
    cross3(F + 6, F, c20);
    cross3(F, F + 3, c01);
    double det = F[0] * c12[0] + F[1] * c12[1] + F[2] * c12[2];
    /* relative test: a sheared or flattened cell is singular whatever its size */
    if (!(fabs(det) > 1e-12 * norm3(F) * norm3(F + 3) * norm3(F + 6)))
        return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                       "cell is singular in the periodic directions (volume %.3g A^3)", det);
    const double *cols[3] = {c12, c20, c01};
    for (int k = 0; k < 3; ++k) {
        for (int a = 0; a < 3; ++a) f->inv_33[3 * a + k] = cols[k][a] / det;
        f->height_3[k] = fabs(det) / norm3(cols[k]);
    }
    return ACELIN_OK;
}

/* One bond while the bonds of a centre atom are collected (sorted before output). */
typedef struct {
    int j;
    int s[3];
    double d[3];
} nb_bond;

static int nb_bond_cmp(const void *pa, const void *pb)
{
    const nb_bond *a = (const nb_bond *)pa, *b = (const nb_bond *)pb;
    if (a->j != b->j) return a->j < b->j ? -1 : 1;
    for (int k = 0; k < 3; ++k)
        if (a->s[k] != b->s[k]) return a->s[k] < b->s[k] ? -1 : 1;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Grow *p (elements of size sz) to hold at least need elements; 0 on failure. */
static int nb_reserve(void **p, int64_t *cap, int64_t need, size_t sz)
{
    if (need <= *cap) return 1;
    int64_t nc = *cap > 0 ? *cap : 16;
    while (nc < need) nc += nc / 2 + 16;
    if ((uint64_t)nc > SIZE_MAX / sz) return 0;
    void *q = realloc(*p, (size_t)nc * sz);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

void acelin_neighbours_free(acelin_neighbours *list)
{
    if (!list) return;
    free(list->start);
    free(list->j);
    free(list->shift);
    free(list->dr);
    free(list);
}

/* Allocate the output for n atoms and room for cap bonds (at least one, so that a NULL
 * pointer always means failure). */
static acelin_neighbours *nb_alloc(int n_atoms, int64_t cap)
{
    acelin_neighbours *l = (acelin_neighbours *)calloc(1, sizeof(*l));
    if (!l) return NULL;
    if (cap < 1) cap = 1;
    l->n_atoms = n_atoms;
    l->start = (int64_t *)calloc((size_t)n_atoms + 1, sizeof(int64_t));
    l->j = (int *)malloc((size_t)cap * sizeof(int));
    l->shift = (int *)malloc((size_t)cap * 3 * sizeof(int));
    l->dr = (double *)malloc((size_t)cap * 3 * sizeof(double));
    if (!l->start || !l->j || !l->shift || !l->dr) {
        acelin_neighbours_free(l);
        return NULL;
    }
    return l;
}

/* Working arrays of one build; all freed by nb_work_free. */
typedef struct {
    double *frac_n3;      /* wrapped fractional coordinates */
    int *wrap_n3;         /* integer part removed in periodic directions */
    int64_t *bin_n;       /* linear bin of each atom */
    int64_t *bin_start;   /* [n_bins+1] CSR of atoms per bin */
    int *bin_atom;        /* [n] atoms sorted by bin (ascending index within a bin) */
    double *wpos_n3;      /* wrapped Cartesian positions, in bin order (contiguous scans) */
    int *img_bin[3];      /* per direction, per offset: target bin (-1: outside, open dir) */
    int *img_shift[3];    /* per direction, per offset: periodic image of the target bin */
    nb_bond *buf;         /* bonds of the current centre atom */
    int64_t buf_cap;
} nb_work;

static void nb_work_free(nb_work *w)
{
    free(w->frac_n3);
    free(w->wrap_n3);
    free(w->bin_n);
    free(w->bin_start);
    free(w->bin_atom);
    free(w->wpos_n3);
    for (int k = 0; k < 3; ++k) {
        free(w->img_bin[k]);
        free(w->img_shift[k]);
    }
    free(w->buf);
}

/* Validate everything before any allocation so that errors are cheap and clear. */
static acelin_status nb_check(int n_atoms, const double *positions, const double *cell,
                              const int *pbc, double cutoff, char *err, size_t errlen)
{
    if (n_atoms < 0)
        return nb_fail(err, errlen, ACELIN_ERR_INVALID, "n_atoms = %d is negative", n_atoms);
    if (!isfinite(cutoff) || cutoff <= 0.0)
        return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                       "cutoff must be positive and finite (got %g A)", cutoff);
    if (n_atoms > 0 && !positions)
        return nb_fail(err, errlen, ACELIN_ERR_INVALID, "positions is NULL");
    if (cell)
        for (int c = 0; c < 9; ++c)
            if (!isfinite(cell[c]))
                return nb_fail(err, errlen, ACELIN_ERR_NONFINITE,
                               "cell[%d][%d] is not finite", c / 3, c % 3);
    if (!cell && pbc && (pbc[0] || pbc[1] || pbc[2]))
        return nb_fail(err, errlen, ACELIN_ERR_INVALID, "periodic structure but cell is NULL");
    for (int64_t i = 0; i < 3 * (int64_t)n_atoms; ++i)
        if (!isfinite(positions[i]))
            return nb_fail(err, errlen, ACELIN_ERR_NONFINITE,
                           "position of atom %lld is not finite", (long long)(i / 3));
    return ACELIN_OK;
}

acelin_status acelin_neighbours_build(int n_atoms, const double *positions, const double *cell,
                                      const int *pbc, double cutoff, acelin_neighbours **out,
                                      char *err, size_t errlen)
{
    if (err && errlen > 0) err[0] = '\0';
    if (!out) return nb_fail(err, errlen, ACELIN_ERR_INVALID, "out is NULL");
    *out = NULL;
    acelin_status st = nb_check(n_atoms, positions, cell, pbc, cutoff, err, errlen);
    if (st != ACELIN_OK) return st;

    const int n = n_atoms;
    int per_3[3];
    double cell_33[9] = {0.0};
    for (int k = 0; k < 3; ++k) per_3[k] = pbc ? (pbc[k] != 0) : 0;
    if (cell) memcpy(cell_33, cell, sizeof(cell_33));

    nb_frame fr;
    st = nb_make_frame(cell_33, per_3, &fr, err, errlen);
    if (st != ACELIN_OK) return st;
    if (n == 0) {
        *out = nb_alloc(0, 1);
        return *out ? ACELIN_OK : nb_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory");
    }

    nb_work w;
    memset(&w, 0, sizeof(w));
    acelin_neighbours *list = NULL;
#define NB_ALLOC_FAIL()                                                                  \
    do {                                                                                 \
        st = nb_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory building the neighbour list of %d atoms", n); \
        goto done;                                                                       \
    } while (0)

    w.frac_n3 = (double *)malloc((size_t)n * 3 * sizeof(double));
    w.wrap_n3 = (int *)malloc((size_t)n * 3 * sizeof(int));
    if (!w.frac_n3 || !w.wrap_n3) NB_ALLOC_FAIL();

    /* fractional coordinates; wrap the periodic ones into [0, 1) */
    double smin_3[3] = {INFINITY, INFINITY, INFINITY}, smax_3[3] = {-INFINITY, -INFINITY, -INFINITY};
    double sabs_3[3] = {0.0, 0.0, 0.0};
    for (int i = 0; i < n; ++i) {
        const double *r = positions + 3 * (size_t)i;
        for (int k = 0; k < 3; ++k) {
            double s = r[0] * fr.inv_33[k] + r[1] * fr.inv_33[3 + k] + r[2] * fr.inv_33[6 + k];
            if (!(fabs(s) < NB_MAX_FRACTIONAL)) {
                st = nb_fail(err, errlen, ACELIN_ERR_INVALID,
                             "atom %d is %.3g cell lengths away from the cell along direction %d; "
                             "wrap the positions first", i, s, k);
                goto done;
            }
            if (fabs(s) > sabs_3[k]) sabs_3[k] = fabs(s);
            int m = 0;
            if (per_3[k]) {
                double fl = floor(s);
                m = (int)fl;
                s -= fl;
            }
            w.frac_n3[3 * (size_t)i + k] = s;
            w.wrap_n3[3 * (size_t)i + k] = m;
            if (s < smin_3[k]) smin_3[k] = s;
            if (s > smax_3[k]) smax_3[k] = s;
        }
    }

    /* Bins per direction. reach_frac = cutoff as a fraction of the lattice period,
     * enlarged by a margin that covers rounding in s (which grows with |s|). */
    int nbin_3[3], reach_3[3];
    double binw_3[3], lo_3[3], extent_3[3], reach_frac_3[3];
    for (int k = 0; k < 3; ++k) {
        double f = cutoff / fr.height_3[k];
        reach_frac_3[k] = f + NB_MARGIN * f + 16.0 * DBL_EPSILON * (sabs_3[k] + 1.0);
        extent_3[k] = per_3[k] ? 1.0 : smax_3[k] - smin_3[k];
        lo_3[k] = per_3[k] ? 0.0 : smin_3[k];
        double want = floor(NB_SUBDIV * extent_3[k] / reach_frac_3[k]);
        if (!(want >= 1.0)) want = 1.0;
        if (want > (double)(1 << 20)) want = (double)(1 << 20);
        nbin_3[k] = (int)want;
    }
    /* Cap the number of bins at about 2 per atom: more would only add empty bins to
     * visit (dilute gases, molecules with far-apart fragments). Coarser bins stay exact,
     * the reach is recomputed from the actual bin width. */
    {
        double cap = 2.0 * (double)n + 64.0;
        while ((double)nbin_3[0] * nbin_3[1] * nbin_3[2] > cap) {
            int kmax = 0;
            for (int k = 1; k < 3; ++k)
                if (nbin_3[k] > nbin_3[kmax]) kmax = k;
            nbin_3[kmax] = (nbin_3[kmax] + 1) / 2;
        }
    }
    double n_offsets = 1.0;
    for (int k = 0; k < 3; ++k) {
        binw_3[k] = extent_3[k] / nbin_3[k];
        double reach = binw_3[k] > 0.0 ? ceil(reach_frac_3[k] / binw_3[k]) : 0.0;
        if (!per_3[k] && reach > nbin_3[k] - 1) reach = nbin_3[k] - 1; /* nothing beyond */
        if (reach > 1e7) {
            st = nb_fail(err, errlen, ACELIN_ERR_INVALID,
                         "cell is %.3g A thick along direction %d, far thinner than the cutoff "
                         "%.3g A: too many periodic images", fr.height_3[k], k, cutoff);
            goto done;
        }
        reach_3[k] = (int)reach;
        n_offsets *= 2.0 * reach + 1.0;
    }
    double n_bins_d = (double)nbin_3[0] * nbin_3[1] * nbin_3[2];
    double per_atom = (double)n / n_bins_d * n_offsets;
    if (per_atom * n > NB_MAX_CANDIDATES && per_atom > NB_MAX_PER_ATOM) {
        st = nb_fail(err, errlen, ACELIN_ERR_INVALID,
                     "about %.3g candidate pairs (%.3g per atom) for cutoff %.3g A: the cell "
                     "(thickness %.3g, %.3g, %.3g A) is far smaller than the cutoff; "
                     "use a supercell or a smaller cutoff", per_atom * n, per_atom, cutoff,
                     fr.height_3[0], fr.height_3[1], fr.height_3[2]);
        goto done;
    }
    const int64_t n_bins = (int64_t)nbin_3[0] * nbin_3[1] * nbin_3[2];

    /* counting sort of the atoms into bins (stable: ascending atom index per bin) */
    w.bin_n = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    w.bin_start = (int64_t *)calloc((size_t)n_bins + 1, sizeof(int64_t));
    w.bin_atom = (int *)malloc((size_t)n * sizeof(int));
    w.wpos_n3 = (double *)malloc((size_t)n * 3 * sizeof(double));
    if (!w.bin_n || !w.bin_start || !w.bin_atom || !w.wpos_n3) NB_ALLOC_FAIL();
    for (int i = 0; i < n; ++i) {
        int64_t lin = 0;
        for (int k = 0; k < 3; ++k) {
            double x = binw_3[k] > 0.0 ? (w.frac_n3[3 * (size_t)i + k] - lo_3[k]) / binw_3[k] : 0.0;
            int c = (int)floor(x);
            /* s may round to exactly 1.0 after wrapping; the far face belongs to the last bin */
            if (c < 0) c = 0;
            if (c >= nbin_3[k]) c = nbin_3[k] - 1;
            lin = lin * nbin_3[k] + c;
        }
        w.bin_n[i] = lin;
        w.bin_start[lin + 1]++;
    }
    for (int64_t b = 0; b < n_bins; ++b) w.bin_start[b + 1] += w.bin_start[b];
    {
        int64_t *fill = (int64_t *)malloc((size_t)n_bins * sizeof(int64_t));
        if (!fill) NB_ALLOC_FAIL();
        memcpy(fill, w.bin_start, (size_t)n_bins * sizeof(int64_t));
        for (int i = 0; i < n; ++i) {
            int64_t p = fill[w.bin_n[i]]++;
            w.bin_atom[p] = i;
            const int *m = w.wrap_n3 + 3 * (size_t)i;
            for (int a = 0; a < 3; ++a)
                w.wpos_n3[3 * p + a] = positions[3 * (size_t)i + a]
                    - (m[0] * cell_33[a] + m[1] * cell_33[3 + a] + m[2] * cell_33[6 + a]);
        }
        free(fill);
    }

    for (int k = 0; k < 3; ++k) {
        w.img_bin[k] = (int *)malloc((2 * (size_t)reach_3[k] + 1) * sizeof(int));
        w.img_shift[k] = (int *)malloc((2 * (size_t)reach_3[k] + 1) * sizeof(int));
        if (!w.img_bin[k] || !w.img_shift[k]) NB_ALLOC_FAIL();
    }

    /* first guess of the list size: the cutoff sphere is about a quarter of the bins visited */
    int64_t cap = (int64_t)(fmin(per_atom, 4096.0) * 0.25 * n) + 16;
    list = nb_alloc(n, cap);
    if (!list) NB_ALLOC_FAIL();
    int64_t n_bonds = 0;
    /* Candidates are screened in the wrapped frame (cheap: one image vector per bin);
     * the screen is widened by far more than the rounding difference to the exact dr,
     * which is then computed from the input positions and decides strictly. */
    double scale = 0.0;
    for (int i = 0; i < 3 * n; ++i) scale = fmax(scale, fabs(positions[i]));
    for (int k = 0; k < 3; ++k)
        scale += (sabs_3[k] + reach_3[k] + 2.0) * norm3(cell_33 + 3 * k);
    const double screen = cutoff + 1e-9 * (cutoff + scale);
    const double screen2 = screen * screen;
    const double cut2_hi = cutoff * cutoff * (1.0 + 1e-12);

    for (int i = 0; i < n; ++i) {
        const double *ri = positions + 3 * (size_t)i;
        const int *mi = w.wrap_n3 + 3 * (size_t)i;
        double wi_3[3];
        for (int a = 0; a < 3; ++a)
            wi_3[a] = ri[a] - (mi[0] * cell_33[a] + mi[1] * cell_33[3 + a] + mi[2] * cell_33[6 + a]);
        int64_t lin = w.bin_n[i];
        int ci_3[3];
        for (int k = 2; k >= 0; --k) {
            ci_3[k] = (int)(lin % nbin_3[k]);
            lin /= nbin_3[k];
        }
        /* for each offset: the bin it lands in and, periodically, which image of it */
        for (int k = 0; k < 3; ++k)
            for (int d = -reach_3[k]; d <= reach_3[k]; ++d) {
                int64_t b = (int64_t)ci_3[k] + d;
                int idx = d + reach_3[k];
                if (per_3[k]) {
                    int64_t img = floor_div(b, nbin_3[k]);
                    w.img_bin[k][idx] = (int)(b - img * nbin_3[k]);
                    w.img_shift[k][idx] = (int)img;
                } else {
                    w.img_bin[k][idx] = (b < 0 || b >= nbin_3[k]) ? -1 : (int)b;
                    w.img_shift[k][idx] = 0;
                }
            }
        int64_t n_i = 0;
        for (int d0 = 0; d0 <= 2 * reach_3[0]; ++d0) {
            int b0 = w.img_bin[0][d0];
            if (b0 < 0) continue;
            for (int d1 = 0; d1 <= 2 * reach_3[1]; ++d1) {
                int b1 = w.img_bin[1][d1];
                if (b1 < 0) continue;
                for (int d2 = 0; d2 <= 2 * reach_3[2]; ++d2) {
                    int b2 = w.img_bin[2][d2];
                    if (b2 < 0) continue;
                    int64_t bin = ((int64_t)b0 * nbin_3[1] + b1) * nbin_3[2] + b2;
                    /* image shift of the bin in the wrapped frame; the shift of atom j
                     * relative to the input positions adds the two wrap counts */
                    int img_3[3] = {w.img_shift[0][d0], w.img_shift[1][d1], w.img_shift[2][d2]};
                    double base_3[3];
                    for (int a = 0; a < 3; ++a)
                        base_3[a] = img_3[0] * cell_33[a] + img_3[1] * cell_33[3 + a]
                                    + img_3[2] * cell_33[6 + a] - wi_3[a];
                    for (int64_t p = w.bin_start[bin]; p < w.bin_start[bin + 1]; ++p) {
                        const double *wj = w.wpos_n3 + 3 * p;
                        double x = wj[0] + base_3[0], y = wj[1] + base_3[1], z = wj[2] + base_3[2];
                        if (x * x + y * y + z * z >= screen2) continue;
                        int j = w.bin_atom[p];
                        const int *mj = w.wrap_n3 + 3 * (size_t)j;
                        const double *rj = positions + 3 * (size_t)j;
                        int s_3[3];
                        for (int k = 0; k < 3; ++k)
                            s_3[k] = per_3[k] ? img_3[k] + mi[k] - mj[k] : 0;
                        double d_3[3];
                        for (int a = 0; a < 3; ++a)
                            d_3[a] = rj[a] - ri[a] + (s_3[0] * cell_33[a] + s_3[1] * cell_33[3 + a]
                                                      + s_3[2] * cell_33[6 + a]);
                        double r2 = d_3[0] * d_3[0] + d_3[1] * d_3[1] + d_3[2] * d_3[2];
                        if (r2 >= cut2_hi || !(sqrt(r2) < cutoff)) continue; /* strict, on |dr| */
                        if (j == i && s_3[0] == 0 && s_3[1] == 0 && s_3[2] == 0) continue;
                        if (!nb_reserve((void **)&w.buf, &w.buf_cap, n_i + 1, sizeof(nb_bond)))
                            NB_ALLOC_FAIL();
                        nb_bond *bd = w.buf + n_i++;
                        bd->j = j;
                        memcpy(bd->s, s_3, sizeof(s_3));
                        memcpy(bd->d, d_3, sizeof(d_3));
                    }
                }
            }
        }
        qsort(w.buf, (size_t)n_i, sizeof(nb_bond), nb_bond_cmp);
        if (n_bonds + n_i > cap) {
            int64_t want = cap, old = cap;
            if (!nb_reserve((void **)&list->j, &want, n_bonds + n_i, sizeof(int))) NB_ALLOC_FAIL();
            want = old;
            if (!nb_reserve((void **)&list->shift, &want, n_bonds + n_i, 3 * sizeof(int))) NB_ALLOC_FAIL();
            want = old;
            if (!nb_reserve((void **)&list->dr, &want, n_bonds + n_i, 3 * sizeof(double))) NB_ALLOC_FAIL();
            cap = want; /* the same growth rule gave all three the same capacity */
        }
        for (int64_t q = 0; q < n_i; ++q) {
            int64_t b = n_bonds + q;
            list->j[b] = w.buf[q].j;
            memcpy(list->shift + 3 * b, w.buf[q].s, 3 * sizeof(int));
            memcpy(list->dr + 3 * b, w.buf[q].d, 3 * sizeof(double));
        }
        n_bonds += n_i;
        list->start[i + 1] = n_bonds;
    }
    list->n_bonds = n_bonds;
    *out = list;
    list = NULL;
    st = ACELIN_OK;
#undef NB_ALLOC_FAIL
done:
    acelin_neighbours_free(list);
    nb_work_free(&w);
    return st;
}
