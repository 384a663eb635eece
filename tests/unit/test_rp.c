/*
 * test_rp.c - the relying-party core: discovery validation and cache,
 * authorization request, login record, callback checks, token endpoint,
 * ID token claims, userinfo, end-session URL and the return-URL validator
 * (with a list of open-redirect payloads).
 */
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "fake_http.h"
#include "oauth2/rp.h"
#include "oauth2/util.h"

#define IDP "https://idp.example"
#define DISC IDP "/.well-known/openid-configuration"

static const char *meta_json =
    "{\"issuer\":\"" IDP "\",\"authorization_endpoint\":\"" IDP "/auth\","
    "\"token_endpoint\":\"" IDP "/token\",\"userinfo_endpoint\":\"" IDP
    "/userinfo\",\"jwks_uri\":\"" IDP "/jwks\",\"end_session_endpoint\":\"" IDP
    "/logout\"}";

static oauth2_rp_provider_t *provider(apr_pool_t *p)
{
    oauth2_rp_provider_t *prov = apr_pcalloc(p, sizeof(*prov));

    prov->name = "idp";
    prov->discovery_url = DISC;
    prov->client_id = "client1";
    prov->client_secret = "s3cret value";
    prov->scope = "openid email";
    prov->auth = OAUTH2_RP_AUTH_BASIC;
    prov->userinfo = 1;
    return prov;
}

static oauth2_provider_meta_t *meta(th_fixture_t *f)
{
    oauth2_provider_meta_t *m = NULL;

    assert_int_equal(oauth2_discovery_parse(&f->ctx, meta_json,
                                            strlen(meta_json), DISC, NULL, &m),
                     OAUTH2_OK);
    return m;
}

/* ---- discovery -------------------------------------------------------- */

static void discovery_parse_good_and_bad(void **state)
{
    th_fixture_t *f = *state;
    oauth2_provider_meta_t *m = meta(f);
    const char *bad_iss = "{\"issuer\":\"https://evil\",\"jwks_uri\":\"" IDP
                          "/j\",\"authorization_endpoint\":\"" IDP
                          "/a\",\"token_endpoint\":\"" IDP "/t\"}";
    const char *http_ep = "{\"issuer\":\"" IDP "\",\"jwks_uri\":\"" IDP
                          "/j\",\"authorization_endpoint\":\"http://idp."
                          "example/a\",\"token_endpoint\":\"" IDP "/t\"}";
    const char *no_jwks = "{\"issuer\":\"" IDP "\"}";
    const char *not_str = "{\"issuer\":\"" IDP "\",\"jwks_uri\":5}";

    assert_string_equal(m->token_endpoint, IDP "/token");
    assert_string_equal(m->end_session_endpoint, IDP "/logout");
    assert_int_equal(oauth2_discovery_parse(&f->ctx, bad_iss, strlen(bad_iss),
                                            DISC, NULL, &m),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "is not " IDP));
    assert_int_equal(oauth2_discovery_parse(&f->ctx, http_ep, strlen(http_ep),
                                            DISC, NULL, &m),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "authorization_endpoint"));
    assert_int_equal(oauth2_discovery_parse(&f->ctx, no_jwks, strlen(no_jwks),
                                            DISC, NULL, &m),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "metadata lacks jwks_uri");
    assert_int_equal(oauth2_discovery_parse(&f->ctx, not_str, strlen(not_str),
                                            DISC, NULL, &m),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "jwks_uri is not a string"));
    assert_int_equal(oauth2_discovery_parse(&f->ctx, "[1]", 3, DISC, NULL, &m),
                     OAUTH2_DENIED);
}

