/*
 * verify.c - bearer JWT verification for the resource-server guard: the
 * verified-token cache (hot path), the JWKS source with its per-process
 * cache and refetch policy, the JWS signature check over the allow-listed
 * asymmetric algorithms, and the claim checks. Opaque tokens are handed to
 * introspect.c. Never logs a token (only its redacted hash), never turns an
 * unreachable key source into an allow.
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "oauth2/log.h"
#include "oauth2/util.h"
#include "verify_int.h"

#define MAX_TOKEN_LEN 16384
#define KEYS_KEY "jwks"
/* A failed JWKS fetch is retried at most this often. */
#define FAIL_BACKOFF apr_time_from_sec(5)
/* Cache-Control max-age is honoured within these bounds. */
#define MIN_KEYS_TTL apr_time_from_sec(30)
#define MAX_KEYS_TTL apr_time_from_sec(86400)
/* The last good set is kept this long for use when refetches fail. */
#define STALE_KEEP apr_time_from_sec(7 * 86400)

typedef struct jws_t {
    const char *input; /* header "." payload */
    size_t input_len;
    unsigned char *sig;
    size_t sig_len;
    json_t *header; /* owned by ctx->pool */
    json_t *claims; /* owned by ctx->pool */
    const char *alg, *kid, *typ;
} jws_t;

/* ==== helpers shared with introspect.c ================================= */

void oauth2_verifier_count(oauth2_verifier_t *v, unsigned long *counter)
{
    apr_thread_mutex_lock(v->mu);
    (*counter)++;
    apr_thread_mutex_unlock(v->mu);
}

void oauth2_verifier_stats(const oauth2_verifier_t *v,
                           oauth2_verify_stats_t *out)
{
    apr_thread_mutex_lock(v->mu);
    *out = v->stats;
    apr_thread_mutex_unlock(v->mu);
}

oauth2_http_t *oauth2_verifier_http(oauth2_verifier_t *v)
{
    return v->http;
}

const char *oauth2_verify_cache_key(apr_pool_t *p, const oauth2_verifier_t *v,
                                    const char *hash_hex)
{
    return apr_pstrcat(p, v->ns, "|", v->opts.issuer, "|",
                       v->opts.audience ? v->opts.audience : "", "|", hash_hex,
                       NULL);
}

/* ==== claims ============================================================ */

/* A NumericDate claim as seconds; absent = 0 return, present = 1. */
static int num_claim(oauth2_ctx_t *ctx, const json_t *claims, const char *name,
                     double *out, int *bad)
{
    const json_t *v = json_object_get(claims, name);

    *bad = 0;
    if (v == NULL)
        return 0;
    if (!json_is_number(v)) {
        oauth2_err_set(ctx, "claim %s is not a number", name);
        *bad = 1;
        return 0;
    }
    *out = json_number_value(v);
    return 1;
}

static oauth2_status_t check_times(oauth2_ctx_t *ctx,
                                   const oauth2_verifier_t *v,
                                   const json_t *claims, int need_exp)
{
    double now = (double)apr_time_sec(ctx->now);
    double lw = (double)apr_time_sec(v->opts.leeway), t;
    int bad;

    if (!num_claim(ctx, claims, "exp", &t, &bad)) {
        if (bad || need_exp) {
            if (!bad)
                oauth2_err_set(ctx, "exp claim missing");
            return OAUTH2_DENIED;
        }
    }
    else if (now > t + lw) {
        oauth2_err_set(ctx, "token expired");
        return OAUTH2_DENIED;
    }
    if (num_claim(ctx, claims, "nbf", &t, &bad) && now + lw < t) {
        oauth2_err_set(ctx, "token not yet valid (nbf)");
        return OAUTH2_DENIED;
    }
    if (bad)
        return OAUTH2_DENIED;
    if (num_claim(ctx, claims, "iat", &t, &bad) && now + lw < t) {
        oauth2_err_set(ctx, "token issued in the future (iat)");
        return OAUTH2_DENIED;
    }
    return bad ? OAUTH2_DENIED : OAUTH2_OK;
}

