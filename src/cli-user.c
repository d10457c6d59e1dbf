/*
 * cli-user.c: the `exoconnect user ...` commands. Each one parses its
 * arguments, calls the service operation and prints the result as text
 * or, with --json, as JSON lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "cli.h"
#include "i18n.h"
#include "plat.h"
#include "service.h"
#include "users.h"
#include "util.h"

/* Seconds a browser sign-in waits for the redirect, the lifetime of an
 * authorization code (about 10 minutes). */
#define CLI_BROWSER_TIMEOUT 600
/* Longer passwords do not fit the password fields of many printers. */
#define CLI_DEVICE_PASSWORD_MAX 20

/* Output options of the sign-in callbacks. */
struct signin_view {
	int	json;
	int	no_open;
};

/* Writes b to stdout and empties it. */
static void
cli_flush_buf(struct buf *b)
{
	if (b->data != NULL)
		plat_write_console(1, b->data, b->len);
	buf_free(b);
}

/* Appends "name": value pairs of strings. */
static void
json_member(struct buf *b, const char *name, const char *value, int first)
{
	if (!first)
		buf_puts(b, ",");
	cli_json_string(b, name);
	buf_puts(b, ":");
	if (value == NULL)
		buf_puts(b, "null");
	else
		cli_json_string(b, value);
}

/* Appends "name": seconds, or null for 0 (never). */
static void
json_time(struct buf *b, const char *name, int64_t t)
{
	buf_puts(b, ",");
	cli_json_string(b, name);
	if (t == 0)
		buf_puts(b, ":null");
	else
		buf_printf(b, ":%lld", (long long)t);
}

static void
show_device_code(const char *uri, const char *code, const char *message,
    int expires_in, void *ctx)
{
	struct signin_view	*v = ctx;
	struct buf		 b;
	char			 text[1024], code_text[128];

	if (v->json) {
		buf_init(&b);
		buf_puts(&b, "{");
		json_member(&b, "verification_uri", uri, 1);
		json_member(&b, "user_code", code, 0);
		buf_printf(&b, ",\"expires_in\":%d", expires_in);
		json_member(&b, "message", message, 0);
		buf_puts(&b, "}\n");
		cli_flush_buf(&b);
		return;
	}
	if (message[0] != '\0') {
		cli_clean(text, sizeof(text), message);
		cli_out("%s\n", text);
	} else {
		cli_clean(text, sizeof(text), uri);
		cli_clean(code_text, sizeof(code_text), code);
		cli_out(_("To sign in, open %s in a browser on any device and "
		    "enter the code %s\n"), text, code_text);
	}
	cli_out(_("Waiting for the sign-in (the code expires in %d minutes); "
	    "press Ctrl+C to cancel.\n"), (expires_in + 59) / 60);
}

static void
show_browser_url(const char *url, void *ctx)
{
	struct signin_view	*v = ctx;
	struct buf		 b;
	int			 opened = 0;

	if (!v->no_open)
		opened = plat_open_browser(url) == EXO_OK;
	if (v->json) {
		buf_init(&b);
		buf_puts(&b, "{");
		json_member(&b, "authorize_url", url, 1);
		buf_puts(&b, "}\n");
		cli_flush_buf(&b);
		return;
	}
	if (opened)
		cli_out(_("Sign in with a browser on this computer (one was "
		    "opened):\n%s\n"), url);
	else
		cli_out(_("Sign in with a browser on this computer:\n%s\n"),
		    url);
	if (!v->no_open && !opened)
		cli_out("%s", _("Could not open a browser; open the URL "
		    "yourself.\n"));
	cli_out("%s", _("Waiting for the sign-in; press Ctrl+C to "
	    "cancel.\n"));
}

static void
signin_setup(struct cli_args *a, struct signin_request *rq,
    struct signin_view *v)
{
	memset(rq, 0, sizeof(*rq));
	v->json = (a->seen & CLI_OPT_JSON) != 0;
	v->no_open = (a->seen & CLI_OPT_NO_OPEN) != 0;
	rq->method = (a->seen & CLI_OPT_BROWSER) ? SIGNIN_BROWSER :
	    SIGNIN_DEVICE_CODE;
	rq->timeout_s = CLI_BROWSER_TIMEOUT;
	rq->on_device_code = show_device_code;
	rq->on_browser_url = show_browser_url;
	rq->ctx = v;
	rq->cancel = cli_cancel_flag();
}

