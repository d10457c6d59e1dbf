/*
 * tui-servers.c: the servers pane and the Start and Stop keys. Starting
 * and stopping run in a worker thread, since a stop gives open sessions
 * SERVICE_GRACE_SECONDS to end. The status line shows what is under way
 * and a failure opens a dialog with the fix.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "plat.h"
#include "tui.h"
#include "util.h"

/* Columns of the servers pane: name, state, address, TLS, counters. */
enum server_col {
	COL_NAME,
	COL_STATE,
	COL_ADDRESS,
	COL_TLS,
	COL_ACTIVE,
	COL_SESSIONS,
	COL_MESSAGES,
	COL_COUNT
};

/* Maximum length of one cell, in bytes. */
#define CELL_MAX (PLAT_ADDR_MAX + 32)
/* Narrowest "Last error" column worth drawing, in columns. */
#define LAST_ERROR_MIN 12

/* The cells of both rows and the column widths they need. */
struct server_grid {
	char	cell[SERVER_COUNT][COL_COUNT][CELL_MAX];
	int	width[COL_COUNT];
};

enum server_job_op {
	JOB_START,
	JOB_STOP,
	JOB_RESUME,
	JOB_RESTART,
};

struct server_job {
	struct tui		*t;
	enum server_job_op	 op;
	int			 which[SERVER_COUNT];
};

void
tui_servers_refresh(struct tui *t)
{
	for (int k = 0; k < SERVER_COUNT; k++)
		t->adm->ops->server_info(t->adm, (enum server_kind)k,
		    &t->servers[k]);
}

static int
state_attr(struct tui *t, enum server_state st)
{
	if (st == SERVER_RUNNING)
		return tui_attr(t, TUI_OK);
	if (st == SERVER_FAILED)
		return tui_attr(t, TUI_ERROR);
	if (st == SERVER_STARTING)
		return tui_attr(t, TUI_WARN);
	return TUI_PLAIN;
}

/* Column headings, in enum server_col order. */
static const char *const col_headings[COL_COUNT] = {
	N_("Server"), N_("State"), N_("Address"), N_("TLS"), N_("Active"),
	N_("Sessions"), N_("Messages"),
};

/* Draws text in a column of w and a space; returns the next column. */
static int
put_col(int y, int x, int w, const char *text, int attr)
{
	tui_put(stdscr, y, x, w, text, attr);
	tui_put(stdscr, y, x + w, 1, "", TUI_PLAIN);
	return x + w + 1;
}

/*
 * Names the device-side TLS: "plain", "STLS" for STARTTLS (STLS in
 * POP3), "TLS:995" for an implicit TLS port, or "STLS+TLS:995" for both.
 * A "!" marks legacy_tls.
 */
static void
tls_mode(const struct admin_server *s, char *buf, size_t cap)
{
	const char	*mark = s->legacy_tls ? "!" : "";

	if (s->starttls && s->tls_port != 0)
		snprintf(buf, cap, "STLS+TLS:%u%s", s->tls_port, mark);
	else if (s->starttls)
		snprintf(buf, cap, "STLS%s", mark);
	else if (s->tls_port != 0)
		snprintf(buf, cap, "TLS:%u%s", s->tls_port, mark);
	else
		snprintf(buf, cap, "%s", _("plain"));
}

static const char *
state_text(const struct admin_server *s)
{
	if (!s->enabled && s->status.state == SERVER_STOPPED)
		return _("disabled");
	return tr(server_state_name(s->status.state));
}

