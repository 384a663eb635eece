/*
 * test_jose.c - compact JWS parse and verify: the RFC 7515 A.2/A.3 and RFC
 * 8037 A.4 vectors, tokens signed here with fresh OpenSSL keys (PS256,
 * ES384, ES512, EdDSA), and every malformed or hostile kind we refuse.
 */
#include <string.h>

#include <apr_strings.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "helpers.h"
#include "oauth2/jose.h"

static const char *vec(th_fixture_t *f, const char *name)
{
    return th_read_file(f->pool, apr_pstrcat(f->pool, "vectors/", name, NULL),
                        NULL);
}

static const char *b64(th_fixture_t *f, const void *d, size_t n)
{
    return oauth2_b64url_encode(f->pool, d, n);
}

static const char *b64s(th_fixture_t *f, const char *s)
{
    return b64(f, s, strlen(s));
}

/* "<b64 header>.<b64 payload>.<sig>" with a given (encoded) signature. */
static const char *mk(th_fixture_t *f, const char *hdr, const char *pl,
                      const char *sig)
{
    return apr_pstrcat(f->pool, b64s(f, hdr), ".", b64s(f, pl), ".", sig, NULL);
}

static const char *rfc_jwks(th_fixture_t *f)
{
    return apr_pstrcat(f->pool, "{\"keys\":[", vec(f, "rfc7515_a2.jwk"), ",",
                       vec(f, "rfc7515_a3.jwk"), ",", vec(f, "rfc8037_a4.jwk"),
                       "]}", NULL);
}

static oauth2_jwks_t *keys_of(th_fixture_t *f, const char *doc)
{
    oauth2_jwks_t *k = NULL;

    if (oauth2_jwks_parse(&f->ctx, f->pool, doc, strlen(doc), &k) != OAUTH2_OK)
        fail_msg("jwks: %s", f->ctx.err.text);
    return k;
}

static oauth2_status_t check(th_fixture_t *f, const char *compact,
                             const oauth2_jwks_t *keys, unsigned algs)
{
    oauth2_jws_t *j = NULL;
    oauth2_status_t st;

    f->ctx.err.text[0] = '\0';
    st = oauth2_jws_parse(&f->ctx, compact, strlen(compact), &j);
    if (st != OAUTH2_OK)
        return st;
    return oauth2_jws_verify(&f->ctx, j, keys, algs);
}

#define assert_check(f, c, k, a, st, txt)                                      \
    do {                                                                       \
        assert_int_equal(check((f), (c), (k), (a)), (st));                     \
        assert_string_equal((f)->ctx.err.text, (txt));                         \
    } while (0)

/* ---- the RFC vectors ---------------------------------------------------- */

static void rfc_vectors_verify(void **state)
{
    th_fixture_t *f = *state;
    apr_pool_t *owner;
    oauth2_jwks_t *keys = NULL;
    oauth2_jws_t *j = NULL;
    const char *doc = rfc_jwks(f);
    const char *a2 = vec(f, "rfc7515_a2.jws");
    static const char *names[] = {"rfc7515_a2.jws", "rfc7515_a3.jws"};
    size_t i;

    /* Keys in their own long-lived pool, as the JWKS cache will hold them. */
    apr_pool_create(&owner, NULL);
    assert_int_equal(oauth2_jwks_parse(&f->ctx, owner, doc, strlen(doc), &keys),
                     OAUTH2_OK);
    for (i = 0; i < 2; i++) {
        const char *t = vec(f, names[i]);
        if (check(f, t, keys, OAUTH2_ALG_ALL) != OAUTH2_OK)
            fail_msg("%s: %s", names[i], f->ctx.err.text);
    }
    assert_true(th_logged(f, "OA00101: jws: ES256 signature valid (kid none)"));

    assert_int_equal(oauth2_jws_parse(&f->ctx, a2, strlen(a2), &j), OAUTH2_OK);
    assert_string_equal(j->alg, "RS256");
    assert_null(j->kid);
    assert_string_equal(oauth2_json_str(j->payload, "iss"), "joe");
    assert_int_equal(json_integer_value(json_object_get(j->payload, "exp")),
                     1300819380);
    apr_pool_destroy(owner);
}

