/*
 * test-smtp.c: smtp_session_run driven by a test device over loopback,
 * against a scripted Exchange-like upstream on 127.0.0.1 with STARTTLS
 * (a localhost certificate made by openssl at test time). Tokens come
 * from the SMTP test seam; users come from a user store in a temp folder.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bearssl.h>

#include "../../src/auth.h"
#include "../../src/config.h"
#include "../../src/event.h"
#include "../../src/plat.h"
#include "../../src/session.h"
#include "../../src/smtp.h"
#include "../../src/stream.h"
#include "../../src/users.h"
#include "../../src/util.h"
#include "test.h"

#define TOKEN_LEN 2500
#define IO_TIMEOUT_MS 10000
#define MAILBOX "mfp@example.com"

/* ---- the scripted upstream ---- */

struct script {
	/* behaviour */
	const char	*auth_replies[4];	/* per connection; NULL: 235 */
	const char	*after_starttls;	/* instead of 220, then close */
	const char	*data_reply;		/* NULL: 250 */
	int		 data_reply_once;	/* data_reply for message 1 */
	const char	*rcpt_reply;		/* NULL: 250 */
	int		 bare_334;		/* "334" without the space */
	int		 json_challenge;	/* 334 with JSON after SASL */
	int		 drop_after_dot;
	int		 close_on_noop;
	int		 close_on_rset;
	long long	 size;			/* SIZE after TLS, 0: none */

	/* observations */
	atomic_int	 connections;
	atomic_int	 one_line_auth;
	atomic_int	 empty_after_json;
	atomic_int	 auth_in_tls;		/* AUTH XOAUTH2 came inside TLS */
	atomic_int	 messages;		/* data ended by the end mark */
	atomic_int	 cut_messages;		/* data cut off by a close */
	atomic_int	 rsets;
	char		 ehlo_arg[256];
	char		 sasl[8192];		/* last decoded XOAUTH2 */
	char		 mail_line[SMTP_LINE_MAX];
	struct buf	 data;

	plat_socket	 listener;
	unsigned	 port;
	atomic_int	 stop;
	atomic_int	 finished;
};

static struct trust_store	*test_trust;
static struct tls_server_creds	*test_creds;
static char			 test_dir[256];

static int
up_send(struct stream *s, const char *text)
{
	if (stream_puts(s, text) != EXO_OK || stream_flush(s) != EXO_OK)
		return (-1);
	return (0);
}

/* Receives message data up to the end mark; 0 when it came. */
static int
up_data(struct script *sc, struct stream *s)
{
	char	line[8192];
	size_t	len;
	int	at_start = 1;

	for (;;) {
		int	rc = stream_read_line(s, line, sizeof(line), &len);

		if (rc != EXO_OK && rc != EXO_ERR_TOOLONG)
			return (-1);
		buf_append(&sc->data, line, len);
		if (at_start && len == 3 && memcmp(line, ".\r\n", 3) == 0)
			return (0);
		at_start = (len > 0 && line[len - 1] == '\n');
	}
}

static int
up_auth(struct script *sc, struct stream *s, int conn)
{
	char	line[16384];
	size_t	len;
	long	n;

	if (up_send(s, sc->bare_334 ? "334\r\n" : "334 \r\n") != 0 ||
	    stream_read_line(s, line, sizeof(line), &len) != EXO_OK)
		return (-1);
	len = str_trim_end(line, len);
	n = base64_decode(line, len, sc->sasl, sizeof(sc->sasl) - 1, 0);
	sc->sasl[n > 0 ? n : 0] = '\0';
	if (sc->json_challenge) {
		if (up_send(s, "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n") != 0 ||
		    stream_read_line(s, line, sizeof(line), &len) != EXO_OK)
			return (-1);
		if (str_trim_end(line, len) == 0)
			sc->empty_after_json = 1;
	}
	if (conn < 4 && sc->auth_replies[conn] != NULL) {
		up_send(s, sc->auth_replies[conn]);
		return (up_send(s, "\r\n"));
	}
	return (up_send(s, "235 2.7.0 Authentication successful\r\n"));
}

static int
up_ehlo(struct script *sc, struct stream *s, const char *arg)
{
	char	text[512];

	str_copy(sc->ehlo_arg, arg, sizeof(sc->ehlo_arg));
	if (!stream_is_tls(s))
		return (up_send(s, "250-fake.outlook.test Hello\r\n"
		    "250-SIZE 157286400\r\n250-PIPELINING\r\n250-STARTTLS\r\n"
		    "250 8BITMIME\r\n"));
	snprintf(text, sizeof(text), "250-fake.outlook.test Hello\r\n"
	    "250-SIZE %lld\r\n250-AUTH LOGIN XOAUTH2\r\n250 8BITMIME\r\n",
	    sc->size);
	return (up_send(s, text));
}

/* Serves one connection; returns when the proxy leaves. */
static void
up_serve(struct script *sc, struct stream *s, int conn)
{
	char	line[8192];
	size_t	len;
	int	rc;

	up_send(s, "220 fake.outlook.test Microsoft ESMTP MAIL Service "
	    "ready\r\n");
	for (;;) {
		rc = stream_read_line(s, line, sizeof(line), &len);
		if (rc == EXO_ERR_TOOLONG || (rc == EXO_OK && len > 512)) {
			if (rc == EXO_ERR_TOOLONG)
				stream_skip_line(s);
			if (str_has_prefix_case(line, "AUTH XOAUTH2 "))
				sc->one_line_auth = 1;
			rc = up_send(s, "500 5.5.2 Line too long\r\n");
			if (rc != 0)
				return;
			continue;
		}
		if (rc != EXO_OK)
			return;
		str_trim_end(line, len);
		if (str_has_prefix_case(line, "EHLO "))
			rc = up_ehlo(sc, s, line + 5);
		else if (str_casecmp(line, "STARTTLS") == 0) {
			if (sc->after_starttls != NULL) {
				up_send(s, sc->after_starttls);
				return;
			}
			rc = up_send(s, "220 2.0.0 SMTP server ready\r\n");
			if (rc == 0 && stream_start_tls_server(s, test_creds,
			    NULL) != EXO_OK)
				return;
		} else if (str_casecmp(line, "AUTH XOAUTH2") == 0) {
			sc->auth_in_tls = stream_is_tls(s);
			rc = up_auth(sc, s, conn);
		} else if (str_has_prefix_case(line, "MAIL FROM:")) {
			str_copy(sc->mail_line, line, sizeof(sc->mail_line));
			rc = up_send(s, "250 2.1.0 Sender OK\r\n");
		} else if (str_has_prefix_case(line, "RCPT TO:"))
			rc = up_send(s, sc->rcpt_reply ? sc->rcpt_reply :
			    "250 2.1.5 Recipient OK\r\n");
		else if (str_casecmp(line, "DATA") == 0) {
			rc = up_send(s, "354 Start mail input; end with "
			    "<CRLF>.<CRLF>\r\n");
			if (rc != 0)
				return;
			if (up_data(sc, s) != 0) {
				sc->cut_messages++;
				return;
			}
			sc->messages++;
			if (sc->drop_after_dot)
				return;
			rc = up_send(s, sc->data_reply != NULL &&
			    (!sc->data_reply_once || sc->messages == 1) ?
			    sc->data_reply :
			    "250 2.0.0 OK <id@fake> [Hostname=fake]\r\n");
		} else if (str_casecmp(line, "NOOP") == 0) {
			if (sc->close_on_noop)
				return;
			rc = up_send(s, "250 2.0.0 OK\r\n");
		} else if (str_casecmp(line, "RSET") == 0) {
			sc->rsets++;
			if (sc->close_on_rset)
				return;
			rc = up_send(s, "250 2.0.0 Resetting\r\n");
		}
		else if (str_casecmp(line, "QUIT") == 0) {
			up_send(s, "221 2.0.0 Service closing transmission "
			    "channel\r\n");
			return;
		} else
			rc = up_send(s, "500 5.3.3 Unrecognized command\r\n");
		if (rc != 0)
			return;
	}
}

static void
up_thread(void *arg)
{
	struct script	*sc = arg;
	plat_socket	 sock;
	char		 peer[PLAT_ADDR_MAX];

	while (!sc->stop) {
		if (plat_accept(sc->listener, 100, &sock, peer) != EXO_OK)
			continue;
		struct stream	*s = stream_new(sock, IO_TIMEOUT_MS);
		int		 conn = sc->connections++;

		if (s != NULL)
			up_serve(sc, s, conn);
		stream_close(s);
	}
	sc->finished = 1;
}

static void
up_start(struct script *sc)
{
	buf_init(&sc->data);
	if (plat_listen("127.0.0.1", 0, &sc->listener, NULL) != EXO_OK) {
		printf("  cannot listen for the upstream\n");
		exit(1);
	}
	sc->port = (unsigned)plat_socket_port(sc->listener);
	plat_thread_start(up_thread, sc, 0);
}

static void
up_stop(struct script *sc)
{
	sc->stop = 1;
	while (!sc->finished)
		plat_sleep_ms(10);
	plat_socket_close(sc->listener);
	buf_free(&sc->data);
}

/* ---- tokens through the test seam ---- */

