/*
 * http-parser.c: incremental parser for HTTP/1.1 responses (RFC 9112) and
 * the URL parser of the HTTP client.
 *
 * Accepted: a status line "HTTP/1.x NNN reason", header fields without
 * line folding, a body delimited by Content-Length, by the chunked
 * transfer coding (chunk extensions and trailer fields are read and
 * ignored), or by the end of the connection. Lines may end in CRLF or a
 * bare LF. Interim 1xx responses are skipped. The status line and header
 * fields together are limited to HTTP_HEADER_MAX bytes, trailer fields to
 * the same again, a chunk size line to HTTP_CHUNK_LINE_MAX, and the body
 * to HTTP_BODY_MAX.
 */
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "plat.h"
#include "util.h"

enum http_state {
	HTTP_STATUS,
	HTTP_HEADERS,
	HTTP_BODY_LENGTH,
	HTTP_BODY_EOF,
	HTTP_CHUNK_SIZE,
	HTTP_CHUNK_DATA,
	HTTP_CHUNK_END,
	HTTP_TRAILERS,
	HTTP_DONE,
};

struct http_parser {
	enum http_state	 state;
	char		 line[HTTP_HEADER_MAX];
	size_t		 line_len;
	size_t		 header_bytes;	/* of this response or its trailers */
	int		 any_input;

	int		 status;
	char		 content_type[128];
	int		 retry_after;
	long long	 content_length;	/* -1 when absent */
	int		 chunked;
	size_t		 remaining;		/* of the body or chunk */
	struct buf	 body;
};

struct http_parser *
http_parser_new(void)
{
	struct http_parser	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->state = HTTP_STATUS;
	p->retry_after = -1;
	p->content_length = -1;
	buf_init(&p->body);
	return p;
}

void
http_parser_free(struct http_parser *p)
{
	if (p == NULL)
		return;
	buf_free(&p->body);
	free(p);
}

int
http_parse_status_line(const char *line, int *status)
{
	long long	v;
	char		num[4];
	int		i;

	if (strncmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' ||
	    line[7] > '9' || line[8] != ' ')
		return EXO_ERR_PROTO;
	/* Digit by digit, so a short line stops at its NUL. */
	for (i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return EXO_ERR_PROTO;
	}
	memcpy(num, line + 9, 3);
	num[3] = '\0';
	if (parse_ll(num, 100, 599, &v) != 0)
		return EXO_ERR_PROTO;
	if (line[12] != '\0' && line[12] != ' ')
		return EXO_ERR_PROTO;
	*status = (int)v;
	return 0;
}

