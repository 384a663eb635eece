/*
 * oauth2_apache.h - declarations private to the Apache adapter: the config
 * records, their getters, the command table and the log/ctx bridge. The
 * apache/ files are the only ones that include httpd headers.
 *
 * Adding a feature: put its fields in a new group of the server or dir
 * record (UNSET in create, one merge line per field in config.c, a getter
 * with the default), its handlers in directives.c or in the feature's own
 * file (declared here), its AP_INIT_* lines in the table in directives.c, and
 * its hooks in a `oauth2_ap_<feature>_register(pool)` called from
 * register_hooks in mod_oauth2.c.
 */
#ifndef OAUTH2_APACHE_H
#define OAUTH2_APACHE_H

#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_request.h>

#include "oauth2/oauth2.h"
#include "oauth2/log.h"
#include "oauth2/cfg.h"
#include "oauth2/principal.h"

APLOG_USE_MODULE(oauth2);

/* "Never set" for int and interval fields; pointers use NULL. */
#define OAUTH2_AP_UNSET (-1)

/* OAuth2Passphrase: both set together, so merged as one value. */
typedef struct oauth2_ap_passphrase_t {
    const char *current;  /* resolved secret, >= 16 bytes; never logged */
    const char *previous; /* still accepted for reading, or NULL */
} oauth2_ap_passphrase_t;

/* OAuth2SessionStore: URL and options, merged as one value. */
typedef struct oauth2_ap_store_cfg_t {
    const oauth2_store_url_t *url;
    const oauth2_cfg_store_opts_t *opts;
} oauth2_ap_store_cfg_t;

/* Per virtual host. Grouped by feature; see the getters for defaults. */
typedef struct oauth2_ap_srv_cfg_t {
    /* crypto: OAuth2Passphrase */
    const oauth2_ap_passphrase_t *passphrase; /* NULL = unset */
    /* sessions: OAuth2SessionStore, OAuth2SessionTimeout, cookies */
    const oauth2_ap_store_cfg_t *store;     /* NULL = unset */
    apr_interval_time_t session_inactivity; /* UNSET */
    apr_interval_time_t session_max;        /* UNSET */
    int cookie_secure;                      /* UNSET */
    /* relying party (provider.c): providers, redirect/logout URIs */
    struct oauth2_ap_rp_srv_t *rp;
    /* policy (policy.c): OAuth2Policy*, OAuth2ResourceMetadata */
    struct oauth2_ap_policy_srv_t *policy;
    /* sessions: OAuth2BackchannelLogoutURI (session_mgmt.c); NULL = off */
    const char *backchannel_uri;
} oauth2_ap_srv_cfg_t;

/* Per directory / location. */
typedef struct oauth2_ap_dir_cfg_t {
    /* backend: what the application behind us receives */
    const char *remote_user_claim;   /* NULL = unset */
    const char *claim_header_prefix; /* NULL = unset, "" = Off */
    /* relying party (provider.c): OAuth2Login */
    struct oauth2_ap_rp_dir_t *rp;
    /* bearer: OAuth2TokenVerify (one verifier per line), query tokens */
    apr_array_header_t *bearer_verifiers; /* of oauth2_verifier_t *; NULL */
    int bearer_query_token;               /* UNSET */
} oauth2_ap_dir_cfg_t;

/* ---- config.c: records, merge, getters, check_config ---- */
void *oauth2_ap_srv_create(apr_pool_t *p, server_rec *s);
void *oauth2_ap_srv_merge(apr_pool_t *p, void *base, void *add);
void *oauth2_ap_dir_create(apr_pool_t *p, char *dir);
void *oauth2_ap_dir_merge(apr_pool_t *p, void *base, void *add);
int oauth2_ap_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s);

oauth2_ap_srv_cfg_t *oauth2_ap_srv_cfg(const server_rec *s);
oauth2_ap_dir_cfg_t *oauth2_ap_dir_cfg(const request_rec *r);

