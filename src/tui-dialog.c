/*
 * tui-dialog.c: the dialogs every screen action uses: a message, a
 * yes/no question, a one-line input field and a list to choose from.
 * Each runs its own loop that redraws the main screen underneath every
 * TUI_TICK_MS, so counters and the log stay live while a dialog is open.
 * Esc cancels every dialog.
 */
#include <curses.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "i18n.h"
#include "tui.h"
#include "util.h"

/* Lines of wrapped text a dialog shows at most. */
#define DIALOG_LINES_MAX 40
/* Widest dialog, in columns. */
#define DIALOG_WIDTH_MAX 100

/* Creates a window of h rows and w columns in the middle, with a frame. */
void *
tui_box(struct tui *t, int h, int w, const char *title)
{
	WINDOW	*win;
	char	 head[256];

	if (w > t->cols - 2)
		w = t->cols - 2;
	if (h > t->rows - 2)
		h = t->rows - 2;
	win = newwin(h, w, (t->rows - h) / 2, (t->cols - w) / 2);
	if (win == NULL)
		return NULL;
	keypad(win, TRUE);
	wbkgd(win, (chtype)tui_attr(t, TUI_DIALOG));
	werase(win);
	box(win, 0, 0);
	snprintf(head, sizeof(head), " %s ", title);
	tui_put(win, 0, 2, tui_width(head) < w - 4 ? tui_width(head) : w - 4,
	    head, A_BOLD);
	return win;
}

void
tui_box_free(void *win)
{
	if (win != NULL)
		delwin(win);
}

static int
dialog_width(struct tui *t)
{
	int	w = t->cols - 6;

	return w > DIALOG_WIDTH_MAX ? DIALOG_WIDTH_MAX : w;
}

/* Draws the wrapped text from row 1; returns the next free row. */
static int
draw_text(void *win, char (*lines)[TUI_LOG_LINE_MAX], size_t n, int w)
{
	for (size_t i = 0; i < n; i++)
		tui_put(win, 1 + (int)i, 2, w - 4, lines[i], TUI_PLAIN);
	return 1 + (int)n;
}

static size_t
wrap_alloc(const char *text, int width, char (**lines)[TUI_LOG_LINE_MAX])
{
	*lines = calloc(DIALOG_LINES_MAX, TUI_LOG_LINE_MAX);
	if (*lines == NULL)
		return 0;
	return tui_wrap(text, width, *lines, DIALOG_LINES_MAX);
}

/* Shows the dialog, then waits one tick for a key. */
static int
dialog_tick(struct tui *t, void *win, wint_t *ch)
{
	wnoutrefresh(win);
	doupdate();
	return tui_getkey(t, ch);
}

void
tui_message(struct tui *t, const char *title, const char *text)
{
	char	(*lines)[TUI_LOG_LINE_MAX];
	size_t	 n;
	void	*win;
	wint_t	 ch;
	int	 w, key, row;

	for (;;) {
		w = dialog_width(t);
		n = wrap_alloc(text, w - 4, &lines);
		tui_draw_main(t);
		win = tui_box(t, (int)n + 4, w, title);
		if (win != NULL) {
			row = draw_text(win, lines, n, w);
			tui_put(win, row + 1, 2, w - 4,
			    _("Press Enter to close."), A_BOLD);
			key = dialog_tick(t, win, &ch);
		} else
			key = tui_getkey(t, &ch);
		tui_box_free(win);
		free(lines);
		if (key == OK && (ch == L'\n' || ch == L'\r' || ch == 27 ||
		    ch == L' '))
			return;
		if (key == KEY_CODE_YES && ch == KEY_ENTER)
			return;
	}
}

