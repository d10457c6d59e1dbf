/*
 * test-http.c: the HTTP response parser, URL parsing and the choice of
 * an HTTP proxy.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/http.h"
#include "../../src/plat.h"
#include "test.h"
#include "token-double.h"

/*
 * Feeds text in pieces of at most step bytes, then end of stream when
 * eof is set. Returns the parser's last result.
 */
static int
feed(const char *text, size_t len, size_t step, int eof,
    struct http_response *resp)
{
	struct http_parser	*p = http_parser_new();
	size_t			 o = 0, n;
	int			 r = 0;

	memset(resp, 0, sizeof(*resp));
	while (o < len && r == 0) {
		n = len - o < step ? len - o : step;
		r = http_parser_feed(p, text + o, n, 0, resp);
		o += n;
	}
	if (r == 0 && eof)
		r = http_parser_feed(p, "", 0, 1, resp);
	http_parser_free(p);
	return r;
}

static int
feed_str(const char *text, int eof, struct http_response *resp)
{
	return feed(text, strlen(text), strlen(text) + 1, eof, resp);
}

TEST(parser_content_length)
{
	const char		*text = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Content-Length: 7\r\n\r\n{\"a\":1}extra";
	struct http_response	 resp;

	CHECK_INT(feed_str(text, 0, &resp), 1);
	CHECK_INT(resp.status, 200);
	CHECK_STR(resp.content_type, "application/json; charset=utf-8");
	CHECK_INT(resp.retry_after, -1);
	CHECK_INT(resp.body_len, 7);
	CHECK_STR(resp.body, "{\"a\":1}");
	http_response_free(&resp);
	CHECK(resp.body == NULL);
}

TEST(parser_bare_lf_and_retry_after)
{
	const char		*text = "HTTP/1.1 429 Too Many Requests\n"
	    "retry-after:  2 \nContent-Length: 0\n\n";
	struct http_response	 resp;

	CHECK_INT(feed_str(text, 0, &resp), 1);
	CHECK_INT(resp.status, 429);
	CHECK_INT(resp.retry_after, 2);
	CHECK_INT(resp.body_len, 0);
	CHECK(resp.body != NULL);
	CHECK_STR(resp.body, "");
	http_response_free(&resp);
}

TEST(parser_retry_after_date_ignored)
{
	const char		*text = "HTTP/1.1 503 Busy\r\n"
	    "Retry-After: Fri, 04 Dec 2026 18:00:00 GMT\r\n"
	    "Content-Length: 0\r\n\r\n";
	struct http_response	 resp;

	CHECK_INT(feed_str(text, 0, &resp), 1);
	CHECK_INT(resp.retry_after, -1);
	http_response_free(&resp);
}

TEST(parser_chunked_every_split)
{
	const char		*text = "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "5;name=value\r\nhello\r\n"
	    "1\r\n \r\n"
	    "A\r\n0123456789\r\n"
	    "0\r\nTrailer-Field: x\r\n\r\n";
	struct http_response	 resp;
	size_t			 len = strlen(text), cut;
	struct http_parser	*p;
	int			 r1, r2;

	/* Two pieces, split at every byte boundary. */
	for (cut = 0; cut <= len; cut++) {
		memset(&resp, 0, sizeof(resp));
		p = http_parser_new();
		r1 = http_parser_feed(p, text, cut, 0, &resp);
		r2 = http_parser_feed(p, text + cut, len - cut, 0, &resp);
		CHECK_INT(cut == len ? r1 : r2, 1);
		if (cut < len)
			CHECK_INT(r1, 0);
		CHECK_STR(resp.body, "hello 0123456789");
		http_response_free(&resp);
		http_parser_free(p);
	}

	/* One byte at a time. */
	CHECK_INT(feed(text, len, 1, 0, &resp), 1);
	CHECK_INT(resp.body_len, 16);
	CHECK_STR(resp.body, "hello 0123456789");
	http_response_free(&resp);
}

TEST(parser_bad_chunk_sizes)
{
	static const char *const chunks[] = {
		"\r\nabc\r\n0\r\n\r\n",		/* empty size */
		"xyz\r\nabc\r\n0\r\n\r\n",	/* not hex */
		"3x\r\nabc\r\n0\r\n\r\n",		/* junk after size */
		"-3\r\nabc\r\n0\r\n\r\n",		/* sign */
		"3\r\nabcd\r\n0\r\n\r\n",	/* data longer than size */
	};
	char			 text[256];
	struct http_response	 resp;
	size_t			 i;

	for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n%s", chunks[i]);
		CHECK_INT(feed_str(text, 1, &resp), EXO_ERR_PROTO);
	}
	snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\n");
	CHECK_INT(feed_str(text, 0, &resp), EXO_ERR_TOOLONG);
	snprintf(text, sizeof(text), "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n%x\r\n", HTTP_BODY_MAX + 1);
	CHECK_INT(feed_str(text, 0, &resp), EXO_ERR_TOOLONG);
}

