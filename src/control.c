/*
 * control.c: the server side of the control channel inside `serve`. One
 * thread accepts, one thread serves each client: it reads a request,
 * finds its handler in a table and responds through the operations of
 * admin-local.c on the serve's service, so a screen attached from
 * another process acts as it would in its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "control.h"
#include "event.h"
#include "json.h"
#include "plat.h"
#include "service.h"
#include "util.h"

/*
 * How long control_stop waits for client threads, in milliseconds: more
 * than a server stop takes (about 40 seconds, service.h), so that no
 * stop a screen asked for still runs when serve calls service_stop.
 */
#define CONTROL_STOP_WAIT_MS 45000
/* Poll interval of a client whose sign-in runs, in milliseconds. */
#define CONTROL_POLL_MS 200

struct control {
	struct service		*sv;
	struct admin		*adm;
	struct plat_ipc		*listener;
	struct plat_mutex	*mu;
	struct plat_cond	*cv;
	int			 stopping;
	int			 accepting;	/* the accept thread runs */
	struct ctl_client	*clients[CONTROL_CLIENTS_MAX];
	int			 nclients;

	/*
	 * Events: one bus subscription that keeps the newest lines of
	 * level info and above and copies each event to the subscribed
	 * clients. bmu guards both and is taken on the emitting thread,
	 * before a client's mu.
	 */
	struct plat_mutex	*bmu;
	int			 ev_handle;
	char			*backlog[CONTROL_BACKLOG_MAX];
	size_t			 bhead, bcount;
	struct ctl_client	*subs[CONTROL_SUBSCRIBERS_MAX];
	int			 nsubs;
};

struct ctl_client {
	struct control		*ctl;
	struct plat_ipc		*conn;
	struct plat_mutex	*wmu;	/* one message at a time */
	struct plat_mutex	*mu;	/* queue and job */
	struct plat_cond	*cv;
	volatile int		 cancel;
	int			 job_done;

	/* Events waiting to be sent, each a whole line. */
	char			*queue[CONTROL_QUEUE_MAX];
	size_t			 qhead, qcount;
	long			 dropped;

	struct json_doc		*req;	/* the request being handled */
	struct control_reader	 rd;
	struct control_msg	 out;	/* responses of the client thread */
	struct control_msg	 job_out; /* messages of a sign-in */
};

typedef int (*ctl_handler)(struct ctl_client *c);

struct ctl_op {
	const char	*name;
	ctl_handler	 fn;
};

/* ---- sending ---- */

static int
ctl_send(struct ctl_client *c, struct control_msg *m)
{
	int	rc;

	rc = control_msg_end(m);
	if (rc != EXO_OK) {
		control_msg_begin(m, "t", "done");
		control_msg_int(m, "rc", EXO_ERR_TOOLONG);
		control_msg_str(m, "msg", "the response is too long for the "
		    "control channel");
		control_msg_end(m);
	}
	plat_mutex_lock(c->wmu);
	rc = plat_ipc_send_all(c->conn, m->buf, m->len,
	    CONTROL_SEND_TIMEOUT_MS);
	plat_mutex_unlock(c->wmu);
	plat_wipe(m->buf, m->len);
	return rc;
}

/* Starts the final response to a request with its code and message. */
static struct control_msg *
ctl_done(struct control_msg *m, int rc, const struct exo_error *e)
{
	char	layout[ERR_LAYOUT_MAX];

	control_msg_begin(m, "t", "done");
	control_msg_int(m, "rc", rc);
	control_msg_str(m, "msg", rc != EXO_OK && e != NULL ? e->msg : "");
	/* The screen renders the message in its language from this. */
	if (rc != EXO_OK && e != NULL &&
	    err_layout_write(e, layout, sizeof(layout)) > 0)
		control_msg_str(m, "layout", layout);
	return m;
}

static int
ctl_reply(struct ctl_client *c, int rc, const struct exo_error *e)
{
	return ctl_send(c, ctl_done(&c->out, rc, e));
}

/* ---- reading requests ---- */

/*
 * Copies the string member key of the request into out, or "" when the
 * request has none. Returns EXO_ERR_TOOLONG, with a message in e, when
 * the value does not fit, so no value is cut silently.
 */
static int
ctl_arg(struct ctl_client *c, const char *key, char *out, size_t cap,
    struct exo_error *e)
{
	int	rc = json_get_string(c->req, key, out, cap);

	if (rc == EXO_OK)
		return EXO_OK;
	out[0] = '\0';
	if (rc == EXO_ERR_NOTFOUND)
		return EXO_OK;
	return err_set(e, EXO_ERR_TOOLONG, "the %s is longer than %zu bytes "
	    "or invalid", key, cap - 1);
}

