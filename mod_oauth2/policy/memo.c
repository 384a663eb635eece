/*
 * memo.c - the decision memo of one policy version. A function declared
 * pure (policy.routes, policy.pure) answers from the request view alone, so
 * its decision is a function of the fields it read: the memo keeps each
 * decision under exactly those fields' values and replays it for the next
 * request that has the same values, without entering Lua.
 *
 * Direct-mapped and fixed in size: a new decision replaces whatever sat in
 * its slot. The key is compared byte for byte, so a hash collision is a
 * miss, never somebody else's decision. Never decides anything itself and
 * never keeps an error. The caller holds the policy's lock around get/put.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "memo_int.h"

#define MEMO_MASKS_MAX 8 /* distinct read-sets remembered per version */

typedef struct entry_t {
    uint64_t h;
    unsigned mask;
    unsigned nulls; /* fields of `mask` that were absent */
    uint32_t flen[OAUTH2_VIEW_NFIELDS];
    int allow;
    size_t nwanted;
    char *reason, *rule;
    char **wanted;
    char *key; /* the field blobs of `mask`, in bit order */
} entry_t;

struct oauth2_memo_t {
    entry_t **slots;
    unsigned nslots; /* a power of two */
    unsigned masks[MEMO_MASKS_MAX];
    int nmasks;
};

/* ---- field blobs ------------------------------------------------------------
 */

/* Eight bytes a step: keys are compared in full, so the hash only has to
 * spread them over the slots (a collision is a miss, not a wrong answer). */
static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ULL ^ n, w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 32);
}

/* A length-prefixed string; NULL and "" differ (0xff.. marks NULL). */
static char *put_str(char *o, const char *s)
{
    uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;

    memcpy(o, &n, sizeof(n));
    o += sizeof(n);
    if (s != NULL) {
        memcpy(o, s, n);
        o += n;
    }
    return o;
}

static size_t str_size(const char *s)
{
    return sizeof(uint32_t) + (s ? strlen(s) : 0);
}

/* The blob of one field; NULL when it cannot be keyed (too large). A
 * scalar is its own blob (no copy); an absent one is "" marked in nulls. */
static const char *field_blob(apr_pool_t *p, const oauth2_policy_request_t *req,
                              unsigned bit, size_t *len, unsigned *nulls)
{
    size_t i, n = 0;
    const char *sc;
    char *b, *o;

    switch (bit) {
    case OAUTH2_VIEW_HEADERS:
        for (i = 0; i < req->nheaders; i++)
            n += str_size(req->headers[i].name) +
                 str_size(req->headers[i].value);
        o = b = apr_palloc(p, n + 1);
        for (i = 0; i < req->nheaders; i++) {
            o = put_str(o, req->headers[i].name);
            o = put_str(o, req->headers[i].value);
        }
        break;
    case OAUTH2_VIEW_SCOPES:
        for (i = 0; i < req->nscopes; i++)
            n += str_size(req->scopes[i]);
        o = b = apr_palloc(p, n + 1);
        for (i = 0; i < req->nscopes; i++)
            o = put_str(o, req->scopes[i]);
        break;
    case OAUTH2_VIEW_CLAIMS: {
        /* insertion order kept: the same object binds the same table */
        char *text = NULL;
        if (req->claims != NULL && json_is_object(req->claims)) {
            text = json_dumps(req->claims, JSON_COMPACT);
            if (text == NULL)
                return NULL;
        }
        n = str_size(text);
        o = b = apr_palloc(p, n + 1);
        o = put_str(o, text);
        free(text);
        break;
    }
    default:
        sc = oauth2_bind_scalar(req, bit);
        if (sc == NULL) {
            *nulls |= bit;
            sc = "";
        }
        *len = strlen(sc);
        return *len > OAUTH2_MEMO_KEY_MAX ? NULL : sc;
    }
    *len = (size_t)(o - b);
    if (*len > OAUTH2_MEMO_KEY_MAX)
        return NULL;
    return b;
}

void oauth2_memo_fields_add(apr_pool_t *p, oauth2_memo_fields_t *f,
                            const oauth2_policy_request_t *req, unsigned mask)
{
    int i;

    for (i = 0; i < OAUTH2_VIEW_NFIELDS; i++) {
        unsigned bit = 1u << i;
        if (!(mask & bit) || (f->tried & bit))
            continue;
        f->tried |= bit;
        f->blob[i] = field_blob(p, req, bit, &f->len[i], &f->nulls);
        if (f->blob[i] != NULL) {
            f->h[i] = fnv(f->blob[i], f->len[i]);
            f->have |= bit;
        }
    }
}

/* ---- the table
 * ---------------------------------------------------------------- */

oauth2_memo_t *oauth2_memo_create(unsigned slots)
{
    oauth2_memo_t *m;
    unsigned n = 1;

    if (slots == 0)
        return NULL;
    while (n < slots)
        n <<= 1;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->slots = calloc(n, sizeof(*m->slots));
    if (m->slots == NULL) {
        free(m);
        return NULL;
    }
    m->nslots = n;
    return m;
}

