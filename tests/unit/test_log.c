/*
 * test_log.c - the context's error buffer and the log helpers.
 */
#include <string.h>

#include "helpers.h"

static void err_set_truncates(void **state)
{
    th_fixture_t *f = *state;
    char big[400];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    oauth2_err_set(&f->ctx, "x%s", big);
    assert_int_equal(strlen(f->ctx.err.text), OAUTH2_ERR_MAX - 1);
    assert_int_equal(f->ctx.err.text[0], 'x');
}

static void log_respects_level(void **state)
{
    th_fixture_t *f = *state;

    f->log.level = OAUTH2_LOG_INFO;
    oauth2_log_debug(&f->ctx, OAUTH2_LOGNO(00001) "hidden %d", 1);
    oauth2_log_info(&f->ctx, OAUTH2_LOGNO(00002) "shown %d", 2);
    assert_false(th_logged(f, "hidden"));
    assert_true(th_logged(f, "OA00002: shown 2"));
}

static void log_without_sink_is_silent(void **state)
{
    th_fixture_t *f = *state;

    f->ctx.log = NULL;
    oauth2_log_error(&f->ctx, OAUTH2_LOGNO(00003) "nowhere");
    assert_int_equal(f->loglen, 0);
}

static void escape_hostile_bytes(void **state)
{
    th_fixture_t *f = *state;
    static const char in[] = "a\"b\\c\r\n\x01\xff";

    assert_string_equal(oauth2_log_escape(f->pool, in, sizeof(in) - 1),
                        "a\\x22b\\x5cc\\x0d\\x0a\\x01\\xff");
    assert_string_equal(oauth2_log_escape(f->pool, NULL, 3), "(null)");
}

static void escape_truncates_long_input(void **state)
{
    th_fixture_t *f = *state;
    char big[1000];
    const char *out;

    memset(big, 'z', sizeof(big));
    out = oauth2_log_escape(f->pool, big, sizeof(big));
    assert_int_equal(strlen(out), 256 + 3);
    assert_string_equal(out + 256, "...");
}

static void redact_hides_secret(void **state)
{
    th_fixture_t *f = *state;
    const char *r = oauth2_log_redact(f->pool, "abc", 3);

    /* SHA-256("abc") = ba7816bf... */
    assert_string_equal(r, "sha256:ba7816bf");
    assert_string_equal(oauth2_log_redact(f->pool, NULL, 0), "<none>");
}

static void status_names(void **state)
{
    (void)state;
    assert_string_equal(oauth2_status_str(OAUTH2_UNAVAILABLE), "unavailable");
    assert_string_equal(oauth2_status_str(OAUTH2_OK), "ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(err_set_truncates, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(log_respects_level, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(log_without_sink_is_silent, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(escape_hostile_bytes, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(escape_truncates_long_input, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(redact_hides_secret, th_setup, th_teardown),
        cmocka_unit_test(status_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
