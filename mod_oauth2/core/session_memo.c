/*
 * session_memo.c - a bounded per-process memo of opened session records.
 *
 * Opening a record (AES-256-GCM, then the JSON parse of ~2-3 KB) was about
 * three quarters of the CPU of a session request (docs/performance.md);
 * most requests of a session find the very record the previous one opened.
 * A hit needs the same store key, the same cookie secret (constant-time
 * compare), the same key ring (SHA-256 digest of the passphrases) and a
 * byte-identical sealed value: opening is a function of exactly these, so
 * a hit returns what opening would. The store is still read on every
 * request (logout, expiry, the inactivity check and a rewritten record all
 * take effect at once); the memo never answers for a value it did not see
 * open successfully.
 *
 * One slot per hash of the store key (SLOTS of them, newest wins), guarded
 * by one mutex held only to compare and copy. Entries are malloc'd (the
 * memo outlives requests), tokens cleansed on eviction; the claims object
 * is shared with the requests that hit it (reference counted, read-only).
 * Never logs.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/crypto.h>

#include "oauth2/claim_export.h"
#include "oauth2/util.h"
#include "session_memo.h"

#define SLOTS 256

typedef struct slot_t {
    char *store_key; /* NULL: empty */
    unsigned char secret[OAUTH2_SESSION_RAND_LEN];
    unsigned char ring[OAUTH2_SHA256_LEN];
    char *val;
    size_t len;
    char *str[6]; /* sub provider sid id_token access_token refresh_token */
    json_t *claims;
    oauth2_claim_exports_t *exports; /* flattened; NULL if not built */
    apr_time_t expires_at, created, last_access;
} slot_t;

static pthread_mutex_t memo_mu = PTHREAD_MUTEX_INITIALIZER;
static slot_t memo[SLOTS];
static unsigned long memo_hits, memo_misses;

/*
 * The last key ring seen, with its digest: a process has one ring, and
 * hashing the passphrases again was 3,400 instructions of every request.
 * Its own lock, so the memo's stays short.
 */
static pthread_mutex_t ring_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char *buf; /* current NUL previous NUL, or NULL */
    size_t len;
    unsigned char digest[OAUTH2_SHA256_LEN];
} last_ring;

/* SHA-256 of current NUL previous NUL; 0 when memory is short. */
static int ring_digest(const oauth2_crypto_keyring_t *ring,
                       unsigned char out[OAUTH2_SHA256_LEN])
{
    const char *cur = ring && ring->current ? ring->current : "";
    const char *prev = ring && ring->previous ? ring->previous : "";
    size_t a = strlen(cur), b = strlen(prev), len = a + b + 2;
    unsigned char *buf;

    pthread_mutex_lock(&ring_mu);
    if (last_ring.buf != NULL && last_ring.len == len &&
        CRYPTO_memcmp(last_ring.buf, cur, a + 1) == 0 &&
        CRYPTO_memcmp(last_ring.buf + a + 1, prev, b + 1) == 0) {
        memcpy(out, last_ring.digest, OAUTH2_SHA256_LEN);
        pthread_mutex_unlock(&ring_mu);
        return 1;
    }
    pthread_mutex_unlock(&ring_mu);
    if ((buf = OPENSSL_malloc(len)) == NULL)
        return 0;
    memcpy(buf, cur, a + 1);
    memcpy(buf + a + 1, prev, b + 1);
    if (!oauth2_sha256(buf, len, out)) {
        OPENSSL_clear_free(buf, len);
        return 0;
    }
    pthread_mutex_lock(&ring_mu);
    if (last_ring.buf != NULL)
        OPENSSL_clear_free(last_ring.buf, last_ring.len);
    last_ring.buf = (char *)buf;
    last_ring.len = len;
    memcpy(last_ring.digest, out, OAUTH2_SHA256_LEN);
    pthread_mutex_unlock(&ring_mu);
    return 1;
}

static slot_t *slot_of(const char *key)
{
    unsigned long h = 5381;

    while (*key)
        h = h * 33 + (unsigned char)*key++;
    return &memo[h % SLOTS];
}

static void clear_slot(slot_t *e)
{
    int i;

    free(e->store_key);
    free(e->val);
    for (i = 0; i < 6; i++)
        if (e->str[i] != NULL)
            oauth2_cleanse_free(e->str[i], strlen(e->str[i]));
    json_decref(e->claims);
    if (e->exports != NULL)
        oauth2_cleanse_free(e->exports, e->exports->size);
    OPENSSL_cleanse(e, sizeof(*e));
}

static void fields(oauth2_session_t *s, const char **f[6])
{
    f[0] = &s->sub;
    f[1] = &s->provider;
    f[2] = &s->sid;
    f[3] = &s->id_token;
    f[4] = &s->access_token;
    f[5] = &s->refresh_token;
}

