/*
 * test_session.c - the session model: fresh ids, strict cookie parsing,
 * namespaced store keys, seal/open round trip bound to the cookie secret
 * and the store key, timeouts on ctx->now, load/save/destroy through the
 * memory store, and the small sealed cookies.
 */
#include <string.h>

#include <apr_strings.h>
#include <openssl/crypto.h>

#include "helpers.h"
#include "oauth2/session.h"
#include "../../mod_oauth2/core/session_plain.h"

#define SEC(n) apr_time_from_sec(n)

static const oauth2_crypto_keyring_t ring = {"session test passphrase 01",
                                             NULL};

static oauth2_session_t *full(th_fixture_t *f, const char *ns)
{
    oauth2_session_t *s = NULL;
    json_t *claims = json_pack("{s:s, s:b, s:[s,s]}", "email", "a@b.example",
                               "email_verified", 1, "groups", "x", "y");

    assert_int_equal(oauth2_session_new(&f->ctx, ns, &s), OAUTH2_OK);
    s->sub = "user-1";
    s->provider = "google";
    s->sid = "op-sid";
    s->id_token = "eyJ.id.token";
    s->access_token = "access-token-value";
    s->refresh_token = "refresh-token-value";
    s->expires_at = f->ctx.now + SEC(3600);
    assert_int_equal(oauth2_session_set_claims(&f->ctx, s, claims), OAUTH2_OK);
    json_decref(claims);
    return s;
}

static void new_sessions_differ(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a, *b;
    const char *ca, *cb;

    assert_int_equal(oauth2_session_new(&f->ctx, "vh1/google", &a), OAUTH2_OK);
    assert_int_equal(oauth2_session_new(&f->ctx, "vh1/google", &b), OAUTH2_OK);
    assert_memory_not_equal(a->id, b->id, 32);
    assert_memory_not_equal(a->id, a->secret, 32);
    assert_string_not_equal(a->store_key, b->store_key);
    ca = oauth2_session_cookie_value(&f->ctx, a);
    cb = oauth2_session_cookie_value(&f->ctx, b);
    assert_int_equal(strlen(ca), OAUTH2_SESSION_COOKIE_LEN);
    assert_int_equal(ca[43], '.');
    assert_string_not_equal(ca, cb);
    assert_true(strncmp(a->store_key, "oauth2:session:vh1/google:", 26) == 0);
    assert_int_equal(strlen(a->store_key), 26 + 64);
    assert_int_equal(a->created, f->ctx.now);
    assert_true(json_is_object(a->claims));
    assert_int_equal(oauth2_session_new(&f->ctx, "", &a), OAUTH2_DENIED);
    assert_int_equal(oauth2_session_new(&f->ctx, "a b", &a), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "session namespace has a non-printable byte");
}

static void cookie_parse_round_trip_and_namespaces(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f, "vh1"), *p = NULL, *q = NULL;
    const char *c = oauth2_session_cookie_value(&f->ctx, a);

    assert_int_equal(oauth2_session_parse_cookie(&f->ctx, "vh1", c, &p),
                     OAUTH2_OK);
    assert_memory_equal(p->id, a->id, 32);
    assert_memory_equal(p->secret, a->secret, 32);
    assert_string_equal(p->store_key, a->store_key);
    assert_null(p->sub);
    /* The same cookie on another vhost maps to another key. */
    assert_int_equal(oauth2_session_parse_cookie(&f->ctx, "vh2", c, &q),
                     OAUTH2_OK);
    assert_string_not_equal(q->store_key, a->store_key);
}

static void cookie_parse_is_strict(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f, "ns"), *p;
    const char *good = oauth2_session_cookie_value(&f->ctx, a);
    char *bad[8];
    size_t i;

    bad[0] = apr_pstrndup(f->pool, good, 86);       /* short */
    bad[1] = apr_pstrcat(f->pool, good, "A", NULL); /* long */
    bad[2] = apr_pstrdup(f->pool, good);
    bad[2][43] = '_'; /* no dot */
    bad[3] = apr_pstrdup(f->pool, good);
    bad[3][10] = '='; /* alphabet */
    bad[4] = apr_pstrdup(f->pool, good);
    /* The 43rd char of 32 bytes has 2 unused bits that must be zero. */
    bad[4][42] = good[42] == 'B' ? 'D' : 'B';
    bad[5] = apr_pstrdup(f->pool, good);
    bad[5][86] = good[86] == 'B' ? 'D' : 'B';
    bad[6] = "";
    bad[7] = apr_pstrcat(f->pool, " ", apr_pstrndup(f->pool, good, 86), NULL);
    for (i = 0; i < 8; i++) {
        if (oauth2_session_parse_cookie(&f->ctx, "ns", bad[i], &p) !=
            OAUTH2_DENIED)
            fail_msg("bad cookie %zu accepted", i);
        assert_string_equal(f->ctx.err.text, "session cookie malformed");
    }
    assert_int_equal(oauth2_session_parse_cookie(&f->ctx, "ns", NULL, &p),
                     OAUTH2_DENIED);
}