static int aud_contains(const json_t *aud, const char *want)
{
    size_t i;

    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (!json_is_array(aud))
        return 0;
    for (i = 0; i < json_array_size(aud); i++) {
        const json_t *a = json_array_get(aud, i);

        if (json_is_string(a) && strcmp(json_string_value(a), want) == 0)
            return 1;
    }
    return 0;
}

oauth2_status_t oauth2_verify_claims(oauth2_ctx_t *ctx,
                                     const oauth2_verifier_t *v,
                                     const json_t *claims, int introspected)
{
    const char *iss = oauth2_json_str(claims, "iss");

    /* RFC 7662 makes iss and exp optional; a JWT must carry both. */
    if ((iss == NULL && !introspected) ||
        (iss != NULL && strcmp(iss, v->opts.issuer) != 0) ||
        (iss == NULL && json_object_get(claims, "iss") != NULL)) {
        oauth2_err_set(ctx, "issuer mismatch");
        return OAUTH2_DENIED;
    }
    if (v->opts.audience != NULL &&
        !aud_contains(json_object_get(claims, "aud"), v->opts.audience)) {
        oauth2_err_set(ctx, "audience mismatch");
        return OAUTH2_DENIED;
    }
    return check_times(ctx, v, claims, !introspected);
}

/* ==== principal ========================================================= */

static void add_scopes(apr_pool_t *p, apr_array_header_t *out,
                       const json_t *claims)
{
    const char *s = oauth2_json_str(claims, "scope");
    const json_t *scp = json_object_get(claims, "scp");
    size_t i;

    if (s != NULL) {
        char *copy = apr_pstrdup(p, s), *last = NULL, *w;

        for (w = apr_strtok(copy, " ", &last); w;
             w = apr_strtok(NULL, " ", &last))
            APR_ARRAY_PUSH(out, const char *) = w;
    }
    else if (json_is_array(scp)) {
        for (i = 0; i < json_array_size(scp); i++) {
            const json_t *e = json_array_get(scp, i);

            if (json_is_string(e))
                APR_ARRAY_PUSH(out, const char *) = json_string_value(e);
        }
    }
}

oauth2_principal_t *oauth2_principal_from_claims(apr_pool_t *p,
                                                 oauth2_principal_type_t type,
                                                 json_t *claims)
{
    oauth2_principal_t *pr = apr_pcalloc(p, sizeof(*pr));
    const json_t *exp = json_object_get(claims, "exp");

    pr->type = type;
    pr->claims = claims;
    pr->sub = oauth2_json_str(claims, "sub");
    pr->client_id = oauth2_json_str(claims, "client_id");
    if (pr->client_id == NULL)
        pr->client_id = oauth2_json_str(claims, "azp");
    pr->issuer = oauth2_json_str(claims, "iss");
    pr->scopes = apr_array_make(p, 4, sizeof(const char *));
    add_scopes(p, pr->scopes, claims);
    if (json_is_number(exp) && json_number_value(exp) > 0 &&
        json_number_value(exp) < 1e11)
        pr->expires = apr_time_from_sec((apr_time_t)json_number_value(exp));
    return pr;
}

/* ==== JWS =============================================================== */

/* Decode one base64url JSON segment into an object owned by ctx->pool. */
static oauth2_status_t segment_json(oauth2_ctx_t *ctx, const char *s,
                                    size_t len, const char *what, json_t **out)
{
    unsigned char *raw;
    size_t rawlen;

    if (oauth2_b64url_decode(ctx, s, len, &raw, &rawlen) != OAUTH2_OK ||
        oauth2_json_parse_object(ctx, (const char *)raw, rawlen, NULL, out) !=
            OAUTH2_OK) {
        oauth2_err_set(ctx, "malformed JWS %s", what);
        return OAUTH2_DENIED;
    }
    oauth2_json_pool_own(ctx->pool, *out);
    return OAUTH2_OK;
}

