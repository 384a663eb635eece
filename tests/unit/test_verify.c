/*
 * test_verify.c - the bearer verifier (verify.c, verify_opts.c,
 * introspect.c) against a fake IdP: canned JWKS and introspection answers,
 * a fixed clock, and the verifier's own counters to prove what did (not)
 * happen. Vectors: tests/unit/vectors/verify (gen.py).
 */
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "helpers.h"
#include "fake_http.h"
#include "oauth2/util.h"
#include "oauth2/claim_export.h"
#include "oauth2/crypto.h"
#include "oauth2/metrics.h"
#include "oauth2/store.h"
#include "oauth2/verify.h"

#define JWKS_URL "https://idp.test/jwks"
#define INTRO_URL "https://idp.test/introspect"

typedef struct vt_t {
    th_fake_http_t fh;
    th_fake_http_entry_t *jwks;
    json_t *tokens;
    oauth2_verifier_t *v;
} vt_t;

static const char *vec(th_fixture_t *f, const char *name)
{
    size_t len;
    return th_read_file(
        f->pool, apr_pstrcat(f->pool, "vectors/verify/", name, NULL), &len);
}

static const char *tok(vt_t *t, const char *name)
{
    const char *s = oauth2_json_str(t->tokens, name);
    assert_non_null(s);
    return s;
}

/* A JWKS verifier with a fake http answering jwks1.json. */
static void vt_init(th_fixture_t *f, vt_t *t, const char *extra)
{
    const char *argv[4] = {"jwks_uri=" JWKS_URL, "issuer=https://idp.test",
                           "audience=api", extra};
    json_error_t e;

    memset(t, 0, sizeof(*t));
    t->tokens = json_loads(vec(f, "tokens.json"), 0, &e);
    assert_non_null(t->tokens);
    oauth2_json_pool_own(f->pool, t->tokens);
    th_fake_http_init(&t->fh, f->pool);
    t->jwks =
        th_fake_http_add(&t->fh, "GET", JWKS_URL, 200, vec(f, "jwks1.json"));
    assert_int_equal(oauth2_verifier_parse(&f->ctx, extra ? 4 : 3, argv, &t->v),
                     OAUTH2_OK);
    oauth2_verifier_set_http(t->v, &t->fh.base);
}

static oauth2_status_t run(th_fixture_t *f, vt_t *t, const char *token,
                           oauth2_principal_t **p)
{
    oauth2_principal_t *dummy;
    return oauth2_verify_token(&f->ctx, &t->v, 1, token, p ? p : &dummy);
}

static oauth2_verify_stats_t stats(vt_t *t)
{
    oauth2_verify_stats_t s;
    oauth2_verifier_stats(t->v, &s);
    return s;
}

static void valid_token_gives_principal(void **state)
{
    th_fixture_t *f = *state;
    oauth2_principal_t *p = NULL;
    vt_t t;

    vt_init(f, &t, NULL);
    assert_int_equal(run(f, &t, tok(&t, "valid"), &p), OAUTH2_OK);
    assert_string_equal(p->sub, "alice");
    assert_string_equal(p->issuer, "https://idp.test");
    assert_int_equal(p->scopes->nelts, 2);
    assert_string_equal(APR_ARRAY_IDX(p->scopes, 1, const char *), "b");
    assert_int_equal(p->type, OAUTH2_PRINCIPAL_BEARER);
}

static void cache_hit_skips_signature(void **state)
{
    th_fixture_t *f = *state;
    oauth2_principal_t *p = NULL;
    vt_t t;

    vt_init(f, &t, NULL);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).sig_checks, 1);
    assert_int_equal(run(f, &t, tok(&t, "valid"), &p), OAUTH2_OK);
    assert_int_equal(run(f, &t, tok(&t, "valid"), &p), OAUTH2_OK);
    assert_int_equal(stats(&t).sig_checks, 1);
    assert_int_equal(stats(&t).cache_hits, 2);
    assert_int_equal(t.fh.calls, 1);
    assert_string_equal(p->sub, "alice");
    /* Past exp the entry is gone: verification runs (and fails) again. */
    f->ctx.now += apr_time_from_sec(3600 + 120);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "token expired"));
}

/* A verdict lasts as long as verifying again would accept the token: past
 * exp, within the leeway (60 s), hits still skip the signature; at exp +
 * leeway the entry is gone and the token is refused. */
static void verdict_kept_through_the_leeway(void **state)
{
    th_fixture_t *f = *state;
    apr_time_t exp = f->ctx.now + apr_time_from_sec(3600);
    vt_t t;

    vt_init(f, &t, NULL);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    f->ctx.now = exp + apr_time_from_sec(59);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).sig_checks, 1);
    assert_int_equal(stats(&t).cache_hits, 1);
    f->ctx.now = exp + apr_time_from_sec(60);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "token expired"));
    assert_int_equal(stats(&t).cache_hits, 1);
}