static long long
ctl_int(struct ctl_client *c, const char *key)
{
	long long	v;

	return json_get_int(c->req, key, &v) == EXO_OK ? v : 0;
}

static int
ctl_kind(struct ctl_client *c, enum server_kind *kind)
{
	char	name[16];

	if (ctl_arg(c, "kind", name, sizeof(name), NULL) != EXO_OK)
		return EXO_ERR_INVALID;
	for (int k = 0; k < SERVER_COUNT; k++) {
		if (strcmp(name, server_kind_name((enum server_kind)k)) == 0) {
			*kind = (enum server_kind)k;
			return EXO_OK;
		}
	}
	return EXO_ERR_INVALID;
}

/* ---- server handlers ---- */

static int
ctl_hello(struct ctl_client *c)
{
	struct control_msg	*m = ctl_done(&c->out, EXO_OK, NULL);

	control_msg_str(m, "protocol", CONTROL_PROTOCOL);
	control_msg_str(m, "data_dir", c->ctl->adm->data_dir);
	control_msg_str(m, "config_path", c->ctl->adm->config_path);
	control_msg_int(m, "pid", plat_getpid());
	return ctl_send(c, m);
}

static int
ctl_server_start(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	enum server_kind	 kind;
	int			 rc;

	err_clear(&e);
	if (ctl_kind(c, &kind) != EXO_OK)
		rc = err_set(&e, EXO_ERR_INVALID, "unknown server");
	else
		rc = a->ops->server_start(a, kind, &e);
	return ctl_reply(c, rc, &e);
}

static int
ctl_server_stop(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	enum server_kind	 kind;

	if (ctl_kind(c, &kind) != EXO_OK)
		return ctl_reply(c, EXO_ERR_INVALID, NULL);
	a->ops->server_stop(a, kind);
	return ctl_reply(c, EXO_OK, NULL);
}

static int
ctl_server_info(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct admin_server	 s;
	struct control_msg	*m;
	enum server_kind	 kind;
	char			 layout[ERR_LAYOUT_MAX];

	if (ctl_kind(c, &kind) != EXO_OK)
		return ctl_reply(c, EXO_ERR_INVALID, NULL);
	a->ops->server_info(a, kind, &s);
	m = ctl_done(&c->out, EXO_OK, NULL);
	control_msg_int(m, "state", s.status.state);
	control_msg_str(m, "listen", s.status.listen);
	control_msg_int(m, "port", s.status.port);
	control_msg_str(m, "last_error", s.status.last_error.msg);
	if (err_layout_write(&s.status.last_error, layout, sizeof(layout)) > 0)
		control_msg_str(m, "last_error_layout", layout);
	control_msg_int(m, "bound_tls_port", s.status.tls_port);
	control_msg_str(m, "tls_fingerprint", s.status.tls_fingerprint);
	control_msg_int(m, "enabled", s.enabled);
	control_msg_int(m, "starttls", s.starttls);
	control_msg_int(m, "tls_port", s.tls_port);
	control_msg_int(m, "legacy_tls", s.legacy_tls);
	control_msg_int(m, "active", s.active);
	control_msg_int(m, "sessions", s.sessions);
	control_msg_int(m, "logins", s.logins);
	control_msg_int(m, "messages", s.messages);
	return ctl_send(c, m);
}

static int
ctl_active_sessions(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct control_msg	*m = ctl_done(&c->out, EXO_OK, NULL);

	control_msg_int(m, "active", a->ops->active_sessions(a));
	return ctl_send(c, m);
}

/* ---- user handlers ---- */

/* One user without its password and tokens. */
static int
ctl_send_user(struct ctl_client *c, const struct user *u)
{
	struct control_msg	*m = &c->out;

	control_msg_begin(m, "t", "user");
	control_msg_str(m, "login", u->login);
	control_msg_str(m, "mailbox", u->mailbox);
	control_msg_str(m, "display_name", u->display_name);
	control_msg_str(m, "tenant_id", u->tenant_id);
	control_msg_int(m, "personal", u->personal);
	control_msg_int(m, "created", u->created);
	control_msg_int(m, "last_pop3", u->last_pop3);
	control_msg_int(m, "last_smtp", u->last_smtp);
	control_msg_int(m, "last_refresh", u->last_refresh);
	control_msg_int(m, "state", u->state);
	control_msg_str(m, "state_code", u->state_code);
	control_msg_str(m, "state_reason", u->state_reason);
	control_msg_str(m, "sender_policy", u->sender_policy);
	control_msg_int(m, "accept_legacy_charset", u->accept_legacy_charset);
	control_msg_int(m, "encode_utf8_headers", u->encode_utf8_headers);
	control_msg_int(m, "relabel_iso2022jp", u->relabel_iso2022jp);
	return ctl_send(c, m);
}

