/*
 * pkce.c - RFC 7636 S256 for the relying party: a verifier from OpenSSL's
 * CSPRNG and its challenge. Never stores the verifier (the login state
 * does) and never offers "plain".
 */
#include <string.h>

#include "oauth2/pkce.h"
#include "oauth2/util.h"

oauth2_status_t oauth2_pkce_verifier_new(oauth2_ctx_t *ctx, const char **out)
{
    char *v = oauth2_random_b64url(ctx, 32);

    *out = v;
    return v ? OAUTH2_OK : OAUTH2_UNAVAILABLE;
}

/* RFC 7636 section 4.1: unreserved characters only, 43 to 128 of them. */
static int verifier_ok(const char *v)
{
    size_t i, n = strlen(v);

    if (n < 43 || n > 128)
        return 0;
    for (i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
              c == '~'))
            return 0;
    }
    return 1;
}

oauth2_status_t oauth2_pkce_challenge_s256(oauth2_ctx_t *ctx,
                                           const char *verifier,
                                           const char **out)
{
    unsigned char md[OAUTH2_SHA256_LEN];

    *out = NULL;
    if (verifier == NULL || !verifier_ok(verifier)) {
        oauth2_err_set(ctx, "pkce: verifier must be 43-128 unreserved "
                            "characters");
        return OAUTH2_DENIED;
    }
    if (!oauth2_sha256(verifier, strlen(verifier), md)) {
        oauth2_err_set(ctx, "pkce: SHA-256 failed");
        return OAUTH2_ERROR;
    }
    *out = oauth2_b64url_encode(ctx->pool, md, sizeof(md));
    return OAUTH2_OK;
}
