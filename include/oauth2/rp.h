/*
 * rp.h - the OpenID Connect / OAuth 2.0 relying party, server-neutral:
 * build the authorization request (state, nonce, PKCE S256), describe the
 * login in flight (sealed into a cookie by the caller), check the callback,
 * exchange the code, validate the ID token (OIDC Core 3.1.3.7), fetch
 * userinfo, refresh, build the end-session URL, and vet return URLs.
 * Never touches cookies, sessions or HTTP responses: the adapter does.
 */
#ifndef OAUTH2_RP_H
#define OAUTH2_RP_H

#include <apr_tables.h>
#include <jansson.h>

#include "oauth2/oauth2.h"
#include "oauth2/http.h"
#include "oauth2/discovery.h"

typedef enum {
    OAUTH2_RP_AUTH_BASIC = 1, /* client_secret_basic (default) */
    OAUTH2_RP_AUTH_POST       /* client_secret_post */
} oauth2_rp_auth_t;

/* One configured provider (OAuth2Provider). Lives in the config pool. */
typedef struct oauth2_rp_provider_t {
    const char *name;
    const char *discovery_url;   /* NULL: `meta` is complete */
    const char *alt_issuer;      /* second accepted `iss` (Google) or NULL */
    oauth2_provider_meta_t meta; /* configured endpoints, override discovery */
    const char *client_id;
    const char *client_secret; /* never logged */
    const char *scope;         /* space separated */
    oauth2_rp_auth_t auth;
    int userinfo;            /* 1: fetch at login when there is an endpoint */
    const char *user_claim;  /* identity claim path, default "sub" */
    const char *hd;          /* Google hosted domain restriction or NULL */
    const char *auth_params; /* extra "k=v&k2=v2" for the authorization URL */
    apr_interval_time_t timeout; /* outbound calls; 0: http default */
    const char *pass; /* request parameters that may reach the provider
                         (comma-separated names, never reserved ones) */
} oauth2_rp_provider_t;

/* 1 when the provider speaks OpenID Connect (scope has "openid"). */
int oauth2_rp_is_oidc(const oauth2_rp_provider_t *prov);

/*
 * Effective metadata: the discovered `disc` (may be NULL) with every
 * endpoint configured in prov->meta taking precedence. In ctx->pool.
 */
oauth2_provider_meta_t *oauth2_rp_meta_merge(oauth2_ctx_t *ctx,
                                             const oauth2_rp_provider_t *prov,
                                             const oauth2_provider_meta_t *d);

/* A login in flight: what the callback needs to finish it. */
typedef struct oauth2_rp_login_t {
    const char *provider;
    const char *state;    /* 256-bit random, base64url */
    const char *nonce;    /* 256-bit random, base64url (OIDC only) */
    const char *verifier; /* PKCE code_verifier */
    const char *return_url;
    apr_time_t created;
} oauth2_rp_login_t;

/*
 * Start a login: fresh state, nonce and PKCE verifier, and the
 * authorization URL (code flow, S256). `redirect_uri` is absolute.
 * ERROR/UNAVAILABLE on RNG failure; DENIED when the endpoint is missing.
 */
oauth2_status_t
oauth2_rp_login_start(oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
                      const oauth2_provider_meta_t *meta,
                      const char *redirect_uri, const char *return_url,
                      oauth2_rp_login_t **login, const char **auth_url);

/*
 * oauth2_rp_login_start plus request parameters `params` (may be NULL):
 * only those named in prov->pass and not reserved are appended, after
 * everything the module sets, so none can override a protocol value.
 */
oauth2_status_t
oauth2_rp_login_start_ex(oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
                         const oauth2_provider_meta_t *meta,
                         const char *redirect_uri, const char *return_url,
                         const apr_table_t *params, oauth2_rp_login_t **login,
                         const char **auth_url);

/*
 * 1 when a request may never choose parameter `name` of an authorization
 * request (response_type, client_id, redirect_uri, scope, state, nonce,
 * code_challenge(_method), response_mode, request(_uri), ...).
 */
int oauth2_rp_param_reserved(const char *name);

/*
 * "&k=v..." (form-encoded) of the entries of `params` that prov->pass
 * allows and that are not reserved; "" when none.
 */
const char *oauth2_rp_pass_params(oauth2_ctx_t *ctx,
                                  const oauth2_rp_provider_t *prov,
                                  const apr_table_t *params);

/*
 * Decode a query string or form body into *out (names and values
 * decoded). DENIED on bad encoding, a NUL, more than `max_params`
 * parameters, or any name given twice: never last-wins.
 */
oauth2_status_t oauth2_rp_params_parse(oauth2_ctx_t *ctx, const char *query,
                                       size_t max_params, apr_table_t **out);

