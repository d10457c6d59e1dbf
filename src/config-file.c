/*
 * config-file.c: reading, writing and locating exoconnect.conf.
 *
 * Grammar, one item per line (CR LF or LF, an optional UTF-8 BOM first):
 *
 *	; comment  or  # comment
 *	[section]
 *	key = value          ; a comment after white space
 *	key = "value"        ; quoted, with \" and \\ escapes
 *
 * Lines are at most CONFIG_LINE_MAX bytes and the file CONFIG_FILE_MAX.
 * Keys are matched without regard to ASCII case. A NUL byte, an unknown
 * section or key, a key set twice or a bad value stops the parse with
 * "FILE:LINE: ..." naming the accepted values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-int.h"
#include "plat.h"
#include "util.h"

#define CONFIG_FILE_MAX (256 * 1024)
#define CONFIG_LINE_MAX 4096
#define CONFIG_NAME_MAX 64
#define CONFIG_WRAP 76		/* width of help comments */

enum config_line_kind {
	LINE_BLANK,		/* empty or a comment */
	LINE_SECTION,
	LINE_KEY,
};

struct config_line {
	enum config_line_kind	 kind;
	char			 name[CONFIG_NAME_MAX];
	char			 value[CONFIG_LINE_MAX];
	const char		*comment;	/* inline comment, or NULL */
};

static const char *
config_skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Copies [p, end) into out, trimmed and lower-cased. */
static int
config_copy_name(const char *p, const char *end, char *out, size_t cap)
{
	size_t	n, i;

	p = config_skip_space(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - p);
	if (n == 0 || n >= cap)
		return EXO_ERR_INVALID;
	for (i = 0; i < n; i++)
		out[i] = (p[i] >= 'A' && p[i] <= 'Z') ? p[i] + 32 : p[i];
	out[n] = '\0';
	return 0;
}

/* Returns 1 when only white space or a comment follows p. */
static int
config_rest_blank(const char *p)
{
	p = config_skip_space(p);
	return *p == '\0' || *p == ';' || *p == '#';
}

static int
config_split_quoted(const char *p, struct config_line *l,
    struct exo_error *e)
{
	size_t	n = 0;

	for (p++; *p != '"'; p++) {
		if (*p == '\0')
			return err_set(e, EXO_ERR_INVALID, "the value of %s "
			    "has no closing quote", l->name);
		if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
			p++;
		l->value[n++] = *p;
	}
	l->value[n] = '\0';
	if (!config_rest_blank(p + 1))
		return err_set(e, EXO_ERR_INVALID, "text after the closing "
		    "quote of %s; start a comment with ';'", l->name);
	l->comment = strpbrk(p + 1, ";#");
	return 0;
}

/* Splits one line, without its line end, into l. */
static int
config_split_line(const char *line, struct config_line *l,
    struct exo_error *e)
{
	const char	*p = config_skip_space(line), *end;
	size_t		 n;

	l->kind = LINE_BLANK;
	l->name[0] = '\0';
	l->value[0] = '\0';
	l->comment = NULL;
	if (config_rest_blank(p)) {
		l->kind = LINE_BLANK;
		return 0;
	}
	if (*p == '[') {
		l->kind = LINE_SECTION;
		if ((end = strchr(p, ']')) == NULL || !config_rest_blank(end +
		    1) || config_copy_name(p + 1, end, l->name,
		    sizeof(l->name)) != 0)
			return err_set(e, EXO_ERR_INVALID, "expected "
			    "[section], found '%.60s'", p);
		return 0;
	}
	l->kind = LINE_KEY;
	if ((end = strchr(p, '=')) == NULL ||
	    config_copy_name(p, end, l->name, sizeof(l->name)) != 0)
		return err_set(e, EXO_ERR_INVALID, "expected key = value, "
		    "found '%.60s'", p);
	p = config_skip_space(end + 1);
	if (*p == '"')
		return config_split_quoted(p, l, e);

	/* A comment starts at ';' or '#' after white space. */
	for (end = p; *end != '\0'; end++) {
		if ((*end == ';' || *end == '#') && end > p &&
		    (end[-1] == ' ' || end[-1] == '\t')) {
			l->comment = end;
			break;
		}
	}
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - p);
	memcpy(l->value, p, n);
	l->value[n] = '\0';
	return 0;
}

