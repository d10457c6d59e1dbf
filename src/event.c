/*
 * event.c: the event bus and the renderer shared by the log and the screen.
 *
 * ev_emit copies the parameters into a struct ev on the caller's stack and
 * hands it to each subscriber under one mutex, so subscribers see events
 * one at a time and in order. An event emitted from inside a subscriber is
 * dropped, because delivering it would take the mutex a second time. A
 * subscriber may still subscribe or unsubscribe, as its thread already
 * holds the mutex.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "event.h"
#include "plat.h"
#include "util.h"

#define EV_PLACEHOLDER_MAX 32	/* longest {name} looked up in a template */
/* A parameter rendered in the screen's language, with its NUL. */
#define EV_TEXT_MAX (EXO_ERROR_MSG_MAX * 2)

struct ev_subscriber {
	ev_subscriber_fn	 fn;
	void			*ctx;
};

struct ev_storage {
	char	names[EV_MAX_PARAMS][EV_NAME_MAX];
	char	values[EV_MAX_PARAMS][EV_VALUE_MAX];
};

struct ev_out {
	char		*buf;
	size_t		 cap;
	size_t		 len;
	int		 full;	/* a piece did not fit, so nothing more is added */
	int		 keep_backslash; /* for the screen: "\\" stays one byte */
	err_translate_fn translate;	/* for the screen, or NULL */
	void		*ctx;
};

static _Atomic(struct plat_mutex *) ev_mutex;
static struct ev_subscriber ev_subscribers[EV_MAX_SUBSCRIBERS];
static _Thread_local int ev_delivering;
static atomic_ulong ev_conn_counter;

static const char *const ev_level_names[] = {
	[EV_DEBUG] = "debug",
	[EV_INFO] = "info",
	[EV_WARN] = "warning",
	[EV_ERROR] = "error",
};

/*
 * Returns the bus mutex, creating it on first use. When two threads race
 * here, the loser frees its mutex and uses the winner's.
 */
static struct plat_mutex *
ev_lock_get(void)
{
	struct plat_mutex	*m, *expected = NULL;

	m = atomic_load(&ev_mutex);
	if (m != NULL)
		return m;
	m = plat_mutex_new();
	if (m == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&ev_mutex, &expected, m)) {
		plat_mutex_free(m);
		m = expected;
	}
	return m;
}

/* Copies text into dst, cutting it at a UTF-8 character boundary. */
static void
ev_copy_value(char *dst, const char *text, size_t cap)
{
	size_t	n;

	n = str_copy(dst, text, cap);
	if (n < cap)
		return;
	n = cap - 1;
	while (n > 0 && ((unsigned char)dst[n] & 0xc0) == 0x80)
		n--;
	dst[n] = '\0';
}

static void
ev_fill(struct ev *ev, struct ev_storage *st, va_list ap)
{
	const struct exo_error	*err;
	const char		*name, *value;
	int			 i;

	for (i = 0; (name = va_arg(ap, const char *)) != NULL; i++) {
		value = va_arg(ap, const char *);
		if (i >= EV_MAX_PARAMS)
			continue;	/* extra pairs are dropped */
		ev->params[i].flags = 0;
		ev->params[i].error = NULL;
		if (name[0] == '@') {
			ev->params[i].flags = EV_PARAM_MSGID;
			name++;
		} else if (name[0] == '!') {
			/* EV_ERROR passed the struct in place of its text. */
			err = (const struct exo_error *)(const void *)value;
			ev->params[i].error = err;
			value = err == NULL ? NULL : err->msg[0] != '\0' ?
			    err->msg : exo_strerror(err->code);
			name++;
		}
		str_copy(st->names[i], name, sizeof(st->names[i]));
		ev_copy_value(st->values[i], value != NULL ? value : "-",
		    sizeof(st->values[i]));
		ev->params[i].name = st->names[i];
		ev->params[i].value = st->values[i];
	}
	ev->nparams = i < EV_MAX_PARAMS ? i : EV_MAX_PARAMS;
}

void
ev_emitv(enum ev_level level, unsigned long conn, const char *id,
    const char *text, va_list ap)
{
	struct ev		 ev;
	struct ev_storage	 st;
	struct plat_mutex	*m;
	int			 i, saved_errno = errno;

	if (ev_delivering)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.level = level;
	ev.conn = conn;
	ev.time = plat_wall_time();
	ev.id = id != NULL ? id : "";
	ev.text = text != NULL ? text : "";
	ev_fill(&ev, &st, ap);

	if ((m = ev_lock_get()) == NULL)
		return;
	plat_mutex_lock(m);
	ev_delivering = 1;
	for (i = 0; i < EV_MAX_SUBSCRIBERS; i++) {
		if (ev_subscribers[i].fn != NULL)
			ev_subscribers[i].fn(&ev, ev_subscribers[i].ctx);
	}
	ev_delivering = 0;
	plat_mutex_unlock(m);
	errno = saved_errno;	/* callers may log before reading errno */
}

void
ev_emit(enum ev_level level, unsigned long conn, const char *id,
    const char *text, ...)
{
	va_list	ap;

	va_start(ap, text);
	ev_emitv(level, conn, id, text, ap);
	va_end(ap);
}

