/*
 * cli-service.c: the `exoconnect service ...` commands, which install and
 * control exoconnect as a Windows service (plat_svc_* in plat.h), and the
 * alert subscriber that `serve` starts. The subscriber sends events that
 * stop mail for someone to the Windows Event Log or to syslog, besides
 * the log file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "event.h"
#include "i18n.h"
#include "plat.h"
#include "service.h"
#include "users.h"
#include "util.h"

/* Maximum length of a service account's password, in bytes. */
#define CLI_ACCOUNT_PASSWORD_MAX 256
/* Maximum length of the yes/no reply read before data is deleted, in bytes. */
#define CLI_ANSWER_MAX 16

/* ---- alerts ---- */

static struct cli_alerts	cli_alert_state;
static int			cli_alert_handle = -1;

/*
 * Renders template with the parameters of ev into out, with single
 * backslashes, because people read the Event Log and syslog.
 */
static void
cli_alert_text(struct cli_alert *out, const struct ev *ev,
    const char *template)
{
	ev_render_display(ev, template, out->text, sizeof(out->text));
}

int
cli_alert_check(struct cli_alerts *st, const struct ev *ev, int64_t now_ms,
    struct cli_alert *out)
{
	const char	*value;

	if (strcmp(ev->id, "token.state") == 0) {
		value = ev_param(ev, "state");
		if (value == NULL || strcmp(value, "ok") == 0)
			return (0);
		out->level = PLAT_ALERT_ERROR;
		out->id = CLI_ALERT_SIGNIN;
		cli_alert_text(out, ev, "User {login} needs a new sign-in "
		    "(state {state}): run `exoconnect user signin {login}`");
		return (1);
	}
	if (strcmp(ev->id, "service.start_failed") == 0 ||
	    strcmp(ev->id, "service.server_start_failed") == 0) {
		out->level = PLAT_ALERT_ERROR;
		out->id = CLI_ALERT_LISTENER;
		cli_alert_text(out, ev, ev->text);
		return (1);
	}
	if (strcmp(ev->id, "token.refresh_failed") == 0) {
		value = ev_param(ev, "kind");
		if (value == NULL || strcmp(value, "transient") != 0)
			return (0);
		if (st->unreachable_since_ms == 0)
			st->unreachable_since_ms = now_ms;
		if (st->unreachable_alerted || now_ms -
		    st->unreachable_since_ms < CLI_UNREACHABLE_ALERT_MS)
			return (0);
		st->unreachable_alerted = 1;
		out->level = PLAT_ALERT_ERROR;
		out->id = CLI_ALERT_UNREACHABLE;
		cli_alert_text(out, ev, "The Microsoft token endpoint has "
		    "failed for an hour; devices cannot log in once their "
		    "access tokens expire. Last failure, for {login}: "
		    "{reason}");
		return (1);
	}
	if (strcmp(ev->id, "token.recovered") == 0 ||
	    strcmp(ev->id, "token.refreshed") == 0) {
		st->unreachable_since_ms = 0;
		if (!st->unreachable_alerted)
			return (0);
		st->unreachable_alerted = 0;
		out->level = PLAT_ALERT_INFO;
		out->id = CLI_ALERT_RECOVERED;
		cli_alert_text(out, ev, "The Microsoft token endpoint works "
		    "again (refreshed the token of {login})");
		return (1);
	}
	return (0);
}

static void
cli_alert_subscriber(const struct ev *ev, void *ctx)
{
	struct cli_alert	alert;

	(void)ctx;
	if (cli_alert_check(&cli_alert_state, ev, plat_now_ms(), &alert))
		plat_svc_alert(alert.level, alert.id, alert.text);
}

void
cli_alerts_start(void)
{
	if (cli_alert_handle >= 0)
		return;
	memset(&cli_alert_state, 0, sizeof(cli_alert_state));
	cli_alert_handle = ev_subscribe(cli_alert_subscriber, NULL);
}

void
cli_alerts_stop(void)
{
	if (cli_alert_handle < 0)
		return;
	ev_unsubscribe(cli_alert_handle);
	cli_alert_handle = -1;
}

/* ---- service commands ---- */

static void
cli_service_say(void *ctx, const char *line)
{
	(void)ctx;
	cli_out("%s\n", line);
}

