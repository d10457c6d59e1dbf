/*
 * tui-settings.c: the Settings form. Every key of config_keys() with its
 * value and help text; a value being typed is checked on each key press
 * with config_set on a scratch copy, so a mistake shows before it is
 * accepted. Save writes the file atomically (config_save) and offers to
 * restart the running servers. On a first run the form opens by itself
 * with the problem shown above the keys and the key concerned selected.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "i18n.h"
#include "plat.h"
#include "tls-cert.h"
#include "tui.h"
#include "util.h"

/* Width of the "[section] key" column. */
#define LABEL_COLS 34
/* Rows of help text under the list. */
#define HELP_ROWS 3
/* Rows of the problem text on a first run. */
#define PROBLEM_ROWS 4
/* Rows of the certificate fingerprint line. */
#define FINGERPRINT_ROWS 3

struct form {
	struct settings		*work;		/* what Save writes */
	struct settings		*scratch;	/* for checking typed text */
	const struct config_key	*keys;
	int			 nkeys;
	int			 sel, top;
	int			 editing;
	struct tui_edit		 ed;
	char			 error[I18N_ERROR_MAX];
	const char		*problem;
	int			 problem_key;	/* -1: none */
	int			 dirty;
	/* SHA-256 of the device certificate; empty when unknown. */
	char			 fingerprint[TLS_CERT_FINGERPRINT_MAX];
};

static int
is_secret(const struct config_key *k)
{
	return strcmp(k->name, "client_secret") == 0;
}

static void
key_label(const struct config_key *k, char *buf, size_t cap)
{
	snprintf(buf, cap, "[%s] %s", k->section, k->name);
}

static void
key_value(const struct form *f, const struct config_key *k, char *buf,
    size_t cap)
{
	if (config_get(f->work, k->section, k->name, buf, cap) != EXO_OK)
		buf[0] = '\0';
	if (is_secret(k) && buf[0] != '\0')
		str_copy(buf, _("(set; hidden)"), cap);
	else if (strchr(buf, '@') != NULL && strcmp(k->section,
	    "network") == 0)
		str_copy(buf, _("(contains a password; hidden)"), cap);
}

/*
 * Checks the typed text as the settings file would, and that a file
 * named by a path key exists. Returns 1 when the text is acceptable.
 */
static int
check_typed(struct form *f, char *value, size_t cap)
{
	const struct config_key	*k = &f->keys[f->sel];
	struct exo_error	 err;
	char			 path[PLAT_PATH_MAX];

	f->error[0] = '\0';
	if (tui_from_wide(f->ed.w, value, cap) != EXO_OK) {
		str_copy(f->error, _("The value is too long."),
		    sizeof(f->error));
		return 0;
	}
	*f->scratch = *f->work;
	err_clear(&err);
	if (config_set(f->scratch, k->section, k->name, value, &err) !=
	    EXO_OK || config_check_ready_key(f->scratch, k->section, k->name,
	    &err) != EXO_OK || config_check_ports(f->scratch, &err) !=
	    EXO_OK) {
		i18n_error(&err, f->error, sizeof(f->error));
		return 0;
	}
	if (k->type == CONFIG_PATH && strcmp(k->section, "log") != 0 &&
	    value[0] != '\0' && config_get(f->scratch, k->section, k->name,
	    path, sizeof(path)) == EXO_OK && !plat_file_exists(path)) {
		snprintf(f->error, sizeof(f->error), _("The file %s does not "
		    "exist."), path);
		return 0;
	}
	return 1;
}

static void
draw_problem(struct tui *t, const struct form *f, int *y)
{
	char	text[EXO_ERROR_MSG_MAX + 512];
	char	lines[PROBLEM_ROWS][TUI_LOG_LINE_MAX];
	size_t	n;

	if (f->problem == NULL)
		return;
	snprintf(text, sizeof(text), _("Before exoconnect can sign mailboxes "
	    "in: %s"), f->problem);
	n = tui_wrap(text, t->cols - 2, lines, PROBLEM_ROWS);
	for (size_t i = 0; i < n; i++)
		tui_put(stdscr, (*y)++, 1, t->cols - 1, lines[i],
		    tui_attr(t, TUI_ERROR));
	(*y)++;
}