static struct {
	atomic_int	gets;
	atomic_int	forced;
	atomic_int	rejected;
	atomic_int	successes;
	int		fresh;
	int		fail;		/* token_get fails */
	char		rejected_code[32];
} tok;

static int
tok_get(const char *login, int force, struct token_lease *out,
    struct exo_error *e)
{
	size_t	i;

	(void)login;
	tok.gets++;
	if (force)
		tok.forced++;
	if (tok.fail)
		return (err_set(e, EXO_ERR_SIGNIN, "Mailbox %s must be signed "
		    "in again by the administrator", MAILBOX));
	memset(out, 0, sizeof(*out));
	for (i = 0; i < TOKEN_LEN; i++)
		out->access_token[i] = (char)('A' + (i + (size_t)force) % 26);
	str_copy(out->mailbox, MAILBOX, sizeof(out->mailbox));
	out->fresh = tok.fresh || force;
	return (EXO_OK);
}

static void
tok_rejected(const char *login, const char *code, const char *reason)
{
	(void)login;
	(void)reason;
	str_copy(tok.rejected_code, code, sizeof(tok.rejected_code));
	tok.rejected++;
}

static void
tok_success(const char *login)
{
	(void)login;
	tok.successes++;
}

static const struct smtp_test_tokens test_tokens = {
	tok_get, tok_rejected, tok_success,
};

/* ---- events ---- */

#define SEEN_MAX 64

static struct {
	struct plat_mutex	*mu;
	int			 n;
	char			 id[SEEN_MAX][48];
	char			 reply[SEEN_MAX][EV_VALUE_MAX];
	char			 extra[SEEN_MAX][EV_VALUE_MAX];
	int			 leaks;		/* events showing a secret */
} seen;

/* Texts that must never appear in an event: token, password, payloads. */
static const char *const secrets[] = {
	"ABCDEFGHIJKLMNOPQRST",		/* the test tokens */
	"BCDEFGHIJKLMNOPQRSTU",
	"secret", "c2VjcmV0", "AHNjYW5uZXIxAHNlY3JldA", "wrong",
	"dXNlcj1", "Bearer",
};

static void
scan_secrets(const struct ev *ev)
{
	size_t	i;
	int	k;

	for (k = 0; k < ev->nparams; k++) {
		if (ev->params[k].value == NULL)
			continue;
		for (i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
			if (strstr(ev->params[k].value, secrets[i]) != NULL) {
				printf("  event %s shows a secret in %s\n",
				    ev->id, ev->params[k].name);
				seen.leaks++;
			}
		}
	}
}

static void
on_event(const struct ev *ev, void *ctx)
{
	const char	*r, *x;

	(void)ctx;
	if (strncmp(ev->id, "smtp.", 5) != 0 &&
	    strncmp(ev->id, "auth.", 5) != 0)
		return;
	plat_mutex_lock(seen.mu);
	scan_secrets(ev);
	if (seen.n < SEEN_MAX) {
		r = ev_param(ev, "reply");
		x = ev_param(ev, "cause");
		if (x == NULL)
			x = ev_param(ev, "sender");
		str_copy(seen.id[seen.n], ev->id, sizeof(seen.id[0]));
		str_copy(seen.reply[seen.n], r ? r : "", sizeof(seen.reply[0]));
		str_copy(seen.extra[seen.n], x ? x : "", sizeof(seen.extra[0]));
		seen.n++;
	}
	plat_mutex_unlock(seen.mu);
}

/* Returns how many events id were seen. */
static int
seen_count(const char *id)
{
	int	i, n = 0;

	plat_mutex_lock(seen.mu);
	for (i = 0; i < seen.n; i++) {
		if (strcmp(seen.id[i], id) == 0)
			n++;
	}
	plat_mutex_unlock(seen.mu);
	return (n);
}

/* Waits up to 2 s for event id; returns its index or -1. */
static int
wait_event(const char *id)
{
	int	i, tries;

	for (tries = 0; tries < 200; tries++) {
		plat_mutex_lock(seen.mu);
		for (i = 0; i < seen.n; i++) {
			if (strcmp(seen.id[i], id) == 0) {
				plat_mutex_unlock(seen.mu);
				return (i);
			}
		}
		plat_mutex_unlock(seen.mu);
		plat_sleep_ms(10);
	}
	return (-1);
}

/* ---- the device side ---- */

struct device {
	struct settings		 st;
	struct userdb		*db;
	struct server_stats	 stats;
	atomic_int		 stopping;
	struct session_ctx	 ctx;
	struct stream		*c;		/* the test device's end */
	plat_socket		 server;	/* the session's end */
	atomic_int		 ended;
	int			 logins;	/* on_login calls */
};

static void
on_login(struct session_ctx *ctx, const char *login)
{
	struct device	*d = ctx->service;

	(void)login;
	d->logins++;
}

static void
session_thread(void *arg)
{
	struct device	*d = arg;
	struct stream	*s;

	s = stream_new(d->server, IO_TIMEOUT_MS);
	smtp_session_run(&d->ctx, s);
	d->ended = 1;
}

/*
 * Starts a session against the upstream sc, with the test device
 * connected; each test resets the token and event records.
 */
static struct device *
dev_start(struct script *sc, int preauth_timeout)
{
	struct device	*d = calloc(1, sizeof(*d));
	plat_socket	 l, client, server;
	char		 peer[PLAT_ADDR_MAX], notice[512];
	struct user	*u;

	memset(&tok, 0, sizeof(tok));
	/* Every test connects from 127.0.0.1; failures must not add up. */
	auth_throttle_clear();
	auth_recent_clear();
	plat_mutex_lock(seen.mu);
	seen.n = 0;
	plat_mutex_unlock(seen.mu);

	config_defaults(&d->st);
	str_copy(d->st.data_dir, test_dir, sizeof(d->st.data_dir));
	str_copy(d->st.smtp.hostname, "proxy.example.lan",
	    sizeof(d->st.smtp.hostname));
	str_copy(d->st.smtp.upstream.host, "localhost",
	    sizeof(d->st.smtp.upstream.host));
	d->st.smtp.upstream.port = sc->port;
	d->st.smtp.max_message_size = 1000000;
	d->st.smtp.idle_timeout = 10;
	d->st.limits.preauth_timeout = preauth_timeout;
	if (userdb_open(&d->st, &d->db, notice, NULL) != EXO_OK) {
		printf("  cannot open the user store in %s\n", test_dir);
		exit(1);
	}
	u = calloc(1, sizeof(*u));
	str_copy(u->login, "scanner1", sizeof(u->login));
	str_copy(u->mailbox, MAILBOX, sizeof(u->mailbox));
	str_copy(u->password, "secret", sizeof(u->password));
	str_copy(u->refresh_token, "rt", sizeof(u->refresh_token));
	str_copy(u->sender_policy, "pass", sizeof(u->sender_policy));
	userdb_add(d->db, u, NULL);	/* EXO_ERR_EXISTS after the first */
	free(u);

	if (plat_listen("127.0.0.1", 0, &l, NULL) != EXO_OK ||
	    plat_connect("127.0.0.1", (unsigned)plat_socket_port(l),
	    IO_TIMEOUT_MS, &client, NULL) != EXO_OK ||
	    plat_accept(l, IO_TIMEOUT_MS, &server, peer) != EXO_OK) {
		printf("  cannot connect the test device\n");
		exit(1);
	}
	plat_socket_close(l);

	d->ctx.settings = &d->st;
	d->ctx.trust = test_trust;
	d->ctx.users = d->db;
	d->ctx.tokens = NULL;
	d->ctx.stats = &d->stats;
	d->ctx.conn = ev_next_conn_id();
	str_copy(d->ctx.peer, peer, sizeof(d->ctx.peer));
	d->ctx.stopping = &d->stopping;
	d->ctx.on_login = on_login;
	d->ctx.service = d;
	d->ctx.local_port = 25;
	d->server = server;
	d->c = stream_new(client, IO_TIMEOUT_MS);
	plat_thread_start(session_thread, d, 0);
	return (d);
}

static void
dev_end(struct device *d)
{
	int	i;

	stream_close(d->c);
	for (i = 0; i < 1000 && !d->ended; i++)
		plat_sleep_ms(10);
	CHECK(d->ended);
	userdb_close(d->db);
	free(d);
}

static void
dev_send(struct device *d, const char *line)
{
	stream_puts(d->c, line);
	stream_puts(d->c, "\r\n");
	stream_flush(d->c);
}

/*
 * Reads one whole reply into text (all lines, CRLF kept) and returns its
 * code, or -1 when the connection ended.
 */
static int
dev_reply(struct device *d, char *text, size_t cap)
{
	char	line[1024];
	size_t	len, used = 0;

	text[0] = '\0';
	for (;;) {
		if (stream_read_line(d->c, line, sizeof(line), &len) !=
		    EXO_OK || len < 4)
			return (-1);
		if (used + len < cap) {
			memcpy(text + used, line, len);
			used += len;
			text[used] = '\0';
		}
		if (line[3] != '-')
			return (atoi(line));
	}
}

/* Sends line and returns the reply's code, the reply in text. */
static int
dev_cmd(struct device *d, const char *line, char *text, size_t cap)
{
	dev_send(d, line);
	return (dev_reply(d, text, cap));
}

