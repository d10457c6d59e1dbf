/*
 * tui-log.c: the log pane and the full log view. An event subscriber
 * renders each event in the screen's language into a ring of
 * TUI_LOG_LINES lines; the log file itself stays in English.
 */
#include <curses.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "i18n.h"
#include "plat.h"
#include "tui.h"
#include "util.h"

/*
 * Writes the mark of p into out (see struct tui_log_line), so a message
 * id or an error renders translated again after a change of language.
 */
static void
source_mark(const struct ev_param *p, char *out, size_t cap)
{
	out[0] = '\0';
	if (p->flags & EV_PARAM_MSGID)
		str_copy(out, "m", cap);
	else if (p->error != NULL) {
		out[0] = 'e';
		err_layout_write(p->error, out + 1, cap - 1);
	}
}

/* Copies the template and parameters of ev into one allocation. */
static char *
source_new(const struct ev *ev)
{
	size_t	len = strlen(ev->text) + 1, at;
	char	*src, mark[ERR_LAYOUT_MAX + 1];

	for (int i = 0; i < ev->nparams; i++) {
		source_mark(&ev->params[i], mark, sizeof(mark));
		len += strlen(ev->params[i].name) + 1 +
		    strlen(ev->params[i].value) + 1 + strlen(mark) + 1;
	}
	if ((src = malloc(len)) == NULL)
		return NULL;
	at = str_copy(src, ev->text, len) + 1;
	for (int i = 0; i < ev->nparams; i++) {
		source_mark(&ev->params[i], mark, sizeof(mark));
		at += str_copy(src + at, ev->params[i].name, len - at) + 1;
		at += str_copy(src + at, ev->params[i].value, len - at) + 1;
		at += str_copy(src + at, mark, len - at) + 1;
	}
	return src;
}

/*
 * Points ev's parameters at the source after its template, restoring
 * message ids, and errors into errs (NULL: errors stay English).
 */
static void
source_params(struct ev *ev, const char *p, struct exo_error *errs)
{
	for (int k = 0; k < ev->nparams; k++) {
		p += strlen(p) + 1;
		ev->params[k].name = p;
		p += strlen(p) + 1;
		ev->params[k].value = p;
		p += strlen(p) + 1;
		if (p[0] == 'm')
			ev->params[k].flags = EV_PARAM_MSGID;
		else if (p[0] == 'e' && errs != NULL) {
			err_set(&errs[k], EXO_ERR_IO, "%s",
			    ev->params[k].value);
			err_layout_read(&errs[k], p + 1, i18n_msgid);
			ev->params[k].error = &errs[k];
		}
	}
}

/* Renders line->text from its source in the current language. */
static void
line_render(struct tui_log_line *line, const struct ev *ev)
{
	char	when[32];
	size_t	n;

	plat_format_time(ev->time, when);
	/* "17:40:02 " from "2026-12-04T17:40:02Z". */
	memcpy(line->text, when + 11, 8);
	line->text[8] = ' ';
	n = ev_render_translated(ev, i18n_translate, NULL, line->text + 9,
	    sizeof(line->text) - 9);
	line->text[9 + n] = '\0';
}

/* Runs on the emitting thread, one event at a time. */
static void
tui_log_event(const struct ev *ev, void *ctx)
{
	struct tui_log		*lg = ctx;
	struct tui_log_line	*line;

	if (ev->level < EV_INFO)
		return;
	plat_mutex_lock(lg->mu);
	if (lg->count == TUI_LOG_LINES) {
		line = &lg->lines[lg->first];
		lg->first = (lg->first + 1) % TUI_LOG_LINES;
	} else
		line = &lg->lines[(lg->first + lg->count++) % TUI_LOG_LINES];
	free(line->source);
	line->level = ev->level;
	line->source = source_new(ev);
	line->nparams = ev->nparams;
	line->time = ev->time;
	line_render(line, ev);
	lg->added++;
	plat_mutex_unlock(lg->mu);
}

void
tui_log_rerender(struct tui *t)
{
	struct tui_log		*lg = &t->log;
	struct tui_log_line	*line;
	struct ev		 ev;
	struct exo_error	*errs;

	if (lg->mu == NULL)
		return;
	errs = malloc(EV_MAX_PARAMS * sizeof(*errs));
	plat_mutex_lock(lg->mu);
	for (size_t i = 0; i < lg->count; i++) {
		line = &lg->lines[(lg->first + i) % TUI_LOG_LINES];
		if (line->source == NULL)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.level = line->level;
		ev.time = line->time;
		ev.id = "";
		ev.text = line->source;
		ev.nparams = line->nparams;
		source_params(&ev, line->source, errs);
		line_render(line, &ev);
	}
	plat_mutex_unlock(lg->mu);
	free(errs);
}

