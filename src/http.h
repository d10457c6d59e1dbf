/*
 * http.h: a small HTTP/1.1 client for the identity platform: HTTPS only,
 * one request per connection, optional CONNECT tunnel through an HTTP
 * proxy, bounded sizes everywhere.
 */
#ifndef EXO_HTTP_H
#define EXO_HTTP_H

#include <stddef.h>

#include "err.h"
#include "util.h"

struct trust_store;

#define HTTP_HEADER_MAX 8192	/* status line plus all headers */
#define HTTP_BODY_MAX (256 * 1024)

struct http_client {
	const struct trust_store *trust;
	/* http://[user:password@]host:port, or empty for a direct connection. */
	char	proxy[512];
	int	connect_timeout_ms;
	int	read_timeout_ms;
};

struct http_response {
	int	 status;
	char	 content_type[128];
	int	 retry_after;		/* seconds from Retry-After, -1 if none */
	char	*body;			/* NUL-terminated, freed by http_response_free */
	size_t	 body_len;
};

/*
 * POSTs body (application/x-www-form-urlencoded) to url ("https://host
 * [:port]/path") and reads the whole response. Any status is a success
 * here; the caller reads resp->status. Errors: EXO_ERR_RESOLVE,
 * EXO_ERR_CONNECT, EXO_ERR_TIMEOUT, EXO_ERR_TLS, EXO_ERR_PROTO (malformed
 * response), EXO_ERR_TOOLONG, EXO_ERR_UPSTREAM (the proxy refused the
 * tunnel, with its status: a 407 says the proxy needs a user and
 * password). Messages name the host and never the body or the proxy
 * password.
 */
int http_post_form(const struct http_client *c, const char *url,
    const char *body, struct http_response *resp, struct exo_error *e);
void http_response_free(struct http_response *resp);

/*
 * Picks the proxy: setting when not empty, else HTTPS_PROXY/https_proxy
 * unless NO_PROXY/no_proxy lists host. Writes "" for a direct connection.
 */
void http_choose_proxy(const char *setting, const char *host, char out[512]);

/* ---- parts exposed for unit tests and fuzzing ---- */

struct http_url {
	char		host[256];
	unsigned	port;
	char		path[1024];
	int		https;
};

int http_parse_url(const char *url, struct http_url *out);

/*
 * Incremental response parser: feed it bytes as they arrive. Returns 1
 * when the response is complete, 0 when it needs more, or a negative
 * error. eof tells it the peer closed (which ends a body without length).
 */
struct http_parser;
struct http_parser *http_parser_new(void);
int http_parser_feed(struct http_parser *p, const char *data, size_t len,
    int eof, struct http_response *resp);
void http_parser_free(struct http_parser *p);

#endif
