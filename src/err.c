/*
 * err.c: names of the error codes and the helpers that fill a struct
 * exo_error.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/*
 * Marks a message id for tools/extract-messages, as i18n.h does; err.c
 * does not include i18n.h, because it calls nothing above it.
 */
#define N_(s) (s)

/* An argument that is a name from err_names, translated on its own. */
#define ERR_ARG_NAME (-2)

struct err_name {
	int		 code;
	const char	*name;
};

static const struct err_name err_names[] = {
	{ EXO_OK,		N_("no error") },
	{ EXO_ERR_NOMEM,	N_("out of memory") },
	{ EXO_ERR_IO,		N_("input/output error") },
	{ EXO_ERR_TIMEOUT,	N_("timed out") },
	{ EXO_ERR_CLOSED,	N_("connection closed") },
	{ EXO_ERR_TOOLONG,	N_("too long") },
	{ EXO_ERR_PROTO,	N_("protocol error") },
	{ EXO_ERR_TLS,		N_("TLS error") },
	{ EXO_ERR_RESOLVE,	N_("host name lookup failed") },
	{ EXO_ERR_CONNECT,	N_("connection failed") },
	{ EXO_ERR_INVALID,	N_("invalid value") },
	{ EXO_ERR_NOTFOUND,	N_("not found") },
	{ EXO_ERR_EXISTS,	N_("already exists") },
	{ EXO_ERR_AUTH,		N_("authentication failed") },
	{ EXO_ERR_LOCKED,	N_("locked by another process") },
	{ EXO_ERR_CANCELLED,	N_("cancelled") },
	{ EXO_ERR_PERM,		N_("permission denied") },
	{ EXO_ERR_NOSPACE,	N_("no space left on device") },
	{ EXO_ERR_TRANSIENT,	N_("temporary failure") },
	{ EXO_ERR_SIGNIN,	N_("sign-in required") },
	{ EXO_ERR_CONFIG,	N_("configuration error") },
	{ EXO_ERR_UPSTREAM,	N_("rejected by the upstream server") },
	{ EXO_ERR_ADDRINUSE,	N_("address already in use") },
	{ EXO_ERR_BUSY,		N_("too many connections") },
};

static const char *const err_unknown = N_("unknown error");

const char *
exo_strerror(int code)
{
	size_t	i;

	for (i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++) {
		if (err_names[i].code == code)
			return (err_names[i].name);
	}
	return (err_unknown);
}

/* Returns the code name equal to the n bytes at s, or NULL. */
static const char *
err_name_at(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++) {
		if (strlen(err_names[i].name) == n &&
		    memcmp(err_names[i].name, s, n) == 0)
			return (err_names[i].name);
	}
	if (strlen(err_unknown) == n && memcmp(err_unknown, s, n) == 0)
		return (err_unknown);
	return (NULL);
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

/*
 * Returns the length of the printf conversion at p ("%-10.3ld"), or 0
 * when err_set does not support it. Supported are flags, a width and a
 * precision (digits or "*"), a length modifier and a conversion. "%n"
 * and positional arguments ("%1$s") are not.
 */
static size_t
err_conversion_len(const char *p)
{
	static const char	*const lengths[] = { "hh", "ll", "h", "l", "j",
	    "z", "t", "L", NULL };
	size_t			 i = 1, j;

	i += strspn(p + i, "-+ #0'");
	if (p[i] == '*')
		i++;
	else
		i += strspn(p + i, "0123456789");
	if (p[i] == '.') {
		i++;
		if (p[i] == '*')
			i++;
		else
			i += strspn(p + i, "0123456789");
	}
	for (j = 0; lengths[j] != NULL; j++) {
		if (strncmp(p + i, lengths[j], strlen(lengths[j])) == 0) {
			i += strlen(lengths[j]);
			break;
		}
	}
	if (p[i] == '\0' || strchr("diouxXeEfFgGaAcsp%", p[i]) == NULL)
		return 0;
	return i + 1;
}

/*
 * Records where each argument of fmt landed in e->msg. The length that
 * vsnprintf returns for the format up to the end of conversion k is
 * where argument k ends, and the literal text between conversions gives
 * where the next one starts. So any argument type works without
 * fetching it from ap here.
 */
