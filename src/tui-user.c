/*
 * tui-user.c: the dialogs on the selected user: Delete, Password, Test
 * and User settings. Test reaches Microsoft, so it runs in a worker
 * thread and the dialog shows each step as it completes.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "plat.h"
#include "tui.h"
#include "util.h"

/* Lines of test output kept for the dialog. */
#define TEST_LINES_MAX 32

struct test_job {
	struct plat_mutex	*mu;
	struct admin		*adm;
	char			 login[USER_LOGIN_MAX];
	char			 lines[TEST_LINES_MAX][TUI_LOG_LINE_MAX];
	size_t			 n;
	int			 done;
	int			 rc;
	struct exo_error	 err;
};

/* Copies the selected user's login; shows a message when there is none. */
static int
selected_login(struct tui *t, const char *title, char login[USER_LOGIN_MAX])
{
	const struct tui_user	*u = tui_selected_user(t);

	if (u == NULL) {
		tui_message(t, title, _("There is no user yet."));
		return 0;
	}
	str_copy(login, u->login, USER_LOGIN_MAX);
	return 1;
}

static void
report(struct tui *t, int rc, const struct exo_error *e, const char *done)
{
	char	text[I18N_ERROR_MAX];

	if (rc == EXO_OK) {
		tui_set_status(t, EV_INFO, "%s", done);
		tui_users_refresh(t, 1);
		return;
	}
	tui_message(t, _("Error"), i18n_error(e, text, sizeof(text)));
}

void
tui_delete(struct tui *t)
{
	const struct tui_user	*u = tui_selected_user(t);
	struct exo_error	 err;
	char			 text[USER_LOGIN_MAX + USER_MAILBOX_MAX + 256];
	char			 login[USER_LOGIN_MAX];
	int			 rc;

	if (!selected_login(t, _("Delete"), login))
		return;
	snprintf(text, sizeof(text), _("Delete the user %s (%s)? Its tokens "
	    "are removed and its open sessions are closed. Devices that use "
	    "this login stop working."), u->login, u->mailbox);
	if (!tui_confirm(t, _("Delete"), text))
		return;
	err_clear(&err);
	rc = t->adm->ops->user_delete(t->adm, login, &err);
	snprintf(text, sizeof(text), _("Deleted %s."), login);
	report(t, rc, &err, text);
}

/* 1 when pw has only printable ASCII and no quotes. */
static int
plain_ascii(const char *pw)
{
	for (const unsigned char *p = (const unsigned char *)pw; *p; p++)
		if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\'')
			return 0;
	return 1;
}

static void
password_type(struct tui *t, const char *login)
{
	const char		*title = _("Login password");
	struct exo_error	 err;
	char			 pw[USER_PASSWORD_MAX];
	char			 again[USER_PASSWORD_MAX], text[128];
	int			 rc;

	pw[0] = again[0] = '\0';
	if (!tui_input(t, title, _("The password the devices already use "
	    "(plain ASCII of up to 20 characters works on every device):"),
	    pw, sizeof(pw), 1))
		goto out;
	if (!tui_input(t, title, _("The same password again:"), again,
	    sizeof(again), 1))
		goto out;
	if (strcmp(pw, again) != 0) {
		tui_message(t, title, _("The two passwords differ; nothing was "
		    "changed."));
		goto out;
	}
	if (!plain_ascii(pw) && !tui_confirm(t, title, _("The password "
	    "contains non-ASCII characters or quotes. Many printers "
	    "and scanners cannot type them or send them in another "
	    "encoding; plain ASCII letters and digits work on every device. "
	    "Use this password anyway?")))
		goto out;
	err_clear(&err);
	rc = t->adm->ops->user_set_password(t->adm, login, pw, &err);
	snprintf(text, sizeof(text), _("Set the password of %s."), login);
	report(t, rc, &err, text);
out:
	plat_wipe(pw, sizeof(pw));
	plat_wipe(again, sizeof(again));
}

