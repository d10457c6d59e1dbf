/*
 * service-conn.c: accepting connections within the limits, one thread
 * per connection, and the background thread that keeps grants alive and
 * closes the sessions of deleted users.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "plat.h"
#include "service-int.h"
#include "service.h"
#include "session.h"
#include "stream.h"
#include "tls-cert.h"
#include "tls-hello.h"
#include "token.h"
#include "users.h"
#include "util.h"

/* Rejected connections are logged at most once in this period. */
#define BUSY_LOG_PERIOD_MS 60000
/* Send timeout of the reply to a connection over a limit. */
#define BUSY_REPLY_MS 1000

static const char *const busy_replies[SERVER_COUNT] = {
	"-ERR [SYS/TEMP] Too many connections, try again later\r\n",
	"421 4.7.0 Too many connections, try again later\r\n",
};

/* ---- connections ---- */

static void
conn_on_login(struct session_ctx *ctx, const char *login)
{
	struct conn	*c = ctx->service;
	struct service	*sv = c->sv;

	plat_mutex_lock(sv->mu);
	c->preauth = 0;
	str_copy(c->login, login, sizeof(c->login));
	plat_mutex_unlock(sv->mu);
}

static void
conn_unlink(struct conn *c)
{
	struct service	*sv = c->sv;

	plat_mutex_lock(sv->mu);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		sv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	sv->nconns--;
	sv->threads--;
	atomic_fetch_sub(&c->srv->stats.active, 1);
	plat_cond_broadcast(sv->cond);
	plat_mutex_unlock(sv->mu);
}

/* The settings section of a server, for messages that name a key. */
static const char *
conn_section(const struct conn *c)
{
	return c->srv->kind == SERVER_POP3 ? "pop3" : "smtp";
}

/*
 * Returns the fix for a failed implicit-TLS handshake, judged from the
 * stream's message, or NULL when there is none to suggest.
 */
static const char *
conn_tls_fix(const struct conn *c, struct stream *device, int rc,
    const char *msg, char *buf, size_t cap)
{
	const struct settings	*s = &c->sv->settings;
	struct tls_hello	 hello;
	int			 legacy;

	legacy = c->srv->kind == SERVER_POP3 ? s->pop3.legacy_tls :
	    s->smtp.legacy_tls;
	if (rc == EXO_ERR_TIMEOUT || strstr(msg, TLS_CERT_NOT_TLS) != NULL) {
		/* A plain-text client waits for the greeting, or sends text
		 * that BearSSL reads as a record of an unknown version. */
		snprintf(buf, cap, "this device probably speaks plain text on "
		    "port %u, the implicit-TLS (SSL/TLS) port; set the device "
		    "to SSL/TLS, or to plain text or STARTTLS on port %u",
		    c->srv->tls_port, c->srv->status.port);
		return buf;
	}
	stream_tls_client_hello(device, &hello);
	return tls_hello_fix(msg, &hello, c->ctx.peer, legacy, conn_section(c),
	    buf, cap);
}

/*
 * Runs the handshake of an implicit-TLS connection within
 * SERVICE_TLS_HANDSHAKE_MS. On failure it logs the device, the reason
 * and the fix, and closes the stream.
 */
static int
conn_tls_accept(struct conn *c, struct stream *device)
{
	struct exo_error	 e;
	char			 port[16], fix[256];
	const char		*hint;
	int			 rc, wait_ms;

	wait_ms = c->sv->settings.limits.preauth_timeout * 1000;
	if (wait_ms <= 0 || wait_ms > SERVICE_TLS_HANDSHAKE_MS)
		wait_ms = SERVICE_TLS_HANDSHAKE_MS;
	stream_set_timeout(device, wait_ms);
	err_clear(&e);
	rc = stream_start_tls_server(device, c->srv->creds, &e);
	if (rc == EXO_OK)
		return EXO_OK;

	snprintf(port, sizeof(port), "%u", c->srv->tls_port);
	hint = conn_tls_fix(c, device, rc, e.msg, fix, sizeof(fix));
	/* Port probes close without sending a byte, so a close is info. */
	ev_emit(rc == EXO_ERR_CLOSED ? EV_INFO : EV_WARN, c->ctx.conn,
	    "service.tls_handshake_failed",
	    "TLS handshake with device {peer} on {server} port {port} "
	    "failed: {error}", "peer", c->ctx.peer,
	    "server", server_kind_name(c->srv->kind), "port", port,
	    EV_ERROR("error", err_or_code(&e, rc)),
	    "fix", hint, (char *)NULL);
	stream_close(device);
	return rc;
}

