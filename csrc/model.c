/* model.c - create an immutable model from flat tables: validate, copy, and derive the
 * evaluation form (folded coefficients) and the design form (per-invariant supports). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define NU ACELIN_NU_MAX

static void *xcopy(const void *src, size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    if (p && bytes) memcpy(p, src, bytes);
    return p;
}

void acelin_model_free(acelin_model *m)
{
    if (!m) return;
    if (m->elements)
        for (int s = 0; s < m->ns; ++s) free(m->elements[s]);
    void *ptrs[] = {m->elements, m->Z, m->e0, m->r_cut, m->r_in, m->r_core, m->r_scale,
                    m->t_in, m->t_span, m->r_cut_long, m->r_scale_long, m->t_in_long,
                    m->t_span_long, m->r_reach, m->leg, m->rpar, m->species_long_start, m->zbl_a, m->nl_n, m->nl_l, m->nl_offset,
                    m->basis_species, m->basis_nu, m->term_start, m->term_coupling,
                    m->term_factors, m->coef, m->ct_start, m->ct_coef, m->ct_factors,
                    m->sup_start, m->sup_z, m->sup_nlm, m->term_slot, m->species_basis_start,
                    m->node_start, m->node_factors, m->node_leaf, m->leaf_a, m->leaf_c,
                    m->active_n, m->active_off, m->active_map, m->nl_pos, m->wnz_start,
                    m->wnz_row, m->wnz_col, m->wnz_w};
    for (size_t k = 0; k < sizeof(ptrs) / sizeof(ptrs[0]); ++k) free(ptrs[k]);
    free(m);
}

static acelin_status validate(const acelin_tables *t, char *err, size_t errlen)
{
    const int ns = t->n_species;
    if (ns < 1 || ns > 64) return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "n_species = %d (need 1..64)", ns);
    if (!t->elements || !t->atomic_numbers || !t->e0 || !t->r_cut || !t->r_in || !t->r_core ||
        !t->r_scale || (t->n_basis && (!t->coefficients || !t->basis_species || !t->basis_nu ||
        !t->basis_term_start)) || (t->n_nl && (!t->nl_n || !t->nl_l)))
        return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "a required table is NULL");
    for (int s = 0; s < ns; ++s) {
        if (!t->elements[s] || !t->elements[s][0] || strlen(t->elements[s]) > 15)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "bad element name for species %d", s);
        if (t->atomic_numbers[s] < 1 || t->atomic_numbers[s] > 118)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "bad atomic number for %s", t->elements[s]);
        if (!isfinite(t->e0[s])) return acelin_fail(err, errlen, ACELIN_ERR_NONFINITE, "E0 of %s is not finite", t->elements[s]);
    }
    for (int k = 0; k < ns * ns; ++k) {
        double rc = t->r_cut[k], ri = t->r_in[k], rco = t->r_core[k], sc = t->r_scale[k];
        if (!(isfinite(rc) && isfinite(ri) && isfinite(rco) && isfinite(sc)) || !(ri >= 0 && ri < rc) ||
            !(sc > 0) || (rco > 0 && !(rco > ri && rco < rc)) || rco < 0)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID,
                               "pair %d: need 0 <= r_in < r_cut, r_scale > 0, r_core = 0 or r_in < r_core < r_cut", k);
        if (rc > ACELIN_MAX_CUTOFF)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "pair %d: r_cut = %g A is not plausible (at most %g A)",
                               k, rc, ACELIN_MAX_CUTOFF);
    }
    if (t->transform_power < 1 || t->transform_power > 16)
        return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "transform_power = %d", t->transform_power);
    if (t->n_radial < 1 || t->n_radial > 1000 || t->lmax < 0 || t->lmax > 8 || t->n_nl < 0)
        return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "n_radial = %d, lmax = %d (need lmax <= 8)", t->n_radial, t->lmax);
    if (t->n_radial_long < 0 || t->n_radial_long > 1000)
        return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "n_radial_long = %d (need 0..1000)", t->n_radial_long);
    if (t->n_radial_long) {
        if (!t->r_cut_long || !t->r_scale_long)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "n_radial_long > 0 needs r_cut_long and r_scale_long");
        for (int k = 0; k < ns * ns; ++k)
            if (!(isfinite(t->r_cut_long[k]) && isfinite(t->r_scale_long[k])) || !(t->r_cut_long[k] > t->r_in[k]) ||
                !(t->r_scale_long[k] > 0) || t->r_cut_long[k] > ACELIN_MAX_CUTOFF)
                return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "pair %d: need r_in < r_cut_long <= %g A and "
                                   "r_scale_long > 0", k, ACELIN_MAX_CUTOFF);
    }
    const int n_top = t->radial_weights ? INT32_MAX : t->n_radial + t->n_radial_long; /* contracted: n is a label */
    for (int k = 0; k < t->n_nl; ++k) {
        if (t->nl_n[k] < 1 || t->nl_n[k] > n_top || t->nl_l[k] < 0 || t->nl_l[k] > t->lmax)
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "channel %d: (n, l) = (%d, %d) outside the basis", k, t->nl_n[k], t->nl_l[k]);
        for (int q = 0; q < k; ++q)
            if (t->nl_n[q] == t->nl_n[k] && t->nl_l[q] == t->nl_l[k])
                return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "channels %d and %d: (n, l) = (%d, %d) twice", q, k, t->nl_n[k], t->nl_l[k]);
    }
    if (t->radial_weights) {
        const size_t nw = (size_t)ns * ns * t->n_nl * (size_t)(t->n_radial + t->n_radial_long);
        for (size_t k = 0; k < nw; ++k)
            if (!isfinite(t->radial_weights[k]))
                return acelin_fail(err, errlen, ACELIN_ERR_NONFINITE, "radial weight %zu is not finite", k);
    }
    if (t->n_basis < 0 || t->n_terms < 0 || (t->n_terms && (!t->term_coupling || !t->term_factors)))
        return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "negative sizes or missing term tables");
    if (t->n_basis && (t->basis_term_start[0] != 0 || t->basis_term_start[t->n_basis] != t->n_terms))
        return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "basis_term_start must run from 0 to n_terms");
    for (int b = 0; b < t->n_basis; ++b) {
        if (t->basis_species[b] < 0 || t->basis_species[b] >= ns || t->basis_nu[b] < 1 || t->basis_nu[b] > NU ||
            t->basis_term_start[b + 1] < t->basis_term_start[b] || (b && t->basis_species[b] < t->basis_species[b - 1]))
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "invariant %d: bad species/order/term range (invariants must be grouped by species)", b);
        if (!isfinite(t->coefficients[b]))
            return acelin_fail(err, errlen, ACELIN_ERR_NONFINITE, "coefficient %d is not finite", b);
    }
    return ACELIN_OK;
}

