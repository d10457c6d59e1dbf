/*
 * pop3-session.c: one device's POP3 session (RFC 1939, CAPA from RFC
 * 2449, AUTH from RFC 5034, response codes from RFC 3206).
 *
 * In the AUTHORIZATION state the proxy replies to the device itself and
 * checks the local password. A successful check opens the upstream
 * connection and logs in to Exchange with XOAUTH2; only then does the
 * device get "+OK". In the TRANSACTION state each command is checked,
 * rebuilt and relayed, and the upstream's reply goes back byte for byte,
 * multi-line replies streamed as they arrive.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "event.h"
#include "i18n.h"
#include "pop3.h"
#include "sasl.h"
#include "session.h"
#include "tls-hello.h"
#include "util.h"

/* Failed logins on one connection before the proxy closes it. */
#define POP3_AUTH_FAILURES_MAX 5
/* Time to wait for the upstream's close after an -ERR reply. */
#define POP3_CLOSE_WAIT_MS 250
/* Maximum arguments of a relayed command (TOP has two). */
#define POP3_ARGS_MAX 2
/* Largest message number or line count relayed. */
#define POP3_NUMBER_MAX 2147483647LL

/* Room for the CAPA reply that pop3_capa_text builds. */
#define POP3_CAPA_MAX 256

#define POP3_REPLY_BAD_LOGIN "-ERR [AUTH] Invalid user name or password"
/* RFC 2449 section 8.1.1: the client tried to log in too soon. */
#define POP3_REPLY_THROTTLED "-ERR [LOGIN-DELAY] Too many failed logins " \
	"from this address; try again later"

enum pop3_state {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION,
};

/* Result of a command handler: read the next command or end the session. */
enum pop3_next {
	POP3_CONTINUE = 0,
	POP3_END = 1,
};

/* When a relayed command's "+OK" starts a multi-line reply. */
enum pop3_multi {
	POP3_SINGLE,		/* never */
	POP3_MULTI,		/* always */
	POP3_MULTI_NO_ARGS,	/* only without an argument (LIST, UIDL) */
};

struct pop3_session {
	struct session_ctx	*ctx;
	struct stream		*device;
	struct stream		*up;
	enum pop3_state		 state;
	const char		*reason;	/* why the session ended */

	int			 have_user;	/* USER was accepted */
	char			 user[POP3_LINE_MAX];
	char			 login[USER_LOGIN_MAX];	/* after login */
	char			 mailbox[USER_MAILBOX_MAX];
	int			 failures;	/* failed logins */
	char			 apop[AUTH_CHALLENGE_MAX]; /* "": no APOP */
	char			 cram[AUTH_CHALLENGE_MAX]; /* last challenge */
	int			 stls_logged;
	int			 tls_required_logged;
	int			 first_read;	/* the first byte was checked */
	int			 bad_input_logged; /* once per connection */
	int			 on_login_called;
	unsigned long		 deletions;	/* DELE answered "+OK" */

	char			 line[POP3_LINE_MAX + 1];
	char			 sasl[SASL_LINE_MAX + 3];	/* CRLF, NUL */
};

struct pop3_command;

typedef enum pop3_next (*pop3_handler)(struct pop3_session *ps,
    const struct pop3_command *cmd, char *args);

struct pop3_command {
	const char	*verb;
	pop3_handler	 authorization;	/* NULL: not before login */
	pop3_handler	 transaction;	/* NULL: not after login */
	int		 args_min;	/* of relayed commands */
	int		 args_max;
	enum pop3_multi	 multi;
};

static const struct pop3_token_ops pop3_real_tokens = {
	token_pop3_get,
	token_pop3_rejected,
	token_pop3_success,
};
static const struct pop3_token_ops *pop3_tokens = &pop3_real_tokens;

#ifdef EXO_TEST_SEAMS
void
pop3_test_set_token_ops(const struct pop3_token_ops *ops)
{
	pop3_tokens = ops != NULL ? ops : &pop3_real_tokens;
}
#endif

/* ---- replies ---- */

static enum pop3_next
pop3_send(struct pop3_session *ps, const char *data, size_t len)
{
	if (stream_write(ps->device, data, len) != EXO_OK ||
	    stream_flush(ps->device) != EXO_OK) {
		ps->reason = N_("device closed");
		return POP3_END;
	}
	return POP3_CONTINUE;
}

/* Sends one status line; text comes without the line end. */
static enum pop3_next
pop3_reply(struct pop3_session *ps, const char *text)
{
	char	line[POP3_LINE_MAX + 1];
	int	n;

	n = snprintf(line, sizeof(line), "%s\r\n", text);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = snprintf(line, sizeof(line), "-ERR Reply too long\r\n");
	return pop3_send(ps, line, (size_t)n);
}

/*
 * Sends "-ERR [SYS/TEMP] " and a message that may come from a peer or
 * the token manager: control characters become spaces and the line is
 * cut to POP3_LINE_MAX, so it cannot add lines to the reply.
 */
static enum pop3_next EXO_PRINTF(2, 3)
pop3_reply_temp(struct pop3_session *ps, const char *fmt, ...)
{
	char	text[POP3_LINE_MAX - 18];	/* "-ERR [SYS/TEMP] ", CRLF */
	char	line[POP3_LINE_MAX];
	va_list	ap;
	size_t	i;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (i = 0; text[i] != '\0'; i++) {
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = ' ';
	}
	snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s", text);
	return pop3_reply(ps, line);
}

/* Returns the text of a status line after "-ERR ", for the device. */
static const char *
pop3_err_text(const char *reply)
{
	if (str_has_prefix_case(reply, "-ERR"))
		reply += 4;
	while (*reply == ' ')
		reply++;
	return *reply != '\0' ? reply : "Exchange POP3 error";
}

/* ---- events ---- */

static void
pop3_count(atomic_long *counter, long n)
{
	atomic_fetch_add(counter, n);
}

static void
pop3_count_bytes(struct pop3_session *ps, unsigned long long n)
{
	atomic_fetch_add(&ps->ctx->stats->bytes, (long long)n);
}

/* Logs the deletions that the missing QUIT left uncommitted. */
static void
pop3_log_uncommitted(struct pop3_session *ps)
{
	char	count[24];

	snprintf(count, sizeof(count), "%lu", ps->deletions);
	if (ps->deletions == 1)
		ev_emit(EV_WARN, ps->ctx->conn, "pop3.deletions_uncommitted",
		    "device closed without QUIT; {count} deletion not "
		    "committed", "count", count, "user", ps->login,
		    EV_MSGID("reason"), ps->reason, (char *)NULL);
	else
		ev_emit(ps->deletions > 0 ? EV_WARN : EV_INFO, ps->ctx->conn,
		    "pop3.deletions_uncommitted",
		    "device closed without QUIT; {count} deletions not "
		    "committed", "count", count, "user", ps->login,
		    EV_MSGID("reason"), ps->reason, (char *)NULL);
}

