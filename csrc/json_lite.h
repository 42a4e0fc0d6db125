/* json_lite.h - a small strict JSON (RFC 8259) parser into a read-only tree.
 *
 * Strict: rejects truncated input, trailing garbage, trailing commas, bad escapes,
 * invalid UTF-8, lone surrogates, NaN/Infinity, numbers out of double range, duplicate
 * object keys and nesting deeper than ACELIN_JSON_MAX_DEPTH. Error messages give the
 * byte offset (and line) of the problem. No globals, no printing; the whole tree is
 * released with one call to acelin_json_free. Numbers are converted with strtod
 * (correctly rounded by the C library, so 17-digit doubles round-trip exactly); the
 * locale's decimal point is honoured, but changing the locale while parsing in
 * another thread is not supported (localeconv is not thread-safe).
 */
#ifndef ACELIN_JSON_LITE_H
#define ACELIN_JSON_LITE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ACELIN_JSON_MAX_DEPTH 128 /* bounds the parser's recursion (stack use) */

typedef enum {
    ACELIN_JSON_NULL = 0,
    ACELIN_JSON_FALSE,
    ACELIN_JSON_TRUE,
    ACELIN_JSON_NUMBER,
    ACELIN_JSON_STRING,
    ACELIN_JSON_ARRAY,
    ACELIN_JSON_OBJECT
} acelin_json_type;

typedef struct acelin_json acelin_json;
struct acelin_json {
    acelin_json_type type;
    int is_integer;   /* number written without fraction or exponent, e.g. -12 */
    size_t offset;    /* byte offset of the value in the parsed text */
    size_t count;     /* string: length in bytes; array: items; object: members */
    union {
        double number;       /* ACELIN_JSON_NUMBER */
        char *string;        /* ACELIN_JSON_STRING: UTF-8, NUL-terminated (may hold \u0000) */
        acelin_json *items;  /* ARRAY: [count]; OBJECT: [2*count] alternating key, value */
    } u;
};

/* Parse text[0..len) (need not be NUL-terminated). Returns 0 and *out on success;
 * -1 with a message in err on malformed input, -2 when out of memory. */
int acelin_json_parse(const char *text, size_t len, acelin_json **out, char *err, size_t errlen);
void acelin_json_free(acelin_json *root);

const char *acelin_json_type_name(acelin_json_type type);

/* Lookups; all return NULL / 0 when v has the wrong type or the entry is absent. */
const acelin_json *acelin_json_get(const acelin_json *object, const char *key);
size_t acelin_json_length(const acelin_json *v);              /* array items or object members */
const acelin_json *acelin_json_item(const acelin_json *array, size_t i);
const char *acelin_json_member_key(const acelin_json *object, size_t i);
const acelin_json *acelin_json_member_value(const acelin_json *object, size_t i);
const char *acelin_json_string(const acelin_json *v);

/* Typed extraction. Each returns 0 on success, -1 with a message naming `name` (and the
 * byte offset) otherwise. Integers must be written as integer literals. */
int acelin_json_to_int(const acelin_json *v, const char *name, int *out, char *err, size_t errlen);
int acelin_json_to_double(const acelin_json *v, const char *name, double *out, char *err, size_t errlen);
/* Arrays must have exactly n entries. int64 entries are limited to |x| <= 2^53, the
 * integers a double (and so strtod) represents exactly. */
int acelin_json_double_array(const acelin_json *v, const char *name, size_t n, double *out,
                             char *err, size_t errlen);
int acelin_json_int_array(const acelin_json *v, const char *name, size_t n, int *out,
                          char *err, size_t errlen);
int acelin_json_int64_array(const acelin_json *v, const char *name, size_t n, int64_t *out,
                            char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* ACELIN_JSON_LITE_H */
