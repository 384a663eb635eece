/*
 * provider.c - configuration of the relying party: OAuth2Provider (with
 * presets, discovery or endpoints one by one), OAuth2Login,
 * OAuth2RedirectURI, OAuth2LogoutURI and OAuth2ReturnAllow; the provider
 * registry per server; config-time validation so `apachectl configtest`
 * fails on bad values. Never talks to a provider: discovery happens at the
 * first login (session.c).
 */
#include <string.h>

#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>
#include <http_core.h>

#include "oauth2_apache.h"
#include "oauth2/cfg.h"
#include "oauth2/http.h"
#include "oauth2/log.h"

#define DEFAULT_DISCOVERY_TTL apr_time_from_sec(3600)

/* ---- create / merge ---------------------------------------------------- */

void *oauth2_ap_rp_srv_create(apr_pool_t *p)
{
    oauth2_ap_rp_srv_t *c = apr_pcalloc(p, sizeof(*c));

    c->providers = apr_hash_make(p);
    c->redirect_uri = NULL; /* unset */
    c->logout_uri = NULL;   /* unset */
    c->return_allow = NULL; /* unset */
    c->logins = NULL;       /* none seen */
    c->login_uri = NULL;    /* unset */
    c->trust_forwarded = OAUTH2_AP_UNSET;
    c->session_ns = NULL; /* the vhost's origin */
    return c;
}

void *oauth2_ap_rp_srv_merge(apr_pool_t *p, void *basev, void *addv)
{
    oauth2_ap_rp_srv_t *base = basev, *add = addv;
    oauth2_ap_rp_srv_t *c = apr_pcalloc(p, sizeof(*c));

    /* A vhost sees the main server's providers unless it redefines them. */
    c->providers = apr_hash_overlay(p, add->providers, base->providers);
    c->redirect_uri =
        add->redirect_uri ? add->redirect_uri : base->redirect_uri;
    c->logout_uri = add->logout_uri ? add->logout_uri : base->logout_uri;
    c->return_allow =
        add->return_allow ? add->return_allow : base->return_allow;
    /* Each host checks its own lines: the base's were checked on it. */
    c->logins = add->logins;
    c->login_uri = add->login_uri ? add->login_uri : base->login_uri;
    c->trust_forwarded = add->trust_forwarded != OAUTH2_AP_UNSET
                             ? add->trust_forwarded
                             : base->trust_forwarded;
    c->session_ns = add->session_ns ? add->session_ns : base->session_ns;
    return c;
}

void *oauth2_ap_rp_dir_create(apr_pool_t *p)
{
    oauth2_ap_rp_dir_t *c = apr_pcalloc(p, sizeof(*c));

    c->login = NULL;        /* unset */
    c->token_header = NULL; /* unset */
    return c;
}

void *oauth2_ap_rp_dir_merge(apr_pool_t *p, void *basev, void *addv)
{
    oauth2_ap_rp_dir_t *base = basev, *add = addv;
    oauth2_ap_rp_dir_t *c = apr_pcalloc(p, sizeof(*c));

    c->login = add->login ? add->login : base->login;
    c->token_header =
        add->token_header ? add->token_header : base->token_header;
    return c;
}

oauth2_ap_rp_srv_t *oauth2_ap_rp_srv_get(server_rec *s)
{
    return oauth2_ap_srv_cfg(s)->rp;
}

oauth2_ap_rp_dir_t *oauth2_ap_rp_dir_get(request_rec *r)
{
    return oauth2_ap_dir_cfg(r)->rp;
}

oauth2_ap_rp_dir_t *oauth2_ap_rp_dir_of(void *dir_cfg)
{
    return ((oauth2_ap_dir_cfg_t *)dir_cfg)->rp;
}

const oauth2_ap_provider_t *oauth2_ap_rp_provider(server_rec *s,
                                                  const char *name)
{
    oauth2_ap_rp_srv_t *c = oauth2_ap_rp_srv_get(s);

    return name ? apr_hash_get(c->providers, name, APR_HASH_KEY_STRING) : NULL;
}

/* ---- OAuth2Provider ---------------------------------------------------- */

static const char *const provider_keys[] = {
    "preset",         "discovery",         "issuer",   "authorization_endpoint",
    "token_endpoint", "userinfo_endpoint", "jwks_uri", "end_session_endpoint",
    "client_id",      "client_secret",     "scope",    "auth",
    "userinfo",       "user_claim",        "hd",       "params",
    "timeout",        "discovery_ttl",     "pass",     NULL};

