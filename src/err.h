/*
 * err.h: the one error space of exoconnect.
 *
 * Functions return 0 (EXO_OK) or a negative code from enum exo_err. Where a
 * caller needs more than the code, it passes a struct exo_error, which the
 * callee fills with the code and a message in plain English that says what
 * failed, on which value, and what to do next. A NULL struct exo_error is
 * allowed everywhere and means the caller wants the code only.
 */
#ifndef EXO_ERR_H
#define EXO_ERR_H

#include <stddef.h>

/* printf-style format checking; mingw's msvcrt printf needs gnu_printf. */
#if defined(__MINGW32__)
#define EXO_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#else
#define EXO_PRINTF(f, a) __attribute__((format(printf, f, a)))
#endif

enum exo_err {
	EXO_OK = 0,
	EXO_ERR_NOMEM = -1,	/* allocation failed */
	EXO_ERR_IO = -2,	/* socket or file I/O failed */
	EXO_ERR_TIMEOUT = -3,	/* peer or operation timed out */
	EXO_ERR_CLOSED = -4,	/* peer closed the connection */
	EXO_ERR_TOOLONG = -5,	/* line, header or body over its limit */
	EXO_ERR_PROTO = -6,	/* peer broke the protocol */
	EXO_ERR_TLS = -7,	/* TLS handshake or record error */
	EXO_ERR_RESOLVE = -8,	/* host name lookup failed */
	EXO_ERR_CONNECT = -9,	/* TCP connect failed */
	EXO_ERR_INVALID = -10,	/* invalid argument or value */
	EXO_ERR_NOTFOUND = -11,	/* file, user or key not found */
	EXO_ERR_EXISTS = -12,	/* already exists */
	EXO_ERR_AUTH = -13,	/* credentials rejected */
	EXO_ERR_LOCKED = -14,	/* lock held by another process */
	EXO_ERR_CANCELLED = -15, /* cancelled by the user or a shutdown */
	EXO_ERR_PERM = -16,	/* permission denied */
	EXO_ERR_NOSPACE = -17,	/* disk full */
	EXO_ERR_TRANSIENT = -18, /* temporary failure: retry later */
	EXO_ERR_SIGNIN = -19,	/* interactive sign-in required */
	EXO_ERR_CONFIG = -20,	/* settings or app registration wrong */
	EXO_ERR_UPSTREAM = -21,	/* upstream server rejected the request */
	EXO_ERR_ADDRINUSE = -22, /* listen address already in use */
	EXO_ERR_BUSY = -23,	/* a limit on connections was reached */
};

#define EXO_ERROR_MSG_MAX 512

struct exo_error {
	int	code;
	char	msg[EXO_ERROR_MSG_MAX];
};

/* Returns a short English name for code, such as "timed out". */
const char *exo_strerror(int code);

/*
 * Stores code and the formatted message in e (when e is not NULL) and
 * returns code, so callers can write "return err_set(e, ...)". A message
 * longer than EXO_ERROR_MSG_MAX is cut at a UTF-8 character boundary.
 */
int err_set(struct exo_error *e, int code, const char *fmt, ...)
    EXO_PRINTF(3, 4);

/* Clears e: code EXO_OK, empty message. */
void err_clear(struct exo_error *e);

#endif
