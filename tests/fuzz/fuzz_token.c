/*
 * fuzz_token.c - libFuzzer target: a token endpoint response (status +
 * body) through the code exchange; an id_token in it then goes through
 * the ID token entry point (JWS against a fixed P-256 JWKS, claims,
 * nonce, at_hash). No random input can produce a valid ID token.
 */
#include "fuzz_common.h"
#include "oauth2/rp.h"

static oauth2_rp_jwks_cache_t *cache;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const oauth2_rp_provider_t prov = {.name = "fz",
                                              .client_id = "client",
                                              .client_secret = "secret",
                                              .scope = "openid",
                                              .auth = OAUTH2_RP_AUTH_BASIC};
    static const oauth2_provider_meta_t meta = {
        .issuer = FZ_ISSUER,
        .authorization_endpoint = FZ_ISSUER "/auth",
        .token_endpoint = FZ_ISSUER "/token",
        .jwks_uri = FZ_JWKS_URL};
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_rp_tokens_t *t = NULL;
    json_t *claims = NULL;

    fz_init();
    if (cache == NULL)
        cache = oauth2_rp_jwks_cache_create(fz_root);
    fz_answer_set(data, size);
    apr_pool_create(&p, fz_root);
    oauth2_ctx_init(&ctx, p, NULL, FZ_NOW);
    if (oauth2_rp_code_exchange(&ctx, &fz_http, &prov, &meta,
                                "https://rp.example/cb", "code", "verifier",
                                &t) == OAUTH2_OK &&
        t->id_token != NULL &&
        oauth2_rp_id_token_validate(&ctx, &fz_http, cache, &prov, &meta,
                                    t->id_token, "nonce", t->access_token,
                                    &claims) == OAUTH2_OK)
        abort(); /* forged an ID token */
    apr_pool_destroy(p);
    return 0;
}