static int
ctl_user_list(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	struct user		*users = NULL;
	size_t			 count = 0, i;
	int			 rc;

	err_clear(&e);
	rc = a->ops->user_list(a, &users, &count, &e);
	if (rc == EXO_OK && count > CONTROL_USERS_MAX)
		rc = err_set(&e, EXO_ERR_TOOLONG, "more than %d users",
		    CONTROL_USERS_MAX);
	for (i = 0; rc == EXO_OK && i < count; i++) {
		if (ctl_send_user(c, &users[i]) != EXO_OK)
			break;
	}
	userdb_free_list(users, count);
	if (i < count)
		return EXO_ERR_IO;
	return ctl_reply(c, rc, &e);
}

static int
ctl_user_reset_password(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	struct control_msg	*m;
	char			 login[USER_LOGIN_MAX];
	char			 password[USER_PASSWORD_MAX] = "";
	int			 rc;

	err_clear(&e);
	rc = ctl_arg(c, "login", login, sizeof(login), &e);
	if (rc == EXO_OK)
		rc = a->ops->user_reset_password(a, login, password, &e);
	m = ctl_done(&c->out, rc, &e);
	if (rc == EXO_OK)
		control_msg_str(m, "password", password);
	plat_wipe(password, sizeof(password));
	return ctl_send(c, m);
}

static int
ctl_user_set_password(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	char			 login[USER_LOGIN_MAX];
	char			 password[USER_PASSWORD_MAX] = "";
	int			 rc;

	err_clear(&e);
	rc = ctl_arg(c, "login", login, sizeof(login), &e);
	if (rc == EXO_OK && json_get_string(c->req, "password", password,
	    sizeof(password)) != EXO_OK)
		rc = err_set(&e, EXO_ERR_INVALID, "the password is missing "
		    "or longer than %d bytes", SERVICE_PASSWORD_MAX);
	if (rc == EXO_OK)
		rc = a->ops->user_set_password(a, login, password, &e);
	plat_wipe(password, sizeof(password));
	return ctl_reply(c, rc, &e);
}

static int
ctl_user_set(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	char			 login[USER_LOGIN_MAX], key[64];
	char			 value[CONFIG_TEXT_MAX];
	int			 rc;

	err_clear(&e);
	rc = ctl_arg(c, "login", login, sizeof(login), &e);
	if (rc == EXO_OK)
		rc = ctl_arg(c, "key", key, sizeof(key), &e);
	if (rc == EXO_OK)
		rc = ctl_arg(c, "value", value, sizeof(value), &e);
	if (rc == EXO_OK)
		rc = a->ops->user_set(a, login, key, value, &e);
	return ctl_reply(c, rc, &e);
}

static int
ctl_user_delete(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	char			 login[USER_LOGIN_MAX];
	int			 rc;

	err_clear(&e);
	rc = ctl_arg(c, "login", login, sizeof(login), &e);
	if (rc == EXO_OK)
		rc = a->ops->user_delete(a, login, &e);
	return ctl_reply(c, rc, &e);
}

/* Another process changed the user files ("exoconnect user ..."). */
static int
ctl_users_changed(struct ctl_client *c)
{
	service_users_changed(c->ctl->sv);
	return ctl_reply(c, EXO_OK, NULL);
}

static void
ctl_on_step(const char *line, void *ctx)
{
	struct ctl_client	*c = ctx;

	control_msg_begin(&c->job_out, "t", "step");
	control_msg_str(&c->job_out, "line", line);
	ctl_send(c, &c->job_out);
}

static int
ctl_user_test(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	char			 login[USER_LOGIN_MAX];
	int			 rc;

	err_clear(&e);
	rc = ctl_arg(c, "login", login, sizeof(login), &e);
	if (rc == EXO_OK)
		rc = a->ops->user_test(a, login, ctl_on_step, c, &e);
	return ctl_reply(c, rc, &e);
}

/* ---- sign-ins, which run on a thread of their own ---- */

struct ctl_signin {
	struct ctl_client	*c;
	int			 add;		/* user_add, else user_signin */
	struct signin_request	 rq;
	char			 login[USER_LOGIN_MAX];
	char			 mailbox[USER_MAILBOX_MAX];
};

