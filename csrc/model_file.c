/* model_file.c - acelin_model_load: read an ace_lin model file (JSON, format_version 1 to 4;
 * version 2 adds the long-range channel: tables.n_radial_long, r_cut_long, r_scale_long;
 * version 3 the keys "active_set" (the extrapolation grade's maps, read into
 * tables.active_n / active_map) and "posterior" (not used by the core: only its type is
 * checked); older versions have neither; version 4 the optional tables.radial_weights of
 * contracted radial channels) without Python, as the LAMMPS plugin must.
 *
 * Order of checks (each failure names the file): readable (ACELIN_ERR_IO), JSON
 * (ACELIN_ERR_FORMAT), "format" (FORMAT), "format_version" (VERSION when newer than
 * this core), sha256 checksum (CHECKSUM), then every key the evaluator needs with its
 * shape (FORMAT, naming the key). Values (cutoff ordering, index ranges, ...) are
 * validated by acelin_model_create (its status, "invalid model: ..."). The checksum
 * rule: sha256 of the file's bytes with the 64 hex digits of checksum.value replaced
 * by '0's; the text "value": "<hex>" must occur exactly once, which is what lets a
 * reader find it without re-serialising.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "json_lite.h"
#include "sha256.h"

#define FORMAT_NAME "ace_lin-model"

typedef struct {
    const char *path;
    char *err;
    size_t errlen;
} loader;

static acelin_status fail_file(const loader *L, acelin_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static acelin_status fail_file(const loader *L, acelin_status st, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return acelin_fail(L->err, L->errlen, st, "%s: %s", L->path, msg);
}

static acelin_status read_all(const loader *L, char **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *f = fopen(L->path, "rb");
    if (!f) return fail_file(L, ACELIN_ERR_IO, "cannot open model file: %s", strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) { fclose(f); return fail_file(L, ACELIN_ERR_ALLOC, "out of memory reading the model file"); }
    for (;;) { /* read to EOF rather than trusting a size from fseek (pipes, /proc, ...) */
        if (n == cap) {
            char *grown = cap <= ((size_t)-1) / 2 ? realloc(buf, cap * 2) : NULL;
            if (!grown) { free(buf); fclose(f); return fail_file(L, ACELIN_ERR_ALLOC, "out of memory reading the model file"); }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        return fail_file(L, ACELIN_ERR_IO, "cannot read model file: %s", strerror(e ? e : EIO));
    }
    fclose(f);
    *data = buf;
    *size = n;
    return ACELIN_OK;
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t k = 0; k < n; ++k)
        if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f'))) return 0;
    return 1;
}

static acelin_status verify_checksum(const loader *L, const acelin_json *root, char *buf, size_t n)
{
    static const char key[] = "\"value\": \"";
    const size_t klen = sizeof(key) - 1;
    const acelin_json *ck = acelin_json_get(root, "checksum");
    if (!ck) return fail_file(L, ACELIN_ERR_FORMAT, "missing required key 'checksum'");
    const char *algo = acelin_json_string(acelin_json_get(ck, "algorithm"));
    const acelin_json *val = acelin_json_get(ck, "value");
    if (!algo || strcmp(algo, "sha256") != 0)
        return fail_file(L, ACELIN_ERR_FORMAT, "checksum.algorithm must be \"sha256\"");
    if (!val || val->type != ACELIN_JSON_STRING || val->count != 64 || !is_lower_hex(val->u.string, 64))
        return fail_file(L, ACELIN_ERR_FORMAT, "checksum.value must be 64 lowercase hex digits");
    size_t found = 0, at = 0;
    for (size_t i = 0; i + klen + 65 <= n; ++i) {
        const char *q = memchr(buf + i, '"', n - i - klen - 64);
        if (!q) break;
        i = (size_t)(q - buf);
        if (i + klen + 65 > n) break;
        if (memcmp(buf + i, key, klen) == 0 && is_lower_hex(buf + i + klen, 64) && buf[i + klen + 64] == '"') {
            ++found;
            at = i + klen;
        }
    }
    if (found != 1)
        return fail_file(L, ACELIN_ERR_CHECKSUM, "cannot verify the checksum: the text \"value\": \"<64 hex>\" "
                         "occurs %zu times (must be exactly once; was the file reformatted?)", found);
    if (memcmp(buf + at, val->u.string, 64) != 0)
        return fail_file(L, ACELIN_ERR_CHECKSUM, "cannot verify the checksum: the value text found is not checksum.value");
    char stored[65], actual[ACELIN_SHA256_HEX];
    memcpy(stored, buf + at, 64);
    stored[64] = '\0';
    memset(buf + at, '0', 64); /* buf is our private copy; the tree holds its own strings */
    acelin_sha256_hex(buf, n, actual);
    memcpy(buf + at, stored, 64);
    if (strcmp(stored, actual) != 0)
        return fail_file(L, ACELIN_ERR_CHECKSUM, "checksum mismatch: the file is corrupted or was edited "
                         "(stored sha256 %.12s..., content gives %.12s...)", stored, actual);
    return ACELIN_OK;
}

