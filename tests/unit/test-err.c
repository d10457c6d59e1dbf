/*
 * test-err.c: struct exo_error keeps the English message and renders the
 * same arguments into translated formats, also through err_wrap.
 */
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "i18n.h"
#include "test.h"

struct fake_entry {
	const char	*msgid;
	const char	*text;
};

/* A small catalog, so these tests do not depend on the catalogs. */
static const struct fake_entry fake_catalog[] = {
	{ "file %s not found", "Datei %s nicht gefunden" },
	{ "port %d of %s is busy", "Port %d von %s ist belegt" },
	{ "cannot save %s: %s", "%s kann nicht gespeichert werden: %s" },
	{ "settings: %s", "Einstellungen: %s" },
	{ "%lld bytes, %5.1f%% of %zu", "%lld Bytes, %5.1f%% von %zu" },
	{ "%.*s and %s", "%.*s und %s" },
	{ "width %-6s|", "Breite %-6s|" },
	{ "bad %s", "schlecht %s %s" },		/* one conversion too many */
	{ "timed out", "Zeitüberschreitung" },
	{ "long %s", "長い %s" },
	{ NULL, NULL },
};

static const char *
fake_translate(const char *msgid, void *ctx)
{
	int	*calls = ctx;

	if (calls != NULL)
		(*calls)++;
	for (size_t i = 0; fake_catalog[i].msgid != NULL; i++)
		if (strcmp(fake_catalog[i].msgid, msgid) == 0)
			return fake_catalog[i].text;
	return NULL;
}

static const char *fake_intern(const char *fmt);

static const char *
render(const struct exo_error *e, char *buf, size_t cap)
{
	err_render(e, fake_translate, NULL, buf, cap);
	return buf;
}

TEST(set_keeps_english_and_translates)
{
	struct exo_error	e;
	char			buf[I18N_ERROR_MAX];

	err_set(&e, EXO_ERR_NOTFOUND, "file %s not found", "a.pem");
	CHECK_STR(e.msg, "file a.pem not found");
	CHECK_STR(render(&e, buf, sizeof(buf)), "Datei a.pem nicht gefunden");
	CHECK_INT(e.nlayers, 1);
	CHECK_INT(e.nargs, 1);
	CHECK_INT(e.args[0].off, 5);
	CHECK_INT(e.args[0].len, 5);

	err_set(&e, EXO_ERR_ADDRINUSE, "port %d of %s is busy", 110,
	    "0.0.0.0");
	CHECK_STR(e.msg, "port 110 of 0.0.0.0 is busy");
	CHECK_STR(render(&e, buf, sizeof(buf)),
	    "Port 110 von 0.0.0.0 ist belegt");
}

TEST(set_argument_types_and_flags)
{
	struct exo_error	e;
	char			buf[I18N_ERROR_MAX];

	err_set(&e, EXO_ERR_IO, "%lld bytes, %5.1f%% of %zu",
	    (long long)-12345678901LL, 42.25, (size_t)7);
	CHECK_STR(e.msg, "-12345678901 bytes,  42.2% of 7");
	CHECK_STR(render(&e, buf, sizeof(buf)),
	    "-12345678901 Bytes,  42.2% von 7");

	/* "*" consumes an int before the string. */
	err_set(&e, EXO_ERR_IO, "%.*s and %s", 3, "abcdef", "xyz");
	CHECK_STR(e.msg, "abc and xyz");
	CHECK_STR(render(&e, buf, sizeof(buf)), "abc und xyz");

	/* Padding belongs to the argument. */
	err_set(&e, EXO_ERR_IO, "width %-6s|", "ab");
	CHECK_STR(render(&e, buf, sizeof(buf)), "Breite ab    |");
}

TEST(untranslated_stays_english)
{
	struct exo_error	e;
	char			buf[I18N_ERROR_MAX];
	int			calls = 0;

	err_set(&e, EXO_ERR_IO, "no translation for %s", "x");
	err_render(&e, fake_translate, &calls, buf, sizeof(buf));
	CHECK_STR(buf, "no translation for x");
	CHECK_INT(calls, 1);

	/* A translation whose conversions differ is not used. */
	err_set(&e, EXO_ERR_IO, "bad %s", "x");
	CHECK_STR(render(&e, buf, sizeof(buf)), "bad x");

	/* Without a translator the result is the English message. */
	err_set(&e, EXO_ERR_IO, "file %s not found", "b");
	err_render(&e, NULL, NULL, buf, sizeof(buf));
	CHECK_STR(buf, "file b not found");
}

