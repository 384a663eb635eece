/*
 * test_crypto.c - HKDF-SHA256 against RFC 5869 vectors, AES-256-GCM seal and
 * open round trips, tampering with every byte, truncation at every length,
 * wrong key, wrong associated data, and key-ring rotation.
 */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "oauth2/crypto.h"

#define NOT_AUTHENTIC                                                          \
    "sealed value does not authenticate (tampered, truncated, wrong key or "   \
    "context)"

static const oauth2_crypto_keyring_t ring = {"current passphrase 0123456789",
                                             NULL};

static void hex(const unsigned char *b, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void hkdf_rfc5869_vectors(void **state)
{
    th_fixture_t *f = *state;
    unsigned char ikm[22], salt[13], okm[42];
    char info[11], out[85];
    size_t i;

    /* RFC 5869 A.1 */
    memset(ikm, 0x0b, sizeof(ikm));
    for (i = 0; i < sizeof(salt); i++)
        salt[i] = (unsigned char)i;
    for (i = 0; i < 10; i++)
        info[i] = (char)(0xf0 + i);
    info[10] = '\0';
    assert_int_equal(
        oauth2_crypto_hkdf(&f->ctx, ikm, 22, salt, 13, info, okm, 42),
        OAUTH2_OK);
    hex(okm, 42, out);
    assert_string_equal(out, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c"
                             "5db02d56ecc4c5bf34007208d5b887185865");
    /* RFC 5869 A.3: no salt, no info */
    assert_int_equal(oauth2_crypto_hkdf(&f->ctx, ikm, 22, NULL, 0, "", okm, 42),
                     OAUTH2_OK);
    hex(okm, 42, out);
    assert_string_equal(out, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879e"
                             "c3454e5f3c738d2d9d201395faa4b61a96c8");
}

static char *seal(th_fixture_t *f, const char *aad, const char *pt)
{
    char *s = NULL;

    assert_int_equal(oauth2_crypto_seal(&f->ctx, &ring, "salt", 4, "test", aad,
                                        strlen(aad), pt, strlen(pt), &s),
                     OAUTH2_OK);
    return s;
}

static oauth2_status_t open_(th_fixture_t *f, const oauth2_crypto_keyring_t *r,
                             const char *aad, const char *s, size_t n,
                             unsigned char **pt)
{
    return oauth2_crypto_open(&f->ctx, r, "salt", 4, "test", aad, strlen(aad),
                              s, n, pt, NULL);
}

static void round_trip(void **state)
{
    th_fixture_t *f = *state;
    char *s = seal(f, "aad", "hello world"),
         *s2 = seal(f, "aad", "hello world");
    unsigned char *pt = NULL;
    size_t n = 0;

    assert_true(strncmp(s, "v1.", 3) == 0);
    /* A fresh IV each time: equal plaintexts never seal equally. */
    assert_string_not_equal(s, s2);
    /* 12 IV + 11 ct + 16 tag = 39 bytes = 52 base64url chars. */
    assert_int_equal(strlen(s), 3 + 52);
    assert_int_equal(oauth2_crypto_open(&f->ctx, &ring, "salt", 4, "test",
                                        "aad", 3, s, strlen(s), &pt, &n),
                     OAUTH2_OK);
    assert_int_equal(n, 11);
    assert_string_equal((char *)pt, "hello world");
    /* Empty plaintext and empty AAD work too. */
    s = seal(f, "", "");
    assert_int_equal(open_(f, &ring, "", s, strlen(s), &pt), OAUTH2_OK);
    assert_string_equal((char *)pt, "");
}

static void tamper_every_position(void **state)
{
    th_fixture_t *f = *state;
    char *s = seal(f, "aad", "the secret session payload");
    size_t i, n = strlen(s);
    unsigned char *pt;

    for (i = 0; i < n; i++) {
        char *t = apr_pstrdup(f->pool, s);
        t[i] = (t[i] == 'A') ? 'B' : 'A';
        if (open_(f, &ring, "aad", t, n, &pt) != OAUTH2_DENIED)
            fail_msg("tampered position %zu opened", i);
        if (i < 3)
            assert_string_equal(f->ctx.err.text,
                                "sealed value has an unknown version");
        else if (i < n - 1) /* the last char may also break base64url */
            assert_string_equal(f->ctx.err.text, NOT_AUTHENTIC);
    }
}

static void truncate_every_length(void **state)
{
    th_fixture_t *f = *state;
    char *s = seal(f, "aad", "payload");
    size_t i, n = strlen(s);
    unsigned char *pt;

    for (i = 0; i < n; i++)
        if (open_(f, &ring, "aad", s, i, &pt) != OAUTH2_DENIED)
            fail_msg("truncation to %zu opened", i);
    assert_int_equal(open_(f, &ring, "aad", s, 3 + 36, &pt), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "sealed value too short");
    assert_int_equal(open_(f, &ring, "aad", s, 3 + 40, &pt), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, NOT_AUTHENTIC);
    assert_int_equal(open_(f, &ring, "aad", s, 2, &pt), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "sealed value has an unknown version");
}

static void garbage_and_extension(void **state)
{
    th_fixture_t *f = *state;
    char *s = seal(f, "aad", "payload");
    unsigned char *pt;
    const char *ext = apr_pstrcat(f->pool, s, "AAAA", NULL);

    assert_int_equal(open_(f, &ring, "aad", ext, strlen(ext), &pt),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, NOT_AUTHENTIC);
    assert_int_equal(open_(f, &ring, "aad", "v1.!!!!", 7, &pt), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "sealed value is not base64url");
    assert_int_equal(open_(f, &ring, "aad", "v2.AAAA", 7, &pt), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "sealed value has an unknown version");
    assert_int_equal(open_(f, &ring, "aad", NULL, 0, &pt), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "sealed value missing or too long");
}

static void wrong_aad_salt_info_key(void **state)
{
    th_fixture_t *f = *state;
    char *s = seal(f, "store-key-A", "payload");
    oauth2_crypto_keyring_t other = {"another passphrase", NULL};
    unsigned char *pt;

    assert_int_equal(open_(f, &ring, "store-key-B", s, strlen(s), &pt),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, NOT_AUTHENTIC);
    assert_int_equal(open_(f, &other, "store-key-A", s, strlen(s), &pt),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, NOT_AUTHENTIC);
    assert_int_equal(oauth2_crypto_open(&f->ctx, &ring, "SALT", 4, "test",
                                        "store-key-A", 11, s, strlen(s), &pt,
                                        NULL),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_crypto_open(&f->ctx, &ring, "salt", 4, "other",
                                        "store-key-A", 11, s, strlen(s), &pt,
                                        NULL),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, NOT_AUTHENTIC);
}

static void keyring_rotation(void **state)
{
    th_fixture_t *f = *state;
    char *old = seal(f, "aad", "from before rotation");
    oauth2_crypto_keyring_t rotated = {"the new passphrase", ring.current};
    oauth2_crypto_keyring_t dropped = {"the new passphrase", NULL};
    oauth2_crypto_keyring_t empty = {"", NULL};
    unsigned char *pt;
    char *s = NULL;

    assert_int_equal(open_(f, &rotated, "aad", old, strlen(old), &pt),
                     OAUTH2_OK);
    assert_string_equal((char *)pt, "from before rotation");
    assert_int_equal(open_(f, &dropped, "aad", old, strlen(old), &pt),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, NOT_AUTHENTIC);
    /* Seal always uses the current passphrase. */
    assert_int_equal(oauth2_crypto_seal(&f->ctx, &rotated, "salt", 4, "test",
                                        "aad", 3, "new", 3, &s),
                     OAUTH2_OK);
    assert_int_equal(open_(f, &dropped, "aad", s, strlen(s), &pt), OAUTH2_OK);
    assert_int_equal(open_(f, &ring, "aad", s, strlen(s), &pt), OAUTH2_DENIED);
    assert_int_equal(oauth2_crypto_seal(&f->ctx, &empty, "salt", 4, "test",
                                        "aad", 3, "x", 1, &s),
                     OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text, "no passphrase configured");
    assert_int_equal(open_(f, NULL, "aad", old, strlen(old), &pt),
                     OAUTH2_ERROR);
}

static void raw_key_api(void **state)
{
    th_fixture_t *f = *state;
    unsigned char key[32], key2[32];
    unsigned char *pt;
    char *s;

    memset(key, 7, sizeof(key));
    memset(key2, 8, sizeof(key2));
    assert_int_equal(
        oauth2_crypto_aead_seal(&f->ctx, key, "a", 1, "xyz", 3, &s), OAUTH2_OK);
    assert_int_equal(
        oauth2_crypto_aead_open(&f->ctx, key, "a", 1, s, strlen(s), &pt, NULL),
        OAUTH2_OK);
    assert_string_equal((char *)pt, "xyz");
    assert_int_equal(
        oauth2_crypto_aead_open(&f->ctx, key2, "a", 1, s, strlen(s), &pt, NULL),
        OAUTH2_DENIED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(hkdf_rfc5869_vectors, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(round_trip, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(tamper_every_position, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(truncate_every_length, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(garbage_and_extension, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(wrong_aad_salt_info_key, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(keyring_rotation, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(raw_key_api, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