/* A long namespace (an .htaccess path, long issuer and audience) still
 * caches: the key is longer than the cache's default limit. */
static void long_namespace_still_caches(void **state)
{
    th_fixture_t *f = *state;
    char ns[701];
    vt_t t;

    memset(ns, 'd', sizeof(ns) - 1);
    ns[sizeof(ns) - 1] = '\0';
    vt_init(f, &t, NULL);
    oauth2_verifier_set_namespace(t.v, ns);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).cache_hits, 1);
    assert_int_equal(stats(&t).sig_checks, 1);
}

static void unknown_kid_refetch_is_limited(void **state)
{
    th_fixture_t *f = *state;
    vt_t t;

    vt_init(f, &t, NULL);
    assert_int_equal(run(f, &t, tok(&t, "kid2"), NULL), OAUTH2_DENIED);
    assert_int_equal(stats(&t).jwks_fetches, 2); /* first + one refetch */
    assert_non_null(strstr(f->ctx.err.text, "jws: no key with kid \"k2\""));
    f->ctx.now += apr_time_from_sec(5);
    assert_int_equal(run(f, &t, tok(&t, "kid2"), NULL), OAUTH2_DENIED);
    assert_int_equal(stats(&t).jwks_fetches, 2); /* within the interval */
    /* The provider rotates; after the interval the new kid is found. */
    t.jwks->body = vec(f, "jwks2.json");
    f->ctx.now += apr_time_from_sec(30);
    assert_int_equal(run(f, &t, tok(&t, "kid2"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).jwks_fetches, 3);
}

static void failed_refetch_keeps_last_good_set(void **state)
{
    th_fixture_t *f = *state;
    vt_t t;

    vt_init(f, &t, NULL);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    t.jwks->result = OAUTH2_UNAVAILABLE;
    f->ctx.now += apr_time_from_sec(400); /* past the 300 s freshness */
    assert_int_equal(run(f, &t, tok(&t, "valid2"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).jwks_fetches, 2);
    assert_true(th_logged(f, "keeping the last good set"));
    /* Backoff: the next request does not hammer the provider. */
    assert_int_equal(run(f, &t, tok(&t, "tampered"), NULL), OAUTH2_DENIED);
    assert_int_equal(stats(&t).jwks_fetches, 2);
}

static void cache_control_bounds_key_lifetime(void **state)
{
    th_fixture_t *f = *state;
    vt_t t;

    vt_init(f, &t, NULL);
    t.jwks->cache_control = "public, max-age=3600";
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    f->ctx.now += apr_time_from_sec(400); /* past the 300 s default */
    assert_int_equal(run(f, &t, tok(&t, "valid2"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).jwks_fetches, 1);
    /* no-store is raised to the 30 s floor, not "fetch every time". */
    t.jwks->cache_control = "no-store";
    f->ctx.now += apr_time_from_sec(3300);
    assert_int_equal(run(f, &t, tok(&t, "tampered"), NULL), OAUTH2_DENIED);
    assert_int_equal(stats(&t).jwks_fetches, 2); /* stale: refetched */
    f->ctx.now += apr_time_from_sec(10);
    assert_int_equal(run(f, &t, tok(&t, "tampered"), NULL), OAUTH2_DENIED);
    assert_int_equal(stats(&t).jwks_fetches, 2);
    f->ctx.now += apr_time_from_sec(25);
    assert_int_equal(run(f, &t, tok(&t, "tampered"), NULL), OAUTH2_DENIED);
    assert_int_equal(stats(&t).jwks_fetches, 3);
}

static void cold_jwks_down_is_unavailable(void **state)
{
    th_fixture_t *f = *state;
    vt_t t;

    vt_init(f, &t, NULL);
    t.jwks->result = OAUTH2_UNAVAILABLE;
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text, "no signing keys available");
    assert_true(th_logged(f, "OA00800"));
    t.jwks->result = OAUTH2_OK;
    t.jwks->status = 500;
    f->ctx.now += apr_time_from_sec(10);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_UNAVAILABLE);
}

static void bad_tokens_are_denied(void **state)
{
    th_fixture_t *f = *state;
    static const struct {
        const char *name, *err;
    } cases[] = {{"expired", "token expired"},
                 {"wrong_iss", "no verifier accepts"},
                 {"wrong_aud", "aud does not contain \"api\""},
                 {"nbf_future", "nbf"},
                 {"tampered", "signature invalid"}};
    size_t i;
    vt_t t;

    vt_init(f, &t, NULL);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(run(f, &t, tok(&t, cases[i].name), NULL),
                         OAUTH2_DENIED);
        assert_non_null(strstr(f->ctx.err.text, cases[i].err));
    }
}

