/*
 * session.c - AuthType oauth2 for browsers: the per-process relying-party
 * runtime (HTTP client, discovery cache, session store), the session cookie
 * and its record in the store, check_authn (cookie -> store -> session ->
 * principal, refresh when the access token expired), the start of a login
 * (302 with a sealed login-state cookie) and 401 for non-browser clients.
 * Never decides protocol questions: those are the core's (rp.h).
 *
 * Session cookie: "<id>.<secret>", both 256-bit base64url. The store key is
 * prefix "s:" + hex SHA-256(id); the value is sealed with AES-256-GCM under
 * HKDF(passphrase, salt = secret), bound to the store key as AAD. The
 * secret never reaches the store, so a store dump yields no usable cookie
 * and no readable token.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <ap_mpm.h>
#include <http_protocol.h>
#include <openssl/crypto.h>

#include "oauth2_apache.h"
#include "oauth2/crypto.h"
#include "oauth2/reqparse.h"
#include "oauth2/session.h"
#include "oauth2/store.h"
#include "oauth2/util.h"

#define LOGIN_MAX_AGE apr_time_from_sec(600)
#define LOGIN_COOKIES_MAX 4
#define ID_BYTES 32
/* Cookie bytes we ever look at; more is refused, not parsed. */
#define COOKIES_MAX 16384

/* Per-process runtime, created in child_init; read-only afterwards. */
static oauth2_http_t *rp_http;
static oauth2_discovery_cache_t *rp_disc;
static oauth2_rp_jwks_cache_t *rp_jwks;
static apr_pool_t *rp_pchild;
static apr_thread_mutex_t *rp_store_mutex;
static apr_hash_t *rp_stores; /* store cfg * -> oauth2_store_t * (or NULL) */

/* ---- small helpers shared with handlers.c ------------------------------ */

oauth2_http_t *oauth2_ap_rp_http(void)
{
    return rp_http;
}

oauth2_rp_jwks_cache_t *oauth2_ap_rp_jwks(void)
{
    return rp_jwks;
}

static oauth2_store_t *store_for(server_rec *s);

/*
 * The store of this virtual host, created on first use in the child's
 * pool (a host that never authenticates a browser never connects). NULL
 * when OAuth2SessionStore is not set or the store cannot be built.
 */
oauth2_store_t *oauth2_ap_rp_store(request_rec *r)
{
    oauth2_store_t *st;

    if (rp_stores == NULL)
        return NULL;
    apr_thread_mutex_lock(rp_store_mutex);
    st = store_for(r->server);
    apr_thread_mutex_unlock(rp_store_mutex);
    return st;
}

const char *oauth2_ap_rp_cookie_name(request_rec *r, const char *base)
{
    return oauth2_ap_cookie_secure(oauth2_ap_srv_cfg(r->server))
               ? apr_pstrcat(r->pool, "__Host-", base, NULL)
               : base;
}

/*
 * Set (max_age > 0) or clear (max_age == 0) a cookie. HttpOnly,
 * SameSite=Lax, Path=/ always; Secure when OAuth2CookieSecure is on (the
 * default), which also makes the names carry the __Host- prefix.
 */
void oauth2_ap_rp_cookie_set(request_rec *r, const char *name,
                             const char *value, apr_interval_time_t max_age)
{
    int secure = oauth2_ap_cookie_secure(oauth2_ap_srv_cfg(r->server));

    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_psprintf(r->pool,
                                "%s=%s; Path=/; Max-Age=%" APR_TIME_T_FMT
                                "; HttpOnly; SameSite=Lax%s",
                                name, max_age > 0 ? value : "",
                                max_age > 0 ? apr_time_sec(max_age) : 0,
                                secure ? "; Secure" : ""));
}

typedef struct cookie_walk_t {
    const char *name;            /* exact name wanted, or NULL */
    const char *prefix;          /* or every cookie with this prefix */
    const char *value;           /* the match (exact), NULL if repeated */
    int seen;                    /* exact matches so far */
    apr_array_header_t *matches; /* prefix: "name=value" strings */
    apr_pool_t *pool;
} cookie_walk_t;

static int cookie_line(void *data, const char *key, const char *line)
{
    cookie_walk_t *w = data;

    (void)key;
    /* Folded Cookie headers arrive joined by ", ": split on both. */
    while (line != NULL && *line) {
        size_t n = strcspn(line, ";,");
        const char *eq = memchr(line, '=', n);
        size_t kl = eq ? (size_t)(eq - line) : n;

        if (eq != NULL && w->name != NULL && kl == strlen(w->name) &&
            strncmp(line, w->name, kl) == 0 && w->seen++ == 0)
            w->value = apr_pstrndup(w->pool, eq + 1, n - kl - 1);
        if (eq != NULL && w->prefix != NULL &&
            strncmp(line, w->prefix, strlen(w->prefix)) == 0 &&
            kl > strlen(w->prefix))
            APR_ARRAY_PUSH(w->matches, const char *) =
                apr_pstrndup(w->pool, line, n);
        line += n;
        line += strspn(line, ";, \t");
    }
    return 1;
}

