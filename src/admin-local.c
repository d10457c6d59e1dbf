/*
 * admin-local.c: struct admin_ops for a screen that runs the servers in
 * its own process, as thin calls into service.h. It adds what a screen
 * needs on top: settings saved while servers run wait for a restart,
 * and the servers that ran at quit start again at the next launch.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "event.h"
#include "plat.h"
#include "service.h"
#include "util.h"

/* Maximum size of the state file, which names at most two servers. */
#define ADMIN_STATE_MAX 64

struct admin_local {
	struct admin		 base;		/* first, for the casts */
	struct service		*sv;
	struct plat_mutex	*mu;	/* one start or stop at a time */
	/* Short: guards pending and the settings against the screen. */
	struct plat_mutex	*snap;
	struct settings		*pending;	/* saved, not applied yet */
	int			 borrowed;	/* sv belongs to the caller */
};

static struct admin_local *
local(struct admin *a)
{
	return (struct admin_local *)a;
}

static int
any_running(struct service *sv)
{
	struct server_status	st;

	for (int k = 0; k < SERVER_COUNT; k++) {
		service_server_status(sv, (enum server_kind)k, &st);
		if (st.state == SERVER_RUNNING || st.state == SERVER_STARTING)
			return 1;
	}
	return 0;
}

/*
 * Applies saved settings when no server runs; with l->mu held, so no
 * start reads the settings meanwhile, and under l->snap, so the screen
 * does not read them half copied.
 */
static int
apply_pending(struct admin_local *l, struct exo_error *e)
{
	int	rc = EXO_OK;

	plat_mutex_lock(l->snap);
	if (l->pending == NULL || any_running(l->sv))
		goto out;
	rc = service_apply_settings(l->sv, l->pending, e);
	if (rc != EXO_OK)
		goto out;
	plat_wipe(l->pending, sizeof(*l->pending));
	free(l->pending);
	l->pending = NULL;
out:
	plat_mutex_unlock(l->snap);
	return rc;
}

static int
local_server_start(struct admin *a, enum server_kind kind,
    struct exo_error *e)
{
	struct admin_local	*l = local(a);
	int			 rc;

	plat_mutex_lock(l->mu);
	rc = apply_pending(l, e);
	if (rc == EXO_OK)
		rc = service_server_start(l->sv, kind, e);
	plat_mutex_unlock(l->mu);
	return rc;
}

static void
local_server_stop(struct admin *a, enum server_kind kind)
{
	struct admin_local	*l = local(a);

	plat_mutex_lock(l->mu);
	service_server_stop(l->sv, kind);
	plat_mutex_unlock(l->mu);
}

static void
local_server_info(struct admin *a, enum server_kind kind,
    struct admin_server *out)
{
	struct admin_local		*l = local(a);
	struct service			*sv = l->sv;
	const struct server_stats	*st = service_server_stats(sv, kind);
	const struct settings		*s = service_settings(sv);

	memset(out, 0, sizeof(*out));
	service_server_status(sv, kind, &out->status);
	plat_mutex_lock(l->snap);
	if (kind == SERVER_POP3) {
		out->enabled = s->pop3.enabled;
		out->starttls = s->pop3.starttls;
		out->tls_port = s->pop3.tls_port;
		out->legacy_tls = s->pop3.legacy_tls;
	} else {
		out->enabled = s->smtp.enabled;
		out->starttls = s->smtp.starttls;
		out->tls_port = s->smtp.tls_port;
		out->legacy_tls = s->smtp.legacy_tls;
	}
	if (out->status.listen[0] == '\0')
		str_copy(out->status.listen, kind == SERVER_POP3 ?
		    s->pop3.listen : s->smtp.listen,
		    sizeof(out->status.listen));
	if (out->status.port == 0)
		out->status.port = kind == SERVER_POP3 ? s->pop3.port :
		    s->smtp.port;
	plat_mutex_unlock(l->snap);
	out->active = atomic_load(&st->active);
	out->sessions = atomic_load(&st->sessions);
	out->logins = atomic_load(&st->logins);
	out->messages = atomic_load(&st->messages);
}

static long
local_active_sessions(struct admin *a)
{
	return service_active_sessions(local(a)->sv);
}

static int
local_user_list(struct admin *a, struct user **users, size_t *count,
    struct exo_error *e)
{
	return service_user_list(local(a)->sv, users, count, e);
}

static int
local_user_add(struct admin *a, const struct signin_request *rq,
    const char *login, const char *mailbox, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e)
{
	return service_user_add(local(a)->sv, rq, login, mailbox, out, oerr,
	    e);
}

static int
local_user_signin(struct admin *a, const char *login,
    const struct signin_request *rq, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e)
{
	return service_user_signin(local(a)->sv, login, rq, out, oerr, e);
}

