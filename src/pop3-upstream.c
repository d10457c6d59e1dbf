/*
 * pop3-upstream.c: the connection to the Exchange Online POP3 server:
 * implicit TLS, the two-step XOAUTH2 login, status lines, relaying
 * multi-line replies, and the upstream check of `user test`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "pop3.h"
#include "sasl.h"
#include "session.h"
#include "util.h"

/* Size of the buffer that carries multi-line replies to the device. */
#define POP3_RELAY_CHUNK 16384

/* Progress of the search for the final "." line of a multi-line reply. */
enum pop3_scan {
	POP3_SCAN_LINE_START,	/* at the first byte of a line */
	POP3_SCAN_DOT,		/* after a "." at the start of a line */
	POP3_SCAN_DOT_CR,	/* after "." and CR */
	POP3_SCAN_MIDDLE,	/* inside a line */
	POP3_SCAN_END,		/* the final line is complete */
};

int
pop3_status_ok(const char *line)
{
	return str_has_prefix_case(line, "+OK");
}

/* 1 when an -ERR line is Exchange's "Server Unavailable", which is
 * temporary and unrelated to the token. */
static int
pop3_status_unavailable(const char *line)
{
	const char	*p;

	for (p = line; *p != '\0'; p++) {
		if (str_has_prefix_case(p, "Server Unavailable"))
			return 1;
	}
	return 0;
}

/* Copies a status line without its line end into reply. */
static void
pop3_copy_reply(char *reply, size_t cap, const char *line, size_t len)
{
	if (cap == 0)
		return;
	if (len >= cap)
		len = cap - 1;
	memcpy(reply, line, len);
	reply[len] = '\0';
	str_trim_end(reply, len);
}

int
pop3_upstream_read_status(struct stream *up, char *buf, size_t cap,
    size_t *len, struct exo_error *e)
{
	int	rc;

	*len = 0;
	rc = stream_read_line(up, buf, cap, len);
	if (rc == EXO_ERR_TOOLONG)
		return err_set(e, EXO_ERR_PROTO, "Exchange POP3 sent a status "
		    "line longer than %zu bytes", cap - 1);
	if (rc == EXO_ERR_CLOSED)
		return err_set(e, rc, "Exchange POP3 closed the connection");
	if (rc != EXO_OK)
		return err_set(e, rc, "reading from Exchange POP3 failed: %s",
		    exo_strerror(rc));
	if (memchr(buf, '\0', *len) != NULL)
		return err_set(e, EXO_ERR_PROTO, "Exchange POP3 sent a NUL "
		    "byte in a status line");
	return EXO_OK;
}

/* Reads the greeting; EXO_ERR_UPSTREAM or EXO_ERR_TRANSIENT when it is
 * not "+OK". */
static int
pop3_upstream_greeting(struct stream *up, char *reply, size_t cap,
    struct exo_error *e)
{
	char	line[POP3_REPLY_MAX + 1];
	size_t	len;
	int	rc;

	rc = pop3_upstream_read_status(up, line, sizeof(line), &len, e);
	if (rc != EXO_OK)
		return rc;
	pop3_copy_reply(reply, cap, line, len);
	if (pop3_status_ok(line))
		return EXO_OK;
	return err_set(e, pop3_status_unavailable(line) ? EXO_ERR_TRANSIENT :
	    EXO_ERR_UPSTREAM, "Exchange POP3 rejected the connection: %s",
	    reply);
}

/* Connects and starts TLS with the upstream host as the server name. */
static int
pop3_upstream_open(const struct settings *s, const struct trust_store *trust,
    struct stream **out, struct exo_error *e)
{
	const struct endpoint	*ep = &s->pop3.upstream;
	int			 rc;

	*out = NULL;
	rc = stream_connect(ep->host, ep->port, POP3_CONNECT_TIMEOUT_MS, out,
	    e);
	if (rc != EXO_OK)
		return rc;
	rc = stream_start_tls_client(*out, ep->host, trust, e);
	if (rc != EXO_OK) {
		stream_close(*out);
		*out = NULL;
		return rc;
	}
	stream_set_timeout(*out, POP3_UPSTREAM_TIMEOUT_MS);
	return EXO_OK;
}

