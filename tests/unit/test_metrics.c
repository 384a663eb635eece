/*
 * test_metrics.c - the core's metrics sink: which events the core reports
 * (outbound HTTP by endpoint kind, store operations, verified-token cache
 * lookups), with which labels and results, and that no sink means no event.
 */
#include <string.h>

#include <apr_strings.h>

#include "helpers.h"
#include "fake_http.h"
#include "oauth2/metrics.h"
#include "oauth2/store.h"
#include "oauth2/verify.h"

#define INTRO_URL "https://idp.test/introspect"
#define MAX_EV 16

typedef struct capture_t {
    struct oauth2_metric_t ev[MAX_EV];
    int n;
} capture_t;

static void capture(void *data, const struct oauth2_metric_t *m)
{
    capture_t *c = data;

    if (c->n < MAX_EV)
        c->ev[c->n++] = *m;
}

static void attach(th_fixture_t *f, capture_t *c)
{
    memset(c, 0, sizeof(*c));
    f->ctx.metrics = capture;
    f->ctx.metrics_data = c;
}

/* Count events of `kind` with `label` and `status`. */
static int count(const capture_t *c, oauth2_metric_kind_t kind,
                 const char *label, oauth2_status_t status)
{
    int i, k = 0;

    for (i = 0; i < c->n; i++)
        if (c->ev[i].kind == kind && strcmp(c->ev[i].label, label) == 0 &&
            c->ev[i].status == status)
            k++;
    return k;
}

static void no_sink_no_event(void **state)
{
    th_fixture_t *f = *state;

    /* th_setup's context has no sink: reporting is a no-op, no clock. */
    assert_null(f->ctx.metrics);
    oauth2_metric(&f->ctx, OAUTH2_METRIC_HTTP, "jwks", OAUTH2_OK, 5);
    assert_int_equal(oauth2_metric_start(&f->ctx), 0);
    assert_int_equal(oauth2_metric_since(0), 0);
    oauth2_metric(NULL, OAUTH2_METRIC_HTTP, "jwks", OAUTH2_OK, 5);
}

static void ctx_init_clears_sink(void **state)
{
    th_fixture_t *f = *state;
    oauth2_ctx_t c;

    memset(&c, 0xff, sizeof(c));
    oauth2_ctx_init(&c, f->pool, NULL, 0);
    assert_null(c.metrics);
    assert_null(c.metrics_data);
}

static void label_defaults_and_negative_duration(void **state)
{
    th_fixture_t *f = *state;
    capture_t c;

    attach(f, &c);
    oauth2_metric(&f->ctx, OAUTH2_METRIC_HTTP, NULL, OAUTH2_UNAVAILABLE, -4);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.ev[0].label, "other");
    assert_int_equal(c.ev[0].usec, 0);
    assert_int_equal(c.ev[0].status, OAUTH2_UNAVAILABLE);
}

static void http_send_reports_kind_and_result(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh;
    oauth2_http_request_t req = {0};
    oauth2_http_response_t resp;
    capture_t c;

    th_fake_http_init(&fh, f->pool);
    th_fake_http_add(&fh, "GET", "https://idp.test/jwks", 200, "{}");
    attach(f, &c);
    req.method = "GET";
    req.url = "https://idp.test/jwks";
    req.kind = "jwks";
    assert_int_equal(oauth2_http_send(&fh.base, &f->ctx, &req, &resp),
                     OAUTH2_OK);
    req.url = "https://idp.test/down";
    req.kind = NULL;
    assert_int_equal(oauth2_http_send(&fh.base, &f->ctx, &req, &resp),
                     OAUTH2_UNAVAILABLE);
    assert_int_equal(c.n, 2);
    assert_int_equal(count(&c, OAUTH2_METRIC_HTTP, "jwks", OAUTH2_OK), 1);
    assert_int_equal(count(&c, OAUTH2_METRIC_HTTP, "other", OAUTH2_UNAVAILABLE),
                     1);
    assert_true(c.ev[0].usec >= 0);
}

static void store_ops_reported_bad_args_not(void **state)
{
    th_fixture_t *f = *state;
    oauth2_store_t *st = NULL;
    char *val = NULL;
    capture_t c;

    assert_int_equal(oauth2_store_mem_create(&f->ctx, f->pool, NULL, &st),
                     OAUTH2_OK);
    attach(f, &c);
    assert_int_equal(oauth2_store_get(&f->ctx, st, "k", &val, NULL),
                     OAUTH2_NOT_FOUND);
    assert_int_equal(
        oauth2_store_set(&f->ctx, st, "k", "v", 1, apr_time_from_sec(10)),
        OAUTH2_OK);
    assert_int_equal(
        oauth2_store_touch(&f->ctx, st, "k", apr_time_from_sec(10)), OAUTH2_OK);
    assert_int_equal(oauth2_store_del(&f->ctx, st, "k"), OAUTH2_OK);
    assert_int_equal(c.n, 4);
    assert_int_equal(count(&c, OAUTH2_METRIC_STORE, "get", OAUTH2_NOT_FOUND),
                     1);
    assert_int_equal(count(&c, OAUTH2_METRIC_STORE, "set", OAUTH2_OK), 1);
    assert_int_equal(count(&c, OAUTH2_METRIC_STORE, "touch", OAUTH2_OK), 1);
    assert_int_equal(count(&c, OAUTH2_METRIC_STORE, "del", OAUTH2_OK), 1);
    /* Refused arguments never reach the backend: no event. */
    assert_int_equal(oauth2_store_get(&f->ctx, st, "", &val, NULL),
                     OAUTH2_DENIED);
    assert_non_null(strstr(f->ctx.err.text, "key empty"));
    assert_int_equal(oauth2_store_set(&f->ctx, st, "k", "v", 1, 0),
                     OAUTH2_DENIED);
    assert_int_equal(c.n, 4);
}

static void token_cache_miss_then_hit(void **state)
{
    th_fixture_t *f = *state;
    const char *argv[] = {"introspect=" INTRO_URL, "issuer=https://idp.test",
                          "audience=api", "client_id=rs", "client_secret=s"};
    oauth2_verifier_t *v = NULL;
    oauth2_principal_t *p = NULL;
    th_fake_http_t fh;
    capture_t c;

    th_fake_http_init(&fh, f->pool);
    th_fake_http_add(&fh, "POST", INTRO_URL, 200,
                     apr_psprintf(f->pool,
                                  "{\"active\":true,\"iss\":\"https://"
                                  "idp.test\",\"aud\":\"api\",\"exp\":%d}",
                                  TH_NOW_SEC + 60));
    assert_int_equal(oauth2_verifier_parse(&f->ctx, 5, argv, &v), OAUTH2_OK);
    oauth2_verifier_set_http(v, &fh.base);
    attach(f, &c);
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque", &p),
                     OAUTH2_OK);
    assert_int_equal(oauth2_verify_token(&f->ctx, &v, 1, "opaque", &p),
                     OAUTH2_OK);
    assert_int_equal(
        count(&c, OAUTH2_METRIC_TOKEN_CACHE, "verified", OAUTH2_NOT_FOUND), 1);
    assert_int_equal(
        count(&c, OAUTH2_METRIC_TOKEN_CACHE, "verified", OAUTH2_OK), 1);
    assert_int_equal(count(&c, OAUTH2_METRIC_HTTP, "introspection", OAUTH2_OK),
                     1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_sink_no_event, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(ctx_init_clears_sink, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(label_defaults_and_negative_duration,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(http_send_reports_kind_and_result,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(store_ops_reported_bad_args_not,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(token_cache_miss_then_hit, th_setup,
                                        th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