/* A configured URL: NULL when absent, an error string when not allowed. */
static const char *url_opt(cmd_parms *cmd, oauth2_ctx_t *ctx, apr_table_t *t,
                           const char *key, const char **out)
{
    const char *v = apr_table_get(t, key);

    if (v != NULL && !oauth2_http_url_allowed(ctx, v))
        return apr_psprintf(cmd->pool, "%s=%s: %s", key, v, ctx->err.text);
    if (v != NULL)
        *out = v;
    return NULL;
}

static const char *apply_preset(cmd_parms *cmd, oauth2_ap_provider_t *ap,
                                const char *name)
{
    const oauth2_discovery_preset_t *pr = oauth2_discovery_preset(name);

    if (pr == NULL)
        return apr_psprintf(cmd->pool, "unknown preset=%s (google, github)",
                            name);
    ap->rp.discovery_url = pr->discovery_url;
    ap->rp.alt_issuer = pr->alt_issuer;
    ap->rp.scope = pr->scope;
    ap->rp.user_claim = pr->user_claim;
    ap->rp.meta = pr->meta;
    return NULL;
}

static const char *parse_endpoints(cmd_parms *cmd, oauth2_ctx_t *ctx,
                                   apr_table_t *t, oauth2_rp_provider_t *rp)
{
    const char *err;
    const char *v;

    if ((v = apr_table_get(t, "discovery")) != NULL) {
        if (!oauth2_http_url_allowed(ctx, v))
            return apr_psprintf(cmd->pool, "discovery=%s: %s", v,
                                ctx->err.text);
        rp->discovery_url = v;
    }
    if ((err = url_opt(cmd, ctx, t, "authorization_endpoint",
                       &rp->meta.authorization_endpoint)) ||
        (err = url_opt(cmd, ctx, t, "token_endpoint",
                       &rp->meta.token_endpoint)) ||
        (err = url_opt(cmd, ctx, t, "userinfo_endpoint",
                       &rp->meta.userinfo_endpoint)) ||
        (err = url_opt(cmd, ctx, t, "jwks_uri", &rp->meta.jwks_uri)) ||
        (err = url_opt(cmd, ctx, t, "end_session_endpoint",
                       &rp->meta.end_session_endpoint)))
        return err;
    if ((v = apr_table_get(t, "issuer")) != NULL)
        rp->meta.issuer = v;
    return NULL;
}

/* params=k=v&k2=v2: well-formed, none of the protocol's own names. */
static const char *params_ok(cmd_parms *cmd, oauth2_ctx_t *ctx, const char *v)
{
    apr_table_t *t = NULL;
    const apr_array_header_t *a;
    int i;

    if (oauth2_rp_params_parse(ctx, v, 64, &t) != OAUTH2_OK)
        return apr_psprintf(cmd->pool, "params=%s: %s", v, ctx->err.text);
    a = apr_table_elts(t);
    for (i = 0; i < a->nelts; i++) {
        const char *k = APR_ARRAY_IDX(a, i, apr_table_entry_t).key;
        if (oauth2_rp_param_reserved(k))
            return apr_psprintf(cmd->pool, "params=: %s is set by the module",
                                k);
    }
    return NULL;
}

/*
 * pass=login_hint,prompt: names of request parameters the login URI may
 * hand on to the provider; protocol names can never be listed.
 */
static const char *pass_ok(cmd_parms *cmd, const char *v)
{
    char *list = apr_pstrdup(cmd->temp_pool, v), *last = NULL, *w;

    for (w = apr_strtok(list, ", ", &last); w != NULL;
         w = apr_strtok(NULL, ", ", &last)) {
        const char *c;
        for (c = w; *c; c++) {
            if (!apr_isalnum(*c) && *c != '_' && *c != '-' && *c != '.')
                return apr_psprintf(cmd->pool,
                                    "pass=%s: not a parameter "
                                    "name",
                                    w);
        }
        if (oauth2_rp_param_reserved(w))
            return apr_psprintf(cmd->pool,
                                "pass=: %s can never come from a "
                                "request",
                                w);
    }
    return NULL;
}

