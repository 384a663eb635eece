/*
 * test_util.c - base64url strictness, constant-time compare, randomness,
 * SHA-256, bounded JSON parsing and bounded integer parsing.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "oauth2/util.h"

static void b64url_roundtrip(void **state)
{
    th_fixture_t *f = *state;
    static const struct {
        const char *plain;
        const char *enc;
    } v[] = {{"", ""},
             {"f", "Zg"},
             {"fo", "Zm8"},
             {"foo", "Zm9v"},
             {"foob", "Zm9vYg"},
             {"fooba", "Zm9vYmE"},
             {"foobar", "Zm9vYmFy"},
             {"\xfb\xff", "-_8"}};
    size_t i, n;
    unsigned char *out;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        assert_string_equal(
            oauth2_b64url_encode(f->pool, (const unsigned char *)v[i].plain,
                                 strlen(v[i].plain)),
            v[i].enc);
        assert_int_equal(
            oauth2_b64url_decode(&f->ctx, v[i].enc, strlen(v[i].enc), &out, &n),
            OAUTH2_OK);
        assert_int_equal(n, strlen(v[i].plain));
        assert_memory_equal(out, v[i].plain, n);
    }
}

/* The caller-buffer decode: fits exactly, refuses what would overflow. */
static void b64url_decode_into(void **state)
{
    th_fixture_t *f = *state;
    unsigned char buf[4];
    size_t n = 99;

    assert_int_equal(
        oauth2_b64url_decode_into(&f->ctx, "Zm9vYg", 6, buf, sizeof(buf), &n),
        OAUTH2_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "foob", 4);
    assert_int_equal(
        oauth2_b64url_decode_into(&f->ctx, "Zm9vYmE", 7, buf, sizeof(buf), &n),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "base64url: value too long");
    assert_int_equal(
        oauth2_b64url_decode_into(&f->ctx, "Zm=v", 4, buf, sizeof(buf), &n),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "base64url: bad character at offset 2");
    assert_int_equal(
        oauth2_b64url_decode_into(&f->ctx, "Zh", 2, buf, sizeof(buf), &n),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "base64url: non-zero trailing bits");
}

/* Every byte value in every position of a quad and of both tails; every
 * length against the encoder; the offset of the first bad character. */
static void b64url_every_byte_and_length(void **state)
{
    th_fixture_t *f = *state;
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[64], *out;
    const char *want;
    char in[16];
    size_t i, len, n, pos;
    int c, want_ok;

    for (c = 0; c < 256; c++) {
        int ok = c != 0 && strchr(alpha, c) != NULL;
        for (len = 2; len <= 8; len++) {
            if (len % 4 == 1)
                continue;
            for (pos = 0; pos < len; pos++) {
                memset(in, 'A', len);
                in[pos] = (char)c;
                /* a tail's last character carries bits that must be 0 */
                want_ok = ok;
                if (ok && pos == len - 1 && len % 4 != 0)
                    want_ok = ((strchr(alpha, c) - alpha) &
                               (len % 4 == 2 ? 15 : 3)) == 0;
                if ((oauth2_b64url_decode(&f->ctx, in, len, &out, &n) ==
                     OAUTH2_OK) != want_ok)
                    fail_msg("byte %d at %zu of %zu: %s", c, pos, len,
                             want_ok ? "refused" : "accepted");
                want = apr_psprintf(f->pool,
                                    "base64url: bad character at offset "
                                    "%" APR_SIZE_T_FMT,
                                    pos);
                if (!ok && strcmp(f->ctx.err.text, want) != 0)
                    fail_msg("byte %d at %zu of %zu: %s", c, pos, len,
                             f->ctx.err.text);
            }
        }
    }
    for (len = 0; len < sizeof(raw); len++) {
        const char *enc;
        for (i = 0; i < len; i++)
            raw[i] = (unsigned char)(i * 37 + len * 11);
        enc = oauth2_b64url_encode(f->pool, raw, len);
        assert_int_equal(
            oauth2_b64url_decode(&f->ctx, enc, strlen(enc), &out, &n),
            OAUTH2_OK);
        assert_int_equal(n, len);
        assert_memory_equal(out, raw, len);
    }
}