static void discovery_cache_and_stale(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh;
    oauth2_discovery_cache_t *c = oauth2_discovery_cache_create(f->pool, 4);
    oauth2_provider_meta_t *m = NULL;
    th_fake_http_entry_t *e;
    apr_interval_time_t ttl = apr_time_from_sec(60);

    th_fake_http_init(&fh, f->pool);
    e = th_fake_http_add(&fh, "GET", DISC, 200, meta_json);
    assert_int_equal(
        oauth2_discovery_get(&f->ctx, c, &fh.base, DISC, NULL, ttl, &m),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_discovery_get(&f->ctx, c, &fh.base, DISC, NULL, ttl, &m),
        OAUTH2_OK);
    assert_int_equal(e->calls, 1);
    /* Expired and the provider down: stale entry served for one more TTL. */
    e->result = OAUTH2_UNAVAILABLE;
    f->ctx.now += apr_time_from_sec(90);
    assert_int_equal(
        oauth2_discovery_get(&f->ctx, c, &fh.base, DISC, NULL, ttl, &m),
        OAUTH2_OK);
    assert_true(th_logged(f, "OA00301"));
    f->ctx.now += apr_time_from_sec(60);
    assert_int_equal(
        oauth2_discovery_get(&f->ctx, c, &fh.base, DISC, NULL, ttl, &m),
        OAUTH2_UNAVAILABLE);
    /* A non-200 answer is unavailability, not a verdict. */
    e->result = OAUTH2_OK;
    e->status = 500;
    assert_int_equal(
        oauth2_discovery_get(&f->ctx, NULL, &fh.base, DISC, NULL, ttl, &m),
        OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text, "discovery returned HTTP 500");
}

static void discovery_presets_and_check(void **state)
{
    th_fixture_t *f = *state;
    const oauth2_discovery_preset_t *g = oauth2_discovery_preset("google");
    const oauth2_discovery_preset_t *gh = oauth2_discovery_preset("github");
    oauth2_provider_meta_t m = {0};

    assert_non_null(g);
    assert_string_equal(g->alt_issuer, "accounts.google.com");
    assert_non_null(gh);
    assert_null(gh->discovery_url);
    assert_string_equal(gh->user_claim, "login");
    assert_int_equal(oauth2_discovery_check(&f->ctx, &gh->meta), OAUTH2_OK);
    assert_null(oauth2_discovery_preset("nope"));
    assert_int_equal(oauth2_discovery_check(&f->ctx, &m), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "authorization_endpoint missing");
    m.authorization_endpoint = "http://127.0.0.1:9/a";
    m.token_endpoint = "http://localhost:9/t";
    assert_int_equal(oauth2_discovery_check(&f->ctx, &m), OAUTH2_OK);
    m.userinfo_endpoint = "http://10.0.0.1/u";
    assert_int_equal(oauth2_discovery_check(&f->ctx, &m), OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "userinfo_endpoint"));
}

/* ---- login start, record, callback ------------------------------------ */

static void login_start_builds_pkce_request(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);
    oauth2_rp_login_t *l = NULL, *l2 = NULL;
    const char *url = NULL;
    unsigned char md[OAUTH2_SHA256_LEN];
    char *chal;
    const char *enc;

    assert_int_equal(oauth2_rp_login_start(&f->ctx, prov, meta(f),
                                           "https://rp/cb", "/app?x=1", &l,
                                           &url),
                     OAUTH2_OK);
    assert_int_equal(strncmp(url, IDP "/auth?response_type=code&", 33), 0);
    assert_non_null(strstr(url, "code_challenge_method=S256"));
    assert_non_null(
        strstr(url, apr_pstrcat(f->pool, "state=", l->state, NULL)));
    assert_non_null(
        strstr(url, apr_pstrcat(f->pool, "nonce=", l->nonce, NULL)));
    oauth2_sha256(l->verifier, strlen(l->verifier), md);
    chal = oauth2_b64url_encode(f->pool, md, sizeof(md));
    assert_non_null(strstr(url, chal));
    assert_int_equal(strlen(l->state), 43);
    /* Round trip, expiry. */
    enc = oauth2_rp_login_encode(&f->ctx, l);
    assert_int_equal(oauth2_rp_login_decode(&f->ctx, enc, strlen(enc),
                                            apr_time_from_sec(600), &l2),
                     OAUTH2_OK);
    assert_string_equal(l2->state, l->state);
    assert_string_equal(l2->return_url, "/app?x=1");
    f->ctx.now += apr_time_from_sec(601);
    assert_int_equal(oauth2_rp_login_decode(&f->ctx, enc, strlen(enc),
                                            apr_time_from_sec(600), &l2),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "login state expired");
    assert_int_equal(oauth2_rp_login_decode(&f->ctx, "{\"p\":\"x\"}", 9,
                                            apr_time_from_sec(600), &l2),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "login state incomplete");
    /* Plain OAuth 2.0: no nonce. */
    prov->scope = "read:user";
    assert_int_equal(oauth2_rp_login_start(&f->ctx, prov, meta(f),
                                           "https://rp/cb", NULL, &l, &url),
                     OAUTH2_OK);
    assert_null(l->nonce);
    assert_null(strstr(url, "nonce="));
    assert_string_equal(oauth2_rp_state_tag(f->pool, "abc"),
                        oauth2_rp_state_tag(f->pool, "abc"));
    assert_int_equal(strlen(oauth2_rp_state_tag(f->pool, "abc")), 12);
}

