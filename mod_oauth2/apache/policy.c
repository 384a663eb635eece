/*
 * policy.c - wires the Lua policy engine (include/oauth2/policy.h) into
 * Apache: the OAuth2Policy* directives, loading every virtual host's policy
 * (and shadow candidate) at check_config so configtest fails on an unusable
 * script, the `Require oauth2-policy` provider (request view from the
 * principal, decision, shadow comparison, decision log), and the RFC 9728
 * protected-resource metadata document with the URL bearer challenges
 * point to. Never evaluates Lua itself, never verifies a token, and never
 * writes a token, claim or header value into any log.
 *
 * Each server_rec gets its own oauth2_policy_t (and so its own Lua states),
 * also when a virtual host inherits OAuth2Policy from the main server: the
 * merge copies the settings, never the loaded policy.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_uri.h>
#include <ap_provider.h>
#include <http_protocol.h>
#include <mod_auth.h>

#include "oauth2_apache.h"
#include "oauth2/policy.h"
#include "oauth2/verify.h"

#define WELL_KNOWN "/.well-known/oauth-protected-resource"
/* This request_rec's decision (r->notes are per request_rec: a subrequest
 * or internal redirect, with its own path, decides again). */
#define MEMO_NOTE "oauth2-policy-decision"

struct oauth2_ap_policy_srv_t {
    /* settings, merged main server -> vhost */
    const char *file;        /* OAuth2Policy, absolute; NULL = unset */
    const char *lib;         /* OAuth2PolicyLibDir; NULL = compiled-in */
    const char *shadow_file; /* OAuth2PolicyShadow; NULL = none */
    const char *log_path;    /* OAuth2PolicyLog; NULL = none */
    const oauth2_policy_limits_t *limits; /* NULL = engine defaults */
    int metadata;                         /* OAuth2ResourceMetadata; UNSET */
    const char *resource; /* explicit resource URL (origin), or NULL */
    /* per server_rec, filled at check_config/post_config, never merged */
    oauth2_policy_t *policy;
    oauth2_policy_t *shadow;
    apr_file_t *log;
    const char *issuers;    /* JSON array of OAuth2TokenVerify issuers */
    const char *mlabels[2]; /* metric labels: [0] deny, [1] allow */
    void *mhint[2];         /* their series, once found (metrics.c) */
};

typedef struct oauth2_ap_policy_srv_t psrv_t;

/* Request headers a policy sees (lower-case); never credentials. */
static const char *const view_headers[] = {
    "accept", "content-type", "origin", "user-agent", "x-request-id", NULL};

/* ---- config records ---------------------------------------------------- */

void *oauth2_ap_policy_srv_create(apr_pool_t *p)
{
    psrv_t *c = apr_pcalloc(p, sizeof(*c));

    /* pointers: NULL by apr_pcalloc */
    c->metadata = OAUTH2_AP_UNSET;
    return c;
}

void *oauth2_ap_policy_srv_merge(apr_pool_t *p, void *basev, void *addv)
{
    const psrv_t *base = basev, *add = addv;
    psrv_t *n = apr_pcalloc(p, sizeof(*n));

    n->file = add->file ? add->file : base->file;
    n->lib = add->lib ? add->lib : base->lib;
    n->shadow_file = add->shadow_file ? add->shadow_file : base->shadow_file;
    n->log_path = add->log_path ? add->log_path : base->log_path;
    n->limits = add->limits ? add->limits : base->limits;
    n->metadata =
        add->metadata != OAUTH2_AP_UNSET ? add->metadata : base->metadata;
    n->resource =
        add->metadata != OAUTH2_AP_UNSET ? add->resource : base->resource;
    /* policy, shadow, log, issuers: loaded per server_rec, never copied */
    return n;
}

static psrv_t *psrv(const server_rec *s)
{
    return oauth2_ap_srv_cfg(s)->policy;
}

/* Metadata is on when asked for, or by default where a policy guards. */
static int metadata_on(const psrv_t *c)
{
    return c->metadata == OAUTH2_AP_UNSET ? c->file != NULL : c->metadata;
}

/* ---- directives -------------------------------------------------------- */