/*
 * Finds the fingerprint of the device certificate: the one a running
 * server (of this process or of the serve) uses, else that of the
 * certificate file the settings name or the generated one, if any.
 */
static void
find_fingerprint(struct tui *t, struct form *f)
{
	const struct settings	*s = f->work;
	char			 path[PLAT_PATH_MAX];

	f->fingerprint[0] = '\0';
	tui_servers_refresh(t);
	for (int k = 0; k < SERVER_COUNT && f->fingerprint[0] == '\0'; k++)
		str_copy(f->fingerprint, t->servers[k].status.tls_fingerprint,
		    sizeof(f->fingerprint));
	if (f->fingerprint[0] != '\0')
		return;
	if (s->tls.certificate[0] != '\0')
		str_copy(path, s->tls.certificate, sizeof(path));
	else if (plat_path_join(path, s->data_dir, TLS_CERT_FILE_NAME) != 0)
		return;
	if (plat_file_exists(path) &&
	    tls_cert_fingerprint(path, f->fingerprint, NULL) != EXO_OK)
		f->fingerprint[0] = '\0';
}

static void
draw_fingerprint(struct tui *t, const struct form *f, int *y)
{
	char	text[TLS_CERT_FINGERPRINT_MAX + 128];
	char	lines[FINGERPRINT_ROWS][TUI_LOG_LINE_MAX];
	size_t	n;

	if (f->fingerprint[0] == '\0')
		return;
	snprintf(text, sizeof(text), _("Device certificate fingerprint "
	    "(SHA-256): %s"), f->fingerprint);
	n = tui_wrap(text, t->cols - 2, lines, FINGERPRINT_ROWS);
	for (size_t i = 0; i < n; i++)
		tui_put(stdscr, (*y)++, 1, t->cols - 1, lines[i], TUI_PLAIN);
}

static void
draw_row(struct tui *t, struct form *f, int i, int y)
{
	const struct config_key	*k = &f->keys[i];
	char			 label[128], value[CONFIG_TEXT_MAX + 64];
	int			 vw = t->cols - LABEL_COLS - 2;
	int			 attr = TUI_PLAIN;

	if (i == f->problem_key)
		attr = tui_attr(t, TUI_ERROR);
	if (i == f->sel)
		attr = tui_attr(t, TUI_SELECTED);
	key_label(k, label, sizeof(label));
	tui_put(stdscr, y, 0, 1, i == f->sel ? ">" : " ", attr);
	tui_put(stdscr, y, 1, LABEL_COLS, label, attr);
	if (i == f->sel && f->editing) {
		tui_put(stdscr, y, LABEL_COLS + 1, 1, " ", TUI_PLAIN);
		tui_edit_draw(t, stdscr, y, LABEL_COLS + 2, vw, &f->ed,
		    is_secret(k));
		return;
	}
	key_value(f, k, value, sizeof(value));
	tui_put(stdscr, y, LABEL_COLS + 1, vw + 1, value, attr);
}

static void
draw_bottom(struct tui *t, struct form *f)
{
	char		 lines[HELP_ROWS + 1][TUI_LOG_LINE_MAX];
	const char	*text = tr(f->keys[f->sel].help);
	size_t		 n;
	int		 y = t->rows - HELP_ROWS - 3, attr = TUI_PLAIN;

	mvhline(y++, 0, ACS_HLINE, t->cols);
	/* A refused value takes the place of the help, so it is not cut. */
	if (f->error[0] != '\0') {
		text = f->error;
		attr = tui_attr(t, TUI_ERROR);
	}
	n = tui_wrap(text, t->cols - 2, lines, HELP_ROWS + 1);
	for (size_t i = 0; i < HELP_ROWS + 1; i++)
		tui_put(stdscr, y + (int)i, 1, t->cols - 1, i < n ? lines[i] :
		    "", attr);
	y += HELP_ROWS + 1;
	tui_put(stdscr, y, 0, t->cols, f->editing ? _("Enter accepts the "
	    "value, Esc drops it.") : _("Enter changes the value, F2 or "
	    "Ctrl+S saves the file, Esc closes."), tui_attr(t, TUI_KEY));
}