static void callback_checks(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);
    oauth2_provider_meta_t *m = meta(f);
    oauth2_rp_login_t l = {.state = "st1", .nonce = "n1", .verifier = "v"};
    oauth2_rp_callback_t *cb = NULL;

    assert_int_equal(
        oauth2_rp_callback_parse(&f->ctx, "code=a%2Bb&state=st1", &cb),
        OAUTH2_OK);
    assert_string_equal(cb->code, "a+b");
    assert_int_equal(oauth2_rp_callback_check(&f->ctx, prov, m, &l, cb),
                     OAUTH2_OK);
    assert_int_equal(oauth2_rp_callback_parse(&f->ctx, "code=x&state=st2", &cb),
                     OAUTH2_OK);
    assert_int_equal(oauth2_rp_callback_check(&f->ctx, prov, m, &l, cb),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "state mismatch");
    assert_int_equal(oauth2_rp_callback_parse(&f->ctx, "code=x", &cb),
                     OAUTH2_OK);
    assert_int_equal(oauth2_rp_callback_check(&f->ctx, prov, m, &l, cb),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "state mismatch");
    assert_int_equal(
        oauth2_rp_callback_parse(&f->ctx, "error=access_denied&state=st1", &cb),
        OAUTH2_OK);
    assert_int_equal(oauth2_rp_callback_check(&f->ctx, prov, m, &l, cb),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "provider error: access_denied");
    assert_int_equal(
        oauth2_rp_callback_parse(
            &f->ctx, "code=x&state=st1&iss=https%3A%2F%2Fevil", &cb),
        OAUTH2_OK);
    assert_int_equal(oauth2_rp_callback_check(&f->ctx, prov, m, &l, cb),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "iss response parameter does not match the issuer");
    m->iss_parameter_supported = 1;
    assert_int_equal(oauth2_rp_callback_parse(&f->ctx, "code=x&state=st1", &cb),
                     OAUTH2_OK);
    assert_int_equal(oauth2_rp_callback_check(&f->ctx, prov, m, &l, cb),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "iss response parameter missing");
    assert_int_equal(oauth2_rp_callback_parse(&f->ctx, "state=a&state=b", &cb),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "callback parameter repeated");
    assert_int_equal(oauth2_rp_callback_parse(&f->ctx, "state=%zz", &cb),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_rp_callback_parse(&f->ctx, "state=%00", &cb),
                     OAUTH2_DENIED);
    assert_int_equal(oauth2_rp_callback_parse(&f->ctx, "state=a%2", &cb),
                     OAUTH2_DENIED);
}

/* ---- token endpoint --------------------------------------------------- */

