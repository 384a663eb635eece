/*
 * memo_int.h - the decision memo of a policy version (memo.c), for the
 * engine only. Not thread-safe by itself: get and put run under the
 * policy's lock; field blobs are built outside it, in the request pool.
 */
#ifndef OAUTH2_MEMO_INT_H
#define OAUTH2_MEMO_INT_H

#include "policy_int.h"

/* A decision whose read fields serialize to more than this is not kept. */
#define OAUTH2_MEMO_KEY_MAX 4096

/* The request's fields as memo key parts, built on demand. */
typedef struct oauth2_memo_fields_t {
    unsigned tried; /* bits attempted */
    unsigned have;  /* bits with a usable blob */
    unsigned nulls; /* bits of absent scalar fields (blob "") */
    const char *blob[OAUTH2_VIEW_NFIELDS];
    size_t len[OAUTH2_VIEW_NFIELDS];
    unsigned long long h[OAUTH2_VIEW_NFIELDS];
} oauth2_memo_fields_t;

typedef struct oauth2_memo_t oauth2_memo_t;

/* Build the blobs of the fields in `mask` not tried yet (into `p`). */
void oauth2_memo_fields_add(apr_pool_t *p, oauth2_memo_fields_t *f,
                            const oauth2_policy_request_t *req, unsigned mask);

/* A memo of `slots` entries (rounded up to a power of two); NULL for 0. */
oauth2_memo_t *oauth2_memo_create(unsigned slots);
void oauth2_memo_free(oauth2_memo_t *m);

/* 1 and `res` filled (strings in `p`) when a kept decision matches. */
int oauth2_memo_get(oauth2_memo_t *m, const oauth2_memo_fields_t *f,
                    apr_pool_t *p, oauth2_policy_result_t *res);

/* Keep `res`, which read the fields in `mask`; the mask when kept, else 0. */
unsigned oauth2_memo_put(oauth2_memo_t *m, const oauth2_memo_fields_t *f,
                         unsigned mask, const oauth2_policy_result_t *res);

#endif /* OAUTH2_MEMO_INT_H */
