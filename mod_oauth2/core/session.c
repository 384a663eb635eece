/*
 * session.c - the session model (see session.h): ids and secrets, the
 * cookie format, the store key, JSON serialisation sealed with a key bound
 * to the cookie secret, timeouts, and small sealed cookies. Never logs a
 * cookie, a token, an id or a secret; never decides HTTP responses.
 */
#include <stdint.h>
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
#include "session_plain.h"

#define SESSION_INFO "mod_oauth2 session v1"
#define COOKIE_INFO "mod_oauth2 cookie v1"
#define KEY_PREFIX "oauth2:session:"
#define HALF_LEN 43 /* base64url of 32 bytes */
#define SEALED_COOKIE_MAX 4096
/* Record plaintext: v1 was one JSON object; v2 puts the three tokens,
 * length-prefixed, in front of a JSON object of the rest. The tokens are
 * ~80 % of a record and jansson lexes ~40 ns a byte (58 us for a 2.5 KB
 * v1 record, 15 us for its v2 JSON): a memo miss opens the whole record. */
#define SESSION_V1 1
#define SESSION_V2 2
#define V2_MARK 0x02 /* never the first byte of JSON text */
#define NO_TOKEN 0xffffffffu

static apr_status_t json_release(void *data)
{
    json_decref(data);
    return APR_SUCCESS;
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
    char *h = oauth2_sha256_hex(ctx->pool, s->id, sizeof(s->id));

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
    s->exports = NULL;
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

/* The v2 JSON part: everything but the tokens. */
static json_t *to_json(const oauth2_session_t *s)
{
    json_t *o = json_object();
    int rc = 0;

    if (o == NULL)
        return NULL;
    rc |= json_object_set_new(o, "v", json_integer(SESSION_V2));
    rc |= put_str(o, "sub", s->sub);
    rc |= put_str(o, "provider", s->provider);
    rc |= put_str(o, "sid", s->sid);
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

/* A token as u32 big-endian length (NO_TOKEN: none) and its bytes. */
static unsigned char *put_token(unsigned char *o, const char *t, size_t len)
{
    uint32_t n = t != NULL ? (uint32_t)len : NO_TOKEN;

    *o++ = (unsigned char)(n >> 24);
    *o++ = (unsigned char)(n >> 16);
    *o++ = (unsigned char)(n >> 8);
    *o++ = (unsigned char)n;
    if (t != NULL) {
        memcpy(o, t, n);
        o += n;
    }
    return o;
}

oauth2_status_t oauth2_session_encode(oauth2_ctx_t *ctx,
                                      const oauth2_session_t *s,
                                      unsigned char **out, size_t *outlen)
{
    const char *tok[3] = {s->id_token, s->access_token, s->refresh_token};
    json_t *o = to_json(s);
    char *text = NULL;
    unsigned char *buf, *at;
    size_t len = 1, tlen, toklen[3], i;

    *out = NULL;
    if (o == NULL ||
        (text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
        json_decref(o);
        oauth2_err_set(ctx, "cannot serialise the session");
        return OAUTH2_ERROR;
    }
    json_decref(o);
    tlen = strlen(text);
    for (i = 0; i < 3; i++) {
        toklen[i] = tok[i] != NULL ? strlen(tok[i]) : 0;
        if (toklen[i] >= NO_TOKEN) {
            oauth2_cleanse_free(text, tlen);
            oauth2_err_set(ctx, "session token too long");
            return OAUTH2_ERROR;
        }
        len += 4 + toklen[i];
    }
    len += tlen;
    if ((buf = OPENSSL_malloc(len)) == NULL) {
        oauth2_cleanse_free(text, tlen);
        oauth2_err_set(ctx, "out of memory");
        return OAUTH2_ERROR;
    }
    at = buf;
    *at++ = V2_MARK;
    for (i = 0; i < 3; i++)
        at = put_token(at, tok[i], toklen[i]);
    memcpy(at, text, tlen);
    oauth2_cleanse_free(text, tlen); /* it may hold claims */
    *out = buf;
    *outlen = len;
    return OAUTH2_OK;
}

oauth2_status_t oauth2_session_seal(oauth2_ctx_t *ctx,
                                    const oauth2_crypto_keyring_t *ring,
                                    const oauth2_session_t *s, char **out,
                                    size_t *outlen)
{
    unsigned char *pt = NULL;
    size_t ptlen = 0;
    oauth2_status_t st;

    if ((st = oauth2_session_encode(ctx, s, &pt, &ptlen)) != OAUTH2_OK)
        return st;
    st = oauth2_crypto_seal(ctx, ring, s->secret, sizeof(s->secret),
                            SESSION_INFO, s->store_key, strlen(s->store_key),
                            pt, ptlen, out);
    if (st == OAUTH2_OK && outlen != NULL)
        *outlen = strlen(*out);
    OPENSSL_clear_free(pt, ptlen); /* it holds tokens */
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

/* The JSON object of a `version` record; v1 also holds the tokens. */
static oauth2_status_t from_json(oauth2_ctx_t *ctx, oauth2_session_t *s,
                                 json_t *o, int version)
{
    json_t *v = json_object_get(o, "v");
    int bad = 0;

    if (!json_is_integer(v) || json_integer_value(v) != version) {
        oauth2_err_set(ctx, "session value has an unknown version");
        return OAUTH2_DENIED;
    }
    bad |= get_str(ctx, o, "sub", &s->sub);
    bad |= get_str(ctx, o, "provider", &s->provider);
    bad |= get_str(ctx, o, "sid", &s->sid);
    if (version == SESSION_V1) {
        bad |= get_str(ctx, o, "id_token", &s->id_token);
        bad |= get_str(ctx, o, "access_token", &s->access_token);
        bad |= get_str(ctx, o, "refresh_token", &s->refresh_token);
    }
    else if (json_object_get(o, "id_token") ||
             json_object_get(o, "access_token") ||
             json_object_get(o, "refresh_token"))
        bad = 1; /* v2 keeps them outside the JSON, once */
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

oauth2_status_t oauth2_session_decode(oauth2_ctx_t *ctx, oauth2_session_t *s,
                                      const unsigned char *pt, size_t len)
{
    const char *tok[3] = {NULL, NULL, NULL};
    int version = SESSION_V1, i;
    json_error_t jerr;
    oauth2_status_t st;
    size_t at = 0;
    uint32_t n;
    json_t *o;

    if (len > 0 && pt[0] == V2_MARK) {
        version = SESSION_V2;
        at = 1;
        for (i = 0; i < 3; i++) {
            if (len - at < 4)
                goto truncated;
            n = (uint32_t)pt[at] << 24 | (uint32_t)pt[at + 1] << 16 |
                (uint32_t)pt[at + 2] << 8 | pt[at + 3];
            at += 4;
            if (n == NO_TOKEN)
                continue;
            if (n > len - at || memchr(pt + at, '\0', n) != NULL)
                goto truncated;
            tok[i] = apr_pstrmemdup(ctx->pool, (const char *)pt + at, n);
            at += n;
        }
    }
    /* Authenticated, so written by us; still parsed with duplicate
     * rejection (the record is bounded by OAUTH2_SESSION_MAX_VALUE). */
    o = json_loadb((const char *)pt + at, len - at, JSON_REJECT_DUPLICATES,
                   &jerr);
    if (!json_is_object(o)) {
        json_decref(o);
        oauth2_err_set(ctx, "session value is not a JSON object");
        return OAUTH2_DENIED;
    }
    st = from_json(ctx, s, o, version);
    json_decref(o);
    if (st == OAUTH2_OK && version == SESSION_V2) {
        s->id_token = tok[0];
        s->access_token = tok[1];
        s->refresh_token = tok[2];
    }
    return st;
truncated:
    oauth2_err_set(ctx, "session value has a malformed token field");
    return OAUTH2_DENIED;
}

oauth2_status_t oauth2_session_open(oauth2_ctx_t *ctx,
                                    const oauth2_crypto_keyring_t *ring,
                                    oauth2_session_t *s, const char *val,
                                    size_t len)
{
    unsigned char *pt = NULL;
    size_t ptlen = 0;
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
    st = oauth2_session_decode(ctx, s, pt, ptlen);
    OPENSSL_cleanse(pt, ptlen);
    if (st == OAUTH2_OK) /* the exports once, for this request and hits */
        s->exports = oauth2_session_memo_put(ctx, ring, s, val, len);
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

/* ---- sessions branch: indexes, revocation, single use, locks ------------ */

#define IDX_PREFIX "oauth2:idx:"
#define JTI_PREFIX "oauth2:jti:"
#define LOCK_PREFIX "oauth2:lock:"
#define ID_HEX_LEN 64

const char *oauth2_session_index_id(const oauth2_session_t *s)
{
    const char *c = strrchr(s->store_key, ':');

    return c ? c + 1 : s->store_key;
}

/* "oauth2:idx:<kind>:" ns ":" provider ":" hex(SHA-256(value)). */
static const char *idx_key(oauth2_ctx_t *ctx, const char *kind, const char *ns,
                           const char *provider, const char *value)
{
    const char *h = oauth2_sha256_hex(ctx->pool, value, strlen(value));

    if (h == NULL)
        return NULL;
    return apr_pstrcat(ctx->pool, IDX_PREFIX, kind, ":", ns, ":", provider, ":",
                       h, NULL);
}

static int id_ok(const char *id)
{
    size_t i;

    if (id == NULL || strlen(id) != ID_HEX_LEN)
        return 0;
    for (i = 0; i < ID_HEX_LEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static const char *key_of_id(oauth2_ctx_t *ctx, const char *ns, const char *id)
{
    return apr_pstrcat(ctx->pool, KEY_PREFIX, ns, ":", id, NULL);
}

oauth2_status_t oauth2_session_index(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                     const char *ns, const oauth2_session_t *s,
                                     apr_interval_time_t ttl)
{
    const char *id = oauth2_session_index_id(s), *k;
    char *meta = NULL, *text;
    json_t *o;
    oauth2_status_t st;

    if (s->sub == NULL || s->provider == NULL) {
        oauth2_err_set(ctx, "session without sub or provider: not indexed");
        return OAUTH2_ERROR;
    }
    o = json_pack("{s:s, s:I, s:I}", "provider", s->provider, "created",
                  (json_int_t)apr_time_sec(s->created), "last_seen",
                  (json_int_t)apr_time_sec(ctx->now));
    text = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (text != NULL)
        meta = apr_pstrdup(ctx->pool, text);
    free(text);
    json_decref(o);
    if (meta == NULL) {
        oauth2_err_set(ctx, "cannot serialise the session index entry");
        return OAUTH2_ERROR;
    }
    if ((k = idx_key(ctx, "sub", ns, s->provider, s->sub)) == NULL)
        return OAUTH2_ERROR;
    st = oauth2_store_idx_add(ctx, store, k, id, meta, strlen(meta), ttl);
    if (st != OAUTH2_OK || s->sid == NULL)
        return st;
    if ((k = idx_key(ctx, "sid", ns, s->provider, s->sid)) == NULL)
        return OAUTH2_ERROR;
    return oauth2_store_idx_add(ctx, store, k, id, meta, strlen(meta), ttl);
}

/* Parse one member's metadata; 0 when it is not ours. */
static int info_of(oauth2_ctx_t *ctx, const oauth2_store_member_t *m,
                   oauth2_session_info_t *i)
{
    json_t *o = json_loadb(m->meta, m->meta_len, JSON_REJECT_DUPLICATES, NULL);
    int ok = json_is_object(o) && id_ok(m->member);

    if (ok) {
        get_str(ctx, o, "provider", &i->provider);
        i->id = m->member;
        i->created = apr_time_from_sec(
            json_integer_value(json_object_get(o, "created")));
        i->last_seen = apr_time_from_sec(
            json_integer_value(json_object_get(o, "last_seen")));
    }
    json_decref(o);
    return ok;
}

/*
 * The live sessions of index `k`: members whose store key is gone (or
 * that are not ours) are removed from the index.
 */
static oauth2_status_t live_members(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const char *ns, const char *k, int max,
                                    apr_array_header_t **out)
{
    apr_array_header_t *all = NULL, *live;
    oauth2_status_t st;
    int i;

    st = oauth2_store_idx_list(ctx, store, k, max, &all);
    if (st != OAUTH2_OK)
        return st;
    live = apr_array_make(ctx->pool, all->nelts + 1,
                          sizeof(oauth2_session_info_t));
    for (i = 0; i < all->nelts; i++) {
        oauth2_store_member_t *m =
            &APR_ARRAY_IDX(all, i, oauth2_store_member_t);
        oauth2_session_info_t info = {0};
        char *v = NULL;
        if (info_of(ctx, m, &info))
            st = oauth2_store_get(ctx, store, key_of_id(ctx, ns, m->member), &v,
                                  NULL);
        else
            st = OAUTH2_NOT_FOUND;
        if (st == OAUTH2_NOT_FOUND) {
            oauth2_store_idx_del(ctx, store, k, m->member);
            continue;
        }
        if (st != OAUTH2_OK)
            return st;
        APR_ARRAY_PUSH(live, oauth2_session_info_t) = info;
    }
    *out = live;
    return OAUTH2_OK;
}

oauth2_status_t oauth2_session_list(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const char *ns, const char *provider,
                                    const char *sub, int max,
                                    apr_array_header_t **out)
{
    const char *k = idx_key(ctx, "sub", ns, provider, sub);

    if (k == NULL)
        return OAUTH2_ERROR;
    return live_members(ctx, store, ns, k, max, out);
}

/* 1 when `id` is a member of `list` (NULL: no restriction). */
static int in_list(const apr_array_header_t *list, const char *id)
{
    int j;

    if (list == NULL)
        return 1;
    for (j = 0; j < list->nelts; j++)
        if (strcmp(APR_ARRAY_IDX(list, j, oauth2_store_member_t).member, id) ==
            0)
            return 1;
    return 0;
}

oauth2_status_t oauth2_session_revoke(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                      const char *ns, const char *provider,
                                      const char *sub, const char *sid,
                                      int *count)
{
    const char *k = sid ? idx_key(ctx, "sid", ns, provider, sid)
                        : idx_key(ctx, "sub", ns, provider, sub);
    apr_array_header_t *all = NULL, *mine = NULL;
    oauth2_status_t st;
    int i;

    *count = 0;
    if (k == NULL || (sid == NULL && sub == NULL))
        return OAUTH2_ERROR;
    st = oauth2_store_idx_list(ctx, store, k, OAUTH2_STORE_IDX_MAX, &all);
    if (st == OAUTH2_OK && sid != NULL && sub != NULL) {
        /* Both given: only the sessions of that sid that are this user's. */
        const char *subk = idx_key(ctx, "sub", ns, provider, sub);
        st = subk ? oauth2_store_idx_list(ctx, store, subk,
                                          OAUTH2_STORE_IDX_MAX, &mine)
                  : OAUTH2_ERROR;
    }
    for (i = 0; st == OAUTH2_OK && i < all->nelts; i++) {
        const char *id = APR_ARRAY_IDX(all, i, oauth2_store_member_t).member;
        if (!id_ok(id) || !in_list(mine, id))
            continue;
        st = oauth2_store_del(ctx, store, key_of_id(ctx, ns, id));
        if (st == OAUTH2_OK)
            (*count)++;
        if (st == OAUTH2_OK || st == OAUTH2_NOT_FOUND)
            st = oauth2_store_idx_del(ctx, store, k, id);
        if (st == OAUTH2_NOT_FOUND)
            st = OAUTH2_OK;
    }
    return st;
}

oauth2_status_t oauth2_session_revoke_id(oauth2_ctx_t *ctx,
                                         oauth2_store_t *store, const char *ns,
                                         const char *id)
{
    if (!id_ok(id)) {
        oauth2_err_set(ctx, "session index id is not 64 hex digits");
        return OAUTH2_DENIED;
    }
    return oauth2_store_del(ctx, store, key_of_id(ctx, ns, id));
}

static const char *jti_key(oauth2_ctx_t *ctx, const char *iss, const char *jti)
{
    const char *both = apr_pstrcat(ctx->pool, iss, "\n", jti, NULL);
    const char *h = oauth2_sha256_hex(ctx->pool, both, strlen(both));

    return h ? apr_pstrcat(ctx->pool, JTI_PREFIX, h, NULL) : NULL;
}

/*
 * Two phases, because a command that timed out may still run on the server
 * later: the marker is "pending" until the logout is done, and only "done"
 * refuses a token. A retry after a failure (or a concurrent duplicate)
 * finds "pending" and goes ahead: ending sessions twice is harmless.
 */
oauth2_status_t oauth2_session_jti_once(oauth2_ctx_t *ctx,
                                        oauth2_store_t *store, const char *iss,
                                        const char *jti,
                                        apr_interval_time_t ttl)
{
    const char *k = jti_key(ctx, iss, jti);
    char *v = NULL;
    int added = 0;
    oauth2_status_t st;

    if (k == NULL)
        return OAUTH2_ERROR;
    st = oauth2_store_add(ctx, store, k, "pending", 7, ttl, &added);
    if (st != OAUTH2_OK || added)
        return st;
    st = oauth2_store_get(ctx, store, k, &v, NULL);
    if (st == OAUTH2_OK && strcmp(v, "done") == 0) {
        oauth2_err_set(ctx, "jti replayed");
        return OAUTH2_DENIED;
    }
    return st == OAUTH2_NOT_FOUND ? OAUTH2_OK : st;
}

oauth2_status_t oauth2_session_jti_done(oauth2_ctx_t *ctx,
                                        oauth2_store_t *store, const char *iss,
                                        const char *jti,
                                        apr_interval_time_t ttl)
{
    const char *k = jti_key(ctx, iss, jti);

    return k ? oauth2_store_set(ctx, store, k, "done", 4, ttl) : OAUTH2_ERROR;
}

static const char *lock_key(oauth2_ctx_t *ctx, const oauth2_session_t *s,
                            const char *what)
{
    return apr_pstrcat(ctx->pool, LOCK_PREFIX, what, ":", s->store_key, NULL);
}

oauth2_status_t oauth2_session_lock(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const oauth2_session_t *s, const char *what,
                                    apr_interval_time_t ttl, int *held)
{
    return oauth2_store_add(ctx, store, lock_key(ctx, s, what), "1", 1, ttl,
                            held);
}

void oauth2_session_unlock(oauth2_ctx_t *ctx, oauth2_store_t *store,
                           const oauth2_session_t *s, const char *what)
{
    oauth2_store_del(ctx, store, lock_key(ctx, s, what));
}