/* Split and decode a compact JWS; nothing is trusted yet. */
static oauth2_status_t jws_parse(oauth2_ctx_t *ctx, const char *token, jws_t *j)
{
    const char *d1 = strchr(token, '.'), *d2;

    memset(j, 0, sizeof(*j));
    d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL) {
        oauth2_err_set(ctx, "not a compact JWS");
        return OAUTH2_DENIED;
    }
    if (segment_json(ctx, token, d1 - token, "header", &j->header) !=
            OAUTH2_OK ||
        segment_json(ctx, d1 + 1, d2 - d1 - 1, "payload", &j->claims) !=
            OAUTH2_OK)
        return OAUTH2_DENIED;
    if (oauth2_b64url_decode(ctx, d2 + 1, strlen(d2 + 1), &j->sig,
                             &j->sig_len) != OAUTH2_OK ||
        j->sig_len == 0) {
        oauth2_err_set(ctx, "malformed or empty JWS signature");
        return OAUTH2_DENIED;
    }
    j->input = token;
    j->input_len = d2 - token;
    j->alg = oauth2_json_str(j->header, "alg");
    j->kid = oauth2_json_str(j->header, "kid");
    j->typ = oauth2_json_str(j->header, "typ");
    return OAUTH2_OK;
}

static int alg_allowed(const oauth2_verifier_t *v, const char *alg)
{
    int i;

    for (i = 0; alg != NULL && i < v->opts.algs->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(v->opts.algs, i, const char *), alg) == 0)
            return 1;
    }
    return 0;
}

/* "at+jwt" equals "application/at+jwt" (RFC 7515 4.1.9), any case. */
static int typ_matches(const char *have, const char *want)
{
    if (have == NULL)
        return 0;
    if (strncasecmp(have, "application/", 12) == 0)
        have += 12;
    if (strncasecmp(want, "application/", 12) == 0)
        want += 12;
    return strcasecmp(have, want) == 0;
}

/* What an alg needs from a key: type, curve, digest, padding. */
typedef struct alg_spec_t {
    const char *alg;
    oauth2_kty_t kty;
    const char *crv;
    const char *md; /* NULL for EdDSA */
    int pss;
    size_t ec_half; /* ECDSA: bytes of r and of s */
} alg_spec_t;

static const alg_spec_t specs[] = {
    {"RS256", OAUTH2_KTY_RSA, NULL, "SHA256", 0, 0},
    {"RS384", OAUTH2_KTY_RSA, NULL, "SHA384", 0, 0},
    {"RS512", OAUTH2_KTY_RSA, NULL, "SHA512", 0, 0},
    {"PS256", OAUTH2_KTY_RSA, NULL, "SHA256", 1, 0},
    {"PS384", OAUTH2_KTY_RSA, NULL, "SHA384", 1, 0},
    {"PS512", OAUTH2_KTY_RSA, NULL, "SHA512", 1, 0},
    {"ES256", OAUTH2_KTY_EC, "P-256", "SHA256", 0, 32},
    {"ES384", OAUTH2_KTY_EC, "P-384", "SHA384", 0, 48},
    {"ES512", OAUTH2_KTY_EC, "P-521", "SHA512", 0, 66},
    {"EdDSA", OAUTH2_KTY_OKP, "Ed25519", NULL, 0, 0},
    {NULL, OAUTH2_KTY_NONE, NULL, NULL, 0, 0}};

static const alg_spec_t *spec_of(const char *alg)
{
    const alg_spec_t *s;

    for (s = specs; alg != NULL && s->alg != NULL; s++) {
        if (strcmp(s->alg, alg) == 0)
            return s;
    }
    return NULL;
}

/* JWS ECDSA signatures are r||s; OpenSSL wants DER. NULL if malformed. */
static unsigned char *ecdsa_der(apr_pool_t *p, const alg_spec_t *s,
                                const unsigned char *sig, size_t len,
                                size_t *outlen)
{
    ECDSA_SIG *es = NULL;
    BIGNUM *r = NULL, *sv = NULL;
    unsigned char *der = NULL, *out = NULL;
    int n;

    if (len != 2 * s->ec_half)
        return NULL;
    r = BN_bin2bn(sig, (int)s->ec_half, NULL);
    sv = BN_bin2bn(sig + s->ec_half, (int)s->ec_half, NULL);
    es = ECDSA_SIG_new();
    if (r == NULL || sv == NULL || es == NULL || !ECDSA_SIG_set0(es, r, sv))
        goto end;
    r = sv = NULL; /* owned by es now */
    n = i2d_ECDSA_SIG(es, &der);
    if (n > 0) {
        out = apr_pmemdup(p, der, n);
        *outlen = (size_t)n;
    }
end:
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(es);
    OPENSSL_free(der);
    return out;
}