TEST(parser_chunk_line_limit)
{
	size_t			 cap = HTTP_CHUNK_LINE_MAX + 256, o;
	char			*text = malloc(cap);
	struct http_response	 resp;

	CHECK(text != NULL);
	if (text == NULL)
		return;
	o = (size_t)snprintf(text, cap, "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n1;");
	memset(text + o, 'x', HTTP_CHUNK_LINE_MAX);
	o += HTTP_CHUNK_LINE_MAX;
	text[o] = '\0';
	CHECK_INT(feed(text, o, 7, 0, &resp), EXO_ERR_TOOLONG);
	free(text);
}

TEST(parser_overlong_headers)
{
	size_t			 cap = HTTP_HEADER_MAX + 256, o;
	char			*text = malloc(cap);
	struct http_response	 resp;
	int			 i;

	CHECK(text != NULL);
	if (text == NULL)
		return;

	/* One long header field. */
	o = (size_t)snprintf(text, cap, "HTTP/1.1 200 OK\r\nX-Long: ");
	memset(text + o, 'a', HTTP_HEADER_MAX);
	o += HTTP_HEADER_MAX;
	CHECK_INT(feed(text, o, 100, 0, &resp), EXO_ERR_TOOLONG);

	/* Many short fields that add up past the limit. */
	o = (size_t)snprintf(text, cap, "HTTP/1.1 200 OK\r\n");
	for (i = 0; o + 20 < cap; i++)
		o += (size_t)snprintf(text + o, cap - o, "X-F%05d: 12345\r\n",
		    i);
	CHECK_INT(feed(text, o, 64, 0, &resp), EXO_ERR_TOOLONG);

	/* Just under the limit is fine. */
	o = (size_t)snprintf(text, cap, "HTTP/1.1 204 No Content\r\nX: ");
	memset(text + o, 'b', HTTP_HEADER_MAX - o - 4);
	o = HTTP_HEADER_MAX - 4;
	memcpy(text + o, "\r\n\r\n", 4);
	o += 4;
	CHECK_INT(feed(text, o, 1000, 0, &resp), 1);
	CHECK_INT(resp.status, 204);
	http_response_free(&resp);
	free(text);
}

TEST(parser_body_too_large)
{
	char			 head[128];
	char			*body = calloc(1, HTTP_BODY_MAX + 2);
	struct http_response	 resp;
	struct http_parser	*p;

	CHECK(body != NULL);
	if (body == NULL)
		return;
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n"
	    "Content-Length: %d\r\n\r\n", HTTP_BODY_MAX + 1);
	CHECK_INT(feed_str(head, 0, &resp), EXO_ERR_TOOLONG);

	/* Without a length, the limit applies while the body arrives. */
	memset(body, 'x', HTTP_BODY_MAX + 1);
	p = http_parser_new();
	memset(&resp, 0, sizeof(resp));
	CHECK_INT(http_parser_feed(p, "HTTP/1.1 502 Bad\r\n\r\n", 20, 0,
	    &resp), 0);
	CHECK_INT(http_parser_feed(p, body, HTTP_BODY_MAX, 0, &resp), 0);
	CHECK_INT(http_parser_feed(p, body, 1, 0, &resp), EXO_ERR_TOOLONG);
	http_parser_free(p);

	/* Exactly the limit is accepted. */
	p = http_parser_new();
	CHECK_INT(http_parser_feed(p, "HTTP/1.1 502 Bad\r\n\r\n", 20, 0,
	    &resp), 0);
	CHECK_INT(http_parser_feed(p, body, HTTP_BODY_MAX, 1, &resp), 1);
	CHECK_INT(resp.body_len, HTTP_BODY_MAX);
	http_response_free(&resp);
	http_parser_free(p);
	free(body);
}

