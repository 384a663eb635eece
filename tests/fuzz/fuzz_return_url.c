/*
 * fuzz_return_url.c - libFuzzer target: the return/logout URL validator.
 * Beyond "no crash", an accepted URL must be a local path that cannot be
 * read as scheme-relative, or start with an allowed origin followed by
 * '/', '?', '#' or its end; and it must hold no control, space,
 * backslash or non-ASCII byte.
 */
#include "fuzz_common.h"
#include <strings.h>

#include "oauth2/rp.h"

static int origin_prefix(const char *u, const char *o)
{
    size_t n = strlen(o);
    return strncasecmp(u, o, n) == 0 && /* hosts ignore case */
           (u[n] == '\0' || u[n] == '/' || u[n] == '?' || u[n] == '#');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    apr_array_header_t *allowed;
    const char *u;

    fz_init();
    apr_pool_create(&p, fz_root);
    oauth2_ctx_init(&ctx, p, NULL, FZ_NOW);
    allowed = apr_array_make(p, 1, sizeof(const char *));
    APR_ARRAY_PUSH(allowed, const char *) = "https://app.example:8443";
    u = apr_pstrmemdup(p, (const char *)data, size);
    if (strlen(u) == size &&
        oauth2_rp_return_url_ok(&ctx, u, "https://rp.example", allowed)) {
        for (const unsigned char *c = (const unsigned char *)u; *c; c++)
            if (*c <= 0x20 || *c >= 0x7f || *c == '\\')
                abort();
        if (!((u[0] == '/' && u[1] != '/') ||
              origin_prefix(u, "https://rp.example") ||
              origin_prefix(u, "https://app.example:8443")))
            abort(); /* an open redirect */
    }
    apr_pool_destroy(p);
    return 0;
}