/* Warns that the upstream closed after a reply, with the usual cause. */
static void
pop3_log_upstream_closed(struct pop3_session *ps, const char *reply)
{
	ev_emit(EV_WARN, ps->ctx->conn, "pop3.upstream_closed",
	    "Exchange closed the POP3 connection of {user} after "
	    "\"{reply}\"; {hint}", "user", ps->login, "mailbox", ps->mailbox,
	    "reply", reply, "hint", "Exchange is limiting this mailbox; "
	    "delete mail after retrieval or poll less often", (char *)NULL);
}

/* ---- the upstream login ---- */

/* Replies to a failed upstream login and logs it. */
static enum pop3_next
pop3_upstream_failed(struct pop3_session *ps, const char *login, int rc,
    const char *reply, const struct exo_error *e)
{
	if (rc == EXO_ERR_AUTH) {
		ev_emit(EV_WARN, ps->ctx->conn, "pop3.upstream_rejected",
		    "Exchange refused the OAuth login for {user} ({mailbox}): "
		    "\"{reply}\"; {hint}", "user", login, "mailbox",
		    ps->mailbox, "reply", reply, "hint",
		    pop3_rejection_hint(), (char *)NULL);
		return pop3_reply_temp(ps, "Exchange refused the OAuth login "
		    "for %s, see proxy log", ps->mailbox);
	}

	ev_emit(EV_WARN, ps->ctx->conn, "pop3.upstream_failed",
	    "POP3 login to Exchange for {user} failed: {error}", "user",
	    login, "mailbox", ps->mailbox, EV_ERROR("error", e), (char *)NULL);
	oauth_note_mail_proxy(ps->ctx->settings, ps->ctx->conn);
	if (rc == EXO_ERR_CLOSED)
		return pop3_reply_temp(ps, "Upstream connection closed");
	if (rc == EXO_ERR_TRANSIENT || rc == EXO_ERR_UPSTREAM) {
		if (reply[0] != '\0' && reply[0] != '+')
			return pop3_reply_temp(ps, "%s", pop3_err_text(reply));
	}
	return pop3_reply_temp(ps, "%s", e->msg);
}

/* Records a refused token with the token manager. */
static void
pop3_report_rejected(struct pop3_session *ps, const char *login,
    const char *reply)
{
	char	reason[USER_REASON_MAX];

	snprintf(reason, sizeof(reason), "Exchange POP3 refused the OAuth "
	    "login: %.200s; %s", reply, pop3_rejection_hint());
	pop3_tokens->report_rejected(ps->ctx->tokens, login, "POP3", reason);
}

/*
 * Gets a token and logs in upstream. A cached token that Exchange refuses
 * gets one forced refresh and one more attempt on a new connection. A
 * token issued during this call gets no retry, because when a fresh token
 * fails, the cause is the mailbox or the app, not the token's age.
 * *token_failed is set when the error came from the token manager.
 */
static int
pop3_upstream_start(struct pop3_session *ps, const char *login,
    struct token_lease *lease, char *reply, size_t cap, int *token_failed,
    struct exo_error *e)
{
	const struct session_ctx	*ctx = ps->ctx;
	int				 rc;

	*token_failed = 1;
	rc = pop3_tokens->get(ctx->tokens, login, 0, lease, e);
	if (rc != EXO_OK)
		return rc;
	*token_failed = 0;
	str_copy(ps->mailbox, lease->mailbox, sizeof(ps->mailbox));
	rc = pop3_upstream_login(ctx->settings, ctx->trust, lease->mailbox,
	    lease->access_token, &ps->up, reply, cap, e);
	if (rc != EXO_ERR_AUTH || lease->fresh)
		return rc;

	ev_emit(EV_INFO, ctx->conn, "pop3.token_retry", "Exchange refused "
	    "the cached token of {user}; refreshing it and trying once more",
	    "user", login, "reply", reply, (char *)NULL);
	token_lease_wipe(lease);
	*token_failed = 1;
	rc = pop3_tokens->get(ctx->tokens, login, 1, lease, e);
	if (rc != EXO_OK)
		return rc;
	*token_failed = 0;
	str_copy(ps->mailbox, lease->mailbox, sizeof(ps->mailbox));
	return pop3_upstream_login(ctx->settings, ctx->trust, lease->mailbox,
	    lease->access_token, &ps->up, reply, cap, e);
}

/* Stores the time of this login in the user store. */
static int
pop3_touch_user(struct user *u, void *arg)
{
	u->last_pop3 = *(const int64_t *)arg;
	return EXO_OK;
}

/* Finishes a login: the device gets "+OK" and the session relays. */
static enum pop3_next
pop3_logged_in(struct pop3_session *ps, const char *login)
{
	struct session_ctx	*ctx = ps->ctx;
	struct exo_error	 e;
	int64_t			 now = plat_wall_time();
	int			 idle = ctx->settings->pop3.idle_timeout;

	str_copy(ps->login, login, sizeof(ps->login));
	ps->state = POP3_TRANSACTION;
	stream_set_timeout(ps->device, idle > 0 ? idle * 1000 : -1);
	stream_set_read_deadline(ps->device, 0);
	pop3_tokens->report_success(ctx->tokens, login);
	pop3_count(&ctx->stats->logins, 1);
	if (ctx->settings->smtp.pop_before_smtp > 0)
		auth_recent_add(ctx->peer, login, now);

	ev_emit(EV_INFO, ctx->conn, "pop3.login", "{user} logged in from "
	    "{peer} and Exchange accepted the login for {mailbox}", "user",
	    login, "peer", ctx->peer, "mailbox", ps->mailbox, (char *)NULL);
	if (userdb_update(ctx->users, login, pop3_touch_user, &now, &e) !=
	    EXO_OK)
		ev_emit(EV_WARN, ctx->conn, "pop3.last_use_failed",
		    "Cannot record the last POP3 use of {user}: {error}",
		    "user", login, EV_ERROR("error", &e), (char *)NULL);
	return pop3_reply(ps, "+OK Logged in");
}

/* Replies to a login that found no token and logs it. */
static enum pop3_next
pop3_token_failed(struct pop3_session *ps, const char *login, int rc,
    const struct exo_error *e)
{
	ev_emit(EV_WARN, ps->ctx->conn, "pop3.token_failed",
	    "No token for the POP3 login of {user}: {error}", "user", login,
	    EV_ERROR("error", e), (char *)NULL);

	/* While the token manager backs off after a refusal, the device
	 * gets the reply of the refusal, and Exchange is not asked. */
	if (rc == EXO_ERR_UPSTREAM)
		return pop3_reply_temp(ps, "Exchange refused the OAuth login "
		    "for %s, see proxy log", ps->mailbox);
	if (e->msg[0] == '\0')
		return pop3_reply_temp(ps, "OAuth token unavailable: %s",
		    exo_strerror(rc));
	return pop3_reply_temp(ps, "%s", e->msg);
}