static int
signin_failed(const struct exo_error *e, const struct oauth_error *oerr)
{
	cli_fail(e);
	cli_print_oauth_error(oerr);
	return CLI_FAIL;
}

static void
print_credentials(const char *mailbox, const char *login,
    const char *password)
{
	char	text[USER_MAILBOX_MAX];

	cli_clean(text, sizeof(text), mailbox);
	cli_out(_("Mailbox: %s\n"), text);
	cli_out(_("Login username: %s\n"), login);
	if (password != NULL) {
		cli_out(_("Login password: %s\n"), password);
		cli_out("%s", _("The password is shown only once.\n"));
	}
}

int
cli_user_add(struct cli_args *a)
{
	struct service		*sv;
	struct signin_request	 rq;
	struct signin_view	 view;
	struct signin_result	 r;
	struct oauth_error	 oerr;
	struct exo_error	 err;
	struct buf		 b;
	int			 rc;

	if ((rc = cli_open(a, SERVICE_OPEN_CREATE, &sv)) != CLI_OK)
		return rc;
	signin_setup(a, &rq, &view);
	err_clear(&err);
	if (service_user_add(sv, &rq, a->login, a->mailbox, &r, &oerr,
	    &err) != EXO_OK) {
		rc = signin_failed(&err, &oerr);
		goto out;
	}

	if (view.json) {
		buf_init(&b);
		buf_puts(&b, "{");
		json_member(&b, "login", r.login, 1);
		json_member(&b, "mailbox", r.mailbox, 0);
		json_member(&b, "password", r.password, 0);
		buf_printf(&b, ",\"personal\":%s}\n",
		    r.personal ? "true" : "false");
		cli_flush_buf(&b);
	} else
		print_credentials(r.mailbox, r.login, r.password);
	signin_result_wipe(&r);
out:
	if (rc == CLI_OK)
		cli_users_changed(sv);
	service_close(sv);
	return rc;
}

int
cli_user_signin(struct cli_args *a)
{
	struct service		*sv;
	struct signin_request	 rq;
	struct signin_view	 view;
	struct signin_result	 r;
	struct oauth_error	 oerr;
	struct exo_error	 err;
	struct buf		 b;
	char			 account[USER_MAILBOX_MAX];
	int			 rc;

	if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
		return rc;
	signin_setup(a, &rq, &view);
	err_clear(&err);
	if (service_user_signin(sv, a->args[0], &rq, &r, &oerr, &err) !=
	    EXO_OK) {
		rc = signin_failed(&err, &oerr);
		goto out;
	}

	if (view.json) {
		buf_init(&b);
		buf_puts(&b, "{");
		json_member(&b, "login", r.login, 1);
		json_member(&b, "mailbox", r.mailbox, 0);
		json_member(&b, "account", r.account, 0);
		buf_printf(&b, ",\"personal\":%s}\n",
		    r.personal ? "true" : "false");
		cli_flush_buf(&b);
		goto out;
	}
	print_credentials(r.mailbox, r.login, NULL);
	if (str_casecmp(r.account, r.mailbox) != 0) {
		cli_clean(account, sizeof(account), r.account);
		cli_out(_("Signed in as %s, which differs from the mailbox; "
		    "change the mailbox with `exoconnect user set %s "
		    "mailbox=ADDRESS` if needed.\n"), account, r.login);
	}
	cli_out("%s", _("The password is unchanged.\n"));
out:
	if (rc == CLI_OK)
		cli_users_changed(sv);
	service_close(sv);
	return rc;
}

/* ---- user list ---- */

static void
format_time(int64_t t, char out[32])
{
	if (t == 0)
		str_copy(out, _("never"), 32);
	else
		plat_format_time(t, out);
}

