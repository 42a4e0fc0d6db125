/* Unit tests of csrc/sha256.c and csrc/json_lite.c; built and run by tests/test_c_units.py.
 * Exit status 0 when every check passes. With the argument "locale" it only runs the
 * comma-decimal-locale check and exits 77 when no such locale is installed. */
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_lite.h"
#include "sha256.h"

static int failures = 0;

#define CHECK(cond) do { if (!(cond)) { ++failures; \
    fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } } while (0)

/* -- sha256 ------------------------------------------------------------------------- */

static void check_hex(const void *data, size_t n, const char *want, const char *label)
{
    char hex[ACELIN_SHA256_HEX];
    acelin_sha256_hex(data, n, hex);
    if (strcmp(hex, want) != 0) {
        ++failures;
        fprintf(stderr, "FAIL sha256(%s) = %s, expected %s\n", label, hex, want);
    }
}

static void test_sha256(void)
{
    /* FIPS 180-4 example messages (NIST CSRC examples) */
    check_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "empty");
    check_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "abc");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_hex(m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", "448-bit");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    check_hex(m896, strlen(m896), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1", "896-bit");

    size_t million = 1000000;
    char *a = malloc(million);
    CHECK(a != NULL);
    if (!a) return;
    memset(a, 'a', million);
    const char *want_million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    check_hex(a, million, want_million, "one million 'a'");

    /* padding edge cases: lengths around the 56- and 64-byte block boundaries */
    static const struct { size_t n; const char *hex; } edges[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
        {57, "f13b2d724659eb3bf47f2dd6af1accc87b81f09f59f2b75e5c0bed6589dfe8c6"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
        {128, "6836cf13bac400e9105071cd6af47084dfacad4e5e302c94bfed24e013afb73e"}};
    for (size_t k = 0; k < sizeof(edges) / sizeof(edges[0]); ++k) {
        char label[32];
        snprintf(label, sizeof(label), "'a' x %zu", edges[k].n);
        check_hex(a, edges[k].n, edges[k].hex, label);
    }

    /* incremental hashing with awkward chunk sizes equals the one-shot result */
    static const size_t chunks[] = {1, 3, 55, 63, 64, 65, 1000, 4097};
    for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); ++c) {
        acelin_sha256_ctx ctx;
        unsigned char d[ACELIN_SHA256_DIGEST];
        acelin_sha256_init(&ctx);
        for (size_t off = 0; off < million; off += chunks[c]) {
            size_t take = million - off < chunks[c] ? million - off : chunks[c];
            acelin_sha256_update(&ctx, a + off, take);
            acelin_sha256_update(&ctx, NULL, 0); /* empty updates are harmless */
        }
        acelin_sha256_final(&ctx, d);
        char hex[ACELIN_SHA256_HEX];
        for (int i = 0; i < 32; ++i) snprintf(hex + 2 * i, 3, "%02x", d[i]);
        if (strcmp(hex, want_million) != 0) {
            ++failures;
            fprintf(stderr, "FAIL incremental sha256 with chunks of %zu\n", chunks[c]);
        }
    }
    free(a);
}

/* -- json: valid documents ------------------------------------------------------------ */

static acelin_json *parse_ok(const char *text, size_t len)
{
    acelin_json *root = NULL;
    char err[256] = "";
    int rc = acelin_json_parse(text, len, &root, err, sizeof(err));
    if (rc != 0 || !root) {
        ++failures;
        fprintf(stderr, "FAIL parse of valid JSON %.60s: %s\n", text, err);
        return NULL;
    }
    return root;
}