/* Logs in upstream for a user whose local password was right. */
static enum pop3_next
pop3_login_upstream(struct pop3_session *ps, const struct user *u)
{
	struct token_lease	*lease;
	struct exo_error	 e;
	char			 reply[POP3_REPLY_MAX];
	int			 rc, token_failed;

	if ((lease = calloc(1, sizeof(*lease))) == NULL) {
		ev_emit(EV_ERROR, ps->ctx->conn, "pop3.nomem", "Out of memory "
		    "for the login of {user}", "user", u->login, (char *)NULL);
		return pop3_reply_temp(ps, "Out of memory");
	}
	err_clear(&e);
	reply[0] = '\0';
	str_copy(ps->mailbox, u->mailbox, sizeof(ps->mailbox));

	rc = pop3_upstream_start(ps, u->login, lease, reply, sizeof(reply),
	    &token_failed, &e);
	token_lease_wipe(lease);
	free(lease);

	if (rc == EXO_OK)
		return pop3_logged_in(ps, u->login);
	if (token_failed)
		return pop3_token_failed(ps, u->login, rc, &e);
	if (rc == EXO_ERR_AUTH)
		pop3_report_rejected(ps, u->login, reply);
	return pop3_upstream_failed(ps, u->login, rc, reply, &e);
}

/* Counts and logs a failed login and replies to it. */
static enum pop3_next
pop3_login_failed(struct pop3_session *ps, const char *user)
{
	ps->failures++;
	ev_emit(EV_WARN, ps->ctx->conn, "pop3.login_failed", "POP3 login "
	    "failed for {user} from {peer}: invalid user name or password",
	    "user", user, "peer", ps->ctx->peer, (char *)NULL);
	if (pop3_reply(ps, POP3_REPLY_BAD_LOGIN) == POP3_END)
		return POP3_END;
	if (ps->failures >= POP3_AUTH_FAILURES_MAX) {
		ps->reason = N_("too many failed logins");
		return POP3_END;
	}
	return POP3_CONTINUE;
}

/*
 * Rejects a login from an address with too many recent failures, after
 * a delay, without checking the credentials.
 */
static enum pop3_next
pop3_login_throttled(struct pop3_session *ps)
{
	plat_sleep_ms(auth_throttle_delay_ms());
	ps->failures++;
	if (pop3_reply(ps, POP3_REPLY_THROTTLED) == POP3_END)
		return POP3_END;
	if (ps->failures >= POP3_AUTH_FAILURES_MAX) {
		ps->reason = N_("too many failed logins");
		return POP3_END;
	}
	return POP3_CONTINUE;
}

/* The proof of the password that a device sends. */
enum pop3_proof {
	POP3_PASSWORD,		/* USER/PASS, AUTH PLAIN, AUTH LOGIN */
	POP3_APOP,		/* MD5 of the greeting's timestamp */
	POP3_CRAM_MD5,		/* HMAC-MD5 of the last challenge */
};

/* Runs the check of proof; returns 0 and fills *u, or EXO_ERR_AUTH. */
static int
pop3_check_proof(struct pop3_session *ps, enum pop3_proof proof,
    const char *user, const void *secret, size_t len, struct user *u)
{
	struct userdb	*db = ps->ctx->users;

	if (proof == POP3_APOP)
		return auth_check_digest(db, AUTH_APOP, user, ps->apop, secret,
		    len, u);
	if (proof == POP3_CRAM_MD5)
		return auth_check_digest(db, AUTH_CRAM_MD5, user, ps->cram,
		    secret, len, u);
	return auth_check_password(db, user, secret, len, u);
}

/*
 * Checks a device's user name and password (or digest) and, when they
 * are right, logs in upstream. Every failure leaves the AUTHORIZATION
 * state as it was, so the device may try again on the same connection.
 */
static enum pop3_next
pop3_login(struct pop3_session *ps, enum pop3_proof proof, const char *user,
    const void *secret, size_t len)
{
	struct session_ctx	*ctx = ps->ctx;
	struct user		*u;
	enum pop3_next		 next;

	if (auth_throttle_blocked(ctx->peer, plat_wall_time()))
		return pop3_login_throttled(ps);
	if ((u = malloc(sizeof(*u))) == NULL) {
		ev_emit(EV_ERROR, ctx->conn, "pop3.nomem", "Out of memory for "
		    "the login of {user}", "user", user, (char *)NULL);
		return pop3_reply_temp(ps, "Out of memory");
	}
	if (pop3_check_proof(ps, proof, user, secret, len, u) != EXO_OK) {
		free(u);
		auth_throttle_fail(ctx->peer, ctx->conn, plat_wall_time());
		return pop3_login_failed(ps, user);
	}
	auth_throttle_success(ctx->peer);

	if (!ps->on_login_called && ctx->on_login != NULL) {
		ps->on_login_called = 1;
		ctx->on_login(ctx, u->login);
	}
	next = pop3_login_upstream(ps, u);
	plat_wipe(u, sizeof(*u));
	free(u);
	return next;
}

/* ---- AUTHORIZATION state ---- */

/* Result of reading a line from the device. */
/* Logs the first malformed command of the connection. */
static void
pop3_log_bad_input(struct pop3_session *ps, const char *problem)
{
	if (ps->bad_input_logged)
		return;
	ps->bad_input_logged = 1;
	ev_emit(EV_WARN, ps->ctx->conn, "pop3.bad_input", "Device {peer} sent {problem}; further faults on this "
	    "connection are not logged",
	    "peer", ps->ctx->peer, EV_MSGID("problem"), problem,
	    (char *)NULL);
}

enum pop3_read {
	POP3_READ_OK,		/* a complete line */
	POP3_READ_REPLIED,	/* the line was rejected with a reply */
	POP3_READ_GONE,		/* the session ends */
};

/*
 * Logs a TLS ClientHello that arrived on the plain port, with the fix:
 * the device is set to implicit TLS (SSL/TLS) but uses the plain port.
 */
static void
pop3_log_tls_hello(struct pop3_session *ps)
{
	const struct settings	*st = ps->ctx->settings;
	char			 fix[256], port[16];

	tls_hello_plain_port_fix("pop3", ps->ctx->local_port,
	    st->pop3.tls_port, 995, fix, sizeof(fix));
	snprintf(port, sizeof(port), "%u", ps->ctx->local_port);
	ev_emit(EV_WARN, ps->ctx->conn, "pop3.tls_on_plain_port", "Device "
	    "{peer} sent a TLS handshake to the plain POP3 port {port}: {fix}",
	    "peer", ps->ctx->peer, "port", port, "fix", fix, (char *)NULL);
}

/*
 * Reads a line like stream_read_line. On a plain connection the first
 * byte is read on its own, because a ClientHello has no line end and a
 * line read would wait for the timeout. No POP3 command starts with 0x16
 * (a TLS handshake record) or a byte with the high bit set (an SSL
 * 2.0-style hello), so such a byte is logged and gives EXO_ERR_PROTO.
 */