const char *
ev_param(const struct ev *ev, const char *name)
{
	int	i;

	for (i = 0; i < ev->nparams; i++) {
		if (strcmp(ev->params[i].name, name) == 0)
			return ev->params[i].value;
	}
	return NULL;
}

int
ev_subscribe(ev_subscriber_fn fn, void *ctx)
{
	struct plat_mutex	*m;
	int			 i, handle = -1;

	if (fn == NULL || (m = ev_lock_get()) == NULL)
		return -1;
	if (!ev_delivering)
		plat_mutex_lock(m);
	for (i = 0; i < EV_MAX_SUBSCRIBERS; i++) {
		if (ev_subscribers[i].fn == NULL) {
			ev_subscribers[i].fn = fn;
			ev_subscribers[i].ctx = ctx;
			handle = i;
			break;
		}
	}
	if (!ev_delivering)
		plat_mutex_unlock(m);
	return handle;
}

void
ev_unsubscribe(int handle)
{
	struct plat_mutex	*m;

	if (handle < 0 || handle >= EV_MAX_SUBSCRIBERS)
		return;
	if ((m = ev_lock_get()) == NULL)
		return;
	if (!ev_delivering)
		plat_mutex_lock(m);
	ev_subscribers[handle].fn = NULL;
	ev_subscribers[handle].ctx = NULL;
	if (!ev_delivering)
		plat_mutex_unlock(m);
}

const char *
ev_level_name(enum ev_level level)
{
	if ((int)level < 0 || level > EV_ERROR)
		return "error";
	return ev_level_names[level];
}

int
ev_level_parse(const char *name, enum ev_level *out)
{
	int	i;

	for (i = EV_DEBUG; i <= EV_ERROR; i++) {
		if (str_casecmp(name, ev_level_names[i]) == 0) {
			*out = (enum ev_level)i;
			return 0;
		}
	}
	if (str_casecmp(name, "warn") == 0) {
		*out = EV_WARN;
		return 0;
	}
	return EXO_ERR_INVALID;
}

unsigned long
ev_next_conn_id(void)
{
	return atomic_fetch_add(&ev_conn_counter, 1) + 1;
}

/* ---- rendering ---- */

/*
 * Appends n bytes as one piece, or nothing when they do not fit, so a cut
 * never splits an escape or a UTF-8 sequence.
 */
