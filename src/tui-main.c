/*
 * tui-main.c: the screen's entry point, terminal setup, the layout of
 * the main screen, the key table and the main loop.
 *
 * Layout, top to bottom: title, users pane, servers pane, log pane,
 * status line, key bar. The users and log panes share the rows left over
 * by the fixed parts, so the layout works from 80x24 upwards; a smaller
 * terminal gets a plain message instead.
 */
#include <curses.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "cli.h"
#include "i18n.h"
#include "plat.h"
#include "tui.h"
#include "util.h"

/* Rows of everything but the users and log lines. */
#define TUI_FIXED_ROWS 11

/* Terminal types compiled into the release build's ncurses. */
static const char *const tui_fallback_terms[] = {
	"xterm-256color", "xterm", "tmux-256color", "screen-256color",
	"screen", "vt100", "linux", NULL,
};

static volatile int tui_signalled;

static void
tui_on_signal(void)
{
	tui_signalled = 1;
}

static void tui_quit(struct tui *t);
static void tui_settings_key(struct tui *t);
static void tui_log_key(struct tui *t);

static const struct tui_key {
	int		 fkey;
	wchar_t		 letter;
	const char	*label;
	void		(*run)(struct tui *t);
	int		 in_bar;
} tui_keys[] = {
	{ 1, L'h', N_("Help"), tui_help, 1 },
	{ 2, L'a', N_("Add"), tui_add, 1 },
	{ 3, L'd', N_("Delete"), tui_delete, 1 },
	{ 4, L's', N_("Settings"), tui_settings_key, 1 },
	{ 5, L't', N_("Start"), tui_server_start, 1 },
	{ 6, L'o', N_("Stop"), tui_server_stop, 1 },
	{ 7, L'r', N_("Re-sign-in"), tui_signin, 1 },
	{ 8, L'p', N_("Password"), tui_password, 1 },
	{ 9, L'e', N_("Test"), tui_test, 1 },
	{ 10, L'q', N_("Quit"), tui_quit, 1 },
	{ 0, L'u', N_("User settings"), tui_user_settings, 0 },
	{ 0, L'l', N_("Log view"), tui_log_key, 0 },
};

#define TUI_KEY_COUNT (sizeof(tui_keys) / sizeof(tui_keys[0]))

void
tui_set_status(struct tui *t, enum ev_level level, const char *fmt, ...)
{
	va_list	ap;

	plat_mutex_lock(t->mu);
	va_start(ap, fmt);
	vsnprintf(t->status, sizeof(t->status), fmt, ap);
	va_end(ap);
	t->status_level = (int)level;
	plat_mutex_unlock(t->mu);
}

/* Waits up to TUI_TICK_MS for a key; tracks the terminal's size. */
int
tui_getkey(struct tui *t, wint_t *ch)
{
	int	key;

	timeout(TUI_TICK_MS);
	key = get_wch(ch);
	if (key == KEY_CODE_YES && *ch == KEY_RESIZE)
		getmaxyx(stdscr, t->rows, t->cols);
	if (tui_signalled) {
		t->quit = 1;
		*ch = 27;
		return OK;
	}
	return key;
}

static void
draw_title(struct tui *t)
{
	char	text[PLAT_PATH_MAX + 128];

	snprintf(text, sizeof(text), _("exoconnect %s  Settings file: %s"),
	    EXO_VERSION, t->adm->config_path);
	tui_put(stdscr, 0, 0, t->cols, text, tui_attr(t, TUI_TITLE));
}

/* Columns of the label of a key bar cell, shortened when all do not fit. */
static int
key_label_width(struct tui *t, const struct tui_key *k)
{
	int	total = 0, cells = 0, w = tui_width(tr(k->label));

	for (size_t i = 0; i < TUI_KEY_COUNT; i++) {
		if (!tui_keys[i].in_bar)
			continue;
		/* The number, the label and a space. */
		total += (tui_keys[i].fkey < 10 ? 1 : 2) +
		    tui_width(tr(tui_keys[i].label)) + 1;
		cells++;
	}
	if (total <= t->cols || w <= t->cols / cells - 3)
		return w;
	return t->cols / cells - 3;
}

/* Underlines the letter key inside a label drawn at x, when it has it. */
static void
underline_letter(struct tui *t, int x, int lw, const char *label,
    wchar_t letter)
{
	const char	*at;
	char		 prefix[128];
	int		 col;

	at = strchr(label, (char)letter);
	if (at == NULL)
		at = strchr(label, (char)(letter - 32));
	if (at == NULL || (size_t)(at - label) >= sizeof(prefix))
		return;
	memcpy(prefix, label, (size_t)(at - label));
	prefix[at - label] = '\0';
	col = tui_width(prefix);
	if (col < lw)
		mvchgat(t->rows - 1, x + col, 1, (attr_t)(A_UNDERLINE | A_BOLD |
		    tui_attr(t, TUI_KEY)), t->color ? (short)TUI_KEY : 0,
		    NULL);
}