/* Checks elevation first, so a plain console gets the reason at once. */
static int
cli_service_admin(void)
{
	struct exo_error	err;

	err_clear(&err);
	if (plat_svc_check_admin(&err) != EXO_OK) {
		cli_fail(&err);
		return (CLI_FAIL);
	}
	return (CLI_OK);
}

/* Adds the ports of the enabled servers to in. */
static void
cli_service_ports(const struct settings *s, struct plat_svc_install *in)
{
	unsigned	ports[4];

	ports[0] = s->pop3.enabled ? s->pop3.port : 0;
	ports[1] = s->pop3.enabled ? s->pop3.tls_port : 0;
	ports[2] = s->smtp.enabled ? s->smtp.port : 0;
	ports[3] = s->smtp.enabled ? s->smtp.tls_port : 0;
	in->nports = 0;
	for (int i = 0; i < 4 && in->nports < PLAT_SVC_PORTS_MAX; i++)
		if (ports[i] != 0)
			in->ports[in->nports++] = ports[i];
}

/*
 * Returns 1 for accounts that Windows logs on without a password:
 * LocalSystem, the built-in service accounts and group managed service
 * accounts, whose names end in "$".
 */
static int
cli_service_passwordless(const char *account)
{
	size_t	len = strlen(account);

	return (str_casecmp(account, "LocalSystem") == 0 ||
	    str_has_prefix_case(account, "NT AUTHORITY\\") ||
	    str_has_prefix_case(account, "NT SERVICE\\") ||
	    (len > 0 && account[len - 1] == '$'));
}

int
cli_service_install(struct cli_args *a)
{
	struct plat_svc_install	 in;
	struct service		*sv;
	struct exo_error	 err;
	char			 config[PLAT_PATH_MAX], data[PLAT_PATH_MAX];
	char			 secrets[PLAT_PATH_MAX];
	char			 password[CLI_ACCOUNT_PASSWORD_MAX];
	int			 rc;

	if ((rc = cli_service_admin()) != CLI_OK)
		return (rc);
	if ((rc = cli_open(a, 0, &sv)) != CLI_OK)
		return (rc);
	memset(&in, 0, sizeof(in));
	str_copy(config, service_settings(sv)->path, sizeof(config));
	str_copy(data, service_settings(sv)->data_dir, sizeof(data));
	str_copy(secrets, userdb_secrets_path(service_userdb(sv)),
	    sizeof(secrets));
	cli_service_ports(service_settings(sv), &in);
	log_stop();
	service_close(sv);

	in.config_path = config;
	in.data_dir = data;
	in.secrets_path = secrets;
	in.account = a->account;
	password[0] = '\0';
	if (a->account != NULL && !cli_service_passwordless(a->account)) {
		if (plat_read_password(_("Password of the service account: "),
		    password, sizeof(password)) != EXO_OK) {
			cli_err(_("exoconnect: no password for %s: type it "
			    "when asked, or give it on stdin\n"), a->account);
			return (CLI_FAIL);
		}
		in.password = password;
	}

	cli_out(_("Installing the service from the settings %s\n"), config);
	err_clear(&err);
	rc = plat_svc_install(&in, cli_service_say, NULL, &err);
	plat_wipe(password, sizeof(password));
	if (rc != EXO_OK) {
		cli_fail(&err);
		return (CLI_FAIL);
	}
	cli_out("%s", _("Installed. `exoconnect service start` starts it; "
	    "it also starts with Windows.\nThe service uses the copied "
	    "settings and data; changes to the old ones do not reach it.\n"));
	return (CLI_OK);
}

/*
 * Asks before data is deleted; returns 1 for yes. The terminal echoes
 * the reply's line end; without a terminal, or at the end of stdin, the
 * question's line is ended here, so the next line starts on its own.
 */
static int
cli_service_confirm(const char *dir)
{
	char	answer[CLI_ANSWER_MAX];
	int	got;

	cli_out(_("Delete the settings, users and secrets in %s? [y/N] "),
	    dir);
	got = fgets(answer, sizeof(answer), stdin) != NULL;
	if (!got || !plat_is_terminal())
		cli_out("\n");
	return (got && (answer[0] == 'y' || answer[0] == 'Y'));
}