static void
list_json(const struct user *users, size_t n)
{
	struct buf	b;

	buf_init(&b);
	buf_puts(&b, "[");
	for (size_t i = 0; i < n; i++) {
		const struct user *u = &users[i];

		buf_puts(&b, i == 0 ? "\n{" : ",\n{");
		json_member(&b, "login", u->login, 1);
		json_member(&b, "mailbox", u->mailbox, 0);
		buf_printf(&b, ",\"personal\":%s",
		    u->personal ? "true" : "false");
		json_member(&b, "state", user_state_name(u->state), 0);
		json_member(&b, "state_code", u->state_code, 0);
		json_member(&b, "state_reason", u->state_reason, 0);
		json_time(&b, "last_pop3", u->last_pop3);
		json_time(&b, "last_smtp", u->last_smtp);
		json_time(&b, "last_refresh", u->last_refresh);
		buf_puts(&b, "}");
	}
	buf_puts(&b, n > 0 ? "\n]\n" : "]\n");
	cli_flush_buf(&b);
}

/* The fix for a state, printed below the user's line with the login. */
static const struct {
	enum user_state	 state;
	const char	*fix;
} state_fixes[] = {
	{ USER_SIGNIN_REQUIRED, "exoconnect user signin " },
	{ USER_CONSENT_REQUIRED, N_("an administrator grants consent at the "
	  "URL of `exoconnect consent-url`, then: exoconnect user signin ") },
	{ USER_CONFIG_ERROR, N_("correct the settings, then: exoconnect user "
	  "test ") },
};

static void
list_state_detail(const struct user *u)
{
	char	reason[USER_REASON_MAX];
	size_t	code_len = strlen(u->state_code);

	cli_clean(reason, sizeof(reason), u->state_reason);
	if (code_len == 0 || strncmp(reason, u->state_code, code_len) == 0)
		cli_out("  %s\n", reason);
	else
		cli_out("  %s: %s\n", u->state_code, reason);

	for (size_t i = 0; i < sizeof(state_fixes) / sizeof(state_fixes[0]);
	    i++) {
		if (state_fixes[i].state != u->state)
			continue;
		cli_out(_("  Fix: %s%s\n"), tr(state_fixes[i].fix), u->login);
	}
}

/* Columns of the `user list` table, each as wide as its widest cell. */
enum list_column {
	LIST_LOGIN, LIST_MAILBOX, LIST_STATE, LIST_POP3, LIST_SMTP,
	LIST_COLUMNS,
};

static const char *const list_headers[LIST_COLUMNS] = {
	N_("LOGIN"), N_("MAILBOX"), N_("STATE"), N_("LAST POP3"),
	N_("LAST SMTP"),
};

/* East Asian wide and fullwidth code points, which take two columns. */
static const struct {
	unsigned long	first, last;
} wide_ranges[] = {
	{ 0x1100, 0x115f }, { 0x2e80, 0x303e }, { 0x3041, 0x33ff },
	{ 0x3400, 0x4dbf }, { 0x4e00, 0x9fff }, { 0xa000, 0xa4cf },
	{ 0xac00, 0xd7a3 }, { 0xf900, 0xfaff }, { 0xfe30, 0xfe4f },
	{ 0xff00, 0xff60 }, { 0xffe0, 0xffe6 }, { 0x20000, 0x3fffd },
};

/* Terminal columns of UTF-8 text; a byte that starts no character is 1. */
static int
text_width(const char *text)
{
	const unsigned char	*p = (const unsigned char *)text;
	unsigned long		 cp;
	int			 width = 0, extra;

	while (*p != '\0') {
		if (*p < 0x80 || (*p & 0xc0) == 0x80 || *p >= 0xf8) {
			width++;
			p++;
			continue;
		}
		/* The lead byte gives the number of continuation bytes. */
		if (*p >= 0xf0)
			extra = 3;
		else if (*p >= 0xe0)
			extra = 2;
		else
			extra = 1;
		cp = *p++ & (0x3f >> extra);
		for (; extra > 0 && (*p & 0xc0) == 0x80; extra--)
			cp = cp << 6 | (*p++ & 0x3f);
		width++;
		for (size_t i = 0; i < sizeof(wide_ranges) /
		    sizeof(wide_ranges[0]); i++)
			if (cp >= wide_ranges[i].first &&
			    cp <= wide_ranges[i].last)
				width++;
	}
	return width;
}

