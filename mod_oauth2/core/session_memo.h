/*
 * session_memo.h - private to core/session.c (and its unit test): the
 * per-process memo of opened session records. See session_memo.c.
 */
#ifndef OAUTH2_SESSION_MEMO_H
#define OAUTH2_SESSION_MEMO_H

#include "oauth2/crypto.h"
#include "oauth2/session.h"

/*
 * Fill s (sub, provider, sid, tokens, times, claims; all in ctx->pool) from
 * the memo when the memo saw exactly this record opened: same store key,
 * cookie secret, key ring and sealed value. OK on a hit, NOT_FOUND
 * otherwise (the caller then opens the record itself).
 */
oauth2_status_t oauth2_session_memo_get(oauth2_ctx_t *ctx,
                                        const oauth2_crypto_keyring_t *ring,
                                        oauth2_session_t *s, const char *val,
                                        size_t len);

/*
 * Remember an opened record; silently nothing when memory is short.
 * Returns s's claims prepared for the backend, in ctx->pool (what a hit
 * will copy), or NULL: the caller's s->exports.
 */
const struct oauth2_claim_exports_t *
oauth2_session_memo_put(oauth2_ctx_t *ctx, const oauth2_crypto_keyring_t *ring,
                        const oauth2_session_t *s, const char *val, size_t len);

/* Counters since process start, for tests and the benchmark. */
void oauth2_session_memo_stats(unsigned long *hits, unsigned long *misses);

#endif