static int matches(const slot_t *e, const oauth2_session_t *s,
                   const unsigned char *ring, const char *val, size_t len)
{
    return e->store_key != NULL && strcmp(e->store_key, s->store_key) == 0 &&
           e->len == len &&
           CRYPTO_memcmp(e->secret, s->secret, sizeof(e->secret)) == 0 &&
           memcmp(e->ring, ring, sizeof(e->ring)) == 0 &&
           memcmp(e->val, val, len) == 0;
}

oauth2_status_t oauth2_session_memo_get(oauth2_ctx_t *ctx,
                                        const oauth2_crypto_keyring_t *ring,
                                        oauth2_session_t *s, const char *val,
                                        size_t len)
{
    unsigned char rd[OAUTH2_SHA256_LEN];
    const char **f[6];
    json_t *claims = NULL;
    oauth2_claim_exports_t *x = NULL;
    oauth2_status_t st;
    slot_t *e;
    int i, hit;

    if (s->store_key == NULL || val == NULL || !ring_digest(ring, rd))
        return OAUTH2_NOT_FOUND;
    e = slot_of(s->store_key);
    fields(s, f);
    pthread_mutex_lock(&memo_mu);
    /* shared, not copied: a copy was 13,000 instructions and ~60 mallocs
     * per request; claims of an opened session are read-only (session.h)
     * and jansson's reference counts are atomic */
    hit = matches(e, s, rd, val, len) && (claims = json_incref(e->claims));
    if (hit) {
        for (i = 0; i < 6; i++)
            *f[i] = e->str[i] ? apr_pstrdup(ctx->pool, e->str[i]) : NULL;
        s->expires_at = e->expires_at;
        s->created = e->created;
        s->last_access = e->last_access;
        /* copied while the lock keeps the slot: a put may free it after */
        x = oauth2_claim_exports_copy(ctx->pool, e->exports);
        memo_hits++;
    }
    else
        memo_misses++;
    pthread_mutex_unlock(&memo_mu);
    if (!hit)
        return OAUTH2_NOT_FOUND;
    st = oauth2_session_set_claims(ctx, s, claims);
    json_decref(claims); /* set_claims took its own reference */
    s->exports = x;      /* made from these very claims */
    return st == OAUTH2_OK ? OAUTH2_OK : OAUTH2_NOT_FOUND;
}

/* Build the entry outside the lock; 0 when memory is short. */
static int fill(slot_t *n, const oauth2_session_t *s,
                const oauth2_claim_exports_t *x, const char *val, size_t len)
{
    const char *src[6] = {s->sub,      s->provider,     s->sid,
                          s->id_token, s->access_token, s->refresh_token};
    int i;

    n->store_key = strdup(s->store_key);
    n->val = malloc(len + 1);
    n->claims = json_deep_copy(s->claims);
    if (n->store_key == NULL || n->val == NULL || n->claims == NULL)
        return 0;
    /* What every hit would otherwise format again for the backend (JSON
     * dumps of array claims: mallocs and ~thousands of instructions);
     * without it hits still work, building them per request. */
    n->exports = x ? oauth2_claim_exports_flatten(x) : NULL;
    memcpy(n->val, val, len);
    n->val[len] = '\0';
    n->len = len;
    for (i = 0; i < 6; i++)
        if (src[i] != NULL && (n->str[i] = strdup(src[i])) == NULL)
            return 0;
    memcpy(n->secret, s->secret, sizeof(n->secret));
    n->expires_at = s->expires_at;
    n->created = s->created;
    n->last_access = s->last_access;
    return 1;
}

const oauth2_claim_exports_t *
oauth2_session_memo_put(oauth2_ctx_t *ctx, const oauth2_crypto_keyring_t *ring,
                        const oauth2_session_t *s, const char *val, size_t len)
{
    const oauth2_claim_exports_t *x;
    slot_t n, old;
    slot_t *e;

    if (s->store_key == NULL || val == NULL || s->claims == NULL)
        return NULL;
    /* in the request's pool, over the request's claims (its names point
     * into them): the caller's exports, flattened for the slot */
    x = oauth2_claim_exports_make(ctx->pool, s->claims, 1);
    memset(&n, 0, sizeof(n));
    if (!fill(&n, s, x, val, len) || !ring_digest(ring, n.ring)) {
        clear_slot(&n);
        return x;
    }
    e = slot_of(s->store_key);
    pthread_mutex_lock(&memo_mu);
    old = *e;
    *e = n;
    pthread_mutex_unlock(&memo_mu);
    clear_slot(&old);
    return x;
}

void oauth2_session_memo_stats(unsigned long *hits, unsigned long *misses)
{
    pthread_mutex_lock(&memo_mu);
    *hits = memo_hits;
    *misses = memo_misses;
    pthread_mutex_unlock(&memo_mu);
}