TEST(parser_eof_handling)
{
	struct http_response	resp;

	/* A body without a length ends at end of stream. */
	CHECK_INT(feed_str("HTTP/1.0 502 Bad Gateway\r\n"
	    "Content-Type: text/html\r\n\r\n<html>down</html>", 1, &resp), 1);
	CHECK_INT(resp.status, 502);
	CHECK_STR(resp.body, "<html>down</html>");
	http_response_free(&resp);

	CHECK_INT(feed_str("HTTP/1.1 200 OK\r\n\r\n", 0, &resp), 0);
	CHECK_INT(feed_str("", 1, &resp), EXO_ERR_CLOSED);
	CHECK_INT(feed_str("HTTP/1.1 200", 1, &resp), EXO_ERR_PROTO);
	CHECK_INT(feed_str("HTTP/1.1 200 OK\r\nContent-Le", 1, &resp),
	    EXO_ERR_PROTO);
	CHECK_INT(feed_str("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
	    "short", 1, &resp), EXO_ERR_PROTO);
	CHECK_INT(feed_str("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
	    "\r\n\r\n5\r\nhello\r\n", 1, &resp), EXO_ERR_PROTO);
}

TEST(parser_interim_response)
{
	struct http_response	resp;

	CHECK_INT(feed_str("HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}", 0,
	    &resp), 1);
	CHECK_INT(resp.status, 400);
	CHECK_STR(resp.body, "{}");
	http_response_free(&resp);
}

TEST(parser_malformed_heads)
{
	static const char *const heads[] = {
		"HTTP/2 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n",
		"ICY 200 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
		"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
		    "Content-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX: a\x01z\r\n\r\n",
	};
	struct http_response	resp;
	size_t			i;

	for (i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		if (feed_str(heads[i], 1, &resp) != EXO_ERR_PROTO)
			printf("  case %zu: %s\n", i, heads[i]);
		CHECK_INT(feed_str(heads[i], 1, &resp), EXO_ERR_PROTO);
	}

	/* A NUL inside a header line. */
	CHECK_INT(feed("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27, 27, 1, &resp),
	    EXO_ERR_PROTO);
}

/*
 * Status lines shorter than their three digits, each in a buffer of
 * exactly its size. The sanitizer build reports any read past the end.
 */
TEST(status_line_short_buffer)
{
	static const char *const lines[] = {
		"HTTP/1.1 ", "HTTP/1.1 2", "HTTP/1.1 20", "HTTP/1.1 ~",
	};
	char	*copy;
	size_t	 i, n;
	int	 status = 0;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		n = strlen(lines[i]) + 1;
		if ((copy = malloc(n)) == NULL)
			continue;
		memcpy(copy, lines[i], n);
		CHECK_INT(http_parse_status_line(copy, &status),
		    EXO_ERR_PROTO);
		free(copy);
	}
	CHECK_INT(http_parse_status_line("HTTP/1.1 200", &status), 0);
	CHECK_INT(status, 200);
}

