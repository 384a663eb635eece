/*
 * session.h - the relying party's browser session and the small sealed
 * cookies of a login in progress.
 *
 * Model: every login creates a new session with a 256-bit random id and a
 * 256-bit random secret. The cookie carries both:
 *     base64url(id) "." base64url(secret)        (exactly 87 characters)
 * The store key is "oauth2:session:" ns ":" hex(SHA-256(id)), where ns is
 * the caller's namespace (vhost + provider) so sessions never cross vhosts.
 * The stored value is the session JSON sealed with AES-256-GCM under
 * HKDF(passphrase, salt = the cookie secret, info = "mod_oauth2 session v1")
 * with AAD = the store key. A store dump alone therefore yields neither a
 * usable cookie nor a readable token, and a value cannot be moved to
 * another key.
 */
#ifndef OAUTH2_SESSION_H
#define OAUTH2_SESSION_H

#include <jansson.h>

#include "oauth2/oauth2.h"
#include "oauth2/crypto.h"
#include "oauth2/store.h"

#define OAUTH2_SESSION_RAND_LEN 32
#define OAUTH2_SESSION_COOKIE_LEN 87 /* 43 "." 43 */
#define OAUTH2_SESSION_NS_MAX 128
/* Sealed session values longer than this are refused unopened. */
#define OAUTH2_SESSION_MAX_VALUE (256 * 1024)

typedef struct oauth2_session_t {
    unsigned char id[OAUTH2_SESSION_RAND_LEN];
    unsigned char secret[OAUTH2_SESSION_RAND_LEN];
    const char *store_key; /* in the pool of the call that made it */
    const char *sub;       /* NULL until the login completes */
    const char *provider;
    const char *sid; /* OP session id (front/back-channel logout) or NULL */
    const char *id_token;
    const char *access_token;
    const char *refresh_token;
    /* object, never NULL; decref'd by the pool. Read-only once opened: the
     * per-process memo shares it between requests and threads. */
    json_t *claims;
    /* The claims prepared for the backend (a memo hit), or NULL: build
     * them from `claims`. Reset whenever the claims are replaced. */
    const struct oauth2_claim_exports_t *exports;
    apr_time_t expires_at;  /* access token expiry; 0 = unknown */
    apr_time_t created;     /* login time */
    apr_time_t last_access; /* last time the session was used */
} oauth2_session_t;

/*
 * A new session in namespace `ns` (1..128 printable, no spaces): fresh id
 * and secret, created = last_access = ctx->now, empty claims. UNAVAILABLE
 * if the RNG fails, DENIED for a bad namespace.
 */
oauth2_status_t oauth2_session_new(oauth2_ctx_t *ctx, const char *ns,
                                   oauth2_session_t **out);

/*
 * Replace the claims with `claims` (an object): takes a reference and
 * registers its release on ctx->pool. DENIED if not an object.
 */
oauth2_status_t oauth2_session_set_claims(oauth2_ctx_t *ctx,
                                          oauth2_session_t *s, json_t *claims);

/* The cookie value for `s`, in ctx->pool. */
const char *oauth2_session_cookie_value(oauth2_ctx_t *ctx,
                                        const oauth2_session_t *s);

/*
 * Parse a cookie value strictly (length, separator, base64url of exactly
 * 32 bytes each). OK with a session holding only id, secret and store_key
 * (fill the rest with oauth2_session_open); DENIED for anything else, which
 * callers treat as "no session".
 */
oauth2_status_t oauth2_session_parse_cookie(oauth2_ctx_t *ctx, const char *ns,
                                            const char *value,
                                            oauth2_session_t **out);

/* Serialise to JSON and seal (see above). *out in ctx->pool. */
oauth2_status_t oauth2_session_seal(oauth2_ctx_t *ctx,
                                    const oauth2_crypto_keyring_t *ring,
                                    const oauth2_session_t *s, char **out,
                                    size_t *outlen);

/*
 * Open a sealed value for `s` (from parse_cookie) and fill its fields.
 * DENIED when it does not authenticate or its JSON is not a session.
 */
oauth2_status_t oauth2_session_open(oauth2_ctx_t *ctx,
                                    const oauth2_crypto_keyring_t *ring,
                                    oauth2_session_t *s, const char *val,
                                    size_t len);

/*
 * Timeouts against ctx->now: DENIED when idle longer than `inactivity` or
 * older than `max_age` (either 0 = no limit), with the reason in ctx->err.
 */
oauth2_status_t oauth2_session_check(oauth2_ctx_t *ctx,
                                     const oauth2_session_t *s,
                                     apr_interval_time_t inactivity,
                                     apr_interval_time_t max_age);

/*
 * Cookie -> store -> open -> timeouts, in one call. OK with *out; DENIED
 * for a bad cookie, a value that does not open or an expired session;
 * NOT_FOUND when the store has no such session; UNAVAILABLE when the store
 * is down. On OK last_access is NOT updated (call oauth2_session_save).
 */
oauth2_status_t oauth2_session_load(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const oauth2_crypto_keyring_t *ring,
                                    const char *ns, const char *cookie,
                                    apr_interval_time_t inactivity,
                                    apr_interval_time_t max_age,
                                    oauth2_session_t **out);

