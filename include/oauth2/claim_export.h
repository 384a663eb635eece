/*
 * claim_export.h - a principal's top-level claims as the backend sees
 * them: OAUTH2_CLAIM_<name> environment names and text values. Built once
 * per verified token and kept with its cached verdict, so the hot path
 * only copies pointers into the request's tables.
 */
#ifndef OAUTH2_CLAIM_EXPORT_H
#define OAUTH2_CLAIM_EXPORT_H

#include <stddef.h>

#include <apr_pools.h>
#include <jansson.h>

#define OAUTH2_CLAIM_ENV_PREFIX "OAUTH2_CLAIM_"

typedef struct oauth2_claim_export_t {
    const char *key;         /* the claim's name as the token has it */
    const char *env_name;    /* prefix + key, bytes outside [A-Za-z0-9_] -> _ */
    const char *text;        /* strings as they are, anything else as JSON */
    const char *header_text; /* text, control characters blanked; or NULL */
    int plain;               /* key is all [a-z0-9_]: no two collide */
} oauth2_claim_export_t;

typedef struct oauth2_claim_exports_t {
    size_t n;
    size_t size; /* bytes of a flattened block (texts included); 0 else */
    oauth2_claim_export_t e[];
} oauth2_claim_exports_t;

/* Every claim of the object `claims` (NULL if it is none), built in p.
 * A value jansson cannot dump is left out. header_text is NULL unless
 * `headers` (a cached verdict makes them all, a request only what it
 * sends). */
oauth2_claim_exports_t *
oauth2_claim_exports_make(apr_pool_t *p, const json_t *claims, int headers);

/* The same in one malloc() block, for a cache entry; free() it. */
oauth2_claim_exports_t *
oauth2_claim_exports_flatten(const oauth2_claim_exports_t *x);

/* A flattened block copied into p, its pointers moved along: one
 * allocation and a memcpy, for a hit on a cache that may drop the block
 * once its lock is released. NULL if `flat` is not a flattened block. */
oauth2_claim_exports_t *
oauth2_claim_exports_copy(apr_pool_t *p, const oauth2_claim_exports_t *flat);

/* A claim value as text in p: strings as they are, anything else as JSON;
 * NULL if jansson cannot dump it. */
const char *oauth2_claim_text(apr_pool_t *p, const json_t *v);

/* prefix + name in p, bytes of name outside [A-Za-z0-9_] replaced by
 * `other`; *plain is cleared unless name is all [a-z0-9_]. */
char *oauth2_claim_safe_name(apr_pool_t *p, const char *prefix, size_t plen,
                             const char *name, char other, int *plain);

#endif /* OAUTH2_CLAIM_EXPORT_H */
