/*
 * fuzz_session.c - libFuzzer target for the session parsers: the input is
 * split at the first newline into a cookie value and a sealed store value;
 * the cookie goes through oauth2_session_parse_cookie, the value through
 * oauth2_session_open (and, as a sealed state cookie, through
 * oauth2_session_open_cookie). Nothing may crash, leak or read out of
 * bounds, and nothing random may ever open.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_strings.h>

#include "oauth2/session.h"

static apr_pool_t *root;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const oauth2_crypto_keyring_t ring = {"fuzz passphrase", "old"};
    apr_pool_t *p;
    oauth2_ctx_t ctx;
    oauth2_session_t *s = NULL;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t clen = nl ? (size_t)(nl - data) : size;
    char *cookie, *val, *pl;
    size_t vlen = nl ? size - clen - 1 : 0, n;

    if (root == NULL) {
        apr_initialize();
        apr_pool_create(&root, NULL);
    }
    apr_pool_create(&p, root);
    oauth2_ctx_init(&ctx, p, NULL, apr_time_from_sec(1767225600));
    cookie = apr_pstrmemdup(p, (const char *)data, clen);
    val = apr_pstrmemdup(p, nl ? (const char *)nl + 1 : "", vlen);
    if (oauth2_session_parse_cookie(&ctx, "fuzz", cookie, &s) == OAUTH2_OK) {
        if (oauth2_session_open(&ctx, &ring, s, val, vlen) == OAUTH2_OK)
            abort(); /* forged a session */
    }
    if (oauth2_session_open_cookie(&ctx, &ring, "oauth2_state", val, &pl, &n) ==
        OAUTH2_OK)
        abort(); /* forged a state cookie */
    apr_pool_destroy(p);
    return 0;
}
