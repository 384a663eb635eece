/*
 * session.c - the session model (see session.h): ids and secrets, the
 * cookie format, the store key, JSON serialisation sealed with a key bound
 * to the cookie secret, timeouts, and small sealed cookies. Never logs a
 * cookie, a token, an id or a secret; never decides HTTP responses.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "oauth2/log.h"
#include "oauth2/session.h"
#include "oauth2/util.h"
#include "session_memo.h"

#define SESSION_INFO "mod_oauth2 session v1"
#define COOKIE_INFO "mod_oauth2 cookie v1"
#define KEY_PREFIX "oauth2:session:"
#define HALF_LEN 43 /* base64url of 32 bytes */
#define SEALED_COOKIE_MAX 4096
#define SESSION_JSON_VERSION 1

static apr_status_t json_release(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
}

/* Until util.c lands: oauth2_sha256_hex(). */
static char *sha256_hex(apr_pool_t *p, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;
    char *out;

    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) != 1)
        return NULL;
    out = apr_palloc(p, n * 2 + 1);
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}

static oauth2_status_t check_ns(oauth2_ctx_t *ctx, const char *ns)
{
    size_t i, n = ns ? strlen(ns) : 0;

    if (n == 0 || n > OAUTH2_SESSION_NS_MAX) {
        oauth2_err_set(ctx, "session namespace empty or longer than %d",
                       OAUTH2_SESSION_NS_MAX);
        return OAUTH2_DENIED;
    }
    for (i = 0; i < n; i++) {
        if (ns[i] <= 0x20 || ns[i] >= 0x7f) {
            oauth2_err_set(ctx, "session namespace has a non-printable byte");
            return OAUTH2_DENIED;
        }
    }
    return OAUTH2_OK;
}

