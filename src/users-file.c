/*
 * users-file.c: the text format of users.conf and secrets.dat, and
 * reading and writing both files for users.c.
 *
 * Both files share one format, one section per user:
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
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat.h"
#include "users-int.h"
#include "util.h"

#define USERS_FILE_MAX (16 * 1024 * 1024)
#define USERS_LINE_MAX (3 * USER_TOKEN_MAX + 64) /* escaped token line */
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
	UF(encode_utf8_headers, FIELD_BOOL),
	UF(relabel_iso2022jp, FIELD_BOOL),
	{ NULL, FIELD_TEXT, 0, 0 },
};

static const struct user_field users_secret_fields[] = {
	UF(password, FIELD_TEXT),
	UF(refresh_token, FIELD_TEXT),
	UF(refresh_token_reserve, FIELD_TEXT),
	UF(refresh_token_rejected, FIELD_BOOL),
	{ NULL, FIELD_TEXT, 0, 0 },
};

/* Names in the files, by enum user_state. */
static const char *const users_state_ids[] = {
	"ok", "signin_required", "consent_required", "config_error",
	"transient_error", "upstream_rejected", NULL,
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
int
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
	enum user_state	 st;
	int		 rc;

	switch (f->type) {
	case FIELD_BOOL:
		return buf_printf(b, "%s = %s\n", f->name,
		    *(const int *)p ? "yes" : "no");
	case FIELD_TIME:
		return buf_printf(b, "%s = %lld\n", f->name,
		    (long long)*(const int64_t *)p);
	case FIELD_STATE:
		st = *(const enum user_state *)p;
		if ((int)st < 0 || st > USER_UPSTREAM_REJECTED)
			st = USER_TRANSIENT_ERROR;	/* not a known state */
		return buf_printf(b, "%s = %s\n", f->name,
		    users_state_ids[st]);
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

struct user *
users_find(const struct users_list *l, const char *login)
{
	size_t	i;

	for (i = 0; i < l->count; i++)
		if (str_casecmp(l->users[i].login, login) == 0)
			return &l->users[i];
	return NULL;
}

void
users_list_free(struct users_list *l)
{
	userdb_free_list(l->users, l->count);
	l->users = NULL;
	l->count = 0;
}

int
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

void
users_stamp_of(const char *path, struct users_stamp *st)
{
	if (plat_file_size(path, &st->size) != 0 ||
	    plat_file_mtime(path, &st->mtime_ns) != 0) {
		st->size = -1;
		st->mtime_ns = -1;
	}
}

int
users_stamp_equal(const struct users_stamp *a, const struct users_stamp *b)
{
	return a->size == b->size && a->mtime_ns == b->mtime_ns;
}

/* Reads and unprotects secrets.dat; a missing file is empty text. */
static int
users_read_secrets(const struct users_files *files, char **text,
    struct exo_error *e)
{
	char	*raw = NULL;
	void	*plain = NULL;
	size_t	 len, plain_len;
	int	 rc;

	rc = plat_read_file(files->secrets, USERS_FILE_MAX, &raw, &len, e);
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
			    "sign in again", files->secrets);
	}
	plat_wipe(plain, plain_len);
	free(plain);
	return rc;
}

/*
 * Marks users without a refresh token as needing a sign-in, so that a
 * deleted or replaced secrets.dat shows in user list and on the screen
 * instead of every user looking valid.
 */
static void
users_mark_missing_tokens(struct users_list *l, const char *secrets)
{
	struct user	*u;
	size_t		 i;

	for (i = 0; i < l->count; i++) {
		u = &l->users[i];
		if (u->refresh_token[0] != '\0' || u->state != USER_OK)
			continue;
		u->state = USER_SIGNIN_REQUIRED;
		str_copy(u->state_code, "no-token", sizeof(u->state_code));
		snprintf(u->state_reason, sizeof(u->state_reason), "%.200s has no "
		    "password or refresh token for this user (the file is "
		    "missing or was replaced); restore it from a backup, or "
		    "run exoconnect user signin %s and "
		    "exoconnect user reset-password %s", secrets, u->login,
		    u->login);
	}
}

/* Reads both files into l; the caller frees l. */
static int
users_read(const struct users_files *files, struct users_list *l,
    struct exo_error *e)
{
	char	*conf = NULL, *secrets = NULL;
	size_t	 len;
	int	 rc;

	memset(l, 0, sizeof(*l));
	rc = plat_read_file(files->conf, USERS_FILE_MAX, &conf, &len, e);
	if (rc == EXO_ERR_NOTFOUND)
		return 0;
	if (rc != 0)
		return rc;
	if (strlen(conf) != len)
		rc = err_set(e, EXO_ERR_INVALID, "%s contains a NUL byte",
		    files->conf);
	if (rc == 0)
		rc = users_parse(l, conf, files->conf, users_conf_fields, 1,
		    e);
	if (rc == 0)
		rc = users_read_secrets(files, &secrets, e);
	if (rc == 0)
		rc = users_parse(l, secrets, files->secrets,
		    users_secret_fields, 0, e);
	if (rc == 0)
		users_mark_missing_tokens(l, files->secrets);
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
int
users_read_stable(const struct users_files *files, struct users_list *l,
    struct users_stamp *conf, struct users_stamp *secrets,
    struct exo_error *e)
{
	struct users_stamp	c2, s2;
	int			try, rc = 0;

	for (try = 0; try < USERS_READ_TRIES; try++) {
		users_stamp_of(files->conf, conf);
		users_stamp_of(files->secrets, secrets);
		if ((rc = users_read(files, l, e)) != 0)
			return rc;
		users_stamp_of(files->conf, &c2);
		users_stamp_of(files->secrets, &s2);
		if (users_stamp_equal(conf, &c2) &&
		    users_stamp_equal(secrets, &s2))
			return 0;
		users_list_free(l);
	}
	return err_set(e, EXO_ERR_TRANSIENT, "%s kept changing while being "
	    "read; try again", files->conf);
}

int
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
	    "with\n# \"exoconnect user\", which a running serve applies at "
	    "once;\n# it reads hand edits within a second.\n";
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
	rc = plat_secret_protect(path, b.data, b.len, &prot, &prot_len,
	    e);
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
int
users_write(const struct users_files *files, struct users_list *l, int deleting,
    struct exo_error *e)
{
	int	rc;

	qsort(l->users, l->count, sizeof(*l->users), users_compare);
	if (deleting) {
		rc = users_write_one(files->conf, l, users_conf_fields, 0, e);
		if (rc == 0)
			rc = users_write_one(files->secrets, l,
			    users_secret_fields, 1, e);
	} else {
		rc = users_write_one(files->secrets, l, users_secret_fields,
		    1, e);
		if (rc == 0)
			rc = users_write_one(files->conf, l,
			    users_conf_fields, 0, e);
	}
	return rc;
}
