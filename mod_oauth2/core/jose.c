/*
 * jose.c - compact JWS: the algorithm table and allow-lists, the strict
 * parser (caps, refused headers) and signature verification with OpenSSL 3
 * EVP_DigestVerify. Owns the alg <-> key-type rules and the raw r||s to DER
 * conversion for ECDSA. Never checks claims (claims.c) and never fetches or
 * caches keys (jwks.c and the cache).
 */
#include <string.h>

#include <apr_strings.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rsa.h>

#include "oauth2/jose.h"
#include "oauth2/log.h"

/* Upper bound on keys tried for a token without a kid. */
#define MAX_KEY_TRIES 8

typedef struct alg_t {
    const char *name;
    unsigned bit;
    oauth2_kty_t kty;
    const char *crv; /* required curve, or NULL */
    const char *md;  /* digest name; NULL for EdDSA (pure) */
    int pss;
    int ec_bytes; /* raw r and s length for ES* */
} alg_t;

static const alg_t algs[] = {
    {"RS256", OAUTH2_ALG_RS256, OAUTH2_KTY_RSA, NULL, "SHA256", 0, 0},
    {"RS384", OAUTH2_ALG_RS384, OAUTH2_KTY_RSA, NULL, "SHA384", 0, 0},
    {"RS512", OAUTH2_ALG_RS512, OAUTH2_KTY_RSA, NULL, "SHA512", 0, 0},
    {"PS256", OAUTH2_ALG_PS256, OAUTH2_KTY_RSA, NULL, "SHA256", 1, 0},
    {"PS384", OAUTH2_ALG_PS384, OAUTH2_KTY_RSA, NULL, "SHA384", 1, 0},
    {"PS512", OAUTH2_ALG_PS512, OAUTH2_KTY_RSA, NULL, "SHA512", 1, 0},
    {"ES256", OAUTH2_ALG_ES256, OAUTH2_KTY_EC, "P-256", "SHA256", 0, 32},
    {"ES384", OAUTH2_ALG_ES384, OAUTH2_KTY_EC, "P-384", "SHA384", 0, 48},
    {"ES512", OAUTH2_ALG_ES512, OAUTH2_KTY_EC, "P-521", "SHA512", 0, 66},
    {"EdDSA", OAUTH2_ALG_EDDSA, OAUTH2_KTY_OKP, "Ed25519", NULL, 0, 0},
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

/* Header members that would let the token choose its own key, or extend
 * the format in ways we do not implement. */
static const char *const refused_headers[] = {"jwk", "jku", "x5u", "x5c",
                                              "crit"};

const oauth2_jws_limits_t oauth2_jws_default_limits = {
    OAUTH2_JWS_MAX_TOKEN, {4096, 2, 32}, {64 * 1024, 8, 512}};

static const alg_t *alg_by_name(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < NALGS; i++)
        if (strcmp(algs[i].name, name) == 0)
            return &algs[i];
    return NULL;
}

static const alg_t *alg_by_bit(unsigned bit)
{
    size_t i;

    for (i = 0; i < NALGS; i++)
        if (algs[i].bit == bit)
            return &algs[i];
    return NULL;
}

unsigned oauth2_jose_alg_bit(const char *name)
{
    const alg_t *a = alg_by_name(name);

    return a ? a->bit : 0;
}

const char *oauth2_jose_alg_name(unsigned bit)
{
    const alg_t *a = alg_by_bit(bit);

    return a ? a->name : NULL;
}

oauth2_status_t oauth2_jose_algs_parse(oauth2_ctx_t *ctx, const char *list,
                                       unsigned *out)
{
    char *copy, *tok, *last = NULL;
    unsigned set = 0, bit;

    *out = 0;
    copy = apr_pstrdup(ctx->pool, list ? list : "");
    for (tok = apr_strtok(copy, ", \t", &last); tok != NULL;
         tok = apr_strtok(NULL, ", \t", &last)) {
        bit = oauth2_jose_alg_bit(tok);
        if (bit == 0) {
            oauth2_err_set(ctx,
                           "alg list: \"%s\" is not a supported "
                           "signature algorithm",
                           oauth2_log_escape(ctx->pool, tok, strlen(tok)));
            return OAUTH2_DENIED;
        }
        set |= bit;
    }
    if (set == 0) {
        oauth2_err_set(ctx, "alg list: empty");
        return OAUTH2_DENIED;
    }
    *out = set;
    return OAUTH2_OK;
}