/* store_key for s->id in ns; ERROR only if SHA-256 fails. */
static oauth2_status_t set_store_key(oauth2_ctx_t *ctx, oauth2_session_t *s,
                                     const char *ns)
{
    char *h = sha256_hex(ctx->pool, s->id, sizeof(s->id));

    if (h == NULL) {
        oauth2_err_set(ctx, "SHA-256 failed");
        return OAUTH2_ERROR;
    }
    s->store_key = apr_pstrcat(ctx->pool, KEY_PREFIX, ns, ":", h, NULL);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_session_set_claims(oauth2_ctx_t *ctx,
                                          oauth2_session_t *s, json_t *claims)
{
    if (!json_is_object(claims)) {
        oauth2_err_set(ctx, "session claims must be a JSON object");
        return OAUTH2_DENIED;
    }
    s->claims = json_incref(claims);
    apr_pool_cleanup_register(ctx->pool, claims, json_release,
                              apr_pool_cleanup_null);
    return OAUTH2_OK;
}

oauth2_status_t oauth2_session_new(oauth2_ctx_t *ctx, const char *ns,
                                   oauth2_session_t **out)
{
    oauth2_session_t *s;
    oauth2_status_t st = check_ns(ctx, ns);
    json_t *claims;

    if (st != OAUTH2_OK)
        return st;
    s = apr_pcalloc(ctx->pool, sizeof(*s));
    if (RAND_bytes(s->id, sizeof(s->id)) != 1 ||
        RAND_bytes(s->secret, sizeof(s->secret)) != 1) {
        oauth2_err_set(ctx, "no randomness for a session id");
        return OAUTH2_UNAVAILABLE;
    }
    if ((st = set_store_key(ctx, s, ns)) != OAUTH2_OK)
        return st;
    if ((claims = json_object()) == NULL) {
        oauth2_err_set(ctx, "out of memory");
        return OAUTH2_ERROR;
    }
    oauth2_session_set_claims(ctx, s, claims);
    json_decref(claims);
    s->created = s->last_access = ctx->now;
    *out = s;
    return OAUTH2_OK;
}

const char *oauth2_session_cookie_value(oauth2_ctx_t *ctx,
                                        const oauth2_session_t *s)
{
    return apr_pstrcat(
        ctx->pool, oauth2_b64url_encode(ctx->pool, s->id, sizeof(s->id)), ".",
        oauth2_b64url_encode(ctx->pool, s->secret, sizeof(s->secret)), NULL);
}

oauth2_status_t oauth2_session_parse_cookie(oauth2_ctx_t *ctx, const char *ns,
                                            const char *value,
                                            oauth2_session_t **out)
{
    oauth2_session_t *s;
    unsigned char buf[HALF_LEN];
    size_t n = 0;
    oauth2_status_t st = check_ns(ctx, ns);

    if (st != OAUTH2_OK)
        return st;
    if (value == NULL ||
        strnlen(value, OAUTH2_SESSION_COOKIE_LEN + 1) !=
            OAUTH2_SESSION_COOKIE_LEN ||
        value[HALF_LEN] != '.') {
        oauth2_err_set(ctx, "session cookie malformed");
        return OAUTH2_DENIED;
    }
    s = apr_pcalloc(ctx->pool, sizeof(*s));
    if (oauth2_b64url_decode_into(ctx, value, HALF_LEN, buf, sizeof(buf), &n) !=
            OAUTH2_OK ||
        n != OAUTH2_SESSION_RAND_LEN) {
        oauth2_err_set(ctx, "session cookie malformed");
        return OAUTH2_DENIED;
    }
    memcpy(s->id, buf, sizeof(s->id));
    if (oauth2_b64url_decode_into(ctx, value + HALF_LEN + 1, HALF_LEN, buf,
                                  sizeof(buf), &n) != OAUTH2_OK ||
        n != OAUTH2_SESSION_RAND_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        oauth2_err_set(ctx, "session cookie malformed");
        return OAUTH2_DENIED;
    }
    memcpy(s->secret, buf, sizeof(s->secret));
    OPENSSL_cleanse(buf, sizeof(buf));
    if ((st = set_store_key(ctx, s, ns)) != OAUTH2_OK)
        return st;
    *out = s;
    return OAUTH2_OK;
}

/* ---- JSON <-> session ---------------------------------------------- */

static int put_str(json_t *o, const char *k, const char *v)
{
    return v == NULL ? 0 : json_object_set_new(o, k, json_string(v));
}

static json_t *to_json(const oauth2_session_t *s)
{
    json_t *o = json_object();
    int rc = 0;

    if (o == NULL)
        return NULL;
    rc |= json_object_set_new(o, "v", json_integer(SESSION_JSON_VERSION));
    rc |= put_str(o, "sub", s->sub);
    rc |= put_str(o, "provider", s->provider);
    rc |= put_str(o, "sid", s->sid);
    rc |= put_str(o, "id_token", s->id_token);
    rc |= put_str(o, "access_token", s->access_token);
    rc |= put_str(o, "refresh_token", s->refresh_token);
    rc |= json_object_set(o, "claims", s->claims ? s->claims : json_object());
    rc |= json_object_set_new(o, "expires_at", json_integer(s->expires_at));
    rc |= json_object_set_new(o, "created", json_integer(s->created));
    rc |= json_object_set_new(o, "last_access", json_integer(s->last_access));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

oauth2_status_t oauth2_session_seal(oauth2_ctx_t *ctx,
                                    const oauth2_crypto_keyring_t *ring,
                                    const oauth2_session_t *s, char **out,
                                    size_t *outlen)
{
    json_t *o = to_json(s);
    char *text = NULL;
    oauth2_status_t st = OAUTH2_ERROR;

    if (o == NULL ||
        (text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
        oauth2_err_set(ctx, "cannot serialise the session");
        goto end;
    }
    st = oauth2_crypto_seal(ctx, ring, s->secret, sizeof(s->secret),
                            SESSION_INFO, s->store_key, strlen(s->store_key),
                            text, strlen(text), out);
    if (st == OAUTH2_OK && outlen != NULL)
        *outlen = strlen(*out);
end:
    if (text != NULL) {
        OPENSSL_cleanse(text, strlen(text)); /* it holds tokens */
        free(text);
    }
    json_decref(o);
    return st;
}

/* A string member, absent, or wrong type (-1). */
static int get_str(oauth2_ctx_t *ctx, json_t *o, const char *k, const char **v)
{
    json_t *j = json_object_get(o, k);

    *v = NULL;
    if (j == NULL || json_is_null(j))
        return 0;
    if (!json_is_string(j))
        return -1;
    *v = apr_pstrmemdup(ctx->pool, json_string_value(j), json_string_length(j));
    return 0;
}

static int get_time(json_t *o, const char *k, apr_time_t *v)
{
    json_t *j = json_object_get(o, k);

    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return -1;
    *v = (apr_time_t)json_integer_value(j);
    return 0;
}

static oauth2_status_t from_json(oauth2_ctx_t *ctx, oauth2_session_t *s,
                                 json_t *o)
{
    json_t *v = json_object_get(o, "v");
    int bad = 0;

    if (!json_is_integer(v) || json_integer_value(v) != SESSION_JSON_VERSION) {
        oauth2_err_set(ctx, "session value has an unknown version");
        return OAUTH2_DENIED;
    }
    bad |= get_str(ctx, o, "sub", &s->sub);
    bad |= get_str(ctx, o, "provider", &s->provider);
    bad |= get_str(ctx, o, "sid", &s->sid);
    bad |= get_str(ctx, o, "id_token", &s->id_token);
    bad |= get_str(ctx, o, "access_token", &s->access_token);
    bad |= get_str(ctx, o, "refresh_token", &s->refresh_token);
    bad |= get_time(o, "expires_at", &s->expires_at);
    bad |= get_time(o, "created", &s->created);
    bad |= get_time(o, "last_access", &s->last_access);
    if (bad || oauth2_session_set_claims(
                   ctx, s, json_object_get(o, "claims")) != OAUTH2_OK) {
        oauth2_err_set(ctx, "session value has a member of the wrong type");
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

oauth2_status_t oauth2_session_open(oauth2_ctx_t *ctx,
                                    const oauth2_crypto_keyring_t *ring,
                                    oauth2_session_t *s, const char *val,
                                    size_t len)
{
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    json_t *o = NULL;
    json_error_t jerr;
    oauth2_status_t st;

    if (len > OAUTH2_SESSION_MAX_VALUE) {
        oauth2_err_set(ctx, "session value longer than %d bytes",
                       OAUTH2_SESSION_MAX_VALUE);
        return OAUTH2_DENIED;
    }
    /* The record the last request of this session opened: done. */
    if (oauth2_session_memo_get(ctx, ring, s, val, len) == OAUTH2_OK)
        return OAUTH2_OK;
    st = oauth2_crypto_open(ctx, ring, s->secret, sizeof(s->secret),
                            SESSION_INFO, s->store_key, strlen(s->store_key),
                            val, len, &pt, &ptlen);
    if (st != OAUTH2_OK)
        return st;
    /* Authenticated, so written by us; still parsed with duplicate
     * rejection and a size bound (util.h's bounded parser when it lands). */
    o = json_loadb((const char *)pt, ptlen, JSON_REJECT_DUPLICATES, &jerr);
    OPENSSL_cleanse(pt, ptlen);
    if (!json_is_object(o)) {
        oauth2_err_set(ctx, "session value is not a JSON object");
        st = OAUTH2_DENIED;
        goto end;
    }
    st = from_json(ctx, s, o);
    if (st == OAUTH2_OK)
        oauth2_session_memo_put(ctx, ring, s, val, len);
end:
    json_decref(o);
    return st;
}

oauth2_status_t oauth2_session_check(oauth2_ctx_t *ctx,
                                     const oauth2_session_t *s,
                                     apr_interval_time_t inactivity,
                                     apr_interval_time_t max_age)
{
    if (inactivity > 0 && ctx->now - s->last_access > inactivity) {
        oauth2_err_set(ctx, "session idle for %ld s (limit %ld s)",
                       (long)apr_time_sec(ctx->now - s->last_access),
                       (long)apr_time_sec(inactivity));
        return OAUTH2_DENIED;
    }
    if (max_age > 0 && ctx->now - s->created > max_age) {
        oauth2_err_set(ctx, "session older than its %ld s maximum",
                       (long)apr_time_sec(max_age));
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

/* ---- with a store ------------------------------------------------- */

oauth2_status_t oauth2_session_load(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const oauth2_crypto_keyring_t *ring,
                                    const char *ns, const char *cookie,
                                    apr_interval_time_t inactivity,
                                    apr_interval_time_t max_age,
                                    oauth2_session_t **out)
{
    oauth2_session_t *s = NULL;
    char *val = NULL;
    size_t len = 0;
    oauth2_status_t st;

    if ((st = oauth2_session_parse_cookie(ctx, ns, cookie, &s)) != OAUTH2_OK) {
        oauth2_log_debug(ctx, OAUTH2_LOGNO(00400) "no session: %s",
                         ctx->err.text);
        return st;
    }
    st = oauth2_store_get(ctx, store, s->store_key, &val, &len);
    if (st == OAUTH2_NOT_FOUND) {
        oauth2_err_set(ctx, "session not in the store (expired or logged "
                            "out)");
        oauth2_log_debug(ctx, OAUTH2_LOGNO(00401) "%s", ctx->err.text);
        return st;
    }
    if (st != OAUTH2_OK)
        return st;
    if ((st = oauth2_session_open(ctx, ring, s, val, len)) != OAUTH2_OK) {
        oauth2_log_info(ctx,
                        OAUTH2_LOGNO(00402) "session %s does not open: "
                                            "%s",
                        oauth2_log_redact(ctx->pool, cookie, strlen(cookie)),
                        ctx->err.text);
        return st;
    }
    if ((st = oauth2_session_check(ctx, s, inactivity, max_age)) != OAUTH2_OK) {
        oauth2_log_debug(ctx, OAUTH2_LOGNO(00403) "session %s: %s",
                         oauth2_log_redact(ctx->pool, cookie, strlen(cookie)),
                         ctx->err.text);
        return st;
    }
    *out = s;
    return OAUTH2_OK;
}

oauth2_status_t oauth2_session_save(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const oauth2_crypto_keyring_t *ring,
                                    oauth2_session_t *s,
                                    apr_interval_time_t ttl)
{
    char *val = NULL;
    size_t len = 0;
    oauth2_status_t st;

    s->last_access = ctx->now;
    if ((st = oauth2_session_seal(ctx, ring, s, &val, &len)) != OAUTH2_OK)
        return st;
    return oauth2_store_set(ctx, store, s->store_key, val, len, ttl);
}

oauth2_status_t oauth2_session_destroy(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                       const oauth2_session_t *s)
{
    return oauth2_store_del(ctx, store, s->store_key);
}

/* ---- small sealed cookies ------------------------------------------ */

oauth2_status_t oauth2_session_seal_cookie(oauth2_ctx_t *ctx,
                                           const oauth2_crypto_keyring_t *ring,
                                           const char *name,
                                           const void *payload, size_t len,
                                           apr_time_t expires, char **out)
{
    unsigned char *pt = apr_palloc(ctx->pool, len + 8);
    apr_uint64_t e = (apr_uint64_t)expires;
    int i;

    if (name == NULL || *name == '\0') {
        oauth2_err_set(ctx, "sealed cookie without a name");
        return OAUTH2_ERROR;
    }
    for (i = 7; i >= 0; i--, e >>= 8)
        pt[i] = (unsigned char)(e & 0xff);
    if (len > 0)
        memcpy(pt + 8, payload, len);
    return oauth2_crypto_seal(ctx, ring, NULL, 0, COOKIE_INFO, name,
                              strlen(name), pt, len + 8, out);
}

oauth2_status_t oauth2_session_open_cookie(oauth2_ctx_t *ctx,
                                           const oauth2_crypto_keyring_t *ring,
                                           const char *name, const char *value,
                                           char **payload, size_t *len)
{
    unsigned char *pt = NULL;
    size_t n = 0, vlen = value ? strnlen(value, SEALED_COOKIE_MAX + 1) : 0;
    apr_uint64_t e = 0;
    oauth2_status_t st;
    int i;

    if (name == NULL || *name == '\0') {
        oauth2_err_set(ctx, "sealed cookie without a name");
        return OAUTH2_ERROR;
    }
    if (vlen == 0 || vlen > SEALED_COOKIE_MAX) {
        oauth2_err_set(ctx, "cookie %s empty or longer than %d bytes", name,
                       SEALED_COOKIE_MAX);
        return OAUTH2_DENIED;
    }
    st = oauth2_crypto_open(ctx, ring, NULL, 0, COOKIE_INFO, name, strlen(name),
                            value, vlen, &pt, &n);
    if (st != OAUTH2_OK)
        return st;
    if (n < 8) {
        oauth2_err_set(ctx, "cookie %s carries no expiry", name);
        return OAUTH2_DENIED;
    }
    for (i = 0; i < 8; i++)
        e = (e << 8) | pt[i];
    if ((apr_time_t)e <= ctx->now) {
        oauth2_err_set(ctx, "cookie %s expired", name);
        return OAUTH2_DENIED;
    }
    *payload = (char *)pt + 8; /* still NUL-terminated by crypto_open */
    if (len != NULL)
        *len = n - 8;
    return OAUTH2_OK;
}