static void
ev_put(struct ev_out *o, const char *data, size_t n)
{
	if (o->full || o->cap == 0 || n > o->cap - 1 - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->buf + o->len, data, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
ev_put_hex(struct ev_out *o, unsigned char c)
{
	static const char	 digits[] = "0123456789abcdef";
	char			 esc[4];

	esc[0] = '\\';
	esc[1] = 'x';
	esc[2] = digits[c >> 4];
	esc[3] = digits[c & 0x0f];
	ev_put(o, esc, sizeof(esc));
}

/*
 * Returns the length of the valid UTF-8 sequence at s (at most n bytes),
 * or 0 when it is invalid, overlong, a surrogate, above U+10FFFF, or a
 * C1 control (U+0080..U+009F), which some terminals obey as commands.
 */
static size_t
ev_utf8_len(const unsigned char *s, size_t n)
{
	unsigned long	cp;
	size_t		len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
		return 0;
	if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	if (cp >= 0x80 && cp <= 0x9f)
		return 0;
	return len;
}

/*
 * Returns 1 when the backslash at s[i] (of n bytes) must be doubled so a
 * reader does not take it for the start of an escape. That is so when it
 * is followed by one of the escape letters, a backslash or '"', or when
 * it ends the piece, because the next piece may start with one. Other
 * backslashes stay single, so Windows paths such as
 * C:\ProgramData\exoconnect read as typed.
 */
static int
ev_backslash_ambiguous(const unsigned char *s, size_t i, size_t n)
{
	return (i + 1 >= n || strchr("\\rntx\"", s[i + 1]) != NULL);
}

/*
 * Appends n bytes of value with control characters, ambiguous
 * backslashes and bytes that are not valid UTF-8 escaped, so nothing in
 * it can end a log line or move a terminal's cursor. quoted != 0 also
 * escapes '"'.
 */
static void
ev_put_escaped(struct ev_out *o, const char *value, size_t n, int quoted)
{
	const unsigned char	*s = (const unsigned char *)value;
	size_t			 i = 0, len;

	while (i < n) {
		if (s[i] >= 0x80) {
			if ((len = ev_utf8_len(s + i, n - i)) == 0) {
				ev_put_hex(o, s[i++]);
				continue;
			}
			ev_put(o, (const char *)s + i, len);
			i += len;
			continue;
		}
		if (s[i] == '\r')
			ev_put(o, "\\r", 2);
		else if (s[i] == '\n')
			ev_put(o, "\\n", 2);
		else if (s[i] == '\t')
			ev_put(o, "\\t", 2);
		else if (s[i] == '\\' && !o->keep_backslash &&
		    ev_backslash_ambiguous(s, i, n))
			ev_put(o, "\\\\", 2);
		else if (s[i] == '"' && quoted)
			ev_put(o, "\\\"", 2);
		else if (s[i] < 0x20 || s[i] == 0x7f)
			ev_put_hex(o, s[i]);
		else
			ev_put(o, (const char *)s + i, 1);
		i++;
	}
}

/*
 * Returns the text of p to show: its English value, or for the screen
 * the translation of a message id or the error rendered into tmp.
 */
static const char *
ev_value(const struct ev_out *o, const struct ev_param *p, char *tmp,
    size_t cap)
{
	const char	*text;

	if (o->translate == NULL)
		return p->value;
	if (p->error != NULL) {
		err_render(p->error, o->translate, o->ctx, tmp, cap);
		return tmp;
	}
	if ((p->flags & EV_PARAM_MSGID) &&
	    (text = o->translate(p->value, o->ctx)) != NULL)
		return text;
	return p->value;
}

/* Appends name=value, quoting a value that is empty or has ' ', '"' or '='. */
static void
ev_put_field(struct ev_out *o, const struct ev_param *p)
{
	char		 tmp[EV_TEXT_MAX];
	const char	*value = ev_value(o, p, tmp, sizeof(tmp));
	int		 quoted;

	quoted = value[0] == '\0' || strpbrk(value, " \"=") != NULL;
	ev_put_escaped(o, p->name, strlen(p->name), 0);
	ev_put(o, "=", 1);
	if (quoted)
		ev_put(o, "\"", 1);
	ev_put_escaped(o, value, strlen(value), quoted);
	if (quoted)
		ev_put(o, "\"", 1);
}

/*
 * Returns 1 when a value put into the text could pass for a key=value
 * field: it has an "=" right after a non-space byte, or a '"'.
 */
static int
ev_value_needs_quotes(const char *value)
{
	const char	*eq;

	if (strchr(value, '"') != NULL)
		return 1;
	for (eq = strchr(value, '='); eq != NULL; eq = strchr(eq + 1, '='))
		if (eq > value && eq[-1] != ' ')
			return 1;
	return 0;
}

/*
 * Looks up the placeholder at t ("{name}...") and returns the index of its
 * parameter, storing the placeholder's length in *skip, or returns -1.
 */
static int
ev_placeholder(const struct ev *ev, const char *t, size_t *skip)
{
	const char	*end;
	size_t		 n;
	int		 i;

	end = strchr(t + 1, '}');
	if (end == NULL || (n = (size_t)(end - t - 1)) == 0 ||
	    n >= EV_PLACEHOLDER_MAX)
		return -1;
	for (i = 0; i < ev->nparams; i++) {
		if (strncmp(ev->params[i].name, t + 1, n) == 0 &&
		    ev->params[i].name[n] == '\0') {
			*skip = n + 2;
			return i;
		}
	}
	return -1;
}

static size_t ev_render_out(const struct ev *, const char *,
    struct ev_out *);

size_t
ev_render(const struct ev *ev, const char *template, char *buf, size_t cap)
{
	struct ev_out	o = { buf, cap, 0, 0, 0, NULL, NULL };

	return ev_render_out(ev, template, &o);
}

size_t
ev_render_display(const struct ev *ev, const char *template, char *buf,
    size_t cap)
{
	struct ev_out	o = { buf, cap, 0, 0, 1, NULL, NULL };

	return ev_render_out(ev, template, &o);
}

size_t
ev_render_translated(const struct ev *ev, err_translate_fn translate,
    void *ctx, char *buf, size_t cap)
{
	struct ev_out	 o = { buf, cap, 0, 0, 1, translate, ctx };
	const char	*template = NULL;

	if (translate != NULL)
		template = translate(ev->text, ctx);
	return ev_render_out(ev, template, &o);
}

static size_t
ev_render_out(const struct ev *ev, const char *template, struct ev_out *out)
{
	struct ev_out	 o = *out;
	const char	*t = template != NULL ? template : ev->text;
	const char	*value;
	char		 tmp[EV_TEXT_MAX];
	unsigned	 used = 0;
	size_t		 skip, start;
	int		 i, quoted;

	if (o.cap > 0)
		o.buf[0] = '\0';
	while (*t != '\0') {
		if (*t == '{' && (i = ev_placeholder(ev, t, &skip)) >= 0) {
			value = ev_value(&o, &ev->params[i], tmp, sizeof(tmp));
			/* "USER a event=x" must not add a field to the line. */
			quoted = ev_value_needs_quotes(value);
			if (quoted)
				ev_put(&o, "\"", 1);
			ev_put_escaped(&o, value, strlen(value), quoted);
			if (quoted)
				ev_put(&o, "\"", 1);
			used |= 1u << i;
			t += skip;
			continue;
		}
		/* Templates are escaped too, as translations are data. */
		start = strcspn(t + 1, "{") + 1;
		ev_put_escaped(&o, t, start, 0);
		t += start;
	}
	for (i = 0; i < ev->nparams; i++) {
		if (used & (1u << i))
			continue;
		if (o.len > 0)
			ev_put(&o, " ", 1);
		ev_put_field(&o, &ev->params[i]);
	}
	return o.len;
}