/*
 * The RFC 8037 A.4 example signs plain text, which our parser refuses (a
 * JWT payload is a JSON object); its signature is still checked verbatim
 * through oauth2_jws_verify on a hand-built oauth2_jws_t.
 */
static void rfc8037_eddsa(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jws_t *j = NULL, hand;
    oauth2_jwks_t *keys = keys_of(f, rfc_jwks(f));
    const char *t = vec(f, "rfc8037_a4.jws");
    const char *d2 = strrchr(t, '.');

    assert_int_equal(oauth2_jws_parse(&f->ctx, t, strlen(t), &j),
                     OAUTH2_DENIED);
    assert_string_equal(
        f->ctx.err.text,
        "jws payload: json: '[' or '{' expected near 'Example'");
    memset(&hand, 0, sizeof(hand));
    hand.alg = "EdDSA";
    hand.alg_bit = OAUTH2_ALG_EDDSA;
    hand.signing_input = t;
    hand.signing_input_len = (size_t)(d2 - t);
    assert_int_equal(oauth2_b64url_decode(&f->ctx, d2 + 1, strlen(d2 + 1),
                                          &hand.sig, &hand.sig_len),
                     OAUTH2_OK);
    assert_int_equal(hand.sig_len, 64);
    assert_int_equal(oauth2_jws_verify(&f->ctx, &hand, keys, OAUTH2_ALG_EDDSA),
                     OAUTH2_OK);
    assert_true(th_logged(f, "OA00101: jws: EdDSA signature valid (kid none)"));
    /* One flipped bit of the message breaks it. */
    hand.signing_input = apr_pstrdup(f->pool, t);
    ((char *)hand.signing_input)[30] ^= 1;
    assert_int_equal(oauth2_jws_verify(&f->ctx, &hand, keys, OAUTH2_ALG_EDDSA),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "jws: EdDSA signature invalid");
    assert_int_equal(oauth2_jws_verify(&f->ctx, &hand, keys, OAUTH2_ALG_RS256),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "jws: alg EdDSA not allowed here");
}

/* ---- tokens signed here ------------------------------------------------- */

/* Sign `hdr`.`pl` with `k` as alg `alg`, returning the compact JWS. */
static const char *sign(th_fixture_t *f, EVP_PKEY *k, const char *alg,
                        const char *hdr, const char *pl)
{
    const char *input =
        apr_pstrcat(f->pool, b64s(f, hdr), ".", b64s(f, pl), NULL);
    const char *mdname = NULL;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    unsigned char sig[1024], raw[132];
    size_t n = sizeof(sig);
    int cb = 0;

    if (alg[0] != 'E' || alg[1] == 'S')
        mdname = strstr(alg, "256")   ? "SHA256"
                 : strstr(alg, "384") ? "SHA384"
                                      : "SHA512";
    assert_int_equal(EVP_DigestSignInit_ex(m, &pc, mdname, NULL, NULL, k, NULL),
                     1);
    if (alg[0] == 'P') {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) >
                    0);
        assert_true(
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) > 0);
    }
    assert_int_equal(
        EVP_DigestSign(m, sig, &n, (const unsigned char *)input, strlen(input)),
        1);
    EVP_MD_CTX_free(m);
    if (alg[0] == 'E' && alg[1] == 'S') {
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        cb = strstr(alg, "256") ? 32 : strstr(alg, "384") ? 48 : 66;
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, cb);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + cb, cb);
        ECDSA_SIG_free(es);
        return apr_pstrcat(f->pool, input, ".", b64(f, raw, 2 * (size_t)cb),
                           NULL);
    }
    return apr_pstrcat(f->pool, input, ".", b64(f, sig, n), NULL);
}

static const char *bn_b64(th_fixture_t *f, EVP_PKEY *k, const char *param,
                          int pad)
{
    BIGNUM *bn = NULL;
    unsigned char buf[1024];
    int n;

    assert_true(EVP_PKEY_get_bn_param(k, param, &bn));
    n = pad ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
    BN_free(bn);
    return b64(f, buf, (size_t)n);
}

