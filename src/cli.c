/*
 * cli.c: the command line. Parses the options into struct cli_args, finds
 * the command in the command table, and runs `serve`, `consent-url` and
 * `help`. The user commands are in cli-user.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "control.h"
#include "event.h"
#include "i18n.h"
#include "plat.h"
#include "service.h"
#include "tui.h"
#include "util.h"

/* Text longer than this goes through the heap in cli_out and cli_err. */
#define CLI_LINE_MAX 1024

struct cli_command {
	const char	*words;		/* "user add" */
	int		(*run)(struct cli_args *a);
	unsigned	 opts;		/* CLI_OPT_* the command accepts */
	int		 min_args;
	int		 max_args;	/* -1: no limit */
	const char	*usage;		/* arguments after the words */
	const char	*summary;	/* one line for the command list */
	const char	*help;		/* the rest of `help COMMAND` */
};

/* Options, in the form the user types them. */
static const struct cli_option {
	const char	*name;
	const char	*alias;
	unsigned	 bit;		/* 0 for -c, --help and --version */
	int		 takes_value;
} cli_options[] = {
	{ "--config", "-c", 0, 1 },
	{ "--json", NULL, CLI_OPT_JSON, 0 },
	{ "--check", NULL, CLI_OPT_CHECK, 0 },
	{ "--device-code", NULL, CLI_OPT_DEVICE_CODE, 0 },
	{ "--browser", NULL, CLI_OPT_BROWSER, 0 },
	{ "--no-open", NULL, CLI_OPT_NO_OPEN, 0 },
	{ "--login", NULL, CLI_OPT_LOGIN, 1 },
	{ "--mailbox", NULL, CLI_OPT_MAILBOX, 1 },
	{ "--account", NULL, CLI_OPT_ACCOUNT, 1 },
	{ "--yes", NULL, CLI_OPT_YES, 0 },
	{ "--help", "-h", 0, 0 },
	{ "--version", "-V", 0, 0 },
};

#define CLI_OPTION_COUNT (sizeof(cli_options) / sizeof(cli_options[0]))

static int cli_consent_url(struct cli_args *a);
static int cli_help(struct cli_args *a);

#define SIGNIN_OPTS (CLI_OPT_DEVICE_CODE | CLI_OPT_BROWSER | CLI_OPT_NO_OPEN \
	| CLI_OPT_JSON)