static void
list_row(const char *const cells[LIST_COLUMNS],
    const int widths[LIST_COLUMNS])
{
	for (int c = 0; c < LIST_COLUMNS - 1; c++)
		cli_out("%s%*s", cells[c], widths[c] - text_width(cells[c]) + 2,
		    "");
	cli_out("%s\n", cells[LIST_COLUMNS - 1]);
}

/* Fills the cells of u's row; the strings live in the other arguments. */
static void
list_cells(const struct user *u, const char *cells[LIST_COLUMNS],
    char mailbox[USER_MAILBOX_MAX], char pop3[32], char smtp[32])
{
	cli_clean(mailbox, USER_MAILBOX_MAX, u->mailbox);
	format_time(u->last_pop3, pop3);
	format_time(u->last_smtp, smtp);
	cells[LIST_LOGIN] = u->login;
	cells[LIST_MAILBOX] = mailbox;
	cells[LIST_STATE] = tr(user_state_name(u->state));
	cells[LIST_POP3] = pop3;
	cells[LIST_SMTP] = smtp;
}

static void
list_text(const struct user *users, size_t n)
{
	const char	*cells[LIST_COLUMNS];
	char		 mailbox[USER_MAILBOX_MAX];
	char		 pop3[32], smtp[32];
	int		 widths[LIST_COLUMNS], w;

	if (n == 0) {
		cli_out("%s", _("No users. Add one with `exoconnect user "
		    "add`.\n"));
		return;
	}
	for (int c = 0; c < LIST_COLUMNS; c++) {
		cells[c] = tr(list_headers[c]);
		widths[c] = text_width(cells[c]);
	}
	for (size_t i = 0; i < n; i++) {
		list_cells(&users[i], cells, mailbox, pop3, smtp);
		for (int c = 0; c < LIST_COLUMNS; c++)
			if ((w = text_width(cells[c])) > widths[c])
				widths[c] = w;
	}

	for (int c = 0; c < LIST_COLUMNS; c++)
		cells[c] = tr(list_headers[c]);
	list_row(cells, widths);
	for (size_t i = 0; i < n; i++) {
		list_cells(&users[i], cells, mailbox, pop3, smtp);
		list_row(cells, widths);
		if (users[i].state != USER_OK &&
		    users[i].state != USER_REFRESHING)
			list_state_detail(&users[i]);
	}
}

/*
 * Lists the users through the running serve of the data folder, because
 * only its token manager tracks whether a refresh runs or is retried.
 * Returns EXO_ERR_NOTFOUND when no serve replies.
 */
static int
list_from_serve(const struct cli_args *a, struct user **users, size_t *n,
    struct exo_error *e)
{
	struct admin	*adm;
	int		 rc;

	if ((rc = admin_remote_open(a->config, &adm, e)) != EXO_OK)
		return EXO_ERR_NOTFOUND;
	rc = adm->ops->user_list(adm, users, n, e);
	adm->ops->quit(adm);
	return rc;
}

int
cli_user_list(struct cli_args *a)
{
	struct service		*sv = NULL;
	struct user		*users = NULL;
	struct exo_error	 err;
	size_t			 n = 0;
	int			 rc = CLI_OK;

	err_clear(&err);
	switch (list_from_serve(a, &users, &n, &err)) {
	case EXO_OK:
		break;
	case EXO_ERR_NOTFOUND:
		err_clear(&err);
		if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
			return rc;
		if (service_user_list(sv, &users, &n, &err) == EXO_OK)
			break;
		/* FALLTHROUGH */
	default:
		cli_fail(&err);
		service_close(sv);
		return CLI_FAIL;
	}

	if (a->seen & CLI_OPT_JSON)
		list_json(users, n);
	else
		list_text(users, n);
	if (a->seen & CLI_OPT_CHECK)
		for (size_t i = 0; i < n; i++)
			if (users[i].state != USER_OK &&
			    users[i].state != USER_REFRESHING)
				rc = CLI_FAIL;
	userdb_free_list(users, n);
	service_close(sv);
	return rc;
}

