/*
 * event.h: what happens, reported once and rendered by each subscriber.
 *
 * Sessions, the token manager and the service emit events: a level, a
 * connection id (0 when there is none), a stable id such as
 * "pop3.login_failed", an English template with {name} placeholders, and
 * name/value parameters. The log file renders the English text followed by
 * the parameters as key=value fields; the screen looks the template up in
 * its language catalog and renders the same parameters. Templates are
 * message ids, so they must be string literals.
 *
 * Never pass a password, token or AUTH payload as a parameter.
 */
#ifndef EXO_EVENT_H
#define EXO_EVENT_H

#include <stdarg.h>
#include <stdint.h>

#include "err.h"

enum ev_level {
	EV_DEBUG = 0,
	EV_INFO = 1,
	EV_WARN = 2,
	EV_ERROR = 3,
};

#define EV_MAX_PARAMS 12
#define EV_NAME_MAX 32		/* parameter name, with its NUL */
#define EV_VALUE_MAX 512
#define EV_MAX_SUBSCRIBERS 16

#define EV_PARAM_MSGID	0x1	/* the value is a message id */

/*
 * A parameter with its English value. ev_render_translated renders a
 * message id (flag EV_PARAM_MSGID) or an error in the screen's language.
 */
struct ev_param {
	const char		*name;
	const char		*value;
	unsigned		 flags;
	const struct exo_error	*error;	/* value is its English text */
};

/*
 * Names a parameter whose value is a message id, a phrase marked with
 * N_() such as N_("device closed"): ev_emit(..., EV_MSGID("reason"),
 * ps->reason, ...). The name itself is "reason".
 */
#define EV_MSGID(name) "@" name

/*
 * Expands to a name/value pair whose value is the error *e:
 * ev_emit(..., EV_ERROR("error", &e), ...). The value is e->msg, or
 * exo_strerror(e->code) when that is empty, and the screen renders e in
 * its language. e must stay valid until ev_emit returns.
 */
#define EV_ERROR(name, e) \
	"!" name, (const char *)(const void *)(const struct exo_error *){ (e) }

struct ev {
	enum ev_level	 level;
	unsigned long	 conn;		/* connection id, 0 for none */
	int64_t		 time;		/* wall clock, seconds */
	const char	*id;		/* stable id, "pop3.login_failed" */
	const char	*text;		/* English template */
	int		 nparams;
	struct ev_param	 params[EV_MAX_PARAMS];
};

/*
 * Emits an event to every subscriber. The variadic part is pairs of
 * const char * (name, value) ended by NULL; a NULL value prints as "-".
 * Values are copied, and control characters in them are escaped by the
 * renderers, so a peer's text cannot forge log lines. Thread-safe;
 * subscribers run on the emitting thread, one event at a time.
 *
 * A name made by EV_MSGID or EV_ERROR marks the pair as described there.
 *
 * Limits: EV_MAX_PARAMS pairs (later pairs are dropped), names of up to
 * EV_NAME_MAX - 1 bytes and values of up to EV_VALUE_MAX - 1 bytes (cut
 * at a UTF-8 character boundary). An event emitted by a subscriber is dropped.
 * errno is the same after the call as before.
 */
void ev_emit(enum ev_level level, unsigned long conn, const char *id,
    const char *text, ...);
void ev_emitv(enum ev_level level, unsigned long conn, const char *id,
    const char *text, va_list ap);

/* Value of parameter name, or NULL. */
const char *ev_param(const struct ev *ev, const char *name);

/*
 * Renders ev into buf: the template with {name} replaced by escaped
 * values, then the parameters the template did not use as name=value.
 * template may be a translation of ev->text. Returns the length written.
 * Control characters become \r, \n, \t or \xHH, and a backslash is
 * doubled only before one of \ r n t x " or at the end of a value, so
 * the result parses back and Windows paths stay mostly readable.
 */
size_t ev_render(const struct ev *ev, const char *template, char *buf,
    size_t cap);
/*
 * Renders like ev_render for the screen: control characters are still
 * escaped, but a backslash stays one backslash, so Windows paths read
 * as typed.
 */
size_t ev_render_display(const struct ev *ev, const char *template,
    char *buf, size_t cap);
/*
 * Renders like ev_render_display in the language of translate (see
 * err_translate_fn; NULL for English): the template, the message id
 * parameters and the error parameters are translated where translate
 * has a text.
 */
size_t ev_render_translated(const struct ev *ev, err_translate_fn translate,
    void *ctx, char *buf, size_t cap);

/*
 * A subscriber. ev and its strings are valid only during the call, so a
 * subscriber that keeps an event copies what it needs.
 */
typedef void (*ev_subscriber_fn)(const struct ev *ev, void *ctx);

/*
 * Adds a subscriber; returns a handle for ev_unsubscribe, or -1 when
 * EV_MAX_SUBSCRIBERS are registered. A subscriber may unsubscribe itself.
 */
int ev_subscribe(ev_subscriber_fn fn, void *ctx);
void ev_unsubscribe(int handle);

/* Returns "debug", "info", "warning" or "error"; parses the same names. */
const char *ev_level_name(enum ev_level level);
int ev_level_parse(const char *name, enum ev_level *out);

/* Hands out connection ids, starting at 1, unique in this process. */
unsigned long ev_next_conn_id(void);

/* ---- the log file (log.c) ---- */

struct log_settings {
	char		file[1024];	/* empty: no log file */
	enum ev_level	level;
	long long	max_size;	/* rotate above this many bytes */
	int		keep;		/* rotated files kept */
	int		to_stderr;	/* also write to stderr */
};

/*
 * Starts writing events at or above the level to the log file (rotated at
 * max_size, keep old files named FILE.1 .. FILE.keep) and to stderr.
 * Identical lines repeated within 60 seconds are counted and logged once
 * with "(repeated N times)". Call again to change the settings.
 */
int log_start(const struct log_settings *ls, struct exo_error *e);
void log_stop(void);

#endif
