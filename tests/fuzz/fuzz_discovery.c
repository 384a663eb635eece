/*
 * fuzz_discovery.c - libFuzzer target: a provider metadata document
 * (OIDC Discovery) through parsing, issuer match and endpoint checks.
 */
#include "fuzz_common.h"
#include "oauth2/discovery.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_provider_meta_t *m = NULL;

    fz_init();
    apr_pool_create(&p, fz_root);
    oauth2_ctx_init(&ctx, p, NULL, FZ_NOW);
    if (oauth2_discovery_parse(&ctx, (const char *)data, size,
                               FZ_ISSUER "/.well-known/openid-configuration",
                               NULL, &m) == OAUTH2_OK) {
        if (m == NULL || m->issuer == NULL || strcmp(m->issuer, FZ_ISSUER) != 0)
            abort(); /* accepted a document for another issuer */
        (void)oauth2_discovery_check(&ctx, m);
    }
    apr_pool_destroy(p);
    return 0;
}
