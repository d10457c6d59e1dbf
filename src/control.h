/*
 * control.h: the control channel between `serve` and a screen of the
 * same data folder, through which the screen attaches to a running serve.
 *
 * The wire format is one JSON object per line, at most CONTROL_MSG_MAX
 * bytes with its "\n". Every member is a string or an integer without
 * nesting, so json.h reads each message. A client sends requests
 * {"op":NAME,...}. The server responds to each with zero or more progress
 * messages {"t":KIND,...} and a final {"t":"done","rc":N,"msg":TEXT,...}.
 * After {"op":"subscribe"} and its "done", the server sends {"t":"event"}
 * messages until the client closes. {"op":"users_changed"} informs the
 * server that another process wrote users.conf or secrets.dat. During "user_add" and "user_signin",
 * any line from the client, or its close, cancels the sign-in.
 *
 * A line that is too long, not JSON, or contains a NUL byte ends that
 * client's connection only. Tokens never travel on the channel. The new
 * local password in the responses to user_add and user_reset_password
 * does, because the admin requested it.
 */
#ifndef EXO_CONTROL_H
#define EXO_CONTROL_H

#include <stddef.h>

#include "err.h"
#include "plat.h"

struct service;

/* Maximum message size in bytes, including the line end. */
#define CONTROL_MSG_MAX (64 * 1024)
/* Clients served at once; later ones are closed at accept. */
#define CONTROL_CLIENTS_MAX 16
/* Clients that may subscribe to events at once. */
#define CONTROL_SUBSCRIBERS_MAX 8
/* Events queued for one slow subscriber; later ones are dropped. */
#define CONTROL_QUEUE_MAX 512
/* Maximum number of users in one user_list response. */
#define CONTROL_USERS_MAX 100000
/* Wait for a client to take a message, in milliseconds. */
#define CONTROL_SEND_TIMEOUT_MS 10000
/* Wait for the rest of a started message, in milliseconds. */
#define CONTROL_RECV_TIMEOUT_MS 30000
/* Events of level info and above kept for a screen that attaches later. */
#define CONTROL_BACKLOG_MAX 200
/* Protocol version in the "hello" response. A client rejects others. */
#define CONTROL_PROTOCOL "1"

struct control;

/*
 * Makes the control channel of sv without listening yet, and starts
 * keeping the newest CONTROL_BACKLOG_MAX events of level info and above,
 * which a "subscribe" request with "backlog": 1 receives first. Call
 * before service_start, so that the backlog contains the start's events.
 */
int control_open(struct service *sv, struct control **out,
    struct exo_error *e);

/*
 * Listens on the channel of sv's data folder (plat_ipc_listen) and
 * serves each client on a thread of its own, acting on sv as the
 * screen's admin-local.c would. Call after service_start. On failure,
 * control_stop still frees c.
 */
int control_listen(struct control *c, struct exo_error *e);

/* control_open and control_listen in one call, after service_start. */
int control_start(struct service *sv, struct control **out,
    struct exo_error *e);

/*
 * Closes the listener and every client, cancels running sign-ins and
 * waits for the client threads, then frees c. Call before service_stop.
 * c may be NULL, or one that control_listen did not start.
 */
void control_stop(struct control *c);

/* ---- the wire format, shared with admin-remote.c ---- */

/* A message being written: a JSON object of string and integer members. */
struct control_msg {
	char	buf[CONTROL_MSG_MAX];
	size_t	len;
	int	overflow;	/* a member did not fit */
};

/* Starts a message with its first member {"key":"value". */
void control_msg_begin(struct control_msg *m, const char *key,
    const char *value);
void control_msg_str(struct control_msg *m, const char *key,
    const char *value);
void control_msg_int(struct control_msg *m, const char *key, long long v);
/* Closes the object and adds "\n"; EXO_ERR_TOOLONG when it overflowed. */
int control_msg_end(struct control_msg *m);

/* Wait for the response to users_changed, in milliseconds. */
#define CONTROL_NOTIFY_TIMEOUT_MS 5000

/*
 * Sends users_changed to the serve of data_dir, when one runs, so it
 * re-reads the user files at once. Returns 0 after its response,
 * EXO_ERR_NOTFOUND when no serve listens, or another error with e set.
 */
int control_users_changed(const char *data_dir, struct exo_error *e);

/* Reads lines from a channel connection. */
struct control_reader {
	char	buf[CONTROL_MSG_MAX];
	size_t	len;		/* bytes held */
	size_t	skip;		/* bytes of the line returned last */
};

/*
 * Returns the next line (without "\n") in *line and *len. The first byte
 * may take up to timeout_ms (-1: no limit), the rest of the line up to
 * CONTROL_RECV_TIMEOUT_MS. EXO_ERR_TOOLONG for a line over
 * CONTROL_MSG_MAX, EXO_ERR_PROTO for a NUL byte, EXO_ERR_CLOSED at the
 * end of the stream, EXO_ERR_TIMEOUT when no line started in time.
 */
int control_read_line(struct plat_ipc *c, struct control_reader *r,
    int timeout_ms, const char **line, size_t *len);

#endif
