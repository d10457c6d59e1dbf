/*
 * token.h: the token manager. Keeps each user's access token in memory,
 * refreshes it before it expires, and makes sure every rotated refresh
 * token is on disk before the new access token is handed out.
 *
 * Per user at most one refresh is in flight: other callers wait for its
 * outcome (at most TOKEN_WAIT_MAX_MS) and share it. Failures are
 * classified: transient ones keep the tokens and back off (5 s doubling to
 * 10 min, Retry-After honoured); ones that need a sign-in, consent or a
 * settings fix mark the user, and no refresh is sent until an admin acts.
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
 * EXO_ERR_CONFIG, EXO_ERR_TIMEOUT (waited for another refresh too long),
 * EXO_ERR_UPSTREAM (Exchange rejected this user's token recently and the
 * backoff of token_report_rejected is running). While refreshes fail
 * transiently, a cached token that has not expired is still returned
 * (without force). A forced refresh within 10 s of the last refresh
 * returns that refresh's token instead of sending another request.
 */
int token_get(struct token_mgr *m, const char *login, int force,
    struct token_lease *out, struct exo_error *e);

/*
 * Records that Exchange refused a freshly refreshed token for login: the
 * user backs off for 60 s, doubling to 15 min, until a success or an
 * admin action. code and reason go to the user's state.
 */
void token_report_rejected(struct token_mgr *m, const char *login,
    const char *code, const char *reason);
/* Records a successful upstream login: clears backoff and reserve token. */
void token_report_success(struct token_mgr *m, const char *login);

/* Forgets cached state for login (after delete, sign-in or password set). */
void token_forget(struct token_mgr *m, const char *login);

/*
 * Refreshes every user whose last refresh is older than TOKEN_KEEPALIVE,
 * so idle mailboxes do not reach the 90-day expiry. Called by the
 * service's background thread.
 */
void token_keepalive(struct token_mgr *m);

void token_lease_wipe(struct token_lease *l);

#endif