static void
conn_main(void *arg)
{
	struct conn	*c = arg;
	struct stream	*device;
	int		 timeout_ms;

	timeout_ms = c->sv->settings.limits.preauth_timeout * 1000;
	device = stream_new(c->sock, timeout_ms);
	if (device == NULL) {
		ev_emit(EV_ERROR, c->ctx.conn, "service.conn_nomem",
		    "Out of memory for a new connection from {peer}",
		    "peer", c->ctx.peer, (char *)NULL);
		plat_socket_close(c->sock);
	} else if (c->implicit_tls && conn_tls_accept(c, device) != EXO_OK)
		;	/* logged and closed */
	else if (c->srv->kind == SERVER_POP3)
		pop3_session_run(&c->ctx, device);
	else
		smtp_session_run(&c->ctx, device);

	conn_unlink(c);
	free(c);
}

/*
 * Decides with sv->mu held whether a connection from peer may start.
 * Returns NULL when it may, else the name of the limit it hits.
 */
static const char *
conn_limit_hit(struct service *sv, const char *peer)
{
	struct conn	*c;
	int		 same = 0;

	if (sv->nconns >= sv->settings.limits.max_connections)
		return "max_connections";
	for (c = sv->conns; c != NULL; c = c->next)
		if (c->preauth && strcmp(c->ctx.peer, peer) == 0)
			same++;
	if (same >= sv->settings.limits.max_preauth_per_address)
		return "max_preauth_per_address";
	return NULL;
}

/*
 * Logs rejected connections, at most once per BUSY_LOG_PERIOD_MS unless
 * flush is set. The count is of the rejections since the last report.
 */
static void
busy_log(struct service *sv, const char *limit, const char *peer, int flush)
{
	char	count[32];
	int64_t	now = plat_now_ms();
	long	n;

	plat_mutex_lock(sv->mu);
	if (limit != NULL)
		sv->busy_unlogged++;
	n = sv->busy_unlogged;
	if (n == 0 || (!flush && sv->busy_logged_ms != 0 &&
	    now - sv->busy_logged_ms < BUSY_LOG_PERIOD_MS)) {
		plat_mutex_unlock(sv->mu);
		return;
	}
	sv->busy_logged_ms = now;
	sv->busy_unlogged = 0;
	plat_mutex_unlock(sv->mu);

	snprintf(count, sizeof(count), "%ld", n);
	ev_emit(EV_WARN, 0, "service.busy",
	    "Connections rejected over a connection limit since the last "
	    "report: {count}; raise the limit under [limits] if devices "
	    "need more", "count", count,
	    "limit", limit, "peer", peer, (char *)NULL);
}

static void
conn_reject(struct server *srv, plat_socket s, const char *limit,
    const char *peer)
{
	const char	*reply = busy_replies[srv->kind];

	plat_send_all(s, reply, strlen(reply), BUSY_REPLY_MS);
	plat_socket_close(s);
	busy_log(srv->sv, limit, peer, 0);
}

/* Marks older entries that still name the fd s, which accept reused. */
static void
conn_forget_socket(struct service *sv, plat_socket s)
{
	struct conn	*c;

	for (c = sv->conns; c != NULL; c = c->next)
		if (c->sock == s)
			c->sock_open = 0;
}

