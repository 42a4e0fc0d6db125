/* neighbours.c - full neighbour list by cell lists (binning); cost O(N) for large N.
 *
 * Method: every atom gets fractional coordinates s = r . F^-1 in a "frame" F whose rows
 * are the lattice vectors in the periodic directions and unit vectors completing them in
 * the open directions. Periodic coordinates are wrapped into [0, 1) and the integer part
 * is remembered, so that output shifts and dr refer to the positions exactly as given.
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
/* |fractional coordinate| limit in periodic directions so wrap counts and shifts fit int */
#define NB_MAX_FRACTIONAL 5e8
/* relative safety margin on the bin reach so that rounding never loses a pair */
#define NB_MARGIN 1e-9

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

/* s . cell for an integer shift s (A) */
static void lattice3(const int *s_3, const double *cell_33, double *out_3)
{
    for (int a = 0; a < 3; ++a)
        out_3[a] = s_3[0] * cell_33[a] + s_3[1] * cell_33[3 + a] + s_3[2] * cell_33[6 + a];
}

/* Binning frame: rows frame_33[k] (A); s_k = sum_a r_a inv_33[3a + k];
 * height_3[k] = distance between the planes s_k = 0 and s_k = 1 (A). */
typedef struct {
    double frame_33[9];
    double inv_33[9];
    double height_3[3];
} nb_frame;

/* Rows in periodic directions are the cell vectors; open directions get unit vectors
 * orthogonal to the periodic ones (the cell may be zero or arbitrary there, and only its
 * periodic rows enter dr). Fails if the periodic rows are (nearly) linearly dependent. */
static acelin_status nb_make_frame(const double *cell_33, const int *per_3, nb_frame *f,
                                   char *err, size_t errlen)
{
    double *F = f->frame_33;
    int n_per = 0, per = -1, open = -1;
    memset(F, 0, sizeof(f->frame_33));
    for (int k = 0; k < 3; ++k) {
        if (per_3[k]) {
            memcpy(F + 3 * k, cell_33 + 3 * k, 3 * sizeof(double));
            if (norm3(F + 3 * k) == 0.0)
                return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                               "cell vector %d is zero but the cell is periodic in that direction "
                               "(singular cell)", k);
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
        const double *a = F + 3 * ((open + 1) % 3), *b = F + 3 * ((open + 2) % 3);
        double nrm[3];
        cross3(a, b, nrm);
        double nn = norm3(nrm);
        if (!(nn > 1e-12 * norm3(a) * norm3(b)))
            return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                           "the two periodic cell vectors are parallel (singular cell)");
        for (int c = 0; c < 3; ++c) F[3 * open + c] = nrm[c] / nn;
    }
    double c12[3], c20[3], c01[3];
    cross3(F + 3, F + 6, c12);
    cross3(F + 6, F, c20);
    cross3(F, F + 3, c01);
    double det = F[0] * c12[0] + F[1] * c12[1] + F[2] * c12[2];
    /* relative test: a flattened cell is singular whatever its size */
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

static int64_t floor_div(int64_t a, int64_t b) /* b > 0 */
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* bits needed to store the values 0 .. count-1 */
static int nb_bits(uint64_t count)
{
    int b = 0;
    while (b < 64 && ((uint64_t)1 << b) < count) ++b;
    return b;
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

/* Sort distinct 64-bit keys ascending: insertion sort on runs of 16, then bottom-up
 * merges. O(n log n) always, and much faster than qsort's comparator calls here. */
static void nb_sort_keys(uint64_t *key, uint64_t *tmp, int64_t n)
{
    const int64_t run = 16;
    for (int64_t lo = 0; lo < n; lo += run) {
        int64_t hi = lo + run < n ? lo + run : n;
        for (int64_t a = lo + 1; a < hi; ++a) {
            uint64_t v = key[a];
            int64_t b = a;
            for (; b > lo && key[b - 1] > v; --b) key[b] = key[b - 1];
            key[b] = v;
        }
    }
    uint64_t *src = key, *dst = tmp;
    for (int64_t width = run; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n;
            int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) dst[o++] = src[a] < src[b] ? src[a++] : src[b++];
            while (a < mid) dst[o++] = src[a++];
            while (b < hi) dst[o++] = src[b++];
        }
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != key) memcpy(key, src, (size_t)n * sizeof(uint64_t));
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