/* One malloc per entry: the struct, then the key and the strings. */
static void entry_free(entry_t *e)
{
    free(e);
}

void oauth2_memo_free(oauth2_memo_t *m)
{
    unsigned i;

    if (m == NULL)
        return;
    for (i = 0; i < m->nslots; i++)
        entry_free(m->slots[i]);
    free(m->slots);
    free(m);
}

static uint64_t key_hash(const oauth2_memo_fields_t *f, unsigned mask)
{
    uint64_t h =
        1469598103934665603ULL ^ mask ^ ((uint64_t)(f->nulls & mask) << 16);
    int i;

    for (i = 0; i < OAUTH2_VIEW_NFIELDS; i++) {
        if (mask & (1u << i)) {
            h ^= f->h[i] + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
            h *= 1099511628211ULL;
        }
    }
    /* the slot is taken from the low bits: let every bit reach them */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static int key_equal(const entry_t *e, const oauth2_memo_fields_t *f)
{
    const char *k = e->key;
    int i;

    if (e->nulls != (f->nulls & e->mask))
        return 0;
    for (i = 0; i < OAUTH2_VIEW_NFIELDS; i++) {
        if (!(e->mask & (1u << i)))
            continue;
        if (e->flen[i] != f->len[i] || memcmp(k, f->blob[i], f->len[i]) != 0)
            return 0;
        k += f->len[i];
    }
    return 1;
}

int oauth2_memo_get(oauth2_memo_t *m, const oauth2_memo_fields_t *f,
                    apr_pool_t *p, oauth2_policy_result_t *res)
{
    int j;
    size_t i;

    for (j = 0; j < m->nmasks; j++) {
        unsigned mask = m->masks[j];
        uint64_t h;
        entry_t *e;

        if ((f->have & mask) != mask)
            continue;
        h = key_hash(f, mask);
        e = m->slots[h & (m->nslots - 1)];
        if (e == NULL || e->h != h || e->mask != mask || !key_equal(e, f))
            continue;
        res->allow = e->allow;
        res->reason = apr_pstrdup(p, e->reason);
        res->rule = e->rule ? apr_pstrdup(p, e->rule) : NULL;
        res->nwanted = e->nwanted;
        res->wanted = NULL;
        if (e->nwanted > 0) {
            res->wanted = apr_palloc(p, sizeof(char *) * (e->nwanted + 1));
            for (i = 0; i < e->nwanted; i++)
                res->wanted[i] = apr_pstrdup(p, e->wanted[i]);
            res->wanted[e->nwanted] = NULL;
        }
        return 1;
    }
    return 0;
}

static char *copy_into(char **o, const char *s)
{
    char *d = *o;
    size_t n = strlen(s) + 1;

    memcpy(d, s, n);
    *o += n;
    return d;
}

unsigned oauth2_memo_put(oauth2_memo_t *m, const oauth2_memo_fields_t *f,
                         unsigned mask, const oauth2_policy_result_t *res)
{
    size_t klen = 0, slen, i;
    entry_t *e, **slot;
    char *o;
    int j, known = 0;
    uint64_t h;

    if ((f->have & mask) != mask || res->reason == NULL)
        return 0;
    for (j = 0; j < OAUTH2_VIEW_NFIELDS; j++)
        if (mask & (1u << j))
            klen += f->len[j];
    if (klen > OAUTH2_MEMO_KEY_MAX)
        return 0;
    for (j = 0; j < m->nmasks; j++)
        known |= m->masks[j] == mask;
    if (!known) {
        if (m->nmasks == MEMO_MASKS_MAX)
            return 0; /* a script that reads ever new sets: not worth it */
        m->masks[m->nmasks++] = mask;
    }
    slen = strlen(res->reason) + 1 + (res->rule ? strlen(res->rule) + 1 : 0);
    for (i = 0; i < res->nwanted; i++)
        slen += strlen(res->wanted[i]) + 1;
    e = malloc(sizeof(*e) + sizeof(char *) * res->nwanted + klen + slen);
    if (e == NULL)
        return 0;
    memset(e, 0, sizeof(*e));
    h = key_hash(f, mask);
    e->h = h;
    e->mask = mask;
    e->nulls = f->nulls & mask;
    e->allow = res->allow;
    e->nwanted = res->nwanted;
    e->wanted = (char **)(e + 1);
    o = (char *)(e->wanted + res->nwanted);
    e->key = o;
    for (j = 0; j < OAUTH2_VIEW_NFIELDS; j++) {
        if (!(mask & (1u << j)))
            continue;
        e->flen[j] = (uint32_t)f->len[j];
        memcpy(o, f->blob[j], f->len[j]);
        o += f->len[j];
    }
    e->reason = copy_into(&o, res->reason);
    e->rule = res->rule ? copy_into(&o, res->rule) : NULL;
    for (i = 0; i < res->nwanted; i++)
        e->wanted[i] = copy_into(&o, res->wanted[i]);
    slot = &m->slots[h & (m->nslots - 1)];
    entry_free(*slot);
    *slot = e;
    return mask;
}