int
pop3_upstream_connect(const struct settings *s,
    const struct trust_store *trust, struct stream **out, char *reply,
    size_t cap, struct exo_error *e)
{
	int	rc;

	if (cap > 0)
		reply[0] = '\0';
	if ((rc = pop3_upstream_open(s, trust, out, e)) != EXO_OK)
		return rc;
	rc = pop3_upstream_greeting(*out, reply, cap, e);
	if (rc != EXO_OK) {
		stream_close(*out);
		*out = NULL;
	}
	return rc;
}

/* Sends the XOAUTH2 initial response as one line and wipes it. */
static int
pop3_upstream_send_xoauth2(struct stream *up, const char *mailbox,
    const char *token, struct exo_error *e)
{
	char	*line;
	size_t	 len;
	int	 rc;

	rc = sasl_xoauth2_encode(mailbox, token, &line, &len);
	if (rc != EXO_OK)
		return err_set(e, rc, "cannot build the XOAUTH2 response for "
		    "%s: %s", mailbox, exo_strerror(rc));
	rc = stream_write(up, line, len);
	if (rc == EXO_OK)
		rc = stream_write(up, "\r\n", 2);
	if (rc == EXO_OK)
		rc = stream_flush(up);
	plat_wipe(line, len);
	free(line);
	if (rc != EXO_OK)
		return err_set(e, rc, "sending the XOAUTH2 response to "
		    "Exchange POP3 failed: %s", exo_strerror(rc));
	return EXO_OK;
}

/* Reads the reply to the XOAUTH2 response. A "+" challenge (an error
 * report in some XOAUTH2 servers) gets an empty line, and the final
 * status line follows. */
static int
pop3_upstream_auth_result(struct stream *up, char *line, size_t cap,
    size_t *len, struct exo_error *e)
{
	int	rc;

	rc = pop3_upstream_read_status(up, line, cap, len, e);
	if (rc != EXO_OK || line[0] != '+' || pop3_status_ok(line))
		return rc;
	if ((rc = stream_puts(up, "\r\n")) == EXO_OK)
		rc = stream_flush(up);
	if (rc != EXO_OK)
		return err_set(e, rc, "writing to Exchange POP3 failed: %s",
		    exo_strerror(rc));
	rc = pop3_upstream_read_status(up, line, cap, len, e);
	if (rc == EXO_OK && line[0] == '+' && !pop3_status_ok(line))
		return err_set(e, EXO_ERR_PROTO, "Exchange POP3 sent a "
		    "second XOAUTH2 challenge");
	return rc;
}

int
pop3_upstream_auth(struct stream *up, const char *mailbox,
    const char *token, char *reply, size_t cap, struct exo_error *e)
{
	char	line[POP3_REPLY_MAX + 1];
	size_t	len;
	int	rc;

	if (cap > 0)
		reply[0] = '\0';

	/* Exchange rejects the one-line form "AUTH XOAUTH2 <response>" and
	 * closes, so the response always waits for the "+" prompt. */
	if ((rc = stream_puts(up, "AUTH XOAUTH2\r\n")) == EXO_OK)
		rc = stream_flush(up);
	if (rc != EXO_OK)
		return err_set(e, rc, "writing to Exchange POP3 failed: %s",
		    exo_strerror(rc));
	rc = pop3_upstream_read_status(up, line, sizeof(line), &len, e);
	if (rc != EXO_OK)
		return rc;
	pop3_copy_reply(reply, cap, line, len);
	if (line[0] != '+' || pop3_status_ok(line))
		return err_set(e, pop3_status_unavailable(line) ?
		    EXO_ERR_TRANSIENT : EXO_ERR_UPSTREAM,
		    "Exchange POP3 rejected AUTH XOAUTH2: %s", reply);

	rc = pop3_upstream_send_xoauth2(up, mailbox, token, e);
	if (rc != EXO_OK)
		return rc;
	rc = pop3_upstream_auth_result(up, line, sizeof(line), &len, e);
	if (rc != EXO_OK)
		return rc;
	pop3_copy_reply(reply, cap, line, len);
	if (pop3_status_ok(line))
		return EXO_OK;
	if (pop3_status_unavailable(line))
		return err_set(e, EXO_ERR_TRANSIENT, "Exchange POP3 is "
		    "unavailable for %s: %s", mailbox, reply);
	return err_set(e, EXO_ERR_AUTH, "Exchange refused the OAuth login "
	    "for %s: %s", mailbox, reply);
}

