/*
 * smtp-upstream.c: the SMTP client towards Exchange Online: greeting,
 * EHLO, STARTTLS, EHLO again, AUTH XOAUTH2 in two steps, reply reading,
 * and the check behind `user test`.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "sasl.h"
#include "session.h"
#include "smtp.h"
#include "util.h"

#define SMTP_CONNECT_TIMEOUT_MS 30000
#define SMTP_REPLY_TIMEOUT_MS 120000	/* per command, before the device gives up */
#define SMTP_QUIT_TIMEOUT_MS 5000
/*
 * Maximum wait for a free upstream connection of a mailbox. Devices time
 * out after 30 to 120 seconds, so this stays below the minimum.
 */
#define SMTP_SLOT_WAIT_MS 25000
/* Mailboxes with upstream connections open at once. */
#define SMTP_SLOT_MAILBOXES_MAX 512
/* Continuation lines read of one reply before the server is called broken. */
#define SMTP_REPLY_LINES_READ_MAX 256

struct smtp_upstream {
	struct stream	*s;
	char		 slot[USER_MAILBOX_MAX];	/* mailbox; "": none */
	char		 host[CONFIG_HOST_MAX];
	char		 name[CONFIG_HOST_MAX + 8];	/* "host:port" */
	long long	 size;		/* SIZE, 0 when not advertised */
	int		 eightbit;	/* 8BITMIME advertised */
	int		 starttls;	/* STARTTLS advertised */
};

/* Likely causes of a rejected XOAUTH2 login, by enhanced status code. */
static const struct {
	const char	*enhanced;
	const char	*hint;
} auth_hints[] = {
	{ "5.7.139", "SMTP AUTH is disabled for this mailbox or tenant; "
	    "enable Authenticated SMTP in the Exchange admin center" },
	{ "5.7.3", "Exchange rejected the token; it needs the scope "
	    "https://outlook.office.com/SMTP.Send, and an app-only token "
	    "also needs permission on the mailbox" },
};

const char *
smtp_upstream_auth_hint(const struct smtp_reply *reply)
{
	size_t	i;

	for (i = 0; i < sizeof(auth_hints) / sizeof(auth_hints[0]); i++) {
		if (strcmp(reply->enhanced, auth_hints[i].enhanced) == 0)
			return (auth_hints[i].hint);
	}
	return ("Exchange rejected the OAuth login; check that Authenticated "
	    "SMTP is enabled for the mailbox and that the token has the scope "
	    "https://outlook.office.com/SMTP.Send");
}

int
smtp_upstream_auth_retryable(const struct smtp_reply *reply)
{
	/* 5.7.139 is a tenant or mailbox setting: a new token cannot help. */
	return (reply->code / 100 == 5 &&
	    strcmp(reply->enhanced, "5.7.139") != 0);
}

/* Parses "c.sss.ddd" (RFC 3463) at p; returns its length or 0. */
static size_t
parse_enhanced(const char *p, size_t len, int code, char out[16])
{
	size_t	i = 0, part, digits;

	if (len < 5 || p[0] != '0' + code / 100 || p[1] != '.')
		return (0);
	i = 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; i < len && p[i] >= '0' && p[i] <= '9'; i++)
			digits++;
		if (digits == 0 || digits > 3)
			return (0);
		if (part == 0) {
			if (i >= len || p[i] != '.')
				return (0);
			i++;
		}
	}
	if (i < len && p[i] != ' ')
		return (0);
	memcpy(out, p, i);
	out[i] = '\0';
	return (i);
}

int
smtp_reply_parse_line(const char *line, size_t len, int *code, int *more,
    char enhanced[16])
{
	size_t	i;

	enhanced[0] = '\0';
	if (len < 3)
		return (EXO_ERR_PROTO);
	for (i = 0; i < 3; i++) {
		if (line[i] < '0' || line[i] > '9')
			return (EXO_ERR_PROTO);
	}
	if (line[0] < '2' || line[0] > '5')
		return (EXO_ERR_PROTO);
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return (EXO_ERR_PROTO);
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*more = (len > 3 && line[3] == '-');
	if (len > 4)
		parse_enhanced(line + 4, len - 4, *code, enhanced);
	return (EXO_OK);
}

