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
#define HTTP_CHUNK_LINE_MAX 1024	/* chunk size with its extensions */

struct http_client {
	const struct trust_store *trust;
	/* http://[user:password@]host:port, or empty for a direct connection. */
	char	proxy[512];
	int	connect_timeout_ms;
	/* Limit for the whole request: the connection (with the proxy's
	 * tunnel), the TLS handshake, the request and the response. */
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
 * password), EXO_ERR_INVALID (url is not https or has user information),
 * EXO_ERR_CONFIG (the proxy is not an http:// URL). Messages name the
 * host and never the body or the proxy password.
 */
int http_post_form(const struct http_client *c, const char *url,
    const char *body, struct http_response *resp, struct exo_error *e);
void http_response_free(struct http_response *resp);

/*
 * Picks the proxy: setting when not empty, else HTTPS_PROXY/https_proxy
 * unless NO_PROXY/no_proxy lists host, else the system's proxy for host
 * (plat_system_proxy: Windows only). Writes "" for a direct connection.
 */
void http_choose_proxy(const char *setting, const char *host, char out[512]);

/*
 * Checks the proxy setting when the settings are loaded: empty, or
 * "http://[user:password@]host[:port][/]". EXO_ERR_CONFIG otherwise, with
 * a message that names what is wrong and never the password.
 */
int http_proxy_validate(const char *setting, struct exo_error *e);

/* ---- parts exposed for unit tests and fuzzing ---- */

struct http_url {
	char		host[256];	/* without the brackets of IPv6 */
	unsigned	port;		/* 443 or 80 when absent */
	char		path[1024];	/* with the query; "/" when absent */
	int		https;
	char		user[128];	/* percent-decoded user information */
	char		password[256];
};

/*
 * Parses "http[s]://[user[:password]@]host[:port][/path]". The host is a
 * DNS name, an IPv4 address or a bracketed IPv6 address. A fragment is
 * dropped. EXO_ERR_INVALID for anything else, such as a space or control
 * character in the path or "%00" in the user information.
 */
int http_parse_url(const char *url, struct http_url *out);

/* Parses "HTTP/1.x NNN[ reason]" into *status (100 to 599). */
int http_parse_status_line(const char *line, int *status);

/*
 * Incremental response parser: feed it bytes as they arrive. Returns 1
 * when the response is complete, 0 when it needs more, or a negative
 * error: EXO_ERR_PROTO (malformed, or the peer closed too early),
 * EXO_ERR_TOOLONG (over a limit above), EXO_ERR_CLOSED (eof before any
 * byte), EXO_ERR_NOMEM. eof tells it the peer closed (which ends a body
 * without length). resp is filled only when 1 is returned; bytes after
 * the response are ignored.
 */
struct http_parser;
struct http_parser *http_parser_new(void);
int http_parser_feed(struct http_parser *p, const char *data, size_t len,
    int eof, struct http_response *resp);
void http_parser_free(struct http_parser *p);

#endif