static void hostile_headers_are_denied(void **state)
{
    th_fixture_t *f = *state;
    vt_t t;
    const char *valid, *body;

    vt_init(f, &t, NULL);
    valid = tok(&t, "valid");
    body = strchr(valid, '.');
    /* {"alg":"none"} with an empty signature. */
    assert_int_equal(
        run(f, &t,
            apr_pstrcat(f->pool, "eyJhbGciOiJub25lIn0",
                        apr_pstrndup(f->pool, body, strrchr(valid, '.') - body),
                        ".", NULL),
            NULL),
        OAUTH2_DENIED);
    /* {"alg":"HS256"}: HMAC is never accepted. */
    assert_int_equal(
        run(f, &t, apr_pstrcat(f->pool, "eyJhbGciOiJIUzI1NiJ9", body, NULL),
            NULL),
        OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "jws: alg \"HS256\" refused"));
    assert_int_equal(run(f, &t, "not a token", NULL), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "malformed token");
    assert_int_equal(stats(&t).sig_checks, 0);
}

/* The syntax check runs after the cache lookup: a warm cache must not
 * change what a malformed, empty or over-long token gets. */
/* Token-cache lookups as the metrics sink sees them: [0] hits, [1] misses. */
static void count_lookups(void *data, const struct oauth2_metric_t *m)
{
    int *n = data;

    if (m->kind == OAUTH2_METRIC_TOKEN_CACHE)
        n[m->status == OAUTH2_OK ? 0 : 1]++;
}

static void malformed_tokens_denied_with_a_warm_cache(void **state)
{
    th_fixture_t *f = *state;
    const char *valid;
    char *long_tok;
    int lookups[2] = {0, 0};
    vt_t t;

    vt_init(f, &t, NULL);
    f->ctx.metrics = count_lookups;
    f->ctx.metrics_data = lookups;
    valid = tok(&t, "valid");
    assert_int_equal(run(f, &t, valid, NULL), OAUTH2_OK);
    assert_int_equal(run(f, &t, valid, NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).cache_hits, 1);
    assert_int_equal(run(f, &t, apr_pstrcat(f->pool, valid, " x", NULL), NULL),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "malformed token");
    assert_int_equal(run(f, &t, apr_pstrcat(f->pool, valid, "\n", NULL), NULL),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "malformed token");
    assert_int_equal(run(f, &t, "", NULL), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "malformed token");
    assert_int_equal(oauth2_verify_token(&f->ctx, &t.v, 1, NULL,
                                         &(oauth2_principal_t *){NULL}),
                     OAUTH2_DENIED);
    long_tok = apr_palloc(f->pool, 16386);
    memset(long_tok, 'a', 16385);
    long_tok[16385] = '\0';
    assert_int_equal(run(f, &t, long_tok, NULL), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "malformed token");
    assert_int_equal(stats(&t).sig_checks, 1);
    assert_int_equal(stats(&t).cache_hits, 1);
    /* one miss (the first verification), one hit; garbage is neither */
    assert_int_equal(lookups[0], 1);
    assert_int_equal(lookups[1], 1);
    f->ctx.metrics = NULL;
}

static void cache_is_bounded(void **state)
{
    th_fixture_t *f = *state;
    vt_t t;

    vt_init(f, &t, "cache_entries=1");
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(run(f, &t, tok(&t, "valid2"), NULL), OAUTH2_OK);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).sig_checks, 3); /* valid was evicted */
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).sig_checks, 3);
}

/*
 * A miss answers from the verdict it cached: the principal borrows it, so
 * evicting the verdict (here by the next token, in a cache of one) must
 * not free what the first request still uses. Under ASan a use after free
 * fails this test.
 */
static void miss_principal_outlives_its_eviction(void **state)
{
    th_fixture_t *f = *state;
    oauth2_principal_t *a = NULL, *b = NULL;
    vt_t t;

    vt_init(f, &t, "cache_entries=1");
    assert_int_equal(run(f, &t, tok(&t, "valid"), &a), OAUTH2_OK);
    assert_int_equal(run(f, &t, tok(&t, "valid2"), &b), OAUTH2_OK);
    assert_string_equal(a->sub, "alice");
    assert_string_equal(json_string_value(json_object_get(a->claims, "sub")),
                        "alice");
    assert_non_null(a->exports);
    assert_int_equal(a->exports->n, json_object_size(a->claims));
    assert_string_equal(APR_ARRAY_IDX(a->scopes, 1, const char *), "b");
    assert_ptr_not_equal(a->claims, b->claims);
    /* valid's verdict was indeed evicted: it verifies again */
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(stats(&t).sig_checks, 3);
}

/*
 * Threads verifying two tokens through a cache of one entry: every call
 * misses, caches a verdict that shares its claims, and evicts the verdict
 * another thread may still be reading. Each thread reads its principal
 * (claims, exports, scopes) after the others had every chance to evict it;
 * under ASan a lifetime or ownership mistake fails here.
 */