static void
grid_fill(struct tui *t, struct server_grid *g)
{
	for (int k = 0; k < SERVER_COUNT; k++) {
		const struct admin_server	*s = &t->servers[k];
		char				(*c)[CELL_MAX] = g->cell[k];

		str_copy(c[COL_NAME], server_kind_name((enum server_kind)k),
		    CELL_MAX);
		str_copy(c[COL_STATE], state_text(s), CELL_MAX);
		snprintf(c[COL_ADDRESS], CELL_MAX, strchr(s->status.listen,
		    ':') != NULL ? "[%s]:%u" : "%s:%u", s->status.listen,
		    s->status.port);
		tls_mode(s, c[COL_TLS], CELL_MAX);
		snprintf(c[COL_ACTIVE], CELL_MAX, "%ld", s->active);
		snprintf(c[COL_SESSIONS], CELL_MAX, "%ld", s->sessions);
		snprintf(c[COL_MESSAGES], CELL_MAX, "%ld", s->messages);
	}
}

/*
 * Takes up to *excess columns from the columns in shrink order, each
 * down to floor[c] at the least.
 */
static void
grid_shrink(struct server_grid *g, const int floor[], int *excess)
{
	static const enum server_col shrink[] = { COL_MESSAGES,
	    COL_SESSIONS, COL_ACTIVE, COL_STATE, COL_NAME, COL_TLS,
	    COL_ADDRESS };
	int	take;

	for (size_t i = 0; i < sizeof(shrink) / sizeof(shrink[0]); i++) {
		take = g->width[shrink[i]] - floor[shrink[i]];
		if (take > *excess)
			take = *excess;
		if (take <= 0)
			continue;
		g->width[shrink[i]] -= take;
		*excess -= take;
	}
}

/*
 * Sizes each column to its widest cell and heading, and at least as the
 * 80-column layout has it, so the columns stay put while states change.
 * When that is wider than the terminal, the spare columns go first, then
 * the ends of the headings, and the address last, so that a port or a
 * count is cut only when nothing else is left.
 */
static void
grid_size(struct tui *t, struct server_grid *g)
{
	static const int	 least[COL_COUNT] = { 6, 10, 19, 8, 10, 10, 10 };
	int			 content[COL_COUNT], fitted[COL_COUNT];
	int			 one[COL_COUNT], w, excess = -t->cols;

	for (int c = 0; c < COL_COUNT; c++) {
		content[c] = 1;
		for (int k = 0; k < SERVER_COUNT; k++) {
			/* A failed row shows its error past the state. */
			if (c > COL_STATE && t->servers[k].status.state ==
			    SERVER_FAILED)
				continue;
			if ((w = tui_width(g->cell[k][c])) > content[c])
				content[c] = w;
		}
		fitted[c] = tui_width(tr(col_headings[c]));
		if (content[c] > fitted[c])
			fitted[c] = content[c];
		g->width[c] = fitted[c] > least[c] ? fitted[c] : least[c];
		one[c] = 1;
		excess += g->width[c] + 1;
	}
	grid_shrink(g, fitted, &excess);
	grid_shrink(g, content, &excess);
	grid_shrink(g, one, &excess);
}

static void
draw_server(struct tui *t, const struct server_grid *g, int y,
    enum server_kind kind)
{
	const struct admin_server	*s = &t->servers[kind];
	char				 why[I18N_ERROR_MAX];
	int				 x = 0, attr;

	for (int c = 0; c < COL_COUNT; c++) {
		attr = TUI_PLAIN;
		if (c == COL_NAME)
			attr = A_BOLD;
		else if (c == COL_STATE)
			attr = state_attr(t, s->status.state);
		else if (c == COL_TLS && s->legacy_tls)
			attr = tui_attr(t, TUI_WARN);
		x = put_col(y, x, g->width[c], g->cell[kind][c], attr);
		if (c == COL_STATE && s->status.state == SERVER_FAILED) {
			tui_put(stdscr, y, x, t->cols - x, i18n_error(
			    &s->status.last_error, why, sizeof(why)),
			    tui_attr(t, TUI_ERROR));
			return;
		}
	}
	if (t->cols - x >= LAST_ERROR_MIN &&
	    s->status.last_error.msg[0] != '\0')
		tui_put(stdscr, y, x, t->cols - x, i18n_error(
		    &s->status.last_error, why, sizeof(why)),
		    tui_attr(t, TUI_WARN));
}

