/*
 * smtp-session.c: the SMTP server a device talks to. Before login it
 * replies to the device itself. A successful AUTH opens an XOAUTH2 session
 * upstream, and from then on the mail transaction is relayed command by
 * command, with the message data streamed through smtp-data.c.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "event.h"
#include "i18n.h"
#include "sasl.h"
#include "session.h"
#include "tls-hello.h"
#include "smtp.h"
#include "util.h"

#define SMTP_AUTH_FAILURES_MAX 5	/* failed AUTH before the session ends */
#define SMTP_RCPT_MAX 1000		/* recipients per message */
#define SMTP_DATA_CHUNK 8192		/* device bytes fed at a time in DATA */
/* Wait for the reply to the final dot (RFC 5321 4.5.3.2.6: 10 minutes). */
#define SMTP_FINAL_REPLY_TIMEOUT_MS 600000

struct session {
	struct session_ctx	*ctx;
	struct stream		*dev;
	struct smtp_upstream	*up;
	struct smtp_reply	 reply;
	struct token_lease	 lease;
	char			 hostname[CONFIG_HOST_MAX];
	char			 login[USER_LOGIN_MAX];
	char			 mailbox[USER_MAILBOX_MAX];
	char			 sender[SMTP_PATH_MAX + 1];
	char			 line[SMTP_LINE_MAX + 1];
	char			 sasl[SASL_LINE_MAX + 1];
	char			 data_out[SMTP_DATA_OUT_MAX(SMTP_DATA_CHUNK)];
	char			 cram[AUTH_CHALLENGE_MAX];	/* CRAM-MD5 */
	int			 rewrite;	/* sender = rewrite */
	int			 encode_utf8;	/* encode_utf8_headers */
	int			 relabel_jp;	/* relabel_iso2022jp */
	char			 old_sender[SMTP_PATH_MAX + 1]; /* rewritten */
	struct buf		 rewritten;	/* output of the rewrite */
	int			 authed;
	int			 in_mail;	/* MAIL FROM accepted */
	int			 rcpts;		/* RCPT TO accepted */
	int			 auth_failures;
	int			 auth_tried;	/* AUTH was sent on this session */
	int			 done;		/* end the session */
	int			 greeted;	/* EHLO or HELO accepted */
	int			 need_ehlo;	/* TLS started, no EHLO since */
	int			 first_read;	/* the first byte was checked */
	int			 bad_input_logged; /* once per connection */
	int			 starttls_logged;
	int			 tls_required_logged;
	const char		*reason;	/* why it ended, for the log */
};

/* Counts messages whose final reply was lost, for the warning. */
static atomic_long smtp_replies_lost;

/* ---- token manager calls, replaceable in test builds ---- */

#ifdef EXO_TEST_SEAMS
static const struct smtp_test_tokens *smtp_test_tokens;

void
smtp_test_set_tokens(const struct smtp_test_tokens *t)
{
	smtp_test_tokens = t;
}
#endif

static int
tokens_get(struct session *s, int force, struct exo_error *e)
{
#ifdef EXO_TEST_SEAMS
	if (smtp_test_tokens != NULL)
		return (smtp_test_tokens->get(s->login, force, &s->lease, e));
#endif
	return (token_get_proto(s->ctx->tokens, TOKEN_SMTP, s->login, force,
	    &s->lease, e));
}

static void
tokens_rejected(struct session *s, const char *code, const char *reason)
{
#ifdef EXO_TEST_SEAMS
	if (smtp_test_tokens != NULL) {
		smtp_test_tokens->rejected(s->login, code, reason);
		return;
	}
#endif
	token_report_rejected(s->ctx->tokens, s->login, TOKEN_SMTP, code,
	    reason);
}

static void
tokens_success(struct session *s)
{
#ifdef EXO_TEST_SEAMS
	if (smtp_test_tokens != NULL) {
		smtp_test_tokens->success(s->login);
		return;
	}
#endif
	token_report_success(s->ctx->tokens, s->login, TOKEN_SMTP);
}

/* ---- replies to the device ---- */

static void
end_session(struct session *s, const char *reason)
{
	s->done = 1;
	if (s->reason == NULL)
		s->reason = reason;
}

static void
reply(struct session *s, const char *fmt, ...) EXO_PRINTF(2, 3);

/* Sends one reply line and flushes it. */
static void
reply(struct session *s, const char *fmt, ...)
{
	char	line[SMTP_LINE_MAX + 1];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	memcpy(line + n, "\r\n", 3);
	if (stream_write(s->dev, line, (size_t)n + 2) != EXO_OK ||
	    stream_flush(s->dev) != EXO_OK)
		end_session(s, N_("device closed"));
}

/* Passes the upstream's reply to the device as it came. */
static void
reply_relayed(struct session *s)
{
	if (stream_write(s->dev, s->reply.text, s->reply.len) != EXO_OK ||
	    stream_flush(s->dev) != EXO_OK)
		end_session(s, N_("device closed"));
}

/* Copies text for a reply line: no control bytes, cut to fit. */
static void
reply_text(char *out, size_t cap, const char *text)
{
	size_t	i;

	for (i = 0; i + 1 < cap && text[i] != '\0'; i++)
		out[i] = ((unsigned char)text[i] < 0x20) ? ' ' : text[i];
	out[i] = '\0';
}

/* ---- relaying ---- */

/* Handles a lost upstream connection: the device gets 421 (RFC 5321 3.8). */
static void
upstream_lost(struct session *s, int rc)
{
	ev_emit(EV_WARN, s->ctx->conn, "smtp.upstream_closed",
	    "SMTP upstream connection of {user} was lost: {error}",
	    "user", s->login, "error", exo_strerror(rc), (char *)NULL);
	smtp_upstream_close(s->up, 0);
	s->up = NULL;
	reply(s, "421 4.4.2 Upstream connection closed");
	end_session(s, N_("upstream closed"));
}

/*
 * Sends line upstream and passes the reply to the device. Returns the
 * reply code, or 0 when the upstream is gone (the session then ends).
 */
static int
relay(struct session *s, const char *line)
{
	int	rc;

	if (s->up == NULL) {
		reply(s, "421 4.4.2 Upstream connection closed");
		end_session(s, N_("upstream closed"));
		return (0);
	}
	if ((rc = smtp_upstream_command(s->up, line, &s->reply)) != EXO_OK) {
		upstream_lost(s, rc);
		return (0);
	}
	reply_relayed(s);
	if (s->reply.code == 421)
		end_session(s, N_("upstream closed"));
	return (s->reply.code);
}

/* Warns when Exchange rejected the sender (5.2.252 SendAsDenied, 5.7.60). */
static void
check_send_as(struct session *s)
{
	if (strcmp(s->reply.enhanced, "5.2.252") != 0 &&
	    strcmp(s->reply.enhanced, "5.7.60") != 0)
		return;
	ev_emit(EV_WARN, s->ctx->conn, "smtp.send_as_denied",
	    "Mailbox {mailbox} may not send as {sender}; grant the mailbox "
	    "Send As permission for that address, or run "
	    "\"exoconnect user set {user} sender=rewrite\"",
	    "mailbox", s->mailbox, "sender", s->sender, "user", s->login,
	    "reply", s->reply.first, (char *)NULL);
}

/* ---- local login ---- */

static int
set_last_smtp(struct user *u, void *arg)
{
	(void)arg;
	u->last_smtp = plat_wall_time();
	return (EXO_OK);
}