/* Prefix the current ctx->err with `what` (copy first: no aliasing). */
static void err_prefix(oauth2_ctx_t *ctx, const char *what)
{
    char why[OAUTH2_ERR_MAX];

    memcpy(why, ctx->err.text, sizeof(why));
    oauth2_err_set(ctx, "%s: %s", what, why);
}

/* Decode one base64url part and parse it as a bounded JSON object. */
static oauth2_status_t json_part(oauth2_ctx_t *ctx, const char *what,
                                 const char *s, size_t n,
                                 const oauth2_json_limits_t *lim, json_t **out)
{
    unsigned char *raw;
    size_t rawlen;

    if (oauth2_b64url_decode(ctx, s, n, &raw, &rawlen) != OAUTH2_OK ||
        oauth2_json_parse_object(ctx, (const char *)raw, rawlen, lim, out) !=
            OAUTH2_OK) {
        err_prefix(ctx, what);
        return OAUTH2_DENIED;
    }
    oauth2_json_pool_own(ctx->pool, *out);
    return OAUTH2_OK;
}

/* The header rules: a supported alg, no key-carrying or extension members. */
static oauth2_status_t check_header(oauth2_ctx_t *ctx, oauth2_jws_t *j,
                                    const json_t *h)
{
    const json_t *b64;
    const char *alg;
    size_t i;

    for (i = 0; i < sizeof(refused_headers) / sizeof(refused_headers[0]); i++)
        if (json_object_get(h, refused_headers[i]) != NULL) {
            oauth2_err_set(ctx, "jws: header \"%s\" refused",
                           refused_headers[i]);
            return OAUTH2_DENIED;
        }
    b64 = json_object_get(h, "b64");
    if (b64 != NULL && !json_is_true(b64)) {
        oauth2_err_set(ctx, "jws: header \"b64\" other than true refused");
        return OAUTH2_DENIED;
    }
    alg = oauth2_json_str(h, "alg");
    if (alg == NULL) {
        oauth2_err_set(ctx, "jws: header \"alg\" missing or not a string");
        return OAUTH2_DENIED;
    }
    j->alg_bit = oauth2_jose_alg_bit(alg);
    if (j->alg_bit == 0) {
        oauth2_err_set(ctx, "jws: alg \"%s\" refused",
                       oauth2_log_escape(ctx->pool, alg, strlen(alg)));
        return OAUTH2_DENIED;
    }
    j->alg = alg_by_bit(j->alg_bit)->name;
    j->kid = oauth2_json_str(h, "kid");
    j->typ = oauth2_json_str(h, "typ");
    if ((j->kid == NULL && json_object_get(h, "kid") != NULL) ||
        (j->typ == NULL && json_object_get(h, "typ") != NULL)) {
        oauth2_err_set(ctx, "jws: header \"kid\" or \"typ\" not a string");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/*
 * The last header this thread accepted under the default limits, as its
 * base64url text and what check_header took from it. The tokens one key
 * signs share their header byte for byte, so a new token's full
 * verification skips decoding and parsing it (a dozen allocations). The
 * same bytes give the same answer: only accepted headers are kept.
 */
#define MEMO_B64 256
#define MEMO_STR 128

typedef struct hdr_memo_t {
    size_t len; /* of b64; 0 = empty */
    char b64[MEMO_B64];
    unsigned alg_bit;
    char kid[MEMO_STR], typ[MEMO_STR]; /* "" with has_* 0 when absent */
    int has_kid, has_typ;
} hdr_memo_t;

static _Thread_local hdr_memo_t hdr_memo;

/* Copy an optional header string into the memo; 0 if it does not fit. */
static int memo_str(char *dst, int *has, const char *src)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= MEMO_STR)
        return 0;
    memcpy(dst, src ? src : "", n + 1);
    *has = src != NULL;
    return 1;
}

static void memo_keep(const char *s, size_t n, const oauth2_jws_t *j)
{
    hdr_memo_t *m = &hdr_memo;

    m->len = 0;
    if (n > sizeof(m->b64) || !memo_str(m->kid, &m->has_kid, j->kid) ||
        !memo_str(m->typ, &m->has_typ, j->typ))
        return;
    memcpy(m->b64, s, n);
    m->alg_bit = j->alg_bit;
    m->len = n;
}

static int memo_hit(apr_pool_t *p, const char *s, size_t n, oauth2_jws_t *j)
{
    const hdr_memo_t *m = &hdr_memo;

    if (m->len == 0 || m->len != n || memcmp(m->b64, s, n) != 0)
        return 0;
    j->alg_bit = m->alg_bit;
    j->alg = alg_by_bit(m->alg_bit)->name;
    j->kid = m->has_kid ? apr_pstrdup(p, m->kid) : NULL;
    j->typ = m->has_typ ? apr_pstrdup(p, m->typ) : NULL;
    return 1;
}