void
tui_servers_draw(struct tui *t, int y)
{
	struct server_grid	*g;
	int			 x = 0;

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return;
	grid_fill(t, g);
	grid_size(t, g);
	for (int c = 0; c < COL_COUNT; c++)
		x = put_col(y, x, g->width[c], tr(col_headings[c]), A_BOLD);
	/* At 80 columns the error has no column; a failed row shows it. */
	if (t->cols - x >= LAST_ERROR_MIN)
		tui_put(stdscr, y, x, t->cols - x, _("Last error"), A_BOLD);
	for (int k = 0; k < SERVER_COUNT; k++)
		draw_server(t, g, y + 1 + k, (enum server_kind)k);
	free(g);
}

static void
job_busy(struct tui *t, int delta, const char *text)
{
	plat_mutex_lock(t->mu);
	t->busy += delta;
	if (text != NULL)
		str_copy(t->busy_text, text, sizeof(t->busy_text));
	plat_mutex_unlock(t->mu);
}

/*
 * Shows a failure in the status line and, from the main loop, a dialog.
 * A failure that the dialog has not shown yet stays above this one.
 */
static void
job_alert(struct tui *t, const char *what, const char *why)
{
	size_t	len;

	tui_set_status(t, EV_ERROR, "%s %s", what, why);
	plat_mutex_lock(t->mu);
	len = strlen(t->alert);
	/* A cut message still names what failed. */
	if (snprintf(t->alert + len, sizeof(t->alert) - len, "%s%s\n\n%s",
	    len > 0 ? "\n\n" : "", what, why) < 0)
		t->alert[len] = '\0';
	plat_mutex_unlock(t->mu);
}

/*
 * Reports a restart that failed: each server that failed to start with
 * its reason, or err when none shows a failure.
 */
static void
job_restart_failed(struct tui *t, const struct exo_error *err)
{
	struct admin_server	s;
	char			text[128], why[I18N_ERROR_MAX];
	int			shown = 0;

	for (int k = 0; k < SERVER_COUNT; k++) {
		t->adm->ops->server_info(t->adm, (enum server_kind)k, &s);
		if (s.status.state != SERVER_FAILED)
			continue;
		snprintf(text, sizeof(text), _("The %s server could not "
		    "start:"), server_kind_name((enum server_kind)k));
		job_alert(t, text, i18n_error(&s.status.last_error, why,
		    sizeof(why)));
		shown = 1;
	}
	if (!shown)
		job_alert(t, _("The servers could not restart:"),
		    i18n_error(err, why, sizeof(why)));
}

static void
job_start_one(struct server_job *j, enum server_kind kind)
{
	struct exo_error	err;
	char			text[128], why[I18N_ERROR_MAX];

	snprintf(text, sizeof(text), _("Starting the %s server..."),
	    server_kind_name(kind));
	job_busy(j->t, 0, text);
	err_clear(&err);
	if (j->t->adm->ops->server_start(j->t->adm, kind, &err) == EXO_OK) {
		tui_set_status(j->t, EV_INFO, _("The %s server is running."),
		    server_kind_name(kind));
		return;
	}
	snprintf(text, sizeof(text), _("The %s server could not start:"),
	    server_kind_name(kind));
	job_alert(j->t, text, i18n_error(&err, why, sizeof(why)));
}