/* Copies the per-user sender handling of u into the session. */
static void
load_user(struct session *s, const struct user *u)
{
	str_copy(s->login, u->login, sizeof(s->login));
	str_copy(s->mailbox, u->mailbox, sizeof(s->mailbox));
	s->rewrite = strcmp(u->sender_policy, "rewrite") == 0;
	s->encode_utf8 = u->encode_utf8_headers;
	s->relabel_jp = u->relabel_iso2022jp;
}

static void
login_failed(struct session *s, const char *user)
{
	ev_emit(EV_WARN, s->ctx->conn, "smtp.login_failed",
	    "SMTP login failed for {user} from {peer}",
	    "user", user, "peer", s->ctx->peer, (char *)NULL);
	reply(s, "535 5.7.8 Authentication credentials invalid");
	if (++s->auth_failures >= SMTP_AUTH_FAILURES_MAX) {
		reply(s, "421 4.7.0 Too many failed logins, closing connection");
		end_session(s, N_("too many failed logins"));
	}
}

/*
 * Rejects a login from an address with too many recent failures, after
 * a delay, without checking the credentials.
 */
static int
login_throttled(struct session *s)
{
	plat_sleep_ms(auth_throttle_delay_ms());
	reply(s, "454 4.7.0 Too many failed logins from this address; try "
	    "again later");
	if (++s->auth_failures >= SMTP_AUTH_FAILURES_MAX) {
		reply(s, "421 4.7.0 Too many failed logins, closing "
		    "connection");
		end_session(s, N_("too many failed logins"));
	}
	return (EXO_ERR_AUTH);
}

/*
 * Checks a device's password, or with cram set its CRAM-MD5 digest over
 * s->cram, through the per-address throttle. On success fills s->login.
 */
static int
check_login(struct session *s, int cram, const char *user,
    const char *secret, size_t len)
{
	struct user	*u;
	int		 rc;

	if (auth_throttle_blocked(s->ctx->peer, plat_wall_time()))
		return (login_throttled(s));
	if ((u = malloc(sizeof(*u))) == NULL) {
		reply(s, "454 4.7.0 Temporary authentication failure");
		return (EXO_ERR_NOMEM);
	}
	if (cram)
		rc = auth_check_digest(s->ctx->users, AUTH_CRAM_MD5, user,
		    s->cram, secret, len, u);
	else
		rc = auth_check_password(s->ctx->users, user, secret, len, u);
	if (rc == EXO_OK)
		load_user(s, u);
	user_wipe(u);
	free(u);
	if (rc != EXO_OK) {
		auth_throttle_fail(s->ctx->peer, s->ctx->conn,
		    plat_wall_time());
		login_failed(s, user);
	} else
		auth_throttle_success(s->ctx->peer);
	return (rc);
}

static int
check_password(struct session *s, const char *user, const char *password,
    size_t len)
{
	return (check_login(s, 0, user, password, len));
}

/*
 * Reads one SASL response line into s->sasl (RFC 4954 4). Returns 0, or
 * an error after replying to the device.
 */
static int
read_sasl(struct session *s, size_t *len)
{
	int	rc;

	rc = stream_read_line(s->dev, s->sasl, sizeof(s->sasl), len);
	if (rc == EXO_ERR_TOOLONG) {
		if (stream_skip_line(s->dev) != EXO_OK) {
			end_session(s, N_("device closed"));
			return (EXO_ERR_CLOSED);
		}
		reply(s, "500 5.5.6 Authentication exchange line is too long");
		return (rc);
	}
	if (rc == EXO_ERR_TIMEOUT) {
		reply(s, "421 4.4.2 Timeout");
		end_session(s, N_("timeout"));
		return (rc);
	}
	if (rc != EXO_OK) {
		end_session(s, N_("device closed"));
		return (rc);
	}
	*len = str_trim_end(s->sasl, *len);
	if (sasl_is_cancel(s->sasl, *len)) {
		reply(s, "501 5.7.0 Authentication cancelled");
		return (EXO_ERR_CANCELLED);
	}
	return (EXO_OK);
}

/*
 * Replies to a SASL response that did not decode: 500 5.5.6 when it
 * decoded to more than a field can contain (RFC 4954 section 4), else
 * invalid.
 */
static void
reply_bad_response(struct session *s, int rc, const char *invalid)
{
	if (rc == EXO_ERR_TOOLONG)
		reply(s, "500 5.5.6 Authentication exchange line is too long");
	else
		reply(s, "%s", invalid);
}

/* Sends a 334 prompt and reads the response. */
static int
prompt(struct session *s, const char *challenge, size_t *len)
{
	reply(s, "334 %s", challenge);
	if (s->done)
		return (EXO_ERR_CLOSED);
	return (read_sasl(s, len));
}

/* An initial response of "=" is an empty one (RFC 4954 4). */
static size_t
initial_len(const char *initial)
{
	return (strcmp(initial, "=") == 0 ? 0 : strlen(initial));
}

static int
mech_plain(struct session *s, const char *initial)
{
	struct sasl_cred	 cred;
	const char		*resp = initial;
	size_t			 len;
	int			 rc;

	if (initial == NULL) {
		/* "334 " with the space: some clients look for it. */
		if ((rc = prompt(s, "", &len)) != EXO_OK)
			return (rc);
		resp = s->sasl;
	} else
		len = initial_len(initial);

	rc = sasl_plain_decode(resp, len, &cred);
	if (rc == EXO_OK)
		rc = check_password(s, cred.user, cred.password,
		    cred.password_len);
	else if (rc == EXO_ERR_AUTH)
		login_failed(s, NULL);	/* authzid differs from user */
	else
		reply_bad_response(s, rc, "501 5.5.2 Invalid base64 data");
	sasl_cred_wipe(&cred);
	plat_wipe(s->sasl, sizeof(s->sasl));
	return (rc);
}

static int
mech_login(struct session *s, const char *initial)
{
	char	user[SASL_FIELD_MAX], password[SASL_FIELD_MAX];
	size_t	len, user_len = 0, password_len = 0;
	int	rc;

	/* The user name may come on the AUTH line (widely used by devices). */
	if (initial != NULL)
		rc = sasl_login_decode(initial, initial_len(initial), user,
		    sizeof(user), &user_len);
	else if ((rc = prompt(s, "VXNlcm5hbWU6", &len)) == EXO_OK)
		rc = sasl_login_decode(s->sasl, len, user, sizeof(user),
		    &user_len);
	else
		return (rc);
	if (rc != EXO_OK)
		goto bad_base64;

	if ((rc = prompt(s, "UGFzc3dvcmQ6", &len)) != EXO_OK)
		goto out;
	rc = sasl_login_decode(s->sasl, len, password, sizeof(password),
	    &password_len);
	if (rc != EXO_OK)
		goto bad_base64;
	rc = check_password(s, user, password, password_len);
	goto out;

bad_base64:
	reply_bad_response(s, rc, "501 5.5.2 Invalid base64 data");
out:
	plat_wipe(password, sizeof(password));
	plat_wipe(s->sasl, sizeof(s->sasl));
	return (rc);
}

/*
 * AUTH CRAM-MD5 (RFC 2195): the challenge "<random.time@host>" goes out
 * in base64, and the device replies with base64 of "user hexdigest". The
 * server speaks first, so an initial response is a syntax error.
 */