/* Decode, parse and check the header part (or take it from the memo). */
static oauth2_status_t parse_header(oauth2_ctx_t *ctx, const char *s, size_t n,
                                    const oauth2_jws_limits_t *lim,
                                    oauth2_jws_t *j)
{
    int memo = lim == &oauth2_jws_default_limits;
    json_t *h = NULL;

    if (memo && memo_hit(ctx->pool, s, n, j))
        return OAUTH2_OK;
    if (json_part(ctx, "jws header", s, n, &lim->header, &h) != OAUTH2_OK ||
        check_header(ctx, j, h) != OAUTH2_OK)
        return OAUTH2_DENIED;
    if (memo)
        memo_keep(s, n, j);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_jws_parse_ex(oauth2_ctx_t *ctx, const char *compact,
                                    size_t len, const oauth2_jws_limits_t *lim,
                                    oauth2_jws_t **out)
{
    const char *d1, *d2, *end;
    oauth2_jws_t *j;
    size_t i, dots = 0;

    *out = NULL;
    if (lim == NULL)
        lim = &oauth2_jws_default_limits;
    if (compact == NULL || len > lim->max_token) {
        oauth2_err_set(ctx, "jws: token of %zu bytes exceeds %zu", len,
                       lim->max_token);
        return OAUTH2_DENIED;
    }
    for (i = 0; i < len; i++)
        dots += compact[i] == '.';
    if (dots != 2) {
        oauth2_err_set(ctx, "jws: %zu parts, need 3", dots + 1);
        return OAUTH2_DENIED;
    }
    end = compact + len;
    d1 = memchr(compact, '.', len);
    d2 = memchr(d1 + 1, '.', (size_t)(end - d1 - 1));
    j = apr_pcalloc(ctx->pool, sizeof(*j));
    if (parse_header(ctx, compact, (size_t)(d1 - compact), lim, j) !=
            OAUTH2_OK ||
        json_part(ctx, "jws payload", d1 + 1, (size_t)(d2 - d1 - 1),
                  &lim->payload, &j->payload) != OAUTH2_OK)
        return OAUTH2_DENIED;
    if (oauth2_b64url_decode(ctx, d2 + 1, (size_t)(end - d2 - 1), &j->sig,
                             &j->sig_len) != OAUTH2_OK) {
        err_prefix(ctx, "jws signature");
        return OAUTH2_DENIED;
    }
    if (j->sig_len == 0) {
        oauth2_err_set(ctx, "jws: empty signature");
        return OAUTH2_DENIED;
    }
    j->signing_input_len = (size_t)(d2 - compact);
    j->signing_input = apr_pstrmemdup(ctx->pool, compact, j->signing_input_len);
    *out = j;
    return OAUTH2_OK;
}

oauth2_status_t oauth2_jws_parse(oauth2_ctx_t *ctx, const char *compact,
                                 size_t len, oauth2_jws_t **out)
{
    return oauth2_jws_parse_ex(ctx, compact, len, NULL, out);
}

/*
 * JWS carries ECDSA as fixed-length big-endian r || s; OpenSSL wants DER.
 * On OK, *der is OPENSSL_malloc'ed and the caller frees it.
 */
static oauth2_status_t ec_raw_to_der(oauth2_ctx_t *ctx, const alg_t *a,
                                     const unsigned char *sig, size_t len,
                                     unsigned char **der, size_t *derlen)
{
    BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG *es = NULL;
    int n;
    oauth2_status_t st = OAUTH2_DENIED;

    if (len != (size_t)(2 * a->ec_bytes)) {
        oauth2_err_set(ctx, "jws: %s signature of %zu bytes, need %d", a->name,
                       len, 2 * a->ec_bytes);
        return OAUTH2_DENIED;
    }
    r = BN_bin2bn(sig, a->ec_bytes, NULL);
    s = BN_bin2bn(sig + a->ec_bytes, a->ec_bytes, NULL);
    if (r == NULL || s == NULL || (es = ECDSA_SIG_new()) == NULL) {
        oauth2_err_set(ctx, "jws: out of memory");
        st = OAUTH2_ERROR;
        goto end;
    }
    if (BN_is_zero(r) || BN_is_zero(s)) {
        oauth2_err_set(ctx, "jws: ECDSA r or s is zero");
        goto end;
    }
    ECDSA_SIG_set0(es, r, s); /* es owns r and s now */
    r = s = NULL;
    *der = NULL;
    n = i2d_ECDSA_SIG(es, der);
    if (n <= 0) {
        oauth2_err_set(ctx, "jws: cannot encode ECDSA signature");
        st = OAUTH2_ERROR;
        goto end;
    }
    *derlen = (size_t)n;
    st = OAUTH2_OK;
end:
    ECDSA_SIG_free(es);
    BN_free(r);
    BN_free(s);
    return st;
}

/* PKCS#1 v1.5 or PSS (salt = digest length, MGF1 with the same digest). */
static int rsa_setup(const alg_t *a, EVP_PKEY_CTX *pctx, const EVP_MD *md)
{
    if (!a->pss)
        return 1;
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0;
}

/* A fresh verification context for (a, pkey); NULL on failure. */
static EVP_MD_CTX *verify_ctx(const alg_t *a, EVP_PKEY *pkey)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD *md = NULL;

    if (a->md != NULL)
        md = EVP_MD_fetch(NULL, a->md, NULL);
    if (mctx == NULL || (a->md != NULL && md == NULL) ||
        EVP_DigestVerifyInit(mctx, &pctx, md, NULL, pkey) != 1 ||
        (a->kty == OAUTH2_KTY_RSA && !rsa_setup(a, pctx, md))) {
        EVP_MD_CTX_free(mctx);
        mctx = NULL;
    }
    EVP_MD_free(md);
    return mctx;
}