static int
http_is_tchar(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Trims spaces and tabs on both sides of value, in place. */
static char *
http_trim(char *value)
{
	size_t	len;

	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		value[--len] = '\0';
	return value;
}

static int
http_header_content_length(struct http_parser *p, const char *value)
{
	long long	v;

	if (parse_ll(value, 0, 1LL << 53, &v) != 0)
		return EXO_ERR_PROTO;
	if (p->content_length >= 0 && p->content_length != v)
		return EXO_ERR_PROTO;
	p->content_length = v;
	return 0;
}

/*
 * Only "chunked" is accepted: the request sends no Accept-Encoding, and a
 * body in any other transfer coding cannot be read (RFC 9112 6.1).
 */
static int
http_header_transfer_encoding(struct http_parser *p, const char *value)
{
	if (str_casecmp(value, "chunked") != 0 || p->chunked)
		return EXO_ERR_PROTO;
	p->chunked = 1;
	return 0;
}

/*
 * Retry-After as delta-seconds. The HTTP-date form is ignored, because
 * the clock of the server and ours may differ.
 */
static int
http_header_retry_after(struct http_parser *p, const char *value)
{
	long long	v;

	if (parse_ll(value, 0, 7 * 24 * 3600, &v) == 0)
		p->retry_after = (int)v;
	return 0;
}

static int
http_header_content_type(struct http_parser *p, const char *value)
{
	str_copy(p->content_type, value, sizeof(p->content_type));
	return 0;
}

static const struct {
	const char	*name;
	int		(*fn)(struct http_parser *, const char *);
} http_headers[] = {
	{ "content-length", http_header_content_length },
	{ "transfer-encoding", http_header_transfer_encoding },
	{ "retry-after", http_header_retry_after },
	{ "content-type", http_header_content_type },
};

static int
http_header_line(struct http_parser *p, char *line)
{
	char	*colon, *value;
	size_t	 i;

	/* Obsolete line folding is rejected (RFC 9112 5.2). */
	if ((colon = strchr(line, ':')) == NULL || colon == line)
		return EXO_ERR_PROTO;
	*colon = '\0';
	for (i = 0; line[i] != '\0'; i++) {
		if (!http_is_tchar((unsigned char)line[i]))
			return EXO_ERR_PROTO;
	}
	value = http_trim(colon + 1);
	for (i = 0; value[i] != '\0'; i++) {
		if ((unsigned char)value[i] < 0x20 && value[i] != '\t')
			return EXO_ERR_PROTO;
	}
	if (p->state == HTTP_TRAILERS)
		return 0;
	for (i = 0; i < sizeof(http_headers) / sizeof(http_headers[0]); i++) {
		if (str_casecmp(line, http_headers[i].name) == 0)
			return http_headers[i].fn(p, value);
	}
	return 0;
}

/* Decides how the body is delimited once the header section ended. */
static int
http_headers_done(struct http_parser *p)
{
	if (p->status < 200) {
		/* An interim response: the real one follows. */
		p->state = HTTP_STATUS;
		p->content_length = -1;
		p->chunked = 0;
		p->retry_after = -1;
		p->content_type[0] = '\0';
		p->header_bytes = 0;
		return 0;
	}
	if (p->status == 204 || p->status == 304) {
		p->state = HTTP_DONE;
		return 1;
	}
	if (p->chunked) {
		p->state = HTTP_CHUNK_SIZE;
		return 0;
	}
	if (p->content_length >= 0) {
		if (p->content_length > HTTP_BODY_MAX)
			return EXO_ERR_TOOLONG;
		p->remaining = (size_t)p->content_length;
		p->state = HTTP_BODY_LENGTH;
		if (p->remaining == 0) {
			p->state = HTTP_DONE;
			return 1;
		}
		return 0;
	}
	p->state = HTTP_BODY_EOF;
	return 0;
}

/* Parses "1a;name=value": hex digits, then optional extensions. */
static int
http_chunk_size(struct http_parser *p, const char *line)
{
	size_t	size = 0;
	int	digits = 0, v;

	for (; *line != '\0'; line++, digits++) {
		if (*line >= '0' && *line <= '9')
			v = *line - '0';
		else if (*line >= 'a' && *line <= 'f')
			v = *line - 'a' + 10;
		else if (*line >= 'A' && *line <= 'F')
			v = *line - 'A' + 10;
		else
			break;
		size = size * 16 + (size_t)v;
		if (size > HTTP_BODY_MAX)
			return EXO_ERR_TOOLONG;
	}
	while (*line == ' ' || *line == '\t')
		line++;
	if (digits == 0 || (*line != '\0' && *line != ';'))
		return EXO_ERR_PROTO;
	if (p->body.len + size > HTTP_BODY_MAX)
		return EXO_ERR_TOOLONG;

	p->remaining = size;
	p->state = size == 0 ? HTTP_TRAILERS : HTTP_CHUNK_DATA;
	p->header_bytes = 0;
	return 0;
}

/* Handles one complete line, without its line end. */
static int
http_line(struct http_parser *p, char *line)
{
	int	r;

	if (memchr(p->line, '\0', p->line_len) != NULL)
		return EXO_ERR_PROTO;
	switch (p->state) {
	case HTTP_STATUS:
		r = http_parse_status_line(line, &p->status);
		if (r == 0)
			p->state = HTTP_HEADERS;
		return r;
	case HTTP_HEADERS:
		if (*line == '\0')
			return http_headers_done(p);
		return http_header_line(p, line);
	case HTTP_CHUNK_SIZE:
		return http_chunk_size(p, line);
	case HTTP_CHUNK_END:
		if (*line != '\0')
			return EXO_ERR_PROTO;
		p->state = HTTP_CHUNK_SIZE;
		return 0;
	case HTTP_TRAILERS:
		if (*line != '\0')
			return http_header_line(p, line);
		p->state = HTTP_DONE;
		return 1;
	default:
		return EXO_ERR_PROTO;
	}
}

/* Limit of the line being read in the current state. */
static size_t
http_line_max(const struct http_parser *p)
{
	if (p->state == HTTP_CHUNK_SIZE || p->state == HTTP_CHUNK_END)
		return HTTP_CHUNK_LINE_MAX;
	return HTTP_HEADER_MAX;
}

/* Collects a line; returns the bytes used, or a negative error. */
static long
http_take_line(struct http_parser *p, const char *data, size_t len, int *r)
{
	const char	*nl = memchr(data, '\n', len);
	size_t		 n = nl != NULL ? (size_t)(nl - data) + 1 : len;

	*r = 0;
	if (p->state != HTTP_CHUNK_SIZE && p->state != HTTP_CHUNK_END) {
		p->header_bytes += n;
		if (p->header_bytes > HTTP_HEADER_MAX)
			return EXO_ERR_TOOLONG;
	}
	if (p->line_len + n > http_line_max(p))
		return EXO_ERR_TOOLONG;
	memcpy(p->line + p->line_len, data, n);
	p->line_len += n;
	if (nl == NULL)
		return (long)n;

	/* Drop "\n" and an optional "\r" before it. */
	p->line_len--;
	if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
		p->line_len--;
	p->line[p->line_len] = '\0';
	*r = http_line(p, p->line);
	p->line_len = 0;
	return (long)n;
}

/* Takes body bytes of a known length; returns the bytes used. */
static long
http_take_body(struct http_parser *p, const char *data, size_t len)
{
	size_t	n = len < p->remaining ? len : p->remaining;

	if (buf_append(&p->body, data, n) != 0)
		return EXO_ERR_NOMEM;
	p->remaining -= n;
	if (p->remaining == 0)
		p->state = p->state == HTTP_CHUNK_DATA ? HTTP_CHUNK_END :
		    HTTP_DONE;
	return (long)n;
}

static void
http_finish(struct http_parser *p, struct http_response *resp)
{
	resp->status = p->status;
	str_copy(resp->content_type, p->content_type,
	    sizeof(resp->content_type));
	resp->retry_after = p->retry_after;
	if (p->body.data == NULL)
		buf_append(&p->body, "", 0);
	resp->body = p->body.data;
	resp->body_len = p->body.len;
	buf_init(&p->body);
}

int
http_parser_feed(struct http_parser *p, const char *data, size_t len,
    int eof, struct http_response *resp)
{
	long	n;
	int	r = 0;

	if (p->state == HTTP_DONE)
		return 1;
	if (len > 0)
		p->any_input = 1;
	while (len > 0 && p->state != HTTP_DONE) {
		switch (p->state) {
		case HTTP_BODY_LENGTH:
		case HTTP_CHUNK_DATA:
			n = http_take_body(p, data, len);
			break;
		case HTTP_BODY_EOF:
			if (p->body.len + len > HTTP_BODY_MAX)
				return EXO_ERR_TOOLONG;
			if (buf_append(&p->body, data, len) != 0)
				return EXO_ERR_NOMEM;
			n = (long)len;
			break;
		default:
			n = http_take_line(p, data, len, &r);
			break;
		}
		if (n < 0)
			return (int)n;
		if (r < 0)
			return r;
		data += n;
		len -= (size_t)n;
	}

	if (p->state == HTTP_BODY_EOF && eof)
		p->state = HTTP_DONE;
	if (p->state == HTTP_DONE) {
		if (p->body.data == NULL && buf_append(&p->body, "", 0) != 0)
			return EXO_ERR_NOMEM;
		http_finish(p, resp);
		return 1;
	}
	if (eof)
		return p->any_input ? EXO_ERR_PROTO : EXO_ERR_CLOSED;
	return 0;
}

void
http_response_free(struct http_response *resp)
{
	if (resp == NULL)
		return;
	if (resp->body != NULL) {
		plat_wipe(resp->body, resp->body_len);
		free(resp->body);
	}
	resp->body = NULL;
	resp->body_len = 0;
}

/* ---- URLs ---- */

/* Host names and IPv4 addresses: letters, digits, "-" and ".". */
static int
http_host_valid(const char *host, int bracketed)
{
	const char	*allowed = bracketed ? "0123456789abcdefABCDEF:." :
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.";

	if (*host == '\0')
		return 0;
	return strspn(host, allowed) == strlen(host);
}

/* Decodes %XX escapes of the user information in place. */
static int
http_percent_decode(char *s)
{
	char	*o = s;
	char	 hex[3];
	long	 v;

	while (*s != '\0') {
		if (*s != '%') {
			*o++ = *s++;
			continue;
		}
		if (s[1] == '\0' || s[2] == '\0')
			return EXO_ERR_INVALID;
		hex[0] = s[1];
		hex[1] = s[2];
		hex[2] = '\0';
		if (strspn(hex, "0123456789abcdefABCDEF") != 2)
			return EXO_ERR_INVALID;
		v = strtol(hex, NULL, 16);
		if (v == 0)
			return EXO_ERR_INVALID;
		*o++ = (char)v;
		s += 3;
	}
	*o = '\0';
	return 0;
}

/* Splits "user:password@" off the authority, into out. */
static int
http_parse_userinfo(const char *auth, size_t len, struct http_url *out)
{
	const char	*colon = memchr(auth, ':', len);
	size_t		 ulen = colon != NULL ? (size_t)(colon - auth) : len;
	size_t		 plen = colon != NULL ? len - ulen - 1 : 0;

	if (ulen >= sizeof(out->user) || plen >= sizeof(out->password))
		return EXO_ERR_INVALID;
	memcpy(out->user, auth, ulen);
	out->user[ulen] = '\0';
	if (colon != NULL)
		memcpy(out->password, colon + 1, plen);
	out->password[plen] = '\0';
	if (http_percent_decode(out->user) != 0 ||
	    http_percent_decode(out->password) != 0)
		return EXO_ERR_INVALID;
	return 0;
}

/* Parses "host", "host:port", "[v6]" or "[v6]:port". */
static int
http_parse_hostport(const char *s, size_t len, struct http_url *out)
{
	const char	*host = s, *port = NULL, *end = s + len, *close;
	size_t		 hlen, plen;
	long long	 v;
	char		 num[8];
	int		 bracketed = 0;

	if (len > 0 && s[0] == '[') {
		if ((close = memchr(s, ']', len)) == NULL)
			return EXO_ERR_INVALID;
		bracketed = 1;
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < end) {
			if (close[1] != ':')
				return EXO_ERR_INVALID;
			port = close + 2;
		}
	} else {
		port = memchr(s, ':', len);
		hlen = port != NULL ? (size_t)(port - s) : len;
		if (port != NULL)
			port++;
	}
	if (hlen >= sizeof(out->host))
		return EXO_ERR_INVALID;
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	if (!http_host_valid(out->host, bracketed))
		return EXO_ERR_INVALID;
	if (port == NULL)
		return 0;

	plen = (size_t)(end - port);
	if (plen == 0 || plen >= sizeof(num))
		return EXO_ERR_INVALID;
	memcpy(num, port, plen);
	num[plen] = '\0';
	if (parse_ll(num, 1, 65535, &v) != 0)
		return EXO_ERR_INVALID;
	out->port = (unsigned)v;
	return 0;
}

