/*
 * service.c: the running proxy. It opens the shared objects, takes the
 * instance lock, opens the listeners and starts the accept and
 * background threads (service-conn.c), and stops them again.
 *
 * Threads: one accept thread per enabled server, one background thread,
 * one thread per connection. All of them count themselves in
 * sv->threads under sv->mu, so service_stop can wait until nothing uses the
 * shared objects any more.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "event.h"
#include "http.h"
#include "i18n.h"
#include "plat.h"
#include "service-int.h"
#include "service.h"
#include "session.h"
#include "stream.h"
#include "tls-cert.h"
#include "token.h"
#include "users.h"
#include "util.h"

/* Time threads get to end after their sockets were shut down. */
#define STOP_JOIN_MS 30000

static const char *const kind_names[SERVER_COUNT] = { "POP3", "SMTP" };

static const char *const state_names[] = {
	N_("stopped"), N_("starting"), N_("running"), N_("failed"),
};

const char *
server_kind_name(enum server_kind kind)
{
	if ((unsigned)kind >= SERVER_COUNT)
		return "?";
	return kind_names[kind];
}

const char *
server_state_name(enum server_state st)
{
	if ((unsigned)st >= sizeof(state_names) / sizeof(state_names[0]))
		return "?";
	return state_names[st];
}

/* ---- opening and closing ---- */

static int
service_load_settings(struct service *sv, const char *config_path,
    unsigned flags, struct exo_error *e)
{
	char	path[PLAT_PATH_MAX];
	int	rc;

	rc = config_locate(config_path, path, e);
	if (rc != EXO_OK)
		return rc;

	rc = config_load(path, &sv->settings, e);
	if (rc != EXO_ERR_NOTFOUND)
		return rc;
	if (!(flags & SERVICE_OPEN_CREATE))
		return err_set(e, EXO_ERR_NOTFOUND, "settings file %s not "
		    "found; `exoconnect serve`, `exoconnect user add` or the "
		    "screen creates it with default values, or give the path "
		    "of another one with -c", path);

	rc = config_write_default(path, e);
	if (rc != EXO_OK)
		return rc;
	return err_set(e, EXO_ERR_CONFIG, "created the settings file %s "
	    "with default values; edit it, fill in client_id under "
	    "[microsoft] with the Application (client) ID of your app "
	    "registration in Microsoft Entra, then run exoconnect again",
	    path);
}

/* Rejects a proxy setting that no token request could use. */
static int
service_check_proxy(const struct settings *s, struct exo_error *e)
{
	struct exo_error	why;

	err_clear(&why);
	if (http_proxy_validate(s->network.proxy, &why) == EXO_OK)
		return EXO_OK;
	return err_wrap(e, EXO_ERR_CONFIG, &why, "%s: [network] proxy: %s; "
	    "set it to http://host:port, or leave it empty", s->path,
	    why.msg);
}

/*
 * Makes a settings file with secrets owner-only and adds a sentence that
 * says so to notice, after the store's notice when there is one.
 */
static int
service_protect_settings(struct service *sv, char notice[512],
    struct exo_error *e)
{
	char	text[512];
	size_t	len;
	int	rc;

	rc = config_protect_file(&sv->settings, text, sizeof(text), e);
	if (rc != EXO_OK || text[0] == '\0')
		return rc;
	len = strlen(notice);
	if (len == 0)
		str_copy(notice, text, 512);
	else
		snprintf(notice + len, 512 - len, " %s", text);
	return EXO_OK;
}

int
service_open(const char *config_path, unsigned flags,
    struct service **out, char notice[512], struct exo_error *e)
{
	struct service	*sv;
	int		 rc;