static const char *path_arg(cmd_parms *cmd, const char *v, const char **out)
{
    const char *p = ap_server_root_relative(cmd->pool, v);

    if (p == NULL || *v == '\0')
        return apr_psprintf(cmd->pool, "%s: bad path '%s'", cmd->cmd->name,
                            oauth2_log_escape(cmd->pool, v, strlen(v)));
    *out = p;
    return NULL;
}

const char *oauth2_ap_policy_cmd_file(cmd_parms *cmd, void *dc, const char *v)
{
    return path_arg(cmd, v, &psrv(cmd->server)->file);
}

const char *oauth2_ap_policy_cmd_lib(cmd_parms *cmd, void *dc, const char *v)
{
    return path_arg(cmd, v, &psrv(cmd->server)->lib);
}

const char *oauth2_ap_policy_cmd_shadow(cmd_parms *cmd, void *dc, const char *v)
{
    return path_arg(cmd, v, &psrv(cmd->server)->shadow_file);
}

const char *oauth2_ap_policy_cmd_log(cmd_parms *cmd, void *dc, const char *v)
{
    return path_arg(cmd, v, &psrv(cmd->server)->log_path);
}

const char *oauth2_ap_policy_cmd_limits(cmd_parms *cmd, void *dc,
                                        const char *args)
{
    oauth2_ctx_t *ctx = oauth2_ap_server_ctx(cmd->server, cmd->temp_pool);
    oauth2_policy_limits_t *lim = apr_palloc(cmd->pool, sizeof(*lim));

    oauth2_policy_limits_default(lim);
    if (*args == '\0')
        return apr_psprintf(cmd->pool, "%s: name at least one limit",
                            cmd->cmd->name);
    if (oauth2_policy_limits_parse(ctx, args, lim) != OAUTH2_OK)
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, ctx->err.text);
    psrv(cmd->server)->limits = lim;
    return NULL;
}

/* On, Off, or the resource identifier: an http(s) origin. */
const char *oauth2_ap_policy_cmd_metadata(cmd_parms *cmd, void *dc,
                                          const char *v)
{
    psrv_t *c = psrv(cmd->server);
    apr_uri_t u;

    c->resource = NULL;
    if (strcasecmp(v, "On") == 0 || strcasecmp(v, "Off") == 0) {
        c->metadata = strcasecmp(v, "On") == 0;
        return NULL;
    }
    if (apr_uri_parse(cmd->pool, v, &u) != APR_SUCCESS || u.scheme == NULL ||
        (strcmp(u.scheme, "https") != 0 && strcmp(u.scheme, "http") != 0) ||
        u.hostname == NULL || u.user != NULL || u.query != NULL ||
        u.fragment != NULL || (u.path != NULL && strcmp(u.path, "/") != 0))
        return apr_psprintf(cmd->pool,
                            "%s: want On, Off or an origin such as "
                            "https://api.example.com, got '%s'",
                            cmd->cmd->name,
                            oauth2_log_escape(cmd->pool, v, strlen(v)));
    c->metadata = 1;
    c->resource =
        apr_pstrndup(cmd->pool, v, strlen(v) - (u.path != NULL ? 1 : 0));
    return NULL;
}

/* ---- loading at check_config -------------------------------------------- */

static const char *host_name(const server_rec *s, apr_pool_t *p)
{
    if (!s->is_virtual || s->defn_name == NULL)
        return "main server";
    return apr_psprintf(p, "<VirtualHost> %s (%s:%u)",
                        s->server_hostname ? s->server_hostname : "?",
                        s->defn_name, s->defn_line_number);
}

static int load_one(server_rec *s, apr_pool_t *pconf, apr_pool_t *ptemp,
                    const char *what, const char *file, oauth2_policy_t **out)
{
    const psrv_t *c = psrv(s);
    oauth2_ctx_t *ctx = oauth2_ap_server_ctx(s, ptemp);

    if (oauth2_policy_load(ctx, pconf, file, c->lib, c->limits, out) ==
        OAUTH2_OK)
        return 0;
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                 OAUTH2_LOGNO(00620) "%s: %s %s is unusable: %s",
                 host_name(s, ptemp), what, file, ctx->err.text);
    return -1;
}

