/*
 * tui-add.c: Add and Re-sign-in. The sign-in runs in a worker thread
 * while a dialog shows the device code in letters five rows high (for
 * remote consoles) with a live countdown, or the authorize URL of the
 * browser sign-in. Esc cancels: the worker stops within about a second
 * and stores nothing. A new user's password is shown once, in a dialog
 * that stays until dismissed.
 */
#include <curses.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "i18n.h"
#include "plat.h"
#include "tui.h"
#include "util.h"

/* Seconds a browser sign-in waits for the redirect. */
#define TUI_BROWSER_TIMEOUT 600
/* Rows of the big letters; each glyph is 5 columns wide. */
#define GLYPH_ROWS 5
#define GLYPH_COLS 5
/* Maximum length of a user code drawn in big letters. */
#define BIG_CODE_MAX 12
/* Rows of Microsoft's sign-in message under the code. */
#define MESSAGE_ROWS 3

/* Letters of device codes, drawn with '#' for a filled cell. */
static const struct {
	char		 ch;
	const char	*rows[GLYPH_ROWS];
} glyphs[] = {
	{ 'A', { " ### ", "#   #", "#####", "#   #", "#   #" } },
	{ 'B', { "#### ", "#   #", "#### ", "#   #", "#### " } },
	{ 'C', { " ####", "#    ", "#    ", "#    ", " ####" } },
	{ 'D', { "#### ", "#   #", "#   #", "#   #", "#### " } },
	{ 'E', { "#####", "#    ", "#### ", "#    ", "#####" } },
	{ 'F', { "#####", "#    ", "#### ", "#    ", "#    " } },
	{ 'G', { " ####", "#    ", "#  ##", "#   #", " ####" } },
	{ 'H', { "#   #", "#   #", "#####", "#   #", "#   #" } },
	{ 'I', { "#####", "  #  ", "  #  ", "  #  ", "#####" } },
	{ 'J', { "#####", "   # ", "   # ", "#  # ", " ##  " } },
	{ 'K', { "#   #", "#  # ", "###  ", "#  # ", "#   #" } },
	{ 'L', { "#    ", "#    ", "#    ", "#    ", "#####" } },
	{ 'M', { "#   #", "## ##", "# # #", "#   #", "#   #" } },
	{ 'N', { "#   #", "##  #", "# # #", "#  ##", "#   #" } },
	{ 'O', { " ### ", "#   #", "#   #", "#   #", " ### " } },
	{ 'P', { "#### ", "#   #", "#### ", "#    ", "#    " } },
	{ 'Q', { " ### ", "#   #", "# # #", "#  # ", " ## #" } },
	{ 'R', { "#### ", "#   #", "#### ", "#  # ", "#   #" } },
	{ 'S', { " ####", "#    ", " ### ", "    #", "#### " } },
	{ 'T', { "#####", "  #  ", "  #  ", "  #  ", "  #  " } },
	{ 'U', { "#   #", "#   #", "#   #", "#   #", " ### " } },
	{ 'V', { "#   #", "#   #", "#   #", " # # ", "  #  " } },
	{ 'W', { "#   #", "#   #", "# # #", "## ##", "#   #" } },
	{ 'X', { "#   #", " # # ", "  #  ", " # # ", "#   #" } },
	{ 'Y', { "#   #", " # # ", "  #  ", "  #  ", "  #  " } },
	{ 'Z', { "#####", "   # ", "  #  ", " #   ", "#####" } },
	{ '0', { " ### ", "#  ##", "# # #", "##  #", " ### " } },
	{ '1', { "  #  ", " ##  ", "  #  ", "  #  ", " ### " } },
	{ '2', { " ### ", "#   #", "  ## ", " #   ", "#####" } },
	{ '3', { "#### ", "    #", " ### ", "    #", "#### " } },
	{ '4', { "#   #", "#   #", "#####", "    #", "    #" } },
	{ '5', { "#####", "#    ", "#### ", "    #", "#### " } },
	{ '6', { " ### ", "#    ", "#### ", "#   #", " ### " } },
	{ '7', { "#####", "    #", "   # ", "  #  ", "  #  " } },
	{ '8', { " ### ", "#   #", " ### ", "#   #", " ### " } },
	{ '9', { " ### ", "#   #", " ####", "    #", " ### " } },
	{ '-', { "     ", "     ", "#####", "     ", "     " } },
};