	*out = NULL;
	notice[0] = '\0';
	sv = calloc(1, sizeof(*sv));
	if (sv == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	atomic_init(&sv->stopping, 0);

	rc = service_load_settings(sv, config_path, flags, e);
	if (rc != EXO_OK)
		goto out;
	rc = service_check_proxy(&sv->settings, e);
	if (rc != EXO_OK)
		goto out;
	/* The parser accepted the value, so it is "auto" or a shipped code. */
	i18n_set_language(sv->settings.ui.language);

	sv->mu = plat_mutex_new();
	sv->cond = plat_cond_new();
	if (sv->mu == NULL || sv->cond == NULL) {
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
		goto out;
	}

	rc = trust_load(sv->settings.tls.ca_file, &sv->trust, e);
	if (rc != EXO_OK)
		goto out;
	rc = userdb_open(&sv->settings, &sv->users, notice, e);
	if (rc != EXO_OK)
		goto out;
	rc = service_protect_settings(sv, notice, e);
	if (rc != EXO_OK)
		goto out;
	sv->tokens = token_mgr_new(&sv->settings, sv->users, sv->trust);
	if (sv->tokens == NULL) {
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
		goto out;
	}

	for (int k = 0; k < SERVER_COUNT; k++) {
		sv->servers[k].sv = sv;
		sv->servers[k].kind = (enum server_kind)k;
		sv->servers[k].sock = PLAT_SOCKET_INVALID;
		sv->servers[k].tls_sock = PLAT_SOCKET_INVALID;
		for (int i = 0; i < 2; i++) {
			sv->servers[k].listeners[i].srv = &sv->servers[k];
			sv->servers[k].listeners[i].implicit_tls = i;
		}
	}
	*out = sv;
	sv = NULL;
	err_clear(e);
out:
	service_close(sv);
	return rc;
}

void
service_close(struct service *sv)
{
	if (sv == NULL)
		return;

	/* Threads still running use everything below. */
	if (sv->leaked)
		return;

	for (int k = 0; k < SERVER_COUNT; k++)
		if (sv->servers[k].creds != NULL)
			tls_server_creds_free(sv->servers[k].creds);
	if (sv->tokens != NULL)
		token_mgr_free(sv->tokens);
	if (sv->users != NULL)
		userdb_close(sv->users);
	if (sv->trust != NULL)
		trust_free(sv->trust);
	if (sv->cond != NULL)
		plat_cond_free(sv->cond);
	if (sv->mu != NULL)
		plat_mutex_free(sv->mu);
	plat_wipe(&sv->settings, sizeof(sv->settings));
	free(sv);
}

const struct settings *
service_settings(const struct service *sv)
{
	return &sv->settings;
}

int
service_check_ready(const struct service *sv, struct exo_error *e)
{
	return config_check_ready(&sv->settings, e);
}

void
service_consent_url(const struct service *sv, char *buf, size_t cap)
{
	oauth_consent_url(&sv->settings, buf, cap);
}

/*
 * The user operations live in service-users.c; these give it the shared
 * objects without exposing struct service.
 */
struct userdb *
service_userdb(struct service *sv)
{
	return sv->users;
}

struct token_mgr *
service_tokens(struct service *sv)
{
	return sv->tokens;
}

const struct trust_store *
service_trust(const struct service *sv)
{
	return sv->trust;
}

/* ---- thread bookkeeping ---- */

/* Waits with sv->mu held until cond_fn(sv) or deadline_ms passes. */
static int
wait_until(struct service *sv, int (*cond_fn)(struct service *),
    int64_t deadline_ms)
{
	int64_t	left;

	while (!cond_fn(sv)) {
		left = deadline_ms - plat_now_ms();
		if (left <= 0)
			return EXO_ERR_TIMEOUT;
		plat_cond_wait(sv->cond, sv->mu, left > 1000 ? 1000 : (int)left);
	}
	return EXO_OK;
}

static int
no_accepting(struct service *sv)
{
	for (int k = 0; k < SERVER_COUNT; k++)
		if (sv->servers[k].accepting)
			return 0;
	return 1;
}

static int
no_conns(struct service *sv)
{
	return sv->nconns == 0;
}

static int
no_threads(struct service *sv)
{
	return sv->threads == 0;
}


/* ---- starting and stopping ---- */

static int
lock_instance(struct service *sv, struct exo_error *e)
{
	char	 path[PLAT_PATH_MAX], pid[32];
	char	*text = NULL;
	size_t	 len;
	long long n = 0;
	int	 rc;

	plat_path_join(path, sv->settings.data_dir, SERVICE_LOCK_NAME);
	rc = plat_lock_acquire(path, 0, &sv->lock, e);
	if (rc == EXO_ERR_LOCKED) {
		if (plat_read_file(path, 64, &text, &len, NULL) == EXO_OK) {
			str_trim_end(text, len);
			if (parse_ll(text, 1, 0x7fffffff, &n) != EXO_OK)
				n = 0;
		}
		free(text);
		if (n > 0)
			snprintf(pid, sizeof(pid), "%lld", n);
		else
			str_copy(pid, "unknown", sizeof(pid));
		return err_set(e, EXO_ERR_LOCKED, "exoconnect serve is already "
		    "running for %s (process %s)", sv->settings.data_dir, pid);
	}
	if (rc != EXO_OK)
		return rc;

	snprintf(pid, sizeof(pid), "%ld\n", plat_getpid());
	plat_lock_write(sv->lock, pid);
	return EXO_OK;
}

static void
server_set_state(struct server *srv, enum server_state st,
    const struct exo_error *error)
{
	struct service	*sv = srv->sv;

	plat_mutex_lock(sv->mu);
	srv->status.state = st;
	if (error != NULL)
		srv->status.last_error = *error;
	if (st != SERVER_RUNNING)
		srv->status.port = 0;
	plat_mutex_unlock(sv->mu);
}

/* ---- device-side TLS ---- */

/* The TLS settings of one server. */
struct server_tls_settings {
	const char	*section;
	int		 starttls;
	unsigned	 tls_port;
	unsigned	 port;
	int		 require_tls;
	int		 legacy_tls;
};

static void
server_tls_settings(const struct server *srv, struct server_tls_settings *t)
{
	const struct settings	*s = &srv->sv->settings;

	if (srv->kind == SERVER_POP3) {
		*t = (struct server_tls_settings){ "pop3", s->pop3.starttls,
		    s->pop3.tls_port, s->pop3.port, s->pop3.require_tls,
		    s->pop3.legacy_tls };
	} else {
		*t = (struct server_tls_settings){ "smtp", s->smtp.starttls,
		    s->smtp.tls_port, s->smtp.port, s->smtp.require_tls,
		    s->smtp.legacy_tls };
	}
}

/* Rejects TLS settings that contradict each other. */
static int
server_tls_check(const struct server *srv, const struct server_tls_settings *t,
    struct exo_error *e)
{
	const char	*path = srv->sv->settings.path;