/* 1 if `sig` over `j->input` verifies with `key` under spec `s`. */
static int sig_ok(oauth2_ctx_t *ctx, const alg_spec_t *s,
                  const oauth2_jwk_t *key, const jws_t *j)
{
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    const unsigned char *sig = j->sig;
    size_t sig_len = j->sig_len;
    int ok = 0;

    if (s->ec_half > 0 &&
        (sig = ecdsa_der(ctx->pool, s, j->sig, j->sig_len, &sig_len)) == NULL)
        goto end;
    if ((md = EVP_MD_CTX_new()) == NULL)
        goto end;
    if (EVP_DigestVerifyInit_ex(md, &pctx, s->md, NULL, NULL, key->pkey,
                                NULL) != 1)
        goto end;
    if (s->pss &&
        (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
        goto end;
    ok = EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)j->input,
                          j->input_len) == 1;
end:
    EVP_MD_CTX_free(md);
    return ok;
}

/*
 * Try the keys of `keys` that fit the token: by kid when it names one,
 * else every key of the alg's type (and curve). OK, DENIED (bad signature)
 * or NOT_FOUND (no key fits: maybe a rotation).
 */
static oauth2_status_t sig_check(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                 const oauth2_jwks_t *keys, const jws_t *j)
{
    const alg_spec_t *s = spec_of(j->alg);
    const oauth2_jwk_t *k;
    int pos = 0, tried = 0;

    while ((k = oauth2_jwks_next(keys, j->kid, s->kty, s->crv, &pos))) {
        if ((k->alg != NULL && strcmp(k->alg, j->alg) != 0) ||
            (k->use != NULL && strcmp(k->use, "sig") != 0))
            continue;
        tried++;
        oauth2_verifier_count(v, &v->stats.sig_checks);
        if (sig_ok(ctx, s, k, j))
            return OAUTH2_OK;
    }
    if (tried == 0) {
        oauth2_err_set(
            ctx, "no key for kid %s alg %s",
            j->kid ? oauth2_log_escape(ctx->pool, j->kid, strlen(j->kid))
                   : "(none)",
            j->alg);
        return OAUTH2_NOT_FOUND;
    }
    oauth2_err_set(ctx, "bad signature");
    return OAUTH2_DENIED;
}

/* ==== JWKS source ======================================================= */

/* A fetched key set: its own unmanaged pool, destroyed with the entry. */
typedef struct keyset_t {
    apr_pool_t *pool;
    oauth2_jwks_t *jwks;
} keyset_t;

static void keyset_free(void *obj)
{
    keyset_t *ks = obj;

    apr_pool_destroy(ks->pool);
}

/* max-age from Cache-Control within bounds; `dflt` when absent. */
static apr_interval_time_t keys_ttl(const char *cc, apr_interval_time_t dflt)
{
    apr_interval_time_t ttl = dflt;
    const char *m = cc ? strstr(cc, "max-age=") : NULL;
    long long n;
    char num[16];
    size_t len;

    if (cc != NULL && (strstr(cc, "no-store") || strstr(cc, "no-cache")))
        ttl = 0;
    else if (m != NULL) {
        len = strspn(m + 8, "0123456789");
        if (len > 0 && len < sizeof(num)) {
            memcpy(num, m + 8, len);
            num[len] = '\0';
            if (oauth2_parse_int64(num, 0, 1LL << 40, &n) == 0)
                ttl = apr_time_from_sec(n);
        }
    }
    if (ttl < MIN_KEYS_TTL)
        ttl = MIN_KEYS_TTL;
    return ttl > MAX_KEYS_TTL ? MAX_KEYS_TTL : ttl;
}