/* Appends the names of the keys in section, for an error message. */
static void
config_known_keys(const char *section, char *buf, size_t cap)
{
	const struct config_key	*k;
	size_t			 n = 0;

	buf[0] = '\0';
	for (k = config_keys(); k->name != NULL && n < cap; k++) {
		if (strcmp(k->section, section) == 0)
			n += (size_t)snprintf(buf + n, cap - n, "%s%s",
			    n > 0 ? ", " : "", k->name);
	}
}

static void
config_known_sections(char *buf, size_t cap)
{
	const char *const	*sec = config_section_names();
	size_t			 n = 0;

	buf[0] = '\0';
	for (; *sec != NULL && n < cap; sec++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s",
		    n > 0 ? ", " : "", *sec);
}

static int
config_section_known(const char *name)
{
	const char *const	*sec;

	for (sec = config_section_names(); *sec != NULL; sec++)
		if (strcmp(*sec, name) == 0)
			return 1;
	return 0;
}

/* Checks one key line in section and stores its value in s. */
static int
config_apply(struct settings *s, const char *section,
    const struct config_line *l, int lineno, int *seen,
    struct exo_error *e)
{
	const struct config_key	*k, *keys = config_keys();
	char			 known[512];

	if (section[0] == '\0')
		return err_set(e, EXO_ERR_INVALID, "key '%s' comes before "
		    "any [section]; move it under its section", l->name);
	if ((k = config_find(section, l->name)) == NULL) {
		config_known_keys(section, known, sizeof(known));
		return err_set(e, EXO_ERR_INVALID, "unknown key '%s' in [%s]; "
		    "known keys: %s", l->name, section, known);
	}
	if (seen[k - keys] != 0)
		return err_set(e, EXO_ERR_INVALID, "%s in [%s] is already set "
		    "on line %d; remove one of them", l->name, section,
		    seen[k - keys]);
	seen[k - keys] = lineno;
	return config_set_key(s, k, l->value, e);
}