static int
local_user_reset_password(struct admin *a, const char *login,
    char password[USER_PASSWORD_MAX], struct exo_error *e)
{
	return service_user_reset_password(local(a)->sv, login, password, e);
}

static int
local_user_set_password(struct admin *a, const char *login,
    const char *password, struct exo_error *e)
{
	return service_user_set_password(local(a)->sv, login, password, e);
}

static int
local_user_set(struct admin *a, const char *login, const char *key,
    const char *value, struct exo_error *e)
{
	return service_user_set(local(a)->sv, login, key, value, e);
}

static int
local_user_delete(struct admin *a, const char *login, struct exo_error *e)
{
	return service_user_delete(local(a)->sv, login, e);
}

static int
local_user_test(struct admin *a, const char *login,
    void (*step)(const char *line, void *ctx), void *ctx,
    struct exo_error *e)
{
	return service_user_test(local(a)->sv, login, step, ctx, e);
}

static void
local_settings_get(struct admin *a, struct settings *out)
{
	struct admin_local	*l = local(a);

	plat_mutex_lock(l->snap);
	*out = l->pending != NULL ? *l->pending : *service_settings(l->sv);
	plat_mutex_unlock(l->snap);
}

static int
local_settings_ready(struct admin *a, struct exo_error *e)
{
	struct admin_local	*l = local(a);
	int			 rc;

	plat_mutex_lock(l->snap);
	rc = config_check_ready(l->pending != NULL ? l->pending :
	    service_settings(l->sv), e);
	plat_mutex_unlock(l->snap);
	return rc;
}

static int
local_settings_save(struct admin *a, const struct settings *s,
    int *pending, struct exo_error *e)
{
	struct admin_local	*l = local(a);
	int			 rc;

	*pending = 0;
	rc = config_check_ports(s, e);
	if (rc != EXO_OK)
		return rc;
	rc = config_save(s, e);
	if (rc != EXO_OK)
		return rc;

	plat_mutex_lock(l->mu);
	plat_mutex_lock(l->snap);
	if (l->pending == NULL)
		l->pending = malloc(sizeof(*l->pending));
	if (l->pending != NULL)
		*l->pending = *s;
	plat_mutex_unlock(l->snap);
	if (l->pending == NULL)
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
	else
		rc = apply_pending(l, e);
	*pending = l->pending != NULL;
	plat_mutex_unlock(l->mu);
	return rc;
}

static int
local_settings_restart(struct admin *a, struct exo_error *e)
{
	struct admin_local	*l = local(a);
	struct server_status	 st;
	int			 ran[SERVER_COUNT];
	int			 rc, first = EXO_OK;

	plat_mutex_lock(l->mu);
	for (int k = 0; k < SERVER_COUNT; k++) {
		service_server_status(l->sv, (enum server_kind)k, &st);
		/* A server that failed may start with the new settings. */
		ran[k] = st.state == SERVER_RUNNING ||
		    st.state == SERVER_FAILED;
	}
	service_stop(l->sv);
	rc = apply_pending(l, e);
	for (int k = 0; rc == EXO_OK && k < SERVER_COUNT; k++) {
		if (!ran[k])
			continue;
		rc = service_server_start(l->sv, (enum server_kind)k, e);
		if (first == EXO_OK)
			first = rc;
		rc = EXO_OK;
	}
	plat_mutex_unlock(l->mu);
	return rc != EXO_OK ? rc : first;
}

/* Path of the file that names the servers running at quit. */
static void
state_path(struct admin_local *l, char out[PLAT_PATH_MAX])
{
	plat_path_join(out, service_settings(l->sv)->data_dir,
	    ADMIN_STATE_NAME);
}

static int
local_resume(struct admin *a, struct exo_error *e)
{
	struct admin_local	*l = local(a);
	char			 path[PLAT_PATH_MAX];
	char			*text = NULL;
	size_t			 len;
	int			 rc = EXO_OK, result;

	if (!service_settings(l->sv)->ui.autostart)
		return EXO_OK;
	state_path(l, path);
	if (plat_read_file(path, ADMIN_STATE_MAX, &text, &len, NULL) != EXO_OK)
		return EXO_OK;

	for (int k = 0; k < SERVER_COUNT; k++) {
		if (strstr(text, server_kind_name((enum server_kind)k)) ==
		    NULL)
			continue;
		result = local_server_start(a, (enum server_kind)k, e);
		if (rc == EXO_OK)
			rc = result;
	}
	free(text);
	return rc;
}