/* The issuers of every OAuth2TokenVerify in one section's config. */
static void issuers_of(ap_conf_vector_t *v, json_t *arr)
{
    const oauth2_ap_dir_cfg_t *d =
        v ? ap_get_module_config(v, &oauth2_module) : NULL;
    size_t j;
    int i;

    if (d == NULL || d->bearer_verifiers == NULL)
        return;
    for (i = 0; i < d->bearer_verifiers->nelts; i++) {
        const oauth2_verify_opts_t *o = oauth2_verifier_opts(
            APR_ARRAY_IDX(d->bearer_verifiers, i, oauth2_verifier_t *));
        int dup = 0;

        for (j = 0; j < json_array_size(arr); j++)
            dup |=
                !strcmp(json_string_value(json_array_get(arr, j)), o->issuer);
        if (!dup)
            json_array_append_new(arr, json_string(o->issuer));
    }
}

/* The host's issuers from its <Location>/<Directory> sections, as JSON. */
static const char *collect_issuers(server_rec *s, apr_pool_t *pconf)
{
    core_server_config *sc = ap_get_core_module_config(s->module_config);
    json_t *arr = json_array();
    char *text;
    const char *out;
    int i;

    issuers_of(s->lookup_defaults, arr);
    for (i = 0; sc->sec_url && i < sc->sec_url->nelts; i++)
        issuers_of(APR_ARRAY_IDX(sc->sec_url, i, ap_conf_vector_t *), arr);
    for (i = 0; sc->sec_dir && i < sc->sec_dir->nelts; i++)
        issuers_of(APR_ARRAY_IDX(sc->sec_dir, i, ap_conf_vector_t *), arr);
    text = json_dumps(arr, JSON_COMPACT);
    out = apr_pstrdup(pconf, text ? text : "[]");
    free(text);
    json_decref(arr);
    return out;
}

/*
 * Load each host's policy and shadow into pconf (children inherit the
 * compiled states and keep their own pool of them); any failure fails
 * configtest and startup with a message naming the host and file:line.
 */
static int check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                        server_rec *s)
{
    int bad = 0;

    for (; s != NULL; s = s->next) {
        psrv_t *c = psrv(s);

        if (c->shadow_file != NULL && c->file == NULL) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                         OAUTH2_LOGNO(00621) "%s: OAuth2PolicyShadow "
                                             "without OAuth2Policy",
                         host_name(s, ptemp));
            bad = 1;
            continue;
        }
        if (c->file != NULL &&
            load_one(s, pconf, ptemp, "OAuth2Policy", c->file, &c->policy))
            bad = 1;
        if (c->shadow_file != NULL &&
            load_one(s, pconf, ptemp, "OAuth2PolicyShadow", c->shadow_file,
                     &c->shadow))
            bad = 1;
        if (metadata_on(c))
            c->issuers = collect_issuers(s, pconf);
        c->mlabels[0] = oauth2_ap_metrics_policy_labels(pconf, s, 0);
        c->mlabels[1] = oauth2_ap_metrics_policy_labels(pconf, s, 1);
    }
    return bad ? !OK : OK;
}

/*
 * One anonymous shared slot per loaded policy and shadow, inherited by the
 * children: each records the version the latest successful (re)load in any
 * child made current, so a child left behind by a broken rewrite refuses
 * rather than enforce an older version (oauth2_policy_share). Without the
 * segment (logged) reloads stay purely per child.
 */
static void share_versions(apr_pool_t *pconf, server_rec *s)
{
    oauth2_policy_shared_t *slot;
    apr_shm_t *shm = NULL;
    server_rec *v;
    apr_status_t rv;
    size_t n = 0;

    for (v = s; v != NULL; v = v->next)
        n += (psrv(v)->policy != NULL) + (psrv(v)->shadow != NULL);
    if (n == 0)
        return;
    rv = apr_shm_create(&shm, n * sizeof(*slot), NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     OAUTH2_LOGNO(00787) "no shared memory for policy "
                                         "versions: each child reloads on "
                                         "its own");
        return;
    }
    slot = apr_shm_baseaddr_get(shm);
    memset(slot, 0, n * sizeof(*slot));
    for (v = s; v != NULL; v = v->next) {
        if (psrv(v)->policy != NULL)
            oauth2_policy_share(psrv(v)->policy, slot++);
        if (psrv(v)->shadow != NULL)
            oauth2_policy_share(psrv(v)->shadow, slot++);
    }
}