static void
conn_fill_ctx(struct conn *c, const char *peer)
{
	struct service	*sv = c->sv;

	c->ctx.settings = &sv->settings;
	c->ctx.trust = sv->trust;
	c->ctx.users = sv->users;
	c->ctx.tokens = sv->tokens;
	c->ctx.stats = &c->srv->stats;
	c->ctx.conn = ev_next_conn_id();
	str_copy(c->ctx.peer, peer, sizeof(c->ctx.peer));
	c->ctx.local_port = c->implicit_tls ? c->srv->tls_port :
	    c->srv->status.port;
	c->ctx.tls = c->srv->creds;
	c->ctx.stopping = &c->srv->stopping;
	c->ctx.on_login = conn_on_login;
	c->ctx.service = c;
}

static void
conn_start(struct listener *l, plat_socket s, const char *peer)
{
	struct server	*srv = l->srv;
	struct service	*sv = srv->sv;
	struct conn	*c;
	const char	*limit;

	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		conn_reject(srv, s, "memory", peer);
		return;
	}
	c->sv = sv;
	c->srv = srv;
	c->sock = s;
	c->sock_open = 1;
	c->preauth = 1;
	c->implicit_tls = l->implicit_tls;
	conn_fill_ctx(c, peer);

	plat_mutex_lock(sv->mu);
	limit = conn_limit_hit(sv, peer);
	if (limit == NULL) {
		conn_forget_socket(sv, s);
		c->next = sv->conns;
		if (sv->conns != NULL)
			sv->conns->prev = c;
		sv->conns = c;
		sv->nconns++;
		sv->threads++;
		atomic_fetch_add(&srv->stats.active, 1);
		atomic_fetch_add(&srv->stats.sessions, 1);
	}
	plat_mutex_unlock(sv->mu);

	if (limit != NULL) {
		free(c);
		conn_reject(srv, s, limit, peer);
		return;
	}

	if (plat_thread_start(conn_main, c, SERVICE_THREAD_STACK) != EXO_OK) {
		/* Undo the insertion, but the socket is still ours. */
		c->sock_open = 0;
		conn_unlink(c);
		free(c);
		conn_reject(srv, s, "threads", peer);
	}
}

void
service_accept_main(void *arg)
{
	struct listener	*l = arg;
	struct server	*srv = l->srv;
	struct service	*sv = srv->sv;
	plat_socket	 lsock = l->implicit_tls ? srv->tls_sock : srv->sock;
	char		 peer[PLAT_ADDR_MAX];
	plat_socket	 s;
	int		 rc;

	while (!atomic_load(&sv->stopping) && !atomic_load(&srv->stopping)) {
		rc = plat_accept(lsock, ACCEPT_POLL_MS, &s, peer);
		if (rc == EXO_ERR_TIMEOUT)
			continue;
		if (rc == EXO_ERR_CLOSED)
			break;
		if (rc != EXO_OK) {
			/* Out of file descriptors, most likely: let some
			 * sessions end before trying again. */
			ev_emit(EV_WARN, 0, "service.accept_failed",
			    "Accepting a {server} connection failed: {error}",
			    "server", server_kind_name(srv->kind),
			    "error", exo_strerror(rc), (char *)NULL);
			plat_sleep_ms(100);
			continue;
		}
		conn_start(l, s, peer);
	}

	plat_mutex_lock(sv->mu);
	srv->accepting--;
	sv->threads--;
	plat_cond_broadcast(sv->cond);
	plat_mutex_unlock(sv->mu);
}

/* Shuts down the sockets of matching sessions; login NULL means all. */
int
service_conn_shutdown(struct service *sv, const char *login)
{
	struct conn	*c;
	int		 n = 0;

	plat_mutex_lock(sv->mu);
	for (c = sv->conns; c != NULL; c = c->next) {
		if (!c->sock_open)
			continue;
		if (login != NULL && str_casecmp(c->login, login) != 0)
			continue;
		plat_socket_shutdown(c->sock);
		n++;
	}
	plat_mutex_unlock(sv->mu);
	return n;
}

