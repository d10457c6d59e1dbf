/*
 * test-event.c: the event bus, the renderer and the log file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "../../src/event.h"
#include "../../src/plat.h"
#include "test.h"

struct captured {
	int	count;
	char	id[64];
	char	rendered[1024];
	char	param_user[64];
};

static void
capture(const struct ev *ev, void *ctx)
{
	struct captured	*c = ctx;
	const char	*user;

	c->count++;
	snprintf(c->id, sizeof(c->id), "%s", ev->id);
	ev_render(ev, NULL, c->rendered, sizeof(c->rendered));
	user = ev_param(ev, "user");
	snprintf(c->param_user, sizeof(c->param_user), "%s",
	    user != NULL ? user : "(none)");
}

/* Emits one event with one parameter and renders it with its own text. */
static void
render_one(char *out, size_t cap, const char *text, const char *name,
    const char *value)
{
	struct captured	c;
	size_t		n;
	int		h;

	memset(&c, 0, sizeof(c));
	h = ev_subscribe(capture, &c);
	CHECK(h >= 0);
	ev_emit(EV_INFO, 0, "test.render", text, name, value, (char *)NULL);
	ev_unsubscribe(h);
	CHECK_INT(c.count, 1);
	n = strlen(c.rendered);
	CHECK(n < cap);
	if (n >= cap)
		n = cap - 1;
	memcpy(out, c.rendered, n);
	out[n] = '\0';
}

