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

/* Column widths of the servers pane. */
#define COL_NAME 6
#define COL_STATE 10
#define COL_ADDRESS 19
#define COL_TLS 8
#define COL_COUNT 10

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
 * POP3), "TLS:995" for an implicit TLS port, or "STLS+TLS" for both.
 * A "!" marks legacy_tls, which the wide layout also explains.
 */
static void
tls_mode(const struct admin_server *s, char *buf, size_t cap)
{
	const char	*mark = s->legacy_tls ? "!" : "";

	if (s->starttls && s->tls_port != 0)
		snprintf(buf, cap, "STLS+TLS%s", mark);
	else if (s->starttls)
		snprintf(buf, cap, "STLS%s", mark);
	else if (s->tls_port != 0)
		snprintf(buf, cap, "TLS:%u%s", s->tls_port, mark);
	else
		snprintf(buf, cap, "%s", _("plain"));
}

static void
draw_server(struct tui *t, int y, enum server_kind kind)
{
	const struct admin_server	*s = &t->servers[kind];
	char				 text[PLAT_ADDR_MAX + 32];
	const char			*state;
	int				 x = 0;

	state = s->enabled || s->status.state != SERVER_STOPPED ?
	    tr(server_state_name(s->status.state)) : _("disabled");
	x = put_col(y, x, COL_NAME, server_kind_name(kind), A_BOLD);
	x = put_col(y, x, COL_STATE, state, state_attr(t, s->status.state));
	if (s->status.state == SERVER_FAILED) {
		tui_put(stdscr, y, x, t->cols - x, s->status.last_error,
		    tui_attr(t, TUI_ERROR));
		return;
	}
	snprintf(text, sizeof(text), strchr(s->status.listen, ':') != NULL ?
	    "[%s]:%u" : "%s:%u", s->status.listen, s->status.port);
	x = put_col(y, x, COL_ADDRESS, text, TUI_PLAIN);
	tls_mode(s, text, sizeof(text));
	x = put_col(y, x, COL_TLS, text, s->legacy_tls ?
	    tui_attr(t, TUI_WARN) : TUI_PLAIN);
	snprintf(text, sizeof(text), "%ld", s->active);
	x = put_col(y, x, COL_COUNT, text, TUI_PLAIN);
	snprintf(text, sizeof(text), "%ld", s->sessions);
	x = put_col(y, x, COL_COUNT, text, TUI_PLAIN);
	snprintf(text, sizeof(text), "%ld", s->messages);
	x = put_col(y, x, COL_COUNT, text, TUI_PLAIN);
	if (t->cols - x < 12)
		return;
	if (s->status.last_error[0] != '\0')
		tui_put(stdscr, y, x, t->cols - x, s->status.last_error,
		    tui_attr(t, TUI_WARN));
	else if (s->legacy_tls)
		tui_put(stdscr, y, x, t->cols - x, _("TLS 1.0 and 1.1 are on "
		    "for old devices (legacy_tls); turn them off when no "
		    "device needs them"), tui_attr(t, TUI_WARN));
}

void
tui_servers_draw(struct tui *t, int y)
{
	int	x = 0, a = A_BOLD;

	x = put_col(y, x, COL_NAME, _("Server"), a);
	x = put_col(y, x, COL_STATE, _("State"), a);
	x = put_col(y, x, COL_ADDRESS, _("Address"), a);
	x = put_col(y, x, COL_TLS, _("TLS"), a);
	x = put_col(y, x, COL_COUNT, _("Active"), a);
	x = put_col(y, x, COL_COUNT, _("Sessions"), a);
	x = put_col(y, x, COL_COUNT, _("Messages"), a);
	/* At 80 columns the error has no column; a failed row shows it. */
	if (t->cols - x >= 12)
		tui_put(stdscr, y, x, t->cols - x, _("Last error"), a);
	for (int k = 0; k < SERVER_COUNT; k++)
		draw_server(t, y + 1 + k, (enum server_kind)k);
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

/* Shows a failure in the status line and, from the main loop, a dialog. */
static void
job_alert(struct tui *t, const char *what, const char *why)
{
	tui_set_status(t, EV_ERROR, "%s %s", what, why);
	plat_mutex_lock(t->mu);
	/* A cut message still names what failed. */
	if (snprintf(t->alert, sizeof(t->alert), "%s\n\n%s", what, why) < 0)
		t->alert[0] = '\0';
	plat_mutex_unlock(t->mu);
}

static void
job_start_one(struct server_job *j, enum server_kind kind)
{
	struct exo_error	err;
	char			text[128];

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
	job_alert(j->t, text, err.msg);
}

static void
job_main(void *arg)
{
	struct server_job	*j = arg;
	struct exo_error	 err;
	char			 text[128];

	if (j->op == JOB_RESUME) {
		err_clear(&err);
		job_busy(j->t, 0, _("Starting the servers that ran at the "
		    "last quit..."));
		if (j->t->adm->ops->resume(j->t->adm, &err) != EXO_OK)
			tui_set_status(j->t, EV_ERROR, "%s", err.msg);
	}
	if (j->op == JOB_RESTART) {
		err_clear(&err);
		job_busy(j->t, 0, _("Restarting the servers with the new "
		    "settings; open sessions get 10 seconds to finish..."));
		if (j->t->adm->ops->settings_restart(j->t->adm, &err) !=
		    EXO_OK)
			job_alert(j->t, _("The servers could not restart:"),
			    err.msg);
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
