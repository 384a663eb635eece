/*
 * jwks.c - JWK / JWK Set / PEM public keys to EVP_PKEY with the OpenSSL 3
 * provider API (OSSL_PARAM_BLD + EVP_PKEY_fromdata), and key lookup. Owns
 * the key rules (public only, RSA >= 2048 bits, EC points on their curve,
 * size caps). Never fetches anything and never verifies a signature: the
 * cache and jose.c do that.
 */
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "oauth2/jose.h"
#include "oauth2/jwks.h"
#include "oauth2/log.h"
#include "oauth2/util.h"

#define RSA_MIN_BITS 2048
#define RSA_MAX_BITS 16384
#define PEM_MAX_BYTES (64 * 1024)

/* Members that only a private or symmetric key carries. */
static const char *const private_members[] = {"d",  "p",  "q",   "dp",
                                              "dq", "qi", "oth", "k"};

static const struct {
    const char *crv;   /* JOSE name */
    const char *group; /* OpenSSL group name */
    int bytes;         /* coordinate length */
} ec_curves[] = {{"P-256", "prime256v1", 32},
                 {"P-384", "secp384r1", 48},
                 {"P-521", "secp521r1", 66}};

const char *oauth2_kty_name(oauth2_kty_t kty)
{
    switch (kty) {
    case OAUTH2_KTY_RSA:
        return "RSA";
    case OAUTH2_KTY_EC:
        return "EC";
    case OAUTH2_KTY_OKP:
        return "OKP";
    default:
        return "none";
    }
}

static apr_status_t pkey_cleanup(void *data)
{
    EVP_PKEY_free(data);
    return APR_SUCCESS;
}

/* Hand `pkey` to `owner`: freed when that pool goes. */
static void own_pkey(apr_pool_t *owner, oauth2_jwk_t *k, EVP_PKEY *pkey)
{
    k->pkey = pkey;
    apr_pool_cleanup_register(owner, pkey, pkey_cleanup, apr_pool_cleanup_null);
    oauth2_jws_prepare_key(owner, k);
}

/* Decode base64url member `name` (required) into ctx->pool. */
static oauth2_status_t member_bytes(oauth2_ctx_t *ctx, const json_t *jwk,
                                    const char *name, unsigned char **out,
                                    size_t *len)
{
    const char *s = oauth2_json_str(jwk, name);

    if (s == NULL) {
        oauth2_err_set(ctx, "jwk: member \"%s\" missing or not a string", name);
        return OAUTH2_DENIED;
    }
    if (oauth2_b64url_decode(ctx, s, strlen(s), out, len) != OAUTH2_OK) {
        char why[OAUTH2_ERR_MAX];
        memcpy(why, ctx->err.text, sizeof(why));
        oauth2_err_set(ctx, "jwk: member \"%s\": %s", name, why);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/* Build a public EVP_PKEY of `type` from `params`; NULL on failure. */
static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;

    params = OSSL_PARAM_BLD_to_param(bld);
    pctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1)
        goto end;
    if (EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
end:
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    return pkey;
}

static oauth2_status_t rsa_key(oauth2_ctx_t *ctx, apr_pool_t *owner,
                               const json_t *jwk, oauth2_jwk_t *k)
{
    unsigned char *nb, *eb;
    size_t nlen, elen;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    oauth2_status_t st = OAUTH2_DENIED;

    if (member_bytes(ctx, jwk, "n", &nb, &nlen) != OAUTH2_OK ||
        member_bytes(ctx, jwk, "e", &eb, &elen) != OAUTH2_OK)
        return OAUTH2_DENIED;
    n = BN_bin2bn(nb, (int)nlen, NULL); /* nlen <= the document cap */
    e = BN_bin2bn(eb, (int)(elen > 8 ? 0 : elen), NULL);
    if (n == NULL || e == NULL) {
        oauth2_err_set(ctx, "jwk: out of memory");
        st = OAUTH2_ERROR;
        goto end;
    }
    k->bits = BN_num_bits(n);
    if (k->bits < RSA_MIN_BITS || k->bits > RSA_MAX_BITS) {
        oauth2_err_set(ctx, "jwk: RSA modulus of %d bits (need %d to %d)",
                       k->bits, RSA_MIN_BITS, RSA_MAX_BITS);
        goto end;
    }
    if (!BN_is_odd(e) || BN_is_one(e)) {
        oauth2_err_set(ctx, "jwk: bad RSA exponent");
        goto end;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        (pkey = pkey_fromdata("RSA", bld)) == NULL) {
        oauth2_err_set(ctx, "jwk: OpenSSL refused the RSA key");
        goto end;
    }
    own_pkey(owner, k, pkey);
    st = OAUTH2_OK;
end:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return st;
}

/* EVP_PKEY_fromdata checks the encoding; public_check proves the point. */
static int ec_point_ok(EVP_PKEY *pkey)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok = c != NULL && EVP_PKEY_public_check(c) == 1;

    EVP_PKEY_CTX_free(c);
    return ok;
}