TEST(empty_message_renders_code_name)
{
	struct exo_error	e;
	char			buf[I18N_ERROR_MAX];

	err_clear(&e);
	e.code = EXO_ERR_TIMEOUT;
	CHECK_STR(render(&e, buf, sizeof(buf)), "Zeitüberschreitung");
	err_render(&e, NULL, NULL, buf, sizeof(buf));
	CHECK_STR(buf, "timed out");
}

TEST(code_name_argument_translated)
{
	struct exo_error	e, peer;
	char			buf[I18N_ERROR_MAX], layout[ERR_LAYOUT_MAX];

	err_set(&e, EXO_ERR_IO, "file %s not found",
	    exo_strerror(EXO_ERR_TIMEOUT));
	CHECK_STR(e.msg, "file timed out not found");
	CHECK_INT(e.args[0].layer, -2);
	CHECK_STR(render(&e, buf, sizeof(buf)),
	    "Datei Zeitüberschreitung nicht gefunden");

	/* The layout carries the mark to an attached screen. */
	CHECK(err_layout_write(&e, layout, sizeof(layout)) > 0);
	err_set(&peer, EXO_ERR_IO, "%s", e.msg);
	CHECK_INT(err_layout_read(&peer, layout, fake_intern), EXO_OK);
	CHECK_STR(render(&peer, buf, sizeof(buf)),
	    "Datei Zeitüberschreitung nicht gefunden");

	/* Only a whole argument is a name. */
	err_set(&e, EXO_ERR_IO, "file %s not found", "timed out2");
	CHECK_INT(e.args[0].layer, -1);
	CHECK_STR(render(&e, buf, sizeof(buf)),
	    "Datei timed out2 nicht gefunden");
}

TEST(wrap_composes_both_languages)
{
	struct exo_error	inner, mid, outer;
	char			buf[I18N_ERROR_MAX];

	err_set(&inner, EXO_ERR_NOTFOUND, "file %s not found", "/etc/x");
	err_wrap(&mid, EXO_ERR_IO, &inner, "cannot save %s: %s", "users",
	    inner.msg);
	CHECK_INT(mid.code, EXO_ERR_IO);
	CHECK_STR(mid.msg, "cannot save users: file /etc/x not found");
	CHECK_STR(render(&mid, buf, sizeof(buf)),
	    "users kann nicht gespeichert werden: Datei /etc/x nicht "
	    "gefunden");
	CHECK_INT(mid.nlayers, 2);

	err_wrap(&outer, EXO_ERR_CONFIG, &mid, "settings: %s", mid.msg);
	CHECK_STR(outer.msg, "settings: cannot save users: file /etc/x not "
	    "found");
	CHECK_STR(render(&outer, buf, sizeof(buf)),
	    "Einstellungen: users kann nicht gespeichert werden: Datei "
	    "/etc/x nicht gefunden");
	CHECK_INT(outer.nlayers, 3);
}

TEST(wrap_untranslated_outer_keeps_inner)
{
	struct exo_error	inner, outer;
	char			buf[I18N_ERROR_MAX];

	err_set(&inner, EXO_ERR_NOTFOUND, "file %s not found", "f");
	err_wrap(&outer, EXO_ERR_IO, &inner, "no translation: %s",
	    inner.msg);
	CHECK_STR(render(&outer, buf, sizeof(buf)),
	    "no translation: Datei f nicht gefunden");

	/* An inner error that is not the argument stays plain text. */
	err_wrap(&outer, EXO_ERR_IO, &inner, "settings: %s", "other");
	CHECK_INT(outer.nlayers, 1);
	CHECK_STR(render(&outer, buf, sizeof(buf)), "Einstellungen: other");

	/* NULL inner is err_set. */
	CHECK_INT(err_wrap(&outer, EXO_ERR_IO, NULL, "settings: %s", "x"),
	    EXO_ERR_IO);
	CHECK_STR(outer.msg, "settings: x");
	CHECK_INT(err_wrap(NULL, EXO_ERR_IO, &inner, "settings: %s",
	    inner.msg), EXO_ERR_IO);
}

