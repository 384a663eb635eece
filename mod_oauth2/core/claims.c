/*
 * claims.c - one small check per registered claim (iss, aud, exp, nbf, iat),
 * the RFC 9068 typ check and scope extraction. Owns the time arithmetic:
 * all against ctx->now, as doubles. Never verifies signatures (jose.c) and
 * never decides what a scope grants (authz and policies do).
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "oauth2/claims.h"
#include "oauth2/log.h"

oauth2_status_t oauth2_claims_check_iss(oauth2_ctx_t *ctx, const json_t *claims,
                                        const char *expected)
{
    const json_t *v = json_object_get(claims, "iss");

    if (!json_is_string(v)) {
        oauth2_err_set(ctx, "iss missing or not a string");
        return OAUTH2_DENIED;
    }
    if (expected == NULL || strcmp(json_string_value(v), expected) != 0) {
        oauth2_err_set(ctx, "iss \"%s\" is not the expected issuer",
                       oauth2_log_escape(ctx->pool, json_string_value(v),
                                         json_string_length(v)));
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

oauth2_status_t oauth2_claims_check_aud(oauth2_ctx_t *ctx, const json_t *claims,
                                        const char *expected)
{
    const json_t *v = json_object_get(claims, "aud"), *e;
    size_t i;

    if (expected != NULL && json_is_string(v)) {
        if (strcmp(json_string_value(v), expected) == 0)
            return OAUTH2_OK;
    }
    else if (expected != NULL && json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            if (json_is_string(e) &&
                strcmp(json_string_value(e), expected) == 0)
                return OAUTH2_OK;
        }
    }
    else if (v == NULL) {
        oauth2_err_set(ctx, "aud missing");
        return OAUTH2_DENIED;
    }
    oauth2_err_set(ctx, "aud does not contain \"%s\"",
                   expected ? expected : "(none)");
    return OAUTH2_DENIED;
}

/* ctx->now in seconds, as a double. */
static double now_sec(const oauth2_ctx_t *ctx)
{
    return (double)ctx->now / (double)APR_USEC_PER_SEC;
}

/*
 * A NumericDate claim: 1 and *out when present as a JSON number, 0 when
 * absent, -1 when present with another type (err set).
 */