struct signin_job {
	struct tui		*t;
	struct plat_mutex	*mu;
	int			 add;		/* user add, else signin */
	char			 login[USER_LOGIN_MAX];
	char			 mailbox[USER_MAILBOX_MAX];
	enum signin_method	 method;

	/* Progress, written by the worker under mu. */
	char			 uri[512];
	char			 code[64];
	char			 message[512];	/* Microsoft's own text */
	int64_t			 expires_ms;	/* monotonic */
	char			 url[4096];
	int			 opened;	/* a browser was opened */
	int			 done;

	/* Outcome, read once done is set. */
	int			 rc;
	struct exo_error	 err;
	struct oauth_error	 oerr;
	struct signin_result	 res;
	volatile int		 cancel;
};

static void
job_device_code(const char *uri, const char *code, const char *message,
    int expires_in, void *ctx)
{
	struct signin_job	*j = ctx;

	plat_mutex_lock(j->mu);
	str_copy(j->uri, uri, sizeof(j->uri));
	str_copy(j->code, code, sizeof(j->code));
	str_copy(j->message, message, sizeof(j->message));
	j->expires_ms = plat_monotonic_ms() + (int64_t)expires_in * 1000;
	plat_mutex_unlock(j->mu);
}

static void
job_browser_url(const char *url, void *ctx)
{
	struct signin_job	*j = ctx;
	int			 opened;

	opened = plat_open_browser(url) == EXO_OK;
	plat_mutex_lock(j->mu);
	str_copy(j->url, url, sizeof(j->url));
	j->opened = opened;
	plat_mutex_unlock(j->mu);
}

static void
job_main(void *arg)
{
	struct signin_job	*j = arg;
	struct admin		*a = j->t->adm;
	struct signin_request	 rq;
	int			 rc;

	memset(&rq, 0, sizeof(rq));
	rq.method = j->method;
	rq.timeout_s = TUI_BROWSER_TIMEOUT;
	rq.on_device_code = job_device_code;
	rq.on_browser_url = job_browser_url;
	rq.ctx = j;
	rq.cancel = &j->cancel;
	err_clear(&j->err);
	memset(&j->oerr, 0, sizeof(j->oerr));
	if (j->add)
		rc = a->ops->user_add(a, &rq, j->login[0] != '\0' ? j->login :
		    NULL, j->mailbox[0] != '\0' ? j->mailbox : NULL, &j->res,
		    &j->oerr, &j->err);
	else
		rc = a->ops->user_signin(a, j->login, &rq, &j->res, &j->oerr,
		    &j->err);
	plat_mutex_lock(j->mu);
	j->rc = rc;
	j->done = 1;
	plat_mutex_unlock(j->mu);
}

/* Builds row r of code in big letters, '#' cells as full blocks. */
static void
big_row(const char *code, int r, char *out, size_t cap)
{
	const char	*full = MB_CUR_MAX > 1 ? "\xe2\x96\x88" : "#";
	size_t		 used = 0, fl = strlen(full);

	out[0] = '\0';
	for (const char *c = code; *c != '\0'; c++) {
		const char *row = NULL;

		for (size_t g = 0; g < sizeof(glyphs) / sizeof(glyphs[0]); g++)
			if (glyphs[g].ch == *c)
				row = glyphs[g].rows[r];
		if (row == NULL)
			row = "     ";
		for (int i = 0; i < GLYPH_COLS + 1 && used + fl + 1 < cap;
		    i++) {
			if (i < GLYPH_COLS && row[i] == '#') {
				memcpy(out + used, full, fl);
				used += fl;
			} else
				out[used++] = ' ';
		}
	}
	out[used] = '\0';
}

