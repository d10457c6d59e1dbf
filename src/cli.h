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
#include "oauth.h"
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

/* A parsed command line. */
struct cli_args {
	const char	*config;	/* -c FILE, or NULL */
	unsigned	 seen;		/* CLI_OPT_* bits given */
	const char	*login;		/* --login NAME */
	const char	*mailbox;	/* --mailbox ADDRESS */
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
 * manager, and the log file (no stderr) when one is set. Prints what
 * failed and returns CLI_FAIL, or CLI_OK.
 */
int cli_open(const struct cli_args *a, struct service **sv);

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

#endif