typedef struct vworker_t {
    oauth2_verifier_t *v;
    const char *tok[2];
    apr_time_t now;
    int id, errors;
} vworker_t;

static void *APR_THREAD_FUNC verify_work(apr_thread_t *t, void *data)
{
    vworker_t *w = data;
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_principal_t *pr;
    char *dump;
    int i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < 150; i++) {
        oauth2_ctx_init(&ctx, p, NULL, w->now);
        pr = NULL;
        if (oauth2_verify_token(&ctx, &w->v, 1, w->tok[(i + w->id) & 1], &pr) !=
                OAUTH2_OK ||
            pr->exports == NULL ||
            pr->exports->n != json_object_size(pr->claims) ||
            strcmp(json_string_value(json_object_get(pr->claims, "sub")),
                   pr->sub) != 0)
            w->errors++;
        else if ((dump = json_dumps(pr->claims, JSON_SORT_KEYS)) == NULL)
            w->errors++;
        else
            free(dump);
        apr_pool_clear(p); /* ends the borrow, drops the pool's refs */
    }
    apr_pool_destroy(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static void threads_share_verdicts_safely(void **state)
{
    th_fixture_t *f = *state;
    apr_thread_t *th[4];
    vworker_t w[4];
    apr_status_t rv, created[4];
    int i, errors = 0;
    vt_t t;

    vt_init(f, &t, "cache_entries=1");
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK); /* JWKS */
    for (i = 0; i < 4; i++) {
        w[i].v = t.v;
        w[i].tok[0] = tok(&t, "valid");
        w[i].tok[1] = tok(&t, "valid2");
        w[i].now = f->ctx.now;
        w[i].id = i;
        w[i].errors = 0;
        created[i] =
            apr_thread_create(&th[i], NULL, verify_work, &w[i], f->pool);
    }
    /* every thread joined before any assert: a failing assert leaves the
     * test, and the fixture's pool (the verifier) with it */
    for (i = 0; i < 4; i++) {
        if (created[i] == APR_SUCCESS)
            apr_thread_join(&rv, th[i]);
        errors += w[i].errors + (created[i] != APR_SUCCESS);
    }
    assert_int_equal(errors, 0);
    /* a thread's next call wants the other token, so one verdict serves at
     * most one hit per other thread: at least 600 / 4 misses, plus the
     * first call */
    assert_true(stats(&t).sig_checks >= 151);
}

/* ---- introspection ---------------------------------------------------- */

static oauth2_verifier_t *intro_init(th_fixture_t *f, th_fake_http_t *fh,
                                     const char *resp, const char *auth)
{
    const char *argv[] = {"introspect=" INTRO_URL, "issuer=https://idp.test",
                          "audience=api",          "client_id=rs",
                          "client_secret=s:cret",  auth};
    oauth2_verifier_t *v = NULL;

    th_fake_http_init(fh, f->pool);
    th_fake_http_add(fh, "POST", INTRO_URL, 200, resp);
    assert_int_equal(oauth2_verifier_parse(&f->ctx, auth ? 6 : 5, argv, &v),
                     OAUTH2_OK);
    oauth2_verifier_set_http(v, &fh->base);
    return v;
}

static void same_principal(apr_pool_t *pool, const oauth2_principal_t *a,
                           const oauth2_principal_t *b)
{
    const oauth2_claim_exports_t *x;
    int i;
    size_t k;

    assert_int_equal(a->type, b->type);
    assert_true((a->sub == NULL) == (b->sub == NULL));
    if (a->sub != NULL)
        assert_string_equal(a->sub, b->sub);
    assert_true((a->client_id == NULL) == (b->client_id == NULL));
    if (a->client_id != NULL)
        assert_string_equal(a->client_id, b->client_id);
    assert_string_equal(a->issuer, b->issuer);
    assert_string_equal(a->access_token, b->access_token);
    assert_true(a->expires == b->expires && a->expires > 0);
    assert_true(json_equal(a->claims, b->claims));
    assert_int_equal(a->scopes->nelts, b->scopes->nelts);
    for (i = 0; i < a->scopes->nelts; i++)
        assert_string_equal(APR_ARRAY_IDX(a->scopes, i, const char *),
                            APR_ARRAY_IDX(b->scopes, i, const char *));
    /* a hit brings the exports made (a JWT's miss, too: see below) */
    assert_non_null(b->exports);
    x = oauth2_claim_exports_make(pool, a->claims, 1);
    assert_int_equal(x->n, b->exports->n);
    assert_int_equal(x->n, json_object_size(a->claims));
    for (k = 0; k < x->n; k++) {
        assert_string_equal(x->e[k].key, b->exports->e[k].key);
        assert_string_equal(x->e[k].env_name, b->exports->e[k].env_name);
        assert_string_equal(x->e[k].text, b->exports->e[k].text);
        assert_string_equal(x->e[k].header_text, b->exports->e[k].header_text);
        assert_int_equal(x->e[k].plain, b->exports->e[k].plain);
    }
}