static void
err_find_args(struct exo_error *e, const char *fmt, va_list ap)
{
	char	prefix[EXO_ERROR_MSG_MAX * 2];
	size_t	i = 0, out = 0, conv, len = strlen(e->msg);
	va_list	aq;
	int	n, k = 0;

	if (strlen(fmt) >= sizeof(prefix))
		return;
	while (fmt[i] != '\0') {
		if (fmt[i] != '%') {
			out++;
			i++;
			continue;
		}
		if ((conv = err_conversion_len(fmt + i)) == 0)
			return;
		i += conv;
		if (fmt[i - 1] == '%') {
			out++;
			continue;
		}
		if (k == ERR_ARGS_MAX)
			return;
		memcpy(prefix, fmt, i);
		prefix[i] = '\0';
		va_copy(aq, ap);
		n = vsnprintf(NULL, 0, prefix, aq);
		va_end(aq);
		if (n < 0 || (size_t)n < out)
			return;
		e->args[k].off = (unsigned short)(out < len ? out : len);
		e->args[k].len = (unsigned short)(((size_t)n < len ?
		    (size_t)n : len) - e->args[k].off);
		e->args[k].layer = -1;
		/* "failed: %s", exo_strerror(rc): the name translates too. */
		if (fmt[i - 1] == 's' && err_name_at(e->msg + e->args[k].off,
		    e->args[k].len) != NULL)
			e->args[k].layer = ERR_ARG_NAME;
		out = (size_t)n;
		k++;
	}
	e->layers[0].fmt = fmt;
	e->layers[0].first = 0;
	e->layers[0].nargs = (unsigned char)k;
	e->nlayers = 1;
	e->nargs = (unsigned char)k;
}

static void
err_format(struct exo_error *e, int code, const char *fmt, va_list ap)
{
	va_list	aq;
	int	n;

	e->code = code;
	e->nlayers = 0;
	e->nargs = 0;
	va_copy(aq, ap);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, aq);
	va_end(aq);
	if (n < 0) {
		e->msg[0] = '\0';
		return;
	}
	if ((size_t)n >= sizeof(e->msg))
		err_cut_utf8(e->msg, sizeof(e->msg) - 1);
	err_find_args(e, fmt, ap);
}

int
err_set(struct exo_error *e, int code, const char *fmt, ...)
{
	va_list	ap;

	if (e == NULL)
		return (code);
	va_start(ap, fmt);
	err_format(e, code, fmt, ap);
	va_end(ap);
	return (code);
}

/*
 * Puts inner's formats under the last argument of e's only format, when
 * that argument is inner's whole message and the limits allow.
 */
static void
err_graft(struct exo_error *e, const struct exo_error *inner)
{
	struct err_arg		*slot;
	const struct err_arg	*a;
	size_t			 i;

	if (e->nlayers != 1 || e->nargs == 0 || inner->nlayers == 0 ||
	    1 + inner->nlayers > ERR_LAYERS_MAX ||
	    e->nargs + inner->nargs > ERR_ARGS_MAX)
		return;
	slot = &e->args[e->nargs - 1];
	if (slot->len != strlen(inner->msg) ||
	    memcmp(e->msg + slot->off, inner->msg, slot->len) != 0)
		return;

	for (i = 0; i < inner->nlayers; i++) {
		e->layers[1 + i] = inner->layers[i];
		e->layers[1 + i].first += e->nargs;
	}
	for (i = 0; i < inner->nargs; i++) {
		a = &inner->args[i];
		e->args[e->nargs + i] = *a;
		e->args[e->nargs + i].off += slot->off;
		if (a->layer >= 0)
			e->args[e->nargs + i].layer++;
	}
	slot->layer = 1;
	e->nlayers += inner->nlayers;
	e->nargs += inner->nargs;
}

int
err_wrap(struct exo_error *e, int code, const struct exo_error *inner,
    const char *fmt, ...)
{
	va_list	ap;

	if (e == NULL)
		return (code);
	va_start(ap, fmt);
	err_format(e, code, fmt, ap);
	va_end(ap);
	if (inner != NULL && inner != e)
		err_graft(e, inner);
	return (code);
}

int
err_copy(struct exo_error *e, int code, const struct exo_error *src)
{
	if (e == NULL)
		return (code);
	if (e != src)
		*e = *src;
	e->code = code;
	return (code);
}