TEST(wrap_beyond_layers_stays_english)
{
	struct exo_error	e[ERR_LAYERS_MAX + 2];
	char			buf[I18N_ERROR_MAX];
	int			i;

	err_set(&e[0], EXO_ERR_NOTFOUND, "file %s not found", "f");
	for (i = 1; i < ERR_LAYERS_MAX + 2; i++)
		err_wrap(&e[i], EXO_ERR_IO, &e[i - 1], "settings: %s",
		    e[i - 1].msg);
	CHECK_INT(e[ERR_LAYERS_MAX - 1].nlayers, ERR_LAYERS_MAX);
	/* One wrap too many: the inner part is kept as English text. */
	CHECK_INT(e[ERR_LAYERS_MAX].nlayers, 1);
	CHECK_STR(render(&e[ERR_LAYERS_MAX], buf, sizeof(buf)),
	    "Einstellungen: settings: settings: settings: file f not found");
}

TEST(clear_is_not_translated)
{
	struct exo_error	e;

	err_set(&e, EXO_ERR_IO, "file %s not found", "x");
	err_clear(&e);
	CHECK_INT(e.code, EXO_OK);
	CHECK_INT(e.nlayers, 0);
	CHECK_STR(e.msg, "");
}

TEST(render_cuts_at_utf8_boundary)
{
	struct exo_error	e;
	char			arg[EXO_ERROR_MSG_MAX], buf[64];
	size_t			len;

	memset(arg, 'x', 40);
	arg[40] = '\0';
	err_set(&e, EXO_ERR_IO, "long %s", arg);
	/* "長い " is 7 bytes, so the whole text is 47 bytes. */
	len = err_render(&e, fake_translate, NULL, buf, 48);
	CHECK_INT(len, 47);
	len = err_render(&e, fake_translate, NULL, buf, 40);
	CHECK_INT(len, 39);
	CHECK_INT(strlen(buf), 39);
	CHECK(strncmp(buf, "長い xxx", 10) == 0);

	/* A cap inside "長" (3 bytes) leaves no half character. */
	len = err_render(&e, fake_translate, NULL, buf, 3);
	CHECK_INT(len, 0);
	CHECK_STR(buf, "");
	len = err_render(&e, fake_translate, NULL, buf, 5);
	CHECK_INT(len, 3);
	CHECK_STR(buf, "長");
	CHECK_INT(err_render(&e, fake_translate, NULL, buf, 0), 0);
}

TEST(set_cut_message_clamps_arguments)
{
	struct exo_error	e;
	char			arg[EXO_ERROR_MSG_MAX + 16];
	char			buf[I18N_ERROR_MAX];

	memset(arg, 'y', sizeof(arg) - 1);
	arg[sizeof(arg) - 1] = '\0';
	err_set(&e, EXO_ERR_IO, "file %s not found", arg);
	CHECK_INT(strlen(e.msg), EXO_ERROR_MSG_MAX - 1);
	CHECK(e.args[0].off + e.args[0].len <= EXO_ERROR_MSG_MAX - 1);
	render(&e, buf, sizeof(buf));
	CHECK(strncmp(buf, "Datei yyy", 9) == 0);
	CHECK(strlen(buf) < sizeof(buf));
}

/* Returns the fake catalog's copy of fmt, as i18n_msgid does. */
static const char *
fake_intern(const char *fmt)
{
	for (size_t i = 0; fake_catalog[i].msgid != NULL; i++)
		if (strcmp(fake_catalog[i].msgid, fmt) == 0)
			return fake_catalog[i].msgid;
	return NULL;
}

/* Makes the error a peer would build from msg and layout. */
static int
from_peer(struct exo_error *e, const char *msg, const char *layout)
{
	err_set(e, EXO_ERR_IO, "%s", msg);
	return err_layout_read(e, layout, fake_intern);
}

