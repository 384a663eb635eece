/*
 * util.c - the small primitives of util.h: strict base64url, standard
 * base64, constant-time comparison, OpenSSL randomness, bounded
 * JSON object parsing and bounded integer parsing. Owns no state; never
 * logs a value it was given (callers decide what is safe to print).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "oauth2/log.h"
#include "oauth2/util.h"

const oauth2_json_limits_t oauth2_json_default_limits = {
    64 * 1024, /* max_bytes */
    8,         /* max_depth */
    512        /* max_members */
};

static const char b64url_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *oauth2_b64url_encode(apr_pool_t *p, const unsigned char *in, size_t len)
{
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1);
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) |
                          ((unsigned long)in[i + 1] << 8) | in[i + 2];
        out[o++] = b64url_alpha[(v >> 18) & 63];
        out[o++] = b64url_alpha[(v >> 12) & 63];
        out[o++] = b64url_alpha[(v >> 6) & 63];
        out[o++] = b64url_alpha[v & 63];
    }
    if (len - i == 1) {
        out[o++] = b64url_alpha[in[i] >> 2];
        out[o++] = b64url_alpha[(in[i] & 3) << 4];
    }
    else if (len - i == 2) {
        unsigned long v = ((unsigned long)in[i] << 8) | in[i + 1];
        out[o++] = b64url_alpha[(v >> 10) & 63];
        out[o++] = b64url_alpha[(v >> 4) & 63];
        out[o++] = b64url_alpha[(v << 2) & 63];
    }
    out[o] = '\0';
    return out;
}

/* The 6-bit value of each byte as base64url, or BAD (outside 0..63). */
#define BAD 0x40
static const unsigned char b64url_dec[256] = {
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    62,  BAD, BAD, 52,  53,  54,  55,  56,  57,  58,  59,  60,  61,  BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, 0,   1,   2,   3,   4,   5,   6,   7,   8,   9,
    10,  11,  12,  13,  14,  15,  16,  17,  18,  19,  20,  21,  22,  23,  24,
    25,  BAD, BAD, BAD, BAD, 63,  BAD, 26,  27,  28,  29,  30,  31,  32,  33,
    34,  35,  36,  37,  38,  39,  40,  41,  42,  43,  44,  45,  46,  47,  48,
    49,  50,  51,  BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD,
    BAD,
};
#undef BAD

/* Offset of the first byte of in[0..n) that is not base64url. */
static size_t b64url_bad_at(const unsigned char *in, size_t n)
{
    size_t i = 0;

    while (i < n && b64url_dec[in[i]] < 64)
        i++;
    return i;
}

/*
 * Strictness matters because a signature covers the encoded text while
 * callers act on the decoded bytes: one value must have exactly one encoding.
 * Four characters a step through a table (a session record is ~3 KB of
 * base64url, opened on every memo miss).
 */
oauth2_status_t oauth2_b64url_decode_into(oauth2_ctx_t *ctx, const char *in,
                                          size_t inlen, unsigned char *out,
                                          size_t cap, size_t *outlen)
{
    const unsigned char *u = (const unsigned char *)in;
    size_t i = 0, o = 0, rest;
    unsigned a, b, c, d;

    if (in == NULL || inlen % 4 == 1) {
        oauth2_err_set(ctx, "base64url: bad length %zu", inlen);
        return OAUTH2_DENIED;
    }
    if (inlen / 4 * 3 + (inlen % 4 ? inlen % 4 - 1 : 0) > cap) {
        oauth2_err_set(ctx, "base64url: value too long");
        return OAUTH2_DENIED;
    }
    for (; i + 4 <= inlen; i += 4) {
        a = b64url_dec[u[i]];
        b = b64url_dec[u[i + 1]];
        c = b64url_dec[u[i + 2]];
        d = b64url_dec[u[i + 3]];
        if ((a | b | c | d) & 0x40)
            goto bad;
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
        out[o++] = (unsigned char)((c & 3) << 6 | d);
    }
    rest = inlen - i; /* 0, 2 or 3 */
    if (rest > 0) {
        a = b64url_dec[u[i]];
        b = b64url_dec[u[i + 1]];
        c = rest == 3 ? b64url_dec[u[i + 2]] : 0;
        if ((a | b | c) & 0x40)
            goto bad;
        out[o++] = (unsigned char)(a << 2 | b >> 4);
        if (rest == 3)
            out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
        if (rest == 2 ? (b & 15) != 0 : (c & 3) != 0) {
            oauth2_err_set(ctx, "base64url: non-zero trailing bits");
            return OAUTH2_DENIED;
        }
    }
    *outlen = o;
    return OAUTH2_OK;
bad:
    oauth2_err_set(ctx, "base64url: bad character at offset %zu",
                   i + b64url_bad_at(u + i, inlen - i));
    return OAUTH2_DENIED;
}

oauth2_status_t oauth2_b64url_decode(oauth2_ctx_t *ctx, const char *in,
                                     size_t inlen, unsigned char **out,
                                     size_t *outlen)
{
    unsigned char *buf;
    size_t o = 0;
    oauth2_status_t st;

    if (in == NULL || inlen % 4 == 1) {
        oauth2_err_set(ctx, "base64url: bad length %zu", inlen);
        return OAUTH2_DENIED;
    }
    buf = apr_palloc(ctx->pool, inlen / 4 * 3 + 3);
    st = oauth2_b64url_decode_into(ctx, in, inlen, buf, inlen / 4 * 3 + 2, &o);
    if (st != OAUTH2_OK)
        return st;
    buf[o] = '\0';
    *out = buf;
    if (outlen)
        *outlen = o;
    return OAUTH2_OK;
}