/* A hit rebuilds nothing from the claims, yet gives the same principal. */
static void cache_hit_gives_the_same_principal(void **state)
{
    th_fixture_t *f = *state;
    oauth2_principal_t *miss = NULL, *hit = NULL, *again = NULL;
    vt_t t;

    vt_init(f, &t, NULL);
    assert_int_equal(run(f, &t, tok(&t, "valid"), &miss), OAUTH2_OK);
    assert_int_equal(run(f, &t, tok(&t, "valid"), &hit), OAUTH2_OK);
    assert_int_equal(stats(&t).cache_hits, 1);
    same_principal(f->pool, miss, hit);
    /* the miss answered from the verdict it cached: one set of exports */
    assert_ptr_equal(miss->exports, hit->exports);
    assert_ptr_equal(miss->claims, hit->claims);
    /* each hit gets its own scopes array: a caller's push stays its own */
    APR_ARRAY_PUSH(hit->scopes, const char *) = "extra";
    assert_int_equal(run(f, &t, tok(&t, "valid"), &again), OAUTH2_OK);
    assert_int_equal(again->scopes->nelts, miss->scopes->nelts);
    assert_ptr_equal(again->exports, hit->exports);
}

/* A hit allocates nothing outside the caller's pool: neither OpenSSL (the
 * digest that keys the cache) nor jansson. */
static void cache_hit_allocates_from_the_pool_only(void **state)
{
    th_fixture_t *f = *state;
    oauth2_principal_t *p = NULL;
    unsigned long before;
    int i;
    vt_t t;

    if (!oauth2_sha256_on_stack())
        skip(); /* FIPS or another provider: EVP allocates per hash */
    vt_init(f, &t, NULL);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    assert_int_equal(run(f, &t, tok(&t, "valid"), NULL), OAUTH2_OK);
    before = th_allocs();
    for (i = 0; i < 3; i++)
        assert_int_equal(run(f, &t, tok(&t, "valid"), &p), OAUTH2_OK);
    assert_int_equal(th_allocs() - before, 0);
    assert_int_equal(stats(&t).cache_hits, 4);
    assert_string_equal(p->sub, "alice");
    /* the counter does count: a miss (full verification) allocates */
    before = th_allocs();
    assert_int_equal(run(f, &t, tok(&t, "valid2"), NULL), OAUTH2_OK);
    assert_true(th_allocs() > before);
}

static void introspection_active(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh;
    oauth2_principal_t *p = NULL, *miss;
    oauth2_verifier_t *v =
        intro_init(f, &fh,
                   apr_psprintf(f->pool,
                                "{\"active\":true,\"iss\":\"https://idp.test\","
                                "\"aud\":\"api\",\"client_id\":\"svc\","
                                "\"scope\":\"x y\",\"exp\":%d}",
                                TH_NOW_SEC + 60),
                   NULL);

    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-1", &p),
                     OAUTH2_OK);
    assert_string_equal(p->client_id, "svc");
    assert_null(p->sub);
    assert_string_equal(fh.last.authorization, "Basic cnM6cyUzQWNyZXQ=");
    assert_non_null(strstr(fh.last.body, "token=opaque-1"));
    miss = p;
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-1", &p),
                     OAUTH2_OK);
    assert_int_equal(fh.calls, 1); /* cached */
    same_principal(f->pool, miss, p);
    assert_int_equal(p->scopes->nelts, 2);
    /* Never cached beyond exp: asked again (still valid within leeway). */
    f->ctx.now += apr_time_from_sec(61);
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-1", &p),
                     OAUTH2_OK);
    assert_int_equal(fh.calls, 2);
    f->ctx.now += apr_time_from_sec(120);
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-1", &p),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "token expired"));
}

static void introspection_inactive_and_negative_cache(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh;
    oauth2_principal_t *p = NULL;
    oauth2_verifier_t *v =
        intro_init(f, &fh, "{\"active\":false}", "client_auth=post");

    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-2", &p),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "token inactive");
    assert_null(fh.last.authorization);
    assert_non_null(strstr(fh.last.body, "client_secret=s%3Acret"));
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-2", &p),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "token inactive (cached)");
    assert_int_equal(fh.calls, 1);
    f->ctx.now += apr_time_from_sec(11);
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-2", &p),
                     OAUTH2_DENIED);
    assert_int_equal(fh.calls, 2);
}