static void
ctl_on_device_code(const char *uri, const char *code, const char *message,
    int expires_in, void *ctx)
{
	struct ctl_client	*c = ctx;

	control_msg_begin(&c->job_out, "t", "device_code");
	control_msg_str(&c->job_out, "uri", uri);
	control_msg_str(&c->job_out, "code", code);
	control_msg_str(&c->job_out, "message", message);
	control_msg_int(&c->job_out, "expires_in", expires_in);
	ctl_send(c, &c->job_out);
}

static void
ctl_on_browser_url(const char *url, void *ctx)
{
	struct ctl_client	*c = ctx;

	control_msg_begin(&c->job_out, "t", "browser_url");
	control_msg_str(&c->job_out, "url", url);
	ctl_send(c, &c->job_out);
}

static void
ctl_signin_main(void *arg)
{
	struct ctl_signin	*job = arg;
	struct ctl_client	*c = job->c;
	struct admin		*a = c->ctl->adm;
	struct signin_result	 res;
	struct oauth_error	 oerr;
	struct exo_error	 e;
	struct control_msg	*m = &c->job_out;
	int			 rc;

	memset(&res, 0, sizeof(res));
	memset(&oerr, 0, sizeof(oerr));
	err_clear(&e);
	if (job->add)
		rc = a->ops->user_add(a, &job->rq, job->login[0] != '\0' ?
		    job->login : NULL, job->mailbox[0] != '\0' ?
		    job->mailbox : NULL, &res, &oerr, &e);
	else
		rc = a->ops->user_signin(a, job->login, &job->rq, &res, &oerr,
		    &e);

	ctl_done(m, rc, &e);
	control_msg_str(m, "login", res.login);
	control_msg_str(m, "mailbox", res.mailbox);
	control_msg_str(m, "account", res.account);
	control_msg_str(m, "password", res.password);
	control_msg_int(m, "personal", res.personal);
	control_msg_int(m, "o.kind", oerr.kind);
	control_msg_int(m, "o.http_status", oerr.http_status);
	control_msg_str(m, "o.error", oerr.error);
	control_msg_int(m, "o.code", oerr.code);
	control_msg_int(m, "o.retry_after", oerr.retry_after);
	control_msg_str(m, "o.description", oerr.description);
	control_msg_str(m, "o.advice", oerr.advice);
	signin_result_wipe(&res);
	ctl_send(c, m);

	plat_mutex_lock(c->mu);
	c->job_done = 1;
	plat_cond_broadcast(c->cv);
	plat_mutex_unlock(c->mu);
	free(job);
}

/*
 * Runs the sign-in on a thread and watches the client meanwhile: any
 * byte from it, its close or a stop cancels. The connection ends after
 * the response, because a cancel may have left part of a line unread.
 */
static int
ctl_signin(struct ctl_client *c, int add)
{
	struct ctl_signin	*job;
	struct exo_error	 e;
	char			 byte;
	long			 n;
	int			 rc, done = 0;

	if ((job = calloc(1, sizeof(*job))) == NULL)
		return ctl_reply(c, EXO_ERR_NOMEM, NULL);
	job->c = c;
	job->add = add;
	job->rq.method = ctl_int(c, "method") == SIGNIN_BROWSER ?
	    SIGNIN_BROWSER : SIGNIN_DEVICE_CODE;
	job->rq.timeout_s = (int)ctl_int(c, "timeout_s");
	job->rq.on_device_code = ctl_on_device_code;
	job->rq.on_browser_url = ctl_on_browser_url;
	job->rq.ctx = c;
	job->rq.cancel = &c->cancel;
	err_clear(&e);
	rc = ctl_arg(c, "login", job->login, sizeof(job->login), &e);
	if (rc == EXO_OK)
		rc = ctl_arg(c, "mailbox", job->mailbox, sizeof(job->mailbox),
		    &e);
	if (rc != EXO_OK) {
		free(job);
		return ctl_reply(c, rc, &e);
	}
	c->job_done = 0;
	if (plat_thread_start(ctl_signin_main, job, 0) != EXO_OK) {
		free(job);
		return ctl_reply(c, EXO_ERR_NOMEM, NULL);
	}

	while (!done) {
		if (!c->cancel) {
			n = plat_ipc_recv(c->conn, &byte, 1, CONTROL_POLL_MS);
			if (n != EXO_ERR_TIMEOUT)
				c->cancel = 1;
		}
		plat_mutex_lock(c->mu);
		if (c->cancel && !c->job_done)
			plat_cond_wait(c->cv, c->mu, CONTROL_POLL_MS);
		done = c->job_done;
		plat_mutex_unlock(c->mu);
	}
	return EXO_ERR_CLOSED;
}

static int
ctl_user_add(struct ctl_client *c)
{
	return ctl_signin(c, 1);
}

static int
ctl_user_signin(struct ctl_client *c)
{
	return ctl_signin(c, 0);
}