static int numeric_date(oauth2_ctx_t *ctx, const json_t *claims,
                        const char *name, double *out)
{
    const json_t *v = json_object_get(claims, name);

    if (v == NULL)
        return 0;
    if (!json_is_number(v)) {
        oauth2_err_set(ctx, "%s is not a number", name);
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

oauth2_status_t oauth2_claims_check_exp(oauth2_ctx_t *ctx, const json_t *claims,
                                        int leeway_sec, int required)
{
    double exp = 0;
    int rc = numeric_date(ctx, claims, "exp", &exp);

    if (rc < 0)
        return OAUTH2_DENIED;
    if (rc == 0) {
        if (!required)
            return OAUTH2_OK;
        oauth2_err_set(ctx, "exp missing");
        return OAUTH2_DENIED;
    }
    if (now_sec(ctx) >= exp + leeway_sec) {
        oauth2_err_set(ctx, "token expired: exp %.0f, now %.0f, leeway %d", exp,
                       now_sec(ctx), leeway_sec);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

oauth2_status_t oauth2_claims_check_nbf(oauth2_ctx_t *ctx, const json_t *claims,
                                        int leeway_sec)
{
    double nbf = 0;
    int rc = numeric_date(ctx, claims, "nbf", &nbf);

    if (rc <= 0)
        return rc < 0 ? OAUTH2_DENIED : OAUTH2_OK;
    if (now_sec(ctx) + leeway_sec < nbf) {
        oauth2_err_set(ctx,
                       "token not yet valid: nbf %.0f, now %.0f, "
                       "leeway %d",
                       nbf, now_sec(ctx), leeway_sec);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

oauth2_status_t oauth2_claims_check_iat(oauth2_ctx_t *ctx, const json_t *claims,
                                        int leeway_sec, int required)
{
    double iat = 0;
    int rc = numeric_date(ctx, claims, "iat", &iat);

    if (rc < 0)
        return OAUTH2_DENIED;
    if (rc == 0) {
        if (!required)
            return OAUTH2_OK;
        oauth2_err_set(ctx, "iat missing");
        return OAUTH2_DENIED;
    }
    if (iat > now_sec(ctx) + leeway_sec) {
        oauth2_err_set(ctx, "iat %.0f is in the future: now %.0f, leeway %d",
                       iat, now_sec(ctx), leeway_sec);
        return OAUTH2_DENIED;
    }
    return OAUTH2_OK;
}

oauth2_status_t oauth2_claims_check_typ(oauth2_ctx_t *ctx, const char *typ)
{
    if (typ != NULL && (strcasecmp(typ, "at+jwt") == 0 ||
                        strcasecmp(typ, "application/at+jwt") == 0))
        return OAUTH2_OK;
    oauth2_err_set(ctx, "typ \"%s\" is not at+jwt",
                   typ ? oauth2_log_escape(ctx->pool, typ, strlen(typ))
                       : "(none)");
    return OAUTH2_DENIED;
}

oauth2_status_t oauth2_claims_validate(oauth2_ctx_t *ctx, const json_t *claims,
                                       const oauth2_claims_rules_t *r)
{
    oauth2_status_t st;

    if (!json_is_object(claims)) {
        oauth2_err_set(ctx, "claims are not an object");
        return OAUTH2_DENIED;
    }
    if ((st = oauth2_claims_check_exp(ctx, claims, r->leeway_sec,
                                      !r->exp_optional)) != OAUTH2_OK ||
        (st = oauth2_claims_check_nbf(ctx, claims, r->leeway_sec)) !=
            OAUTH2_OK ||
        (st = oauth2_claims_check_iat(ctx, claims, r->leeway_sec,
                                      r->iat_required)) != OAUTH2_OK)
        return st;
    if (r->issuer != NULL &&
        (st = oauth2_claims_check_iss(ctx, claims, r->issuer)) != OAUTH2_OK)
        return st;
    if (r->audience != NULL &&
        (st = oauth2_claims_check_aud(ctx, claims, r->audience)) != OAUTH2_OK)
        return st;
    return OAUTH2_OK;
}

apr_array_header_t *oauth2_scopes_split(apr_pool_t *p, const char *s)
{
    apr_array_header_t *arr = apr_array_make(p, 8, sizeof(const char *));
    char *copy, *tok, *last = NULL;

    if (s == NULL)
        return arr;
    copy = apr_pstrdup(p, s);
    for (tok = apr_strtok(copy, " ", &last); tok != NULL;
         tok = apr_strtok(NULL, " ", &last))
        APR_ARRAY_PUSH(arr, const char *) = tok;
    return arr;
}

apr_array_header_t *oauth2_claims_scopes(oauth2_ctx_t *ctx,
                                         const json_t *claims)
{
    const json_t *scope = json_object_get(claims, "scope");
    const json_t *scp = json_object_get(claims, "scp"), *e;
    apr_array_header_t *arr;
    size_t i;

    if (json_is_string(scope))
        return oauth2_scopes_split(ctx->pool, json_string_value(scope));
    arr = apr_array_make(ctx->pool, 8, sizeof(const char *));
    json_array_foreach(scp, i, e)
    {
        /* Only non-empty strings: a scope name never contains a space. */
        if (json_is_string(e) && json_string_length(e) > 0 &&
            strchr(json_string_value(e), ' ') == NULL)
            APR_ARRAY_PUSH(arr, const char *) =
                apr_pstrdup(ctx->pool, json_string_value(e));
    }
    return arr;
}

int oauth2_scopes_has_all(const apr_array_header_t *have,
                          const apr_array_header_t *want)
{
    int i, j, found;

    for (i = 0; want != NULL && i < want->nelts; i++) {
        const char *w = APR_ARRAY_IDX(want, i, const char *);
        found = 0;
        for (j = 0; have != NULL && j < have->nelts && !found; j++)
            found = strcmp(APR_ARRAY_IDX(have, j, const char *), w) == 0;
        if (!found)
            return 0;
    }
    return 1;
}