/* Fetch and parse the JWKS; on OK the set is cached and borrowed. */
static oauth2_status_t keys_fetch(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                  keyset_t **out)
{
    oauth2_http_request_t req;
    oauth2_http_response_t resp;
    keyset_t *ks;
    apr_pool_t *kp;
    oauth2_status_t st;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.url = v->opts.location;
    req.max_response = OAUTH2_JWKS_MAX_BYTES;
    v->stats.jwks_fetches++;
    st = oauth2_http_send(oauth2_verifier_http(v), ctx, &req, &resp);
    if (st != OAUTH2_OK)
        return OAUTH2_UNAVAILABLE;
    if (resp.status != 200) {
        oauth2_err_set(ctx, "JWKS answered HTTP %d", resp.status);
        return OAUTH2_UNAVAILABLE;
    }
    if (apr_pool_create_unmanaged_ex(&kp, NULL, NULL) != APR_SUCCESS)
        return OAUTH2_ERROR;
    ks = apr_pcalloc(kp, sizeof(*ks));
    ks->pool = kp;
    if (oauth2_jwks_parse(ctx, kp, resp.body, resp.body_len, &ks->jwks) !=
        OAUTH2_OK) {
        apr_pool_destroy(kp);
        return OAUTH2_UNAVAILABLE; /* a broken set is an outage, not a deny */
    }
    v->fresh_until = ctx->now + keys_ttl(resp.cache_control, v->opts.cache_ttl);
    st = oauth2_cache_set_object(ctx, v->keys, KEYS_KEY, ks, keyset_free,
                                 ctx->now + STALE_KEEP);
    if (st != OAUTH2_OK)
        return st;
    return oauth2_cache_get_object(ctx, v->keys, KEYS_KEY, (void **)out);
}

/*
 * The verifier's current key set, borrowed until ctx->pool is cleared.
 * Fetches when there is none or it is stale; `kid_miss` asks for a refetch
 * because a token named an unknown kid, granted once per refetch interval.
 * A failed fetch keeps the last good set (and backs off); UNAVAILABLE only
 * when there is no set at all.
 */
static oauth2_status_t keys_get(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                int kid_miss, const oauth2_jwks_t **out)
{
    keyset_t *ks = NULL, *fresh = NULL;
    int need;
    oauth2_status_t st = OAUTH2_OK;

    apr_thread_mutex_lock(v->mu);
    if (oauth2_cache_get_object(ctx, v->keys, KEYS_KEY, (void **)&ks) !=
        OAUTH2_OK)
        ks = NULL;
    need = ks == NULL || ctx->now >= v->fresh_until;
    if (kid_miss && ctx->now >= v->last_kid_fetch + v->opts.refetch_interval) {
        need = 1;
        v->last_kid_fetch = ctx->now;
    }
    if (need && ctx->now >= v->next_try) {
        st = keys_fetch(ctx, v, &fresh);
        if (st == OAUTH2_OK)
            ks = fresh;
        else {
            v->next_try = ctx->now + FAIL_BACKOFF;
            oauth2_log_warn(ctx,
                            OAUTH2_LOGNO(00800) "JWKS fetch from %s "
                                                "failed (%s); %s",
                            v->opts.location, ctx->err.text,
                            ks ? "keeping the last good set" : "no keys");
        }
    }
    apr_thread_mutex_unlock(v->mu);
    if (ks == NULL) {
        oauth2_err_set(ctx, "no signing keys available");
        return st == OAUTH2_ERROR ? OAUTH2_ERROR : OAUTH2_UNAVAILABLE;
    }
    *out = ks->jwks;
    return OAUTH2_OK;
}

/* ==== verified-token cache ============================================== */

static void verdict_free(void *obj)
{
    oauth2_verdict_t *vd = obj;

    json_decref(vd->claims);
    free(vd);
}