static int cookie_len(void *data, const char *key, const char *line)
{
    (void)key;
    *(apr_size_t *)data += strlen(line);
    return 1;
}

int oauth2_ap_rp_cookies_too_big(request_rec *r)
{
    apr_size_t n = 0;

    apr_table_do(cookie_len, &n, r->headers_in, "Cookie", NULL);
    return n > COOKIES_MAX;
}

/*
 * The value of cookie `name`, or NULL when it is absent, when the Cookie
 * headers are oversized, or when the name is there more than once: of two
 * values neither can be trusted (one may be planted, e.g. by a sibling
 * domain), so the request counts as carrying none.
 */
const char *oauth2_ap_rp_cookie_get(request_rec *r, const char *name)
{
    cookie_walk_t w = {name, NULL, NULL, 0, NULL, r->pool};

    if (oauth2_ap_rp_cookies_too_big(r))
        return NULL;
    apr_table_do(cookie_line, &w, r->headers_in, "Cookie", NULL);
    if (w.seen > 1) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00660) "cookie %s sent %d times: ignored",
                      name, w.seen);
        return NULL;
    }
    return w.value;
}

/* Every cookie whose name starts with `prefix`, as "name=value". */
apr_array_header_t *oauth2_ap_rp_cookies_prefixed(request_rec *r,
                                                  const char *prefix)
{
    cookie_walk_t w = {NULL, prefix, NULL, 0, NULL, r->pool};

    w.matches = apr_array_make(r->pool, 4, sizeof(const char *));
    if (oauth2_ap_rp_cookies_too_big(r))
        return w.matches;
    apr_table_do(cookie_line, &w, r->headers_in, "Cookie", NULL);
    return w.matches;
}

/*
 * A generated page: every value HTML-escaped, no script or style possible
 * (Content-Security-Policy: default-src 'none'), never cached; a 503 says
 * Retry-After. Returns
 * `status` for the hook to return.
 */
void oauth2_ap_rp_page_headers(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "Content-Security-Policy",
                   "default-src 'none'");
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
}

/*
 * The body is ours (ap_custom_response), so no ErrorDocument runs: an
 * ErrorDocument pointing into a protected location would otherwise be
 * served by an internal redirect that inherits this request's config.
 */
int oauth2_ap_rp_page(request_rec *r, int status, const char *title,
                      const char *text)
{
    const char *t = ap_escape_html(r->pool, title);

    oauth2_ap_rp_page_headers(r);
    /* redisha: a dependency is down; clients (XHR, APIs) may retry. */
    if (status == HTTP_SERVICE_UNAVAILABLE)
        apr_table_setn(r->err_headers_out, "Retry-After", "5");
    ap_custom_response(r, status,
                       apr_pstrcat(r->pool,
                                   "<!DOCTYPE html><html><head><title>", t,
                                   "</title></head><body><h1>", t, "</h1><p>",
                                   ap_escape_html(r->pool, text),
                                   "</p></body></html>\n", NULL));
    return status;
}

/*
 * scheme://host[:port] of this virtual host from its configuration
 * (ServerName and the listening port), never from the client's Host.
 */
static const char *canonical_origin(request_rec *r)
{
    const char *scheme = ap_http_scheme(r);
    apr_port_t port =
        r->server->port ? r->server->port : r->connection->local_addr->port;
    int dflt = (strcmp(scheme, "https") == 0 && port == 443) ||
               (strcmp(scheme, "http") == 0 && port == 80);

    if (dflt)
        return apr_pstrcat(r->pool, scheme, "://", r->server->server_hostname,
                           NULL);
    return apr_psprintf(r->pool, "%s://%s:%u", scheme,
                        r->server->server_hostname, (unsigned)port);
}

/* The first value of a forwarded header, if it is a plain token. */
static const char *forwarded(request_rec *r, const char *name,
                             const char *extra)
{
    const char *v = apr_table_get(r->headers_in, name), *c;
    char *first;

    if (v == NULL)
        return NULL;
    first = apr_pstrndup(r->pool, v, strcspn(v, ", "));
    if (*first == '\0')
        return NULL;
    for (c = first; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '.' && !strchr(extra, *c))
            return NULL;
    }
    return first;
}

/*
 * The origin absolute URLs are built on: the configured one, or with
 * OAuth2TrustForwardedHeaders On, X-Forwarded-Proto/-Host from the proxy
 * (well-formed values only; anything odd falls back to the configuration).
 */