char *oauth2_b64_encode(apr_pool_t *p, const unsigned char *in, size_t len)
{
    char *out = apr_palloc(p, (len + 2) / 3 * 4 + 1);

    /* EVP_EncodeBlock pads and terminates; it takes an int length. */
    if (len > (size_t)(INT32_MAX / 4 * 3)) {
        out[0] = '\0';
        return out;
    }
    EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}

void oauth2_cleanse_free(void *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}

int oauth2_ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    if (a == NULL || b == NULL || alen != blen)
        return 0;
    if (alen == 0)
        return 1;
    return CRYPTO_memcmp(a, b, alen) == 0;
}

oauth2_status_t oauth2_random_bytes(oauth2_ctx_t *ctx, unsigned char *buf,
                                    size_t len)
{
    if (len > INT32_MAX || RAND_bytes(buf, (int)len) != 1) {
        oauth2_err_set(ctx, "RAND_bytes failed");
        oauth2_log_error(ctx,
                         OAUTH2_LOGNO(00004) "RAND_bytes failed for "
                                             "%lu bytes",
                         (unsigned long)len);
        return OAUTH2_UNAVAILABLE;
    }
    return OAUTH2_OK;
}

char *oauth2_random_b64url(oauth2_ctx_t *ctx, size_t nbytes)
{
    unsigned char *buf = apr_palloc(ctx->pool, nbytes ? nbytes : 1);
    char *s;

    if (oauth2_random_bytes(ctx, buf, nbytes) != OAUTH2_OK)
        return NULL;
    s = oauth2_b64url_encode(ctx->pool, buf, nbytes);
    OPENSSL_cleanse(buf, nbytes);
    return s;
}

/*
 * Walk the parsed tree, counting members and array elements and the
 * nesting. Returns 0 within limits, 1 too deep, 2 too many members.
 * Recursion depth is bounded by max_depth + 1.
 */
static int json_walk(const json_t *j, int depth,
                     const oauth2_json_limits_t *lim, size_t *count)
{
    const char *key;
    json_t *v;
    size_t i;
    int rc;

    if (!json_is_object(j) && !json_is_array(j))
        return 0;
    if (depth > lim->max_depth)
        return 1;
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, key, v)
        {
            if (++*count > lim->max_members)
                return 2;
            if ((rc = json_walk(v, depth + 1, lim, count)) != 0)
                return rc;
        }
        return 0;
    }
    json_array_foreach(j, i, v)
    {
        if (++*count > lim->max_members)
            return 2;
        if ((rc = json_walk(v, depth + 1, lim, count)) != 0)
            return rc;
    }
    return 0;
}

oauth2_status_t oauth2_json_parse_object(oauth2_ctx_t *ctx, const char *buf,
                                         size_t len,
                                         const oauth2_json_limits_t *lim,
                                         json_t **out)
{
    json_error_t jerr;
    json_t *j = NULL;
    size_t count = 0;
    int rc;

    *out = NULL;
    if (lim == NULL)
        lim = &oauth2_json_default_limits;
    if (buf == NULL || len > lim->max_bytes) {
        oauth2_err_set(ctx, "json: input of %zu bytes exceeds %zu", len,
                       lim->max_bytes);
        return OAUTH2_DENIED;
    }
    j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        oauth2_err_set(ctx, "json: %s", jerr.text);
        return OAUTH2_DENIED;
    }
    if (!json_is_object(j)) {
        oauth2_err_set(ctx, "json: not an object");
        json_decref(j);
        return OAUTH2_DENIED;
    }
    rc = json_walk(j, 1, lim, &count);
    if (rc != 0) {
        if (rc == 1)
            oauth2_err_set(ctx, "json: nesting deeper than %d", lim->max_depth);
        else
            oauth2_err_set(ctx, "json: more than %zu members",
                           lim->max_members);
        json_decref(j);
        return OAUTH2_DENIED;
    }
    *out = j;
    return OAUTH2_OK;
}

static apr_status_t json_cleanup(void *data)
{
    json_decref((json_t *)data);
    return APR_SUCCESS;
}

json_t *oauth2_json_pool_own(apr_pool_t *p, json_t *json)
{
    if (json != NULL)
        apr_pool_cleanup_register(p, json, json_cleanup, apr_pool_cleanup_null);
    return json;
}

void oauth2_json_pool_disown(apr_pool_t *p, json_t *json)
{
    if (json != NULL)
        apr_pool_cleanup_kill(p, json, json_cleanup);
}

const char *oauth2_json_str(const json_t *obj, const char *key)
{
    const json_t *v;

    if (!json_is_object(obj) || key == NULL)
        return NULL;
    v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int oauth2_parse_int64(const char *s, long long min, long long max,
                       long long *out)
{
    const char *d;
    char *end = NULL;
    long long v;

    if (s == NULL)
        return -1;
    d = (*s == '-') ? s + 1 : s;
    /* strtoll alone would accept spaces, '+' and "0x"; demand digits. */
    if (*d < '0' || *d > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == NULL || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