TEST(layout_round_trip)
{
	struct exo_error	inner, outer, peer;
	char			layout[ERR_LAYOUT_MAX], buf[I18N_ERROR_MAX];

	err_set(&inner, EXO_ERR_NOTFOUND, "file %s not found", "f;1");
	err_wrap(&outer, EXO_ERR_IO, &inner, "cannot save %s: %s", "u",
	    inner.msg);
	CHECK(err_layout_write(&outer, layout, sizeof(layout)) > 0);
	CHECK_INT(from_peer(&peer, outer.msg, layout), EXO_OK);
	CHECK_INT(peer.nlayers, 2);
	CHECK_STR(render(&peer, buf, sizeof(buf)),
	    "u kann nicht gespeichert werden: Datei f;1 nicht gefunden");

	/* No layout: English only, which is no error. */
	CHECK_INT(from_peer(&peer, outer.msg, ""), EXO_OK);
	CHECK_INT(peer.nlayers, 0);
	CHECK_STR(render(&peer, buf, sizeof(buf)), outer.msg);

	/* An error without a layout writes none. */
	err_clear(&inner);
	CHECK_INT(err_layout_write(&inner, layout, sizeof(layout)), 0);
	CHECK_STR(layout, "");

	/* A buffer too small for the layout gets none. */
	CHECK_INT(err_layout_write(&outer, layout, 8), 0);
	CHECK_STR(layout, "");
}

TEST(layout_rejects_bad_input)
{
	struct exo_error	peer;
	char			buf[I18N_ERROR_MAX];
	static const char *const bad[] = {
		"1\x1f" "1\x1f" "0\x1f" "1\x1f" "file %s not found\x1f"
		    "5\x1f" "99\x1f" "-1",	/* argument beyond msg */
		"1\x1f" "1\x1f" "0\x1f" "1\x1f" "file %s not found\x1f"
		    "0\x1f" "3\x1f" "-1",	/* does not render msg back */
		"1\x1f" "1\x1f" "0\x1f" "1\x1f" "unknown %s\x1f"
		    "5\x1f" "3\x1f" "-1",	/* a format not in the catalog */
		"1\x1f" "1\x1f" "0\x1f" "2\x1f" "file %s not found\x1f"
		    "5\x1f" "3\x1f" "-1",	/* conversions differ */
		"1\x1f" "1\x1f" "0\x1f" "1\x1f" "file %s not found\x1f"
		    "5\x1f" "3\x1f" "1",	/* a layer that does not exist */
		"1\x1f" "1\x1f" "0\x1f" "1\x1f" "file %s not found\x1f"
		    "5\x1f" "3\x1f" "-1\x1f" "7",	/* trailing field */
		"1\x1f" "1\x1f" "0\x1f" "1\x1f" "file %s not found\x1f"
		    "5\x1f" "3x\x1f" "-1",	/* not a number */
		"5\x1f" "1",			/* too many layers */
		"1\x1f" "17",			/* too many arguments */
		"1\x1f" "1\x1f" "0\x1f" "1",	/* cut short */
		"garbage",
	};

	CHECK_INT(from_peer(&peer, "file abc not found",
	    "1\x1f" "1\x1f" "0\x1f" "1\x1f" "file %s not found\x1f"
	    "5\x1f" "3\x1f" "-1"), EXO_OK);
	CHECK_STR(render(&peer, buf, sizeof(buf)),
	    "Datei abc nicht gefunden");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(from_peer(&peer, "file abc not found", bad[i]),
		    EXO_ERR_PROTO);
		CHECK_INT(peer.nlayers, 0);
		CHECK_STR(render(&peer, buf, sizeof(buf)),
		    "file abc not found");
	}
}

TEST(i18n_error_uses_catalog)
{
	struct exo_error	e;
	char			buf[I18N_ERROR_MAX];

	err_set(&e, EXO_ERR_NOTFOUND, "Deleted %s.", "alice");
	CHECK_INT(i18n_set_language("de"), EXO_OK);
	CHECK_STR(i18n_error(&e, buf, sizeof(buf)), "alice gelöscht.");
	CHECK_STR(e.msg, "Deleted alice.");
	CHECK_INT(i18n_set_language("en"), EXO_OK);
	CHECK_STR(i18n_error(&e, buf, sizeof(buf)), "Deleted alice.");
}

int
main(void)
{
	RUN(set_keeps_english_and_translates);
	RUN(set_argument_types_and_flags);
	RUN(untranslated_stays_english);
	RUN(empty_message_renders_code_name);
	RUN(code_name_argument_translated);
	RUN(wrap_composes_both_languages);
	RUN(wrap_untranslated_outer_keeps_inner);
	RUN(wrap_beyond_layers_stays_english);
	RUN(clear_is_not_translated);
	RUN(render_cuts_at_utf8_boundary);
	RUN(set_cut_message_clamps_arguments);
	RUN(layout_round_trip);
	RUN(layout_rejects_bad_input);
	RUN(i18n_error_uses_catalog);
	return TEST_EXIT();
}
