/*
 * test-pop3.c: the POP3 session end to end inside one process. The test
 * plays the device over a loopback connection, pop3_session_run runs in
 * a thread, and a scripted fake Exchange POP3 server speaks TLS on
 * 127.0.0.1 with a certificate for "localhost" that openssl makes at test
 * time. Tokens come from a scripted stand-in installed through the test
 * seam; the user store is a real one in a temporary folder.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "../../src/event.h"
#include "../../src/plat.h"
#include "../../src/pop3.h"
#include "../../src/session.h"
#include "../../src/stream.h"
#include "../../src/users.h"
#include "../../src/auth.h"
#include "../../src/util.h"
#include "test.h"

#define WAIT_MS 5000
#define MAILBOX "mfp@example.com"
#define GREETING "+OK The Microsoft Exchange POP3 service is ready. " \
	"[SABFADEAUABSADAAMQA=]\r\n"

/* ---- fixtures: folder, certificates, settings, user store ---- */

static char			 tmp_dir[PLAT_PATH_MAX];
static struct settings		 settings;
static struct trust_store	*trust;
static struct tls_server_creds	*creds;
static struct userdb		*users;

static int
make_certificates(void)
{
	char	cmd[4096];

	snprintf(cmd, sizeof(cmd),
	    "cd %s && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=Test-CA "
	    "-addext basicConstraints=critical,CA:TRUE "
	    "-addext keyUsage=critical,keyCertSign >/dev/null 2>&1 && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout host.key -out host.csr -subj /CN=localhost "
	    ">/dev/null 2>&1 && "
	    "printf 'subjectAltName=DNS:localhost\\n' > host.ext && "
	    "openssl x509 -req -in host.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -out host.pem -days 2 -extfile host.ext "
	    ">/dev/null 2>&1", tmp_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
setup(void)
{
	struct exo_error	e;
	struct user		u;
	char			path[PLAT_PATH_MAX], key[PLAT_PATH_MAX];
	char			notice[512];

	snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/exo-test-pop3-%ld",
	    plat_getpid());
	if (plat_mkdir_p(tmp_dir, 1, &e) != EXO_OK || make_certificates())
		return -1;

	plat_path_join(path, tmp_dir, "ca.pem");
	if (trust_load(path, &trust, &e) != EXO_OK) {
		printf("  trust_load: %s\n", e.msg);
		return -1;
	}
	plat_path_join(path, tmp_dir, "host.pem");
	plat_path_join(key, tmp_dir, "host.key");
	if (tls_server_creds_load(path, key, &creds, &e) != EXO_OK) {
		printf("  tls_server_creds_load: %s\n", e.msg);
		return -1;
	}

	config_defaults(&settings);
	str_copy(settings.data_dir, tmp_dir, sizeof(settings.data_dir));
	str_copy(settings.pop3.upstream.host, "localhost",
	    sizeof(settings.pop3.upstream.host));
	settings.limits.preauth_timeout = 5;
	settings.pop3.idle_timeout = 5;
	/* Most tests expect the plain greeting; the APOP tests turn it on. */
	settings.pop3.apop = 0;
	if (userdb_open(&settings, &users, notice, &e) != EXO_OK) {
		printf("  userdb_open: %s\n", e.msg);
		return -1;
	}

	memset(&u, 0, sizeof(u));
	str_copy(u.login, "scanner1", sizeof(u.login));
	str_copy(u.mailbox, MAILBOX, sizeof(u.mailbox));
	str_copy(u.password, "secret", sizeof(u.password));
	str_copy(u.refresh_token, "refresh-1", sizeof(u.refresh_token));
	str_copy(u.sender_policy, "pass", sizeof(u.sender_policy));
	u.state = USER_OK;
	if (userdb_add(users, &u, &e) != EXO_OK) {
		printf("  userdb_add: %s\n", e.msg);
		return -1;
	}

	/* "pässwörd" in UTF-8, with and without the legacy encodings. */
	str_copy(u.login, "utf8only", sizeof(u.login));
	str_copy(u.password, "p\xc3\xa4ssw\xc3\xb6rd", sizeof(u.password));
	if (userdb_add(users, &u, &e) != EXO_OK)
		return -1;
	str_copy(u.login, "legacy", sizeof(u.login));
	u.accept_legacy_charset = 1;
	if (userdb_add(users, &u, &e) != EXO_OK)
		return -1;
	/* "päss€": the euro sign exists in Windows-1252 only. */
	str_copy(u.login, "euro", sizeof(u.login));
	str_copy(u.password, "p\xc3\xa4ss\xe2\x82\xac", sizeof(u.password));
	if (userdb_add(users, &u, &e) != EXO_OK)
		return -1;
	return 0;
}

static void
teardown(void)
{
	char	cmd[PLAT_PATH_MAX + 16];

	userdb_close(users);
	trust_free(trust);
	tls_server_creds_free(creds);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
	if (system(cmd) != 0)
		printf("  cannot remove %s\n", tmp_dir);
}

/* ---- events ---- */

#define EVENTS_MAX 128

static struct plat_mutex	*events_mutex;
static char			 event_ids[EVENTS_MAX][48];
static char			 event_texts[EVENTS_MAX][2048];
static int			 event_count;

static void
capture_event(const struct ev *ev, void *ctx)
{
	(void)ctx;
	plat_mutex_lock(events_mutex);
	if (event_count < EVENTS_MAX) {
		str_copy(event_ids[event_count], ev->id,
		    sizeof(event_ids[0]));
		ev_render(ev, ev->text, event_texts[event_count],
		    sizeof(event_texts[0]));
		event_count++;
	}
	plat_mutex_unlock(events_mutex);
}

static void
events_clear(void)
{
	plat_mutex_lock(events_mutex);
	event_count = 0;
	plat_mutex_unlock(events_mutex);
}

/* Returns the rendered text of the first event with id, or NULL. */
static const char *
event_find(const char *id)
{
	int	i;

	for (i = 0; i < event_count; i++) {
		if (strcmp(event_ids[i], id) == 0)
			return event_texts[i];
	}
	return NULL;
}

static int
event_count_of(const char *id)
{
	int	i, n = 0;

	for (i = 0; i < event_count; i++)
		n += strcmp(event_ids[i], id) == 0;
	return n;
}

/* 1 when any event contains text. */
static int
events_contain(const char *text)
{
	int	i;

	for (i = 0; i < event_count; i++) {
		if (strstr(event_texts[i], text) != NULL)
			return 1;
	}
	return 0;
}

/* ---- the token manager stand-in ---- */

static struct {
	int		 calls;
	int		 forced;
	int		 rejected;
	int		 successes;
	int		 fail_rc;
	const char	*fail_message;
	int		 cached_is_fresh;
	const char	*token;		/* from the cache */
	const char	*fresh_token;	/* after a forced refresh */
	char		 reject_code[32];
} tokens;

static int
tokens_get(struct token_mgr *m, const char *login, int force,
    struct token_lease *out, struct exo_error *e)
{
	(void)m;
	tokens.calls++;
	tokens.forced += force != 0;
	if (str_casecmp(login, "scanner1") != 0)
		return err_set(e, EXO_ERR_NOTFOUND, "no user %s", login);
	if (tokens.fail_rc != 0)
		return err_set(e, tokens.fail_rc, "%s", tokens.fail_message);
	memset(out, 0, sizeof(*out));
	str_copy(out->mailbox, MAILBOX, sizeof(out->mailbox));
	str_copy(out->access_token, force ? tokens.fresh_token : tokens.token,
	    sizeof(out->access_token));
	out->fresh = force ? 1 : tokens.cached_is_fresh;
	return EXO_OK;
}

static void
tokens_report_rejected(struct token_mgr *m, const char *login,
    const char *code, const char *reason)
{
	(void)m;
	(void)login;
	(void)reason;
	tokens.rejected++;
	str_copy(tokens.reject_code, code, sizeof(tokens.reject_code));
}

static void
tokens_report_success(struct token_mgr *m, const char *login)
{
	(void)m;
	(void)login;
	tokens.successes++;
}

static const struct pop3_token_ops tokens_ops = {
	tokens_get,
	tokens_report_rejected,
	tokens_report_success,
};

static void
tokens_reset(void)
{
	memset(&tokens, 0, sizeof(tokens));
	tokens.token = "TOKEN-ONE";
	tokens.fresh_token = "TOKEN-TWO";
}

/* ---- the fake Exchange POP3 server ---- */

#define UP_CONNS_MAX 3
#define UP_LOG_MAX 32768

/* One exchange: the line the proxy must send ("*": any, NULL: none),
 * then the reply, written in pieces with a pause between them. */
struct up_step {
	const char	*expect;
	const char	*reply[10];
	int		 close;		/* close the connection afterwards */
};

struct fake_upstream {
	plat_socket		 listener;
	unsigned		 port;
	const struct up_step	*conns[UP_CONNS_MAX];
	int			 nconns;
	int			 accepted;
	int			 mismatches;
	char			 log[UP_LOG_MAX];	/* lines received */
	size_t			 log_len;
	atomic_int		 done;
};

static void
up_log(struct fake_upstream *f, const char *line)
{
	size_t	n = strlen(line);

	if (f->log_len + n + 2 > sizeof(f->log))
		return;
	memcpy(f->log + f->log_len, line, n);
	f->log_len += n;
	f->log[f->log_len++] = '\n';
	f->log[f->log_len] = '\0';
}

static void
up_serve(struct fake_upstream *f, struct stream *st,
    const struct up_step *steps)
{
	static char	line[8192];
	size_t		len;
	int		i, j, rc;

	for (i = 0; steps[i].expect != NULL || steps[i].reply[0] != NULL ||
	    steps[i].close; i++) {
		if (steps[i].expect != NULL) {
			if (stream_read_line(st, line, sizeof(line), &len) !=
			    EXO_OK) {
				f->mismatches++;
				return;
			}
			str_trim_end(line, len);
			up_log(f, line);
			if (strcmp(steps[i].expect, "*") != 0 &&
			    strcmp(steps[i].expect, line) != 0)
				f->mismatches++;
		}
		for (j = 0; steps[i].reply[j] != NULL; j++) {
			if (j > 0)
				plat_sleep_ms(40);
			stream_puts(st, steps[i].reply[j]);
			stream_flush(st);
		}
		if (steps[i].close)
			return;
	}

	/* Record what the proxy sends after the script, such as a QUIT
	 * that it must not send. */
	while ((rc = stream_read_line(st, line, sizeof(line), &len)) ==
	    EXO_OK || rc == EXO_ERR_TOOLONG) {
		str_trim_end(line, strlen(line));
		up_log(f, line);
	}
}

static void
up_thread(void *arg)
{
	struct fake_upstream	*f = arg;
	struct stream		*st;
	plat_socket		 s;
	char			 peer[PLAT_ADDR_MAX];
	int			 c;

	for (c = 0; c < f->nconns; c++) {
		if (plat_accept(f->listener, WAIT_MS, &s, peer) != EXO_OK)
			break;
		f->accepted++;
		if ((st = stream_new(s, WAIT_MS)) == NULL)
			break;
		if (stream_start_tls_server(st, creds, NULL) == EXO_OK)
			up_serve(f, st, f->conns[c]);
		else
			f->mismatches++;
		stream_close(st);
		up_log(f, "--");
	}
	atomic_store(&f->done, 1);
}

static void
up_start(struct fake_upstream *f, const struct up_step *c1,
    const struct up_step *c2)
{
	memset(f, 0, sizeof(*f));
	f->conns[0] = c1;
	f->conns[1] = c2;
	f->nconns = c2 != NULL ? 2 : 1;
	atomic_init(&f->done, 0);
	if (plat_listen("127.0.0.1", 0, &f->listener, NULL) != EXO_OK) {
		f->listener = PLAT_SOCKET_INVALID;
		f->port = 1;
		return;
	}
	f->port = (unsigned)plat_socket_port(f->listener);
	settings.pop3.upstream.port = f->port;
	plat_thread_start(up_thread, f, 0);
}

static void
wait_flag(atomic_int *flag)
{
	int	i;

	for (i = 0; i < WAIT_MS / 10 && !atomic_load(flag); i++)
		plat_sleep_ms(10);
}

static void
up_finish(struct fake_upstream *f)
{
	/* A fake that still waits for a connection gives up after
	 * WAIT_MS; closing its listener ends that wait early. */
	plat_socket_shutdown(f->listener);
	wait_flag(&f->done);
	plat_socket_close(f->listener);
}

/* ---- the device side and the session thread ---- */

struct device {
	struct session_ctx	 ctx;
	struct server_stats	 stats;
	atomic_int		 stopping;
	atomic_int		 done;
	struct stream		*proxy_side;
	struct stream		*s;
	int			 logins;
	char			 login[USER_LOGIN_MAX];
};

static void
device_on_login(struct session_ctx *ctx, const char *login)
{
	struct device	*d = (struct device *)ctx->service;

	d->logins++;
	str_copy(d->login, login, sizeof(d->login));
}

static void
session_thread(void *arg)
{
	struct device	*d = arg;

	pop3_session_run(&d->ctx, d->proxy_side);
	atomic_store(&d->done, 1);
}

/* Connects a device to a new session; returns 0 or -1. */
static int
device_open(struct device *d)
{
	plat_socket	l, client, server;
	char		peer[PLAT_ADDR_MAX];
	int		rc;

	memset(d, 0, sizeof(*d));
	/* Every test connects from 127.0.0.1; failures must not add up. */
	auth_throttle_clear();
	atomic_init(&d->stopping, 0);
	atomic_init(&d->done, 0);
	if (plat_listen("127.0.0.1", 0, &l, NULL) != EXO_OK)
		return -1;
	rc = plat_connect("127.0.0.1", (unsigned)plat_socket_port(l),
	    WAIT_MS, &client, NULL);
	if (rc == EXO_OK)
		rc = plat_accept(l, WAIT_MS, &server, peer);
	plat_socket_close(l);
	if (rc != EXO_OK)
		return -1;

	d->s = stream_new(client, WAIT_MS);
	d->proxy_side = stream_new(server, WAIT_MS);
	d->ctx.settings = &settings;
	d->ctx.trust = trust;
	d->ctx.users = users;
	d->ctx.tokens = NULL;
	d->ctx.stats = &d->stats;
	d->ctx.conn = ev_next_conn_id();
	str_copy(d->ctx.peer, peer, sizeof(d->ctx.peer));
	d->ctx.stopping = &d->stopping;
	d->ctx.on_login = device_on_login;
	d->ctx.service = d;
	return plat_thread_start(session_thread, d, 0) == EXO_OK ? 0 : -1;
}

/* Closes the device's side and waits for the session to end. */
static void
device_close(struct device *d)
{
	stream_close(d->s);
	d->s = NULL;
	wait_flag(&d->done);
}

static void
device_send(struct device *d, const char *text)
{
	stream_puts(d->s, text);
	stream_flush(d->s);
}

/* Reads one line, line end included; "" at the end of the stream. */
static const char *
device_line(struct device *d)
{
	static char	line[8192];
	size_t		len;

	if (stream_read_line(d->s, line, sizeof(line), &len) != EXO_OK)
		line[0] = '\0';
	return line;
}

/* Reads lines until they add up to the length of expect. */
static const char *
device_lines(struct device *d, const char *expect)
{
	static char	text[16384];
	size_t		len = 0, n;
	const char	*line;

	text[0] = '\0';
	while (len < strlen(expect)) {
		line = device_line(d);
		if ((n = strlen(line)) == 0 || len + n >= sizeof(text))
			break;
		memcpy(text + len, line, n + 1);
		len += n;
	}
	return text;
}

/* 1 when the proxy closed the device's connection. */
static int
device_closed(struct device *d)
{
	char	c;

	return stream_read(d->s, &c, 1) <= 0;
}

/* Starts a session, checks the greeting and sends USER and PASS; the
 * caller reads the reply to PASS. */
static int
device_login(struct device *d)
{
	if (device_open(d) != 0)
		return -1;
	CHECK_STR(device_line(d), "+OK exoconnect POP3 ready\r\n");
	device_send(d, "USER scanner1\r\n");
	CHECK_STR(device_line(d), "+OK\r\n");
	device_send(d, "PASS secret\r\n");
	return 0;
}

/* A fake upstream's greeting and XOAUTH2 login, then steps. */
#define UP_LOGIN							\
	{ NULL, { GREETING }, 0 },					\
	{ "AUTH XOAUTH2", { "+ \r\n" }, 0 },				\
	{ "*", { "+OK User successfully authenticated.\r\n" }, 0 }

#define UP_END { NULL, { NULL }, 0 }

/* ---- tests: before login ---- */

TEST(auth_check_password_rules)
{
	struct user	u;

	CHECK_INT(auth_check_password(users, "scanner1", "secret", 6, &u),
	    EXO_OK);
	CHECK_STR(u.login, "scanner1");
	CHECK_STR(u.mailbox, MAILBOX);
	CHECK_INT(auth_check_password(users, "SCANNER1", "secret", 6, &u),
	    EXO_OK);
	CHECK_INT(auth_check_password(users, "scanner1", "Secret", 6, &u),
	    EXO_ERR_AUTH);
	CHECK_STR(u.password, "");
	CHECK_INT(auth_check_password(users, "scanner1", "secret ", 7, &u),
	    EXO_ERR_AUTH);
	CHECK_INT(auth_check_password(users, "nobody", "secret", 6, &u),
	    EXO_ERR_AUTH);
	CHECK_INT(auth_check_password(users, "", "", 0, &u), EXO_ERR_AUTH);
}

TEST(capa_before_login_lists_no_stls)
{
	struct device	d;

	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	CHECK_STR(device_line(&d), "+OK exoconnect POP3 ready\r\n");
	device_send(&d, "CAPA\r\n");
	CHECK_STR(device_lines(&d, "+OK Capability list follows\r\nTOP\r\n"
	    "UIDL\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\n.\r\n"), "+OK Capability list follows\r\n"
	    "TOP\r\nUIDL\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\n.\r\n");
	device_send(&d, "QUIT\r\n");
	CHECK_STR(device_line(&d), "+OK Bye\r\n");
	CHECK(device_closed(&d));
	device_close(&d);
}

TEST(sasl_cancel_bad_base64_wrong_password)
{
	struct device	d;

	events_clear();
	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	device_line(&d);
	device_send(&d, "AUTH PLAIN\r\n");
	CHECK_STR(device_line(&d), "+ \r\n");
	device_send(&d, "*\r\n");
	CHECK_STR(device_line(&d), "-ERR Authentication cancelled\r\n");

	device_send(&d, "AUTH PLAIN\r\n");
	CHECK_STR(device_line(&d), "+ \r\n");
	device_send(&d, "AHNj!!!W5u\r\n");
	CHECK(strncmp(device_line(&d), "-ERR ", 5) == 0);

	/* \0scanner1\0wrong */
	device_send(&d, "AUTH PLAIN AHNjYW5uZXIxAHdyb25n\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR [AUTH] Invalid user name or password\r\n");

	device_send(&d, "AUTH LOGIN\r\n");
	CHECK_STR(device_line(&d), "+ VXNlcm5hbWU6\r\n");
	device_send(&d, "*\r\n");
	CHECK_STR(device_line(&d), "-ERR Authentication cancelled\r\n");

	device_send(&d, "USER scanner1\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_send(&d, "PASS wrong\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR [AUTH] Invalid user name or password\r\n");
	device_send(&d, "PASS secret\r\n");
	CHECK_STR(device_line(&d), "-ERR Send USER first\r\n");

	/* Still in AUTHORIZATION: local commands keep working. */
	device_send(&d, "NOOP\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_send(&d, "STAT\r\n");
	CHECK_STR(device_line(&d), "-ERR Log in first\r\n");
	CHECK_INT(event_count_of("pop3.login_failed"), 2);
	CHECK(!events_contain("wrong"));
	CHECK_INT(d.logins, 0);
	device_close(&d);
}

/* Writes base64 of head and fill bytes of 'x', then CRLF, into line. */
static void
long_response(char *line, const char *head, size_t head_len, size_t fill)
{
	char	raw[2048];
	size_t	n;

	memcpy(raw, head, head_len);
	memset(raw + head_len, 'x', fill);
	base64_encode(raw, head_len + fill, line);
	n = strlen(line);
	memcpy(line + n, "\r\n", 3);
}

TEST(overlong_sasl_response_named)
{
	struct device	 d;
	char		 line[4096];
	const char	*too_long = "-ERR Authentication exchange line is too "
	    "long\r\n";

	events_clear();
	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	device_line(&d);
	/* A 600-byte password: valid base64, but over a field's maximum. */
	device_send(&d, "AUTH PLAIN\r\n");
	CHECK_STR(device_line(&d), "+ \r\n");
	long_response(line, "\0scanner1\0", 10, 600);
	device_send(&d, line);
	CHECK_STR(device_line(&d), too_long);

	device_send(&d, "AUTH LOGIN\r\n");
	CHECK_STR(device_line(&d), "+ VXNlcm5hbWU6\r\n");
	long_response(line, "", 0, 600);
	device_send(&d, line);
	CHECK_STR(device_line(&d), too_long);
	device_send(&d, "AUTH LOGIN c2Nhbm5lcjE=\r\n");
	CHECK_STR(device_line(&d), "+ UGFzc3dvcmQ6\r\n");
	device_send(&d, line);
	CHECK_STR(device_line(&d), too_long);

	device_send(&d, "AUTH CRAM-MD5\r\n");
	CHECK(strncmp(device_line(&d), "+ ", 2) == 0);
	long_response(line, "scanner1 ", 9, 600);
	device_send(&d, line);
	CHECK_STR(device_line(&d), too_long);

	device_send(&d, "AUTH LOGIN !!!\r\n");
	CHECK_STR(device_line(&d), "-ERR Invalid base64 data\r\n");
	CHECK_INT(event_count_of("pop3.login_failed"), 0);
	CHECK_INT(d.logins, 0);
	device_close(&d);
}

TEST(stls_refused_once_logged)
{
	struct device	d;

	events_clear();
	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	device_line(&d);
	device_send(&d, "STLS\r\n");
	CHECK_STR(device_line(&d), "-ERR TLS not available\r\n");
	device_send(&d, "stls\r\n");
	CHECK_STR(device_line(&d), "-ERR TLS not available\r\n");
	device_send(&d, "USER scanner1\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_close(&d);
	CHECK_INT(event_count_of("pop3.stls_refused"), 1);
	CHECK(event_find("pop3.stls_refused") != NULL &&
	    strstr(event_find("pop3.stls_refused"), "no certificate") != NULL);
}

TEST(bare_auth_lists_mechanisms)
{
	struct device	d;

	events_clear();
	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	device_line(&d);
	device_send(&d, "auth  \r\n");
	CHECK_STR(device_lines(&d, "+OK\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\n"
	    ".\r\n"), "+OK\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\n.\r\n");
	device_send(&d, "AUTH FOO\r\n");
	CHECK(strncmp(device_line(&d), "-ERR ", 5) == 0);
	device_send(&d, "USER scanner1\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_close(&d);
	CHECK_INT(event_count_of("pop3.login_failed"), 0);
}

TEST(overlong_line_nul_unknown_command)
{
	struct device	d;
	char		line[700];

	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	device_line(&d);
	memset(line, 'A', sizeof(line));
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	stream_write(d.s, line, sizeof(line));
	stream_flush(d.s);
	CHECK_STR(device_line(&d), "-ERR Line too long\r\n");

	/* 510 bytes and CRLF make 512, the limit. */
	memset(line, ' ', 512);
	memcpy(line, "NOOP", 4);
	memcpy(line + 510, "\r\n", 2);
	stream_write(d.s, line, 512);
	stream_flush(d.s);
	CHECK_STR(device_line(&d), "+OK\r\n");

	stream_write(d.s, "NO\0OP\r\n", 7);
	stream_flush(d.s);
	CHECK_STR(device_line(&d), "-ERR NUL byte in command\r\n");
	device_send(&d, "XYZZY\r\n");
	CHECK_STR(device_line(&d), "-ERR Unknown command\r\n");
	device_send(&d, "APOP scanner1 0123456789abcdef\r\n");
	CHECK_STR(device_line(&d), "-ERR APOP is not enabled on this "
	    "server\r\n");

	/* A SASL response above SASL_LINE_MAX is rejected as well. */
	device_send(&d, "AUTH PLAIN\r\n");
	CHECK_STR(device_line(&d), "+ \r\n");
	{
		static char	big[5000];

		memset(big, 'A', sizeof(big));
		memcpy(big + sizeof(big) - 2, "\r\n", 2);
		stream_write(d.s, big, sizeof(big));
		stream_flush(d.s);
	}
	CHECK_STR(device_line(&d), "-ERR Line too long\r\n");
	device_send(&d, "NOOP\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_close(&d);
}

TEST(preauth_timeout_replies)
{
	struct device	d;

	settings.limits.preauth_timeout = 1;
	if (device_open(&d) != 0) {
		CHECK(0);
		settings.limits.preauth_timeout = 5;
		return;
	}
	device_line(&d);
	CHECK_STR(device_line(&d), "-ERR Connection timed out\r\n");
	CHECK(device_closed(&d));
	device_close(&d);
	settings.limits.preauth_timeout = 5;
}

TEST(legacy_charset_passwords)
{
	struct user	u;
	struct device	d;

	/* UTF-8 always works; ISO-8859-1 only with the option. */
	CHECK_INT(auth_check_password(users, "utf8only",
	    "p\xc3\xa4ssw\xc3\xb6rd", 10, &u), EXO_OK);
	CHECK_INT(auth_check_password(users, "utf8only", "p\xe4ssw\xf6rd", 8,
	    &u), EXO_ERR_AUTH);
	CHECK_INT(auth_check_password(users, "legacy",
	    "p\xc3\xa4ssw\xc3\xb6rd", 10, &u), EXO_OK);
	CHECK_INT(auth_check_password(users, "legacy", "p\xe4ssw\xf6rd", 8,
	    &u), EXO_OK);
	CHECK_INT(auth_check_password(users, "legacy", "p\xe4ssw\xf6r", 7,
	    &u), EXO_ERR_AUTH);

	/* The euro sign is 0x80 in Windows-1252 and has no ISO-8859-1 form. */
	CHECK_INT(auth_check_password(users, "euro", "p\xe4ss\x80", 5, &u),
	    EXO_OK);
	CHECK_INT(auth_check_password(users, "euro", "p\xe4ss?", 5, &u),
	    EXO_ERR_AUTH);
	CHECK_INT(auth_check_password(users, "euro", "p\xe4ss", 4, &u),
	    EXO_ERR_AUTH);

	/* PASS with ISO-8859-1 bytes: the local check passes, and the
	 * token stand-in's failure shows the login got past it. */
	tokens_reset();
	tokens.fail_rc = EXO_ERR_TRANSIENT;
	tokens.fail_message = "OAuth token service unavailable";
	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	device_line(&d);
	device_send(&d, "USER utf8only\r\nPASS p\xe4ssw\xf6rd\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR [AUTH] Invalid user name or password\r\n");
	device_send(&d, "USER legacy\r\nPASS p\xe4ssw\xf6rd\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	CHECK(strncmp(device_line(&d), "-ERR [SYS/TEMP]", 15) == 0);
	/* AUTH LOGIN with the password in ISO-8859-1: "cORzc3f2cmQ=". */
	device_send(&d, "AUTH LOGIN bGVnYWN5\r\n");
	CHECK_STR(device_line(&d), "+ UGFzc3dvcmQ6\r\n");
	device_send(&d, "cORzc3f2cmQ=\r\n");
	CHECK(strncmp(device_line(&d), "-ERR [SYS/TEMP]", 15) == 0);
	device_close(&d);
}

/* ---- tests: login ---- */

TEST(plain_continuation_logs_in)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "QUIT", { "+OK Microsoft Exchange Server 2016 POP3 server "
		    "signing off.\r\n" }, 1 },
		UP_END,
	};
	struct fake_upstream	f;
	struct device		d;
	struct user		u;

	tokens_reset();
	events_clear();
	up_start(&f, conn, NULL);
	if (device_open(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	device_line(&d);

	/* "other\0scanner1\0secret": acting as another user is refused. */
	device_send(&d, "AUTH PLAIN b3RoZXIAc2Nhbm5lcjEAc2VjcmV0\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR [AUTH] Invalid user name or password\r\n");
	device_send(&d, "AUTH PLAIN\r\n");
	CHECK_STR(device_line(&d), "+ \r\n");
	device_send(&d, "AHNjYW5uZXIxAHNlY3JldA==\r\n");
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_send(&d, "QUIT\r\n");
	CHECK_STR(device_line(&d), "+OK Microsoft Exchange Server 2016 POP3 "
	    "server signing off.\r\n");
	CHECK(device_closed(&d));
	device_close(&d);
	up_finish(&f);

	CHECK_INT(f.mismatches, 0);
	CHECK_INT(d.logins, 1);
	CHECK_STR(d.login, "scanner1");
	CHECK_INT(tokens.calls, 1);
	CHECK_INT(tokens.successes, 1);
	CHECK_INT(atomic_load(&d.stats.logins), 1);
	CHECK(event_find("pop3.login") != NULL);
	CHECK(!events_contain("secret"));
	CHECK(!events_contain("TOKEN-ONE"));

	/* The login's time went to the user store. */
	CHECK_INT(userdb_get(users, "scanner1", &u, NULL), EXO_OK);
	CHECK(u.last_pop3 > 0);
	user_wipe(&u);
}

TEST(login_variants_and_bare_lf)
{
	static const struct up_step conn[] = { UP_LOGIN, UP_END };
	static const char *const logins[][2] = {
		/* initial response on the AUTH line */
		{ "AUTH PLAIN AHNjYW5uZXIxAHNlY3JldA==\r\n", NULL },
		/* LOGIN with the user name inline, padding left out */
		{ "AUTH LOGIN c2Nhbm5lcjE\r\n", "c2VjcmV0\r\n" },
		/* lower case, bare LF, trailing spaces */
		{ "user scanner1  \n", "pass secret\n" },
	};
	struct fake_upstream	f;
	struct device		d;
	size_t			i;

	for (i = 0; i < sizeof(logins) / sizeof(logins[0]); i++) {
		tokens_reset();
		up_start(&f, conn, NULL);
		if (device_open(&d) != 0) {
			CHECK(0);
			up_finish(&f);
			return;
		}
		device_line(&d);
		device_send(&d, logins[i][0]);
		if (logins[i][1] != NULL) {
			CHECK(strncmp(device_line(&d), "+", 1) == 0);
			device_send(&d, logins[i][1]);
		}
		CHECK_STR(device_line(&d), "+OK Logged in\r\n");
		device_close(&d);
		up_finish(&f);
		CHECK_INT(f.mismatches, 0);
		/* The device left without QUIT, so none went upstream. */
		CHECK(strstr(f.log, "QUIT") == NULL);
	}
}

TEST(login_prompts_exact)
{
	static const struct up_step conn[] = { UP_LOGIN, UP_END };
	struct fake_upstream	f;
	struct device		d;

	tokens_reset();
	up_start(&f, conn, NULL);
	if (device_open(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	device_line(&d);
	device_send(&d, "AUTH LOGIN\r\n");
	CHECK_STR(device_line(&d), "+ VXNlcm5hbWU6\r\n");
	device_send(&d, "c2Nhbm5lcjE=\r\n");
	CHECK_STR(device_line(&d), "+ UGFzc3dvcmQ6\r\n");
	device_send(&d, "c2VjcmV0\r\n");
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");

	/* After login the local-only commands are refused. */
	device_send(&d, "USER scanner1\r\n");
	CHECK(strncmp(device_line(&d), "-ERR", 4) == 0);
	device_send(&d, "STLS\r\n");
	CHECK(strncmp(device_line(&d), "-ERR", 4) == 0);
	device_send(&d, "AUTH\r\n");
	CHECK(strncmp(device_line(&d), "-ERR", 4) == 0);
	device_send(&d, "CAPA\r\n");
	CHECK_STR(device_line(&d), "+OK Capability list follows\r\n");
	device_lines(&d, "TOP\r\nUIDL\r\nUSER\r\nSASL PLAIN LOGIN CRAM-MD5\r\n"
	    "RESP-CODES\r\nAUTH-RESP-CODE\r\n.\r\n");
	device_send(&d, "RETR x\r\n");
	CHECK_STR(device_line(&d), "-ERR Invalid argument\r\n");
	device_send(&d, "TOP 1\r\n");
	CHECK_STR(device_line(&d), "-ERR Invalid argument\r\n");
	device_send(&d, "FOO\r\n");
	CHECK_STR(device_line(&d), "-ERR Unknown command\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);
}

TEST(xoauth2_two_step_long_token)
{
	static char		 token[3001];
	static char		 expect[4096];
	static const struct up_step conn[] = {
		{ NULL, { GREETING }, 0 },
		/* a bare "+" without the space must work too */
		{ "AUTH XOAUTH2", { "+\r\n" }, 0 },
		{ "*", { "+OK User successfully authenticated.\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	 f;
	struct device		 d;
	const char		*line;
	char			*decoded;
	long			 n;
	size_t			 i, len;

	for (i = 0; i < 3000; i++)
		token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"[i % 39];
	tokens_reset();
	tokens.token = token;
	events_clear();
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);

	/* The fake logs each line the proxy sent: "AUTH XOAUTH2", then the
	 * response. */
	CHECK(strncmp(f.log, "AUTH XOAUTH2\n", 13) == 0);
	line = f.log + 13;
	len = strcspn(line, "\n");
	CHECK(len > 4000);
	decoded = malloc(len);
	n = base64_decode(line, len, decoded, len, 0);
	snprintf(expect, sizeof(expect), "user=" MAILBOX "\001auth=Bearer "
	    "%s\001\001", token);
	CHECK_INT(n, (long)strlen(expect));
	if (n == (long)strlen(expect))
		CHECK(memcmp(decoded, expect, (size_t)n) == 0);
	free(decoded);
	CHECK(!events_contain(token));
	CHECK(!events_contain("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));
}

TEST(rejected_cached_token_retried_once)
{
	static const struct up_step conn[] = {
		{ NULL, { GREETING }, 0 },
		{ "AUTH XOAUTH2", { "+ \r\n" }, 0 },
		{ "*", { "-ERR Authentication failure: unknown user name or "
		    "bad password.\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	 f;
	struct device		 d;
	const char		*warning;

	tokens_reset();
	events_clear();
	up_start(&f, conn, conn);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "-ERR [SYS/TEMP] Exchange refused the "
	    "OAuth login for " MAILBOX ", see proxy log\r\n");
	/* The session stays in AUTHORIZATION. */
	device_send(&d, "NOOP\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_close(&d);
	up_finish(&f);

	CHECK_INT(f.accepted, 2);
	CHECK_INT(tokens.calls, 2);
	CHECK_INT(tokens.forced, 1);
	CHECK_INT(tokens.rejected, 1);
	CHECK_INT(tokens.successes, 0);
	warning = event_find("pop3.upstream_rejected");
	CHECK(warning != NULL);
	if (warning != NULL) {
		CHECK(strstr(warning, "scanner1") != NULL);
		CHECK(strstr(warning, "Authentication failure") != NULL);
		CHECK(strstr(warning, "POP.AccessAsUser.All") != NULL);
	}
	CHECK(!events_contain("TOKEN-ONE"));
	CHECK(!events_contain("TOKEN-TWO"));
}

TEST(rejected_fresh_token_not_retried)
{
	static const struct up_step conn[] = {
		{ NULL, { GREETING }, 0 },
		{ "AUTH XOAUTH2", { "+ \r\n" }, 0 },
		{ "*", { "-ERR Authentication failure: unknown user name or "
		    "bad password.\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	f;
	struct device		d;

	tokens_reset();
	tokens.cached_is_fresh = 1;
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "-ERR [SYS/TEMP] Exchange refused the "
	    "OAuth login for " MAILBOX ", see proxy log\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.accepted, 1);
	CHECK_INT(tokens.calls, 1);
	CHECK_INT(tokens.forced, 0);
	CHECK_INT(tokens.rejected, 1);
}

TEST(token_errors_reach_device)
{
	struct device	d;

	tokens_reset();
	tokens.fail_rc = EXO_ERR_TRANSIENT;
	tokens.fail_message = "OAuth token service unavailable, try again "
	    "later";
	if (device_login(&d) != 0) {
		CHECK(0);
		return;
	}
	CHECK_STR(device_line(&d), "-ERR [SYS/TEMP] OAuth token service "
	    "unavailable, try again later\r\n");

	/* During the backoff after a refusal the reply is the refusal's. */
	tokens.fail_rc = EXO_ERR_UPSTREAM;
	tokens.fail_message = "Exchange rejected the token recently";
	device_send(&d, "USER scanner1\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_send(&d, "PASS secret\r\n");
	CHECK_STR(device_line(&d), "-ERR [SYS/TEMP] Exchange refused the "
	    "OAuth login for " MAILBOX ", see proxy log\r\n");
	device_close(&d);
	/* on_login ran once for the first good password only. */
	CHECK_INT(d.logins, 1);
}

TEST(upstream_unavailable_during_pass)
{
	static const struct up_step unavailable[] = {
		{ NULL, { GREETING }, 0 },
		{ "AUTH XOAUTH2", { "+ \r\n" }, 0 },
		{ "*", { "-ERR Server Unavailable. 21\r\n" }, 1 },
	};
	static const struct up_step closing[] = {
		{ NULL, { GREETING }, 0 },
		{ "AUTH XOAUTH2", { NULL }, 1 },
	};
	struct fake_upstream	f;
	struct device		d;

	tokens_reset();
	up_start(&f, unavailable, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "-ERR [SYS/TEMP] Server Unavailable. 21"
	    "\r\n");
	device_close(&d);
	up_finish(&f);
	/* Not a token problem: no retry and no report. */
	CHECK_INT(tokens.calls, 1);
	CHECK_INT(tokens.rejected, 0);

	tokens_reset();
	up_start(&f, closing, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "-ERR [SYS/TEMP] Upstream connection "
	    "closed\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(tokens.rejected, 0);
}

/* ---- tests: transaction ---- */

TEST(top_and_retr_dot_stuffing_split)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "TOP 1 10", { "+OK\r\nSubject: x\r\n\r\nfirst\r\n..\r\n",
		    "..dot\r\n..02 test\r\n....\r\nlast\r\n.", "\r\n" }, 0 },
		{ "NOOP", { "+OK\r\n" }, 0 },
		{ "RETR 1", { "+OK\r\n", "a\r\n", "\r", "\n", ".", ".b\r\n",
		    "\r\n.", "\r\n" }, 0 },
		{ "NOOP", { "+OK\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	 f;
	struct device		 d;
	const char		*retr;

	tokens_reset();
	events_clear();
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_send(&d, "top 1   10 \r\n");
	CHECK_STR(device_lines(&d, "+OK\r\nSubject: x\r\n\r\nfirst\r\n..\r\n"
	    "..dot\r\n..02 test\r\n....\r\nlast\r\n.\r\n"), "+OK\r\nSubject: "
	    "x\r\n\r\nfirst\r\n..\r\n..dot\r\n..02 test\r\n....\r\nlast\r\n"
	    ".\r\n");
	device_send(&d, "NOOP\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_send(&d, "RETR 1\r\n");
	CHECK_STR(device_lines(&d, "+OK\r\na\r\n\r\n..b\r\n\r\n.\r\n"),
	    "+OK\r\na\r\n\r\n..b\r\n\r\n.\r\n");
	device_send(&d, "NOOP\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);
	CHECK_INT(atomic_load(&d.stats.messages), 1);
	retr = event_find("pop3.retr");
	CHECK(retr != NULL);
	/* "a\r\n\r\n..b\r\n\r\n" is 12 bytes before the final line. */
	if (retr != NULL)
		CHECK(strstr(retr, "12 bytes") != NULL);
}

/*
 * The relay looks only at dots after a line end: dots inside lines, a dot
 * that starts a read in the middle of a line, and a line end that ends a
 * read before the final dot.
 */
TEST(retr_dots_inside_lines_and_at_reads)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "RETR 1", { "+OK\r\n", "a.b.c\r\n.", ".x\r\n", "y", ".\r\n",
		    "..\r\n", "last\r\n", ".\r\n" }, 0 },
		{ "NOOP", { "+OK\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	 f;
	struct device		 d;
	const char		*retr;

	tokens_reset();
	events_clear();
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_send(&d, "RETR 1\r\n");
	CHECK_STR(device_lines(&d, "+OK\r\na.b.c\r\n..x\r\ny.\r\n..\r\n"
	    "last\r\n.\r\n"), "+OK\r\na.b.c\r\n..x\r\ny.\r\n..\r\n"
	    "last\r\n.\r\n");
	device_send(&d, "NOOP\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);
	retr = event_find("pop3.retr");
	CHECK(retr != NULL);
	if (retr != NULL)
		CHECK(strstr(retr, "26 bytes") != NULL);
}

TEST(uidl_and_list_relayed_unchanged)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "UIDL", { "+OK\r\n1 AAA1\r\n2 BBB2\r\n.\r\n" }, 0 },
		{ "LIST", { "+OK 2 total\r\n1 120\r\n2 4711\r\n.\r\n" }, 0 },
		{ "LIST 2", { "+OK 2 4711\r\n" }, 0 },
		{ "STAT", { "+OK 2 4831\r\n" }, 0 },
		{ "DELE 1", { "+OK\r\n" }, 0 },
		{ "UIDL 1", { "-ERR The specified message is out of range."
		    "\r\n" }, 0 },
		{ "UIDL 2", { "+OK 2 BBB2\r\n" }, 0 },
		{ "RSET", { "+OK\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	f;
	struct device		d;

	tokens_reset();
	events_clear();
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_send(&d, "UIDL\r\n");
	CHECK_STR(device_lines(&d, "+OK\r\n1 AAA1\r\n2 BBB2\r\n.\r\n"),
	    "+OK\r\n1 AAA1\r\n2 BBB2\r\n.\r\n");
	device_send(&d, "LIST\r\n");
	CHECK_STR(device_lines(&d, "+OK 2 total\r\n1 120\r\n2 4711\r\n.\r\n"),
	    "+OK 2 total\r\n1 120\r\n2 4711\r\n.\r\n");
	device_send(&d, "LIST 2\r\n");
	CHECK_STR(device_line(&d), "+OK 2 4711\r\n");
	device_send(&d, "STAT\r\n");
	CHECK_STR(device_line(&d), "+OK 2 4831\r\n");
	device_send(&d, "DELE 1\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_send(&d, "UIDL 1\r\n");
	CHECK_STR(device_line(&d), "-ERR The specified message is out of "
	    "range.\r\n");
	device_send(&d, "UIDL 2\r\n");
	CHECK_STR(device_line(&d), "+OK 2 BBB2\r\n");
	device_send(&d, "RSET\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);
	/* RSET undid the mark, so nothing was left uncommitted. */
	CHECK(event_find("pop3.deletions_uncommitted") != NULL &&
	    strstr(event_find("pop3.deletions_uncommitted"), "0 deletions") !=
	    NULL);
}

TEST(device_reset_sends_no_quit)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "DELE 1", { "+OK\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	 f;
	struct device		 d;
	const char		*text;

	tokens_reset();
	events_clear();
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_send(&d, "DELE 1\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);
	CHECK(strstr(f.log, "QUIT") == NULL);
	text = event_find("pop3.deletions_uncommitted");
	CHECK(text != NULL);
	if (text != NULL)
		CHECK(strstr(text, "device closed without QUIT; 1 deletion "
		    "not committed") != NULL);
	text = event_find("pop3.session_end");
	CHECK(text != NULL);
	if (text != NULL)
		CHECK(strstr(text, "device closed") != NULL);
}

TEST(quit_reply_comes_from_upstream)
{
	static const struct up_step refused[] = {
		UP_LOGIN,
		{ "DELE 1", { "+OK\r\n" }, 0 },
		{ "QUIT", { "-ERR some deleted messages not removed\r\n" }, 1 },
	};
	static const struct up_step vanished[] = {
		UP_LOGIN,
		{ "DELE 1", { "+OK\r\n" }, 0 },
		{ "QUIT", { NULL }, 1 },
	};
	struct fake_upstream	f;
	struct device		d;

	tokens_reset();
	up_start(&f, refused, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	device_line(&d);
	device_send(&d, "DELE 1\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_send(&d, "QUIT\r\n");
	CHECK_STR(device_line(&d), "-ERR some deleted messages not removed"
	    "\r\n");
	CHECK(device_closed(&d));
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);

	tokens_reset();
	up_start(&f, vanished, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	device_line(&d);
	device_send(&d, "DELE 1\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_send(&d, "QUIT\r\n");
	CHECK_STR(device_line(&d), "-ERR Upstream closed before confirming "
	    "deletions\r\n");
	CHECK(device_closed(&d));
	device_close(&d);
	up_finish(&f);
}

TEST(server_unavailable_closes_device)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "STAT", { "-ERR Server Unavailable. 21\r\n" }, 1 },
	};
	struct fake_upstream	 f;
	struct device		 d;
	const char		*warning;

	tokens_reset();
	events_clear();
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_send(&d, "STAT\r\n");
	CHECK_STR(device_line(&d), "-ERR Server Unavailable. 21\r\n");
	CHECK(device_closed(&d));
	device_close(&d);
	up_finish(&f);
	warning = event_find("pop3.upstream_closed");
	CHECK(warning != NULL);
	if (warning != NULL) {
		CHECK(strstr(warning, "Server Unavailable. 21") != NULL);
		CHECK(strstr(warning, "poll less often") != NULL);
	}
	/* Tokens are untouched by an unavailable server. */
	CHECK_INT(tokens.rejected, 0);
	CHECK_INT(tokens.calls, 1);
}

TEST(upstream_close_without_reply)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "STAT", { NULL }, 1 },
	};
	struct fake_upstream	f;
	struct device		d;

	tokens_reset();
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	device_line(&d);
	device_send(&d, "STAT\r\n");
	CHECK_STR(device_line(&d), "-ERR [SYS/TEMP] Upstream connection "
	    "closed\r\n");
	CHECK(device_closed(&d));
	device_close(&d);
	up_finish(&f);
}

TEST(stopping_refuses_before_login)
{
	static const struct up_step conn[] = { UP_END };
	struct fake_upstream	 f;
	struct device		 d;
	const char		*text;

	tokens_reset();
	events_clear();
	up_start(&f, conn, NULL);
	if (device_open(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "+OK exoconnect POP3 ready\r\n");
	atomic_store(&d.stopping, 1);
	device_send(&d, "USER scanner1\r\n");
	CHECK(strncmp(device_line(&d), "-ERR [SYS/TEMP]", 15) == 0);
	CHECK(device_closed(&d));
	device_close(&d);
	up_finish(&f);
	CHECK(strstr(f.log, "AUTH") == NULL);
	text = event_find("pop3.session_end");
	CHECK(text != NULL);
	if (text != NULL)
		CHECK(strstr(text, "stopping") != NULL);
}

/* A logged-in device keeps working while the service stops. */
TEST(stopping_keeps_logged_in_session)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "STAT", { "+OK 0 0\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	 f;
	struct device		 d;

	tokens_reset();
	events_clear();
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	atomic_store(&d.stopping, 1);
	device_send(&d, "STAT\r\n");
	CHECK_STR(device_line(&d), "+OK 0 0\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK(strstr(f.log, "STAT") != NULL);
}

TEST(idle_timeout_keeps_deletions)
{
	static const struct up_step conn[] = {
		UP_LOGIN,
		{ "DELE 2", { "+OK\r\n" }, 0 },
		{ "DELE 3", { "+OK\r\n" }, 0 },
		UP_END,
	};
	struct fake_upstream	 f;
	struct device		 d;
	const char		*text;

	tokens_reset();
	events_clear();
	settings.pop3.idle_timeout = 1;
	up_start(&f, conn, NULL);
	if (device_login(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		settings.pop3.idle_timeout = 5;
		return;
	}
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_send(&d, "DELE 2\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	device_send(&d, "DELE 3\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	CHECK_STR(device_line(&d), "-ERR Connection timed out\r\n");
	CHECK(device_closed(&d));
	device_close(&d);
	up_finish(&f);
	settings.pop3.idle_timeout = 5;
	CHECK(strstr(f.log, "QUIT") == NULL);
	text = event_find("pop3.deletions_uncommitted");
	CHECK(text != NULL);
	if (text != NULL)
		CHECK(strstr(text, "2 deletions not committed") != NULL);
	text = event_find("pop3.session_end");
	CHECK(text != NULL);
	if (text != NULL)
		CHECK(strstr(text, "timeout") != NULL);
}

TEST(repeated_failures_close_connection)
{
	struct device	d;
	int		i;

	events_clear();
	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	device_line(&d);
	for (i = 0; i < 5; i++) {
		device_send(&d, "USER scanner1\r\nPASS wrong\r\n");
		CHECK_STR(device_line(&d), "+OK\r\n");
		CHECK_STR(device_line(&d),
		    "-ERR [AUTH] Invalid user name or password\r\n");
	}
	CHECK(device_closed(&d));
	device_close(&d);
	CHECK_INT(event_count_of("pop3.login_failed"), 5);
}

/* ---- tests: the upstream check of `user test` ---- */

TEST(upstream_check_reports_steps)
{
	static const struct up_step good[] = {
		UP_LOGIN,
		{ "QUIT", { "+OK Microsoft Exchange Server 2016 POP3 server "
		    "signing off.\r\n" }, 1 },
	};
	static const struct up_step refused[] = {
		{ NULL, { GREETING }, 0 },
		{ "AUTH XOAUTH2", { "+ \r\n" }, 0 },
		{ "*", { "-ERR Authentication failure: unknown user name or "
		    "bad password.\r\n" }, 1 },
	};
	static struct token_lease	lease;
	struct fake_upstream		f;
	struct exo_error		e;
	char				report[2048], expect[512];

	str_copy(lease.mailbox, MAILBOX, sizeof(lease.mailbox));
	str_copy(lease.access_token, "TOKEN-ONE", sizeof(lease.access_token));

	up_start(&f, good, NULL);
	CHECK_INT(pop3_upstream_check(&settings, trust, &lease, report,
	    sizeof(report), &e), EXO_OK);
	up_finish(&f);
	snprintf(expect, sizeof(expect), "POP3 connect localhost:%u with "
	    "TLS: ok\nPOP3 greeting: ok\nPOP3 XOAUTH2 login as " MAILBOX
	    ": ok\nPOP3 logout: ok\n", f.port);
	CHECK_STR(report, expect);
	CHECK_INT(f.mismatches, 0);

	up_start(&f, refused, NULL);
	CHECK_INT(pop3_upstream_check(&settings, trust, &lease, report,
	    sizeof(report), &e), EXO_ERR_AUTH);
	up_finish(&f);
	CHECK(strstr(report, "POP3 XOAUTH2 login as " MAILBOX ": rejected: "
	    "-ERR Authentication failure") != NULL);
	CHECK(strstr(report, "POP.AccessAsUser.All") != NULL);
	CHECK(strstr(report, "TOKEN-ONE") == NULL);

	/* Nothing listens on the port of the finished fake. */
	CHECK(pop3_upstream_check(&settings, trust, &lease, report,
	    sizeof(report), &e) != EXO_OK);
	CHECK(strstr(report, "with TLS: failed: ") != NULL);
	CHECK(strchr(report, '\n') == report + strlen(report) - 1);
}

/* ---- tests: APOP, CRAM-MD5 and throttling ---- */

/* Writes the hex MD5 (APOP) or HMAC-MD5 (CRAM-MD5) a device computes. */
static void
device_digest(int cram, const char *challenge, const char *password,
    char out[33])
{
	static const char	digits[] = "0123456789abcdef";
	br_md5_context		md5;
	br_hmac_key_context	key;
	br_hmac_context		hmac;
	unsigned char		d[16];
	int			i;

	if (!cram) {
		br_md5_init(&md5);
		br_md5_update(&md5, challenge, strlen(challenge));
		br_md5_update(&md5, password, strlen(password));
		br_md5_out(&md5, d);
	} else {
		br_hmac_key_init(&key, &br_md5_vtable, password,
		    strlen(password));
		br_hmac_init(&hmac, &key, 0);
		br_hmac_update(&hmac, challenge, strlen(challenge));
		br_hmac_out(&hmac, d);
	}
	for (i = 0; i < 16; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[32] = '\0';
}

/* Copies the "<...>" timestamp at the end of a greeting into out. */
static int
greeting_timestamp(const char *greeting, char *out, size_t cap)
{
	const char	*lt = strrchr(greeting, '<'), *gt;

	if (lt == NULL || (gt = strchr(lt, '>')) == NULL ||
	    (size_t)(gt - lt + 1) >= cap)
		return -1;
	memcpy(out, lt, (size_t)(gt - lt + 1));
	out[gt - lt + 1] = '\0';
	return 0;
}

TEST(apop_login_with_timestamp)
{
	static const struct up_step conn[] = { UP_LOGIN, UP_END };
	struct fake_upstream	f;
	struct device		d;
	char			ts[AUTH_CHALLENGE_MAX], hex[33], cmd[128];
	const char		*greeting;
	size_t			i;

	settings.pop3.apop = 1;
	tokens_reset();
	up_start(&f, conn, NULL);
	if (device_open(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		settings.pop3.apop = 0;
		return;
	}
	greeting = device_line(&d);
	CHECK(strncmp(greeting, "+OK exoconnect POP3 ready <", 27) == 0);
	CHECK_INT(greeting_timestamp(greeting, ts, sizeof(ts)), 0);

	/* A wrong digest, then the right one in upper case. */
	device_send(&d, "APOP scanner1 0123456789abcdef0123456789abcdef\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR [AUTH] Invalid user name or password\r\n");
	device_send(&d, "APOP scanner1\r\n");
	CHECK_STR(device_line(&d), "-ERR Syntax: APOP name digest\r\n");
	device_digest(0, ts, "secret", hex);
	snprintf(cmd, sizeof(cmd), "apop scanner1 %s\r\n", hex);
	for (i = 14; cmd[i] != '\0'; i++)
		if (cmd[i] >= 'a' && cmd[i] <= 'f')
			cmd[i] = (char)(cmd[i] - 'a' + 'A');
	device_send(&d, cmd);
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	CHECK_INT(d.logins, 1);
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);
	settings.pop3.apop = 0;
}

TEST(apop_timestamps_differ)
{
	struct device	d1, d2;
	char		ts1[AUTH_CHALLENGE_MAX], ts2[AUTH_CHALLENGE_MAX];

	settings.pop3.apop = 1;
	if (device_open(&d1) != 0 || device_open(&d2) != 0) {
		CHECK(0);
		settings.pop3.apop = 0;
		return;
	}
	CHECK_INT(greeting_timestamp(device_line(&d1), ts1, sizeof(ts1)), 0);
	CHECK_INT(greeting_timestamp(device_line(&d2), ts2, sizeof(ts2)), 0);
	CHECK(strcmp(ts1, ts2) != 0);
	device_close(&d1);
	device_close(&d2);
	settings.pop3.apop = 0;
}

TEST(cram_md5_login_and_cancel)
{
	static const struct up_step conn[] = { UP_LOGIN, UP_END };
	struct fake_upstream	f;
	struct device		d;
	char			challenge[AUTH_CHALLENGE_MAX], hex[33];
	char			resp[128], b64[256];
	const char		*line;
	long			n;

	tokens_reset();
	up_start(&f, conn, NULL);
	if (device_open(&d) != 0) {
		CHECK(0);
		up_finish(&f);
		return;
	}
	device_line(&d);
	device_send(&d, "AUTH CRAM-MD5\r\n");
	CHECK(strncmp(device_line(&d), "+ ", 2) == 0);
	device_send(&d, "*\r\n");
	CHECK_STR(device_line(&d), "-ERR Authentication cancelled\r\n");

	device_send(&d, "AUTH CRAM-MD5 c2Nhbm5lcjE=\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR CRAM-MD5 takes no initial response\r\n");

	/* A digest over the wrong challenge fails. */
	device_send(&d, "AUTH CRAM-MD5\r\n");
	device_line(&d);
	device_digest(1, "<1.2@elsewhere>", "secret", hex);
	snprintf(resp, sizeof(resp), "scanner1 %s", hex);
	base64_encode(resp, strlen(resp), b64);
	device_send(&d, b64);
	device_send(&d, "\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR [AUTH] Invalid user name or password\r\n");

	device_send(&d, "auth cram-md5\r\n");
	line = device_line(&d);
	CHECK(strncmp(line, "+ ", 2) == 0);
	n = base64_decode(line + 2, strcspn(line + 2, "\r\n"), challenge,
	    sizeof(challenge) - 1, 0);
	CHECK(n > 0);
	challenge[n > 0 ? n : 0] = '\0';
	CHECK(challenge[0] == '<' && strchr(challenge, '@') != NULL);
	device_digest(1, challenge, "secret", hex);
	snprintf(resp, sizeof(resp), "scanner1 %s", hex);
	base64_encode(resp, strlen(resp), b64);
	device_send(&d, b64);
	device_send(&d, "\r\n");
	CHECK_STR(device_line(&d), "+OK Logged in\r\n");
	device_close(&d);
	up_finish(&f);
	CHECK_INT(f.mismatches, 0);
}

TEST(cram_md5_off_not_offered)
{
	struct device	d;

	settings.pop3.cram_md5 = 0;
	if (device_open(&d) != 0) {
		CHECK(0);
		settings.pop3.cram_md5 = 1;
		return;
	}
	device_line(&d);
	device_send(&d, "CAPA\r\n");
	CHECK(strstr(device_lines(&d, "+OK Capability list follows\r\nTOP\r\n"
	    "UIDL\r\nUSER\r\nSASL PLAIN LOGIN\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\n.\r\n"), "SASL PLAIN LOGIN\r\n") != NULL);
	device_send(&d, "AUTH\r\n");
	CHECK_STR(device_lines(&d, "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n"),
	    "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
	device_send(&d, "AUTH CRAM-MD5\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR Unsupported authentication mechanism\r\n");
	device_close(&d);
	settings.pop3.cram_md5 = 1;
}

TEST(throttled_address_is_refused)
{
	struct device	d;
	int64_t		start;
	int		i;

	events_clear();
	if (device_open(&d) != 0) {
		CHECK(0);
		return;
	}
	auth_throttle_set_delay_ms(300);
	device_line(&d);

	/* Four failures from this address elsewhere, then the fifth. */
	for (i = 0; i < AUTH_THROTTLE_FAILURES - 1; i++)
		auth_throttle_fail(d.ctx.peer, 0, plat_wall_time());
	CHECK_INT(event_count_of("auth.blocked"), 0);
	device_send(&d, "USER scanner1\r\nPASS wrong\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	CHECK_STR(device_line(&d),
	    "-ERR [AUTH] Invalid user name or password\r\n");
	CHECK_INT(event_count_of("auth.blocked"), 1);

	/* The right password is now delayed and refused. */
	start = plat_monotonic_ms();
	device_send(&d, "USER scanner1\r\nPASS secret\r\n");
	CHECK_STR(device_line(&d), "+OK\r\n");
	CHECK_STR(device_line(&d), "-ERR [LOGIN-DELAY] Too many failed "
	    "logins from this address; try again later\r\n");
	CHECK(plat_monotonic_ms() - start >= 300);
	CHECK_INT(d.logins, 0);
	device_close(&d);
	auth_throttle_set_delay_ms(AUTH_THROTTLE_DELAY_MS);
	auth_throttle_clear();
}

int
main(void)
{
	int	sub;

	if (plat_init() != EXO_OK || (events_mutex = plat_mutex_new()) ==
	    NULL) {
		printf("fail setup\n");
		return 1;
	}
	sub = ev_subscribe(capture_event, NULL);
	if (setup() != 0) {
		printf("fail setup\n");
		return 1;
	}
	pop3_test_set_token_ops(&tokens_ops);

	RUN(auth_check_password_rules);
	RUN(capa_before_login_lists_no_stls);
	RUN(sasl_cancel_bad_base64_wrong_password);
	RUN(overlong_sasl_response_named);
	RUN(stls_refused_once_logged);
	RUN(bare_auth_lists_mechanisms);
	RUN(overlong_line_nul_unknown_command);
	RUN(preauth_timeout_replies);
	RUN(legacy_charset_passwords);
	RUN(plain_continuation_logs_in);
	RUN(login_variants_and_bare_lf);
	RUN(login_prompts_exact);
	RUN(xoauth2_two_step_long_token);
	RUN(rejected_cached_token_retried_once);
	RUN(rejected_fresh_token_not_retried);
	RUN(token_errors_reach_device);
	RUN(upstream_unavailable_during_pass);
	RUN(top_and_retr_dot_stuffing_split);
	RUN(retr_dots_inside_lines_and_at_reads);
	RUN(uidl_and_list_relayed_unchanged);
	RUN(device_reset_sends_no_quit);
	RUN(quit_reply_comes_from_upstream);
	RUN(server_unavailable_closes_device);
	RUN(upstream_close_without_reply);
	RUN(stopping_refuses_before_login);
	RUN(stopping_keeps_logged_in_session);
	RUN(idle_timeout_keeps_deletions);
	RUN(repeated_failures_close_connection);
	RUN(upstream_check_reports_steps);
	RUN(apop_login_with_timestamp);
	RUN(apop_timestamps_differ);
	RUN(cram_md5_login_and_cancel);
	RUN(cram_md5_off_not_offered);
	RUN(throttled_address_is_refused);

	pop3_test_set_token_ops(NULL);
	ev_unsubscribe(sub);
	teardown();
	return TEST_EXIT();
}
