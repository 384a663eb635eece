/*
 * introspect.h - RFC 7662 token introspection as a verifier source
 * (OAuth2TokenVerify introspect=...). The client and its verdict cache live
 * in core/introspect.c; callers go through oauth2_verify_token (verify.h),
 * which picks introspection for opaque tokens. This header only names the
 * limits the implementation applies.
 */
#ifndef OAUTH2_INTROSPECT_H
#define OAUTH2_INTROSPECT_H

#include "oauth2/verify.h"

/* Largest introspection response accepted. */
#define OAUTH2_INTROSPECT_MAX_RESPONSE (64 * 1024)

/* Timeout of one introspection call. */
#define OAUTH2_INTROSPECT_TIMEOUT apr_time_from_sec(5)

#endif /* OAUTH2_INTROSPECT_H */
