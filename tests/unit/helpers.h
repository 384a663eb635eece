/*
 * helpers.h - shared fixtures for the cmocka unit tests: a pool per test, a
 * fixed clock, and a log sink that captures lines for assertions.
 */
#ifndef OAUTH2_TEST_HELPERS_H
#define OAUTH2_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "oauth2/oauth2.h"
#include "oauth2/log.h"

/* 2026-01-01T00:00:00Z: every test's "now" unless it says otherwise. */
#define TH_NOW_SEC 1767225600

typedef struct th_fixture_t {
    apr_pool_t *pool;
    oauth2_log_t log;
    oauth2_ctx_t ctx;
    char logbuf[8192]; /* captured lines, '\n' separated */
    size_t loglen;
} th_fixture_t;

/* cmocka setup/teardown: *state becomes a th_fixture_t. */
int th_setup(void **state);
int th_teardown(void **state);

/* Was a line containing `needle` logged? */
int th_logged(const th_fixture_t *f, const char *needle);

/* Read a file below tests/unit (OAUTH2_TEST_DIR) into the pool, or fail. */
char *th_read_file(apr_pool_t *p, const char *relpath, size_t *len);

/* Count OpenSSL's and jansson's allocations from here on. Call it first
 * in main, before either library allocates: 1 then, 0 when too late.
 * th_allocs() is the running total (all threads). */
int th_count_allocs(void);
unsigned long th_allocs(void);

struct oauth2_session_t;

/* A new request's view of session a: its cookie parsed in namespace "ns"
 * (id, secret, store key; nothing opened yet), or fail. */
struct oauth2_session_t *th_session_reader(th_fixture_t *f,
                                           const struct oauth2_session_t *a);

#endif /* OAUTH2_TEST_HELPERS_H */