/* ---- settings handlers ---- */

static int
ctl_settings_get(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	const struct config_key	*k;
	struct settings		*s;
	struct control_msg	*m;
	char			 name[128], value[2 * PLAT_PATH_MAX];

	if ((s = malloc(sizeof(*s))) == NULL)
		return ctl_reply(c, EXO_ERR_NOMEM, NULL);
	a->ops->settings_get(a, s);
	m = ctl_done(&c->out, EXO_OK, NULL);
	for (k = config_keys(); k->name != NULL; k++) {
		snprintf(name, sizeof(name), "s.%s.%s", k->section, k->name);
		if (config_get(s, k->section, k->name, value,
		    sizeof(value)) == EXO_OK)
			control_msg_str(m, name, value);
	}
	plat_wipe(s, sizeof(*s));
	plat_wipe(value, sizeof(value));
	free(s);
	return ctl_send(c, m);
}

static int
ctl_settings_ready(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	int			 rc;

	err_clear(&e);
	rc = a->ops->settings_ready(a, &e);
	return ctl_reply(c, rc, &e);
}

/* Sets the keys the request names on top of the current settings. */
static int
ctl_read_settings(struct ctl_client *c, struct settings *s,
    struct exo_error *e)
{
	const struct config_key	*k;
	char			 name[128], value[2 * PLAT_PATH_MAX];
	int			 rc = EXO_OK;

	c->ctl->adm->ops->settings_get(c->ctl->adm, s);
	for (k = config_keys(); rc == EXO_OK && k->name != NULL; k++) {
		snprintf(name, sizeof(name), "s.%s.%s", k->section, k->name);
		if (json_get_string(c->req, name, value, sizeof(value)) !=
		    EXO_OK)
			continue;
		rc = config_set(s, k->section, k->name, value, e);
	}
	plat_wipe(value, sizeof(value));
	return rc;
}

static int
ctl_settings_save(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	struct settings		*s;
	struct control_msg	*m;
	int			 rc, pending = 0;

	err_clear(&e);
	if ((s = malloc(sizeof(*s))) == NULL)
		return ctl_reply(c, EXO_ERR_NOMEM, NULL);
	rc = ctl_read_settings(c, s, &e);
	if (rc == EXO_OK)
		rc = a->ops->settings_save(a, s, &pending, &e);
	plat_wipe(s, sizeof(*s));
	free(s);
	m = ctl_done(&c->out, rc, &e);
	control_msg_int(m, "pending", pending);
	return ctl_send(c, m);
}

static int
ctl_settings_restart(struct ctl_client *c)
{
	struct admin		*a = c->ctl->adm;
	struct exo_error	 e;
	int			 rc;

	err_clear(&e);
	rc = a->ops->settings_restart(a, &e);
	return ctl_reply(c, rc, &e);
}

/* ---- events ---- */

/* Encodes ev as one event message line; NULL when out of memory. */
static char *
ctl_event_line(const struct ev *ev)
{
	struct control_msg	*m;
	char			 key[16], *line, layout[ERR_LAYOUT_MAX];

	if ((m = malloc(sizeof(*m))) == NULL)
		return NULL;
	control_msg_begin(m, "t", "event");
	control_msg_int(m, "level", ev->level);
	control_msg_int(m, "conn", (long long)ev->conn);
	control_msg_int(m, "time", ev->time);
	control_msg_str(m, "id", ev->id);
	control_msg_str(m, "text", ev->text);
	control_msg_int(m, "np", ev->nparams);
	for (int i = 0; i < ev->nparams; i++) {
		snprintf(key, sizeof(key), "n%d", i);
		control_msg_str(m, key, ev->params[i].name);
		snprintf(key, sizeof(key), "v%d", i);
		control_msg_str(m, key, ev->params[i].value);
		if (ev->params[i].flags & EV_PARAM_MSGID) {
			snprintf(key, sizeof(key), "m%d", i);
			control_msg_int(m, key, 1);
		}
		if (ev->params[i].error != NULL &&
		    err_layout_write(ev->params[i].error, layout,
		    sizeof(layout)) > 0) {
			snprintf(key, sizeof(key), "l%d", i);
			control_msg_str(m, key, layout);
		}
	}
	line = control_msg_end(m) == EXO_OK ? malloc(m->len + 1) : NULL;
	if (line != NULL) {
		memcpy(line, m->buf, m->len);
		line[m->len] = '\0';
	}
	free(m);
	return line;
}