/* Parses the NUL-free text, one line at a time. */
static int
config_parse_lines(const char *text, size_t len, struct settings *s,
    int *lineno, struct exo_error *e)
{
	struct config_line	*l;
	char			 section[CONFIG_NAME_MAX] = "", known[256];
	char			 line[CONFIG_LINE_MAX + 1];
	const char		*p = text, *end = text + len, *nl;
	int			 seen[CONFIG_KEYS_MAX] = { 0 }, rc = 0;
	size_t			 n;

	if ((l = malloc(sizeof(*l))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	for (*lineno = 1; p < end; p = nl + 1, (*lineno)++) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX) {
			rc = err_set(e, EXO_ERR_TOOLONG, "line is longer than "
			    "%d bytes", CONFIG_LINE_MAX);
			break;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		if ((rc = config_split_line(line, l, e)) != 0)
			break;
		if (l->kind == LINE_SECTION) {
			if (!config_section_known(l->name)) {
				config_known_sections(known, sizeof(known));
				rc = err_set(e, EXO_ERR_INVALID, "unknown "
				    "section [%s]; known sections: %s",
				    l->name, known);
				break;
			}
			str_copy(section, l->name, sizeof(section));
		} else if (l->kind == LINE_KEY &&
		    (rc = config_apply(s, section, l, *lineno, seen, e)) != 0)
			break;
	}
	plat_wipe(l, sizeof(*l));
	free(l);
	return rc;
}

int
config_parse(const char *path, const char *text, size_t len,
    struct settings *s, struct exo_error *e)
{
	char			 file[PLAT_PATH_MAX], dir[PLAT_PATH_MAX];
	struct exo_error	 inner;
	const char		*nul;
	int			 lineno = 0, rc;
	size_t			 i;

	str_copy(file, s->path, sizeof(file));
	str_copy(dir, s->data_dir, sizeof(dir));
	config_defaults(s);
	str_copy(s->path, file, sizeof(s->path));
	str_copy(s->data_dir, dir, sizeof(s->data_dir));
	if (path == NULL)
		path = CONFIG_FILE_NAME;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	if ((nul = memchr(text, '\0', len)) != NULL) {
		for (i = 0, lineno = 1; text + i < nul; i++)
			lineno += text[i] == '\n';
		return err_set(e, EXO_ERR_INVALID, "%s:%d: contains a NUL "
		    "byte; save the file as plain text (UTF-8)", path, lineno);
	}
	rc = config_parse_lines(text, len, s, &lineno, e);
	if (rc != 0 && e != NULL) {
		/* Prefix the file and line to the message from the key. */
		inner = *e;
		err_wrap(e, rc, &inner, "%s:%d: %s", path, lineno, inner.msg);
	}
	if (rc == 0 && s->smtp.trusted_devices[0] != '\0' &&
	    s->smtp.trusted_user[0] == '\0')
		rc = err_set(e, EXO_ERR_INVALID, "%s: trusted_devices in [smtp] "
		    "is set but trusted_user is empty; set trusted_user to the "
		    "local user these devices send as", path);
	if (rc == 0 && (rc = config_check_ports(s, e)) != 0 && e != NULL) {
		inner = *e;
		err_wrap(e, rc, &inner, "%s: %s", path, inner.msg);
	}
	return rc;
}

int
config_protect_file(const struct settings *s, char *notice, size_t cap,
    struct exo_error *e)
{
	struct exo_error	 why;
	const char		*what;
	int			 changed, rc;

	if (cap > 0)
		notice[0] = '\0';
	if (s->microsoft.client_secret[0] != '\0')
		what = "client_secret";
	else if (strchr(s->network.proxy, '@') != NULL)
		what = "a proxy password";
	else
		return 0;
	rc = plat_file_make_private(s->path, &changed, &why);
	if (rc != 0)
		return err_wrap(e, rc, &why, "%s holds %s, but making it "
		    "readable by its owner only failed: %s", s->path, what,
		    why.msg);
	if (changed)
		snprintf(notice, cap, "%s holds %s and could be read by other "
		    "users, so access was limited to its owner (mode 0600; on "
		    "Windows the owner, SYSTEM and Administrators).", s->path,
		    what);
	return 0;
}

int
config_load(const char *path, struct settings *s, struct exo_error *e)
{
	const struct config_key	*k;
	char			*text = NULL;
	size_t			 len;
	int			 rc;

	memset(s, 0, sizeof(*s));
	if (strlen(path) >= sizeof(s->path))
		return err_set(e, EXO_ERR_TOOLONG, "settings path %.80s... is "
		    "longer than %d bytes", path, PLAT_PATH_MAX - 1);
	rc = plat_read_file(path, CONFIG_FILE_MAX, &text, &len, e);
	if (rc == EXO_ERR_NOTFOUND)
		return err_set(e, rc, "settings file %s not found", path);
	if (rc == EXO_ERR_TOOLONG)
		return err_set(e, rc, "settings file %s is larger than %d KB; "
		    "is it the right file?", path, CONFIG_FILE_MAX / 1024);
	if (rc != 0)
		return rc;

	/* Paths are resolved once, after data_dir is known. */
	rc = config_parse(path, text, len, s, e);
	free(text);
	if (rc != 0)
		return rc;
	str_copy(s->path, path, sizeof(s->path));
	plat_path_dir(s->data_dir, path);
	for (k = config_keys(); k->name != NULL; k++) {
		if (k->type == CONFIG_PATH)
			config_resolve_path(s, (char *)s + k->offset, k->size);
	}
	return 0;
}

int
config_locate(const char *explicit_path, char out[PLAT_PATH_MAX],
    struct exo_error *e)
{
	char	dir[PLAT_PATH_MAX];

	if (explicit_path != NULL) {
		if (str_copy(out, explicit_path, PLAT_PATH_MAX) >=
		    PLAT_PATH_MAX)
			return err_set(e, EXO_ERR_TOOLONG, "settings path is "
			    "longer than %d bytes", PLAT_PATH_MAX - 1);
		/* A typo must not create a new, empty data folder. */
		plat_path_dir(dir, out);
		if (!plat_file_exists(dir))
			return err_set(e, EXO_ERR_NOTFOUND, "the folder %s of "
			    "the settings file %s does not exist; check the "
			    "path given with -c, or create the folder", dir,
			    out);
		return 0;
	}
	if (plat_exe_dir(dir) == 0 &&
	    plat_path_join(out, dir, CONFIG_FILE_NAME) == 0 &&
	    (plat_file_exists(out) || plat_dir_writable(dir)))
		return 0;
	if (plat_user_config_dir(dir) == 0 &&
	    plat_path_join(out, dir, CONFIG_FILE_NAME) == 0)
		return 0;
	return err_set(e, EXO_ERR_NOTFOUND, "no folder found for %s; give "
	    "the settings file's path explicitly", CONFIG_FILE_NAME);
}

/* ---- writing ---- */

/* Appends len bytes of text as "; " lines of at most CONFIG_WRAP columns. */
static int
config_put_comment(struct buf *b, const char *text, size_t len)
{
	const char	*p = text, *end = text + len, *cut, *space;
	int		 rc = 0;

	while (p < end && rc == 0) {
		cut = end;
		if (end - p > CONFIG_WRAP - 2) {
			/* Break at the last space that fits, or the first. */
			cut = p;
			while ((space = memchr(cut + 1, ' ',
			    (size_t)(end - cut - 1))) != NULL &&
			    (space - p <= CONFIG_WRAP - 2 || cut == p))
				cut = space;
			if (cut == p)
				cut = end;
		}
		rc = buf_printf(b, "; %.*s\n", (int)(cut - p), p);
		p = cut < end ? cut + 1 : end;
	}
	return rc;
}

/*
 * Appends "name = value" with the value quoted when the parser needs it.
 * A path key is written relative to the settings folder when it is
 * inside it, unless absolute is set.
 */
static int
config_put_key(struct buf *b, const struct settings *s,
    const struct config_key *k, int absolute)
{
	char		 value[CONFIG_LINE_MAX];
	const char	*p;
	size_t		 n;
	int		 quote, rc;

	if (absolute && k->type == CONFIG_PATH) {
		if (str_copy(value, (const char *)s + k->offset,
		    sizeof(value)) >= sizeof(value))
			return EXO_ERR_TOOLONG;
	} else if (config_get_key(s, k, value, sizeof(value)) != 0)
		return EXO_ERR_TOOLONG;
	n = strlen(value);
	if (n == 0)
		return buf_printf(b, "%s =", k->name);
	quote = (value[0] == '"' || value[0] == ' ' ||
	    value[n - 1] == ' ' || strstr(value, " ;") != NULL ||
	    strstr(value, " #") != NULL || value[0] == ';' ||
	    value[0] == '#');
	if (!quote)
		return buf_printf(b, "%s = %s", k->name, value);
	rc = buf_printf(b, "%s = \"", k->name);
	for (p = value; *p != '\0' && rc == 0; p++) {
		if (*p == '"' || *p == '\\')
			rc = buf_append(b, "\\", 1);
		if (rc == 0)
			rc = buf_append(b, p, 1);
	}
	return rc == 0 ? buf_puts(b, "\"") : rc;
}

static const char config_header[] =
    "exoconnect settings.\n"
    "\n"
    "exoconnect lets printers and scanners that send mail with POP3 and "
    "SMTP and a user name and password keep working with Exchange Online. "
    "Devices log in to exoconnect with local users, and exoconnect logs "
    "in to Exchange Online with OAuth2 on their behalf.\n"
    "\n"
    "Before the first start, set client_id in [microsoft] to the "
    "Application (client) ID of your app registration in Microsoft Entra "
    "(Microsoft Entra admin center > App registrations > your app > "
    "Overview).\n"
    "\n"
    "Lines starting with ';' or '#' are comments. Yes/no values also "
    "take true/false, on/off and 1/0. Sizes take KB, MB or GB, where "
    "1 KB is 1024 bytes. Put a value in double quotes when it contains "
    "' ;' or ' #'.\n";

/* Appends the commented settings file for s, every key included. */
static int
config_render(const struct settings *s, struct buf *b)
{
	const char *const	*sec;
	const struct config_key	*k;
	const char		*p, *nl;
	int			 rc = 0;

	for (p = config_header; *p != '\0' && rc == 0; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == p)
			rc = buf_puts(b, ";\n");
		else
			rc = config_put_comment(b, p, (size_t)(nl - p));
	}
	for (sec = config_section_names(); *sec != NULL && rc == 0; sec++) {
		rc = buf_printf(b, "\n[%s]\n", *sec);
		for (k = config_keys(); k->name != NULL && rc == 0; k++) {
			if (strcmp(k->section, *sec) != 0)
				continue;
			rc = buf_puts(b, "\n");
			if (rc == 0)
				rc = config_put_comment(b, k->help,
				    strlen(k->help));
			if (rc == 0)
				rc = config_put_key(b, s, k, 0);
			if (rc == 0)
				rc = buf_puts(b, "\n");
		}
	}
	return rc;
}