void
tui_password(struct tui *t)
{
	const char		*items[2];
	struct exo_error	 err;
	char			 login[USER_LOGIN_MAX];
	char			 pw[USER_PASSWORD_MAX];
	int			 c;

	if (!selected_login(t, _("Login password"), login))
		return;
	items[0] = _("Generate a new password");
	items[1] = _("Type the password the devices already use");
	c = tui_choose(t, _("Login password"), _("The devices must then use "
	    "the new password."), items, 2);
	if (c == 1)
		password_type(t, login);
	if (c != 0)
		return;

	err_clear(&err);
	if (t->adm->ops->user_reset_password(t->adm, login, pw, &err) !=
	    EXO_OK) {
		report(t, err.code, &err, "");
		return;
	}
	tui_credentials(t, _("New password"), tui_selected_user(t) != NULL ?
	    tui_selected_user(t)->mailbox : "", login, pw);
	plat_wipe(pw, sizeof(pw));
	tui_set_status(t, EV_INFO, _("%s has a new password."), login);
}

static void
test_step(const char *line, void *ctx)
{
	struct test_job	*j = ctx;

	plat_mutex_lock(j->mu);
	if (j->n < TEST_LINES_MAX)
		str_copy(j->lines[j->n++], line, TUI_LOG_LINE_MAX);
	plat_mutex_unlock(j->mu);
}

static void
test_main(void *arg)
{
	struct test_job	*j = arg;
	int		 rc;

	err_clear(&j->err);
	rc = j->adm->ops->user_test(j->adm, j->login, test_step, j, &j->err);
	plat_mutex_lock(j->mu);
	j->rc = rc;
	j->done = 1;
	plat_mutex_unlock(j->mu);
}

static void
test_draw(struct tui *t, struct test_job *j, void *win, int w, int h)
{
	char	wrapped[4][TUI_LOG_LINE_MAX], text[I18N_ERROR_MAX];
	size_t	n;
	int	row = 2, attr;

	plat_mutex_lock(j->mu);
	for (size_t i = 0; i < j->n && row < h - 3; i++) {
		attr = strstr(j->lines[i], ": ok") != NULL ?
		    tui_attr(t, TUI_OK) : TUI_PLAIN;
		n = tui_wrap(j->lines[i], w - 4, wrapped, 4);
		for (size_t k = 0; k < n && row < h - 3; k++)
			tui_put(win, row++, 2, w - 4, wrapped[k], attr);
	}
	if (j->done)
		tui_put(win, h - 3, 2, w - 4, j->rc == EXO_OK ? _("Every step "
		    "passed.") : i18n_error(&j->err, text, sizeof(text)),
		    j->rc == EXO_OK ? tui_attr(t, TUI_OK) :
		    tui_attr(t, TUI_ERROR));
	tui_put(win, h - 2, 2, w - 4, j->done ? _("Press Enter to close.") :
	    _("Testing; this takes a few seconds..."), A_DIM);
	plat_mutex_unlock(j->mu);
}

void
tui_test(struct tui *t)
{
	struct test_job	*j;
	void		*win;
	wint_t		 ch;
	int		 key, done = 1, w, h;

	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	if (!selected_login(t, _("Test"), j->login))
		goto out;
	j->adm = t->adm;
	j->mu = plat_mutex_new();
	if (j->mu == NULL || plat_thread_start(test_main, j, 0) != EXO_OK) {
		tui_message(t, _("Error"), _("Could not start a thread."));
		goto out;
	}
	done = 0;
	for (;;) {
		w = t->cols - 4 < 100 ? t->cols - 4 : 100;
		h = t->rows - 4;
		tui_draw_main(t);
		win = tui_box(t, h, w, _("Test"));
		if (win != NULL) {
			test_draw(t, j, win, w, h);
			wnoutrefresh(win);
			doupdate();
		}
		key = tui_getkey(t, &ch);
		tui_box_free(win);
		plat_mutex_lock(j->mu);
		done = j->done;
		plat_mutex_unlock(j->mu);
		if (done && ((key == OK && (ch == L'\n' || ch == L'\r' ||
		    ch == 27)) || (key == KEY_CODE_YES && ch == KEY_ENTER)))
			break;
	}
	tui_users_refresh(t, 1);
out:
	/* done is 1 unless the worker started and has not ended. */
	if (j->mu != NULL && done)
		plat_mutex_free(j->mu);
	free(j);
}

/* Values of a per-user setting that Enter steps through. */
static const char *const yes_no[] = { "no", "yes", NULL };
static const char *const sender_values[] = { "pass", "rewrite", NULL };

