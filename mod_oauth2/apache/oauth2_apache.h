/*
 * oauth2_apache.h - declarations private to the Apache adapter. The only
 * place (with the other apache/ files) that includes httpd headers.
 */
#ifndef OAUTH2_APACHE_H
#define OAUTH2_APACHE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>

APLOG_USE_MODULE(oauth2);

#endif /* OAUTH2_APACHE_H */