/*
 * 1 when `iss` is the configured issuer of `prov` (issuer=, the preset's
 * alternative, or, for discovery= without issuer=, the discovery URL minus
 * /.well-known/openid-configuration). Pure configuration: nothing fetched.
 */
int oauth2_rp_issuer_configured(const oauth2_rp_provider_t *prov,
                                const char *iss);

/* The login as compact JSON text (to be sealed by the caller). */
char *oauth2_rp_login_encode(oauth2_ctx_t *ctx, const oauth2_rp_login_t *l);

/*
 * Parse a login back; DENIED when malformed or older than `max_age`
 * (or created in the future beyond a minute of skew).
 */
oauth2_status_t oauth2_rp_login_decode(oauth2_ctx_t *ctx, const char *json,
                                       size_t len, apr_interval_time_t max_age,
                                       oauth2_rp_login_t **out);

/*
 * A short, cookie-name-safe tag for a state value (base64url of the first
 * 9 bytes of SHA-256(state)), so each login in flight gets its own cookie.
 * NULL when hashing failed (OpenSSL out of memory).
 */
const char *oauth2_rp_state_tag(apr_pool_t *p, const char *state);

/* The callback's query parameters (decoded). Absent ones are NULL. */
typedef struct oauth2_rp_callback_t {
    const char *code;
    const char *state;
    const char *iss;
    const char *error;
    const char *error_description;
} oauth2_rp_callback_t;

/* Parse a query string; DENIED on a repeated parameter or bad encoding. */
oauth2_status_t oauth2_rp_callback_parse(oauth2_ctx_t *ctx, const char *query,
                                         oauth2_rp_callback_t **out);

/*
 * Check a callback against its login: `error` → DENIED ("provider error:
 * ..."), state compared in constant time, RFC 9207 `iss` when present (or
 * required when the provider announces support), code present.
 */
oauth2_status_t oauth2_rp_callback_check(oauth2_ctx_t *ctx,
                                         const oauth2_rp_provider_t *prov,
                                         const oauth2_provider_meta_t *meta,
                                         const oauth2_rp_login_t *login,
                                         const oauth2_rp_callback_t *cb);

/* The token endpoint's answer. */
typedef struct oauth2_rp_tokens_t {
    const char *access_token;
    const char *refresh_token; /* or NULL */
    const char *id_token;      /* or NULL */
    const char *token_type;
    apr_time_t expires; /* absolute; 0 = not said */
} oauth2_rp_tokens_t;

/*
 * POST grant_type=authorization_code (with code_verifier) to the token
 * endpoint, authenticating per prov->auth. DENIED on an OAuth error answer
 * (4xx), UNAVAILABLE when the endpoint is unreachable, times out or answers
 * 5xx or garbage.
 */
oauth2_status_t oauth2_rp_code_exchange(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                        const oauth2_rp_provider_t *prov,
                                        const oauth2_provider_meta_t *meta,
                                        const char *redirect_uri,
                                        const char *code, const char *verifier,
                                        oauth2_rp_tokens_t **out);

/* grant_type=refresh_token; same result vocabulary as the code exchange. */
oauth2_status_t oauth2_rp_refresh(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                  const oauth2_rp_provider_t *prov,
                                  const oauth2_provider_meta_t *meta,
                                  const char *refresh_token,
                                  oauth2_rp_tokens_t **out);

/*
 * The claim checks of OIDC Core 3.1.3.7 on an ID token payload whose
 * signature is already verified: iss (or prov->alt_issuer), aud contains
 * client_id, azp (required when several audiences, must be client_id),
 * exp in the future and iat present and not in the future (60 s skew),
 * nonce equal in constant time, sub present, and hd when configured.
 */
oauth2_status_t oauth2_rp_id_token_claims_check(
    oauth2_ctx_t *ctx, const oauth2_rp_provider_t *prov,
    const oauth2_provider_meta_t *meta, json_t *claims, const char *nonce);

/* Per-process JWKS cache for ID token verification; thread-safe. */
typedef struct oauth2_rp_jwks_cache_t oauth2_rp_jwks_cache_t;

/* A cache living as long as `p`; NULL on failure. */
oauth2_rp_jwks_cache_t *oauth2_rp_jwks_cache_create(apr_pool_t *p);

/*
 * Validate an ID token: compact JWS verified with the provider's JWKS
 * (asymmetric algorithms only; an unknown kid refetches the JWKS once),
 * then oauth2_rp_id_token_claims_check and at_hash when present. On OK
 * *claims is the payload (owned by ctx->pool). DENIED for any invalid
 * token, UNAVAILABLE when the JWKS cannot be fetched.
 */