oauth2_status_t oauth2_verdict_put(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                   const char *key, const json_t *claims,
                                   apr_time_t expires)
{
    oauth2_verdict_t *vd;

    if (expires <= ctx->now)
        return OAUTH2_OK; /* nothing worth keeping */
    vd = calloc(1, sizeof(*vd));
    if (vd == NULL)
        return OAUTH2_ERROR;
    vd->active = claims != NULL;
    /* A private copy: the request's object may be changed by its owner. */
    vd->claims = claims ? json_deep_copy(claims) : NULL;
    if (claims != NULL && vd->claims == NULL) {
        free(vd);
        return OAUTH2_ERROR;
    }
    return oauth2_cache_set_object(ctx, v->tokens, key, vd, verdict_free,
                                   expires);
}

oauth2_status_t oauth2_verdict_get(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                   const char *key, oauth2_verdict_t **out)
{
    if (oauth2_cache_get_object(ctx, v->tokens, key, (void **)out) != OAUTH2_OK)
        return OAUTH2_NOT_FOUND;
    oauth2_verifier_count(v, &v->stats.cache_hits);
    return OAUTH2_OK;
}

/* ==== JWT verification ================================================== */

/* Header rules first: they need no key and no network. */
static oauth2_status_t
jwt_header_check(oauth2_ctx_t *ctx, const oauth2_verifier_t *v, const jws_t *j)
{
    if (!alg_allowed(v, j->alg) || spec_of(j->alg) == NULL) {
        oauth2_err_set(
            ctx, "alg %s not allowed",
            j->alg ? oauth2_log_escape(ctx->pool, j->alg, strlen(j->alg))
                   : "(none)");
        return OAUTH2_DENIED;
    }
    if (json_object_get(j->header, "crit") != NULL) {
        oauth2_err_set(ctx, "crit header not supported");
        return OAUTH2_DENIED;
    }
    if (v->opts.typ != NULL && !typ_matches(j->typ, v->opts.typ)) {
        oauth2_err_set(ctx, "typ mismatch");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/* Signature and claims of a parsed JWS under one verifier. */
static oauth2_status_t jwt_verify(oauth2_ctx_t *ctx, oauth2_verifier_t *v,
                                  const jws_t *j)
{
    const oauth2_jwks_t *keys = v->static_keys, *again = NULL;
    oauth2_status_t st;

    if ((st = jwt_header_check(ctx, v, j)) != OAUTH2_OK)
        return st;
    if (keys == NULL && (st = keys_get(ctx, v, 0, &keys)) != OAUTH2_OK)
        return st;
    st = sig_check(ctx, v, keys, j);
    if (st == OAUTH2_NOT_FOUND && v->static_keys == NULL &&
        keys_get(ctx, v, 1, &again) == OAUTH2_OK && again != keys)
        st = sig_check(ctx, v, again, j);
    if (st == OAUTH2_NOT_FOUND)
        st = OAUTH2_DENIED;
    if (st != OAUTH2_OK)
        return st;
    return oauth2_verify_claims(ctx, v, j->claims, 0);
}

/* Worse outcome wins, so nothing uncertain ever becomes a plain deny. */
static oauth2_status_t worse(oauth2_status_t a, oauth2_status_t b)
{
    static const int rank[] = {0, 1, 1, 2, 3}; /* OK DEN NF UNAV ERR */

    return rank[b] > rank[a] ? b : a;
}

/* RFC 6750 b64token, bounded. */
static int token_syntax_ok(const char *t)
{
    size_t n = strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                         "0123456789-._~+/");

    n += strspn(t + n, "=");
    return n > 0 && t[n] == '\0' && n <= MAX_TOKEN_LEN;
}

static int dots(const char *t)
{
    int n = 0;

    for (; *t; t++)
        n += *t == '.';
    return n;
}

/* ==== entry point ======================================================= */

static oauth2_principal_t *principal(oauth2_ctx_t *ctx, json_t *claims,
                                     const char *token)
{
    oauth2_principal_t *p = oauth2_principal_from_claims(
        ctx->pool, OAUTH2_PRINCIPAL_BEARER, claims);

    p->access_token = token;
    return p;
}

/* The hot path: one hash, one lookup per verifier, no signature. */
static oauth2_status_t from_cache(oauth2_ctx_t *ctx,
                                  oauth2_verifier_t *const *vs, int n,
                                  const char *token, const char *hash,
                                  oauth2_principal_t **out)
{
    oauth2_verdict_t *vd;
    int i;

    for (i = 0; i < n; i++) {
        if (oauth2_verdict_get(ctx, vs[i],
                               oauth2_verify_cache_key(ctx->pool, vs[i], hash),
                               &vd) != OAUTH2_OK)
            continue;
        if (!vd->active) {
            oauth2_err_set(ctx, "token inactive (cached)");
            return OAUTH2_DENIED;
        }
        *out = principal(ctx, vd->claims, token);
        return OAUTH2_OK;
    }
    return OAUTH2_NOT_FOUND;
}

/* A JWT to the verifiers of its issuer; NOT_FOUND if none is configured. */
static oauth2_status_t by_jwt(oauth2_ctx_t *ctx, oauth2_verifier_t *const *vs,
                              int n, const char *token, const char *hash,
                              oauth2_principal_t **out)
{
    jws_t j;
    const char *iss;
    const json_t *exp;
    oauth2_status_t st, res = OAUTH2_NOT_FOUND;
    int i;

    if (jws_parse(ctx, token, &j) != OAUTH2_OK)
        return OAUTH2_NOT_FOUND;
    iss = oauth2_json_str(j.claims, "iss");
    for (i = 0; iss != NULL && i < n; i++) {
        if (vs[i]->opts.source == OAUTH2_VERIFY_INTROSPECT ||
            strcmp(vs[i]->opts.issuer, iss) != 0)
            continue;
        st = jwt_verify(ctx, vs[i], &j);
        if (st == OAUTH2_OK) {
            exp = json_object_get(j.claims, "exp");
            oauth2_verdict_put(
                ctx, vs[i], oauth2_verify_cache_key(ctx->pool, vs[i], hash),
                j.claims,
                apr_time_from_sec((apr_time_t)json_number_value(exp)));
            *out = principal(ctx, j.claims, token);
            return OAUTH2_OK;
        }
        res = res == OAUTH2_NOT_FOUND ? st : worse(res, st);
    }
    return res;
}

oauth2_status_t oauth2_verify_token(oauth2_ctx_t *ctx,
                                    oauth2_verifier_t *const *vs, int n,
                                    const char *token, oauth2_principal_t **out)
{
    return oauth2_verify_token_shared(ctx, vs, n, token, NULL, out);
}

oauth2_status_t oauth2_verify_token_shared(oauth2_ctx_t *ctx,
                                           oauth2_verifier_t *const *vs, int n,
                                           const char *token,
                                           struct oauth2_store_t *shared,
                                           oauth2_principal_t **out)
{
    const char *hash;
    json_t *claims;
    oauth2_status_t st, res = OAUTH2_NOT_FOUND;
    int i;

    if (token == NULL || !token_syntax_ok(token)) {
        oauth2_err_set(ctx, "malformed token");
        return OAUTH2_DENIED;
    }
    hash = oauth2_sha256_hex(ctx->pool, token, strlen(token));
    if ((st = from_cache(ctx, vs, n, token, hash, out)) != OAUTH2_NOT_FOUND)
        return st;
    if (dots(token) == 2 &&
        (res = by_jwt(ctx, vs, n, token, hash, out)) != OAUTH2_NOT_FOUND)
        return res;
    for (i = 0; i < n; i++) {
        if (vs[i]->opts.source != OAUTH2_VERIFY_INTROSPECT)
            continue;
        st = oauth2_introspect_token(ctx, vs[i], token, hash, shared, &claims);
        if (st == OAUTH2_OK) {
            *out = principal(ctx, claims, token);
            return OAUTH2_OK;
        }
        res = res == OAUTH2_NOT_FOUND ? st : worse(res, st);
    }
    if (res == OAUTH2_NOT_FOUND) {
        oauth2_err_set(ctx, "no verifier accepts this token (issuer unknown)");
        res = OAUTH2_DENIED;
    }
    return res;
}
