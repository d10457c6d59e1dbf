/*
 * test-tui.c: the screen's text handling without a terminal: UTF-8
 * decoding, column widths of East Asian and combining characters,
 * wrapping, the line editor and the time format.
 */
#include <curses.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "tui.h"
#include "test.h"

TEST(utf8_decode_valid)
{
	uint32_t	cp;

	CHECK_INT(tui_utf8_decode("A", &cp), 1);
	CHECK_INT(cp, 'A');
	CHECK_INT(tui_utf8_decode("\xc3\xa9", &cp), 2);
	CHECK_INT(cp, 0xe9);
	CHECK_INT(tui_utf8_decode("\xe6\x97\xa5", &cp), 3);
	CHECK_INT(cp, 0x65e5);
	CHECK_INT(tui_utf8_decode("\xf0\x9f\x98\x80", &cp), 4);
	CHECK_INT(cp, 0x1f600);
}

TEST(utf8_decode_invalid)
{
	uint32_t	cp;

	/* A cut sequence, an overlong form, a surrogate, a stray byte. */
	CHECK_INT(tui_utf8_decode("\xe6\x97", &cp), 1);
	CHECK_INT(cp, 0xfffd);
	CHECK_INT(tui_utf8_decode("\xc0\xaf", &cp), 1);
	CHECK_INT(cp, 0xfffd);
	CHECK_INT(tui_utf8_decode("\xed\xa0\x80", &cp), 1);
	CHECK_INT(cp, 0xfffd);
	CHECK_INT(tui_utf8_decode("\x80", &cp), 1);
	CHECK_INT(cp, 0xfffd);
}

TEST(char_width_classes)
{
	CHECK_INT(tui_char_width('a'), 1);
	CHECK_INT(tui_char_width(0xe9), 1);
	CHECK_INT(tui_char_width(0x65e5), 2);	/* CJK ideograph */
	CHECK_INT(tui_char_width(0x30ab), 2);	/* katakana */
	CHECK_INT(tui_char_width(0xff21), 2);	/* fullwidth A */
	CHECK_INT(tui_char_width(0xac00), 2);	/* hangul */
	CHECK_INT(tui_char_width(0x0301), 0);	/* combining acute */
	CHECK_INT(tui_char_width(0x1b), -1);
	CHECK_INT(tui_char_width(0x9b), -1);	/* C1 CSI */
}

TEST(width_of_strings)
{
	CHECK_INT(tui_width(""), 0);
	CHECK_INT(tui_width("Users"), 5);
	CHECK_INT(tui_width("\xe3\x83\xa6\xe3\x83\xbc\xe3\x82\xb6\xe3\x83\xbc"),
	    8);				/* four katakana */
	CHECK_INT(tui_width("e\xcc\x81"), 1);	/* e and a combining mark */
	CHECK_INT(tui_width("a\x1b[2J"), 5);	/* the escape counts as "?" */
}

TEST(wrap_at_spaces)
{
	char	lines[8][TUI_LOG_LINE_MAX];
	size_t	n;

	n = tui_wrap("the quick brown fox jumps", 10, lines, 8);
	CHECK_INT(n, 3);
	CHECK_STR(lines[0], "the quick");
	CHECK_STR(lines[1], "brown fox");
	CHECK_STR(lines[2], "jumps");

	n = tui_wrap("one\ntwo", 20, lines, 8);
	CHECK_INT(n, 2);
	CHECK_STR(lines[0], "one");
	CHECK_STR(lines[1], "two");
}

TEST(wrap_long_words_and_cjk)
{
	char	lines[8][TUI_LOG_LINE_MAX];
	size_t	n;

	n = tui_wrap("abcdefghij", 4, lines, 8);
	CHECK_INT(n, 3);
	CHECK_STR(lines[0], "abcd");
	CHECK_STR(lines[2], "ij");

	/* Five ideographs of two columns each in lines of five columns. */
	n = tui_wrap("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5"
	    "\xe6\x9c\xac", 5, lines, 8);
	CHECK_INT(n, 3);
	CHECK_INT(tui_width(lines[0]), 4);
	CHECK_INT(tui_width(lines[1]), 4);
	CHECK_INT(tui_width(lines[2]), 2);
}

TEST(wrap_stops_at_max)
{
	char	lines[2][TUI_LOG_LINE_MAX];

	CHECK_INT(tui_wrap("a b c d e f", 1, lines, 2), 2);
	CHECK_STR(lines[1], "b");
}

TEST(edit_insert_delete_move)
{
	struct tui_edit	ed;
	char		out[64];

	tui_edit_set(&ed, "ab");
	CHECK_INT(ed.len, 2);
	CHECK_INT(ed.cur, 2);
	CHECK(tui_edit_key(&ed, KEY_CODE_YES, KEY_LEFT));
	CHECK(tui_edit_key(&ed, OK, L'X'));
	CHECK_INT(tui_from_wide(ed.w, out, sizeof(out)), 0);
	CHECK_STR(out, "aXb");
	CHECK(tui_edit_key(&ed, OK, 127));	/* Backspace */
	CHECK(tui_edit_key(&ed, KEY_CODE_YES, KEY_DC));
	CHECK_INT(tui_from_wide(ed.w, out, sizeof(out)), 0);
	CHECK_STR(out, "a");
	CHECK(!tui_edit_key(&ed, KEY_CODE_YES, KEY_F(5)));
}

TEST(edit_round_trips_utf8)
{
	struct tui_edit	ed;
	char		out[64];
	const char	*text = "\xc3\xa9t\xc3\xa9 \xe6\x97\xa5";

	tui_edit_set(&ed, text);
	CHECK_INT(ed.len, 5);
	CHECK_INT(tui_from_wide(ed.w, out, sizeof(out)), 0);
	CHECK_STR(out, text);
	CHECK_INT(tui_from_wide(ed.w, out, 4), EXO_ERR_TOOLONG);
}

TEST(edit_limits_length)
{
	struct tui_edit	ed;

	tui_edit_set(&ed, "");
	for (int i = 0; i < TUI_INPUT_MAX + 10; i++)
		tui_edit_key(&ed, OK, L'x');
	CHECK_INT(ed.len, TUI_INPUT_MAX - 1);
	CHECK(ed.w[ed.len] == L'\0');
}

TEST(format_time_short)
{
	char	out[32];

	tui_format_time(1796404200, out);	/* 2026-12-04T17:10:00Z */
	CHECK_STR(out, "12-04 17:10");
	tui_format_time(0, out);
	CHECK_STR(out, "never");
}

int
main(void)
{
	RUN(utf8_decode_valid);
	RUN(utf8_decode_invalid);
	RUN(char_width_classes);
	RUN(width_of_strings);
	RUN(wrap_at_spaces);
	RUN(wrap_long_words_and_cjk);
	RUN(wrap_stops_at_max);
	RUN(edit_insert_delete_move);
	RUN(edit_round_trips_utf8);
	RUN(edit_limits_length);
	RUN(format_time_short);
	return TEST_EXIT();
}