/* sort key for folding: (species, nu, factors) */
typedef struct { int species, nu; int f[NU]; double c; } ct_entry;

static int ct_cmp(const void *pa, const void *pb)
{
    const ct_entry *a = pa, *b = pb;
    if (a->species != b->species) return a->species < b->species ? -1 : 1;
    if (a->nu != b->nu) return a->nu < b->nu ? -1 : 1;
    for (int k = 0; k < NU; ++k)
        if (a->f[k] != b->f[k]) return a->f[k] < b->f[k] ? -1 : 1;
    return 0;
}

static acelin_status build_ctilde(acelin_model *m, char *err, size_t errlen)
{
    ct_entry *e = malloc((size_t)(m->n_terms ? m->n_terms : 1) * sizeof(ct_entry));
    m->ct_start = calloc((size_t)(m->ns * (NU + 1) + 1), sizeof(int64_t));
    if (!e || !m->ct_start) { free(e); return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (folding)"); }
    int64_t n = 0;
    for (int b = 0; b < m->n_basis; ++b) {
        if (m->coef[b] == 0.0) continue;
        for (int64_t t = m->term_start[b]; t < m->term_start[b + 1]; ++t) {
            e[n].species = m->basis_species[b];
            e[n].nu = m->basis_nu[b];
            memcpy(e[n].f, m->term_factors + t * NU, NU * sizeof(int));
            e[n].c = m->coef[b] * m->term_coupling[t];
            ++n;
        }
    }
    qsort(e, (size_t)n, sizeof(ct_entry), ct_cmp);
    int64_t w = 0; /* merge equal products, summing in sorted (deterministic) order */
    for (int64_t k = 0; k < n; ++k) {
        if (w && ct_cmp(&e[w - 1], &e[k]) == 0) e[w - 1].c += e[k].c;
        else e[w++] = e[k];
    }
    m->ct_coef = malloc((size_t)(w ? w : 1) * sizeof(double));
    m->ct_factors = malloc((size_t)(w ? w : 1) * NU * sizeof(int));
    if (!m->ct_coef || !m->ct_factors) { free(e); return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (folding)"); }
    for (int64_t k = 0; k < w; ++k) {
        m->ct_coef[k] = e[k].c;
        memcpy(m->ct_factors + k * NU, e[k].f, NU * sizeof(int));
        m->ct_start[e[k].species * (NU + 1) + e[k].nu + 1] += 1; /* counts, prefix-summed below */
    }
    for (int k = 1; k <= m->ns * (NU + 1); ++k) m->ct_start[k] += m->ct_start[k - 1];
    free(e);
    return ACELIN_OK;
}

/* Group the sorted folded products by their first nu-1 factors (prefix tree). */
static acelin_status build_tree(acelin_model *m, char *err, size_t errlen)
{
    const int S = m->ns * (NU + 1);
    const int64_t n_ct = m->ct_start[S];
    m->node_start = calloc((size_t)S + 1, sizeof(int64_t));
    m->node_factors = malloc((size_t)(n_ct ? n_ct : 1) * (NU - 1) * sizeof(int));
    m->node_leaf = malloc((size_t)(n_ct + 1) * sizeof(int64_t));
    m->leaf_a = malloc((size_t)(n_ct ? n_ct : 1) * sizeof(int));
    m->leaf_c = malloc((size_t)(n_ct ? n_ct : 1) * sizeof(double));
    if (!m->node_start || !m->node_factors || !m->node_leaf || !m->leaf_a || !m->leaf_c)
        return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (product tree)");
    int64_t nodes = 0;
    for (int key = 0; key < S; ++key) {
        const int nu = key % (NU + 1);
        m->node_start[key] = nodes;
        for (int64_t t = m->ct_start[key]; t < m->ct_start[key + 1]; ++t) {
            const int *f = m->ct_factors + t * NU;
            int same = t > m->ct_start[key];
            for (int k = 0; same && k < nu - 1; ++k) same = f[k] == m->ct_factors[(t - 1) * NU + k];
            if (!same) {
                for (int k = 0; k < NU - 1; ++k) m->node_factors[nodes * (NU - 1) + k] = k < nu - 1 ? f[k] : -1;
                m->node_leaf[nodes++] = t;
            }
            m->leaf_a[t] = f[nu - 1];
            m->leaf_c[t] = m->ct_coef[t];
        }
    }
    m->node_start[S] = nodes;
    m->node_leaf[nodes] = n_ct;
    return ACELIN_OK;
}

static acelin_status build_support(acelin_model *m, char *err, size_t errlen)
{
    m->sup_start = malloc((size_t)(m->n_basis + 1) * sizeof(int64_t));
    m->term_slot = malloc((size_t)(m->n_terms ? m->n_terms : 1) * NU * sizeof(int));
    int *sup_a = malloc((size_t)(m->n_terms ? m->n_terms : 1) * NU * sizeof(int)); /* upper bound */
    int *seen = malloc((size_t)(m->n_A ? m->n_A : 1) * sizeof(int));
    if (!m->sup_start || !m->term_slot || !sup_a || !seen) { free(seen); free(sup_a); return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (supports)"); }
    for (int a = 0; a < m->n_A; ++a) seen[a] = -1;
    int64_t ns = 0;
    m->sup_start[0] = 0;
    for (int b = 0; b < m->n_basis; ++b) {
        int count = 0;
        for (int64_t t = m->term_start[b]; t < m->term_start[b + 1]; ++t)
            for (int k = 0; k < NU; ++k) {
                int a = m->term_factors[t * NU + k];
                if (k < m->basis_nu[b]) {
                    if (seen[a] < 0) { seen[a] = count++; sup_a[ns + seen[a]] = a; }
                    m->term_slot[t * NU + k] = seen[a];
                } else m->term_slot[t * NU + k] = -1;
            }
        for (int s = 0; s < count; ++s) seen[sup_a[ns + s]] = -1;
        ns += count;
        m->sup_start[b + 1] = ns;
    }
    free(seen);
    /* kept split into neighbour species and entry: the design loop needs both */
    m->sup_z = malloc((size_t)(ns ? ns : 1) * sizeof(int));
    m->sup_nlm = malloc((size_t)(ns ? ns : 1) * sizeof(int));
    if (m->sup_z && m->sup_nlm)
        for (int64_t k = 0; k < ns; ++k) {
            m->sup_z[k] = sup_a[k] / m->n_int; /* atomic-base block */
            m->sup_nlm[k] = sup_a[k] % m->n_int;
        }
    free(sup_a);
    if (!m->sup_z || !m->sup_nlm) return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (supports)");
    return ACELIN_OK;
}

/* Which atomic-base entries and invariants belong to the long-range channel. A species'
 * long invariants must follow its short ones (the generator appends them); evaluation
 * then skips, for neighbours beyond the short cutoff, everything of the short channel. */
static acelin_status mark_long(acelin_model *m, char *err, size_t errlen)
{
    /* a_long[e]: 1 where atomic-base entry e is a long-channel one (build time only) */
    signed char *a_long = calloc((size_t)(m->n_int ? m->n_int : 1), 1);
    m->species_long_start = malloc((size_t)m->ns * sizeof(int));
    if (!a_long || !m->species_long_start) { free(a_long); return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory"); }
    for (int l = 0; l <= 8; ++l)
        for (int i = 0; i <= 2 * l; ++i)
            for (int n = m->c0[l]; n < m->Nl[l]; ++n) a_long[m->loff[l] + i * m->Nl[l] + n] = 1;
    acelin_status st = ACELIN_OK;
    for (int s = 0; s < m->ns && st == ACELIN_OK; ++s) {
        const int b0 = m->species_basis_start[s], b1 = m->species_basis_start[s + 1];
        int first = b1;
        for (int b = b0; b < b1 && st == ACELIN_OK; ++b) {
            const int *f = m->term_factors + m->term_start[b] * NU;
            const int is_long = m->term_start[b + 1] > m->term_start[b] && a_long[f[0] % m->n_int];
            for (int64_t t = m->term_start[b]; t < m->term_start[b + 1] && st == ACELIN_OK; ++t)
                for (int k = 0; k < m->basis_nu[b]; ++k)
                    if (a_long[m->term_factors[t * NU + k] % m->n_int] != is_long) {
                        st = acelin_fail(err, errlen, ACELIN_ERR_INVALID, "invariant %d mixes the short and long-range channels", b);
                        break;
                    }
            if (st == ACELIN_OK && is_long && first == b1) first = b;
            if (st == ACELIN_OK && !is_long && first < b1)
                st = acelin_fail(err, errlen, ACELIN_ERR_INVALID, "invariant %d: a species' long-range invariants must follow its short ones", b);
        }
        m->species_long_start[s] = first;
    }
    free(a_long);
    return st;
}

/* used[k] = 1 (in pos) for the channels some term factor refers to. A generator may list
 * channels that only products without an invariant touched; they are left out of the
 * atomic base (no density or back-propagation work), which changes nothing else. */
static acelin_status used_channels(acelin_model *m, int *used, char *err, size_t errlen)
{
    int *chan_of = malloc((size_t)(m->n_nlm ? m->n_nlm : 1) * sizeof(int)); /* block entry -> channel */
    if (!chan_of) return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory");
    for (int k = 0; k < m->n_nl; ++k) {
        used[k] = 0;
        for (int i = 0; i <= 2 * m->nl_l[k]; ++i) chan_of[m->nl_offset[k] + i] = k;
    }
    for (int64_t i = 0; i < m->n_terms * NU; ++i)
        if (m->term_factors[i] >= 0) used[chan_of[m->term_factors[i] % m->n_nlm]] = 1;
    free(chan_of);
    return ACELIN_OK;
}

/* Internal position of each used channel inside its l (pos[k]; on entry 1 if used, -1 on
 * return if not), the per-l radial counts Nl
 * (whole vectors of the kernels' width vn; padded entries are never used by a product), the first
 * long-range position c0[l], the harmonics' bounds lmax and lmax_far, and where each l's
 * radial values sit in a neighbour's R (roff, n_rtot).
 * Species-resolved: a channel's position is its index in acelin_radial's layout (short
 * n-1, long n_spad + n-1-n_radial), and R is shared by every l. Contracted: per l, the
 * short channels in table order, then, from a whole vector on, the long-range ones (a
 * channel is long-range if any pair weights its long base). */
static void channel_layout(acelin_model *m, const acelin_tables *t, int *pos)
{
    const int nbase = t->n_radial + t->n_radial_long, np = m->ns * m->ns;
    int n_short[9] = {0}, n_lng[9] = {0};
    const int vn = m->vn = acelin_kernel_width();
    m->lmax = 0;
    m->lmax_far = 0;
    for (int l = 0; l <= 8; ++l) m->Nl[l] = 0;
    for (int k = 0; k < m->n_nl; ++k) {
        const int l = m->nl_l[k];
        if (!pos[k]) { /* unused (used_channels): no position */
            pos[k] = -1;
            continue;
        }
        int lg = m->nl_n[k] > m->n_radial;
        if (m->chan) {
            lg = 0;
            for (int p = 0; p < np && !lg; ++p)
                for (int b = t->n_radial; b < nbase && !lg; ++b)
                    lg = t->radial_weights[((size_t)p * m->n_nl + k) * nbase + b] != 0.0;
        }
        /* harmonics only up to the largest l a channel uses (the table's lmax is a bound) */
        if (l > m->lmax) m->lmax = l;
        if (lg && l > m->lmax_far) m->lmax_far = l;
        if (!m->chan) {
            const int n = m->nl_n[k];
            pos[k] = n <= m->n_radial ? n - 1 : m->n_spad + n - 1 - m->n_radial;
            if (pos[k] + 1 > m->Nl[l]) m->Nl[l] = pos[k] + 1;
        } else {
            pos[k] = lg ? n_lng[l]++ : n_short[l]++;
            pos[k] = lg ? -2 - pos[k] : pos[k]; /* long ones are placed below, after c0[l] */
        }
    }
    for (int l = 0; l <= 8; ++l) {
        if (!m->chan) {
            m->Nl[l] = (m->Nl[l] + vn - 1) / vn * vn;
            m->c0[l] = m->n_spad;
            m->roff[l] = 0;
        } else {
            m->c0[l] = (n_short[l] + vn - 1) / vn * vn;
            m->Nl[l] = (m->c0[l] + n_lng[l] + vn - 1) / vn * vn;
            m->roff[l + 1] = (l ? m->roff[l] : 0) + m->Nl[l];
        }
    }
    m->n_lm = (m->lmax + 1) * (m->lmax + 1); /* acelin_ylm's own layout */
    m->roff[0] = 0;
    if (!m->chan) m->roff[9] = 0;
    m->n_rtot = m->chan ? (m->roff[9] ? m->roff[9] : 1) : m->n_rpad;
    if (m->chan)
        for (int k = 0; k < m->n_nl; ++k)
            if (pos[k] <= -2) pos[k] = m->c0[m->nl_l[k]] + (-2 - pos[k]);
    for (int l = 0; l <= 8; ++l) {
        m->s_end[l] = 0;
        m->l_end[l] = m->c0[l];
    }
    for (int k = 0; k < m->n_nl; ++k) {
        const int l = m->nl_l[k], p = pos[k];
        if (p < 0) continue;
        if (p < m->c0[l]) { if (p + 1 > m->s_end[l]) m->s_end[l] = p + 1; }
        else if (p + 1 > m->l_end[l]) m->l_end[l] = p + 1;
    }
}

/* Contracted channels: the non-zero weights of every pair, rows at roff[l] + pos, columns
 * at acelin_radial's positions of the base functions. */
static acelin_status contracted_weights(acelin_model *m, const acelin_tables *t, const int *pos, char *err, size_t errlen)
{
    const int nbase = t->n_radial + t->n_radial_long, np = m->ns * m->ns;
    m->wnz_start = calloc((size_t)np + 1, sizeof(int64_t));
    if (!m->wnz_start) return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (radial weights)");
    for (int pass = 0; pass < 2; ++pass) { /* count, then fill */
        int64_t nz = 0;
        for (int p = 0; p < np; ++p) {
            if (pass) m->wnz_start[p] = nz;
            for (int k = 0; k < m->n_nl; ++k) {
                if (pos[k] < 0) continue;
                const double *w = t->radial_weights + ((size_t)p * m->n_nl + k) * nbase;
                for (int b = 0; b < nbase; ++b) {
                    if (w[b] == 0.0) continue;
                    if (pass) {
                        m->wnz_row[nz] = m->roff[m->nl_l[k]] + pos[k];
                        m->wnz_col[nz] = b < t->n_radial ? b : m->n_spad + b - t->n_radial;
                        m->wnz_w[nz] = w[b];
                    }
                    ++nz;
                }
            }
        }
        if (pass) {
            m->wnz_start[np] = nz;
        } else {
            m->wnz_row = malloc((size_t)(nz ? nz : 1) * sizeof(int));
            m->wnz_col = malloc((size_t)(nz ? nz : 1) * sizeof(int));
            m->wnz_w = malloc((size_t)(nz ? nz : 1) * sizeof(double));
            if (!m->wnz_row || !m->wnz_col || !m->wnz_w)
                return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (radial weights)");
        }
    }
    return ACELIN_OK;
}

/* The extrapolation grade's maps, one flat array (species blocks of invariants are known). */
static acelin_status copy_active_set(acelin_model *m, const acelin_tables *t, char *err, size_t errlen)
{
    m->active_n = calloc((size_t)m->ns, sizeof(int));
    m->active_off = calloc((size_t)m->ns + 1, sizeof(int64_t));
    if (!m->active_n || !m->active_off) return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (active set)");
    for (int s = 0; s < m->ns; ++s) {
        const int r = t->active_n ? t->active_n[s] : 0;
        const int64_t rows = m->species_basis_start[s + 1] - m->species_basis_start[s];
        if (r < 0) return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "active set of %s: %d columns", m->elements[s], r);
        if (r > 0 && rows > 0 && (!t->active_map || !t->active_map[s]))
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "active set of %s: the map is NULL", m->elements[s]);
        if (rows > 0 && (int64_t)r > (INT64_MAX / 8 - m->active_off[s]) / rows) /* bytes fit in int64 */
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "active set of %s: map too large", m->elements[s]);
        m->active_n[s] = r;
        m->active_off[s + 1] = m->active_off[s] + rows * r;
    }
    const int64_t total = m->active_off[m->ns];
    m->active_map = malloc((size_t)(total ? total : 1) * sizeof(double));
    if (!m->active_map) return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory (active set map)");
    for (int s = 0; s < m->ns; ++s) {
        const int64_t n = m->active_off[s + 1] - m->active_off[s];
        if (!n) continue;
        memcpy(m->active_map + m->active_off[s], t->active_map[s], (size_t)n * sizeof(double));
        for (int64_t k = 0; k < n; ++k)
            if (!isfinite(t->active_map[s][k]))
                return acelin_fail(err, errlen, ACELIN_ERR_NONFINITE, "active set of %s: map entry %lld is not finite",
                                   m->elements[s], (long long)k);
    }
    return ACELIN_OK;
}

acelin_status acelin_model_create(const acelin_tables *t, acelin_model **out, char *err, size_t errlen)
{
    if (!t || !out) return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "NULL argument");
    *out = NULL;
    acelin_status st = validate(t, err, errlen);
    if (st) return st;
    acelin_model *m = calloc(1, sizeof(acelin_model));
    if (!m) return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory");
    const int ns = m->ns = t->n_species;
    const size_t np = (size_t)ns * ns;
    m->elements = calloc((size_t)ns, sizeof(char *));
    if (m->elements)
        for (int s = 0; s < ns; ++s) m->elements[s] = xcopy(t->elements[s], strlen(t->elements[s]) + 1);
    m->Z = xcopy(t->atomic_numbers, ns * sizeof(int));
    m->e0 = xcopy(t->e0, ns * sizeof(double));
    m->r_cut = xcopy(t->r_cut, np * sizeof(double));
    m->r_in = xcopy(t->r_in, np * sizeof(double));
    m->r_core = xcopy(t->r_core, np * sizeof(double));
    m->r_scale = xcopy(t->r_scale, np * sizeof(double));
    m->t_in = malloc(np * sizeof(double));
    m->t_span = malloc(np * sizeof(double));
    m->zbl_a = malloc(np * sizeof(double));
    m->n_long = t->n_radial_long;
    m->r_cut_long = xcopy(m->n_long ? t->r_cut_long : t->r_cut, np * sizeof(double));
    m->r_scale_long = xcopy(m->n_long ? t->r_scale_long : t->r_scale, np * sizeof(double));
    m->t_in_long = malloc(np * sizeof(double));
    m->t_span_long = malloc(np * sizeof(double));
    m->r_reach = malloc(np * sizeof(double));
    const int n_leg = (t->n_radial > t->n_radial_long ? t->n_radial : t->n_radial_long) + 1;
    m->leg = malloc(3 * (size_t)n_leg * sizeof(double));
    if (m->leg)
        for (int k = 0; k < n_leg; ++k) {
            m->leg[3 * k] = (2.0 * k + 1.0) / (k + 1.0);
            m->leg[3 * k + 1] = (double)k / (k + 1.0);
            m->leg[3 * k + 2] = 2.0 * k + 1.0;
        }
    m->rpar = malloc(8 * np * sizeof(double));
    m->p = t->transform_power;
    m->n_radial = t->n_radial;
    m->lmax = t->lmax;
    m->n_lm = (t->lmax + 1) * (t->lmax + 1);
    m->n_nl = t->n_nl;
    m->nl_n = xcopy(t->nl_n, t->n_nl * sizeof(int));
    m->nl_l = xcopy(t->nl_l, t->n_nl * sizeof(int));
    m->nl_offset = malloc((size_t)(t->n_nl ? t->n_nl : 1) * sizeof(int));
    m->n_basis = t->n_basis;
    m->n_terms = t->n_terms;
    m->basis_species = xcopy(t->basis_species, t->n_basis * sizeof(int));
    m->basis_nu = xcopy(t->basis_nu, t->n_basis * sizeof(int));
    m->term_start = xcopy(t->basis_term_start, (t->n_basis + 1) * sizeof(int64_t));
    m->term_coupling = xcopy(t->term_coupling, t->n_terms * sizeof(double));
    m->term_factors = xcopy(t->term_factors, t->n_terms * NU * sizeof(int));
    m->coef = xcopy(t->coefficients, t->n_basis * sizeof(double));
    m->species_basis_start = calloc((size_t)ns + 1, sizeof(int));
    if (!m->elements || !m->Z || !m->e0 || !m->r_cut || !m->r_in || !m->r_core || !m->r_scale ||
        !m->t_in || !m->t_span || !m->zbl_a || !m->r_cut_long || !m->r_scale_long ||
        !m->t_in_long || !m->t_span_long || !m->r_reach || !m->leg || !m->rpar || !m->nl_n || !m->nl_l || !m->nl_offset ||
        !m->basis_species || !m->basis_nu || !m->term_start || !m->term_coupling ||
        !m->term_factors || !m->coef || !m->species_basis_start) {
        acelin_model_free(m);
        return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory");
    }
    for (int s = 0; s < ns; ++s)
        if (!m->elements[s]) { acelin_model_free(m); return acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory"); }
    m->max_cut = 0.0;
    for (size_t k = 0; k < np; ++k) {
        double t_cut = acelin_transform_t(m->r_cut[k], m->r_scale[k], m->p, NULL);
        m->t_in[k] = acelin_transform_t(m->r_in[k], m->r_scale[k], m->p, NULL);
        m->t_span[k] = m->t_in[k] - t_cut;
        t_cut = acelin_transform_t(m->r_cut_long[k], m->r_scale_long[k], m->p, NULL);
        m->t_in_long[k] = acelin_transform_t(m->r_in[k], m->r_scale_long[k], m->p, NULL);
        m->t_span_long[k] = m->t_in_long[k] - t_cut;
        for (int ch = 0; ch < 2; ++ch) {
            double *q = m->rpar + 4 * (ch * np + k);
            q[0] = ch ? m->r_cut_long[k] : m->r_cut[k];
            q[1] = 1.0 / (ch ? m->r_scale_long[k] : m->r_scale[k]);
            q[2] = ch ? m->t_in_long[k] : m->t_in[k];
            q[3] = 2.0 / (ch ? m->t_span_long[k] : m->t_span[k]);
        }
        m->r_reach[k] = (m->n_long && m->r_cut_long[k] > m->r_cut[k]) ? m->r_cut_long[k] : m->r_cut[k];
        /* the radial basis maps t(r) linearly onto [-1, 1]: the span must be a normal number */
        if (!(isnormal(m->t_span[k]) && m->t_span[k] > 0) || !(isnormal(m->t_span_long[k]) && m->t_span_long[k] > 0)) {
            acelin_model_free(m);
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "pair %d: the distance transform is degenerate "
                               "(r_scale %g, r_scale_long %g A against r_in .. r_cut)", (int)k, t->r_scale[k],
                               t->n_radial_long ? t->r_scale_long[k] : t->r_scale[k]);
        }
        int zi = (int)(k / ns), zj = (int)(k % ns);
        m->zbl_a[k] = 0.46850 / (pow(m->Z[zi], 0.23) + pow(m->Z[zj], 0.23));
        if (m->r_reach[k] > m->max_cut) m->max_cut = m->r_reach[k];
    }
    int off = 0;
    for (int k = 0; k < m->n_nl; ++k) { m->nl_offset[k] = off; off += 2 * m->nl_l[k] + 1; }
    m->n_nlm = off;
    m->chan = t->radial_weights != NULL;
    m->n_ablock = m->chan ? 1 : ns;
    const int n_file = m->n_ablock * off; /* atomic-base size in the file's indexing */
    /* base radial layout (acelin_radial): short n-1, long n_spad + (n-1-n_radial) */
    m->n_spad = m->n_long ? (m->n_radial + 3) / 4 * 4 : m->n_radial;
    m->n_rpad = (m->n_spad + m->n_long + 3) / 4 * 4;
    for (int64_t i = 0; i < m->n_terms * NU; ++i) {
        int a = m->term_factors[i];
        if (a < -1 || a >= n_file || (a == -1 && (i % NU) < 1)) {
            acelin_model_free(m);
            return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "term factor %d outside the atomic base (size %d)", a, n_file);
        }
    }
    int *pos = m->nl_pos = malloc((size_t)(m->n_nl ? m->n_nl : 1) * sizeof(int));
    if (!pos || (st = used_channels(m, pos, err, errlen))) {
        acelin_model_free(m);
        return st ? st : acelin_fail(err, errlen, ACELIN_ERR_ALLOC, "out of memory");
    }
    channel_layout(m, t, pos);
    m->loff[0] = 0;
    for (int l = 0; l <= 8; ++l) m->loff[l + 1] = m->loff[l] + (2 * l + 1) * m->Nl[l];
    m->n_int = m->loff[9];
    m->n_A = m->n_ablock * m->n_int;
    /* file index (block, channel, l+m) -> internal index (block, l, l+m, position); keep
       factors sorted */
    for (int64_t t = 0; t < m->n_terms; ++t) {
        int *f = m->term_factors + t * NU;
        for (int k = 0; k < NU && f[k] >= 0; ++k) {
            int z = f[k] / off, rem = f[k] % off, ch = 0;
            while (ch + 1 < m->n_nl && m->nl_offset[ch + 1] <= rem) ++ch;
            int l = m->nl_l[ch], i = rem - m->nl_offset[ch];
            f[k] = z * m->n_int + m->loff[l] + i * m->Nl[l] + pos[ch];
        }
        for (int k = 1; k < NU && f[k] >= 0; ++k)
            for (int q = k; q > 0 && f[q - 1] > f[q]; --q) { int tmp = f[q]; f[q] = f[q - 1]; f[q - 1] = tmp; }
    }
    for (int b = 0; b < m->n_basis; ++b) {
        for (int64_t tt = m->term_start[b]; tt < m->term_start[b + 1]; ++tt)
            for (int k = 0; k < NU; ++k)
                if ((k < m->basis_nu[b]) != (m->term_factors[tt * NU + k] >= 0)) {
                    acelin_model_free(m);
                    return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "invariant %d: term factors do not match its order", b);
                }
        m->species_basis_start[m->basis_species[b] + 1] = b + 1;
    }
    for (int s = 1; s <= ns; ++s)
        if (m->species_basis_start[s] < m->species_basis_start[s - 1]) m->species_basis_start[s] = m->species_basis_start[s - 1];
    if (m->chan && (st = contracted_weights(m, t, pos, err, errlen))) {
        acelin_model_free(m);
        return st;
    }
    if ((st = mark_long(m, err, errlen))) {
        acelin_model_free(m);
        return st;
    }
    if ((st = build_ctilde(m, err, errlen)) || (st = build_tree(m, err, errlen)) ||
        (st = build_support(m, err, errlen)) || (st = copy_active_set(m, t, err, errlen))) {
        acelin_model_free(m);
        return st;
    }
    *out = m;
    return ACELIN_OK;
}

int acelin_model_n_species(const acelin_model *m) { return m->ns; }
int acelin_model_n_basis(const acelin_model *m) { return m->n_basis; }
int acelin_model_kernel_width(const acelin_model *m) { return m ? m->vn : 0; }
const char *acelin_model_element(const acelin_model *m, int s) { return (s >= 0 && s < m->ns) ? m->elements[s] : NULL; }
int acelin_model_species_index(const acelin_model *m, const char *el)
{
    for (int s = 0; s < m->ns; ++s)
        if (el && strcmp(m->elements[s], el) == 0) return s;
    return -1;
}
double acelin_model_cutoff(const acelin_model *m, int i, int j)
{
    return (i >= 0 && j >= 0 && i < m->ns && j < m->ns) ? m->r_reach[i * m->ns + j] : 0.0;
}
double acelin_model_max_cutoff(const acelin_model *m) { return m->max_cut; }
int acelin_model_has_grade(const acelin_model *m, int s)
{
    return (m && s >= 0 && s < m->ns && m->active_n[s] > 0) ? 1 : 0;
}