static const char *parse_client(cmd_parms *cmd, oauth2_ctx_t *ctx,
                                apr_table_t *t, oauth2_ap_provider_t *ap)
{
    oauth2_rp_provider_t *rp = &ap->rp;
    const char *v, *err;
    int on = 1;

    rp->client_id = apr_table_get(t, "client_id");
    if ((v = apr_table_get(t, "client_secret")) != NULL &&
        oauth2_cfg_secret_resolve(ctx, v, &rp->client_secret) != OAUTH2_OK)
        return apr_psprintf(cmd->pool, "client_secret: %s", ctx->err.text);
    if ((v = apr_table_get(t, "scope")) != NULL)
        rp->scope = v;
    if ((v = apr_table_get(t, "auth")) != NULL) {
        if (strcmp(v, "client_secret_basic") == 0)
            rp->auth = OAUTH2_RP_AUTH_BASIC;
        else if (strcmp(v, "client_secret_post") == 0)
            rp->auth = OAUTH2_RP_AUTH_POST;
        else
            return apr_psprintf(cmd->pool,
                                "auth=%s: use client_secret_basic or "
                                "client_secret_post",
                                v);
    }
    if (oauth2_cfg_kv_bool(ctx, t, "userinfo", 1, &on) != OAUTH2_OK ||
        oauth2_cfg_kv_duration(ctx, t, "timeout", 0, &rp->timeout) !=
            OAUTH2_OK ||
        oauth2_cfg_kv_duration(ctx, t, "discovery_ttl", DEFAULT_DISCOVERY_TTL,
                               &ap->discovery_ttl) != OAUTH2_OK)
        return apr_pstrdup(cmd->pool, ctx->err.text);
    rp->userinfo = on;
    if ((v = apr_table_get(t, "user_claim")) != NULL)
        rp->user_claim = v;
    if ((v = apr_table_get(t, "hd")) != NULL)
        rp->hd = v;
    if ((v = apr_table_get(t, "params")) != NULL &&
        (err = params_ok(cmd, ctx, v)) != NULL)
        return err;
    rp->auth_params = v;
    if ((v = apr_table_get(t, "pass")) != NULL &&
        (err = pass_ok(cmd, v)) != NULL)
        return err;
    rp->pass = v;
    return NULL;
}

/* Cross-option checks: what a login will need is all there. */
static const char *complete(cmd_parms *cmd, oauth2_ctx_t *ctx,
                            oauth2_rp_provider_t *rp)
{
    if (rp->client_id == NULL || *rp->client_id == '\0')
        return "client_id= is required";
    if (rp->discovery_url != NULL)
        return NULL;
    if (oauth2_discovery_check(ctx, &rp->meta) != OAUTH2_OK)
        return apr_psprintf(cmd->pool,
                            "%s (give discovery=, preset= or the endpoints)",
                            ctx->err.text);
    if (oauth2_rp_is_oidc(rp) &&
        (rp->meta.issuer == NULL || rp->meta.jwks_uri == NULL))
        return "scope has openid: issuer= and jwks_uri= (or discovery=) are "
               "required to validate ID tokens";
    return NULL;
}

/*
 * Apache's tokenizer only honours quotes around a whole word, so
 * scope="openid email profile" arrives as three words: join a word whose
 * value opens a quote with the following ones up to the closing quote, and
 * drop the quotes. NULL when a quote is never closed.
 */
static char **join_quoted(apr_pool_t *p, int argc, char *const argv[],
                          int *outc)
{
    char **out = apr_pcalloc(p, sizeof(char *) * (argc + 1));
    int i, n = 0;

    for (i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        const char *word = argv[i];
        char q = eq ? eq[1] : '\0';
        char *val;

        if (q != '"' && q != '\'') {
            out[n++] = argv[i];
            continue;
        }
        val = apr_pstrdup(p, eq + 2);
        while (val[0] == '\0' || val[strlen(val) - 1] != q) {
            if (++i >= argc)
                return NULL;
            val = apr_pstrcat(p, val, " ", argv[i], NULL);
        }
        val[strlen(val) - 1] = '\0';
        out[n++] =
            apr_pstrcat(p, apr_pstrndup(p, word, eq - word + 1), val, NULL);
    }
    *outc = n;
    return out;
}