/* Public JWK text of `k` with a kid (and an alg when not NULL). */
static const char *jwk_of(th_fixture_t *f, EVP_PKEY *k, const char *kid,
                          const char *alg)
{
    const char *extra =
        apr_psprintf(f->pool, "\"kid\":\"%s\"%s%s%s", kid,
                     alg ? ",\"alg\":\"" : "", alg ? alg : "", alg ? "\"" : "");
    char grp[32];
    size_t gl;
    int cb;

    if (EVP_PKEY_is_a(k, "RSA"))
        return apr_psprintf(f->pool,
                            "{%s,\"kty\":\"RSA\",\"n\":\"%s\",\"e\":"
                            "\"%s\"}",
                            extra, bn_b64(f, k, OSSL_PKEY_PARAM_RSA_N, 0),
                            bn_b64(f, k, OSSL_PKEY_PARAM_RSA_E, 0));
    if (EVP_PKEY_is_a(k, "ED25519")) {
        unsigned char x[32];
        size_t xl = sizeof(x);
        assert_int_equal(EVP_PKEY_get_raw_public_key(k, x, &xl), 1);
        return apr_psprintf(f->pool,
                            "{%s,\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                            "\"x\":\"%s\"}",
                            extra, b64(f, x, xl));
    }
    assert_int_equal(EVP_PKEY_get_utf8_string_param(
                         k, OSSL_PKEY_PARAM_GROUP_NAME, grp, sizeof(grp), &gl),
                     1);
    cb = strcmp(grp, "prime256v1") == 0  ? 32
         : strcmp(grp, "secp384r1") == 0 ? 48
                                         : 66;
    return apr_psprintf(f->pool,
                        "{%s,\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\","
                        "\"y\":\"%s\"}",
                        extra,
                        cb == 32   ? "P-256"
                        : cb == 48 ? "P-384"
                                   : "P-521",
                        bn_b64(f, k, OSSL_PKEY_PARAM_EC_PUB_X, cb),
                        bn_b64(f, k, OSSL_PKEY_PARAM_EC_PUB_Y, cb));
}

typedef struct keyset_t {
    EVP_PKEY *rsa, *p256, *p384, *p521, *ed;
    oauth2_jwks_t *jwks;
} keyset_t;

static void keyset_new(th_fixture_t *f, keyset_t *ks)
{
    ks->rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ks->p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ks->p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ks->p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
    ks->ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_true(ks->rsa && ks->p256 && ks->p384 && ks->p521 && ks->ed);
    ks->jwks = keys_of(
        f, apr_pstrcat(f->pool, "{\"keys\":[", jwk_of(f, ks->rsa, "rsa", NULL),
                       ",", jwk_of(f, ks->p256, "p256", NULL), ",",
                       jwk_of(f, ks->p384, "p384", "ES384"), ",",
                       jwk_of(f, ks->p521, "p521", NULL), ",",
                       jwk_of(f, ks->ed, "ed", NULL), ",",
                       jwk_of(f, ks->rsa, "rsa384", "RS384"), "]}", NULL));
}

static void keyset_free(keyset_t *ks)
{
    EVP_PKEY_free(ks->rsa);
    EVP_PKEY_free(ks->p256);
    EVP_PKEY_free(ks->p384);
    EVP_PKEY_free(ks->p521);
    EVP_PKEY_free(ks->ed);
}

static const char *hdr(th_fixture_t *f, const char *alg, const char *kid)
{
    return kid ? apr_psprintf(f->pool, "{\"alg\":\"%s\",\"kid\":\"%s\"}", alg,
                              kid)
               : apr_psprintf(f->pool, "{\"alg\":\"%s\"}", alg);
}

