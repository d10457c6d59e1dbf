/*
 * tui-users.c: the users pane. Once a second the screen copies the
 * non-secret fields of every user from the user list, so the secrets
 * that the list carries are wiped at once and never reach the screen.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "plat.h"
#include "tui.h"
#include "util.h"

/* How often the user list is read again, in milliseconds. */
#define TUI_USERS_EVERY_MS 1000

/* Column widths; the mailbox column takes what is left. */
#define COL_LOGIN 14
#define COL_STATE 17
#define COL_TIME 11
#define COL_MAILBOX_MAX 40

static void
copy_user(struct tui_user *to, const struct user *u)
{
	str_copy(to->login, u->login, sizeof(to->login));
	str_copy(to->mailbox, u->mailbox, sizeof(to->mailbox));
	to->state = u->state;
	str_copy(to->state_code, u->state_code, sizeof(to->state_code));
	str_copy(to->state_reason, u->state_reason,
	    sizeof(to->state_reason));
	str_copy(to->sender, u->sender_policy, sizeof(to->sender));
	to->accept_legacy_charset = u->accept_legacy_charset;
	to->encode_utf8_headers = u->encode_utf8_headers;
	to->relabel_iso2022jp = u->relabel_iso2022jp;
	to->last_pop3 = u->last_pop3;
	to->last_smtp = u->last_smtp;
}

void
tui_users_refresh(struct tui *t, int force)
{
	struct exo_error	 err;
	struct user		*list = NULL;
	struct tui_user		*rows;
	size_t			 n = 0;
	int64_t			 now = plat_monotonic_ms();

	if (!force && t->users_at != 0 && now - t->users_at <
	    TUI_USERS_EVERY_MS)
		return;
	t->users_at = now;
	err_clear(&err);
	if (t->adm->ops->user_list(t->adm, &list, &n, &err) != EXO_OK) {
		i18n_error(&err, t->list_error, sizeof(t->list_error));
		return;
	}
	t->list_error[0] = '\0';
	rows = calloc(n > 0 ? n : 1, sizeof(*rows));
	if (rows == NULL) {
		userdb_free_list(list, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		copy_user(&rows[i], &list[i]);
	userdb_free_list(list, n);

	free(t->users);
	t->users = rows;
	t->nusers = n;
	if (t->sel >= n)
		t->sel = n > 0 ? n - 1 : 0;
}

const struct tui_user *
tui_selected_user(struct tui *t)
{
	if (t->nusers == 0)
		return NULL;
	return &t->users[t->sel];
}

static int
mailbox_width(struct tui *t)
{
	int	w = t->cols - COL_LOGIN - COL_STATE - 2 * COL_TIME - 4;

	return w > COL_MAILBOX_MAX ? COL_MAILBOX_MAX : w;
}

static int
state_attr(struct tui *t, enum user_state st)
{
	if (st == USER_OK || st == USER_REFRESHING)
		return tui_attr(t, TUI_OK);
	if (st == USER_TRANSIENT_ERROR || st == USER_UPSTREAM_REJECTED)
		return tui_attr(t, TUI_WARN);
	return tui_attr(t, TUI_ERROR);
}

/*
 * Draws text in a column of w, then a space in the row's attribute, so
 * a long translation never runs into the next column. Returns the next
 * column.
 */
static int
put_col(int y, int x, int w, const char *text, int attr, int base)
{
	tui_put(stdscr, y, x, w, text, attr);
	tui_put(stdscr, y, x + w, 1, "", base);
	return x + w + 1;
}

static void
draw_row(struct tui *t, int y, const struct tui_user *u, int selected)
{
	char	when[32];
	int	x = 0, base;

	base = selected ? tui_attr(t, TUI_SELECTED) : TUI_PLAIN;
	x = put_col(y, x, COL_LOGIN, u->login, base, base);
	x = put_col(y, x, mailbox_width(t), u->mailbox, base, base);
	x = put_col(y, x, COL_STATE, tr(user_state_name(u->state)),
	    selected ? base : state_attr(t, u->state), base);
	tui_format_time(u->last_pop3, when);
	x = put_col(y, x, COL_TIME, when, base, base);
	tui_format_time(u->last_smtp, when);
	x = put_col(y, x, COL_TIME, when, base, base);
	/* Wide terminals have room for the reason on the row itself. */
	if (t->cols - x > 20)
		tui_put(stdscr, y, x, t->cols - x, u->state_reason, base);
}

static void
draw_header(struct tui *t, int y)
{
	int	x = 0, a = A_BOLD;

	x = put_col(y, x, COL_LOGIN, _("Login"), a, a);
	x = put_col(y, x, mailbox_width(t), _("Mailbox"), a, a);
	x = put_col(y, x, COL_STATE, _("Token"), a, a);
	x = put_col(y, x, COL_TIME, _("Last POP3"), a, a);
	x = put_col(y, x, COL_TIME, _("Last SMTP"), a, a);
	if (t->cols - x > 20)
		tui_put(stdscr, y, x, t->cols - x, _("Reason"), a);
}

/* The line under the list: what is wrong with the selected user. */
static void
draw_detail(struct tui *t, int y)
{
	const struct tui_user	*u = tui_selected_user(t);
	char			 text[USER_REASON_MAX + 256];

	if (t->list_error[0] != '\0') {
		tui_put(stdscr, y, 0, t->cols, t->list_error,
		    tui_attr(t, TUI_ERROR));
		return;
	}
	if (u == NULL) {
		tui_put(stdscr, y, 0, t->cols, _("No users yet: press a (F2) "
		    "to sign a mailbox in."), A_DIM);
		return;
	}
	if (u->state == USER_OK) {
		snprintf(text, sizeof(text), _("%s: sender %s; Enter opens "
		    "the user settings"), u->login, u->sender[0] != '\0' ?
		    u->sender : "pass");
		tui_put(stdscr, y, 0, t->cols, text, A_DIM);
		return;
	}
	snprintf(text, sizeof(text), u->state == USER_SIGNIN_REQUIRED ?
	    _("%s: %s %s (r signs in again)") : _("%s: %s %s"), u->login,
	    u->state_code, u->state_reason);
	tui_put(stdscr, y, 0, t->cols, text, state_attr(t, u->state));
}

void
tui_users_draw(struct tui *t, int y, int h)
{
	int	rows = h - 2;

	draw_header(t, y);
	if (t->sel < t->top)
		t->top = t->sel;
	if (rows > 0 && t->sel >= t->top + (size_t)rows)
		t->top = t->sel - (size_t)rows + 1;
	for (int r = 0; r < rows; r++) {
		size_t i = t->top + (size_t)r;

		if (i >= t->nusers)
			break;
		draw_row(t, y + 1 + r, &t->users[i], i == t->sel);
	}
	draw_detail(t, y + h - 1);
}

void
tui_users_key(struct tui *t, int key)
{
	size_t	page = 5;

	if (t->nusers == 0)
		return;
	if (key == KEY_UP && t->sel > 0)
		t->sel--;
	else if (key == KEY_DOWN && t->sel + 1 < t->nusers)
		t->sel++;
	else if (key == KEY_PPAGE)
		t->sel = t->sel > page ? t->sel - page : 0;
	else if (key == KEY_NPAGE)
		t->sel = t->sel + page < t->nusers ? t->sel + page :
		    t->nusers - 1;
	else if (key == KEY_HOME)
		t->sel = 0;
	else if (key == KEY_END)
		t->sel = t->nusers - 1;
}