/* Output for n atoms with room for cap bonds (at least one, so NULL means failure). */
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

/* State of one build; all arrays freed by nb_work_free. */
typedef struct {
    int n;
    const double *pos_n3;   /* input positions (A) */
    double cell_33[9];
    int per_3[3];
    double cutoff;
    nb_frame fr;
    /* atoms */
    double *frac_n3;        /* fractional coordinates, wrapped in periodic directions */
    int *wrap_n3;           /* integer part removed in periodic directions */
    double sabs_3[3];       /* largest |s| before wrapping */
    /* bins */
    int nbin_3[3], reach_3[3];
    double lo_3[3], binw_3[3]; /* fractional origin and width of the bins */
    double per_atom;        /* expected candidates per atom */
    int64_t *bin_n;         /* [n] linear bin of each atom */
    int64_t *bin_start;     /* [n_bins+1] CSR of atoms per bin */
    int *bin_atom;          /* [n] atoms in bin order (ascending index within a bin) */
    double *wpos_n3;        /* wrapped Cartesian positions in bin order (contiguous scans) */
    int *img_bin[3];        /* per direction and offset d: target bin (-1: none, open dir) */
    int *img_shift[3];      /* per direction and offset d: periodic image of that bin */
    int key_shift_3[3], key_j_shift; /* bit layout of the sort key (j, d0, d1, d2) */
    uint64_t *key, *key_tmp; /* candidates of the current centre atom */
    int64_t key_cap, tmp_cap;
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
    free(w->key);
    free(w->key_tmp);
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

/* Fractional coordinates; wrap the periodic ones into [0, 1). */
static acelin_status nb_fractional(nb_work *w, double *smin_3, double *smax_3, char *err,
                                   size_t errlen)
{
    for (int k = 0; k < 3; ++k) {
        smin_3[k] = INFINITY;
        smax_3[k] = -INFINITY;
        w->sabs_3[k] = 0.0;
    }
    for (int i = 0; i < w->n; ++i) {
        const double *r = w->pos_n3 + 3 * (size_t)i;
        for (int k = 0; k < 3; ++k) {
            const double *inv = w->fr.inv_33;
            double s = r[0] * inv[k] + r[1] * inv[3 + k] + r[2] * inv[6 + k];
            int m = 0;
            if (fabs(s) > w->sabs_3[k]) w->sabs_3[k] = fabs(s);
            if (w->per_3[k]) {
                if (!(fabs(s) < NB_MAX_FRACTIONAL))
                    return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                                   "atom %d is %.3g cell lengths outside the cell along "
                                   "direction %d; wrap the positions first", i, s, k);
                double fl = floor(s);
                m = (int)fl;
                s -= fl;
            }
            w->frac_n3[3 * (size_t)i + k] = s;
            w->wrap_n3[3 * (size_t)i + k] = m;
            if (s < smin_3[k]) smin_3[k] = s;
            if (s > smax_3[k]) smax_3[k] = s;
        }
    }
    return ACELIN_OK;
}

