/*
 * token.c: the token manager. One entry per login keeps the access token
 * in memory, the single refresh in flight and the backoff state.
 *
 * Order of a refresh: take the refresh lock (a file in the data folder,
 * shared by every exoconnect process), read the user's refresh token
 * from the store, send the refresh, write the rotated refresh token with
 * userdb_update, release the lock, and only then hand out the access
 * token. A crash at any point leaves a refresh token on disk that the
 * token service still accepts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "event.h"
#include "oauth.h"
#include "plat.h"
#include "token.h"
#include "util.h"

#define TOKEN_LOCK_FILE "refresh.lock"
#define TOKEN_BACKOFF_MIN 5		/* seconds, first transient retry */
#define TOKEN_BACKOFF_MAX 600
#define TOKEN_RETRY_AFTER_MAX 3600	/* seconds of Retry-After honoured */
#define TOKEN_REJECT_MIN 60		/* seconds, after Exchange refused */
#define TOKEN_REJECT_MAX 900
/* A forced refresh this soon after another one reuses its token. */
#define TOKEN_FORCE_REUSE_MS 10000
#define TOKEN_LOCK_POLL_MS 100

struct token_entry {
	struct token_entry	*next;
	char		 login[USER_LOGIN_MAX];
	char		 mailbox[USER_MAILBOX_MAX];
	int		 personal;

	char		 access_token[OAUTH_ACCESS_TOKEN_MAX];
	int64_t		 expires_at;		/* wall clock seconds */
	int64_t		 refreshed_ms;		/* monotonic, 0 = never */

	/* Single flight: waiters sleep until generation changes. */
	int		 refreshing;
	unsigned long	 generation;
	int		 result;
	struct exo_error last_error;

	/* Transient failures: no refresh before backoff_until_ms. */
	int		 backoff_s;
	int64_t		 backoff_until_ms;

	/* Sign-in, consent or settings failure of this refresh token. */
	int		 dead;
	unsigned char	 dead_hash[br_sha256_SIZE];
	struct exo_error dead_error;

	/* Exchange refused a fresh token (token_report_rejected). */
	int		 reject_s;
	int64_t		 reject_until_ms;

	/* The failure last reported as an event, to report changes once. */
	enum oauth_failure event_kind;
	long long	 event_code;
};

struct token_mgr {
	const struct settings	*settings;
	struct userdb		*db;
	struct oauth_client	 oauth;
	char			 lock_path[PLAT_PATH_MAX];
	struct plat_mutex	*mu;
	struct plat_cond	*cond;
	struct token_entry	*entries;
};

/* Outcome of one refresh, passed from the worker to the entry. */
struct token_outcome {
	int			 result;
	struct exo_error	 error;
	struct oauth_tokens	 tokens;
	struct oauth_error	 oauth;
	struct user		 user;		/* as read before the refresh */
	unsigned char		 spent_hash[br_sha256_SIZE];
	int			 copied;
};

struct token_mgr *
token_mgr_new(const struct settings *s, struct userdb *db,
    const struct trust_store *trust)
{
	struct token_mgr	*m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->settings = s;
	m->db = db;
	oauth_client_init(&m->oauth, s, trust);
	if (plat_path_join(m->lock_path, s->data_dir, TOKEN_LOCK_FILE) != 0 ||
	    (m->mu = plat_mutex_new()) == NULL ||
	    (m->cond = plat_cond_new()) == NULL) {
		token_mgr_free(m);
		return NULL;
	}
	return m;
}

void
token_mgr_free(struct token_mgr *m)
{
	struct token_entry	*t, *next;

	if (m == NULL)
		return;
	for (t = m->entries; t != NULL; t = next) {
		next = t->next;
		plat_wipe(t, sizeof(*t));
		free(t);
	}
	if (m->cond != NULL)
		plat_cond_free(m->cond);
	if (m->mu != NULL)
		plat_mutex_free(m->mu);
	free(m);
}