const char *oauth2_ap_rp_origin(request_rec *r)
{
    const char *proto, *host;

    if (!oauth2_ap_rp_trust_forwarded(r->server))
        return canonical_origin(r);
    proto = forwarded(r, "X-Forwarded-Proto", "");
    host = forwarded(r, "X-Forwarded-Host", ":[]");
    if (proto != NULL && strcasecmp(proto, "https") != 0 &&
        strcasecmp(proto, "http") != 0)
        proto = NULL;
    if (host == NULL)
        return canonical_origin(r);
    return apr_pstrcat(r->pool,
                       proto ? apr_pstrdup(r->pool, proto) : ap_http_scheme(r),
                       "://", host, NULL);
}

const char *oauth2_ap_rp_redirect_uri(request_rec *r)
{
    const char *v = oauth2_ap_rp_srv_get(r->server)->redirect_uri;

    if (v == NULL)
        return NULL;
    return v[0] == '/' ? apr_pstrcat(r->pool, oauth2_ap_rp_origin(r), v, NULL)
                       : v;
}

/* The effective metadata of `ap`: discovery (cached) + configured. */
oauth2_status_t oauth2_ap_rp_meta(request_rec *r, oauth2_ctx_t *ctx,
                                  const oauth2_ap_provider_t *ap,
                                  oauth2_provider_meta_t **out)
{
    oauth2_provider_meta_t *d = NULL;
    oauth2_status_t rc;

    if (ap->rp.discovery_url != NULL) {
        rc = oauth2_discovery_get(ctx, rp_disc, rp_http, ap->rp.discovery_url,
                                  ap->rp.meta.issuer, ap->discovery_ttl, &d);
        if (rc != OAUTH2_OK)
            return rc;
    }
    *out = oauth2_rp_meta_merge(ctx, &ap->rp, d);
    return OAUTH2_OK;
}

/* ---- the session record (core session.h) ------------------------------ */

static oauth2_crypto_keyring_t ring_of(request_rec *r)
{
    const oauth2_ap_srv_cfg_t *c = oauth2_ap_srv_cfg(r->server);
    oauth2_crypto_keyring_t ring = {oauth2_ap_passphrase(c),
                                    oauth2_ap_passphrase_previous(c)};

    return ring;
}

/*
 * Sessions never cross virtual hosts: the namespace is the vhost's
 * configured origin (scheme, ServerName and the port it answers on), so
 * two hosts sharing a store and a passphrase still see separate sessions.
 */
const char *oauth2_ap_rp_session_ns(request_rec *r)
{
    const char *ns = oauth2_ap_rp_srv_get(r->server)->session_ns;

    return ns != NULL ? apr_pstrcat(r->pool, "ns:", ns, NULL)
                      : canonical_origin(r);
}

/* Store TTL: the inactivity timeout, cut at the absolute maximum. */
static apr_interval_time_t ttl_of(request_rec *r, const oauth2_session_t *s)
{
    const oauth2_ap_srv_cfg_t *c = oauth2_ap_srv_cfg(r->server);
    apr_interval_time_t idle = oauth2_ap_session_inactivity(c);
    apr_interval_time_t left =
        s->created + oauth2_ap_session_max(c) - r->request_time;

    return left < idle ? left : idle;
}

/*
 * Write the session (sliding its inactivity window). OK, or UNAVAILABLE /
 * ERROR from the store or crypto: the caller must then not hand out a
 * cookie. DENIED when the session is past its maximum age.
 */
oauth2_status_t oauth2_ap_rp_session_save(request_rec *r, oauth2_ctx_t *ctx,
                                          oauth2_session_t *s)
{
    oauth2_crypto_keyring_t ring = ring_of(r);
    oauth2_store_t *st = oauth2_ap_rp_store(r);
    apr_interval_time_t ttl = ttl_of(r, s);
    const oauth2_ap_srv_cfg_t *c = oauth2_ap_srv_cfg(r->server);
    oauth2_status_t rc;

    if (st == NULL || ring.current == NULL) {
        oauth2_err_set(ctx, "OAuth2SessionStore or OAuth2Passphrase not set");
        return OAUTH2_ERROR;
    }
    if (ttl <= 0) {
        oauth2_err_set(ctx, "session past its maximum age");
        return OAUTH2_DENIED;
    }
    rc = oauth2_session_save(ctx, st, &ring, s, ttl);
    /* sessions branch: listed by sub and sid for logout and the admin. */
    if (rc == OAUTH2_OK && s->sub != NULL)
        rc = oauth2_session_index(ctx, st, oauth2_ap_rp_session_ns(r), s,
                                  oauth2_ap_session_max(c));
    return rc;
}

