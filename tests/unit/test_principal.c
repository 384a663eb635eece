/*
 * test_principal.c - scope queries on a principal.
 */
#include "helpers.h"
#include "oauth2/principal.h"

static void has_scopes_all_of(void **state)
{
    th_fixture_t *f = *state;
    oauth2_principal_t p = {.type = OAUTH2_PRINCIPAL_BEARER};
    const char *const read_only[] = {"photos.read", NULL};
    const char *const both[] = {"photos.read", "photos.write", NULL};
    const char *const none[] = {NULL};

    p.scopes = apr_array_make(f->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(p.scopes, const char *) = "photos.read";
    assert_true(oauth2_principal_has_scopes(&p, read_only));
    assert_false(oauth2_principal_has_scopes(&p, both));
    assert_true(oauth2_principal_has_scopes(&p, none));
    assert_false(oauth2_principal_has_scopes(NULL, read_only));
    p.scopes = NULL;
    assert_false(oauth2_principal_has_scopes(&p, read_only));
}

static void type_names(void **state)
{
    (void)state;
    assert_string_equal(oauth2_principal_type_str(OAUTH2_PRINCIPAL_SESSION),
                        "session");
    assert_string_equal(oauth2_principal_type_str(OAUTH2_PRINCIPAL_BEARER),
                        "bearer");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(has_scopes_all_of, th_setup,
                                        th_teardown),
        cmocka_unit_test(type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