/* Queues a copy of line for c, or counts it dropped when c lags. */
static void
ctl_queue(struct ctl_client *c, const char *line)
{
	char	*copy = line != NULL ? strdup(line) : NULL;

	plat_mutex_lock(c->mu);
	if (copy == NULL || c->qcount == CONTROL_QUEUE_MAX) {
		c->dropped++;
		free(copy);
	} else {
		c->queue[(c->qhead + c->qcount) % CONTROL_QUEUE_MAX] = copy;
		c->qcount++;
		plat_cond_broadcast(c->cv);
	}
	plat_mutex_unlock(c->mu);
}

/* Keeps line as the newest of the backlog, with ctl->bmu held. */
static void
ctl_backlog_add(struct control *ctl, const char *line)
{
	char	*copy = strdup(line);

	if (copy == NULL)
		return;
	if (ctl->bcount == CONTROL_BACKLOG_MAX) {
		free(ctl->backlog[ctl->bhead]);
		ctl->backlog[ctl->bhead] = copy;
		ctl->bhead = (ctl->bhead + 1) % CONTROL_BACKLOG_MAX;
		return;
	}
	ctl->backlog[(ctl->bhead + ctl->bcount++) % CONTROL_BACKLOG_MAX] =
	    copy;
}

/* Records ev and hands it to the subscribed clients; on the emitting
 * thread, one event at a time. */
static void
ctl_on_event(const struct ev *ev, void *ctx)
{
	struct control	*ctl = ctx;
	char		*line = ctl_event_line(ev);

	plat_mutex_lock(ctl->bmu);
	if (line != NULL && ev->level >= EV_INFO)
		ctl_backlog_add(ctl, line);
	for (int i = 0; i < ctl->nsubs; i++)
		ctl_queue(ctl->subs[i], line);
	plat_mutex_unlock(ctl->bmu);
	free(line);
}

/* Takes the oldest queued line, waiting a moment for one. */
static char *
ctl_next_event(struct ctl_client *c)
{
	char	*line = NULL;

	plat_mutex_lock(c->mu);
	if (c->qcount == 0)
		plat_cond_wait(c->cv, c->mu, CONTROL_POLL_MS);
	if (c->qcount > 0) {
		line = c->queue[c->qhead];
		c->qhead = (c->qhead + 1) % CONTROL_QUEUE_MAX;
		c->qcount--;
	}
	plat_mutex_unlock(c->mu);
	return line;
}

/*
 * Sends events until the client closes or sends anything, or until
 * sending fails. Ends the connection.
 */
static int
ctl_subscribe(struct ctl_client *c)
{
	struct control	*ctl = c->ctl;
	char		*line, byte;
	long long	 backlog = 0;
	int		 added = 0, rc = EXO_OK;

	if (json_get_int(c->req, "backlog", &backlog) != EXO_OK)
		backlog = 0;

	/* Under bmu no event passes, so none is missed or sent twice. */
	plat_mutex_lock(ctl->bmu);
	if (ctl->nsubs < CONTROL_SUBSCRIBERS_MAX) {
		ctl->subs[ctl->nsubs++] = c;
		added = 1;
	}
	for (size_t i = 0; added && backlog == 1 && i < ctl->bcount; i++)
		ctl_queue(c, ctl->backlog[(ctl->bhead + i) %
		    CONTROL_BACKLOG_MAX]);
	plat_mutex_unlock(ctl->bmu);
	if (!added)
		return ctl_reply(c, EXO_ERR_BUSY, NULL);
	ctl_reply(c, EXO_OK, NULL);

	while (rc == EXO_OK) {
		if ((line = ctl_next_event(c)) != NULL) {
			rc = plat_ipc_send_all(c->conn, line, strlen(line),
			    CONTROL_SEND_TIMEOUT_MS);
			free(line);
		} else if (plat_ipc_recv(c->conn, &byte, 1, 0) !=
		    EXO_ERR_TIMEOUT)
			rc = EXO_ERR_CLOSED;
	}
	plat_mutex_lock(ctl->bmu);
	for (int i = 0; i < ctl->nsubs; i++) {
		if (ctl->subs[i] == c) {
			ctl->subs[i] = ctl->subs[--ctl->nsubs];
			break;
		}
	}
	plat_mutex_unlock(ctl->bmu);
	return EXO_ERR_CLOSED;
}