/*
 * Open each decision log once, in the parent (as root, before children
 * drop privileges), O_APPEND and unbuffered: every child inherits the
 * descriptor and writes whole lines with one write(2), so lines from
 * several processes and threads never interleave.
 */
static int post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                       server_rec *s)
{
    apr_hash_t *open = apr_hash_make(ptemp);
    apr_status_t rv;

    share_versions(pconf, s);

    for (; s != NULL; s = s->next) {
        psrv_t *c = psrv(s);

        if (c->log_path != NULL &&
            (c->log = apr_hash_get(open, c->log_path, APR_HASH_KEY_STRING)) ==
                NULL) {
            rv = apr_file_open(
                &c->log, c->log_path,
                APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_APPEND,
                APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, pconf);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                             OAUTH2_LOGNO(00622) "OAuth2PolicyLog %s: "
                                                 "cannot open",
                             c->log_path);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            apr_hash_set(open, c->log_path, APR_HASH_KEY_STRING, c->log);
        }
        if (c->policy != NULL &&
            ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         OAUTH2_LOGNO(00623) "%s: policy %s version %s%s%s",
                         host_name(s, ptemp), c->file,
                         oauth2_policy_version(c->policy),
                         c->shadow ? ", shadow version " : "",
                         c->shadow ? oauth2_policy_version(c->shadow) : "");
    }
    return OK;
}

/* ---- the request view -------------------------------------------------- */

/*
 * The path exactly as the client sent it, undecoded and without the query
 * (an absolute-form request target loses its scheme and authority), so the
 * policy helper can refuse ambiguous encodings itself.
 */
static const char *raw_path(request_rec *r)
{
    const char *u = r->unparsed_uri, *p;

    if (u == NULL || *u == '\0')
        return r->uri;
    if (*u != '/' && (p = strstr(u, "://")) != NULL) {
        p = strchr(p + 3, '/');
        u = p ? p : "/";
    }
    return apr_pstrmemdup(r->pool, u, strcspn(u, "?"));
}

#define VIEW_NHEADERS (sizeof(view_headers) / sizeof(view_headers[0]) - 1)

/* `h` holds the view's headers: the caller's array, as long as the view. */
static void build_view(request_rec *r, const oauth2_principal_t *p,
                       oauth2_policy_request_t *v, oauth2_policy_header_t *h)
{
    size_t i, n = 0;

    memset(v, 0, sizeof(*v));
    v->method = r->method;
    v->path = raw_path(r);
    v->host = r->hostname;
    v->query = r->args;
    for (i = 0; view_headers[i] != NULL; i++) {
        const char *val = apr_table_get(r->headers_in, view_headers[i]);

        if (val == NULL)
            continue;
        h[n].name = view_headers[i];
        h[n++].value = val;
    }
    v->headers = h;
    v->nheaders = n;
    if (p->scopes != NULL) {
        v->scopes = (const char *const *)p->scopes->elts;
        v->nscopes = (size_t)p->scopes->nelts;
    }
    v->claims = p->claims;
    v->sub = p->sub;
    v->client_id = p->client_id;
    v->principal = oauth2_principal_type_str(p->type);
}

/* ---- decision log and shadow ------------------------------------------- */

static const char *iso_time(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t x;

    apr_time_exp_gmt(&x, t);
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                        x.tm_year + 1900, x.tm_mon + 1, x.tm_mday, x.tm_hour,
                        x.tm_min, x.tm_sec, x.tm_usec);
}

static const char *decision_str(oauth2_status_t st,
                                const oauth2_policy_result_t *res)
{
    return st != OAUTH2_OK ? "error" : res->allow ? "allow" : "deny";
}

/*
 * One JSON line: the engine's decision object (no claims, headers or
 * tokens) plus time, vhost and the shadow's verdict; a single write.
 */
static void log_decision(request_rec *r, const psrv_t *c, const char *json,
                         const char *shadow)
{
    json_t *o = json_loads(json, 0, NULL);
    char *text = NULL;
    const char *line;
    apr_size_t n;
    apr_status_t rv;

    if (o == NULL)
        return;
    json_object_set_new(o, "time",
                        json_string(iso_time(r->pool, r->request_time)));
    if (r->server->server_hostname != NULL)
        json_object_set_new(o, "vhost",
                            json_string(r->server->server_hostname));
    if (shadow != NULL)
        json_object_set_new(o, "shadow", json_string(shadow));
    text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_SORT_KEYS);
    json_decref(o);
    if (text == NULL)
        return;
    line = apr_pstrcat(r->pool, text, "\n", NULL);
    free(text);
    n = strlen(line);
    rv = apr_file_write(c->log, line, &n);
    if (rv != APR_SUCCESS)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      OAUTH2_LOGNO(00624) "OAuth2PolicyLog %s: write failed",
                      c->log_path);
}