static void generated_algs_verify(void **state)
{
    th_fixture_t *f = *state;
    keyset_t ks;
    const char *pl = "{\"sub\":\"alice\"}";
    const struct {
        EVP_PKEY **k;
        const char *alg, *kid;
    } v[] = {
        {&ks.rsa, "RS256", "rsa"},    {&ks.rsa, "RS384", "rsa"},
        {&ks.rsa, "RS512", "rsa"},    {&ks.rsa, "PS256", "rsa"},
        {&ks.rsa, "PS384", "rsa"},    {&ks.rsa, "PS512", "rsa"},
        {&ks.p256, "ES256", "p256"},  {&ks.p384, "ES384", "p384"},
        {&ks.p521, "ES512", "p521"},  {&ks.ed, "EdDSA", "ed"},
        {&ks.rsa, "PS256", NULL},     {&ks.p521, "ES512", NULL},
        {&ks.rsa, "RS384", "rsa384"},
    };
    size_t i;

    keyset_new(f, &ks);
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        const char *t =
            sign(f, *v[i].k, v[i].alg, hdr(f, v[i].alg, v[i].kid), pl);
        if (check(f, t, ks.jwks, oauth2_jose_alg_bit(v[i].alg)) != OAUTH2_OK)
            fail_msg("%s/%s: %s", v[i].alg, v[i].kid ? v[i].kid : "-",
                     f->ctx.err.text);
    }
    keyset_free(&ks);
}

/* Copies of the contexts prepared at parse time verify exactly like fresh
 * ones: good tokens pass again and again, a tampered one fails between
 * them (a copy never changes the prepared context), with and without. */
static void prepared_contexts_reused(void **state)
{
    th_fixture_t *f = *state;
    keyset_t ks;
    const char *pl = "{\"sub\":\"alice\"}";
    const struct {
        EVP_PKEY **k;
        const char *alg, *kid;
    } v[] = {
        {&ks.rsa, "RS256", "rsa"}, {&ks.rsa, "PS256", "rsa"},
        {&ks.rsa, "RS512", "rsa"}, {&ks.p256, "ES256", "p256"},
        {&ks.p521, "ES512", "p521"}, {&ks.ed, "EdDSA", "ed"},
    };
    size_t i;
    int pass, round;

    keyset_new(f, &ks);
    assert_non_null(ks.jwks->keys[0].prepared); /* rsa */
    assert_non_null(ks.jwks->keys[1].prepared); /* p256 */
    assert_null(ks.jwks->keys[4].prepared);     /* ed: not copyable */
    for (pass = 0; pass < 2; pass++) {
        if (pass == 1) /* the fresh-context path gives the same answers */
            for (i = 0; i < (size_t)ks.jwks->nkeys; i++)
                ks.jwks->keys[i].prepared = NULL;
        for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            const char *t =
                sign(f, *v[i].k, v[i].alg, hdr(f, v[i].alg, v[i].kid), pl);
            char *bad = apr_pstrdup(f->pool, t);
            char *c = strrchr(bad, '.') + 1;
            unsigned bit = oauth2_jose_alg_bit(v[i].alg);

            *c = *c == 'A' ? 'B' : 'A'; /* another valid base64url char */
            for (round = 0; round < 3; round++) {
                if (check(f, t, ks.jwks, bit) != OAUTH2_OK)
                    fail_msg("%s pass %d round %d: %s", v[i].alg, pass,
                             round, f->ctx.err.text);
                assert_int_not_equal(check(f, bad, ks.jwks, bit), OAUTH2_OK);
            }
        }
    }
    keyset_free(&ks);
}