static oauth2_status_t ec_key(oauth2_ctx_t *ctx, apr_pool_t *owner,
                              const json_t *jwk, oauth2_jwk_t *k)
{
    const char *crv = oauth2_json_str(jwk, "crv");
    unsigned char *x, *y, pub[1 + 2 * 66];
    size_t xlen, ylen, i, n = sizeof(ec_curves) / sizeof(ec_curves[0]);
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    oauth2_status_t st = OAUTH2_DENIED;

    for (i = 0; crv != NULL && i < n; i++)
        if (strcmp(crv, ec_curves[i].crv) == 0)
            break;
    if (crv == NULL || i == n) {
        oauth2_err_set(ctx, "jwk: unsupported EC curve");
        return OAUTH2_NOT_FOUND;
    }
    if (member_bytes(ctx, jwk, "x", &x, &xlen) != OAUTH2_OK ||
        member_bytes(ctx, jwk, "y", &y, &ylen) != OAUTH2_OK)
        return OAUTH2_DENIED;
    if (xlen != (size_t)ec_curves[i].bytes ||
        ylen != (size_t)ec_curves[i].bytes) {
        oauth2_err_set(ctx, "jwk: %s coordinates must be %d bytes", crv,
                       ec_curves[i].bytes);
        return OAUTH2_DENIED;
    }
    pub[0] = 0x04; /* uncompressed point */
    memcpy(pub + 1, x, xlen);
    memcpy(pub + 1 + xlen, y, ylen);
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                         ec_curves[i].group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
                                          1 + xlen + ylen) ||
        (pkey = pkey_fromdata("EC", bld)) == NULL || !ec_point_ok(pkey)) {
        oauth2_err_set(ctx, "jwk: %s point is not on the curve", crv);
        EVP_PKEY_free(pkey);
        goto end;
    }
    k->crv = ec_curves[i].crv;
    k->bits = ec_curves[i].bytes == 66 ? 521 : ec_curves[i].bytes * 8;
    own_pkey(owner, k, pkey);
    st = OAUTH2_OK;
end:
    OSSL_PARAM_BLD_free(bld);
    return st;
}

static oauth2_status_t okp_key(oauth2_ctx_t *ctx, apr_pool_t *owner,
                               const json_t *jwk, oauth2_jwk_t *k)
{
    const char *crv = oauth2_json_str(jwk, "crv");
    unsigned char *x;
    size_t xlen;
    EVP_PKEY *pkey;

    if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
        oauth2_err_set(ctx, "jwk: unsupported OKP curve");
        return OAUTH2_NOT_FOUND;
    }
    if (member_bytes(ctx, jwk, "x", &x, &xlen) != OAUTH2_OK)
        return OAUTH2_DENIED;
    if (xlen != 32) {
        oauth2_err_set(ctx, "jwk: Ed25519 x must be 32 bytes");
        return OAUTH2_DENIED;
    }
    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
    if (pkey == NULL) {
        oauth2_err_set(ctx, "jwk: OpenSSL refused the Ed25519 key");
        return OAUTH2_DENIED;
    }
    k->crv = "Ed25519";
    k->bits = 256;
    own_pkey(owner, k, pkey);
    return OAUTH2_OK;
}

/* Optional string member copied to `owner`; -1 if present but not a string. */
static int opt_str(apr_pool_t *owner, const json_t *jwk, const char *name,
                   const char **out)
{
    const json_t *v = json_object_get(jwk, name);

    *out = NULL;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = apr_pstrdup(owner, json_string_value(v));
    return 0;
}