/* Sends line and checks the whole reply against expect. */
static int
dev_expect(struct device *d, const char *line, const char *expect)
{
	char	text[4096];

	if (line != NULL)
		dev_send(d, line);
	dev_reply(d, text, sizeof(text));
	if (strcmp(text, expect) != 0) {
		printf("  after \"%s\": got \"%s\"\n", line ? line : "",
		    text);
		return (0);
	}
	return (1);
}

static int
dev_login(struct device *d)
{
	return (dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n") &&
	    dev_expect(d, "EHLO mfp", "250-proxy.example.lan\r\n"
	    "250-SIZE 1000000\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250 AUTH PLAIN LOGIN CRAM-MD5\r\n") &&
	    dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "235 2.7.0 Authentication successful\r\n"));
}

/* Reads the greeting and sends HELO, as a device must before AUTH. */
static int
dev_greet(struct device *d)
{
	return (dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n") &&
	    dev_expect(d, "HELO mfp", "250 proxy.example.lan\r\n"));
}

/* Sends one short message on a logged-in session; 1 when it got 250. */
static int
send_small_message(struct device *d)
{
	return (dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n") &&
	    dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n") &&
	    dev_expect(d, "DATA", "354 Start mail input; end with "
	    "<CRLF>.<CRLF>\r\n") &&
	    dev_expect(d, "Subject: two\r\n\r\nbody\r\n.",
	    "250 2.0.0 OK <id@fake> [Hostname=fake]\r\n"));
}

/* Waits up to 2 s for the store to record the user's last SMTP use. */
static int
wait_last_smtp(struct device *d)
{
	struct user	*u = calloc(1, sizeof(*u));
	int		 i, found = 0;

	for (i = 0; i < 200 && !found; i++) {
		if (userdb_get(d->db, "scanner1", u, NULL) == EXO_OK &&
		    u->last_smtp > 0)
			found = 1;
		else
			plat_sleep_ms(10);
	}
	user_wipe(u);
	free(u);
	return (found);
}

/* The XOAUTH2 text the upstream must see for a token made by tok_get. */
static void
expected_sasl(char *out, size_t cap, int force)
{
	size_t	n, i;

	n = (size_t)snprintf(out, cap, "user=%s\001auth=Bearer ", MAILBOX);
	for (i = 0; i < TOKEN_LEN && n + 1 < cap; i++)
		out[n++] = (char)('A' + (i + (size_t)force) % 26);
	str_copy(out + n, "\001\001", cap - n);
}

/* ---- tests ---- */

TEST(login_inline_user_then_send)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 want[4096];
	const char	*data = "Subject: scan\nFrom: mfp@example.com\n\n"
	    "line one\n.\nline two\r\n.\r\n";

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n"));
	CHECK(dev_expect(d, "EHLO mfp", "250-proxy.example.lan\r\n"
	    "250-SIZE 1000000\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250 AUTH PLAIN LOGIN CRAM-MD5\r\n"));
	CHECK(dev_expect(d, "AUTH LOGIN c2Nhbm5lcjE=",
	    "334 UGFzc3dvcmQ6\r\n"));
	CHECK(dev_expect(d, "c2VjcmV0",
	    "235 2.7.0 Authentication successful\r\n"));
	CHECK_INT(sc.connections, 1);
	CHECK_INT(sc.one_line_auth, 0);
	CHECK_INT(sc.auth_in_tls, 1);
	CHECK_STR(sc.ehlo_arg, "proxy.example.lan");
	expected_sasl(want, sizeof(want), 0);
	CHECK_STR(sc.sasl, want);
	CHECK_INT(tok.gets, 1);
	CHECK_INT(tok.successes, 1);
	CHECK_INT(d->logins, 1);
	CHECK_INT(d->stats.logins, 1);
	CHECK(wait_last_smtp(d));

	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_STR(sc.mail_line, "MAIL FROM:<mfp@example.com> BODY=8BITMIME");
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_expect(d, "DATA", "354 Start mail input; end with "
	    "<CRLF>.<CRLF>\r\n"));
	stream_puts(d->c, data);
	stream_flush(d->c);
	CHECK(dev_expect(d, NULL, "250 2.0.0 OK <id@fake> "
	    "[Hostname=fake]\r\n"));
	CHECK_STR(sc.data.data, "Subject: scan\r\nFrom: mfp@example.com\r\n"
	    "\r\nline one\r\n..\r\nline two\r\n.\r\n");
	CHECK(wait_event("smtp.message") >= 0);
	CHECK_INT(d->stats.messages, 1);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(plain_prompt_cancel_and_errors)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n"));
	CHECK(dev_expect(d, "EHLO mfp", "250-proxy.example.lan\r\n"
	    "250-SIZE 1000000\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250 AUTH PLAIN LOGIN CRAM-MD5\r\n"));
	CHECK(dev_expect(d, "AUTH PLAIN", "334 \r\n"));
	CHECK(dev_expect(d, "*", "501 5.7.0 Authentication cancelled\r\n"));
	CHECK(dev_expect(d, "AUTH PLAIN !!!notbase64",
	    "501 5.5.2 Invalid base64 data\r\n"));
	CHECK(dev_expect(d, "AUTH LOGIN", "334 VXNlcm5hbWU6\r\n"));
	CHECK(dev_expect(d, "*", "501 5.7.0 Authentication cancelled\r\n"));
	/* \0scanner1\0wrong */
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHdyb25n",
	    "535 5.7.8 Authentication credentials invalid\r\n"));
	CHECK(wait_event("smtp.login_failed") >= 0);
	CHECK_INT(sc.connections, 0);
	CHECK(dev_expect(d, "AUTH FOO", "504 5.5.4 Unrecognized "
	    "authentication mechanism\r\n"));
	/* After all that, the credentials without "=" padding log in. */
	CHECK(dev_expect(d, "AUTH PLAIN", "334 \r\n"));
	CHECK(dev_expect(d, "AHNjYW5uZXIxAHNlY3JldA",
	    "235 2.7.0 Authentication successful\r\n"));
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "503 5.5.1 Already authenticated\r\n"));
	CHECK_INT(sc.connections, 1);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

/* Base64-decodes the text after "334 " of a prompt line. */
static void
decode_prompt(const char *line, char *out, size_t cap)
{
	long	n;

	n = base64_decode(line + 4, strlen(line + 4) - 2, out, cap - 1, 0);
	out[n > 0 ? n : 0] = '\0';
}

TEST(login_prompts_byte_exact)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 text[512], plain[64];

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_reply(d, text, sizeof(text)) == 220);
	CHECK(dev_cmd(d, "EHLO mfp", text, sizeof(text)) == 250);
	CHECK(dev_cmd(d, "AUTH LOGIN", text, sizeof(text)) == 334);
	CHECK_STR(text, "334 VXNlcm5hbWU6\r\n");
	decode_prompt(text, plain, sizeof(plain));
	CHECK_STR(plain, "Username:");
	CHECK(dev_cmd(d, "c2Nhbm5lcjE=", text, sizeof(text)) == 334);
	CHECK_STR(text, "334 UGFzc3dvcmQ6\r\n");
	decode_prompt(text, plain, sizeof(plain));
	CHECK_STR(plain, "Password:");
	CHECK(dev_expect(d, "c2VjcmV0",
	    "235 2.7.0 Authentication successful\r\n"));
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(helo_then_lowercase_auth)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n"));
	CHECK(dev_expect(d, "HELO mfp", "250 proxy.example.lan\r\n"));
	CHECK(dev_expect(d, "auth login", "334 VXNlcm5hbWU6\r\n"));
	CHECK(dev_expect(d, "c2Nhbm5lcjE=", "334 UGFzc3dvcmQ6\r\n"));
	CHECK(dev_expect(d, "c2VjcmV0",
	    "235 2.7.0 Authentication successful\r\n"));
	CHECK_STR(sc.ehlo_arg, "proxy.example.lan");
	CHECK(dev_expect(d, "mail from: <mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_STR(sc.mail_line, "MAIL FROM:<mfp@example.com> BODY=8BITMIME");
	CHECK(dev_expect(d, "quit", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(mail_before_auth_530)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n"));
	CHECK(dev_expect(d, "EHLO mfp", "250-proxy.example.lan\r\n"
	    "250-SIZE 1000000\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250 AUTH PLAIN LOGIN CRAM-MD5\r\n"));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "530 5.7.0 Authentication required\r\n"));
	CHECK(wait_event("smtp.auth_required") >= 0);
	CHECK_INT(sc.connections, 0);
	CHECK_INT(tok.gets, 0);
	CHECK(dev_expect(d, "RCPT TO:<a@b.c>",
	    "503 5.5.1 Need MAIL command first\r\n"));
	/* The session stays open: the device may log in and try again. */
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "235 2.7.0 Authentication successful\r\n"));
	CHECK(dev_expect(d, "MAIL FROM:mfp@example.com",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_STR(sc.mail_line, "MAIL FROM:<mfp@example.com> BODY=8BITMIME");
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(auth_and_mail_need_greeting)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 10);
	str_copy(d->st.smtp.trusted_devices, "127.0.0.1",
	    sizeof(d->st.smtp.trusted_devices));
	str_copy(d->st.smtp.trusted_user, "scanner1",
	    sizeof(d->st.smtp.trusted_user));
	CHECK(dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n"));
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "503 5.5.1 Send EHLO or HELO first\r\n"));
	CHECK(dev_expect(d, "AUTH LOGIN",
	    "503 5.5.1 Send EHLO or HELO first\r\n"));
	/* A trusted device too: no upstream login before the greeting. */
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "503 5.5.1 Send EHLO or HELO first\r\n"));
	CHECK_INT(sc.connections, 0);
	CHECK_INT(tok.gets, 0);
	CHECK_INT(d->logins, 0);
	CHECK(dev_expect(d, "EHLO mfp", "250-proxy.example.lan\r\n"
	    "250-SIZE 1000000\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250 AUTH PLAIN LOGIN CRAM-MD5\r\n"));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_INT(sc.connections, 1);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