int
config_write_default(const char *path, struct exo_error *e)
{
	struct settings	*s;
	struct buf	 b;
	char		 dir[PLAT_PATH_MAX];
	int		 rc;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	buf_init(&b);
	config_defaults(s);
	if ((rc = config_render(s, &b)) != 0) {
		rc = err_set(e, rc, "cannot build the default settings");
		goto out;
	}
	plat_path_dir(dir, path);
	if ((rc = plat_mkdir_p(dir, 0, e)) != 0)
		goto out;
	rc = plat_write_file_atomic(path, b.data, b.len, 0, e);
out:
	buf_free(&b);
	free(s);
	return rc;
}

/* ---- saving over an existing file ---- */

struct config_merge {
	const struct settings	*s;
	const struct settings	*defaults;
	const char		*eol;	/* "\n" or "\r\n", as in the file */
	struct buf		 section_text;	/* the current section */
	size_t			 keys_end;	/* after its last key line */
	char			 section[CONFIG_NAME_MAX];
	unsigned char		 written[CONFIG_KEYS_MAX]; /* by key index */
	unsigned char		 present[16];	/* by section index */
};

/* 1 when k has a value in s other than its default. */
static int
config_changed(const struct config_merge *m, const struct config_key *k)
{
	char	a[CONFIG_LINE_MAX], b[CONFIG_LINE_MAX];

	if (config_get_key(m->s, k, a, sizeof(a)) != 0 ||
	    config_get_key(m->defaults, k, b, sizeof(b)) != 0)
		return 1;
	return strcmp(a, b) != 0;
}