static int
mech_cram(struct session *s, const char *initial)
{
	char	b64[AUTH_CHALLENGE_MAX * 2];
	char	resp[SASL_FIELD_MAX + AUTH_DIGEST_HEX + 2], *digest;
	size_t	len;
	long	n;
	int	rc;

	if (initial != NULL) {
		reply(s, "501 5.5.2 CRAM-MD5 takes no initial response");
		return (EXO_ERR_INVALID);
	}
	if (auth_make_challenge(s->hostname, s->cram) != EXO_OK) {
		reply(s, "454 4.7.0 Temporary authentication failure");
		return (EXO_ERR_IO);
	}
	base64_encode(s->cram, strlen(s->cram), b64);
	if ((rc = prompt(s, b64, &len)) != EXO_OK)
		return (rc);

	n = base64_decode(s->sasl, len, resp, sizeof(resp) - 1, 0);
	plat_wipe(s->sasl, sizeof(s->sasl));
	digest = NULL;
	if (n > 0 && memchr(resp, '\0', (size_t)n) == NULL) {
		resp[n] = '\0';
		digest = strrchr(resp, ' ');
	}
	if (digest == NULL) {
		reply_bad_response(s, n == EXO_ERR_TOOLONG ? EXO_ERR_TOOLONG :
		    EXO_ERR_INVALID, "501 5.5.2 Invalid base64 data or CRAM-MD5 "
		    "response");
		return (EXO_ERR_INVALID);
	}
	*digest++ = '\0';
	rc = check_login(s, 1, resp, digest, strlen(digest));
	s->cram[0] = '\0';
	return (rc);
}

/*
 * Device-side SASL mechanisms, in the order EHLO lists them. Each checks
 * the local credentials, replies to the device on failure and returns 0
 * with s->login set on success.
 */
static const struct mechanism {
	const char	*name;
	int		(*fn)(struct session *, const char *initial);
} mechanisms[] = {
	{ "PLAIN", mech_plain },
	{ "LOGIN", mech_login },
	{ "CRAM-MD5", mech_cram },
};

#define MECHANISM_COUNT (sizeof(mechanisms) / sizeof(mechanisms[0]))

/* Returns 1 when the settings offer mechanism m. */
static int
mechanism_on(const struct session *s, const struct mechanism *m)
{
	if (m->fn == mech_cram)
		return (s->ctx->settings->smtp.cram_md5);
	return (1);
}

/* ---- upstream login ---- */

/* Logs the failure to log in upstream and replies 454 to the device. */
static void
upstream_login_failed(struct session *s, int rc, struct exo_error *e)
{
	const struct endpoint	*ep;
	char			 where[CONFIG_HOST_MAX + 16];

	ep = s->lease.personal ? &s->ctx->settings->smtp.upstream_personal :
	    &s->ctx->settings->smtp.upstream;
	snprintf(where, sizeof(where), "%s:%u", ep->host, ep->port);
	if (rc == EXO_ERR_AUTH) {
		const char	*hint = smtp_upstream_auth_hint(&s->reply);

		ev_emit(EV_WARN, s->ctx->conn, "smtp.upstream_rejected",
		    "Exchange rejected the SMTP login of {user} ({mailbox}): "
		    "{reply}; likely cause: {cause}",
		    "user", s->login, "mailbox", s->lease.mailbox,
		    "reply", s->reply.first, "cause", hint,
		    "upstream", where, (char *)NULL);
		/* A 4xx is temporary on the server's side: no back-off. */
		if (s->reply.code / 100 == 5)
			tokens_rejected(s, s->reply.enhanced[0] != '\0' ?
			    s->reply.enhanced : "535", hint);
		reply(s, "454 4.7.0 Upstream authentication failed, "
		    "see proxy log");
		return;
	}
	if (rc == EXO_ERR_BUSY) {
		ev_emit(EV_WARN, s->ctx->conn, "smtp.upstream_busy",
		    "No free SMTP connection to Exchange for {user}: {error}; "
		    "the device will retry. Spread the devices over more "
		    "mailboxes if this repeats", "user", s->login,
		    "mailbox", s->lease.mailbox, EV_ERROR("error", e), (char *)NULL);
		reply(s, "454 4.7.0 All connections to Exchange for this "
		    "mailbox are busy; try again later");
		return;
	}
	ev_emit(EV_WARN, s->ctx->conn, "smtp.upstream_failed",
	    "SMTP upstream connection for {user} failed: {error}",
	    "user", s->login, EV_ERROR("error", err_or_code(e, rc)),
	    "reply", s->reply.code ? s->reply.first : NULL,
	    "upstream", where, (char *)NULL);
	oauth_note_mail_proxy(s->ctx->settings, s->ctx->conn);
	reply(s, "454 4.7.0 Upstream connection failed, see proxy log");
}

/*
 * Gets a token. On failure the device gets 454: with the token manager's
 * message when the admin must act, and a plain "Temporary authentication
 * failure" when the token service is down or slow, which retrying fixes.
 */
static int
get_token(struct session *s, int force)
{
	struct exo_error	e;
	char			text[SMTP_LINE_MAX - 16];
	int			rc;

	err_clear(&e);
	if ((rc = tokens_get(s, force, &e)) == EXO_OK)
		return (EXO_OK);
	ev_emit(EV_WARN, s->ctx->conn, "smtp.token_failed",
	    "No access token for SMTP login of {user}: {error}",
	    "user", s->login, EV_ERROR("error", err_or_code(&e, rc)),
	    (char *)NULL);
	reply_text(text, sizeof(text), e.msg[0] && rc != EXO_ERR_TRANSIENT &&
	    rc != EXO_ERR_TIMEOUT ? e.msg : "Temporary authentication failure");
	reply(s, "454 4.7.0 %s", text);
	return (rc);
}

/* Records a login; how is NULL after AUTH, which gets its 235 here. */
static void
login_succeeded(struct session *s, const char *how)
{
	struct exo_error	e;

	err_clear(&e);
	s->authed = 1;
	tokens_success(s);
	atomic_fetch_add(&s->ctx->stats->logins, 1);
	if (s->ctx->on_login != NULL)
		s->ctx->on_login(s->ctx, s->login);
	if (how == NULL)
		reply(s, "235 2.7.0 Authentication successful");
	if (userdb_update(s->ctx->users, s->login, set_last_smtp, NULL,
	    &e) != EXO_OK)
		ev_emit(EV_WARN, s->ctx->conn, "smtp.last_use_failed",
		    "Cannot record the last SMTP use of {user}: {error}",
		    "user", s->login, EV_ERROR("error", &e), (char *)NULL);
	ev_emit(EV_INFO, s->ctx->conn, "smtp.login",
	    "SMTP login of {user} from {peer} as {mailbox}",
	    "user", s->login, "peer", s->ctx->peer, "mailbox", s->mailbox,
	    "upstream", smtp_upstream_name(s->up), "method", how != NULL ?
	    how : "AUTH", (char *)NULL);
	stream_set_timeout(s->dev, s->ctx->settings->smtp.idle_timeout * 1000);
	stream_set_read_deadline(s->dev, 0);
}

/*
 * Opens the upstream session for s->login. A cached token that Exchange
 * rejects is refreshed once and tried on a new connection, but a fresh one
 * is not. On failure the device has its reply and the log its reason.
 */
