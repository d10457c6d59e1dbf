/*
 * err.c: names of the error codes and the helpers that fill a struct
 * exo_error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

struct err_name {
	int		 code;
	const char	*name;
};

static const struct err_name err_names[] = {
	{ EXO_OK,		"no error" },
	{ EXO_ERR_NOMEM,	"out of memory" },
	{ EXO_ERR_IO,		"input/output error" },
	{ EXO_ERR_TIMEOUT,	"timed out" },
	{ EXO_ERR_CLOSED,	"connection closed" },
	{ EXO_ERR_TOOLONG,	"too long" },
	{ EXO_ERR_PROTO,	"protocol error" },
	{ EXO_ERR_TLS,		"TLS error" },
	{ EXO_ERR_RESOLVE,	"host name lookup failed" },
	{ EXO_ERR_CONNECT,	"connection failed" },
	{ EXO_ERR_INVALID,	"invalid value" },
	{ EXO_ERR_NOTFOUND,	"not found" },
	{ EXO_ERR_EXISTS,	"already exists" },
	{ EXO_ERR_AUTH,		"authentication failed" },
	{ EXO_ERR_LOCKED,	"locked by another process" },
	{ EXO_ERR_CANCELLED,	"cancelled" },
	{ EXO_ERR_PERM,		"permission denied" },
	{ EXO_ERR_NOSPACE,	"no space left on device" },
	{ EXO_ERR_TRANSIENT,	"temporary failure" },
	{ EXO_ERR_SIGNIN,	"sign-in required" },
	{ EXO_ERR_CONFIG,	"configuration error" },
	{ EXO_ERR_UPSTREAM,	"rejected by the upstream server" },
	{ EXO_ERR_ADDRINUSE,	"address already in use" },
	{ EXO_ERR_BUSY,		"too many connections" },
};

const char *
exo_strerror(int code)
{
	size_t	i;

	for (i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++) {
		if (err_names[i].code == code)
			return (err_names[i].name);
	}
	return ("unknown error");
}

/* Cuts s at len so that no UTF-8 sequence is left incomplete. */
static void
err_cut_utf8(char *s, size_t len)
{
	size_t	start, need;

	s[len] = '\0';
	if (len == 0)
		return;

	/* Find the lead byte of the last character. */
	start = len - 1;
	while (start > 0 && ((unsigned char)s[start] & 0xc0) == 0x80)
		start--;

	need = 1;
	if (((unsigned char)s[start] & 0xe0) == 0xc0)
		need = 2;
	else if (((unsigned char)s[start] & 0xf0) == 0xe0)
		need = 3;
	else if (((unsigned char)s[start] & 0xf8) == 0xf0)
		need = 4;
	if (len - start < need)
		s[start] = '\0';
}

int
err_set(struct exo_error *e, int code, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	if (e == NULL)
		return (code);

	e->code = code;
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		e->msg[0] = '\0';
	else if ((size_t)n >= sizeof(e->msg))
		err_cut_utf8(e->msg, sizeof(e->msg) - 1);
	return (code);
}

void
err_clear(struct exo_error *e)
{
	if (e == NULL)
		return;
	e->code = EXO_OK;
	e->msg[0] = '\0';
}