static char *
read_text(const char *path)
{
	FILE	*f;
	char	*text;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	if (text != NULL && fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

static int
count_lines(const char *text)
{
	int	n = 0;

	for (; text != NULL && *text != '\0'; text++)
		if (*text == '\n')
			n++;
	return n;
}

static void
temp_dir(char *out, size_t cap)
{
	snprintf(out, cap, "/tmp/exo-test-event-XXXXXX");
	CHECK(mkdtemp(out) != NULL);
}

/* Removes the log file, its rotated copies and the folder. */
static void
remove_log(const char *dir, const char *file)
{
	char	path[1100];
	int	i;

	plat_remove(file);
	for (i = 1; i <= 3; i++) {
		snprintf(path, sizeof(path), "%s.%d", file, i);
		plat_remove(path);
	}
	rmdir(dir);
}

TEST(render_placeholder_and_fields)
{
	char	out[512];

	render_one(out, sizeof(out), "login failed for {user}",
	    "user", "scan");
	CHECK_STR(out, "login failed for scan");

	render_one(out, sizeof(out), "login failed", "user", "scan");
	CHECK_STR(out, "login failed user=scan");

	render_one(out, sizeof(out), "login failed", "user", NULL);
	CHECK_STR(out, "login failed user=-");

	render_one(out, sizeof(out), "reply", "line", "-ERR no such");
	CHECK_STR(out, "reply line=\"-ERR no such\"");

	render_one(out, sizeof(out), "reply", "line", "");
	CHECK_STR(out, "reply line=\"\"");

	render_one(out, sizeof(out), "{unknown} and {", "user", "x");
	CHECK_STR(out, "{unknown} and { user=x");
}

TEST(render_value_cannot_fake_field)
{
	char	out[512];

	render_one(out, sizeof(out), "login failed for {user}", "user",
	    "evil event=user.deleted");
	CHECK_STR(out, "login failed for \"evil event=user.deleted\"");

	render_one(out, sizeof(out), "login failed for {user}", "user",
	    "a\"b");
	CHECK_STR(out, "login failed for \"a\\\"b\"");

	/* Prose such as "set x = y" stays unquoted. */
	render_one(out, sizeof(out), "failed: {error}", "error",
	    "set require_tls = yes");
	CHECK_STR(out, "failed: set require_tls = yes");
}

TEST(render_display_keeps_backslash)
{
	struct ev	ev;
	char		out[256];

	memset(&ev, 0, sizeof(ev));
	ev.text = "folder {dir}";
	ev.nparams = 1;
	ev.params[0].name = "dir";
	ev.params[0].value = "C:\\ProgramData\\exoconnect\r";
	ev_render_display(&ev, NULL, out, sizeof(out));
	CHECK_STR(out, "folder C:\\ProgramData\\exoconnect\\r");
	/* The log's rendering doubles only backslashes that look escaped. */
	ev_render(&ev, NULL, out, sizeof(out));
	CHECK_STR(out, "folder C:\\ProgramData\\exoconnect\\r");
	ev.params[0].value = "Z:\\tmp\\new\\x\\b2\\";
	ev_render(&ev, NULL, out, sizeof(out));
	CHECK_STR(out, "folder Z:\\\\tmp\\\\new\\\\x\\b2\\\\");
	ev_render_display(&ev, NULL, out, sizeof(out));
	CHECK_STR(out, "folder Z:\\tmp\\new\\x\\b2\\");
}

/*
 * Reverses ev_render's escapes of one value, as a program reading the
 * log would: \\, \r, \n, \t, \" and \xHH are escapes, and any other
 * backslash is itself.
 */
static void
unescape(const char *in, char *out, size_t cap)
{
	size_t	n = 0;

	while (*in != '\0' && n + 1 < cap) {
		if (in[0] != '\\' || in[1] == '\0' ||
		    strchr("\\rntx\"", in[1]) == NULL) {
			out[n++] = *in++;
			continue;
		}
		if (in[1] == 'x' && in[2] != '\0' && in[3] != '\0') {
			char hex[3] = { in[2], in[3], '\0' };

			out[n++] = (char)strtol(hex, NULL, 16);
			in += 4;
			continue;
		}
		out[n++] = in[1] == 'r' ? '\r' : in[1] == 'n' ? '\n' :
		    in[1] == 't' ? '\t' : in[1];
		in += 2;
	}
	out[n] = '\0';
}

TEST(render_backslashes_round_trip)
{
	static const char *const values[] = {
		"C:\\ProgramData\\exoconnect",
		"Z:\\tmp\\b2\\wine\\B\xc3\xbcro",
		"ends with \\",
		"\\\\server\\share",
		"a\\\\b",
		"literal \\x41 and \\n",
		"tab\there\r\n\\",
		"quote \\\" inside",
	};
	char	out[512], back[512];
	size_t	i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		render_one(out, sizeof(out), "{v}", "v", values[i]);
		/* A value with '"' is quoted as a whole. */
		if (out[0] == '"') {
			memmove(out, out + 1, strlen(out));
			out[strlen(out) - 1] = '\0';
		}
		unescape(out, back, sizeof(back));
		CHECK_STR(back, values[i]);
	}
}

static const char *
german(const char *msgid, void *ctx)
{
	static const char *const table[][2] = {
		{ "{peer} sent {what}", "{peer} sandte {what}" },
		{ "an unknown command", "einen unbekannten Befehl" },
		{ "Failed: {error}", "Fehlgeschlagen: {error}" },
		{ "file %s not found", "Datei %s nicht gefunden" },
	};

	(void)ctx;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i][0], msgid) == 0)
			return table[i][1];
	return NULL;
}

struct both {
	int	count;
	char	english[512];
	char	display[512];
};

static void
capture_both(const struct ev *ev, void *ctx)
{
	struct both	*b = ctx;

	b->count++;
	ev_render(ev, NULL, b->english, sizeof(b->english));
	ev_render_translated(ev, german, NULL, b->display,
	    sizeof(b->display));
}