oauth2_status_t oauth2_jwk_parse(oauth2_ctx_t *ctx, apr_pool_t *owner,
                                 const json_t *jwk, oauth2_jwk_t *out)
{
    const char *kty;
    size_t i;

    memset(out, 0, sizeof(*out));
    if (!json_is_object(jwk)) {
        oauth2_err_set(ctx, "jwk: not an object");
        return OAUTH2_DENIED;
    }
    for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++)
        if (json_object_get(jwk, private_members[i]) != NULL) {
            oauth2_err_set(ctx, "jwk: private member \"%s\" present",
                           private_members[i]);
            return OAUTH2_DENIED;
        }
    if (opt_str(owner, jwk, "kid", &out->kid) != 0 ||
        opt_str(owner, jwk, "alg", &out->alg) != 0 ||
        opt_str(owner, jwk, "use", &out->use) != 0) {
        oauth2_err_set(ctx, "jwk: kid, alg or use is not a string");
        return OAUTH2_DENIED;
    }
    if (out->use != NULL && strcmp(out->use, "sig") != 0) {
        oauth2_err_set(ctx, "jwk: use is not \"sig\"");
        return OAUTH2_NOT_FOUND;
    }
    kty = oauth2_json_str(jwk, "kty");
    if (kty == NULL) {
        oauth2_err_set(ctx, "jwk: kty missing");
        return OAUTH2_DENIED;
    }
    if (strcmp(kty, "RSA") == 0) {
        out->kty = OAUTH2_KTY_RSA;
        return rsa_key(ctx, owner, jwk, out);
    }
    if (strcmp(kty, "EC") == 0) {
        out->kty = OAUTH2_KTY_EC;
        return ec_key(ctx, owner, jwk, out);
    }
    if (strcmp(kty, "OKP") == 0) {
        out->kty = OAUTH2_KTY_OKP;
        return okp_key(ctx, owner, jwk, out);
    }
    oauth2_err_set(ctx, "jwk: unsupported kty");
    return OAUTH2_NOT_FOUND;
}

/* Parse every key of `arr` into `set` (allocated in `p`). */
static oauth2_status_t parse_keys(oauth2_ctx_t *ctx, apr_pool_t *p,
                                  const json_t *arr, oauth2_jwks_t *set)
{
    char why[OAUTH2_ERR_MAX];
    size_t i;
    json_t *v;
    oauth2_status_t st;

    set->keys =
        apr_pcalloc(p, sizeof(oauth2_jwk_t) * (json_array_size(arr) + 1));
    json_array_foreach(arr, i, v)
    {
        st = oauth2_jwk_parse(ctx, p, v, &set->keys[set->nkeys]);
        if (st == OAUTH2_OK) {
            set->nkeys++;
            continue;
        }
        memcpy(why, ctx->err.text, sizeof(why));
        if (st == OAUTH2_NOT_FOUND) {
            const char *kid = oauth2_json_str(v, "kid");
            oauth2_log_debug(
                ctx,
                OAUTH2_LOGNO(00100) "jwks: skipping key %d "
                                    "(kid %s): %s",
                (int)i, /* apr's formatter has no %zu */
                oauth2_log_escape(ctx->pool, kid, kid ? strlen(kid) : 0), why);
            continue;
        }
        oauth2_err_set(ctx, "jwks: key %zu: %s", i, why);
        return st;
    }
    if (set->nkeys == 0) {
        oauth2_err_set(ctx, "jwks: no usable key");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

oauth2_status_t oauth2_jwks_parse(oauth2_ctx_t *ctx, apr_pool_t *owner,
                                  const char *json, size_t len,
                                  oauth2_jwks_t **out)
{
    static const oauth2_json_limits_t lim = {OAUTH2_JWKS_MAX_BYTES, 5,
                                             OAUTH2_JWKS_MAX_KEYS * 32};
    char why[OAUTH2_ERR_MAX];
    json_t *doc = NULL;
    const json_t *arr;
    apr_pool_t *p = NULL;
    oauth2_jwks_t *set;
    oauth2_status_t st;

    *out = NULL;
    st = oauth2_json_parse_object(ctx, json, len, &lim, &doc);
    if (st != OAUTH2_OK) {
        memcpy(why, ctx->err.text, sizeof(why));
        oauth2_err_set(ctx, "jwks: %s", why);
        return st;
    }
    arr = json_object_get(doc, "keys");
    if (!json_is_array(arr)) {
        oauth2_err_set(ctx, "jwks: \"keys\" array missing");
        st = OAUTH2_DENIED;
        goto end;
    }
    if (json_array_size(arr) > OAUTH2_JWKS_MAX_KEYS) {
        oauth2_err_set(ctx, "jwks: %zu keys exceed the cap of %d",
                       json_array_size(arr), OAUTH2_JWKS_MAX_KEYS);
        st = OAUTH2_DENIED;
        goto end;
    }
    /* A subpool, so a refused set frees its keys at once. */
    if (apr_pool_create(&p, owner) != APR_SUCCESS) {
        oauth2_err_set(ctx, "jwks: out of memory");
        st = OAUTH2_ERROR;
        goto end;
    }
    set = apr_pcalloc(p, sizeof(*set));
    st = parse_keys(ctx, p, arr, set);
    if (st != OAUTH2_OK) {
        apr_pool_destroy(p);
        goto end;
    }
    *out = set;
end:
    json_decref(doc);
    return st;
}

/* Classify a PEM-loaded key with the same rules as a JWK. */
static oauth2_status_t pem_classify(oauth2_ctx_t *ctx, EVP_PKEY *pkey,
                                    oauth2_jwk_t *k)
{
    char group[64];
    size_t i, glen = 0;

    k->bits = EVP_PKEY_get_bits(pkey);
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        k->kty = OAUTH2_KTY_RSA;
        if (k->bits < RSA_MIN_BITS || k->bits > RSA_MAX_BITS) {
            oauth2_err_set(ctx, "pem: RSA modulus of %d bits (need %d to %d)",
                           k->bits, RSA_MIN_BITS, RSA_MAX_BITS);
            return OAUTH2_DENIED;
        }
        return OAUTH2_OK;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        k->kty = OAUTH2_KTY_OKP;
        k->crv = "Ed25519";
        return OAUTH2_OK;
    }
    if (EVP_PKEY_is_a(pkey, "EC") &&
        EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                       sizeof(group), &glen) == 1) {
        for (i = 0; i < sizeof(ec_curves) / sizeof(ec_curves[0]); i++)
            if (strcmp(group, ec_curves[i].group) == 0 && ec_point_ok(pkey)) {
                k->kty = OAUTH2_KTY_EC;
                k->crv = ec_curves[i].crv;
                return OAUTH2_OK;
            }
    }
    oauth2_err_set(ctx, "pem: unsupported key type");
    return OAUTH2_DENIED;
}