	if (t->require_tls && !t->starttls && t->tls_port == 0)
		return err_set(e, EXO_ERR_CONFIG, "%s: [%s] require_tls = yes "
		    "needs starttls = yes or a tls_port, or no device could "
		    "log in; set one of them or set require_tls = no", path,
		    t->section);
	if (t->tls_port != 0 && t->tls_port == t->port)
		return err_set(e, EXO_ERR_CONFIG, "%s: [%s] tls_port %u is "
		    "also the plain port; choose another tls_port (usually "
		    "%s)", path, t->section, t->tls_port,
		    srv->kind == SERVER_POP3 ? "995" : "465");
	return EXO_OK;
}

/* Logs the certificate a server uses and its legacy TLS warning. */
static void
server_tls_log(const struct server *srv, const struct server_tls_settings *t,
    const char *cert, int generated)
{
	ev_emit(EV_INFO, 0, generated ? "service.tls_cert_generated" :
	    "service.tls_cert", generated ? "Made a self-signed certificate "
	    "for devices in {file}; check its fingerprint {fingerprint} on "
	    "the devices" : "{server} uses the device certificate {file} "
	    "with fingerprint {fingerprint}", "server", kind_names[srv->kind],
	    "file", cert, "fingerprint", srv->fingerprint, (char *)NULL);
	if (t->legacy_tls)
		ev_emit(EV_WARN, 0, "service.legacy_tls", "{server} accepts "
		    "TLS 1.0 and 1.1 from devices (legacy_tls under [{section}])"
		    "; turn it off when no device needs it", "server",
		    kind_names[srv->kind], "section", t->section, (char *)NULL);
}

/* Forgets the credentials of an earlier start. */
static void
server_tls_drop(struct server *srv)
{
	/* Sessions of an earlier start may still hold the old credentials
	 * when their threads outlived the stop, so those stay allocated. */
	if (srv->creds != NULL && atomic_load(&srv->stats.active) == 0)
		tls_server_creds_free(srv->creds);
	srv->creds = NULL;
	srv->fingerprint[0] = '\0';
	plat_mutex_lock(srv->sv->mu);
	srv->status.tls_fingerprint[0] = '\0';
	plat_mutex_unlock(srv->sv->mu);
}

/*
 * Loads the device certificate of srv when its settings offer TLS,
 * making a self-signed one when none is configured.
 */
static int
server_tls_setup(struct server *srv, struct exo_error *e)
{
	struct server_tls_settings	 t;
	struct tls_server_creds		*creds = NULL;
	char				 cert[PLAT_PATH_MAX];
	char				 key[PLAT_PATH_MAX];
	int				 generated, rc;

	server_tls_settings(srv, &t);
	if ((rc = server_tls_check(srv, &t, e)) != EXO_OK)
		return rc;
	server_tls_drop(srv);
	if (!t.starttls && t.tls_port == 0)
		return EXO_OK;

	rc = tls_cert_ensure(&srv->sv->settings, cert, key, &generated,
	    srv->fingerprint, e);
	if (rc == EXO_OK)
		rc = tls_server_creds_load(cert, key, &creds, e);
	if (rc != EXO_OK)
		return rc;
	tls_server_creds_set_legacy(creds, t.legacy_tls);

	srv->creds = creds;
	plat_mutex_lock(srv->sv->mu);
	str_copy(srv->status.tls_fingerprint, srv->fingerprint,
	    sizeof(srv->status.tls_fingerprint));
	plat_mutex_unlock(srv->sv->mu);
	server_tls_log(srv, &t, cert, generated);
	return EXO_OK;
}

/* Opens the implicit-TLS listener of srv when tls_port is set. */
/*
 * Names the server of this process that listens on port, when listening on
 * it failed with rc EXO_ERR_ADDRINUSE, so the message does not send the
 * admin looking for another program. Returns rc.
 */
static int
server_port_owner(struct service *sv, unsigned port, int rc,
    struct exo_error *e)
{
	int	owner = -1;

