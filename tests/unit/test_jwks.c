/*
 * test_jwks.c - JWK / JWKS / PEM to EVP_PKEY: the RFC keys, the key rules
 * (public only, RSA >= 2048, points on the curve, caps) and the lookup.
 */
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>

#include "helpers.h"
#include "oauth2/jwks.h"
#include "oauth2/util.h"

static const char *vec(th_fixture_t *f, const char *name)
{
    return th_read_file(f->pool, apr_pstrcat(f->pool, "vectors/", name, NULL),
                        NULL);
}

/* {"keys":[a, b, ...]} from JWK texts. */
static const char *set_of(th_fixture_t *f, const char *a, const char *b)
{
    return apr_pstrcat(f->pool, "{\"keys\":[", a, b ? "," : "", b ? b : "",
                       "]}", NULL);
}

static oauth2_status_t parse(th_fixture_t *f, const char *json,
                             oauth2_jwks_t **out)
{
    f->ctx.err.text[0] = '\0';
    return oauth2_jwks_parse(&f->ctx, f->pool, json, strlen(json), out);
}

static void rfc_keys(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *s = NULL;
    const char *doc = apr_pstrcat(
        f->pool, "{\"keys\":[", vec(f, "rfc7515_a2.jwk"), ",",
        vec(f, "rfc7515_a3.jwk"), ",", vec(f, "rfc8037_a4.jwk"), "]}", NULL);

    assert_int_equal(parse(f, doc, &s), OAUTH2_OK);
    assert_int_equal(s->nkeys, 3);
    assert_int_equal(s->keys[0].kty, OAUTH2_KTY_RSA);
    assert_int_equal(s->keys[0].bits, 2048);
    assert_true(EVP_PKEY_is_a(s->keys[0].pkey, "RSA"));
    assert_int_equal(s->keys[1].kty, OAUTH2_KTY_EC);
    assert_string_equal(s->keys[1].crv, "P-256");
    assert_true(EVP_PKEY_is_a(s->keys[1].pkey, "EC"));
    assert_int_equal(s->keys[2].kty, OAUTH2_KTY_OKP);
    assert_string_equal(s->keys[2].crv, "Ed25519");
    assert_false(s->any_kid);
}

static void refused_sets(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *s = NULL;
    const char *ec = vec(f, "rfc7515_a3.jwk");
    const char *priv = vec(f, "rfc7515_a3_private.jwk");
    /* y of the RFC key with one character changed: off the curve. */
    const char *badpt =
        "{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
        "\"y\":\"x_FEzRv9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
    const char *shorty =
        "{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVA\","
        "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
    const struct {
        const char *doc;
        const char *err;
    } v[] = {
        {set_of(f, ec, priv), "jwks: key 1: jwk: private member \"d\" present"},
        {set_of(f, "{\"kty\":\"oct\",\"k\":\"AAAA\"}", NULL),
         "jwks: key 0: jwk: private member \"k\" present"},
        {set_of(f, badpt, NULL),
         "jwks: key 0: jwk: P-256 point is not on the curve"},
        {set_of(f, shorty, NULL),
         "jwks: key 0: jwk: P-256 coordinates must be 32 bytes"},
        {set_of(f, "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", NULL),
         "jwks: key 0: jwk: RSA modulus of 17 bits (need 2048 to 16384)"},
        {set_of(f, "{\"kty\":\"RSA\",\"n\":\"AQ==\",\"e\":\"AQAB\"}", NULL),
         "jwks: key 0: jwk: member \"n\": base64url: bad character at "
         "offset 2"},
        {set_of(f, "{\"kty\":\"RSA\",\"e\":\"AQAB\"}", NULL),
         "jwks: key 0: jwk: member \"n\" missing or not a string"},
        {set_of(f, "{\"kid\":1,\"kty\":\"EC\"}", NULL),
         "jwks: key 0: jwk: kid, alg or use is not a string"},
        {set_of(f, "{\"crv\":\"P-256\"}", NULL),
         "jwks: key 0: jwk: kty missing"},
        {set_of(f, "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"}", NULL),
         "jwks: no usable key"},
        {"{\"keys\":{}}", "jwks: \"keys\" array missing"},
        {"{}", "jwks: \"keys\" array missing"},
        {"[]", "jwks: json: not an object"},
        {"{\"keys\":[],\"keys\":[]}",
         "jwks: json: duplicate object key near '\"keys\"'"},
        {"{\"keys\":[]}", "jwks: no usable key"},
    };
    size_t i;

    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        s = (oauth2_jwks_t *)1;
        if (parse(f, v[i].doc, &s) != OAUTH2_DENIED)
            fail_msg("case %zu accepted", i);
        assert_null(s);
        assert_string_equal(f->ctx.err.text, v[i].err);
    }
}