int
pop3_upstream_login(const struct settings *s,
    const struct trust_store *trust, const char *mailbox,
    const char *token, struct stream **out, char *reply, size_t cap,
    struct exo_error *e)
{
	int	rc;

	rc = pop3_upstream_connect(s, trust, out, reply, cap, e);
	if (rc != EXO_OK)
		return rc;
	rc = pop3_upstream_auth(*out, mailbox, token, reply, cap, e);
	if (rc != EXO_OK) {
		stream_close(*out);
		*out = NULL;
	}
	return rc;
}

/* Advances the search for the final line by one byte. */
static enum pop3_scan
pop3_scan_byte(enum pop3_scan st, char c)
{
	switch (st) {
	case POP3_SCAN_LINE_START:
		if (c == '.')
			return POP3_SCAN_DOT;
		return c == '\n' ? POP3_SCAN_LINE_START : POP3_SCAN_MIDDLE;
	case POP3_SCAN_DOT:
		if (c == '\n')
			return POP3_SCAN_END;
		return c == '\r' ? POP3_SCAN_DOT_CR : POP3_SCAN_MIDDLE;
	case POP3_SCAN_DOT_CR:
		if (c == '\n')
			return POP3_SCAN_END;
		return POP3_SCAN_MIDDLE;
	case POP3_SCAN_MIDDLE:
		return c == '\n' ? POP3_SCAN_LINE_START : POP3_SCAN_MIDDLE;
	case POP3_SCAN_END:
		break;
	}
	return POP3_SCAN_END;
}

/* Writes one piece of a multi-line reply to the device and flushes it,
 * so a large message keeps the device's connection busy. */
static int
pop3_relay_write(struct stream *device, const char *data, size_t len,
    enum pop3_relay_side *side, struct exo_error *e)
{
	int	rc;

	if ((rc = stream_write(device, data, len)) == EXO_OK)
		rc = stream_flush(device);
	if (rc != EXO_OK) {
		*side = POP3_RELAY_DEVICE;
		return err_set(e, rc, "writing to the device failed: %s",
		    exo_strerror(rc));
	}
	return EXO_OK;
}

int
pop3_relay_multiline(struct stream *up, struct stream *device,
    unsigned long long *body_bytes, enum pop3_relay_side *side,
    struct exo_error *e)
{
	enum pop3_scan		 st = POP3_SCAN_LINE_START;
	unsigned long long	 total = 0, line_start = 0;
	char			*chunk, *dot;
	long			 n, i;
	int			 rc = EXO_OK;

