/*
 * http-client.c: one HTTPS POST per connection to the identity platform,
 * directly or through a CONNECT tunnel of an HTTP proxy (RFC 9110 9.3.6).
 * Requests never travel as plain HTTP, not even to the proxy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "plat.h"
#include "stream.h"
#include "util.h"

/* Size of each read from the connection. */
#define HTTP_READ_CHUNK 4096

/* Maximum length of one NO_PROXY entry, such as ".example.com". */
#define HTTP_NO_PROXY_ENTRY_MAX 256

/*
 * Returns 1 when the NO_PROXY entry (without a port) matches host: the
 * same name, or host ends in "." entry, ignoring ASCII case.
 */
static int
http_no_proxy_match(const char *entry, const char *host)
{
	size_t	elen, hlen = strlen(host);

	if (*entry == '.')
		entry++;
	elen = strlen(entry);
	if (elen == 0 || elen > hlen)
		return 0;
	if (str_casecmp(host + hlen - elen, entry) != 0)
		return 0;
	return elen == hlen || host[hlen - elen - 1] == '.';
}

/* Returns 1 when the comma-separated list bypasses the proxy for host. */
static int
http_no_proxy(const char *list, const char *host)
{
	char		 entry[HTTP_NO_PROXY_ENTRY_MAX];
	const char	*p = list;
	size_t		 n;
	char		*colon, *e;

	while (*p != '\0') {
		n = strcspn(p, ",");
		if (n < sizeof(entry)) {
			memcpy(entry, p, n);
			entry[n] = '\0';
			e = entry + strspn(entry, " \t");
			str_trim_end(e, strlen(e));
			if ((colon = strchr(e, ':')) != NULL)
				*colon = '\0';
			if (strcmp(e, "*") == 0 || http_no_proxy_match(e, host))
				return 1;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

void
http_choose_proxy(const char *setting, const char *host, char out[512])
{
	const char	*env, *no;

	out[0] = '\0';
	if (setting != NULL && *setting != '\0') {
		str_copy(out, setting, 512);
		return;
	}
	if ((env = getenv("HTTPS_PROXY")) == NULL || *env == '\0')
		env = getenv("https_proxy");
	if (env == NULL || *env == '\0') {
		/* The system settings: Internet Options on Windows. */
		plat_system_proxy(host, out);
		return;
	}
	if ((no = getenv("NO_PROXY")) == NULL || *no == '\0')
		no = getenv("no_proxy");
	if (no != NULL && http_no_proxy(no, host))
		return;

	/* curl and most tools read "host:port" as an HTTP proxy. */
	if (strstr(env, "://") == NULL)
		snprintf(out, 512, "http://%s", env);
	else
		str_copy(out, env, 512);
}

/* Writes "host:port" with brackets around an IPv6 address. */
static void
http_authority(const struct http_url *u, char *buf, size_t cap)
{
	if (strchr(u->host, ':') != NULL)
		snprintf(buf, cap, "[%s]:%u", u->host, u->port);
	else
		snprintf(buf, cap, "%s:%u", u->host, u->port);
}

/* Reads the proxy's reply to CONNECT up to the empty line. */
static int
http_read_connect_reply(struct stream *s, const char *proxy_name,
    int *status, struct exo_error *e)
{
	char	line[HTTP_HEADER_MAX];
	size_t	len, total = 0;
	int	r, first = 1;

	for (;;) {
		r = stream_read_line(s, line, sizeof(line), &len);
		if (r == EXO_ERR_TOOLONG || (total += len) > HTTP_HEADER_MAX)
			return err_set(e, EXO_ERR_TOOLONG, "HTTP proxy %s sent "
			    "a reply header over %d bytes", proxy_name,
			    HTTP_HEADER_MAX);
		if (r == EXO_ERR_TIMEOUT)
			return err_set(e, r, "HTTP proxy %s did not answer "
			    "CONNECT in time", proxy_name);
		if (r != 0 || len == 0 || line[len - 1] != '\n')
			return err_set(e, r != 0 ? r : EXO_ERR_PROTO,
			    "HTTP proxy %s closed the connection during "
			    "CONNECT", proxy_name);
		len = str_trim_end(line, len);
		if (first) {
			if (http_parse_status_line(line, status) != 0)
				return err_set(e, EXO_ERR_PROTO, "HTTP proxy "
				    "%s sent an invalid status line",
				    proxy_name);
			first = 0;
		} else if (len == 0)
			return 0;
	}
}

/*
 * Opens a tunnel to target through the proxy on s. The password goes
 * only into the Proxy-Authorization field, never into a message.
 */
static int
http_connect_tunnel(struct stream *s, const struct http_url *proxy,
    const char *proxy_name, const char *target, struct exo_error *e)
{
	struct buf	 req, cred;
	char		*b64 = NULL;
	int		 r, status = 0;

	buf_init(&req);
	buf_init(&cred);
	r = buf_printf(&req, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n", target,
	    target);
	if (r == 0 && proxy->user[0] != '\0') {
		r = buf_printf(&cred, "%s:%s", proxy->user, proxy->password);
		if (r == 0 && (b64 = malloc(base64_encoded_len(cred.len) +
		    1)) == NULL)
			r = EXO_ERR_NOMEM;
		if (r == 0) {
			base64_encode(cred.data, cred.len, b64);
			r = buf_printf(&req, "Proxy-Authorization: Basic "
			    "%s\r\n", b64);
			plat_wipe(b64, strlen(b64));
		}
	}
	if (r == 0)
		r = buf_puts(&req, "\r\n");
	if (r != 0) {
		err_set(e, r, "out of memory");
		goto out;
	}
	if ((r = stream_write(s, req.data, req.len)) != 0 ||
	    (r = stream_flush(s)) != 0) {
		err_set(e, r, "sending CONNECT to HTTP proxy %s failed: %s",
		    proxy_name, exo_strerror(r));
		goto out;
	}
	if ((r = http_read_connect_reply(s, proxy_name, &status, e)) != 0)
		goto out;

	if (status == 407)
		r = err_set(e, EXO_ERR_UPSTREAM, "HTTP proxy %s requires "
		    "authentication; set the proxy user and password",
		    proxy_name);
	else if (status < 200 || status > 299)
		r = err_set(e, EXO_ERR_UPSTREAM, "HTTP proxy %s refused the "
		    "tunnel to %s with status %d", proxy_name, target, status);
out:
	free(b64);
	buf_free(&cred);
	buf_free(&req);
	return r;
}

/* Milliseconds left until deadline, at most cap and at least 1. */
static int
http_left_ms(int64_t deadline, int cap)
{
	int64_t	left = deadline - plat_now_ms();

	if (left > cap)
		left = cap;
	return left < 1 ? 1 : (int)left;
}

/* Connects to the target, through the proxy when one is set. */
static int
http_open(const struct http_client *c, const struct http_url *u,
    int64_t deadline, struct stream **out, struct exo_error *e)
{
	struct http_url	 proxy;
	char		 target[300], proxy_name[300];
	int		 r;

	*out = NULL;
	if (c->proxy[0] == '\0')
		return stream_connect(u->host, u->port,
		    http_left_ms(deadline, c->connect_timeout_ms), out, e);

	/* Only an http:// proxy: TLS to the proxy itself is not offered. */
	if (http_parse_url(c->proxy, &proxy) != 0 || proxy.https) {
		memset(&proxy, 0, sizeof(proxy));
		return err_set(e, EXO_ERR_CONFIG, "the HTTP proxy setting is "
		    "not a valid http://[user:password@]host:port URL");
	}
	http_authority(&proxy, proxy_name, sizeof(proxy_name));
	http_authority(u, target, sizeof(target));
	r = stream_connect(proxy.host, proxy.port,
	    http_left_ms(deadline, c->connect_timeout_ms), out, e);
	if (r == 0) {
		stream_set_timeout(*out, http_left_ms(deadline,
		    c->read_timeout_ms));
		r = http_connect_tunnel(*out, &proxy, proxy_name, target, e);
		if (r != 0) {
			stream_close(*out);
			*out = NULL;
		}
	}
	plat_wipe(&proxy, sizeof(proxy));
	return r;
}

static int
http_send_request(struct stream *s, const struct http_url *u,
    const char *body, struct exo_error *e)
{
	struct buf	req;
	char		host[300];
	int		r;

	if (u->port == 443)
		str_copy(host, u->host, sizeof(host));
	else
		http_authority(u, host, sizeof(host));
	buf_init(&req);
	r = buf_printf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\n"
	    "User-Agent: exoconnect\r\nAccept: application/json\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", u->path,
	    host, strlen(body));
	if (r == 0)
		r = buf_puts(&req, body);
	if (r == 0)
		r = stream_write(s, req.data, req.len);
	if (r == 0)
		r = stream_flush(s);
	buf_free(&req);
	if (r != 0)
		return err_set(e, r, "sending the request to %s failed: %s",
		    u->host, exo_strerror(r));
	return 0;
}

static int
http_read_response(struct stream *s, const struct http_url *u,
    int64_t deadline, struct http_response *resp, struct exo_error *e)
{
	struct http_parser	*p;
	char			 data[HTTP_READ_CHUNK];
	int64_t			 left;
	long			 n;
	int			 r = 0;

	if ((p = http_parser_new()) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	while (r == 0) {
		if ((left = deadline - plat_now_ms()) <= 0) {
			r = EXO_ERR_TIMEOUT;
			break;
		}
		stream_set_timeout(s, (int)left);
		if ((n = stream_read(s, data, sizeof(data))) < 0) {
			r = (int)n;
			break;
		}
		r = http_parser_feed(p, data, (size_t)n, n == 0, resp);
	}
	plat_wipe(data, sizeof(data));
	http_parser_free(p);
	if (r == 1)
		return 0;

	if (r == EXO_ERR_TIMEOUT)
		return err_set(e, r, "%s did not send a complete response in "
		    "time", u->host);
	if (r == EXO_ERR_TOOLONG)
		return err_set(e, r, "the response from %s is over a limit "
		    "(%d header bytes, %d body bytes)", u->host,
		    HTTP_HEADER_MAX, HTTP_BODY_MAX);
	if (r == EXO_ERR_CLOSED || r == EXO_ERR_PROTO)
		return err_set(e, EXO_ERR_PROTO, "%s sent an invalid or "
		    "incomplete HTTP response", u->host);
	return err_set(e, r, "reading the response from %s failed: %s",
	    u->host, exo_strerror(r));
}

int
http_post_form(const struct http_client *c, const char *url,
    const char *body, struct http_response *resp, struct exo_error *e)
{
	struct http_url	 u;
	struct stream	*s = NULL;
	int64_t		 deadline, left;
	int		 r;

	memset(resp, 0, sizeof(*resp));
	resp->retry_after = -1;
	if (http_parse_url(url, &u) != 0 || !u.https || u.user[0] != '\0')
		return err_set(e, EXO_ERR_INVALID, "invalid token service URL "
		    "\"%s\": it must be https://host[:port]/path", url);

	/* One deadline for everything, so a slow connection cannot add to
	 * the time the device waits. */
	deadline = plat_now_ms() + c->read_timeout_ms;
	if ((r = http_open(c, &u, deadline, &s, e)) != 0)
		goto out;
	if ((left = deadline - plat_now_ms()) <= 0) {
		r = err_set(e, EXO_ERR_TIMEOUT, "connecting to %s took longer "
		    "than %d s", u.host, c->read_timeout_ms / 1000);
		goto out;
	}
	stream_set_timeout(s, (int)left);
	if ((r = stream_start_tls_client(s, u.host, c->trust, e)) != 0)
		goto out;
	if ((r = http_send_request(s, &u, body, e)) != 0)
		goto out;
	r = http_read_response(s, &u, deadline, resp, e);
out:
	stream_close(s);
	return r;
}

int
http_proxy_validate(const char *setting, struct exo_error *e)
{
	struct http_url	u;
	int		r = 0;

	if (setting[0] == '\0')
		return 0;
	if (http_parse_url(setting, &u) != 0)
		r = err_set(e, EXO_ERR_CONFIG, "the proxy is not a valid "
		    "http://[user:password@]host:port URL");
	else if (u.https)
		r = err_set(e, EXO_ERR_CONFIG, "the proxy must start with "
		    "http://: the tunnel to the proxy is not encrypted, and "
		    "https:// proxies are not supported");
	else if (strcmp(u.path, "/") != 0)
		r = err_set(e, EXO_ERR_CONFIG, "the proxy URL must end after "
		    "host:port, without a path");
	plat_wipe(&u, sizeof(u));
	return r;
}