int
tui_log_open(struct tui *t)
{
	struct tui_log	*lg = &t->log;

	lg->handle = -1;
	lg->lines = calloc(TUI_LOG_LINES, sizeof(*lg->lines));
	lg->mu = plat_mutex_new();
	if (lg->lines == NULL || lg->mu == NULL)
		return EXO_ERR_NOMEM;
	lg->handle = t->adm->ops->subscribe(t->adm, tui_log_event, lg);
	return lg->handle < 0 ? EXO_ERR_NOMEM : EXO_OK;
}

/* Ends the subscription; call before the admin quits. */
void
tui_log_close(struct tui *t)
{
	struct tui_log	*lg = &t->log;

	if (lg->mu != NULL && lg->handle >= 0)
		t->adm->ops->unsubscribe(t->adm, lg->handle);
	for (size_t i = 0; lg->lines != NULL && i < TUI_LOG_LINES; i++)
		free(lg->lines[i].source);
	free(lg->lines);
	if (lg->mu != NULL)
		plat_mutex_free(lg->mu);
	memset(lg, 0, sizeof(*lg));
}

static long
log_count(struct tui_log *lg)
{
	long	n;

	plat_mutex_lock(lg->mu);
	n = (long)lg->count;
	plat_mutex_unlock(lg->mu);
	return n;
}

/* Copies line i (0 is the oldest) with lg->mu held. */
static void
log_line(struct tui_log *lg, size_t i, struct tui_log_line *out)
{
	*out = lg->lines[(lg->first + i) % TUI_LOG_LINES];
}

void
tui_log_draw(struct tui *t, int y, int h)
{
	struct tui_log		*lg = &t->log;
	struct tui_log_line	 line;
	size_t			 count, from;

	plat_mutex_lock(lg->mu);
	count = lg->count;
	from = count > (size_t)h ? count - (size_t)h : 0;
	for (int r = 0; r < h; r++) {
		if (from + (size_t)r >= count) {
			tui_put(stdscr, y + r, 0, t->cols, "", TUI_PLAIN);
			continue;
		}
		log_line(lg, from + (size_t)r, &line);
		tui_put(stdscr, y + r, 0, t->cols, line.text,
		    tui_level_attr(t, line.level));
	}
	plat_mutex_unlock(lg->mu);
}

/* Finds the next line at or before (back) or after start containing q. */
static long
log_search(struct tui *t, const char *q, long start, int back)
{
	struct tui_log		*lg = &t->log;
	struct tui_log_line	 line;
	long			 found = -1;

	plat_mutex_lock(lg->mu);
	for (long i = start; i >= 0 && i < (long)lg->count;
	    i += back ? -1 : 1) {
		log_line(lg, (size_t)i, &line);
		if (strstr(line.text, q) != NULL) {
			found = i;
			break;
		}
	}
	plat_mutex_unlock(lg->mu);
	return found;
}

/* Rows a log line takes at most in the log view. */
#define VIEW_WRAP_MAX 16
/* Columns of the time in front of each line: "17:40:02 ". */
#define VIEW_TIME_COLS 9
/* Rows of the log view's title at most. */
#define VIEW_TITLE_MAX 3

/* Wraps the text after the time of line; returns the rows, at least 1. */
static size_t
view_wrap(struct tui *t, const struct tui_log_line *line,
    char rows[][TUI_LOG_LINE_MAX])
{
	size_t	n;

	n = tui_wrap(line->text + VIEW_TIME_COLS, t->cols - VIEW_TIME_COLS,
	    rows, VIEW_WRAP_MAX);
	if (n == 0)
		rows[n++][0] = '\0';
	return n;
}

/* Draws the title, wrapped; returns the rows it took. */
static int
view_title(struct tui *t)
{
	char	title[256], rows[VIEW_TITLE_MAX][TUI_LOG_LINE_MAX];
	size_t	n;

	snprintf(title, sizeof(title), _("Log: %ld lines; arrows and Page "
	    "Up/Down scroll, / searches, n finds the next, Esc returns"),
	    log_count(&t->log));
	n = tui_wrap(title, t->cols, rows, VIEW_TITLE_MAX);
	for (size_t i = 0; i < n; i++)
		tui_put(stdscr, (int)i, 0, t->cols, rows[i],
		    tui_attr(t, TUI_TITLE));
	return n > 0 ? (int)n : 1;
}

