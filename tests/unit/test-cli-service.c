/*
 * test-cli-service.c: which events become alerts for the Event Log and
 * syslog (cli_alert_check), and the text they carry.
 */
#include <stdarg.h>
#include <string.h>

#include "cli.h"
#include "event.h"
#include "test.h"

#define HOUR_MS (3600 * 1000LL)

/* Builds an event with the name/value pairs that follow text, then NULL. */
static struct ev
make_event(enum ev_level level, const char *id, const char *text, ...)
{
	struct ev	ev;
	va_list		ap;
	const char	*name;

	memset(&ev, 0, sizeof(ev));
	ev.level = level;
	ev.id = id;
	ev.text = text;
	va_start(ap, text);
	while ((name = va_arg(ap, const char *)) != NULL &&
	    ev.nparams < EV_MAX_PARAMS) {
		ev.params[ev.nparams].name = name;
		ev.params[ev.nparams].value = va_arg(ap, const char *);
		ev.nparams++;
	}
	va_end(ap);
	return ev;
}

static struct ev
transient_failure(const char *login)
{
	return make_event(EV_WARN, "token.refresh_failed", "Token refresh for "
	    "{login} failed: {reason}", "login", login, "reason",
	    "connection refused", "kind", "transient", (char *)NULL);
}

TEST(signin_required_alerts)
{
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		ev;

	memset(&st, 0, sizeof(st));
	ev = make_event(EV_INFO, "token.state", "User {login} is now in state "
	    "{state}", "login", "scanner", "state", "signin_required",
	    (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &ev, 1000, &out), 1);
	CHECK_INT(out.level, PLAT_ALERT_ERROR);
	CHECK_INT(out.id, CLI_ALERT_SIGNIN);
	CHECK(strstr(out.text, "User scanner needs a new sign-in") != NULL);
	CHECK(strstr(out.text, "signin_required") != NULL);
	CHECK(strstr(out.text, "exoconnect user signin scanner") != NULL);
}

TEST(state_ok_is_no_alert)
{
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		ev;

	memset(&st, 0, sizeof(st));
	ev = make_event(EV_INFO, "token.state", "User {login} is now in state "
	    "{state}", "login", "scanner", "state", "ok", (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &ev, 1000, &out), 0);
	ev = make_event(EV_INFO, "token.state", "User {login} is now in state "
	    "{state}", "login", "scanner", (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &ev, 1000, &out), 0);
}

TEST(listener_failure_alerts)
{
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		ev;

	memset(&st, 0, sizeof(st));
	ev = make_event(EV_ERROR, "service.server_start_failed", "The "
	    "{server} server could not start: {error}", "server", "SMTP",
	    "error", "port 25 is in use", (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &ev, 1000, &out), 1);
	CHECK_INT(out.level, PLAT_ALERT_ERROR);
	CHECK_INT(out.id, CLI_ALERT_LISTENER);
	CHECK_STR(out.text, "The SMTP server could not start: port 25 is in "
	    "use");

	ev = make_event(EV_ERROR, "service.start_failed", "exoconnect could "
	    "not start: {error}", "error", "port 110 is in use",
	    (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &ev, 1000, &out), 1);
	CHECK_INT(out.id, CLI_ALERT_LISTENER);
	CHECK_STR(out.text, "exoconnect could not start: port 110 is in use");
}

TEST(unreachable_alerts_after_hour)
{
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		ev = transient_failure("scanner");
	int64_t			start = 5000;

	memset(&st, 0, sizeof(st));
	CHECK_INT(cli_alert_check(&st, &ev, start, &out), 0);
	CHECK_INT(cli_alert_check(&st, &ev, start + HOUR_MS / 2, &out), 0);
	CHECK_INT(cli_alert_check(&st, &ev, start + HOUR_MS - 1, &out), 0);
	CHECK_INT(cli_alert_check(&st, &ev, start + HOUR_MS, &out), 1);
	CHECK_INT(out.level, PLAT_ALERT_ERROR);
	CHECK_INT(out.id, CLI_ALERT_UNREACHABLE);
	CHECK(strstr(out.text, "failed for an hour") != NULL);
	CHECK(strstr(out.text, "for scanner: connection refused") != NULL);

	/* Once per outage. */
	CHECK_INT(cli_alert_check(&st, &ev, start + 2 * HOUR_MS, &out), 0);
}