/* Choose bins (at least one cutoff thick) and the reach in bins per direction. */
static acelin_status nb_layout(nb_work *w, const double *smin_3, const double *smax_3,
                               char *err, size_t errlen)
{
    double extent_3[3], reach_frac_3[3];
    for (int k = 0; k < 3; ++k) {
        /* the cutoff as a fraction of the period, widened to cover rounding in s */
        double f = w->cutoff / w->fr.height_3[k];
        reach_frac_3[k] = f + NB_MARGIN * f + 16.0 * DBL_EPSILON * (w->sabs_3[k] + 1.0);
        extent_3[k] = w->per_3[k] ? 1.0 : smax_3[k] - smin_3[k];
        w->lo_3[k] = w->per_3[k] ? 0.0 : smin_3[k];
        double want = floor(extent_3[k] / reach_frac_3[k]);
        if (!(want >= 1.0)) want = 1.0;
        if (want > (double)(1 << 20)) want = (double)(1 << 20);
        w->nbin_3[k] = (int)want;
    }
    /* At most about 2 bins per atom: more would only add empty bins to visit (dilute
     * gases, far-apart fragments). Coarser bins stay exact; the reach follows below. */
    double cap = 2.0 * (double)w->n + 64.0;
    while ((double)w->nbin_3[0] * w->nbin_3[1] * w->nbin_3[2] > cap) {
        int kmax = 0;
        for (int k = 1; k < 3; ++k)
            if (w->nbin_3[k] > w->nbin_3[kmax]) kmax = k;
        w->nbin_3[kmax] = (w->nbin_3[kmax] + 1) / 2;
    }
    double n_offsets = 1.0;
    for (int k = 0; k < 3; ++k) {
        w->binw_3[k] = extent_3[k] / w->nbin_3[k];
        double reach = w->binw_3[k] > 0.0 ? ceil(reach_frac_3[k] / w->binw_3[k]) : 0.0;
        if (!w->per_3[k] && reach > w->nbin_3[k] - 1) reach = w->nbin_3[k] - 1; /* no more bins */
        if (reach > 1e7)
            return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                           "cell is %.3g A thick along direction %d, far thinner than the "
                           "cutoff %.3g A: too many periodic images", w->fr.height_3[k], k, w->cutoff);
        w->reach_3[k] = (int)reach;
        n_offsets *= 2.0 * reach + 1.0;
    }
    double n_bins = (double)w->nbin_3[0] * w->nbin_3[1] * w->nbin_3[2];
    w->per_atom = (double)w->n / n_bins * n_offsets;
    /* sort key = (j, d0, d1, d2) packed into 64 bits */
    int bits_3[3], total = nb_bits((uint64_t)w->n);
    for (int k = 0; k < 3; ++k) total += bits_3[k] = nb_bits(2 * (uint64_t)w->reach_3[k] + 1);
    if ((w->per_atom * w->n > NB_MAX_CANDIDATES && w->per_atom > NB_MAX_PER_ATOM) || total > 64)
        return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                       "about %.3g candidate pairs (%.3g per atom) for cutoff %.3g A: the cell "
                       "(thickness %.3g, %.3g, %.3g A) is far smaller than the cutoff; use a "
                       "supercell or a smaller cutoff", w->per_atom * w->n, w->per_atom, w->cutoff,
                       w->fr.height_3[0], w->fr.height_3[1], w->fr.height_3[2]);
    w->key_shift_3[2] = 0;
    w->key_shift_3[1] = bits_3[2];
    w->key_shift_3[0] = bits_3[2] + bits_3[1];
    w->key_j_shift = bits_3[2] + bits_3[1] + bits_3[0];
    return ACELIN_OK;
}

/* Counting sort of the atoms into bins (stable: ascending atom index within a bin). */
static int nb_fill_bins(nb_work *w)
{
    const int n = w->n;
    const int64_t n_bins = (int64_t)w->nbin_3[0] * w->nbin_3[1] * w->nbin_3[2];
    w->bin_n = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    w->bin_start = (int64_t *)calloc((size_t)n_bins + 1, sizeof(int64_t));
    w->bin_atom = (int *)malloc((size_t)n * sizeof(int));
    w->wpos_n3 = (double *)malloc((size_t)n * 3 * sizeof(double));
    int64_t *fill = (int64_t *)malloc((size_t)n_bins * sizeof(int64_t));
    if (!w->bin_n || !w->bin_start || !w->bin_atom || !w->wpos_n3 || !fill) {
        free(fill);
        return 0;
    }
    for (int i = 0; i < n; ++i) {
        int64_t lin = 0;
        for (int k = 0; k < 3; ++k) {
            double x = w->binw_3[k] > 0.0
                           ? (w->frac_n3[3 * (size_t)i + k] - w->lo_3[k]) / w->binw_3[k] : 0.0;
            int c = x < 0.0 ? 0 : (x >= w->nbin_3[k] ? w->nbin_3[k] - 1 : (int)x);
            /* (clamped: a wrapped s may round to exactly 1.0, the far face of the last bin) */
            lin = lin * w->nbin_3[k] + c;
        }
        w->bin_n[i] = lin;
        w->bin_start[lin + 1]++;
    }
    for (int64_t b = 0; b < n_bins; ++b) w->bin_start[b + 1] += w->bin_start[b];
    memcpy(fill, w->bin_start, (size_t)n_bins * sizeof(int64_t));
    for (int i = 0; i < n; ++i) {
        int64_t p = fill[w->bin_n[i]]++;
        double t_3[3];
        w->bin_atom[p] = i;
        lattice3(w->wrap_n3 + 3 * (size_t)i, w->cell_33, t_3);
        for (int a = 0; a < 3; ++a) w->wpos_n3[3 * p + a] = w->pos_n3[3 * (size_t)i + a] - t_3[a];
    }
    free(fill);
    for (int k = 0; k < 3; ++k) {
        w->img_bin[k] = (int *)malloc((2 * (size_t)w->reach_3[k] + 1) * sizeof(int));
        w->img_shift[k] = (int *)malloc((2 * (size_t)w->reach_3[k] + 1) * sizeof(int));
        if (!w->img_bin[k] || !w->img_shift[k]) return 0;
    }
    return 1;
}