int
service_conn_shutdown_server(struct service *sv, struct server *srv)
{
	struct conn	*c;
	int		 n = 0;

	plat_mutex_lock(sv->mu);
	for (c = sv->conns; c != NULL; c = c->next) {
		if (!c->sock_open || c->srv != srv)
			continue;
		plat_socket_shutdown(c->sock);
		n++;
	}
	plat_mutex_unlock(sv->mu);
	return n;
}

/*
 * Ends the sessions of a deleted user: each one reads the end of input,
 * then tells its device why before it closes. Returns how many.
 */
static int
service_conn_end_deleted(struct service *sv, const char *login)
{
	struct conn	*c;
	int		 n = 0;

	plat_mutex_lock(sv->mu);
	for (c = sv->conns; c != NULL; c = c->next) {
		if (!c->sock_open || str_casecmp(c->login, login) != 0)
			continue;
		atomic_store(&c->ctx.user_deleted, 1);
		plat_socket_shutdown_read(c->sock);
		n++;
	}
	plat_mutex_unlock(sv->mu);
	return n;
}

/* ---- the background thread ---- */

/*
 * Closes the sessions of users that no longer exist. userdb_get on a
 * logged-in user makes the store re-read changed files. After that, an
 * unchanged generation means that no user was deleted.
 */
static void
check_deleted_users(struct service *sv)
{
	struct user	*u = NULL;
	char		(*logins)[USER_LOGIN_MAX] = NULL;
	char		 count[16];
	struct conn	*c;
	unsigned long	 gen;
	int		 n = 0, closed;

	plat_mutex_lock(sv->mu);
	if (sv->nconns > 0)
		logins = calloc((size_t)sv->nconns, sizeof(*logins));
	for (c = sv->conns; logins != NULL && c != NULL; c = c->next)
		if (c->login[0] != '\0')
			str_copy(logins[n++], c->login, USER_LOGIN_MAX);
	plat_mutex_unlock(sv->mu);

	u = malloc(sizeof(*u));
	if (n == 0 || u == NULL)
		goto out;

	userdb_get(sv->users, logins[0], u, NULL);
	gen = userdb_generation(sv->users);
	if (gen == sv->checked_generation)
		goto out;
	sv->checked_generation = gen;

	for (int i = 0; i < n; i++) {
		if (userdb_get(sv->users, logins[i], u, NULL) !=
		    EXO_ERR_NOTFOUND)
			continue;
		closed = service_conn_end_deleted(sv, logins[i]);
		if (closed == 0)
			continue;
		snprintf(count, sizeof(count), "%d", closed);
		ev_emit(EV_INFO, 0, "service.user_deleted",
		    "User {login} was deleted; closed {count} of its sessions",
		    "login", logins[i], "count", count, (char *)NULL);
	}
out:
	if (u != NULL) {
		user_wipe(u);
		free(u);
	}
	free(logins);
}

void
service_background_main(void *arg)
{
	struct service	*sv = arg;
	int64_t		 next_keepalive = 0;

	plat_mutex_lock(sv->mu);
	while (!atomic_load(&sv->stopping)) {
		plat_cond_wait(sv->cond, sv->mu, SERVICE_CHECK_SECONDS * 1000);
		if (atomic_load(&sv->stopping))
			break;
		plat_mutex_unlock(sv->mu);

		check_deleted_users(sv);
		busy_log(sv, NULL, NULL, 0);
		if (plat_now_ms() >= next_keepalive) {
			token_keepalive(sv->tokens);
			next_keepalive = plat_now_ms() +
			    (int64_t)SERVICE_KEEPALIVE_SECONDS * 1000;
		}

		plat_mutex_lock(sv->mu);
	}
	plat_mutex_unlock(sv->mu);
	/* Rejections of the last period would otherwise go unreported. */
	busy_log(sv, NULL, NULL, 1);

	plat_mutex_lock(sv->mu);
	sv->threads--;
	plat_cond_broadcast(sv->cond);
	plat_mutex_unlock(sv->mu);
}