static apr_status_t prepared_cleanup(void *data)
{
    EVP_MD_CTX **p = data;
    size_t i;

    for (i = 0; i < NALGS; i++)
        EVP_MD_CTX_free(p[i]);
    return APR_SUCCESS;
}

void oauth2_jws_prepare_key(apr_pool_t *owner, oauth2_jwk_t *k)
{
    EVP_MD_CTX **p;
    size_t i;
    int base = EVP_PKEY_get_base_id(k->pkey);

    if (base != EVP_PKEY_RSA && base != EVP_PKEY_EC)
        return; /* EdDSA contexts cannot be copied in OpenSSL 3.0 */
    p = apr_pcalloc(owner, sizeof(*p) * NALGS);
    for (i = 0; i < NALGS; i++) {
        if (algs[i].kty ==
            (base == EVP_PKEY_RSA ? OAUTH2_KTY_RSA : OAUTH2_KTY_EC))
            p[i] = verify_ctx(&algs[i], k->pkey);
    }
    ERR_clear_error();
    apr_pool_cleanup_register(owner, p, prepared_cleanup,
                              apr_pool_cleanup_null);
    k->prepared = p;
}

/* Verify one signature with one key whose type already fits the alg. */
static oauth2_status_t verify_sig(oauth2_ctx_t *ctx, const alg_t *a,
                                  const oauth2_jws_t *j, const oauth2_jwk_t *k)
{
    EVP_PKEY *pkey = k->pkey;
    const EVP_MD_CTX *tmpl = k->prepared ? k->prepared[a - algs] : NULL;
    EVP_MD_CTX *mctx = NULL;
    unsigned char *der = NULL;
    const unsigned char *sig = j->sig;
    size_t siglen = j->sig_len;
    oauth2_status_t st = OAUTH2_ERROR;

    if (a->kty == OAUTH2_KTY_EC) {
        if ((st = ec_raw_to_der(ctx, a, j->sig, j->sig_len, &der, &siglen)) !=
            OAUTH2_OK)
            goto end;
        sig = der;
        st = OAUTH2_ERROR;
    }
    else if (a->kty == OAUTH2_KTY_RSA &&
             siglen != (size_t)EVP_PKEY_get_size(pkey)) {
        oauth2_err_set(ctx, "jws: RSA signature of %zu bytes, key needs %d",
                       siglen, EVP_PKEY_get_size(pkey));
        st = OAUTH2_DENIED;
        goto end;
    }
    /* a copy of the prepared context (key, digest, padding already set),
     * else a fresh one: the same verification either way */
    if (tmpl != NULL && (mctx = EVP_MD_CTX_new()) != NULL &&
        EVP_MD_CTX_copy_ex(mctx, tmpl) != 1) {
        EVP_MD_CTX_free(mctx);
        mctx = NULL;
    }
    if (mctx == NULL && (mctx = verify_ctx(a, pkey)) == NULL) {
        oauth2_err_set(ctx, "jws: OpenSSL cannot set up %s", a->name);
        goto end;
    }
    if (EVP_DigestVerify(mctx, sig, siglen,
                         (const unsigned char *)j->signing_input,
                         j->signing_input_len) != 1) {
        oauth2_err_set(ctx, "jws: %s signature invalid", a->name);
        st = OAUTH2_DENIED;
        goto end;
    }
    st = OAUTH2_OK;
end:
    ERR_clear_error();
    OPENSSL_free(der);
    EVP_MD_CTX_free(mctx);
    return st;
}