static int
upstream_open(struct session *s)
{
	struct exo_error	e;
	int			rc;

	if ((rc = get_token(s, 0)) != EXO_OK)
		return (rc);
	err_clear(&e);
	rc = smtp_upstream_open(s->ctx->settings, s->ctx->trust, &s->lease,
	    s->hostname, &s->up, &s->reply, &e);
	if (rc == EXO_ERR_AUTH && smtp_upstream_auth_retryable(&s->reply) &&
	    !s->lease.fresh) {
		ev_emit(EV_INFO, s->ctx->conn, "smtp.token_retry",
		    "Exchange rejected the cached token of {user} ({reply}); "
		    "retrying with a refreshed token",
		    "user", s->login, "reply", s->reply.first, (char *)NULL);
		token_lease_wipe(&s->lease);
		if ((rc = get_token(s, 1)) != EXO_OK)
			return (rc);
		err_clear(&e);
		rc = smtp_upstream_open(s->ctx->settings, s->ctx->trust,
		    &s->lease, s->hostname, &s->up, &s->reply, &e);
	}
	if (rc != EXO_OK)
		upstream_login_failed(s, rc, &e);
	token_lease_wipe(&s->lease);
	return (rc);
}

/*
 * Logs in upstream for s->login. how names a login without AUTH for the
 * log, or is NULL after AUTH.
 */
static void
upstream_login(struct session *s, const char *how)
{
	if (upstream_open(s) == EXO_OK)
		login_succeeded(s, how);
}

/*
 * Resets the upstream session after Exchange rejected a message, so the
 * next message starts from a clean state. When the RSET fails, the
 * connection is closed and the next MAIL opens a new one.
 */
static void
upstream_reset(struct session *s)
{
	if (smtp_upstream_command(s->up, "RSET", &s->reply) == EXO_OK &&
	    s->reply.code / 100 == 2)
		return;
	smtp_upstream_close(s->up, 0);
	s->up = NULL;
}

/* ---- commands ---- */

/*
 * Replies 503 to AUTH or MAIL before EHLO or HELO: a session is opened
 * with EHLO or HELO (RFC 5321 section 4.1.4), and AUTH is an EHLO
 * extension (RFC 4954 section 4). Returns 1 when it replied.
 */
static int
greeting_missing(struct session *s)
{
	if (s->greeted)
		return (0);
	reply(s, "503 5.5.1 Send EHLO or HELO first");
	return (1);
}

static void
cmd_auth(struct session *s, char *arg)
{
	const struct mechanism	*m = NULL;
	char			*initial;
	size_t			 i;

	if (greeting_missing(s))
		return;
	if (s->authed) {
		reply(s, "503 5.5.1 Already authenticated");
		return;
	}
	if (s->in_mail) {
		reply(s, "503 5.5.1 Mail transaction in progress");
		return;
	}
	if (*arg == '\0') {
		reply(s, "501 5.5.4 Syntax: AUTH mechanism");
		return;
	}
	s->auth_tried = 1;
	if ((initial = strchr(arg, ' ')) != NULL) {
		*initial++ = '\0';
		while (*initial == ' ')
			initial++;
		if (*initial == '\0')
			initial = NULL;
	}
	for (i = 0; i < MECHANISM_COUNT; i++) {
		if (str_casecmp(arg, mechanisms[i].name) == 0 &&
		    mechanism_on(s, &mechanisms[i]))
			m = &mechanisms[i];
	}
	if (m == NULL) {
		reply(s, "504 5.5.4 Unrecognized authentication mechanism");
		return;
	}
	if (m->fn(s, initial) != EXO_OK || s->done)
		return;
	upstream_login(s, NULL);
}

/*
 * Finds the user a device may send as without AUTH: trusted_user for an
 * address in trusted_devices, or the user of a POP3 login from the same
 * address within pop_before_smtp minutes, unless the device sent AUTH on
 * this session. Copies the name into login and returns the method for the
 * log, or NULL.
 */
static const char *
implicit_user(struct session *s, char login[USER_LOGIN_MAX])
{
	const struct settings	*st = s->ctx->settings;

	/*
	 * A device that tried AUTH on this session and failed must not fall
	 * back to another identity: its AUTH named the user it meant.
	 */
	if (s->auth_tried)
		return (NULL);
	if (st->smtp.trusted_devices[0] != '\0' &&
	    st->smtp.trusted_user[0] != '\0' &&
	    auth_net_list_match(st->smtp.trusted_devices, s->ctx->peer)) {
		str_copy(login, st->smtp.trusted_user, USER_LOGIN_MAX);
		return ("trusted_devices");
	}
	if (auth_recent_find(s->ctx->peer, st->smtp.pop_before_smtp,
	    plat_wall_time(), login))
		return ("pop_before_smtp");
	return (NULL);
}

/*
 * Logs a device in without AUTH when the settings allow it (see
 * implicit_user). Otherwise replies 530 (RFC 4954 section 6) without
 * opening an upstream connection. Returns 0 when the session may send.
 */
static int
login_without_auth(struct session *s)
{
	struct user	*u;
	const char	*how;
	char		 login[USER_LOGIN_MAX];
	int		 rc;

	if ((how = implicit_user(s, login)) == NULL) {
		ev_emit(EV_INFO, s->ctx->conn, "smtp.auth_required",
		    "Device {peer} sent MAIL FROM without logging in; "
		    "configure SMTP authentication with a local user on the "
		    "device, or add its address to trusted_devices",
		    "peer", s->ctx->peer, (char *)NULL);
		reply(s, "530 5.7.0 Authentication required");
		return (EXO_ERR_AUTH);
	}
	if ((u = malloc(sizeof(*u))) == NULL) {
		reply(s, "421 4.3.0 Out of memory");
		end_session(s, N_("out of memory"));
		return (EXO_ERR_NOMEM);
	}
	rc = userdb_get(s->ctx->users, login, u, NULL);
	if (rc == EXO_OK)
		load_user(s, u);
	user_wipe(u);
	free(u);
	if (rc != EXO_OK) {
		ev_emit(EV_WARN, s->ctx->conn, "smtp.implicit_user_missing",
		    "Device {peer} may send without AUTH ({method}), but user "
		    "{user} does not exist; fix trusted_user or add the user",
		    "peer", s->ctx->peer, "method", how, "user", login,
		    (char *)NULL);
		reply(s, "530 5.7.0 Authentication required");
		return (EXO_ERR_AUTH);
	}

	upstream_login(s, how);
	if (!s->authed) {
		/* upstream_login replied 454; the device may retry later. */
		s->login[0] = '\0';
		return (EXO_ERR_AUTH);
	}
	return (EXO_OK);
}

/* Ends any mail transaction, here and upstream. */
static void
reset_transaction(struct session *s)
{
	if (s->in_mail && s->up != NULL &&
	    smtp_upstream_command(s->up, "RSET", &s->reply) != EXO_OK) {
		smtp_upstream_close(s->up, 0);
		s->up = NULL;
	}
	s->in_mail = 0;
	s->rcpts = 0;
}

/* Returns 1 when this connection may offer STARTTLS now. */
static int
starttls_offered(const struct session *s)
{
	return s->ctx->tls != NULL && s->ctx->settings->smtp.starttls &&
	    !stream_is_tls(s->dev);
}

/* Returns 1 when require_tls hides AUTH on this connection. */
static int
tls_required(const struct session *s)
{
	return s->ctx->settings->smtp.require_tls && !stream_is_tls(s->dev);
}