const char *oauth2_ap_rp_cmd_provider(cmd_parms *cmd, void *dc, int argc,
                                      char *const argv[])
{
    oauth2_ap_rp_srv_t *c = oauth2_ap_rp_srv_get(cmd->server);
    oauth2_ap_provider_t *ap;
    apr_table_t *t = NULL;
    oauth2_ctx_t ctx;
    const char *err, *v;

    (void)dc;
    if (argc < 2)
        return "OAuth2Provider: NAME key=value...";
    oauth2_ctx_init(&ctx, cmd->pool, NULL, apr_time_now());
    argv = join_quoted(cmd->pool, argc, argv, &argc);
    if (argv == NULL)
        return "OAuth2Provider: unbalanced quote in an option";
    if (apr_hash_get(c->providers, argv[0], APR_HASH_KEY_STRING) != NULL)
        return apr_psprintf(cmd->pool, "OAuth2Provider %s: defined twice",
                            argv[0]);
    if (oauth2_cfg_kv_parse(&ctx, argc - 1, argv + 1, &t) != OAUTH2_OK ||
        oauth2_cfg_check_known(&ctx, t, provider_keys) != OAUTH2_OK)
        return apr_psprintf(cmd->pool, "OAuth2Provider %s: %s", argv[0],
                            ctx.err.text);
    ap = apr_pcalloc(cmd->pool, sizeof(*ap));
    ap->rp.name = apr_pstrdup(cmd->pool, argv[0]);
    ap->rp.scope = "openid email profile";
    ap->rp.auth = OAUTH2_RP_AUTH_BASIC;
    ap->rp.user_claim = "sub";
    ap->config_file = cmd->directive->filename;
    ap->config_line = cmd->directive->line_num;
    if (((v = apr_table_get(t, "preset")) != NULL &&
         (err = apply_preset(cmd, ap, v)) != NULL) ||
        (err = parse_endpoints(cmd, &ctx, t, &ap->rp)) != NULL ||
        (err = parse_client(cmd, &ctx, t, ap)) != NULL ||
        (err = complete(cmd, &ctx, &ap->rp)) != NULL)
        return apr_psprintf(cmd->pool, "OAuth2Provider %s: %s", argv[0], err);
    apr_hash_set(c->providers, ap->rp.name, APR_HASH_KEY_STRING, ap);
    return NULL;
}

/* ---- the small directives --------------------------------------------- */

/* Where an OAuth2Login line was, for the configtest check. */
typedef struct login_use_t {
    const char *name;
    const char *file;
    int line;
} login_use_t;

const char *oauth2_ap_rp_cmd_login(cmd_parms *cmd, void *dc, const char *v)
{
    oauth2_ap_rp_dir_t *d = oauth2_ap_rp_dir_of(dc);
    oauth2_ap_rp_srv_t *c = oauth2_ap_rp_srv_get(cmd->server);
    login_use_t *u;

    d->login = v;
    /*
     * Remember main-config lines (not .htaccess, parsed per request in a
     * request pool) so check_config can refuse a name no provider has.
     */
    if (cmd->pool != cmd->server->process->pconf || cmd->directive == NULL)
        return NULL;
    if (c->logins == NULL)
        c->logins = apr_array_make(cmd->pool, 2, sizeof(login_use_t));
    u = apr_array_push(c->logins);
    u->name = v;
    u->file = cmd->directive->filename;
    u->line = cmd->directive->line_num;
    return NULL;
}

/*
 * Every OAuth2Login of host `s` names a provider `s` knows (its own or the
 * main server's). 0 when fine, else logged and -1.
 */
static int check_logins(server_rec *s, const oauth2_ap_rp_srv_t *c)
{
    int i;

    for (i = 0; c->logins != NULL && i < c->logins->nelts; i++) {
        const login_use_t *u = &APR_ARRAY_IDX(c->logins, i, login_use_t);

        if (apr_hash_get(c->providers, u->name, APR_HASH_KEY_STRING) != NULL)
            continue;
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     OAUTH2_LOGNO(00712) "%s:%d: OAuth2Login %s names no "
                                         "OAuth2Provider of this host",
                     u->file ? u->file : "?", u->line,
                     ap_escape_logitem(s->process->pconf, u->name));
        return -1;
    }
    return 0;
}

const char *oauth2_ap_rp_cmd_token_header(cmd_parms *cmd, void *dc,
                                          const char *v)
{
    oauth2_ap_rp_dir_t *d = oauth2_ap_rp_dir_of(dc);
    const char *c;

    if (strcasecmp(v, "Off") == 0) {
        d->token_header = "";
        return NULL;
    }
    for (c = v; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_')
            return apr_psprintf(cmd->pool,
                                "OAuth2AccessTokenHeader %s: not a header "
                                "name",
                                v);
    }
    if (strcasecmp(v, "Authorization") == 0 || strcasecmp(v, "Cookie") == 0)
        return "OAuth2AccessTokenHeader: pick a dedicated header name";
    d->token_header = v;
    return NULL;
}

const char *oauth2_ap_rp_token_header(request_rec *r)
{
    const char *h = oauth2_ap_rp_dir_get(r)->token_header;

    return h != NULL && *h != '\0' ? h : NULL;
}

static const char *local_path(cmd_parms *cmd, const char *v)
{
    if (v[0] != '/' || v[1] == '/' || strpbrk(v, "?#\\ ") != NULL)
        return apr_psprintf(cmd->pool, "%s %s: must be a local path",
                            cmd->cmd->name, v);
    return NULL;
}