static void test_valid(void)
{
    const char *doc =
        " {\"a\": [1, -2, 3.5, -1.5e-300, 1E+2, 0, -0, 0.1e1],\n"
        "  \"nested\": {\"deep\": [[[], {}], [true, false, null]], \"empty\": \"\"},\n"
        "  \"esc\": \"q\\\"b\\\\s\\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \\u20AC\",\n"
        "  \"utf8\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\n"
        "  \"nul\": \"x\\u0000y\",\n"
        "  \"ints\": [2147483647, -2147483648, 9007199254740992]\t}\r\n";
    acelin_json *root = parse_ok(doc, strlen(doc));
    if (!root) return;
    CHECK(root->type == ACELIN_JSON_OBJECT && acelin_json_length(root) == 6);
    CHECK(strcmp(acelin_json_member_key(root, 0), "a") == 0);
    CHECK(acelin_json_member_value(root, 0) == acelin_json_get(root, "a"));
    CHECK(acelin_json_get(root, "missing") == NULL);
    CHECK(acelin_json_get(acelin_json_get(root, "a"), "x") == NULL); /* not an object */

    const acelin_json *a = acelin_json_get(root, "a");
    double d[8];
    CHECK(acelin_json_double_array(a, "a", 8, d, NULL, 0) == 0);
    CHECK(d[0] == 1.0 && d[1] == -2.0 && d[2] == 3.5 && d[3] == -1.5e-300 && d[4] == 100.0);
    CHECK(d[5] == 0.0 && d[6] == 0.0 && signbit(d[6]) && d[7] == 1.0);
    CHECK(acelin_json_item(a, 0)->is_integer && !acelin_json_item(a, 2)->is_integer &&
          !acelin_json_item(a, 4)->is_integer && !acelin_json_item(a, 7)->is_integer);
    CHECK(acelin_json_item(a, 8) == NULL);
    CHECK(acelin_json_item(a, 3)->offset == 20); /* offsets are byte positions in the text */

    char err[256];
    int iv[8];
    CHECK(acelin_json_int_array(a, "a", 8, iv, err, sizeof(err)) == -1);
    CHECK(strstr(err, "a[2]") != NULL && strstr(err, "integer") != NULL);
    CHECK(acelin_json_double_array(a, "a", 7, d, err, sizeof(err)) == -1);
    CHECK(strstr(err, "expected 7 entries, got 8") != NULL);
    CHECK(acelin_json_double_array(acelin_json_get(root, "nested"), "nested", 1, d, err, sizeof(err)) == -1);
    CHECK(strstr(err, "expected an array, got an object") != NULL);
    CHECK(acelin_json_double_array(NULL, "absent", 1, d, err, sizeof(err)) == -1);
    CHECK(strstr(err, "absent: missing") != NULL);

    const acelin_json *ints = acelin_json_get(root, "ints");
    int two[2];
    int64_t three[3];
    CHECK(acelin_json_int_array(ints, "ints", 3, iv, err, sizeof(err)) == -1); /* 2^53 > INT_MAX */
    CHECK(acelin_json_int64_array(ints, "ints", 3, three, err, sizeof(err)) == 0);
    CHECK(three[0] == 2147483647 && three[1] == -2147483648LL && three[2] == 9007199254740992LL);
    CHECK(acelin_json_int_array(ints, "ints", 2, two, err, sizeof(err)) == -1); /* wrong length */
    int one;
    CHECK(acelin_json_to_int(acelin_json_item(ints, 1), "x", &one, err, sizeof(err)) == 0 && one == -2147483647 - 1);
    CHECK(acelin_json_to_int(acelin_json_item(a, 2), "x", &one, err, sizeof(err)) == -1);

    const acelin_json *nested = acelin_json_get(root, "nested");
    const acelin_json *deep = acelin_json_get(nested, "deep");
    CHECK(acelin_json_length(deep) == 2 && acelin_json_length(acelin_json_item(deep, 0)) == 2);
    CHECK(acelin_json_item(acelin_json_item(deep, 0), 0)->type == ACELIN_JSON_ARRAY);
    CHECK(acelin_json_item(acelin_json_item(deep, 0), 1)->type == ACELIN_JSON_OBJECT);
    CHECK(acelin_json_item(acelin_json_item(deep, 1), 0)->type == ACELIN_JSON_TRUE);
    CHECK(acelin_json_item(acelin_json_item(deep, 1), 1)->type == ACELIN_JSON_FALSE);
    CHECK(acelin_json_item(acelin_json_item(deep, 1), 2)->type == ACELIN_JSON_NULL);
    CHECK(strcmp(acelin_json_string(acelin_json_get(nested, "empty")), "") == 0);

    const char *esc = acelin_json_string(acelin_json_get(root, "esc"));
    const char *want = "q\"b\\s/ \b\f\n\r\t \xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac";
    CHECK(esc && strcmp(esc, want) == 0);
    CHECK(strcmp(acelin_json_string(acelin_json_get(root, "utf8")), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80") == 0);
    const acelin_json *nul = acelin_json_get(root, "nul");
    CHECK(nul->count == 3 && memcmp(nul->u.string, "x\0y", 3) == 0);
    acelin_json_free(root);

    /* scalars as the whole document; input need not be NUL-terminated */
    root = parse_ok("42xyz", 2);
    if (root) { CHECK(root->type == ACELIN_JSON_NUMBER && root->u.number == 42.0); acelin_json_free(root); }
    root = parse_ok("\"s\"", 3);
    if (root) { CHECK(root->type == ACELIN_JSON_STRING); acelin_json_free(root); }
    acelin_json_free(NULL);
}

/* 17 significant digits reproduce every finite double exactly */
static void test_round_trip(void)
{
    uint64_t state = 0x9e3779b97f4a7c15ULL;
    char text[64];
    int bad = 0, tested = 0;
    for (int k = 0; k < 200000; ++k) {
        state ^= state << 13; /* xorshift64: arbitrary bit patterns = all exponents */
        state ^= state >> 7;
        state ^= state << 17;
        double x;
        memcpy(&x, &state, sizeof(x));
        if (!isfinite(x)) continue;
        snprintf(text, sizeof(text), "%.17g", x);
        acelin_json *root = NULL;
        if (acelin_json_parse(text, strlen(text), &root, NULL, 0) != 0) { ++bad; continue; }
        if (memcmp(&root->u.number, &x, sizeof(x)) != 0) ++bad;
        acelin_json_free(root);
        ++tested;
    }
    static const double special[] = {5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 0.1,
                                      1.0 / 3.0, -1.5e-300, 4.9406564584124654e-324, 9007199254740993.0};
    for (size_t k = 0; k < sizeof(special) / sizeof(special[0]); ++k) {
        snprintf(text, sizeof(text), "%.17g", special[k]);
        acelin_json *root = NULL;
        if (acelin_json_parse(text, strlen(text), &root, NULL, 0) != 0 || root->u.number != special[k]) ++bad;
        acelin_json_free(root);
    }
    if (bad) fprintf(stderr, "FAIL %d of %d doubles did not round-trip\n", bad, tested);
    failures += bad != 0;
    CHECK(tested > 190000);
}

/* -- json: malformed documents -------------------------------------------------------- */

static void expect_error(const char *text, size_t len, const char *fragment)
{
    acelin_json *root = (acelin_json *)&root; /* must be reset to NULL on failure */
    char err[256] = "";
    int rc = acelin_json_parse(text, len, &root, err, sizeof(err));
    if (rc != -1 || root != NULL || strstr(err, "byte") == NULL || (fragment && !strstr(err, fragment))) {
        ++failures;
        fprintf(stderr, "FAIL malformed JSON %.40s accepted or bad message (rc %d): %s\n", text, rc, err);
    }
    if (rc == 0) acelin_json_free(root);
}

#define BAD(text, fragment) expect_error(text, sizeof(text) - 1, fragment)

static void test_malformed(void)
{
    BAD("", "empty input");
    BAD("  \n ", "empty input");
    BAD("{", "byte 1");
    BAD("[1, 2", "not closed");
    BAD("{\"a\": [1, 2], \"b\": {\"c\": 1", "truncated");
    BAD("{\"a\": 1", "not closed");
    BAD("\"abc", "byte 0 is not terminated (the input ends here: truncated?)");
    BAD("[1, 2,]", "byte 6 (line 1): trailing comma");
    BAD("{\"a\": 1,}", "trailing comma");
    BAD("[,1]", "expected a value");
    BAD("[1 2]", "expected ','");
    BAD("{\"a\" 1}", "expected ':'");
    BAD("{a: 1}", "string key");
    BAD("{1: 1}", "string key");
    BAD("[1] x", "after the end");
    BAD("[1][2]", "after the end");
    BAD("{} {}", "after the end");
    BAD("[}", "expected a value");
    BAD("{]", "string key");
    BAD("[1}", "expected ','");
    BAD("\"\\x\"", "invalid escape");
    BAD("\"\\u12\"", "4 hex digits");
    BAD("\"\\u12g4\"", "4 hex digits");
    BAD("\"\\ud800\"", "surrogate");
    BAD("\"\\ud800\\u0041\"", "surrogate");
    BAD("\"\\udc00\"", "surrogate");
    BAD("\"a\x01b\"", "control character");
    BAD("\"tab\there\"", "control character");
    BAD("\"\xc0\xaf\"", "UTF-8");         /* overlong '/' */
    BAD("\"\xed\xa0\x80\"", "UTF-8");     /* encoded surrogate */
    BAD("\"\xe2\x82\"", "UTF-8");         /* cut sequence */
    BAD("\xff", "unexpected");
    BAD("01", "leading zeros");
    BAD("-01", "leading zeros");
    BAD("1.", "after the decimal point");
    BAD(".5", "unexpected");
    BAD("-", "expected a digit");
    BAD("1e", "exponent");
    BAD("1e+", "exponent");
    BAD("+1", "unexpected");
    BAD("NaN", "unexpected");
    BAD("Infinity", "unexpected");
    BAD("-Infinity", "expected a digit");
    BAD("1e400", "range");
    BAD("-1e400", "range");
    BAD("tru", "truncated");
    BAD("nul", "truncated");
    BAD("trux", "invalid literal");
    BAD("[true false]", "expected ','");
    BAD("{\"k\": 1, \"k\": 2}", "duplicate object key \"k\"");
    BAD("{\"a\": {\"x\": 1, \"y\": 2, \"x\": 3}}", "duplicate");
    expect_error("[1]\0", 4, "after the end"); /* embedded NUL */
    expect_error("\"a\0b\"", 5, "control character");

    /* nesting: the limit itself is fine, one more level is refused, and a huge
       unbalanced prefix is refused without recursing into it */
    const int limit = ACELIN_JSON_MAX_DEPTH;
    size_t big = 1000000;
    char *s = malloc(2 * big + 2);
    CHECK(s != NULL);
    if (!s) return;
    for (int k = 0; k < limit; ++k) { s[k] = '['; s[2 * limit - 1 - k] = ']'; }
    acelin_json *root = parse_ok(s, 2 * (size_t)limit);
    acelin_json_free(root);
    for (int k = 0; k <= limit; ++k) { s[k] = '['; s[2 * limit + 1 - k] = ']'; }
    expect_error(s, 2 * (size_t)limit + 2, "nesting deeper");
    memset(s, '[', big);
    expect_error(s, big, "nesting deeper");
    for (size_t k = 0; k < big; ++k) s[k] = k % 2 ? '[' : '{';
    expect_error(s, big, NULL);
    for (size_t k = 0; k < big; ++k) s[k] = "{\"a\":"[k % 5]; /* objects nest too */
    expect_error(s, big, "nesting deeper");

    /* a large valid array, then every truncation of a small document is refused */
    s[0] = '[';
    size_t n = 1;
    for (int k = 0; k < 100000; ++k) n += (size_t)snprintf(s + n, 16, k ? ",%d" : "%d", k % 1000);
    s[n++] = ']';
    root = parse_ok(s, n);
    if (root) {
        CHECK(acelin_json_length(root) == 100000);
        CHECK(acelin_json_item(root, 99999)->u.number == 999.0);
        acelin_json_free(root);
    }
    const char *small = "{\"tables\": {\"r\": [1.5, -2e-3], \"s\": \"\\u00e9x\"}, \"ok\": [true, null]}";
    for (size_t cut = 0; cut < strlen(small); ++cut) {
        acelin_json *r = NULL;
        char err[256] = "";
        if (acelin_json_parse(small, cut, &r, err, sizeof(err)) != -1 || r || !strstr(err, "byte")) {
            ++failures;
            fprintf(stderr, "FAIL truncation at %zu accepted: %s\n", cut, err);
            acelin_json_free(r);
        }
    }
    free(s);
}

/* strtod follows LC_NUMERIC; the parser must still read '.' as the decimal point */
static int test_locale(void)
{
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8", "nl_NL.UTF-8"};
    const char *got = NULL;
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]) && !got; ++k)
        got = setlocale(LC_NUMERIC, names[k]);
    if (!got || strcmp(localeconv()->decimal_point, ".") == 0) return 77;
    acelin_json *root = parse_ok("[1.25, -3.5e-2]", 15);
    if (root) {
        CHECK(acelin_json_item(root, 0)->u.number == 1.25 && acelin_json_item(root, 1)->u.number == -3.5e-2);
        acelin_json_free(root);
    }
    setlocale(LC_NUMERIC, "C");
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "locale") == 0) return test_locale();
    test_sha256();
    test_valid();
    test_round_trip();
    test_malformed();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("json_lite and sha256: all checks passed\n");
    return 0;
}