	if (rc != EXO_ERR_ADDRINUSE)
		return rc;
	plat_mutex_lock(sv->mu);
	for (int k = 0; k < SERVER_COUNT && owner < 0; k++) {
		const struct server *o = &sv->servers[k];

		if ((o->sock != PLAT_SOCKET_INVALID &&
		    o->status.port == port) || (o->tls_sock !=
		    PLAT_SOCKET_INVALID && o->tls_port == port))
			owner = k;
	}
	plat_mutex_unlock(sv->mu);
	if (owner < 0)
		return rc;
	return err_set(e, rc, "port %u is already in use by the %s server of "
	    "this exoconnect; give each server a port of its own in %s",
	    port, kind_names[owner], sv->settings.path);
}

static int
server_tls_listen(struct server *srv, const char *addr, struct exo_error *e)
{
	struct server_tls_settings	t;
	char				port[16];
	int				rc;

	server_tls_settings(srv, &t);
	srv->tls_port = 0;
	if (t.tls_port == 0)
		return EXO_OK;
	rc = plat_listen(addr, t.tls_port, &srv->tls_sock, e);
	if (rc != EXO_OK)
		return server_port_owner(srv->sv, t.tls_port, rc, e);
	srv->tls_port = (unsigned)plat_socket_port(srv->tls_sock);
	plat_mutex_lock(srv->sv->mu);
	srv->status.tls_port = srv->tls_port;
	plat_mutex_unlock(srv->sv->mu);
	snprintf(port, sizeof(port), "%u", srv->tls_port);
	ev_emit(EV_INFO, 0, "service.listening_tls",
	    "{server} server listening with implicit TLS on {address} port "
	    "{port}", "server", kind_names[srv->kind], "address", addr,
	    "port", port, (char *)NULL);
	return EXO_OK;
}

static void
server_tls_close(struct server *srv)
{
	if (srv->tls_sock == PLAT_SOCKET_INVALID)
		return;
	plat_socket_close(srv->tls_sock);
	srv->tls_sock = PLAT_SOCKET_INVALID;
	srv->tls_port = 0;
	plat_mutex_lock(srv->sv->mu);
	srv->status.tls_port = 0;
	plat_mutex_unlock(srv->sv->mu);
}

static int
server_listen(struct server *srv, struct exo_error *e)
{
	const struct settings	*s = &srv->sv->settings;
	struct exo_error	 local;
	const char		*addr;
	char			 port[16];
	unsigned		 want;
	int			 rc;

	if (e == NULL) {
		err_clear(&local);
		e = &local;
	}
	addr = srv->kind == SERVER_POP3 ? s->pop3.listen : s->smtp.listen;
	want = srv->kind == SERVER_POP3 ? s->pop3.port : s->smtp.port;

	plat_mutex_lock(srv->sv->mu);
	str_copy(srv->status.listen, addr, sizeof(srv->status.listen));
	err_clear(&srv->status.last_error);
	srv->status.state = SERVER_STARTING;
	plat_mutex_unlock(srv->sv->mu);

	rc = server_tls_setup(srv, e);
	if (rc == EXO_OK) {
		rc = plat_listen(addr, want, &srv->sock, e);
		rc = server_port_owner(srv->sv, want, rc, e);
	}
	if (rc != EXO_OK) {
		server_set_state(srv, SERVER_FAILED, err_or_code(e, rc));
		return rc;
	}

	plat_mutex_lock(srv->sv->mu);
	srv->status.port = (unsigned)plat_socket_port(srv->sock);
	plat_mutex_unlock(srv->sv->mu);
	snprintf(port, sizeof(port), "%u", srv->status.port);
	ev_emit(EV_INFO, 0, "service.listening",
	    "{server} server listening on {address} port {port}",
	    "server", kind_names[srv->kind], "address", addr, "port", port,
	    (char *)NULL);

	rc = server_tls_listen(srv, addr, e);
	if (rc != EXO_OK) {
		plat_socket_close(srv->sock);
		srv->sock = PLAT_SOCKET_INVALID;
		server_set_state(srv, SERVER_FAILED, err_or_code(e, rc));
	}
	return rc;
}

static void
servers_close(struct service *sv)
{
	for (int k = 0; k < SERVER_COUNT; k++) {
		struct server *srv = &sv->servers[k];

		if (srv->sock == PLAT_SOCKET_INVALID)
			continue;
		plat_socket_close(srv->sock);
		srv->sock = PLAT_SOCKET_INVALID;
		server_tls_close(srv);
		server_set_state(srv, SERVER_STOPPED, NULL);
	}
}

static int
server_enabled(const struct service *sv, enum server_kind kind)
{
	if (kind == SERVER_POP3)
		return sv->settings.pop3.enabled;
	return sv->settings.smtp.enabled;
}

/* Starts a counted thread; the count drops when fn ends. */
static int
start_counted(struct service *sv, void (*fn)(void *), void *arg,
    int *flag)
{
	plat_mutex_lock(sv->mu);
	sv->threads++;
	if (flag != NULL)
		(*flag)++;
	plat_mutex_unlock(sv->mu);

	if (plat_thread_start(fn, arg, 0) == EXO_OK)
		return EXO_OK;

	plat_mutex_lock(sv->mu);
	sv->threads--;
	if (flag != NULL)
		(*flag)--;
	plat_mutex_unlock(sv->mu);
	return EXO_ERR_NOMEM;
}

/*
 * Takes the instance lock and starts the background thread, which the
 * first server to start does. Quiet: service_start logs the outcome.
 */
static int
service_begin(struct service *sv, struct exo_error *e)
{
	int	rc;

	if (sv->started)
		return EXO_OK;
	atomic_store(&sv->stopping, 0);
	sv->stop_requested = 0;
	sv->checked_generation = userdb_generation(sv->users);

	rc = lock_instance(sv, e);
	if (rc != EXO_OK)
		return rc;
	plat_raise_fd_limit();

	rc = start_counted(sv, service_background_main, sv, NULL);
	if (rc != EXO_OK) {
		plat_lock_release(sv->lock);
		sv->lock = NULL;
		return err_set(e, rc, "could not start a thread: %s",
		    exo_strerror(rc));
	}
	sv->started = 1;
	return EXO_OK;
}

/* Undoes service_begin when no server could start. */
static void
service_end(struct service *sv)
{
	atomic_store(&sv->stopping, 1);
	plat_mutex_lock(sv->mu);
	plat_cond_broadcast(sv->cond);
	if (wait_until(sv, no_threads, plat_now_ms() + STOP_JOIN_MS) !=
	    EXO_OK)
		sv->leaked = 1;
	plat_mutex_unlock(sv->mu);
	plat_lock_release(sv->lock);
	sv->lock = NULL;
	sv->started = 0;
}

/* Clears the counters and the stop flag of a server about to listen. */
static void
server_reset(struct server *srv)
{
	atomic_store(&srv->stopping, 0);
	atomic_store(&srv->stats.sessions, 0);
	atomic_store(&srv->stats.logins, 0);
	atomic_store(&srv->stats.messages, 0);
	atomic_store(&srv->stats.bytes, 0);
}

/* Starts the accept thread of a listening server. */
static int
server_run(struct server *srv, struct exo_error *e)
{
	int	rc;

	rc = start_counted(srv->sv, service_accept_main, &srv->listeners[0],
	    &srv->accepting);
	if (rc == EXO_OK && srv->tls_sock != PLAT_SOCKET_INVALID)
		rc = start_counted(srv->sv, service_accept_main,
		    &srv->listeners[1], &srv->accepting);
	if (rc != EXO_OK)
		return err_set(e, rc, "could not start a thread: %s",
		    exo_strerror(rc));
	server_set_state(srv, SERVER_RUNNING, NULL);
	return EXO_OK;
}

/* Warns when trusted_devices lets a wide network send without AUTH. */
static void
service_warn_wide_trust(const struct settings *s)
{
	char	entry[64];

	if (!s->smtp.enabled ||
	    !auth_net_list_wide(s->smtp.trusted_devices, entry, sizeof(entry)))
		return;
	ev_emit(EV_WARN, 0, "service.trust_wide", "trusted_devices under "
	    "[smtp] contains {network}, so every host in it can send as "
	    "{user} without a password; list only the devices' addresses",
	    "network", entry, "user", s->smtp.trusted_user, (char *)NULL);
}

static void
service_started_event(struct service *sv)
{
	ev_emit(EV_INFO, 0, "service.started", "exoconnect {version} started "
	    "with data folder {data_dir}", "version", EXO_VERSION,
	    "data_dir", sv->settings.data_dir, (char *)NULL);
	service_warn_wide_trust(&sv->settings);
}

static int
service_start_all(struct service *sv, struct exo_error *e)
{
	int	rc = EXO_OK;

	if (sv->started)
		return err_set(e, EXO_ERR_INVALID, "the service already runs");
	if (!sv->settings.pop3.enabled && !sv->settings.smtp.enabled)
		return err_set(e, EXO_ERR_CONFIG, "both servers are disabled "
		    "in %s; set enabled = yes under [pop3] or [smtp]",
		    sv->settings.path);
	rc = service_begin(sv, e);
	if (rc != EXO_OK)
		return rc;

	for (int k = 0; k < SERVER_COUNT; k++) {
		if (!server_enabled(sv, (enum server_kind)k))
			continue;
		server_reset(&sv->servers[k]);
		rc = server_listen(&sv->servers[k], e);
		if (rc != EXO_OK) {
			servers_close(sv);
			service_end(sv);
			return rc;
		}
	}

	for (int k = 0; k < SERVER_COUNT && rc == EXO_OK; k++)
		if (sv->servers[k].sock != PLAT_SOCKET_INVALID)
			rc = server_run(&sv->servers[k], e);
	if (rc != EXO_OK) {
		service_stop(sv);
		return rc;
	}
	service_started_event(sv);
	return EXO_OK;
}

int
service_start(struct service *sv, struct exo_error *e)
{
	struct exo_error	local;
	int			rc;

	if (e == NULL)
		e = &local;
	err_clear(e);
	rc = service_start_all(sv, e);
	if (rc != EXO_OK)
		ev_emit(EV_ERROR, 0, "service.start_failed", "exoconnect could "
		    "not start: {error}", EV_ERROR("error", err_or_code(e,
		    rc)), (char *)NULL);
	return rc;
}

void
service_stop(struct service *sv)
{
	char	count[16], grace[16];
	int	n;

	if (!sv->started)
		return;
	atomic_store(&sv->stopping, 1);
	for (int k = 0; k < SERVER_COUNT; k++)
		atomic_store(&sv->servers[k].stopping, 1);

	plat_mutex_lock(sv->mu);
	plat_cond_broadcast(sv->cond);
	wait_until(sv, no_accepting, plat_now_ms() + 2 * ACCEPT_POLL_MS +
	    STOP_JOIN_MS);
	n = sv->nconns;
	plat_mutex_unlock(sv->mu);
	servers_close(sv);

	snprintf(count, sizeof(count), "%d", n);
	snprintf(grace, sizeof(grace), "%d", SERVICE_GRACE_SECONDS);
	ev_emit(EV_INFO, 0, "service.stopping", "Stopping: no new "
	    "connections; {count} open sessions get {grace} seconds to end",
	    "count", count, "grace", grace, (char *)NULL);

	plat_mutex_lock(sv->mu);
	wait_until(sv, no_conns, plat_now_ms() +
	    SERVICE_GRACE_SECONDS * 1000);
	plat_mutex_unlock(sv->mu);

	n = service_conn_shutdown(sv, NULL);
	if (n > 0) {
		snprintf(count, sizeof(count), "%d", n);
		ev_emit(EV_INFO, 0, "service.aborted", "Closed {count} "
		    "sessions that did not end in time", "count", count,
		    (char *)NULL);
	}

	plat_mutex_lock(sv->mu);
	if (wait_until(sv, no_threads, plat_now_ms() + STOP_JOIN_MS) !=
	    EXO_OK)
		sv->leaked = 1;
	plat_mutex_unlock(sv->mu);
	if (sv->leaked)
		ev_emit(EV_WARN, 0, "service.threads_left", "Some threads did "
		    "not end within 30 seconds; exiting without waiting",
		    (char *)NULL);

	plat_lock_release(sv->lock);
	sv->lock = NULL;
	sv->started = 0;
	ev_emit(EV_INFO, 0, "service.stopped", "exoconnect stopped",
	    (char *)NULL);
}

/* ---- one server at a time, for the screen ---- */

static int
server_start_one(struct service *sv, enum server_kind kind,
    struct exo_error *e)
{
	struct server	*srv = &sv->servers[kind];
	int		 first = !sv->started;
	int		 rc;

