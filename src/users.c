/*
 * users.c: the user store, users.conf and secrets.dat.
 *
 * Both files share one text format, one section per user:
 *
 *	[user scanner1]
 *	mailbox = mfp@example.com
 *	state = ok
 *
 * Values are written with backslash escapes (\\ \n \r \t \xNN) for
 * control characters, backslashes and leading or trailing spaces, so any
 * byte string fits on one line. users.conf contains the fields of
 * users_conf_fields. secrets.dat contains users_secret_fields, and its
 * whole text is passed through plat_secret_protect and written owner-only.
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
#include "plat.h"
#include "users.h"
#include "util.h"

#define USERS_CONF_NAME "users.conf"
#define USERS_SECRETS_NAME "secrets.dat"
#define USERS_LOCK_NAME "users.lock"
#define USERS_FILE_MAX (16 * 1024 * 1024)
#define USERS_LINE_MAX (3 * USER_TOKEN_MAX + 64) /* escaped token line */
#define USERS_MAX 2000
#define USERS_RECHECK_MS 1000	/* least time between two stats */
#define USERS_READ_TRIES 3

enum user_field_type {
	FIELD_TEXT,
	FIELD_TIME,
	FIELD_BOOL,
	FIELD_STATE,
};

struct user_field {
	const char		*name;
	enum user_field_type	 type;
	size_t			 offset;
	size_t			 size;
};

#define UF(name, type) { #name, type, offsetof(struct user, name), \
	sizeof(((struct user *)0)->name) }

static const struct user_field users_conf_fields[] = {
	UF(mailbox, FIELD_TEXT),
	UF(display_name, FIELD_TEXT),
	UF(tenant_id, FIELD_TEXT),
	UF(personal, FIELD_BOOL),
	UF(created, FIELD_TIME),
	UF(last_pop3, FIELD_TIME),
	UF(last_smtp, FIELD_TIME),
	UF(last_refresh, FIELD_TIME),
	UF(state, FIELD_STATE),
	UF(state_code, FIELD_TEXT),
	UF(state_reason, FIELD_TEXT),
	UF(sender_policy, FIELD_TEXT),
	UF(accept_legacy_charset, FIELD_BOOL),
	{ NULL, FIELD_TEXT, 0, 0 },
};

static const struct user_field users_secret_fields[] = {
	UF(password, FIELD_TEXT),
	UF(refresh_token, FIELD_TEXT),
	UF(refresh_token_reserve, FIELD_TEXT),
	UF(refresh_token_rejected, FIELD_BOOL),
	{ NULL, FIELD_TEXT, 0, 0 },
};

/* Names in the files, then names for people, by enum user_state. */
static const char *const users_state_ids[] = {
	"ok", "signin_required", "consent_required", "config_error",
	"transient_error", "upstream_rejected", NULL,
};
static const char *const users_state_names[] = {
	"valid", "sign-in required", "consent required", "settings error",
	"temporary error", "rejected by Exchange",
};

/* Size and change time of one file; -1 for a missing file. */
struct users_stamp {
	int64_t	size;
	int64_t	mtime_ns;
};

struct users_list {
	struct user	*users;
	size_t		 count;
};

struct userdb {
	char			 conf_path[PLAT_PATH_MAX];
	char			 secrets_path[PLAT_PATH_MAX];
	char			 lock_path[PLAT_PATH_MAX];

	struct plat_mutex	*write_mutex;	/* one writer per process */
	struct plat_mutex	*cache_mutex;	/* guards the fields below */
	struct users_list	 cache;
	struct users_stamp	 conf_stamp, secrets_stamp;
	int64_t			 checked_ms;
	unsigned long		 generation;
};

/* ---- the text format ---- */

static int
users_escape(struct buf *b, const char *v)
{
	size_t	n = strlen(v), i;
	int	rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		unsigned char	c = (unsigned char)v[i];

		if (c == '\\')
			rc = buf_puts(b, "\\\\");
		else if (c == '\n')
			rc = buf_puts(b, "\\n");
		else if (c == '\r')
			rc = buf_puts(b, "\\r");
		else if (c == '\t')
			rc = buf_puts(b, "\\t");
		else if (c < 0x20 || c == 0x7f ||
		    (c == ' ' && (i == 0 || i == n - 1)))
			rc = buf_printf(b, "\\x%02x", c);
		else
			rc = buf_append(b, &v[i], 1);
	}
	return rc;
}