/* Resolved passphrases or NULL when OAuth2Passphrase is not set. */
const char *oauth2_ap_passphrase(const oauth2_ap_srv_cfg_t *c);
const char *oauth2_ap_passphrase_previous(const oauth2_ap_srv_cfg_t *c);
/* The configured store or NULL (no sessions possible). */
const oauth2_ap_store_cfg_t *
oauth2_ap_session_store(const oauth2_ap_srv_cfg_t *c);
apr_interval_time_t oauth2_ap_session_inactivity(const oauth2_ap_srv_cfg_t *c);
apr_interval_time_t oauth2_ap_session_max(const oauth2_ap_srv_cfg_t *c);
int oauth2_ap_cookie_secure(const oauth2_ap_srv_cfg_t *c);
const char *oauth2_ap_remote_user_claim(const oauth2_ap_dir_cfg_t *c);
/* The header prefix, or NULL: no claim headers. */
const char *oauth2_ap_claim_header_prefix(const oauth2_ap_dir_cfg_t *c);

/* ---- directives.c ---- */
extern const command_rec oauth2_ap_cmds[];

/* ---- log.c: core log lines into the error log ---- */

/*
 * A context for core calls made for `r`: results in r->pool, lines at the
 * request's oauth2 LogLevel via ap_log_rerror, now = r->request_time.
 * A fresh context (and error buffer) on each call, in r->pool.
 */
oauth2_ctx_t *oauth2_ap_request_ctx(request_rec *r);

/*
 * A context for config-time and process-wide calls: results in `p`, lines
 * via ap_log_error on `s` at its oauth2 LogLevel, now = apr_time_now().
 */
oauth2_ctx_t *oauth2_ap_server_ctx(server_rec *s, apr_pool_t *p);

/* ---- request.c: per-request state on the main request (bearer) ---- */
request_rec *oauth2_ap_main_of(request_rec *r);
/* `src` lives in `pool`: forget what it established when that pool goes
 * before the main request's (request.c). */
void oauth2_ap_src_pool(request_rec *r, const void *src, apr_pool_t *pool);
void oauth2_ap_principal_set(request_rec *r, const oauth2_principal_t *p,
                             const void *src);
const oauth2_principal_t *oauth2_ap_principal_get(request_rec *r);
const oauth2_principal_t *oauth2_ap_principal_from(request_rec *r,
                                                   const void *src);
void oauth2_ap_wanted_scope_add(request_rec *r, const char *scopes);
const char *oauth2_ap_wanted_scope_get(request_rec *r);
int oauth2_ap_auth_result_remember(request_rec *r, const void *src, int rc);
int oauth2_ap_auth_result_get(request_rec *r, const void *src, int *rc);

/* ---- backend.c: strip client copies, export the principal (bearer) ---- */
typedef struct oauth2_ap_backend_cfg_t {
    const char *remote_user_claim; /* NULL: "sub" */
    const char *header_prefix;     /* NULL/"": no claim headers */
    const char *token_header;      /* NULL: the token is not forwarded */
} oauth2_ap_backend_cfg_t;

void oauth2_ap_backend_cfg_get(request_rec *r, oauth2_ap_backend_cfg_t *bc);
void oauth2_ap_backend_strip(request_rec *r, const oauth2_ap_backend_cfg_t *bc);
void oauth2_ap_backend_set_user(request_rec *r,
                                const oauth2_ap_backend_cfg_t *bc,
                                const oauth2_principal_t *p);
void oauth2_ap_backend_export(request_rec *r, const oauth2_ap_backend_cfg_t *bc,
                              const oauth2_principal_t *p);
void oauth2_ap_backend_register_hooks(apr_pool_t *p);

/* ---- provider.c, session.c, handlers.c: relying party (rp) ---- */
#include "oauth2/rp.h"

/* One OAuth2Provider: the core description plus adapter settings. */
typedef struct oauth2_ap_provider_t {
    oauth2_rp_provider_t rp;
    apr_interval_time_t discovery_ttl;
    const char *config_file; /* where it was defined, for messages */
    int config_line;
} oauth2_ap_provider_t;