static const struct cli_command cli_commands[] = {
	{ "serve", cli_serve, 0, 0, 0, "",
	  N_("run the POP3 and SMTP servers until Ctrl+C or SIGTERM"),
	  N_("Loads the settings, opens the listeners of the enabled servers\n"
	  "and proxies devices to Exchange Online. Logs to the log file and\n"
	  "to stderr. On Ctrl+C or SIGTERM it stops accepting, gives open\n"
	  "sessions 10 seconds and exits. SIGHUP re-reads the settings: the\n"
	  "[log] section applies at once, the rest at the next start.\n"
	  "Only one serve runs per data folder.\n") },
	{ "user add", cli_user_add, SIGNIN_OPTS | CLI_OPT_LOGIN |
	  CLI_OPT_MAILBOX, 0, 0,
	  "[--device-code | --browser] [--login NAME] [--mailbox ADDRESS] "
	  "[--json] [--no-open]",
	  N_("sign a mailbox in and create a local login for devices"),
	  N_("Signs in with the device code flow (the default: open the page\n"
	  "on any device and enter the code) or with --browser (a browser on\n"
	  "this computer; --no-open prints the URL without opening it).\n"
	  "The mailbox is the signed-in account unless --mailbox gives one;\n"
	  "the login is derived from the mailbox unless --login gives one.\n"
	  "Prints the login and a new password, shown only once. With\n"
	  "--json, prints one JSON line with the sign-in details, then one\n"
	  "with login, mailbox, password and personal. Ctrl+C cancels and\n"
	  "stores nothing.\n") },
	{ "user list", cli_user_list, CLI_OPT_JSON | CLI_OPT_CHECK, 0, 0,
	  "[--json] [--check]",
	  N_("list users with their state and last use"),
	  N_("--json prints an array of objects with login, mailbox, personal,\n"
	  "state, state_code, state_reason, last_pop3, last_smtp and\n"
	  "last_refresh (seconds since 1970, or null). --check exits with\n"
	  "status 1 when any user is not in state valid.\n") },
	{ "user delete", cli_user_delete, 0, 1, 1, "NAME",
	  N_("delete a user and its tokens"),
	  N_("A running serve closes the user's sessions within a few "
	  "seconds.\n") },
	{ "user signin", cli_user_signin, SIGNIN_OPTS, 1, 1,
	  "NAME [--device-code | --browser] [--json] [--no-open]",
	  N_("sign a user's mailbox in again"),
	  N_("Replaces the tokens and clears the state; the login, password\n"
	  "and mailbox stay. Use it when `user list` shows sign-in\n"
	  "required.\n") },
	{ "user reset-password", cli_user_reset_password, CLI_OPT_JSON, 1, 1,
	  "NAME [--json]", N_("give a user a new random password"),
	  N_("Prints the new password once; devices need it entered "
	  "again.\n") },
	{ "user set-password", cli_user_set_password, 0, 1, 1, "NAME",
	  N_("set a user's password to one you choose"),
	  N_("Reads the password from the terminal without echo, or one line\n"
	  "from stdin when stdin is not a terminal. Plain ASCII of at most\n"
	  "20 characters works on every device seen so far.\n") },
	{ "user set", cli_user_set, 0, 2, -1, "NAME KEY=VALUE...",
	  N_("change a user's settings"),
	  N_("Keys:\n"
	  "  mailbox=ADDRESS       the mailbox used upstream (shared\n"
	  "                        mailboxes, a primary address that differs\n"
	  "                        from the sign-in name)\n"
	  "  sender=pass|rewrite   pass the device's sender address as it\n"
	  "                        is, or replace it with the mailbox\n"
	  "  accept_legacy_charset=yes|no\n"
	  "                        also accept a non-ASCII password sent in\n"
	  "                        ISO-8859-1 or Windows-1252 (default no)\n"
	  "  encode_utf8_headers=yes|no\n"
	  "                        write raw UTF-8 in header values such as\n"
	  "                        Subject as RFC 2047 words (default no)\n"
	  "  relabel_iso2022jp=yes|no\n"
	  "                        label ISO-2022-JP-2 text that fits\n"
	  "                        ISO-2022-JP as ISO-2022-JP (default no)\n") },
	{ "user test", cli_user_test, 0, 1, 1, "NAME",
	  N_("refresh a user's token and log in to Exchange POP3 and SMTP"),
	  N_("Prints each step; exits with status 1 when a step fails.\n") },
	{ "service install", cli_service_install, CLI_OPT_ACCOUNT, 0, 0,
	  "[--account NAME]",
	  N_("install exoconnect as a Windows service (elevated console)"),
	  N_("Copies this program to %ProgramFiles%\\exoconnect and the\n"
	  "settings, users.conf and secrets.dat to %ProgramData%\\exoconnect,\n"
	  "which only SYSTEM, Administrators and the service's account may\n"
	  "open. Registers the service (automatic start, restart after a\n"
	  "failure), its Event Log source and a firewall rule for the POP3\n"
	  "and SMTP ports. It runs as LocalSystem unless --account names an\n"
	  "account (DOMAIN\\user or .\\user; asks for its password).\n") },
	{ "service uninstall", cli_service_uninstall, CLI_OPT_YES, 0, 0,
	  "[--yes]", N_("stop and remove the Windows service"),
	  N_("Removes the service, its firewall rule, its Event Log source and\n"
	  "the installed program. Asks before deleting the data folder;\n"
	  "--yes deletes it without asking.\n") },
	{ "service start", cli_service_start, 0, 0, 0, "",
	  N_("start the Windows service"), "" },
	{ "service stop", cli_service_stop, 0, 0, 0, "",
	  N_("stop the Windows service"), "" },
	{ "service status", cli_service_status, 0, 0, 0, "",
	  N_("show the Windows service's state"),
	  N_("Exits with status 1 when the service is not installed.\n") },
	{ "service run", cli_service_run, 0, 0, 0, "",
	  N_("run serve under the Windows service manager"),
	  N_("The installed service's command line. It fails when started\n"
	  "from a console; use serve there.\n") },
	{ "consent-url", cli_consent_url, 0, 0, 0, "",
	  N_("print the URL where a tenant admin grants consent to the app"),
	  N_("Open it as an administrator of the tenant when sign-ins fail\n"
	  "with AADSTS65001 (consent missing).\n") },
	{ "help", cli_help, 0, 0, -1, "[COMMAND]",
	  N_("show help for all commands or one"), "" },
};

