/*
 * service.h: the running proxy and the user operations, shared by the
 * command line (cli.c, cli-user.c) and the curses screen.
 *
 * A struct service contains what every part needs: the settings, the trust
 * anchors, the user store and the token manager. service_start opens the
 * POP3 and SMTP listeners, runs one accept thread per listener and one
 * detached thread per connection, and a background thread that keeps
 * idle grants alive and closes the sessions of deleted users.
 *
 * The user operations (service-users.c) print nothing: they report
 * progress through callbacks and fill result structs, so the screen can
 * call them as the command line does.
 */
#ifndef EXO_SERVICE_H
#define EXO_SERVICE_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "oauth.h"
#include "session.h"
#include "tls-cert.h"
#include "users.h"

#define EXO_VERSION "0.1.0"

/* Stack of each connection thread; small, so 1,000 idle sessions fit. */
#define SERVICE_THREAD_STACK (256 * 1024)
/* Time current sessions get to finish after a stop, in seconds. */
#define SERVICE_GRACE_SECONDS 10
/* How often the background thread looks for deleted users, in seconds. */
#define SERVICE_CHECK_SECONDS 3
/* Interval of token_keepalive, in seconds: it retries unsaved refresh
 * tokens each time and looks for idle users once an hour itself. */
#define SERVICE_KEEPALIVE_SECONDS 60
/* The instance lock in the data folder; it contains the process id. */
#define SERVICE_LOCK_NAME "serve.lock"

enum server_kind {
	SERVER_POP3 = 0,
	SERVER_SMTP,
	SERVER_COUNT
};

enum server_state {
	SERVER_STOPPED = 0,
	SERVER_STARTING,
	SERVER_RUNNING,
	SERVER_FAILED,
};

/* A snapshot of one server for the screen. */
struct server_status {
	enum server_state state;
	char		listen[PLAT_ADDR_MAX];
	unsigned	port;			/* bound port; 0 when stopped */
	struct exo_error last_error;		/* why it failed, or empty */
	unsigned	tls_port;		/* bound implicit-TLS port, or 0 */
	/* SHA-256 of the device certificate ("AB:CD:..."); empty without
	 * device-side TLS. */
	char		tls_fingerprint[TLS_CERT_FINGERPRINT_MAX];
};

struct service;

/* service_open flag: write a missing settings file with the defaults. */
#define SERVICE_OPEN_CREATE 0x1

/*
 * Loads the settings and opens everything the commands share:
 * config_locate and config_load for config_path (NULL: the default
 * place), trust_load, userdb_open and the token manager. When the
 * settings file is missing and flags has SERVICE_OPEN_CREATE, it writes
 * one with the defaults and fails with EXO_ERR_CONFIG and a message that
 * names the file and asks the admin to fill in client_id. Without the
 * flag it fails with EXO_ERR_NOTFOUND and a message that says which
 * commands create the file. notice receives userdb_open's notice (may
 * be empty). It does not call config_check_ready, so commands that reach
 * the network call service_check_ready. It selects the language of the
 * [ui] language setting (i18n_set_language) for the screen and command
 * output.
 */
int service_open(const char *config_path, unsigned flags,
    struct service **out, char notice[512], struct exo_error *e);

/*
 * Frees sv. Call service_stop first when service_start succeeded. When a
 * thread did not end within the stop's time limits, the shared objects
 * are left allocated (the process is about to exit anyway).
 */
void service_close(struct service *sv);

/* The settings sv was opened with; valid until service_close. */
const struct settings *service_settings(const struct service *sv);

/* config_check_ready on the settings of sv. */
int service_check_ready(const struct service *sv, struct exo_error *e);

/*
 * Takes the instance lock (SERVICE_LOCK_NAME in the data folder, without
 * waiting), writes the process id into it, opens the listener of every
 * enabled server and starts the accept and background threads. A second
 * instance fails with EXO_ERR_LOCKED and "exoconnect serve is already
 * running for DATA_DIR (process PID)". A listener that cannot bind fails
 * the whole start with plat_listen's message; nothing stays open. Every
 * failure is also logged as the event service.start_failed.
 */