/* Server-level rp settings (a sub-struct of the server config). */
typedef struct oauth2_ap_rp_srv_t {
    apr_hash_t *providers;    /* name -> oauth2_ap_provider_t * */
    const char *redirect_uri; /* OAuth2RedirectURI: path or absolute URL */
    const char *logout_uri;   /* OAuth2LogoutURI: path */
    apr_array_header_t *return_allow; /* OAuth2ReturnAllow origins */
    /* OAuth2Login lines of this host's sections, checked at configtest
       (of oauth2_ap_rp_login_use_t; this host's own, never merged) */
    apr_array_header_t *logins;
    const char *login_uri;  /* OAuth2LoginURI: path; NULL = unset (hardening) */
    int trust_forwarded;    /* OAuth2TrustForwardedHeaders; UNSET = Off */
    const char *session_ns; /* OAuth2SessionNamespace; NULL = origin */
} oauth2_ap_rp_srv_t;

/* Directory-level rp settings. */
typedef struct oauth2_ap_rp_dir_t {
    const char *login;        /* OAuth2Login provider name; NULL = unset */
    const char *token_header; /* OAuth2AccessTokenHeader; NULL = unset,
                                 "" = Off */
} oauth2_ap_rp_dir_t;

void *oauth2_ap_rp_srv_create(apr_pool_t *p);
void *oauth2_ap_rp_srv_merge(apr_pool_t *p, void *base, void *add);
void *oauth2_ap_rp_dir_create(apr_pool_t *p);
void *oauth2_ap_rp_dir_merge(apr_pool_t *p, void *base, void *add);
oauth2_ap_rp_srv_t *oauth2_ap_rp_srv_get(server_rec *s);
oauth2_ap_rp_dir_t *oauth2_ap_rp_dir_get(request_rec *r);
oauth2_ap_rp_dir_t *oauth2_ap_rp_dir_of(void *dir_cfg);
const oauth2_ap_provider_t *oauth2_ap_rp_provider(server_rec *s,
                                                  const char *name);
const char *oauth2_ap_rp_cmd_provider(cmd_parms *cmd, void *dc, int argc,
                                      char *const argv[]);
const char *oauth2_ap_rp_cmd_login(cmd_parms *cmd, void *dc, const char *v);
const char *oauth2_ap_rp_cmd_token_header(cmd_parms *cmd, void *dc,
                                          const char *v);
/* The OAuth2AccessTokenHeader in effect, or NULL (not forwarded). */
const char *oauth2_ap_rp_token_header(request_rec *r);
const char *oauth2_ap_rp_cmd_redirect_uri(cmd_parms *cmd, void *dc,
                                          const char *v);
const char *oauth2_ap_rp_cmd_logout_uri(cmd_parms *cmd, void *dc,
                                        const char *v);
const char *oauth2_ap_rp_cmd_return_allow(cmd_parms *cmd, void *dc,
                                          const char *v);
int oauth2_ap_rp_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s);
void oauth2_ap_rp_register_hooks(apr_pool_t *p);
void oauth2_ap_rp_handlers_register_hooks(apr_pool_t *p);

#include "oauth2/session.h"

oauth2_http_t *oauth2_ap_rp_http(void);
oauth2_rp_jwks_cache_t *oauth2_ap_rp_jwks(void);
oauth2_store_t *oauth2_ap_rp_store(request_rec *r);
const char *oauth2_ap_rp_cookie_name(request_rec *r, const char *base);
void oauth2_ap_rp_cookie_set(request_rec *r, const char *name,
                             const char *value, apr_interval_time_t max_age);
const char *oauth2_ap_rp_cookie_get(request_rec *r, const char *name);
apr_array_header_t *oauth2_ap_rp_cookies_prefixed(request_rec *r,
                                                  const char *prefix);
int oauth2_ap_rp_page(request_rec *r, int status, const char *title,
                      const char *text);
