/*
 * fuzz_callback.c - libFuzzer target: the redirect-URI callback query
 * through oauth2_rp_callback_parse and oauth2_rp_callback_check against
 * a fixed login; and the same bytes as a decrypted login record
 * (oauth2_rp_login_decode). Only the login's own state may pass.
 */
#include "fuzz_common.h"
#include "oauth2/rp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const oauth2_rp_provider_t prov = {
        .name = "fz", .client_id = "client", .scope = "openid"};
    static const oauth2_provider_meta_t meta = {
        .issuer = FZ_ISSUER,
        .authorization_endpoint = FZ_ISSUER "/auth",
        .token_endpoint = FZ_ISSUER "/token",
        .iss_parameter_supported = 1};
    static const oauth2_rp_login_t login = {"fz",       "S7a7e", "n0nce",
                                            "verifier", "/",     FZ_NOW};
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_rp_callback_t *cb = NULL;
    oauth2_rp_login_t *l = NULL;
    const char *q;

    fz_init();
    apr_pool_create(&p, fz_root);
    oauth2_ctx_init(&ctx, p, NULL, FZ_NOW);
    q = apr_pstrmemdup(p, (const char *)data, size);
    if (oauth2_rp_callback_parse(&ctx, q, &cb) == OAUTH2_OK &&
        oauth2_rp_callback_check(&ctx, &prov, &meta, &login, cb) == OAUTH2_OK &&
        (cb->state == NULL || strcmp(cb->state, login.state) != 0 ||
         cb->code == NULL || cb->iss == NULL ||
         strcmp(cb->iss, FZ_ISSUER) != 0))
        abort(); /* a callback for another login passed */
    (void)oauth2_rp_login_decode(&ctx, (const char *)data, size,
                                 apr_time_from_sec(300), &l);
    apr_pool_destroy(p);
    return 0;
}