static acelin_status check_units(const loader *L, const acelin_json *units)
{
    static const char *const want[4][2] = {{"energy", "eV"}, {"length", "Angstrom"},
                                           {"force", "eV/Angstrom"}, {"stress", "eV/Angstrom^3"}};
    if (units->type != ACELIN_JSON_OBJECT) return fail_file(L, ACELIN_ERR_FORMAT, "units: expected an object");
    for (int k = 0; k < 4; ++k) {
        const char *u = acelin_json_string(acelin_json_get(units, want[k][0]));
        if (!u || strcmp(u, want[k][1]) != 0)
            return fail_file(L, ACELIN_ERR_FORMAT, "units.%s must be \"%s\" (this core works in eV and Angstrom)",
                             want[k][0], want[k][1]);
    }
    return ACELIN_OK;
}

/* Everything allocated while filling the tables; freed in one place. */
typedef struct {
    const char **elements;
    int *Z, *nl_n, *nl_l, *species, *nu, *factors;
    double *e0, *r_cut, *r_in, *r_core, *r_scale, *coupling, *coef, *r_cut_long, *r_scale_long;
    double *radial_weights;
    int64_t *term_start;
    int *active_n;               /* [ns] */
    const double **active_map;   /* [ns] pointers into active_flat */
    double *active_flat;
} scratch;

static void scratch_free(scratch *s)
{
    free((void *)s->elements);
    void *p[] = {s->Z, s->nl_n, s->nl_l, s->species, s->nu, s->factors, s->e0, s->r_cut,
                 s->r_in, s->r_core, s->r_scale, s->coupling, s->coef, s->term_start,
                 s->r_cut_long, s->r_scale_long, s->active_n, (void *)s->active_map, s->active_flat,
                 s->radial_weights};
    for (size_t k = 0; k < sizeof(p) / sizeof(p[0]); ++k) free(p[k]);
}

static void *alloc_n(size_t n, size_t size) { return malloc((n ? n : 1) * size); }

/* Look up tables.<key>; a missing key is a format error naming it. */
static const acelin_json *need(const loader *L, const acelin_json *obj, const char *prefix,
                               const char *key, acelin_status *st)
{
    const acelin_json *v = acelin_json_get(obj, key);
    if (!v) *st = fail_file(L, ACELIN_ERR_FORMAT, "missing required key '%s%s'", prefix, key);
    return v;
}

/* Wrap a json_lite extraction message (which names the key) with the file name. */
static acelin_status shape(const loader *L, int rc, const char *msg)
{
    return rc ? fail_file(L, ACELIN_ERR_FORMAT, "%s", msg) : ACELIN_OK;
}