/* Candidates of centre i as sort keys: every atom of every bin within reach whose
 * distance, in the wrapped frame, passes a screen slightly wider than the cutoff.
 * Returns the number of keys, -1 when out of memory. */
static int64_t nb_candidates(nb_work *w, int i, double screen2)
{
    int ci_3[3];
    int64_t lin = w->bin_n[i];
    for (int k = 2; k >= 0; --k) {
        ci_3[k] = (int)(lin % w->nbin_3[k]);
        lin /= w->nbin_3[k];
    }
    /* per offset d: the bin it lands in and, periodically, which image of that bin */
    for (int k = 0; k < 3; ++k)
        for (int d = -w->reach_3[k]; d <= w->reach_3[k]; ++d) {
            int64_t b = (int64_t)ci_3[k] + d, img = 0;
            if (w->per_3[k]) {
                img = floor_div(b, w->nbin_3[k]);
                b -= img * w->nbin_3[k];
            } else if (b < 0 || b >= w->nbin_3[k]) {
                b = -1;
            }
            w->img_bin[k][d + w->reach_3[k]] = (int)b;
            w->img_shift[k][d + w->reach_3[k]] = (int)img;
        }
    double wi_3[3], t_3[3];
    lattice3(w->wrap_n3 + 3 * (size_t)i, w->cell_33, t_3);
    for (int a = 0; a < 3; ++a) wi_3[a] = w->pos_n3[3 * (size_t)i + a] - t_3[a];
    int64_t n_i = 0;
    for (int d0 = 0; d0 <= 2 * w->reach_3[0]; ++d0) {
        int b0 = w->img_bin[0][d0];
        if (b0 < 0) continue;
        for (int d1 = 0; d1 <= 2 * w->reach_3[1]; ++d1) {
            int b1 = w->img_bin[1][d1];
            if (b1 < 0) continue;
            for (int d2 = 0; d2 <= 2 * w->reach_3[2]; ++d2) {
                int b2 = w->img_bin[2][d2];
                if (b2 < 0) continue;
                int64_t bin = ((int64_t)b0 * w->nbin_3[1] + b1) * w->nbin_3[2] + b2;
                int64_t p0 = w->bin_start[bin], p1 = w->bin_start[bin + 1];
                if (p0 == p1) continue;
                int img_3[3] = {w->img_shift[0][d0], w->img_shift[1][d1], w->img_shift[2][d2]};
                double base_3[3];
                lattice3(img_3, w->cell_33, base_3);
                for (int a = 0; a < 3; ++a) base_3[a] -= wi_3[a];
                uint64_t off = ((uint64_t)d0 << w->key_shift_3[0]) |
                               ((uint64_t)d1 << w->key_shift_3[1]) | (uint64_t)d2;
                if (!nb_reserve((void **)&w->key, &w->key_cap, n_i + (p1 - p0), sizeof(uint64_t)))
                    return -1;
                for (int64_t p = p0; p < p1; ++p) {
                    const double *wj = w->wpos_n3 + 3 * p;
                    double x = wj[0] + base_3[0], y = wj[1] + base_3[1], z = wj[2] + base_3[2];
                    if (x * x + y * y + z * z >= screen2) continue;
                    w->key[n_i++] = ((uint64_t)w->bin_atom[p] << w->key_j_shift) | off;
                }
            }
        }
    }
    return n_i;
}

