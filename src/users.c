/*
 * users.c: the user store, users.conf and secrets.dat.
 *
 * The file format and the file access are in users-file.c.
 *
 * A change takes the in-process mutex, then the file lock users.lock,
 * re-reads both files, changes one entry and writes secrets.dat before
 * users.conf (users.conf first when deleting), each atomically. If the
 * second write fails, both files are still complete: a new refresh token
 * is kept, and an entry in only one of the files is ignored on reading.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "i18n.h"
#include "plat.h"
#include "users-int.h"
#include "util.h"

#define USERS_CONF_NAME "users.conf"
#define USERS_SECRETS_NAME "secrets.dat"
#define USERS_LOCK_NAME "users.lock"
#define USERS_RECHECK_MS 1000	/* least time between two stats */

/* Names for people, by enum user_state. */
static const char *const users_state_names[] = {
	N_("valid"), N_("sign-in required"), N_("consent required"),
	N_("settings error"), N_("retrying"),
	N_("rejected by Exchange"), N_("refreshing"),
};

struct userdb {
	struct users_files	 files;
	char			 lock_path[PLAT_PATH_MAX];

	struct plat_mutex	*write_mutex;	/* one writer per process */
	struct plat_mutex	*cache_mutex;	/* guards the fields below */
	struct users_list	 cache;
	struct users_stamp	 conf_stamp, secrets_stamp;
	int64_t			 checked_ms;
	unsigned long		 generation;
};

/* Replaces the cache with l, which the cache then owns. */
static void
users_cache_set(struct userdb *db, struct users_list *l,
    const struct users_stamp *conf, const struct users_stamp *secrets)
{
	plat_mutex_lock(db->cache_mutex);
	users_list_free(&db->cache);
	db->cache = *l;
	db->conf_stamp = *conf;
	db->secrets_stamp = *secrets;
	db->checked_ms = plat_now_ms();
	db->generation++;
	plat_mutex_unlock(db->cache_mutex);
	memset(l, 0, sizeof(*l));
}

/*
 * Re-reads the files when their size or time changed, checking at most
 * once per USERS_RECHECK_MS. Called with cache_mutex held. A file that
 * no longer parses keeps the old cache, and its error goes to *failure
 * once per change of the files.
 */
static void
users_cache_refresh(struct userdb *db, struct exo_error *failure)
{
	struct users_stamp	 conf, secrets;
	struct users_list	 l;
	int64_t			 now = plat_now_ms();

	if (now - db->checked_ms < USERS_RECHECK_MS)
		return;
	db->checked_ms = now;
	users_stamp_of(db->files.conf, &conf);
	users_stamp_of(db->files.secrets, &secrets);
	if (users_stamp_equal(&conf, &db->conf_stamp) &&
	    users_stamp_equal(&secrets, &db->secrets_stamp))
		return;
	if (users_read_stable(&db->files, &l, &conf, &secrets, failure) != 0) {
		db->conf_stamp = conf;
		db->secrets_stamp = secrets;
		return;
	}
	users_list_free(&db->cache);
	db->cache = l;
	db->conf_stamp = conf;
	db->secrets_stamp = secrets;
	db->generation++;
}

/* Takes cache_mutex with the cache brought up to date. */
static void
users_cache_lock(struct userdb *db, struct exo_error *failure)
{
	err_clear(failure);
	plat_mutex_lock(db->cache_mutex);
	users_cache_refresh(db, failure);
}

/*
 * Releases cache_mutex, then logs a failed reload, so a subscriber that
 * reads the store cannot deadlock on the mutex.
 */
static void
users_cache_unlock(struct userdb *db, const struct exo_error *failure)
{
	plat_mutex_unlock(db->cache_mutex);
	if (failure->code != 0)
		ev_emit(EV_ERROR, 0, "users.reload_failed", "cannot reload "
		    "the users, so the last good copy stays in use", "error",
		    failure->msg, (char *)NULL);
}