/* xorshift32: a fixed sequence, so a failure can be replayed. */
static unsigned
next_random(unsigned *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

TEST(parser_mutated_input)
{
	static const char *const seeds[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
		"HTTP/1.0 502 Bad\r\nContent-Type: text/html\r\n\r\n<b>",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 X\r\n"
		    "Retry-After: 2\r\nContent-Length: 0\r\n\r\n",
	};
	struct http_response	 resp;
	struct http_parser	*p;
	char			 text[256];
	unsigned		 rnd = 12345;
	size_t			 len, o, n;
	int			 i, k, r, bad = 0;

	for (i = 0; i < 20000; i++) {
		len = str_copy(text, seeds[i % 4], sizeof(text));
		for (k = 0; k < 1 + (int)(next_random(&rnd) % 4); k++)
			text[next_random(&rnd) % len] =
			    (char)(next_random(&rnd) & 0xff);
		p = http_parser_new();
		memset(&resp, 0, sizeof(resp));
		r = 0;
		for (o = 0; o < len && r == 0; o += n) {
			n = 1 + next_random(&rnd) % 16;
			if (n > len - o)
				n = len - o;
			r = http_parser_feed(p, text + o, n, 0, &resp);
		}
		if (r == 0)
			r = http_parser_feed(p, "", 0, 1, &resp);
		if (r == 1 && (resp.body == NULL ||
		    resp.body_len > HTTP_BODY_MAX ||
		    resp.status < 100 || resp.status > 599))
			bad++;
		if (r != 1 && r != EXO_ERR_PROTO && r != EXO_ERR_TOOLONG &&
		    r != EXO_ERR_CLOSED)
			bad++;
		http_response_free(&resp);
		http_parser_free(p);
	}
	CHECK_INT(bad, 0);
}

TEST(url_parse_forms)
{
	struct http_url	u;

	CHECK_INT(http_parse_url("https://login.microsoftonline.com/common/"
	    "oauth2/v2.0/token", &u), 0);
	CHECK_STR(u.host, "login.microsoftonline.com");
	CHECK_INT(u.port, 443);
	CHECK_INT(u.https, 1);
	CHECK_STR(u.path, "/common/oauth2/v2.0/token");
	CHECK_STR(u.user, "");

	CHECK_INT(http_parse_url("HTTPS://127.0.0.1:8443", &u), 0);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_INT(u.port, 8443);
	CHECK_STR(u.path, "/");

	CHECK_INT(http_parse_url("https://[::1]:9/a?b=c#frag", &u), 0);
	CHECK_STR(u.host, "::1");
	CHECK_INT(u.port, 9);
	CHECK_STR(u.path, "/a?b=c");

	CHECK_INT(http_parse_url("http://us%40r:p%3As@proxy.lan:3128", &u),
	    0);
	CHECK_INT(u.https, 0);
	CHECK_STR(u.host, "proxy.lan");
	CHECK_INT(u.port, 3128);
	CHECK_STR(u.user, "us@r");
	CHECK_STR(u.password, "p:s");

	CHECK_INT(http_parse_url("http://proxy.lan", &u), 0);
	CHECK_INT(u.port, 80);
}

TEST(url_parse_rejects)
{
	static const char *const urls[] = {
		"ftp://host/", "https://", "https:///path", "https://ho st/",
		"https://host:0/", "https://host:65536/", "https://host:/",
		"https://host:12a/", "https://host\r\nX: y/",
		"https://host/pa th", "https://host/a\x01", "https://[::1/",
		"https://[::1]x/", "http://u:p%00@host/", "http://u:p%zz@h/",
		"https://host?query",
	};
	struct http_url	u;
	size_t		i;

	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		if (http_parse_url(urls[i], &u) != EXO_ERR_INVALID)
			printf("  case %zu: %s\n", i, urls[i]);
		CHECK_INT(http_parse_url(urls[i], &u), EXO_ERR_INVALID);
	}
}

TEST(proxy_choice_from_environment)
{
	char	out[512];

	unsetenv("HTTPS_PROXY");
	unsetenv("https_proxy");
	unsetenv("NO_PROXY");
	unsetenv("no_proxy");
	http_choose_proxy("", "login.microsoftonline.com", out);
	CHECK_STR(out, "");

	http_choose_proxy("http://set:8080", "login.microsoftonline.com", out);
	CHECK_STR(out, "http://set:8080");

	setenv("HTTPS_PROXY", "proxy.lan:3128", 1);
	http_choose_proxy("", "login.microsoftonline.com", out);
	CHECK_STR(out, "http://proxy.lan:3128");

	setenv("NO_PROXY", "localhost, .microsoftonline.com", 1);
	http_choose_proxy("", "login.microsoftonline.com", out);
	CHECK_STR(out, "");
	http_choose_proxy("", "microsoftonline.com", out);
	CHECK_STR(out, "");
	http_choose_proxy("", "notmicrosoftonline.com", out);
	CHECK_STR(out, "http://proxy.lan:3128");

	setenv("NO_PROXY", "LOGIN.microsoftonline.com:443", 1);
	http_choose_proxy("", "login.microsoftonline.com", out);
	CHECK_STR(out, "");

	setenv("NO_PROXY", "*", 1);
	http_choose_proxy("", "login.microsoftonline.com", out);
	CHECK_STR(out, "");

	/* The setting wins over NO_PROXY. */
	http_choose_proxy("http://set:8080", "login.microsoftonline.com", out);
	CHECK_STR(out, "http://set:8080");

	unsetenv("HTTPS_PROXY");
	unsetenv("NO_PROXY");
	setenv("https_proxy", "http://lower:1", 1);
	http_choose_proxy("", "login.microsoftonline.com", out);
	CHECK_STR(out, "http://lower:1");
	unsetenv("https_proxy");
}

