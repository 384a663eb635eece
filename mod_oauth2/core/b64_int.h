/*
 * b64_int.h - private, temporary: strict unpadded base64url for crypto.c
 * and session.c until util.c (oauth2_b64url_encode/decode, another branch)
 * lands. Static inline and unprefixed, so nothing is exported. Replace each
 * b64e()/b64d() call with the util.h function and delete this file.
 */
#ifndef OAUTH2_B64_INT_H
#define OAUTH2_B64_INT_H

#include <stddef.h>

#include <apr_pools.h>

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static inline char *b64e(apr_pool_t *p, const unsigned char *in, size_t n)
{
    char *out = apr_palloc(p, (n + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) |
                          ((unsigned long)in[i + 1] << 8) | in[i + 2];
        *o++ = b64_alpha[(v >> 18) & 63];
        *o++ = b64_alpha[(v >> 12) & 63];
        *o++ = b64_alpha[(v >> 6) & 63];
        *o++ = b64_alpha[v & 63];
    }
    if (n - i == 1) {
        *o++ = b64_alpha[in[i] >> 2];
        *o++ = b64_alpha[(in[i] & 3) << 4];
    }
    else if (n - i == 2) {
        unsigned long v = ((unsigned long)in[i] << 8) | in[i + 1];
        *o++ = b64_alpha[(v >> 10) & 63];
        *o++ = b64_alpha[(v >> 4) & 63];
        *o++ = b64_alpha[(v << 2) & 63];
    }
    *o = '\0';
    return out;
}

/*
 * Decoding table: the 6-bit value + 1, 0 for bytes outside the alphabet. A
 * lookup instead of five range tests: a session value is ~4/3 of a sealed
 * record, decoded on every session request.
 */
static const unsigned char b64_dec[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,
    ['G'] = 7,  ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64};

static inline int b64_val(char c)
{
    return (int)b64_dec[(unsigned char)c] - 1;
}

/*
 * Strict decode into `out` (room for n * 3 / 4 bytes): only the alphabet, no
 * padding, no length of 1 mod 4, zero unused bits. Returns the decoded
 * length, or -1.
 */
static inline long b64d(const char *in, size_t n, unsigned char *out)
{
    unsigned long acc = 0;
    size_t i, o = 0;
    int bits = 0;

    if (n % 4 == 1)
        return -1;
    for (i = 0; i < n; i++) {
        int v = b64_val(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned long)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    if (bits > 0 && (acc & ((1ul << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

#endif /* OAUTH2_B64_INT_H */