static void code_exchange_basic_post_and_errors(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);
    oauth2_provider_meta_t *m = meta(f);
    oauth2_rp_tokens_t *t = NULL;
    th_fake_http_t fh;
    th_fake_http_entry_t *e;

    th_fake_http_init(&fh, f->pool);
    e = th_fake_http_add(&fh, "POST", IDP "/token", 200,
                         "{\"access_token\":\"AT\",\"token_type\":\"Bearer\","
                         "\"expires_in\":300,\"refresh_token\":\"RT\","
                         "\"id_token\":\"a.b.c\"}");
    assert_int_equal(oauth2_rp_code_exchange(&f->ctx, &fh.base, prov, m,
                                             "https://rp/cb", "CODE", "VER",
                                             &t),
                     OAUTH2_OK);
    assert_string_equal(t->access_token, "AT");
    assert_string_equal(t->refresh_token, "RT");
    assert_true(t->expires == f->ctx.now + apr_time_from_sec(300));
    assert_string_equal(fh.last.authorization,
                        "Basic Y2xpZW50MTpzM2NyZXQrdmFsdWU=");
    assert_non_null(strstr(fh.last.body, "code_verifier=VER"));
    assert_null(strstr(fh.last.body, "client_secret"));
    /* The code never reaches the log, only its hash. */
    assert_false(th_logged(f, "CODE"));
    assert_true(th_logged(f, "OA00310"));
    prov->auth = OAUTH2_RP_AUTH_POST;
    assert_int_equal(oauth2_rp_refresh(&f->ctx, &fh.base, prov, m, "RT", &t),
                     OAUTH2_OK);
    assert_null(fh.last.authorization);
    assert_non_null(strstr(fh.last.body, "client_secret=s3cret+value"));
    assert_non_null(strstr(fh.last.body, "grant_type=refresh_token"));
    e->status = 400;
    e->body = "{\"error\":\"invalid_grant\"}";
    assert_int_equal(oauth2_rp_refresh(&f->ctx, &fh.base, prov, m, "RT", &t),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "token endpoint refused (HTTP 400): invalid_grant");
    e->status = 503;
    assert_int_equal(oauth2_rp_refresh(&f->ctx, &fh.base, prov, m, "RT", &t),
                     OAUTH2_UNAVAILABLE);
    e->result = OAUTH2_UNAVAILABLE;
    assert_int_equal(oauth2_rp_refresh(&f->ctx, &fh.base, prov, m, "RT", &t),
                     OAUTH2_UNAVAILABLE);
    e->result = OAUTH2_OK;
    e->status = 200;
    e->body = "{\"token_type\":\"Bearer\"}";
    assert_int_equal(oauth2_rp_refresh(&f->ctx, &fh.base, prov, m, "RT", &t),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "token response without access_token");
    e->body = "{\"access_token\":\"x\",\"token_type\":\"mac\"}";
    assert_int_equal(oauth2_rp_refresh(&f->ctx, &fh.base, prov, m, "RT", &t),
                     OAUTH2_DENIED);
    e->body = "not json";
    assert_int_equal(oauth2_rp_refresh(&f->ctx, &fh.base, prov, m, "RT", &t),
                     OAUTH2_UNAVAILABLE);
}

/* ---- ID token claims -------------------------------------------------- */

static json_t *claims(th_fixture_t *f, const char *extra)
{
    apr_int64_t now = TH_NOW_SEC;
    const char *txt = apr_psprintf(
        f->pool,
        "{\"iss\":\"" IDP
        "\",\"aud\":\"client1\",\"sub\":\"u1\",\"exp\":%" APR_INT64_T_FMT
        ",\"iat\":%" APR_INT64_T_FMT ",\"nonce\":\"n1\"%s}",
        now + 300, now, extra);
    json_t *j = json_loads(txt, 0, NULL);

    assert_non_null(j);
    return oauth2_json_pool_own(f->pool, j);
}

#define CHECK(c, n) oauth2_rp_id_token_claims_check(&f->ctx, prov, m, (c), (n))