static const struct ctl_op ctl_ops[] = {
	{ "hello",		 ctl_hello },
	{ "server_start",	 ctl_server_start },
	{ "server_stop",	 ctl_server_stop },
	{ "server_info",	 ctl_server_info },
	{ "active_sessions",	 ctl_active_sessions },
	{ "user_list",		 ctl_user_list },
	{ "user_add",		 ctl_user_add },
	{ "user_signin",	 ctl_user_signin },
	{ "user_reset_password", ctl_user_reset_password },
	{ "user_set_password",	 ctl_user_set_password },
	{ "user_set",		 ctl_user_set },
	{ "user_delete",	 ctl_user_delete },
	{ "users_changed",	 ctl_users_changed },
	{ "user_test",		 ctl_user_test },
	{ "settings_get",	 ctl_settings_get },
	{ "settings_ready",	 ctl_settings_ready },
	{ "settings_save",	 ctl_settings_save },
	{ "settings_restart",	 ctl_settings_restart },
	{ "subscribe",		 ctl_subscribe },
};

/* ---- client threads ---- */

static int
ctl_dispatch(struct ctl_client *c, const char *line, size_t len)
{
	struct exo_error	 e;
	char			 op[32];
	size_t			 i;
	int			 rc;

	if (json_parse(line, len, &c->req) != EXO_OK)
		return EXO_ERR_PROTO;
	rc = EXO_ERR_PROTO;
	if (json_get_string(c->req, "op", op, sizeof(op)) != EXO_OK)
		goto out;
	for (i = 0; i < sizeof(ctl_ops) / sizeof(ctl_ops[0]); i++) {
		if (strcmp(op, ctl_ops[i].name) == 0)
			break;
	}
	if (i == sizeof(ctl_ops) / sizeof(ctl_ops[0])) {
		err_set(&e, EXO_ERR_INVALID, "unknown request %s", op);
		rc = ctl_reply(c, EXO_ERR_INVALID, &e);
		goto out;
	}
	rc = ctl_ops[i].fn(c);
out:
	json_free(c->req);
	c->req = NULL;
	return rc;
}

static void
ctl_client_free(struct ctl_client *c)
{
	struct control	*ctl = c->ctl;

	plat_mutex_lock(ctl->mu);
	for (int i = 0; i < ctl->nclients; i++) {
		if (ctl->clients[i] == c) {
			ctl->clients[i] = ctl->clients[--ctl->nclients];
			break;
		}
	}
	plat_cond_broadcast(ctl->cv);
	plat_mutex_unlock(ctl->mu);

	while (c->qcount > 0) {
		free(c->queue[c->qhead]);
		c->qhead = (c->qhead + 1) % CONTROL_QUEUE_MAX;
		c->qcount--;
	}
	plat_ipc_close(c->conn);
	plat_cond_free(c->cv);
	plat_mutex_free(c->mu);
	plat_mutex_free(c->wmu);
	plat_wipe(&c->rd, sizeof(c->rd));
	free(c);
}

static void
ctl_client_main(void *arg)
{
	struct ctl_client	*c = arg;
	const char		*line;
	size_t			 len;
	int			 rc = EXO_OK;

	while (rc == EXO_OK && !c->cancel) {
		rc = control_read_line(c->conn, &c->rd, -1, &line, &len);
		if (rc == EXO_OK)
			rc = ctl_dispatch(c, line, len);
	}
	if (rc == EXO_ERR_PROTO || rc == EXO_ERR_TOOLONG)
		ev_emit(EV_WARN, 0, "control.client_dropped", "A control "
		    "channel client sent a malformed message and was "
		    "disconnected", (char *)NULL);
	ctl_client_free(c);
}

static struct ctl_client *
ctl_client_new(struct control *ctl, struct plat_ipc *conn)
{
	struct ctl_client	*c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ctl = ctl;
	c->conn = conn;
	c->wmu = plat_mutex_new();
	c->mu = plat_mutex_new();
	c->cv = plat_cond_new();
	if (c->wmu == NULL || c->mu == NULL || c->cv == NULL) {
		if (c->wmu != NULL)
			plat_mutex_free(c->wmu);
		if (c->mu != NULL)
			plat_mutex_free(c->mu);
		if (c->cv != NULL)
			plat_cond_free(c->cv);
		free(c);
		return NULL;
	}
	return c;
}

/* Registers and starts a client, or closes conn when there is no room. */
static void
ctl_admit(struct control *ctl, struct plat_ipc *conn)
{
	struct ctl_client	*c = NULL;

	plat_mutex_lock(ctl->mu);
	if (ctl->nclients < CONTROL_CLIENTS_MAX && !ctl->stopping &&
	    (c = ctl_client_new(ctl, conn)) != NULL)
		ctl->clients[ctl->nclients++] = c;
	plat_mutex_unlock(ctl->mu);
	if (c == NULL) {
		plat_ipc_close(conn);
		return;
	}
	if (plat_thread_start(ctl_client_main, c, 0) != EXO_OK) {
		c->conn = NULL;
		ctl_client_free(c);
		plat_ipc_close(conn);
	}
}