static void introspection_down_is_unavailable(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh;
    oauth2_principal_t *p = NULL;
    oauth2_verifier_t *v = intro_init(f, &fh, "not json", NULL);

    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-3", &p),
                     OAUTH2_UNAVAILABLE);
    fh.entries[0].result = OAUTH2_UNAVAILABLE;
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque-3", &p),
                     OAUTH2_UNAVAILABLE);
    assert_true(th_logged(f, "OA00801"));
}

/* Two processes (two verifiers, own caches) share verdicts via a store. */
static void introspection_shared_store(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh1, fh2;
    oauth2_principal_t *p = NULL;
    oauth2_store_t *st = NULL;
    const char *resp = apr_psprintf(
        f->pool,
        "{\"active\":true,\"iss\":\"https://idp.test\",\"aud\":\"api\","
        "\"sub\":\"dora\",\"exp\":%d}",
        TH_NOW_SEC + 600);
    oauth2_verifier_t *v1 = intro_init(f, &fh1, resp, NULL);
    oauth2_verifier_t *v2 = intro_init(f, &fh2, "{\"active\":false}", NULL);

    assert_int_equal(oauth2_store_mem_create(&f->ctx, f->pool, NULL, &st),
                     OAUTH2_OK);
    assert_int_equal(
        oauth2_verify_token_shared(&f->ctx, &v1, 1, "opaque-4", st, &p),
        OAUTH2_OK);
    assert_int_equal(fh1.calls, 1);
    /* The second process never asks its endpoint: the store answers. */
    assert_int_equal(
        oauth2_verify_token_shared(&f->ctx, &v2, 1, "opaque-4", st, &p),
        OAUTH2_OK);
    assert_string_equal(p->sub, "dora");
    assert_int_equal(fh2.calls, 0);
    /* Negative verdicts are shared too, briefly. */
    assert_int_equal(
        oauth2_verify_token_shared(&f->ctx, &v2, 1, "opaque-5", st, &p),
        OAUTH2_DENIED);
    assert_int_equal(fh2.calls, 1);
    assert_int_equal(
        oauth2_verify_token_shared(&f->ctx, &v1, 1, "opaque-5", st, &p),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "token inactive (shared cache)");
    assert_int_equal(fh1.calls, 1);
}

/* A verdict in the store answers only for a line with the same endpoint
 * and client: another line (an .htaccess author's, say) with the same
 * issuer, audience and namespace cannot plant verdicts for this one. */
static void shared_verdicts_stay_with_their_endpoint(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh1, fh2;
    oauth2_principal_t *p = NULL;
    oauth2_store_t *st = NULL;
    const char *argv[] = {"introspect=https://evil.test/introspect",
                          "issuer=https://idp.test", "audience=api",
                          "client_id=rs", "client_secret=s:cret"};
    const char *evil = apr_psprintf(
        f->pool,
        "{\"active\":true,\"iss\":\"https://idp.test\",\"aud\":\"api\","
        "\"sub\":\"mallory\",\"exp\":%d}",
        TH_NOW_SEC + 600);
    oauth2_verifier_t *honest = intro_init(f, &fh1, "{\"active\":false}", NULL);
    oauth2_verifier_t *other = NULL;

    th_fake_http_init(&fh2, f->pool);
    th_fake_http_add(&fh2, "POST", "https://evil.test/introspect", 200, evil);
    assert_int_equal(oauth2_verifier_parse(&f->ctx, 5, argv, &other),
                     OAUTH2_OK);
    oauth2_verifier_set_http(other, &fh2.base);
    assert_int_equal(oauth2_store_mem_create(&f->ctx, f->pool, NULL, &st),
                     OAUTH2_OK);
    assert_int_equal(
        oauth2_verify_token_shared(&f->ctx, &other, 1, "opaque-8", st, &p),
        OAUTH2_OK);
    assert_string_equal(p->sub, "mallory");
    /* the honest line asks its own endpoint, which says inactive */
    assert_int_equal(
        oauth2_verify_token_shared(&f->ctx, &honest, 1, "opaque-8", st, &p),
        OAUTH2_DENIED);
    assert_int_equal(fh1.calls, 1);
    /* the same endpoint under another client_id is another source too */
    argv[0] = "introspect=" INTRO_URL;
    argv[3] = "client_id=other";
    assert_int_equal(oauth2_verifier_parse(&f->ctx, 5, argv, &other),
                     OAUTH2_OK);
    oauth2_verifier_set_http(other, &fh2.base);
    th_fake_http_add(&fh2, "POST", INTRO_URL, 200, evil);
    assert_int_equal(
        oauth2_verify_token_shared(&f->ctx, &other, 1, "opaque-9", st, &p),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_verify_token_shared(&f->ctx, &honest, 1, "opaque-9", st, &p),
        OAUTH2_DENIED);
    assert_int_equal(fh1.calls, 2);
}