/*
 * The per-user settings of service_user_keys, with help text. A setting
 * with values flips to the next one; the others are typed.
 */
static const struct {
	const char		*key;
	const char *const	*values;	/* NULL: typed */
	const char		*help;
} user_key_help[] = {
	{ "mailbox", NULL, N_("The mailbox used upstream: for a shared "
	  "mailbox, or a primary address that differs from the sign-in "
	  "name.") },
	{ "sender", sender_values, N_("pass sends the device's sender "
	  "address as it is; rewrite replaces it with the mailbox.") },
	{ "accept_legacy_charset", yes_no, N_("yes also accepts a non-ASCII "
	  "password sent in ISO-8859-1 or Windows-1252; no (the default) "
	  "accepts UTF-8 only.") },
	{ "encode_utf8_headers", yes_no, N_("yes writes raw UTF-8 in header "
	  "values such as Subject as RFC 2047 encoded words; no (the "
	  "default) passes them as they are.") },
	{ "relabel_iso2022jp", yes_no, N_("yes labels ISO-2022-JP-2 text "
	  "that fits ISO-2022-JP as ISO-2022-JP; no (the default) keeps "
	  "the label.") },
};

static const char *
user_value(const struct tui_user *u, const char *key)
{
	if (strcmp(key, "mailbox") == 0)
		return u->mailbox;
	if (strcmp(key, "sender") == 0)
		return u->sender[0] != '\0' ? u->sender : "pass";
	if (strcmp(key, "accept_legacy_charset") == 0)
		return u->accept_legacy_charset ? "yes" : "no";
	if (strcmp(key, "encode_utf8_headers") == 0)
		return u->encode_utf8_headers ? "yes" : "no";
	if (strcmp(key, "relabel_iso2022jp") == 0)
		return u->relabel_iso2022jp ? "yes" : "no";
	return "";
}

/* Returns the value after cur in values, wrapping at the end. */
static const char *
next_value(const char *const *values, const char *cur)
{
	for (int i = 0; values[i] != NULL; i++)
		if (strcmp(values[i], cur) == 0)
			return values[i + 1] != NULL ? values[i + 1] : values[0];
	return values[0];
}

/* Asks for the new value of key; returns 0 on Esc. */
static int
ask_user_value(struct tui *t, const struct tui_user *u, const char *key,
    char value[USER_MAILBOX_MAX])
{
	const char	*help = "";
	char		 text[1024];

	for (size_t i = 0; i < sizeof(user_key_help) /
	    sizeof(user_key_help[0]); i++) {
		if (strcmp(user_key_help[i].key, key) != 0)
			continue;
		if (user_key_help[i].values != NULL) {
			str_copy(value, next_value(user_key_help[i].values,
			    user_value(u, key)), USER_MAILBOX_MAX);
			return 1;
		}
		help = tr(user_key_help[i].help);
	}
	str_copy(value, user_value(u, key), USER_MAILBOX_MAX);
	snprintf(text, sizeof(text), "%s\n\n%s:", help, key);
	return tui_input(t, _("User settings"), text, value,
	    USER_MAILBOX_MAX, 0);
}

void
tui_user_settings(struct tui *t)
{
	const char *const	*keys = service_user_keys();
	struct tui_user		 cur;
	const char		*items[8];
	char			 labels[8][TUI_LOG_LINE_MAX];
	char			 value[USER_MAILBOX_MAX], text[1024];
	char			 login[USER_LOGIN_MAX];
	struct exo_error	 err;
	int			 n = 0, c, rc;

	if (!selected_login(t, _("User settings"), login))
		return;
	cur = *tui_selected_user(t);
	for (; keys[n] != NULL && n < 8; n++) {
		snprintf(labels[n], sizeof(labels[n]), "%-22s %s", keys[n],
		    user_value(&cur, keys[n]));
		items[n] = labels[n];
	}
	snprintf(text, sizeof(text), _("Settings of %s. Choose one to "
	    "change:"), login);
	c = tui_choose(t, _("User settings"), text, items, n);
	if (c < 0 || !ask_user_value(t, &cur, keys[c], value))
		return;
	err_clear(&err);
	rc = t->adm->ops->user_set(t->adm, login, keys[c], value, &err);
	snprintf(text, sizeof(text), _("Set %s of %s."), keys[c], login);
	report(t, rc, &err, text);
}