static void seal_open_round_trip(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f, "ns"), *p;
    char *val;
    size_t len;

    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &val, &len),
                     OAUTH2_OK);
    /* Nothing readable in the stored value. */
    assert_null(strstr(val, "access"));
    assert_null(strstr(val, "user-1"));
    assert_int_equal(
        oauth2_session_parse_cookie(
            &f->ctx, "ns", oauth2_session_cookie_value(&f->ctx, a), &p),
        OAUTH2_OK);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_OK);
    assert_string_equal(p->sub, "user-1");
    assert_string_equal(p->provider, "google");
    assert_string_equal(p->sid, "op-sid");
    assert_string_equal(p->id_token, "eyJ.id.token");
    assert_string_equal(p->access_token, "access-token-value");
    assert_string_equal(p->refresh_token, "refresh-token-value");
    assert_int_equal(p->expires_at, f->ctx.now + SEC(3600));
    assert_int_equal(p->created, a->created);
    assert_true(json_equal(p->claims, a->claims));
}

/* A record as written before the v2 layout: every field in one JSON
 * object, sealed under the same key, info and store key. */
static char *seal_v1(th_fixture_t *f, const oauth2_session_t *a,
                     const char *json)
{
    char *val = NULL;

    assert_int_equal(
        oauth2_crypto_seal(&f->ctx, &ring, a->secret, sizeof(a->secret),
                           "mod_oauth2 session v1", a->store_key,
                           strlen(a->store_key), json, strlen(json), &val),
        OAUTH2_OK);
    return val;
}

/* Records sealed by earlier versions (v1) still open after an upgrade. */
static void v1_records_still_open(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f, "ns"), *p = th_session_reader(f, a);
    const char *json =
        "{\"access_token\":\"at-v1\",\"claims\":{\"email\":\"x@y\"},"
        "\"created\":5,\"expires_at\":7,\"id_token\":\"it-v1\","
        "\"last_access\":6,\"provider\":\"google\",\"sid\":\"s1\","
        "\"sub\":\"user-1\",\"v\":1}";
    char *val = seal_v1(f, a, json);

    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, strlen(val)),
                     OAUTH2_OK);
    assert_string_equal(p->sub, "user-1");
    assert_string_equal(p->sid, "s1");
    assert_string_equal(p->id_token, "it-v1");
    assert_string_equal(p->access_token, "at-v1");
    assert_null(p->refresh_token);
    assert_int_equal(p->created, 5);
    assert_int_equal(p->last_access, 6);
    assert_int_equal(p->expires_at, 7);
    assert_string_equal(json_string_value(json_object_get(p->claims, "email")),
                        "x@y");
    /* a v1 object that claims to be v2 is refused */
    p = th_session_reader(f, a);
    val = seal_v1(f, a,
                  "{\"v\":2,\"sub\":\"u\",\"created\":1,"
                  "\"expires_at\":1,\"last_access\":1,\"claims\":{}}");
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, strlen(val)),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "session value has an unknown version");
}

/* v2: the tokens in front, raw; the JSON part holds none of them; an
 * empty token and an absent one stay apart. */
static void v2_layout_keeps_tokens_out_of_the_json(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f, "ns"), *p = th_session_reader(f, a);
    unsigned char *pt = NULL;
    size_t len = 0;
    char *json;

    a->refresh_token = NULL;
    a->id_token = "";
    assert_int_equal(oauth2_session_encode(&f->ctx, a, &pt, &len), OAUTH2_OK);
    assert_int_equal(pt[0], 0x02);
    /* id "" (length 0), access (18 bytes), refresh absent */
    assert_memory_equal(pt + 1,
                        "\0\0\0\0\0\0\0\x12"
                        "access-token-value"
                        "\xff\xff\xff\xff",
                        4 + 4 + 18 + 4);
    json = apr_pstrmemdup(f->pool, (const char *)pt + 31, len - 31);
    assert_true(json[0] == '{');
    assert_null(strstr(json, "token"));
    assert_non_null(strstr(json, "\"v\":2"));
    assert_int_equal(oauth2_session_decode(&f->ctx, p, pt, len), OAUTH2_OK);
    assert_string_equal(p->id_token, "");
    assert_string_equal(p->access_token, "access-token-value");
    assert_null(p->refresh_token);
    assert_string_equal(p->sub, "user-1");
    assert_string_equal(p->sid, "op-sid");
    assert_true(json_equal(p->claims, a->claims));
    OPENSSL_clear_free(pt, len);
}