/* Set last_access = ctx->now, seal and store with `ttl`. */
oauth2_status_t oauth2_session_save(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const oauth2_crypto_keyring_t *ring,
                                    oauth2_session_t *s,
                                    apr_interval_time_t ttl);

/* Remove from the store (logout). OK or NOT_FOUND both mean "gone". */
oauth2_status_t oauth2_session_destroy(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                       const oauth2_session_t *s);

/*
 * A small sealed cookie (e.g. the per-login state cookie): `payload` sealed
 * with HKDF(passphrase, info = "mod_oauth2 cookie v1"), AAD = the cookie
 * `name`, with the absolute expiry `expires` inside. Open refuses (DENIED)
 * values longer than 4096 bytes, that do not authenticate for `name`, or
 * whose expiry is not after ctx->now. Results in ctx->pool; *payload is
 * NUL-terminated.
 */
oauth2_status_t oauth2_session_seal_cookie(oauth2_ctx_t *ctx,
                                           const oauth2_crypto_keyring_t *ring,
                                           const char *name,
                                           const void *payload, size_t len,
                                           apr_time_t expires, char **out);

oauth2_status_t oauth2_session_open_cookie(oauth2_ctx_t *ctx,
                                           const oauth2_crypto_keyring_t *ring,
                                           const char *name, const char *value,
                                           char **payload, size_t *len);

/* ---- sessions branch: indexes by user and provider session -------------
 *
 * A signed-in session is listed under two index keys (store.h indexes):
 *     "oauth2:idx:sub:" ns ":" provider ":" hex(SHA-256(sub))
 *     "oauth2:idx:sid:" ns ":" provider ":" hex(SHA-256(sid))
 * The member is the session's index id (the hex part of its store key) and
 * the metadata is {"provider", "created", "last_seen"} (seconds): never the
 * cookie secret, never a token, never claims. Deleting the store key ends
 * the session on every node; stale members are dropped when seen.
 */

/* One indexed session, for listings (strings in ctx->pool). */
typedef struct oauth2_session_info_t {
    const char *id; /* index id: 64 hex */
    const char *provider;
    apr_time_t created;
    apr_time_t last_seen;
} oauth2_session_info_t;

/* The index id of `s` (the hex SHA-256 of its id). */
const char *oauth2_session_index_id(const oauth2_session_t *s);

/*
 * Record `s` (with sub set) in its sub index and, when s->sid is set, its
 * sid index, with last_seen = ctx->now. `ttl` must cover the longest any
 * session may live (the absolute timeout). Errors are the store's.
 */
oauth2_status_t oauth2_session_index(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                     const char *ns, const oauth2_session_t *s,
                                     apr_interval_time_t ttl);

/*
 * The live sessions of `sub` at `provider` (array of oauth2_session_info_t,
 * at most `max`). Members whose session is gone are removed on the way.
 */
oauth2_status_t oauth2_session_list(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const char *ns, const char *provider,
                                    const char *sub, int max,
                                    apr_array_header_t **out);

/*
 * End sessions everywhere by deleting them from the store: every session
 * of `sub` (sid NULL), or those of provider session `sid` (sub NULL, or
 * also matching sub). *count = how many were deleted. OK even when none.
 */
oauth2_status_t oauth2_session_revoke(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                      const char *ns, const char *provider,
                                      const char *sub, const char *sid,
                                      int *count);

/* End one session by index id; NOT_FOUND when it was not there. */
oauth2_status_t oauth2_session_revoke_id(oauth2_ctx_t *ctx,
                                         oauth2_store_t *store, const char *ns,
                                         const char *id);

/*
 * Single use of `jti` of issuer `iss` (back-channel logout), in two steps:
 * jti_once before acting (OK: go ahead; DENIED "jti replayed" when a
 * logout with it was already done within `ttl`), jti_done after acting.
 * A failed attempt leaves the jti usable, so the provider's retry passes.
 */
oauth2_status_t oauth2_session_jti_once(oauth2_ctx_t *ctx,
                                        oauth2_store_t *store, const char *iss,
                                        const char *jti,
                                        apr_interval_time_t ttl);
oauth2_status_t oauth2_session_jti_done(oauth2_ctx_t *ctx,
                                        oauth2_store_t *store, const char *iss,
                                        const char *jti,
                                        apr_interval_time_t ttl);

/*
 * A short cross-node lock for `s` named `what` (e.g. "refresh"): OK with
 * *held = 1 when this call took it (release with oauth2_session_unlock),
 * 0 when another request holds it. Expires after `ttl` regardless.
 */
oauth2_status_t oauth2_session_lock(oauth2_ctx_t *ctx, oauth2_store_t *store,
                                    const oauth2_session_t *s, const char *what,
                                    apr_interval_time_t ttl, int *held);
void oauth2_session_unlock(oauth2_ctx_t *ctx, oauth2_store_t *store,
                           const oauth2_session_t *s, const char *what);

#endif /* OAUTH2_SESSION_H */
