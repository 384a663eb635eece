/*
 * test_session_memo.c - the per-process memo behind oauth2_session_open: a
 * second open of the same record is a hit with identical results, and
 * nothing but exactly the record it saw opened (same store key, cookie
 * secret, key ring, sealed bytes) is ever answered from it.
 */
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "oauth2/claim_export.h"
#include "oauth2/session.h"
#include "oauth2/util.h"
#include "../../mod_oauth2/core/session_memo.h"

static const oauth2_crypto_keyring_t ring = {"memo test passphrase 0001", NULL};

static oauth2_session_t *full(th_fixture_t *f)
{
    oauth2_session_t *s = NULL;
    json_t *claims =
        json_pack("{s:s, s:[s,s]}", "email", "a@b.example", "groups", "x", "y");

    assert_int_equal(oauth2_session_new(&f->ctx, "ns", &s), OAUTH2_OK);
    s->sub = "user-1";
    s->provider = "google";
    s->access_token = "access-token-value";
    s->refresh_token = NULL;
    s->expires_at = f->ctx.now + apr_time_from_sec(3600);
    assert_int_equal(oauth2_session_set_claims(&f->ctx, s, claims), OAUTH2_OK);
    json_decref(claims);
    return s;
}

/* A new request opening a's cookie over val: must open. */
static oauth2_session_t *opened(th_fixture_t *f,
                                const oauth2_crypto_keyring_t *r,
                                const oauth2_session_t *a, const char *val,
                                size_t len)
{
    oauth2_session_t *p = th_session_reader(f, a);

    assert_int_equal(oauth2_session_open(&f->ctx, r, p, val, len), OAUTH2_OK);
    return p;
}

static void hits(unsigned long *h)
{
    unsigned long m;

    oauth2_session_memo_stats(h, &m);
}

static void second_open_is_a_hit_with_equal_fields(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f), *p, *q;
    unsigned long h0, h1, h2;
    char *val;
    size_t len;

    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &val, &len),
                     OAUTH2_OK);
    hits(&h0);
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_OK);
    hits(&h1);
    assert_int_equal(h1, h0); /* first time: opened for real */
    q = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, q, val, len),
                     OAUTH2_OK);
    hits(&h2);
    assert_int_equal(h2, h1 + 1);
    assert_string_equal(q->sub, "user-1");
    assert_string_equal(q->provider, "google");
    assert_null(q->sid);
    assert_null(q->refresh_token);
    assert_string_equal(q->access_token, "access-token-value");
    assert_int_equal(q->expires_at, p->expires_at);
    assert_int_equal(q->created, p->created);
    assert_int_equal(q->last_access, p->last_access);
    assert_true(json_equal(q->claims, p->claims));
    /* Hits share one read-only object (no copy per request); it outlives
     * the request that got it (the memo holds its own reference). */
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_OK);
    assert_ptr_equal(p->claims, q->claims);
    assert_true(p->claims->refcount >= 3); /* memo + two requests */
    assert_string_equal(json_string_value(json_object_get(q->claims, "email")),
                        "a@b.example");
}

/* A hit allocates nothing outside the request's pool: neither OpenSSL (the
 * memo key's digest) nor jansson (the claims are shared). */
static void hit_allocates_from_the_pool_only(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f), *q = NULL;
    unsigned long before, h0, h1;
    char *val;
    size_t len;
    int i;

    if (!oauth2_sha256_on_stack())
        skip(); /* FIPS or another provider: EVP allocates per hash */
    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &val, &len),
                     OAUTH2_OK);
    /* the counter does count: opening for real allocates */
    before = th_allocs();
    opened(f, &ring, a, val, len);
    assert_true(th_allocs() > before);
    opened(f, &ring, a, val, len);
    hits(&h0);
    before = th_allocs();
    for (i = 0; i < 3; i++)
        q = opened(f, &ring, a, val, len);
    assert_int_equal(th_allocs() - before, 0);
    hits(&h1);
    assert_int_equal(h1, h0 + 3);
    assert_string_equal(q->sub, "user-1");
}

/* A hit carries the backend's exports, equal to what the claims give, in
 * the request's pool; replacing the claims drops them. */
