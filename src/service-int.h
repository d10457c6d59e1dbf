/*
 * service-int.h: the state shared by service.c (opening, starting and
 * stopping) and service-conn.c (accepting, connection threads and the
 * background thread). Other modules use service.h instead.
 */
#ifndef EXO_SERVICE_INT_H
#define EXO_SERVICE_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "plat.h"
#include "service.h"
#include "session.h"
#include "tls-cert.h"
#include "users.h"

/* Wait of each plat_accept call, after which the loop checks for a stop. */
#define ACCEPT_POLL_MS 1000
/* Maximum time for an implicit-TLS handshake, an estimate that leaves old
 * devices with slow RSA several seconds. */
#define SERVICE_TLS_HANDSHAKE_MS 20000

/* One accepted connection, from accept until its thread ends. */
struct conn {
	struct conn	*next;
	struct conn	*prev;
	struct service	*sv;
	struct server	*srv;
	plat_socket	 sock;
	int		 sock_open;	/* 0 once the fd may belong to another */
	int		 implicit_tls;	/* came in on the implicit-TLS port */
	int		 preauth;	/* holds a pre-login slot of its peer */
	char		 login[USER_LOGIN_MAX];
	struct session_ctx ctx;
};

/* One listening socket of a server: the argument of its accept thread. */
struct listener {
	struct server	*srv;
	int		 implicit_tls;	/* 1 for the tls_port listener */
};

struct server {
	struct service	*sv;
	enum server_kind kind;
	plat_socket	 sock;
	plat_socket	 tls_sock;	/* implicit TLS (tls_port), or invalid */
	unsigned	 tls_port;	/* bound port of tls_sock; 0 when none */
	struct listener	 listeners[2];	/* plain, implicit TLS */
	int		 accepting;	/* accept threads running (0 to 2) */
	/* The device-side certificate, loaded when the server starts with
	 * starttls or tls_port on; NULL otherwise. */
	struct tls_server_creds *creds;
	char		 fingerprint[TLS_CERT_FINGERPRINT_MAX];
	atomic_int	 stopping;	/* this server stops; sessions see it */
	struct server_status status;
	struct server_stats stats;
};

struct service {
	struct settings		 settings;
	struct trust_store	*trust;
	struct userdb		*users;
	struct token_mgr	*tokens;

	struct plat_mutex	*mu;
	struct plat_cond	*cond;	/* any change of the fields below */
	atomic_int		 stopping;
	int			 stop_requested;
	int			 started;
	int			 threads;	/* accept, background, sessions */
	int			 nconns;
	struct conn		*conns;
	struct plat_lock	*lock;
	struct server		 servers[SERVER_COUNT];

	int64_t			 busy_logged_ms;
	long			 busy_unlogged;
	unsigned long		 checked_generation;
	int			 leaked;	/* threads outlived service_stop */
	int			 log_to_stderr;
};

/*
 * Thread bodies started by service_start; each one decrements
 * sv->threads under sv->mu when it ends. service_accept_main takes a
 * struct listener, service_background_main the struct service.
 */
void service_accept_main(void *arg);
void service_background_main(void *arg);

/*
 * Shuts down the sockets of the sessions of login (NULL: all sessions)
 * and returns how many there were.
 */
int service_conn_shutdown(struct service *sv, const char *login);

/* Shuts down the sockets of the sessions of srv; returns how many. */
int service_conn_shutdown_server(struct service *sv, struct server *srv);

#endif