static void b64url_rejects(void **state)
{
    th_fixture_t *f = *state;
    static const struct {
        const char *in;
        const char *err;
    } v[] = {
        {"Zg==", "base64url: bad character at offset 2"},
        {"Zm8=", "base64url: bad character at offset 3"},
        {"Zm+v", "base64url: bad character at offset 2"},
        {"Zm/v", "base64url: bad character at offset 2"},
        {"Zm 9v", "base64url: bad length 5"},
        {"Zm9 v", "base64url: bad length 5"},
        {"Z", "base64url: bad length 1"},
        {"Zh", "base64url: non-zero trailing bits"},
        {"Zm9", "base64url: non-zero trailing bits"},
        {"Zm\n9", "base64url: bad character at offset 2"},
    };
    size_t i, n;
    unsigned char *out;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        f->ctx.err.text[0] = '\0';
        assert_int_equal(
            oauth2_b64url_decode(&f->ctx, v[i].in, strlen(v[i].in), &out, &n),
            OAUTH2_DENIED);
        assert_string_equal(f->ctx.err.text, v[i].err);
    }
    assert_int_equal(oauth2_b64url_decode(&f->ctx, NULL, 0, &out, &n),
                     OAUTH2_DENIED);
}

static void b64_std(void **state)
{
    th_fixture_t *f = *state;

    assert_string_equal(
        oauth2_b64_encode(f->pool, (const unsigned char *)"user:pa ss", 10),
        "dXNlcjpwYSBzcw==");
    assert_string_equal(
        oauth2_b64_encode(f->pool, (const unsigned char *)"", 0), "");
    assert_string_equal(
        oauth2_b64_encode(f->pool, (const unsigned char *)"\xfb\xff", 2),
        "+/8=");
}

static void ct_equal_null_never_matches(void **state)
{
    (void)state;
    assert_true(oauth2_ct_equal("abc", 3, "abc", 3));
    assert_false(oauth2_ct_equal("abc", 3, "abd", 3));
    assert_false(oauth2_ct_equal("abc", 3, "abcd", 4));
    assert_false(oauth2_ct_equal(NULL, 0, NULL, 0));
    assert_false(oauth2_ct_equal("a", 1, NULL, 1));
    assert_false(oauth2_ct_equal(NULL, 1, "a", 1));
    assert_true(oauth2_ct_equal("", 0, "", 0));
}

static void random_and_sha(void **state)
{
    th_fixture_t *f = *state;
    char *a = oauth2_random_b64url(&f->ctx, 32);
    char *b = oauth2_random_b64url(&f->ctx, 32);

    assert_non_null(a);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
    assert_string_equal(
        oauth2_sha256_hex(f->pool, "abc", 3),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* FIPS 180-2's long vector: a million 'a', many blocks in one update. */
static void sha_long_input(void **state)
{
    th_fixture_t *f = *state;
    char *m = apr_palloc(f->pool, 1000000);

    memset(m, 'a', 1000000);
    assert_string_equal(
        oauth2_sha256_hex(f->pool, m, 1000000),
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    assert_string_equal(
        oauth2_sha256_hex(f->pool, "", 0),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* Digests from many threads at once are all right. */
static void *sha_worker(void *arg)
{
    unsigned char md[OAUTH2_SHA256_LEN];
    char in[32];
    int i, bad = 0;

    (void)arg;
    for (i = 0; i < 2000; i++) {
        snprintf(in, sizeof(in), "%d", i % 2 ? 7 : 8);
        bad += !oauth2_sha256(in, 1, md);
        /* SHA-256("7") begins 7902699b, SHA-256("8") 2c624232 */
        bad += md[0] != (i % 2 ? 0x79 : 0x2c);
    }
    return (void *)(long)bad;
}

static void sha_from_threads(void **state)
{
    pthread_t t[4];
    void *bad;
    int i;

    (void)state;
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sha_worker, NULL), 0);
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], &bad), 0);
        assert_null(bad);
    }
}