/* Evaluate the shadow candidate; log where it disagrees. Its verdict. */
static const char *run_shadow(request_rec *r, const psrv_t *c,
                              const oauth2_policy_request_t *v,
                              const char *enforced,
                              const oauth2_policy_result_t *res)
{
    oauth2_ctx_t *ctx = oauth2_ap_request_ctx(r);
    oauth2_policy_result_t sres;
    oauth2_status_t st;
    const char *d;

    oauth2_policy_maybe_reload(ctx, c->shadow);
    st = oauth2_policy_eval(ctx, c->shadow, v, &sres);
    d = decision_str(st, &sres);
    if (strcmp(d, enforced) != 0)
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      OAUTH2_LOGNO(00625) "policy shadow %s [%s] disagrees "
                                          "on %s %s: enforced %s (%s), "
                                          "shadow %s (%s)",
                      c->shadow_file, oauth2_policy_version(c->shadow),
                      ap_escape_logitem(r->pool, v->method),
                      ap_escape_logitem(r->pool, v->path), enforced,
                      ap_escape_logitem(r->pool, res->reason), d,
                      ap_escape_logitem(r->pool, sres.reason));
    return d;
}

/* ---- Require oauth2-policy ---------------------------------------------- */

static const char *policy_parse(cmd_parms *cmd, const char *line,
                                const void **parsed)
{
    if (line != NULL && *ap_getword_conf(cmd->temp_pool, &line) != '\0')
        return "Require oauth2-policy takes no arguments (the policy is "
               "the virtual host's OAuth2Policy)";
    return NULL;
}

/* A denial: remember the wanted scopes for a bearer's challenge. */
static authz_status denied(request_rec *r, const oauth2_principal_t *p,
                           const oauth2_policy_request_t *v,
                           const oauth2_policy_result_t *res)
{
    const char *wanted = "";
    size_t i;

    for (i = 0; i < res->nwanted; i++)
        wanted =
            apr_pstrcat(r->pool, wanted, i ? " " : "", res->wanted[i], NULL);
    /* "" still marks insufficient_scope (without scope=) for bearers */
    if (p->type == OAUTH2_PRINCIPAL_BEARER &&
        (*wanted != '\0' || oauth2_ap_wanted_scope_get(r) == NULL))
        oauth2_ap_wanted_scope_add(r, wanted);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  OAUTH2_LOGNO(00626) "policy [%s] denied %s %s: %s%s%s",
                  res->version ? res->version : "-",
                  ap_escape_logitem(r->pool, v->method),
                  ap_escape_logitem(r->pool, v->path),
                  ap_escape_logitem(r->pool, res->reason),
                  res->rule ? "; rule " : "",
                  res->rule ? ap_escape_logitem(r->pool, res->rule) : "");
    return AUTHZ_DENIED;
}

/* The decision as the note that replays it: fixed strings, no formatting. */
static const char *memo_text(authz_status rc)
{
    return rc == AUTHZ_GRANTED  ? "granted"
           : rc == AUTHZ_DENIED ? "denied"
                                : "error";
}

static authz_status memo_status(const char *memo)
{
    return strcmp(memo, "granted") == 0  ? AUTHZ_GRANTED
           : strcmp(memo, "denied") == 0 ? AUTHZ_DENIED
                                         : AUTHZ_GENERAL_ERROR;
}

