/*
 * token.h: the token manager. Keeps each user's access token in memory,
 * refreshes it before it expires, and makes sure every rotated refresh
 * token is on disk before the new access token is handed out.
 *
 * Per user at most one refresh is in flight: other callers wait for its
 * outcome (at most TOKEN_WAIT_MAX_MS) and share it, and the caller that
 * sends it gets its reply within that time too. Failures are
 * classified: transient ones keep the tokens and back off (5 s doubling to
 * 10 min, Retry-After honoured). Settings failures (invalid_client,
 * AADSTS7000218, 900144, 700016) set the user's state to CONFIG_ERROR,
 * keep the refresh token usable and back off 5 min doubling to 1 h; a
 * restart or token_test retries at once. Failures that need a sign-in or
 * consent flag the refresh token, and no refresh is sent until a new
 * sign-in replaces it or token_test finds it working.
 *
 * When the rotated refresh token cannot be written (disk full), it is
 * kept in memory and the write is retried on every later token_get and
 * token_keepalive; the old one is never sent again, and the new access
 * token is handed out only after the write succeeded. A restart before
 * then loses the new refresh token.
 * The refresh and the store update run under an inter-process lock
 * (refresh.lock in the data folder), so two processes never spend the
 * same refresh token. Transient failures leave the store untouched.
 */
#ifndef EXO_TOKEN_H
#define EXO_TOKEN_H

#include "config.h"
#include "oauth.h"
#include "users.h"

#define TOKEN_WAIT_MAX_MS 20000	/* below the shortest device timeout */
#define TOKEN_EARLY_REFRESH 300	/* seconds before expiry */
#define TOKEN_KEEPALIVE (24 * 3600) /* background refresh at least daily */

struct token_mgr;

/* The protocols whose upstream logins back off separately. */
enum token_proto {
	TOKEN_POP3,
	TOKEN_SMTP,
	TOKEN_PROTOS
};

/* A token handed to a session. */
struct token_lease {
	char	access_token[OAUTH_ACCESS_TOKEN_MAX];
	char	mailbox[USER_MAILBOX_MAX];
	int	personal;
	int	fresh;		/* issued during this call: no retry on reject */
};

struct token_mgr *token_mgr_new(const struct settings *s,
    struct userdb *db, const struct trust_store *trust);
void token_mgr_free(struct token_mgr *m);

/*
 * Returns a valid access token for login. force != 0 refreshes even when
 * the cached token has not expired (after Exchange rejected it). Errors,
 * each with a message meant for the device's temporary reply and the log:
 * EXO_ERR_NOTFOUND, EXO_ERR_TRANSIENT (token service unavailable or
 * backing off), EXO_ERR_SIGNIN (an admin must sign in again),
 * EXO_ERR_CONFIG, EXO_ERR_TIMEOUT (waited for another refresh too long).
 * While refreshes fail transiently, a cached token that has not expired
 * is still returned (without force). A forced refresh within 10 s of the
 * last refresh returns that refresh's token instead of sending another
 * request. The first failure of a kind carries the full reason. Later
 * logins refused for the same reason get a short message with a count,
 * so the log does not repeat the reason per login. Ignores the upstream
 * backoff.
 */
int token_get(struct token_mgr *m, const char *login, int force,
    struct token_lease *out, struct exo_error *e);

/*
 * token_get for a device login over proto: also returns EXO_ERR_UPSTREAM
 * while the backoff of token_report_rejected for that protocol runs.
 */
int token_get_proto(struct token_mgr *m, enum token_proto proto,
    const char *login, int force, struct token_lease *out,
    struct exo_error *e);

/*
 * Sends a refresh for the admin's `user test` (or the pending write of a
 * rotated refresh token), even for a flagged refresh token or during a
 * backoff, and returns the token endpoint's response as for token_get.
 * A success clears the flag and the user's state.
 */
int token_test(struct token_mgr *m, const char *login,
    struct token_lease *out, struct exo_error *e);

/*
 * Records that Exchange refused a freshly refreshed token for login over
 * proto: logins over that protocol back off for 60 s, doubling to 15 min,
 * until a success or an admin action. code and reason go to the user's
 * state.
 */
void token_report_rejected(struct token_mgr *m, const char *login,
    enum token_proto proto, const char *code, const char *reason);
/*
 * Records a successful upstream login over proto: clears that protocol's
 * backoff and the reserve token.
 */
void token_report_success(struct token_mgr *m, const char *login,
    enum token_proto proto);

/* The calls above for POP3, with the signatures of struct pop3_token_ops. */
int token_pop3_get(struct token_mgr *m, const char *login, int force,
    struct token_lease *out, struct exo_error *e);
void token_pop3_rejected(struct token_mgr *m, const char *login,
    const char *code, const char *reason);
void token_pop3_success(struct token_mgr *m, const char *login);

/* The token manager's current work for one user, for the admin. */
struct token_status {
	int	refreshing;		/* a refresh request is in flight */
	/* The last refresh failed transiently ("" after a success): */
	char	reason[USER_REASON_MAX];
	int	retry_in_s;		/* seconds until the next refresh may
					 * be sent; 0: at once */
};

/* Fills st for login; all zero when the manager has no entry for it. */
void token_status(struct token_mgr *m, const char *login,
    struct token_status *st);

/* Forgets cached state for login (after delete, sign-in or password set). */
void token_forget(struct token_mgr *m, const char *login);

/*
 * Retries the writes of rotated refresh tokens kept in memory, and once
 * an hour refreshes every user whose last refresh is older than
 * TOKEN_KEEPALIVE, so idle mailboxes do not reach the 90-day expiry.
 * Called by the service's background thread at least once a minute.
 */
void token_keepalive(struct token_mgr *m);

void token_lease_wipe(struct token_lease *l);

#endif
