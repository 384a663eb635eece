/*
 * directives.c - the command table and the handlers of the server- and
 * directory-level directives. Handlers hand the words to core cfg.c and
 * store the result; every failure returns a message naming the directive
 * and what was wrong, which `apachectl configtest` prints. Secrets are
 * resolved here, at config time, so a missing file or a failing command is
 * caught by configtest. Checks across directives live in config.c.
 */
#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

#include "oauth2_apache.h"

/* The handler's error: "<Directive>: <why>" in the config pool. */
static const char *fail(cmd_parms *cmd, const oauth2_ctx_t *ctx)
{
    return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, ctx->err.text);
}

static oauth2_ap_srv_cfg_t *srv(cmd_parms *cmd)
{
    return oauth2_ap_srv_cfg(cmd->server);
}

/* ---- crypto ------------------------------------------------------------ */

static const char *set_passphrase(cmd_parms *cmd, void *dc, const char *cur,
                                  const char *prev)
{
    oauth2_ctx_t *ctx = oauth2_ap_server_ctx(cmd->server, cmd->pool);
    oauth2_ap_passphrase_t *pp = apr_pcalloc(cmd->pool, sizeof(*pp));

    if (oauth2_cfg_passphrase_resolve(ctx, cur, &pp->current) != OAUTH2_OK)
        return fail(cmd, ctx);
    if (prev != NULL &&
        oauth2_cfg_passphrase_resolve(ctx, prev, &pp->previous) != OAUTH2_OK)
        return apr_psprintf(cmd->pool, "%s: previous: %s", cmd->cmd->name,
                            ctx->err.text);
    srv(cmd)->passphrase = pp;
    return NULL;
}

/* ---- sessions ---------------------------------------------------------- */

static const char *set_store(cmd_parms *cmd, void *dc, int argc,
                             char *const argv[])
{
    oauth2_ctx_t *ctx = oauth2_ap_server_ctx(cmd->server, cmd->pool);
    oauth2_ap_store_cfg_t *st = apr_pcalloc(cmd->pool, sizeof(*st));
    oauth2_store_url_t *url = NULL;
    oauth2_cfg_store_opts_t *opts = NULL;

    if (oauth2_cfg_store_parse(ctx, argc, argv, &url, &opts) != OAUTH2_OK)
        return fail(cmd, ctx);
    st->url = url;
    st->opts = opts;
    srv(cmd)->store = st;
    return NULL;
}

static const char *set_session_timeout(cmd_parms *cmd, void *dc, int argc,
                                       char *const argv[])
{
    static const char *const known[] = {"inactivity", "max", NULL};
    oauth2_ctx_t *ctx = oauth2_ap_server_ctx(cmd->server, cmd->pool);
    oauth2_ap_srv_cfg_t *c = srv(cmd);
    apr_interval_time_t inact, max;
    apr_table_t *t = NULL;

    if (argc == 0)
        return apr_psprintf(
            cmd->pool, "%s: needs inactivity= and/or max=", cmd->cmd->name);
    if (oauth2_cfg_kv_parse(ctx, argc, argv, &t) != OAUTH2_OK ||
        oauth2_cfg_check_known(ctx, t, known) != OAUTH2_OK ||
        oauth2_cfg_kv_duration(ctx, t, "inactivity", OAUTH2_AP_UNSET, &inact) !=
            OAUTH2_OK ||
        oauth2_cfg_kv_duration(ctx, t, "max", OAUTH2_AP_UNSET, &max) !=
            OAUTH2_OK)
        return fail(cmd, ctx);
    if (inact == 0 || max == 0)
        return apr_psprintf(cmd->pool, "%s: %s=0 is not allowed",
                            cmd->cmd->name, inact == 0 ? "inactivity" : "max");
    if (inact != OAUTH2_AP_UNSET)
        c->session_inactivity = inact;
    if (max != OAUTH2_AP_UNSET)
        c->session_max = max;
    return NULL;
}

static const char *set_cookie_secure(cmd_parms *cmd, void *dc, const char *v)
{
    oauth2_ctx_t *ctx = oauth2_ap_server_ctx(cmd->server, cmd->pool);
    int on = 1;

    if (oauth2_cfg_parse_bool(ctx, v, &on) != OAUTH2_OK)
        return fail(cmd, ctx);
    srv(cmd)->cookie_secure = on;
    return NULL;
}

