/*
 * store_redis_slot.c - the pure parts of Redis Cluster routing: the key slot
 * (CRC16/XMODEM of the key or of its {hash tag}, modulo 16384, as the Redis
 * Cluster specification defines it) and the parsing of "-MOVED" / "-ASK"
 * redirect replies. No I/O, no state, no allocation: store_redis.c owns the
 * slot map and the connections.
 */
#include <string.h>

#include "oauth2/store.h"

/* CRC16 with polynomial 0x1021, initial value 0 (XMODEM), bit by bit: the
 * key is at most a few hundred bytes, a table buys nothing measurable. */
static unsigned crc16(const unsigned char *p, size_t len)
{
    unsigned crc = 0;
    size_t i;
    int b;

    for (i = 0; i < len; i++) {
        crc ^= (unsigned)p[i] << 8;
        for (b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? ((crc << 1) ^ 0x1021) : (crc << 1);
        crc &= 0xffff;
    }
    return crc;
}

unsigned oauth2_store_redis_slot(const char *key, size_t len)
{
    const char *open = memchr(key, '{', len), *close;

    /* Only the first '{' counts; an empty tag "{}" hashes the whole key. */
    if (open != NULL) {
        size_t rest = len - (size_t)(open - key) - 1;
        close = memchr(open + 1, '}', rest);
        if (close != NULL && close > open + 1)
            return crc16((const unsigned char *)open + 1,
                         (size_t)(close - open - 1)) &
                   (OAUTH2_STORE_REDIS_SLOTS - 1);
    }
    return crc16((const unsigned char *)key, len) &
           (OAUTH2_STORE_REDIS_SLOTS - 1);
}

/* "host:port" (host may be empty or an IPv6 literal: the LAST ':' splits). */
static int endpoint(const char *s, size_t len, oauth2_store_redirect_t *out)
{
    const char *colon = NULL;
    size_t i, hlen;
    long port = 0;

    for (i = 0; i < len; i++)
        if (s[i] == ':')
            colon = s + i;
    if (colon == NULL)
        return 0;
    hlen = (size_t)(colon - s);
    if (hlen >= sizeof(out->host) || colon + 1 == s + len)
        return 0;
    for (i = (size_t)(colon - s) + 1; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || port > 65535)
            return 0;
        port = port * 10 + (s[i] - '0');
    }
    if (port < 1 || port > 65535)
        return 0;
    for (i = 0; i < hlen; i++)
        if (s[i] == ' ' || s[i] == '\0')
            return 0;
    memcpy(out->host, s, hlen);
    out->host[hlen] = '\0';
    out->port = (int)port;
    return 1;
}

int oauth2_store_redis_redirect_parse(const char *s, size_t len,
                                      oauth2_store_redirect_t *out)
{
    size_t skip, i;
    long slot = 0;

    if (s == NULL)
        return 0;
    if (len > 5 && memcmp(s, "MOVED ", 6) == 0) {
        out->ask = 0;
        skip = 6;
    }
    else if (len > 3 && memcmp(s, "ASK ", 4) == 0) {
        out->ask = 1;
        skip = 4;
    }
    else
        return 0;
    for (i = skip; i < len && s[i] >= '0' && s[i] <= '9' && i - skip < 6; i++)
        slot = slot * 10 + (s[i] - '0');
    if (i == skip || i >= len || s[i] != ' ' ||
        slot >= OAUTH2_STORE_REDIS_SLOTS)
        return 0;
    out->slot = (int)slot;
    return endpoint(s + i + 1, len - i - 1, out);
}