static acelin_status fill_tables(const loader *L, const acelin_json *root, int version, acelin_tables *t, scratch *s)
{
    acelin_status st = ACELIN_OK;
    char msg[400];
    /* elements */
    const acelin_json *els = need(L, root, "", "elements", &st);
    if (!els) return st;
    if (els->type != ACELIN_JSON_ARRAY || els->count < 1)
        return fail_file(L, ACELIN_ERR_FORMAT, "elements: expected a non-empty array of chemical symbols");
    if (els->count > 1024) return fail_file(L, ACELIN_ERR_FORMAT, "elements: %zu entries is not plausible", els->count);
    const int ns = (int)els->count;
    const size_t np = (size_t)ns * (size_t)ns;
    t->n_species = ns;
    s->elements = alloc_n((size_t)ns, sizeof(char *));
    s->e0 = alloc_n((size_t)ns, sizeof(double));
    s->Z = alloc_n((size_t)ns, sizeof(int));
    s->r_cut = alloc_n(np, sizeof(double));
    s->r_in = alloc_n(np, sizeof(double));
    s->r_core = alloc_n(np, sizeof(double));
    s->r_scale = alloc_n(np, sizeof(double));
    if (!s->elements || !s->e0 || !s->Z || !s->r_cut || !s->r_in || !s->r_core || !s->r_scale)
        return fail_file(L, ACELIN_ERR_ALLOC, "out of memory");
    for (int k = 0; k < ns; ++k) {
        const acelin_json *e = acelin_json_item(els, (size_t)k);
        if (e->type != ACELIN_JSON_STRING || e->count == 0 || strlen(e->u.string) != e->count)
            return fail_file(L, ACELIN_ERR_FORMAT, "elements[%d]: expected a chemical symbol", k);
        for (int q = 0; q < k; ++q)
            if (strcmp(s->elements[q], e->u.string) == 0)
                return fail_file(L, ACELIN_ERR_FORMAT, "elements: '%s' appears twice", e->u.string);
        s->elements[k] = e->u.string;
    }
    t->elements = s->elements;
    /* e0 by element name: exactly one entry per element, no extras */
    const acelin_json *e0 = need(L, root, "", "e0", &st);
    if (!e0) return st;
    if (e0->type != ACELIN_JSON_OBJECT) return fail_file(L, ACELIN_ERR_FORMAT, "e0: expected an object {element: eV}");
    for (size_t k = 0; k < acelin_json_length(e0); ++k) {
        const char *name = acelin_json_member_key(e0, k);
        int known = 0;
        for (int q = 0; q < ns && !known; ++q) known = strcmp(name, s->elements[q]) == 0;
        if (strlen(name) != e0->u.items[2 * k].count) known = 0; /* "Si\u0000x" is not "Si" */
        if (!known) return fail_file(L, ACELIN_ERR_FORMAT, "e0: '%.40s' is not one of the model's elements", name);
    }
    for (int k = 0; k < ns; ++k) {
        char label[64];
        snprintf(label, sizeof(label), "e0.%s", s->elements[k]);
        const acelin_json *v = acelin_json_get(e0, s->elements[k]);
        if (!v) return fail_file(L, ACELIN_ERR_FORMAT, "missing required key '%s'", label);
        if ((st = shape(L, acelin_json_to_double(v, label, &s->e0[k], msg, sizeof(msg)), msg))) return st;
    }
    t->e0 = s->e0;
    /* tables */
    const acelin_json *tb = need(L, root, "", "tables", &st);
    if (!tb) return st;
    if (tb->type != ACELIN_JSON_OBJECT) return fail_file(L, ACELIN_ERR_FORMAT, "tables: expected an object");
    const acelin_json *v;
#define NEED(key) if (!(v = need(L, tb, "tables.", key, &st))) return st
#define SHAPE(call) if ((st = shape(L, (call), msg))) return st
    NEED("atomic_numbers");
    SHAPE(acelin_json_int_array(v, "tables.atomic_numbers", (size_t)ns, s->Z, msg, sizeof(msg)));
    NEED("r_cut");
    SHAPE(acelin_json_double_array(v, "tables.r_cut (ns*ns)", np, s->r_cut, msg, sizeof(msg)));
    NEED("r_in");
    SHAPE(acelin_json_double_array(v, "tables.r_in (ns*ns)", np, s->r_in, msg, sizeof(msg)));
    NEED("r_core");
    SHAPE(acelin_json_double_array(v, "tables.r_core (ns*ns)", np, s->r_core, msg, sizeof(msg)));
    NEED("r_scale");
    SHAPE(acelin_json_double_array(v, "tables.r_scale (ns*ns)", np, s->r_scale, msg, sizeof(msg)));
    NEED("transform_power");
    SHAPE(acelin_json_to_int(v, "tables.transform_power", &t->transform_power, msg, sizeof(msg)));
    NEED("n_radial");
    SHAPE(acelin_json_to_int(v, "tables.n_radial", &t->n_radial, msg, sizeof(msg)));
    NEED("lmax");
    SHAPE(acelin_json_to_int(v, "tables.lmax", &t->lmax, msg, sizeof(msg)));
    if (version >= 2) { /* the long-range channel (n_radial_long = 0: none) */
        NEED("n_radial_long");
        SHAPE(acelin_json_to_int(v, "tables.n_radial_long", &t->n_radial_long, msg, sizeof(msg)));
        s->r_cut_long = alloc_n(np, sizeof(double));
        s->r_scale_long = alloc_n(np, sizeof(double));
        if (!s->r_cut_long || !s->r_scale_long) return fail_file(L, ACELIN_ERR_ALLOC, "out of memory");
        NEED("r_cut_long");
        SHAPE(acelin_json_double_array(v, "tables.r_cut_long (ns*ns)", np, s->r_cut_long, msg, sizeof(msg)));
        NEED("r_scale_long");
        SHAPE(acelin_json_double_array(v, "tables.r_scale_long (ns*ns)", np, s->r_scale_long, msg, sizeof(msg)));
        t->r_cut_long = s->r_cut_long;
        t->r_scale_long = s->r_scale_long;
    }
    t->atomic_numbers = s->Z;
    t->r_cut = s->r_cut;
    t->r_in = s->r_in;
    t->r_core = s->r_core;
    t->r_scale = s->r_scale;

    NEED("nl_n");
    if (v->type != ACELIN_JSON_ARRAY || v->count > INT_MAX)
        return fail_file(L, ACELIN_ERR_FORMAT, "tables.nl_n: expected an array of radial indices");
    const size_t n_nl = v->count;
    s->nl_n = alloc_n(n_nl, sizeof(int));
    s->nl_l = alloc_n(n_nl, sizeof(int));
    if (!s->nl_n || !s->nl_l) return fail_file(L, ACELIN_ERR_ALLOC, "out of memory");
    SHAPE(acelin_json_int_array(v, "tables.nl_n", n_nl, s->nl_n, msg, sizeof(msg)));
    NEED("nl_l");
    SHAPE(acelin_json_int_array(v, "tables.nl_l (same length as nl_n)", n_nl, s->nl_l, msg, sizeof(msg)));
    t->n_nl = (int)n_nl;
    t->nl_n = s->nl_n;
    t->nl_l = s->nl_l;
    if (version >= 4 && (v = acelin_json_get(tb, "radial_weights"))) { /* contracted channels */
        const size_t nbase = (size_t)t->n_radial + (size_t)t->n_radial_long;
        if (t->n_radial < 0 || t->n_radial_long < 0 || nbase > 2000 || n_nl > 100000)
            return fail_file(L, ACELIN_ERR_FORMAT, "tables.radial_weights: n_radial, n_radial_long or nl_n implausible");
        const size_t nw = np * n_nl * nbase;
        if (!(s->radial_weights = alloc_n(nw, sizeof(double)))) return fail_file(L, ACELIN_ERR_ALLOC, "out of memory");
        SHAPE(acelin_json_double_array(v, "tables.radial_weights (ns*ns * n_nl * (n_radial + n_radial_long))", nw,
                                       s->radial_weights, msg, sizeof(msg)));
        t->radial_weights = s->radial_weights;
    }

    /* n_basis is defined by the coefficients, n_terms by the coupling coefficients */
    const acelin_json *coef = need(L, root, "", "coefficients", &st);
    if (!coef) return st;
    if (coef->type != ACELIN_JSON_ARRAY || coef->count > INT_MAX)
        return fail_file(L, ACELIN_ERR_FORMAT, "coefficients: expected an array of numbers (eV)");
    const size_t nb = coef->count;
    NEED("term_coupling");
    if (v->type != ACELIN_JSON_ARRAY) return fail_file(L, ACELIN_ERR_FORMAT, "tables.term_coupling: expected an array of numbers");
    const size_t nt = v->count;
    s->coef = alloc_n(nb, sizeof(double));
    s->species = alloc_n(nb, sizeof(int));
    s->nu = alloc_n(nb, sizeof(int));
    s->term_start = alloc_n(nb + 1, sizeof(int64_t));
    s->coupling = alloc_n(nt, sizeof(double));
    s->factors = alloc_n(nt * ACELIN_NU_MAX, sizeof(int));
    if (!s->coef || !s->species || !s->nu || !s->term_start || !s->coupling || !s->factors)
        return fail_file(L, ACELIN_ERR_ALLOC, "out of memory");
    SHAPE(acelin_json_double_array(v, "tables.term_coupling", nt, s->coupling, msg, sizeof(msg)));
    SHAPE(acelin_json_double_array(coef, "coefficients", nb, s->coef, msg, sizeof(msg)));
    NEED("basis_species");
    SHAPE(acelin_json_int_array(v, "tables.basis_species (n_basis = len(coefficients))", nb, s->species, msg, sizeof(msg)));
    NEED("basis_nu");
    SHAPE(acelin_json_int_array(v, "tables.basis_nu (n_basis = len(coefficients))", nb, s->nu, msg, sizeof(msg)));
    NEED("basis_term_start");
    SHAPE(acelin_json_int64_array(v, "tables.basis_term_start (n_basis + 1)", nb + 1, s->term_start, msg, sizeof(msg)));
    NEED("term_factors");
    SHAPE(acelin_json_int_array(v, "tables.term_factors (n_terms * 5)", nt * ACELIN_NU_MAX, s->factors, msg, sizeof(msg)));
#undef NEED
#undef SHAPE
    if (s->term_start[0] != 0 || s->term_start[nb] != (int64_t)nt)
        return fail_file(L, ACELIN_ERR_FORMAT, "tables.basis_term_start must run from 0 to n_terms = %zu "
                         "(got %lld .. %lld)", nt, (long long)s->term_start[0], (long long)s->term_start[nb]);
    for (size_t b = 0; b < nb; ++b)
        if (s->term_start[b + 1] < s->term_start[b])
            return fail_file(L, ACELIN_ERR_FORMAT, "tables.basis_term_start decreases at entry %zu", b + 1);
    t->n_basis = (int)nb;
    t->basis_species = s->species;
    t->basis_nu = s->nu;
    t->basis_term_start = s->term_start;
    t->n_terms = (int64_t)nt;
    t->term_coupling = s->coupling;
    t->term_factors = s->factors;
    t->coefficients = s->coef;
    return ACELIN_OK;
}