static int
pop3_device_line(struct pop3_session *ps, char *buf, size_t cap,
    size_t *len)
{
	unsigned char	first;
	long		n;
	int		rc;

	if (ps->first_read || stream_is_tls(ps->device) || cap < 3)
		return stream_read_line(ps->device, buf, cap, len);
	ps->first_read = 1;
	n = stream_read(ps->device, &first, 1);
	if (n <= 0)
		return n == 0 ? EXO_ERR_CLOSED : (int)n;
	if (first == 0x16 || (first & 0x80)) {
		pop3_log_tls_hello(ps);
		return EXO_ERR_PROTO;
	}

	buf[0] = (char)first;
	if (first == '\n') {
		buf[1] = '\0';
		*len = 1;
		return EXO_OK;
	}
	rc = stream_read_line(ps->device, buf + 1, cap - 1, len);
	if (rc == EXO_OK || rc == EXO_ERR_TOOLONG)
		*len += 1;
	return rc;
}

/*
 * Reads one line from the device into buf. An overlong line is read to
 * its end and rejected; a timeout gets "-ERR Connection timed out".
 */
static enum pop3_read
pop3_read_line(struct pop3_session *ps, char *buf, size_t cap, size_t *len)
{
	int	rc;

	rc = pop3_device_line(ps, buf, cap, len);
	if (rc == EXO_ERR_PROTO) {
		ps->reason = N_("TLS handshake on the plain port");
		return POP3_READ_GONE;
	}
	if (rc == EXO_ERR_TOOLONG) {
		if (stream_skip_line(ps->device) != EXO_OK) {
			ps->reason = N_("device closed");
			return POP3_READ_GONE;
		}
		pop3_log_bad_input(ps, N_("a command line over 512 bytes"));
		return pop3_reply(ps, "-ERR Line too long") == POP3_END ?
		    POP3_READ_GONE : POP3_READ_REPLIED;
	}
	if (rc == EXO_ERR_TIMEOUT) {
		pop3_reply(ps, "-ERR Connection timed out");
		ps->reason = ps->state == POP3_AUTHORIZATION ?
		    N_("no login within preauth_timeout") : N_("timeout");
		return POP3_READ_GONE;
	}

	/* Bytes without a line end come only just before the close. */
	if (rc != EXO_OK || *len == 0 || buf[*len - 1] != '\n') {
		ps->reason = N_("device closed");
		return POP3_READ_GONE;
	}
	return POP3_READ_OK;
}

/* Sends a SASL prompt and reads the device's response into ps->sasl. */
static enum pop3_read
pop3_read_sasl(struct pop3_session *ps, const char *prompt, size_t *len)
{
	enum pop3_read	r;

	if (pop3_send(ps, prompt, strlen(prompt)) == POP3_END)
		return POP3_READ_GONE;
	r = pop3_read_line(ps, ps->sasl, sizeof(ps->sasl), len);
	if (r != POP3_READ_OK)
		return r;
	*len = str_trim_end(ps->sasl, *len);
	if (sasl_is_cancel(ps->sasl, *len))
		return pop3_reply(ps, "-ERR Authentication cancelled") ==
		    POP3_END ? POP3_READ_GONE : POP3_READ_REPLIED;
	return POP3_READ_OK;
}

/*
 * Replies to a SASL response that did not decode: too long when it
 * decoded to more than a field can contain, else invalid.
 */
static enum pop3_next
pop3_bad_response(struct pop3_session *ps, int rc, const char *invalid)
{
	if (rc == EXO_ERR_TOOLONG)
		return pop3_reply(ps, "-ERR Authentication exchange line is "
		    "too long");
	return pop3_reply(ps, invalid);
}

/* Maps the result of pop3_read_sasl to a handler's result. */
static enum pop3_next
pop3_read_next(enum pop3_read r)
{
	return r == POP3_READ_GONE ? POP3_END : POP3_CONTINUE;
}

/* "=" alone is an empty initial response (RFC 5034 section 4). */
static const char *
pop3_initial_response(const char *ir, size_t *len)
{
	if (strcmp(ir, "=") == 0) {
		*len = 0;
		return "";
	}
	*len = strlen(ir);
	return ir;
}

static enum pop3_next
pop3_auth_plain(struct pop3_session *ps, const char *ir)
{
	struct sasl_cred	 cred;
	enum pop3_read		 r;
	enum pop3_next		 next;
	const char		*b64 = ps->sasl;
	size_t			 len;
	int			 rc;

	if (ir != NULL)
		b64 = pop3_initial_response(ir, &len);
	else if ((r = pop3_read_sasl(ps, "+ \r\n", &len)) != POP3_READ_OK)
		return pop3_read_next(r);

	rc = sasl_plain_decode(b64, len, &cred);
	plat_wipe(ps->sasl, sizeof(ps->sasl));
	if (rc == EXO_ERR_INVALID || rc == EXO_ERR_TOOLONG)
		return pop3_bad_response(ps, rc, "-ERR Invalid base64 data or "
		    "PLAIN message");
	/* Another user's authorization identity cannot log in, so it
	 * counts as a failed login. */
	if (rc != EXO_OK)
		return pop3_login_failed(ps, "-");
	next = pop3_login(ps, POP3_PASSWORD, cred.user, cred.password,
	    cred.password_len);
	sasl_cred_wipe(&cred);
	return next;
}

static enum pop3_next
pop3_auth_login(struct pop3_session *ps, const char *ir)
{
	char			 user[SASL_FIELD_MAX], pass[SASL_FIELD_MAX];
	enum pop3_read		 r;
	enum pop3_next		 next;
	const char		*b64 = ps->sasl;
	size_t			 len, ulen, plen;
	int			 rc;

	if (ir != NULL)
		b64 = pop3_initial_response(ir, &len);
	else if ((r = pop3_read_sasl(ps, "+ VXNlcm5hbWU6\r\n", &len)) !=
	    POP3_READ_OK)
		return pop3_read_next(r);
	rc = sasl_login_decode(b64, len, user, sizeof(user), &ulen);
	if (rc != EXO_OK)
		return pop3_bad_response(ps, rc, "-ERR Invalid base64 data");

	if ((r = pop3_read_sasl(ps, "+ UGFzc3dvcmQ6\r\n", &len)) !=
	    POP3_READ_OK)
		return pop3_read_next(r);
	rc = sasl_login_decode(ps->sasl, len, pass, sizeof(pass), &plen);
	if (rc != EXO_OK) {
		plat_wipe(ps->sasl, sizeof(ps->sasl));
		return pop3_bad_response(ps, rc, "-ERR Invalid base64 data");
	}
	plat_wipe(ps->sasl, sizeof(ps->sasl));
	next = pop3_login(ps, POP3_PASSWORD, user, pass, plen);
	plat_wipe(pass, sizeof(pass));
	return next;
}

/*
 * AUTH CRAM-MD5 (RFC 2195): a fresh challenge per attempt. The device
 * replies with base64 of "user hexdigest". The server speaks first, so an initial
 * response is a protocol error.
 */