/*
 * Load the session the request's cookie names. NOT_FOUND when there is no
 * cookie or no record, DENIED when the cookie is malformed, the record does
 * not open or is past a timeout, UNAVAILABLE when the store is down.
 */
oauth2_status_t oauth2_ap_rp_session_load(request_rec *r, oauth2_ctx_t *ctx,
                                          oauth2_session_t **out)
{
    const oauth2_ap_srv_cfg_t *c = oauth2_ap_srv_cfg(r->server);
    oauth2_crypto_keyring_t ring = ring_of(r);
    oauth2_store_t *st = oauth2_ap_rp_store(r);
    const char *v = oauth2_ap_rp_cookie_get(
        r, oauth2_ap_rp_cookie_name(r, "oauth2_session"));

    if (v == NULL)
        return OAUTH2_NOT_FOUND;
    if (st == NULL || ring.current == NULL) {
        oauth2_err_set(ctx, "OAuth2SessionStore or OAuth2Passphrase not set");
        return OAUTH2_ERROR;
    }
    return oauth2_session_load(ctx, st, &ring, oauth2_ap_rp_session_ns(r), v,
                               oauth2_ap_session_inactivity(c),
                               oauth2_ap_session_max(c), out);
}

oauth2_status_t oauth2_ap_rp_session_delete(request_rec *r, oauth2_ctx_t *ctx,
                                            const oauth2_session_t *s)
{
    oauth2_store_t *st = oauth2_ap_rp_store(r);

    if (st == NULL)
        return OAUTH2_ERROR;
    return oauth2_session_destroy(ctx, st, s);
}

/* A fresh id and secret: a new session at every login (no fixation). */
oauth2_status_t oauth2_ap_rp_session_new(request_rec *r, oauth2_ctx_t *ctx,
                                         oauth2_session_t **out)
{
    return oauth2_session_new(ctx, oauth2_ap_rp_session_ns(r), out);
}

void oauth2_ap_rp_session_cookie(request_rec *r, oauth2_ctx_t *ctx,
                                 const oauth2_session_t *s)
{
    /* The store TTL rules; the cookie outlives it at most by the maximum. */
    oauth2_ap_rp_cookie_set(
        r, oauth2_ap_rp_cookie_name(r, "oauth2_session"),
        oauth2_session_cookie_value(ctx, s),
        oauth2_ap_session_max(oauth2_ap_srv_cfg(r->server)));
}

/* The user name of a session: the provider's identity claim. */
static const char *claim_user(request_rec *r, const oauth2_ap_provider_t *ap,
                              json_t *claims)
{
    return oauth2_rp_claim_text(r->pool, claims,
                                ap->rp.user_claim ? ap->rp.user_claim : "sub");
}

/*
 * The session principal for r's location (AuthType oauth2): only one its
 * OAuth2Login provider established, so a subrequest into a location of
 * another provider never takes the main request's. NULL otherwise.
 */
const oauth2_principal_t *oauth2_ap_rp_principal(request_rec *r)
{
    const oauth2_ap_rp_dir_t *d = oauth2_ap_rp_dir_get(r);
    const oauth2_ap_provider_t *ap = oauth2_ap_rp_provider(r->server, d->login);

    return ap != NULL ? oauth2_ap_principal_from(r, ap) : NULL;
}

const char *oauth2_ap_rp_session_user(request_rec *r,
                                      const oauth2_ap_provider_t *ap,
                                      const oauth2_session_t *s)
{
    return claim_user(r, ap, s->claims);
}

/* ---- login start ------------------------------------------------------- */

/* Open a login-state cookie; `name` is its AAD. */
oauth2_status_t oauth2_ap_rp_login_open(request_rec *r, oauth2_ctx_t *ctx,
                                        const char *name, const char *value,
                                        oauth2_rp_login_t **out)
{
    oauth2_crypto_keyring_t ring = ring_of(r);
    char *pt = NULL;
    size_t ptlen = 0;

    if (ring.current == NULL) {
        oauth2_err_set(ctx, "OAuth2Passphrase not set");
        return OAUTH2_ERROR;
    }
    if (oauth2_session_open_cookie(ctx, &ring, name, value, &pt, &ptlen) !=
        OAUTH2_OK)
        return OAUTH2_DENIED;
    return oauth2_rp_login_decode(ctx, pt, ptlen, LOGIN_MAX_AGE, out);
}

const char *oauth2_ap_rp_login_cookie_prefix(request_rec *r)
{
    return oauth2_ap_rp_cookie_name(r, "oauth2_login_");
}

/*
 * Keep the logins in flight under LOGIN_COOKIES_MAX - 1 before adding one:
 * drop those that no longer open, then the oldest, so request headers never
 * grow past server limits however many tabs start a login.
 */