static void key_selection_refusals(void **state)
{
    th_fixture_t *f = *state;
    keyset_t ks;
    const char *pl = "{\"sub\":\"alice\"}";

    keyset_new(f, &ks);
    /* RS256 claimed, the kid names an EC key. */
    assert_check(f, sign(f, ks.rsa, "RS256", hdr(f, "RS256", "p256"), pl),
                 ks.jwks, OAUTH2_ALG_ALL, OAUTH2_DENIED,
                 "jws: alg RS256 needs an RSA key, got EC");
    /* ES256 claimed against a P-521 key. */
    assert_check(f, sign(f, ks.p256, "ES256", hdr(f, "ES256", "p521"), pl),
                 ks.jwks, OAUTH2_ALG_ALL, OAUTH2_DENIED,
                 "jws: alg ES256 needs curve P-256, got P-521");
    /* The key's own alg pins it. */
    assert_check(f, sign(f, ks.rsa, "RS256", hdr(f, "RS256", "rsa384"), pl),
                 ks.jwks, OAUTH2_ALG_ALL, OAUTH2_DENIED,
                 "jws: key is for alg RS384, token says RS256");
    assert_check(f, sign(f, ks.p256, "ES256", hdr(f, "ES256", "nope"), pl),
                 ks.jwks, OAUTH2_ALG_ALL, OAUTH2_NOT_FOUND,
                 "jws: no key with kid \"nope\"");
    assert_check(f, sign(f, ks.p256, "ES256", hdr(f, "ES256", "p256"), pl),
                 ks.jwks, OAUTH2_ALG_RS256 | OAUTH2_ALG_ES384, OAUTH2_DENIED,
                 "jws: alg ES256 not allowed here");
    /* Signed by another key of the right type. */
    assert_check(f, sign(f, ks.p521, "ES512", hdr(f, "ES512", NULL), pl),
                 keys_of(f, apr_pstrcat(f->pool, "{\"keys\":[",
                                        vec(f, "rfc7515_a3.jwk"), "]}", NULL)),
                 OAUTH2_ALG_ALL, OAUTH2_DENIED,
                 "jws: no EC key fits alg ES512");
    assert_check(f, sign(f, ks.ed, "EdDSA", hdr(f, "EdDSA", "p256x"), pl),
                 ks.jwks, OAUTH2_ALG_ALL, OAUTH2_NOT_FOUND,
                 "jws: no key with kid \"p256x\"");
    assert_check(f, sign(f, ks.p256, "ES256", hdr(f, "ES256", "p256"), pl),
                 NULL, OAUTH2_ALG_ALL, OAUTH2_NOT_FOUND,
                 "jws: no keys to verify with");
    keyset_free(&ks);
}

/* ---- hostile signatures ------------------------------------------------- */

static void bad_signatures(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *keys = keys_of(f, rfc_jwks(f));
    const char *a3 = vec(f, "rfc7515_a3.jws");
    const char *a2 = vec(f, "rfc7515_a2.jws");
    const char *h3 = "{\"alg\":\"ES256\"}";
    const char *pl = "{\"iss\":\"joe\"}";
    unsigned char rs[64], mac[64];
    size_t maclen = 0;
    const char *pem =
        "{\"kty\":\"RSA\",\"n\":\"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd\"}";
    const char *in;

    memset(rs, 0, sizeof(rs));
    rs[63] = 1; /* r = 0, s = 1 */
    assert_check(f, mk(f, h3, pl, b64(f, rs, 64)), keys, OAUTH2_ALG_ALL,
                 OAUTH2_DENIED, "jws: ECDSA r or s is zero");
    memset(rs, 0, sizeof(rs));
    rs[31] = 1; /* r = 1, s = 0 */
    assert_check(f, mk(f, h3, pl, b64(f, rs, 64)), keys, OAUTH2_ALG_ALL,
                 OAUTH2_DENIED, "jws: ECDSA r or s is zero");
    assert_check(f, mk(f, h3, pl, b64(f, rs, 63)), keys, OAUTH2_ALG_ALL,
                 OAUTH2_DENIED, "jws: ES256 signature of 63 bytes, need 64");
    memset(rs, 0xff, sizeof(rs)); /* r, s >= the group order */
    assert_check(f, mk(f, h3, pl, b64(f, rs, 64)), keys, OAUTH2_ALG_ALL,
                 OAUTH2_DENIED, "jws: ES256 signature invalid");

    /* Tampered payload: the RFC A.3 signature over other claims. */
    assert_check(f,
                 apr_pstrcat(f->pool, b64s(f, h3), ".",
                             b64s(f, "{\"iss\":\"joe\",\"exp\":1300819381}"),
                             strrchr(a3, '.'), NULL),
                 keys, OAUTH2_ALG_ALL, OAUTH2_DENIED,
                 "jws: ES256 signature invalid");
    /* Tampered header (alg confusion RS256 -> PS256 on the same bytes). */
    assert_check(f,
                 apr_pstrcat(f->pool, b64s(f, "{\"alg\":\"PS256\"}"),
                             strchr(a2, '.'), NULL),
                 keys, OAUTH2_ALG_ALL, OAUTH2_DENIED,
                 "jws: PS256 signature invalid");

    /* HS256 "signed" with the RSA public key as the HMAC secret. */
    in = apr_pstrcat(f->pool, b64s(f, "{\"alg\":\"HS256\"}"), ".", b64s(f, pl),
                     NULL);
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pem,
                              strlen(pem), (const unsigned char *)in,
                              strlen(in), mac, sizeof(mac), &maclen));
    assert_check(f, apr_pstrcat(f->pool, in, ".", b64(f, mac, maclen), NULL),
                 keys, OAUTH2_ALG_ALL, OAUTH2_DENIED,
                 "jws: alg \"HS256\" refused");
    /* The same MAC under an RS256 header is just a bad RSA signature. */
    in = apr_pstrcat(f->pool, b64s(f, "{\"alg\":\"RS256\"}"), ".", b64s(f, pl),
                     NULL);
    assert_check(f, apr_pstrcat(f->pool, in, ".", b64(f, mac, maclen), NULL),
                 keys, OAUTH2_ALG_ALL, OAUTH2_DENIED,
                 "jws: RSA signature of 32 bytes, key needs 256");
}