static void json_good(void **state)
{
    th_fixture_t *f = *state;
    json_t *j = NULL;
    static const char in[] = "{\"a\":\"x\",\"b\":[1,{\"c\":2}],\"n\":3}";

    assert_int_equal(
        oauth2_json_parse_object(&f->ctx, in, sizeof(in) - 1, NULL, &j),
        OAUTH2_OK);
    oauth2_json_pool_own(f->pool, j);
    assert_string_equal(oauth2_json_str(j, "a"), "x");
    assert_null(oauth2_json_str(j, "n"));
    assert_null(oauth2_json_str(j, "missing"));
    assert_null(oauth2_json_str(NULL, "a"));
}

static void json_bad(void **state)
{
    th_fixture_t *f = *state;
    oauth2_json_limits_t lim = {64, 3, 5};
    static const struct {
        const char *in;
        const char *err;
    } v[] = {
        {"[1]", "json: not an object"},
        {"{\"a\":1,\"a\":2}", "json: duplicate object key near '\"a\"'"},
        {"{\"a\":{\"b\":{\"c\":{}}}}", "json: nesting deeper than 3"},
        {"{\"a\":[[[1]]]}", "json: nesting deeper than 3"},
        {"{\"a\":{\"b\":[1]}}", "OK"},
        {"{\"a\":[1,2,3,4,5]}", "json: more than 5 members"},
        {"{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6}",
         "json: more than 5 members"},
        {"{\"a\":\""
         "0123456789012345678901234567890123456789012345678901234"
         "56789\"}",
         "json: input of 68 bytes exceeds 64"},
        {"{\"a\":1} x", "json: end of file expected near 'x'"},
        {"{\"a\":\"\\u0000\"}", NULL},
    };
    size_t i;
    json_t *j;
    oauth2_status_t st;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        f->ctx.err.text[0] = '\0';
        j = NULL;
        st = oauth2_json_parse_object(&f->ctx, v[i].in, strlen(v[i].in), &lim,
                                      &j);
        if (strcmp(v[i].err ? v[i].err : "", "OK") == 0) {
            assert_int_equal(st, OAUTH2_OK);
            json_decref(j);
            continue;
        }
        if (st != OAUTH2_DENIED)
            fail_msg("case %zu: %s", i, v[i].in);
        assert_null(j);
        if (v[i].err != NULL)
            assert_string_equal(f->ctx.err.text, v[i].err);
        else
            assert_true(strncmp(f->ctx.err.text, "json: ", 6) == 0);
    }
}

static void int64_parse(void **state)
{
    long long v = 0;

    (void)state;
    assert_int_equal(oauth2_parse_int64("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(oauth2_parse_int64("-5", -10, 10, &v), 0);
    assert_int_equal(v, -5);
    assert_int_equal(oauth2_parse_int64("101", 0, 100, &v), -1);
    assert_int_equal(oauth2_parse_int64(" 1", 0, 100, &v), -1);
    assert_int_equal(oauth2_parse_int64("+1", 0, 100, &v), -1);
    assert_int_equal(oauth2_parse_int64("1x", 0, 100, &v), -1);
    assert_int_equal(oauth2_parse_int64("", 0, 100, &v), -1);
    assert_int_equal(oauth2_parse_int64("-", -10, 100, &v), -1);
    assert_int_equal(oauth2_parse_int64(NULL, 0, 100, &v), -1);
    assert_int_equal(
        oauth2_parse_int64("99999999999999999999", 0, 0x7fffffffffffffffLL, &v),
        -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(b64url_roundtrip, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(b64url_rejects, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(b64url_every_byte_and_length, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(b64url_decode_into, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(b64_std, th_setup, th_teardown),
        cmocka_unit_test(ct_equal_null_never_matches),
        cmocka_unit_test_setup_teardown(random_and_sha, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(sha_long_input, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(json_good, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(json_bad, th_setup, th_teardown),
        cmocka_unit_test(int64_parse),
        cmocka_unit_test(sha_from_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