	if (!server_enabled(sv, kind))
		return err_set(e, EXO_ERR_CONFIG, "the %s server is disabled "
		    "in %s; set enabled = yes under [%s]",
		    kind_names[kind], sv->settings.path,
		    kind == SERVER_POP3 ? "pop3" : "smtp");
	if (srv->sock != PLAT_SOCKET_INVALID)
		return err_set(e, EXO_ERR_INVALID, "the %s server already "
		    "runs", kind_names[kind]);
	rc = service_begin(sv, e);
	if (rc != EXO_OK)
		return rc;

	server_reset(srv);
	rc = server_listen(srv, e);
	if (rc == EXO_OK) {
		rc = server_run(srv, e);
		if (rc != EXO_OK)
			service_server_stop(sv, kind);
	} else if (first)
		service_end(sv);
	if (rc == EXO_OK && first)
		service_started_event(sv);
	return rc;
}

int
service_server_start(struct service *sv, enum server_kind kind,
    struct exo_error *e)
{
	struct exo_error	local;
	int			rc;

	if (e == NULL)
		e = &local;
	err_clear(e);
	if ((unsigned)kind >= SERVER_COUNT)
		return err_set(e, EXO_ERR_INVALID, "no such server");
	rc = server_start_one(sv, kind, e);
	if (rc != EXO_OK)
		ev_emit(EV_ERROR, 0, "service.server_start_failed", "The "
		    "{server} server could not start: {error}", "server",
		    kind_names[kind], EV_ERROR("error", err_or_code(e, rc)),
		    (char *)NULL);
	return rc;
}

/* Waits with sv->mu held until srv has no open connections. */
static int
wait_server_idle(struct service *sv, struct server *srv, int64_t deadline)
{
	int64_t	left;

	while (atomic_load(&srv->stats.active) > 0 || srv->accepting) {
		left = deadline - plat_now_ms();
		if (left <= 0)
			return EXO_ERR_TIMEOUT;
		plat_cond_wait(sv->cond, sv->mu, left > 1000 ? 1000 :
		    (int)left);
	}
	return EXO_OK;
}

void
service_server_stop(struct service *sv, enum server_kind kind)
{
	struct server	*srv;
	char		 count[16], grace[16];
	long		 n;

	if ((unsigned)kind >= SERVER_COUNT)
		return;
	srv = &sv->servers[kind];
	if (srv->sock == PLAT_SOCKET_INVALID)
		return;
	if (sv->servers[!kind].sock == PLAT_SOCKET_INVALID) {
		service_stop(sv);
		return;
	}

	/* The other server keeps running: stop this one's threads only. */
	atomic_store(&srv->stopping, 1);
	plat_mutex_lock(sv->mu);
	while (srv->accepting)
		plat_cond_wait(sv->cond, sv->mu, ACCEPT_POLL_MS);
	plat_mutex_unlock(sv->mu);
	plat_socket_close(srv->sock);
	srv->sock = PLAT_SOCKET_INVALID;
	server_tls_close(srv);
	server_set_state(srv, SERVER_STOPPED, NULL);

	n = atomic_load(&srv->stats.active);
	snprintf(count, sizeof(count), "%ld", n);
	snprintf(grace, sizeof(grace), "%d", SERVICE_GRACE_SECONDS);
	ev_emit(EV_INFO, 0, "service.server_stopping", "Stopping the "
	    "{server} server: {count} open sessions get {grace} seconds to "
	    "end", "server", kind_names[kind], "count", count, "grace", grace,
	    (char *)NULL);

	plat_mutex_lock(sv->mu);
	wait_server_idle(sv, srv, plat_now_ms() +
	    SERVICE_GRACE_SECONDS * 1000);
	plat_mutex_unlock(sv->mu);
	service_conn_shutdown_server(sv, srv);
	plat_mutex_lock(sv->mu);
	wait_server_idle(sv, srv, plat_now_ms() + STOP_JOIN_MS);
	plat_mutex_unlock(sv->mu);

	ev_emit(EV_INFO, 0, "service.server_stopped", "The {server} server "
	    "stopped", "server", kind_names[kind], (char *)NULL);
}

long
service_active_sessions(const struct service *sv)
{
	long	n = 0;

	for (int k = 0; k < SERVER_COUNT; k++)
		n += atomic_load(&sv->servers[k].stats.active);
	return n;
}

int
service_apply_settings(struct service *sv, const struct settings *s,
    struct exo_error *e)
{
	char	path[PLAT_PATH_MAX], data_dir[PLAT_PATH_MAX];