static authz_status policy_check(request_rec *r, const char *line,
                                 const void *parsed)
{
    const psrv_t *c = psrv(r->server);
    const oauth2_principal_t *p = oauth2_ap_principal_for(r);
    oauth2_policy_request_t v;
    oauth2_policy_header_t vh[VIEW_NHEADERS];
    oauth2_policy_result_t res;
    oauth2_ctx_t *ctx;
    oauth2_status_t st;
    const char *shadow = NULL, *memo;
    authz_status rc;

    if (p == NULL)
        return AUTHZ_DENIED_NO_USER;
    /* authz runs again after force_authn: decide (and log) once */
    if ((memo = apr_table_get(r->notes, MEMO_NOTE)) != NULL)
        return memo_status(memo);
    if (c->policy == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      OAUTH2_LOGNO(00627) "Require oauth2-policy in a host "
                                          "without OAuth2Policy: denied");
        return AUTHZ_GENERAL_ERROR;
    }
    ctx = oauth2_ap_request_ctx(r);
    oauth2_policy_maybe_reload(ctx, c->policy); /* a refusal is logged */
    build_view(r, p, &v, vh);
    st = oauth2_policy_eval(ctx, c->policy, &v, &res);
    if (c->shadow != NULL)
        shadow = run_shadow(r, c, &v, decision_str(st, &res), &res);
    if (c->log != NULL)
        log_decision(
            r, c, oauth2_policy_decision_json(r->pool, c->policy, &v, &res, st),
            shadow);
    if (st != OAUTH2_OK) /* the engine logged file:line and the reason */
        rc = AUTHZ_GENERAL_ERROR;
    else if (res.allow)
        rc = AUTHZ_GRANTED;
    else
        rc = denied(r, p, &v, &res);
    oauth2_ap_metrics_policy_add(c->mlabels[rc == AUTHZ_GRANTED],
                                 (void **)&c->mhint[rc == AUTHZ_GRANTED]);
    apr_table_setn(r->notes, MEMO_NOTE, memo_text(rc));
    return rc;
}

/* ---- RFC 9728 protected-resource metadata -------------------------------- */

/* The resource identifier: configured, else ServerName (never Host:). */
static const char *resource_id(request_rec *r, const psrv_t *c)
{
    const char *scheme = ap_http_scheme(r);
    apr_port_t port = r->server->port;

    if (c->resource != NULL)
        return c->resource;
    if (port == 0)
        port = r->connection->local_addr->port;
    if (port == apr_uri_port_of_scheme(scheme))
        return apr_psprintf(r->pool, "%s://%s", scheme,
                            r->server->server_hostname);
    return apr_psprintf(r->pool, "%s://%s:%u", scheme,
                        r->server->server_hostname, (unsigned)port);
}

const char *oauth2_ap_policy_resource_metadata(request_rec *r)
{
    const psrv_t *c = psrv(r->server);

    if (c == NULL || !metadata_on(c))
        return NULL;
    return apr_pstrcat(r->pool, resource_id(r, c), WELL_KNOWN, NULL);
}

/* The RFC 9728 document; built with jansson, so every value is escaped. */
static const char *metadata_body(request_rec *r, const psrv_t *c)
{
    json_t *o = json_object(), *as = json_loads(c->issuers ? c->issuers : "[]",
                                                JSON_DECODE_ANY, NULL);
    char *text;
    const char *out;

    json_object_set_new(o, "resource", json_string(resource_id(r, c)));
    json_object_set_new(o, "authorization_servers", as ? as : json_array());
    json_object_set_new(o, "bearer_methods_supported",
                        json_pack("[s]", "header"));
    text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    out = apr_pstrcat(r->pool, text ? text : "{}", "\n", NULL);
    free(text);
    return out;
}

static int metadata_handler(request_rec *r, int lookup)
{
    const psrv_t *c = psrv(r->server);
    const char *body;

    if (lookup || r->main != NULL || r->parsed_uri.path == NULL ||
        strcmp(r->parsed_uri.path, WELL_KNOWN) != 0 || !metadata_on(c))
        return DECLINED;
    if (r->method_number != M_GET) {
        apr_table_setn(r->err_headers_out, "Allow", "GET, HEAD");
        return HTTP_METHOD_NOT_ALLOWED;
    }
    body = metadata_body(r, c);
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "max-age=300");
    ap_set_content_length(r, (apr_off_t)strlen(body));
    if (!r->header_only)
        ap_rputs(body, r);
    return OK;
}

static const authz_provider policy_provider = {policy_check, policy_parse};

void oauth2_ap_policy_register_hooks(apr_pool_t *p)
{
    ap_hook_check_config(check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(metadata_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "oauth2-policy",
                              AUTHZ_PROVIDER_VERSION, &policy_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}