/* ---- malformed tokens --------------------------------------------------- */

static const char *nested(th_fixture_t *f, int depth)
{
    char *s = apr_pstrdup(f->pool, "1");
    int i;

    for (i = 0; i < depth; i++)
        s = apr_psprintf(f->pool, "{\"a\":%s}", s);
    return s;
}

static const char *many_members(th_fixture_t *f, int n)
{
    char *s = apr_pstrdup(f->pool, "{");
    int i;

    for (i = 0; i < n; i++)
        s = apr_psprintf(f->pool, "%s%s\"m%d\":1", s, i ? "," : "", i);
    return apr_pstrcat(f->pool, s, "}", NULL);
}

static void malformed_tokens(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jwks_t *keys = keys_of(f, rfc_jwks(f));
    const char *a3 = vec(f, "rfc7515_a3.jws");
    const char *sig = strrchr(a3, '.') + 1;
    const char *pl = "{\"iss\":\"joe\"}";
    const char *es = "{\"alg\":\"ES256\"}";
    char *big = apr_palloc(f->pool, OAUTH2_JWS_MAX_TOKEN + 2);
    char *badc = apr_pstrdup(f->pool, a3);
    const struct {
        const char *t;
        const char *err;
    } v[] = {
        {mk(f, "{\"alg\":\"none\"}", pl, ""), "jws: alg \"none\" refused"},
        {mk(f, "{\"alg\":\"HS256\"}", pl, sig), "jws: alg \"HS256\" refused"},
        {mk(f, "{\"alg\":\"HS512\"}", pl, sig), "jws: alg \"HS512\" refused"},
        {mk(f, "{\"alg\":\"RSA1_5\"}", pl, sig), "jws: alg \"RSA1_5\" refused"},
        {mk(f, "{\"alg\":\"es256\"}", pl, sig), "jws: alg \"es256\" refused"},
        {mk(f, "{\"typ\":\"JWT\"}", pl, sig),
         "jws: header \"alg\" missing or not a string"},
        {mk(f, "{\"alg\":256}", pl, sig),
         "jws: header \"alg\" missing or not a string"},
        {apr_pstrcat(f->pool, a3, "==", NULL),
         "jws signature: base64url: bad character at offset 86"},
        {badc, "jws payload: base64url: bad character at offset 5"},
        {apr_pstrcat(f->pool, "eyJhbGciOiJFUzI1NiJ9=", strchr(a3, '.'), NULL),
         "jws header: base64url: bad length 21"},
        {"a.b", "jws: 2 parts, need 3"},
        {apr_pstrcat(f->pool, a3, ".", sig, NULL), "jws: 4 parts, need 3"},
        {"a.b.c.d.e", "jws: 5 parts, need 3"},
        {"", "jws: 1 parts, need 3"},
        {big, "jws: token of 16385 bytes exceeds 16384"},
        {mk(f, es, nested(f, 9), sig),
         "jws payload: json: nesting deeper than 8"},
        {mk(f, es, many_members(f, 513), sig),
         "jws payload: json: more than 512 members"},
        {mk(f, "{\"alg\":\"ES256\",\"alg\":\"ES256\"}", pl, sig),
         "jws header: json: duplicate object key near '\"alg\"'"},
        {mk(f, es, "{\"sub\":\"a\",\"sub\":\"b\"}", sig),
         "jws payload: json: duplicate object key near '\"sub\"'"},
        {mk(f, "{\"alg\":\"ES256\",\"jwk\":{}}", pl, sig),
         "jws: header \"jwk\" refused"},
        {mk(f, "{\"alg\":\"ES256\",\"jku\":\"https://x\"}", pl, sig),
         "jws: header \"jku\" refused"},
        {mk(f, "{\"alg\":\"ES256\",\"x5u\":\"https://x\"}", pl, sig),
         "jws: header \"x5u\" refused"},
        {mk(f, "{\"alg\":\"ES256\",\"x5c\":[]}", pl, sig),
         "jws: header \"x5c\" refused"},
        {mk(f, "{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}", pl, sig),
         "jws: header \"crit\" refused"},
        {mk(f, "{\"alg\":\"ES256\",\"b64\":false}", pl, sig),
         "jws: header \"b64\" other than true refused"},
        {mk(f, "{\"alg\":\"ES256\",\"kid\":7}", pl, sig),
         "jws: header \"kid\" or \"typ\" not a string"},
        {mk(f, "[\"ES256\"]", pl, sig), "jws header: json: not an object"},
        {mk(f, es, "[1]", sig), "jws payload: json: not an object"},
        {mk(f, es, "Payload", sig),
         "jws payload: json: '[' or '{' expected near 'Payload'"},
        {mk(f, es, pl, ""), "jws: empty signature"},
        {mk(f, "{\"alg\":\"ES256\",\"a\":{\"b\":{}}}", pl, sig),
         "jws header: json: nesting deeper than 2"},
    };
    size_t i;
    oauth2_jws_t *j;

    memset(big, 'A', OAUTH2_JWS_MAX_TOKEN + 1);
    big[OAUTH2_JWS_MAX_TOKEN + 1] = '\0';
    badc[strchr(badc, '.') - badc + 6] = '*';
    for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        f->ctx.err.text[0] = '\0';
        j = (oauth2_jws_t *)1;
        if (oauth2_jws_parse(&f->ctx, v[i].t, strlen(v[i].t), &j) !=
            OAUTH2_DENIED)
            fail_msg("case %zu accepted", i);
        assert_null(j);
        if (strcmp(f->ctx.err.text, v[i].err) != 0)
            fail_msg("case %zu: \"%s\" != \"%s\"", i, f->ctx.err.text,
                     v[i].err);
    }
    (void)keys;
}