/* Bond n of list if atom j's image (shift s_3) lies closer than cutoff to atom i: dr =
 * r_j - r_i + s.cell, the one formula of the build and the refilter (so their lists agree
 * bit for bit). Returns 1 if kept. */
static int nb_keep_bond(acelin_neighbours *list, int64_t n, const double *ri, const double *rj,
                        int j, const int *s_3, const double *cell_33, double cutoff)
{
    double t_3[3], d_3[3];
    lattice3(s_3, cell_33, t_3);
    for (int a = 0; a < 3; ++a) d_3[a] = rj[a] - ri[a] + t_3[a];
    if (!(sqrt(d_3[0] * d_3[0] + d_3[1] * d_3[1] + d_3[2] * d_3[2]) < cutoff)) return 0;
    list->j[n] = j;
    memcpy(list->shift + 3 * n, s_3, 3 * sizeof(int));
    memcpy(list->dr + 3 * n, d_3, sizeof(d_3));
    return 1;
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

    nb_work w;
    memset(&w, 0, sizeof(w));
    w.n = n_atoms;
    w.pos_n3 = positions;
    w.cutoff = cutoff;
    for (int k = 0; k < 3; ++k) w.per_3[k] = pbc ? (pbc[k] != 0) : 0;
    if (cell) memcpy(w.cell_33, cell, sizeof(w.cell_33));
    st = nb_make_frame(w.cell_33, w.per_3, &w.fr, err, errlen);
    if (st != ACELIN_OK) return st;
    if (n_atoms == 0) {
        *out = nb_alloc(0, 1);
        return *out ? ACELIN_OK : nb_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory");
    }

    const int n = n_atoms;
    acelin_neighbours *list = NULL;
    double smin_3[3], smax_3[3];
    w.frac_n3 = (double *)malloc((size_t)n * 3 * sizeof(double));
    w.wrap_n3 = (int *)malloc((size_t)n * 3 * sizeof(int));
    if (!w.frac_n3 || !w.wrap_n3) goto oom;
    if ((st = nb_fractional(&w, smin_3, smax_3, err, errlen)) != ACELIN_OK) goto done;
    if ((st = nb_layout(&w, smin_3, smax_3, err, errlen)) != ACELIN_OK) goto done;
    if (!nb_fill_bins(&w)) goto oom;

    /* first guess of the list size: the cutoff sphere is about a quarter of the bins visited */
    int64_t cap = (int64_t)(fmin(w.per_atom, 4096.0) * 0.25 * n) + 16;
    if (!(list = nb_alloc(n, cap))) goto oom;

    /* The screen is wider than the cutoff by far more than the rounding difference
     * between wrapped-frame and input-position distances; the exact dr, from the input
     * positions, then decides strictly in one place. */
    double scale = 0.0;
    for (int64_t c = 0; c < 3 * (int64_t)n; ++c) scale = fmax(scale, fabs(positions[c]));
    for (int k = 0; k < 3; ++k) scale += (w.sabs_3[k] + w.reach_3[k] + 2.0) * norm3(w.cell_33 + 3 * k);
    const double screen = cutoff + 1e-9 * (cutoff + scale);
    const uint64_t mask_3[3] = {((uint64_t)1 << (w.key_j_shift - w.key_shift_3[0])) - 1,
                                ((uint64_t)1 << (w.key_shift_3[0] - w.key_shift_3[1])) - 1,
                                ((uint64_t)1 << w.key_shift_3[1]) - 1};
    int64_t n_bonds = 0;
    for (int i = 0; i < n; ++i) {
        int64_t n_i = nb_candidates(&w, i, screen * screen);
        if (n_i < 0) goto oom;
        if (!nb_reserve((void **)&w.key_tmp, &w.tmp_cap, n_i, sizeof(uint64_t))) goto oom;
        nb_sort_keys(w.key, w.key_tmp, n_i);
        /* key order (j, d0, d1, d2) is (j, shift) order: for a fixed j the shift grows
         * with the offset d in every direction */
        if (n_bonds + n_i > cap) {
            int64_t c1 = cap, c2 = cap, c3 = cap;
            if (!nb_reserve((void **)&list->j, &c1, n_bonds + n_i, sizeof(int)) ||
                !nb_reserve((void **)&list->shift, &c2, n_bonds + n_i, 3 * sizeof(int)) ||
                !nb_reserve((void **)&list->dr, &c3, n_bonds + n_i, 3 * sizeof(double)))
                goto oom;
            cap = c1; /* the same growth rule gives all three the same capacity */
        }
        const double *ri = positions + 3 * (size_t)i;
        const int *mi = w.wrap_n3 + 3 * (size_t)i;
        for (int64_t q = 0; q < n_i; ++q) {
            uint64_t key = w.key[q];
            int j = (int)(key >> w.key_j_shift);
            const int *mj = w.wrap_n3 + 3 * (size_t)j;
            const double *rj = positions + 3 * (size_t)j;
            int s_3[3];
            for (int k = 0; k < 3; ++k) {
                int d = (int)((key >> w.key_shift_3[k]) & mask_3[k]);
                /* shift of the input position of j = bin image + the two wrap counts */
                s_3[k] = w.per_3[k] ? w.img_shift[k][d] + mi[k] - mj[k] : 0;
            }
            if (j == i && s_3[0] == 0 && s_3[1] == 0 && s_3[2] == 0) continue;
            n_bonds += nb_keep_bond(list, n_bonds, ri, rj, j, s_3, w.cell_33, cutoff);
        }
        list->start[i + 1] = n_bonds;
    }
    list->n_bonds = n_bonds;
    *out = list;
    list = NULL;
    st = ACELIN_OK;
    goto done;
oom:
    st = nb_fail(err, errlen, ACELIN_ERR_ALLOC,
                 "out of memory building the neighbour list of %d atoms", n_atoms);
done:
    acelin_neighbours_free(list);
    nb_work_free(&w);
    return st;
}

