/*
 * reqparse.c - the Authorization and Cookie header parsers of reqparse.h.
 * Owns no state and never logs: the bytes are the client's, and the caller
 * decides what (escaped) detail reaches the log.
 */
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

#include "oauth2/reqparse.h"

#define WS " \t"

static const char *skip_ws(const char *s)
{
    return s + strspn(s, WS);
}

oauth2_status_t oauth2_bearer_parse(oauth2_ctx_t *ctx, const char *header,
                                    const char **token)
{
    const char *h, *t;
    size_t n;

    if (header == NULL)
        return OAUTH2_NOT_FOUND;
    h = skip_ws(header);
    if (*h == '\0') {
        oauth2_err_set(ctx, "empty Authorization header");
        return OAUTH2_DENIED;
    }
    n = strcspn(h, WS);
    if (n != 6 || strncasecmp(h, "Bearer", 6) != 0) {
        if (strchr(h, ',') == NULL)
            return OAUTH2_NOT_FOUND; /* another scheme, one credential */
        oauth2_err_set(ctx, "several credentials in Authorization header");
        return OAUTH2_DENIED;
    }
    t = skip_ws(h + 6);
    n = strcspn(t, WS ",");
    if (n == 0) {
        oauth2_err_set(ctx, "Bearer without a token");
        return OAUTH2_DENIED;
    }
    if (*skip_ws(t + n) != '\0') {
        oauth2_err_set(ctx, "bytes after the bearer token");
        return OAUTH2_DENIED;
    }
    *token = apr_pstrndup(ctx->pool, t, n);
    return OAUTH2_OK;
}

int oauth2_cookie_next(const char **pos, oauth2_cookie_pair_t *pair)
{
    const char *p = *pos, *eq;
    size_t n;

    if (p == NULL)
        return 0;
    p += strspn(p, "; \t");
    if (*p == '\0') {
        *pos = p;
        return 0;
    }
    n = strcspn(p, ";");
    eq = memchr(p, '=', n);
    pair->name = p;
    pair->name_len = eq ? (size_t)(eq - p) : n;
    while (pair->name_len > 0 && strchr(WS, p[pair->name_len - 1]) != NULL)
        pair->name_len--;
    pair->value = eq ? eq + 1 : NULL;
    pair->value_len = eq ? n - (size_t)(eq - p) - 1 : 0;
    *pos = p + n;
    return 1;
}

oauth2_status_t oauth2_cookie_get(oauth2_ctx_t *ctx, const char *header,
                                  const char *name, const char **value,
                                  int *count)
{
    oauth2_cookie_pair_t c;
    const char *pos = header, *first = NULL;
    size_t nl = name ? strlen(name) : 0, flen = 0;
    int seen = 0;

    while (nl > 0 && oauth2_cookie_next(&pos, &c)) {
        if (c.value == NULL || c.name_len != nl ||
            memcmp(c.name, name, nl) != 0)
            continue;
        if (seen++ == 0) {
            first = c.value;
            flen = c.value_len;
        }
    }
    if (count != NULL)
        *count = seen;
    if (seen == 0)
        return OAUTH2_NOT_FOUND;
    if (seen > 1) {
        oauth2_err_set(ctx, "cookie %s sent %d times", name, seen);
        return OAUTH2_DENIED;
    }
    *value = apr_pstrndup(ctx->pool, first, flen);
    return OAUTH2_OK;
}