/*
 * Writes into line (cap bytes) prefix, then the base64 of head followed
 * by fill bytes of 'x'.
 */
static void
long_response(char *line, size_t cap, const char *prefix, const char *head,
    size_t head_len, size_t fill)
{
	char	raw[2048], b64[4096];

	memcpy(raw, head, head_len);
	memset(raw + head_len, 'x', fill);
	base64_encode(raw, head_len + fill, b64);
	snprintf(line, cap, "%s%s", prefix, b64);
}

TEST(overlong_sasl_response_500)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 line[4096], text[512];
	const char	*too_long = "500 5.5.6 Authentication exchange line "
	    "is too long\r\n";

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_greet(d));
	/* A 600-byte password: valid base64, but over a field's maximum. */
	CHECK(dev_expect(d, "AUTH PLAIN", "334 \r\n"));
	long_response(line, sizeof(line), "", "\0scanner1\0", 10, 600);
	CHECK(dev_expect(d, line, too_long));
	CHECK(dev_expect(d, "AUTH LOGIN", "334 VXNlcm5hbWU6\r\n"));
	long_response(line, sizeof(line), "", "", 0, 600);
	CHECK(dev_expect(d, line, too_long));
	CHECK(dev_expect(d, "AUTH LOGIN c2Nhbm5lcjE=", "334 UGFzc3dvcmQ6\r\n"));
	CHECK(dev_expect(d, line, too_long));
	CHECK_INT(dev_cmd(d, "AUTH CRAM-MD5", text, sizeof(text)), 334);
	long_response(line, sizeof(line), "", "scanner1 ", 9, 600);
	CHECK(dev_expect(d, line, too_long));
	/* Invalid base64 keeps its own reply. */
	CHECK(dev_expect(d, "AUTH PLAIN !!!notbase64",
	    "501 5.5.2 Invalid base64 data\r\n"));
	CHECK_INT(sc.connections, 0);
	CHECK_INT(seen_count("smtp.login_failed"), 0);
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "235 2.7.0 Authentication successful\r\n"));
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(xoauth2_in_two_steps)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 want[4096];

	/* The upstream rejects lines over 512 octets and sends bare 334. */
	sc.bare_334 = 1;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK_INT(sc.one_line_auth, 0);
	expected_sasl(want, sizeof(want), 0);
	CHECK_STR(sc.sasl, want);
	CHECK(strlen(want) > 2500);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(xoauth2_json_challenge_empty_line)
{
	struct script	 sc = { 0 };
	struct device	*d;

	sc.json_challenge = 1;
	sc.auth_replies[0] = "535 5.7.3 Authentication unsuccessful "
	    "[AM0PR06CA0126.eurprd06.prod.outlook.com]";
	sc.auth_replies[1] = sc.auth_replies[0];
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "454 4.7.0 Upstream authentication failed, see proxy log\r\n"));
	CHECK_INT(sc.empty_after_json, 1);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(smtp_auth_disabled_no_refresh)
{
	struct script	 sc = { 0 };
	struct device	*d;
	const char	*line = "535 5.7.139 Authentication unsuccessful, "
	    "SmtpClientAuthentication is disabled for the Tenant. Visit "
	    "https://aka.ms/smtp_auth_disabled for more information.";
	int		 i;

	sc.auth_replies[0] = line;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "454 4.7.0 Upstream authentication failed, see proxy log\r\n"));
	CHECK_INT(sc.connections, 1);
	CHECK_INT(tok.gets, 1);
	CHECK_INT(tok.forced, 0);
	CHECK_INT(tok.rejected, 1);
	CHECK_STR(tok.rejected_code, "5.7.139");
	i = wait_event("smtp.upstream_rejected");
	CHECK(i >= 0);
	if (i >= 0) {
		CHECK_STR(seen.reply[i], line);
		CHECK(strstr(seen.extra[i], "enable Authenticated SMTP in "
		    "the Exchange admin center") != NULL);
	}
	/* The device keeps its session and may try again later. */
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "530 5.7.0 Authentication required\r\n"));
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(cached_token_refreshed_once)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 want[4096];

	sc.auth_replies[0] = "535 5.7.3 Authentication unsuccessful [x]";
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK_INT(sc.connections, 2);
	CHECK_INT(tok.gets, 2);
	CHECK_INT(tok.forced, 1);
	CHECK_INT(tok.rejected, 0);
	CHECK_INT(tok.successes, 1);
	expected_sasl(want, sizeof(want), 1);
	CHECK_STR(sc.sasl, want);
	CHECK(wait_event("smtp.token_retry") >= 0);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(refreshed_token_still_rejected)
{
	struct script	 sc = { 0 };
	struct device	*d;
	int		 i;

	sc.auth_replies[0] = "535 5.7.3 Authentication unsuccessful [x]";
	sc.auth_replies[1] = sc.auth_replies[0];
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "454 4.7.0 Upstream authentication failed, see proxy log\r\n"));
	CHECK_INT(sc.connections, 2);
	CHECK_INT(tok.forced, 1);
	CHECK_INT(tok.rejected, 1);
	CHECK_STR(tok.rejected_code, "5.7.3");
	i = wait_event("smtp.upstream_rejected");
	CHECK(i >= 0);
	if (i >= 0)
		CHECK(strstr(seen.extra[i], "SMTP.Send") != NULL);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(fresh_token_not_retried)
{
	struct script	 sc = { 0 };
	struct device	*d;

	sc.auth_replies[0] = "535 5.7.3 Authentication unsuccessful [x]";
	up_start(&sc);
	d = dev_start(&sc, 10);
	tok.fresh = 1;
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "454 4.7.0 Upstream authentication failed, see proxy log\r\n"));
	CHECK_INT(sc.connections, 1);
	CHECK_INT(tok.forced, 0);
	CHECK_INT(tok.rejected, 1);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(starttls_421_connection_failed)
{
	struct script	 sc = { 0 };
	struct device	*d;
	int		 i;

	sc.after_starttls = "421 4.7.66 TLS 1.0 and 1.1 are not supported. "
	    "Please upgrade/update your client to support TLS 1.2.\r\n";
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "454 4.7.0 Upstream connection failed, see proxy log\r\n"));
	CHECK_INT(tok.rejected, 0);
	i = wait_event("smtp.upstream_failed");
	CHECK(i >= 0);
	if (i >= 0)
		CHECK_STR(seen.reply[i], "421 4.7.66 TLS 1.0 and 1.1 are not "
		    "supported. Please upgrade/update your client to support "
		    "TLS 1.2.");
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(token_error_gives_454_message)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 10);
	tok.fail = 1;
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "454 4.7.0 Mailbox mfp@example.com must be signed in again by "
	    "the administrator\r\n"));
	CHECK_INT(sc.connections, 0);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(size_limits_552)
{
	struct script	 sc = { 0 };
	struct device	*d;

	sc.size = 500000;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	/* Above our limit, then above the upstream's. */
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com> SIZE=2000000",
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n"));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com> SIZE=600000",
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n"));
	CHECK_STR(sc.mail_line, "");
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com> SIZE=100 "
	    "BODY=8BITMIME AUTH=<> FOO",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_STR(sc.mail_line,
	    "MAIL FROM:<mfp@example.com> BODY=8BITMIME SIZE=100");
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(long_reply_cut_send_as_warned)
{
	struct script	 sc = { 0 };
	struct device	*d;
	struct buf	 longreply;
	char		 text[4096];
	const char	*prefix = "554 5.2.252 SendAsDenied; mfp@example.com "
	    "not allowed to send as scanner@example.net;";
	int		 i;

	buf_init(&longreply);
	buf_puts(&longreply, prefix);
	buf_puts(&longreply, " STOREDRV.Submission.Exception:"
	    "SendAsDeniedException.MapiExceptionSendAsDenied;");
	while (longreply.len < 1500)
		buf_puts(&longreply, " Failed to process message due to a "
		    "permanent exception with message [BeginDiagnosticData]");
	buf_puts(&longreply, "\r\n");
	sc.data_reply = longreply.data;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<scanner@example.net>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_cmd(d, "DATA", text, sizeof(text)) == 354);
	dev_send(d, "From: Scanner <scanner@example.net>\r\n\r\nhi\r\n.");
	CHECK_INT(dev_reply(d, text, sizeof(text)), 554);
	CHECK(strlen(text) <= 512);
	CHECK(strncmp(text, prefix, strlen(prefix)) == 0);
	CHECK(strcmp(text + strlen(text) - 2, "\r\n") == 0);
	i = wait_event("smtp.send_as_denied");
	CHECK(i >= 0);
	if (i >= 0)
		CHECK_STR(seen.extra[i], "<scanner@example.net>");
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
	buf_free(&longreply);
}