/* Draws "1Help 2Add ..." with each letter key underlined. */
static void
draw_key_bar(struct tui *t)
{
	char		num[16];
	const char	*label;
	int		x = 0, w, lw;

	tui_put(stdscr, t->rows - 1, 0, t->cols, "", TUI_PLAIN);
	for (size_t i = 0; i < TUI_KEY_COUNT && x < t->cols; i++) {
		if (!tui_keys[i].in_bar)
			continue;
		label = tr(tui_keys[i].label);
		snprintf(num, sizeof(num), "%d", tui_keys[i].fkey);
		w = tui_put(stdscr, t->rows - 1, x, t->cols - x, num, A_BOLD);
		lw = key_label_width(t, &tui_keys[i]);
		if (lw > t->cols - x - w)
			lw = t->cols - x - w;
		lw = tui_put(stdscr, t->rows - 1, x + w, lw, label,
		    tui_attr(t, TUI_KEY));
		underline_letter(t, x + w, lw, label, tui_keys[i].letter);
		x += w + lw + 1;
	}
}

static void
draw_status(struct tui *t, int y)
{
	char	text[TUI_STATUS_MAX];
	int	level;

	plat_mutex_lock(t->mu);
	if (t->busy > 0) {
		str_copy(text, t->busy_text, sizeof(text));
		level = EV_WARN;
	} else {
		str_copy(text, t->status, sizeof(text));
		level = t->status_level;
	}
	plat_mutex_unlock(t->mu);
	tui_put(stdscr, y, 0, t->cols, text, level == EV_INFO ?
	    tui_attr(t, TUI_OK) : tui_level_attr(t, (enum ev_level)level));
}

static void
draw_heading(struct tui *t, int y, const char *text)
{
	char	head[256];
	int	w;

	snprintf(head, sizeof(head), "\xe2\x94\x80 %s ", text);
	w = tui_put(stdscr, y, 0, t->cols, head, tui_attr(t, TUI_HEADING));
	attron(tui_attr(t, TUI_HEADING));
	mvhline(y, w, ACS_HLINE, t->cols - w);
	attroff(tui_attr(t, TUI_HEADING));
}

static void
draw_too_small(struct tui *t)
{
	char	text[256], lines[6][TUI_LOG_LINE_MAX];
	size_t	n;

	snprintf(text, sizeof(text), _("exoconnect needs a terminal of at "
	    "least %dx%d; this one is %dx%d. Enlarge the window, or press q "
	    "to quit."), TUI_MIN_COLS, TUI_MIN_ROWS, t->cols, t->rows);
	n = tui_wrap(text, t->cols > 2 ? t->cols - 1 : 1, lines, 6);
	for (size_t i = 0; i < n && (int)i < t->rows; i++)
		tui_put(stdscr, (int)i, 0, t->cols, lines[i], TUI_PLAIN);
}

void
tui_draw_main(struct tui *t)
{
	char	head[128];
	int	rest, users_h, log_h, y;

	getmaxyx(stdscr, t->rows, t->cols);
	t->too_small = t->rows < TUI_MIN_ROWS || t->cols < TUI_MIN_COLS;
	erase();
	if (t->too_small) {
		draw_too_small(t);
		wnoutrefresh(stdscr);
		return;
	}
	tui_users_refresh(t, 0);
	tui_servers_refresh(t);

	rest = t->rows - TUI_FIXED_ROWS;
	users_h = rest / 2;
	log_h = rest - users_h;

	draw_title(t);
	snprintf(head, sizeof(head), _("Users (%zu)"), t->nusers);
	draw_heading(t, 1, head);
	tui_users_draw(t, 2, users_h + 2);
	y = 4 + users_h;
	draw_heading(t, y, _("Servers"));
	tui_servers_draw(t, y + 1);
	y += 4;
	draw_heading(t, y, _("Log (l opens the full log)"));
	tui_log_draw(t, y + 1, log_h);
	draw_status(t, t->rows - 2);
	draw_key_bar(t);
	wnoutrefresh(stdscr);
}

void
tui_help(struct tui *t)
{
	char	text[2048], line[160];

	str_copy(text, _("Keys (function key or letter):"), sizeof(text));
	for (size_t i = 0; i < TUI_KEY_COUNT; i++) {
		if (tui_keys[i].fkey > 0)
			snprintf(line, sizeof(line), "\nF%-2d  %c  %s",
			    tui_keys[i].fkey, (char)tui_keys[i].letter,
			    tr(tui_keys[i].label));
		else
			snprintf(line, sizeof(line), "\n     %c  %s",
			    (char)tui_keys[i].letter, tr(tui_keys[i].label));
		str_copy(text + strlen(text), line, sizeof(text) -
		    strlen(text));
	}
	str_copy(text + strlen(text), _("\nUp, Down, Page Up and Page Down "
	    "select a user; Enter opens its settings. Esc cancels any "
	    "dialog. Times are in UTC."), sizeof(text) - strlen(text));
	tui_message(t, _("Help"), text);
}