/* "active_set": null, or {"kind": "maxvol", "per_element": {El: {"n_active": r, "map": [m*r]}}},
 * m = invariants centred on El. Called after fill_tables (n_basis, basis_species known). */
static acelin_status read_active_set(const loader *L, const acelin_json *aset, acelin_tables *t, scratch *s)
{
    char msg[400];
    acelin_status st = ACELIN_OK;
    if (aset->type == ACELIN_JSON_NULL) return ACELIN_OK;
    if (aset->type != ACELIN_JSON_OBJECT)
        return fail_file(L, ACELIN_ERR_FORMAT, "active_set: expected null or an object, got %s",
                         acelin_json_type_name(aset->type));
    const acelin_json *kind = need(L, aset, "active_set.", "kind", &st);
    if (!kind) return st;
    if (!acelin_json_string(kind) || strcmp(kind->u.string, "maxvol") != 0 || strlen(kind->u.string) != kind->count)
        return fail_file(L, ACELIN_ERR_FORMAT, "active_set.kind: expected \"maxvol\"");
    const acelin_json *per = need(L, aset, "active_set.", "per_element", &st);
    if (!per) return st;
    if (per->type != ACELIN_JSON_OBJECT)
        return fail_file(L, ACELIN_ERR_FORMAT, "active_set.per_element: expected an object {element: {n_active, map}}");
    const int ns = t->n_species;
    s->active_n = calloc((size_t)ns, sizeof(int));
    s->active_map = calloc((size_t)ns, sizeof(double *));
    if (!s->active_n || !s->active_map) return fail_file(L, ACELIN_ERR_ALLOC, "out of memory");
    size_t total = 0, rows[1024] = {0}; /* fill_tables allows at most 1024 elements */
    for (int b = 0; b < t->n_basis; ++b)
        if (t->basis_species[b] >= 0 && t->basis_species[b] < ns) rows[t->basis_species[b]]++;
    /* pass 1: shapes; pass 2: values into one array */
    for (int pass = 0; pass < 2; ++pass) {
        size_t at = 0;
        for (size_t k = 0; k < acelin_json_length(per); ++k) {
            const char *el = acelin_json_member_key(per, k);
            const acelin_json *entry = acelin_json_member_value(per, k);
            int sp = -1;
            for (int q = 0; q < ns && sp < 0; ++q)
                if (strcmp(el, t->elements[q]) == 0 && strlen(el) == per->u.items[2 * k].count) sp = q;
            if (sp < 0) return fail_file(L, ACELIN_ERR_FORMAT, "active_set.per_element: '%.40s' is not one of the model's elements", el);
            char label[96];
            snprintf(label, sizeof label, "active_set.per_element.%s.", el);
            if (entry->type != ACELIN_JSON_OBJECT)
                return fail_file(L, ACELIN_ERR_FORMAT, "%.80s: expected an object {n_active, map}", label);
            const acelin_json *nv = need(L, entry, label, "n_active", &st);
            if (!nv) return st;
            const acelin_json *map = need(L, entry, label, "map", &st);
            if (!map) return st;
            int r = 0;
            snprintf(label, sizeof label, "active_set.per_element.%s.n_active", el);
            if ((st = shape(L, acelin_json_to_int(nv, label, &r, msg, sizeof msg), msg))) return st;
            if (r < 1) return fail_file(L, ACELIN_ERR_FORMAT, "%s: expected an integer >= 1, got %d", label, r);
            const size_t m = rows[sp];
            if (map->type != ACELIN_JSON_ARRAY || (size_t)r > ((size_t)-1 / sizeof(double)) / (m ? m : 1) ||
                map->count != m * (size_t)r)
                return fail_file(L, ACELIN_ERR_FORMAT, "active_set.per_element.%s.map: expected an array of "
                                 "m*n_active = %zu*%d numbers (m = invariants centred on %s)", el, m, r, el);
            if (pass == 0) { total += map->count; continue; }
            snprintf(label, sizeof label, "active_set.per_element.%s.map", el);
            if ((st = shape(L, acelin_json_double_array(map, label, map->count, s->active_flat + at, msg, sizeof msg), msg)))
                return st;
            s->active_n[sp] = r;
            s->active_map[sp] = s->active_flat + at;
            at += map->count;
        }
        if (pass == 0 && !(s->active_flat = alloc_n(total, sizeof(double))))
            return fail_file(L, ACELIN_ERR_ALLOC, "out of memory (active set, %zu numbers)", total);
    }
    t->active_n = s->active_n;
    t->active_map = s->active_map;
    return ACELIN_OK;
}