static enum pop3_next
pop3_auth_cram(struct pop3_session *ps, const char *ir)
{
	char		 host[CONFIG_HOST_MAX], prompt[AUTH_CHALLENGE_MAX * 2];
	char		 resp[SASL_FIELD_MAX + AUTH_DIGEST_HEX + 2], *sp;
	enum pop3_read	 r;
	enum pop3_next	 next;
	size_t		 len;
	long		 n;

	if (ir != NULL)
		return pop3_reply(ps, "-ERR CRAM-MD5 takes no initial "
		    "response");
	auth_host_name(ps->ctx->settings, host, sizeof(host));
	if (auth_make_challenge(host, ps->cram) != EXO_OK)
		return pop3_reply_temp(ps, "Cannot make a challenge");
	memcpy(prompt, "+ ", 2);
	base64_encode(ps->cram, strlen(ps->cram), prompt + 2);
	len = strlen(prompt);
	memcpy(prompt + len, "\r\n", 3);
	if ((r = pop3_read_sasl(ps, prompt, &len)) != POP3_READ_OK)
		return pop3_read_next(r);

	n = base64_decode(ps->sasl, len, resp, sizeof(resp) - 1, 0);
	plat_wipe(ps->sasl, sizeof(ps->sasl));
	if (n <= 0 || memchr(resp, '\0', (size_t)n) != NULL)
		return pop3_bad_response(ps, n == EXO_ERR_TOOLONG ?
		    EXO_ERR_TOOLONG : EXO_ERR_INVALID, "-ERR Invalid base64 "
		    "data or CRAM-MD5 response");
	resp[n] = '\0';
	if ((sp = strrchr(resp, ' ')) == NULL)
		return pop3_reply(ps, "-ERR Invalid CRAM-MD5 response");
	*sp++ = '\0';
	next = pop3_login(ps, POP3_CRAM_MD5, resp, sp, strlen(sp));
	ps->cram[0] = '\0';
	return next;
}

static const struct {
	const char	*name;
	enum pop3_next	(*fn)(struct pop3_session *ps, const char *ir);
} pop3_mechanisms[] = {
	{ "PLAIN", pop3_auth_plain },
	{ "LOGIN", pop3_auth_login },
	{ "CRAM-MD5", pop3_auth_cram },
};

#define POP3_MECHANISM_COUNT \
	(sizeof(pop3_mechanisms) / sizeof(pop3_mechanisms[0]))

/* Returns 1 when the settings offer mechanism i. */
static int
pop3_mechanism_on(const struct pop3_session *ps, size_t i)
{
	if (pop3_mechanisms[i].fn == pop3_auth_cram)
		return ps->ctx->settings->pop3.cram_md5;
	return 1;
}

/* Writes the offered mechanisms, each after sep, into out. */
static void
pop3_mechanism_list(const struct pop3_session *ps, const char *sep,
    char *out, size_t cap)
{
	size_t	i, n = 0;

	out[0] = '\0';
	for (i = 0; i < POP3_MECHANISM_COUNT; i++) {
		if (pop3_mechanism_on(ps, i) && n < cap)
			n += (size_t)snprintf(out + n, cap - n, "%s%s", sep,
			    pop3_mechanisms[i].name);
	}
}

/* AUTH alone lists the mechanisms, as CAPA's SASL line does. */
static enum pop3_next
pop3_cmd_auth(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	char			 list[POP3_CAPA_MAX];
	char			*ir;
	size_t			 i;

	(void)cmd;
	ps->have_user = 0;
	if (args[0] == '\0') {
		str_copy(list, "+OK", sizeof(list));
		pop3_mechanism_list(ps, "\r\n", list + 3, sizeof(list) - 3);
		i = strlen(list);
		snprintf(list + i, sizeof(list) - i, "\r\n.\r\n");
		return pop3_send(ps, list, strlen(list));
	}

	ir = strchr(args, ' ');
	if (ir != NULL) {
		*ir++ = '\0';
		while (*ir == ' ')
			ir++;
		if (*ir == '\0')
			ir = NULL;
	}
	for (i = 0; i < POP3_MECHANISM_COUNT; i++) {
		if (str_casecmp(args, pop3_mechanisms[i].name) == 0 &&
		    pop3_mechanism_on(ps, i))
			return pop3_mechanisms[i].fn(ps, ir);
	}
	return pop3_reply(ps, "-ERR Unsupported authentication mechanism");
}

static enum pop3_next
pop3_cmd_user(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	(void)cmd;
	if (args[0] == '\0') {
		ps->have_user = 0;
		return pop3_reply(ps, "-ERR Missing user name");
	}

	/* Unknown and overlong names get "+OK" too, so USER does not tell
	 * which users exist; PASS rejects them. */
	str_copy(ps->user, args, sizeof(ps->user));
	ps->have_user = 1;
	return pop3_reply(ps, "+OK");
}

static enum pop3_next
pop3_cmd_pass(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	enum pop3_next	next;

	(void)cmd;
	if (!ps->have_user)
		return pop3_reply(ps, "-ERR Send USER first");
	ps->have_user = 0;
	next = pop3_login(ps, POP3_PASSWORD, ps->user, args, strlen(args));
	plat_wipe(ps->line, sizeof(ps->line));
	return next;
}

/* Returns 1 when this connection may offer STLS now. */
static int
pop3_stls_offered(const struct pop3_session *ps)
{
	return ps->ctx->tls != NULL && ps->ctx->settings->pop3.starttls &&
	    !stream_is_tls(ps->device);
}

/* Returns 1 when require_tls hides the logins of this connection. */
static int
pop3_tls_required(const struct pop3_session *ps)
{
	return ps->ctx->settings->pop3.require_tls &&
	    !stream_is_tls(ps->device);
}

/*
 * STLS (RFC 2595 section 4): "+OK", then the handshake. The stream drops
 * what the device sent after the command, and the device must ask CAPA
 * again, so a USER given before TLS is forgotten.
 */
static enum pop3_next
pop3_cmd_stls(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	struct exo_error	 e;
	struct tls_hello	 hello;
	char			 fix[256];
	int			 rc;

	(void)cmd;
	(void)args;
	if (stream_is_tls(ps->device))
		return pop3_reply(ps, "-ERR TLS already active");
	if (!pop3_stls_offered(ps)) {
		if (!ps->stls_logged) {
			ps->stls_logged = 1;
			ev_emit(EV_INFO, ps->ctx->conn, "pop3.stls_refused",
			    ps->ctx->tls == NULL ? "device sent STLS but this "
			    "listener has no certificate" : "device sent STLS "
			    "but starttls = no under [pop3]",
			    "peer", ps->ctx->peer, (char *)NULL);
		}
		return pop3_reply(ps, "-ERR TLS not available");
	}

	if (pop3_reply(ps, "+OK Begin TLS negotiation") == POP3_END)
		return POP3_END;
	err_clear(&e);
	rc = stream_start_tls_server(ps->device, ps->ctx->tls, &e);
	if (rc != EXO_OK) {
		stream_tls_client_hello(ps->device, &hello);
		ev_emit(EV_WARN, ps->ctx->conn, "pop3.stls_failed", "TLS "
		    "handshake after STLS with device {peer} failed: {error}",
		    "peer", ps->ctx->peer, EV_ERROR("error", err_or_code(&e,
		    rc)), "fix", tls_hello_fix(e.msg, &hello, ps->ctx->peer,
		    ps->ctx->settings->pop3.legacy_tls, "pop3", fix,
		    sizeof(fix)), (char *)NULL);
		ps->reason = N_("TLS handshake failed");
		return POP3_END;
	}
	ps->have_user = 0;
	return POP3_CONTINUE;
}