static void
draw_device(struct tui *t, void *win, int w, const struct signin_job *j)
{
	char	text[1024], lines[MESSAGE_ROWS][TUI_LOG_LINE_MAX];
	size_t	n;
	int64_t	left = (j->expires_ms - plat_monotonic_ms()) / 1000;
	int	row = 2, big = (int)strlen(j->code) * (GLYPH_COLS + 1);

	if (left < 0)
		left = 0;
	tui_put(win, row++, 2, w - 4, _("On any device, open this page in a "
	    "browser:"), TUI_PLAIN);
	tui_put(win, row++, 4, w - 6, j->uri, A_BOLD);
	snprintf(text, sizeof(text), _("and enter the code:  %s"), j->code);
	tui_put(win, ++row, 2, w - 4, text, TUI_PLAIN);
	row += 2;
	if (strlen(j->code) <= BIG_CODE_MAX && big <= w - 4)
		for (int r = 0; r < GLYPH_ROWS; r++) {
			big_row(j->code, r, text, sizeof(text));
			tui_put(win, row++, (w - big) / 2, big, text, A_BOLD);
		}
	snprintf(text, sizeof(text), _("The code expires in %d:%02d."),
	    (int)(left / 60), (int)(left % 60));
	tui_put(win, ++row, 2, w - 4, text, left < 60 ?
	    tui_attr(t, TUI_WARN) : TUI_PLAIN);
	row++;

	/* Microsoft's message may add what its page expects. */
	n = tui_wrap(j->message, w - 4, lines, MESSAGE_ROWS);
	for (size_t i = 0; i < n; i++)
		tui_put(win, ++row, 2, w - 4, lines[i], A_DIM);
}

static void
draw_browser(void *win, int w, int h, const struct signin_job *j)
{
	char	lines[12][TUI_LOG_LINE_MAX];
	size_t	n;

	tui_put(win, 2, 2, w - 4, j->opened ? _("A browser on this computer "
	    "was opened for the sign-in. If it shows nothing, open this "
	    "address yourself:") : _("Open this address in a browser on this "
	    "computer:"), TUI_PLAIN);
	n = tui_wrap(j->url, w - 6, lines, (size_t)(h - 7 > 12 ? 12 : h - 7));
	for (size_t i = 0; i < n; i++)
		tui_put(win, 4 + (int)i, 4, w - 6, lines[i], A_BOLD);
}

/* Shows the sign-in until the worker is done; Esc cancels it. */
static void
wait_signin(struct tui *t, struct signin_job *j)
{
	struct signin_job	 view;
	void			*win;
	wint_t			 ch;
	int			 key, w, h;

	for (;;) {
		plat_mutex_lock(j->mu);
		memcpy(&view, j, offsetof(struct signin_job, rc));
		plat_mutex_unlock(j->mu);
		if (view.done)
			break;
		w = t->cols - 4 < 76 ? t->cols - 4 : 76;
		h = view.code[0] != '\0' ? 22 : 14;
		tui_draw_main(t);
		win = tui_box(t, h, w, j->add ? _("Add a user") :
		    _("Sign in again"));
		if (win == NULL) {
			tui_getkey(t, &ch);
			continue;
		}
		if (view.code[0] != '\0')
			draw_device(t, win, w, &view);
		else if (view.url[0] != '\0')
			draw_browser(win, w, h, &view);
		else
			tui_put(win, 2, 2, w - 4, _("Contacting Microsoft..."),
			    TUI_PLAIN);
		tui_put(win, h - 2, 2, w - 4, j->cancel ? _("Cancelling...") :
		    _("Waiting for the sign-in. Esc cancels."), A_DIM);
		wnoutrefresh(win);
		doupdate();
		key = tui_getkey(t, &ch);
		tui_box_free(win);
		if (key == OK && ch == 27)
			j->cancel = 1;
	}
	plat_wipe(&view, sizeof(view));
}

void
tui_credentials(struct tui *t, const char *title, const char *mailbox,
    const char *login, const char *password)
{
	char	 text[512];
	void	*win;
	wint_t	 ch;
	int	 key, w;

	for (;;) {
		w = t->cols - 4 < 72 ? t->cols - 4 : 72;
		tui_draw_main(t);
		win = tui_box(t, 12, w, title);
		key = ERR;
		if (win != NULL) {
			snprintf(text, sizeof(text), _("Mailbox:         %s"),
			    mailbox);
			tui_put(win, 2, 2, w - 4, text, TUI_PLAIN);
			snprintf(text, sizeof(text), _("Login username:  %s"),
			    login);
			tui_put(win, 3, 2, w - 4, text, A_BOLD);
			snprintf(text, sizeof(text), _("Login password:  %s"),
			    password);
			tui_put(win, 4, 2, w - 4, text, A_BOLD);
			plat_wipe(text, sizeof(text));
			tui_put(win, 6, 2, w - 4, _("The password is shown "
			    "only once. Enter it in the devices now, or write "
			    "it down."), tui_attr(t, TUI_WARN));
			tui_put(win, 9, 2, w - 4, _("Press Enter when you have "
			    "it."), A_DIM);
			wnoutrefresh(win);
			doupdate();
			key = tui_getkey(t, &ch);
		}
		tui_box_free(win);
		if ((key == OK && (ch == L'\n' || ch == L'\r' || ch == 27)) ||
		    (key == KEY_CODE_YES && ch == KEY_ENTER))
			break;
	}
	clear();
}