/* ---- commands on one user without a sign-in ---- */

int
cli_user_delete(struct cli_args *a)
{
	struct service		*sv;
	struct exo_error	 err;
	int			 rc;

	if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
		return rc;
	err_clear(&err);
	if (service_user_delete(sv, a->args[0], &err) != EXO_OK) {
		cli_fail(&err);
		rc = CLI_FAIL;
	} else
		cli_out(_("Deleted user %s.\n"), a->args[0]);
	if (rc == CLI_OK)
		cli_users_changed(sv);
	service_close(sv);
	return rc;
}

/*
 * Copies the login as stored for name, which matches it without regard
 * to ASCII case, so the devices get the spelling the store has.
 */
static void
stored_login(struct service *sv, const char *name, char out[USER_LOGIN_MAX])
{
	struct user	*u = calloc(1, sizeof(*u));

	str_copy(out, name, USER_LOGIN_MAX);
	if (u == NULL)
		return;
	if (userdb_get(service_userdb(sv), name, u, NULL) == EXO_OK)
		str_copy(out, u->login, USER_LOGIN_MAX);
	user_wipe(u);
	free(u);
}

int
cli_user_reset_password(struct cli_args *a)
{
	struct service		*sv;
	struct exo_error	 err;
	struct buf		 b;
	char			 password[USER_PASSWORD_MAX];
	char			 login[USER_LOGIN_MAX];
	int			 rc;

	if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
		return rc;
	err_clear(&err);
	if (service_user_reset_password(sv, a->args[0], password, &err) !=
	    EXO_OK) {
		cli_fail(&err);
		rc = CLI_FAIL;
		goto out;
	}
	stored_login(sv, a->args[0], login);
	if (a->seen & CLI_OPT_JSON) {
		buf_init(&b);
		buf_puts(&b, "{");
		json_member(&b, "login", login, 1);
		json_member(&b, "password", password, 0);
		buf_puts(&b, "}\n");
		cli_flush_buf(&b);
	} else {
		cli_out(_("Login username: %s\n"), login);
		cli_out(_("Login password: %s\n"), password);
		cli_out("%s", _("The password is shown only once.\n"));
	}
	plat_wipe(password, sizeof(password));
out:
	if (rc == CLI_OK)
		cli_users_changed(sv);
	service_close(sv);
	return rc;
}