static void hit_brings_the_exports_of_its_claims(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f), *p, *q;
    const oauth2_claim_exports_t *x, *want;
    json_t *other = json_pack("{s:s}", "email", "c@d.example");
    size_t i;
    char *val;
    size_t len;

    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &val, &len),
                     OAUTH2_OK);
    p = opened(f, &ring, a, val, len);
    /* opened for real: the exports the memo flattened, in the pool */
    assert_non_null(p->exports);
    assert_int_equal(p->exports->size, 0);
    assert_int_equal(p->exports->n, 2);
    q = opened(f, &ring, a, val, len);
    x = q->exports;
    assert_non_null(x);
    want = oauth2_claim_exports_make(f->pool, q->claims, 1);
    assert_int_equal(x->n, want->n);
    assert_int_equal(x->n, 2);
    for (i = 0; i < x->n; i++) {
        assert_string_equal(p->exports->e[i].text, want->e[i].text);
        assert_string_equal(x->e[i].key, want->e[i].key);
        assert_string_equal(x->e[i].env_name, want->e[i].env_name);
        assert_string_equal(x->e[i].text, want->e[i].text);
        assert_string_equal(x->e[i].header_text, want->e[i].header_text);
    }
    assert_string_equal(x->e[1].text, "[\"x\",\"y\"]");
    assert_int_equal(oauth2_session_set_claims(&f->ctx, q, other), OAUTH2_OK);
    assert_null(q->exports);
    json_decref(other);
}

static void memo_never_answers_for_another_record(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f), *p, *other = full(f);
    oauth2_crypto_keyring_t wrong = {"another passphrase 000001", NULL};
    char *val, *bad;
    size_t len;

    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &val, &len),
                     OAUTH2_OK);
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_OK); /* now memoised */
    /* Same id, wrong secret (e.g. the id from a store dump). */
    p = th_session_reader(f, a);
    p->secret[31] ^= 1;
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "does not authenticate"));
    /* Same cookie, another key ring (passphrase changed). */
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &wrong, p, val, len),
                     OAUTH2_DENIED);
    /* Same cookie, one byte of the stored value changed. */
    bad = apr_pstrdup(f->ctx.pool, val);
    bad[len - 5] = bad[len - 5] == 'A' ? 'B' : 'A';
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, bad, len),
                     OAUTH2_DENIED);
    /* Same value under another session's key, with the right secret. */
    p = th_session_reader(f, other);
    memcpy(p->secret, a->secret, sizeof(p->secret));
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_DENIED);
    /* A prefix of the value. */
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len - 4),
                     OAUTH2_DENIED);
    /* And the genuine one still opens. */
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_OK);
}

static void rewritten_record_replaces_the_memo(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f), *p;
    char *v1, *v2;
    size_t l1, l2;

    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &v1, &l1),
                     OAUTH2_OK);
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, v1, l1), OAUTH2_OK);
    a->last_access += apr_time_from_sec(600);
    a->access_token = "rotated-token";
    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &v2, &l2),
                     OAUTH2_OK);
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, v2, l2), OAUTH2_OK);
    assert_string_equal(p->access_token, "rotated-token");
    assert_int_equal(p->last_access, a->last_access);
    /* The old value still opens (it is authentic), never as the new one. */
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, v1, l1), OAUTH2_OK);
    assert_string_equal(p->access_token, "access-token-value");
}

static void misses(unsigned long *m)
{
    unsigned long h;

    oauth2_session_memo_stats(&h, m);
}

/* The ring's digest is remembered between requests: it must still tell
 * rings apart that differ only in the previous passphrase, both ways. */
static void a_changed_ring_is_never_a_hit(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f);
    oauth2_crypto_keyring_t rotated = {ring.current, "an older passphrase 01"};
    unsigned long h0, h1, m0, m1;
    char *val;
    size_t len;

    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &val, &len),
                     OAUTH2_OK);
    opened(f, &ring, a, val, len);
    hits(&h0);
    opened(f, &ring, a, val, len);
    hits(&h1);
    assert_int_equal(h1, h0 + 1);
    /* same current passphrase: the value opens, but not from the memo */
    misses(&m0);
    opened(f, &rotated, a, val, len);
    misses(&m1);
    assert_int_equal(m1, m0 + 1);
    opened(f, &rotated, a, val, len);
    hits(&h0);
    assert_int_equal(h0, h1 + 1);
    /* and back */
    opened(f, &ring, a, val, len);
    misses(&m0);
    assert_int_equal(m0, m1 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(second_open_is_a_hit_with_equal_fields,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(hit_allocates_from_the_pool_only,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(hit_brings_the_exports_of_its_claims,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(memo_never_answers_for_another_record,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(rewritten_record_replaces_the_memo,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(a_changed_ring_is_never_a_hit, th_setup,
                                        th_teardown),
    };

    if (!th_count_allocs())
        return 1; /* it said why */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