/* ---- backend ----------------------------------------------------------- */

static const char *set_remote_user_claim(cmd_parms *cmd, void *dc,
                                         const char *v)
{
    oauth2_ap_dir_cfg_t *c = dc;
    const char *p;

    for (p = v; *p != '\0'; p++) {
        if (apr_iscntrl(*p) || apr_isspace(*p))
            break;
    }
    if (v[0] == '\0' || *p != '\0' || strlen(v) > 128)
        return apr_psprintf(cmd->pool, "%s: bad claim name '%s'",
                            cmd->cmd->name,
                            oauth2_log_escape(cmd->pool, v, strlen(v)));
    c->remote_user_claim = v;
    return NULL;
}

/* RFC 9110 token characters: what a header field name may contain. */
static int is_tchar(char ch)
{
    return apr_isalnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *set_claim_header_prefix(cmd_parms *cmd, void *dc,
                                           const char *v)
{
    oauth2_ap_dir_cfg_t *c = dc;
    const char *p;

    if (strcasecmp(v, "Off") == 0) {
        c->claim_header_prefix = "";
        return NULL;
    }
    for (p = v; is_tchar(*p); p++)
        ;
    if (v[0] == '\0' || *p != '\0' || strlen(v) > 64)
        return apr_psprintf(cmd->pool,
                            "%s: bad header prefix '%s' (token characters "
                            "only, e.g. OAuth2-Claim-, or Off)",
                            cmd->cmd->name,
                            oauth2_log_escape(cmd->pool, v, strlen(v)));
    c->claim_header_prefix = v;
    return NULL;
}

/* ---- the table: one block per feature, in the docs' order -------------- */

const command_rec oauth2_ap_cmds[] = {
    /* crypto */
    AP_INIT_TAKE12("OAuth2Passphrase", set_passphrase, NULL, RSRC_CONF,
                   "secret|file:/path|exec:/path [previous]: key material "
                   "for sessions and cookies, at least 16 bytes"),
    /* sessions */
    AP_INIT_TAKE_ARGV("OAuth2SessionStore", set_store, NULL, RSRC_CONF,
                      "redis://host:port/db | redis+sentinel://... | "
                      "redis+cluster://... | memory: [password= prefix= "
                      "connect_timeout= timeout= pool=]"),
    AP_INIT_TAKE_ARGV("OAuth2SessionTimeout", set_session_timeout, NULL,
                      RSRC_CONF,
                      "inactivity=<duration> max=<duration> (default "
                      "inactivity=1h max=8h)"),
    AP_INIT_TAKE1("OAuth2CookieSecure", set_cookie_secure, NULL, RSRC_CONF,
                  "On|Off: mark session cookies Secure (default On)"),
    /* backend */
    AP_INIT_TAKE1("OAuth2RemoteUserClaim", set_remote_user_claim, NULL,
                  OR_AUTHCFG, "claim that becomes REMOTE_USER (default sub)"),
    AP_INIT_TAKE1("OAuth2ClaimHeaderPrefix", set_claim_header_prefix, NULL,
                  OR_AUTHCFG,
                  "prefix of the claim headers passed to the backend, or "
                  "Off (default: no claim headers)"),
    /* relying party (provider.c) */
    AP_INIT_TAKE_ARGV("OAuth2Provider", oauth2_ap_rp_cmd_provider, NULL,
                      RSRC_CONF,
                      "NAME preset=|discovery=|endpoints... client_id= "
                      "client_secret= [scope= auth= userinfo= user_claim= "
                      "hd= params= timeout= discovery_ttl=]"),
    AP_INIT_TAKE1("OAuth2Login", oauth2_ap_rp_cmd_login, NULL, OR_AUTHCFG,
                  "the OAuth2Provider that AuthType oauth2 signs users in "
                  "with"),
    AP_INIT_TAKE1("OAuth2AccessTokenHeader", oauth2_ap_rp_cmd_token_header,
                  NULL, OR_AUTHCFG,
                  "request header that carries the access token to the "
                  "backend, or Off (default)"),
    AP_INIT_TAKE1("OAuth2RedirectURI", oauth2_ap_rp_cmd_redirect_uri, NULL,
                  RSRC_CONF, "path (or absolute URL) of the login callback"),
    AP_INIT_TAKE1("OAuth2LogoutURI", oauth2_ap_rp_cmd_logout_uri, NULL,
                  RSRC_CONF, "path of the logout handler"),
    AP_INIT_ITERATE("OAuth2ReturnAllow", oauth2_ap_rp_cmd_return_allow, NULL,
                    RSRC_CONF,
                    "other origins (https://host[:port]) a logout may "
                    "return to"),
    /* bearer: AuthType oauth2-bearer */
    AP_INIT_RAW_ARGS("OAuth2TokenVerify", oauth2_ap_bearer_cmd_verify, NULL,
                     OR_AUTHCFG,
                     "jwks_uri=|jwks_file=|pem=|introspect= issuer= "
                     "[audience= algs= leeway= type= cache= client_id= "
                     "client_secret= client_auth=]: accept bearer tokens "
                     "verified this way (repeat for several issuers)"),
    AP_INIT_FLAG("OAuth2TokenQueryParam", oauth2_ap_bearer_cmd_query, NULL,
                 OR_AUTHCFG,
                 "On|Off: also accept the access_token query parameter "
                 "(RFC 6750 2.3; default Off)"),
    /* policy (policy.c): Lua policies per virtual host, RFC 9728 */
    AP_INIT_TAKE1("OAuth2Policy", oauth2_ap_policy_cmd_file, NULL, RSRC_CONF,
                  "Lua policy script for Require oauth2-policy in this "
                  "virtual host"),
    AP_INIT_TAKE1("OAuth2PolicyLibDir", oauth2_ap_policy_cmd_lib, NULL,
                  RSRC_CONF,
                  "directory holding oauth2/policy.lua (default: the "
                  "compiled-in OAUTH2_POLICY_LIB_DIR)"),
    AP_INIT_RAW_ARGS("OAuth2PolicyLimits", oauth2_ap_policy_cmd_limits, NULL,
                     RSRC_CONF,
                     "instructions=N memory=SIZE [states=N] [reload=SEC] "
                     "[memo=N]"),
    AP_INIT_TAKE1("OAuth2PolicyShadow", oauth2_ap_policy_cmd_shadow, NULL,
                  RSRC_CONF,
                  "candidate policy evaluated beside OAuth2Policy; only "
                  "disagreements are logged"),
    AP_INIT_TAKE1("OAuth2PolicyLog", oauth2_ap_policy_cmd_log, NULL, RSRC_CONF,
                  "file receiving one JSON line per decision"),
    AP_INIT_TAKE1("OAuth2ResourceMetadata", oauth2_ap_policy_cmd_metadata, NULL,
                  RSRC_CONF,
                  "On|Off|https://origin: serve RFC 9728 metadata and "
                  "point bearer challenges to it (default: On with "
                  "OAuth2Policy)"),
    /* sessions branch: back-channel logout (session_mgmt.c) */
    AP_INIT_TAKE1("OAuth2BackchannelLogoutURI",
                  oauth2_ap_sm_cmd_backchannel_uri, NULL, RSRC_CONF,
                  "path of the OIDC Back-Channel Logout endpoint (POST "
                  "logout_token)"),
    /* hardening: third-party login start, proxy headers */
    AP_INIT_TAKE1("OAuth2SessionNamespace", oauth2_ap_rp_cmd_session_ns, NULL,
                  RSRC_CONF,
                  "name shared by the nodes of one site so they share "
                  "sessions (default: the virtual host's origin)"),
    AP_INIT_TAKE1("OAuth2LoginURI", oauth2_ap_rp_cmd_login_uri, NULL, RSRC_CONF,
                  "path that starts a login (iss= or provider=, "
                  "target_link_uri=, allow-listed pass= parameters)"),
    AP_INIT_FLAG("OAuth2TrustForwardedHeaders",
                 oauth2_ap_rp_cmd_trust_forwarded, NULL, RSRC_CONF,
                 "On|Off: build absolute URLs from X-Forwarded-Proto/Host "
                 "(only behind a trusted proxy; default Off)"),
    {NULL},
};