const char *oauth2_ap_rp_origin(request_rec *r);
const char *oauth2_ap_rp_redirect_uri(request_rec *r);
oauth2_status_t oauth2_ap_rp_meta(request_rec *r, oauth2_ctx_t *ctx,
                                  const oauth2_ap_provider_t *ap,
                                  oauth2_provider_meta_t **out);
oauth2_status_t oauth2_ap_rp_session_new(request_rec *r, oauth2_ctx_t *ctx,
                                         oauth2_session_t **out);
oauth2_status_t oauth2_ap_rp_session_save(request_rec *r, oauth2_ctx_t *ctx,
                                          oauth2_session_t *s);
oauth2_status_t oauth2_ap_rp_session_load(request_rec *r, oauth2_ctx_t *ctx,
                                          oauth2_session_t **out);
oauth2_status_t oauth2_ap_rp_session_delete(request_rec *r, oauth2_ctx_t *ctx,
                                            const oauth2_session_t *s);
void oauth2_ap_rp_session_cookie(request_rec *r, oauth2_ctx_t *ctx,
                                 const oauth2_session_t *s);
const oauth2_principal_t *oauth2_ap_rp_principal(request_rec *r);
const char *oauth2_ap_rp_session_user(request_rec *r,
                                      const oauth2_ap_provider_t *ap,
                                      const oauth2_session_t *s);
const char *oauth2_ap_rp_login_cookie_prefix(request_rec *r);
oauth2_status_t oauth2_ap_rp_login_open(request_rec *r, oauth2_ctx_t *ctx,
                                        const char *name, const char *value,
                                        oauth2_rp_login_t **out);
/* ---- bearer.c: AuthType oauth2-bearer (bearer) ---- */
const char *oauth2_ap_bearer_cmd_verify(cmd_parms *cmd, void *dc,
                                        const char *args);
const char *oauth2_ap_bearer_cmd_query(cmd_parms *cmd, void *dc, int on);
struct oauth2_verifier_t;
oauth2_status_t oauth2_ap_verifier_make(oauth2_ctx_t *ctx, apr_pool_t *pool,
                                        const char *ns,
                                        const apr_array_header_t *words,
                                        struct oauth2_verifier_t **v);
/* htaccess.c: the verifier list of an .htaccess line, `*list` being the
 * list so far; NULL, or why the line is refused. */
const char *oauth2_ap_htaccess_verify(cmd_parms *cmd, oauth2_ctx_t *ctx,
                                      const char *ns, const char *line,
                                      const apr_array_header_t *words,
                                      apr_array_header_t **list);
/*
 * Authenticate `r` from its bearer token once per request (the result is
 * remembered): OK with the principal set, or the HTTP status to answer,
 * with WWW-Authenticate already in err_headers_out.
 */
int oauth2_ap_bearer_authenticate(request_rec *r);
const oauth2_principal_t *oauth2_ap_bearer_principal(request_rec *r);
/* authz.c: the principal r's own location established (see there). */
const oauth2_principal_t *oauth2_ap_principal_fitting(request_rec *r);
const oauth2_principal_t *oauth2_ap_principal_for(request_rec *r);
int oauth2_ap_bearer_is_ours(request_rec *r);
void oauth2_ap_bearer_register_hooks(apr_pool_t *p);

/* ---- authz.c: Require oauth2-scope / oauth2-claim (bearer) ---- */
void oauth2_ap_authz_register_hooks(apr_pool_t *p);

/* ---- policy.c: OAuth2Policy*, Require oauth2-policy, RFC 9728 (policy) */
void *oauth2_ap_policy_srv_create(apr_pool_t *p);
void *oauth2_ap_policy_srv_merge(apr_pool_t *p, void *base, void *add);
const char *oauth2_ap_policy_cmd_file(cmd_parms *cmd, void *dc, const char *v);
const char *oauth2_ap_policy_cmd_lib(cmd_parms *cmd, void *dc, const char *v);
const char *oauth2_ap_policy_cmd_shadow(cmd_parms *cmd, void *dc,
                                        const char *v);
const char *oauth2_ap_policy_cmd_log(cmd_parms *cmd, void *dc, const char *v);
const char *oauth2_ap_policy_cmd_limits(cmd_parms *cmd, void *dc,
                                        const char *args);