/* n and e of a freshly generated RSA key as a JWK. */
static const char *rsa_jwk(th_fixture_t *f, unsigned bits)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    BIGNUM *n = NULL, *e = NULL;
    unsigned char nb[1024], eb[16];
    int nl, el;

    assert_non_null(k);
    assert_true(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n));
    assert_true(EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e));
    nl = BN_bn2bin(n, nb);
    el = BN_bn2bin(e, eb);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_free(k);
    return apr_psprintf(f->pool, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}",
                        oauth2_b64url_encode(f->pool, nb, (size_t)nl),
                        oauth2_b64url_encode(f->pool, eb, (size_t)el));
}

static void rsa_1024_refused(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *s = NULL;

    assert_int_equal(parse(f, set_of(f, rsa_jwk(f, 1024), NULL), &s),
                     OAUTH2_DENIED);
    assert_string_equal(
        f->ctx.err.text,
        "jwks: key 0: jwk: RSA modulus of 1024 bits (need 2048 to 16384)");
    assert_int_equal(parse(f, set_of(f, rsa_jwk(f, 3072), NULL), &s),
                     OAUTH2_OK);
    assert_int_equal(s->keys[0].bits, 3072);
}

static void unsupported_keys_skipped(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *s = NULL;
    const char *doc = apr_pstrcat(
        f->pool, "{\"keys\":[{\"kty\":\"XYZ\",\"kid\":\"odd\"},",
        "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"AA\",\"y\":\"AA\"},",
        "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AA\",\"e\":\"AQAB\"},",
        vec(f, "rfc8037_a4.jwk"), "]}", NULL);

    assert_int_equal(parse(f, doc, &s), OAUTH2_OK);
    assert_int_equal(s->nkeys, 1);
    assert_int_equal(s->keys[0].kty, OAUTH2_KTY_OKP);
    assert_true(th_logged(f, "OA00100: jwks: skipping key 0 (kid odd): jwk: "
                             "unsupported kty"));
    assert_true(th_logged(f, "skipping key 1 (kid (null)): jwk: unsupported "
                             "EC curve"));
    assert_true(th_logged(f, "skipping key 2 (kid (null)): jwk: use is not "));
}

static void caps(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *s = NULL;
    const char *ed = vec(f, "rfc8037_a4.jwk");
    char *doc = apr_pstrdup(f->pool, "{\"keys\":[");
    char *big;
    int i;

    for (i = 0; i < OAUTH2_JWKS_MAX_KEYS; i++)
        doc = apr_pstrcat(f->pool, doc, i ? "," : "", ed, NULL);
    assert_int_equal(parse(f, apr_pstrcat(f->pool, doc, "]}", NULL), &s),
                     OAUTH2_OK);
    assert_int_equal(s->nkeys, OAUTH2_JWKS_MAX_KEYS);
    doc = apr_pstrcat(f->pool, doc, ",", ed, "]}", NULL);
    assert_int_equal(parse(f, doc, &s), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "jwks: 65 keys exceed the cap of 64");

    big = apr_palloc(f->pool, OAUTH2_JWKS_MAX_BYTES + 32);
    memset(big, ' ', OAUTH2_JWKS_MAX_BYTES + 31);
    big[0] = '{';
    big[OAUTH2_JWKS_MAX_BYTES] = '}';
    big[OAUTH2_JWKS_MAX_BYTES + 1] = '\0';
    assert_int_equal(parse(f, big, &s), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "jwks: json: input of 262145 bytes exceeds 262144");
}

/* Keys live in the owner pool, not in ctx->pool (the cache's case). */
static void owner_pool_outlives_ctx(void **state)
{
    th_fixture_t *f = *state;
    apr_pool_t *owner, *scratch;
    oauth2_ctx_t c;
    oauth2_jwks_t *s = NULL;
    const char *doc = set_of(f, vec(f, "rfc7515_a3.jwk"), NULL);

    apr_pool_create(&owner, NULL);
    apr_pool_create(&scratch, NULL);
    oauth2_ctx_init(&c, scratch, NULL, f->ctx.now);
    assert_int_equal(oauth2_jwks_parse(&c, owner, doc, strlen(doc), &s),
                     OAUTH2_OK);
    apr_pool_destroy(scratch);
    assert_int_equal(EVP_PKEY_get_bits(s->keys[0].pkey), 256);
    assert_string_equal(s->keys[0].crv, "P-256");
    apr_pool_destroy(owner);
}