TEST(multiline_reply_relayed_intact)
{
	struct script	 sc = { 0 };
	struct device	*d;

	sc.rcpt_reply = "250-2.1.5 first line\r\n250-2.1.5 second\r\n"
	    "250 2.1.5 Recipient OK\r\n";
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>", sc.rcpt_reply));
	CHECK(dev_expect(d, "RSET", "250 2.0.0 Resetting\r\n"));
	CHECK(dev_expect(d, "NOOP", "250 2.0.0 OK\r\n"));
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(data_without_recipients_554)
{
	struct script	 sc = { 0 };
	struct device	*d;

	sc.rcpt_reply = "550 5.1.1 User unknown\r\n";
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<nobody@example.org>",
	    "550 5.1.1 User unknown\r\n"));
	CHECK(dev_expect(d, "DATA", "554 5.5.1 No valid recipients\r\n"));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "503 5.5.1 Sender already specified\r\n"));
	CHECK(dev_expect(d, "RSET", "250 2.0.0 Resetting\r\n"));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(drop_after_final_dot_451)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 text[512];

	sc.drop_after_dot = 1;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_cmd(d, "DATA", text, sizeof(text)) == 354);
	CHECK(dev_expect(d, "Subject: x\r\n\r\nbody\r\n.",
	    "451 4.4.2 Upstream connection lost after the message was sent; "
	    "it may be delivered twice\r\n"));
	CHECK(wait_event("smtp.reply_lost") >= 0);
	CHECK_INT(d->stats.messages, 0);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(upstream_gone_mid_session_421)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 text[512];

	sc.close_on_noop = 1;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "NOOP", "421 4.4.2 Upstream connection "
	    "closed\r\n"));
	CHECK_INT(dev_reply(d, text, sizeof(text)), -1);
	dev_end(d);
	up_stop(&sc);
}

TEST(local_commands_and_limits)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 big[700];

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n"));
	CHECK(dev_expect(d, "VRFY someone", "252 2.5.0 Cannot VRFY user, "
	    "but will accept the message\r\n"));
	CHECK(dev_expect(d, "EXPN list", "502 5.5.1 Command not "
	    "implemented\r\n"));
	CHECK(dev_expect(d, "BDAT 10 LAST", "502 5.5.1 Command not "
	    "implemented\r\n"));
	CHECK(dev_expect(d, "FOO", "500 5.5.2 Command not recognized\r\n"));
	CHECK(dev_expect(d, "STARTTLS", "454 4.7.0 TLS not available\r\n"));
	CHECK(dev_expect(d, "DATA", "503 5.5.1 Need MAIL command first\r\n"));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "NOOP ", 5);
	CHECK(dev_expect(d, big, "500 5.5.2 Line too long\r\n"));
	stream_write(d->c, "NO\0OP\r\n", 7);
	stream_flush(d->c);
	CHECK(dev_expect(d, NULL, "500 5.5.2 Invalid character in "
	    "command\r\n"));
	CHECK(dev_expect(d, "NOOP", "250 2.0.0 OK\r\n"));
	CHECK(dev_expect(d, "RSET", "250 2.0.0 OK\r\n"));
	CHECK_INT(sc.connections, 0);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(preauth_timeout_421)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 1);
	CHECK(dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n"));
	CHECK(dev_expect(d, NULL, "421 4.4.2 Timeout\r\n"));
	dev_end(d);
	up_stop(&sc);
}

/* A small deterministic generator, so failures repeat. */
static uint32_t
next_random(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8);
}

TEST(large_message_random_chunks)
{
	struct script	 sc = { 0 };
	struct device	*d;
	struct buf	 msg;
	uint32_t	 seed = 99;
	size_t		 pos = 0;
	char		 text[512];
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	    "opqrstuvwxyz0123456789+/";

	buf_init(&msg);
	buf_puts(&msg, "Subject: scan\r\nContent-Type: application/pdf\r\n"
	    "\r\n");
	while (msg.len < 600000) {
		char	line[80];
		int	i;

		for (i = 0; i < 76; i++)
			line[i] = b64[next_random(&seed) % 64];
		memcpy(line + 76, "\r\n", 2);
		buf_append(&msg, line, 78);
	}
	buf_puts(&msg, ".\r\n");
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com> SIZE=600000",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_cmd(d, "DATA", text, sizeof(text)) == 354);
	while (pos < msg.len) {
		size_t	n = 1 + next_random(&seed) % 4096;

		if (n > msg.len - pos)
			n = msg.len - pos;
		stream_write(d->c, msg.data + pos, n);
		stream_flush(d->c);
		pos += n;
	}
	CHECK(dev_expect(d, NULL, "250 2.0.0 OK <id@fake> "
	    "[Hostname=fake]\r\n"));
	CHECK_INT(sc.data.len, msg.len);
	CHECK(sc.data.len == msg.len &&
	    memcmp(sc.data.data, msg.data, msg.len) == 0);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
	buf_free(&msg);
}

/*
 * Sends one message whose data is the pieces, with a pause after each so
 * they arrive in separate reads, and checks that the upstream got expect
 * and the device the upstream's 250.
 */
static int
send_pieces(struct device *d, struct script *sc,
    const char *const *pieces, size_t npieces, const char *expect,
    size_t expect_len)
{
	char	text[512];
	size_t	i;

	sc->data.len = 0;
	if (!dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n") ||
	    !dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n") ||
	    dev_cmd(d, "DATA", text, sizeof(text)) != 354)
		return (0);
	for (i = 0; i < npieces; i++) {
		stream_puts(d->c, pieces[i]);
		stream_flush(d->c);
		plat_sleep_ms(30);
	}
	if (!dev_expect(d, NULL, "250 2.0.0 OK <id@fake> "
	    "[Hostname=fake]\r\n"))
		return (0);
	if (sc->data.len != expect_len ||
	    memcmp(sc->data.data, expect, expect_len) != 0) {
		printf("  upstream got %zu bytes, expected %zu\n",
		    sc->data.len, expect_len);
		return (0);
	}
	return (1);
}

#define PIECES(...) (const char *const[]){ __VA_ARGS__ }, \
	sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)
#define WANT(text) (text), strlen(text)

TEST(data_line_rules_across_reads)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 text[512];

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));

	/* The end mark cut after its dot, and after its CR. */
	CHECK(send_pieces(d, &sc, PIECES("Subject: a\r\n\r\nbody\r\n.",
	    "\r\n"), WANT("Subject: a\r\n\r\nbody\r\n.\r\n")));
	CHECK(send_pieces(d, &sc, PIECES("x\r\n", ".\r", "\n"),
	    WANT("x\r\n.\r\n")));
	CHECK(send_pieces(d, &sc, PIECES("x\r", "\n.\r\n"),
	    WANT("x\r\n.\r\n")));

	/* Bare LF line ends, and a lone "." ended by one, across reads. */
	CHECK(send_pieces(d, &sc, PIECES("Subject: b\n\nx\n", ".", "\ny\r\n",
	    ".\r\n"), WANT("Subject: b\r\n\r\nx\r\n..\r\ny\r\n.\r\n")));

	/* A command pipelined after the end mark, in the same read. */
	sc.data.len = 0;
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_cmd(d, "DATA", text, sizeof(text)) == 354);
	stream_puts(d->c, "p\r\n.\r\nNOOP\r\n");
	stream_flush(d->c);
	CHECK(dev_expect(d, NULL, "250 2.0.0 OK <id@fake> "
	    "[Hostname=fake]\r\n"));
	CHECK(dev_reply(d, text, sizeof(text)) == 250);
	CHECK_INT(sc.data.len, 6);
	CHECK(sc.data.len == 6 &&
	    memcmp(sc.data.data, "p\r\n.\r\n", 6) == 0);

	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

/*
 * The session feeds the normalizer at most 8192 bytes at a time: a dot
 * line, a bare LF and the end mark at every position around that edge
 * keep their meaning, and a line longer than every buffer passes whole.
 */