static void id_token_claims(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);
    oauth2_provider_meta_t *m = meta(f);
    json_t *c = claims(f, "");

    assert_int_equal(CHECK(c, "n1"), OAUTH2_OK);
    assert_int_equal(CHECK(c, "n2"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token nonce mismatch");
    json_object_set_new(c, "iss", json_string("accounts.google.com"));
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "iss"));
    prov->alt_issuer = "accounts.google.com";
    assert_int_equal(CHECK(c, "n1"), OAUTH2_OK);
    json_object_set_new(c, "aud", json_string("other"));
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "id_token aud does not contain our client_id");
    json_object_set_new(c, "aud", json_pack("[ss]", "other", "client1"));
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "id_token azp missing with several audiences");
    json_object_set_new(c, "azp", json_string("client1"));
    assert_int_equal(CHECK(c, "n1"), OAUTH2_OK);
    json_object_set_new(c, "azp", json_string("other"));
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token azp is not our client_id");
    c = claims(f, "");
    json_object_set_new(c, "exp", json_integer(TH_NOW_SEC - 61));
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token expired");
    json_object_set_new(c, "exp", json_string("soon"));
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token lacks a numeric exp");
    json_object_set_new(c, "exp", json_real(1e300));
    json_object_set_new(c, "iat", json_integer(TH_NOW_SEC + 3600));
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token issued in the future");
    json_object_del(c, "iat");
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token lacks a numeric iat");
    c = claims(f, "");
    json_object_del(c, "nonce");
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token nonce missing");
    c = claims(f, ",\"hd\":\"example.com\"");
    prov->hd = "example.com";
    assert_int_equal(CHECK(c, "n1"), OAUTH2_OK);
    prov->hd = "corp.example";
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token hd is not corp.example");
    prov->hd = NULL;
    json_object_del(c, "sub");
    assert_int_equal(CHECK(c, "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token sub missing or too long");
}

static void at_hash(void **state)
{
    th_fixture_t *f = *state;

    /* Left half of SHA-256, base64url (value computed with Python). */
    assert_true(oauth2_rp_at_hash_ok(&f->ctx, "RS256",
                                     "jHkWEdUXMU1BwAsC4vtUsZwnNq8",
                                     "dbEudTVHx0fUqXPOQ-EK1Q"));
    assert_false(oauth2_rp_at_hash_ok(&f->ctx, "RS256",
                                      "jHkWEdUXMU1BwAsC4vtUsZwnNq9",
                                      "dbEudTVHx0fUqXPOQ-EK1Q"));
    assert_false(oauth2_rp_at_hash_ok(&f->ctx, "HS1", "x", "y"));
    assert_false(oauth2_rp_at_hash_ok(&f->ctx, "RS256", "x", NULL));
}

static void userinfo_and_claim_text(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);
    oauth2_provider_meta_t *m = meta(f);
    th_fake_http_t fh;
    th_fake_http_entry_t *e;
    json_t *ui = NULL;

    th_fake_http_init(&fh, f->pool);
    e = th_fake_http_add(&fh, "GET", IDP "/userinfo", 200,
                         "{\"sub\":\"u1\",\"login\":\"octo\",\"id\":42,"
                         "\"org\":{\"name\":\"acme\"}}");
    assert_int_equal(
        oauth2_rp_userinfo(&f->ctx, &fh.base, prov, m, "AT", "u1", &ui),
        OAUTH2_OK);
    assert_string_equal(fh.last.authorization, "Bearer AT");
    assert_string_equal(oauth2_rp_claim_text(f->pool, ui, "login"), "octo");
    assert_string_equal(oauth2_rp_claim_text(f->pool, ui, "id"), "42");
    assert_string_equal(oauth2_rp_claim_text(f->pool, ui, "org.name"), "acme");
    assert_null(oauth2_rp_claim_text(f->pool, ui, "org"));
    assert_null(oauth2_rp_claim_text(f->pool, ui, "org.name.x"));
    assert_int_equal(
        oauth2_rp_userinfo(&f->ctx, &fh.base, prov, m, "AT", "u2", &ui),
        OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "userinfo sub does not match the id_token");
    e->status = 401;
    assert_int_equal(
        oauth2_rp_userinfo(&f->ctx, &fh.base, prov, m, "AT", NULL, &ui),
        OAUTH2_DENIED);
    e->status = 502;
    assert_int_equal(
        oauth2_rp_userinfo(&f->ctx, &fh.base, prov, m, "AT", NULL, &ui),
        OAUTH2_UNAVAILABLE);
}