static int
users_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Reverses users_escape into out (cap bytes). Returns EXO_ERR_INVALID for
 * a bad escape or an escaped NUL, EXO_ERR_TOOLONG when out is too small.
 */
static int
users_unescape(const char *in, char *out, size_t cap)
{
	size_t	n = 0;
	int	hi, lo;
	char	c;

	for (; *in != '\0'; in++) {
		c = *in;
		if (c == '\\') {
			c = *++in;
			if (c == 'n')
				c = '\n';
			else if (c == 'r')
				c = '\r';
			else if (c == 't')
				c = '\t';
			else if (c == 'x') {
				if ((hi = users_hex(in[1])) < 0 ||
				    (lo = users_hex(in[2])) < 0 ||
				    hi * 16 + lo == 0)
					return EXO_ERR_INVALID;
				c = (char)(hi * 16 + lo);
				in += 2;
			} else if (c != '\\')
				return EXO_ERR_INVALID;
		}
		if (n + 1 >= cap)
			return EXO_ERR_TOOLONG;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

/*
 * Checks a login: 1 to USER_LOGIN_MAX - 1 bytes of letters, digits and
 * ". _ - @ +", which covers the names devices send, mail addresses
 * included, and keeps the section header of the files unambiguous.
 */
static int
users_login_valid(const char *login)
{
	size_t	n = strlen(login);

	return n > 0 && n < USER_LOGIN_MAX &&
	    strspn(login, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-@+") == n;
}

static int
users_put_field(struct buf *b, const struct user *u,
    const struct user_field *f)
{
	const char	*p = (const char *)u + f->offset;
	int		 rc;

	switch (f->type) {
	case FIELD_BOOL:
		return buf_printf(b, "%s = %s\n", f->name,
		    *(const int *)p ? "yes" : "no");
	case FIELD_TIME:
		return buf_printf(b, "%s = %lld\n", f->name,
		    (long long)*(const int64_t *)p);
	case FIELD_STATE:
		return buf_printf(b, "%s = %s\n", f->name,
		    users_state_ids[*(const enum user_state *)p]);
	case FIELD_TEXT:
		break;
	}
	if (p[0] == '\0')
		return 0;	/* empty text is the default */
	rc = buf_printf(b, "%s = ", f->name);
	if (rc == 0)
		rc = users_escape(b, p);
	if (rc == 0)
		rc = buf_puts(b, "\n");
	return rc;
}

/* Writes the users as text with the fields of table. */
static int
users_format(const struct users_list *l, const struct user_field *table,
    const char *header, struct buf *b)
{
	const struct user_field	*f;
	size_t			 i;
	int			 rc;

	rc = buf_puts(b, header);
	for (i = 0; i < l->count && rc == 0; i++) {
		rc = buf_printf(b, "\n[user %s]\n", l->users[i].login);
		for (f = table; f->name != NULL && rc == 0; f++)
			rc = users_put_field(b, &l->users[i], f);
	}
	return rc;
}

static int
users_set_field(struct user *u, const struct user_field *f,
    const char *value)
{
	char		*p = (char *)u + f->offset;
	long long	 t;
	int		 i;

	switch (f->type) {
	case FIELD_BOOL:
		if (strcmp(value, "yes") != 0 && strcmp(value, "no") != 0)
			return EXO_ERR_INVALID;
		*(int *)p = strcmp(value, "yes") == 0;
		return 0;
	case FIELD_TIME:
		if (parse_ll(value, 0, INT64_MAX, &t) != 0)
			return EXO_ERR_INVALID;
		*(int64_t *)p = t;
		return 0;
	case FIELD_STATE:
		for (i = 0; users_state_ids[i] != NULL; i++) {
			if (strcmp(value, users_state_ids[i]) == 0) {
				*(enum user_state *)p = (enum user_state)i;
				return 0;
			}
		}
		return EXO_ERR_INVALID;
	case FIELD_TEXT:
		break;
	}
	return users_unescape(value, p, f->size);
}

static struct user *
users_find(const struct users_list *l, const char *login)
{
	size_t	i;

	for (i = 0; i < l->count; i++)
		if (str_casecmp(l->users[i].login, login) == 0)
			return &l->users[i];
	return NULL;
}

static void
users_list_free(struct users_list *l)
{
	userdb_free_list(l->users, l->count);
	l->users = NULL;
	l->count = 0;
}

static int
users_list_append(struct users_list *l, const char *login,
    struct user **out)
{
	struct user	*grown;

	if (l->count >= USERS_MAX)
		return EXO_ERR_TOOLONG;
	grown = realloc(l->users, (l->count + 1) * sizeof(*grown));
	if (grown == NULL)
		return EXO_ERR_NOMEM;
	l->users = grown;
	*out = &grown[l->count++];
	memset(*out, 0, sizeof(**out));
	str_copy((*out)->login, login, sizeof((*out)->login));
	str_copy((*out)->sender_policy, "pass", sizeof((*out)->sender_policy));
	return 0;
}

/* Handles one "[user LOGIN]" line; *u is the entry later keys go to. */
static int
users_parse_section(struct users_list *l, const char *line, int create,
    struct user **u)
{
	char	login[USER_LOGIN_MAX];
	size_t	n = strlen(line);

	if (n < 8 || strncmp(line, "[user ", 6) != 0 || line[n - 1] != ']' ||
	    n - 7 >= sizeof(login))
		return EXO_ERR_INVALID;
	memcpy(login, line + 6, n - 7);
	login[n - 7] = '\0';
	if (!users_login_valid(login))
		return EXO_ERR_INVALID;
	if ((*u = users_find(l, login)) != NULL)
		return create ? EXO_ERR_EXISTS : 0;
	if (!create)
		return 0;	/* secrets of a user users.conf lacks */
	return users_list_append(l, login, u);
}

/*
 * Parses text into l. create != 0 (users.conf) adds a user per section;
 * create == 0 (secrets.dat) fills in users already in l.
 */
static int
users_parse(struct users_list *l, char *text, const char *file,
    const struct user_field *table, int create, struct exo_error *e)
{
	const struct user_field	*f;
	struct user		*u = NULL;
	char			*line, *next, *eq, *value;
	int			 lineno = 0, rc;

	for (line = text; line != NULL; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		str_trim_end(line, strlen(line));
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (strlen(line) > USERS_LINE_MAX)
			return err_set(e, EXO_ERR_TOOLONG, "%s:%d: line is "
			    "longer than %d bytes", file, lineno,
			    USERS_LINE_MAX);
		if (line[0] == '[') {
			rc = users_parse_section(l, line, create, &u);
			if (rc == EXO_ERR_EXISTS)
				return err_set(e, rc, "%s:%d: user %s appears "
				    "twice", file, lineno, u->login);
			if (rc != 0)
				return err_set(e, rc, "%s:%d: expected [user "
				    "LOGIN], found '%.60s'", file, lineno,
				    line);
			continue;
		}
		if ((eq = strstr(line, " =")) == NULL)
			return err_set(e, EXO_ERR_INVALID, "%s:%d: expected "
			    "key = value", file, lineno);
		*eq = '\0';
		value = eq[2] == ' ' ? eq + 3 : eq + 2;
		for (f = table; f->name != NULL; f++)
			if (strcmp(f->name, line) == 0)
				break;
		if (f->name == NULL)
			return err_set(e, EXO_ERR_INVALID, "%s:%d: unknown key "
			    "'%.60s'", file, lineno, line);
		if (u == NULL && create)
			return err_set(e, EXO_ERR_INVALID, "%s:%d: %s comes "
			    "before any [user LOGIN]", file, lineno, line);
		if (u != NULL && users_set_field(u, f, value) != 0)
			return err_set(e, EXO_ERR_INVALID, "%s:%d: invalid "
			    "value for %s", file, lineno, line);
	}
	return 0;
}

/* ---- reading and writing the files ---- */

static void
users_stamp_of(const char *path, struct users_stamp *st)
{
	if (plat_file_size(path, &st->size) != 0 ||
	    plat_file_mtime(path, &st->mtime_ns) != 0) {
		st->size = -1;
		st->mtime_ns = -1;
	}
}

static int
users_stamp_equal(const struct users_stamp *a, const struct users_stamp *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns;
}

/* Reads and unprotects secrets.dat; a missing file is empty text. */
static int
users_read_secrets(struct userdb *db, char **text, struct exo_error *e)
{
	char	*raw = NULL;
	void	*plain = NULL;
	size_t	 len, plain_len;
	int	 rc;

	rc = plat_read_file(db->secrets_path, USERS_FILE_MAX, &raw, &len, e);
	if (rc == EXO_ERR_NOTFOUND)
		return (*text = strdup("")) != NULL ? 0 : EXO_ERR_NOMEM;
	if (rc != 0)
		return rc;
	rc = plat_secret_unprotect(raw, len, &plain, &plain_len, e);
	plat_wipe(raw, len);
	free(raw);
	if (rc != 0)
		return rc;
	if ((*text = malloc(plain_len + 1)) == NULL) {
		rc = EXO_ERR_NOMEM;
	} else {
		memcpy(*text, plain, plain_len);
		(*text)[plain_len] = '\0';
		if (strlen(*text) != plain_len)
			rc = err_set(e, EXO_ERR_INVALID, "%s contains a NUL "
			    "byte; restore it from a backup or delete it and "
			    "sign in again", db->secrets_path);
	}
	plat_wipe(plain, plain_len);
	free(plain);
	return rc;
}

/* Reads both files into l; the caller frees l. */
static int
users_read(struct userdb *db, struct users_list *l, struct exo_error *e)
{
	char	*conf = NULL, *secrets = NULL;
	size_t	 len;
	int	 rc;

	memset(l, 0, sizeof(*l));
	rc = plat_read_file(db->conf_path, USERS_FILE_MAX, &conf, &len, e);
	if (rc == EXO_ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (strlen(conf) != len)
		rc = err_set(e, EXO_ERR_INVALID, "%s contains a NUL byte",
		    db->conf_path);
	if (rc == 0)
		rc = users_parse(l, conf, db->conf_path, users_conf_fields, 1,
		    e);
	if (rc == 0)
		rc = users_read_secrets(db, &secrets, e);
	if (rc == 0)
		rc = users_parse(l, secrets, db->secrets_path,
		    users_secret_fields, 0, e);
	free(conf);
	if (secrets != NULL) {
		plat_wipe(secrets, strlen(secrets));
		free(secrets);
	}
	if (rc != 0)
		users_list_free(l);
	return rc;
}

/*
 * Reads both files so that neither changed during the read, since a
 * writer in another process may replace one between the two reads.
 */
static int
users_read_stable(struct userdb *db, struct users_list *l,
    struct users_stamp *conf, struct users_stamp *secrets,
    struct exo_error *e)
{
	struct users_stamp	c2, s2;
	int			try, rc = 0;

	for (try = 0; try < USERS_READ_TRIES; try++) {
		users_stamp_of(db->conf_path, conf);
		users_stamp_of(db->secrets_path, secrets);
		if ((rc = users_read(db, l, e)) != 0)
			return rc;
		users_stamp_of(db->conf_path, &c2);
		users_stamp_of(db->secrets_path, &s2);
		if (users_stamp_equal(conf, &c2) &&
		    users_stamp_equal(secrets, &s2))
			return 0;
		users_list_free(l);
	}
	return err_set(e, EXO_ERR_TRANSIENT, "%s kept changing while being "
	    "read; try again", db->conf_path);
}

static int
users_compare(const void *a, const void *b)
{
	return str_casecmp(((const struct user *)a)->login,
	    ((const struct user *)b)->login);
}

static int
users_write_one(const char *path, const struct users_list *l,
    const struct user_field *table, int secret, struct exo_error *e)
{
	static const char	 conf_header[] =
	    "# exoconnect users: one [user LOGIN] section per local user.\n"
	    "# Passwords and refresh tokens are in secrets.dat. Change users "
	    "with\n# \"exoconnect user\"; hand edits are read within a "
	    "second.\n";
	static const char	 secrets_header[] =
	    "# exoconnect secrets: passwords and refresh tokens.\n";
	struct buf		 b;
	void			*prot = NULL;
	size_t			 prot_len;
	int			 rc;

	buf_init(&b);
	rc = users_format(l, table, secret ? secrets_header : conf_header,
	    &b);
	if (rc != 0) {
		rc = err_set(e, rc, "out of memory writing %s", path);
		goto out;
	}
	if (!secret) {
		rc = plat_write_file_atomic(path, b.data, b.len, 0, e);
		goto out;
	}
	rc = plat_secret_protect(b.data, b.len, &prot, &prot_len, e);
	if (rc == 0)
		rc = plat_write_file_atomic(path, prot, prot_len, 1, e);
out:
	if (prot != NULL) {
		plat_wipe(prot, prot_len);
		free(prot);
	}
	buf_free(&b);
	return rc;
}

/* Writes both files in the order the change needs. */
static int
users_write(struct userdb *db, struct users_list *l, int deleting,
    struct exo_error *e)
{
	int	rc;

	qsort(l->users, l->count, sizeof(*l->users), users_compare);
	if (deleting) {
		rc = users_write_one(db->conf_path, l, users_conf_fields, 0, e);
		if (rc == 0)
			rc = users_write_one(db->secrets_path, l,
			    users_secret_fields, 1, e);
	} else {
		rc = users_write_one(db->secrets_path, l, users_secret_fields,
		    1, e);
		if (rc == 0)
			rc = users_write_one(db->conf_path, l,
			    users_conf_fields, 0, e);
	}
	return rc;
}

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
	users_stamp_of(db->conf_path, &conf);
	users_stamp_of(db->secrets_path, &secrets);
	if (users_stamp_equal(&conf, &db->conf_stamp) &&
	    users_stamp_equal(&secrets, &db->secrets_stamp))
		return;
	if (users_read_stable(db, &l, &conf, &secrets, failure) != 0) {
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
	if (!plat_dir_can_protect(dir)) {
		/* FAT and exFAT: keep secrets in the per-user folder. */
		if ((rc = plat_user_data_dir(sdir)) != 0 ||
		    (rc = plat_mkdir_p(sdir, 1, e)) != 0) {
			rc = err_set(e, rc != 0 ? rc : EXO_ERR_IO, "%s cannot "
			    "restrict file access and no per-user data folder "
			    "is available for secrets.dat", dir);
			goto fail;
		}
	}
	if (plat_path_join(db->conf_path, dir, USERS_CONF_NAME) != 0 ||
	    plat_path_join(db->lock_path, dir, USERS_LOCK_NAME) != 0 ||
	    plat_path_join(db->secrets_path, sdir, USERS_SECRETS_NAME) != 0) {
		rc = err_set(e, EXO_ERR_TOOLONG, "data folder path %.80s is "
		    "too long", dir);
		goto fail;
	}
	if (strcmp(sdir, dir) != 0)
		snprintf(notice, 512, "The data folder %.150s cannot restrict "
		    "file access (FAT or exFAT), so passwords and refresh "
		    "tokens are kept in %.250s.", dir, db->secrets_path);

	if ((rc = users_read_stable(db, &l, &conf, &secrets, e)) != 0)
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
	return db->secrets_path;
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
	if ((rc = users_read_stable(db, &l, &conf, &secrets, e)) != 0)
		goto out;
	if ((rc = users_apply(&l, rq, e)) != 0)
		goto out;
	if ((rc = users_write(db, &l, rq->change == CHANGE_DELETE, e)) != 0)
		goto out;
	users_stamp_of(db->conf_path, &conf);
	users_stamp_of(db->secrets_path, &secrets);
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
	if ((int)st < 0 || st > USER_UPSTREAM_REJECTED)
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