static void cap_login_cookies(request_rec *r, oauth2_ctx_t *ctx)
{
    apr_array_header_t *all =
        oauth2_ap_rp_cookies_prefixed(r, oauth2_ap_rp_login_cookie_prefix(r));
    int i, live = all->nelts;

    while (live >= LOGIN_COOKIES_MAX) {
        int oldest = -1;
        apr_time_t oldest_t = 0;
        for (i = 0; i < all->nelts; i++) {
            const char *kv = APR_ARRAY_IDX(all, i, const char *);
            const char *eq = strchr(kv, '=');
            const char *name = apr_pstrndup(r->pool, kv, eq - kv);
            oauth2_rp_login_t *l = NULL;
            if (kv[0] == '\0')
                continue;
            if (oauth2_ap_rp_login_open(r, ctx, name, eq + 1, &l) !=
                OAUTH2_OK) {
                oldest = i; /* unreadable or expired: first to go */
                break;
            }
            if (oldest < 0 || l->created < oldest_t) {
                oldest = i;
                oldest_t = l->created;
            }
        }
        if (oldest < 0)
            break;
        {
            const char *kv = APR_ARRAY_IDX(all, oldest, const char *);
            oauth2_ap_rp_cookie_set(
                r, apr_pstrndup(r->pool, kv, strchr(kv, '=') - kv), NULL, 0);
            APR_ARRAY_IDX(all, oldest, const char *) = "";
        }
        live--;
    }
}

/* 302 to the provider with a fresh login-state cookie. */
int oauth2_ap_rp_login_start(request_rec *r, oauth2_ctx_t *ctx,
                             const oauth2_ap_provider_t *ap, const char *ret,
                             const apr_table_t *params)
{
    oauth2_crypto_keyring_t ring = ring_of(r);
    oauth2_provider_meta_t *meta = NULL;
    oauth2_rp_login_t *l = NULL;
    const char *url = NULL, *name, *json, *tag;
    const char *redirect_uri = oauth2_ap_rp_redirect_uri(r);
    char *sealed = NULL;
    oauth2_status_t rc;

    if (redirect_uri == NULL || ring.current == NULL)
        return oauth2_ap_rp_page(r, HTTP_INTERNAL_SERVER_ERROR,
                                 "Sign-in is not configured",
                                 "OAuth2RedirectURI or OAuth2Passphrase is "
                                 "missing.");
    rc = oauth2_ap_rp_meta(r, ctx, ap, &meta);
    if (rc != OAUTH2_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00741) "provider %s unavailable: %s",
                      ap->rp.name, ctx->err.text);
        oauth2_ap_metrics_signin_failed(r, "provider_unavailable");
        return oauth2_ap_rp_page(r, HTTP_SERVICE_UNAVAILABLE,
                                 "Sign-in unavailable",
                                 "The identity provider cannot be reached. "
                                 "Please try again later.");
    }
    if (!oauth2_rp_return_url_ok(ctx, ret, oauth2_ap_rp_origin(r),
                                 oauth2_ap_rp_srv_get(r->server)->return_allow))
        ret = "/";
    rc = oauth2_rp_login_start_ex(ctx, &ap->rp, meta, redirect_uri, ret, params,
                                  &l, &url);
    json = rc == OAUTH2_OK ? oauth2_rp_login_encode(ctx, l) : NULL;
    tag = l ? oauth2_rp_state_tag(r->pool, l->state) : NULL;
    name = tag ? apr_pstrcat(r->pool, oauth2_ap_rp_login_cookie_prefix(r), tag,
                             NULL)
               : NULL;
    if (json == NULL || name == NULL ||
        oauth2_session_seal_cookie(ctx, &ring, name, json, strlen(json),
                                   r->request_time + LOGIN_MAX_AGE,
                                   &sealed) != OAUTH2_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00742) "cannot start a login: %s",
                      ctx->err.text);
        return oauth2_ap_rp_page(r, HTTP_INTERNAL_SERVER_ERROR,
                                 "Sign-in failed", "Internal error.");
    }
    cap_login_cookies(r, ctx);
    oauth2_ap_rp_cookie_set(r, name, sealed, LOGIN_MAX_AGE);
    oauth2_ap_rp_page_headers(r);
    apr_table_setn(r->headers_out, "Location", url);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  OAUTH2_LOGNO(00743) "login started at %s", ap->rp.name);
    oauth2_ap_metrics_signin_started(r, ap->rp.name);
    return HTTP_MOVED_TEMPORARILY;
}

