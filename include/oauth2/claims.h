/*
 * claims.h - JWT claim checks (RFC 7519, RFC 9068) against ctx->now, one
 * function per claim, each leaving its exact reason in ctx->err, plus the
 * scope helpers. Timestamps are compared as doubles so that any JSON number
 * (1e300, -5, 1.5) is handled without overflow.
 */
#ifndef OAUTH2_CLAIMS_H
#define OAUTH2_CLAIMS_H

#include <apr_tables.h>
#include <jansson.h>

#include "oauth2/oauth2.h"

/* iss must equal `expected` exactly. DENIED when absent or different. */
oauth2_status_t oauth2_claims_check_iss(oauth2_ctx_t *ctx, const json_t *claims,
                                        const char *expected);

/* aud is `expected` or an array of strings containing it. */
oauth2_status_t oauth2_claims_check_aud(oauth2_ctx_t *ctx, const json_t *claims,
                                        const char *expected);

/* Refused when now >= exp + leeway; absent is refused when `required`. */
oauth2_status_t oauth2_claims_check_exp(oauth2_ctx_t *ctx, const json_t *claims,
                                        int leeway_sec, int required);

/* Refused when now + leeway < nbf; absent is fine. */
oauth2_status_t oauth2_claims_check_nbf(oauth2_ctx_t *ctx, const json_t *claims,
                                        int leeway_sec);

/* Refused when iat > now + leeway; absent is refused when `required`. */
oauth2_status_t oauth2_claims_check_iat(oauth2_ctx_t *ctx, const json_t *claims,
                                        int leeway_sec, int required);

/* RFC 9068 header typ: "at+jwt" or "application/at+jwt", any case. */
oauth2_status_t oauth2_claims_check_typ(oauth2_ctx_t *ctx, const char *typ);

typedef struct oauth2_claims_rules_t {
    const char *issuer;   /* NULL: not checked */
    const char *audience; /* NULL: not checked */
    int leeway_sec;       /* clock skew allowed on exp/nbf/iat */
    int exp_optional;     /* 0 (default): a token without exp is refused */
    int iat_required;
} oauth2_claims_rules_t;

/* Run every check the rules ask for; the first failure decides. */
oauth2_status_t oauth2_claims_validate(oauth2_ctx_t *ctx, const json_t *claims,
                                       const oauth2_claims_rules_t *rules);

/*
 * Scopes granted by the token: `scope` (space-separated string, RFC 8693 /
 * 9068) or else `scp` (array of strings). An array of const char * in
 * ctx->pool, empty (never NULL) when there are none.
 */
apr_array_header_t *oauth2_claims_scopes(oauth2_ctx_t *ctx,
                                         const json_t *claims);

/* Split a space-separated scope string into an array in `p`. */
apr_array_header_t *oauth2_scopes_split(apr_pool_t *p, const char *s);

/* 1 when every scope in `want` is in `have` (an empty `want` is 1). */
int oauth2_scopes_has_all(const apr_array_header_t *have,
                          const apr_array_header_t *want);

#endif /* OAUTH2_CLAIMS_H */