static void
cmd_ehlo(struct session *s, char *arg)
{
	long long	max = s->ctx->settings->smtp.max_message_size;
	char		auth[64] = "AUTH";
	size_t		i;

	(void)arg;
	reset_transaction(s);
	s->greeted = 1;
	for (i = 0; i < MECHANISM_COUNT; i++) {
		size_t	n = strlen(auth);

		if (mechanism_on(s, &mechanisms[i]))
			snprintf(auth + n, sizeof(auth) - n, " %s",
			    mechanisms[i].name);
	}
	if (stream_printf(s->dev, "250-%s\r\n", s->hostname) != EXO_OK ||
	    stream_printf(s->dev, "250-SIZE %lld\r\n",
	    max > 0 ? max : 0) != EXO_OK ||
	    stream_puts(s->dev, "250-8BITMIME\r\n250-PIPELINING\r\n") !=
	    EXO_OK ||
	    (starttls_offered(s) &&
	    stream_puts(s->dev, "250-STARTTLS\r\n") != EXO_OK))
		end_session(s, N_("device closed"));
	else if (tls_required(s))
		/* require_tls: no AUTH is offered before TLS. */
		reply(s, "250 ENHANCEDSTATUSCODES");
	else if (stream_puts(s->dev, "250-ENHANCEDSTATUSCODES\r\n") != EXO_OK)
		end_session(s, N_("device closed"));
	else
		reply(s, "250 %s", auth);
}

static void
cmd_helo(struct session *s, char *arg)
{
	(void)arg;
	reset_transaction(s);
	s->greeted = 1;
	/* One line and no extensions (RFC 5321 4.1.1.1); AUTH still works. */
	reply(s, "250 %s", s->hostname);
}

/*
 * Parses "FROM:<path> params" or "TO:<path> params" into path (always in
 * brackets) and the parameters. Accepts a space after the colon and a path
 * without brackets, as devices send them.
 */
static int
parse_path(char *arg, const char *prefix, char path[SMTP_PATH_MAX + 1],
    char **params)
{
	size_t	plen = strlen(prefix), n;
	char	*p, *end;

	if (str_ncasecmp(arg, prefix, plen) != 0)
		return (EXO_ERR_INVALID);
	for (p = arg + plen; *p == ' '; p++)
		;
	if (*p == '<') {
		if ((end = strchr(p, '>')) == NULL)
			return (EXO_ERR_INVALID);
		end++;
	} else
		end = p + strcspn(p, " ");
	n = (size_t)(end - p);
	if (n == 0 || n + (*p == '<' ? 0 : 2) > SMTP_PATH_MAX)
		return (EXO_ERR_INVALID);
	if (*p == '<')
		snprintf(path, SMTP_PATH_MAX + 1, "%.*s", (int)n, p);
	else
		snprintf(path, SMTP_PATH_MAX + 1, "<%.*s>", (int)n, p);
	*params = end;
	return (EXO_OK);
}

/* The MAIL FROM parameters kept (RFC 1870 SIZE, RFC 6152 BODY). */
struct mail_params {
	long long	size;		/* -1 when absent */
};

static int
parse_mail_params(char *p, struct mail_params *mp)
{
	char	*word;

	mp->size = -1;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		word = p;
		p += strcspn(p, " ");
		if (*p != '\0')
			*p++ = '\0';
		if (str_has_prefix_case(word, "SIZE=")) {
			if (parse_ll(word + 5, 0, (long long)1 << 50,
			    &mp->size) != EXO_OK)
				return (EXO_ERR_INVALID);
		} else if (str_has_prefix_case(word, "BODY=")) {
			if (str_casecmp(word + 5, "7BIT") != 0 &&
			    str_casecmp(word + 5, "8BITMIME") != 0)
				return (EXO_ERR_INVALID);
		}
		/* Other parameters are dropped: none was advertised. */
	}
	return (EXO_OK);
}

/*
 * With sender = rewrite, puts the mailbox in the reverse-path when it
 * differs (ignoring case), and keeps the old one for the log line.
 */
static void
rewrite_sender(struct session *s, char path[SMTP_PATH_MAX + 1])
{
	size_t	len = strlen(path), mlen = strlen(s->mailbox);

	s->old_sender[0] = '\0';
	/* A mailbox longer than a path (RFC 5321 4.5.3.1.3) stays out. */
	if (!s->rewrite || mlen == 0 || mlen + 2 > SMTP_PATH_MAX)
		return;
	if (len == mlen + 2 && str_ncasecmp(path + 1, s->mailbox, mlen) == 0)
		return;
	str_copy(s->old_sender, path, sizeof(s->old_sender));
	path[0] = '<';
	memcpy(path + 1, s->mailbox, mlen);
	memcpy(path + 1 + mlen, ">", 2);
}