/* Does key `k` fit alg `a`? DENIED with the reason when not. */
static oauth2_status_t key_fits(oauth2_ctx_t *ctx, const alg_t *a,
                                const oauth2_jwk_t *k)
{
    if (k->use != NULL && strcmp(k->use, "sig") != 0) {
        oauth2_err_set(ctx, "jws: key is not for signatures");
        return OAUTH2_DENIED;
    }
    if (k->alg != NULL && strcmp(k->alg, a->name) != 0) {
        oauth2_err_set(ctx, "jws: key is for alg %s, token says %s",
                       oauth2_log_escape(ctx->pool, k->alg, strlen(k->alg)),
                       a->name);
        return OAUTH2_DENIED;
    }
    if (k->kty != a->kty) {
        oauth2_err_set(ctx, "jws: alg %s needs an %s key, got %s", a->name,
                       oauth2_kty_name(a->kty), oauth2_kty_name(k->kty));
        return OAUTH2_DENIED;
    }
    if (a->crv != NULL && (k->crv == NULL || strcmp(k->crv, a->crv) != 0)) {
        oauth2_err_set(ctx, "jws: alg %s needs curve %s, got %s", a->name,
                       a->crv, k->crv ? k->crv : "none");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/* Keys named by the token's kid: the first that fits decides. */
static oauth2_status_t verify_by_kid(oauth2_ctx_t *ctx, const alg_t *a,
                                     const oauth2_jws_t *j,
                                     const oauth2_jwks_t *keys)
{
    const oauth2_jwk_t *k;
    int pos = 0, seen = 0;

    while ((k = oauth2_jwks_next(keys, j->kid, OAUTH2_KTY_NONE, NULL, &pos))) {
        seen++;
        if (key_fits(ctx, a, k) == OAUTH2_OK)
            return verify_sig(ctx, a, j, k);
    }
    if (seen == 0) {
        oauth2_err_set(ctx, "jws: no key with kid \"%s\"",
                       oauth2_log_escape(ctx->pool, j->kid, strlen(j->kid)));
        return OAUTH2_NOT_FOUND;
    }
    return OAUTH2_DENIED; /* ctx->err says why the last key did not fit */
}

/* No kid: try the fitting keys, a bounded number of them. */
static oauth2_status_t verify_any(oauth2_ctx_t *ctx, const alg_t *a,
                                  const oauth2_jws_t *j,
                                  const oauth2_jwks_t *keys)
{
    const oauth2_jwk_t *k;
    int pos = 0, tries = 0;
    oauth2_status_t st;

    while (tries < MAX_KEY_TRIES &&
           (k = oauth2_jwks_next(keys, NULL, a->kty, a->crv, &pos))) {
        if (key_fits(ctx, a, k) != OAUTH2_OK)
            continue;
        tries++;
        st = verify_sig(ctx, a, j, k);
        if (st != OAUTH2_DENIED)
            return st;
    }
    /* Not NOT_FOUND: without a kid, a refetch could not name a key. */
    if (tries == 0)
        oauth2_err_set(ctx, "jws: no %s key fits alg %s",
                       oauth2_kty_name(a->kty), a->name);
    return OAUTH2_DENIED; /* else ctx->err has the last key's failure */
}

oauth2_status_t oauth2_jws_verify(oauth2_ctx_t *ctx, const oauth2_jws_t *jws,
                                  const oauth2_jwks_t *keys,
                                  unsigned allowed_algs)
{
    const alg_t *a = alg_by_bit(jws->alg_bit);
    oauth2_status_t st;

    if (a == NULL || (jws->alg_bit & allowed_algs) == 0) {
        oauth2_err_set(ctx, "jws: alg %s not allowed here", a ? a->name : "?");
        return OAUTH2_DENIED;
    }
    if (keys == NULL || keys->nkeys == 0) {
        oauth2_err_set(ctx, "jws: no keys to verify with");
        return OAUTH2_NOT_FOUND;
    }
    st = jws->kid ? verify_by_kid(ctx, a, jws, keys)
                  : verify_any(ctx, a, jws, keys);
    if (st == OAUTH2_OK)
        oauth2_log_debug(
            ctx,
            OAUTH2_LOGNO(00101) "jws: %s signature valid "
                                "(kid %s)",
            a->name,
            jws->kid ? oauth2_log_escape(ctx->pool, jws->kid, strlen(jws->kid))
                     : "none");
    return st;
}