int
http_parse_url(const char *url, struct http_url *out)
{
	const char	*p, *auth, *at, *end;
	size_t		 plen;

	memset(out, 0, sizeof(*out));
	if (str_has_prefix_case(url, "https://")) {
		out->https = 1;
		out->port = 443;
		p = url + 8;
	} else if (str_has_prefix_case(url, "http://")) {
		out->port = 80;
		p = url + 7;
	} else
		return EXO_ERR_INVALID;

	end = p + strcspn(p, "/?#");
	auth = p;
	at = memchr(auth, '@', (size_t)(end - auth));
	if (at != NULL) {
		if (http_parse_userinfo(auth, (size_t)(at - auth), out) != 0)
			return EXO_ERR_INVALID;
		auth = at + 1;
	}
	if (http_parse_hostport(auth, (size_t)(end - auth), out) != 0)
		return EXO_ERR_INVALID;

	/* The path goes into the request line: no spaces or controls. */
	if (*end == '#')
		end = "";
	plen = strcspn(end, "#");
	if (plen == 0) {
		str_copy(out->path, "/", sizeof(out->path));
		return 0;
	}
	if (*end != '/' || plen >= sizeof(out->path))
		return EXO_ERR_INVALID;
	memcpy(out->path, end, plen);
	out->path[plen] = '\0';
	for (p = out->path; *p != '\0'; p++) {
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return EXO_ERR_INVALID;
	}
	return 0;
}