int service_start(struct service *sv, struct exo_error *e);

/*
 * Stops accepting, sets the stopping flag that sessions see, gives the
 * current sessions SERVICE_GRACE_SECONDS to finish, then shuts their
 * sockets down and waits for the threads to end. Releases the instance
 * lock. Safe to call when not started.
 */
void service_stop(struct service *sv);

/*
 * Starts one server, for the screen: the first server to start takes the
 * instance lock and starts the background thread, as service_start
 * does. Fails with EXO_ERR_CONFIG when the server is disabled and
 * EXO_ERR_INVALID when it runs already; a bind failure leaves the
 * server in state failed with plat_listen's message, which names the
 * fix. Each failure is logged as service.server_start_failed.
 * Resets the server's sessions, logins, messages and bytes counters.
 */
int service_server_start(struct service *sv, enum server_kind kind,
    struct exo_error *e);

/*
 * Stops one server: it stops accepting, its sessions get
 * SERVICE_GRACE_SECONDS, then their sockets are shut down. Stopping the
 * last running server is service_stop. Blocks up to about 40 seconds;
 * safe to call when that server is stopped. Call service_stop and the
 * per-server functions from one thread at a time.
 */
void service_server_stop(struct service *sv, enum server_kind kind);

/* Open device connections of both servers. Thread-safe. */
long service_active_sessions(const struct service *sv);

/*
 * Replaces the settings (all but path and data_dir) while no server
 * runs, and restarts the log with the new [log] section. EXO_ERR_BUSY
 * while a server runs. The trust anchors and the user store keep what
 * they were opened with, so tls.ca_file applies at the next launch.
 */
int service_apply_settings(struct service *sv, const struct settings *s,
    struct exo_error *e);

/*
 * Asks a running service to stop from any thread (a signal callback);
 * service_wait returns afterwards. Only sets a flag and wakes waiters.
 */
void service_request_stop(struct service *sv);

/* Blocks until service_request_stop was called. */
void service_wait(struct service *sv);

/*
 * Starts the log file of the settings (log_start); to_stderr != 0 also
 * writes every line to stderr. service_reload keeps the choice.
 */
int service_log_start(struct service *sv, int to_stderr,
    struct exo_error *e);

/*
 * Re-reads the settings file and checks it. The [log] section applies at
 * once; the other settings apply when the service next starts, and the log
 * line states this. Errors in the file are logged and change nothing.
 */
void service_reload(struct service *sv);

/*
 * Re-reads users.conf and secrets.dat at once, after another process
 * changed them, and wakes the background thread, so that the sessions of
 * a deleted user close now instead of within SERVICE_CHECK_SECONDS.
 */
void service_users_changed(struct service *sv);

/* Copies the state of one server into *out. */
void service_server_status(struct service *sv, enum server_kind kind,
    struct server_status *out);

/* Counters of one server; valid until service_close. */
const struct server_stats *service_server_stats(const struct service *sv,
    enum server_kind kind);

/* "stopped", "starting", "running" or "failed". */
const char *server_state_name(enum server_state st);

/* "POP3" or "SMTP". */
const char *server_kind_name(enum server_kind kind);

/*
 * The shared objects, for service-users.c and the screen; valid until
 * service_close.
 */
struct userdb *service_userdb(struct service *sv);
struct token_mgr *service_tokens(struct service *sv);
const struct trust_store *service_trust(const struct service *sv);

/* ---- user operations (service-users.c) ---- */

enum signin_method {
	SIGNIN_DEVICE_CODE = 0,
	SIGNIN_BROWSER,
};

/*
 * Sign-in method and progress callbacks. Callbacks run on the calling
 * thread and must not block for long. cancel may be NULL; when it becomes
 * non-zero, the sign-in stops within about a second with
 * EXO_ERR_CANCELLED and stores nothing.
 */
struct signin_request {
	enum signin_method method;
	int		   timeout_s;	/* browser: wait for the redirect */