static void
token_hash(const char *text, unsigned char out[br_sha256_SIZE])
{
	br_sha256_context	sha;

	br_sha256_init(&sha);
	br_sha256_update(&sha, text, strlen(text));
	br_sha256_out(&sha, out);
}

/* Finds the entry of login, or NULL; called with m->mu held. */
static struct token_entry *
token_entry_find(struct token_mgr *m, const char *login)
{
	struct token_entry	*t;

	for (t = m->entries; t != NULL; t = t->next) {
		if (str_casecmp(t->login, login) == 0)
			return t;
	}
	return NULL;
}

/* Finds or adds the entry of login; called with m->mu held. */
static struct token_entry *
token_entry_get(struct token_mgr *m, const char *login)
{
	struct token_entry	*t;

	if ((t = token_entry_find(m, login)) != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	str_copy(t->login, login, sizeof(t->login));
	t->next = m->entries;
	m->entries = t;
	return t;
}

static int
token_lease_fill(const struct token_entry *t, int fresh,
    struct token_lease *out)
{
	str_copy(out->access_token, t->access_token,
	    sizeof(out->access_token));
	str_copy(out->mailbox, t->mailbox, sizeof(out->mailbox));
	out->personal = t->personal;
	out->fresh = fresh;
	return 0;
}

/* ---- store access (no network while the store lock is held) ---- */

static int
token_copy_user(struct user *u, void *ctx)
{
	struct token_outcome	*o = ctx;

	o->user = *u;
	o->copied = 1;
	/* Not an error: a non-zero result only stops userdb_update from
	 * writing the files. */
	return EXO_ERR_CANCELLED;
}

/* Reads the current entry of login from disk, under the store lock. */
static int
token_read_user(struct token_mgr *m, const char *login,
    struct token_outcome *o, struct exo_error *e)
{
	int	r;

	o->copied = 0;
	r = userdb_update(m->db, login, token_copy_user, o, e);
	if (o->copied)
		return 0;
	return r != 0 ? r : EXO_ERR_IO;
}

static int
token_store_success(struct user *u, void *ctx)
{
	struct token_outcome	*o = ctx;
	unsigned char		 now_hash[br_sha256_SIZE];

	/*
	 * An admin may have signed in again while the request ran: then the
	 * stored token is newer than the one spent, and it stays.
	 */
	token_hash(u->refresh_token, now_hash);
	if (memcmp(now_hash, o->spent_hash, sizeof(now_hash)) == 0 &&
	    o->tokens.refresh_token[0] != '\0') {
		str_copy(u->refresh_token_reserve, u->refresh_token,
		    sizeof(u->refresh_token_reserve));
		str_copy(u->refresh_token, o->tokens.refresh_token,
		    sizeof(u->refresh_token));
		u->refresh_token_rejected = 0;
	}
	u->last_refresh = plat_wall_time();
	if (u->state != USER_UPSTREAM_REJECTED) {
		u->state = USER_OK;
		u->state_code[0] = '\0';
		u->state_reason[0] = '\0';
	}
	return 0;
}

static enum user_state
token_state_of(enum oauth_failure kind)
{
	switch (kind) {
	case OAUTH_FAIL_CONSENT:
		return USER_CONSENT_REQUIRED;
	case OAUTH_FAIL_CONFIG:
	case OAUTH_FAIL_BLOCKED:
		return USER_CONFIG_ERROR;
	default:
		return USER_SIGNIN_REQUIRED;
	}
}

/* Sets state, code ("AADSTS70043") and reason from a failed refresh. */
static void
token_set_state(struct user *u, const struct oauth_error *err)
{
	struct buf	reason;

	u->state = token_state_of(err->kind);
	if (err->code != 0)
		snprintf(u->state_code, sizeof(u->state_code), "AADSTS%lld",
		    err->code);
	else
		str_copy(u->state_code, err->error, sizeof(u->state_code));
	buf_init(&reason);
	if (buf_printf(&reason, "%s%s%s", err->description,
	    err->description[0] != '\0' ? ". " : "", err->advice) == 0)
		str_copy(u->state_reason, reason.data, sizeof(u->state_reason));
	buf_free(&reason);
}

static int
token_store_failure(struct user *u, void *ctx)
{
	struct token_outcome	*o = ctx;
	unsigned char		 now_hash[br_sha256_SIZE];

	token_hash(u->refresh_token, now_hash);
	if (memcmp(now_hash, o->spent_hash, sizeof(now_hash)) != 0)
		return EXO_ERR_CANCELLED;	/* replaced meanwhile */
	token_set_state(u, &o->oauth);
	u->refresh_token_rejected = 1;
	return 0;
}

/* ---- the refresh itself, without m->mu ---- */

/* Takes the refresh lock, waiting at most TOKEN_WAIT_MAX_MS. */
static int
token_lock(struct token_mgr *m, struct plat_lock **lock,
    struct exo_error *e)
{
	int64_t	deadline = plat_now_ms() + TOKEN_WAIT_MAX_MS;
	int	r;

	for (;;) {
		r = plat_lock_acquire(m->lock_path, 0, lock, e);
		if (r != EXO_ERR_LOCKED)
			return r;
		if (plat_now_ms() >= deadline)
			return err_set(e, EXO_ERR_TRANSIENT, "another "
			    "exoconnect process held the token refresh lock "
			    "%s for %d s", m->lock_path,
			    TOKEN_WAIT_MAX_MS / 1000);
		plat_sleep_ms(TOKEN_LOCK_POLL_MS);
	}
}

/* Error for a user whose refresh token the token service rejected. */
static int
token_dead_error(const struct user *u, struct exo_error *e)
{
	if (u->state == USER_CONFIG_ERROR)
		return err_set(e, EXO_ERR_CONFIG, "token refresh for %s "
		    "failed because of the settings or the app registration "
		    "(%s): %s", u->login, u->state_code, u->state_reason);
	if (u->state == USER_CONSENT_REQUIRED)
		return err_set(e, EXO_ERR_SIGNIN, "mailbox %s needs an "
		    "administrator's consent for the app (%s): %s", u->mailbox,
		    u->state_code, u->state_reason);
	return err_set(e, EXO_ERR_SIGNIN, "mailbox %s must be signed in "
	    "again by the administrator (%s): %s", u->mailbox,
	    u->state_code[0] != '\0' ? u->state_code : "refresh token "
	    "rejected", u->state_reason);
}

static void
token_refresh_failed(struct token_mgr *m, const char *login,
    struct token_outcome *o)
{
	struct exo_error	e;
	int			code = oauth_failure_code(&o->oauth);

	if (code == EXO_ERR_TRANSIENT) {
		err_set(&o->error, code, "the OAuth token service is "
		    "unavailable for %s: %s", login, o->oauth.description);
		o->result = code;
		return;
	}

	/* Sign-in, consent and settings failures go to the store, and the
	 * refresh token stays there, flagged. */
	err_clear(&e);
	if (userdb_update(m->db, login, token_store_failure, o, &e) == 0)
		ev_emit(EV_INFO, 0, "token.state", "User {login} is now in "
		    "state {state}", "login", login, "state",
		    user_state_name(token_state_of(o->oauth.kind)), NULL);
	token_set_state(&o->user, &o->oauth);
	o->result = token_dead_error(&o->user, &o->error);
}

/*
 * Turns a failure of the lock or the store in o->error into a transient
 * one, so it backs off and is reported like an unreachable service.
 */
static void
token_local_failure(const char *login, struct token_outcome *o)
{
	char	msg[EXO_ERROR_MSG_MAX];

	str_copy(msg, o->error.msg, sizeof(msg));
	o->oauth.kind = OAUTH_FAIL_TRANSIENT;
	str_copy(o->oauth.description, msg, sizeof(o->oauth.description));
	str_copy(o->oauth.advice, "Check that the data folder is writable "
	    "and has free space.", sizeof(o->oauth.advice));
	o->result = err_set(&o->error, EXO_ERR_TRANSIENT, "the token store "
	    "of %s could not be read or written, so no new token is used: %s",
	    login, msg);
}

/* Runs one refresh for login and fills o. */
static void
token_refresh(struct token_mgr *m, const char *login,
    struct token_outcome *o)
{
	struct plat_lock	*lock = NULL;
	int			 r;

	memset(&o->oauth, 0, sizeof(o->oauth));
	o->oauth.retry_after = -1;
	if ((r = token_lock(m, &lock, &o->error)) != 0 ||
	    (r = token_read_user(m, login, o, &o->error)) != 0) {
		if (r == EXO_ERR_NOTFOUND)
			o->result = err_set(&o->error, r, "no user named %s",
			    login);
		else
			token_local_failure(login, o);
		goto out;
	}

	/* Another process, or an earlier run, found this token dead. */
	if (o->user.refresh_token[0] == '\0' ||
	    o->user.refresh_token_rejected) {
		if (o->user.refresh_token[0] == '\0' &&
		    o->user.state_code[0] == '\0')
			str_copy(o->user.state_reason, "the user has no "
			    "refresh token yet", sizeof(o->user.state_reason));
		token_hash(o->user.refresh_token, o->spent_hash);
		o->result = token_dead_error(&o->user, &o->error);
		o->oauth.kind = OAUTH_FAIL_SIGNIN;
		goto out;
	}

	token_hash(o->user.refresh_token, o->spent_hash);
	r = oauth_refresh(&m->oauth, o->user.refresh_token, &o->tokens,
	    &o->oauth);
	if (r != 0) {
		token_refresh_failed(m, login, o);
		goto out;
	}

	/* The rotated refresh token must be on disk before the access token
	 * is used, or a crash could lose it. */
	if ((r = userdb_update(m->db, login, token_store_success, o,
	    &o->error)) != 0) {
		oauth_tokens_wipe(&o->tokens);
		token_local_failure(login, o);
		goto out;
	}
	o->result = 0;
out:
	plat_lock_release(lock);
}

/* ---- results, backoff and events (with m->mu held) ---- */

static void
token_apply_transient(struct token_entry *t, const struct token_outcome *o)
{
	int	wait;

	t->backoff_s = t->backoff_s == 0 ? TOKEN_BACKOFF_MIN :
	    t->backoff_s * 2;
	if (t->backoff_s > TOKEN_BACKOFF_MAX)
		t->backoff_s = TOKEN_BACKOFF_MAX;
	wait = t->backoff_s;
	if (o->oauth.retry_after > wait)
		wait = o->oauth.retry_after < TOKEN_RETRY_AFTER_MAX ?
		    o->oauth.retry_after : TOKEN_RETRY_AFTER_MAX;
	t->backoff_until_ms = plat_now_ms() + (int64_t)wait * 1000;
}

/* Emits the failure once per change of kind and code. */
static void
token_event_failure(struct token_entry *t, const struct token_outcome *o)
{
	char	code[32], status[16], retry[16];
	int	changed;

	changed = t->event_kind != o->oauth.kind ||
	    t->event_code != o->oauth.code;
	t->event_kind = o->oauth.kind;
	t->event_code = o->oauth.code;
	if (o->oauth.code != 0)
		snprintf(code, sizeof(code), "AADSTS%lld", o->oauth.code);
	else
		str_copy(code, o->oauth.error, sizeof(code));
	snprintf(status, sizeof(status), "%d", o->oauth.http_status);
	snprintf(retry, sizeof(retry), "%d", t->backoff_s);
	ev_emit(changed ? EV_WARN : EV_DEBUG, 0, "token.refresh_failed",
	    "Token refresh for {login} failed: {reason}", "login", t->login,
	    "reason", o->oauth.description, "kind",
	    o->oauth.kind == OAUTH_FAIL_TRANSIENT ? "transient" :
	    o->oauth.kind == OAUTH_FAIL_CONSENT ? "consent" :
	    o->oauth.kind == OAUTH_FAIL_CONFIG ? "config" :
	    o->oauth.kind == OAUTH_FAIL_BLOCKED ? "blocked" : "signin",
	    "code", code, "http_status", status, "advice", o->oauth.advice,
	    "backoff_s", o->oauth.kind == OAUTH_FAIL_TRANSIENT ? retry : NULL,
	    NULL);
}

static void
token_apply(struct token_entry *t, struct token_outcome *o)
{
	char	expires[32];

	t->result = o->result;
	t->last_error = o->error;
	if (o->copied) {
		str_copy(t->mailbox, o->user.mailbox, sizeof(t->mailbox));
		t->personal = o->user.personal;
	}
	if (o->result == 0) {
		str_copy(t->access_token, o->tokens.access_token,
		    sizeof(t->access_token));
		t->expires_at = o->tokens.expires_at;
		t->refreshed_ms = plat_now_ms();
		t->backoff_s = 0;
		t->backoff_until_ms = 0;
		t->dead = 0;
		if (t->event_kind != OAUTH_FAIL_NONE)
			ev_emit(EV_INFO, 0, "token.recovered", "Token refresh "
			    "for {login} works again", "login", t->login,
			    NULL);
		t->event_kind = OAUTH_FAIL_NONE;
		t->event_code = 0;
		snprintf(expires, sizeof(expires), "%lld",
		    (long long)(o->tokens.expires_at - plat_wall_time()));
		ev_emit(EV_DEBUG, 0, "token.refreshed", "Refreshed the access "
		    "token of {login}", "login", t->login, "mailbox",
		    t->mailbox, "expires_in", expires, NULL);
		return;
	}
	if (o->result == EXO_ERR_SIGNIN || o->result == EXO_ERR_CONFIG) {
		t->dead = 1;
		memcpy(t->dead_hash, o->spent_hash, sizeof(t->dead_hash));
		t->dead_error = o->error;
	} else if (o->result == EXO_ERR_TRANSIENT)
		token_apply_transient(t, o);
	if (o->oauth.kind != OAUTH_FAIL_NONE)
		token_event_failure(t, o);
}

/* ---- the public calls ---- */

/*
 * Returns the result of a failed refresh. Within the early refresh
 * window, the old token still works while the token service is down.
 */
static int
token_failed(struct token_entry *t, int force, struct token_lease *out,
    struct exo_error *e)
{
	if (t->result == EXO_ERR_TRANSIENT && !force &&
	    t->access_token[0] != '\0' && t->expires_at > plat_wall_time())
		return token_lease_fill(t, 0, out);
	if (e != NULL)
		*e = t->last_error;
	return t->result;
}

/* Waits for the refresh in flight and shares its result. */
static int
token_wait(struct token_mgr *m, struct token_entry *t, int force,
    struct token_lease *out, struct exo_error *e)
{
	unsigned long	gen = t->generation;
	int64_t		deadline = plat_now_ms() + TOKEN_WAIT_MAX_MS;
	int64_t		left;

	while (t->refreshing && t->generation == gen) {
		if ((left = deadline - plat_now_ms()) <= 0)
			return err_set(e, EXO_ERR_TIMEOUT, "waited %d s for "
			    "the token refresh of %s", TOKEN_WAIT_MAX_MS / 1000,
			    t->login);
		/* Wake each second so the deadline follows the monotonic
		 * clock even when no broadcast comes. */
		plat_cond_wait(m->cond, m->mu, left < 1000 ? (int)left : 1000);
	}
	if (t->result != 0)
		return token_failed(t, force, out, e);
	return token_lease_fill(t, 1, out);
}

/*
 * Decides from the entry alone: returns 1 when a refresh is needed, or
 * the result (0 with a lease, or an error). Called with m->mu held.
 */
static int
token_decide(struct token_mgr *m, struct token_entry *t, int force,
    struct token_lease *out, struct exo_error *e)
{
	int64_t	now = plat_now_ms(), wall = plat_wall_time();
	int	valid = t->access_token[0] != '\0' && t->expires_at > wall;

	if (t->reject_until_ms > now)
		return err_set(e, EXO_ERR_UPSTREAM, "Exchange refused the "
		    "OAuth login for %s recently; the next attempt is in "
		    "%lld s", t->mailbox[0] != '\0' ? t->mailbox : t->login,
		    (long long)((t->reject_until_ms - now + 999) / 1000));
	if (force && valid && t->refreshed_ms != 0 &&
	    now - t->refreshed_ms < TOKEN_FORCE_REUSE_MS)
		return token_lease_fill(t, 1, out);
	if (!force && valid && t->expires_at - TOKEN_EARLY_REFRESH > wall)
		return token_lease_fill(t, 0, out);
	if (t->backoff_until_ms > now) {
		if (valid && !force)
			return token_lease_fill(t, 0, out);
		return err_set(e, EXO_ERR_TRANSIENT, "OAuth token service "
		    "unavailable for %s; the next attempt is in %lld s (%s)",
		    t->login, (long long)((t->backoff_until_ms - now + 999) /
		    1000), t->last_error.msg);
	}
	(void)m;
	return 1;
}

/* Returns 1 when the store still contains the refresh token found dead. */
static int
token_still_dead(struct token_mgr *m, struct token_entry *t)
{
	struct user		*u;
	unsigned char		 hash[br_sha256_SIZE];
	int			 dead = 0;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return 1;
	if (userdb_get(m->db, t->login, u, NULL) == 0) {
		token_hash(u->refresh_token, hash);
		dead = memcmp(hash, t->dead_hash, sizeof(hash)) == 0;
	}
	user_wipe(u);
	free(u);
	return dead;
}

int
token_get(struct token_mgr *m, const char *login, int force,
    struct token_lease *out, struct exo_error *e)
{
	struct token_entry	*t;
	struct token_outcome	*o;
	int			 r;

	memset(out, 0, sizeof(*out));
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");

	/* Entries are made for stored users only, so unknown logins cannot
	 * grow the table. */
	plat_mutex_lock(m->mu);
	t = token_entry_find(m, login);
	plat_mutex_unlock(m->mu);
	if (t == NULL && userdb_get(m->db, login, &o->user, NULL) != 0) {
		r = err_set(e, EXO_ERR_NOTFOUND, "no user named %s", login);
		goto done;
	}

	plat_mutex_lock(m->mu);
	if ((t = token_entry_get(m, login)) == NULL) {
		r = err_set(e, EXO_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (t->refreshing) {
		r = token_wait(m, t, force, out, e);
		goto out;
	}
	if ((r = token_decide(m, t, force, out, e)) != 1)
		goto out;

	/* No refresh until an admin replaced the rejected refresh token. */
	if (t->dead && token_still_dead(m, t)) {
		if (e != NULL)
			*e = t->dead_error;
		r = t->dead_error.code;
		goto out;
	}

	t->refreshing = 1;
	plat_mutex_unlock(m->mu);
	token_refresh(m, login, o);
	plat_mutex_lock(m->mu);
	token_apply(t, o);
	t->refreshing = 0;
	t->generation++;
	plat_cond_broadcast(m->cond);
	if ((r = o->result) == 0)
		token_lease_fill(t, 1, out);
	else
		r = token_failed(t, force, out, e);
out:
	plat_mutex_unlock(m->mu);
done:
	oauth_tokens_wipe(&o->tokens);
	user_wipe(&o->user);
	plat_wipe(o, sizeof(*o));
	free(o);
	return r;
}

struct token_reject_ctx {
	const char	*code;
	const char	*reason;
};

static int
token_store_rejected(struct user *u, void *ctx)
{
	struct token_reject_ctx	*c = ctx;

	u->state = USER_UPSTREAM_REJECTED;
	str_copy(u->state_code, c->code != NULL ? c->code : "",
	    sizeof(u->state_code));
	str_copy(u->state_reason, c->reason != NULL ? c->reason : "",
	    sizeof(u->state_reason));
	return 0;
}

void
token_report_rejected(struct token_mgr *m, const char *login,
    const char *code, const char *reason)
{
	struct token_reject_ctx	 ctx = { code, reason };
	struct token_entry	*t;
	char			 wait[16];

	plat_mutex_lock(m->mu);
	if ((t = token_entry_get(m, login)) != NULL) {
		t->reject_s = t->reject_s == 0 ? TOKEN_REJECT_MIN :
		    t->reject_s * 2;
		if (t->reject_s > TOKEN_REJECT_MAX)
			t->reject_s = TOKEN_REJECT_MAX;
		t->reject_until_ms = plat_now_ms() +
		    (int64_t)t->reject_s * 1000;
		snprintf(wait, sizeof(wait), "%d", t->reject_s);
	}
	plat_mutex_unlock(m->mu);
	if (t == NULL)
		return;
	userdb_update(m->db, login, token_store_rejected, &ctx, NULL);
	ev_emit(EV_WARN, 0, "token.upstream_rejected", "Exchange refused the "
	    "OAuth login of {login}; next attempt in {backoff_s} s", "login",
	    login, "code", code, "reason", reason, "backoff_s", wait, NULL);
}

static int
token_store_ok(struct user *u, void *ctx)
{
	(void)ctx;
	plat_wipe(u->refresh_token_reserve, sizeof(u->refresh_token_reserve));
	if (u->state == USER_UPSTREAM_REJECTED || u->state == USER_OK) {
		u->state = USER_OK;
		u->state_code[0] = '\0';
		u->state_reason[0] = '\0';
	}
	return 0;
}

void
token_report_success(struct token_mgr *m, const char *login)
{
	struct token_entry	*t;
	struct user		*u;
	int			 write = 0;

	plat_mutex_lock(m->mu);
	if ((t = token_entry_find(m, login)) != NULL) {
		t->reject_s = 0;
		t->reject_until_ms = 0;
	}
	plat_mutex_unlock(m->mu);

	/* Write only when something changes, not on every login. */
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return;
	if (userdb_get(m->db, login, u, NULL) == 0)
		write = u->refresh_token_reserve[0] != '\0' ||
		    u->state == USER_UPSTREAM_REJECTED;
	user_wipe(u);
	free(u);
	if (write)
		userdb_update(m->db, login, token_store_ok, NULL, NULL);
}

void
token_forget(struct token_mgr *m, const char *login)
{
	struct token_entry	*t;

	plat_mutex_lock(m->mu);
	if ((t = token_entry_find(m, login)) != NULL) {
		plat_wipe(t->access_token, sizeof(t->access_token));
		t->expires_at = 0;
		t->refreshed_ms = 0;
		t->backoff_s = 0;
		t->backoff_until_ms = 0;
		t->dead = 0;
		t->reject_s = 0;
		t->reject_until_ms = 0;
		t->event_kind = OAUTH_FAIL_NONE;
		t->event_code = 0;
	}
	plat_mutex_unlock(m->mu);
}

void
token_keepalive(struct token_mgr *m)
{
	struct user		*users = NULL;
	struct token_lease	*lease;
	size_t			 n = 0, i;
	int64_t			 now = plat_wall_time();

	if (userdb_list(m->db, &users, &n, NULL) != 0)
		return;
	if ((lease = malloc(sizeof(*lease))) == NULL) {
		userdb_free_list(users, n);
		return;
	}
	for (i = 0; i < n; i++) {
		if (users[i].refresh_token[0] == '\0' ||
		    users[i].refresh_token_rejected ||
		    now - users[i].last_refresh < TOKEN_KEEPALIVE)
			continue;
		/* Failures are reported by the refresh itself. */
		token_get(m, users[i].login, 1, lease, NULL);
		token_lease_wipe(lease);
	}
	free(lease);
	userdb_free_list(users, n);
}

void
token_lease_wipe(struct token_lease *l)
{
	plat_wipe(l, sizeof(*l));
}