#define CLI_COMMAND_COUNT (sizeof(cli_commands) / sizeof(cli_commands[0]))

/*
 * Commands the command list leaves out, because only the service manager
 * runs them. `help COMMAND` still describes them.
 */
static const char *const cli_unlisted[] = { "service run" };

/* ---- output ---- */

static void
cli_write(int fd, const char *fmt, va_list ap)
{
	char	 line[CLI_LINE_MAX];
	char	*big;
	va_list	 copy;
	int	 n;

	va_copy(copy, ap);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0) {
		va_end(copy);
		return;
	}
	if ((size_t)n < sizeof(line)) {
		plat_write_console(fd, line, (size_t)n);
		va_end(copy);
		return;
	}
	big = malloc((size_t)n + 1);
	if (big != NULL) {
		vsnprintf(big, (size_t)n + 1, fmt, copy);
		plat_write_console(fd, big, (size_t)n);
		plat_wipe(big, (size_t)n);
		free(big);
	}
	va_end(copy);
}

void
cli_out(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cli_write(1, fmt, ap);
	va_end(ap);
}

void
cli_err(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	cli_write(2, fmt, ap);
	va_end(ap);
}

void
cli_fail(const struct exo_error *e)
{
	char	text[I18N_ERROR_MAX];

	cli_err("exoconnect: %s\n", i18n_error(e, text, sizeof(text)));
}

