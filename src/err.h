/*
 * err.h: the one error space of exoconnect.
 *
 * Functions return 0 (EXO_OK) or a negative code from enum exo_err. Where a
 * caller needs more than the code, it passes a struct exo_error, which the
 * callee fills with the code and a message in plain English that says what
 * failed, on which value, and what to do next. A NULL struct exo_error is
 * allowed everywhere and means the caller wants the code only. The
 * message keeps its format and the place of each argument, so a front
 * end renders it in its language (err_render, i18n_error) while the log
 * keeps the English text. This file calls nothing above it, because the
 * caller that renders a message passes the translate function.
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
#define ERR_ARGS_MAX 16		/* arguments kept for translation, in all */
#define ERR_LAYERS_MAX 4	/* messages wrapped in one another */

/*
 * One converted printf argument of a message: the bytes it became in msg,
 * or a wrapped message (layer > 0) that is rendered in its place. An
 * argument that is the name of a code (exo_strerror) has layer -2 and is
 * translated as a message id of its own.
 */
struct err_arg {
	unsigned short	off;
	unsigned short	len;
	signed char	layer;	/* index into layers, -1 or -2 */
};

/* One format of a message: a message id and its arguments in args. */
struct err_layer {
	const char	*fmt;	/* the English format, a string literal */
	unsigned char	 first;	/* index of its first argument */
	unsigned char	 nargs;
};

/*
 * An error: the code, the English message, and how msg was made, so that
 * err_render can put the same arguments into a translated format. The
 * English message is what the log file, syslog and the Windows Event Log
 * record; a person reads the message rendered in the screen's language.
 * Layer 0 is the outermost format. nlayers is 0 when msg cannot be
 * translated (an unknown conversion, too many arguments, or err_clear).
 */
struct exo_error {
	int		 code;
	unsigned char	 nlayers;
	unsigned char	 nargs;
	struct err_layer layers[ERR_LAYERS_MAX];
	struct err_arg	 args[ERR_ARGS_MAX];
	char		 msg[EXO_ERROR_MSG_MAX];
};

/*
 * Returns the text of msgid in the language the caller wants, or NULL for
 * the English text. ctx is the caller's.
 */
typedef const char *(*err_translate_fn)(const char *msgid, void *ctx);

/* Returns a short English name for code, such as "timed out". */
const char *exo_strerror(int code);

/*
 * Stores code and the formatted message in e (when e is not NULL) and
 * returns code, so callers can write "return err_set(e, ...)". fmt is a
 * message id: a string literal that tools/extract-messages collects and
 * that err_render looks up in the catalogs. A message longer than
 * EXO_ERROR_MSG_MAX is cut at a UTF-8 character boundary.
 */
int err_set(struct exo_error *e, int code, const char *fmt, ...)
    EXO_PRINTF(3, 4);

/*
 * Stores a message that embeds another error's, like err_set: the last
 * conversion of fmt must be a "%s" whose argument is inner->msg. The
 * rendered message then has inner's message in the same language as the
 * outer one. inner may be NULL (then this is err_set), but must not be e,
 * because its message is an argument. Wrapping deeper than
 * ERR_LAYERS_MAX, or beyond ERR_ARGS_MAX arguments in all, keeps the
 * deepest messages in English.
 */
int err_wrap(struct exo_error *e, int code, const struct exo_error *inner,
    const char *fmt, ...) EXO_PRINTF(4, 5);

/*
 * Copies src into e (when e is not NULL) with code, keeping what
 * err_render needs, and returns code.
 */
int err_copy(struct exo_error *e, int code, const struct exo_error *src);

/*
 * Returns e after setting its code to code when e has no message, as
 * when the callee that returned code did not fill it, so that e renders
 * as exo_strerror(code) (see EV_ERROR).
 */
const struct exo_error *err_or_code(struct exo_error *e, int code);

/* Clears e: code EXO_OK, empty message. */
void err_clear(struct exo_error *e);

/*
 * Renders e's message into buf with each format replaced by
 * translate(fmt, ctx) and returns the length written. A NULL or
 * malformed translation (one whose conversions differ in number) keeps
 * that format in English, so with translate NULL the result is e->msg.
 * An empty message renders exo_strerror(e->code) through translate. The
 * text is cut at a UTF-8 character boundary to fit cap bytes with the
 * NUL. Arguments are copied as they were formatted; nothing is
 * formatted again.
 */
size_t err_render(const struct exo_error *e, err_translate_fn translate,
    void *ctx, char *buf, size_t cap);

/*
 * The layout of e: its formats and the places of its arguments, as text
 * for the control channel, so a screen attached to a serve renders the
 * serve's errors in its own language. Fields are separated by
 * ERR_LAYOUT_SEP: nlayers, nargs, then first, nargs and fmt of each
 * layer, then off, len and layer of each argument.
 *
 * err_layout_write returns the length written, or 0 (and "") when e
 * cannot be translated or the layout does not fit cap. A buffer of
 * ERR_LAYOUT_MAX bytes fits any layout whose formats are shorter than
 * EXO_ERROR_MSG_MAX bytes each.
 *
 * err_layout_read restores a layout into e, whose code and English msg
 * the caller has set from the same message. intern returns the text of
 * fmt with process lifetime (a catalog's message id), or NULL when it
 * has none. Returns EXO_OK for a layout that is correct, or empty (e
 * then stays English only), else EXO_ERR_PROTO with e left in English
 * only: a layout that is malformed,
 * over a limit, names a format intern does not know, or does not render
 * msg back exactly.
 */
#define ERR_LAYOUT_SEP "\x1f"
#define ERR_LAYOUT_MAX 4096	/* bytes a layout takes at most, with NUL */

size_t err_layout_write(const struct exo_error *e, char *buf, size_t cap);
int err_layout_read(struct exo_error *e, const char *layout,
    const char *(*intern)(const char *fmt));

#endif