static int
config_section_changed(const struct config_merge *m, const char *section)
{
	const struct config_key	*k;

	for (k = config_keys(); k->name != NULL; k++)
		if (strcmp(k->section, section) == 0 && config_changed(m, k))
			return 1;
	return 0;
}

/* Appends the changed keys of section that the file did not contain. */
static int
config_put_missing(struct config_merge *m, struct buf *b,
    const char *section)
{
	const struct config_key	*k, *keys = config_keys();
	int			 rc = 0;

	for (k = keys; k->name != NULL && rc == 0; k++) {
		if (strcmp(k->section, section) != 0 || m->written[k - keys] ||
		    !config_changed(m, k))
			continue;
		m->written[k - keys] = 1;
		rc = config_put_key(b, m->s, k, 0);
		if (rc == 0)
			rc = buf_puts(b, m->eol);
	}
	return rc;
}

/* Writes the section collected so far, with its missing keys after the
 * last key line, so trailing comments and blank lines stay last. */
static int
config_flush_section(struct config_merge *m, struct buf *out)
{
	struct buf	*t = &m->section_text;
	int		 rc;

	rc = buf_append(out, t->data, m->keys_end);
	if (rc == 0 && m->section[0] != '\0')
		rc = config_put_missing(m, out, m->section);
	if (rc == 0)
		rc = buf_append(out, t->data + m->keys_end,
		    t->len - m->keys_end);
	t->len = 0;
	if (t->data != NULL)
		t->data[0] = '\0';
	m->keys_end = 0;
	return rc;
}

