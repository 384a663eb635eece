/*
 * pkce.h - Proof Key for Code Exchange (RFC 7636), S256 only: the client
 * side (verifier generation and challenge derivation).
 */
#ifndef OAUTH2_PKCE_H
#define OAUTH2_PKCE_H

#include "oauth2/oauth2.h"

/* 32 random bytes as base64url: 43 characters. */
#define OAUTH2_PKCE_VERIFIER_LEN 43

/*
 * A fresh code_verifier in ctx->pool. UNAVAILABLE when the RNG fails (the
 * login must not proceed with a guessable verifier).
 */
oauth2_status_t oauth2_pkce_verifier_new(oauth2_ctx_t *ctx, const char **out);

/*
 * code_challenge = BASE64URL(SHA256(ASCII(verifier))), in ctx->pool. DENIED
 * when `verifier` is not 43..128 characters of [A-Za-z0-9-._~].
 */
oauth2_status_t oauth2_pkce_challenge_s256(oauth2_ctx_t *ctx,
                                           const char *verifier,
                                           const char **out);

#endif /* OAUTH2_PKCE_H */