TEST(msgid_param_translated_on_screen_only)
{
	struct both	b;
	int		h;

	memset(&b, 0, sizeof(b));
	h = ev_subscribe(capture_both, &b);
	ev_emit(EV_INFO, 0, "test.msgid", "{peer} sent {what}", "peer",
	    "127.0.0.1", EV_MSGID("what"), "an unknown command",
	    (char *)NULL);
	/* The same value without the mark is data, not a message. */
	ev_emit(EV_INFO, 0, "test.msgid", "{peer} sent {what}", "peer",
	    "127.0.0.1", "what", "an unknown command", (char *)NULL);
	ev_unsubscribe(h);
	CHECK_INT(b.count, 2);
	CHECK_STR(b.english, "127.0.0.1 sent an unknown command");
	CHECK_STR(b.display, "127.0.0.1 sandte an unknown command");

	memset(&b, 0, sizeof(b));
	h = ev_subscribe(capture_both, &b);
	ev_emit(EV_INFO, 0, "test.msgid", "{peer} sent", "peer", "p",
	    EV_MSGID("what"), "an unknown command", (char *)NULL);
	ev_unsubscribe(h);
	CHECK_STR(b.english, "p sent what=\"an unknown command\"");
	CHECK_STR(b.display, "p sent what=\"einen unbekannten Befehl\"");
}

TEST(error_param_english_in_log)
{
	struct both		b;
	struct exo_error	e;
	int			h;

	memset(&b, 0, sizeof(b));
	err_set(&e, EXO_ERR_NOTFOUND, "file %s not found", "x.pem");
	h = ev_subscribe(capture_both, &b);
	ev_emit(EV_WARN, 0, "test.error", "Failed: {error}",
	    EV_ERROR("error", &e), (char *)NULL);
	ev_unsubscribe(h);
	CHECK_INT(b.count, 1);
	CHECK_STR(b.english, "Failed: file x.pem not found");
	CHECK_STR(b.display, "Fehlgeschlagen: Datei x.pem nicht gefunden");

	/* An empty message is the code's name. */
	memset(&b, 0, sizeof(b));
	err_clear(&e);
	e.code = EXO_ERR_TIMEOUT;
	h = ev_subscribe(capture_both, &b);
	ev_emit(EV_WARN, 0, "test.error", "Failed: {error}",
	    EV_ERROR("error", &e), (char *)NULL);
	ev_unsubscribe(h);
	CHECK_STR(b.english, "Failed: timed out");
	CHECK_STR(b.display, "Fehlgeschlagen: timed out");
}

TEST(render_escapes_control_characters)
{
	char	out[512];

	render_one(out, sizeof(out), "banner {b}", "b",
	    "ok\r\n2026-12-04T00:00:00Z error forged\tx\x1b[2J");
	CHECK_STR(out, "banner ok\\r\\n2026-12-04T00:00:00Z error "
	    "forged\\tx\\x1b[2J");
	CHECK(strchr(out, '\n') == NULL);
	CHECK(strchr(out, '\r') == NULL);

	render_one(out, sizeof(out), "v", "v", "a\"b c\\d\x7f");
	CHECK_STR(out, "v v=\"a\\\"b c\\d\\x7f\"");
}

TEST(render_utf8_kept_invalid_escaped)
{
	char	out[512];

	render_one(out, sizeof(out), "{p}", "p", "p\xc3\xa4ss \xe2\x82\xac");
	CHECK_STR(out, "p\xc3\xa4ss \xe2\x82\xac");

	/* Latin-1 bytes, an overlong slash and a C1 CSI are escaped. */
	render_one(out, sizeof(out), "{p}", "p", "p\xe4ss\xc0\xaf\xc2\x9b");
	CHECK_STR(out, "p\\xe4ss\\xc0\\xaf\\xc2\\x9b");
}