oauth2_status_t oauth2_rp_id_token_validate(
    oauth2_ctx_t *ctx, oauth2_http_t *http, oauth2_rp_jwks_cache_t *cache,
    const oauth2_rp_provider_t *prov, const oauth2_provider_meta_t *meta,
    const char *id_token, const char *nonce, const char *access_token,
    json_t **claims);

/*
 * at_hash (OIDC Core 3.1.3.8) for `alg` (RS/PS/ES 256|384|512, EdDSA
 * with SHA-512): 1 when
 * `at_hash` equals the left half of the hash of `access_token`.
 */
int oauth2_rp_at_hash_ok(oauth2_ctx_t *ctx, const char *alg,
                         const char *access_token, const char *at_hash);

/*
 * GET the userinfo endpoint with the access token. JSON answers only
 * (signed userinfo is refused). When `expected_sub` is not NULL the
 * answer's `sub` must equal it. *out owned by ctx->pool.
 */
oauth2_status_t oauth2_rp_userinfo(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                   const oauth2_rp_provider_t *prov,
                                   const oauth2_provider_meta_t *meta,
                                   const char *access_token,
                                   const char *expected_sub, json_t **out);

/*
 * The value at a dotted path ("sub", "login", "address.country") in
 * `claims`, as text: strings as is, integers in decimal, else NULL.
 */
const char *oauth2_rp_claim_text(apr_pool_t *p, json_t *claims,
                                 const char *path);

/*
 * RP-initiated logout URL: end_session_endpoint with id_token_hint,
 * post_logout_redirect_uri and client_id; NULL when the provider has no
 * end_session_endpoint.
 */
char *oauth2_rp_end_session_url(oauth2_ctx_t *ctx,
                                const oauth2_rp_provider_t *prov,
                                const oauth2_provider_meta_t *meta,
                                const char *id_token,
                                const char *post_logout_uri);

/*
 * May we redirect to `url` after login or logout? Allowed: a local path
 * ("/x?y", never "//" or "/\\"), or an absolute http(s) URL whose origin
 * equals `origin` ("https://host[:port]") or one of `allowed` (array of
 * const char * origins, may be NULL). Control characters, backslashes,
 * whitespace, non-ASCII and percent-encoded slashes, backslashes or
 * control characters are refused anywhere. 1 if allowed, else 0 with
 * ctx->err set.
 */
int oauth2_rp_return_url_ok(oauth2_ctx_t *ctx, const char *url,
                            const char *origin,
                            const apr_array_header_t *allowed);

/* ---- sessions branch: OIDC Back-Channel Logout 1.0 --------------------- */

#define OAUTH2_RP_BCL_EVENT "http://schemas.openid.net/event/backchannel-logout"
/* iat may be this much older than now (and 60 s in the future). */
#define OAUTH2_RP_BCL_MAX_AGE apr_time_from_sec(300)

/*
 * Verify a parsed JWS (`jws` from oauth2_jws_parse) with the JWKS of
 * `meta` through `cache`, as for ID tokens (asymmetric algorithms only, an
 * unknown kid refetches once). OK, DENIED, or UNAVAILABLE (JWKS down).
 */
struct oauth2_jws_t;
oauth2_status_t oauth2_rp_jws_verify(oauth2_ctx_t *ctx, oauth2_http_t *http,
                                     oauth2_rp_jwks_cache_t *cache,
                                     const oauth2_rp_provider_t *prov,
                                     const oauth2_provider_meta_t *meta,
                                     const struct oauth2_jws_t *jws);

/*
 * The `iss` of a logout token, NOT verified: only to choose the provider
 * whose keys then verify it. NULL (ctx->err set) when it does not parse.
 */
const char *oauth2_rp_logout_token_iss(oauth2_ctx_t *ctx, const char *token);

/*
 * Validate a logout token (Back-Channel Logout 1.0 section 2.6): JWS
 * signature with the provider's JWKS, typ absent or logout+jwt, iss the
 * provider's, aud contains client_id, iat within OAUTH2_RP_BCL_MAX_AGE
 * (60 s skew), exp (when present) not passed, `events` holding the
 * back-channel-logout member (an object), sub or sid present (strings),
 * no nonce, jti present. OK with *claims (owned by ctx->pool); DENIED with
 * the reason in ctx->err; UNAVAILABLE when the JWKS cannot be fetched.
 * jti single use is the caller's (it needs the shared store).
 */
oauth2_status_t oauth2_rp_logout_token_validate(
    oauth2_ctx_t *ctx, oauth2_http_t *http, oauth2_rp_jwks_cache_t *cache,
    const oauth2_rp_provider_t *prov, const oauth2_provider_meta_t *meta,
    const char *token, json_t **claims);

#endif /* OAUTH2_RP_H */
