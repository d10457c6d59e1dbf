/*
 * admin.h: the operations the curses screen performs, as a table of
 * function pointers, so the same screen drives the servers of its own
 * process (admin-local.c) or, later, those of a running `serve` over a
 * control channel.
 *
 * The screen calls nothing else to change state: every start, stop, user
 * operation and settings change goes through struct admin_ops. Unless
 * a comment states otherwise, an operation may block on the network or on
 * a stop for many seconds, so the screen calls it from a worker thread.
 * Operations are thread-safe.
 */
#ifndef EXO_ADMIN_H
#define EXO_ADMIN_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "event.h"
#include "oauth.h"
#include "service.h"
#include "users.h"

/* The instance state of autostart, in the data folder. */
#define ADMIN_STATE_NAME "screen.state"

/* A snapshot of one server with its counters. */
struct admin_server {
	struct server_status status;
	int		enabled;	/* enabled = yes in the settings */
	int		starttls;	/* STARTTLS or STLS is offered */
	unsigned	tls_port;	/* implicit TLS port; 0 = none */
	int		legacy_tls;	/* TLS 1.0 and 1.1 are accepted */
	long		active;		/* open connections */
	long		sessions;	/* connections since it started */
	long		logins;
	long		messages;
};

struct admin;

struct admin_ops {
	/* Starts or stops one server; see service_server_start. */
	int	(*server_start)(struct admin *a, enum server_kind kind,
		    struct exo_error *e);
	void	(*server_stop)(struct admin *a, enum server_kind kind);
	/* Fills *out at once, without blocking. */
	void	(*server_info)(struct admin *a, enum server_kind kind,
		    struct admin_server *out);
	/* Open device connections of both servers, at once. */
	long	(*active_sessions)(struct admin *a);

	/* The user operations of service.h. */
	int	(*user_list)(struct admin *a, struct user **users,
		    size_t *count, struct exo_error *e);
	int	(*user_add)(struct admin *a, const struct signin_request *rq,
		    const char *login, const char *mailbox,
		    struct signin_result *out, struct oauth_error *oerr,
		    struct exo_error *e);
	int	(*user_signin)(struct admin *a, const char *login,
		    const struct signin_request *rq, struct signin_result *out,
		    struct oauth_error *oerr, struct exo_error *e);
	int	(*user_reset_password)(struct admin *a, const char *login,
		    char password[USER_PASSWORD_MAX], struct exo_error *e);
	int	(*user_set_password)(struct admin *a, const char *login,
		    const char *password, struct exo_error *e);
	int	(*user_set)(struct admin *a, const char *login,
		    const char *key, const char *value, struct exo_error *e);
	int	(*user_delete)(struct admin *a, const char *login,
		    struct exo_error *e);
	int	(*user_test)(struct admin *a, const char *login,
		    void (*step)(const char *line, void *ctx), void *ctx,
		    struct exo_error *e);

	/*
	 * Copies the settings the next start uses into *out, at once: the
	 * saved ones when a save is waiting for a restart.
	 */
	void	(*settings_get)(struct admin *a, struct settings *out);
	/* config_check_ready on those settings, at once. */
	int	(*settings_ready)(struct admin *a, struct exo_error *e);
	/*
	 * Checks s with config_check_ports and writes it to the settings
	 * file (config_save). When no server runs,
	 * the settings apply at once; else they wait for settings_restart
	 * or the next start, and *pending is set to 1. Waits while a start
	 * or stop is under way, so the screen saves only when none is.
	 */
	int	(*settings_save)(struct admin *a, const struct settings *s,
		    int *pending, struct exo_error *e);
	/*
	 * Stops the running servers, applies the saved settings and starts
	 * them again, together with those that had failed to start. Returns
	 * the first failure; server_info shows which server failed.
	 */
	int	(*settings_restart)(struct admin *a, struct exo_error *e);

	/*
	 * Starts the servers that ran when the last screen of this data
	 * folder quit, when [ui] autostart is yes. Returns the first
	 * failure.
	 */
	int	(*resume)(struct admin *a, struct exo_error *e);

	/* Adds and removes an event subscriber; see ev_subscribe. */
	int	(*subscribe)(struct admin *a, ev_subscriber_fn fn, void *ctx);
	void	(*unsubscribe)(struct admin *a, int handle);

	/*
	 * Stops what the screen started, remembers which servers ran for
	 * resume, and frees a. Blocks while sessions finish.
	 */
	void	(*quit)(struct admin *a);
};

struct admin {
	const struct admin_ops	*ops;
	/* Data folder and settings file, for the title line. */
	char			 data_dir[PLAT_PATH_MAX];
	char			 config_path[PLAT_PATH_MAX];
	/* 1: the servers run in a serve process, which quit leaves running. */
	int			 attached;
};

/*
 * Opens the service for config_path (NULL: the default place) in this
 * process: the servers run in background threads of the caller. A
 * missing settings file is written with the defaults and opened, so the
 * screen can show Settings on a first run. The log file starts without
 * stderr. notice receives userdb_open's notice (may be empty).
 */
int admin_local_open(const char *config_path, struct admin **out,
    char notice[512], struct exo_error *e);

/*
 * Wraps sv, which the caller opened and may have started, in the same
 * operations, for the control channel of `serve` (control.c). Its quit
 * frees the wrapper only: the servers keep running and sv stays open.
 */
int admin_local_attach(struct service *sv, struct admin **out,
    struct exo_error *e);

/*
 * Attaches to the `serve` of the data folder that config_path (NULL: the
 * default place) names, over the control channel (admin-remote.c): the
 * operations act on that process, whose servers keep running after quit,
 * and resume does nothing. EXO_ERR_NOTFOUND when no serve answers; the
 * screen then calls admin_local_open.
 */
int admin_remote_open(const char *config_path, struct admin **out,
    struct exo_error *e);

#endif