	/* Device code: what the admin opens and types, and for how long. */
	void	(*on_device_code)(const char *verification_uri,
		    const char *user_code, const char *message,
		    int expires_in, void *ctx);
	/* Browser: the authorize URL to print and open. */
	void	(*on_browser_url)(const char *url, void *ctx);
	void		  *ctx;
	volatile int	  *cancel;
};

/* Outcome of a sign-in; password is set by user add only. */
struct signin_result {
	char	login[USER_LOGIN_MAX];
	char	mailbox[USER_MAILBOX_MAX];
	char	account[USER_MAILBOX_MAX];	/* the account that signed in */
	char	password[USER_PASSWORD_MAX];
	int	personal;
};

/* Wipes the password of r. */
void signin_result_wipe(struct signin_result *r);

/*
 * Signs a mailbox in and adds a user. mailbox overrides the id_token's
 * preferred_username (or email); login (NULL: userdb_unique_login of the
 * mailbox) must be unused. The new user gets a random password, the
 * refresh token and state ok. On a sign-in failure oerr (may be NULL)
 * contains the token endpoint's error and advice, and the return is the
 * code of oauth_device_poll or oauth_browser_signin. EXO_ERR_EXISTS when
 * the login is taken, checked before and after the sign-in.
 */
int service_user_add(struct service *sv, const struct signin_request *rq,
    const char *login, const char *mailbox, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e);

/*
 * Signs an existing user in again: replaces the refresh token, clears the
 * state and keeps login, password and mailbox. out->account names the
 * account that signed in, which may differ from the mailbox.
 */
int service_user_signin(struct service *sv, const char *login,
    const struct signin_request *rq, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e);

/* Gives login a new random password and copies it to password. */
int service_user_reset_password(struct service *sv, const char *login,
    char password[USER_PASSWORD_MAX], struct exo_error *e);

/* Maximum length of a local password that an admin chooses, in bytes. */
#define SERVICE_PASSWORD_MAX (USER_PASSWORD_MAX - 1)

/*
 * Sets the local password of login. It must be 1 to SERVICE_PASSWORD_MAX
 * bytes of valid UTF-8 without control characters.
 */
int service_user_set_password(struct service *sv, const char *login,
    const char *password, struct exo_error *e);

/*
 * Sets one per-user setting: "mailbox" (an address with one "@"),
 * "sender" ("pass" or "rewrite"), "accept_legacy_charset" (yes or no:
 * also accept the ISO-8859-1 and Windows-1252 forms of a non-ASCII
 * password), "encode_utf8_headers" (yes or no: raw UTF-8 header values
 * become RFC 2047 words) or "relabel_iso2022jp" (yes or no: the
 * ISO-2022-JP-2 label becomes ISO-2022-JP where the text allows it).
 * An unknown key is EXO_ERR_INVALID with
 * a message that lists the known keys.
 */
int service_user_set(struct service *sv, const char *login,
    const char *key, const char *value, struct exo_error *e);

/* Names of the keys service_user_set accepts, ended by NULL. */
const char *const *service_user_keys(void);

/*
 * Deletes login. A running service in any process closes that user's
 * sessions within SERVICE_CHECK_SECONDS, or at once after
 * service_users_changed.
 */
int service_user_delete(struct service *sv, const char *login,
    struct exo_error *e);

/*
 * All users sorted by login; free with userdb_free_list. For a user whose
 * stored state is USER_OK, the state shows the current work of this
 * process's token manager. It is USER_REFRESHING while a refresh runs.
 * After a transient failure it is USER_TRANSIENT_ERROR, with the failure
 * and the time to the next try as the reason. Only the process that
 * serves has these states.
 */
int service_user_list(struct service *sv, struct user **users,
    size_t *count, struct exo_error *e);

/*
 * Checks one user end to end: a forced token refresh, then a POP3 and an
 * SMTP login upstream. step receives one line per step as it completes.
 * Returns 0 when every step passed, else the first failure's code.
 */
int service_user_test(struct service *sv, const char *login,
    void (*step)(const char *line, void *ctx), void *ctx,
    struct exo_error *e);

/* Writes the admin consent URL of the app into buf. */
void service_consent_url(const struct service *sv, char *buf, size_t cap);

#endif