int
tui_confirm(struct tui *t, const char *title, const char *text)
{
	char	(*lines)[TUI_LOG_LINE_MAX];
	size_t	 n;
	void	*win;
	wint_t	 ch;
	int	 w, key, row, yes = 0;

	for (;;) {
		w = dialog_width(t);
		n = wrap_alloc(text, w - 4, &lines);
		tui_draw_main(t);
		win = tui_box(t, (int)n + 4, w, title);
		key = ERR;
		if (win != NULL) {
			row = draw_text(win, lines, n, w) + 1;
			tui_put(win, row, 2, 12, _("[ y Yes ]"), yes ?
			    tui_attr(t, TUI_SELECTED) : TUI_PLAIN);
			tui_put(win, row, 16, 12, _("[ n No ]"), yes ?
			    TUI_PLAIN : tui_attr(t, TUI_SELECTED));
			key = dialog_tick(t, win, &ch);
		}
		tui_box_free(win);
		free(lines);
		if (key == OK && (ch == L'y' || ch == L'Y'))
			return 1;
		if (key == OK && (ch == L'n' || ch == L'N' || ch == 27))
			return 0;
		if (key == OK && (ch == L'\n' || ch == L'\r'))
			return yes;
		if (key == OK && ch == L'\t')
			yes = !yes;
		if (key == KEY_CODE_YES && (ch == KEY_LEFT || ch == KEY_RIGHT))
			yes = !yes;
		if (key == KEY_CODE_YES && ch == KEY_ENTER)
			return yes;
	}
}

/*
 * Applies one key to a line being edited: characters insert at the
 * cursor, Backspace and Delete remove, arrows, Home and End move.
 * Returns 1 when the key was an editing key.
 */
int
tui_edit_key(struct tui_edit *ed, int key, wint_t ch)
{
	if (key == OK && ch >= L' ' && ch != 127) {
		if (ed->len + 1 >= TUI_INPUT_MAX)
			return 1;
		memmove(ed->w + ed->cur + 1, ed->w + ed->cur,
		    (ed->len - ed->cur + 1) * sizeof(wchar_t));
		ed->w[ed->cur++] = (wchar_t)ch;
		ed->len++;
		return 1;
	}
	if ((key == OK && (ch == 127 || ch == 8)) ||
	    (key == KEY_CODE_YES && ch == KEY_BACKSPACE)) {
		if (ed->cur == 0)
			return 1;
		memmove(ed->w + ed->cur - 1, ed->w + ed->cur,
		    (ed->len - ed->cur + 1) * sizeof(wchar_t));
		ed->cur--;
		ed->len--;
		return 1;
	}
	if (key != KEY_CODE_YES)
		return 0;
	if (ch == KEY_DC && ed->cur < ed->len) {
		memmove(ed->w + ed->cur, ed->w + ed->cur + 1,
		    (ed->len - ed->cur) * sizeof(wchar_t));
		ed->len--;
	} else if (ch == KEY_LEFT && ed->cur > 0)
		ed->cur--;
	else if (ch == KEY_RIGHT && ed->cur < ed->len)
		ed->cur++;
	else if (ch == KEY_HOME)
		ed->cur = 0;
	else if (ch == KEY_END)
		ed->cur = ed->len;
	else
		return ch == KEY_DC || ch == KEY_LEFT || ch == KEY_RIGHT;
	return 1;
}

/* Sets the edited text from UTF-8, with the cursor at its end. */
void
tui_edit_set(struct tui_edit *ed, const char *text)
{
	uint32_t	cp;
	size_t		n = 0;

	while (*text != '\0' && n + 1 < TUI_INPUT_MAX) {
		text += tui_utf8_decode(text, &cp);
		if (sizeof(wchar_t) == 2 && cp > 0xffff)
			cp = 0xfffd;
		ed->w[n++] = (wchar_t)cp;
	}
	ed->w[n] = L'\0';
	ed->len = ed->cur = n;
}

/*
 * Draws the field at y, x in width columns, scrolled so the cursor
 * shows, and puts the terminal cursor there.
 */
