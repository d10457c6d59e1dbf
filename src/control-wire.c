/*
 * control-wire.c: the message format of the control channel, one flat
 * JSON object per line (control.h), for both of its ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "json.h"

static void
msg_put(struct control_msg *m, const char *s, size_t n)
{
	/* Two bytes stay free for the closing "}\n". */
	if (m->overflow || n > sizeof(m->buf) - 2 - m->len) {
		m->overflow = 1;
		return;
	}
	memcpy(m->buf + m->len, s, n);
	m->len += n;
}

/* Writes s as a JSON string; control characters become \u00XX. */
static void
msg_quoted(struct control_msg *m, const char *s)
{
	static const char	 hex[] = "0123456789abcdef";
	const char		*run;
	char			 esc[6] = { '\\', 'u', '0', '0', 0, 0 };

	msg_put(m, "\"", 1);
	while (*s != '\0') {
		for (run = s; *s != '\0' && (unsigned char)*s >= 0x20 &&
		    *s != '"' && *s != '\\'; s++)
			;
		msg_put(m, run, (size_t)(s - run));
		if (*s == '\0')
			break;
		if (*s == '"' || *s == '\\') {
			esc[1] = *s;
			msg_put(m, esc, 2);
			esc[1] = 'u';
		} else {
			esc[4] = hex[(unsigned char)*s >> 4];
			esc[5] = hex[(unsigned char)*s & 0xf];
			msg_put(m, esc, 6);
		}
		s++;
	}
	msg_put(m, "\"", 1);
}

static void
msg_key(struct control_msg *m, const char *key)
{
	if (m->len > 1)
		msg_put(m, ",", 1);
	msg_quoted(m, key);
	msg_put(m, ":", 1);
}

void
control_msg_begin(struct control_msg *m, const char *key, const char *value)
{
	m->len = 0;
	m->overflow = 0;
	msg_put(m, "{", 1);
	control_msg_str(m, key, value);
}

void
control_msg_str(struct control_msg *m, const char *key, const char *value)
{
	msg_key(m, key);
	msg_quoted(m, value != NULL ? value : "");
}

void
control_msg_int(struct control_msg *m, const char *key, long long v)
{
	char	num[32];
	int	n;

	msg_key(m, key);
	n = snprintf(num, sizeof(num), "%lld", v);
	msg_put(m, num, (size_t)n);
}

int
control_msg_end(struct control_msg *m)
{
	if (m->overflow)
		return EXO_ERR_TOOLONG;
	memcpy(m->buf + m->len, "}\n", 2);
	m->len += 2;
	return EXO_OK;
}

int
control_read_line(struct plat_ipc *c, struct control_reader *r,
    int timeout_ms, const char **line, size_t *len)
{
	char	*nl;
	long	 n;
	int	 wait = timeout_ms;

	/* Drop the line returned last; wipe it, as it may hold a password. */
	if (r->skip > 0) {
		memmove(r->buf, r->buf + r->skip, r->len - r->skip);
		memset(r->buf + r->len - r->skip, 0, r->skip);
		r->len -= r->skip;
		r->skip = 0;
	}
	for (;;) {
		nl = memchr(r->buf, '\n', r->len);
		if (nl != NULL)
			break;
		if (r->len == sizeof(r->buf))
			return EXO_ERR_TOOLONG;
		if (r->len > 0)
			wait = CONTROL_RECV_TIMEOUT_MS;
		n = plat_ipc_recv(c, r->buf + r->len, sizeof(r->buf) - r->len,
		    wait);
		if (n == 0)
			return EXO_ERR_CLOSED;
		if (n == EXO_ERR_TIMEOUT && r->len > 0)
			return EXO_ERR_PROTO;
		if (n < 0)
			return (int)n;
		r->len += (size_t)n;
	}
	*line = r->buf;
	*len = (size_t)(nl - r->buf);
	r->skip = *len + 1;
	if (memchr(r->buf, '\0', *len) != NULL)
		return EXO_ERR_PROTO;
	return EXO_OK;
}

int
control_users_changed(const char *data_dir, struct exo_error *e)
{
	static const char	 req[] = "{\"op\":\"users_changed\"}\n";
	struct control_reader	*r = NULL;
	struct plat_ipc		*c = NULL;
	struct json_doc		*d = NULL;
	const char		*line;
	size_t			 len;
	long long		 code;
	int			 rc;

	rc = plat_ipc_connect(data_dir, CONTROL_NOTIFY_TIMEOUT_MS, &c, e);
	if (rc != EXO_OK)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = plat_ipc_send_all(c, req, sizeof(req) - 1,
	    CONTROL_NOTIFY_TIMEOUT_MS);
	if (rc == EXO_OK)
		rc = control_read_line(c, r, CONTROL_NOTIFY_TIMEOUT_MS, &line,
		    &len);
	if (rc == EXO_OK)
		rc = json_parse(line, len, &d);
	if (rc == EXO_OK)
		rc = json_get_int(d, "rc", &code) == EXO_OK ? (int)code :
		    EXO_ERR_PROTO;
	if (rc != EXO_OK)
		err_set(e, rc, "%s", exo_strerror(rc));
out:
	json_free(d);
	free(r);
	plat_ipc_close(c);
	return rc;
}