static void
tui_settings_key(struct tui *t)
{
	tui_settings(t, NULL);
}

static void
tui_log_key(struct tui *t)
{
	tui_log_view(t);
}

static void
tui_quit(struct tui *t)
{
	char	text[256];
	long	n = t->adm->ops->active_sessions(t->adm);

	/* An attached screen's quit leaves the sessions to the serve. */
	if (n > 0 && !t->adm->attached) {
		snprintf(text, sizeof(text), _("%ld device sessions are open. "
		    "Quitting stops the servers and closes them. Quit?"), n);
		if (!tui_confirm(t, _("Quit"), text))
			return;
	}
	t->quit = 1;
}

/* Finds the key table row of a key; NULL when it has none. */
static const struct tui_key *
find_key(int key, wint_t ch)
{
	for (size_t i = 0; i < TUI_KEY_COUNT; i++) {
		const struct tui_key *k = &tui_keys[i];

		if (key == OK && (ch == (wint_t)k->letter ||
		    ch == (wint_t)k->letter - 32))
			return k;
		if (key == KEY_CODE_YES && k->fkey > 0 &&
		    ch == (wint_t)KEY_F(k->fkey))
			return k;
	}
	return NULL;
}

/*
 * Shows the failures a worker left for a dialog, once no start or stop
 * runs, so the failures of one Start share a dialog.
 */
static void
show_alert(struct tui *t)
{
	char	text[sizeof(t->alert)];

	plat_mutex_lock(t->mu);
	text[0] = '\0';
	if (t->busy == 0) {
		str_copy(text, t->alert, sizeof(text));
		t->alert[0] = '\0';
	}
	plat_mutex_unlock(t->mu);
	if (text[0] != '\0')
		tui_message(t, _("Error"), text);
}

static void
main_loop(struct tui *t)
{
	const struct tui_key	*k;
	wint_t			 ch;
	int			 key;

	while (!t->quit) {
		tui_draw_main(t);
		doupdate();
		if (!t->too_small)
			show_alert(t);
		key = tui_getkey(t, &ch);
		if (key == ERR)
			continue;
		if (t->too_small) {
			if (key == OK && (ch == L'q' || ch == 3))
				t->quit = 1;
			continue;
		}
		if (key == OK && ch == 3) {
			tui_quit(t);
			continue;
		}
		if (key == OK && (ch == L'\n' || ch == L'\r')) {
			tui_user_settings(t);
			continue;
		}
		k = find_key(key, ch);
		if (k != NULL)
			k->run(t);
		else if (key == KEY_CODE_YES)
			tui_users_key(t, (int)ch);
	}
}

/* Opens curses on the terminal; falls back to built-in terminal types. */
static SCREEN *
open_terminal(void)
{
	const char	*term = getenv("TERM");
	SCREEN		*scr;

	/* The fallbacks below would draw escape codes on a dumb terminal. */
	if (term != NULL && strcmp(term, "dumb") == 0)
		return NULL;
	scr = newterm(NULL, stdout, stdin);
	for (int i = 0; scr == NULL && tui_fallback_terms[i] != NULL; i++)
		scr = newterm(tui_fallback_terms[i], stdout, stdin);
	if (scr == NULL)
		return NULL;
	/*
	 * A printing terminal cannot draw a screen. Only terminfo says so;
	 * the Windows console driver has no terminfo entry, so an absent
	 * cursor_address alone proves nothing.
	 */
	if (tigetflag("hc") > 0 || strcmp(termname(), "dumb") == 0) {
		endwin();
		delscreen(scr);
		return NULL;
	}
	raw();
	noecho();
	keypad(stdscr, TRUE);
	set_escdelay(50);
	curs_set(0);
	return scr;
}

/*
 * Shows why the service could not open (a settings file with an error,
 * with its file and line) until the admin retries or quits.
 */
