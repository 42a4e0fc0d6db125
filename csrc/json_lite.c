/* json_lite.c - strict JSON parser into a small tree (see json_lite.h).
 *
 * Recursive descent; recursion depth is bounded by ACELIN_JSON_MAX_DEPTH, so hostile
 * input cannot exhaust the stack. Every parse function either completes its node or
 * frees what it allocated and leaves the node as JSON null, so cleanup after an error
 * only has to walk completed nodes.
 */
#include <limits.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_lite.h"

#if defined(__GNUC__)
#define PRINTF_LIKE(a, b) __attribute__((format(printf, a, b)))
#else
#define PRINTF_LIKE(a, b)
#endif

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    char *err;
    size_t errlen;
    int status; /* 0 ok, -1 malformed, -2 out of memory; the first error wins */
} parser;

static void message(char *err, size_t errlen, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void message(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int syntax_error(parser *p, size_t at, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int syntax_error(parser *p, size_t at, const char *fmt, ...)
{
    if (p->status) return -1;
    p->status = -1;
    if (!p->err || !p->errlen) return -1;
    size_t line = 1; /* counted only on failure; humans look for lines, tools for bytes */
    for (size_t i = 0; i < at && i < p->len; ++i) line += p->s[i] == '\n';
    int k = snprintf(p->err, p->errlen, "invalid JSON at byte %zu (line %zu): ", at, line);
    if (k >= 0 && (size_t)k < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
        va_end(ap);
        if (at >= p->len) { /* say so when the text just stops */
            size_t used = strlen(p->err);
            snprintf(p->err + used, p->errlen - used, " (the input ends here: truncated?)");
        }
    }
    return -1;
}

static int out_of_memory(parser *p)
{
    if (!p->status) {
        p->status = -2;
        message(p->err, p->errlen, "out of memory while parsing JSON (%zu bytes)", p->len);
    }
    return -1;
}

/* Describe the byte at pos for a message: printable ASCII as 'c', else hex or "end". */
static const char *describe(const parser *p, size_t pos, char buf[16])
{
    if (pos >= p->len) return "end of input";
    unsigned char c = p->s[pos];
    if (c >= 0x20 && c < 0x7f) snprintf(buf, 16, "'%c'", c);
    else snprintf(buf, 16, "byte 0x%02x", c);
    return buf;
}

static void free_node(acelin_json *v)
{
    if (v->type == ACELIN_JSON_STRING) {
        free(v->u.string);
    } else if (v->type == ACELIN_JSON_ARRAY || v->type == ACELIN_JSON_OBJECT) {
        size_t n = v->type == ACELIN_JSON_ARRAY ? v->count : 2 * v->count;
        for (size_t i = 0; i < n; ++i) free_node(&v->u.items[i]);
        free(v->u.items);
    }
    v->type = ACELIN_JSON_NULL;
    v->count = 0;
}

void acelin_json_free(acelin_json *root)
{
    if (!root) return;
    free_node(root);
    free(root);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ++p->pos;
    }
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Skip the run of digits at *i; returns its length. */
static size_t digits(const parser *p, size_t *i)
{
    const size_t start = *i;
    while (*i < p->len && is_digit(p->s[*i])) ++*i;
    return *i - start;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 table), 0 if ill-formed. */
static size_t utf8_length(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;         /* no overlong forms */
        if (c == 0xed) hi = 0x9f;         /* no UTF-16 surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;         /* nothing above U+10FFFF */
    } else return 0;
    if (avail < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < n; ++k)
        if (s[k] < 0x80 || s[k] > 0xbf) return 0;
    return n;
}

static size_t utf8_encode(unsigned long cp, char *out)
{
    static const unsigned char lead[5] = {0, 0, 0xc0, 0xe0, 0xf0};
    size_t n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (n == 1) { out[0] = (char)cp; return 1; }
    for (size_t k = n - 1; k > 0; --k, cp >>= 6) out[k] = (char)(0x80 | (cp & 0x3f));
    out[0] = (char)(lead[n] | cp);
    return n;
}

/* Four hex digits at s[0..3] (the caller checked that they exist); -1 if not hex. */
static long hex4(const unsigned char *s)
{
    long v = 0;
    for (int k = 0; k < 4; ++k) {
        unsigned char c = s[k];
        int h = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static int parse_string(parser *p, acelin_json *out)
{
    const unsigned char *s = p->s;
    const size_t start = p->pos;
    size_t end = start + 1;
    while (end < p->len && s[end] != '"') end += s[end] == '\\' ? 2 : 1; /* skip escaped chars */
    if (end >= p->len) return syntax_error(p, p->len, "the string opened at byte %zu is not terminated", start);
    /* decoding never lengthens: an escape of 6 or 12 bytes yields at most 3 or 4 bytes */
    char *buf = malloc(end - start);
    if (!buf) return out_of_memory(p);
    size_t w = 0, k = start + 1;
    char tmp[16];
    while (k < end) {
        unsigned char c = s[k];
        if (c < 0x20) { syntax_error(p, k, "control character 0x%02x inside a string (must be escaped)", c); goto bad; }
        if (c >= 0x80) {
            size_t n = utf8_length(s + k, end - k);
            if (!n) { syntax_error(p, k, "invalid UTF-8 byte 0x%02x in a string", c); goto bad; }
            memcpy(buf + w, s + k, n);
            w += n;
            k += n;
            continue;
        }
        if (c != '\\') { buf[w++] = (char)c; ++k; continue; }
        unsigned char e = s[k + 1]; /* k + 1 < end: the scan above never stops after a lone '\' */
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *hit = e ? strchr(from, e) : NULL;
        if (hit) { buf[w++] = to[hit - from]; k += 2; continue; }
        if (e != 'u') { syntax_error(p, k, "invalid escape '\\' followed by %s in a string", describe(p, k + 1, tmp)); goto bad; }
        long cp = k + 6 <= end ? hex4(s + k + 2) : -1;
        if (cp < 0) { syntax_error(p, k, "\\u must be followed by 4 hex digits"); goto bad; }
        size_t used = 6;
        if (cp >= 0xdc00 && cp <= 0xdfff) { syntax_error(p, k, "unpaired UTF-16 low surrogate \\u%04lx", (unsigned long)cp); goto bad; }
        if (cp >= 0xd800 && cp <= 0xdbff) { /* needs a following low surrogate */
            long lo = (k + 12 <= end && s[k + 6] == '\\' && s[k + 7] == 'u') ? hex4(s + k + 8) : -1;
            if (lo < 0xdc00 || lo > 0xdfff) { syntax_error(p, k, "unpaired UTF-16 high surrogate \\u%04lx", (unsigned long)cp); goto bad; }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            used = 12;
        }
        w += utf8_encode((unsigned long)cp, buf + w);
        k += used;
    }
    buf[w] = '\0';
    out->type = ACELIN_JSON_STRING;
    out->u.string = buf;
    out->count = w;
    p->pos = end + 1;
    return 0;
bad:
    free(buf);
    return -1;
}

static int parse_number(parser *p, acelin_json *out)
{
    const unsigned char *s = p->s;
    const size_t start = p->pos, len = p->len;
    size_t i = start;
    int integer = 1;
    char tmp[16];
    if (i < len && s[i] == '-') ++i;
    if (i + 1 < len && s[i] == '0' && is_digit(s[i + 1]))
        return syntax_error(p, start, "leading zeros are not allowed in numbers");
    if (!digits(p, &i)) return syntax_error(p, i, "expected a digit, got %s", describe(p, i, tmp));
    if (i < len && s[i] == '.') {
        integer = 0;
        ++i;
        if (!digits(p, &i)) return syntax_error(p, i, "expected a digit after the decimal point, got %s", describe(p, i, tmp));
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        integer = 0;
        i += (i + 1 < len && (s[i + 1] == '+' || s[i + 1] == '-')) ? 2 : 1;
        if (!digits(p, &i)) return syntax_error(p, i, "expected a digit in the exponent, got %s", describe(p, i, tmp));
    }
    /* strtod follows LC_NUMERIC: spell the decimal point the way the locale does */
    const char *dp = localeconv()->decimal_point;
    size_t dl = (dp && dp[0]) ? strlen(dp) : 0;
    if (!dl) { dp = "."; dl = 1; }
    const size_t n = i - start;
    char small[96], *buf = small;
    if (n + dl + 1 > sizeof(small) && !(buf = malloc(n + dl + 1))) return out_of_memory(p);
    size_t w = 0;
    for (size_t k = start; k < i; ++k) {
        if (s[k] == '.') { memcpy(buf + w, dp, dl); w += dl; }
        else buf[w++] = (char)s[k];
    }
    buf[w] = '\0';
    char *endp = NULL;
    double x = strtod(buf, &endp);
    int whole = endp == buf + w;
    if (buf != small) free(buf);
    if (!whole) return syntax_error(p, start, "number could not be converted");
    if (!isfinite(x)) return syntax_error(p, start, "number outside the range of a double");
    out->type = ACELIN_JSON_NUMBER;
    out->is_integer = integer;
    out->u.number = x;
    p->pos = i;
    return 0;
}

static int parse_literal(parser *p, acelin_json *out, const char *word, acelin_json_type type)
{
    size_t n = strlen(word), avail = p->len - p->pos;
    if (avail < n && memcmp(p->s + p->pos, word, avail) == 0)
        return syntax_error(p, p->len, "unexpected end of input in '%s'", word);
    if (avail < n || memcmp(p->s + p->pos, word, n) != 0)
        return syntax_error(p, p->pos, "invalid literal (expected '%s')", word);
    out->type = type;
    p->pos += n;
    return 0;
}

static int parse_value(parser *p, acelin_json *out, int depth);

/* Grow *items to hold at least need nodes. */
static int reserve(parser *p, acelin_json **items, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 8;
    while (c < need) c *= 2;
    if (c > (size_t)-1 / sizeof(acelin_json)) return out_of_memory(p);
    acelin_json *grown = realloc(*items, c * sizeof(acelin_json));
    if (!grown) return out_of_memory(p);
    *items = grown;
    *cap = c;
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const acelin_json *x = *(const acelin_json *const *)a, *y = *(const acelin_json *const *)b;
    size_t n = x->count < y->count ? x->count : y->count;
    int c = memcmp(x->u.string, y->u.string, n);
    if (c) return c;
    return (x->count > y->count) - (x->count < y->count);
}

/* Duplicate keys are refused: readers differ on which one wins. */
static int check_duplicates(parser *p, const acelin_json *items, size_t n)
{
    if (n < 2) return 0;
    const acelin_json **keys = malloc(n * sizeof(*keys));
    if (!keys) return out_of_memory(p);
    for (size_t k = 0; k < n; ++k) keys[k] = &items[2 * k];
    qsort(keys, n, sizeof(*keys), key_cmp);
    int rc = 0;
    for (size_t k = 1; k < n && !rc; ++k)
        if (key_cmp(&keys[k - 1], &keys[k]) == 0) {
            size_t at = keys[k]->offset > keys[k - 1]->offset ? keys[k]->offset : keys[k - 1]->offset;
            rc = syntax_error(p, at, "duplicate object key \"%.60s\"", keys[k]->u.string);
        }
    free(keys);
    return rc;
}

static int parse_container(parser *p, acelin_json *out, int depth, int is_object)
{
    const size_t start = p->pos;
    const char close = is_object ? '}' : ']';
    const char *what = is_object ? "object" : "array";
    char tmp[16];
    if (depth > ACELIN_JSON_MAX_DEPTH)
        return syntax_error(p, start, "nesting deeper than %d levels", ACELIN_JSON_MAX_DEPTH);
    ++p->pos;
    acelin_json *items = NULL;
    size_t cap = 0, filled = 0, n = 0;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) ++p->pos;
    else for (;;) {
        skip_ws(p);
        if (p->pos >= p->len) goto unclosed;
        if (reserve(p, &items, &cap, filled + 2)) goto fail;
        if (n > 0 && p->s[p->pos] == close) {
            syntax_error(p, p->pos, "trailing comma before '%c'", close);
            goto fail;
        }
        if (is_object) {
            if (p->s[p->pos] != '"') {
                syntax_error(p, p->pos, "expected a string key, got %s", describe(p, p->pos, tmp));
                goto fail;
            }
            memset(&items[filled], 0, sizeof(acelin_json));
            items[filled].offset = p->pos;
            if (parse_string(p, &items[filled])) goto fail;
            ++filled;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                syntax_error(p, p->pos, "expected ':' after an object key, got %s", describe(p, p->pos, tmp));
                goto fail;
            }
            ++p->pos;
        }
        if (parse_value(p, &items[filled], depth)) goto fail;
        ++filled;
        ++n;
        skip_ws(p);
        if (p->pos >= p->len) goto unclosed;
        if (p->s[p->pos] == ',') { ++p->pos; continue; }
        if (p->s[p->pos] == close) { ++p->pos; break; }
        syntax_error(p, p->pos, "expected ',' or '%c' in the %s opened at byte %zu, got %s",
                     close, what, start, describe(p, p->pos, tmp));
        goto fail;
    }
    if (filled && filled < cap) { /* give back the growth slack */
        acelin_json *fit = realloc(items, filled * sizeof(acelin_json));
        if (fit) items = fit;
    }
    if (is_object && check_duplicates(p, items, n)) goto fail;
    out->type = is_object ? ACELIN_JSON_OBJECT : ACELIN_JSON_ARRAY;
    out->count = n;
    out->u.items = items;
    return 0;
unclosed:
    syntax_error(p, p->pos, "the %s opened at byte %zu is not closed", what, start);
fail:
    for (size_t k = 0; k < filled; ++k) free_node(&items[k]);
    free(items);
    return -1;
}

/* depth = number of containers enclosing this value */
static int parse_value(parser *p, acelin_json *out, int depth)
{
    char tmp[16];
    memset(out, 0, sizeof(*out));
    skip_ws(p);
    out->offset = p->pos;
    if (p->pos >= p->len) return syntax_error(p, p->pos, "unexpected end of input, expected a value");
    switch (p->s[p->pos]) {
    case '{': return parse_container(p, out, depth + 1, 1);
    case '[': return parse_container(p, out, depth + 1, 0);
    case '"': return parse_string(p, out);
    case 't': return parse_literal(p, out, "true", ACELIN_JSON_TRUE);
    case 'f': return parse_literal(p, out, "false", ACELIN_JSON_FALSE);
    case 'n': return parse_literal(p, out, "null", ACELIN_JSON_NULL);
    default:
        if (p->s[p->pos] == '-' || is_digit(p->s[p->pos])) return parse_number(p, out);
        return syntax_error(p, p->pos, "unexpected %s, expected a value", describe(p, p->pos, tmp));
    }
}

int acelin_json_parse(const char *text, size_t len, acelin_json **out, char *err, size_t errlen)
{
    parser p = {(const unsigned char *)text, len, 0, err, errlen, 0};
    char tmp[16];
    if (!out) { message(err, errlen, "acelin_json_parse: NULL output"); return -1; }
    *out = NULL;
    if (!text && len) { message(err, errlen, "acelin_json_parse: NULL text"); return -1; }
    acelin_json *root = malloc(sizeof(acelin_json));
    if (!root) { out_of_memory(&p); return -2; }
    skip_ws(&p);
    if (p.pos >= len) { /* not "truncated": there is nothing at all */
        message(err, errlen, "invalid JSON at byte %zu: empty input (no JSON value)", p.pos);
        p.status = -1;
    } else if (parse_value(&p, root, 0) == 0) {
        skip_ws(&p);
        if (p.pos < len) {
            syntax_error(&p, p.pos, "unexpected %s after the end of the JSON value", describe(&p, p.pos, tmp));
            free_node(root);
        }
    }
    if (p.status) {
        free(root);
        return p.status;
    }
    *out = root;
    return 0;
}

const char *acelin_json_type_name(acelin_json_type type)
{
    static const char *const names[] = {"null", "a boolean", "a boolean", "a number",
                                        "a string", "an array", "an object"};
    return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "an unknown value";
}

const acelin_json *acelin_json_get(const acelin_json *object, const char *key)
{
    if (!object || object->type != ACELIN_JSON_OBJECT || !key) return NULL;
    size_t n = strlen(key);
    for (size_t k = 0; k < object->count; ++k) {
        const acelin_json *kv = &object->u.items[2 * k];
        if (kv->count == n && memcmp(kv->u.string, key, n) == 0) return kv + 1;
    }
    return NULL;
}

static int is_a(const acelin_json *v, acelin_json_type t) { return v && v->type == t; }
size_t acelin_json_length(const acelin_json *v)
{
    return (is_a(v, ACELIN_JSON_ARRAY) || is_a(v, ACELIN_JSON_OBJECT)) ? v->count : 0;
}
const acelin_json *acelin_json_item(const acelin_json *a, size_t i)
{
    return is_a(a, ACELIN_JSON_ARRAY) && i < a->count ? &a->u.items[i] : NULL;
}
const char *acelin_json_member_key(const acelin_json *o, size_t i)
{
    return is_a(o, ACELIN_JSON_OBJECT) && i < o->count ? o->u.items[2 * i].u.string : NULL;
}
const acelin_json *acelin_json_member_value(const acelin_json *o, size_t i)
{
    return is_a(o, ACELIN_JSON_OBJECT) && i < o->count ? &o->u.items[2 * i + 1] : NULL;
}
const char *acelin_json_string(const acelin_json *v) { return is_a(v, ACELIN_JSON_STRING) ? v->u.string : NULL; }

/* -- typed extraction ------------------------------------------------------------------ */

#define MAX_EXACT_INT 9007199254740992.0 /* 2^53: the integers a double holds exactly */
enum { AS_DOUBLE, AS_INT, AS_INT64 };

/* The message for a bad value; the label is only formatted here, not per element. */
static int bad_value(const acelin_json *v, const char *name, size_t index, int indexed,
                     const char *want, double lo, double hi, char *err, size_t errlen)
{
    char label[160];
    if (indexed) snprintf(label, sizeof(label), "%s[%zu]", name, index);
    else snprintf(label, sizeof(label), "%s", name);
    if (!v) message(err, errlen, "%s: missing", label);
    else if (v->type == ACELIN_JSON_NUMBER) /* only integers can be numbers and still wrong */
        message(err, errlen, "%s: expected an integer in [%.0f, %.0f], got %.17g (byte %zu)",
                label, lo, hi, v->u.number, v->offset);
    else message(err, errlen, "%s: expected %s, got %s (byte %zu)", label, want,
                 acelin_json_type_name(v->type), v->offset);
    return -1;
}

/* n values from an array of exactly n entries (indexed) or from a scalar (n = 1). */
static int extract(const acelin_json *v, const char *name, size_t n, int indexed, int kind,
                   void *out, char *err, size_t errlen)
{
    const double lo = kind == AS_INT ? (double)INT_MIN : -MAX_EXACT_INT;
    const double hi = kind == AS_INT ? (double)INT_MAX : MAX_EXACT_INT;
    if (indexed && (!v || v->type != ACELIN_JSON_ARRAY))
        return bad_value(v, name, 0, 0, "an array", lo, hi, err, errlen);
    if (indexed && v->count != n) {
        message(err, errlen, "%s: expected %zu entries, got %zu (byte %zu)", name, n, v->count, v->offset);
        return -1;
    }
    for (size_t k = 0; k < n; ++k) {
        const acelin_json *x = indexed ? &v->u.items[k] : v;
        if (!x || x->type != ACELIN_JSON_NUMBER)
            return bad_value(x, name, k, indexed, kind == AS_DOUBLE ? "a number" : "an integer", lo, hi, err, errlen);
        const double d = x->u.number;
        if (kind == AS_DOUBLE) { ((double *)out)[k] = d; continue; }
        if (!x->is_integer || d < lo || d > hi) return bad_value(x, name, k, indexed, "an integer", lo, hi, err, errlen);
        if (kind == AS_INT) ((int *)out)[k] = (int)d;
        else ((int64_t *)out)[k] = (int64_t)d;
    }
    return 0;
}

int acelin_json_to_int(const acelin_json *v, const char *name, int *out, char *err, size_t errlen)
{
    return extract(v, name, 1, 0, AS_INT, out, err, errlen);
}
int acelin_json_to_double(const acelin_json *v, const char *name, double *out, char *err, size_t errlen)
{
    return extract(v, name, 1, 0, AS_DOUBLE, out, err, errlen);
}
int acelin_json_double_array(const acelin_json *v, const char *name, size_t n, double *out, char *err, size_t errlen)
{
    return extract(v, name, n, 1, AS_DOUBLE, out, err, errlen);
}
int acelin_json_int_array(const acelin_json *v, const char *name, size_t n, int *out, char *err, size_t errlen)
{
    return extract(v, name, n, 1, AS_INT, out, err, errlen);
}
int acelin_json_int64_array(const acelin_json *v, const char *name, size_t n, int64_t *out, char *err, size_t errlen)
{
    return extract(v, name, n, 1, AS_INT64, out, err, errlen);
}