TEST(data_line_rules_at_block_edges)
{
	struct script	 sc = { 0 };
	struct device	*d;
	struct buf	 in, want;
	size_t		 at, i, in_base, want_base;
	static const char filler[] = "0123456789012345678901234567890\r\n";

	buf_init(&in);
	buf_init(&want);
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	for (at = 8186; at <= 8196; at++) {
		in.len = want.len = 0;
		/* Filler lines so the next line starts at offset at. */
		while (in.len + sizeof(filler) - 1 + 2 <= at)
			buf_puts(&in, filler);
		while (in.len + 2 < at)
			buf_puts(&in, "f");
		buf_puts(&in, "\r\n");
		buf_append(&want, in.data, in.len);
		in_base = in.len;
		want_base = want.len;
		buf_puts(&in, "..stuffed\r\nbare\n.\nend\r\n.\r\n");
		buf_puts(&want, "..stuffed\r\nbare\r\n..\r\nend\r\n.\r\n");
		buf_append(&in, "", 1);
		CHECK(send_pieces(d, &sc, PIECES(in.data), want.data,
		    want.len));

		/* The same with the end mark right at the edge. */
		in.len = in_base;
		want.len = want_base;
		buf_puts(&in, ".\r\n");
		buf_puts(&want, ".\r\n");
		buf_append(&in, "", 1);
		CHECK(send_pieces(d, &sc, PIECES(in.data), want.data,
		    want.len));
	}

	/* 40,000 bytes without a line end, then the end mark. */
	in.len = 0;
	for (i = 0; i < 40000; i++)
		buf_append(&in, "z", 1);
	buf_puts(&in, "\r\n.\r\n");
	buf_append(&in, "", 1);
	CHECK(send_pieces(d, &sc, PIECES(in.data), in.data, in.len - 1));

	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
	buf_free(&in);
	buf_free(&want);
}

TEST(message_over_limit_552)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 text[512], line[1002];
	int		 i;

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_cmd(d, "DATA", text, sizeof(text)) == 354);
	memset(line, 'y', 1000);
	memcpy(line + 1000, "\r\n", 2);
	for (i = 0; i < 1100; i++)
		stream_write(d->c, line, sizeof(line));
	CHECK(dev_expect(d, ".", "552 5.3.4 Message size exceeds fixed "
	    "maximum message size\r\n"));
	CHECK_INT(sc.messages, 0);

	/* The next message goes through a new upstream session. */
	CHECK(send_small_message(d));
	CHECK_INT(sc.connections, 2);
	CHECK_INT(sc.messages, 1);
	CHECK_INT(tok.gets, 2);
	CHECK_INT(d->logins, 1);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(rejected_message_resets_upstream)
{
	struct script	 sc = { 0 };
	struct device	*d;
	const char	*busy = "451 4.7.500 Server busy. Please try again "
	    "later\r\n";

	sc.data_reply = busy;
	sc.data_reply_once = 1;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_expect(d, "DATA", "354 Start mail input; end with "
	    "<CRLF>.<CRLF>\r\n"));
	CHECK(dev_expect(d, "Subject: one\r\n\r\nbody\r\n.", busy));
	CHECK(send_small_message(d));
	CHECK_INT(sc.rsets, 1);
	CHECK_INT(sc.connections, 1);
	CHECK_INT(sc.messages, 2);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);

	/* Exchange closes after the rejection: a new session then. */
	memset(&sc, 0, sizeof(sc));
	sc.data_reply = "552 5.3.4 Message size exceeds fixed maximum "
	    "message size\r\n";
	sc.data_reply_once = 1;
	sc.close_on_rset = 1;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_expect(d, "DATA", "354 Start mail input; end with "
	    "<CRLF>.<CRLF>\r\n"));
	CHECK(dev_expect(d, "Subject: one\r\n\r\nbody\r\n.",
	    "552 5.3.4 Message size exceeds fixed maximum message size\r\n"));
	CHECK(send_small_message(d));
	CHECK_INT(sc.rsets, 1);
	CHECK_INT(sc.connections, 2);
	CHECK_INT(sc.messages, 2);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(reply_line_parsing)
{
	static const struct {
		const char	*line;
		int		 rc, code, more;
		const char	*enhanced;
	} cases[] = {
		{ "334", EXO_OK, 334, 0, "" },
		{ "334 ", EXO_OK, 334, 0, "" },
		{ "250-SIZE 157286400", EXO_OK, 250, 1, "" },
		{ "235 2.7.0 Authentication successful", EXO_OK, 235, 0,
		    "2.7.0" },
		{ "535 5.7.139 Authentication unsuccessful", EXO_OK, 535, 0,
		    "5.7.139" },
		{ "554 5.2.252 SendAsDenied;", EXO_OK, 554, 0, "5.2.252" },
		{ "550 4.1.1 class differs from the code", EXO_OK, 550, 0, "" },
		{ "250 2.0.0x not a code", EXO_OK, 250, 0, "" },
		{ "421 4.7.66 TLS 1.0", EXO_OK, 421, 0, "4.7.66" },
		{ "25", EXO_ERR_PROTO, 0, 0, "" },
		{ "2500 x", EXO_ERR_PROTO, 0, 0, "" },
		{ "abc def", EXO_ERR_PROTO, 0, 0, "" },
		{ "650 six", EXO_ERR_PROTO, 0, 0, "" },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char	enhanced[16];
		int	code = 0, more = 0, rc;

		rc = smtp_reply_parse_line(cases[i].line,
		    strlen(cases[i].line), &code, &more, enhanced);
		if (rc != cases[i].rc)
			printf("  case \"%s\"\n", cases[i].line);
		CHECK_INT(rc, cases[i].rc);
		if (rc != EXO_OK)
			continue;
		CHECK_INT(code, cases[i].code);
		CHECK_INT(more, cases[i].more);
		CHECK_STR(enhanced, cases[i].enhanced);
	}
}

TEST(long_multiline_reply_keeps_last)
{
	struct script	 sc = { 0 };
	struct device	*d;
	struct buf	 many;
	char		 text[16384], *p;
	int		 i, lines = 0;

	buf_init(&many);
	for (i = 0; i < 30; i++)
		buf_printf(&many, "250-2.1.5 line %d\r\n", i);
	buf_puts(&many, "250 2.1.5 Recipient OK\r\n");
	sc.rcpt_reply = many.data;
	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_INT(dev_cmd(d, "RCPT TO:<to@example.org>", text,
	    sizeof(text)), 250);
	for (p = text; (p = strstr(p, "\r\n")) != NULL; p += 2)
		lines++;
	CHECK_INT(lines, SMTP_REPLY_LINES_MAX);
	CHECK(strstr(text, "250-2.1.5 line 0\r\n") == text);
	CHECK(strstr(text, "\r\n250 2.1.5 Recipient OK\r\n") != NULL);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
	buf_free(&many);
}

TEST(device_gone_mid_data_not_sent)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 text[512];
	int		 i;

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_cmd(d, "DATA", text, sizeof(text)) == 354);
	dev_send(d, "Subject: half\r\n\r\nfirst part");
	stream_close(d->c);
	d->c = NULL;
	for (i = 0; i < 500 && !d->ended; i++)
		plat_sleep_ms(10);
	CHECK(d->ended);
	for (i = 0; i < 500 && sc.cut_messages == 0; i++)
		plat_sleep_ms(10);
	CHECK_INT(sc.cut_messages, 1);
	CHECK_INT(sc.messages, 0);
	CHECK_INT(d->stats.messages, 0);
	dev_end(d);
	up_stop(&sc);
}

TEST(idle_timeout_after_login)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 10);
	d->st.smtp.idle_timeout = 1;
	CHECK(dev_login(d));
	CHECK(dev_expect(d, NULL, "421 4.4.2 Timeout\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(stopping_ends_session_421)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 text[512];

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_expect(d, NULL, "220 proxy.example.lan exoconnect ESMTP "
	    "ready\r\n"));
	d->stopping = 1;
	/* The NOOP may or may not be read before the flag is seen. */
	dev_send(d, "NOOP");
	if (dev_reply(d, text, sizeof(text)) == 250)
		dev_reply(d, text, sizeof(text));
	CHECK_STR(text, "421 4.3.2 Service shutting down\r\n");
	CHECK_INT(dev_reply(d, text, sizeof(text)), -1);
	dev_end(d);
	up_stop(&sc);
}

/* Fills a lease as the test token seam does. */
static struct token_lease *
test_lease(void)
{
	struct token_lease	*lease = calloc(1, sizeof(*lease));

	tok_get("scanner1", 0, lease, NULL);
	return (lease);
}

TEST(upstream_check_reports_steps)
{
	struct script		 sc = { 0 };
	struct settings		 st;
	struct token_lease	*lease = test_lease();
	struct exo_error	 e;
	char			 report[2048];
	int			 rc;

	up_start(&sc);
	config_defaults(&st);
	str_copy(st.smtp.hostname, "proxy.example.lan",
	    sizeof(st.smtp.hostname));
	str_copy(st.smtp.upstream.host, "localhost",
	    sizeof(st.smtp.upstream.host));
	st.smtp.upstream.port = sc.port;
	rc = smtp_upstream_check(&st, test_trust, lease, report,
	    sizeof(report), &e);
	CHECK_INT(rc, EXO_OK);
	CHECK(strstr(report, "SMTP connect localhost:") == report);
	CHECK(strstr(report, "\nSMTP STARTTLS and TLS 1.2 handshake: ok\n") !=
	    NULL);
	CHECK(strstr(report, "\nSMTP XOAUTH2 login: ok\n") != NULL);
	CHECK(strstr(report, "ABCDEFGHIJ") == NULL);
	up_stop(&sc);
	free(lease);
}