/*
 * Rejects a login command before TLS when require_tls is on. Returns 1
 * when it replied, with the handler's result in *next.
 */
static int
pop3_tls_gate(struct pop3_session *ps, enum pop3_next *next)
{
	if (!pop3_tls_required(ps))
		return 0;
	if (!ps->tls_required_logged) {
		ps->tls_required_logged = 1;
		ev_emit(EV_INFO, ps->ctx->conn, "pop3.tls_required", "Device "
		    "{peer} tried to log in without TLS, which require_tls = "
		    "yes under [pop3] rejects; set the device to STARTTLS or "
		    "SSL/TLS", "peer", ps->ctx->peer, (char *)NULL);
	}
	ps->have_user = 0;
	*next = pop3_reply(ps, pop3_stls_offered(ps) ?
	    "-ERR [SYS/PERM] TLS required: use STLS" :
	    "-ERR [SYS/PERM] TLS required: use the SSL/TLS port");
	return 1;
}

/*
 * APOP name digest (RFC 1939 section 7): the digest is the MD5 of the
 * greeting's timestamp and the password, in hex. The name is everything
 * before the last space.
 */
static enum pop3_next
pop3_cmd_apop(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	char	*digest;

	(void)cmd;
	ps->have_user = 0;
	if (ps->apop[0] == '\0')
		return pop3_reply(ps, "-ERR APOP is not enabled on this "
		    "server");
	if ((digest = strrchr(args, ' ')) == NULL || digest == args)
		return pop3_reply(ps, "-ERR Syntax: APOP name digest");
	*digest++ = '\0';
	str_trim_end(args, strlen(args));
	return pop3_login(ps, POP3_APOP, args, digest, strlen(digest));
}

/* Builds the CAPA reply for the settings of this session. */
static void
pop3_capa_text(const struct pop3_session *ps, char *out, size_t cap)
{
	char	sasl[POP3_CAPA_MAX];

	pop3_mechanism_list(ps, " ", sasl, sizeof(sasl));
	/* RFC 2595 section 4: no STLS once TLS runs. With require_tls, no
	 * login is offered before TLS. */
	snprintf(out, cap, "+OK Capability list follows\r\n"
	    "TOP\r\n"
	    "UIDL\r\n"
	    "%s%s%s%s"
	    "RESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\n"
	    ".\r\n", pop3_stls_offered(ps) ? "STLS\r\n" : "",
	    pop3_tls_required(ps) ? "" : "USER\r\nSASL",
	    pop3_tls_required(ps) ? "" : sasl,
	    pop3_tls_required(ps) ? "" : "\r\n");
}

static enum pop3_next
pop3_cmd_capa(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	char	text[POP3_CAPA_MAX * 2];

	(void)cmd;
	(void)args;
	pop3_capa_text(ps, text, sizeof(text));
	return pop3_send(ps, text, strlen(text));
}

static enum pop3_next
pop3_cmd_noop(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	(void)cmd;
	(void)args;
	return pop3_reply(ps, "+OK");
}

static enum pop3_next
pop3_cmd_quit(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	(void)cmd;
	(void)args;
	ps->reason = N_("quit");
	pop3_reply(ps, "+OK Bye");
	return POP3_END;
}

/* ---- TRANSACTION state ---- */

/* Ends the session after the upstream failed while a reply was due. */
static enum pop3_next
pop3_upstream_lost(struct pop3_session *ps, int rc,
    const struct exo_error *e)
{
	ev_emit(EV_WARN, ps->ctx->conn, "pop3.upstream_lost", "Lost the "
	    "Exchange POP3 connection of {user}: {error}", "user", ps->login,
	    EV_ERROR("error", e), (char *)NULL);
	ps->reason = N_("upstream closed");
	if (rc == EXO_ERR_TIMEOUT)
		pop3_reply_temp(ps, "Upstream timed out");
	else
		pop3_reply_temp(ps, "Upstream connection closed");
	return POP3_END;
}

/*
 * Returns 1 when the upstream closed right after an -ERR reply, as
 * Exchange does with "Server Unavailable. 21", or sent bytes that no
 * command requested, which leaves the two sides out of step.
 */
static int
pop3_upstream_gone(struct pop3_session *ps)
{
	char	buf[64];
	long	n;

	stream_set_timeout(ps->up, POP3_CLOSE_WAIT_MS);
	n = stream_read(ps->up, buf, sizeof(buf));
	stream_set_timeout(ps->up, POP3_UPSTREAM_TIMEOUT_MS);
	return n != EXO_ERR_TIMEOUT;
}

/*
 * Checks the arguments of a relayed command and rebuilds it in out as
 * "VERB n [n]\r\n". Every argument of the relayed commands is a decimal
 * number, so nothing else from the device reaches Exchange.
 */
static int
pop3_build_command(const struct pop3_command *cmd, char *args,
    long long argv[POP3_ARGS_MAX], int *argc, char *out, size_t cap)
{
	char	*p = args, *arg;
	size_t	 len;
	int	 n = 0;

	len = (size_t)snprintf(out, cap, "%s", cmd->verb);
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		arg = p;
		while (*p != '\0' && *p != ' ')
			p++;
		if (*p != '\0')
			*p++ = '\0';
		if (n == POP3_ARGS_MAX ||
		    parse_ll(arg, 0, POP3_NUMBER_MAX, &argv[n]) != EXO_OK)
			return EXO_ERR_INVALID;
		len += (size_t)snprintf(out + len, cap - len, " %lld",
		    argv[n]);
		n++;
	}
	if (n < cmd->args_min || n > cmd->args_max)
		return EXO_ERR_INVALID;
	snprintf(out + len, cap - len, "\r\n");
	*argc = n;
	return EXO_OK;
}

/* Sends a command upstream and reads the status line into reply, which
 * must have room for two more bytes. */
static int
pop3_upstream_command(struct pop3_session *ps, const char *command,
    char *reply, size_t cap, size_t *len, struct exo_error *e)
{
	int	rc;

	if ((rc = stream_puts(ps->up, command)) == EXO_OK)
		rc = stream_flush(ps->up);
	if (rc != EXO_OK)
		return err_set(e, rc, "writing to Exchange POP3 failed: %s",
		    exo_strerror(rc));
	rc = pop3_upstream_read_status(ps->up, reply, cap - 2, len, e);
	if (rc != EXO_OK)
		return rc;

	/* A last line cut by the upstream's close still reaches the
	 * device as a whole line. */
	if (reply[*len - 1] != '\n') {
		memcpy(reply + *len, "\r\n", 3);
		*len += 2;
	}
	return EXO_OK;
}