const struct exo_error *
err_or_code(struct exo_error *e, int code)
{
	if (e->msg[0] == '\0') {
		e->code = code;
		e->nlayers = 0;
		e->nargs = 0;
	}
	return e;
}

void
err_clear(struct exo_error *e)
{
	if (e == NULL)
		return;
	e->code = EXO_OK;
	e->nlayers = 0;
	e->nargs = 0;
	e->msg[0] = '\0';
}

/* ---- rendering ---- */

struct err_out {
	char	*buf;
	size_t	 cap;
	size_t	 len;
	int	 full;
};

static void
err_put(struct err_out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (n > o->cap - 1 - o->len) {
		n = o->cap - 1 - o->len;
		o->full = 1;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* Returns the number of arguments fmt converts, or -1 when malformed. */
static int
err_count_args(const char *fmt)
{
	size_t	conv;
	int	k = 0;

	for (fmt = strchr(fmt, '%'); fmt != NULL; fmt = strchr(fmt, '%')) {
		if ((conv = err_conversion_len(fmt)) == 0)
			return -1;
		if (fmt[conv - 1] != '%')
			k++;
		fmt += conv;
	}
	return k;
}

/* Puts the code name of argument a, translated where translate can. */
static void
err_render_name(const struct exo_error *e, const struct err_arg *a,
    err_translate_fn translate, void *ctx, struct err_out *o)
{
	const char	*name = err_name_at(e->msg + a->off, a->len);
	const char	*t = NULL;

	if (name != NULL && translate != NULL)
		t = translate(name, ctx);
	if (t != NULL)
		err_put(o, t, strlen(t));
	else
		err_put(o, e->msg + a->off, a->len);
}

static void
err_render_layer(const struct exo_error *e, int layer,
    err_translate_fn translate, void *ctx, struct err_out *o)
{
	const struct err_layer	*l = &e->layers[layer];
	const struct err_arg	*a;
	const char		*t = NULL, *p;
	size_t			 conv;
	int			 k = 0;

	if (translate != NULL)
		t = translate(l->fmt, ctx);
	if (t == NULL || err_count_args(t) != l->nargs)
		t = l->fmt;
	for (p = t; *p != '\0'; p += conv) {
		conv = strcspn(p, "%");
		if (conv > 0) {
			err_put(o, p, conv);
			continue;
		}
		conv = err_conversion_len(p);
		if (p[conv - 1] == '%') {
			err_put(o, "%", 1);
			continue;
		}
		a = &e->args[l->first + k++];
		/* Layers only point deeper, so this ends. */
		if (a->layer > layer && a->layer < e->nlayers)
			err_render_layer(e, a->layer, translate, ctx, o);
		else if (a->layer == ERR_ARG_NAME)
			err_render_name(e, a, translate, ctx, o);
		else
			err_put(o, e->msg + a->off, a->len);
	}
}

size_t
err_render(const struct exo_error *e, err_translate_fn translate,
    void *ctx, char *buf, size_t cap)
{
	struct err_out	 o = { buf, cap, 0, 0 };
	const char	*t;

	if (cap == 0)
		return 0;
	if (e->msg[0] == '\0') {
		t = translate != NULL ? translate(exo_strerror(e->code), ctx) :
		    NULL;
		err_put(&o, t != NULL ? t : exo_strerror(e->code),
		    strlen(t != NULL ? t : exo_strerror(e->code)));
	} else if (e->nlayers == 0)
		err_put(&o, e->msg, strlen(e->msg));
	else
		err_render_layer(e, 0, translate, ctx, &o);
	if (o.full) {
		err_cut_utf8(buf, o.len);
		return strlen(buf);
	}
	buf[o.len] = '\0';
	return o.len;
}

/* ---- the layout, for the control channel ---- */

static void
err_put_field(struct err_out *o, const char *s, size_t n)
{
	if (o->len > 0)
		err_put(o, ERR_LAYOUT_SEP, 1);
	err_put(o, s, n);
}

static void
err_put_number(struct err_out *o, int n)
{
	char	num[16];
	int	len = snprintf(num, sizeof(num), "%d", n);

	if (len > 0)
		err_put_field(o, num, (size_t)len);
}

size_t
err_layout_write(const struct exo_error *e, char *buf, size_t cap)
{
	struct err_out	o = { buf, cap, 0, 0 };
	int		i;

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	if (e->nlayers == 0)
		return 0;
	err_put_number(&o, e->nlayers);
	err_put_number(&o, e->nargs);
	for (i = 0; i < e->nlayers; i++) {
		if (strchr(e->layers[i].fmt, ERR_LAYOUT_SEP[0]) != NULL)
			o.full = 1;
		err_put_number(&o, e->layers[i].first);
		err_put_number(&o, e->layers[i].nargs);
		err_put_field(&o, e->layers[i].fmt,
		    strlen(e->layers[i].fmt));
	}
	for (i = 0; i < e->nargs; i++) {
		err_put_number(&o, e->args[i].off);
		err_put_number(&o, e->args[i].len);
		err_put_number(&o, e->args[i].layer);
	}
	if (o.full) {
		buf[0] = '\0';
		return 0;
	}
	buf[o.len] = '\0';
	return o.len;
}

/* Reads the next field of *p into out; returns -1 when none fits. */
static int
err_field(const char **p, char *out, size_t cap)
{
	size_t	n = strcspn(*p, ERR_LAYOUT_SEP);

	if (**p == '\0' || n >= cap)
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p += n;
	if (**p != '\0')
		(*p)++;
	return 0;
}

static int
err_field_int(const char **p, long min, long max, long *out)
{
	char	num[16], *end;

	if (err_field(p, num, sizeof(num)) != 0 || num[0] == '\0')
		return -1;
	*out = strtol(num, &end, 10);
	return *end == '\0' && *out >= min && *out <= max ? 0 : -1;
}

/* Reads one layer, whose format intern must find. */
static int
err_read_layer(const char **p, struct err_layer *l,
    const char *(*intern)(const char *fmt))
{
	char	fmt[EXO_ERROR_MSG_MAX * 2];
	long	first, nargs;

	if (err_field_int(p, 0, ERR_ARGS_MAX, &first) != 0 ||
	    err_field_int(p, 0, ERR_ARGS_MAX - first, &nargs) != 0 ||
	    err_field(p, fmt, sizeof(fmt)) != 0)
		return -1;
	l->fmt = intern(fmt);
	if (l->fmt == NULL || err_count_args(l->fmt) != nargs)
		return -1;
	l->first = (unsigned char)first;
	l->nargs = (unsigned char)nargs;
	return 0;
}

static int
err_read_layout(struct exo_error *e, const char *p,
    const char *(*intern)(const char *fmt))
{
	char	check[EXO_ERROR_MSG_MAX];
	long	nlayers, nargs, off, len, layer;
	size_t	msglen = strlen(e->msg);
	int	i;

	if (err_field_int(&p, 1, ERR_LAYERS_MAX, &nlayers) != 0 ||
	    err_field_int(&p, 0, ERR_ARGS_MAX, &nargs) != 0)
		return -1;
	for (i = 0; i < nlayers; i++) {
		if (err_read_layer(&p, &e->layers[i], intern) != 0 ||
		    e->layers[i].first + e->layers[i].nargs > nargs)
			return -1;
	}
	for (i = 0; i < nargs; i++) {
		if (err_field_int(&p, 0, (long)msglen, &off) != 0 ||
		    err_field_int(&p, 0, (long)msglen - off, &len) != 0 ||
		    err_field_int(&p, ERR_ARG_NAME, nlayers - 1, &layer) != 0)
			return -1;
		e->args[i].off = (unsigned short)off;
		e->args[i].len = (unsigned short)len;
		e->args[i].layer = (signed char)layer;
	}
	if (*p != '\0')
		return -1;
	e->nlayers = (unsigned char)nlayers;
	e->nargs = (unsigned char)nargs;

	/* A layout that does not give back the English text is wrong. */
	err_render(e, NULL, NULL, check, sizeof(check));
	return strcmp(check, e->msg) == 0 ? 0 : -1;
}

int
err_layout_read(struct exo_error *e, const char *layout,
    const char *(*intern)(const char *fmt))
{
	int	rc = EXO_OK;

	if (layout != NULL && layout[0] != '\0') {
		if (err_read_layout(e, layout, intern) == 0)
			return EXO_OK;
		rc = EXO_ERR_PROTO;
	}
	e->nlayers = 0;
	e->nargs = 0;
	return rc;
}