static void
ctl_accept_main(void *arg)
{
	struct control	*ctl = arg;
	struct plat_ipc	*conn;
	int		 rc;

	for (;;) {
		rc = plat_ipc_accept(ctl->listener, -1, &conn);
		if (rc == EXO_ERR_CLOSED)
			break;
		if (rc == EXO_ERR_TRANSIENT)
			plat_sleep_ms(100);
		if (rc == EXO_ERR_PERM)
			ev_emit(EV_WARN, 0, "control.client_refused", "A "
			    "process of another user tried to open the "
			    "control channel", (char *)NULL);
		if (rc == EXO_OK)
			ctl_admit(ctl, conn);
	}
	plat_mutex_lock(ctl->mu);
	ctl->accepting = 0;
	plat_cond_broadcast(ctl->cv);
	plat_mutex_unlock(ctl->mu);
}

/* Frees what control_open made; the listener must be closed. */
static void
ctl_free(struct control *ctl)
{
	if (ctl->ev_handle >= 0)
		ev_unsubscribe(ctl->ev_handle);
	for (size_t i = 0; i < ctl->bcount; i++)
		free(ctl->backlog[(ctl->bhead + i) % CONTROL_BACKLOG_MAX]);
	if (ctl->adm != NULL)
		ctl->adm->ops->quit(ctl->adm);
	if (ctl->bmu != NULL)
		plat_mutex_free(ctl->bmu);
	if (ctl->cv != NULL)
		plat_cond_free(ctl->cv);
	if (ctl->mu != NULL)
		plat_mutex_free(ctl->mu);
	free(ctl);
}

int
control_open(struct service *sv, struct control **out, struct exo_error *e)
{
	struct control	*ctl;
	int		 rc;

	*out = NULL;
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	ctl->sv = sv;
	ctl->ev_handle = -1;
	ctl->mu = plat_mutex_new();
	ctl->cv = plat_cond_new();
	ctl->bmu = plat_mutex_new();
	rc = ctl->mu != NULL && ctl->cv != NULL && ctl->bmu != NULL ?
	    EXO_OK : err_set(e, EXO_ERR_NOMEM, "out of memory");
	if (rc == EXO_OK)
		rc = admin_local_attach(sv, &ctl->adm, e);
	if (rc == EXO_OK && (ctl->ev_handle = ev_subscribe(ctl_on_event,
	    ctl)) < 0)
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
	if (rc != EXO_OK) {
		ctl_free(ctl);
		return rc;
	}
	*out = ctl;
	return EXO_OK;
}

int
control_listen(struct control *ctl, struct exo_error *e)
{
	int	rc;

	rc = plat_ipc_listen(service_settings(ctl->sv)->data_dir,
	    &ctl->listener, e);
	if (rc != EXO_OK)
		return rc;
	ctl->accepting = 1;
	if (plat_thread_start(ctl_accept_main, ctl, 0) != EXO_OK) {
		ctl->accepting = 0;
		plat_ipc_close(ctl->listener);
		ctl->listener = NULL;
		return err_set(e, EXO_ERR_NOMEM, "cannot start a thread");
	}
	return EXO_OK;
}

int
control_start(struct service *sv, struct control **out,
    struct exo_error *e)
{
	int	rc;

	if ((rc = control_open(sv, out, e)) != EXO_OK)
		return rc;
	if ((rc = control_listen(*out, e)) != EXO_OK) {
		control_stop(*out);
		*out = NULL;
	}
	return rc;
}

void
control_stop(struct control *ctl)
{
	int64_t	deadline = plat_monotonic_ms() + CONTROL_STOP_WAIT_MS;

	if (ctl == NULL)
		return;
	plat_mutex_lock(ctl->mu);
	ctl->stopping = 1;
	if (ctl->listener != NULL)
		plat_ipc_shutdown(ctl->listener);
	while (ctl->accepting)
		plat_cond_wait(ctl->cv, ctl->mu, CONTROL_POLL_MS);
	for (int i = 0; i < ctl->nclients; i++) {
		ctl->clients[i]->cancel = 1;
		plat_ipc_shutdown(ctl->clients[i]->conn);
	}
	while (ctl->nclients > 0 && plat_monotonic_ms() < deadline)
		plat_cond_wait(ctl->cv, ctl->mu, CONTROL_POLL_MS);
	plat_mutex_unlock(ctl->mu);
	if (ctl->listener != NULL)
		plat_ipc_close(ctl->listener);
	ctl->listener = NULL;

	/* A client thread still inside the service keeps ctl (exit follows). */
	if (ctl->nclients > 0)
		return;
	ctl_free(ctl);
}