static void
job_main(void *arg)
{
	struct server_job	*j = arg;
	struct exo_error	 err;
	char			 text[128], why[I18N_ERROR_MAX];

	if (j->op == JOB_RESUME) {
		err_clear(&err);
		job_busy(j->t, 0, _("Starting the servers that ran at the "
		    "last quit..."));
		if (j->t->adm->ops->resume(j->t->adm, &err) != EXO_OK)
			tui_set_status(j->t, EV_ERROR, "%s", i18n_error(&err,
			    why, sizeof(why)));
	}
	if (j->op == JOB_RESTART) {
		err_clear(&err);
		job_busy(j->t, 0, _("Restarting the servers with the new "
		    "settings; open sessions get 10 seconds to finish..."));
		if (j->t->adm->ops->settings_restart(j->t->adm, &err) !=
		    EXO_OK)
			job_restart_failed(j->t, &err);
		else
			tui_set_status(j->t, EV_INFO, "%s", _("The servers "
			    "restarted with the new settings."));
	}
	for (int k = 0; j->op == JOB_START && k < SERVER_COUNT; k++)
		if (j->which[k])
			job_start_one(j, (enum server_kind)k);
	for (int k = 0; j->op == JOB_STOP && k < SERVER_COUNT; k++) {
		if (!j->which[k])
			continue;
		snprintf(text, sizeof(text), _("Stopping the %s server; open "
		    "sessions get 10 seconds to finish..."),
		    server_kind_name((enum server_kind)k));
		job_busy(j->t, 0, text);
		j->t->adm->ops->server_stop(j->t->adm, (enum server_kind)k);
		tui_set_status(j->t, EV_INFO, _("The %s server stopped."),
		    server_kind_name((enum server_kind)k));
	}
	job_busy(j->t, -1, NULL);
	free(j);
}

static void
job_spawn(struct tui *t, enum server_job_op op, const int which[])
{
	struct server_job	*j = calloc(1, sizeof(*j));

	if (j == NULL)
		return;
	j->t = t;
	j->op = op;
	for (int k = 0; which != NULL && k < SERVER_COUNT; k++)
		j->which[k] = which[k];
	job_busy(t, 1, _("Working..."));
	if (plat_thread_start(job_main, j, 0) != EXO_OK) {
		job_busy(t, -1, NULL);
		tui_set_status(t, EV_ERROR, "%s", _("Could not start a "
		    "thread."));
		free(j);
	}
}

/* Asks which servers; fills which[] and returns 0 on Esc. */
static int
choose_servers(struct tui *t, const char *title, int which[])
{
	const char	*items[3];
	int		 c;

	items[0] = _("Both servers");
	items[1] = "POP3";
	items[2] = "SMTP";
	c = tui_choose(t, title, _("Which server?"), items, 3);
	if (c < 0)
		return 0;
	which[SERVER_POP3] = c == 0 || c == 1;
	which[SERVER_SMTP] = c == 0 || c == 2;
	return 1;
}

static int
is_busy(struct tui *t)
{
	int	busy;

	plat_mutex_lock(t->mu);
	busy = t->busy;
	plat_mutex_unlock(t->mu);
	if (busy)
		tui_message(t, _("Busy"), _("A start or stop is under way; "
		    "wait until it ends."));
	return busy;
}

void
tui_server_start(struct tui *t)
{
	int	which[SERVER_COUNT];

	if (is_busy(t) || !choose_servers(t, _("Start"), which))
		return;
	for (int k = 0; k < SERVER_COUNT; k++)
		if (t->servers[k].status.state == SERVER_RUNNING)
			which[k] = 0;
	job_spawn(t, JOB_START, which);
}

void
tui_server_stop(struct tui *t)
{
	int	which[SERVER_COUNT];

	if (is_busy(t) || !choose_servers(t, _("Stop"), which))
		return;
	job_spawn(t, JOB_STOP, which);
}

void
tui_servers_resume(struct tui *t)
{
	job_spawn(t, JOB_RESUME, NULL);
}

void
tui_servers_restart(struct tui *t)
{
	job_spawn(t, JOB_RESTART, NULL);
}

/* Waits until no start or stop job runs, before quitting. */
void
tui_servers_wait(struct tui *t)
{
	for (;;) {
		plat_mutex_lock(t->mu);
		if (t->busy == 0) {
			plat_mutex_unlock(t->mu);
			return;
		}
		plat_mutex_unlock(t->mu);
		plat_sleep_ms(100);
	}
}
