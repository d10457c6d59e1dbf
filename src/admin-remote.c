/*
 * admin-remote.c: struct admin_ops over the control channel, for a screen
 * attached to a `serve` of the same data folder. Each operation sends one
 * request on an idle connection (a few stay open for the next one) and
 * waits for the response. Events arrive on a connection of their own, read
 * by one thread that hands them to the screen's subscribers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "control.h"
#include "event.h"
#include "i18n.h"
#include "json.h"
#include "plat.h"
#include "service.h"
#include "util.h"

/* Idle connections kept for later requests. */
#define REMOTE_POOL_MAX 4
/* Wait for the serve to accept a connection, in milliseconds. */
#define REMOTE_CONNECT_MS 3000
/* How often a sign-in's cancel flag is checked, in milliseconds. */
#define REMOTE_POLL_MS 250
/* Maximum size of an event template the screen accepts, in bytes. */
#define REMOTE_TEXT_MAX 1024

struct remote_conn {
	struct plat_ipc		*ipc;
	struct control_reader	 rd;
};

struct remote_sub {
	ev_subscriber_fn	 fn;
	void			*ctx;
};

struct admin_remote {
	struct admin		 base;		/* first, for the casts */
	struct plat_mutex	*mu;		/* the pool */
	struct remote_conn	*idle[REMOTE_POOL_MAX];
	int			 nidle;
	struct settings		*last;		/* of the last settings_get */

	struct plat_mutex	*emu;		/* subscribers and reader */
	struct plat_cond	*ecv;
	struct remote_conn	*events;
	int			 reading;	/* the reader thread runs */
	int			 quitting;
	struct remote_sub	 subs[EV_MAX_SUBSCRIBERS];
};

/* Called with each progress message of a request. */
typedef void (*remote_progress_fn)(const struct json_doc *d,
    const char *kind, void *ctx);

static const char remote_lost[] = "the exoconnect serve process stopped "
    "responding on the control channel; quit and open the screen again";

static struct admin_remote *
remote(struct admin *a)
{
	return (struct admin_remote *)a;
}

/* ---- connections ---- */

