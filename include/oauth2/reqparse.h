/*
 * reqparse.h - server-neutral parsers for the request bytes a client
 * controls directly: the Authorization header (RFC 6750 section 2.1) and
 * the Cookie header (RFC 6265 section 5.4). Pure functions over strings,
 * so the adapter stays free of protocol logic and libFuzzer can reach them.
 * Never decides what a token or a cookie means: verify.h and session.h do.
 */
#ifndef OAUTH2_REQPARSE_H
#define OAUTH2_REQPARSE_H

#include <stddef.h>

#include "oauth2/oauth2.h"

/*
 * One Authorization header value. OK with *token (in ctx->pool) when it is
 * exactly one Bearer credential; NOT_FOUND when it names another scheme
 * (the request is simply not ours); DENIED with ctx->err for an empty
 * value, a Bearer without a token, several credentials or trailing bytes
 * (HTTP 400 invalid_request). The token's alphabet is the verifier's job.
 */
oauth2_status_t oauth2_bearer_parse(oauth2_ctx_t *ctx, const char *header,
                                    const char **token);

/* One cookie of a Cookie header, pointing into the header (not copied). */
typedef struct oauth2_cookie_pair_t {
    const char *name;
    size_t name_len;
    const char *value; /* NULL for a pair without '=' */
    size_t value_len;
} oauth2_cookie_pair_t;

/*
 * Iterate over the "name=value" pairs of a Cookie header: *pos starts at
 * the header and advances; returns 1 with *pair filled, 0 at the end.
 * Empty pairs (";;") are skipped; nothing is unquoted or decoded.
 */
int oauth2_cookie_next(const char **pos, oauth2_cookie_pair_t *pair);

/*
 * The value of cookie `name` in `header`, copied into ctx->pool. OK with
 * *value when it appears exactly once; NOT_FOUND when absent; DENIED
 * ("cookie NAME sent N times") when repeated, because which copy a browser
 * or a proxy put first is not something to bet a session on. *count (may
 * be NULL) gets the number of occurrences either way.
 */
oauth2_status_t oauth2_cookie_get(oauth2_ctx_t *ctx, const char *header,
                                  const char *name, const char **value,
                                  int *count);

#endif /* OAUTH2_REQPARSE_H */
