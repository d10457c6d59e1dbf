/*
 * tui-text.c: text on the screen. Strings are UTF-8 everywhere else in
 * exoconnect; here they become wide characters, measured with wcwidth so
 * that East Asian text stays aligned, with control characters shown as
 * "?" so a peer's text cannot move the cursor. Also the colour pairs.
 */
#define _XOPEN_SOURCE 700

#include <curses.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "i18n.h"
#include "plat.h"
#include "tui.h"
#include "util.h"

/* Foreground and background of each pair, and the monochrome look. */
static const struct {
	short	fg, bg;
	int	mono;
} tui_pairs[TUI_COLOR_COUNT] = {
	[TUI_NORMAL] = { -1, -1, TUI_PLAIN },
	[TUI_TITLE] = { COLOR_WHITE, COLOR_BLUE, A_REVERSE },
	[TUI_HEADING] = { COLOR_CYAN, -1, A_BOLD },
	[TUI_SELECTED] = { COLOR_BLACK, COLOR_CYAN, A_REVERSE },
	[TUI_OK] = { COLOR_GREEN, -1, TUI_PLAIN },
	[TUI_WARN] = { COLOR_YELLOW, -1, A_BOLD },
	[TUI_ERROR] = { COLOR_RED, -1, A_BOLD | A_UNDERLINE },
	[TUI_KEY] = { COLOR_BLACK, COLOR_CYAN, A_REVERSE },
	[TUI_DIALOG] = { COLOR_WHITE, COLOR_BLUE, TUI_PLAIN },
	[TUI_FIELD] = { COLOR_BLACK, COLOR_WHITE, A_UNDERLINE },
};

void
tui_colors_init(struct tui *t)
{
	t->color = has_colors() && start_color() == OK;
	if (!t->color)
		return;
	use_default_colors();
	for (int i = 1; i < TUI_COLOR_COUNT; i++)
		init_pair((short)i, tui_pairs[i].fg, tui_pairs[i].bg);
}

int
tui_attr(struct tui *t, enum tui_color c)
{
	if (!t->color)
		return tui_pairs[c].mono;
	if (c == TUI_HEADING || c == TUI_WARN || c == TUI_ERROR)
		return COLOR_PAIR(c) | A_BOLD;
	return COLOR_PAIR(c);
}

int
tui_level_attr(struct tui *t, enum ev_level level)
{
	if (level >= EV_ERROR)
		return tui_attr(t, TUI_ERROR);
	if (level == EV_WARN)
		return tui_attr(t, TUI_WARN);
	if (level == EV_DEBUG)
		return t->color ? A_DIM : TUI_PLAIN;
	return TUI_PLAIN;
}

/* Decodes one character of s; control and invalid bytes become '?'. */
static size_t
next_char(const char *s, wchar_t *wc, int *cols)
{
	mbstate_t	st;
	size_t		n;
	int		w;

	memset(&st, 0, sizeof(st));
	n = mbrtowc(wc, s, MB_CUR_MAX, &st);
	if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
		*wc = L'?';
		*cols = 1;
		return 1;
	}
	w = wcwidth(*wc);
	if (w < 0) {
		*wc = L'?';
		w = 1;
	}
	*cols = w;
	return n;
}

int
tui_width(const char *s)
{
	wchar_t	wc;
	int	total = 0, w;

	while (*s != '\0') {
		s += next_char(s, &wc, &w);
		total += w;
	}
	return total;
}

/*
 * Writes s at y, x in at most width columns and pads the rest with
 * spaces. A wide character that would cross the edge is left out.
 * Returns the columns written before the padding.
 */
int
tui_put(void *win, int y, int x, int width, const char *s, int attr)
{
	WINDOW	*w = win;
	wchar_t	 wc;
	int	 used = 0, cw;
	size_t	 n;

	if (width <= 0)
		return 0;
	wattron(w, attr);
	wmove(w, y, x);
	while (*s != '\0') {
		n = next_char(s, &wc, &cw);
		if (used + cw > width)
			break;
		if (cw > 0)
			waddnwstr(w, &wc, 1);
		used += cw;
		s += n;
	}
	for (int i = used; i < width; i++)
		waddch(w, ' ');
	wattroff(w, attr);
	return used;
}

/*
 * Breaks s into lines of at most width columns at spaces, or anywhere in
 * a word longer than a line (Japanese and Chinese have no spaces). "\n"
 * starts a new line. Returns the number of lines stored, at most max.
 */
size_t
tui_wrap(const char *s, int width, char lines[][TUI_LOG_LINE_MAX],
    size_t max)
{
	const char	*start = s, *space = NULL;
	size_t		 count = 0, len;
	wchar_t		 wc;
	int		 cols = 0, cw;

	while (count < max) {
		if (*s == '\0' || *s == '\n' || cols > width) {
			const char *end = s;

			if (cols > width)
				end = space != NULL ? space : s;
			len = (size_t)(end - start);
			if (len >= TUI_LOG_LINE_MAX)
				len = TUI_LOG_LINE_MAX - 1;
			memcpy(lines[count], start, len);
			lines[count++][len] = '\0';
			if (*end == '\0')
				break;
			s = start = (*end == ' ' || *end == '\n') ? end + 1 :
			    end;
			space = NULL;
			cols = 0;
			continue;
		}
		if (*s == ' ')
			space = s;
		len = next_char(s, &wc, &cw);
		if (cols + cw > width && cols > 0) {
			cols = width + 1;
			continue;
		}
		cols += cw;
		s += len;
	}
	return count;
}

/* Formats a time as "12-04 17:40" in UTC, or "never" for 0. */
void
tui_format_time(int64_t t, char out[32])
{
	char	full[32];

	if (t == 0) {
		str_copy(out, _("never"), 32);
		return;
	}
	plat_format_time(t, full);
	memcpy(out, full + 5, 11);
	out[5] = ' ';
	out[11] = '\0';
}

/* Converts typed text to UTF-8; returns EXO_ERR_TOOLONG when cap is short. */
int
tui_from_wide(const wchar_t *w, char *out, size_t cap)
{
	mbstate_t	st;
	char		one[16];
	size_t		used = 0, n;

	memset(&st, 0, sizeof(st));
	for (; *w != L'\0'; w++) {
		n = wcrtomb(one, *w, &st);
		if (n == (size_t)-1)
			return EXO_ERR_INVALID;
		if (used + n + 1 > cap)
			return EXO_ERR_TOOLONG;
		memcpy(out + used, one, n);
		used += n;
	}
	out[used] = '\0';
	return EXO_OK;
}
