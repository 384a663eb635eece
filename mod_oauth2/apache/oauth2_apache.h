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
} oauth2_ap_srv_cfg_t;

/* Per directory / location. */
typedef struct oauth2_ap_dir_cfg_t {
    /* backend: what the application behind us receives */
    const char *remote_user_claim;   /* NULL = unset */
    const char *claim_header_prefix; /* NULL = unset, "" = Off */
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
void oauth2_ap_principal_set(request_rec *r, const oauth2_principal_t *p);
const oauth2_principal_t *oauth2_ap_principal_get(request_rec *r);
void oauth2_ap_wanted_scope_add(request_rec *r, const char *scopes);
const char *oauth2_ap_wanted_scope_get(request_rec *r);

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

/* ---- bearer.c: AuthType oauth2-bearer (bearer) ---- */
const char *oauth2_ap_bearer_cmd_verify(cmd_parms *cmd, void *dc,
                                        const char *args);
const char *oauth2_ap_bearer_cmd_query(cmd_parms *cmd, void *dc, int on);
/*
 * Authenticate `r` from its bearer token once per request (the result is
 * remembered): OK with the principal set, or the HTTP status to answer,
 * with WWW-Authenticate already in err_headers_out.
 */
int oauth2_ap_bearer_authenticate(request_rec *r);
int oauth2_ap_bearer_is_ours(request_rec *r);
void oauth2_ap_bearer_register_hooks(apr_pool_t *p);

/* ---- authz.c: Require oauth2-scope / oauth2-claim (bearer) ---- */
void oauth2_ap_authz_register_hooks(apr_pool_t *p);

#endif /* OAUTH2_APACHE_H */