/* Returns 1 when text is valid UTF-8 without C0, DEL or C1 controls. */
static int
printable_utf8(const unsigned char *t)
{
	unsigned long	cp;
	int		n, i;

	while (*t != '\0') {
		if (*t < 0x20 || *t == 0x7f)
			return 0;
		if (*t < 0x80) {
			t++;
			continue;
		}
		if (*t >= 0xc2 && *t <= 0xdf)
			n = 1, cp = *t & 0x1f;
		else if (*t >= 0xe0 && *t <= 0xef)
			n = 2, cp = *t & 0x0f;
		else if (*t >= 0xf0 && *t <= 0xf4)
			n = 3, cp = *t & 0x07;
		else
			return 0;
		for (i = 1; i <= n; i++) {
			if ((t[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (t[i] & 0x3f);
		}
		if (cp <= 0x9f || (cp >= 0xd800 && cp <= 0xdfff) ||
		    cp > 0x10ffff || (n == 2 && cp < 0x800) ||
		    (n == 3 && cp < 0x10000))
			return 0;
		t += n + 1;
	}
	return 1;
}

TEST(render_random_bytes_stay_printable)
{
	struct ev	ev;
	unsigned char	value[301];
	char		out[701];	/* small enough to cut most results */
	unsigned long	seed = 12345;
	int		round, bad = 0;
	size_t		len, i;

	memset(&ev, 0, sizeof(ev));
	ev.text = "peer said {v}";
	ev.nparams = 2;
	ev.params[0].name = "v";
	ev.params[0].value = (const char *)value;
	ev.params[1].name = "w";
	ev.params[1].value = (const char *)value;
	for (round = 0; round < 5000; round++) {
		seed = seed * 6364136223846793005UL + 1442695040888963407UL;
		len = (seed >> 33) % 300;
		for (i = 0; i < len; i++) {
			seed = seed * 6364136223846793005UL + 1;
			value[i] = (unsigned char)(seed >> 40);
			if (value[i] == 0)
				value[i] = 0x80;
		}
		value[len] = '\0';
		ev_render(&ev, NULL, out, sizeof(out));
		if (!printable_utf8((const unsigned char *)out))
			bad++;
	}
	CHECK_INT(bad, 0);
}

TEST(render_with_translated_template)
{
	struct ev	ev;
	char		out[128];

	memset(&ev, 0, sizeof(ev));
	ev.text = "login failed for {user}";
	ev.nparams = 2;
	ev.params[0].name = "user";
	ev.params[0].value = "scan";
	ev.params[1].name = "addr";
	ev.params[1].value = "10.0.0.5";
	ev_render(&ev, "Anmeldung fehlgeschlagen: {user}", out, sizeof(out));
	CHECK_STR(out, "Anmeldung fehlgeschlagen: scan addr=10.0.0.5");
	CHECK_STR(ev_param(&ev, "addr"), "10.0.0.5");
	CHECK(ev_param(&ev, "missing") == NULL);
}

TEST(render_cuts_at_capacity)
{
	struct ev	ev;
	char		out[8];
	size_t		n;

	memset(&ev, 0, sizeof(ev));
	ev.text = "a long message text";
	n = ev_render(&ev, NULL, out, sizeof(out));
	CHECK_INT(n, 7);
	CHECK_STR(out, "a long ");
}

TEST(emit_copies_bounded_values)
{
	struct captured	 c;
	char		*big;
	int		 h;

	big = malloc(EV_VALUE_MAX * 2);
	CHECK(big != NULL);
	if (big == NULL)
		return;
	memset(big, 'u', EV_VALUE_MAX * 2 - 1);
	big[EV_VALUE_MAX * 2 - 1] = '\0';
	memset(&c, 0, sizeof(c));
	h = ev_subscribe(capture, &c);
	ev_emit(EV_WARN, 3, "test.big", "{user}", "user", big, (char *)NULL);
	ev_unsubscribe(h);
	CHECK_INT(strlen(c.rendered), EV_VALUE_MAX - 1);
	CHECK_STR(c.id, "test.big");
	free(big);
}

TEST(emit_drops_params_over_max)
{
	struct captured	c;
	int		h;

	memset(&c, 0, sizeof(c));
	h = ev_subscribe(capture, &c);
	ev_emit(EV_INFO, 0, "test.many", "m",
	    "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6",
	    "g", "7", "h", "8", "i", "9", "j", "10", "k", "11", "l", "12",
	    "user", "13", (char *)NULL);
	ev_unsubscribe(h);
	CHECK_INT(c.count, 1);
	CHECK_STR(c.param_user, "(none)");
	CHECK(strstr(c.rendered, "l=12") != NULL);
}

TEST(unsubscribe_stops_delivery)
{
	struct captured	c;
	int		h;

	memset(&c, 0, sizeof(c));
	h = ev_subscribe(capture, &c);
	ev_emit(EV_INFO, 0, "test.one", "one", (char *)NULL);
	ev_unsubscribe(h);
	ev_emit(EV_INFO, 0, "test.two", "two", (char *)NULL);
	CHECK_INT(c.count, 1);
	CHECK_STR(c.id, "test.one");
}

static int	self_removing_handle = -1;
static int	self_removing_calls;

static void
remove_self(const struct ev *ev, void *ctx)
{
	(void)ev;
	(void)ctx;
	self_removing_calls++;
	ev_unsubscribe(self_removing_handle);
}

TEST(subscriber_can_unsubscribe_itself)
{
	self_removing_handle = ev_subscribe(remove_self, NULL);
	CHECK(self_removing_handle >= 0);
	ev_emit(EV_INFO, 0, "test.first", "first", (char *)NULL);
	ev_emit(EV_INFO, 0, "test.second", "second", (char *)NULL);
	CHECK_INT(self_removing_calls, 1);
}

TEST(log_writes_stderr_when_asked)
{
	struct log_settings	 ls;
	char			 dir[64], path[128], *text;
	int			 saved, fd;

	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/stderr.txt", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(saved >= 0);
	CHECK(fd >= 0);
	dup2(fd, 2);
	memset(&ls, 0, sizeof(ls));
	ls.level = EV_WARN;
	ls.to_stderr = 1;
	CHECK_INT(log_start(&ls, NULL), 0);
	ev_emit(EV_INFO, 0, "t.quiet", "below the level", (char *)NULL);
	ev_emit(EV_WARN, 9, "t.loud", "disk {what}", "what", "full\r\n",
	    (char *)NULL);
	ev_emit(EV_WARN, 0, "t.path", "folder {dir}", "dir",
	    "Z:\\tmp\\b2", (char *)NULL);
	log_stop();
	dup2(saved, 2);
	close(saved);
	close(fd);

	text = read_text(path);
	CHECK(text != NULL);
	if (text != NULL) {
		CHECK_INT(count_lines(text), 2);
		CHECK(strstr(text, "Z warning conn=9 disk full\\r\\n "
		    "event=t.loud\n") != NULL);
		/* People read stderr: a path keeps its single backslashes. */
		CHECK(strstr(text, "Z warning folder Z:\\tmp\\b2 "
		    "event=t.path\n") != NULL);
	}
	free(text);
	unlink(path);
	rmdir(dir);
}

TEST(level_names_round_trip)
{
	enum ev_level	l;

	CHECK_STR(ev_level_name(EV_WARN), "warning");
	CHECK_INT(ev_level_parse("warning", &l), 0);
	CHECK_INT(l, EV_WARN);
	CHECK_INT(ev_level_parse("DEBUG", &l), 0);
	CHECK_INT(l, EV_DEBUG);
	CHECK_INT(ev_level_parse("loud", &l), EXO_ERR_INVALID);
}

TEST(conn_ids_increase)
{
	unsigned long	a, b;

	a = ev_next_conn_id();
	b = ev_next_conn_id();
	CHECK(a >= 1);
	CHECK_INT(b, a + 1);
}

TEST(log_line_format)
{
	struct log_settings	 ls;
	char			 dir[64], *text;

	temp_dir(dir, sizeof(dir));
	memset(&ls, 0, sizeof(ls));
	snprintf(ls.file, sizeof(ls.file), "%s/exo.log", dir);
	ls.level = EV_INFO;
	ls.max_size = 1 << 20;
	ls.keep = 2;
	CHECK_INT(log_start(&ls, NULL), 0);
	ev_emit(EV_DEBUG, 17, "test.debug", "hidden", (char *)NULL);
	ev_emit(EV_INFO, 17, "pop3.login", "login for {user}", "user",
	    "scan", "addr", "10.0.0.5", (char *)NULL);
	ev_emit(EV_ERROR, 0, "svc.fail", "bad\nline", (char *)NULL);
	ev_emit(EV_INFO, 0, "t.path", "folder {dir}", "dir", "Z:\\tmp\\b2",
	    (char *)NULL);
	log_stop();

	text = read_text(ls.file);
	CHECK(text != NULL);
	if (text == NULL)
		return;
	CHECK_INT(count_lines(text), 3);
	CHECK(strlen(text) > 21);
	CHECK(text[4] == '-');
	CHECK(text[19] == 'Z');
	CHECK(strstr(text, "Z info conn=17 login for scan addr=10.0.0.5 "
	    "event=pop3.login\n") != NULL);
	CHECK(strstr(text, "Z error bad\\nline event=svc.fail\n") != NULL);
	/* The file doubles the backslash that would read as "\t". */
	CHECK(strstr(text, "Z info folder Z:\\\\tmp\\b2 event=t.path\n") !=
	    NULL);
	CHECK(strstr(text, "hidden") == NULL);
	free(text);
	remove_log(dir, ls.file);
}

TEST(log_counts_repeats)
{
	struct log_settings	 ls;
	char			 dir[64], *text;
	int			 i;

	temp_dir(dir, sizeof(dir));
	memset(&ls, 0, sizeof(ls));
	snprintf(ls.file, sizeof(ls.file), "%s/exo.log", dir);
	ls.level = EV_INFO;
	ls.keep = 1;
	CHECK_INT(log_start(&ls, NULL), 0);
	for (i = 0; i < 5; i++)
		ev_emit(EV_WARN, 4, "t.rep", "refused {user}", "user", "a",
		    (char *)NULL);
	ev_emit(EV_WARN, 4, "t.rep", "refused {user}", "user", "b",
	    (char *)NULL);
	text = read_text(ls.file);
	CHECK_INT(count_lines(text), 2);
	free(text);

	/* After the window, the count is written and the line starts over. */
	plat_test_set_clock_offset(61);
	ev_emit(EV_WARN, 4, "t.rep", "refused {user}", "user", "a",
	    (char *)NULL);
	plat_test_set_clock_offset(0);
	log_stop();

	text = read_text(ls.file);
	CHECK(text != NULL);
	if (text == NULL)
		return;
	CHECK_INT(count_lines(text), 4);
	CHECK(strstr(text, "warning conn=4 refused a event=t.rep "
	    "(repeated 4 times)\n") != NULL);
	CHECK(strstr(text, "(repeated 1 time") == NULL);
	free(text);
	remove_log(dir, ls.file);
}

TEST(log_rotates_and_keeps)
{
	struct log_settings	 ls;
	char			 dir[64], path[sizeof(ls.file) + 8];
	int			 i;

	temp_dir(dir, sizeof(dir));
	memset(&ls, 0, sizeof(ls));
	snprintf(ls.file, sizeof(ls.file), "%s/exo.log", dir);
	ls.level = EV_INFO;
	ls.max_size = 200;
	ls.keep = 2;
	CHECK_INT(log_start(&ls, NULL), 0);
	for (i = 0; i < 20; i++) {
		char	n[16];

		snprintf(n, sizeof(n), "%d", i);
		ev_emit(EV_INFO, 0, "t.rot", "line {n} of the rotation test",
		    "n", n, (char *)NULL);
	}
	log_stop();

	snprintf(path, sizeof(path), "%s.1", ls.file);
	CHECK(plat_file_exists(ls.file));
	CHECK(plat_file_exists(path));
	snprintf(path, sizeof(path), "%s.2", ls.file);
	CHECK(plat_file_exists(path));
	snprintf(path, sizeof(path), "%s.3", ls.file);
	CHECK(!plat_file_exists(path));
	{
		int64_t	size = 0;

		CHECK_INT(plat_file_size(ls.file, &size), 0);
		CHECK(size <= 200);
	}
	remove_log(dir, ls.file);
}

struct emitter {
	int		 id;
	volatile int	 done;
};

static void
run_emitter(void *arg)
{
	struct emitter	*em = arg;
	char		 n[16];
	int		 i;

	for (i = 0; i < 200; i++) {
		snprintf(n, sizeof(n), "%d", i);
		ev_emit(EV_INFO, (unsigned long)em->id, "t.thread",
		    "message {n}", "n", n, (char *)NULL);
	}
	__atomic_store_n(&em->done, 1, __ATOMIC_SEQ_CST);
}

TEST(log_threads_write_whole_lines)
{
	struct log_settings	 ls;
	struct emitter		 em[4];
	char			 dir[64], *text, *line;
	int			 i, waited, whole = 0;

	temp_dir(dir, sizeof(dir));
	memset(&ls, 0, sizeof(ls));
	snprintf(ls.file, sizeof(ls.file), "%s/exo.log", dir);
	ls.level = EV_INFO;
	ls.max_size = 1 << 20;
	CHECK_INT(log_start(&ls, NULL), 0);
	for (i = 0; i < 4; i++) {
		em[i].id = i + 1;
		em[i].done = 0;
		CHECK_INT(plat_thread_start(run_emitter, &em[i], 0), 0);
	}
	for (i = 0, waited = 0; i < 4 && waited < 60000; waited += 10) {
		if (__atomic_load_n(&em[i].done, __ATOMIC_SEQ_CST))
			i++;
		else
			plat_sleep_ms(10);
	}
	log_stop();
	CHECK_INT(i, 4);

	text = read_text(ls.file);
	CHECK(text != NULL);
	for (line = text; line != NULL && *line != '\0';
	    line = strchr(line, '\n') + 1) {
		if (strstr(line, " info conn=") == line + 20 &&
		    strstr(line, " event=t.thread\n") != NULL)
			whole++;
	}
	CHECK_INT(whole, 800);
	free(text);
	remove_log(dir, ls.file);
}

TEST(log_start_rejects_bad_file)
{
	struct log_settings	ls;
	struct exo_error	e;

	memset(&ls, 0, sizeof(ls));
	snprintf(ls.file, sizeof(ls.file), "/nonexistent-dir/x/exo.log");
	CHECK_INT(log_start(&ls, &e), EXO_ERR_IO);
	CHECK(strstr(e.msg, "/nonexistent-dir/x/exo.log") != NULL);
}

int
main(void)
{
	RUN(render_placeholder_and_fields);
	RUN(render_value_cannot_fake_field);
	RUN(render_display_keeps_backslash);
	RUN(render_backslashes_round_trip);
	RUN(render_escapes_control_characters);
	RUN(render_utf8_kept_invalid_escaped);
	RUN(render_random_bytes_stay_printable);
	RUN(render_with_translated_template);
	RUN(render_cuts_at_capacity);
	RUN(emit_copies_bounded_values);
	RUN(emit_drops_params_over_max);
	RUN(unsubscribe_stops_delivery);
	RUN(subscriber_can_unsubscribe_itself);
	RUN(level_names_round_trip);
	RUN(conn_ids_increase);
	RUN(log_line_format);
	RUN(log_counts_repeats);
	RUN(log_rotates_and_keeps);
	RUN(msgid_param_translated_on_screen_only);
	RUN(error_param_english_in_log);
	RUN(log_threads_write_whole_lines);
	RUN(log_start_rejects_bad_file);
	RUN(log_writes_stderr_when_asked);
	return TEST_EXIT();
}