static void
cmd_mail(struct session *s, char *arg)
{
	struct mail_params	 mp;
	char			 path[SMTP_PATH_MAX + 1];
	char			 line[SMTP_LINE_MAX];
	char			*params;
	long long		 max = s->ctx->settings->smtp.max_message_size;
	long long		 up_max;

	if (greeting_missing(s))
		return;
	if (!s->authed && login_without_auth(s) != EXO_OK)
		return;
	/* The upstream session closed after the last message. */
	if (s->up == NULL && upstream_open(s) != EXO_OK)
		return;
	if (s->in_mail) {
		reply(s, "503 5.5.1 Sender already specified");
		return;
	}
	if (parse_path(arg, "FROM:", path, &params) != EXO_OK) {
		reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (parse_mail_params(params, &mp) != EXO_OK) {
		reply(s, "555 5.5.4 Invalid SIZE or BODY parameter");
		return;
	}
	up_max = s->up != NULL ? smtp_upstream_size(s->up) : 0;
	if ((max > 0 && mp.size > max) || (up_max > 0 && mp.size > up_max)) {
		reply(s, "552 5.3.4 Message size exceeds fixed maximum message "
		    "size");
		return;
	}

	rewrite_sender(s, path);

	/* 8BITMIME covers 7-bit data too, and devices send 8-bit bytes
	 * without declaring them. */
	snprintf(line, sizeof(line), "MAIL FROM:%s%s", path,
	    s->up != NULL && smtp_upstream_8bitmime(s->up) ?
	    " BODY=8BITMIME" : "");
	if (mp.size >= 0 && up_max > 0) {
		size_t	n = strlen(line);

		snprintf(line + n, sizeof(line) - n, " SIZE=%lld", mp.size);
	}
	str_copy(s->sender, path, sizeof(s->sender));
	if (relay(s, line) / 100 == 2) {
		s->in_mail = 1;
		s->rcpts = 0;
	}
	if (s->reply.code == 432)
		ev_emit(EV_WARN, s->ctx->conn, "smtp.mailbox_busy",
		    "Exchange has too many SMTP connections for {mailbox} "
		    "({reply}); the device got the temporary error and will "
		    "retry. Lower max_upstream_per_mailbox if other programs "
		    "send from this mailbox too", "mailbox", s->mailbox,
		    "user", s->login, "reply", s->reply.first, (char *)NULL);
	check_send_as(s);
}

static void
cmd_rcpt(struct session *s, char *arg)
{
	char	 path[SMTP_PATH_MAX + 1];
	char	 line[SMTP_LINE_MAX];
	char	*params;

	if (!s->in_mail) {
		reply(s, "503 5.5.1 Need MAIL command first");
		return;
	}
	if (parse_path(arg, "TO:", path, &params) != EXO_OK ||
	    strcmp(path, "<>") == 0) {
		reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	if (s->rcpts >= SMTP_RCPT_MAX) {
		reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	snprintf(line, sizeof(line), "RCPT TO:%s", path);
	if (relay(s, line) / 100 == 2)
		s->rcpts++;
}

/* Logs once what the sender and charset fix-ups changed in a message. */
static void
log_rewrites(struct session *s, const struct smtp_rewrite_report *rep)
{
	char	counts[64];

	if (s->old_sender[0] != '\0' || (rep != NULL &&
	    rep->from_rewritten))
		ev_emit(EV_INFO, s->ctx->conn, "smtp.sender_rewritten",
		    "Sender of {user}'s message rewritten to {mailbox}: "
		    "envelope {old_envelope}, From header {old_from}",
		    "user", s->login, "mailbox", s->mailbox,
		    "old_envelope", s->old_sender[0] != '\0' ?
		    s->old_sender : "unchanged", "old_from", rep != NULL &&
		    rep->from_rewritten ? rep->old_from : "unchanged",
		    (char *)NULL);
	if (rep == NULL || (rep->utf8_encoded == 0 && rep->utf8_skipped == 0 &&
	    rep->relabeled == 0 && rep->relabel_kept == 0))
		return;
	snprintf(counts, sizeof(counts), "%d/%d/%d/%d", rep->utf8_encoded,
	    rep->utf8_skipped, rep->relabeled, rep->relabel_kept);
	ev_emit(rep->utf8_skipped > 0 || rep->relabel_kept > 0 ? EV_WARN :
	    EV_INFO, s->ctx->conn, "smtp.charset_fixed",
	    "Charset fix-ups in {user}'s message (header fields encoded/left "
	    "unchanged, ISO-2022-JP-2 labels changed/kept): {counts}",
	    "user", s->login, "counts", counts, (char *)NULL);
}

/* Records the outcome of one message. */
static void
message_done(struct session *s, const struct smtp_data *d, int code)
{
	char	size[24], rcpts[16], codes[8];

	snprintf(size, sizeof(size), "%llu", d->bytes_out);
	snprintf(rcpts, sizeof(rcpts), "%d", s->rcpts);
	snprintf(codes, sizeof(codes), "%d", code);
	if (code / 100 == 2) {
		atomic_fetch_add(&s->ctx->stats->messages, 1);
		atomic_fetch_add(&s->ctx->stats->bytes,
		    (long long)d->bytes_out);
	}
	ev_emit(EV_INFO, s->ctx->conn, "smtp.message",
	    "Message of {user}: {size} bytes to {recipients} recipients, "
	    "upstream reply {code}",
	    "user", s->login, "size", size, "recipients", rcpts,
	    "code", codes, (char *)NULL);
	s->in_mail = 0;
	s->rcpts = 0;
}

/*
 * Streams the device's data upstream until the device's end mark. Stops
 * writing, but keeps reading, when the upstream fails (*up_rc) or the
 * message passes the size limit (*too_big). Returns the device stream's
 * error, or 0 when the end mark came.
 *
 * The data goes to the normalizer in blocks straight from the stream's
 * buffer, whatever the line lengths. Only the bytes up to the end mark
 * are consumed, so a command that the device pipelined after the final
 * dot (RFC 2920) stays buffered for the command loop.
 */
static int
stream_message(struct session *s, struct smtp_data *d,
    struct smtp_rewrite *rw, int *up_rc, int *too_big)
{
	long long	 max = s->ctx->settings->smtp.max_message_size;
	const void	*in;
	const char	*chunk;
	size_t		 n, used;
	long		 got;

	*up_rc = EXO_OK;
	*too_big = 0;
	while (!smtp_data_done(d)) {
		got = stream_peek(s->dev, &in);
		if (got == 0)
			return (EXO_ERR_CLOSED);
		if (got < 0)
			return ((int)got);
		if (got > SMTP_DATA_CHUNK)
			got = SMTP_DATA_CHUNK;

		used = smtp_data_feed(d, in, (size_t)got, s->data_out, &n);
		stream_consume(s->dev, used);
		if (max > 0 && d->bytes_out > (unsigned long long)max)
			*too_big = 1;
		chunk = s->data_out;
		if (rw != NULL && *up_rc == EXO_OK) {
			s->rewritten.len = 0;
			*up_rc = smtp_rewrite_feed(rw, s->data_out, n,
			    &s->rewritten);
			chunk = s->rewritten.data != NULL ? s->rewritten.data :
			    "";
			n = s->rewritten.len;
		}
		if (*up_rc == EXO_OK && !*too_big)
			*up_rc = smtp_upstream_write(s->up, chunk, n);
	}
	if (*up_rc == EXO_OK && !*too_big)
		*up_rc = smtp_upstream_flush(s->up);
	return (EXO_OK);
}

/* Returns the rewrite stage the user's settings need, or NULL. */
static struct smtp_rewrite *
rewrite_start(struct session *s, int *failed)
{
	struct smtp_rewrite_opts	o;
	struct smtp_rewrite		*rw;

	*failed = 0;
	if (!s->rewrite && !s->encode_utf8 && !s->relabel_jp)
		return (NULL);
	o.mailbox = s->rewrite ? s->mailbox : NULL;
	o.encode_utf8 = s->encode_utf8;
	o.relabel_jp = s->relabel_jp;
	if ((rw = smtp_rewrite_new(&o)) == NULL)
		*failed = 1;
	return (rw);
}

static void
cmd_data(struct session *s, char *arg)
{
	struct smtp_data	 d;
	struct smtp_rewrite	*rw;
	int			 rc, up_rc, too_big, failed;

	(void)arg;
	if (!s->in_mail) {
		reply(s, "503 5.5.1 Need MAIL command first");
		return;
	}
	if (s->rcpts == 0) {
		/* RFC 2920 3.1: a pipelined DATA after failed RCPTs. */
		reply(s, "554 5.5.1 No valid recipients");
		return;
	}
	rw = rewrite_start(s, &failed);
	if (failed) {
		reply(s, "451 4.3.0 Out of memory");
		return;
	}
	if (relay(s, "DATA") != 354) {
		smtp_rewrite_free(rw);
		return;
	}

	smtp_data_init(&d);
	rc = stream_message(s, &d, rw, &up_rc, &too_big);
	log_rewrites(s, rw != NULL ? smtp_rewrite_report(rw) : NULL);
	smtp_rewrite_free(rw);
	buf_free(&s->rewritten);
	if (rc != EXO_OK) {
		/* The device left mid-message: without the end mark upstream,
		 * Exchange drops the message. */
		if (rc == EXO_ERR_TIMEOUT)
			reply(s, "421 4.4.2 Timeout");
		end_session(s, rc == EXO_ERR_TIMEOUT ? N_("timeout") :
		    N_("device closed during DATA"));
		smtp_upstream_close(s->up, 0);
		s->up = NULL;
		return;
	}
	if (too_big || up_rc != EXO_OK) {
		/*
		 * Closing without the end mark makes Exchange drop the
		 * message. After a 552 the device may send the next one,
		 * for which MAIL opens a new upstream session.
		 */
		smtp_upstream_close(s->up, 0);
		s->up = NULL;
		if (too_big)
			reply(s, "552 5.3.4 Message size exceeds fixed maximum "
			    "message size");
		else
			upstream_lost(s, up_rc);
		message_done(s, &d, too_big ? 552 : 421);
		return;
	}

	rc = smtp_upstream_read_reply(s->up, SMTP_FINAL_REPLY_TIMEOUT_MS,
	    &s->reply);
	if (rc != EXO_OK) {
		char	count[24];

		snprintf(count, sizeof(count), "%ld",
		    atomic_fetch_add(&smtp_replies_lost, 1) + 1);
		ev_emit(EV_WARN, s->ctx->conn, "smtp.reply_lost",
		    "Upstream connection of {user} was lost after the message "
		    "was sent; the device will retry and it may be delivered "
		    "twice",
		    "user", s->login, "error", exo_strerror(rc),
		    "count", count, (char *)NULL);
		smtp_upstream_close(s->up, 0);
		s->up = NULL;
		reply(s, "451 4.4.2 Upstream connection lost after the message "
		    "was sent; it may be delivered twice");
		message_done(s, &d, 451);
		return;
	}
	reply_relayed(s);
	check_send_as(s);
	message_done(s, &d, s->reply.code);
	if (s->reply.code == 421)
		end_session(s, N_("upstream closed"));
	else if (s->reply.code / 100 != 2)
		upstream_reset(s);
}

static void
cmd_rset(struct session *s, char *arg)
{
	(void)arg;
	s->in_mail = 0;
	s->rcpts = 0;
	if (s->up != NULL)
		relay(s, "RSET");
	else
		reply(s, "250 2.0.0 OK");
}

static void
cmd_noop(struct session *s, char *arg)
{
	(void)arg;
	if (s->up != NULL)
		relay(s, "NOOP");
	else
		reply(s, "250 2.0.0 OK");
}

static void
cmd_quit(struct session *s, char *arg)
{
	(void)arg;
	reply(s, "221 2.0.0 Bye");
	end_session(s, N_("quit"));
}

static void
cmd_vrfy(struct session *s, char *arg)
{
	(void)arg;
	reply(s, "252 2.5.0 Cannot VRFY user, but will accept the message");
}

/* Forgets the login, so a device must authenticate again inside TLS. */
static void
forget_login(struct session *s)
{
	reset_transaction(s);
	smtp_upstream_close(s->up, 1);
	s->up = NULL;
	token_lease_wipe(&s->lease);
	s->authed = 0;
	s->login[0] = '\0';
	s->mailbox[0] = '\0';
}

static void
starttls_refused(struct session *s)
{
	if (!s->starttls_logged) {
		s->starttls_logged = 1;
		ev_emit(EV_INFO, s->ctx->conn, "smtp.starttls_refused",
		    s->ctx->tls == NULL ? "Device {peer} sent STARTTLS but "
		    "this listener has no certificate" : "Device {peer} sent "
		    "STARTTLS but starttls = no under [smtp]",
		    "peer", s->ctx->peer, (char *)NULL);
	}
	reply(s, "454 4.7.0 TLS not available");
}

/*
 * STARTTLS (RFC 3207): "220", then the handshake. Section 4.2: the stream
 * drops what the device sent after the command, and everything learnt
 * before TLS goes too, the EHLO, any transaction and any login.
 */
static void
cmd_starttls(struct session *s, char *arg)
{
	struct exo_error	e;
	struct tls_hello	hello;
	char			fix[256];
	int			rc;

	if (stream_is_tls(s->dev)) {
		reply(s, "503 5.5.1 TLS already active");
		return;
	}
	if (!starttls_offered(s)) {
		starttls_refused(s);
		return;
	}
	if (*arg != '\0') {
		reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}

	forget_login(s);
	reply(s, "220 2.0.0 Ready to start TLS");
	if (s->done)
		return;
	err_clear(&e);
	rc = stream_start_tls_server(s->dev, s->ctx->tls, &e);
	if (rc != EXO_OK) {
		stream_tls_client_hello(s->dev, &hello);
		ev_emit(EV_WARN, s->ctx->conn, "smtp.starttls_failed", "TLS "
		    "handshake after STARTTLS with device {peer} failed: "
		    "{error}", "peer", s->ctx->peer, EV_ERROR("error",
		    err_or_code(&e, rc)), "fix", tls_hello_fix(e.msg, &hello,
		    s->ctx->peer, s->ctx->settings->smtp.legacy_tls, "smtp",
		    fix, sizeof(fix)), (char *)NULL);
		end_session(s, N_("TLS handshake failed"));
		return;
	}
	s->need_ehlo = 1;
}

/*
 * Checks a command against the TLS state before it runs: after STARTTLS
 * only EHLO, HELO, NOOP, RSET and QUIT until a new EHLO, and no AUTH
 * before TLS with require_tls. Returns 1 when it replied.
 */
static int
tls_gate(struct session *s, const char *verb)
{
	static const char *const before_ehlo[] = {
		"EHLO", "HELO", "NOOP", "RSET", "QUIT",
	};
	size_t	i;

	if (s->need_ehlo) {
		for (i = 0; i < sizeof(before_ehlo) / sizeof(before_ehlo[0]);
		    i++)
			if (str_casecmp(verb, before_ehlo[i]) == 0)
				break;
		if (i == sizeof(before_ehlo) / sizeof(before_ehlo[0])) {
			reply(s, "503 5.5.1 Send EHLO first");
			return 1;
		}
		if (i < 2)
			s->need_ehlo = 0;
	}
	if (str_casecmp(verb, "AUTH") != 0 || !tls_required(s))
		return 0;
	if (!s->tls_required_logged) {
		s->tls_required_logged = 1;
		ev_emit(EV_INFO, s->ctx->conn, "smtp.tls_required", "Device "
		    "{peer} tried to log in without TLS, which require_tls = "
		    "yes under [smtp] rejects; set the device to STARTTLS or "
		    "SSL/TLS", "peer", s->ctx->peer, (char *)NULL);
	}
	reply(s, "530 5.7.0 Must issue a STARTTLS command first");
	return 1;
}

static void
cmd_not_implemented(struct session *s, char *arg)
{
	(void)arg;
	reply(s, "502 5.5.1 Command not implemented");
}

static const struct command {
	const char	*name;
	void		(*fn)(struct session *, char *arg);
} commands[] = {
	{ "EHLO", cmd_ehlo },
	{ "HELO", cmd_helo },
	{ "AUTH", cmd_auth },
	{ "MAIL", cmd_mail },
	{ "RCPT", cmd_rcpt },
	{ "DATA", cmd_data },
	{ "RSET", cmd_rset },
	{ "NOOP", cmd_noop },
	{ "QUIT", cmd_quit },
	{ "VRFY", cmd_vrfy },
	{ "STARTTLS", cmd_starttls },
	{ "EXPN", cmd_not_implemented },
	{ "ETRN", cmd_not_implemented },
	{ "BDAT", cmd_not_implemented },	/* no CHUNKING offered */
	{ "HELP", cmd_not_implemented },
	{ "TURN", cmd_not_implemented },
};

/* ---- the session ---- */

/*
 * Logs a TLS ClientHello that arrived on the plain port, with the fix:
 * the device is set to implicit TLS (SSL/TLS) but uses the plain port.
 */
static void
log_tls_hello(struct session *s)
{
	const struct settings	*st = s->ctx->settings;
	char			 fix[256], port[16];

	tls_hello_plain_port_fix("smtp", s->ctx->local_port,
	    st->smtp.tls_port, 465, fix, sizeof(fix));
	snprintf(port, sizeof(port), "%u", s->ctx->local_port);
	ev_emit(EV_WARN, s->ctx->conn, "smtp.tls_on_plain_port", "Device "
	    "{peer} sent a TLS handshake to the plain SMTP port {port}: {fix}",
	    "peer", s->ctx->peer, "port", port, "fix", fix, (char *)NULL);
}

/*
 * Reads a line into s->line like stream_read_line. On a plain connection
 * the first byte is read on its own, because a ClientHello has no line
 * end and a line read would wait for the timeout. No SMTP command starts
 * with 0x16 (a TLS handshake record) or a byte with the high bit set (an
 * SSL 2.0-style hello), so such a byte is logged and gives EXO_ERR_PROTO.
 */
static int
device_line(struct session *s, size_t *len)
{
	unsigned char	first;
	long		n;
	int		rc;

	if (s->first_read || stream_is_tls(s->dev))
		return (stream_read_line(s->dev, s->line, sizeof(s->line),
		    len));
	s->first_read = 1;
	n = stream_read(s->dev, &first, 1);
	if (n <= 0)
		return (n == 0 ? EXO_ERR_CLOSED : (int)n);
	if (first == 0x16 || (first & 0x80)) {
		log_tls_hello(s);
		return (EXO_ERR_PROTO);
	}

	s->line[0] = (char)first;
	if (first == '\n') {
		s->line[1] = '\0';
		*len = 1;
		return (EXO_OK);
	}
	rc = stream_read_line(s->dev, s->line + 1, sizeof(s->line) - 1, len);
	if (rc == EXO_OK || rc == EXO_ERR_TOOLONG)
		*len += 1;
	return (rc);
}

/* Logs the first malformed command of the connection. */
static void
log_bad_input(struct session *s, const char *problem)
{
	if (s->bad_input_logged)
		return;
	s->bad_input_logged = 1;
	ev_emit(EV_WARN, s->ctx->conn, "smtp.bad_input", "Device {peer} sent {problem}; further faults on this "
	    "connection are not logged",
	    "peer", s->ctx->peer, EV_MSGID("problem"), problem,
	    (char *)NULL);
}

/*
 * Reads one command line into s->line without its line end. Returns 1 for
 * a line to run, 0 when the line was rejected, and -1 when the session
 * ends.
 */
static int
read_command(struct session *s)
{
	size_t	len;
	int	rc;

	rc = device_line(s, &len);
	if (rc == EXO_ERR_PROTO) {
		end_session(s, N_("TLS handshake on the plain port"));
		return (-1);
	}
	if (rc == EXO_ERR_TOOLONG) {
		/* Rejected, never cut (RFC 5321 4.5.3.1.4). */
		if (stream_skip_line(s->dev) != EXO_OK) {
			end_session(s, N_("device closed"));
			return (-1);
		}
		log_bad_input(s, N_("a command line over 512 bytes"));
		reply(s, "500 5.5.2 Line too long");
		return (0);
	}
	if (rc == EXO_ERR_TIMEOUT) {
		reply(s, "421 4.4.2 Timeout");
		end_session(s, N_("timeout"));
		return (-1);
	}
	if (rc != EXO_OK || len == 0 || s->line[len - 1] != '\n') {
		end_session(s, N_("device closed"));
		return (-1);
	}
	if (memchr(s->line, '\0', len) != NULL) {
		log_bad_input(s, N_("a NUL byte in a command"));
		reply(s, "500 5.5.2 Invalid character in command");
		return (0);
	}
	str_trim_end(s->line, len);
	return (1);
}

static void
run_command(struct session *s)
{
	char	*verb = s->line, *arg;
	size_t	 i;

	arg = verb + strcspn(verb, " ");
	if (*arg != '\0') {
		*arg++ = '\0';
		while (*arg == ' ')
			arg++;
	}
	if (tls_gate(s, verb))
		return;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (str_casecmp(verb, commands[i].name) == 0) {
			commands[i].fn(s, arg);
			return;
		}
	}
	log_bad_input(s, N_("an unknown command"));
	reply(s, "500 5.5.2 Command not recognized");
}

static void
session_hostname(struct session *s)
{
	const struct settings	*st = s->ctx->settings;

	if (st->smtp.hostname[0] != '\0')
		str_copy(s->hostname, st->smtp.hostname, sizeof(s->hostname));
	else if (plat_hostname(s->hostname, sizeof(s->hostname)) != EXO_OK ||
	    s->hostname[0] == '\0')
		str_copy(s->hostname, "localhost", sizeof(s->hostname));
}

static void
session_end(struct session *s)
{
	char	in[24], out[24];

	/* The service shut down the reading side, so the device is still
	 * there to read why. A message cut mid-DATA was never committed. */
	if (atomic_load(&s->ctx->user_deleted) && s->reason != NULL &&
	    strncmp(s->reason, "device closed", 13) == 0) {
		s->reason = strcmp(s->reason, "device closed") == 0 ?
		    N_("user deleted") : N_("user deleted during DATA");
		reply(s, "421 4.7.0 This user was deleted by the "
		    "administrator");
	}

	snprintf(in, sizeof(in), "%llu", stream_bytes_in(s->dev));
	snprintf(out, sizeof(out), "%llu", stream_bytes_out(s->dev));
	ev_emit(EV_INFO, s->ctx->conn, "smtp.session_end",
	    "SMTP connection from {peer} ended: {reason}",
	    "peer", s->ctx->peer, EV_MSGID("reason"), s->reason ? s->reason : "-",
	    "user", s->login[0] ? s->login : NULL,
	    "bytes_in", in, "bytes_out", out, (char *)NULL);
}

void
smtp_session_run(struct session_ctx *ctx, struct stream *device)
{
	struct session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		ev_emit(EV_ERROR, ctx->conn, "smtp.nomem",
		    "Out of memory for the SMTP session of {peer}",
		    "peer", ctx->peer, (char *)NULL);
		stream_puts(device, "421 4.3.0 Out of memory\r\n");
		stream_close(device);
		return;
	}
	s->ctx = ctx;
	s->dev = device;
	session_hostname(s);
	ev_emit(EV_DEBUG, ctx->conn, "smtp.session_start",
	    "SMTP connection from {peer}", "peer", ctx->peer, (char *)NULL);

	stream_set_timeout(device, ctx->settings->limits.preauth_timeout * 1000);
	/* preauth_timeout counts from the connect, not from the last line. */
	stream_set_read_deadline(device, plat_monotonic_ms() +
	    (int64_t)ctx->settings->limits.preauth_timeout * 1000);
	reply(s, "220 %s exoconnect ESMTP ready", s->hostname);
	while (!s->done) {
		if (ctx->stopping != NULL && atomic_load(ctx->stopping)) {
			reply(s, "421 4.3.2 Service shutting down");
			end_session(s, N_("stopping"));
			break;
		}
		if (read_command(s) == 1)
			run_command(s);
	}

	session_end(s);
	stream_close(device);
	/* The device has its reply, so it need not wait for this QUIT. */
	smtp_upstream_close(s->up, 1);
	token_lease_wipe(&s->lease);
	plat_wipe(s, sizeof(*s));
	free(s);
}
