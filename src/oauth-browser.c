/*
 * oauth-browser.c: the authorization code grant with PKCE (RFC 7636, S256)
 * and a loopback redirect (RFC 8252 7.3), for an admin with a browser on
 * the same computer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "i18n.h"
#include "oauth.h"
#include "plat.h"
#include "stream.h"
#include "util.h"

#define OAUTH_VERIFIER_BYTES 32		/* 43 characters of base64url */
#define OAUTH_STATE_BYTES 16
#define OAUTH_REDIRECT_TIMEOUT_MS 5000	/* per browser connection */
#define OAUTH_REDIRECT_LINE_MAX 8192	/* request line or header field */
#define OAUTH_REDIRECT_HEADERS_MAX 100	/* header fields per request */
#define OAUTH_PARAM_MAX 4096		/* one decoded query value */

struct oauth_redirect {
	char	code[OAUTH_PARAM_MAX];
	char	state[128];
	char	error[64];
};

/* Encodes n bytes as base64url without padding (RFC 7636 appendix A). */
static void
oauth_base64url(const void *data, size_t n, char *out)
{
	char	*p;

	base64_encode(data, n, out);
	for (p = out; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=') {
			*p = '\0';
			break;
		}
	}
}

/* Makes the code verifier, its S256 challenge and the state. */
static int
oauth_pkce(char verifier[64], char challenge[64], char state[64])
{
	unsigned char		raw[OAUTH_VERIFIER_BYTES];
	unsigned char		hash[br_sha256_SIZE];
	br_sha256_context	sha;

	if (plat_random(raw, sizeof(raw)) != 0)
		return EXO_ERR_IO;
	oauth_base64url(raw, sizeof(raw), verifier);
	br_sha256_init(&sha);
	br_sha256_update(&sha, verifier, strlen(verifier));
	br_sha256_out(&sha, hash);
	oauth_base64url(hash, sizeof(hash), challenge);
	if (plat_random(raw, OAUTH_STATE_BYTES) != 0)
		return EXO_ERR_IO;
	oauth_base64url(raw, OAUTH_STATE_BYTES, state);
	plat_wipe(raw, sizeof(raw));
	return 0;
}

static int
oauth_authorize_url(const struct oauth_client *c, const char *redirect,
    const char *challenge, const char *state, struct buf *url)
{
	char	base[CONFIG_TEXT_MAX + CONFIG_HOST_MAX + 64];
	char	scope[CONFIG_TEXT_MAX * 2 + 128];
	struct buf q;
	int	r;

	if (config_oauth_url(c->settings, "authorize", base,
	    sizeof(base)) != 0)
		return EXO_ERR_CONFIG;
	oauth_scope(c->settings, scope, sizeof(scope));
	buf_init(&q);
	r = oauth_form_add(&q, "client_id", c->settings->microsoft.client_id);
	if (r == 0)
		r = oauth_form_add(&q, "response_type", "code");
	if (r == 0)
		r = oauth_form_add(&q, "redirect_uri", redirect);
	if (r == 0)
		r = oauth_form_add(&q, "response_mode", "query");
	if (r == 0)
		r = oauth_form_add(&q, "scope", scope);
	if (r == 0)
		r = oauth_form_add(&q, "state", state);
	if (r == 0)
		r = oauth_form_add(&q, "code_challenge", challenge);
	if (r == 0)
		r = oauth_form_add(&q, "code_challenge_method", "S256");
	if (r == 0)
		r = oauth_form_add(&q, "prompt", "select_account");
	if (r == 0)
		r = buf_printf(url, "%s?%s", base, q.data);
	buf_free(&q);
	return r;
}

static int
oauth_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a query value ("+" is a space, %XX a byte) into out. */
static int
oauth_query_decode(const char *s, size_t len, char *out, size_t cap)
{
	size_t	i, o = 0;
	int	hi, lo;

	for (i = 0; i < len; i++) {
		if (o + 1 >= cap)
			return EXO_ERR_TOOLONG;
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] != '%')
			out[o++] = s[i];
		else {
			if (i + 2 >= len || (hi = oauth_hex(s[i + 1])) < 0 ||
			    (lo = oauth_hex(s[i + 2])) < 0 || (hi | lo) == 0)
				return EXO_ERR_INVALID;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		}
	}
	out[o] = '\0';
	return 0;
}

/* Parses "code=..&state=..&error=.." into rd; unknown names are ignored. */
static int
oauth_parse_query(const char *q, struct oauth_redirect *rd)
{
	const char	*eq;
	size_t		 n, nlen;
	int		 r = 0;

	memset(rd, 0, sizeof(*rd));
	while (*q != '\0' && r == 0) {
		n = strcspn(q, "&");
		eq = memchr(q, '=', n);
		nlen = eq != NULL ? (size_t)(eq - q) : n;
		if (eq != NULL && nlen == 4 && strncmp(q, "code", 4) == 0)
			r = oauth_query_decode(eq + 1, n - nlen - 1, rd->code,
			    sizeof(rd->code));
		else if (eq != NULL && nlen == 5 && strncmp(q, "state", 5) == 0)
			r = oauth_query_decode(eq + 1, n - nlen - 1, rd->state,
			    sizeof(rd->state));
		else if (eq != NULL && nlen == 5 && strncmp(q, "error", 5) == 0)
			r = oauth_query_decode(eq + 1, n - nlen - 1, rd->error,
			    sizeof(rd->error));
		q += n;
		if (*q == '&')
			q++;
	}
	return r;
}