static void typ_and_kid_exposed(void **state)
{
    th_fixture_t *f = *state;
    oauth2_jws_t *j = NULL;
    const char *t =
        mk(f, "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}", "{}",
           "AAAA");

    assert_int_equal(oauth2_jws_parse(&f->ctx, t, strlen(t), &j), OAUTH2_OK);
    assert_string_equal(j->kid, "k1");
    assert_string_equal(j->typ, "at+jwt");
    assert_int_equal(j->alg_bit, OAUTH2_ALG_ES256);
    assert_int_equal(j->sig_len, 3);
}

/*
 * The parser keeps the last accepted header per thread (tokens of one key
 * share it): a repeat must give the same answer as a fresh parse, with its
 * own copies, and never stand in for other limits or a refused header.
 */
static void header_memo_keeps_answers(void **state)
{
    th_fixture_t *f = *state;
    const char *h1 = "{\"alg\":\"ES256\",\"kid\":\"k1\",\"typ\":\"at+jwt\"}";
    const char *jku = "{\"alg\":\"ES256\",\"jku\":\"https://x\"}";
    char *long_kid =
        apr_psprintf(f->pool, "{\"alg\":\"RS256\",\"kid\":\"%0150d\"}", 7);
    oauth2_jws_limits_t strict = oauth2_jws_default_limits;
    oauth2_jws_t *a = NULL, *b = NULL, *c = NULL;
    const char *t;
    int i;

    t = mk(f, h1, "{\"n\":1}", "AAAA");
    assert_int_equal(oauth2_jws_parse(&f->ctx, t, strlen(t), &a), OAUTH2_OK);
    t = mk(f, h1, "{\"n\":2}", "AAAA");
    assert_int_equal(oauth2_jws_parse(&f->ctx, t, strlen(t), &b), OAUTH2_OK);
    assert_string_equal(b->kid, "k1");
    assert_string_equal(b->typ, "at+jwt");
    assert_string_equal(b->alg, "ES256");
    assert_int_equal(b->alg_bit, OAUTH2_ALG_ES256);
    assert_int_equal(json_integer_value(json_object_get(b->payload, "n")), 2);
    /* another header: nothing carried over; b keeps its own strings */
    t = mk(f, "{\"alg\":\"RS256\"}", "{}", "AAAA");
    assert_int_equal(oauth2_jws_parse(&f->ctx, t, strlen(t), &c), OAUTH2_OK);
    assert_null(c->kid);
    assert_null(c->typ);
    assert_int_equal(c->alg_bit, OAUTH2_ALG_RS256);
    assert_string_equal(b->kid, "k1");
    /* stricter limits are applied, not the memo of the default ones */
    t = mk(f, h1, "{}", "AAAA");
    assert_int_equal(oauth2_jws_parse(&f->ctx, t, strlen(t), &a), OAUTH2_OK);
    strict.header.max_members = 1;
    assert_int_equal(oauth2_jws_parse_ex(&f->ctx, t, strlen(t), &strict, &a),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "jws header: json: more than 1 members");
    /* a refused header stays refused; a kid too long to keep (its header
     * would fit) still parses, whole */
    for (i = 0; i < 2; i++) {
        t = mk(f, jku, "{}", "AAAA");
        assert_int_equal(oauth2_jws_parse(&f->ctx, t, strlen(t), &a),
                         OAUTH2_DENIED);
        assert_string_equal(f->ctx.err.text, "jws: header \"jku\" refused");
        t = mk(f, long_kid, "{}", "AAAA");
        assert_int_equal(oauth2_jws_parse(&f->ctx, t, strlen(t), &a),
                         OAUTH2_OK);
        assert_int_equal(strlen(a->kid), 150);
    }
}

