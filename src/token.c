/*
 * token.c: the token manager. One entry per login keeps the access token
 * in memory, the single refresh in flight and the backoff state.
 *
 * Order of a refresh: take the refresh lock (a file in the data folder,
 * shared by every exoconnect process), read the user's refresh token
 * from the store, send the refresh, write the rotated refresh token with
 * userdb_update, release the lock, and only then hand out the access
 * token. A crash at any point leaves a refresh token on disk that the
 * token service still accepts. When the write fails, the rotated refresh
 * token waits in memory (entry->pending) and only the write is retried:
 * the spent one is never sent again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "event.h"
#include "i18n.h"
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
#define TOKEN_CONFIG_MIN 300		/* seconds, after a settings failure */
#define TOKEN_CONFIG_MAX 3600
/* The refresh lock is waited for at most this long, so that the lock and
 * the token request together stay below TOKEN_WAIT_MAX_MS. */
#define TOKEN_LOCK_WAIT_MS (TOKEN_WAIT_MAX_MS - OAUTH_REQUEST_MAX_MS - 1000)
/* How often token_keepalive looks for idle users. */
#define TOKEN_KEEPALIVE_SCAN_MS (3600 * 1000)
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
	char		 transient[USER_REASON_MAX];	/* the last one */

	/* Sign-in or consent failure: the refresh token is flagged. */
	int		 dead;
	unsigned char	 dead_hash[br_sha256_SIZE];	/* also of config */
	struct exo_error dead_error;

	/* Settings failure: the token stays usable, retried after this. */
	int		 config_s;
	int64_t		 config_until_ms;

	/* Logins refused since the reason above was reported. */
	unsigned long	 refused;

	/* Rotated tokens whose write failed, and the hash of the spent one. */
	struct oauth_tokens *pending;
	unsigned char	 pending_hash[br_sha256_SIZE];

	/* Exchange refused a fresh token (token_report_rejected). */
	int		 reject_s[TOKEN_PROTOS];
	int64_t		 reject_until_ms[TOKEN_PROTOS];

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
	int64_t			 next_scan_ms;	/* of token_keepalive */
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
	int			 admin;		/* token_test: no flag check */
	int			 saving;	/* only write tokens (pending) */
	int			 stale;		/* pending, but store replaced */
	int			 save_failed;	/* tokens came, write failed */
};

static void
token_pending_free(struct token_entry *t)
{
	if (t->pending == NULL)
		return;
	oauth_tokens_wipe(t->pending);
	free(t->pending);
	t->pending = NULL;
}

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
		token_pending_free(t);
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
	struct buf	 reason;
	const char	*desc;
	size_t		 len;

	u->state = token_state_of(err->kind);
	if (err->code != 0)
		snprintf(u->state_code, sizeof(u->state_code), "AADSTS%lld",
		    err->code);
	else
		str_copy(u->state_code, err->error, sizeof(u->state_code));
	/* The code is in state_code, so the description goes without its
	 * "AADSTS70043: " prefix, and without a second full stop. */
	desc = err->description;
	len = strlen(u->state_code);
	if (len > 0 && strncmp(desc, u->state_code, len) == 0 &&
	    strncmp(desc + len, ": ", 2) == 0)
		desc += len + 2;
	len = strlen(desc);
	buf_init(&reason);
	if (buf_printf(&reason, "%s%s%s", desc, len == 0 ? "" :
	    desc[len - 1] == '.' ? " " : ". ", err->advice) == 0)
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
	/* A settings failure does not show that the token itself is bad. */
	if (o->oauth.kind != OAUTH_FAIL_CONFIG)
		u->refresh_token_rejected = 1;
	return 0;
}

/*
 * Returns 1 for a flag that an earlier version set after a settings
 * failure: such a refresh token was never rejected and is used again.
 * Conditional access (53003) also leads to CONFIG_ERROR, and stays.
 */
static int
token_flag_stale(const struct user *u)
{
	return u->refresh_token_rejected && u->state == USER_CONFIG_ERROR &&
	    strcmp(u->state_code, "AADSTS53003") != 0;
}

/* ---- the refresh itself, without m->mu ---- */

/* Takes the refresh lock, waiting at most TOKEN_WAIT_MAX_MS. */
static int
token_lock(struct token_mgr *m, struct plat_lock **lock,
    struct exo_error *e)
{
	int64_t	deadline = plat_now_ms() + TOKEN_LOCK_WAIT_MS;
	int	r;