const char *oauth2_ap_rp_cmd_redirect_uri(cmd_parms *cmd, void *dc,
                                          const char *v)
{
    oauth2_ctx_t ctx;

    (void)dc;
    oauth2_ctx_init(&ctx, cmd->pool, NULL, 0);
    /* An absolute URL pins scheme and host; a path uses ServerName. */
    if (v[0] != '/' && !oauth2_http_url_allowed(&ctx, v) &&
        strncmp(v, "http://", 7) != 0)
        return apr_psprintf(cmd->pool, "OAuth2RedirectURI %s: %s", v,
                            ctx.err.text);
    if (v[0] == '/' && local_path(cmd, v) != NULL)
        return local_path(cmd, v);
    oauth2_ap_rp_srv_get(cmd->server)->redirect_uri = v;
    return NULL;
}

const char *oauth2_ap_rp_cmd_logout_uri(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err = local_path(cmd, v);

    (void)dc;
    if (err != NULL)
        return err;
    oauth2_ap_rp_srv_get(cmd->server)->logout_uri = v;
    return NULL;
}

const char *oauth2_ap_rp_cmd_return_allow(cmd_parms *cmd, void *dc,
                                          const char *v)
{
    oauth2_ap_rp_srv_t *c = oauth2_ap_rp_srv_get(cmd->server);
    size_t n = strlen(v);

    (void)dc;
    if ((strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) ||
        strchr(v + 8, '/') != NULL || strpbrk(v, "?#@\\ ") != NULL ||
        v[n - 1] == '/')
        return apr_psprintf(cmd->pool,
                            "OAuth2ReturnAllow %s: give an origin like "
                            "https://host[:port]",
                            v);
    if (c->return_allow == NULL)
        c->return_allow = apr_array_make(cmd->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(c->return_allow, const char *) = v;
    return NULL;
}

const char *oauth2_ap_rp_cmd_login_uri(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err = local_path(cmd, v);

    (void)dc;
    if (err != NULL)
        return err;
    oauth2_ap_rp_srv_get(cmd->server)->login_uri = v;
    return NULL;
}

const char *oauth2_ap_rp_cmd_trust_forwarded(cmd_parms *cmd, void *dc, int on)
{
    (void)dc;
    oauth2_ap_rp_srv_get(cmd->server)->trust_forwarded = on;
    return NULL;
}

/*
 * Nodes of one site behind a load balancer may listen on different local
 * ports; a shared name lets them share sessions while other vhosts keep
 * their own. Printable, no spaces, so it can sit inside a store key.
 */
const char *oauth2_ap_rp_cmd_session_ns(cmd_parms *cmd, void *dc, const char *v)
{
    const char *c;

    (void)dc;
    if (*v == '\0' || strlen(v) > 128)
        return "OAuth2SessionNamespace: 1 to 128 characters";
    for (c = v; *c; c++)
        if (*c <= ' ' || *c > '~')
            return "OAuth2SessionNamespace: printable ASCII without spaces";
    oauth2_ap_rp_srv_get(cmd->server)->session_ns = v;
    return NULL;
}

int oauth2_ap_rp_trust_forwarded(server_rec *s)
{
    return oauth2_ap_rp_srv_get(s)->trust_forwarded == 1;
}

/*
 * Across directives, per server: every OAuth2Login line names a provider
 * (recorded as the lines were read; per request too, for .htaccess), and a
 * server with providers has an OAuth2RedirectURI.
 */
int oauth2_ap_rp_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    (void)plog;
    (void)ptemp;
    (void)pconf;
    for (; s != NULL; s = s->next) {
        oauth2_ap_rp_srv_t *c = oauth2_ap_rp_srv_get(s);
        const oauth2_ap_srv_cfg_t *sc = oauth2_ap_srv_cfg(s);

        if (check_logins(s, c) != 0)
            return !OK;
        if (apr_hash_count(c->providers) == 0)
            continue;
        if (c->redirect_uri == NULL) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                         OAUTH2_LOGNO(00740) "OAuth2Provider is configured "
                                             "but OAuth2RedirectURI is not");
            return !OK;
        }
        if (oauth2_ap_session_store(sc) == NULL ||
            oauth2_ap_passphrase(sc) == NULL) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                         OAUTH2_LOGNO(00755) "OAuth2Provider needs "
                                             "OAuth2SessionStore and "
                                             "OAuth2Passphrase");
            return !OK;
        }
    }
    return OK;
}