/* Browsers navigating get a login; scripts and API clients get 401. */
static int is_browser(request_rec *r)
{
    const char *xrw = apr_table_get(r->headers_in, "X-Requested-With");
    const char *sfm = apr_table_get(r->headers_in, "Sec-Fetch-Mode");
    const char *acc = apr_table_get(r->headers_in, "Accept");

    if (r->method_number != M_GET)
        return 0;
    if (xrw != NULL && strcasecmp(xrw, "XMLHttpRequest") == 0)
        return 0;
    if (sfm != NULL && strcasecmp(sfm, "cors") == 0)
        return 0;
    if (acc != NULL && ap_strcasestr(acc, "application/json") != NULL &&
        ap_strcasestr(acc, "text/html") == NULL)
        return 0;
    return 1;
}

static int unauthenticated(request_rec *r, oauth2_ctx_t *ctx,
                           const oauth2_ap_provider_t *ap)
{
    if (is_browser(r))
        return oauth2_ap_rp_login_start(r, ctx, ap, r->unparsed_uri, NULL);
    apr_table_setn(r->err_headers_out, "WWW-Authenticate",
                   apr_psprintf(r->pool, "OAuth2 realm=\"%s\"", ap->rp.name));
    return oauth2_ap_rp_page(r, HTTP_UNAUTHORIZED, "Sign-in required",
                             "This resource needs a signed-in browser.");
}

/* ---- refresh ----------------------------------------------------------- */

#define REFRESH_LOCK_TTL apr_time_from_sec(15)
#define REFRESH_WAIT apr_time_from_sec(5)
#define REFRESH_POLL apr_time_from_msec(100)

/* The token refresh itself, by the request that holds the lock. */
static oauth2_status_t do_refresh(request_rec *r, oauth2_ctx_t *ctx,
                                  const oauth2_ap_provider_t *ap,
                                  oauth2_session_t *s, int *store_down)
{
    oauth2_provider_meta_t *meta = NULL;
    oauth2_rp_tokens_t *t = NULL;
    oauth2_status_t rc;

    rc = oauth2_ap_rp_meta(r, ctx, ap, &meta);
    if (rc == OAUTH2_OK)
        rc = oauth2_rp_refresh(ctx, rp_http, &ap->rp, meta, s->refresh_token,
                               &t);
    if (rc != OAUTH2_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00744) "refresh at %s failed: %s",
                      ap->rp.name, ctx->err.text);
        return rc;
    }
    s->access_token = t->access_token;
    if (t->refresh_token != NULL)
        s->refresh_token = t->refresh_token;
    s->expires_at = t->expires;
    rc = oauth2_ap_rp_session_save(r, ctx, s);
    *store_down = rc == OAUTH2_UNAVAILABLE;
    return rc;
}

/*
 * Another request (any process, any node) holds the refresh lock: re-read
 * the session until it carries a fresh token, never refreshing ourselves.
 * NOT_FOUND when the winner's refresh failed (it deleted the session);
 * UNAVAILABLE when it takes longer than REFRESH_WAIT.
 */
static oauth2_status_t wait_refresh(request_rec *r, oauth2_ctx_t *ctx,
                                    oauth2_session_t **sp, int *store_down)
{
    apr_time_t until = apr_time_now() + REFRESH_WAIT;
    oauth2_session_t *again = NULL;
    oauth2_status_t rc;

    while (apr_time_now() < until) {
        apr_sleep(REFRESH_POLL);
        rc = oauth2_ap_rp_session_load(r, ctx, &again);
        if (rc != OAUTH2_OK) {
            *store_down = rc == OAUTH2_UNAVAILABLE;
            return rc;
        }
        if (again->expires_at > r->request_time) {
            *sp = again;
            return OAUTH2_OK;
        }
    }
    oauth2_err_set(ctx, "refresh by another request did not finish in time");
    *store_down = 1;
    return OAUTH2_UNAVAILABLE;
}

/*
 * Refresh an expired access token once per session even under parallel
 * requests on several processes and nodes: a short lock in the shared store
 * (set-if-absent on a key derived from the session key) elects one request;
 * the others wait for its result and re-read the session. The record is
 * re-read after taking the lock, so a request that lost an earlier race
 * uses the token another one already fetched.
 */