/*
 * Reads "GET /?query HTTP/1.1" and skips the header fields. Returns 0
 * with the target in target, or an error for a request to drop.
 */
static int
oauth_read_request(struct stream *s, char *target, size_t cap)
{
	char	line[OAUTH_REDIRECT_LINE_MAX];
	char	*sp;
	size_t	len;
	int	r, n;

	r = stream_read_line(s, line, sizeof(line), &len);
	if (r != 0)
		return r;
	len = str_trim_end(line, len);
	if (memchr(line, '\0', len) != NULL || strncmp(line, "GET ", 4) != 0)
		return EXO_ERR_PROTO;
	if ((sp = strchr(line + 4, ' ')) == NULL ||
	    strncmp(sp, " HTTP/1.", 8) != 0)
		return EXO_ERR_PROTO;
	*sp = '\0';
	if (str_copy(target, line + 4, cap) >= cap)
		return EXO_ERR_TOOLONG;

	for (n = 0; n < OAUTH_REDIRECT_HEADERS_MAX; n++) {
		if ((r = stream_read_line(s, line, sizeof(line), &len)) != 0)
			return r;
		if (str_trim_end(line, len) == 0)
			return 0;
	}
	return EXO_ERR_TOOLONG;
}

/* Writes text with &, <, >, " and ' escaped. */
static void
oauth_html_escape(struct buf *b, const char *text)
{
	for (; *text != '\0'; text++) {
		switch (*text) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		default: buf_append(b, text, 1); break;
		}
	}
}

/* Sends a small HTML page that tells the admin how the sign-in ended. */
static void
oauth_reply(struct stream *s, int status, const char *title,
    const char *detail)
{
	struct buf	page;

	buf_init(&page);
	buf_puts(&page, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	    "<title>exoconnect</title></head><body><h1>");
	oauth_html_escape(&page, title);
	buf_puts(&page, "</h1><p>");
	oauth_html_escape(&page, detail);
	buf_puts(&page, "</p></body></html>\n");
	stream_printf(s, "HTTP/1.1 %d %s\r\nContent-Type: text/html; "
	    "charset=utf-8\r\nContent-Length: %zu\r\nCache-Control: no-store"
	    "\r\nConnection: close\r\n\r\n", status, status == 200 ? "OK" :
	    status == 404 ? "Not Found" : "Bad Request", page.len);
	stream_write(s, page.data, page.len);
	stream_flush(s);
	buf_free(&page);
}

/*
 * Serves one browser connection. Returns 1 when the redirect carried a
 * code (in rd) or an error that ends the sign-in, 0 to keep waiting.
 */
static int
oauth_serve(plat_socket sock, const char *state, struct oauth_redirect *rd)
{
	struct stream	*s;
	char		 target[OAUTH_REDIRECT_LINE_MAX];
	const char	*query;
	int		 done = 0;

	if ((s = stream_new(sock, OAUTH_REDIRECT_TIMEOUT_MS)) == NULL) {
		plat_socket_close(sock);
		return 0;
	}
	if (oauth_read_request(s, target, sizeof(target)) != 0)
		goto out;

	/* The redirect URI is "/", so other paths (a favicon) are not it. */
	if (strcmp(target, "/") != 0 && strncmp(target, "/?", 2) != 0) {
		oauth_reply(s, 404, "Not found", "This address only receives "
		    "the sign-in redirect.");
		goto out;
	}
	query = target[1] == '?' ? target + 2 : "";
	if (oauth_parse_query(query, rd) != 0 ||
	    strcmp(rd->state, state) != 0) {
		/* Not the redirect this sign-in started: keep waiting. */
		memset(rd, 0, sizeof(*rd));
		oauth_reply(s, 400, "Sign-in not recognised", "This request "
		    "does not belong to the sign-in that exoconnect started.");
		goto out;
	}
	if (rd->error[0] != '\0') {
		oauth_reply(s, 200, "Sign-in failed", strcmp(rd->error,
		    "access_denied") == 0 ? "The sign-in was cancelled or "
		    "denied. You can close this window." : rd->error);
		done = 1;
	} else if (rd->code[0] != '\0') {
		oauth_reply(s, 200, "Sign-in finished", "exoconnect received "
		    "the sign-in. You can close this window and return to "
		    "exoconnect.");
		done = 1;
	} else {
		oauth_reply(s, 400, "Sign-in not recognised", "The redirect "
		    "has neither a code nor an error.");
	}
out:
	stream_close(s);
	return done;
}