/* Every way a v2 plaintext can be malformed is refused, none read past
 * the end (the fuzz target fuzz_session_plain covers the rest). */
static void v2_malformed_refused(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f, "ns"), *p;
    unsigned char *pt = NULL, *bad;
    size_t len = 0, cut;

    assert_int_equal(oauth2_session_encode(&f->ctx, a, &pt, &len), OAUTH2_OK);
    /* every truncation: inside a length, a token or the JSON */
    for (cut = 0; cut < len; cut++) {
        bad = apr_pmemdup(f->pool, pt, cut);
        p = th_session_reader(f, a);
        if (oauth2_session_decode(&f->ctx, p, bad, cut) != OAUTH2_DENIED)
            fail_msg("truncated at %zu of %zu accepted", cut, len);
    }
    /* a length past the end */
    bad = apr_pmemdup(f->pool, pt, len);
    bad[1] = 0x7f;
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_decode(&f->ctx, p, bad, len),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "session value has a malformed token field");
    /* a NUL inside a token */
    bad = apr_pmemdup(f->pool, pt, len);
    bad[1 + 4 + 3] = '\0';
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_decode(&f->ctx, p, bad, len),
                     OAUTH2_DENIED);
    /* junk after the JSON */
    bad = apr_palloc(f->pool, len + 1);
    memcpy(bad, pt, len);
    bad[len] = 'x';
    p = th_session_reader(f, a);
    assert_int_equal(oauth2_session_decode(&f->ctx, p, bad, len + 1),
                     OAUTH2_DENIED);
    /* neither layout */
    p = th_session_reader(f, a);
    assert_int_equal(
        oauth2_session_decode(&f->ctx, p, (const unsigned char *)"\x03{}", 3),
        OAUTH2_DENIED);
    OPENSSL_clear_free(pt, len);
}

static void open_needs_secret_key_and_passphrase(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f, "ns"), *p, *other = full(f, "ns");
    oauth2_crypto_keyring_t wrong = {"another passphrase", NULL};
    oauth2_crypto_keyring_t rotated = {"new passphrase", ring.current};
    const char *cookie = oauth2_session_cookie_value(&f->ctx, a);
    char *val;
    size_t len;

    assert_int_equal(oauth2_session_seal(&f->ctx, &ring, a, &val, &len),
                     OAUTH2_OK);
    /* Right key, wrong secret (the id alone, e.g. from a dump). */
    oauth2_session_parse_cookie(&f->ctx, "ns", cookie, &p);
    p->secret[0] ^= 1;
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_DENIED);
    /* A value moved under another session's key. */
    oauth2_session_parse_cookie(
        &f->ctx, "ns", oauth2_session_cookie_value(&f->ctx, other), &p);
    memcpy(p->secret, a->secret, 32);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_DENIED);
    /* Another vhost's namespace. */
    oauth2_session_parse_cookie(&f->ctx, "ns2", cookie, &p);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val, len),
                     OAUTH2_DENIED);
    oauth2_session_parse_cookie(&f->ctx, "ns", cookie, &p);
    assert_int_equal(oauth2_session_open(&f->ctx, &wrong, p, val, len),
                     OAUTH2_DENIED);
    assert_true(strstr(f->ctx.err.text, "does not authenticate") != NULL);
    assert_int_equal(oauth2_session_open(&f->ctx, &rotated, p, val, len),
                     OAUTH2_OK);
    assert_int_equal(oauth2_session_open(&f->ctx, &ring, p, val,
                                         OAUTH2_SESSION_MAX_VALUE + 1),
                     OAUTH2_DENIED);
}