TEST(recovery_alerts_once)
{
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		fail = transient_failure("scanner");
	struct ev		ok;

	memset(&st, 0, sizeof(st));
	ok = make_event(EV_INFO, "token.recovered", "Token refresh for {login} "
	    "works again", "login", "scanner", (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &fail, 0 + 1, &out), 0);
	CHECK_INT(cli_alert_check(&st, &fail, HOUR_MS + 1, &out), 1);
	CHECK_INT(cli_alert_check(&st, &ok, HOUR_MS + 2, &out), 1);
	CHECK_INT(out.level, PLAT_ALERT_INFO);
	CHECK_INT(out.id, CLI_ALERT_RECOVERED);
	CHECK(strstr(out.text, "works again") != NULL);
	CHECK_INT(cli_alert_check(&st, &ok, HOUR_MS + 3, &out), 0);

	/* A new outage starts its own hour. */
	CHECK_INT(cli_alert_check(&st, &fail, 2 * HOUR_MS, &out), 0);
	CHECK_INT(cli_alert_check(&st, &fail, 3 * HOUR_MS - 1, &out), 0);
	CHECK_INT(cli_alert_check(&st, &fail, 3 * HOUR_MS, &out), 1);
}

TEST(success_resets_outage_clock)
{
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		fail = transient_failure("scanner");
	struct ev		ok;

	memset(&st, 0, sizeof(st));
	ok = make_event(EV_DEBUG, "token.refreshed", "Refreshed the access "
	    "token of {login}", "login", "printer", (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &fail, 1, &out), 0);
	/* A success without an alert before is silent. */
	CHECK_INT(cli_alert_check(&st, &ok, HOUR_MS / 2, &out), 0);
	CHECK_INT(cli_alert_check(&st, &fail, HOUR_MS / 2 + 1, &out), 0);
	CHECK_INT(cli_alert_check(&st, &fail, HOUR_MS + 2, &out), 0);
	CHECK_INT(cli_alert_check(&st, &fail, HOUR_MS * 3 / 2 + 1, &out), 1);
}

TEST(other_failures_not_unreachable)
{
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		ev;

	memset(&st, 0, sizeof(st));
	ev = make_event(EV_WARN, "token.refresh_failed", "Token refresh for "
	    "{login} failed: {reason}", "login", "scanner", "reason",
	    "AADSTS700082", "kind", "signin", (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &ev, 1, &out), 0);
	CHECK_INT(cli_alert_check(&st, &ev, 2 * HOUR_MS, &out), 0);
	CHECK_INT(st.unreachable_since_ms, 0);
}

TEST(unrelated_events_ignored)
{
	static const char *const ids[] = {
		"pop3.login_failed", "smtp.message", "service.started",
		"service.stopped", "token.upstream_rejected", "user.added",
	};
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		ev;

	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		ev = make_event(EV_ERROR, ids[i], "text {login}", "login",
		    "scanner", "state", "signin_required", (char *)NULL);
		CHECK_INT(cli_alert_check(&st, &ev, 2 * HOUR_MS, &out), 0);
	}
}

TEST(alert_escapes_control_characters)
{
	struct cli_alerts	st;
	struct cli_alert	out;
	struct ev		ev;

	memset(&st, 0, sizeof(st));
	ev = make_event(EV_ERROR, "service.server_start_failed", "The "
	    "{server} server could not start: {error}", "server", "POP3",
	    "error", "bad\nline", (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &ev, 1, &out), 1);
	CHECK(strchr(out.text, '\n') == NULL);

	/* People read the Event Log: a path keeps single backslashes. */
	ev = make_event(EV_ERROR, "service.start_failed", "exoconnect could "
	    "not start: {error}", "error", "cannot read C:\\temp\\x.pem",
	    (char *)NULL);
	CHECK_INT(cli_alert_check(&st, &ev, 1, &out), 1);
	CHECK_STR(out.text, "exoconnect could not start: cannot read "
	    "C:\\temp\\x.pem");
}

int
main(void)
{
	RUN(signin_required_alerts);
	RUN(state_ok_is_no_alert);
	RUN(listener_failure_alerts);
	RUN(unreachable_alerts_after_hour);
	RUN(recovery_alerts_once);
	RUN(success_resets_outage_clock);
	RUN(other_failures_not_unreachable);
	RUN(unrelated_events_ignored);
	RUN(alert_escapes_control_characters);
	return TEST_EXIT();
}