/* The failure of a sign-in, with the next step for known codes. */
static void
show_failure(struct tui *t, const struct signin_job *j)
{
	char	text[I18N_ERROR_MAX + sizeof(j->oerr.advice) + 8];
	char	why[I18N_ERROR_MAX];

	if (j->rc == EXO_ERR_CANCELLED) {
		tui_set_status(t, EV_WARN, "%s", _("Sign-in cancelled; nothing "
		    "was stored."));
		return;
	}
	snprintf(text, sizeof(text), "%s%s%s", i18n_error(&j->err, why,
	    sizeof(why)), j->oerr.advice[0] != '\0' ? "\n\n" : "",
	    tr(j->oerr.advice));
	tui_message(t, _("Sign-in failed"), text);
}

static void
run_signin(struct tui *t, struct signin_job *j)
{
	j->t = t;
	j->mu = plat_mutex_new();
	if (j->mu == NULL || plat_thread_start(job_main, j, 0) != EXO_OK) {
		tui_message(t, _("Error"), _("Could not start a thread."));
		goto out;
	}
	wait_signin(t, j);
	tui_users_refresh(t, 1);
	if (j->rc != EXO_OK) {
		show_failure(t, j);
		goto out;
	}
	if (j->add) {
		tui_credentials(t, _("User added"), j->res.mailbox,
		    j->res.login, j->res.password);
		tui_set_status(t, EV_INFO, _("Added %s."), j->res.login);
	} else
		tui_set_status(t, EV_INFO, _("%s signed in again as %s; the "
		    "devices keep their login and password."), j->login,
		    j->res.account);
out:
	signin_result_wipe(&j->res);
	if (j->mu != NULL)
		plat_mutex_free(j->mu);
}

/* Asks for the sign-in method; -1 on Esc. */
static int
choose_method(struct tui *t)
{
	const char	*items[2];

	items[0] = _("Sign in from another device (device code)");
	items[1] = _("Sign in with a browser on this PC");
	return tui_choose(t, _("Sign-in method"), _("How will the mailbox "
	    "owner sign in?"), items, 2);
}

void
tui_add(struct tui *t)
{
	struct signin_job	*j = calloc(1, sizeof(*j));
	int			 m;

	if (j == NULL)
		return;
	j->add = 1;
	if (!tui_input(t, _("Add a user"), _("Login name for the devices "
	    "(optional; empty derives it from the mailbox):"), j->login,
	    sizeof(j->login), 0))
		goto out;
	if (!tui_input(t, _("Add a user"), _("Mailbox address (optional; for "
	    "a shared mailbox or an address that differs from the sign-in "
	    "name):"), j->mailbox, sizeof(j->mailbox), 0))
		goto out;
	if ((m = choose_method(t)) < 0)
		goto out;
	j->method = m == 0 ? SIGNIN_DEVICE_CODE : SIGNIN_BROWSER;
	run_signin(t, j);
out:
	free(j);
}

void
tui_signin(struct tui *t)
{
	const struct tui_user	*u = tui_selected_user(t);
	struct signin_job	*j;
	int			 m;

	if (u == NULL) {
		tui_message(t, _("Re-sign-in"), _("There is no user yet."));
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return;
	str_copy(j->login, u->login, sizeof(j->login));
	if ((m = choose_method(t)) >= 0) {
		j->method = m == 0 ? SIGNIN_DEVICE_CODE : SIGNIN_BROWSER;
		run_signin(t, j);
	}
	free(j);
}