static void end_session_url(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);
    oauth2_provider_meta_t *m = meta(f);
    char *u = oauth2_rp_end_session_url(&f->ctx, prov, m, "h.p.s",
                                        "https://rp/bye?a=1");

    assert_string_equal(u, IDP "/logout?client_id=client1&id_token_hint=h.p.s"
                               "&post_logout_redirect_uri=https%3A%2F%2Frp%"
                               "2Fbye%3Fa%3D1");
    m->end_session_endpoint = NULL;
    assert_null(oauth2_rp_end_session_url(&f->ctx, prov, m, "x", "/"));
}

/* ---- return URL ------------------------------------------------------- */

static const char *const good_urls[] = {"/",
                                        "/app",
                                        "/app/x?y=1&z=%20a#frag",
                                        "https://rp.example/app",
                                        "https://RP.example/x",
                                        "https://rp.example?x=1",
                                        "https://partner.example/landing",
                                        NULL};

static const char *const bad_urls[] = {
    "",
    "//evil.example",
    "//evil.example/path",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/%2Fevil.example",
    "/%2fevil.example",
    "/%5cevil.example",
    "/%5Cevil.example",
    "%2F%2Fevil.example",
    "https:evil.example",
    "https:/evil.example",
    "http:evil.example",
    "https://evil.example",
    "https://evil.example/https://rp.example",
    "https://rp.example.evil.example/",
    "https://rp.example@evil.example/",
    "https://rp.example:443@evil.example/",
    "https://rp.example%40evil.example/",
    "https://rp.examplex/",
    "http://rp.example/",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "/app\r\nSet-Cookie: x=1",
    "/app%0d%0aSet-Cookie:x=1",
    "/app%0aLocation:%20//evil",
    "/app\nx",
    "/app\tx",
    " /app",
    "/app x",
    "\t//evil.example",
    "/%09/evil.example",
    "/%00",
    "/%25%32%66evil.example",
    "/app%",
    "/app%2",
    "/app%zz",
    "evil.example",
    "rp.example/app",
    "./app",
    "../app",
    "ftp://rp.example/",
    "/\xe3\x80\x82"
    "evil",
    "https://rp.example\\@evil.example",
    "https://evil.example\\.rp.example",
    "https://evil.example#https://rp.example",
    "/\x7f",
    "///evil.example",
    "/\\/evil.example",
    NULL};

static void return_url_validator(void **state)
{
    th_fixture_t *f = *state;
    apr_array_header_t *allow = apr_array_make(f->pool, 1, sizeof(char *));
    int i;

    APR_ARRAY_PUSH(allow, const char *) = "https://partner.example";
    for (i = 0; good_urls[i] != NULL; i++) {
        if (!oauth2_rp_return_url_ok(&f->ctx, good_urls[i],
                                     "https://rp.example", allow))
            fail_msg("refused good URL %s: %s", good_urls[i], f->ctx.err.text);
    }
    for (i = 0; bad_urls[i] != NULL; i++) {
        f->ctx.err.text[0] = '\0';
        if (oauth2_rp_return_url_ok(&f->ctx, bad_urls[i], "https://rp.example",
                                    allow))
            fail_msg("accepted bad URL #%d %s", i, bad_urls[i]);
        assert_true(f->ctx.err.text[0] != '\0');
    }
    assert_false(
        oauth2_rp_return_url_ok(&f->ctx, NULL, "https://rp.example", NULL));
    assert_false(
        oauth2_rp_return_url_ok(&f->ctx, "https://rp.example/", NULL, NULL));
}

/* ---- ID token validation (signature via a fake JWKS endpoint) --------- */

static const char *idtok(th_fixture_t *f, const char *name)
{
    const char *txt = th_read_file(f->pool, "vectors/rp/idtokens.json", NULL);
    json_t *j = json_loads(txt, 0, NULL);
    const char *v;

    assert_non_null(j);
    v = apr_pstrdup(f->pool, json_string_value(json_object_get(j, name)));
    json_decref(j);
    assert_non_null(v);
    return v;
}

#define VALIDATE(tok, nonce)                                                   \
    oauth2_rp_id_token_validate(&f->ctx, &fh.base, cache, prov, m,             \
                                idtok(f, tok), (nonce), "AT", &claims)