/* A store that is down: every call UNAVAILABLE. */
static oauth2_status_t down_get(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                const char *key, char **val, size_t *len)
{
    (void)st, (void)key, (void)val, (void)len;
    oauth2_err_set(ctx, "store down (test)");
    return OAUTH2_UNAVAILABLE;
}

static oauth2_status_t down_set(oauth2_ctx_t *ctx, oauth2_store_t *st,
                                const char *key, const void *val, size_t len,
                                apr_interval_time_t ttl)
{
    (void)st, (void)key, (void)val, (void)len, (void)ttl;
    oauth2_err_set(ctx, "store down (test)");
    return OAUTH2_UNAVAILABLE;
}

/* The resolver bearer.c passes: counts how often the store is wanted. */
typedef struct resolver_t {
    oauth2_store_t *st;
    int calls;
} resolver_t;

static oauth2_store_t *resolve(void *baton)
{
    resolver_t *r = baton;
    r->calls++;
    return r->st;
}

/* Sealed verdicts: no claim readable in the store, tampering is a miss. */
static void introspection_shared_sealed(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh1, fh2;
    oauth2_principal_t *p = NULL;
    oauth2_crypto_keyring_t ring = {"0123456789abcdef-passphrase", NULL};
    oauth2_crypto_keyring_t other = {"another-passphrase-0123", NULL};
    resolver_t rs = {NULL, 0};
    oauth2_verify_shared_t sh = {resolve, &rs, &ring};
    oauth2_verify_shared_t sh_other = {resolve, &rs, &other};
    const char *resp = apr_psprintf(
        f->pool,
        "{\"active\":true,\"iss\":\"https://idp.test\",\"aud\":\"api\","
        "\"sub\":\"dora\",\"exp\":%d}",
        TH_NOW_SEC + 600);
    oauth2_verifier_t *v1 = intro_init(f, &fh1, resp, NULL);
    oauth2_verifier_t *v2 = intro_init(f, &fh2, resp, NULL);
    oauth2_verifier_t *v3 = intro_init(f, &fh2, resp, NULL);
    const char *hash = oauth2_sha256_hex(f->pool, "opaque-6", 8);
    char *val = NULL;
    size_t len = 0;
    const char *skey, *src;

    assert_int_equal(oauth2_store_mem_create(&f->ctx, f->pool, NULL, &rs.st),
                     OAUTH2_OK);
    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &v1, 1, "opaque-6", &sh, &p),
        OAUTH2_OK);
    assert_int_equal(rs.calls, 1);
    /* The key names issuer, audience, the endpoint (and client) the verdict
     * came from and the token's hash, never the token. */
    src = apr_psprintf(f->pool, "%d\n%s\nrs", (int)OAUTH2_VERIFY_INTROSPECT,
                       INTRO_URL);
    skey = apr_pstrcat(
        f->pool, "oauth2:i:|https://idp.test|api|",
        apr_pstrndup(f->pool, oauth2_sha256_hex(f->pool, src, strlen(src)), 16),
        "|", hash, NULL);
    assert_int_equal(oauth2_store_get(&f->ctx, rs.st, skey, &val, &len),
                     OAUTH2_OK);
    assert_null(strstr(val, "dora"));
    assert_null(strstr(val, "active"));
    /* A cache hit never looks for the store. */
    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &v1, 1, "opaque-6", &sh, &p),
        OAUTH2_OK);
    assert_int_equal(rs.calls, 1);
    /* Another process with the same passphrase: from the store. */
    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &v2, 1, "opaque-6", &sh, &p),
        OAUTH2_OK);
    assert_string_equal(p->sub, "dora");
    assert_int_equal(fh2.calls, 0);
    assert_true(th_logged(f, "OA00806"));
    /* A value that does not open (other key, or forged) is a miss. */
    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &v3, 1, "opaque-6", &sh_other, &p),
        OAUTH2_OK);
    assert_int_equal(fh2.calls, 1);
    assert_true(th_logged(f, "OA00805"));
    assert_int_equal(oauth2_store_set(&f->ctx, rs.st, skey, "{\"active\":true}",
                                      15, apr_time_from_sec(60)),
                     OAUTH2_OK);
    v3 = intro_init(f, &fh2, "{\"active\":false}", NULL);
    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &v3, 1, "opaque-6", &sh, &p),
        OAUTH2_DENIED);
    assert_int_equal(fh2.calls, 1);
}

