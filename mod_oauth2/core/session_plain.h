/*
 * session_plain.h - private to core/session.c (and its unit test and
 * fuzz target): a session record's plaintext, before sealing and after
 * opening. See session.c for the v1 and v2 layouts.
 */
#ifndef OAUTH2_SESSION_PLAIN_H
#define OAUTH2_SESSION_PLAIN_H

#include "oauth2/session.h"

/*
 * The v2 plaintext of s: the tokens length-prefixed, then a JSON object of
 * the rest. *out is OPENSSL_malloc'd and holds tokens: the caller
 * OPENSSL_clear_free()s it. ERROR with ctx->err.
 */
oauth2_status_t oauth2_session_encode(oauth2_ctx_t *ctx,
                                      const oauth2_session_t *s,
                                      unsigned char **out, size_t *outlen);

/*
 * Fill s's fields (sub, provider, sid, tokens, claims, times; in ctx->pool)
 * from a v1 or v2 plaintext. DENIED with ctx->err for anything else; s's
 * id, secret and store key are left alone.
 */
oauth2_status_t oauth2_session_decode(oauth2_ctx_t *ctx, oauth2_session_t *s,
                                      const unsigned char *pt, size_t len);

#endif