oauth2_status_t oauth2_jwks_from_pem(oauth2_ctx_t *ctx, apr_pool_t *owner,
                                     const char *pem, size_t len,
                                     oauth2_jwks_t **out)
{
    BIO *bio = NULL;
    EVP_PKEY *pkey = NULL;
    oauth2_jwks_t *set;
    oauth2_jwk_t k;
    oauth2_status_t st = OAUTH2_DENIED;

    *out = NULL;
    memset(&k, 0, sizeof(k));
    if (pem == NULL || len > PEM_MAX_BYTES) {
        oauth2_err_set(ctx, "pem: missing or larger than %d bytes",
                       PEM_MAX_BYTES);
        return OAUTH2_DENIED;
    }
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL ||
        (pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
        oauth2_err_set(ctx, "pem: no PUBLIC KEY block");
        goto end;
    }
    if ((st = pem_classify(ctx, pkey, &k)) != OAUTH2_OK)
        goto end;
    set = apr_pcalloc(owner, sizeof(*set));
    set->keys = apr_pmemdup(owner, &k, sizeof(k));
    set->nkeys = 1;
    set->any_kid = 1;
    own_pkey(owner, &set->keys[0], pkey);
    pkey = NULL;
    *out = set;
end:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return st;
}

oauth2_status_t oauth2_jwks_from_pem_file(oauth2_ctx_t *ctx, apr_pool_t *owner,
                                          const char *path, oauth2_jwks_t **out)
{
    apr_file_t *fd = NULL;
    apr_finfo_t fi;
    apr_size_t n = 0;
    char *buf;

    *out = NULL;
    if (apr_file_open(&fd, path, APR_FOPEN_READ, APR_OS_DEFAULT, ctx->pool) !=
            APR_SUCCESS ||
        apr_file_info_get(&fi, APR_FINFO_SIZE, fd) != APR_SUCCESS) {
        oauth2_err_set(ctx, "pem: cannot open %s", path);
        if (fd != NULL)
            apr_file_close(fd);
        return OAUTH2_ERROR;
    }
    if (fi.size > PEM_MAX_BYTES || fi.size <= 0) {
        apr_file_close(fd);
        oauth2_err_set(ctx, "pem: %s is empty or larger than %d bytes", path,
                       PEM_MAX_BYTES);
        return OAUTH2_DENIED;
    }
    buf = apr_palloc(ctx->pool, (apr_size_t)fi.size);
    if (apr_file_read_full(fd, buf, (apr_size_t)fi.size, &n) != APR_SUCCESS) {
        apr_file_close(fd);
        oauth2_err_set(ctx, "pem: cannot read %s", path);
        return OAUTH2_ERROR;
    }
    apr_file_close(fd);
    return oauth2_jwks_from_pem(ctx, owner, buf, n, out);
}

const oauth2_jwk_t *oauth2_jwks_next(const oauth2_jwks_t *jwks, const char *kid,
                                     oauth2_kty_t kty, const char *crv,
                                     int *pos)
{
    const oauth2_jwk_t *k;

    for (; jwks != NULL && *pos < jwks->nkeys; (*pos)++) {
        k = &jwks->keys[*pos];
        if (kid != NULL && !jwks->any_kid &&
            (k->kid == NULL || strcmp(k->kid, kid) != 0))
            continue;
        if (kty != OAUTH2_KTY_NONE && k->kty != kty)
            continue;
        if (crv != NULL && (k->crv == NULL || strcmp(k->crv, crv) != 0))
            continue;
        (*pos)++;
        return k;
    }
    return NULL;
}