/* Store down: answered by the endpoint, logged once; JWTs never look. */
static void introspection_store_down(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh;
    oauth2_principal_t *p = NULL;
    oauth2_store_t down = {.name = "down", .get = down_get, .set = down_set};
    oauth2_crypto_keyring_t ring = {"0123456789abcdef-passphrase", NULL};
    resolver_t rs = {&down, 0};
    oauth2_verify_shared_t sh = {resolve, &rs, &ring};
    const char *resp = apr_psprintf(
        f->pool,
        "{\"active\":true,\"iss\":\"https://idp.test\",\"aud\":\"api\","
        "\"sub\":\"erin\",\"exp\":%d}",
        TH_NOW_SEC + 600);
    oauth2_verifier_t *v = intro_init(f, &fh, resp, NULL);
    vt_t t;

    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &v, 1, "opaque-7", &sh, &p), OAUTH2_OK);
    assert_string_equal(p->sub, "erin");
    assert_int_equal(fh.calls, 1);
    assert_true(th_logged(f, "OA00803"));
    f->loglen = 0;
    f->logbuf[0] = '\0';
    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &v, 1, "opaque-8", &sh, &p), OAUTH2_OK);
    assert_int_equal(fh.calls, 2);
    assert_false(th_logged(f, "OA00803")); /* once per outage */
    /* The endpoint down too: UNAVAILABLE, never an allow. */
    fh.entries[0].result = OAUTH2_UNAVAILABLE;
    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &v, 1, "opaque-9", &sh, &p),
        OAUTH2_UNAVAILABLE);
    /* A JWT verifier never asks for the store. */
    vt_init(f, &t, NULL);
    rs.calls = 0;
    assert_int_equal(
        oauth2_verify_token_ex(&f->ctx, &t.v, 1, tok(&t, "valid"), &sh, &p),
        OAUTH2_OK);
    assert_int_equal(rs.calls, 0);
}

/* ---- options ---------------------------------------------------------- */

static void bad_options_fail(void **state)
{
    th_fixture_t *f = *state;
    static const struct {
        const char *a, *b, *err;
    } cases[] = {
        {"jwks_uri=http://idp.example/jwks", "issuer=x", "loopback"},
        {"jwks_uri=https://idp.example/jwks", "audience=x", "issuer="},
        {"jwks_uri=https://idp.example/jwks", "colour=red", "unknown"},
        {"jwks_uri=https://idp.example/jwks", "algs=RS256,HS256", "HS256"},
        {"jwks_uri=https://idp.example/jwks", "algs=none", "none"},
        {"jwks_file=/nonexistent/keys.json", "issuer=x", "cannot read"},
        {"pem=/nonexistent/key.pem", "issuer=x", ""},
        {"introspect=https://idp.example/i", "issuer=x", "client_id"},
        {"issuer=x", "audience=y", "one of"},
        {"jwks_uri=https://a/j", "leeway=-1", "leeway"},
        {"jwks_uri=https://a/j", "noequals", "key=value"}};
    size_t i;
    oauth2_verifier_t *v;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {cases[i].a, cases[i].b};

        f->ctx.err.text[0] = '\0';
        assert_int_not_equal(oauth2_verifier_parse(&f->ctx, 2, argv, &v),
                             OAUTH2_OK);
        assert_non_null(strstr(f->ctx.err.text, cases[i].err));
    }
}

static void jwks_file_source(void **state)
{
    th_fixture_t *f = *state;
    vt_t t;
    const char *argv[] = {
        apr_pstrcat(f->pool, "jwks_file=", getenv("OAUTH2_TEST_DIR"),
                    "/vectors/verify/jwks2.json", NULL),
        "issuer=https://idp.test", "audience=api", "algs=ES256"};
    oauth2_verifier_t *v;
    oauth2_principal_t *p;

    vt_init(f, &t, NULL);
    assert_int_equal(oauth2_verifier_parse(&f->ctx, 4, argv, &v), OAUTH2_OK);
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, tok(&t, "kid2"), &p),
                     OAUTH2_OK);
    /* RS256 is not in this verifier's algs. */
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, tok(&t, "valid"), &p),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "jws: alg RS256 not allowed here"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(valid_token_gives_principal, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(cache_hit_allocates_from_the_pool_only,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(cache_hit_gives_the_same_principal,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(
            malformed_tokens_denied_with_a_warm_cache, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(cache_hit_skips_signature, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(verdict_kept_through_the_leeway,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(long_namespace_still_caches, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(unknown_kid_refetch_is_limited,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(failed_refetch_keeps_last_good_set,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(cache_control_bounds_key_lifetime,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(cold_jwks_down_is_unavailable, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(bad_tokens_are_denied, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(hostile_headers_are_denied, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(cache_is_bounded, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(miss_principal_outlives_its_eviction,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(threads_share_verdicts_safely, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(introspection_active, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(
            introspection_inactive_and_negative_cache, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(introspection_down_is_unavailable,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(introspection_shared_sealed, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(introspection_store_down, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(introspection_shared_store, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(
            shared_verdicts_stay_with_their_endpoint, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(bad_options_fail, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(jwks_file_source, th_setup,
                                        th_teardown),
    };

    if (!th_count_allocs())
        return 1; /* it said why */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