TEST(upstream_check_names_cause)
{
	struct script		 sc = { 0 };
	struct settings		 st;
	struct token_lease	*lease = test_lease();
	struct exo_error	 e;
	char			 report[2048];
	int			 rc;

	sc.auth_replies[0] = "535 5.7.139 Authentication unsuccessful, "
	    "SmtpClientAuthentication is disabled for the Mailbox.";
	up_start(&sc);
	config_defaults(&st);
	str_copy(st.smtp.upstream.host, "localhost",
	    sizeof(st.smtp.upstream.host));
	st.smtp.upstream.port = sc.port;
	rc = smtp_upstream_check(&st, test_trust, lease, report,
	    sizeof(report), &e);
	CHECK_INT(rc, EXO_ERR_AUTH);
	CHECK(strstr(report, "SMTP XOAUTH2 login: rejected: 535 5.7.139 "
	    "Authentication unsuccessful, SmtpClientAuthentication is "
	    "disabled for the Mailbox.\n") != NULL);
	CHECK(strstr(report, "likely cause: SMTP AUTH is disabled") != NULL);
	up_stop(&sc);
	free(lease);
}

TEST(no_secret_in_events)
{
	CHECK_INT(seen.leaks, 0);
}

/* ---- setup ---- */

static int
make_certificate(void)
{
	char	cmd[1024];

	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey rsa:2048 "
	    "-nodes -keyout %s/key.pem -out %s/cert.pem -days 2 "
	    "-subj /CN=localhost -addext subjectAltName=DNS:localhost "
	    ">/dev/null 2>&1", test_dir, test_dir);
	return (system(cmd) == 0 ? 0 : -1);
}

/* ---- CRAM-MD5, logins without AUTH, throttling ---- */

/* Writes base64 of "user HMAC-MD5(password, challenge)" into out. */
static void
cram_response(const char *user, const char *password,
    const char *challenge, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	br_hmac_key_context	key;
	br_hmac_context		hmac;
	unsigned char		d[16];
	char			text[128];
	size_t			n;
	int			i;

	br_hmac_key_init(&key, &br_md5_vtable, password, strlen(password));
	br_hmac_init(&hmac, &key, 0);
	br_hmac_update(&hmac, challenge, strlen(challenge));
	br_hmac_out(&hmac, d);
	n = (size_t)snprintf(text, sizeof(text), "%s ", user);
	for (i = 0; i < 16; i++) {
		text[n++] = digits[d[i] >> 4];
		text[n++] = digits[d[i] & 15];
	}
	text[n] = '\0';
	base64_encode(text, n, out);
}

TEST(cram_md5_login_and_cancel)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 line[1024], challenge[512], resp[256];

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "AUTH CRAM-MD5 c2Nhbm5lcjE=",
	    "501 5.5.2 CRAM-MD5 takes no initial response\r\n"));
	dev_send(d, "AUTH CRAM-MD5");
	CHECK_INT(dev_reply(d, line, sizeof(line)), 334);
	CHECK(dev_expect(d, "*", "501 5.7.0 Authentication cancelled\r\n"));
	dev_send(d, "AUTH CRAM-MD5");
	CHECK_INT(dev_reply(d, line, sizeof(line)), 334);
	/* "nodigest" has no space, "!!" is no base64. */
	CHECK(dev_expect(d, "bm9kaWdlc3Q=", "501 5.5.2 Invalid base64 data "
	    "or CRAM-MD5 response\r\n"));
	dev_send(d, "AUTH CRAM-MD5");
	CHECK_INT(dev_reply(d, line, sizeof(line)), 334);
	CHECK(dev_expect(d, "!!", "501 5.5.2 Invalid base64 data or CRAM-MD5 "
	    "response\r\n"));

	/* The first challenge came with the cancelled attempt. */
	decode_prompt(line, challenge, sizeof(challenge));
	dev_send(d, "auth cram-md5");
	CHECK_INT(dev_reply(d, line, sizeof(line)), 334);
	cram_response("scanner1", "secret", challenge, resp);
	CHECK(dev_expect(d, resp,
	    "535 5.7.8 Authentication credentials invalid\r\n"));
	CHECK_INT(sc.connections, 0);

	dev_send(d, "AUTH CRAM-MD5");
	CHECK_INT(dev_reply(d, line, sizeof(line)), 334);
	decode_prompt(line, challenge, sizeof(challenge));
	CHECK(challenge[0] == '<');
	CHECK(strstr(challenge, "@proxy.example.lan>") != NULL);
	cram_response("scanner1", "secret", challenge, resp);
	CHECK(dev_expect(d, resp, "235 2.7.0 Authentication successful\r\n"));
	CHECK_INT(sc.connections, 1);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(cram_md5_off_not_offered)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 line[1024];

	up_start(&sc);
	d = dev_start(&sc, 10);
	d->st.smtp.cram_md5 = 0;
	dev_reply(d, line, sizeof(line));
	CHECK(dev_expect(d, "EHLO mfp", "250-proxy.example.lan\r\n"
	    "250-SIZE 1000000\r\n250-8BITMIME\r\n250-PIPELINING\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250 AUTH PLAIN LOGIN\r\n"));
	CHECK(dev_expect(d, "AUTH CRAM-MD5", "504 5.5.4 Unrecognized "
	    "authentication mechanism\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(trusted_device_sends_as_user)
{
	struct script	 sc = { 0 };
	struct device	*d;
	char		 line[1024];

	/* Another network: still 530, and no upstream connection. */
	up_start(&sc);
	d = dev_start(&sc, 10);
	str_copy(d->st.smtp.trusted_devices, "192.0.2.0/24, 2001:db8::/32",
	    sizeof(d->st.smtp.trusted_devices));
	str_copy(d->st.smtp.trusted_user, "scanner1",
	    sizeof(d->st.smtp.trusted_user));
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "530 5.7.0 Authentication required\r\n"));
	CHECK_INT(sc.connections, 0);
	dev_end(d);
	up_stop(&sc);

	memset(&sc, 0, sizeof(sc));
	up_start(&sc);
	d = dev_start(&sc, 10);
	str_copy(d->st.smtp.trusted_devices, "192.0.2.10 127.0.0.0/8",
	    sizeof(d->st.smtp.trusted_devices));
	str_copy(d->st.smtp.trusted_user, "scanner1",
	    sizeof(d->st.smtp.trusted_user));
	dev_reply(d, line, sizeof(line));
	CHECK(dev_expect(d, "HELO mfp", "250 proxy.example.lan\r\n"));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_INT(sc.connections, 1);
	CHECK_INT(d->logins, 1);
	CHECK(wait_event("smtp.login") >= 0);
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "503 5.5.1 Already authenticated\r\n"));
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);
}

TEST(failed_auth_blocks_implicit_login)
{
	struct script	 sc = { 0 };
	struct device	*d;
	int		 i;

	up_start(&sc);
	for (i = 0; i < 2; i++) {
		/* Pass 0: trusted_devices; pass 1: POP-before-SMTP. */
		d = dev_start(&sc, 10);
		if (i == 0) {
			str_copy(d->st.smtp.trusted_devices, "127.0.0.0/8",
			    sizeof(d->st.smtp.trusted_devices));
			str_copy(d->st.smtp.trusted_user, "scanner1",
			    sizeof(d->st.smtp.trusted_user));
		} else {
			d->st.smtp.pop_before_smtp = 10;
			auth_recent_add("127.0.0.1", "scanner1",
			    plat_wall_time());
		}
		CHECK(dev_greet(d));
		/* \0scanner1\0wrong */
		CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHdyb25n",
		    "535 5.7.8 Authentication credentials invalid\r\n"));
		CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
		    "530 5.7.0 Authentication required\r\n"));
		CHECK_INT(sc.connections, i);
		CHECK_INT(d->logins, 0);
		dev_end(d);

		/* The same address without AUTH may still send. */
		d = dev_start(&sc, 10);
		if (i == 0) {
			str_copy(d->st.smtp.trusted_devices, "127.0.0.0/8",
			    sizeof(d->st.smtp.trusted_devices));
			str_copy(d->st.smtp.trusted_user, "scanner1",
			    sizeof(d->st.smtp.trusted_user));
		} else {
			d->st.smtp.pop_before_smtp = 10;
			auth_recent_add("127.0.0.1", "scanner1",
			    plat_wall_time());
		}
		CHECK(dev_greet(d));
		CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
		    "250 2.1.0 Sender OK\r\n"));
		CHECK_INT(sc.connections, i + 1);
		CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
		dev_end(d);
	}
	up_stop(&sc);
	auth_throttle_clear();
}

TEST(trusted_user_missing_530)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 10);
	str_copy(d->st.smtp.trusted_devices, "127.0.0.1",
	    sizeof(d->st.smtp.trusted_devices));
	str_copy(d->st.smtp.trusted_user, "nobody",
	    sizeof(d->st.smtp.trusted_user));
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "530 5.7.0 Authentication required\r\n"));
	CHECK(wait_event("smtp.implicit_user_missing") >= 0);
	CHECK_INT(sc.connections, 0);
	dev_end(d);
	up_stop(&sc);
}