static void id_token_validate(void **state)
{
    th_fixture_t *f = *state;
    oauth2_rp_provider_t *prov = provider(f->pool);
    oauth2_provider_meta_t *m = meta(f);
    oauth2_rp_jwks_cache_t *cache = oauth2_rp_jwks_cache_create(f->pool);
    th_fake_http_t fh;
    th_fake_http_entry_t *e;
    json_t *claims = NULL;

    th_fake_http_init(&fh, f->pool);
    e = th_fake_http_add(&fh, "GET", IDP "/jwks", 200,
                         th_read_file(f->pool, "vectors/rp/jwks1.json", NULL));
    assert_int_equal(VALIDATE("valid", "n1"), OAUTH2_OK);
    assert_string_equal(oauth2_json_str(claims, "sub"), "alice");
    assert_int_equal(VALIDATE("no_at_hash", "n1"), OAUTH2_OK);
    assert_int_equal(e->calls, 1); /* cached */
    assert_int_equal(VALIDATE("tampered", "n1"), OAUTH2_DENIED);
    assert_int_equal(VALIDATE("hs256", "n1"), OAUTH2_DENIED);
    assert_int_equal(VALIDATE("expired", "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token expired");
    assert_int_equal(VALIDATE("wrong_aud", "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "id_token aud does not contain our client_id");
    assert_int_equal(VALIDATE("wrong_nonce", "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token nonce mismatch");
    assert_int_equal(VALIDATE("bad_at_hash", "n1"), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "id_token at_hash does not match");
    /* Unknown kid: refetched once (not within 10 s), then found. */
    e->body = th_read_file(f->pool, "vectors/rp/jwks2.json", NULL);
    assert_int_equal(VALIDATE("kid2", "n1"), OAUTH2_DENIED);
    assert_int_equal(e->calls, 1);
    f->ctx.now += apr_time_from_sec(11);
    assert_int_equal(VALIDATE("kid2", "n1"), OAUTH2_OK);
    assert_int_equal(e->calls, 2);
    assert_true(th_logged(f, "OA00320"));
    /* No ID token, JWKS down after the TTL. */
    assert_int_equal(oauth2_rp_id_token_validate(&f->ctx, &fh.base, cache, prov,
                                                 m, NULL, "n1", "AT", &claims),
                     OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text, "token response without id_token");
    f->ctx.now += apr_time_from_sec(3601);
    e->result = OAUTH2_UNAVAILABLE;
    assert_int_equal(VALIDATE("valid", "n1"), OAUTH2_UNAVAILABLE);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, th_setup, th_teardown)

/*
 * Found by fuzz_callback: a login record whose time is so large that the
 * scaling to microseconds overflowed (UBSan: signed multiplication).
 */
static void login_decode_time_range(void **state)
{
    th_fixture_t *f = *state;
    static const char *const bad[] = {
        "{\"p\":\"fz\",\"s\":\"S\",\"v\":\"v\",\"r\":\"/\","
        "\"t\":335445120054451200}",
        "{\"p\":\"fz\",\"s\":\"S\",\"v\":\"v\",\"r\":\"/\","
        "\"t\":-9223372036854775807}",
        "{\"p\":\"fz\",\"s\":\"S\",\"v\":\"v\",\"r\":\"/\","
        "\"t\":253402300800}"};
    oauth2_rp_login_t *l = NULL;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(oauth2_rp_login_decode(&f->ctx, bad[i], strlen(bad[i]),
                                                apr_time_from_sec(600), &l),
                         OAUTH2_DENIED);
        assert_string_equal(f->ctx.err.text, "login state time out of range");
    }
    assert_null(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(login_decode_time_range, th_setup,
                                        th_teardown),
        T(discovery_parse_good_and_bad),
        T(discovery_cache_and_stale),
        T(discovery_presets_and_check),
        T(login_start_builds_pkce_request),
        T(callback_checks),
        T(code_exchange_basic_post_and_errors),
        T(id_token_claims),
        T(at_hash),
        T(userinfo_and_claim_text),
        T(end_session_url),
        T(id_token_validate),
        T(return_url_validator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