/* ---- the store ---- */

void
userdb_reload(struct userdb *db)
{
	struct exo_error	failure;

	err_clear(&failure);
	plat_mutex_lock(db->cache_mutex);
	db->checked_ms = 0;
	users_cache_refresh(db, &failure);
	users_cache_unlock(db, &failure);
}

int
userdb_open(const struct settings *s, struct userdb **out, char notice[512],
    struct exo_error *e)
{
	struct userdb		*db;
	struct users_list	 l;
	struct users_stamp	 conf, secrets;
	char			 dir[PLAT_PATH_MAX], sdir[PLAT_PATH_MAX];
	int			 rc;

	*out = NULL;
	notice[0] = '\0';
	str_copy(dir, s->data_dir[0] != '\0' ? s->data_dir : ".", sizeof(dir));
	if ((db = calloc(1, sizeof(*db))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	db->write_mutex = plat_mutex_new();
	db->cache_mutex = plat_mutex_new();
	if (db->write_mutex == NULL || db->cache_mutex == NULL) {
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if ((rc = plat_mkdir_p(dir, 0, e)) != 0)
		goto fail;

	str_copy(sdir, dir, sizeof(sdir));
	/* A folder that cannot be written is an error, never a FAT mount. */
	if ((rc = plat_dir_can_protect(dir, e)) < 0)
		goto fail;
	if (rc == 0) {
		/* FAT and exFAT: keep secrets in the per-user folder. */
		if ((rc = plat_user_data_dir(sdir)) != 0 ||
		    (rc = plat_mkdir_p(sdir, 1, e)) != 0) {
			rc = err_set(e, rc != 0 ? rc : EXO_ERR_IO, "%s cannot "
			    "restrict file access and no per-user data folder "
			    "is available for secrets.dat", dir);
			goto fail;
		}
	}
	if (plat_path_join(db->files.conf, dir, USERS_CONF_NAME) != 0 ||
	    plat_path_join(db->lock_path, dir, USERS_LOCK_NAME) != 0 ||
	    plat_path_join(db->files.secrets, sdir, USERS_SECRETS_NAME) != 0) {
		rc = err_set(e, EXO_ERR_TOOLONG, "data folder path %.80s is "
		    "too long", dir);
		goto fail;
	}
	if (strcmp(sdir, dir) != 0)
		snprintf(notice, 512, "The data folder %.150s cannot restrict "
		    "file access (FAT or exFAT), so passwords and refresh "
		    "tokens are kept in %.250s.", dir, db->files.secrets);

	if ((rc = users_read_stable(&db->files, &l, &conf, &secrets, e)) != 0)
		goto fail;
	users_cache_set(db, &l, &conf, &secrets);
	*out = db;
	return 0;
fail:
	userdb_close(db);
	return rc;
}

void
userdb_close(struct userdb *db)
{
	if (db == NULL)
		return;
	users_list_free(&db->cache);
	if (db->write_mutex != NULL)
		plat_mutex_free(db->write_mutex);
	if (db->cache_mutex != NULL)
		plat_mutex_free(db->cache_mutex);
	free(db);
}

const char *
userdb_secrets_path(const struct userdb *db)
{
	return db->files.secrets;
}

int
userdb_get(struct userdb *db, const char *login, struct user *out,
    struct exo_error *e)
{
	const struct user	*u;
	struct exo_error	 failure;
	int			 rc = 0;

	users_cache_lock(db, &failure);
	if ((u = users_find(&db->cache, login)) != NULL)
		*out = *u;
	else
		rc = err_set(e, EXO_ERR_NOTFOUND, "no user %s", login);
	users_cache_unlock(db, &failure);
	return rc;
}

int
userdb_list(struct userdb *db, struct user **users, size_t *count,
    struct exo_error *e)
{
	struct exo_error	failure;
	int			rc = 0;

	*users = NULL;
	*count = 0;
	users_cache_lock(db, &failure);
	if (db->cache.count > 0) {
		*users = malloc(db->cache.count * sizeof(**users));
		if (*users == NULL)
			rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
		else {
			memcpy(*users, db->cache.users,
			    db->cache.count * sizeof(**users));
			*count = db->cache.count;
		}
	}
	users_cache_unlock(db, &failure);

	/* A hand-edited users.conf may be out of order. */
	if (*users != NULL)
		qsort(*users, *count, sizeof(**users), users_compare);
	return rc;
}

void
userdb_free_list(struct user *users, size_t count)
{
	size_t	i;

	if (users == NULL)
		return;
	for (i = 0; i < count; i++)
		user_wipe(&users[i]);
	free(users);
}

unsigned long
userdb_generation(struct userdb *db)
{
	struct exo_error	failure;
	unsigned long		g;

	users_cache_lock(db, &failure);
	g = db->generation;
	users_cache_unlock(db, &failure);
	return g;
}

enum users_change {
	CHANGE_UPDATE,
	CHANGE_ADD,
	CHANGE_DELETE,
};

struct users_request {
	enum users_change	 change;
	const char		*login;
	const struct user	*add;
	int			(*fn)(struct user *, void *);
	void			*ctx;
};

/* Applies rq to the fresh list l; returns 0 when l is to be written. */
static int
users_apply(struct users_list *l, const struct users_request *rq,
    struct exo_error *e)
{
	struct user	*u, *copy;
	int		 rc;

	u = users_find(l, rq->login);
	if (rq->change == CHANGE_ADD) {
		if (u != NULL)
			return err_set(e, EXO_ERR_EXISTS, "user %s already "
			    "exists; choose another login", u->login);
		if ((rc = users_list_append(l, rq->login, &u)) != 0)
			return err_set(e, rc, "cannot add user %s: at most %d "
			    "users", rq->login, USERS_MAX);
		*u = *rq->add;
		if (u->sender_policy[0] == '\0')
			str_copy(u->sender_policy, "pass",
			    sizeof(u->sender_policy));
		return 0;
	}
	if (u == NULL)
		return err_set(e, EXO_ERR_NOTFOUND, "no user %s", rq->login);
	if (rq->change == CHANGE_DELETE) {
		user_wipe(u);
		*u = l->users[--l->count];
		return 0;
	}

	/* fn works on a copy, so a failure leaves the entry alone. */
	if ((copy = malloc(sizeof(*copy))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	*copy = *u;
	if ((rc = rq->fn(copy, rq->ctx)) == 0) {
		str_copy(copy->login, u->login, sizeof(copy->login));
		user_wipe(u);
		*u = *copy;
	}
	user_wipe(copy);
	free(copy);
	return rc;
}

/* Runs one change under the locks: re-read, apply, write, cache. */
static int
users_change(struct userdb *db, const struct users_request *rq,
    struct exo_error *e)
{
	struct plat_lock	*lock = NULL;
	struct users_list	 l = { NULL, 0 };
	struct users_stamp	 conf, secrets;
	int			 rc;

	plat_mutex_lock(db->write_mutex);
	if ((rc = plat_lock_acquire(db->lock_path, 1, &lock, e)) != 0)
		goto out;
	if ((rc = users_read_stable(&db->files, &l, &conf, &secrets, e)) != 0)
		goto out;
	if ((rc = users_apply(&l, rq, e)) != 0)
		goto out;
	rc = users_write(&db->files, &l, rq->change == CHANGE_DELETE, e);
	if (rc != 0)
		goto out;
	users_stamp_of(db->files.conf, &conf);
	users_stamp_of(db->files.secrets, &secrets);
	users_cache_set(db, &l, &conf, &secrets);
out:
	users_list_free(&l);
	plat_lock_release(lock);
	plat_mutex_unlock(db->write_mutex);
	return rc;
}

int
userdb_update(struct userdb *db, const char *login,
    int (*fn)(struct user *u, void *ctx), void *ctx, struct exo_error *e)
{
	struct users_request	rq = { CHANGE_UPDATE, login, NULL, fn, ctx };

	return users_change(db, &rq, e);
}

int
userdb_add(struct userdb *db, const struct user *u, struct exo_error *e)
{
	struct users_request	rq = { CHANGE_ADD, u->login, u, NULL, NULL };

	if (!users_login_valid(u->login))
		return err_set(e, EXO_ERR_INVALID, "login '%.80s' is invalid; "
		    "use 1 to %d letters, digits or . _ - @ +", u->login,
		    USER_LOGIN_MAX - 1);
	if (u->mailbox[0] == '\0' || strchr(u->mailbox, '@') == NULL)
		return err_set(e, EXO_ERR_INVALID, "mailbox '%.80s' of user "
		    "%s is not a mail address", u->mailbox, u->login);
	return users_change(db, &rq, e);
}

int
userdb_delete(struct userdb *db, const char *login, struct exo_error *e)
{
	struct users_request	rq = { CHANGE_DELETE, login, NULL, NULL,
				    NULL };

	return users_change(db, &rq, e);
}

const char *
user_state_name(enum user_state st)
{
	if ((int)st < 0 || st > USER_REFRESHING)
		return "unknown";
	return users_state_names[st];
}

/* ---- logins and passwords ---- */

int
userdb_unique_login(struct userdb *db, const char *mailbox,
    char out[USER_LOGIN_MAX], struct exo_error *e)
{
	struct exo_error failure;
	char		 base[USER_LOGIN_MAX - 8], c;
	const char	*p;
	size_t		 n = 0;
	int		 i, rc;

	for (p = mailbox; *p != '\0' && *p != '@' && n < sizeof(base) - 1;
	    p++) {
		c = *p >= 'A' && *p <= 'Z' ? *p + 32 : *p;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			base[n++] = c;
	}
	if (n == 0)
		str_copy(base, "user", sizeof(base));
	else
		base[n] = '\0';

	err_clear(&failure);
	plat_mutex_lock(db->cache_mutex);
	db->checked_ms = 0;	/* the newest files, not a second-old copy */
	users_cache_refresh(db, &failure);
	rc = EXO_ERR_EXISTS;
	for (i = 1; i < 10000 && rc != 0; i++) {
		if (i == 1)
			str_copy(out, base, USER_LOGIN_MAX);
		else if (snprintf(out, USER_LOGIN_MAX, "%s%d", base, i) >=
		    USER_LOGIN_MAX)
			break;	/* base leaves room for 7 digits */
		if (users_find(&db->cache, out) == NULL)
			rc = 0;
	}
	users_cache_unlock(db, &failure);
	if (rc != 0)
		return err_set(e, rc, "no free login for %.80s", mailbox);
	return 0;
}

int
user_random_password(char out[17])
{
	static const char	 alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "23456789";
	const unsigned		 size = sizeof(alphabet) - 1;
	/* Bytes at or above limit are dropped, so each letter is equally
	 * likely: 238 = 7 * 34 is the largest multiple of 34 below 256. */
	const unsigned		 limit = 256 - 256 % size;
	unsigned char		 pool[32];
	size_t			 n = 0, i;

	while (n < 16) {
		if (plat_random(pool, sizeof(pool)) != 0)
			return EXO_ERR_IO;
		for (i = 0; i < sizeof(pool) && n < 16; i++) {
			if (pool[i] < limit)
				out[n++] = alphabet[pool[i] % size];
		}
	}
	out[16] = '\0';
	plat_wipe(pool, sizeof(pool));
	return 0;
}

void
user_wipe(struct user *u)
{
	plat_wipe(u->password, sizeof(u->password));
	plat_wipe(u->refresh_token, sizeof(u->refresh_token));
	plat_wipe(u->refresh_token_reserve, sizeof(u->refresh_token_reserve));
}