static const char *pem_of(th_fixture_t *f, EVP_PKEY *k, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;

    assert_true(PEM_write_bio_PUBKEY(b, k));
    n = BIO_get_mem_data(b, &data);
    data = apr_pstrmemdup(f->pool, data, (apr_size_t)n);
    BIO_free(b);
    *len = (size_t)n;
    return data;
}

static void pem_keys(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *s = NULL;
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    const char *pem, *path;
    size_t len;
    apr_file_t *fd;
    char tmpl[] = "/tmp/oauth2-pem-XXXXXX";

    pem = pem_of(f, ec, &len);
    assert_int_equal(oauth2_jwks_from_pem(&f->ctx, f->pool, pem, len, &s),
                     OAUTH2_OK);
    assert_int_equal(s->nkeys, 1);
    assert_true(s->any_kid);
    assert_int_equal(s->keys[0].kty, OAUTH2_KTY_EC);
    assert_string_equal(s->keys[0].crv, "P-384");

    assert_int_equal(
        apr_file_mktemp(&fd, tmpl,
                        APR_FOPEN_CREATE | APR_FOPEN_WRITE | APR_FOPEN_EXCL,
                        f->pool),
        APR_SUCCESS);
    assert_int_equal(apr_file_write_full(fd, pem, len, NULL), APR_SUCCESS);
    apr_file_close(fd);
    path = tmpl;
    assert_int_equal(oauth2_jwks_from_pem_file(&f->ctx, f->pool, path, &s),
                     OAUTH2_OK);
    assert_string_equal(s->keys[0].crv, "P-384");
    apr_file_remove(path, f->pool);
    assert_int_equal(oauth2_jwks_from_pem_file(&f->ctx, f->pool, path, &s),
                     OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text,
                        apr_pstrcat(f->pool, "pem: cannot open ", path, NULL));

    pem = pem_of(f, weak, &len);
    assert_int_equal(oauth2_jwks_from_pem(&f->ctx, f->pool, pem, len, &s),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "pem: RSA modulus of 1024 bits (need 2048 to 16384)");
    assert_int_equal(oauth2_jwks_from_pem(&f->ctx, f->pool, "junk", 4, &s),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "pem: no PUBLIC KEY block");
    EVP_PKEY_free(ec);
    EVP_PKEY_free(weak);
}

static void lookup(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *s = NULL;
    const oauth2_jwk_t *k;
    int pos = 0;
    const char *doc = apr_pstrcat(
        f->pool,
        "{\"keys\":[{\"kid\":\"a\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":"
        "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"},",
        vec(f, "rfc7515_a3.jwk"), ",", vec(f, "rfc7515_a2.jwk"), "]}", NULL);

    assert_int_equal(parse(f, doc, &s), OAUTH2_OK);
    k = oauth2_jwks_next(s, "a", OAUTH2_KTY_NONE, NULL, &pos);
    assert_non_null(k);
    assert_string_equal(k->kid, "a");
    assert_null(oauth2_jwks_next(s, "a", OAUTH2_KTY_NONE, NULL, &pos));
    pos = 0;
    assert_null(oauth2_jwks_next(s, "b", OAUTH2_KTY_NONE, NULL, &pos));
    pos = 0;
    k = oauth2_jwks_next(s, NULL, OAUTH2_KTY_EC, "P-256", &pos);
    assert_non_null(k);
    assert_int_equal(k->kty, OAUTH2_KTY_EC);
    pos = 0;
    assert_null(oauth2_jwks_next(s, NULL, OAUTH2_KTY_EC, "P-384", &pos));
    pos = 0;
    k = oauth2_jwks_next(s, NULL, OAUTH2_KTY_RSA, NULL, &pos);
    assert_non_null(k);
    assert_int_equal(pos, 3);
    assert_string_equal(oauth2_kty_name(k->kty), "RSA");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rfc_keys, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(refused_sets, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(rsa_1024_refused, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(unsupported_keys_skipped, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(caps, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(owner_pool_outlives_ctx, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(pem_keys, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(lookup, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
