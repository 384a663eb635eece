/*
 * test_http.c - the libcurl client against a tiny HTTP server running in a
 * thread of this binary on a 127.0.0.1 ephemeral port (canned responses by
 * path), the URL policy, form encoding, and the header-only fake.
 */
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <apr_strings.h>

#include "helpers.h"
#include "fake_http.h"
#include "oauth2/http.h"

/* ---- the tiny server -------------------------------------------------- */

static int srv_fd = -1;
static int srv_port;
static volatile int srv_stop;
static pthread_t srv_thread;
static char srv_last[8192]; /* last request received, headers + body */

static void send_all(int fd, const char *b, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

static void reply(int fd, const char *status, const char *extra,
                  const char *body, size_t blen)
{
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%s"
                     "Connection: close\r\n\r\n",
                     status, blen, extra);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, blen);
}

static size_t read_request(int fd)
{
    size_t len = 0;
    char *end = NULL;
    long clen = 0;

    while (len < sizeof(srv_last) - 1) {
        ssize_t r = recv(fd, srv_last + len, sizeof(srv_last) - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        srv_last[len] = '\0';
        if (end == NULL && (end = strstr(srv_last, "\r\n\r\n")) != NULL) {
            const char *cl = strcasestr(srv_last, "Content-Length:");
            clen = cl ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (end != NULL && len >= (size_t)(end + 4 - srv_last) + (size_t)clen)
            break;
    }
    srv_last[len] = '\0';
    return len;
}

static void serve_one(int fd)
{
    static char big[64 * 1024];

    read_request(fd);
    if (strncmp(srv_last, "GET /ok ", 8) == 0) {
        reply(fd, "200 OK",
              "Content-Type: application/json\r\n"
              "Cache-Control: max-age=60\r\n",
              "{\"a\":1}", 7);
    }
    else if (strncmp(srv_last, "GET /slow ", 10) == 0) {
        usleep(1500 * 1000); /* longer than the client's timeout */
        reply(fd, "200 OK", "", "late", 4);
    }
    else if (strncmp(srv_last, "GET /big ", 9) == 0) {
        memset(big, 'x', sizeof(big));
        reply(fd, "200 OK", "", big, sizeof(big));
    }
    else if (strncmp(srv_last, "GET /stream ", 12) == 0) {
        /* No Content-Length: only the write callback can stop it. */
        static const char h[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        memset(big, 'y', sizeof(big));
        send_all(fd, h, sizeof(h) - 1);
        send_all(fd, big, sizeof(big));
    }
    else if (strncmp(srv_last, "GET /redirect ", 14) == 0) {
        reply(fd, "302 Found", "Location: /ok\r\n", "", 0);
    }
    else if (strncmp(srv_last, "POST /echo ", 11) == 0) {
        reply(fd, "200 OK", "Content-Type: text/plain\r\n", srv_last,
              strlen(srv_last));
    }
    else {
        reply(fd, "404 Not Found", "", "nope", 4);
    }
}

static void *serve_conn(void *arg)
{
    int c = (int)(intptr_t)arg;

    serve_one(c);
    close(c);
    return NULL;
}

/* One detached thread per connection: a sleeping /slow blocks no one. */
static void *serve(void *arg)
{
    (void)arg;
    while (!srv_stop) {
        struct pollfd pfd = {srv_fd, POLLIN, 0};
        int c;

        if (poll(&pfd, 1, 50) <= 0)
            continue;
        pthread_t t;
        c = accept(srv_fd, NULL, NULL);
        if (c < 0)
            continue;
        if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)c) != 0)
            close(c);
        else
            pthread_detach(t);
    }
    return NULL;
}

static int listen_loopback(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
        return -1;
    *port = ntohs(sa.sin_port);
    return fd;
}