static int
config_merge_line(struct config_merge *m, struct config_line *l,
    const char *line, struct buf *out)
{
	const char *const	*secs = config_section_names();
	const struct config_key	*k;
	struct buf		*t = &m->section_text;
	int			 i, rc = 0;

	if (config_split_line(line, l, NULL) != 0)
		l->kind = LINE_BLANK;	/* kept as it is */
	if (l->kind == LINE_SECTION) {
		if ((rc = config_flush_section(m, out)) != 0)
			return rc;
		str_copy(m->section, l->name, sizeof(m->section));
		for (i = 0; secs[i] != NULL; i++)
			if (strcmp(secs[i], l->name) == 0)
				m->present[i] = 1;
	}
	k = l->kind == LINE_KEY ? config_find(m->section, l->name) : NULL;
	if (k == NULL) {
		rc = buf_printf(t, "%s%s", line, m->eol);
	} else {
		m->written[k - config_keys()] = 1;
		/* A path the file spelled absolute stays absolute. */
		rc = config_put_key(t, m->s, k,
		    config_path_absolute(l->value));
		if (rc == 0 && l->comment != NULL)
			rc = buf_printf(t, " %s", l->comment);
		if (rc == 0)
			rc = buf_puts(t, m->eol);
	}
	if (l->kind != LINE_BLANK)
		m->keys_end = t->len;
	return rc;
}

/* Rewrites text with the values of m->s, keeping comments and order. */
static int
config_merge(struct config_merge *m, const char *text, size_t len,
    struct buf *out)
{
	const char *const	*secs = config_section_names();
	struct config_line	*l;
	char			 line[CONFIG_LINE_MAX + 1];
	const char		*p = text, *end = text + len, *nl;
	size_t			 n;
	int			 i, rc = 0;

	if ((l = malloc(sizeof(*l))) == NULL)
		return EXO_ERR_NOMEM;
	m->eol = memchr(text, '\r', len) != NULL ? "\r\n" : "\n";
	for (; p < end && rc == 0; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > CONFIG_LINE_MAX)
			n = CONFIG_LINE_MAX;	/* the parser rejects it */
		memcpy(line, p, n);
		line[n] = '\0';
		rc = config_merge_line(m, l, line, out);
	}
	if (rc == 0)
		rc = config_flush_section(m, out);
	for (i = 0; secs[i] != NULL && rc == 0; i++) {
		if (m->present[i] || !config_section_changed(m, secs[i]))
			continue;
		rc = buf_printf(out, "%s[%s]%s", m->eol, secs[i], m->eol);
		if (rc == 0)
			rc = config_put_missing(m, out, secs[i]);
	}
	plat_wipe(l, sizeof(*l));
	free(l);
	return rc;
}

int
config_save(const struct settings *s, struct exo_error *e)
{
	struct config_merge	 m;
	struct settings		*defaults;
	struct buf		 out;
	char			*text = NULL;
	size_t			 len;
	int			 rc, secret;

	memset(&m, 0, sizeof(m));
	buf_init(&m.section_text);
	buf_init(&out);
	if ((defaults = calloc(1, sizeof(*defaults))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	config_defaults(defaults);
	m.s = s;
	m.defaults = defaults;

	rc = plat_read_file(s->path, CONFIG_FILE_MAX, &text, &len, e);
	if (rc == EXO_ERR_NOTFOUND)
		rc = config_render(s, &out);
	else if (rc != 0)
		goto out;
	else
		rc = config_merge(&m, text, len, &out);
	if (rc != 0) {
		rc = err_set(e, rc, "cannot update the settings file %s (%s)",
		    s->path, exo_strerror(rc));
		goto out;
	}

	/* A client secret or a proxy password makes the file secret. */
	secret = s->microsoft.client_secret[0] != '\0' ||
	    strchr(s->network.proxy, '@') != NULL;
	rc = plat_write_file_atomic(s->path, out.data, out.len, secret, e);
out:
	if (text != NULL) {
		plat_wipe(text, len);
		free(text);
	}
	buf_free(&m.section_text);
	buf_free(&out);
	free(defaults);
	return rc;
}