static oauth2_status_t refresh(request_rec *r, oauth2_ctx_t *ctx,
                               const oauth2_ap_provider_t *ap,
                               oauth2_session_t **sp, int *store_down)
{
    oauth2_store_t *st = oauth2_ap_rp_store(r);
    oauth2_session_t *again = NULL;
    oauth2_status_t rc;
    int held = 0;

    if (st == NULL)
        return OAUTH2_ERROR;
    rc = oauth2_session_lock(ctx, st, *sp, "refresh", REFRESH_LOCK_TTL, &held);
    if (rc != OAUTH2_OK) {
        *store_down = rc == OAUTH2_UNAVAILABLE;
        return rc;
    }
    if (!held) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      OAUTH2_LOGNO(00783) "refresh in progress elsewhere, "
                                          "waiting");
        return wait_refresh(r, ctx, sp, store_down);
    }
    rc = oauth2_ap_rp_session_load(r, ctx, &again);
    if (rc != OAUTH2_OK)
        *store_down = rc == OAUTH2_UNAVAILABLE;
    else if (again->expires_at > r->request_time)
        *sp = again; /* refreshed by someone else meanwhile */
    else if ((rc = do_refresh(r, ctx, ap, again, store_down)) == OAUTH2_OK)
        *sp = again;
    oauth2_session_unlock(ctx, st, *sp, "refresh");
    return rc;
}

/* ---- check_authn ------------------------------------------------------- */

static void set_principal(request_rec *r, oauth2_ctx_t *ctx,
                          const oauth2_ap_provider_t *ap, oauth2_session_t *s)
{
    oauth2_principal_t *p = apr_pcalloc(ctx->pool, sizeof(*p));

    p->type = OAUTH2_PRINCIPAL_SESSION;
    p->sub = oauth2_json_str(s->claims, "sub");
    p->issuer = oauth2_json_str(s->claims, "iss");
    p->client_id = ap->rp.client_id;
    p->claims = s->claims;
    p->exports = s->exports;
    p->scopes = apr_array_make(ctx->pool, 1, sizeof(const char *));
    p->access_token = s->access_token;
    p->provider = s->provider;
    p->expires = s->expires_at;
    r->user = (char *)oauth2_ap_rp_session_user(r, ap, s);
    if (r->user == NULL)
        r->user = "";
    r->ap_auth_type = "oauth2";
    oauth2_ap_principal_set(r, p, ap);
}

/*
 * How stale last_access may get before a request rewrites the session: an
 * eighth of the inactivity timeout, at most a minute. The effective idle
 * limit is thus between 7/8 and all of the configured one.
 */
static apr_interval_time_t touch_every(request_rec *r)
{
    apr_interval_time_t idle =
        oauth2_ap_session_inactivity(oauth2_ap_srv_cfg(r->server));

    return idle / 8 < apr_time_from_sec(60) ? idle / 8 : apr_time_from_sec(60);
}

/* A session that exists: expiry, refresh, sliding TTL, principal. */
static int session_ok(request_rec *r, oauth2_ctx_t *ctx,
                      const oauth2_ap_provider_t *ap, oauth2_session_t *s)
{
    oauth2_status_t rc;
    int store_down = 0;

    if (s->expires_at > 0 && s->expires_at <= r->request_time &&
        s->refresh_token != NULL) {
        rc = refresh(r, ctx, ap, &s, &store_down);
        if (store_down)
            goto down;
        if (rc != OAUTH2_OK) {
            oauth2_ap_rp_session_delete(r, ctx, s);
            oauth2_ap_rp_cookie_set(
                r, oauth2_ap_rp_cookie_name(r, "oauth2_session"), NULL, 0);
            return unauthenticated(r, ctx, ap);
        }
    }
    else if (r->request_time - s->last_access >= touch_every(r)) {
        /* Slide the inactivity window, not on every request. */
        rc = oauth2_ap_rp_session_save(r, ctx, s);
        if (rc == OAUTH2_UNAVAILABLE)
            goto down;
    }
    set_principal(r, ctx, ap, s);
    return OK;
down:
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  OAUTH2_LOGNO(00745) "session store unavailable: %s",
                  ctx->err.text);
    return oauth2_ap_rp_page(r, HTTP_SERVICE_UNAVAILABLE, "Service unavailable",
                             "The session store cannot be reached. Please "
                             "try again later.");
}