void
cli_clean(char *dst, size_t cap, const char *text)
{
	size_t	i;

	if (cap == 0)
		return;
	for (i = 0; i + 1 < cap && text[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)text[i];

		dst[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	dst[i] = '\0';
}

int
cli_json_string(struct buf *b, const char *text)
{
	const unsigned char	*p;
	int			 rc = buf_puts(b, "\"");

	for (p = (const unsigned char *)text; rc == EXO_OK && *p; p++) {
		if (*p == '"' || *p == '\\')
			rc = buf_printf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			rc = buf_printf(b, "\\u%04x", *p);
		else
			rc = buf_append(b, p, 1);
	}
	if (rc == EXO_OK)
		rc = buf_puts(b, "\"");
	return rc;
}

/* Next steps for common codes, printed when oauth.c gave no advice. */
static const struct {
	long long	 code;
	const char	*hint;
} oauth_hints[] = {
	{ 65001, N_("An administrator of the tenant can grant consent at the "
	  "URL that `exoconnect consent-url` prints.") },
	{ 65004, N_("The consent was declined; an administrator can grant it "
	  "at the URL that `exoconnect consent-url` prints.") },
	{ 7000218, N_("In Microsoft Entra, open the app registration, then "
	  "Authentication, and set \"Allow public client flows\" to "
	  "Yes.") },
	{ 50020, N_("The account is not in the configured tenant; set tenant "
	  "to common or to the account's tenant.") },
};

void
cli_print_oauth_error(const struct oauth_error *oerr)
{
	char	text[sizeof(oerr->advice)];

	if (oerr->advice[0] != '\0') {
		cli_clean(text, sizeof(text), tr(oerr->advice));
		cli_err("%s\n", text);
		return;
	}
	for (size_t i = 0; i < sizeof(oauth_hints) / sizeof(oauth_hints[0]);
	    i++)
		if (oauth_hints[i].code == oerr->code)
			cli_err("%s\n", tr(oauth_hints[i].hint));
}

/* ---- opening the service ---- */

static volatile int cli_cancelled;

static void
cli_on_cancel(void)
{
	cli_cancelled = 1;
}

volatile int *
cli_cancel_flag(void)
{
	cli_cancelled = 0;
	plat_on_signals(cli_on_cancel, NULL);
	return &cli_cancelled;
}

int
cli_open(const struct cli_args *a, unsigned flags, struct service **sv)
{
	struct exo_error	 err;
	char			 notice[512], text[I18N_ERROR_MAX];

	err_clear(&err);
	if (service_open(a->config, flags, sv, notice, &err) != EXO_OK) {
		cli_fail(&err);
		return CLI_FAIL;
	}
	if (notice[0] != '\0')
		cli_err("exoconnect: %s\n", notice);

	/* Admin actions and token refreshes belong in the service's log. */
	if (service_settings(*sv)->log.file[0] != '\0' &&
	    service_log_start(*sv, 0, &err) != EXO_OK)
		cli_err(_("exoconnect: warning: %s\n"), i18n_error(&err, text,
		    sizeof(text)));
	return CLI_OK;
}

void
cli_users_changed(struct service *sv)
{
	struct exo_error	err;
	int			rc;

	err_clear(&err);
	rc = control_users_changed(service_settings(sv)->data_dir, &err);
	if (rc != EXO_OK && rc != EXO_ERR_NOTFOUND)
		cli_err(_("exoconnect: warning: the running serve did not "
		    "confirm the change (%s); it reads the changed users "
		    "within a second anyway\n"), err.msg);
}

/* ---- serve ---- */

static struct service *serving;

static void
serve_on_stop(void)
{
	service_request_stop(serving);
}

void
cli_serve_stop(void)
{
	serve_on_stop();
}

static void
serve_on_reload(void)
{
	service_reload(serving);
}

static void
serve_control_failed(const struct exo_error *err)
{
	ev_emit(EV_WARN, 0, "serve.control_failed", "The screen cannot "
	    "attach to this serve: {error}", EV_ERROR("error", err),
	    (char *)NULL);
}

/*
 * Makes the control channel before the servers start, so that its backlog
 * contains their events. The serve runs on without it. Returns NULL when
 * it failed.
 */
static struct control *
serve_control_open(struct service *sv)
{
	struct control		*ctl;
	struct exo_error	 err;

	err_clear(&err);
	if (control_open(sv, &ctl, &err) != EXO_OK) {
		serve_control_failed(&err);
		return NULL;
	}
	return ctl;
}

/* Listens on the control channel, so a screen can attach; NULL on failure. */
static struct control *
serve_control_listen(struct control *ctl)
{
	struct exo_error	 err;

	err_clear(&err);
	if (ctl == NULL || control_listen(ctl, &err) == EXO_OK)
		return ctl;
	serve_control_failed(&err);
	control_stop(ctl);
	return NULL;
}

int
cli_serve(struct cli_args *a)
{
	struct service		*sv = NULL;
	struct control		*ctl;
	struct exo_error	 err;
	char			 notice[512];
	int			 rc = CLI_FAIL;

	err_clear(&err);
	if (service_open(a->config, SERVICE_OPEN_CREATE, &sv, notice, &err) !=
	    EXO_OK)
		goto fail;
	if (service_check_ready(sv, &err) != EXO_OK)
		goto fail;

	if (service_log_start(sv, 1, &err) != EXO_OK)
		goto fail;
	if (notice[0] != '\0')
		ev_emit(EV_WARN, 0, "service.notice", "{notice}", "notice",
		    notice, (char *)NULL);

	serving = sv;
	plat_on_signals(serve_on_stop, serve_on_reload);
	cli_alerts_start();
	ctl = serve_control_open(sv);
	if (service_start(sv, &err) != EXO_OK) {
		control_stop(ctl);
		goto out;		/* logged to stderr and the log file */
	}
	plat_svc_running();

	ctl = serve_control_listen(ctl);
	service_wait(sv);
	control_stop(ctl);
	service_stop(sv);
	rc = CLI_OK;
	goto out;
fail:
	cli_fail(&err);
out:
	cli_alerts_stop();
	log_stop();
	service_close(sv);
	return rc;
}

/* ---- consent-url ---- */

static int
cli_consent_url(struct cli_args *a)
{
	struct service		*sv;
	struct exo_error	 err;
	char			 url[2048];
	int			 rc;

	if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
		return rc;
	err_clear(&err);
	if (service_check_ready(sv, &err) != EXO_OK) {
		cli_fail(&err);
		service_close(sv);
		return CLI_FAIL;
	}
	service_consent_url(sv, url, sizeof(url));
	cli_out("%s\n", url);
	service_close(sv);
	return CLI_OK;
}

/* ---- help ---- */

static void
cli_usage_line(int fd, const struct cli_command *c)
{
	const char	*space = c->usage[0] != '\0' ? " " : "";

	if (fd == 1)
		cli_out("  exoconnect %s%s%s\n", c->words, space, c->usage);
	else
		cli_err("  exoconnect %s%s%s\n", c->words, space, c->usage);
}

static int
cli_is_unlisted(const struct cli_command *c)
{
	for (size_t i = 0; i < sizeof(cli_unlisted) / sizeof(cli_unlisted[0]);
	    i++)
		if (strcmp(c->words, cli_unlisted[i]) == 0)
			return 1;
	return 0;
}

/* Prints the list of commands to fd 1 or 2. */
static void
cli_print_help(int fd)
{
	void	(*put)(const char *, ...) = fd == 1 ? cli_out : cli_err;

	put(_("exoconnect %s: POP3 and SMTP for old devices, with OAuth2 to "
	    "Exchange Online\n\nUsage: exoconnect [-c FILE] COMMAND "
	    "[ARGS]\n\nCommands:\n"), EXO_VERSION);
	for (size_t i = 0; i < CLI_COMMAND_COUNT; i++)
		if (!cli_is_unlisted(&cli_commands[i]))
			put("  %-22s %s\n", cli_commands[i].words,
			    tr(cli_commands[i].summary));
	put("%s", _("\nOptions:\n"
	    "  -c, --config FILE      the settings file (default: "
	    "exoconnect.conf beside\n"
	    "                         the program, or in the user's "
	    "config folder)\n"
	    "  -h, --help             show help; with a command, its help\n"
	    "  -V, --version          show the version\n\n"
	    "`exoconnect help COMMAND` describes one command. Exit status: "
	    "0 success,\n1 failure, 2 invalid command line.\n"));
}

static void
cli_print_command_help(const struct cli_command *c)
{
	const char	*summary = tr(c->summary);

	cli_out("%s", _("Usage:\n"));
	cli_usage_line(1, c);
	cli_out("\n%c%s.\n", summary[0] >= 'a' && summary[0] <= 'z' ?
	    summary[0] - 'a' + 'A' : summary[0], summary + 1);
	if (c->help[0] != '\0')
		cli_out("\n%s", tr(c->help));
}

static const struct cli_command *
cli_find(const char *const *words, int nwords, int *used)
{
	const struct cli_command	*best = NULL;
	char				 joined[128];
	size_t				 len;
	int				 best_used = 0;

	joined[0] = '\0';
	for (int n = 1; n <= nwords && n <= 2; n++) {
		if (n > 1)
			str_copy(joined + strlen(joined), " ",
			    sizeof(joined) - strlen(joined));
		len = strlen(joined);
		if (str_copy(joined + len, words[n - 1], sizeof(joined) -
		    len) >= sizeof(joined) - len)
			break;
		for (size_t i = 0; i < CLI_COMMAND_COUNT; i++)
			if (strcmp(cli_commands[i].words, joined) == 0) {
				best = &cli_commands[i];
				best_used = n;
			}
	}
	*used = best_used;
	return best;
}

static int
cli_help(struct cli_args *a)
{
	const struct cli_command	*c;
	int				 used;

	if (a->nargs == 0) {
		cli_print_help(1);
		return CLI_OK;
	}
	if (a->nargs == 1 && strcmp(a->args[0], "user") == 0) {
		cli_out("%s", _("The user commands are:\n"));
		for (size_t i = 0; i < CLI_COMMAND_COUNT; i++)
			if (strncmp(cli_commands[i].words, "user ", 5) == 0)
				cli_usage_line(1, &cli_commands[i]);
		cli_out("%s", _("\n`exoconnect help user COMMAND` describes "
		    "one.\n"));
		return CLI_OK;
	}
	c = cli_find(a->args, a->nargs, &used);
	if (c == NULL || used != a->nargs) {
		cli_err(_("exoconnect: no command \"%s\"; `exoconnect help` "
		    "lists them\n"), a->args[0]);
		return CLI_USAGE;
	}
	cli_print_command_help(c);
	return CLI_OK;
}

/* ---- parsing ---- */

static const struct cli_option *
cli_find_option(const char *arg, const char **value)
{
	const char	*eq = strchr(arg, '=');
	size_t		 len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);

	*value = NULL;
	for (size_t i = 0; i < CLI_OPTION_COUNT; i++) {
		const struct cli_option *o = &cli_options[i];

		if ((strlen(o->name) == len && strncmp(o->name, arg, len) == 0)
		    || (o->alias != NULL && strcmp(o->alias, arg) == 0)) {
			if (eq != NULL && !o->takes_value)
				return NULL;
			if (eq != NULL)
				*value = eq + 1;
			return o;
		}
	}
	return NULL;
}

/* Parses argv into a; sets *help and *version for those options. */
static int
cli_parse(int argc, char **argv, struct cli_args *a, int *help,
    int *version)
{
	const struct cli_option	*o;
	const char		*value;
	int			 only_words = 0;

	memset(a, 0, sizeof(*a));
	*help = *version = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (only_words || arg[0] != '-' || arg[1] == '\0') {
			if (a->nwords == CLI_WORDS_MAX) {
				cli_err(_("exoconnect: more than %d "
				    "arguments\n"), CLI_WORDS_MAX);
				return CLI_USAGE;
			}
			a->words[a->nwords++] = arg;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_words = 1;
			continue;
		}
		o = cli_find_option(arg, &value);
		if (o == NULL) {
			cli_err(_("exoconnect: unknown option %s; "
			    "`exoconnect help` lists the options\n"), arg);
			return CLI_USAGE;
		}
		if (o->takes_value && value == NULL) {
			if (i + 1 >= argc) {
				cli_err(_("exoconnect: option %s needs a "
				    "value\n"), o->name);
				return CLI_USAGE;
			}
			value = argv[++i];
		}

		a->seen |= o->bit;
		if (strcmp(o->name, "--config") == 0)
			a->config = value;
		else if (o->bit == CLI_OPT_LOGIN)
			a->login = value;
		else if (o->bit == CLI_OPT_MAILBOX)
			a->mailbox = value;
		else if (o->bit == CLI_OPT_ACCOUNT)
			a->account = value;
		else if (strcmp(o->name, "--help") == 0)
			*help = 1;
		else if (strcmp(o->name, "--version") == 0)
			*version = 1;
	}
	return CLI_OK;
}