const char *oauth2_ap_policy_cmd_metadata(cmd_parms *cmd, void *dc,
                                          const char *v);
/*
 * The absolute URL of the host's RFC 9728 metadata document for the
 * resource_metadata= challenge parameter, or NULL when the host serves none.
 */
const char *oauth2_ap_policy_resource_metadata(request_rec *r);
void oauth2_ap_policy_register_hooks(apr_pool_t *p);
/* ---- sessions branch: session_mgmt.c (back-channel logout, admin) ---- */
/* The session namespace of the request's virtual host (session.c). */
const char *oauth2_ap_rp_session_ns(request_rec *r);
const char *oauth2_ap_sm_cmd_backchannel_uri(cmd_parms *cmd, void *dc,
                                             const char *v);
void oauth2_ap_sm_register_hooks(apr_pool_t *p);
/* ---- hardening: login URI, forwarded headers, cookie limits ---- */
const char *oauth2_ap_rp_cmd_login_uri(cmd_parms *cmd, void *dc, const char *v);
const char *oauth2_ap_rp_cmd_trust_forwarded(cmd_parms *cmd, void *dc, int on);
/* 1 when OAuth2TrustForwardedHeaders On applies to `s`. */
int oauth2_ap_rp_trust_forwarded(server_rec *s);
const char *oauth2_ap_rp_cmd_session_ns(cmd_parms *cmd, void *dc,
                                        const char *v);
/*
 * Start a login at `ap` for `r`: return to `ret` (already vetted),
 * hand the allow-listed `params` (may be NULL) to the provider. Returns
 * the status to answer (302 or an error page).
 */
int oauth2_ap_rp_login_start(request_rec *r, oauth2_ctx_t *ctx,
                             const oauth2_ap_provider_t *ap, const char *ret,
                             const apr_table_t *params);
/* Headers every answer of ours carries: CSP, nosniff, no-store. */
void oauth2_ap_rp_page_headers(request_rec *r);
/* 1 when the request's Cookie headers exceed what we ever read. */
int oauth2_ap_rp_cookies_too_big(request_rec *r);
/* ---- ops: metrics.c (SetHandler oauth2-metrics), health.c --------------- */
/*
 * Instrumentation, all lock-free and allocation-free (see metrics.c); each
 * call is a no-op when the shared table could not be created. Label values
 * must be static strings or configuration names, never client bytes.
 */
void oauth2_ap_metrics_register_hooks(apr_pool_t *p);
void oauth2_ap_health_register_hooks(apr_pool_t *p);
/* Give a core context the metrics sink (HTTP, store, token cache). */
void oauth2_ap_metrics_attach(oauth2_ctx_t *ctx);
void oauth2_ap_metrics_signin_started(request_rec *r, const char *provider);
void oauth2_ap_metrics_signin_completed(request_rec *r, const char *provider);
void oauth2_ap_metrics_signin_failed(request_rec *r, const char *reason);
/* Reason from the HTTP status a failed callback answers with. */
void oauth2_ap_metrics_signin_failed_status(request_rec *r, int status);
/* result: "ok", "invalid_token", "invalid_request", "no_token", ... */
void oauth2_ap_metrics_bearer(request_rec *r, const char *result);
void oauth2_ap_metrics_bearer_status(request_rec *r, oauth2_status_t st);
/*
 * One Require oauth2-policy decision for r's virtual host:
 * oauth2_policy_decisions_total{vhost="host:port",result="allow"|"deny"}.
 * Call once per evaluated decision (allow = 1 when granted; errors and
 * timeouts are denials).
 */
const char *oauth2_ap_metrics_policy_labels(apr_pool_t *p, server_rec *s,
                                            int allow);
/* Count one decision under labels made once per host by the call above
 * (formatting them per request cost more than the decision itself). */
void oauth2_ap_metrics_policy_add(const char *labels, void **hint);

#endif /* OAUTH2_APACHE_H */