static void
form_draw(struct tui *t, struct form *f)
{
	char	title[PLAT_PATH_MAX + 64];
	int	y = 1, rows;

	getmaxyx(stdscr, t->rows, t->cols);
	erase();
	if (t->rows < TUI_MIN_ROWS || t->cols < TUI_MIN_COLS) {
		tui_draw_main(t);
		return;
	}
	snprintf(title, sizeof(title), _("Settings: %s%s"), f->work->path,
	    f->dirty ? _(" (changed, not saved)") : "");
	tui_put(stdscr, 0, 0, t->cols, title, tui_attr(t, TUI_TITLE));
	draw_problem(t, f, &y);
	draw_fingerprint(t, f, &y);
	rows = t->rows - HELP_ROWS - 3 - y;
	if (f->sel < f->top)
		f->top = f->sel;
	if (f->sel >= f->top + rows)
		f->top = f->sel - rows + 1;
	for (int r = 0; r < rows && f->top + r < f->nkeys; r++)
		draw_row(t, f, f->top + r, y + r);
	draw_bottom(t, f);
	if (f->editing) {
		/* Drawn again last, so the cursor ends in the field. */
		curs_set(1);
		draw_row(t, f, f->sel, y + f->sel - f->top);
	} else
		curs_set(0);
	wnoutrefresh(stdscr);
}

static void
start_edit(struct form *f)
{
	const struct config_key	*k = &f->keys[f->sel];
	char			 value[CONFIG_TEXT_MAX + 64];

	if (k->type == CONFIG_BOOL) {
		/* A yes/no key flips; there is nothing to type. */
		config_get(f->work, k->section, k->name, value, sizeof(value));
		tui_edit_set(&f->ed, strcmp(value, "yes") == 0 ? "no" : "yes");
		if (check_typed(f, value, sizeof(value))) {
			*f->work = *f->scratch;
			f->dirty = 1;
		}
		return;
	}
	if (config_get(f->work, k->section, k->name, value, sizeof(value)) !=
	    EXO_OK)
		value[0] = '\0';
	tui_edit_set(&f->ed, value);
	plat_wipe(value, sizeof(value));
	f->editing = 1;
	f->error[0] = '\0';
}

static void
edit_key(struct form *f, int key, wint_t ch)
{
	const struct config_key	*k = &f->keys[f->sel];
	char			 value[CONFIG_TEXT_MAX + 64];

	if (key == OK && ch == 27) {
		f->editing = 0;
		f->error[0] = '\0';
		return;
	}
	if ((key == OK && (ch == L'\n' || ch == L'\r')) ||
	    (key == KEY_CODE_YES && ch == KEY_ENTER)) {
		if (check_typed(f, value, sizeof(value))) {
			config_set(f->work, k->section, k->name, value, NULL);
			f->editing = 0;
			f->dirty = 1;
			if (f->sel == f->problem_key)
				f->problem_key = -1;
		}
		plat_wipe(value, sizeof(value));
		return;
	}
	if (tui_edit_key(&f->ed, key, ch))
		check_typed(f, value, sizeof(value));
	plat_wipe(value, sizeof(value));
}