static void sealed_garbage_json_refused(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *a = full(f, "ns");
    static const char *bodies[] = {
        "[1]",
        "{\"v\":2}",
        "{\"v\":1,\"created\":1,\"last_access\":1,"
        "\"expires_at\":0,\"claims\":[]}",
        "{\"v\":1,\"sub\":5,\"created\":1,\"last_access\":1,"
        "\"expires_at\":0,\"claims\":{}}",
        "{\"v\":1,\"claims\":{}}",
        "not json"};
    static const char *errs[] = {"session value is not a JSON object",
                                 "session value has an unknown version",
                                 "session value has a member of the wrong type",
                                 "session value has a member of the wrong type",
                                 "session value has a member of the wrong type",
                                 "session value is not a JSON object"};
    size_t i;

    for (i = 0; i < 6; i++) {
        char *val;
        assert_int_equal(oauth2_crypto_seal(&f->ctx, &ring, a->secret, 32,
                                            "mod_oauth2 session v1",
                                            a->store_key, strlen(a->store_key),
                                            bodies[i], strlen(bodies[i]), &val),
                         OAUTH2_OK);
        assert_int_equal(
            oauth2_session_open(&f->ctx, &ring, a, val, strlen(val)),
            OAUTH2_DENIED);
        assert_string_equal(f->ctx.err.text, errs[i]);
    }
}

static void timeouts(void **state)
{
    th_fixture_t *f = *state;
    oauth2_session_t *s = full(f, "ns");
    apr_time_t t0 = f->ctx.now;

    assert_int_equal(oauth2_session_check(&f->ctx, s, SEC(600), SEC(3600)),
                     OAUTH2_OK);
    f->ctx.now = t0 + SEC(600);
    assert_int_equal(oauth2_session_check(&f->ctx, s, SEC(600), SEC(3600)),
                     OAUTH2_OK);
    f->ctx.now = t0 + SEC(601);
    assert_int_equal(oauth2_session_check(&f->ctx, s, SEC(600), SEC(3600)),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "session idle for 601 s (limit 600 s)");
    s->last_access = t0 + SEC(3500);
    f->ctx.now = t0 + SEC(3601);
    assert_int_equal(oauth2_session_check(&f->ctx, s, SEC(600), SEC(3600)),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "session older than its 3600 s maximum");
    assert_int_equal(oauth2_session_check(&f->ctx, s, 0, 0), OAUTH2_OK);
}

static void load_save_destroy(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = NULL;
    oauth2_session_t *a = full(f, "ns"), *p = NULL;
    const char *cookie = oauth2_session_cookie_value(&f->ctx, a);
    apr_time_t t0 = f->ctx.now;
    char *raw;

    assert_int_equal(oauth2_store_mem_create(&f->ctx, f->pool, NULL, &st),
                     OAUTH2_OK);
    assert_int_equal(
        oauth2_session_load(&f->ctx, st, &ring, "ns", cookie, 0, 0, &p),
        OAUTH2_NOT_FOUND);
    assert_true(th_logged(f, "OA00401: session not in the store"));
    f->ctx.now = t0 + SEC(5);
    assert_int_equal(oauth2_session_save(&f->ctx, st, &ring, a, SEC(3600)),
                     OAUTH2_OK);
    assert_int_equal(a->last_access, t0 + SEC(5));
    assert_int_equal(
        oauth2_session_load(&f->ctx, st, &ring, "ns", cookie, SEC(60), 0, &p),
        OAUTH2_OK);
    assert_string_equal(p->sub, "user-1");
    /* Idle beyond the limit. */
    f->ctx.now = t0 + SEC(70);
    assert_int_equal(
        oauth2_session_load(&f->ctx, st, &ring, "ns", cookie, SEC(60), 0, &p),
        OAUTH2_DENIED);
    assert_true(th_logged(f, "OA00403: session sha256:"));
    /* Bad cookie: DENIED, nothing in the log but the reason. */
    assert_int_equal(
        oauth2_session_load(&f->ctx, st, &ring, "ns", "x", 0, 0, &p),
        OAUTH2_DENIED);
    assert_true(th_logged(f, "OA00400: no session: session cookie "
                             "malformed"));
    /* Tampered stored value: DENIED and logged without secrets. */
    assert_int_equal(oauth2_store_get(&f->ctx, st, a->store_key, &raw, NULL),
                     OAUTH2_OK);
    raw[10] = raw[10] == 'A' ? 'B' : 'A';
    assert_int_equal(
        oauth2_store_set(&f->ctx, st, a->store_key, raw, strlen(raw), SEC(60)),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_session_load(&f->ctx, st, &ring, "ns", cookie, 0, 0, &p),
        OAUTH2_DENIED);
    assert_true(th_logged(f, "OA00402: session sha256:"));
    assert_false(th_logged(f, cookie));
    assert_int_equal(oauth2_session_destroy(&f->ctx, st, a), OAUTH2_OK);
    assert_int_equal(
        oauth2_session_load(&f->ctx, st, &ring, "ns", cookie, 0, 0, &p),
        OAUTH2_NOT_FOUND);
}