/*
 * Draws the log lines from top, each wrapped below its time, as many as
 * fit; returns the number of lines drawn.
 */
static long
log_view_draw(struct tui *t, long top, long hit, const char *query)
{
	char			 rows[VIEW_WRAP_MAX][TUI_LOG_LINE_MAX];
	struct tui_log		*lg = &t->log;
	struct tui_log_line	 line;
	char			 text[256], when[VIEW_TIME_COLS + 1];
	int			 y, attr;
	long			 i;
	size_t			 n;

	erase();
	y = view_title(t);
	plat_mutex_lock(lg->mu);
	for (i = top; i < (long)lg->count && y < t->rows - 1; i++) {
		log_line(lg, (size_t)i, &line);
		attr = i == hit ? tui_attr(t, TUI_SELECTED) :
		    tui_level_attr(t, line.level);
		memcpy(when, line.text, VIEW_TIME_COLS);
		when[VIEW_TIME_COLS] = '\0';
		tui_put(stdscr, y, 0, VIEW_TIME_COLS, when, attr);
		n = view_wrap(t, &line, rows);
		for (size_t r = 0; r < n && y < t->rows - 1; r++)
			tui_put(stdscr, y++, VIEW_TIME_COLS, t->cols -
			    VIEW_TIME_COLS, rows[r], attr);
	}
	plat_mutex_unlock(lg->mu);
	if (query[0] != '\0') {
		snprintf(text, sizeof(text), hit >= 0 ? _("Search: %s") :
		    _("Search: %s (not found)"), query);
		tui_put(stdscr, t->rows - 1, 0, t->cols, text,
		    tui_attr(t, TUI_KEY));
	} else
		tui_put(stdscr, t->rows - 1, 0, t->cols, "",
		    tui_attr(t, TUI_KEY));
	refresh();
	return i - top;
}

/*
 * Keeps top between the first line and the first line of the last
 * screenful, counted in wrapped rows below a title of title_rows.
 */
static long
clamp_top(struct tui *t, long top, int title_rows)
{
	char			 rows[VIEW_WRAP_MAX][TUI_LOG_LINE_MAX];
	struct tui_log		*lg = &t->log;
	struct tui_log_line	 line;
	long			 max;
	int			 used = 0, h = t->rows - 1 - title_rows;

	plat_mutex_lock(lg->mu);
	for (max = (long)lg->count; max > 0; max--) {
		log_line(lg, (size_t)(max - 1), &line);
		used += (int)view_wrap(t, &line, rows);
		if (used > h)
			break;
	}
	plat_mutex_unlock(lg->mu);
	if (top > max)
		top = max;
	return top < 0 ? 0 : top;
}

void
tui_log_view(struct tui *t)
{
	char	query[TUI_INPUT_MAX] = "";
	long	top = log_count(&t->log), hit = -1, shown = 1;
	wint_t	ch;
	int	key;

	for (;;) {
		erase();
		top = clamp_top(t, top, view_title(t));
		shown = log_view_draw(t, top, hit, query);
		if (shown < 1)
			shown = 1;
		key = tui_getkey(t, &ch);
		if (key == ERR)
			continue;
		if (key == OK && (ch == 27 || ch == L'q'))
			break;
		if (key == OK && (ch == L'/' || ch == L'n')) {
			if (ch == L'/' && !tui_input(t, _("Search the log"),
			    _("Text to find:"), query, sizeof(query), 0))
				continue;
			if (query[0] == '\0')
				continue;
			hit = log_search(t, query, hit >= 0 ? hit + 1 : top,
			    0);
			if (hit < 0)
				hit = log_search(t, query, 0, 0);
			if (hit >= 0)
				top = hit;
			continue;
		}
		if (key != KEY_CODE_YES)
			continue;
		if (ch == KEY_UP)
			top--;
		else if (ch == KEY_DOWN)
			top++;
		else if (ch == KEY_PPAGE)
			top -= shown;
		else if (ch == KEY_NPAGE)
			top += shown;
		else if (ch == KEY_HOME)
			top = 0;
		else if (ch == KEY_END)
			top = log_count(&t->log);
	}
	clear();
}