static struct remote_conn *
conn_open(const char *data_dir, struct exo_error *e)
{
	struct remote_conn	*c = calloc(1, sizeof(*c));

	if (c == NULL) {
		err_set(e, EXO_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if (plat_ipc_connect(data_dir, REMOTE_CONNECT_MS, &c->ipc, e) !=
	    EXO_OK) {
		free(c);
		return NULL;
	}
	return c;
}

static void
conn_close(struct remote_conn *c)
{
	if (c == NULL)
		return;
	plat_ipc_close(c->ipc);
	plat_wipe(&c->rd, sizeof(c->rd));
	free(c);
}

static struct remote_conn *
pool_get(struct admin_remote *r, struct exo_error *e)
{
	struct remote_conn	*c = NULL;

	plat_mutex_lock(r->mu);
	if (r->nidle > 0)
		c = r->idle[--r->nidle];
	plat_mutex_unlock(r->mu);
	return c != NULL ? c : conn_open(r->base.data_dir, e);
}

static void
pool_put(struct admin_remote *r, struct remote_conn *c)
{
	plat_mutex_lock(r->mu);
	if (r->nidle < REMOTE_POOL_MAX) {
		r->idle[r->nidle++] = c;
		c = NULL;
	}
	plat_mutex_unlock(r->mu);
	conn_close(c);
}

/* ---- requests ---- */

static struct control_msg *
req_new(const char *op)
{
	struct control_msg	*m = malloc(sizeof(*m));

	if (m != NULL)
		control_msg_begin(m, "op", op);
	return m;
}

static const char *
server_name(enum server_kind kind)
{
	return server_kind_name(kind);
}

/* Reads the next message of c into *d, watching cancel while it waits. */
static int
read_msg(struct remote_conn *c, volatile int *cancel, int *cancel_sent,
    struct json_doc **d)
{
	static const char	 stop[] = "{\"op\":\"cancel\"}\n";
	const char		*line;
	size_t			 len;
	int			 rc;

	for (;;) {
		rc = control_read_line(c->ipc, &c->rd, cancel != NULL ?
		    REMOTE_POLL_MS : -1, &line, &len);
		if (rc != EXO_ERR_TIMEOUT)
			break;
		if (*cancel && !*cancel_sent) {
			*cancel_sent = 1;
			if (plat_ipc_send_all(c->ipc, stop, sizeof(stop) - 1,
			    CONTROL_SEND_TIMEOUT_MS) != EXO_OK)
				return EXO_ERR_IO;
		}
	}
	if (rc != EXO_OK)
		return rc;
	return json_parse(line, len, d);
}

/*
 * Fills e from the serve's English message and its layout ("" when the
 * serve sent none), so the screen renders e in its own language. A
 * layout this screen cannot use leaves e in English.
 */
static void
decode_error(int code, const char *msg, const char *layout,
    struct exo_error *e)
{
	err_set(e, code, "%s", msg);
	err_layout_read(e, layout, i18n_msgid);
}

/*
 * Sends req (freed here) and waits for the response: progress messages go
 * to fn, the final one is returned in *done (freed by the caller). The
 * return is the operation's code, with its message in e.
 */
static int
remote_call(struct admin_remote *r, struct control_msg *req,
    remote_progress_fn fn, void *ctx, volatile int *cancel,
    struct json_doc **done, struct exo_error *e)
{
	struct remote_conn	*c;
	struct json_doc		*d = NULL;
	char			 kind[32], msg[EXO_ERROR_MSG_MAX];
	char			 layout[ERR_LAYOUT_MAX];
	long long		 code;
	int			 rc, cancel_sent = 0;

	*done = NULL;
	if (req == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	rc = control_msg_end(req);
	if (rc != EXO_OK) {
		free(req);
		return err_set(e, rc, "the request is too long for the "
		    "control channel");
	}
	if ((c = pool_get(r, e)) == NULL) {
		plat_wipe(req, sizeof(*req));
		free(req);
		return err_set(e, EXO_ERR_IO, "%s", remote_lost);
	}
	rc = plat_ipc_send_all(c->ipc, req->buf, req->len,
	    CONTROL_SEND_TIMEOUT_MS);
	plat_wipe(req, sizeof(*req));
	free(req);

	while (rc == EXO_OK && (rc = read_msg(c, cancel, &cancel_sent,
	    &d)) == EXO_OK) {
		if (json_get_string(d, "t", kind, sizeof(kind)) != EXO_OK)
			kind[0] = '\0';
		if (strcmp(kind, "done") == 0)
			break;
		if (fn != NULL)
			fn(d, kind, ctx);
		json_free(d);
		d = NULL;
	}
	if (rc != EXO_OK) {
		json_free(d);
		conn_close(c);
		return err_set(e, EXO_ERR_IO, "%s", remote_lost);
	}

	/* The serve closes a sign-in's connection after its response. */
	if (cancel != NULL)
		conn_close(c);
	else
		pool_put(r, c);
	*done = d;
	if (json_get_int(d, "rc", &code) != EXO_OK)
		code = EXO_ERR_PROTO;
	if (json_get_string(d, "msg", msg, sizeof(msg)) != EXO_OK)
		msg[0] = '\0';
	if (code == EXO_OK)
		return EXO_OK;
	if (json_get_string(d, "layout", layout, sizeof(layout)) != EXO_OK)
		layout[0] = '\0';
	if (e != NULL)
		decode_error((int)code, msg[0] != '\0' ? msg :
		    exo_strerror((int)code), layout, e);
	return (int)code;
}

/* Calls remote_call for operations whose response is only a code. */
static int
remote_simple(struct admin_remote *r, struct control_msg *req,
    struct exo_error *e)
{
	struct json_doc	*d;
	int		 rc;

	rc = remote_call(r, req, NULL, NULL, NULL, &d, e);
	json_free(d);
	return rc;
}

static long long
doc_int(const struct json_doc *d, const char *key)
{
	long long	v;

	return d != NULL && json_get_int(d, key, &v) == EXO_OK ? v : 0;
}

static void
doc_str(const struct json_doc *d, const char *key, char *out, size_t cap)
{
	if (d == NULL || json_get_string(d, key, out, cap) != EXO_OK)
		out[0] = '\0';
}

/* ---- servers ---- */

static int
remote_server_start(struct admin *a, enum server_kind kind,
    struct exo_error *e)
{
	struct control_msg	*m = req_new("server_start");

	if (m != NULL)
		control_msg_str(m, "kind", server_name(kind));
	return remote_simple(remote(a), m, e);
}

static void
remote_server_stop(struct admin *a, enum server_kind kind)
{
	struct control_msg	*m = req_new("server_stop");

	if (m != NULL)
		control_msg_str(m, "kind", server_name(kind));
	remote_simple(remote(a), m, NULL);
}

static void
remote_server_info(struct admin *a, enum server_kind kind,
    struct admin_server *out)
{
	struct control_msg	*m = req_new("server_info");
	struct json_doc		*d;
	struct exo_error	 e;
	char			 msg[EXO_ERROR_MSG_MAX];
	char			 layout[ERR_LAYOUT_MAX];

	memset(out, 0, sizeof(*out));
	if (m != NULL)
		control_msg_str(m, "kind", server_name(kind));
	if (remote_call(remote(a), m, NULL, NULL, NULL, &d, &e) != EXO_OK) {
		json_free(d);
		out->status.state = SERVER_FAILED;
		err_copy(&out->status.last_error, e.code, &e);
		return;
	}
	out->status.state = (enum server_state)doc_int(d, "state");
	doc_str(d, "listen", out->status.listen, sizeof(out->status.listen));
	out->status.port = (unsigned)doc_int(d, "port");
	doc_str(d, "last_error", msg, sizeof(msg));
	doc_str(d, "last_error_layout", layout, sizeof(layout));
	decode_error(EXO_ERR_IO, msg, layout, &out->status.last_error);
	if (msg[0] == '\0')
		err_clear(&out->status.last_error);
	out->status.tls_port = (unsigned)doc_int(d, "bound_tls_port");
	doc_str(d, "tls_fingerprint", out->status.tls_fingerprint,
	    sizeof(out->status.tls_fingerprint));
	out->enabled = (int)doc_int(d, "enabled");
	out->starttls = (int)doc_int(d, "starttls");
	out->tls_port = (unsigned)doc_int(d, "tls_port");
	out->legacy_tls = (int)doc_int(d, "legacy_tls");
	out->active = (long)doc_int(d, "active");
	out->sessions = (long)doc_int(d, "sessions");
	out->logins = (long)doc_int(d, "logins");
	out->messages = (long)doc_int(d, "messages");
	json_free(d);
}

static long
remote_active_sessions(struct admin *a)
{
	struct json_doc	*d;
	long		 n = 0;

	if (remote_call(remote(a), req_new("active_sessions"), NULL, NULL,
	    NULL, &d, NULL) == EXO_OK)
		n = (long)doc_int(d, "active");
	json_free(d);
	return n;
}

/* ---- users ---- */

struct user_list {
	struct user	*users;
	size_t		 count, cap;
	int		 failed;
};

static void
on_user(const struct json_doc *d, const char *kind, void *ctx)
{
	struct user_list	*l = ctx;
	struct user		*u, *grown;
	size_t			 cap;

	if (strcmp(kind, "user") != 0 || l->failed)
		return;
	if (l->count == l->cap) {
		cap = l->cap == 0 ? 16 : l->cap * 2;
		if (cap > CONTROL_USERS_MAX ||
		    (grown = realloc(l->users, cap * sizeof(*grown))) ==
		    NULL) {
			l->failed = 1;
			return;
		}
		l->users = grown;
		l->cap = cap;
	}
	u = &l->users[l->count++];
	memset(u, 0, sizeof(*u));
	doc_str(d, "login", u->login, sizeof(u->login));
	doc_str(d, "mailbox", u->mailbox, sizeof(u->mailbox));
	doc_str(d, "display_name", u->display_name, sizeof(u->display_name));
	doc_str(d, "tenant_id", u->tenant_id, sizeof(u->tenant_id));
	u->personal = (int)doc_int(d, "personal");
	u->created = doc_int(d, "created");
	u->last_pop3 = doc_int(d, "last_pop3");
	u->last_smtp = doc_int(d, "last_smtp");
	u->last_refresh = doc_int(d, "last_refresh");
	u->state = (enum user_state)doc_int(d, "state");
	doc_str(d, "state_code", u->state_code, sizeof(u->state_code));
	doc_str(d, "state_reason", u->state_reason, sizeof(u->state_reason));
	doc_str(d, "sender_policy", u->sender_policy,
	    sizeof(u->sender_policy));
	u->accept_legacy_charset = (int)doc_int(d, "accept_legacy_charset");
	u->encode_utf8_headers = (int)doc_int(d, "encode_utf8_headers");
	u->relabel_iso2022jp = (int)doc_int(d, "relabel_iso2022jp");
}

static int
remote_user_list(struct admin *a, struct user **users, size_t *count,
    struct exo_error *e)
{
	struct user_list	 l;
	struct json_doc		*d;
	int			 rc;

	memset(&l, 0, sizeof(l));
	*users = NULL;
	*count = 0;
	rc = remote_call(remote(a), req_new("user_list"), on_user, &l, NULL,
	    &d, e);
	json_free(d);
	if (rc == EXO_OK && l.failed)
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
	if (rc != EXO_OK) {
		userdb_free_list(l.users, l.count);
		return rc;
	}
	*users = l.users;
	*count = l.count;
	return EXO_OK;
}

static void
on_signin(const struct json_doc *d, const char *kind, void *ctx)
{
	const struct signin_request	*rq = ctx;
	char				 uri[512], code[64], message[1024];
	char				 url[4096];

	if (strcmp(kind, "device_code") == 0 && rq->on_device_code != NULL) {
		doc_str(d, "uri", uri, sizeof(uri));
		doc_str(d, "code", code, sizeof(code));
		doc_str(d, "message", message, sizeof(message));
		rq->on_device_code(uri, code, message,
		    (int)doc_int(d, "expires_in"), rq->ctx);
	} else if (strcmp(kind, "browser_url") == 0 &&
	    rq->on_browser_url != NULL) {
		doc_str(d, "url", url, sizeof(url));
		rq->on_browser_url(url, rq->ctx);
	}
}

/* Sends a sign-in request and copies the response. */
static int
remote_signin(struct admin_remote *r, struct control_msg *m,
    const struct signin_request *rq, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e)
{
	static volatile int	 never;
	struct json_doc		*d;
	int			 rc;

	if (m != NULL) {
		control_msg_int(m, "method", rq->method);
		control_msg_int(m, "timeout_s", rq->timeout_s);
	}
	rc = remote_call(r, m, on_signin, (void *)rq, rq->cancel != NULL ?
	    rq->cancel : &never, &d, e);
	memset(out, 0, sizeof(*out));
	doc_str(d, "login", out->login, sizeof(out->login));
	doc_str(d, "mailbox", out->mailbox, sizeof(out->mailbox));
	doc_str(d, "account", out->account, sizeof(out->account));
	doc_str(d, "password", out->password, sizeof(out->password));
	out->personal = (int)doc_int(d, "personal");
	if (oerr != NULL) {
		memset(oerr, 0, sizeof(*oerr));
		oerr->kind = (enum oauth_failure)doc_int(d, "o.kind");
		oerr->http_status = (int)doc_int(d, "o.http_status");
		doc_str(d, "o.error", oerr->error, sizeof(oerr->error));
		oerr->code = doc_int(d, "o.code");
		oerr->retry_after = (int)doc_int(d, "o.retry_after");
		doc_str(d, "o.description", oerr->description,
		    sizeof(oerr->description));
		doc_str(d, "o.advice", oerr->advice, sizeof(oerr->advice));
	}
	json_free(d);
	return rc;
}

static int
remote_user_add(struct admin *a, const struct signin_request *rq,
    const char *login, const char *mailbox, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e)
{
	struct control_msg	*m = req_new("user_add");

	if (m != NULL && login != NULL)
		control_msg_str(m, "login", login);
	if (m != NULL && mailbox != NULL)
		control_msg_str(m, "mailbox", mailbox);
	return remote_signin(remote(a), m, rq, out, oerr, e);
}

static int
remote_user_signin(struct admin *a, const char *login,
    const struct signin_request *rq, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e)
{
	struct control_msg	*m = req_new("user_signin");

	if (m != NULL)
		control_msg_str(m, "login", login);
	return remote_signin(remote(a), m, rq, out, oerr, e);
}

static int
remote_user_reset_password(struct admin *a, const char *login,
    char password[USER_PASSWORD_MAX], struct exo_error *e)
{
	struct control_msg	*m = req_new("user_reset_password");
	struct json_doc		*d;
	int			 rc;

	if (m != NULL)
		control_msg_str(m, "login", login);
	rc = remote_call(remote(a), m, NULL, NULL, NULL, &d, e);
	doc_str(d, "password", password, USER_PASSWORD_MAX);
	json_free(d);
	return rc;
}

static int
remote_user_set_password(struct admin *a, const char *login,
    const char *password, struct exo_error *e)
{
	struct control_msg	*m = req_new("user_set_password");

	if (m != NULL) {
		control_msg_str(m, "login", login);
		control_msg_str(m, "password", password);
	}
	return remote_simple(remote(a), m, e);
}

static int
remote_user_set(struct admin *a, const char *login, const char *key,
    const char *value, struct exo_error *e)
{
	struct control_msg	*m = req_new("user_set");

	if (m != NULL) {
		control_msg_str(m, "login", login);
		control_msg_str(m, "key", key);
		control_msg_str(m, "value", value);
	}
	return remote_simple(remote(a), m, e);
}

static int
remote_user_delete(struct admin *a, const char *login, struct exo_error *e)
{
	struct control_msg	*m = req_new("user_delete");

	if (m != NULL)
		control_msg_str(m, "login", login);
	return remote_simple(remote(a), m, e);
}

struct test_steps {
	void	(*step)(const char *line, void *ctx);
	void	 *ctx;
};

static void
on_step(const struct json_doc *d, const char *kind, void *ctx)
{
	struct test_steps	*t = ctx;
	char			 line[CONFIG_TEXT_MAX * 2];

	if (strcmp(kind, "step") != 0 || t->step == NULL)
		return;
	doc_str(d, "line", line, sizeof(line));
	t->step(line, t->ctx);
}

static int
remote_user_test(struct admin *a, const char *login,
    void (*step)(const char *line, void *ctx), void *ctx,
    struct exo_error *e)
{
	struct control_msg	*m = req_new("user_test");
	struct test_steps	 t = { step, ctx };
	struct json_doc		*d;
	int			 rc;

	if (m != NULL)
		control_msg_str(m, "login", login);
	rc = remote_call(remote(a), m, on_step, &t, NULL, &d, e);
	json_free(d);
	return rc;
}

/* ---- settings ---- */

/*
 * Copies the serve's settings into *out. When the serve does not respond,
 * the copy of the last successful call is used, so a Save after a failed
 * read does not write the defaults over the serve's settings.
 */
static void
remote_settings_get(struct admin *a, struct settings *out)
{
	struct admin_remote	*r = remote(a);
	const struct config_key	*k;
	struct json_doc		*d;
	char			 name[128], value[2 * PLAT_PATH_MAX];
	int			 rc;

	config_defaults(out);
	str_copy(out->path, a->config_path, sizeof(out->path));
	str_copy(out->data_dir, a->data_dir, sizeof(out->data_dir));
	rc = remote_call(r, req_new("settings_get"), NULL, NULL, NULL, &d,
	    NULL);
	for (k = config_keys(); rc == EXO_OK && k->name != NULL; k++) {
		snprintf(name, sizeof(name), "s.%s.%s", k->section, k->name);
		if (json_get_string(d, name, value, sizeof(value)) == EXO_OK)
			config_set(out, k->section, k->name, value, NULL);
	}
	json_free(d);
	plat_wipe(value, sizeof(value));

	plat_mutex_lock(r->mu);
	if (rc == EXO_OK)
		*r->last = *out;
	else
		*out = *r->last;
	plat_mutex_unlock(r->mu);
}

static int
remote_settings_ready(struct admin *a, struct exo_error *e)
{
	return remote_simple(remote(a), req_new("settings_ready"), e);
}

static int
remote_settings_save(struct admin *a, const struct settings *s,
    int *pending, struct exo_error *e)
{
	const struct config_key	*k;
	struct control_msg	*m = req_new("settings_save");
	struct json_doc		*d;
	char			 name[128], value[2 * PLAT_PATH_MAX];
	int			 rc;

	*pending = 0;
	for (k = config_keys(); m != NULL && k->name != NULL; k++) {
		snprintf(name, sizeof(name), "s.%s.%s", k->section, k->name);
		if (config_get(s, k->section, k->name, value,
		    sizeof(value)) == EXO_OK)
			control_msg_str(m, name, value);
	}
	plat_wipe(value, sizeof(value));
	rc = remote_call(remote(a), m, NULL, NULL, NULL, &d, e);
	*pending = (int)doc_int(d, "pending");
	json_free(d);
	return rc;
}

static int
remote_settings_restart(struct admin *a, struct exo_error *e)
{
	return remote_simple(remote(a), req_new("settings_restart"), e);
}

/* The serve resumes its own servers; an attached screen starts none. */
static int
remote_resume(struct admin *a, struct exo_error *e)
{
	(void)a;
	(void)e;
	return EXO_OK;
}

/* ---- events ---- */

/* Hands ev to every subscriber, under r->emu. */
static void
deliver(struct admin_remote *r, const struct ev *ev)
{
	plat_mutex_lock(r->emu);
	for (int i = 0; i < EV_MAX_SUBSCRIBERS; i++) {
		if (r->subs[i].fn != NULL)
			r->subs[i].fn(ev, r->subs[i].ctx);
	}
	plat_mutex_unlock(r->emu);
}

/* The strings of one event as it arrived. */
struct remote_event {
	char			id[64];
	char			text[REMOTE_TEXT_MAX];
	char			names[EV_MAX_PARAMS][EV_NAME_MAX];
	char			values[EV_MAX_PARAMS][EV_VALUE_MAX];
	struct exo_error	errors[EV_MAX_PARAMS];
	char			layout[ERR_LAYOUT_MAX];
};

static int
decode_event(const struct json_doc *d, struct remote_event *buf,
    struct ev *ev)
{
	char		key[16];
	long long	n = doc_int(d, "np");

	memset(ev, 0, sizeof(*ev));
	if (json_get_string(d, "id", buf->id, sizeof(buf->id)) != EXO_OK ||
	    json_get_string(d, "text", buf->text, sizeof(buf->text)) !=
	    EXO_OK || n < 0 || n > EV_MAX_PARAMS)
		return EXO_ERR_PROTO;
	ev->level = (enum ev_level)doc_int(d, "level");
	if (ev->level < EV_DEBUG || ev->level > EV_ERROR)
		ev->level = EV_ERROR;
	ev->conn = (unsigned long)doc_int(d, "conn");
	ev->time = doc_int(d, "time");
	ev->id = buf->id;
	ev->text = buf->text;
	for (int i = 0; i < (int)n; i++) {
		snprintf(key, sizeof(key), "n%d", i);
		doc_str(d, key, buf->names[i], sizeof(buf->names[i]));
		snprintf(key, sizeof(key), "v%d", i);
		doc_str(d, key, buf->values[i], sizeof(buf->values[i]));
		ev->params[i].name = buf->names[i];
		ev->params[i].value = buf->values[i];
		snprintf(key, sizeof(key), "m%d", i);
		if (doc_int(d, key) == 1)
			ev->params[i].flags = EV_PARAM_MSGID;
		snprintf(key, sizeof(key), "l%d", i);
		if (json_get_string(d, key, buf->layout, sizeof(buf->layout)) ==
		    EXO_OK) {
			decode_error(EXO_ERR_IO, buf->values[i], buf->layout,
			    &buf->errors[i]);
			ev->params[i].error = &buf->errors[i];
		}
	}
	ev->nparams = (int)n;
	return EXO_OK;
}

static void
reader_main(void *arg)
{
	struct admin_remote	*r = arg;
	struct remote_event	*buf = malloc(sizeof(*buf));
	struct json_doc		*d;
	struct ev		 ev;
	int			 rc = buf != NULL ? EXO_OK : EXO_ERR_NOMEM;
	int			 quitting;

	while (rc == EXO_OK) {
		rc = read_msg(r->events, NULL, NULL, &d);
		if (rc == EXO_OK && decode_event(d, buf, &ev) == EXO_OK)
			deliver(r, &ev);
		if (rc == EXO_OK)
			json_free(d);
	}
	plat_mutex_lock(r->emu);
	quitting = r->quitting;
	plat_mutex_unlock(r->emu);
	if (!quitting) {
		memset(&ev, 0, sizeof(ev));
		ev.level = EV_ERROR;
		ev.time = plat_wall_time();
		ev.id = "control.lost";
		ev.text = "The exoconnect serve process stopped responding "
		    "on the control channel";
		deliver(r, &ev);
	}
	free(buf);
	plat_mutex_lock(r->emu);
	r->reading = 0;
	plat_cond_broadcast(r->ecv);
	plat_mutex_unlock(r->emu);
}

/* Opens the event connection and its reader, with r->emu held. */
static int
events_open(struct admin_remote *r)
{
	struct control_msg	*m = req_new("subscribe");
	struct json_doc		*d = NULL;
	int			 rc, cancel_sent = 0;

	if (m == NULL)
		return EXO_ERR_NOMEM;
	/* The serve's recent events come first, so the log pane starts full. */
	control_msg_int(m, "backlog", 1);
	rc = control_msg_end(m);
	if (rc == EXO_OK && (r->events = conn_open(r->base.data_dir,
	    NULL)) == NULL)
		rc = EXO_ERR_IO;
	if (rc == EXO_OK)
		rc = plat_ipc_send_all(r->events->ipc, m->buf, m->len,
		    CONTROL_SEND_TIMEOUT_MS);
	free(m);
	if (rc == EXO_OK)
		rc = read_msg(r->events, NULL, &cancel_sent, &d);
	if (rc == EXO_OK && doc_int(d, "rc") != EXO_OK)
		rc = (int)doc_int(d, "rc");
	json_free(d);
	r->reading = rc == EXO_OK;
	if (rc == EXO_OK && plat_thread_start(reader_main, r, 0) != EXO_OK)
		rc = EXO_ERR_NOMEM;
	if (rc != EXO_OK) {
		r->reading = 0;
		conn_close(r->events);
		r->events = NULL;
	}
	return rc;
}

static int
remote_subscribe(struct admin *a, ev_subscriber_fn fn, void *ctx)
{
	struct admin_remote	*r = remote(a);
	int			 handle = -1;

	plat_mutex_lock(r->emu);
	for (int i = 0; i < EV_MAX_SUBSCRIBERS && handle < 0; i++) {
		if (r->subs[i].fn == NULL)
			handle = i;
	}
	if (handle >= 0 && r->events == NULL && events_open(r) != EXO_OK)
		handle = -1;
	if (handle >= 0) {
		r->subs[handle].fn = fn;
		r->subs[handle].ctx = ctx;
	}
	plat_mutex_unlock(r->emu);
	return handle;
}

static void
remote_unsubscribe(struct admin *a, int handle)
{
	struct admin_remote	*r = remote(a);

	if (handle < 0 || handle >= EV_MAX_SUBSCRIBERS)
		return;
	plat_mutex_lock(r->emu);
	r->subs[handle].fn = NULL;
	r->subs[handle].ctx = NULL;
	plat_mutex_unlock(r->emu);
}

/* Leaves the serve and its servers running; frees a. */
static void
remote_quit(struct admin *a)
{
	struct admin_remote	*r = remote(a);

	plat_mutex_lock(r->emu);
	r->quitting = 1;
	if (r->events != NULL)
		plat_ipc_shutdown(r->events->ipc);
	while (r->reading)
		plat_cond_wait(r->ecv, r->emu, -1);
	conn_close(r->events);
	plat_mutex_unlock(r->emu);

	while (r->nidle > 0)
		conn_close(r->idle[--r->nidle]);
	plat_wipe(r->last, sizeof(*r->last));
	free(r->last);
	plat_cond_free(r->ecv);
	plat_mutex_free(r->emu);
	plat_mutex_free(r->mu);
	free(r);
}

static const struct admin_ops remote_ops = {
	.server_start = remote_server_start,
	.server_stop = remote_server_stop,
	.server_info = remote_server_info,
	.active_sessions = remote_active_sessions,
	.user_list = remote_user_list,
	.user_add = remote_user_add,
	.user_signin = remote_user_signin,
	.user_reset_password = remote_user_reset_password,
	.user_set_password = remote_user_set_password,
	.user_set = remote_user_set,
	.user_delete = remote_user_delete,
	.user_test = remote_user_test,
	.settings_get = remote_settings_get,
	.settings_ready = remote_settings_ready,
	.settings_save = remote_settings_save,
	.settings_restart = remote_settings_restart,
	.resume = remote_resume,
	.subscribe = remote_subscribe,
	.unsubscribe = remote_unsubscribe,
	.quit = remote_quit,
};

/* Asks the serve who it is; checks the protocol and fills the paths. */
static int
remote_hello(struct admin_remote *r, struct exo_error *e)
{
	struct json_doc	*d;
	char		 proto[8];
	int		 rc;

	rc = remote_call(r, req_new("hello"), NULL, NULL, NULL, &d, e);
	doc_str(d, "protocol", proto, sizeof(proto));
	if (rc == EXO_OK && strcmp(proto, CONTROL_PROTOCOL) != 0)
		rc = err_set(e, EXO_ERR_PROTO, "the running exoconnect serve "
		    "speaks another version of the control channel; use the "
		    "same exoconnect version for both");
	if (rc == EXO_OK) {
		doc_str(d, "data_dir", r->base.data_dir,
		    sizeof(r->base.data_dir));
		doc_str(d, "config_path", r->base.config_path,
		    sizeof(r->base.config_path));
	}
	json_free(d);
	return rc;
}

/* The data folder of the settings file config_path names. */
static int
remote_data_dir(const char *config_path, char out[PLAT_PATH_MAX],
    struct exo_error *e)
{
	struct settings	*s;
	char		 path[PLAT_PATH_MAX];
	int		 rc;

	rc = config_locate(config_path, path, e);
	if (rc != EXO_OK)
		return rc;
	if ((s = malloc(sizeof(*s))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	rc = config_load(path, s, e);
	if (rc == EXO_OK)
		str_copy(out, s->data_dir, PLAT_PATH_MAX);
	plat_wipe(s, sizeof(*s));
	free(s);
	return rc;
}

int
admin_remote_open(const char *config_path, struct admin **out,
    struct exo_error *e)
{
	struct admin_remote	*r;
	struct remote_conn	*c;
	struct exo_error	 failure;
	int			 rc;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	rc = remote_data_dir(config_path, r->base.data_dir, e);
	if (rc != EXO_OK) {
		free(r);
		return err_set(e, EXO_ERR_NOTFOUND, "no settings to find a "
		    "running serve by");
	}
	/* Another user's serve is an error, not a reason to run our own. */
	c = conn_open(r->base.data_dir, &failure);
	if (c == NULL) {
		free(r);
		return err_copy(e, failure.code, &failure);
	}
	r->base.ops = &remote_ops;
	r->base.attached = 1;
	r->mu = plat_mutex_new();
	r->emu = plat_mutex_new();
	r->ecv = plat_cond_new();
	r->last = malloc(sizeof(*r->last));
	r->idle[r->nidle++] = c;
	if (r->mu == NULL || r->emu == NULL || r->ecv == NULL ||
	    r->last == NULL)
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
	else
		rc = remote_hello(r, e);
	if (rc == EXO_OK) {
		/* Fills r->last from the serve, or with the defaults. */
		config_defaults(r->last);
		remote_settings_get(&r->base, r->last);
	}
	if (rc != EXO_OK) {
		free(r->last);
		while (r->nidle > 0)
			conn_close(r->idle[--r->nidle]);
		if (r->ecv != NULL)
			plat_cond_free(r->ecv);
		if (r->emu != NULL)
			plat_mutex_free(r->emu);
		if (r->mu != NULL)
			plat_mutex_free(r->mu);
		free(r);
		return rc;
	}
	*out = &r->base;
	return EXO_OK;
}
