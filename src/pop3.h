/*
 * pop3.h: what the POP3 device session (pop3-session.c) and the
 * connection to the Exchange Online POP3 server (pop3-upstream.c) share.
 */
#ifndef EXO_POP3_H
#define EXO_POP3_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "stream.h"
#include "token.h"

/* Maximum command line from a device, CRLF included. RFC 2449 section 4
 * sets 255 for clients, and Exchange on-premises accepts 512. */
#define POP3_LINE_MAX 512
/* Maximum status line from the upstream, CRLF included. */
#define POP3_REPLY_MAX 1024
/* Maximum time the upstream may stay silent while a reply is due. */
#define POP3_UPSTREAM_TIMEOUT_MS 60000
/* Time allowed for connecting and the TLS handshake upstream. */
#define POP3_CONNECT_TIMEOUT_MS 30000

/*
 * Connects to the upstream of s with implicit TLS (server name = the
 * upstream host, verified against trust) and reads the greeting. On
 * success *out is the connection with its read timeout set to
 * POP3_UPSTREAM_TIMEOUT_MS. Errors: those of stream_connect and
 * stream_start_tls_client; EXO_ERR_UPSTREAM when the greeting is not
 * "+OK", with the greeting in reply; EXO_ERR_CLOSED, EXO_ERR_TIMEOUT,
 * EXO_ERR_PROTO for a missing or overlong greeting.
 */
int pop3_upstream_connect(const struct settings *s,
    const struct trust_store *trust, struct stream **out, char *reply,
    size_t cap, struct exo_error *e);

/*
 * Logs in on up with the two-step XOAUTH2 exchange: "AUTH XOAUTH2", a
 * line starting with "+", then the initial response (one line, however
 * long the token). reply receives the upstream's last status line
 * without its line end. Returns 0 when the upstream replied "+OK", or:
 *   EXO_ERR_AUTH      the token was refused ("-ERR" after the SASL line);
 *   EXO_ERR_TRANSIENT "-ERR ... Server Unavailable" at any step;
 *   EXO_ERR_UPSTREAM  "-ERR" to the AUTH command itself;
 *   EXO_ERR_CLOSED, EXO_ERR_TIMEOUT, EXO_ERR_IO, EXO_ERR_TLS,
 *   EXO_ERR_PROTO     the connection failed or broke the protocol.
 * The token and the SASL line are wiped and never logged.
 */
int pop3_upstream_auth(struct stream *up, const char *mailbox,
    const char *token, char *reply, size_t cap, struct exo_error *e);

/* pop3_upstream_connect, then pop3_upstream_auth; closes the connection
 * unless it returns 0. */
int pop3_upstream_login(const struct settings *s,
    const struct trust_store *trust, const char *mailbox,
    const char *token, struct stream **out, char *reply, size_t cap,
    struct exo_error *e);

/*
 * Reads one status line from up into buf (cap bytes, NUL-terminated, line
 * end kept) and stores its length. An overlong line is EXO_ERR_PROTO; a
 * close before any byte is EXO_ERR_CLOSED.
 */
int pop3_upstream_read_status(struct stream *up, char *buf, size_t cap,
    size_t *len, struct exo_error *e);

/* 1 when a status line starts with "+OK", ignoring case. */
int pop3_status_ok(const char *line);

/* Connection on which pop3_relay_multiline failed. */
enum pop3_relay_side {
	POP3_RELAY_NONE = 0,
	POP3_RELAY_UPSTREAM,
	POP3_RELAY_DEVICE,
};

/*
 * Copies the body of a multi-line reply from up to device as it arrives,
 * byte for byte with the dot-stuffing intact, up to and including the
 * line that is exactly "." (RFC 1939 section 3), found by scanning across
 * reads. Never uses a size from LIST or STAT. *body_bytes receives the
 * bytes before the final line. Bytes from the upstream after the final
 * line break the protocol and give EXO_ERR_PROTO. On failure *side names
 * the connection that failed.
 */
int pop3_relay_multiline(struct stream *up, struct stream *device,
    unsigned long long *body_bytes, enum pop3_relay_side *side,
    struct exo_error *e);

/*
 * Returns the advice logged when Exchange refuses a token: the likely
 * causes and what the admin can do.
 */
const char *pop3_rejection_hint(void);

/* The token manager calls of a session, replaceable in unit tests. */
struct pop3_token_ops {
	int	(*get)(struct token_mgr *m, const char *login, int force,
		    struct token_lease *out, struct exo_error *e);
	void	(*report_rejected)(struct token_mgr *m, const char *login,
		    const char *code, const char *reason);
	void	(*report_success)(struct token_mgr *m, const char *login);
};

#ifdef EXO_TEST_SEAMS
/* Replaces the token calls of later sessions; NULL restores the real
 * token manager. */
void pop3_test_set_token_ops(const struct pop3_token_ops *ops);
#endif

#endif