	for (;;) {
		r = plat_lock_acquire(m->lock_path, 0, lock, e);
		if (r != EXO_ERR_LOCKED)
			return r;
		if (plat_now_ms() >= deadline)
			return err_set(e, EXO_ERR_TRANSIENT, "another "
			    "exoconnect process held the token refresh lock "
			    "%s for %d s", m->lock_path,
			    TOKEN_LOCK_WAIT_MS / 1000);
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

	/* Sign-in, consent and settings failures go to the store. The
	 * refresh token stays there, flagged unless the settings failed. */
	err_clear(&e);
	if (userdb_update(m->db, login, token_store_failure, o, &e) == 0 &&
	    o->user.state != token_state_of(o->oauth.kind))
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
	struct exo_error	inner = o->error;

	o->oauth.kind = OAUTH_FAIL_TRANSIENT;
	str_copy(o->oauth.description, inner.msg,
	    sizeof(o->oauth.description));
	str_copy(o->oauth.advice, N_("Check that the data folder is "
	    "writable and has free space."), sizeof(o->oauth.advice));
	o->result = err_wrap(&o->error, EXO_ERR_TRANSIENT, &inner, "the "
	    "token store of %s could not be read or written, so no new token "
	    "is used: %s", login, inner.msg);
}

/* Runs one refresh for login and fills o. */
static void
token_refresh(struct token_mgr *m, const char *login,
    struct token_outcome *o)
{
	struct plat_lock	*lock = NULL;
	unsigned char		 hash[br_sha256_SIZE];
	int			 r;

	memset(&o->oauth, 0, sizeof(o->oauth));
	o->oauth.retry_after = -1;
	if ((r = token_lock(m, &lock, &o->error)) != 0 ||
	    (r = token_read_user(m, login, o, &o->error)) != 0) {
		if (r == EXO_ERR_NOTFOUND) {
			o->result = err_set(&o->error, r, "no user named %s",
			    login);
			o->stale = o->saving;	/* the user was deleted */
		} else
			token_local_failure(login, o);
		goto out;
	}

	/* A write of rotated tokens only, with no request, unless a new
	 * sign-in replaced the stored token meanwhile. */
	if (o->saving) {
		token_hash(o->user.refresh_token, hash);
		if (memcmp(hash, o->spent_hash, sizeof(hash)) == 0)
			goto store;
		o->saving = 0;
		o->stale = 1;
		oauth_tokens_wipe(&o->tokens);
	}