static void alg_lists(void **state)
{
    th_fixture_t *f = *state;
    unsigned a = 0;

    assert_int_equal(oauth2_jose_algs_parse(&f->ctx, "RS256, ES256 EdDSA", &a),
                     OAUTH2_OK);
    assert_int_equal(a, OAUTH2_ALG_RS256 | OAUTH2_ALG_ES256 | OAUTH2_ALG_EDDSA);
    assert_int_equal(oauth2_jose_algs_parse(&f->ctx, "RS256,HS256", &a),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "alg list: \"HS256\" is not a "
                                         "supported signature algorithm");
    assert_int_equal(a, 0);
    assert_int_equal(oauth2_jose_algs_parse(&f->ctx, "none", &a),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "alg list: \"none\" is not a "
                                         "supported signature algorithm");
    assert_int_equal(oauth2_jose_algs_parse(&f->ctx, " , ", &a), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "alg list: empty");
    assert_int_equal(oauth2_jose_algs_parse(&f->ctx, NULL, &a), OAUTH2_DENIED);
    assert_string_equal(oauth2_jose_alg_name(OAUTH2_ALG_PS384), "PS384");
    assert_null(oauth2_jose_alg_name(1u << 20));
    assert_int_equal(oauth2_jose_alg_bit("HS256"), 0);
    assert_int_equal(oauth2_jose_alg_bit("none"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rfc_vectors_verify, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(rfc8037_eddsa, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(generated_algs_verify, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(prepared_contexts_reused, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(key_selection_refusals, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(bad_signatures, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(malformed_tokens, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(header_memo_keeps_answers, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(typ_and_kid_exposed, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(alg_lists, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