/* Writes the names of the running servers for the next resume. */
static void
save_running(struct admin_local *l)
{
	struct server_status	st;
	char			path[PLAT_PATH_MAX], text[ADMIN_STATE_MAX];

	text[0] = '\0';
	for (int k = 0; k < SERVER_COUNT; k++) {
		service_server_status(l->sv, (enum server_kind)k, &st);
		if (st.state != SERVER_RUNNING)
			continue;
		str_copy(text + strlen(text), server_kind_name(
		    (enum server_kind)k), sizeof(text) - strlen(text));
		str_copy(text + strlen(text), "\n", sizeof(text) -
		    strlen(text));
	}
	state_path(l, path);
	plat_write_file_atomic(path, text, strlen(text), 0, NULL);
}

static int
local_subscribe(struct admin *a, ev_subscriber_fn fn, void *ctx)
{
	(void)a;
	return ev_subscribe(fn, ctx);
}

static void
local_unsubscribe(struct admin *a, int handle)
{
	(void)a;
	ev_unsubscribe(handle);
}

static void
local_quit(struct admin *a)
{
	struct admin_local	*l = local(a);

	if (!l->borrowed) {
		plat_mutex_lock(l->mu);
		save_running(l);
		service_stop(l->sv);
		plat_mutex_unlock(l->mu);

		log_stop();
		service_close(l->sv);
	}
	if (l->pending != NULL) {
		plat_wipe(l->pending, sizeof(*l->pending));
		free(l->pending);
	}
	plat_mutex_free(l->snap);
	plat_mutex_free(l->mu);
	free(l);
}

static const struct admin_ops local_ops = {
	.server_start = local_server_start,
	.server_stop = local_server_stop,
	.server_info = local_server_info,
	.active_sessions = local_active_sessions,
	.user_list = local_user_list,
	.user_add = local_user_add,
	.user_signin = local_user_signin,
	.user_reset_password = local_user_reset_password,
	.user_set_password = local_user_set_password,
	.user_set = local_user_set,
	.user_delete = local_user_delete,
	.user_test = local_user_test,
	.settings_get = local_settings_get,
	.settings_ready = local_settings_ready,
	.settings_save = local_settings_save,
	.settings_restart = local_settings_restart,
	.resume = local_resume,
	.subscribe = local_subscribe,
	.unsubscribe = local_unsubscribe,
	.quit = local_quit,
};

static struct admin_local *
local_new(struct exo_error *e)
{
	struct admin_local	*l;

	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		err_set(e, EXO_ERR_NOMEM, "out of memory");
		return NULL;
	}
	l->mu = plat_mutex_new();
	l->snap = plat_mutex_new();
	if (l->mu == NULL || l->snap == NULL) {
		if (l->mu != NULL)
			plat_mutex_free(l->mu);
		if (l->snap != NULL)
			plat_mutex_free(l->snap);
		free(l);
		err_set(e, EXO_ERR_NOMEM, "out of memory");
		return NULL;
	}
	l->base.ops = &local_ops;
	return l;
}

int
admin_local_attach(struct service *sv, struct admin **out,
    struct exo_error *e)
{
	struct admin_local	*l;

	*out = NULL;
	if ((l = local_new(e)) == NULL)
		return EXO_ERR_NOMEM;
	l->sv = sv;
	l->borrowed = 1;
	str_copy(l->base.data_dir, service_settings(sv)->data_dir,
	    sizeof(l->base.data_dir));
	str_copy(l->base.config_path, service_settings(sv)->path,
	    sizeof(l->base.config_path));
	*out = &l->base;
	return EXO_OK;
}

int
admin_local_open(const char *config_path, struct admin **out,
    char notice[512], struct exo_error *e)
{
	struct admin_local	*l;
	struct exo_error	 warn;
	int			 rc;

	*out = NULL;
	if ((l = local_new(e)) == NULL)
		return EXO_ERR_NOMEM;

	/* A first run writes the default file, which then opens. */
	rc = service_open(config_path, SERVICE_OPEN_CREATE, &l->sv, notice,
	    e);
	if (rc == EXO_ERR_CONFIG)
		rc = service_open(config_path, 0, &l->sv, notice, e);
	if (rc != EXO_OK) {
		plat_mutex_free(l->snap);
		plat_mutex_free(l->mu);
		free(l);
		return rc;
	}
	err_clear(&warn);
	if (service_settings(l->sv)->log.file[0] != '\0' &&
	    service_log_start(l->sv, 0, &warn) != EXO_OK)
		ev_emit(EV_WARN, 0, "screen.log_failed", "The log file could "
		    "not be opened: {error}", EV_ERROR("error", &warn), (char *)NULL);

	str_copy(l->base.data_dir, service_settings(l->sv)->data_dir,
	    sizeof(l->base.data_dir));
	str_copy(l->base.config_path, service_settings(l->sv)->path,
	    sizeof(l->base.config_path));
	*out = &l->base;
	return EXO_OK;
}