void
tui_edit_draw(struct tui *t, void *win, int y, int x, int width,
    const struct tui_edit *ed, int secret)
{
	size_t	from = 0;
	int	cols = 0, cw, cursor_x = x;

	/* Scroll so that the columns up to the cursor fit. */
	for (size_t i = ed->cur; i > 0; i--) {
		cw = secret ? 1 : tui_char_width((uint32_t)ed->w[i - 1]);
		if (cw < 0)
			cw = 1;
		if (cols + cw >= width) {
			from = i;
			break;
		}
		cols += cw;
	}
	wattron((WINDOW *)win, tui_attr(t, TUI_FIELD));
	wmove(win, y, x);
	cols = 0;
	for (size_t i = from; i < ed->len; i++) {
		wchar_t wc = secret ? L'*' : ed->w[i];

		cw = tui_char_width((uint32_t)wc);
		if (cw < 0) {
			wc = L'?';
			cw = 1;
		}
		if (cols + cw > width)
			break;
		if (i == ed->cur)
			cursor_x = x + cols;
		waddnwstr(win, &wc, 1);
		cols += cw;
	}
	if (ed->cur >= ed->len)
		cursor_x = x + cols;
	for (; cols < width; cols++)
		waddch((WINDOW *)win, ' ');
	wattroff((WINDOW *)win, tui_attr(t, TUI_FIELD));
	wmove(win, y, cursor_x < x + width ? cursor_x : x + width - 1);
}

int
tui_input(struct tui *t, const char *title, const char *prompt, char *buf,
    size_t cap, int secret)
{
	struct tui_edit	 ed;
	char		(*lines)[TUI_LOG_LINE_MAX];
	size_t		 n;
	void		*win;
	wint_t		 ch;
	int		 w, key, row, done = -1;

	tui_edit_set(&ed, buf);
	curs_set(1);
	while (done < 0) {
		w = dialog_width(t);
		n = wrap_alloc(prompt, w - 4, &lines);
		tui_draw_main(t);
		win = tui_box(t, (int)n + 5, w, title);
		key = ERR;
		if (win != NULL) {
			row = draw_text(win, lines, n, w);
			tui_put(win, row + 2, 2, w - 4, _("Enter accepts, Esc "
			    "cancels."), A_DIM);
			tui_edit_draw(t, win, row + 1, 2, w - 4, &ed, secret);
			key = dialog_tick(t, win, &ch);
		}
		tui_box_free(win);
		free(lines);
		if (key == OK && ch == 27)
			done = 0;
		else if ((key == OK && (ch == L'\n' || ch == L'\r')) ||
		    (key == KEY_CODE_YES && ch == KEY_ENTER)) {
			if (tui_from_wide(ed.w, buf, cap) == EXO_OK)
				done = 1;
			else
				beep();
		} else
			tui_edit_key(&ed, key, ch);
	}
	curs_set(0);
	plat_wipe(&ed, sizeof(ed));
	return done;
}

int
tui_choose(struct tui *t, const char *title, const char *text,
    const char *const *items, int count)
{
	char	(*lines)[TUI_LOG_LINE_MAX];
	char	 item[TUI_LOG_LINE_MAX];
	size_t	 n;
	void	*win;
	wint_t	 ch;
	int	 w, key, row, sel = 0;

	for (;;) {
		w = dialog_width(t);
		n = wrap_alloc(text, w - 4, &lines);
		tui_draw_main(t);
		win = tui_box(t, (int)n + count + 4, w, title);
		key = ERR;
		if (win != NULL) {
			row = draw_text(win, lines, n, w) + 1;
			for (int i = 0; i < count; i++) {
				snprintf(item, sizeof(item), "%d  %s", i + 1,
				    items[i]);
				tui_put(win, row + i, 2, w - 4, item, i == sel ?
				    tui_attr(t, TUI_SELECTED) : TUI_PLAIN);
			}
			key = dialog_tick(t, win, &ch);
		}
		tui_box_free(win);
		free(lines);
		if (key == OK && ch == 27)
			return -1;
		if (key == OK && ch >= L'1' && ch < (wint_t)(L'1' + count))
			return (int)(ch - L'1');
		if ((key == OK && (ch == L'\n' || ch == L'\r')) ||
		    (key == KEY_CODE_YES && ch == KEY_ENTER))
			return sel;
		if (key == KEY_CODE_YES && ch == KEY_UP && sel > 0)
			sel--;
		if (key == KEY_CODE_YES && ch == KEY_DOWN && sel + 1 < count)
			sel++;
	}
}