/*
 * Reads one reply line without its line end. An overlong line is cut to
 * the buffer and the rest discarded.
 */
static int
read_line(struct stream *s, char *buf, size_t cap, size_t *len)
{
	int	rc;

	rc = stream_read_line(s, buf, cap, len);
	if (rc == EXO_ERR_TOOLONG)
		rc = stream_skip_line(s);
	else if (rc == EXO_OK && (*len == 0 || buf[*len - 1] != '\n'))
		rc = EXO_ERR_CLOSED;	/* a partial line, then the end */
	if (rc != EXO_OK)
		return (rc);
	while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r'))
		(*len)--;
	buf[*len] = '\0';
	return (EXO_OK);
}

/* Cuts len back to a UTF-8 character boundary at or below max. */
static size_t
utf8_cut(const char *text, size_t len, size_t max)
{
	if (len <= max)
		return (len);
	len = max;
	while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
		len--;
	return (len);
}

/* Appends a line, cut to fit SMTP_LINE_MAX with its CRLF. */
static void
reply_append(struct smtp_reply *r, const char *line, size_t len)
{
	size_t	i;

	len = utf8_cut(line, len, SMTP_LINE_MAX - 2);
	for (i = 0; i < len; i++) {
		unsigned char	c = (unsigned char)line[i];

		/* No control byte of a peer reaches the device. */
		r->text[r->len + i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	memcpy(r->text + r->len + len, "\r\n", 2);
	r->len += len + 2;
	r->text[r->len] = '\0';
}

int
smtp_upstream_read_reply(struct smtp_upstream *u, int timeout_ms,
    struct smtp_reply *r)
{
	char	line[SMTP_REPLY_READ_MAX];
	char	enhanced[16];
	size_t	len, nlines;
	int	rc, code, more = 1;

	r->code = 0;
	r->len = 0;
	r->text[0] = '\0';
	r->enhanced[0] = '\0';
	r->first[0] = '\0';
	if (timeout_ms != 0)
		stream_set_timeout(u->s, timeout_ms);
	for (nlines = 0; more; nlines++) {
		if (nlines == SMTP_REPLY_LINES_READ_MAX)
			return (EXO_ERR_PROTO);
		if ((rc = read_line(u->s, line, sizeof(line), &len)) != EXO_OK)
			return (rc);
		if (smtp_reply_parse_line(line, len, &code, &more,
		    enhanced) != EXO_OK)
			return (EXO_ERR_PROTO);
		if (nlines == 0) {
			size_t	n = utf8_cut(line, len, sizeof(r->first) - 1);

			r->code = code;
			str_copy(r->enhanced, enhanced, sizeof(r->enhanced));
			memcpy(r->first, line, n);
			r->first[n] = '\0';
		}
		/* Keep the last line always, so the reply stays complete. */
		if (nlines < SMTP_REPLY_LINES_MAX - 1 || !more)
			reply_append(r, line, len);
	}
	return (EXO_OK);
}

int
smtp_upstream_write(struct smtp_upstream *u, const void *buf, size_t len)
{
	return (stream_write(u->s, buf, len));
}

int
smtp_upstream_flush(struct smtp_upstream *u)
{
	return (stream_flush(u->s));
}

int
smtp_upstream_command(struct smtp_upstream *u, const char *line,
    struct smtp_reply *reply)
{
	int	rc;

	if ((rc = stream_puts(u->s, line)) != EXO_OK ||
	    (rc = stream_puts(u->s, "\r\n")) != EXO_OK ||
	    (rc = stream_flush(u->s)) != EXO_OK)
		return (rc);
	return (smtp_upstream_read_reply(u, SMTP_REPLY_TIMEOUT_MS, reply));
}

long long
smtp_upstream_size(const struct smtp_upstream *u)
{
	return (u->size);
}

int
smtp_upstream_8bitmime(const struct smtp_upstream *u)
{
	return (u->eightbit);
}

const char *
smtp_upstream_name(const struct smtp_upstream *u)
{
	return (u->name);
}

/* ---- connections per mailbox ---- */

/*
 * Exchange Online accepts 3 SMTP connections per mailbox at once and
 * replies "432 4.3.2" to MAIL FROM on a fourth. Offices point many
 * devices at one mailbox, so further sessions wait here for a free
 * connection instead of failing.
 */
struct slot_entry {
	char	mailbox[USER_MAILBOX_MAX];	/* lower case; "": unused */
	int	used;
};

static struct slot_entry	 slot_table[SMTP_SLOT_MAILBOXES_MAX];
static struct plat_mutex	*slot_mu;
static struct plat_cond		*slot_cv;
static atomic_flag		 slot_init_busy = ATOMIC_FLAG_INIT;
static atomic_int		 slot_ready;

/* Creates the lock and condition on first use; returns 0 or -1. */
static int
slot_init(void)
{
	int	rc = 0;

	if (atomic_load(&slot_ready))
		return 0;
	while (atomic_flag_test_and_set(&slot_init_busy))
		;
	if (!atomic_load(&slot_ready)) {
		slot_mu = plat_mutex_new();
		slot_cv = plat_cond_new();
		if (slot_mu != NULL && slot_cv != NULL)
			atomic_store(&slot_ready, 1);
		else
			rc = -1;
	}
	atomic_flag_clear(&slot_init_busy);
	return rc;
}

/* Returns the entry of key, or a free one; NULL when full. */
static struct slot_entry *
slot_find(const char *key)
{
	struct slot_entry	*free_entry = NULL;
	size_t			 i;

	for (i = 0; i < SMTP_SLOT_MAILBOXES_MAX; i++) {
		if (strcmp(slot_table[i].mailbox, key) == 0 &&
		    slot_table[i].used > 0)
			return &slot_table[i];
		if (slot_table[i].used == 0 && free_entry == NULL)
			free_entry = &slot_table[i];
	}
	return free_entry;
}

/*
 * Takes one of max connections of mailbox into u->slot, waiting at most
 * SMTP_SLOT_WAIT_MS. Returns 0, or EXO_ERR_BUSY when none came free.
 */
static int
slot_take(struct smtp_upstream *u, const char *mailbox, int max,
    struct exo_error *e)
{
	struct slot_entry	*se;
	char			 key[USER_MAILBOX_MAX];
	int64_t			 deadline;
	int			 left, rc = EXO_ERR_BUSY;
	size_t			 i;

	if (slot_init() != 0)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	for (i = 0; mailbox[i] != '\0' && i + 1 < sizeof(key); i++)
		key[i] = (char)(mailbox[i] >= 'A' && mailbox[i] <= 'Z' ?
		    mailbox[i] - 'A' + 'a' : mailbox[i]);
	key[i] = '\0';

	deadline = plat_monotonic_ms() + SMTP_SLOT_WAIT_MS;
	plat_mutex_lock(slot_mu);
	for (;;) {
		se = slot_find(key);
		if (se != NULL && se->used < max) {
			str_copy(se->mailbox, key, sizeof(se->mailbox));
			se->used++;
			str_copy(u->slot, key, sizeof(u->slot));
			rc = EXO_OK;
			break;
		}
		left = (int)(deadline - plat_monotonic_ms());
		if (left <= 0)
			break;
		plat_cond_wait(slot_cv, slot_mu, left);
	}
	plat_mutex_unlock(slot_mu);
	if (rc != EXO_OK)
		return err_set(e, EXO_ERR_BUSY, "all %d SMTP connections of %s "
		    "stayed busy for %d seconds", max, mailbox,
		    SMTP_SLOT_WAIT_MS / 1000);
	return EXO_OK;
}

static void
slot_release(struct smtp_upstream *u)
{
	struct slot_entry	*se;

	if (u->slot[0] == '\0' || !atomic_load(&slot_ready))
		return;
	plat_mutex_lock(slot_mu);
	se = slot_find(u->slot);
	if (se != NULL && se->used > 0 && strcmp(se->mailbox, u->slot) == 0)
		se->used--;
	plat_cond_broadcast(slot_cv);
	plat_mutex_unlock(slot_mu);
	u->slot[0] = '\0';
}

int
smtp_upstream_in_use(const char *mailbox)
{
	struct slot_entry	*se;
	char			 key[USER_MAILBOX_MAX];
	size_t			 i;
	int			 n = 0;

	if (slot_init() != 0)
		return 0;
	for (i = 0; mailbox[i] != '\0' && i + 1 < sizeof(key); i++)
		key[i] = (char)(mailbox[i] >= 'A' && mailbox[i] <= 'Z' ?
		    mailbox[i] - 'A' + 'a' : mailbox[i]);
	key[i] = '\0';
	plat_mutex_lock(slot_mu);
	se = slot_find(key);
	if (se != NULL && strcmp(se->mailbox, key) == 0)
		n = se->used;
	plat_mutex_unlock(slot_mu);
	return n;
}

/*
 * Waits until the server closes after QUIT, so a session waiting for this
 * mailbox's connection does not reach Exchange before it counted this
 * one as gone.
 */
static void
wait_for_close(struct stream *st)
{
	char	buf[256];
	int	i;

	for (i = 0; i < 16; i++) {
		if (stream_read(st, buf, sizeof(buf)) <= 0)
			return;
	}
}

void
smtp_upstream_close(struct smtp_upstream *u, int quit)
{
	struct smtp_reply	*r;

	if (u == NULL)
		return;
	if (quit && u->s != NULL && (r = malloc(sizeof(*r))) != NULL) {
		stream_set_timeout(u->s, SMTP_QUIT_TIMEOUT_MS);
		if (stream_puts(u->s, "QUIT\r\n") == EXO_OK &&
		    stream_flush(u->s) == EXO_OK &&
		    smtp_upstream_read_reply(u, 0, r) == EXO_OK &&
		    r->code == 221)
			wait_for_close(u->s);
		free(r);
	}
	stream_close(u->s);
	slot_release(u);
	free(u);
}

/* ---- login ---- */

/* Records the extensions of an EHLO reply that matter here. */
static void
parse_ehlo(struct smtp_upstream *u, const struct smtp_reply *r)
{
	const char	*p = r->text, *end;
	long long	 size;

	u->size = 0;
	u->eightbit = 0;
	u->starttls = 0;
	while ((end = strstr(p, "\r\n")) != NULL) {
		char	kw[64];
		size_t	len = (size_t)(end - p);

		/* Skip "250-" or "250 "; the first line is the greeting. */
		if (p != r->text && len > 4) {
			len -= 4;
			if (len >= sizeof(kw))
				len = sizeof(kw) - 1;
			memcpy(kw, p + 4, len);
			kw[len] = '\0';
			if (str_casecmp(kw, "8BITMIME") == 0)
				u->eightbit = 1;
			else if (str_casecmp(kw, "STARTTLS") == 0)
				u->starttls = 1;
			else if (str_has_prefix_case(kw, "SIZE ") &&
			    parse_ll(kw + 5, 0, (long long)1 << 50, &size) ==
			    EXO_OK)
				u->size = size;
		}
		p = end + 2;
	}
}

/* Appends one step to the trace of `user test`, when there is one. */
static void
trace_step(struct buf *trace, const char *step, int rc,
    const struct smtp_reply *r, const struct exo_error *e)
{
	if (trace == NULL)
		return;
	if (rc == EXO_OK)
		buf_printf(trace, _("%s: ok"), step);
	else if (r->code != 0)
		buf_printf(trace, _("%s: rejected: %s"), step, r->first);
	else
		buf_printf(trace, _("%s: failed: %s"), step,
		    e != NULL && e->msg[0] ? e->msg : exo_strerror(rc));
	buf_puts(trace, "\n");
}

/*
 * Sends command (NULL: only read) and expects reply code want. A 421 or
 * any other code is EXO_ERR_UPSTREAM with the reply in *r.
 */
static int
expect(struct smtp_upstream *u, const char *command, int want,
    const char *step, struct smtp_reply *r, struct exo_error *e)
{
	int	rc;

	if (command != NULL)
		rc = smtp_upstream_command(u, command, r);
	else
		rc = smtp_upstream_read_reply(u, SMTP_REPLY_TIMEOUT_MS, r);
	if (rc != EXO_OK)
		return (err_set(e, rc, "%s: %s failed: %s", u->name, step,
		    exo_strerror(rc)));
	if (r->code != want)
		return (err_set(e, EXO_ERR_UPSTREAM, "%s: %s rejected: %s",
		    u->name, step, r->first));
	return (EXO_OK);
}

/* Sends the XOAUTH2 line and wipes it. */
static int
send_xoauth2(struct smtp_upstream *u, const struct token_lease *lease,
    struct exo_error *e)
{
	char	*line = NULL;
	size_t	 len = 0;
	int	 rc;

	rc = sasl_xoauth2_encode(lease->mailbox, lease->access_token, &line,
	    &len);
	if (rc != EXO_OK)
		return (err_set(e, rc, "cannot build the XOAUTH2 line for %s",
		    lease->mailbox));
	if ((rc = stream_write(u->s, line, len)) == EXO_OK &&
	    (rc = stream_puts(u->s, "\r\n")) == EXO_OK)
		rc = stream_flush(u->s);
	plat_wipe(line, len);
	free(line);
	if (rc != EXO_OK)
		return (err_set(e, rc, "%s: sending the XOAUTH2 line failed: %s",
		    u->name, exo_strerror(rc)));
	return (EXO_OK);
}

/*
 * AUTH XOAUTH2 in two steps (RFC 4954 4: an initial response may not make
 * the command longer than 512 octets, and tokens are several KB).
 */
static int
login_xoauth2(struct smtp_upstream *u, const struct token_lease *lease,
    struct smtp_reply *r, struct exo_error *e)
{
	int	rc;

	rc = expect(u, "AUTH XOAUTH2", 334, "AUTH XOAUTH2", r, e);
	if (rc != EXO_OK && rc != EXO_ERR_UPSTREAM)
		return (rc);
	if (rc == EXO_OK) {
		if ((rc = send_xoauth2(u, lease, e)) != EXO_OK)
			return (rc);
		rc = smtp_upstream_read_reply(u, SMTP_REPLY_TIMEOUT_MS, r);
		/* A 334 with a JSON error: an empty line fetches the result. */
		if (rc == EXO_OK && r->code == 334)
			rc = smtp_upstream_command(u, "", r);
		if (rc != EXO_OK)
			return (err_set(e, rc, "%s: XOAUTH2 login failed: %s",
			    u->name, exo_strerror(rc)));
	}

	/* Here *r is the final reply to AUTH XOAUTH2 or to the SASL line. */
	if (r->code == 235)
		return (EXO_OK);
	if (r->code == 421)
		return (err_set(e, EXO_ERR_UPSTREAM, "%s: XOAUTH2 login: %s",
		    u->name, r->first));
	return (err_set(e, EXO_ERR_AUTH, "%s rejected the XOAUTH2 login for "
	    "%s: %s", u->name, lease->mailbox, r->first));
}

static int
open_traced(const struct settings *s, const struct trust_store *trust,
    const struct token_lease *lease, const char *hostname,
    struct smtp_upstream **out, struct smtp_reply *r, struct buf *trace,
    struct exo_error *e)
{
	const struct endpoint	*ep;
	struct smtp_upstream	*u;
	char			 ehlo[SMTP_LINE_MAX];
	char			 step[SMTP_LINE_MAX];
	int			 rc;

	*out = NULL;
	r->code = 0;
	r->first[0] = '\0';
	ep = lease->personal ? &s->smtp.upstream_personal : &s->smtp.upstream;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory"));
	str_copy(u->host, ep->host, sizeof(u->host));
	snprintf(u->name, sizeof(u->name), "%s:%u", ep->host, ep->port);
	snprintf(ehlo, sizeof(ehlo), "EHLO %s", hostname);
	if ((rc = slot_take(u, lease->mailbox,
	    s->smtp.max_upstream_per_mailbox, e)) != EXO_OK) {
		trace_step(trace, _("SMTP wait for a free connection"), rc,
		    r, e);
		free(u);
		return (rc);
	}

	snprintf(step, sizeof(step), _("SMTP connect %s"), u->name);
	rc = stream_connect(ep->host, ep->port, SMTP_CONNECT_TIMEOUT_MS, &u->s,
	    e);
	if (rc == EXO_OK)
		rc = expect(u, NULL, 220, "greeting", r, e);
	trace_step(trace, step, rc, r, e);
	if (rc != EXO_OK)
		goto out;

	rc = expect(u, ehlo, 250, "EHLO", r, e);
	if (rc == EXO_OK) {
		parse_ehlo(u, r);
		if (!u->starttls)
			rc = err_set(e, EXO_ERR_UPSTREAM, "%s does not offer "
			    "STARTTLS; check the SMTP upstream setting", u->name);
	}
	if (rc == EXO_OK)
		rc = expect(u, "STARTTLS", 220, "STARTTLS", r, e);
	if (rc == EXO_OK) {
		r->code = 0;
		rc = stream_start_tls_client(u->s, u->host, trust, e);
	}
	trace_step(trace, _("SMTP STARTTLS and TLS 1.2 handshake"), rc, r,
	    e);
	if (rc != EXO_OK)
		goto out;

	rc = expect(u, ehlo, 250, "EHLO after STARTTLS", r, e);
	if (rc == EXO_OK) {
		parse_ehlo(u, r);
		rc = login_xoauth2(u, lease, r, e);
	}
	trace_step(trace, _("SMTP XOAUTH2 login"), rc, r, e);
out:
	if (rc != EXO_OK) {
		smtp_upstream_close(u, rc == EXO_ERR_AUTH);
		return (rc);
	}
	*out = u;
	return (EXO_OK);
}

int
smtp_upstream_open(const struct settings *s, const struct trust_store *trust,
    const struct token_lease *lease, const char *hostname,
    struct smtp_upstream **out, struct smtp_reply *reply, struct exo_error *e)
{
	return (open_traced(s, trust, lease, hostname, out, reply, NULL, e));
}

int
smtp_upstream_check(const struct settings *s,
    const struct trust_store *trust, const struct token_lease *lease,
    char *report, size_t cap, struct exo_error *e)
{
	struct smtp_upstream	*u = NULL;
	struct smtp_reply	*r;
	struct buf		 trace;
	char			 hostname[CONFIG_HOST_MAX];
	int			 rc;

	if ((r = malloc(sizeof(*r))) == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory"));
	buf_init(&trace);
	if (s->smtp.hostname[0] != '\0')
		str_copy(hostname, s->smtp.hostname, sizeof(hostname));
	else if (plat_hostname(hostname, sizeof(hostname)) != EXO_OK)
		str_copy(hostname, "localhost", sizeof(hostname));

	rc = open_traced(s, trust, lease, hostname, &u, r, &trace, e);
	if (rc == EXO_ERR_AUTH)
		buf_printf(&trace, "likely cause: %s\n",
		    smtp_upstream_auth_hint(r));
	smtp_upstream_close(u, 1);

	if (cap > 0)
		str_copy(report, trace.data != NULL ? trace.data : "", cap);
	buf_free(&trace);
	free(r);
	return (rc);
}