static void sealed_cookies(void **state)
{
    th_fixture_t *f = *state;
    oauth2_crypto_keyring_t rotated = {"new one", ring.current};
    char *c = NULL, *pl = NULL;
    size_t n = 0;

    assert_int_equal(oauth2_session_seal_cookie(&f->ctx, &ring, "oauth2_state",
                                                "state=abc", 9,
                                                f->ctx.now + SEC(300), &c),
                     OAUTH2_OK);
    assert_null(strstr(c, "abc"));
    assert_int_equal(
        oauth2_session_open_cookie(&f->ctx, &ring, "oauth2_state", c, &pl, &n),
        OAUTH2_OK);
    assert_int_equal(n, 9);
    assert_string_equal(pl, "state=abc");
    assert_int_equal(oauth2_session_open_cookie(&f->ctx, &rotated,
                                                "oauth2_state", c, &pl, &n),
                     OAUTH2_OK);
    /* Bound to its name. */
    assert_int_equal(
        oauth2_session_open_cookie(&f->ctx, &ring, "other", c, &pl, &n),
        OAUTH2_DENIED);
    assert_true(strstr(f->ctx.err.text, "does not authenticate") != NULL);
    /* Expired. */
    f->ctx.now += SEC(300);
    assert_int_equal(
        oauth2_session_open_cookie(&f->ctx, &ring, "oauth2_state", c, &pl, &n),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "cookie oauth2_state expired");
    /* Garbage and oversize. */
    assert_int_equal(oauth2_session_open_cookie(&f->ctx, &ring, "oauth2_state",
                                                "v1.AAAA", &pl, &n),
                     OAUTH2_DENIED);
    assert_int_equal(
        oauth2_session_open_cookie(&f->ctx, &ring, "oauth2_state", "", &pl, &n),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "cookie oauth2_state empty or longer than 4096 bytes");
    assert_int_equal(oauth2_session_seal_cookie(&f->ctx, &ring, "", "x", 1,
                                                f->ctx.now + 1, &c),
                     OAUTH2_ERROR);
}

/* ---- sessions branch: indexes, revocation, jti, locks ------------------ */