	/* Another process, or an earlier run, found this token dead. The
	 * admin's test sends it anyway. */
	if (o->user.refresh_token[0] == '\0' || (!o->admin &&
	    o->user.refresh_token_rejected && !token_flag_stale(&o->user))) {
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
store:
	if ((r = userdb_update(m->db, login, token_store_success, o,
	    &o->error)) != 0) {
		o->save_failed = 1;
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

	/* For the admin's list: name the endpoint and the status. A 5xx
	 * with an OAuth error in JSON describes only the JSON. */
	if (strncmp(o->oauth.description, "HTTP status ", 12) == 0)
		snprintf(t->transient, sizeof(t->transient), "the token "
		    "endpoint returned %.400s", o->oauth.description + 5);
	else if (o->oauth.http_status > 0)
		snprintf(t->transient, sizeof(t->transient), "the token "
		    "endpoint returned status %d: %.400s",
		    o->oauth.http_status, o->oauth.description);
	else
		str_copy(t->transient, o->oauth.description,
		    sizeof(t->transient));
}

/* Settings failures back off 5 min, doubling to 1 h. */
static void
token_apply_config(struct token_entry *t)
{
	t->config_s = t->config_s == 0 ? TOKEN_CONFIG_MIN : t->config_s * 2;
	if (t->config_s > TOKEN_CONFIG_MAX)
		t->config_s = TOKEN_CONFIG_MAX;
	t->config_until_ms = plat_now_ms() + (int64_t)t->config_s * 1000;
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
	snprintf(retry, sizeof(retry), "%d",
	    o->oauth.kind == OAUTH_FAIL_CONFIG ? t->config_s : t->backoff_s);
	ev_emit(changed ? EV_WARN : EV_DEBUG, 0, "token.refresh_failed",
	    "Token refresh for {login} failed: {reason}", "login", t->login,
	    "reason", o->oauth.description, "kind",
	    o->oauth.kind == OAUTH_FAIL_TRANSIENT ? "transient" :
	    o->oauth.kind == OAUTH_FAIL_CONSENT ? "consent" :
	    o->oauth.kind == OAUTH_FAIL_CONFIG ? "config" :
	    o->oauth.kind == OAUTH_FAIL_BLOCKED ? "blocked" : "signin",
	    "code", code, "http_status", status, EV_MSGID("advice"),
	    o->oauth.advice,
	    "backoff_s", o->oauth.kind == OAUTH_FAIL_TRANSIENT ||
	    o->oauth.kind == OAUTH_FAIL_CONFIG ? retry : NULL, NULL);
}

/*
 * Keeps rotated tokens whose write failed. The first failure is logged
 * as a warning, the retries only at debug level.
 */
static void
token_keep_pending(struct token_mgr *m, struct token_entry *t,
    struct token_outcome *o)
{
	int	first = t->pending == NULL;

	if (first && (t->pending = malloc(sizeof(*t->pending))) == NULL) {
		ev_emit(EV_ERROR, 0, "token.lost", "Out of memory: the new "
		    "refresh token of {login} is lost, and the user must sign "
		    "in again", "login", t->login, NULL);
		return;
	}
	if (first) {
		*t->pending = o->tokens;
		memcpy(t->pending_hash, o->spent_hash,
		    sizeof(t->pending_hash));
	}
	ev_emit(first ? EV_WARN : EV_DEBUG, 0, "token.save_failed",
	    "The new refresh token for {login} could not be saved: {error}; "
	    "it is kept in memory until it can be saved, and a restart "
	    "before then loses it, so the user must sign in again; free disk "
	    "space on {dir}", "login", t->login, "error",
	    o->oauth.description, "dir", m->settings->data_dir, NULL);
}

static void
token_apply_success(struct token_entry *t, struct token_outcome *o)
{
	char	expires[32];

	str_copy(t->access_token, o->tokens.access_token,
	    sizeof(t->access_token));
	t->expires_at = o->tokens.expires_at;
	t->refreshed_ms = plat_now_ms();
	t->backoff_s = 0;
	t->backoff_until_ms = 0;
	t->transient[0] = '\0';
	t->config_s = 0;
	t->config_until_ms = 0;
	t->dead = 0;
	if (t->pending != NULL) {
		token_pending_free(t);
		ev_emit(EV_INFO, 0, "token.saved", "The new refresh token for "
		    "{login} is saved now", "login", t->login, NULL);
	}
	if (t->event_kind != OAUTH_FAIL_NONE)
		ev_emit(EV_INFO, 0, "token.recovered", "Token refresh for "
		    "{login} works again", "login", t->login, NULL);
	t->event_kind = OAUTH_FAIL_NONE;
	t->event_code = 0;
	snprintf(expires, sizeof(expires), "%lld",
	    (long long)(o->tokens.expires_at - plat_wall_time()));
	ev_emit(EV_DEBUG, 0, "token.refreshed", "Refreshed the access token "
	    "of {login}", "login", t->login, "mailbox", t->mailbox,
	    "expires_in", expires, NULL);
}

static void
token_apply(struct token_mgr *m, struct token_entry *t,
    struct token_outcome *o)
{
	t->result = o->result;
	t->last_error = o->error;
	if (o->copied) {
		str_copy(t->mailbox, o->user.mailbox, sizeof(t->mailbox));
		t->personal = o->user.personal;
	}
	if (o->stale)
		token_pending_free(t);
	if (o->result == 0) {
		token_apply_success(t, o);
		return;
	}
	if (o->save_failed && o->tokens.refresh_token[0] != '\0')
		token_keep_pending(m, t, o);
	if (o->result == EXO_ERR_SIGNIN || o->result == EXO_ERR_CONFIG) {
		memcpy(t->dead_hash, o->spent_hash, sizeof(t->dead_hash));
		t->dead_error = o->error;
		t->refused = 0;
		if (o->oauth.kind == OAUTH_FAIL_CONFIG)
			token_apply_config(t);
		else
			t->dead = 1;
	} else if (o->result == EXO_ERR_TRANSIENT)
		token_apply_transient(t, o);
	if (o->oauth.kind != OAUTH_FAIL_NONE && !o->saving)
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

/* Returns EXO_ERR_UPSTREAM while proto backs off after a refusal. */
static int
token_check_rejected(struct token_entry *t, enum token_proto proto,
    struct exo_error *e)
{
	int64_t	now = plat_now_ms();

	if (t->reject_until_ms[proto] <= now)
		return 0;
	return err_set(e, EXO_ERR_UPSTREAM, "Exchange refused the %s OAuth "
	    "login for %s recently; the next attempt is in %lld s",
	    proto == TOKEN_POP3 ? "POP3" : "SMTP",
	    t->mailbox[0] != '\0' ? t->mailbox : t->login,
	    (long long)((t->reject_until_ms[proto] - now + 999) / 1000));
}

/*
 * Decides from the entry alone: returns 1 when a refresh is needed, or
 * the result (0 with a lease, or an error). Called with m->mu held.
 */
static int
token_decide(struct token_entry *t, int force, struct token_lease *out,
    struct exo_error *e)
{
	int64_t	now = plat_now_ms(), wall = plat_wall_time();
	int	valid = t->access_token[0] != '\0' && t->expires_at > wall;

	if (force && valid && t->refreshed_ms != 0 &&
	    now - t->refreshed_ms < TOKEN_FORCE_REUSE_MS)
		return token_lease_fill(t, 1, out);
	if (!force && valid && t->expires_at - TOKEN_EARLY_REFRESH > wall)
		return token_lease_fill(t, 0, out);
	if (t->backoff_until_ms > now) {
		if (valid && !force)
			return token_lease_fill(t, 0, out);
		return err_wrap(e, EXO_ERR_TRANSIENT, &t->last_error, "OAuth "
		    "token service unavailable for %s; the next attempt is in "
		    "%lld s (%s)", t->login, (long long)((t->backoff_until_ms -
		    now + 999) / 1000), t->last_error.msg);
	}
	return 1;
}

/*
 * Returns 1 when the store still holds the refresh token found dead or
 * failing, and, for a settings failure, the user is still in
 * CONFIG_ERROR (a `user test` elsewhere may have cleared it).
 */
static int
token_still_dead(struct token_mgr *m, struct token_entry *t, int config)
{
	struct user		*u;
	unsigned char		 hash[br_sha256_SIZE];
	int			 dead = 0;

	if ((u = calloc(1, sizeof(*u))) == NULL)
		return 1;
	if (userdb_get(m->db, t->login, u, NULL) == 0) {
		token_hash(u->refresh_token, hash);
		dead = memcmp(hash, t->dead_hash, sizeof(hash)) == 0;
		if (config && u->state != USER_CONFIG_ERROR)
			dead = 0;
	}
	user_wipe(u);
	free(u);
	return dead;
}

/*
 * Refuses a login while the reason is known and was logged: the message
 * counts the refused logins instead of repeating the reason.
 */
static int
token_refused(struct token_entry *t, struct exo_error *e)
{
	t->refused++;
	return err_set(e, t->dead_error.code, "no token for mailbox %s until "
	    "an administrator acts; %lu logins refused since the reason was "
	    "logged (`exoconnect user list` shows it)",
	    t->mailbox[0] != '\0' ? t->mailbox : t->login, t->refused);
}

/*
 * Returns 1 when a refresh is needed, or the result. Called with m->mu
 * held and no refresh in flight.
 */
static int
token_prepare(struct token_mgr *m, struct token_entry *t, int force,
    struct token_outcome *o, struct token_lease *out, struct exo_error *e)
{
	int	r;

	/* Rotated tokens wait for their write: only that is retried. */
	if (t->pending != NULL) {
		o->saving = 1;
		o->tokens = *t->pending;
		memcpy(o->spent_hash, t->pending_hash, sizeof(o->spent_hash));
		return 1;
	}
	if (o->admin)
		return 1;
	if ((r = token_decide(t, force, out, e)) != 1)
		return r;

	/* No refresh until an admin replaced the rejected refresh token. */
	if (t->dead && token_still_dead(m, t, 0))
		return token_refused(t, e);
	if (t->config_until_ms > plat_now_ms()) {
		if (token_still_dead(m, t, 1))
			return token_refused(t, e);
		t->config_until_ms = 0;
	}
	return 1;
}

static int
token_get_entry(struct token_mgr *m, const char *login, int proto,
    int force, int admin, struct token_lease *out, struct exo_error *e)
{
	struct token_entry	*t;
	struct token_outcome	*o;
	int			 r;

	memset(out, 0, sizeof(*out));
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	o->admin = admin;

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
	if (proto >= 0 && (r = token_check_rejected(t, proto, e)) != 0)
		goto out;
	if (t->refreshing) {
		r = token_wait(m, t, force, out, e);
		goto out;
	}
	if ((r = token_prepare(m, t, force, o, out, e)) != 1)
		goto out;

	t->refreshing = 1;
	plat_mutex_unlock(m->mu);
	token_refresh(m, login, o);
	plat_mutex_lock(m->mu);
	token_apply(m, t, o);
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

int
token_get(struct token_mgr *m, const char *login, int force,
    struct token_lease *out, struct exo_error *e)
{
	return token_get_entry(m, login, -1, force, 0, out, e);
}

int
token_get_proto(struct token_mgr *m, enum token_proto proto,
    const char *login, int force, struct token_lease *out,
    struct exo_error *e)
{
	return token_get_entry(m, login, (int)proto, force, 0, out, e);
}

int
token_test(struct token_mgr *m, const char *login, struct token_lease *out,
    struct exo_error *e)
{
	return token_get_entry(m, login, -1, 1, 1, out, e);
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
    enum token_proto proto, const char *code, const char *reason)
{
	struct token_reject_ctx	 ctx = { code, reason };
	struct token_entry	*t;
	char			 wait[16];

	plat_mutex_lock(m->mu);
	if ((t = token_entry_get(m, login)) != NULL) {
		t->reject_s[proto] = t->reject_s[proto] == 0 ?
		    TOKEN_REJECT_MIN : t->reject_s[proto] * 2;
		if (t->reject_s[proto] > TOKEN_REJECT_MAX)
			t->reject_s[proto] = TOKEN_REJECT_MAX;
		t->reject_until_ms[proto] = plat_now_ms() +
		    (int64_t)t->reject_s[proto] * 1000;
		snprintf(wait, sizeof(wait), "%d", t->reject_s[proto]);
	}
	plat_mutex_unlock(m->mu);
	if (t == NULL)
		return;
	userdb_update(m->db, login, token_store_rejected, &ctx, NULL);
	ev_emit(EV_WARN, 0, "token.upstream_rejected", "Exchange refused the "
	    "{protocol} OAuth login of {login}; next {protocol} attempt in "
	    "{backoff_s} s", "protocol", proto == TOKEN_POP3 ? "POP3" : "SMTP",
	    "login", login, "code", code, "reason", reason, "backoff_s", wait,
	    NULL);
}

static int
token_store_ok(struct user *u, void *ctx)
{
	int	clear_state = *(int *)ctx;

	plat_wipe(u->refresh_token_reserve, sizeof(u->refresh_token_reserve));
	if (u->state == USER_OK || (clear_state &&
	    u->state == USER_UPSTREAM_REJECTED)) {
		u->state = USER_OK;
		u->state_code[0] = '\0';
		u->state_reason[0] = '\0';
	}
	return 0;
}

void
token_report_success(struct token_mgr *m, const char *login,
    enum token_proto proto)
{
	struct token_entry	*t;
	struct user		*u;
	int			 write = 0, clear_state = 1, p;

	plat_mutex_lock(m->mu);
	if ((t = token_entry_find(m, login)) != NULL) {
		t->reject_s[proto] = 0;
		t->reject_until_ms[proto] = 0;
		/* The state stays while the other protocol is refused. */
		for (p = 0; p < TOKEN_PROTOS; p++)
			if (t->reject_until_ms[p] > plat_now_ms())
				clear_state = 0;
	}
	plat_mutex_unlock(m->mu);

	/* Write only when something changes, not on every login. */
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return;
	if (userdb_get(m->db, login, u, NULL) == 0)
		write = u->refresh_token_reserve[0] != '\0' || (clear_state &&
		    u->state == USER_UPSTREAM_REJECTED);
	user_wipe(u);
	free(u);
	if (write)
		userdb_update(m->db, login, token_store_ok, &clear_state, NULL);
}

int
token_pop3_get(struct token_mgr *m, const char *login, int force,
    struct token_lease *out, struct exo_error *e)
{
	return token_get_proto(m, TOKEN_POP3, login, force, out, e);
}

void
token_pop3_rejected(struct token_mgr *m, const char *login,
    const char *code, const char *reason)
{
	token_report_rejected(m, login, TOKEN_POP3, code, reason);
}

void
token_pop3_success(struct token_mgr *m, const char *login)
{
	token_report_success(m, login, TOKEN_POP3);
}

void
token_status(struct token_mgr *m, const char *login,
    struct token_status *st)
{
	struct token_entry	*t;
	int64_t			 left;

	memset(st, 0, sizeof(*st));
	plat_mutex_lock(m->mu);
	if ((t = token_entry_find(m, login)) != NULL) {
		st->refreshing = t->refreshing;
		str_copy(st->reason, t->transient, sizeof(st->reason));
		left = t->backoff_until_ms - plat_now_ms();
		if (st->reason[0] != '\0' && left > 0)
			st->retry_in_s = (int)((left + 999) / 1000);
	}
	plat_mutex_unlock(m->mu);
}

void
token_forget(struct token_mgr *m, const char *login)
{
	struct token_entry	*t;
	int			 p;

	plat_mutex_lock(m->mu);
	if ((t = token_entry_find(m, login)) != NULL) {
		plat_wipe(t->access_token, sizeof(t->access_token));
		t->expires_at = 0;
		t->refreshed_ms = 0;
		t->backoff_s = 0;
		t->backoff_until_ms = 0;
		t->transient[0] = '\0';
		t->dead = 0;
		t->config_s = 0;
		t->config_until_ms = 0;
		for (p = 0; p < TOKEN_PROTOS; p++) {
			t->reject_s[p] = 0;
			t->reject_until_ms[p] = 0;
		}
		t->event_kind = OAUTH_FAIL_NONE;
		t->event_code = 0;
		/* Pending tokens stay: a password change must not lose them,
		 * and after a new sign-in the next write finds the stored
		 * token replaced and drops them. */
	}
	plat_mutex_unlock(m->mu);
}

/* Retries the writes of rotated tokens kept in memory. */
static void
token_save_pending(struct token_mgr *m, struct token_lease *lease)
{
	struct token_entry	*t;
	char			*logins = NULL;
	size_t			 n = 0, i;

	/* token_get takes m->mu itself: copy the logins first. */
	plat_mutex_lock(m->mu);
	for (t = m->entries; t != NULL; t = t->next)
		n += t->pending != NULL;
	if (n > 0 && (logins = calloc(n, USER_LOGIN_MAX)) != NULL) {
		i = 0;
		for (t = m->entries; t != NULL && i < n; t = t->next)
			if (t->pending != NULL)
				str_copy(logins + USER_LOGIN_MAX * i++,
				    t->login, USER_LOGIN_MAX);
	}
	plat_mutex_unlock(m->mu);
	if (logins == NULL)
		return;
	for (i = 0; i < n; i++) {
		token_get(m, logins + USER_LOGIN_MAX * i, 0, lease, NULL);
		token_lease_wipe(lease);
	}
	free(logins);
}

void
token_keepalive(struct token_mgr *m)
{
	struct user		*users = NULL;
	struct token_lease	*lease;
	size_t			 n = 0, i;
	int64_t			 now = plat_wall_time();

	if ((lease = malloc(sizeof(*lease))) == NULL)
		return;
	token_save_pending(m, lease);
	if (plat_now_ms() < m->next_scan_ms ||
	    userdb_list(m->db, &users, &n, NULL) != 0)
		goto out;
	m->next_scan_ms = plat_now_ms() + TOKEN_KEEPALIVE_SCAN_MS;
	for (i = 0; i < n; i++) {
		if (users[i].refresh_token[0] == '\0' ||
		    users[i].refresh_token_rejected ||
		    now - users[i].last_refresh < TOKEN_KEEPALIVE)
			continue;
		/* Failures are reported by the refresh itself. */
		token_get(m, users[i].login, 1, lease, NULL);
		token_lease_wipe(lease);
	}
	userdb_free_list(users, n);
out:
	free(lease);
}

void
token_lease_wipe(struct token_lease *l)
{
	plat_wipe(l, sizeof(*l));
}