/* ---- CONNECT through an HTTP proxy double ---- */

struct proxy_double {
	plat_socket	 listener;
	unsigned	 port;
	unsigned	 target_port;
	int		 status;	/* reply to CONNECT */
	char		 head[2048];	/* the CONNECT request as received */
	volatile int	 done;
};

/* Reads bytes until the empty line that ends the request head. */
static int
proxy_read_head(plat_socket s, char *head, size_t cap)
{
	size_t	len = 0;
	long	n;

	while (len + 1 < cap) {
		if ((n = plat_recv(s, head + len, 1, 5000)) <= 0)
			return -1;
		len++;
		head[len] = '\0';
		if (len >= 4 && memcmp(head + len - 4, "\r\n\r\n", 4) == 0)
			return 0;
	}
	return -1;
}

/* Copies bytes both ways until one side closes. */
static void
proxy_relay(plat_socket a, plat_socket b)
{
	char	buf[4096];
	long	n;
	int	idle = 0;

	while (idle < 100) {
		idle++;
		if ((n = plat_recv(a, buf, sizeof(buf), 20)) > 0) {
			plat_send_all(b, buf, (size_t)n, 5000);
			idle = 0;
		} else if (n == 0 || (n < 0 && n != EXO_ERR_TIMEOUT))
			return;
		if ((n = plat_recv(b, buf, sizeof(buf), 20)) > 0) {
			plat_send_all(a, buf, (size_t)n, 5000);
			idle = 0;
		} else if (n == 0 || (n < 0 && n != EXO_ERR_TIMEOUT))
			return;
	}
}

static void
proxy_thread(void *arg)
{
	struct proxy_double	*p = arg;
	plat_socket		 c, up;
	char			 peer[PLAT_ADDR_MAX], reply[256];

	if (plat_accept(p->listener, 10000, &c, peer) != 0)
		goto out;
	if (proxy_read_head(c, p->head, sizeof(p->head)) != 0) {
		plat_socket_close(c);
		goto out;
	}
	if (p->status != 200) {
		snprintf(reply, sizeof(reply), "HTTP/1.1 %d Refused\r\n"
		    "Content-Type: text/html\r\nContent-Length: 13\r\n\r\n"
		    "<html></html>", p->status);
		plat_send_all(c, reply, strlen(reply), 5000);
		plat_socket_close(c);
		goto out;
	}
	if (plat_connect("127.0.0.1", p->target_port, 5000, &up, NULL) != 0) {
		plat_socket_close(c);
		goto out;
	}
	snprintf(reply, sizeof(reply), "HTTP/1.1 200 Connection "
	    "established\r\n\r\n");
	plat_send_all(c, reply, strlen(reply), 5000);
	proxy_relay(c, up);
	plat_socket_close(up);
	plat_socket_close(c);
out:
	plat_socket_close(p->listener);
	p->done = 1;
}

static int
proxy_start(struct proxy_double *p, int status, unsigned target_port)
{
	memset(p, 0, sizeof(*p));
	p->status = status;
	p->target_port = target_port;
	if (plat_listen("127.0.0.1", 0, &p->listener, NULL) != 0)
		return -1;
	p->port = (unsigned)plat_socket_port(p->listener);
	return plat_thread_start(proxy_thread, p, 0);
}

static void
proxy_wait(struct proxy_double *p)
{
	int	i;

	for (i = 0; i < 200 && !p->done; i++)
		plat_sleep_ms(50);
}