static acelin_status load(const loader *L, char *buf, size_t n, acelin_model **out)
{
    if (n == 0) return fail_file(L, ACELIN_ERR_FORMAT, "the model file is empty");
    acelin_json *root = NULL;
    char msg[400];
    int rc = acelin_json_parse(buf, n, &root, msg, sizeof(msg));
    if (rc == -2) return fail_file(L, ACELIN_ERR_ALLOC, "%s", msg);
    if (rc) return fail_file(L, ACELIN_ERR_FORMAT, "not a valid model file (truncated or corrupted?): %s", msg);
    acelin_status st = ACELIN_OK;
    scratch s;
    memset(&s, 0, sizeof(s));
    acelin_tables t;
    memset(&t, 0, sizeof(t));
    const acelin_json *v;
    int version = 0;
    if (root->type != ACELIN_JSON_OBJECT) {
        st = fail_file(L, ACELIN_ERR_FORMAT, "not an ace_lin model file (top level is %s, not an object)",
                       acelin_json_type_name(root->type));
        goto done;
    }
    v = acelin_json_get(root, "format");
    if (!v) { st = fail_file(L, ACELIN_ERR_FORMAT, "missing required key 'format' (not an ace_lin model file?)"); goto done; }
    if (!acelin_json_string(v) || strcmp(v->u.string, FORMAT_NAME) != 0) {
        st = fail_file(L, ACELIN_ERR_FORMAT, "not an ace_lin model file (format is not \"%s\")", FORMAT_NAME);
        goto done;
    }
    v = acelin_json_get(root, "format_version");
    if (!v) { st = fail_file(L, ACELIN_ERR_FORMAT, "missing required key 'format_version'"); goto done; }
    if (acelin_json_to_int(v, "format_version", &version, msg, sizeof(msg))) { st = fail_file(L, ACELIN_ERR_FORMAT, "%s", msg); goto done; }
    if (version > ACELIN_FORMAT_VERSION) {
        st = fail_file(L, ACELIN_ERR_VERSION, "format_version %d was written by a newer ace_lin; this core reads "
                       "format_version <= %d: upgrade ace_lin (and rebuild the LAMMPS plugin)", version, ACELIN_FORMAT_VERSION);
        goto done;
    }
    if (version < 1) { st = fail_file(L, ACELIN_ERR_FORMAT, "format_version %d is not valid (1..%d)", version, ACELIN_FORMAT_VERSION); goto done; }
    if ((st = verify_checksum(L, root, buf, n))) goto done;
    /* keys the C core does not use are still required, as in Python: both readers agree on
       what a complete file is */
    static const char *const required[] = {"units", "ace_lin_version", "elements", "e0", "spec",
                                           "tables", "coefficients", "metadata", "active_set",
                                           "posterior"};
    for (size_t k = 0; k < sizeof(required) / sizeof(required[0]); ++k)
        if ((k < 8 || version >= 3) && !acelin_json_get(root, required[k])) { /* v3 added the last two */
            st = fail_file(L, ACELIN_ERR_FORMAT, "missing required key '%s'", required[k]);
            goto done;
        }
    if (!acelin_json_string(acelin_json_get(root, "ace_lin_version")) ||
        acelin_json_get(root, "spec")->type != ACELIN_JSON_OBJECT ||
        acelin_json_get(root, "metadata")->type != ACELIN_JSON_OBJECT) {
        st = fail_file(L, ACELIN_ERR_FORMAT, "ace_lin_version must be a string, spec and metadata objects");
        goto done;
    }
    if ((st = check_units(L, acelin_json_get(root, "units")))) goto done;
    if ((st = fill_tables(L, root, version, &t, &s))) goto done;
    if (version >= 3) {
        v = acelin_json_get(root, "posterior"); /* the core does not use it */
        if (v->type != ACELIN_JSON_NULL && v->type != ACELIN_JSON_OBJECT) {
            st = fail_file(L, ACELIN_ERR_FORMAT, "posterior: expected null or an object, got %s",
                           acelin_json_type_name(v->type));
            goto done;
        }
        if ((st = read_active_set(L, acelin_json_get(root, "active_set"), &t, &s))) goto done;
    }
    st = acelin_model_create(&t, out, msg, sizeof(msg));
    if (st) fail_file(L, st, "invalid model: %s", msg);
done:
    scratch_free(&s);
    acelin_json_free(root);
    return st;
}

acelin_status acelin_model_load(const char *path, acelin_model **out, char *err, size_t errlen)
{
    if (!out) return acelin_fail(err, errlen, ACELIN_ERR_INVALID, "acelin_model_load: NULL output");
    *out = NULL;
    if (!path || !path[0]) return acelin_fail(err, errlen, ACELIN_ERR_IO, "acelin_model_load: empty path");
    loader L = {path, err, errlen};
    char *buf = NULL;
    size_t n = 0;
    acelin_status st = read_all(&L, &buf, &n);
    if (st) return st;
    st = load(&L, buf, n, out);
    free(buf);
    return st;
}
