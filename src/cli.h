/*
 * cli.h: the command line, shared by cli.c (parsing, help, serve,
 * consent-url) and cli-user.c (the user commands).
 *
 * Exit codes: CLI_OK, CLI_FAIL for a failed operation, CLI_USAGE for a
 * command line that does not parse.
 */
#ifndef EXO_CLI_H
#define EXO_CLI_H

#include "err.h"
#include "event.h"
#include "oauth.h"
#include "plat.h"
#include "service.h"
#include "util.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Maximum number of command words and arguments on one command line. */
#define CLI_WORDS_MAX 64

/* Options a command may accept, as bits of struct cli_args.seen. */
#define CLI_OPT_JSON		(1u << 0)
#define CLI_OPT_CHECK		(1u << 1)
#define CLI_OPT_DEVICE_CODE	(1u << 2)
#define CLI_OPT_BROWSER		(1u << 3)
#define CLI_OPT_NO_OPEN		(1u << 4)
#define CLI_OPT_LOGIN		(1u << 5)
#define CLI_OPT_MAILBOX		(1u << 6)
#define CLI_OPT_ACCOUNT		(1u << 7)
#define CLI_OPT_YES		(1u << 8)

/* A parsed command line. */
struct cli_args {
	const char	*config;	/* -c FILE, or NULL */
	unsigned	 seen;		/* CLI_OPT_* bits given */
	const char	*login;		/* --login NAME */
	const char	*mailbox;	/* --mailbox ADDRESS */
	const char	*account;	/* --account NAME */
	const char	*words[CLI_WORDS_MAX];	/* positional words */
	int		 nwords;
	const char	**args;		/* the words after the command's */
	int		 nargs;
};

/* Runs the command line; returns the exit code. */
int cli_main(int argc, char **argv);

/* Writes formatted text to stdout or stderr (through plat_write_console). */
void cli_out(const char *fmt, ...) EXO_PRINTF(1, 2);
void cli_err(const char *fmt, ...) EXO_PRINTF(1, 2);

/* Prints "exoconnect: MESSAGE" to stderr. */
void cli_fail(const struct exo_error *e);

/*
 * Prints the description and advice of a failed sign-in, with the next
 * step for the codes an admin meets first (consent, public client flows).
 */
void cli_print_oauth_error(const struct oauth_error *oerr);

/* Appends text as a JSON string, quotes included. */
int cli_json_string(struct buf *b, const char *text);

/* Copies text into dst with control characters replaced by "?". */
void cli_clean(char *dst, size_t cap, const char *text);

/*
 * Opens the service for a command: settings, trust, user store and token
 * manager, and the log file (no stderr) when one is set. flags are
 * service_open's (SERVICE_OPEN_CREATE for the commands that create a
 * missing settings file). Prints what failed and returns CLI_FAIL, or
 * CLI_OK.
 */
int cli_open(const struct cli_args *a, unsigned flags, struct service **sv);

/*
 * Sends users_changed to a `serve` running on the same data folder, so
 * its sessions see the change at once. Without a serve it does nothing;
 * when the serve does not confirm, it prints a warning.
 */
void cli_users_changed(struct service *sv);

/*
 * Installs the Ctrl+C handler of the sign-in commands and returns the
 * flag it sets.
 */
volatile int *cli_cancel_flag(void);

/* The user commands (cli-user.c). */
int cli_user_add(struct cli_args *a);
int cli_user_list(struct cli_args *a);
int cli_user_delete(struct cli_args *a);
int cli_user_signin(struct cli_args *a);
int cli_user_reset_password(struct cli_args *a);
int cli_user_set_password(struct cli_args *a);
int cli_user_set(struct cli_args *a);
int cli_user_test(struct cli_args *a);

/*
 * Runs `serve` with the settings of a until Ctrl+C, SIGTERM or
 * cli_serve_stop. Reports the service manager that it runs once the
 * listeners are open (plat_svc_running), and starts the alert subscriber.
 */
int cli_serve(struct cli_args *a);
/* Asks a running cli_serve to stop, from any thread. */
void cli_serve_stop(void);

/* The service commands (cli-service.c). */
int cli_service_install(struct cli_args *a);
int cli_service_uninstall(struct cli_args *a);
int cli_service_start(struct cli_args *a);
int cli_service_stop(struct cli_args *a);
int cli_service_status(struct cli_args *a);
int cli_service_run(struct cli_args *a);

/* ---- alerts (cli-service.c) ---- */

/* Event ids of the alerts in the Event Log. */
#define CLI_ALERT_SIGNIN	1	/* a user needs a new sign-in */
#define CLI_ALERT_LISTENER	2	/* a server could not start */
#define CLI_ALERT_UNREACHABLE	3	/* token endpoint failing for an hour */
#define CLI_ALERT_RECOVERED	4	/* token endpoint works again */
/* How long token refreshes fail before CLI_ALERT_UNREACHABLE, in ms. */
#define CLI_UNREACHABLE_ALERT_MS (3600 * 1000LL)

/* State of the alert subscriber between events. */
struct cli_alerts {
	int64_t	unreachable_since_ms;	/* first transient failure; 0: none */
	int	unreachable_alerted;
};

/* One alert for the Event Log or syslog. */
struct cli_alert {
	enum plat_alert_level	level;
	unsigned		id;		/* CLI_ALERT_* */
	char			text[EXO_ERROR_MSG_MAX];
};

/*
 * Decides whether ev, arriving at now_ms (plat_now_ms), is an alert: a
 * user left state ok (token.state), a server failed to start, token
 * refreshes failed with a transient error for CLI_UNREACHABLE_ALERT_MS
 * (alerted once until a refresh succeeds), or a refresh succeeded after
 * that alert. Fills *out and returns 1, else returns 0.
 */
int cli_alert_check(struct cli_alerts *st, const struct ev *ev,
    int64_t now_ms, struct cli_alert *out);

/*
 * Subscribes the alert subscriber, which passes each alert to
 * plat_svc_alert (the Event Log or syslog), and unsubscribes it.
 */
void cli_alerts_start(void);
void cli_alerts_stop(void);

#endif