/* Sets up a client for the double and the URL of its token endpoint. */
static void
proxy_client(struct token_double *td, const struct proxy_double *p,
    const char *userinfo, struct http_client *c, char *url, size_t cap)
{
	memset(c, 0, sizeof(*c));
	c->trust = td_trust(td);
	c->connect_timeout_ms = 5000;
	c->read_timeout_ms = 10000;
	snprintf(c->proxy, sizeof(c->proxy), "http://%s127.0.0.1:%u",
	    userinfo, p->port);
	snprintf(url, cap, "https://127.0.0.1:%u/common/oauth2/v2.0/token",
	    td->port);
}

TEST(proxy_tunnel_carries_tls)
{
	struct settings		 s;
	struct token_double	*td;
	struct proxy_double	 p;
	struct http_client	 c;
	struct http_response	 resp;
	struct exo_error	 e;
	char			 url[256], want[128], req[512];

	config_defaults(&s);
	if ((td = td_start(&s)) == NULL) {
		CHECK(0);
		return;
	}
	td_push(td, 200, "{\"access_token\":\"AT\"}", 0);
	CHECK_INT(proxy_start(&p, 200, td->port), 0);
	proxy_client(td, &p, "us%40r:p%3As@", &c, url, sizeof(url));
	CHECK_INT(http_post_form(&c, url, "a=1", &resp, &e), 0);
	CHECK_INT(resp.status, 200);
	CHECK_STR(resp.body, "{\"access_token\":\"AT\"}");
	http_response_free(&resp);
	proxy_wait(&p);

	snprintf(want, sizeof(want), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%u\r\n", td->port, td->port);
	CHECK(strncmp(p.head, want, strlen(want)) == 0);
	/* base64 of "us@r:p:s" */
	CHECK(strstr(p.head, "\r\nProxy-Authorization: Basic "
	    "dXNAcjpwOnM=\r\n") != NULL);
	td_request(td, 0, req, sizeof(req));
	CHECK_STR(req, "POST /common/oauth2/v2.0/token a=1");

	/* Without user information, no Proxy-Authorization. */
	td_push(td, 200, "{}", 0);
	CHECK_INT(proxy_start(&p, 200, td->port), 0);
	proxy_client(td, &p, "", &c, url, sizeof(url));
	CHECK_INT(http_post_form(&c, url, "a=2", &resp, &e), 0);
	http_response_free(&resp);
	proxy_wait(&p);
	CHECK(strstr(p.head, "Proxy-Authorization") == NULL);
	td_stop(td);
}

TEST(proxy_refusals)
{
	struct settings		 s;
	struct token_double	*td;
	struct proxy_double	 p;
	struct http_client	 c;
	struct http_response	 resp;
	struct exo_error	 e;
	char			 url[256], want[200];

	config_defaults(&s);
	if ((td = td_start(&s)) == NULL) {
		CHECK(0);
		return;
	}
	CHECK_INT(proxy_start(&p, 407, td->port), 0);
	proxy_client(td, &p, "user:hunter2@", &c, url, sizeof(url));
	CHECK_INT(http_post_form(&c, url, "a=1", &resp, &e),
	    EXO_ERR_UPSTREAM);
	snprintf(want, sizeof(want), "HTTP proxy 127.0.0.1:%u requires "
	    "authentication; set the proxy user and password", p.port);
	CHECK_STR(e.msg, want);
	CHECK(strstr(e.msg, "hunter2") == NULL);
	proxy_wait(&p);

	CHECK_INT(proxy_start(&p, 502, td->port), 0);
	proxy_client(td, &p, "", &c, url, sizeof(url));
	CHECK_INT(http_post_form(&c, url, "a=1", &resp, &e),
	    EXO_ERR_UPSTREAM);
	CHECK(strstr(e.msg, "502") != NULL);
	proxy_wait(&p);
	CHECK_INT(td_requests(td), 0);

	/* An https:// proxy URL or plain http:// target is refused. */
	str_copy(c.proxy, "https://127.0.0.1:1", sizeof(c.proxy));
	CHECK_INT(http_post_form(&c, url, "a=1", &resp, &e), EXO_ERR_CONFIG);
	c.proxy[0] = '\0';
	CHECK_INT(http_post_form(&c, "http://127.0.0.1:1/token", "a=1", &resp,
	    &e), EXO_ERR_INVALID);
	td_stop(td);
}

TEST(client_read_timeout)
{
	struct settings		 s;
	struct token_double	*td;
	struct td_reply		*reply = calloc(1, sizeof(*reply));
	struct http_client	 c;
	struct http_response	 resp;
	struct exo_error	 e;
	char			 url[256];
	int64_t			 start;

	config_defaults(&s);
	if ((td = td_start(&s)) == NULL || reply == NULL) {
		CHECK(0);
		goto out;
	}
	reply->status = 200;
	reply->delay_ms = 1500;
	td_push_reply(td, reply);
	memset(&c, 0, sizeof(c));
	c.trust = td_trust(td);
	c.connect_timeout_ms = 2000;
	c.read_timeout_ms = 500;
	snprintf(url, sizeof(url), "https://127.0.0.1:%u/token", td->port);
	start = plat_now_ms();
	CHECK_INT(http_post_form(&c, url, "a=1", &resp, &e), EXO_ERR_TIMEOUT);
	CHECK(plat_now_ms() - start < 1400);
	CHECK(strstr(e.msg, "127.0.0.1") != NULL);
out:
	free(reply);
	td_stop(td);
}

/*
 * One deadline covers the whole request: a proxy that accepts the
 * connection and never answers CONNECT ends it after read_timeout_ms,
 * not after a further connect timeout.
 */
TEST(client_deadline_includes_tunnel)
{
	struct http_client	 c;
	struct http_response	 resp;
	struct exo_error	 e;
	plat_socket		 silent;
	int64_t			 start;

	if (plat_listen("127.0.0.1", 0, &silent, NULL) != 0) {
		CHECK(0);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.connect_timeout_ms = 3000;
	c.read_timeout_ms = 600;
	snprintf(c.proxy, sizeof(c.proxy), "http://127.0.0.1:%d",
	    plat_socket_port(silent));
	start = plat_now_ms();
	CHECK_INT(http_post_form(&c, "https://127.0.0.1:1/token", "a=1", &resp,
	    &e), EXO_ERR_TIMEOUT);
	CHECK(plat_now_ms() - start < 1500);
	CHECK(strstr(e.msg, "CONNECT") != NULL);
	plat_socket_close(silent);
}

TEST(proxy_setting_checked)
{
	struct exo_error	e;

	CHECK_INT(http_proxy_validate("", &e), 0);
	CHECK_INT(http_proxy_validate("http://127.0.0.1:3128", &e), 0);
	CHECK_INT(http_proxy_validate("http://u:p%40ss@proxy.example:8080/",
	    &e), 0);
	CHECK_INT(http_proxy_validate("socks5://127.0.0.1:1", &e),
	    EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "http://") != NULL);
	CHECK_INT(http_proxy_validate("https://127.0.0.1:1", &e),
	    EXO_ERR_CONFIG);
	CHECK_INT(http_proxy_validate("127.0.0.1:3128", &e), EXO_ERR_CONFIG);
	CHECK_INT(http_proxy_validate("http://proxy:8080/path", &e),
	    EXO_ERR_CONFIG);
	CHECK_INT(http_proxy_validate("http://u:hunter2@proxy:x", &e),
	    EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "hunter2") == NULL);
}

int
main(void)
{
	plat_init();
	RUN(parser_content_length);
	RUN(parser_bare_lf_and_retry_after);
	RUN(parser_retry_after_date_ignored);
	RUN(parser_chunked_every_split);
	RUN(parser_bad_chunk_sizes);
	RUN(parser_chunk_line_limit);
	RUN(parser_overlong_headers);
	RUN(parser_body_too_large);
	RUN(parser_eof_handling);
	RUN(parser_interim_response);
	RUN(parser_malformed_heads);
	RUN(status_line_short_buffer);
	RUN(parser_mutated_input);
	RUN(url_parse_forms);
	RUN(url_parse_rejects);
	RUN(proxy_choice_from_environment);
	RUN(proxy_tunnel_carries_tls);
	RUN(proxy_refusals);
	RUN(client_read_timeout);
	RUN(client_deadline_includes_tunnel);
	RUN(proxy_setting_checked);
	return TEST_EXIT();
}