int
cli_service_uninstall(struct cli_args *a)
{
	struct plat_svc_status	st;
	struct exo_error	err;
	char			dir[PLAT_PATH_MAX];
	int			rc, delete_data;

	if ((rc = cli_service_admin()) != CLI_OK)
		return (rc);
	err_clear(&err);
	if (plat_svc_status(&st, &err) != EXO_OK ||
	    plat_svc_data_dir(dir, &err) != EXO_OK) {
		cli_fail(&err);
		return (CLI_FAIL);
	}
	if (st.state == PLAT_SVC_NOT_INSTALLED) {
		cli_err(_("exoconnect: the service %s is not installed\n"),
		    PLAT_SVC_NAME);
		return (CLI_FAIL);
	}
	delete_data = (a->seen & CLI_OPT_YES) || cli_service_confirm(dir);
	if (plat_svc_uninstall(delete_data, cli_service_say, NULL, &err) !=
	    EXO_OK) {
		cli_fail(&err);
		return (CLI_FAIL);
	}
	return (CLI_OK);
}

int
cli_service_start(struct cli_args *a)
{
	struct exo_error	err;
	int			rc;

	(void)a;
	if ((rc = cli_service_admin()) != CLI_OK)
		return (rc);
	err_clear(&err);
	if (plat_svc_start(&err) != EXO_OK) {
		cli_fail(&err);
		return (CLI_FAIL);
	}
	cli_out(_("The service %s is running.\n"), PLAT_SVC_NAME);
	return (CLI_OK);
}

int
cli_service_stop(struct cli_args *a)
{
	struct exo_error	err;
	int			rc;

	(void)a;
	if ((rc = cli_service_admin()) != CLI_OK)
		return (rc);
	err_clear(&err);
	if (plat_svc_stop(&err) != EXO_OK) {
		cli_fail(&err);
		return (CLI_FAIL);
	}
	cli_out(_("The service %s is stopped.\n"), PLAT_SVC_NAME);
	return (CLI_OK);
}

static const char *const cli_service_states[] = {
	[PLAT_SVC_NOT_INSTALLED] = N_("not installed"),
	[PLAT_SVC_STOPPED] = N_("stopped"),
	[PLAT_SVC_STARTING] = N_("starting"),
	[PLAT_SVC_RUNNING] = N_("running"),
	[PLAT_SVC_STOPPING] = N_("stopping"),
	[PLAT_SVC_OTHER] = N_("paused"),
};

int
cli_service_status(struct cli_args *a)
{
	struct plat_svc_status	st;
	struct exo_error	err;
	int			rc;

	(void)a;
	if ((rc = cli_service_admin()) != CLI_OK)
		return (rc);
	err_clear(&err);
	if (plat_svc_status(&st, &err) != EXO_OK) {
		cli_fail(&err);
		return (CLI_FAIL);
	}
	cli_out(_("state:      %s\n"), tr(cli_service_states[st.state]));
	if (st.state == PLAT_SVC_NOT_INSTALLED)
		return (CLI_FAIL);
	if (st.pid != 0)
		cli_out(_("process:    %ld\n"), st.pid);
	if (st.state == PLAT_SVC_STOPPED && st.exit_code != 0)
		cli_out(_("last exit:  %lu\n"), st.exit_code);
	cli_out(_("start:      %s\n"), st.start_type);
	cli_out(_("account:    %s\n"), st.account);
	cli_out(_("command:    %s\n"), st.command);
	return (CLI_OK);
}

/* ---- running under the service manager ---- */

static int
cli_service_serve(void *arg)
{
	struct cli_args		*a = arg;
	struct service		*sv;
	struct exo_error	 err;
	char			 notice[512], text[EXO_ERROR_MSG_MAX + 64];

	/* cli_serve reports a failure to open the settings on stderr only,
	 * which a service does not have, so that failure goes to the Event
	 * Log from here. */
	err_clear(&err);
	if (service_open(a->config, 0, &sv, notice, &err) != EXO_OK) {
		snprintf(text, sizeof(text), "exoconnect could not start: %s",
		    err.msg[0] != '\0' ? err.msg : exo_strerror(err.code));
		plat_svc_alert(PLAT_ALERT_ERROR, CLI_ALERT_LISTENER, text);
		return (CLI_FAIL);
	}
	service_close(sv);
	return (cli_serve(a));
}

static void
cli_service_on_stop(void *arg)
{
	(void)arg;
	cli_serve_stop();
}

int
cli_service_run(struct cli_args *a)
{
	struct exo_error	err;
	int			rc;

	err_clear(&err);
	rc = plat_svc_run(cli_service_serve, cli_service_on_stop, a, &err);
	if (rc < 0) {
		cli_fail(&err);
		return (CLI_FAIL);
	}
	return (rc);
}
