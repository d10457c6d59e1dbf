/*
 * session.h: what the POP3 and SMTP sessions need from the service, and
 * the entry points the service calls on each accepted connection.
 */
#ifndef EXO_SESSION_H
#define EXO_SESSION_H

#include <stdatomic.h>

#include "config.h"
#include "plat.h"
#include "stream.h"
#include "token.h"
#include "users.h"

/* Counters of one server, shown by the screen. */
struct server_stats {
	atomic_long	active;		/* open connections */
	atomic_long	sessions;	/* connections since start */
	atomic_long	logins;		/* successful logins */
	atomic_long	messages;	/* messages retrieved or sent */
	atomic_llong	bytes;		/* bytes relayed */
};

struct session_ctx {
	const struct settings	 *settings;	/* valid while the session runs */
	const struct trust_store *trust;
	struct userdb		 *users;
	struct token_mgr	 *tokens;
	struct server_stats	 *stats;
	unsigned long		  conn;		/* connection id for events */
	char			  peer[PLAT_ADDR_MAX];
	unsigned		  local_port;
	/* Device-side TLS of this server: NULL when it offers none. The
	 * stream comes already in TLS on an implicit-TLS listener. */
	const struct tls_server_creds *tls;
	const atomic_int	 *stopping;	/* set when the server stops */

	/*
	 * Called once after a successful local login, so the service can
	 * release the per-address pre-login slot and know which user the
	 * connection belongs to (to close it when the user is deleted).
	 */
	void	(*on_login)(struct session_ctx *ctx, const char *login);
	void	*service;
	/*
	 * Set by the service before it shuts down the reading side of the
	 * device socket because the administrator deleted the logged-in
	 * user: the end of input then gets a reply that says so.
	 */
	atomic_int		  user_deleted;
};

/*
 * Runs a whole session on device (owned by the session, closed on return).
 * Never exits the process: any peer input unwinds to here.
 */
void pop3_session_run(struct session_ctx *ctx, struct stream *device);
void smtp_session_run(struct session_ctx *ctx, struct stream *device);

/*
 * Checks a local login in constant time. Returns 0 and fills *u, or
 * EXO_ERR_AUTH for an unknown user or wrong password (indistinguishable
 * to the caller's peer).
 */
int auth_check_password(struct userdb *db, const char *login,
    const void *password, size_t len, struct user *u);

/*
 * Checks one mailbox upstream for `user test`: connects to the POP3 (or
 * SMTP) upstream of the settings, logs in with XOAUTH2 using lease, and
 * logs out. report receives one plain line per step ("connect
 * outlook.office365.com:995: ok", "XOAUTH2 login: rejected: -ERR ...",
 * followed by the likely cause and fix). Returns 0 when every step passed.
 */
int pop3_upstream_check(const struct settings *s,
    const struct trust_store *trust, const struct token_lease *lease,
    char *report, size_t cap, struct exo_error *e);
int smtp_upstream_check(const struct settings *s,
    const struct trust_store *trust, const struct token_lease *lease,
    char *report, size_t cap, struct exo_error *e);

#endif