/* Waits for the redirect until timeout_s passes or cancel is set. */
static int
oauth_wait_redirect(plat_socket l, const char *state, int timeout_s,
    volatile int *cancel, struct oauth_redirect *rd)
{
	int64_t		deadline = plat_now_ms() + (int64_t)timeout_s * 1000;
	plat_socket	sock;
	char		peer[PLAT_ADDR_MAX];
	int		r;

	for (;;) {
		if (cancel != NULL && *cancel)
			return EXO_ERR_CANCELLED;
		if (plat_now_ms() >= deadline)
			return EXO_ERR_TIMEOUT;
		r = plat_accept(l, 1000, &sock, peer);
		if (r == EXO_ERR_TIMEOUT)
			continue;
		if (r != 0)
			return r;
		if (oauth_serve(sock, state, rd))
			return 0;
	}
}

static int
oauth_redeem(const struct oauth_client *c, const char *code,
    const char *redirect, const char *verifier, struct oauth_tokens *out,
    struct oauth_error *err)
{
	const struct settings	*s = c->settings;
	struct buf		 form;
	char			 scope[CONFIG_TEXT_MAX * 2 + 128];
	int			 r;

	oauth_scope(s, scope, sizeof(scope));
	buf_init(&form);
	r = oauth_form_add(&form, "client_id", s->microsoft.client_id);
	if (r == 0)
		r = oauth_form_add(&form, "grant_type", "authorization_code");
	if (r == 0)
		r = oauth_form_add(&form, "code", code);
	if (r == 0)
		r = oauth_form_add(&form, "redirect_uri", redirect);
	if (r == 0)
		r = oauth_form_add(&form, "code_verifier", verifier);
	if (r == 0)
		r = oauth_form_add(&form, "scope", scope);
	if (r == 0 && s->microsoft.client_secret[0] != '\0')
		r = oauth_form_add(&form, "client_secret",
		    s->microsoft.client_secret);
	if (r == 0)
		r = oauth_token_request(c, &form, out, err);
	buf_free(&form);
	return r;
}

static void
oauth_browser_fail(struct oauth_error *err, enum oauth_failure kind,
    const char *error, const char *description, const char *advice)
{
	err->kind = kind;
	str_copy(err->error, error, sizeof(err->error));
	str_copy(err->description, description, sizeof(err->description));
	str_copy(err->advice, advice, sizeof(err->advice));
}

int
oauth_browser_signin(const struct oauth_client *c,
    void (*show_url)(const char *url, void *ctx), void *ctx,
    volatile int *cancel, int timeout_s, struct oauth_tokens *out,
    struct oauth_error *err)
{
	struct oauth_redirect	*rd = NULL;
	struct exo_error	 e;
	struct buf		 url;
	plat_socket		 l = PLAT_SOCKET_INVALID;
	char			 verifier[64], challenge[64], state[64];
	char			 redirect[64];
	int			 r;

	memset(err, 0, sizeof(*err));
	err->retry_after = -1;
	err_clear(&e);
	buf_init(&url);
	if ((rd = calloc(1, sizeof(*rd))) == NULL) {
		r = EXO_ERR_NOMEM;
		goto out;
	}
	if ((r = plat_listen("127.0.0.1", 0, &l, &e)) != 0) {
		oauth_browser_fail(err, OAUTH_FAIL_CONFIG, "", e.msg,
		    N_("Use the device code sign-in instead."));
		goto out;
	}
	snprintf(redirect, sizeof(redirect), "http://localhost:%d/",
	    plat_socket_port(l));
	if ((r = oauth_pkce(verifier, challenge, state)) != 0 ||
	    (r = oauth_authorize_url(c, redirect, challenge, state,
	    &url)) != 0) {
		oauth_browser_fail(err, OAUTH_FAIL_CONFIG, "", "could not "
		    "build the sign-in URL", N_("Check the [microsoft] "
		    "settings."));
		goto out;
	}
	show_url(url.data, ctx);

	r = oauth_wait_redirect(l, state, timeout_s, cancel, rd);
	plat_socket_close(l);
	l = PLAT_SOCKET_INVALID;
	if (r == EXO_ERR_TIMEOUT)
		oauth_browser_fail(err, OAUTH_FAIL_SIGNIN, "", "The browser "
		    "did not return to exoconnect in time.", N_("Start the "
		    "sign-in again, or use the device code sign-in."));
	else if (r == EXO_ERR_CANCELLED)
		oauth_browser_fail(err, OAUTH_FAIL_NONE, "", "The sign-in was "
		    "cancelled.", "");
	else if (r == 0 && rd->error[0] != '\0') {
		oauth_browser_fail(err, OAUTH_FAIL_SIGNIN, rd->error,
		    strcmp(rd->error, "access_denied") == 0 ? "The sign-in "
		    "was cancelled or denied in the browser." : "The sign-in "
		    "page returned an error.", N_("Start the sign-in again."));
		r = EXO_ERR_AUTH;
	} else if (r == 0)
		/* Codes are single-use (AADSTS54005): one attempt only. */
		r = oauth_redeem(c, rd->code, redirect, verifier, out, err);
out:
	if (l != PLAT_SOCKET_INVALID)
		plat_socket_close(l);
	if (rd != NULL) {
		plat_wipe(rd, sizeof(*rd));
		free(rd);
	}
	plat_wipe(verifier, sizeof(verifier));
	buf_free(&url);
	return r;
}