	if (sv->started)
		return err_set(e, EXO_ERR_BUSY, "stop the servers before the "
		    "new settings can apply");
	str_copy(path, sv->settings.path, sizeof(path));
	str_copy(data_dir, sv->settings.data_dir, sizeof(data_dir));
	sv->settings = *s;
	str_copy(sv->settings.path, path, sizeof(sv->settings.path));
	str_copy(sv->settings.data_dir, data_dir,
	    sizeof(sv->settings.data_dir));
	if (sv->settings.log.file[0] == '\0')
		log_stop();
	else
		return service_log_start(sv, sv->log_to_stderr, e);
	return EXO_OK;
}

void
service_request_stop(struct service *sv)
{
	plat_mutex_lock(sv->mu);
	sv->stop_requested = 1;
	plat_cond_broadcast(sv->cond);
	plat_mutex_unlock(sv->mu);
}

void
service_wait(struct service *sv)
{
	plat_mutex_lock(sv->mu);
	while (!sv->stop_requested)
		plat_cond_wait(sv->cond, sv->mu, -1);
	plat_mutex_unlock(sv->mu);
}

int
service_log_start(struct service *sv, int to_stderr, struct exo_error *e)
{
	struct log_settings	ls = sv->settings.log;

	sv->log_to_stderr = to_stderr;
	ls.to_stderr = to_stderr;
	return log_start(&ls, e);
}

void
service_users_changed(struct service *sv)
{
	userdb_reload(sv->users);
	plat_mutex_lock(sv->mu);
	plat_cond_broadcast(sv->cond);
	plat_mutex_unlock(sv->mu);
}

void
service_reload(struct service *sv)
{
	struct settings		*s;
	struct exo_error	 err;

	s = malloc(sizeof(*s));
	if (s == NULL)
		return;
	err_clear(&err);
	if (config_load(sv->settings.path, s, &err) != EXO_OK) {
		ev_emit(EV_ERROR, 0, "service.reload_failed", "Settings not "
		    "reloaded: {error}", EV_ERROR("error", &err), (char *)NULL);
		goto out;
	}
	s->log.to_stderr = sv->log_to_stderr;
	if (log_start(&s->log, &err) != EXO_OK) {
		ev_emit(EV_ERROR, 0, "service.reload_failed", "Settings not "
		    "reloaded: {error}", EV_ERROR("error", &err), (char *)NULL);
		goto out;
	}
	ev_emit(EV_INFO, 0, "service.reloaded", "Re-read {file}: the [log] "
	    "settings apply now, the others when exoconnect serve restarts",
	    "file", sv->settings.path, (char *)NULL);
out:
	plat_wipe(s, sizeof(*s));
	free(s);
}

void
service_server_status(struct service *sv, enum server_kind kind,
    struct server_status *out)
{
	plat_mutex_lock(sv->mu);
	*out = sv->servers[kind].status;
	plat_mutex_unlock(sv->mu);
}

const struct server_stats *
service_server_stats(const struct service *sv, enum server_kind kind)
{
	return &sv->servers[kind].stats;
}
