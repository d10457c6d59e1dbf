/*
 * users.h: the user store. Each user is a local login (what a device
 * sends) bound to an Exchange Online mailbox and its OAuth grant.
 *
 * Two files in the data folder: users.conf holds what may be read by
 * anyone with access to the folder (login, mailbox, state, last use,
 * per-user settings); secrets.dat holds the local passwords and refresh
 * tokens, readable by the owner only and protected with
 * plat_secret_protect. Where the data folder cannot restrict access (FAT,
 * exFAT), secrets.dat goes to the per-user data folder instead, and
 * userdb_open says so in its notice.
 *
 * Every change takes an inter-process lock (users.lock), re-reads both
 * files, changes only the entries it names and writes both atomically, so
 * two processes that change different users, or a refresh and an admin's
 * edit, never lose each other's work.
 */
#ifndef EXO_USERS_H
#define EXO_USERS_H

#include <stdint.h>

#include "config.h"
#include "err.h"

#define USER_LOGIN_MAX 64	/* devices allow up to 63 characters */
#define USER_MAILBOX_MAX 320
#define USER_PASSWORD_MAX 128
#define USER_TOKEN_MAX 8192	/* refresh tokens are 1 to 3 KB today */
#define USER_REASON_MAX 512

enum user_state {
	USER_OK = 0,		/* refresh token valid as far as we know */
	USER_SIGNIN_REQUIRED,	/* the grant is dead: the admin signs in */
	USER_CONSENT_REQUIRED,	/* an admin must grant consent */
	USER_CONFIG_ERROR,	/* app registration or settings wrong */
	USER_TRANSIENT_ERROR,	/* last refresh failed; tokens kept */
	USER_UPSTREAM_REJECTED,	/* Exchange refused the token (backoff) */
	USER_REFRESHING,	/* a refresh runs now; lists only, never
				 * stored (service_user_list) */
};

struct user {
	char	login[USER_LOGIN_MAX];
	char	mailbox[USER_MAILBOX_MAX];
	char	display_name[256];
	char	tenant_id[64];
	int	personal;		/* Outlook.com, Hotmail, Live */
	int64_t	created;		/* wall clock seconds, 0 = never */
	int64_t	last_pop3;
	int64_t	last_smtp;
	int64_t	last_refresh;		/* last successful token refresh */

	enum user_state state;
	char	state_code[32];		/* "AADSTS70043", "5.7.139" */
	char	state_reason[USER_REASON_MAX]; /* what happened and the fix */

	/* Per-user settings, set with `user set NAME KEY=VALUE`. */
	char	sender_policy[16];	/* "pass" or "rewrite" */
	int	accept_legacy_charset;	/* also ISO-8859-1, CP1252 passwords */
	int	encode_utf8_headers;	/* raw UTF-8 header values: RFC 2047 */
	int	relabel_iso2022jp;	/* ISO-2022-JP-2 label -> ISO-2022-JP */

	/* Secrets: never logged, wiped when the struct is released. */
	char	password[USER_PASSWORD_MAX];	/* UTF-8 as the admin set it */
	char	refresh_token[USER_TOKEN_MAX];
	char	refresh_token_reserve[USER_TOKEN_MAX]; /* kept until the new one worked */
	int	refresh_token_rejected;	/* the endpoint called it dead */
};

struct userdb;

/*
 * Opens the store for the data folder of s. notice receives a sentence for
 * the admin when secrets had to go elsewhere (empty otherwise).
 */
int userdb_open(const struct settings *s, struct userdb **out,
    char notice[512], struct exo_error *e);
void userdb_close(struct userdb *db);

/* Path of secrets.dat, for messages. */
const char *userdb_secrets_path(const struct userdb *db);

/*
 * Copies the user named login (ASCII case-insensitive) into *out from an
 * in-memory copy that is refreshed from disk when the files changed (at
 * most one stat per second). EXO_ERR_NOTFOUND when there is none.
 */
int userdb_get(struct userdb *db, const char *login, struct user *out,
    struct exo_error *e);

/*
 * Re-reads the files at once when they changed, instead of at the next
 * lookup a second later, as after a "users_changed" request from another
 * exoconnect process that just wrote them.
 */
void userdb_reload(struct userdb *db);

/*
 * Returns all users, sorted by login, in a new array (*users, freed with
 * userdb_free_list, which wipes the secrets).
 */
int userdb_list(struct userdb *db, struct user **users, size_t *count,
    struct exo_error *e);
void userdb_free_list(struct user *users, size_t count);

/*
 * Changes one user under the lock: re-reads the files, calls fn with the
 * current entry, and writes both files atomically when fn returns 0.
 * EXO_ERR_NOTFOUND when the user does not exist. fn runs with the lock
 * held, so it must not wait on the network, and must not call
 * userdb_update, userdb_add or userdb_delete, which would wait forever.
 * A non-zero result from fn is returned and nothing is written.
 */
int userdb_update(struct userdb *db, const char *login,
    int (*fn)(struct user *u, void *ctx), void *ctx, struct exo_error *e);

/*
 * Adds u; EXO_ERR_EXISTS when the login is taken (ASCII case-insensitive).
 * EXO_ERR_INVALID unless the login is 1 to 63 letters, digits or ". _ - @
 * +" and the mailbox contains '@'.
 */
int userdb_add(struct userdb *db, const struct user *u,
    struct exo_error *e);
int userdb_delete(struct userdb *db, const char *login,
    struct exo_error *e);

/* Generation counter that changes whenever the files change on disk. */
unsigned long userdb_generation(struct userdb *db);

/* Returns "valid", "sign-in required" and so on. */
const char *user_state_name(enum user_state st);

/*
 * Makes a login from a mailbox's local part ("scan@x.com" -> "scan"),
 * adding "2", "3" ... until no user has it.
 */
int userdb_unique_login(struct userdb *db, const char *mailbox,
    char out[USER_LOGIN_MAX], struct exo_error *e);

/* A random password: 16 characters from A-Z and 2-9. */
int user_random_password(char out[17]);

/* Wipes the secret fields of u. */
void user_wipe(struct user *u);

#endif