/* Checks the options and argument count of a against command c. */
static int
cli_check(const struct cli_command *c, const struct cli_args *a)
{
	unsigned	extra = a->seen & ~c->opts;

	for (size_t i = 0; extra != 0 && i < CLI_OPTION_COUNT; i++)
		if (cli_options[i].bit & extra) {
			cli_err(_("exoconnect: option %s does not apply to "
			    "`%s`\n"), cli_options[i].name, c->words);
			return CLI_USAGE;
		}
	if ((a->seen & CLI_OPT_DEVICE_CODE) && (a->seen & CLI_OPT_BROWSER)) {
		cli_err("%s", _("exoconnect: choose either --device-code or "
		    "--browser\n"));
		return CLI_USAGE;
	}
	if (a->nargs < c->min_args ||
	    (c->max_args >= 0 && a->nargs > c->max_args)) {
		cli_err("%s", _("exoconnect: wrong number of arguments. "
		    "Usage:\n"));
		cli_usage_line(2, c);
		return CLI_USAGE;
	}
	return CLI_OK;
}

static int
cli_unknown(const struct cli_args *a)
{
	if (strcmp(a->words[0], "user") != 0) {
		cli_err(_("exoconnect: unknown command \"%s\"; `exoconnect "
		    "help` lists the commands\n"), a->words[0]);
		return CLI_USAGE;
	}
	if (a->nwords > 1)
		cli_err(_("exoconnect: unknown command \"user %s\". "),
		    a->words[1]);
	else
		cli_err("%s", _("exoconnect: `user` needs a subcommand. "));
	cli_err("%s", _("The user commands are:\n"));
	for (size_t i = 0; i < CLI_COMMAND_COUNT; i++)
		if (strncmp(cli_commands[i].words, "user ", 5) == 0)
			cli_usage_line(2, &cli_commands[i]);
	return CLI_USAGE;
}