	*body_bytes = 0;
	*side = POP3_RELAY_NONE;
	if ((chunk = malloc(POP3_RELAY_CHUNK)) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");

	while (st != POP3_SCAN_END) {
		n = stream_read(up, chunk, POP3_RELAY_CHUNK);
		if (n <= 0) {
			*side = POP3_RELAY_UPSTREAM;
			rc = n == 0 ? EXO_ERR_CLOSED : (int)n;
			err_set(e, rc, "Exchange POP3 %s in a multi-line reply",
			    n == 0 ? "closed the connection" :
			    exo_strerror(rc));
			goto out;
		}
		for (i = 0; i < n && st != POP3_SCAN_END; i++) {
			/*
			 * Only a "." at a line start can begin the final line,
			 * so skip to the next "." that follows a LF. Inside a
			 * line the byte before i is never a LF.
			 */
			if (st == POP3_SCAN_MIDDLE) {
				dot = memchr(chunk + i, '.', (size_t)(n - i));
				if (dot == NULL) {
					if (chunk[n - 1] == '\n')
						st = POP3_SCAN_LINE_START;
					i = n;
					break;
				}
				if (dot == chunk + i || dot[-1] != '\n') {
					i = dot - chunk;
					continue;
				}
				i = dot - chunk;
				st = POP3_SCAN_LINE_START;
			}
			if (st == POP3_SCAN_LINE_START)
				line_start = total + (unsigned long long)i;
			st = pop3_scan_byte(st, chunk[i]);
		}
		rc = pop3_relay_write(device, chunk, (size_t)i, side, e);
		if (rc != EXO_OK)
			goto out;
		total += (unsigned long long)i;

		/* Without pipelining the server has nothing to say until the
		 * next command, so more bytes mean the two sides are out of
		 * step. */
		if (i < n) {
			*side = POP3_RELAY_UPSTREAM;
			rc = err_set(e, EXO_ERR_PROTO, "Exchange POP3 sent %ld "
			    "bytes after the end of a multi-line reply", n - i);
			goto out;
		}
	}
	*body_bytes = line_start;

out:
	free(chunk);
	return rc;
}

const char *
pop3_rejection_hint(void)
{
	return "likely causes: POP3 is disabled for the mailbox "
	    "(Set-CASMailbox -PopEnabled $true), the token lacks the "
	    "https://outlook.office.com/POP.AccessAsUser.All scope, or an "
	    "app-only token has no permission on the mailbox";
}

/* ---- the check of `user test` ---- */

/* Appends one line to the report, cutting it when the report is full. */
static void EXO_PRINTF(3, 4)
pop3_check_line(char *report, size_t cap, const char *fmt, ...)
{
	va_list	ap;
	size_t	len;

	if (cap == 0)
		return;
	len = strnlen(report, cap);
	if (len + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(report + len, cap - len, fmt, ap);
	va_end(ap);
	len = strnlen(report, cap);
	if (len + 1 < cap) {
		report[len] = '\n';
		report[len + 1] = '\0';
	}
}

/* Logs out with QUIT and reports the reply. */
static int
pop3_check_quit(struct stream *up, char *report, size_t cap,
    struct exo_error *e)
{
	char	line[POP3_REPLY_MAX + 1];
	size_t	len;
	int	rc;

	if ((rc = stream_puts(up, "QUIT\r\n")) == EXO_OK)
		rc = stream_flush(up);
	if (rc == EXO_OK)
		rc = pop3_upstream_read_status(up, line, sizeof(line), &len,
		    e);
	else
		err_set(e, rc, "writing to Exchange POP3 failed: %s",
		    exo_strerror(rc));
	if (rc == EXO_OK && !pop3_status_ok(line)) {
		str_trim_end(line, len);
		rc = err_set(e, EXO_ERR_UPSTREAM, "QUIT rejected: %s", line);
	}
	if (rc != EXO_OK) {
		pop3_check_line(report, cap, _("POP3 logout: failed: %s"),
		    e != NULL ? e->msg : exo_strerror(rc));
		return rc;
	}
	pop3_check_line(report, cap, "%s", _("POP3 logout: ok"));
	return EXO_OK;
}

int
pop3_upstream_check(const struct settings *s,
    const struct trust_store *trust, const struct token_lease *lease,
    char *report, size_t cap, struct exo_error *e)
{
	const struct endpoint	*ep = &s->pop3.upstream;
	struct exo_error	 local;
	struct stream		*up = NULL;
	char			 reply[POP3_REPLY_MAX];
	int			 rc;

	if (e == NULL)
		e = &local;
	err_clear(e);
	if (cap > 0)
		report[0] = '\0';

	rc = pop3_upstream_open(s, trust, &up, e);
	if (rc != EXO_OK) {
		pop3_check_line(report, cap, _("POP3 connect %s:%u with "
		    "TLS: failed: %s"), ep->host, ep->port, e->msg);
		return rc;
	}
	pop3_check_line(report, cap, _("POP3 connect %s:%u with TLS: ok"),
	    ep->host, ep->port);

	rc = pop3_upstream_greeting(up, reply, sizeof(reply), e);
	if (rc != EXO_OK) {
		pop3_check_line(report, cap, _("POP3 greeting: failed: %s"),
		    e->msg);
		goto out;
	}
	pop3_check_line(report, cap, "%s", _("POP3 greeting: ok"));

	rc = pop3_upstream_auth(up, lease->mailbox, lease->access_token,
	    reply, sizeof(reply), e);
	if (rc == EXO_ERR_AUTH) {
		pop3_check_line(report, cap, _("POP3 XOAUTH2 login as %s: "
		    "rejected: %s"), lease->mailbox, reply);
		pop3_check_line(report, cap, "%s", pop3_rejection_hint());
		goto out;
	}
	if (rc != EXO_OK) {
		pop3_check_line(report, cap, _("POP3 XOAUTH2 login as %s: "
		    "failed: %s"), lease->mailbox, e->msg);
		goto out;
	}
	pop3_check_line(report, cap, _("POP3 XOAUTH2 login as %s: ok"),
	    lease->mailbox);

	rc = pop3_check_quit(up, report, cap, e);

out:
	stream_close(up);
	return rc;
}
