/*
 * helpers.c - fixtures shared by the unit tests (see helpers.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "helpers.h"
#include "oauth2/session.h"

static int apr_ready;
/* The store's read cache logs from its own thread. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static void capture(void *data, const char *file, int line,
                    oauth2_log_level_t level, const char *msg)
{
    th_fixture_t *f = data;
    int n;

    (void)file;
    (void)line;
    (void)level;
    pthread_mutex_lock(&log_mu);
    n = snprintf(f->logbuf + f->loglen, sizeof(f->logbuf) - f->loglen, "%s\n",
                 msg);
    if (n > 0 && (size_t)n < sizeof(f->logbuf) - f->loglen)
        f->loglen += (size_t)n;
    pthread_mutex_unlock(&log_mu);
}

static unsigned long allocs;

static void *count_malloc(size_t n)
{
    __atomic_add_fetch(&allocs, 1, __ATOMIC_RELAXED);
    return malloc(n);
}

static void *count_crypto_malloc(size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    return count_malloc(n);
}

static void *count_crypto_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file;
    (void)line;
    __atomic_add_fetch(&allocs, 1, __ATOMIC_RELAXED);
    return realloc(p, n);
}

static void count_crypto_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    free(p);
}

int th_count_allocs(void)
{
    json_set_alloc_funcs(count_malloc, free);
    if (CRYPTO_set_mem_functions(count_crypto_malloc, count_crypto_realloc,
                                 count_crypto_free))
        return 1;
    fprintf(stderr, "th_count_allocs: OpenSSL allocated before main, so its "
                    "allocations cannot be counted\n");
    return 0;
}

unsigned long th_allocs(void)
{
    return __atomic_load_n(&allocs, __ATOMIC_RELAXED);
}

int th_setup(void **state)
{
    th_fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (!apr_ready) {
        apr_initialize();
        apr_ready = 1;
    }
    if (apr_pool_create(&f->pool, NULL) != APR_SUCCESS) {
        free(f);
        return -1;
    }
    f->log.sink = capture;
    f->log.data = f;
    f->log.level = OAUTH2_LOG_TRACE;
    oauth2_ctx_init(&f->ctx, f->pool, &f->log,
                    apr_time_from_sec((apr_time_t)TH_NOW_SEC));
    *state = f;
    return 0;
}

int th_teardown(void **state)
{
    th_fixture_t *f = *state;

    apr_pool_destroy(f->pool);
    free(f);
    return 0;
}

int th_logged(const th_fixture_t *f, const char *needle)
{
    int found;

    pthread_mutex_lock(&log_mu);
    found = strstr(f->logbuf, needle) != NULL;
    pthread_mutex_unlock(&log_mu);
    return found;
}

char *th_read_file(apr_pool_t *p, const char *relpath, size_t *len)
{
    const char *dir = getenv("OAUTH2_TEST_DIR");
    const char *path;
    FILE *fp;
    long n;
    char *buf;

    path = apr_pstrcat(p, dir ? dir : "tests/unit", "/", relpath, NULL);
    fp = fopen(path, "rb");
    if (fp == NULL)
        fail_msg("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = apr_palloc(p, (apr_size_t)n + 1);
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n)
        fail_msg("short read on %s", path);
    fclose(fp);
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}

struct oauth2_session_t *th_session_reader(th_fixture_t *f,
                                           const struct oauth2_session_t *a)
{
    oauth2_session_t *p = NULL;

    assert_int_equal(
        oauth2_session_parse_cookie(
            &f->ctx, "ns", oauth2_session_cookie_value(&f->ctx, a), &p),
        OAUTH2_OK);
    return p;
}