/* Relays the body of a multi-line reply; see pop3_relay_multiline. */
static enum pop3_next
pop3_relay_body(struct pop3_session *ps, unsigned long long *bytes)
{
	enum pop3_relay_side	side;
	struct exo_error	e;
	int			rc;

	rc = pop3_relay_multiline(ps->up, ps->device, bytes, &side, &e);
	pop3_count_bytes(ps, *bytes);
	if (rc == EXO_OK)
		return POP3_CONTINUE;
	if (side == POP3_RELAY_DEVICE) {
		ps->reason = N_("device closed");
		return POP3_END;
	}

	/* The device already has part of the reply, so an -ERR cannot
	 * follow. Closing the connection shows the reply is incomplete. */
	ev_emit(EV_WARN, ps->ctx->conn, "pop3.upstream_lost", "Lost the "
	    "Exchange POP3 connection of {user}: {error}", "user", ps->login,
	    EV_ERROR("error", &e), (char *)NULL);
	ps->reason = N_("upstream closed");
	return POP3_END;
}

/* Records what a successful relayed command changed. */
static void
pop3_record(struct pop3_session *ps, const struct pop3_command *cmd,
    const long long argv[POP3_ARGS_MAX], unsigned long long bytes)
{
	char	msg[24], size[24];

	if (strcmp(cmd->verb, "DELE") == 0)
		ps->deletions++;
	else if (strcmp(cmd->verb, "RSET") == 0)
		ps->deletions = 0;
	else if (strcmp(cmd->verb, "RETR") == 0) {
		pop3_count(&ps->ctx->stats->messages, 1);
		snprintf(msg, sizeof(msg), "%lld", argv[0]);
		snprintf(size, sizeof(size), "%llu", bytes);
		ev_emit(EV_INFO, ps->ctx->conn, "pop3.retr", "Message {msg} "
		    "of {user} retrieved, {bytes} bytes", "msg", msg, "user",
		    ps->login, "bytes", size, (char *)NULL);
	}
}

static enum pop3_next
pop3_cmd_relay(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	char			command[64], reply[POP3_REPLY_MAX + 3];
	long long		argv[POP3_ARGS_MAX] = { 0 };
	unsigned long long	bytes = 0;
	struct exo_error	e;
	size_t			len;
	int			argc, rc, multi;

	if (pop3_build_command(cmd, args, argv, &argc, command,
	    sizeof(command)) != EXO_OK)
		return pop3_reply(ps, "-ERR Invalid argument");
	rc = pop3_upstream_command(ps, command, reply, sizeof(reply), &len,
	    &e);
	if (rc != EXO_OK)
		return pop3_upstream_lost(ps, rc, &e);
	if (pop3_send(ps, reply, len) == POP3_END)
		return POP3_END;
	pop3_count_bytes(ps, len);

	if (!pop3_status_ok(reply)) {
		if (!pop3_upstream_gone(ps))
			return POP3_CONTINUE;
		str_trim_end(reply, len);
		pop3_log_upstream_closed(ps, reply);
		ps->reason = N_("upstream closed");
		return POP3_END;
	}

	multi = cmd->multi == POP3_MULTI ||
	    (cmd->multi == POP3_MULTI_NO_ARGS && argc == 0);
	if (multi && pop3_relay_body(ps, &bytes) == POP3_END)
		return POP3_END;
	pop3_record(ps, cmd, argv, bytes);
	return POP3_CONTINUE;
}

/*
 * Relays QUIT, which makes Exchange commit the deletions. The device
 * gets "+OK" only when Exchange replied "+OK".
 */
static enum pop3_next
pop3_cmd_quit_relay(struct pop3_session *ps, const struct pop3_command *cmd,
    char *args)
{
	char			reply[POP3_REPLY_MAX + 3], count[24];
	struct exo_error	e;
	size_t			len;

	(void)cmd;
	(void)args;
	ps->reason = N_("quit");
	snprintf(count, sizeof(count), "%lu", ps->deletions);
	if (pop3_upstream_command(ps, "QUIT\r\n", reply, sizeof(reply), &len,
	    &e) != EXO_OK) {
		ev_emit(EV_WARN, ps->ctx->conn, "pop3.quit_unconfirmed",
		    "Exchange did not confirm the QUIT of {user}; {count} "
		    "deletions may not be committed: {error}", "user",
		    ps->login, "count", count, EV_ERROR("error", &e), (char *)NULL);
		pop3_reply(ps, "-ERR Upstream closed before confirming "
		    "deletions");
		return POP3_END;
	}
	pop3_send(ps, reply, len);
	pop3_count_bytes(ps, len);
	if (!pop3_status_ok(reply)) {
		str_trim_end(reply, len);
		ev_emit(EV_WARN, ps->ctx->conn, "pop3.quit_unconfirmed",
		    "Exchange did not confirm the QUIT of {user}; {count} "
		    "deletions may not be committed: {error}", "user",
		    ps->login, "count", count, "error", reply, (char *)NULL);
	}
	return POP3_END;
}

/* ---- commands ---- */

static const struct pop3_command pop3_commands[] = {
	{ "CAPA", pop3_cmd_capa, pop3_cmd_capa, 0, 0, POP3_SINGLE },
	{ "USER", pop3_cmd_user, NULL, 0, 0, POP3_SINGLE },
	{ "PASS", pop3_cmd_pass, NULL, 0, 0, POP3_SINGLE },
	{ "AUTH", pop3_cmd_auth, NULL, 0, 0, POP3_SINGLE },
	{ "APOP", pop3_cmd_apop, NULL, 0, 0, POP3_SINGLE },
	{ "STLS", pop3_cmd_stls, NULL, 0, 0, POP3_SINGLE },
	{ "NOOP", pop3_cmd_noop, pop3_cmd_relay, 0, 0, POP3_SINGLE },
	{ "QUIT", pop3_cmd_quit, pop3_cmd_quit_relay, 0, 0, POP3_SINGLE },
	{ "STAT", NULL, pop3_cmd_relay, 0, 0, POP3_SINGLE },
	{ "LIST", NULL, pop3_cmd_relay, 0, 1, POP3_MULTI_NO_ARGS },
	{ "UIDL", NULL, pop3_cmd_relay, 0, 1, POP3_MULTI_NO_ARGS },
	{ "RETR", NULL, pop3_cmd_relay, 1, 1, POP3_MULTI },
	{ "TOP", NULL, pop3_cmd_relay, 2, 2, POP3_MULTI },
	{ "DELE", NULL, pop3_cmd_relay, 1, 1, POP3_SINGLE },
	{ "RSET", NULL, pop3_cmd_relay, 0, 0, POP3_SINGLE },
};

#define POP3_COMMAND_COUNT (sizeof(pop3_commands) / sizeof(pop3_commands[0]))

static const struct pop3_command *
pop3_command_find(const char *verb)
{
	size_t	i;

	for (i = 0; i < POP3_COMMAND_COUNT; i++) {
		if (str_casecmp(verb, pop3_commands[i].verb) == 0)
			return &pop3_commands[i];
	}
	return NULL;
}

