/*
 * authz.c - the Require providers `oauth2-scope` and `oauth2-claim`,
 * evaluated by Apache's own authz machinery so they combine with
 * RequireAll/RequireAny and every other provider. Arguments are parsed once
 * (parse_config; a bad regex fails configtest). The providers read the
 * request's principal (bearer or session alike); for AuthType oauth2-bearer
 * they authenticate on demand, so a denial in authz_core's first pass is a
 * 403 (not authz_core's after-authentication 401). Never verifies tokens.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <ap_provider.h>
#include <ap_regex.h>
#include <mod_auth.h>

#include "oauth2_apache.h"

/* One oauth2-claim argument: name:value (exact) or name~regex. */
typedef struct claim_rule_t {
    const char *name;
    const char *value; /* exact match, or NULL */
    ap_regex_t *re;    /* regex match, or NULL */
    const char *text;  /* as written, for the log */
} claim_rule_t;

/*
 * The principal of `r` as its own location sees it: one this location's
 * configuration established (its verifier list, its login provider). A
 * subrequest (SSI include, a lookup) shares the main request's principal
 * only when its location authenticates the same way; under another
 * AuthType it has none, as Apache gives it no user. Never authenticates.
 */
const oauth2_principal_t *oauth2_ap_principal_fitting(request_rec *r)
{
    const char *type = ap_auth_type(r);

    if (oauth2_ap_bearer_is_ours(r))
        return oauth2_ap_bearer_principal(r);
    if (type != NULL && strcasecmp(type, "oauth2") == 0)
        return oauth2_ap_rp_principal(r);
    return r->main == NULL ? oauth2_ap_principal_get(r) : NULL;
}

/* The same for our Require providers, authenticating a bearer request if
 * needed (authz_core's first pass runs before authentication). */
const oauth2_principal_t *oauth2_ap_principal_for(request_rec *r)
{
    if (oauth2_ap_bearer_is_ours(r))
        return oauth2_ap_bearer_authenticate(r) == OK
                   ? oauth2_ap_bearer_principal(r)
                   : NULL;
    return oauth2_ap_principal_fitting(r);
}

/* ---- oauth2-scope ------------------------------------------------------ */

/* Parsed once: the scopes (NULL-terminated) and their joined form. */
typedef struct scope_rule_t {
    const char *const *wanted;
    const char *joined; /* "a b", for the insufficient_scope challenge */
} scope_rule_t;

static const char *scope_parse(cmd_parms *cmd, const char *line,
                               const void **parsed)
{
    apr_array_header_t *a = apr_array_make(cmd->pool, 4, sizeof(char *));
    scope_rule_t *rule = apr_pcalloc(cmd->pool, sizeof(*rule));
    const char *w;

    while (*(w = ap_getword_conf(cmd->pool, &line)) != '\0') {
        if (strpbrk(w, "\"\\") != NULL)
            return "Require oauth2-scope: a scope may not contain '\"' "
                   "or '\\'";
        APR_ARRAY_PUSH(a, const char *) = w;
    }
    if (a->nelts == 0)
        return "Require oauth2-scope: name at least one scope";
    rule->joined = apr_array_pstrcat(cmd->pool, a, ' ');
    APR_ARRAY_PUSH(a, const char *) = NULL;
    rule->wanted = (const char *const *)a->elts;
    *parsed = rule;
    return NULL;
}

static authz_status scope_check(request_rec *r, const char *line,
                                const void *parsed)
{
    const scope_rule_t *rule = parsed;
    const oauth2_principal_t *p = oauth2_ap_principal_for(r);

    if (p == NULL)
        return AUTHZ_DENIED_NO_USER;
    if (oauth2_principal_has_scopes(p, rule->wanted))
        return AUTHZ_GRANTED;
    oauth2_ap_wanted_scope_add(r, rule->joined);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                  OAUTH2_LOGNO(00710) "scope check failed: wanted %s",
                  ap_escape_logitem(r->pool, line));
    return AUTHZ_DENIED;
}

/* ---- oauth2-claim ------------------------------------------------------ */

static const char *rule_parse(cmd_parms *cmd, const char *w, claim_rule_t *c)
{
    size_t n = strcspn(w, ":~");

    if (n == 0 || w[n] == '\0')
        return apr_psprintf(cmd->pool,
                            "Require oauth2-claim: want name:value or "
                            "name~regex, got '%s'",
                            w);
    c->text = w;
    c->name = apr_pstrndup(cmd->pool, w, n);
    if (w[n] == ':') {
        c->value = w + n + 1;
        return NULL;
    }
    c->re = ap_pregcomp(cmd->pool, w + n + 1, AP_REG_EXTENDED | AP_REG_NOSUB);
    if (c->re == NULL)
        return apr_psprintf(cmd->pool,
                            "Require oauth2-claim: bad regex in '%s'", w);
    return NULL;
}

static const char *claim_parse(cmd_parms *cmd, const char *line,
                               const void **parsed)
{
    apr_array_header_t *a = apr_array_make(cmd->pool, 2, sizeof(claim_rule_t));
    const char *w, *err;

    while (*(w = ap_getword_conf(cmd->pool, &line)) != '\0') {
        if ((err = rule_parse(cmd, w, apr_array_push(a))) != NULL)
            return err;
    }
    if (a->nelts == 0)
        return "Require oauth2-claim: name at least one name:value";
    *parsed = a;
    return NULL;
}

/* A scalar claim value as text: strings as they are, else JSON. */
static int value_matches(apr_pool_t *p, const claim_rule_t *c, const json_t *v)
{
    const char *text;
    char *dump = NULL;
    int ok;

    if (json_is_string(v))
        text = json_string_value(v);
    else if (json_is_object(v) || json_is_array(v))
        return 0;
    else if ((text = dump = json_dumps(v, JSON_ENCODE_ANY)) == NULL)
        return 0;
    ok = c->value ? strcmp(text, c->value) == 0
                  : ap_regexec(c->re, text, 0, NULL, 0) == 0;
    free(dump);
    return ok;
}

/* Arrays match when any element does. */
static int rule_matches(apr_pool_t *p, const claim_rule_t *c,
                        const json_t *claims)
{
    const json_t *v = claims ? json_object_get(claims, c->name) : NULL;
    size_t i;

    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return value_matches(p, c, v);
    for (i = 0; i < json_array_size(v); i++) {
        if (value_matches(p, c, json_array_get(v, i)))
            return 1;
    }
    return 0;
}

static authz_status claim_check(request_rec *r, const char *line,
                                const void *parsed)
{
    const apr_array_header_t *a = parsed;
    const oauth2_principal_t *p = oauth2_ap_principal_for(r);
    int i;

    if (p == NULL)
        return AUTHZ_DENIED_NO_USER;
    for (i = 0; i < a->nelts; i++) {
        const claim_rule_t *c = &APR_ARRAY_IDX(a, i, claim_rule_t);

        if (!rule_matches(r->pool, c, p->claims)) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          OAUTH2_LOGNO(00711) "claim check failed: %s",
                          ap_escape_logitem(r->pool, c->text));
            return AUTHZ_DENIED;
        }
    }
    return AUTHZ_GRANTED;
}

static const authz_provider scope_provider = {scope_check, scope_parse};
static const authz_provider claim_provider = {claim_check, claim_parse};

void oauth2_ap_authz_register_hooks(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "oauth2-scope",
                              AUTHZ_PROVIDER_VERSION, &scope_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "oauth2-claim",
                              AUTHZ_PROVIDER_VERSION, &claim_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}