/* Saves; offers a restart when servers run. Returns 1 when saved. */
static int
form_save(struct tui *t, struct form *f)
{
	struct exo_error	err;
	int			pending, busy;

	plat_mutex_lock(t->mu);
	busy = t->busy;
	plat_mutex_unlock(t->mu);
	if (busy) {
		tui_message(t, _("Settings not saved"), _("A start or stop is "
		    "under way; save again when it has ended."));
		return 0;
	}
	err_clear(&err);
	if (t->adm->ops->settings_save(t->adm, f->work, &pending, &err) !=
	    EXO_OK) {
		tui_message(t, _("Settings not saved"), i18n_error(&err,
		    f->error, sizeof(f->error)));
		return 0;
	}
	f->dirty = 0;
	tui_apply_language(t);
	f->problem = NULL;
	f->problem_key = -1;
	tui_set_status(t, EV_INFO, _("Saved %s."), f->work->path);
	if (pending && tui_confirm(t, _("Restart the servers"), _("The "
	    "settings are saved. Restart the running servers now so the "
	    "changes take effect? Open sessions get 10 seconds to finish.")))
		tui_servers_restart(t);
	else if (pending)
		tui_set_status(t, EV_WARN, "%s", _("Saved; the changes apply "
		    "when the servers next start."));
	return 1;
}

static void
list_key(struct tui *t, struct form *f, int key, wint_t ch, int *done)
{
	int	page = t->rows / 2;

	if ((key == OK && (ch == L'\n' || ch == L'\r' || ch == L' ')) ||
	    (key == KEY_CODE_YES && ch == KEY_ENTER))
		start_edit(f);
	else if ((key == OK && ch == 19) ||
	    (key == KEY_CODE_YES && ch == KEY_F(2)))
		form_save(t, f);
	else if (key == OK && ch == 27)
		*done = !f->dirty || tui_confirm(t, _("Settings"),
		    _("Close without saving the changes?"));
	else if (key != KEY_CODE_YES)
		return;
	else if (ch == KEY_UP && f->sel > 0)
		f->sel--;
	else if (ch == KEY_DOWN && f->sel + 1 < f->nkeys)
		f->sel++;
	else if (ch == KEY_PPAGE)
		f->sel = f->sel > page ? f->sel - page : 0;
	else if (ch == KEY_NPAGE)
		f->sel = f->sel + page < f->nkeys ? f->sel + page :
		    f->nkeys - 1;
}

/* Selects the key that the problem message names, if any. */
static void
find_problem_key(struct form *f)
{
	size_t	best = 0;

	f->problem_key = -1;
	if (f->problem == NULL)
		return;
	for (int i = 0; i < f->nkeys; i++) {
		size_t len = strlen(f->keys[i].name);

		if (len > best && strstr(f->problem, f->keys[i].name) != NULL) {
			best = len;
			f->problem_key = i;
		}
	}
	if (f->problem_key >= 0)
		f->sel = f->problem_key;
}

void
tui_settings(struct tui *t, const char *problem)
{
	struct form	f;
	wint_t		ch;
	int		key, done = 0;

	memset(&f, 0, sizeof(f));
	f.work = malloc(sizeof(*f.work));
	f.scratch = malloc(sizeof(*f.scratch));
	if (f.work == NULL || f.scratch == NULL)
		goto out;
	t->adm->ops->settings_get(t->adm, f.work);
	f.keys = config_keys();
	while (f.keys[f.nkeys].name != NULL)
		f.nkeys++;
	f.problem = problem;
	find_problem_key(&f);
	find_fingerprint(t, &f);

	while (!done && !t->quit) {
		form_draw(t, &f);
		doupdate();
		key = tui_getkey(t, &ch);
		if (key == ERR || t->rows < TUI_MIN_ROWS ||
		    t->cols < TUI_MIN_COLS)
			continue;
		if (f.editing)
			edit_key(&f, key, ch);
		else
			list_key(t, &f, key, ch, &done);
	}
	curs_set(0);
	clear();
out:
	if (f.work != NULL)
		plat_wipe(f.work, sizeof(*f.work));
	if (f.scratch != NULL)
		plat_wipe(f.scratch, sizeof(*f.scratch));
	plat_wipe(&f.ed, sizeof(f.ed));
	free(f.work);
	free(f.scratch);
}