/*
 * Switches to [ui] language of the settings file when it names one, so
 * help and usage errors follow it as the commands do. A missing or
 * invalid file leaves the system's language; the command reports it.
 */
static void
cli_settings_language(const char *config)
{
	struct settings		*s;
	char			 path[PLAT_PATH_MAX];

	if (config_locate(config, path, NULL) != EXO_OK ||
	    !plat_file_exists(path) || (s = malloc(sizeof(*s))) == NULL)
		return;
	if (config_load(path, s, NULL) == EXO_OK &&
	    strcmp(s->ui.language, "auto") != 0)
		i18n_set_language(s->ui.language);
	plat_wipe(s, sizeof(*s));
	free(s);
}

int
cli_main(int argc, char **argv)
{
	const struct cli_command	*c;
	struct cli_args			 a;
	int				 help, version, used, rc;

	/* Before any output, so --help and errors are translated too. */
	i18n_set_language("auto");
	if (plat_init() != EXO_OK) {
		cli_err("%s", _("exoconnect: could not initialise sockets and "
		    "the console\n"));
		return CLI_FAIL;
	}
	rc = cli_parse(argc, argv, &a, &help, &version);
	if (rc != CLI_OK)
		return rc;
	cli_settings_language(a.config);

	if (a.nwords == 0) {
		if (version) {
			cli_out("exoconnect %s\n", EXO_VERSION);
			return CLI_OK;
		}
		/* No command on a terminal opens the screen. */
		if (!help && plat_is_terminal())
			return tui_main(a.config);
		cli_print_help(help ? 1 : 2);
		return help ? CLI_OK : CLI_USAGE;
	}

	c = cli_find(a.words, a.nwords, &used);
	if (c == NULL)
		return cli_unknown(&a);
	a.args = a.words + used;
	a.nargs = a.nwords - used;
	if (help) {
		cli_print_command_help(c);
		return CLI_OK;
	}
	rc = cli_check(c, &a);
	if (rc != CLI_OK)
		return rc;
	return c->run(&a);
}