static int server_start(void **state)
{
    (void)state;
    oauth2_http_global_init();
    srv_fd = listen_loopback(&srv_port);
    if (srv_fd < 0 || listen(srv_fd, 16) != 0)
        return -1;
    return pthread_create(&srv_thread, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int server_stop(void **state)
{
    (void)state;
    srv_stop = 1;
    pthread_join(srv_thread, NULL);
    close(srv_fd);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static const char *url(th_fixture_t *f, const char *path)
{
    return apr_psprintf(f->pool, "http://127.0.0.1:%d%s", srv_port, path);
}

static oauth2_status_t get(th_fixture_t *f, const char *u, size_t cap,
                           oauth2_http_response_t *resp)
{
    oauth2_http_opts_t o = {apr_time_from_msec(500), apr_time_from_msec(500),
                            cap, NULL};
    oauth2_http_t *h = oauth2_http_curl_create(f->pool, &o);
    oauth2_http_request_t req = {0};

    req.method = "GET";
    req.url = u;
    return oauth2_http_send(h, &f->ctx, &req, resp);
}

/* ---- the client --------------------------------------------------------- */

static void get_200_with_headers(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_response_t r;

    assert_int_equal(get(f, url(f, "/ok"), 0, &r), OAUTH2_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"a\":1}");
    assert_int_equal(r.body_len, 7);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.cache_control, "max-age=60");
    assert_true(strstr(srv_last, "Accept: application/json\r\n") != NULL);
    assert_true(th_logged(f, "OA00202: GET http://127.0.0.1:"));
    assert_true(th_logged(f, "/ok: status 200, 7 bytes,"));
}

static void get_404_is_a_response(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_response_t r;

    assert_int_equal(get(f, url(f, "/nothing"), 0, &r), OAUTH2_OK);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "nope");
    assert_null(r.content_type);
}

static void redirect_not_followed(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_response_t r;

    assert_int_equal(get(f, url(f, "/redirect"), 0, &r), OAUTH2_OK);
    assert_int_equal(r.status, 302);
    assert_int_equal(r.body_len, 0);
}

static void timeout_is_unavailable(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_response_t r;

    assert_int_equal(get(f, url(f, "/slow"), 0, &r), OAUTH2_UNAVAILABLE);
    assert_true(strstr(f->ctx.err.text, "Timeout") != NULL);
    assert_true(th_logged(f, "OA00201: GET http://127.0.0.1:"));
}

static void body_over_cap_is_unavailable(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_response_t r;

    assert_int_equal(get(f, url(f, "/big"), 1024, &r), OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text,
                        "HTTP response larger than 1024 bytes");
    assert_int_equal(get(f, url(f, "/stream"), 1024, &r), OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text,
                        "HTTP response larger than 1024 bytes");
    assert_int_equal(get(f, url(f, "/stream"), 0, &r), OAUTH2_OK);
    assert_int_equal(r.body_len, 64 * 1024);
    /* The same body fits under the default 1 MiB cap. */
    assert_int_equal(get(f, url(f, "/big"), 0, &r), OAUTH2_OK);
    assert_int_equal(r.body_len, 64 * 1024);
}

static void connection_refused_is_unavailable(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_response_t r;
    int port, fd = listen_loopback(&port);

    close(fd); /* nobody listens there now */
    assert_int_equal(
        get(f, apr_psprintf(f->pool, "http://127.0.0.1:%d/", port), 0, &r),
        OAUTH2_UNAVAILABLE);
    assert_true(strstr(f->ctx.err.text, "HTTP request failed: ") != NULL);
}

static void post_sends_body_and_authorization(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_t *h = oauth2_http_curl_create(f->pool, NULL);
    oauth2_http_request_t req = {0};
    oauth2_http_response_t r;

    req.method = "POST";
    req.url = url(f, "/echo");
    req.content_type = "application/x-www-form-urlencoded";
    req.body = oauth2_http_form_encode(
        f->pool, "grant_type", "authorization_code", "code", "a b&c", NULL);
    req.body_len = strlen(req.body);
    req.authorization = "Basic Zm9vOmJhcg==";
    req.accept = "text/plain";
    assert_int_equal(oauth2_http_send(h, &f->ctx, &req, &r), OAUTH2_OK);
    assert_int_equal(r.status, 200);
    assert_true(strstr(r.body, "Authorization: Basic Zm9vOmJhcg==\r\n"));
    assert_true(strstr(r.body, "Accept: text/plain\r\n"));
    assert_true(strstr(r.body, "\r\n\r\ngrant_type=authorization_code&"
                               "code=a+b%26c"));
    /* Neither the body nor the credentials reach the log. */
    assert_false(th_logged(f, "Zm9v"));
    assert_false(th_logged(f, "grant_type"));
}

static void header_injection_refused(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_t *h = oauth2_http_curl_create(f->pool, NULL);
    oauth2_http_request_t req = {0};
    oauth2_http_response_t r;

    req.method = "GET";
    req.url = url(f, "/ok");
    req.authorization = "Bearer x\r\nX-Evil: 1";
    assert_int_equal(oauth2_http_send(h, &f->ctx, &req, &r), OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text, "cannot set up the HTTP request");
    req.authorization = NULL;
    req.method = "DELETE";
    assert_int_equal(oauth2_http_send(h, &f->ctx, &req, &r), OAUTH2_ERROR);
    assert_string_equal(f->ctx.err.text, "HTTP method must be GET or POST");
}

static void disallowed_url_denied(void **state)
{
    th_fixture_t *f = *state;
    oauth2_http_response_t r;

    assert_int_equal(get(f, "http://example.com/x", 0, &r), OAUTH2_DENIED);
    assert_string_equal(f->ctx.err.text,
                        "plain http only to loopback hosts: example.com");
    assert_true(th_logged(f, "OA00200: outbound URL refused"));
}

/* ---- URL policy -----------------------------------------------------------
 */

static void url_policy_table(void **state)
{
    th_fixture_t *f = *state;
    static const struct {
        const char *url;
        int ok;
        const char *err;
    } cases[] = {
        {"https://accounts.google.com/.well-known/x", 1, NULL},
        {"HTTPS://idp.example:8443", 1, NULL},
        {"https://[2001:db8::1]:443/jwks", 1, NULL},
        {"http://127.0.0.1:8080/jwks", 1, NULL},
        {"http://127.1.2.3/", 1, NULL},
        {"http://localhost:9000/token", 1, NULL},
        {"http://LOCALHOST/", 1, NULL},
        {"http://[::1]:80/", 1, NULL},
        {"http://128.0.0.1/", 0,
         "plain http only to loopback hosts: "
         "128.0.0.1"},
        {"http://127.0.0.1.evil.com/", 0,
         "plain http only to loopback "
         "hosts: 127.0.0.1.evil.com"},
        {"http://localhost.evil.com/", 0,
         "plain http only to loopback "
         "hosts: localhost.evil.com"},
        {"http://127.0.0.256/", 0,
         "plain http only to loopback hosts: "
         "127.0.0.256"},
        {"http://[::2]/", 0, "plain http only to loopback hosts: [::2]"},
        {"ftp://idp.example/", 0,
         "URL scheme must be https (or http to "
         "loopback)"},
        {"file:///etc/passwd", 0,
         "URL scheme must be https (or http to "
         "loopback)"},
        {"//idp.example/", 0,
         "URL scheme must be https (or http to "
         "loopback)"},
        {"https:///path", 0, "URL has no host"},
        {"https://", 0, "URL has no host"},
        {"https://:443/", 0, "URL has no host"},
        {"https://user:pw@idp.example/", 0, "URL must not carry userinfo"},
        {"http://127.0.0.1@evil.com/", 0, "URL must not carry userinfo"},
        {"https://idp.example:x/", 0, "URL has a bad port"},
        {"https://idp.example:/", 0, "URL has a bad port"},
        {"https://idp.example:123456/", 0, "URL has a bad port"},
        {"https://[::1/", 0, "URL has an unterminated IPv6 literal"},
        {"https://idp.example/a b", 0,
         "URL contains whitespace, control or "
         "non-ASCII bytes"},
        {"https://idp.example/\r\nX: y", 0,
         "URL contains whitespace, "
         "control or non-ASCII bytes"},
        {"https://idp.example\\@evil/", 0,
         "URL contains whitespace, "
         "control or non-ASCII bytes"},
        {"", 0, "URL is empty"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        f->ctx.err.text[0] = '\0';
        if (oauth2_http_url_allowed(&f->ctx, cases[i].url) != cases[i].ok)
            fail_msg("case %zu (%s): expected %d", i, cases[i].url,
                     cases[i].ok);
        if (cases[i].err != NULL)
            assert_string_equal(f->ctx.err.text, cases[i].err);
    }
    assert_int_equal(oauth2_http_url_allowed(&f->ctx, NULL), 0);
}

static void form_encode_rules(void **state)
{
    th_fixture_t *f = *state;

    assert_string_equal(
        oauth2_http_form_encode(f->pool, "a", "1", "b c", "x=y&z", NULL),
        "a=1&b+c=x%3Dy%26z");
    assert_string_equal(oauth2_http_form_encode(f->pool, "u", "https://h/p?q=1",
                                                "k", "-._~\xc3\xa9", NULL),
                        "u=https%3A%2F%2Fh%2Fp%3Fq%3D1&k=-._~%C3%A9");
    /* A NULL value skips its pair; an empty value stays. */
    assert_string_equal(
        oauth2_http_form_encode(f->pool, "a", NULL, "b", "", NULL), "b=");
    assert_string_equal(oauth2_http_form_encode(f->pool, NULL), "");
}

/* ---- the fake -------------------------------------------------------------
 */

static void fake_http_answers_by_url(void **state)
{
    th_fixture_t *f = *state;
    th_fake_http_t fh;
    oauth2_http_request_t req = {0};
    oauth2_http_response_t r;

    th_fake_http_init(&fh, f->pool);
    th_fake_http_add(&fh, "GET", "https://idp/jwks", 200, "{\"keys\":[]}");
    th_fake_http_add_status(&fh, "GET", "https://idp/down", OAUTH2_UNAVAILABLE);
    req.method = "GET";
    req.url = "https://idp/jwks";
    assert_int_equal(oauth2_http_send(&fh.base, &f->ctx, &req, &r), OAUTH2_OK);
    assert_string_equal(r.body, "{\"keys\":[]}");
    assert_int_equal(fh.entries[0].calls, 1);
    req.url = "https://idp/down";
    assert_int_equal(oauth2_http_send(&fh.base, &f->ctx, &req, &r),
                     OAUTH2_UNAVAILABLE);
    req.url = "https://idp/other";
    assert_int_equal(oauth2_http_send(&fh.base, &f->ctx, &req, &r),
                     OAUTH2_UNAVAILABLE);
    assert_string_equal(f->ctx.err.text,
                        "fake: no response for GET https://idp/other");
    req.url = "http://idp/jwks";
    assert_int_equal(oauth2_http_send(&fh.base, &f->ctx, &req, &r),
                     OAUTH2_DENIED);
    assert_int_equal(fh.calls, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(get_200_with_headers, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(get_404_is_a_response, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(redirect_not_followed, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(timeout_is_unavailable, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(body_over_cap_is_unavailable, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(connection_refused_is_unavailable,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(post_sends_body_and_authorization,
                                        th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(header_injection_refused, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(disallowed_url_denied, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(url_policy_table, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(form_encode_rules, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(fake_http_answers_by_url, th_setup,
                                        th_teardown),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