/* Warns about passwords that some devices cannot send. */
static void
warn_password(const char *password)
{
	int	ascii = 1;

	for (const char *p = password; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = 0;
	if (strlen(password) > CLI_DEVICE_PASSWORD_MAX)
		cli_err(_("Note: the password is longer than %d characters; "
		    "some printers cannot store that many.\n"),
		    CLI_DEVICE_PASSWORD_MAX);
	if (!ascii)
		cli_err("%s", _("Note: the password has non-ASCII characters; "
		    "some devices send them in another encoding, so plain "
		    "ASCII is safer.\n"));
}

static int
read_new_password(const char *login, char *pw, char *again, size_t cap)
{
	char	prompt[USER_LOGIN_MAX + 40];
	int	rc;

	snprintf(prompt, sizeof(prompt), _("New password for %s: "), login);
	rc = plat_read_password(prompt, pw, cap);
	if (rc != EXO_OK || !plat_is_terminal())
		return rc;
	rc = plat_read_password(_("Repeat the password: "), again, cap);
	if (rc == EXO_OK && strcmp(pw, again) != 0)
		rc = EXO_ERR_AUTH;
	return rc;
}

int
cli_user_set_password(struct cli_args *a)
{
	struct service		*sv;
	struct exo_error	 err;
	char			 pw[USER_PASSWORD_MAX], again[USER_PASSWORD_MAX];
	int			 rc;

	if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
		return rc;
	err_clear(&err);
	switch (read_new_password(a->args[0], pw, again, sizeof(pw))) {
	case EXO_OK:
		break;
	case EXO_ERR_AUTH:
		err_set(&err, EXO_ERR_INVALID, "%s", _("the passwords differ; "
		    "nothing was changed"));
		goto fail;
	case EXO_ERR_TOOLONG:
		err_set(&err, EXO_ERR_INVALID, _("the password is longer than "
		    "%d bytes"), SERVICE_PASSWORD_MAX);
		goto fail;
	case EXO_ERR_INVALID:
		err_set(&err, EXO_ERR_INVALID, "%s", _("the password contains "
		    "a NUL byte; nothing was changed"));
		goto fail;
	default:
		err_set(&err, EXO_ERR_CLOSED, "%s",
		    _("no password was entered"));
		goto fail;
	}
	if (service_user_set_password(sv, a->args[0], pw, &err) != EXO_OK)
		goto fail;
	warn_password(pw);
	cli_out(_("Password set for %s.\n"), a->args[0]);
	goto out;
fail:
	cli_fail(&err);
	rc = CLI_FAIL;
out:
	plat_wipe(pw, sizeof(pw));
	plat_wipe(again, sizeof(again));
	if (rc == CLI_OK)
		cli_users_changed(sv);
	service_close(sv);
	return rc;
}

/* Checks every KEY=VALUE before any is applied. */
static int
check_assignments(struct cli_args *a)
{
	const char *const	*keys = service_user_keys();
	const char		*eq;
	size_t			 len;
	int			 known;

	for (int i = 1; i < a->nargs; i++) {
		eq = strchr(a->args[i], '=');
		if (eq == NULL || eq == a->args[i]) {
			cli_err(_("exoconnect: expected KEY=VALUE, not "
			    "\"%s\"\n"), a->args[i]);
			return CLI_USAGE;
		}
		len = (size_t)(eq - a->args[i]);
		known = 0;
		for (size_t k = 0; keys[k] != NULL; k++)
			if (strlen(keys[k]) == len &&
			    strncmp(keys[k], a->args[i], len) == 0)
				known = 1;
		if (!known) {
			cli_err(_("exoconnect: unknown setting \"%.*s\"; "
			    "known settings:"), (int)len, a->args[i]);
			for (size_t k = 0; keys[k] != NULL; k++)
				cli_err(" %s", keys[k]);
			cli_err("\n");
			return CLI_USAGE;
		}
	}
	return CLI_OK;
}

int
cli_user_set(struct cli_args *a)
{
	struct service		*sv;
	struct exo_error	 err;
	char			 key[64];
	const char		*eq;
	int			 rc;

	if ((rc = check_assignments(a)) != CLI_OK)
		return rc;
	if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
		return rc;
	for (int i = 1; i < a->nargs && rc == CLI_OK; i++) {
		eq = strchr(a->args[i], '=');
		snprintf(key, sizeof(key), "%.*s", (int)(eq - a->args[i]),
		    a->args[i]);
		err_clear(&err);
		rc = service_user_set(sv, a->args[0], key, eq + 1, &err);
		if (rc != EXO_OK) {
			cli_fail(&err);
			/* An invalid value is a usage error, like an unknown
			 * key; a missing user or a failed write is not. */
			rc = rc == EXO_ERR_INVALID ? CLI_USAGE : CLI_FAIL;
		} else
			cli_out(_("Set %s for %s.\n"), key, a->args[0]);
	}
	/* Keys set before a failing one changed the user too. */
	cli_users_changed(sv);
	service_close(sv);
	return rc;
}

static void
print_step(const char *line, void *ctx)
{
	char	text[1024];

	(void)ctx;
	cli_clean(text, sizeof(text), line);
	cli_out("%s\n", text);
}

int
cli_user_test(struct cli_args *a)
{
	struct service		*sv;
	struct exo_error	 err;
	int			 rc;

	if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
		return rc;
	err_clear(&err);
	if (service_user_test(sv, a->args[0], print_step, NULL, &err) !=
	    EXO_OK) {
		cli_err(_("exoconnect: the test of %s failed\n"),
		    a->args[0]);
		rc = CLI_FAIL;
	} else
		cli_out("%s", _("All checks passed.\n"));
	service_close(sv);
	return rc;
}