static oauth2_session_t *saved(th_fixture_t *f, oauth2_store_t *st,
                               const char *sub, const char *sid)
{
    oauth2_session_t *s = full(f, "ns");

    s->sub = sub;
    s->sid = sid;
    assert_int_equal(oauth2_session_save(&f->ctx, st, &ring, s, SEC(600)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_session_index(&f->ctx, st, "ns", s, SEC(3600)),
                     OAUTH2_OK);
    return s;
}

static void index_list_and_revoke(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = NULL;
    oauth2_session_t *a, *b, *c, *p = NULL;
    apr_array_header_t *l = NULL;
    oauth2_session_info_t *i;
    int n = -1;

    assert_int_equal(oauth2_store_mem_create(&f->ctx, f->pool, NULL, &st),
                     OAUTH2_OK);
    a = saved(f, st, "alice", "sid-1");
    b = saved(f, st, "alice", "sid-2");
    c = saved(f, st, "bob", "sid-1");
    assert_int_equal(
        oauth2_session_list(&f->ctx, st, "ns", "google", "alice", 100, &l),
        OAUTH2_OK);
    assert_int_equal(l->nelts, 2);
    i = &APR_ARRAY_IDX(l, 0, oauth2_session_info_t);
    assert_int_equal(strlen(i->id), 64);
    assert_string_equal(i->provider, "google");
    assert_int_equal(i->last_seen, apr_time_from_sec(TH_NOW_SEC));
    /* The index holds no secret: no cookie half, no token. */
    assert_int_equal(
        oauth2_session_list(&f->ctx, st, "ns", "other", "alice", 100, &l),
        OAUTH2_OK);
    assert_int_equal(l->nelts, 0); /* per provider */
    /* sid + sub: only alice's session of sid-1, not bob's. */
    assert_int_equal(oauth2_session_revoke(&f->ctx, st, "ns", "google", "alice",
                                           "sid-1", &n),
                     OAUTH2_OK);
    assert_int_equal(n, 1);
    assert_int_equal(
        oauth2_session_load(&f->ctx, st, &ring, "ns",
                            oauth2_session_cookie_value(&f->ctx, a), 0, 0, &p),
        OAUTH2_NOT_FOUND);
    assert_int_equal(
        oauth2_session_load(&f->ctx, st, &ring, "ns",
                            oauth2_session_cookie_value(&f->ctx, c), 0, 0, &p),
        OAUTH2_OK);
    /* The stale member is dropped from alice's listing. */
    assert_int_equal(
        oauth2_session_list(&f->ctx, st, "ns", "google", "alice", 100, &l),
        OAUTH2_OK);
    assert_int_equal(l->nelts, 1);
    assert_string_equal(APR_ARRAY_IDX(l, 0, oauth2_session_info_t).id,
                        oauth2_session_index_id(b));
    /* By sub: everything of bob. */
    assert_int_equal(
        oauth2_session_revoke(&f->ctx, st, "ns", "google", "bob", NULL, &n),
        OAUTH2_OK);
    assert_int_equal(n, 1);
    assert_int_equal(
        oauth2_session_revoke(&f->ctx, st, "ns", "google", "bob", NULL, &n),
        OAUTH2_OK);
    assert_int_equal(n, 0);
    /* By index id. */
    assert_int_equal(
        oauth2_session_revoke_id(&f->ctx, st, "ns", oauth2_session_index_id(b)),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_session_revoke_id(&f->ctx, st, "ns", oauth2_session_index_id(b)),
        OAUTH2_NOT_FOUND);
    assert_int_equal(oauth2_session_revoke_id(&f->ctx, st, "ns", "../x"),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "session index id is not 64 hex digits");
}

static void index_needs_sub(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = NULL;
    oauth2_session_t *a = full(f, "ns");

    assert_int_equal(oauth2_store_mem_create(&f->ctx, f->pool, NULL, &st),
                     OAUTH2_OK);
    a->sub = NULL;
    assert_int_equal(oauth2_session_index(&f->ctx, st, "ns", a, SEC(60)),
                     OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text,
                        "session without sub or provider: not indexed");
}

static void jti_once_and_lock(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = NULL;
    oauth2_session_t *a = full(f, "ns");
    int held = -1;

    assert_int_equal(oauth2_store_mem_create(&f->ctx, f->pool, NULL, &st),
                     OAUTH2_OK);
    /* Pending (not done): a retry or a duplicate may go ahead. */
    assert_int_equal(oauth2_session_jti_once(&f->ctx, st, "iss", "j1", SEC(60)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_session_jti_once(&f->ctx, st, "iss", "j1", SEC(60)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_session_jti_done(&f->ctx, st, "iss", "j1", SEC(60)),
                     OAUTH2_OK);
    assert_int_equal(oauth2_session_jti_once(&f->ctx, st, "iss", "j1", SEC(60)),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "jti replayed");
    assert_int_equal(
        oauth2_session_jti_once(&f->ctx, st, "iss2", "j1", SEC(60)),
        OAUTH2_OK);        /* per issuer */
    f->ctx.now += SEC(61); /* the marker expires with its ttl */
    assert_int_equal(oauth2_session_jti_once(&f->ctx, st, "iss", "j1", SEC(60)),
                     OAUTH2_OK);
    assert_int_equal(
        oauth2_session_lock(&f->ctx, st, a, "refresh", SEC(5), &held),
        OAUTH2_OK);
    assert_int_equal(held, 1);
    assert_int_equal(
        oauth2_session_lock(&f->ctx, st, a, "refresh", SEC(5), &held),
        OAUTH2_OK);
    assert_int_equal(held, 0);
    oauth2_session_unlock(&f->ctx, st, a, "refresh");
    assert_int_equal(
        oauth2_session_lock(&f->ctx, st, a, "refresh", SEC(5), &held),
        OAUTH2_OK);
    assert_int_equal(held, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(v1_records_still_open, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(v2_layout_keeps_tokens_out_of_the_json,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(v2_malformed_refused, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(index_list_and_revoke, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(index_needs_sub, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(jti_once_and_lock, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(new_sessions_differ, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(cookie_parse_round_trip_and_namespaces,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(cookie_parse_is_strict, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(seal_open_round_trip, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(open_needs_secret_key_and_passphrase,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(sealed_garbage_json_refused, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(timeouts, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(load_save_destroy, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(sealed_cookies, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