TEST(pop_before_smtp_window)
{
	struct script	 sc = { 0 };
	struct device	*d;

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK(dev_greet(d));
	/* A POP3 login from this address, but the setting is off. */
	auth_recent_add("127.0.0.1", "scanner1", plat_wall_time());
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "530 5.7.0 Authentication required\r\n"));
	d->st.smtp.pop_before_smtp = 10;
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_INT(sc.connections, 1);
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d);
	up_stop(&sc);

	/* Eleven minutes later the window has closed. */
	memset(&sc, 0, sizeof(sc));
	up_start(&sc);
	d = dev_start(&sc, 10);
	d->st.smtp.pop_before_smtp = 10;
	auth_recent_add("127.0.0.1", "scanner1", plat_wall_time() - 660);
	CHECK(dev_greet(d));
	CHECK(dev_expect(d, "MAIL FROM:<mfp@example.com>",
	    "530 5.7.0 Authentication required\r\n"));
	CHECK_INT(sc.connections, 0);
	dev_end(d);
	up_stop(&sc);
}

TEST(throttled_address_gets_454)
{
	struct script	 sc = { 0 };
	struct device	*d;
	int64_t		 start;
	int		 i;

	up_start(&sc);
	d = dev_start(&sc, 10);
	auth_throttle_set_delay_ms(300);
	CHECK(dev_greet(d));
	for (i = 0; i < AUTH_THROTTLE_FAILURES - 1; i++)
		auth_throttle_fail("127.0.0.1", 0, plat_wall_time());
	/* \0scanner1\0wrong: the fifth failure blocks the address. */
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHdyb25n",
	    "535 5.7.8 Authentication credentials invalid\r\n"));
	CHECK(wait_event("auth.blocked") >= 0);
	start = plat_monotonic_ms();
	CHECK(dev_expect(d, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==",
	    "454 4.7.0 Too many failed logins from this address; try "
	    "again later\r\n"));
	CHECK(plat_monotonic_ms() - start >= 300);
	CHECK_INT(sc.connections, 0);
	dev_end(d);
	up_stop(&sc);
	auth_throttle_set_delay_ms(AUTH_THROTTLE_DELAY_MS);
	auth_throttle_clear();
}

/* Sets the sender policy and fix-ups of scanner1 in the user store. */
static int
set_sender_rewrite(struct user *u, void *arg)
{
	int	on = *(const int *)arg;

	str_copy(u->sender_policy, on ? "rewrite" : "pass",
	    sizeof(u->sender_policy));
	u->encode_utf8_headers = on;
	u->relabel_iso2022jp = on;
	return (EXO_OK);
}

TEST(sender_rewrite_envelope_and_header)
{
	struct script	 sc = { 0 };
	struct device	*d;
	int		 on = 1, off = 0, i;

	up_start(&sc);
	d = dev_start(&sc, 10);
	CHECK_INT(userdb_update(d->db, "scanner1", set_sender_rewrite, &on,
	    NULL), EXO_OK);
	CHECK(dev_login(d));
	CHECK(dev_expect(d, "MAIL FROM:<scanner@example.net> SIZE=100",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_STR(sc.mail_line, "MAIL FROM:<" MAILBOX "> BODY=8BITMIME");
	CHECK(dev_expect(d, "RCPT TO:<to@example.org>",
	    "250 2.1.5 Recipient OK\r\n"));
	CHECK(dev_expect(d, "DATA", "354 Start mail input; end with "
	    "<CRLF>.<CRLF>\r\n"));
	stream_puts(d->c, "From: Scanner 2F <scanner@example.net>\r\n"
	    "Subject: \xe3\x82\xb9\xe3\x82\xad\xe3\x83\xa3\xe3\x83\xb3\r\n"
	    "\r\nFrom: body line\r\n.\r\n");
	stream_flush(d->c);
	CHECK(dev_expect(d, NULL, "250 2.0.0 OK <id@fake> "
	    "[Hostname=fake]\r\n"));
	CHECK_STR(sc.data.data, "From: Scanner 2F <" MAILBOX ">\r\n"
	    "Subject: =?UTF-8?B?44K544Kt44Oj44Oz?=\r\n"
	    "\r\nFrom: body line\r\n.\r\n");
	CHECK((i = wait_event("smtp.sender_rewritten")) >= 0);
	CHECK(wait_event("smtp.charset_fixed") >= 0);

	/* A sender that is the mailbox already is left alone. */
	CHECK(dev_expect(d, "MAIL FROM:<MFP@Example.com>",
	    "250 2.1.0 Sender OK\r\n"));
	CHECK_STR(sc.mail_line, "MAIL FROM:<MFP@Example.com> BODY=8BITMIME");
	CHECK(dev_expect(d, "QUIT", "221 2.0.0 Bye\r\n"));
	CHECK_INT(userdb_update(d->db, "scanner1", set_sender_rewrite, &off,
	    NULL), EXO_OK);
	dev_end(d);
	up_stop(&sc);
}

TEST(upstream_slots_wait_for_quit)
{
	struct script	 sc = { 0 };
	struct device	*d1, *d2;
	int64_t		 start;

	up_start(&sc);
	d1 = dev_start(&sc, 10);
	d1->st.smtp.max_upstream_per_mailbox = 1;
	CHECK(dev_login(d1));
	CHECK_INT(smtp_upstream_in_use(MAILBOX), 1);
	CHECK_INT(smtp_upstream_in_use("MFP@EXAMPLE.COM"), 1);

	/* The second device waits in AUTH until the first one quits. */
	d2 = dev_start(&sc, 10);
	d2->st.smtp.max_upstream_per_mailbox = 1;
	CHECK(dev_greet(d2));
	dev_send(d2, "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==");
	plat_sleep_ms(500);
	CHECK_INT(sc.connections, 1);
	start = plat_monotonic_ms();
	CHECK(dev_expect(d1, "QUIT", "221 2.0.0 Bye\r\n"));
	CHECK(dev_expect(d2, NULL, "235 2.7.0 Authentication successful\r\n"));
	CHECK(plat_monotonic_ms() - start < 5000);
	CHECK_INT(sc.connections, 2);
	CHECK(dev_expect(d2, "QUIT", "221 2.0.0 Bye\r\n"));
	dev_end(d1);
	dev_end(d2);
	CHECK_INT(smtp_upstream_in_use(MAILBOX), 0);
	up_stop(&sc);
}

int
main(void)
{
	char			 cert[300], key[300];
	struct exo_error	 e;

	plat_init();
	snprintf(test_dir, sizeof(test_dir), "/tmp/exo-test-smtp-XXXXXX");
	if (mkdtemp(test_dir) == NULL || make_certificate() != 0) {
		printf("cannot make a test certificate with openssl in %s\n",
		    test_dir);
		return (1);
	}
	snprintf(cert, sizeof(cert), "%s/cert.pem", test_dir);
	snprintf(key, sizeof(key), "%s/key.pem", test_dir);
	if (trust_load(cert, &test_trust, &e) != EXO_OK ||
	    tls_server_creds_load(cert, key, &test_creds, &e) != EXO_OK) {
		printf("cannot load the test certificate: %s\n", e.msg);
		return (1);
	}
	seen.mu = plat_mutex_new();
	ev_subscribe(on_event, NULL);
	smtp_test_set_tokens(&test_tokens);

	RUN(login_inline_user_then_send);
	RUN(plain_prompt_cancel_and_errors);
	RUN(login_prompts_byte_exact);
	RUN(helo_then_lowercase_auth);
	RUN(mail_before_auth_530);
	RUN(auth_and_mail_need_greeting);
	RUN(overlong_sasl_response_500);
	RUN(xoauth2_in_two_steps);
	RUN(xoauth2_json_challenge_empty_line);
	RUN(smtp_auth_disabled_no_refresh);
	RUN(cached_token_refreshed_once);
	RUN(refreshed_token_still_rejected);
	RUN(fresh_token_not_retried);
	RUN(starttls_421_connection_failed);
	RUN(token_error_gives_454_message);
	RUN(size_limits_552);
	RUN(long_reply_cut_send_as_warned);
	RUN(multiline_reply_relayed_intact);
	RUN(data_without_recipients_554);
	RUN(drop_after_final_dot_451);
	RUN(upstream_gone_mid_session_421);
	RUN(local_commands_and_limits);
	RUN(preauth_timeout_421);
	RUN(large_message_random_chunks);
	RUN(data_line_rules_across_reads);
	RUN(data_line_rules_at_block_edges);
	RUN(message_over_limit_552);
	RUN(rejected_message_resets_upstream);
	RUN(reply_line_parsing);
	RUN(long_multiline_reply_keeps_last);
	RUN(device_gone_mid_data_not_sent);
	RUN(idle_timeout_after_login);
	RUN(stopping_ends_session_421);
	RUN(upstream_check_reports_steps);
	RUN(upstream_check_names_cause);
	RUN(no_secret_in_events);
	RUN(cram_md5_login_and_cancel);
	RUN(cram_md5_off_not_offered);
	RUN(trusted_device_sends_as_user);
	RUN(failed_auth_blocks_implicit_login);
	RUN(trusted_user_missing_530);
	RUN(pop_before_smtp_window);
	RUN(throttled_address_gets_454);
	RUN(sender_rewrite_envelope_and_header);
	RUN(upstream_slots_wait_for_quit);

	smtp_test_set_tokens(NULL);
	trust_free(test_trust);
	tls_server_creds_free(test_creds);
	snprintf(cert, sizeof(cert), "rm -rf %s", test_dir);
	system(cert);
	return (TEST_EXIT());
}
