/*
 * fuzz_jwks.c - libFuzzer target: a JWK Set document from the network,
 * parsed into a throw-away owner pool, then every key looked up.
 */
#include <stdint.h>

#include <apr_general.h>

#include "oauth2/jwks.h"

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
    apr_pool_t *p, *owner;
    oauth2_ctx_t ctx;
    oauth2_jwks_t *set = NULL;
    int pos = 0;

    apr_pool_create(&p, root);
    apr_pool_create(&owner, root);
    oauth2_ctx_init(&ctx, p, NULL, 0);
    if (oauth2_jwks_parse(&ctx, owner, (const char *)data, size, &set) ==
        OAUTH2_OK)
        while (oauth2_jwks_next(set, "k", OAUTH2_KTY_NONE, NULL, &pos))
            ;
    (void)oauth2_jwks_from_pem(&ctx, owner, (const char *)data, size, &set);
    apr_pool_destroy(owner);
    apr_pool_destroy(p);
    return 0;
}
