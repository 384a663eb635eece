/*
 * fuzz_claims.c - libFuzzer target: a claims object (bounded JSON parse)
 * through every claim check and the scope extraction.
 */
#include <stdint.h>

#include <apr_general.h>

#include "oauth2/claims.h"
#include "oauth2/util.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const oauth2_claims_rules_t rules = {"https://idp.example", "api",
                                                60, 0, 1};
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    json_t *c = NULL;
    apr_array_header_t *have;

    apr_pool_create(&p, root);
    oauth2_ctx_init(&ctx, p, NULL, apr_time_from_sec(1767225600));
    if (oauth2_json_parse_object(&ctx, (const char *)data, size, NULL, &c) ==
        OAUTH2_OK) {
        oauth2_json_pool_own(p, c);
        (void)oauth2_claims_validate(&ctx, c, &rules);
        (void)oauth2_claims_check_typ(&ctx, oauth2_json_str(c, "typ"));
        have = oauth2_claims_scopes(&ctx, c);
        (void)oauth2_scopes_has_all(have, oauth2_scopes_split(p, "read write"));
    }
    apr_pool_destroy(p);
    return 0;
}