static int
open_failed(struct tui *t, const struct exo_error *e)
{
	char	text[I18N_ERROR_MAX + 256], lines[20][TUI_LOG_LINE_MAX];
	char	why[I18N_ERROR_MAX];
	size_t	n;
	wint_t	ch;
	int	key;

	snprintf(text, sizeof(text), _("exoconnect could not open its "
	    "settings:\n\n%s\n\nCorrect the file in an editor, then press r "
	    "to try again, or q to quit."), i18n_error(e, why, sizeof(why)));
	for (;;) {
		getmaxyx(stdscr, t->rows, t->cols);
		erase();
		n = tui_wrap(text, t->cols > 4 ? t->cols - 2 : 1, lines, 20);
		for (size_t i = 0; i < n && (int)i + 1 < t->rows; i++)
			tui_put(stdscr, (int)i + 1, 1, t->cols - 1, lines[i],
			    i == 2 ? tui_attr(t, TUI_ERROR) : TUI_PLAIN);
		refresh();
		key = tui_getkey(t, &ch);
		if (key == OK && (ch == L'r' || ch == L'R'))
			return 1;
		if (key == OK && (ch == L'q' || ch == 27 || ch == 3))
			return 0;
	}
}

static int
open_admin(struct tui *t, const char *config_path)
{
	struct exo_error	err;
	char			notice[512];
	int			rc;

	for (;;) {
		/* A running serve of this data folder: attach to it. */
		err_clear(&err);
		notice[0] = '\0';
		rc = admin_remote_open(config_path, &t->adm, &err);
		if (rc == EXO_ERR_NOTFOUND) {
			err_clear(&err);
			rc = admin_local_open(config_path, &t->adm, notice,
			    &err);
		}
		if (rc == EXO_OK)
			break;
		if (!open_failed(t, &err))
			return EXO_ERR_CANCELLED;
	}
	if (notice[0] != '\0')
		tui_set_status(t, EV_WARN, "%s", notice);
	tui_apply_language(t);
	return EXO_OK;
}

/* Switches to the language of [ui] language ("auto": the system's). */
void
tui_apply_language(struct tui *t)
{
	struct settings	*s = malloc(sizeof(*s));

	if (s == NULL)
		return;
	t->adm->ops->settings_get(t->adm, s);
	i18n_set_language(s->ui.language);
	plat_wipe(s, sizeof(*s));
	free(s);
	tui_log_rerender(t);
}

static int
autostart(struct tui *t)
{
	struct settings	*s = malloc(sizeof(*s));
	int		 on;

	if (s == NULL)
		return 0;
	t->adm->ops->settings_get(t->adm, s);
	on = s->ui.autostart;
	plat_wipe(s, sizeof(*s));
	free(s);
	return on;
}

/* Opens Settings first when the settings cannot reach Microsoft yet. */
static void
first_run(struct tui *t)
{
	struct exo_error	err;
	char			why[I18N_ERROR_MAX];

	err_clear(&err);
	if (t->adm->ops->settings_ready(t->adm, &err) != EXO_OK) {
		tui_settings(t, i18n_error(&err, why, sizeof(why)));
		return;
	}
	if (autostart(t))
		tui_servers_resume(t);
}

static void
setup_locale(void)
{
	/* The screen draws UTF-8; a C or Latin-1 locale would show "?". */
	setlocale(LC_ALL, "");
	if (MB_CUR_MAX == 1 && setlocale(LC_ALL, "C.UTF-8") == NULL)
		setlocale(LC_ALL, "en_US.UTF-8");
}

int
tui_main(const char *config_path)
{
	struct tui	 t;
	SCREEN		*scr;
	int		 rc = CLI_FAIL;

	memset(&t, 0, sizeof(t));
	setup_locale();
	t.mu = plat_mutex_new();
	if (t.mu == NULL)
		return CLI_FAIL;
	scr = open_terminal();
	if (scr == NULL) {
		cli_err("exoconnect: this terminal (TERM=%s) cannot show the "
		    "screen; set TERM to a type such as xterm or vt100, or run "
		    "a command such as `exoconnect help`\n", getenv("TERM") !=
		    NULL ? getenv("TERM") : "");
		plat_mutex_free(t.mu);
		return CLI_FAIL;
	}
	tui_colors_init(&t);
	plat_on_signals(tui_on_signal, tui_on_signal);
	getmaxyx(stdscr, t.rows, t.cols);

	if (open_admin(&t, config_path) != EXO_OK)
		goto out;
	if (tui_log_open(&t) != EXO_OK)
		tui_set_status(&t, EV_WARN, "%s", _("The log pane is not "
		    "available: out of memory"));
	tui_users_refresh(&t, 1);
	first_run(&t);
	main_loop(&t);

	tui_servers_wait(&t);
	tui_log_close(&t);
	erase();
	tui_put(stdscr, t.rows / 2, 2, t.cols - 4, _("Stopping the servers; "
	    "open sessions get 10 seconds to finish..."), A_BOLD);
	refresh();
	t.adm->ops->quit(t.adm);
	rc = CLI_OK;
out:
	endwin();
	delscreen(scr);
	free(t.users);
	plat_mutex_free(t.mu);
	return rc;
}