static int check_authn(request_rec *r)
{
    const char *type = ap_auth_type(r);
    const oauth2_ap_rp_dir_t *d;
    const oauth2_ap_provider_t *ap;
    const oauth2_principal_t *p;
    oauth2_session_t *s = NULL;
    const char *user;
    oauth2_ctx_t *ctx;
    oauth2_status_t rc;

    if (type == NULL || strcasecmp(type, "oauth2") != 0)
        return DECLINED;
    d = oauth2_ap_rp_dir_get(r);
    ap = oauth2_ap_rp_provider(r->server, d->login);
    if (ap == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00746) "AuthType oauth2 without a known "
                                          "OAuth2Login provider (%s)",
                      d->login ? d->login : "unset");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (r->main != NULL && (p = oauth2_ap_principal_from(r, ap)) != NULL) {
        /* The main request or an earlier subrequest signed in with this
         * provider. The user is this provider's, never r->main->user:
         * the main request may not have signed in, or signed in otherwise. */
        if ((user = claim_user(r, ap, p->claims)) == NULL)
            user = "";
        r->user = (char *)user;
        r->ap_auth_type = "oauth2";
        return OK;
    }
    ctx = oauth2_ap_request_ctx(r);
    /* The principal is kept for the main request and all its subrequests:
     * one that signs in first must not leave it (session, claims) in its
     * own pool, which dies before the next include asks for it. */
    ctx->pool = oauth2_ap_main_of(r)->pool;
    if (oauth2_ap_rp_cookies_too_big(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00661) "Cookie headers over the limit: "
                                          "refused");
        return oauth2_ap_rp_page(r, HTTP_BAD_REQUEST, "Bad request",
                                 "The request carries too many cookies.");
    }
    rc = oauth2_ap_rp_session_load(r, ctx, &s);
    if (rc == OAUTH2_OK && strcmp(s->provider, ap->rp.name) == 0)
        return session_ok(r, ctx, ap, s);
    if (rc == OAUTH2_UNAVAILABLE || rc == OAUTH2_ERROR) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00747) "session lookup failed (%s): %s",
                      oauth2_status_str(rc), ctx->err.text);
        return rc == OAUTH2_ERROR
                   ? HTTP_INTERNAL_SERVER_ERROR
                   : oauth2_ap_rp_page(r, HTTP_SERVICE_UNAVAILABLE,
                                       "Service unavailable",
                                       "The session store cannot be reached. "
                                       "Please try again later.");
    }
    if (rc == OAUTH2_DENIED)
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      OAUTH2_LOGNO(00748) "session cookie refused: %s",
                      ctx->err.text);
    return unauthenticated(r, ctx, ap);
}

/* ---- process runtime --------------------------------------------------- */

/* Marks a store that could not be built, so it is reported once. */
static oauth2_store_t no_store;

/*
 * Idle Redis connections kept per process when pool= is not given: one per
 * worker thread, so a busy child never closes a connection on check-in only
 * to open a new one for the next request (16 under mpm_event's 25 threads
 * opened ~90 connections per second of load).
 */
static int pool_default(void)
{
    int threads = 0;

    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS ||
        threads < 1)
        threads = 1; /* prefork: one request at a time per process */
    return threads > 1024 ? 1024 : threads;
}

/* Called with rp_store_mutex held. Failures are remembered (no_store). */
static oauth2_store_t *store_for(server_rec *s)
{
    const oauth2_ap_store_cfg_t *sc =
        oauth2_ap_session_store(oauth2_ap_srv_cfg(s));
    oauth2_store_opts_t o = {0};
    oauth2_store_t *st = NULL;
    oauth2_ctx_t *ctx;
    apr_pool_t *tmp;

    if (sc == NULL)
        return NULL;
    st = apr_hash_get(rp_stores, &sc, sizeof(void *));
    if (st != NULL)
        return st == &no_store ? NULL : st;
    /* Log lines of the attempt go to a scratch pool, not the child's. */
    apr_pool_create(&tmp, rp_pchild);
    ctx = oauth2_ap_server_ctx(s, tmp);
    if (sc->opts != NULL) {
        o.prefix = sc->opts->prefix;
        o.connect_timeout = sc->opts->connect_timeout;
        o.command_timeout = sc->opts->timeout;
        o.max_idle = sc->opts->pool;
        o.cache_slots = sc->opts->cache;
    }
    if (o.max_idle == 0)
        o.max_idle = pool_default();
    if (oauth2_store_create(ctx, rp_pchild, sc->url, &o, &st) != OAUTH2_OK) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     OAUTH2_LOGNO(00749) "session store: %s", ctx->err.text);
        st = &no_store;
    }
    apr_pool_destroy(tmp);
    apr_hash_set(rp_stores, apr_pmemdup(rp_pchild, &sc, sizeof(void *)),
                 sizeof(void *), st);
    return st == &no_store ? NULL : st;
}

static void child_init(apr_pool_t *p, server_rec *s)
{
    (void)s;
    rp_pchild = p;
    rp_http = oauth2_http_curl_create(p, NULL);
    rp_disc = oauth2_discovery_cache_create(p, 64);
    rp_jwks = oauth2_rp_jwks_cache_create(p);
    apr_thread_mutex_create(&rp_store_mutex, APR_THREAD_MUTEX_DEFAULT, p);
    rp_stores = apr_hash_make(p);
}

static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    (void)plog;
    (void)ptemp;
    (void)pconf;
    (void)s;
    return oauth2_http_global_init() == OAUTH2_OK ? OK : !OK;
}

void oauth2_ap_rp_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_check_config(oauth2_ap_rp_check_config, NULL, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_authn(check_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    oauth2_ap_rp_handlers_register_hooks(p);
}
