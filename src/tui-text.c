/*
 * tui-text.c: text on the screen. Strings are UTF-8 everywhere in
 * exoconnect. Here they are decoded without the C locale, which cannot
 * decode UTF-8 on Windows, and measured with a table of East Asian wide
 * characters so that Japanese and Chinese text stays aligned. Control
 * characters show as "?" so that a peer's text cannot move the cursor.
 * Also the colour pairs.
 */
#include <curses.h>
#include <stdint.h>
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

/* Code points shown two columns wide: East Asian wide and fullwidth. */
static const struct {
	uint32_t	from, to;
} wide_ranges[] = {
	{ 0x1100, 0x115f }, { 0x2e80, 0x303e }, { 0x3041, 0x33ff },
	{ 0x3400, 0x4dbf }, { 0x4e00, 0x9fff }, { 0xa000, 0xa4cf },
	{ 0xac00, 0xd7a3 }, { 0xf900, 0xfaff }, { 0xfe30, 0xfe4f },
	{ 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x1f300, 0x1f64f },
	{ 0x1f900, 0x1f9ff }, { 0x20000, 0x2fffd }, { 0x30000, 0x3fffd },
};

/* Code points that take no column: combining marks and zero-width ones. */
static const struct {
	uint32_t	from, to;
} zero_ranges[] = {
	{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd },
	{ 0x0610, 0x061a }, { 0x064b, 0x065f }, { 0x200b, 0x200f },
	{ 0x20d0, 0x20ff }, { 0x302a, 0x302d }, { 0x3099, 0x309a },
	{ 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f },
};

/*
 * Returns the columns of a code point: 2 for East Asian wide characters,
 * 0 for combining marks, -1 for control characters, else 1. The screen
 * uses this table instead of wcwidth, which the Windows C runtime lacks,
 * so both platforms align text alike.
 */
int
tui_char_width(uint32_t cp)
{
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
		return -1;
	for (size_t i = 0; i < sizeof(zero_ranges) / sizeof(zero_ranges[0]);
	    i++)
		if (cp >= zero_ranges[i].from && cp <= zero_ranges[i].to)
			return 0;
	for (size_t i = 0; i < sizeof(wide_ranges) / sizeof(wide_ranges[0]);
	    i++)
		if (cp >= wide_ranges[i].from && cp <= wide_ranges[i].to)
			return 2;
	return 1;
}

/*
 * Decodes one UTF-8 character of s into *cp and returns its length.
 * An invalid or cut sequence decodes to U+FFFD and takes one byte.
 */
size_t
tui_utf8_decode(const char *s, uint32_t *cp)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 len;
	uint32_t		 c, min;

	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if ((u[0] & 0xe0) == 0xc0) {
		len = 2, c = u[0] & 0x1f, min = 0x80;
	} else if ((u[0] & 0xf0) == 0xe0) {
		len = 3, c = u[0] & 0x0f, min = 0x800;
	} else if ((u[0] & 0xf8) == 0xf0) {
		len = 4, c = u[0] & 0x07, min = 0x10000;
	} else {
		*cp = 0xfffd;
		return 1;
	}
	for (size_t i = 1; i < len; i++) {
		if ((u[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return 1;
		}
		c = (c << 6) | (u[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
		*cp = 0xfffd;
		return 1;
	}
	*cp = c;
	return len;
}

/* Encodes cp as UTF-8 into out; returns the length (1 to 4). */
static size_t
utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Decodes one character of s for curses. Control characters, invalid
 * bytes and, where wchar_t has 16 bits (Windows), characters beyond
 * U+FFFF become '?'.
 */
static size_t
next_char(const char *s, wchar_t *wc, int *cols)
{
	uint32_t	cp;
	size_t		n = tui_utf8_decode(s, &cp);
	int		w = tui_char_width(cp);

	if (w < 0 || cp == 0xfffd || (sizeof(wchar_t) == 2 && cp > 0xffff)) {
		*wc = L'?';
		*cols = 1;
		return n;
	}
	*wc = (wchar_t)cp;
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
	char	one[4];
	size_t	used = 0, n;

	for (; *w != L'\0'; w++) {
		n = utf8_encode((uint32_t)*w, one);
		if (used + n + 1 > cap)
			return EXO_ERR_TOOLONG;
		memcpy(out + used, one, n);
		used += n;
	}
	out[used] = '\0';
	return EXO_OK;
}