/* Splits a command line (line end removed) and runs its handler. */
static enum pop3_next
pop3_dispatch(struct pop3_session *ps, size_t len)
{
	const struct pop3_command	*cmd;
	pop3_handler			 fn;
	enum pop3_next			 next;
	char				*line = ps->line, *args;

	if (memchr(line, '\0', len) != NULL) {
		pop3_log_bad_input(ps, N_("a NUL byte in a command"));
		return pop3_reply(ps, "-ERR NUL byte in command");
	}
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';

	args = strchr(line, ' ');
	if (args != NULL)
		*args++ = '\0';
	else
		args = line + len;
	if ((cmd = pop3_command_find(line)) == NULL) {
		pop3_log_bad_input(ps, N_("an unknown command"));
		return pop3_reply(ps, "-ERR Unknown command");
	}

	/* A password is taken as sent, trailing spaces included (RFC 1939
	 * section 7); other commands tolerate surrounding spaces. */
	if (cmd->authorization != pop3_cmd_pass) {
		str_trim_end(args, strlen(args));
		while (*args == ' ')
			args++;
	}

	fn = ps->state == POP3_AUTHORIZATION ? cmd->authorization :
	    cmd->transaction;
	if ((fn == pop3_cmd_user || fn == pop3_cmd_pass ||
	    fn == pop3_cmd_auth || fn == pop3_cmd_apop) &&
	    pop3_tls_gate(ps, &next))
		return next;
	if (fn == NULL)
		return pop3_reply(ps, ps->state == POP3_AUTHORIZATION ?
		    "-ERR Log in first" : "-ERR Command not valid after login");
	return fn(ps, cmd, args);
}

static int
pop3_stopping(const struct pop3_session *ps)
{
	return ps->ctx->stopping != NULL && atomic_load(ps->ctx->stopping);
}

/*
 * Returns 1 when the session should end because the service stops. A
 * logged-in device keeps its session through the service's grace period,
 * so a QUIT sent then still commits its deletions; the service cuts the
 * connection when the period ends.
 */
static int
pop3_stop_now(const struct pop3_session *ps)
{
	return pop3_stopping(ps) && ps->state != POP3_TRANSACTION;
}

static void
pop3_loop(struct pop3_session *ps)
{
	enum pop3_read	r;
	size_t		len;

	for (;;) {
		if (pop3_stop_now(ps))
			break;
		r = pop3_read_line(ps, ps->line, sizeof(ps->line), &len);
		if (r == POP3_READ_GONE) {
			if (pop3_stopping(ps))
				ps->reason = N_("stopping");
			return;
		}
		if (r == POP3_READ_REPLIED)
			continue;
		if (pop3_stop_now(ps))
			break;
		if (pop3_dispatch(ps, len) == POP3_END)
			return;
	}

	/* The service stops: a device that sends a command, or is about
	 * to, learns why the connection closes. */
	pop3_reply_temp(ps, "exoconnect is stopping");
	ps->reason = N_("stopping");
}

/* Logs the end of a session and releases both connections. */
static void
pop3_session_end(struct pop3_session *ps)
{
	struct session_ctx	*ctx = ps->ctx;
	char			 in[24], out[24], count[24];

	if (atomic_load(&ctx->user_deleted) &&
	    strcmp(ps->reason, "device closed") == 0) {
		pop3_reply(ps, "-ERR [SYS/PERM] this user was deleted by the "
		    "administrator");
		ps->reason = N_("user deleted");
	}
	if (ps->state == POP3_TRANSACTION && strcmp(ps->reason, "quit") != 0) {
		if (strcmp(ps->reason, "device closed") == 0 ||
		    strcmp(ps->reason, "timeout") == 0)
			pop3_log_uncommitted(ps);
		else if (ps->deletions > 0) {
			snprintf(count, sizeof(count), "%lu", ps->deletions);
			ev_emit(EV_WARN, ctx->conn,
			    "pop3.deletions_uncommitted", "POP3 session of "
			    "{user} ended ({reason}) before QUIT; deletions "
			    "not committed: {count}", "user", ps->login,
			    EV_MSGID("reason"), ps->reason, "count", count,
			    (char *)NULL);
		}
	}

	/* Closing without QUIT keeps every message upstream (RFC 1939
	 * section 6: deletions happen only in the UPDATE state). */
	stream_close(ps->up);
	ps->up = NULL;

	snprintf(in, sizeof(in), "%llu", stream_bytes_in(ps->device));
	snprintf(out, sizeof(out), "%llu", stream_bytes_out(ps->device));
	ev_emit(EV_INFO, ctx->conn, "pop3.session_end", "POP3 session from "
	    "{peer} ended: {reason}", "peer", ctx->peer,
	    EV_MSGID("reason"), ps->reason,
	    "user", ps->login[0] != '\0' ? ps->login : NULL, "bytes_in", in,
	    "bytes_out", out, (char *)NULL);
	stream_close(ps->device);
}

/*
 * Sends the greeting. With APOP on, it ends in the timestamp that APOP
 * digests cover (RFC 1939 section 7); without it, devices see no
 * timestamp and do not try APOP.
 */
static enum pop3_next
pop3_greet(struct pop3_session *ps)
{
	char	host[CONFIG_HOST_MAX], line[POP3_LINE_MAX];

	ps->apop[0] = '\0';
	if (ps->ctx->settings->pop3.apop) {
		auth_host_name(ps->ctx->settings, host, sizeof(host));
		if (auth_make_challenge(host, ps->apop) != EXO_OK)
			ps->apop[0] = '\0';
	}
	if (ps->apop[0] == '\0')
		return pop3_reply(ps, "+OK exoconnect POP3 ready");
	snprintf(line, sizeof(line), "+OK exoconnect POP3 ready %s",
	    ps->apop);
	return pop3_reply(ps, line);
}

void
pop3_session_run(struct session_ctx *ctx, struct stream *device)
{
	struct pop3_session	*ps;
	int			 preauth;

	preauth = ctx->settings->limits.preauth_timeout;
	if ((ps = calloc(1, sizeof(*ps))) == NULL) {
		ev_emit(EV_ERROR, ctx->conn, "pop3.nomem", "Out of memory for "
		    "the POP3 session of {peer}", "peer", ctx->peer,
		    (char *)NULL);
		stream_close(device);
		return;
	}
	ps->ctx = ctx;
	ps->device = device;
	ps->state = POP3_AUTHORIZATION;
	ps->reason = N_("device closed");
	stream_set_timeout(device, preauth > 0 ? preauth * 1000 : -1);
	/* preauth_timeout counts from the connect, not from the last line. */
	if (preauth > 0)
		stream_set_read_deadline(device, plat_monotonic_ms() +
		    (int64_t)preauth * 1000);

	ev_emit(EV_INFO, ctx->conn, "pop3.session_start", "POP3 connection "
	    "from {peer}", "peer", ctx->peer, (char *)NULL);
	if (pop3_greet(ps) == POP3_CONTINUE)
		pop3_loop(ps);
	pop3_session_end(ps);

	plat_wipe(ps, sizeof(*ps));
	free(ps);
}