/* The bonds shorter than cutoff among candidates: the list of a build with a larger cutoff
 * (cutoff + skin) at positions from which no atom has moved by skin/2 or more, with the
 * same atoms and cell. Every bond of the new positions is then a candidate, and each is
 * kept by the build's own test (nb_keep_bond), so the result is bitwise the list
 * acelin_neighbours_build would return for these positions, in the same (i, j, shift)
 * order. Whether the atoms stayed within skin/2 is the caller's
 * to check (ace_lin/neighbours.py, VerletNeighbours). */
acelin_status acelin_neighbours_refilter(int n_atoms, const double *positions, const double *cell,
                                         const int64_t *cand_start, const int *cand_j,
                                         const int *cand_shift, double cutoff,
                                         acelin_neighbours **out, char *err, size_t errlen)
{
    if (err && errlen > 0) err[0] = '\0';
    if (!out) return nb_fail(err, errlen, ACELIN_ERR_INVALID, "out is NULL");
    *out = NULL;
    acelin_status st = nb_check(n_atoms, positions, cell, NULL, cutoff, err, errlen);
    if (st != ACELIN_OK) return st;
    if (n_atoms > 0 && (!cand_start || (cand_start[n_atoms] > 0 && (!cand_j || !cand_shift))))
        return nb_fail(err, errlen, ACELIN_ERR_INVALID, "candidate list is NULL");
    static const double zero_33[9] = {0};
    const double *c33 = cell ? cell : zero_33;
    const int64_t cap = n_atoms > 0 ? cand_start[n_atoms] : 0;
    acelin_neighbours *list = nb_alloc(n_atoms, cap);
    if (!list) return nb_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory refiltering the "
                              "neighbour list of %d atoms", n_atoms);
    int64_t n_bonds = 0;
    for (int i = 0; i < n_atoms; ++i) {
        const double *ri = positions + 3 * (size_t)i;
        for (int64_t b = cand_start[i]; b < cand_start[i + 1]; ++b) {
            const int j = cand_j[b];
            if (j < 0 || j >= n_atoms) {
                acelin_neighbours_free(list);
                return nb_fail(err, errlen, ACELIN_ERR_INVALID,
                               "candidate %lld points to atom %d of %d", (long long)b, j, n_atoms);
            }
            n_bonds += nb_keep_bond(list, n_bonds, ri, positions + 3 * (size_t)j, j,
                                    cand_shift + 3 * b, c33, cutoff);
        }
        list->start[i + 1] = n_bonds;
    }
    list->n_bonds = n_bonds;
    *out = list;
    return ACELIN_OK;
}
