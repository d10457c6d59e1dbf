/*
 * json.c: bounded reading of the JSON objects that the identity platform
 * returns. jsmn finds the tokens, and this file checks nesting, finds members
 * of the top-level object and unescapes strings (RFC 8259 section 7).
 *
 * This is the only file that includes jsmn.h, and it compiles jsmn's
 * functions as static ones.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "json.h"
#include "plat.h"
#include "util.h"

/* Maximum member name length compared; longer names never match. */
#define JSON_KEY_MAX 128
/* Maximum length of the number text that json_get_int accepts. */
#define JSON_NUMBER_MAX 32

struct json_doc {
	char		*text;
	size_t		 len;
	int		 ntokens;
	jsmntok_t	 tokens[JSON_MAX_TOKENS];
};

/* Returns the index of the token after the subtree that starts at i. */
static int
json_skip(const struct json_doc *d, int i)
{
	int	pending = 1;

	while (pending > 0 && i < d->ntokens) {
		pending += d->tokens[i].size;
		pending--;
		i++;
	}
	return i;
}

/*
 * Checks the nesting below token i and object keys. Returns the index
 * after the subtree, or -1. Recursion is bounded by JSON_MAX_DEPTH.
 */
static int
json_check(const struct json_doc *d, int i, int depth)
{
	const jsmntok_t	*t = &d->tokens[i];
	int		 n, j;

	if (t->type != JSMN_OBJECT && t->type != JSMN_ARRAY)
		return i + 1;
	if (depth >= JSON_MAX_DEPTH)
		return -1;

	j = i + 1;
	for (n = 0; n < t->size; n++) {
		if (j >= d->ntokens)
			return -1;
		if (t->type == JSMN_OBJECT) {
			if (d->tokens[j].type != JSMN_STRING ||
			    d->tokens[j].size != 1)
				return -1;
			j++;
			if (j >= d->ntokens)
				return -1;
		}
		j = json_check(d, j, depth + 1);
		if (j < 0)
			return -1;
	}
	return j;
}

int
json_parse(const char *text, size_t len, struct json_doc **out)
{
	struct json_doc	*d;
	jsmn_parser	 parser;
	size_t		 end;
	int		 n;

	*out = NULL;
	if (len > INT_MAX || memchr(text, '\0', len) != NULL)
		return EXO_ERR_INVALID;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return EXO_ERR_NOMEM;
	if ((d->text = malloc(len + 1)) == NULL) {
		free(d);
		return EXO_ERR_NOMEM;
	}
	memcpy(d->text, text, len);
	d->text[len] = '\0';
	d->len = len;

	jsmn_init(&parser);
	n = jsmn_parse(&parser, d->text, len, d->tokens, JSON_MAX_TOKENS);
	if (n < 1 || d->tokens[0].type != JSMN_OBJECT)
		goto bad;
	d->ntokens = n;

	/* One value only: the object must cover every token and the text
	 * after it must be white space. */
	if (json_check(d, 0, 0) != n)
		goto bad;
	for (end = (size_t)d->tokens[0].end; end < len; end++) {
		if (strchr(" \t\r\n", d->text[end]) == NULL)
			goto bad;
	}
	*out = d;
	return 0;

bad:
	json_free(d);
	return n == JSMN_ERROR_NOMEM ? EXO_ERR_TOOLONG : EXO_ERR_INVALID;
}

void
json_free(struct json_doc *d)
{
	if (d == NULL)
		return;
	plat_wipe(d->text, d->len);
	free(d->text);
	free(d);
}

static int
json_hex4(const char *p, unsigned *out)
{
	unsigned	v = 0;
	int		i;

	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (p[i] >= '0' && p[i] <= '9')
			v |= (unsigned)(p[i] - '0');
		else if (p[i] >= 'a' && p[i] <= 'f')
			v |= (unsigned)(p[i] - 'a' + 10);
		else if (p[i] >= 'A' && p[i] <= 'F')
			v |= (unsigned)(p[i] - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Writes code point cp as UTF-8; returns the byte count. */
static size_t
json_utf8(unsigned cp, char *p)
{
	if (cp < 0x80) {
		p[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		p[0] = (char)(0xc0 | (cp >> 6));
		p[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | (cp >> 12));
		p[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		p[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	p[0] = (char)(0xf0 | (cp >> 18));
	p[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	p[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	p[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Reads the escape at s[*i] (just after the backslash) into a code point,
 * joining a UTF-16 surrogate pair. Lone surrogates and NUL are invalid.
 */
static int
json_escape(const char *s, size_t len, size_t *i, unsigned *cp)
{
	static const char	from[] = "\"\\/bfnrt";
	static const char	to[] = "\"\\/\b\f\n\r\t";
	const char		*p;
	unsigned		 lo;

	if (*i >= len)
		return EXO_ERR_INVALID;
	if (s[*i] != 'u') {
		if ((p = strchr(from, s[*i])) == NULL || s[*i] == '\0')
			return EXO_ERR_INVALID;
		*cp = (unsigned char)to[p - from];
		(*i)++;
		return 0;
	}
	if (len - *i < 5 || json_hex4(s + *i + 1, cp) != 0)
		return EXO_ERR_INVALID;
	*i += 5;
	if (*cp == 0 || (*cp >= 0xdc00 && *cp <= 0xdfff))
		return EXO_ERR_INVALID;
	if (*cp < 0xd800 || *cp > 0xdbff)
		return 0;

	/* A high surrogate must be followed by "\u" and a low one. */
	if (len - *i < 6 || s[*i] != '\\' || s[*i + 1] != 'u' ||
	    json_hex4(s + *i + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
		return EXO_ERR_INVALID;
	*i += 6;
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

/* Unescapes the string token t into out (cap bytes, NUL-terminated). */
static int
json_unescape(const struct json_doc *d, const jsmntok_t *t, char *out,
    size_t cap)
{
	const char	*s = d->text + t->start;
	size_t		 len = (size_t)(t->end - t->start);
	size_t		 i = 0, o = 0, n;
	char		 enc[4];
	unsigned	 cp;
	int		 r;

	if (cap == 0)
		return EXO_ERR_TOOLONG;
	while (i < len) {
		if ((unsigned char)s[i] < 0x20)
			return EXO_ERR_INVALID;
		if (s[i] != '\\') {
			enc[0] = s[i++];
			n = 1;
		} else {
			i++;
			if ((r = json_escape(s, len, &i, &cp)) != 0)
				return r;
			n = json_utf8(cp, enc);
		}
		if (cap - o <= n)
			return EXO_ERR_TOOLONG;
		memcpy(out + o, enc, n);
		o += n;
	}
	out[o] = '\0';
	return 0;
}

/* Returns the index of the value of member key, or -1. */
static int
json_find(const struct json_doc *d, const char *key)
{
	char	name[JSON_KEY_MAX];
	int	i = 1, n;

	for (n = 0; n < d->tokens[0].size && i + 1 < d->ntokens; n++) {
		if (json_unescape(d, &d->tokens[i], name, sizeof(name)) == 0 &&
		    strcmp(name, key) == 0)
			return i + 1;
		i = json_skip(d, i + 1);
	}
	return -1;
}

int
json_get_string(const struct json_doc *d, const char *key, char *out,
    size_t cap)
{
	int	i;

	if ((i = json_find(d, key)) < 0 || d->tokens[i].type != JSMN_STRING)
		return EXO_ERR_NOTFOUND;
	return json_unescape(d, &d->tokens[i], out, cap);
}

/* Parses the integer held by token t, a number or a string. */
static int
json_token_int(const struct json_doc *d, const jsmntok_t *t, long long *out)
{
	char	num[JSON_NUMBER_MAX];
	size_t	len = (size_t)(t->end - t->start);

	if (t->type != JSMN_PRIMITIVE && t->type != JSMN_STRING)
		return EXO_ERR_NOTFOUND;
	if (len >= sizeof(num))
		return EXO_ERR_INVALID;
	memcpy(num, d->text + t->start, len);
	num[len] = '\0';
	return parse_ll(num, LLONG_MIN, LLONG_MAX, out);
}

int
json_get_int(const struct json_doc *d, const char *key, long long *out)
{
	int	i;

	if ((i = json_find(d, key)) < 0)
		return EXO_ERR_NOTFOUND;
	return json_token_int(d, &d->tokens[i], out);
}

int
json_array_has_int(const struct json_doc *d, const char *key,
    long long value)
{
	long long	v;
	int		i, n, j;

	if ((i = json_find(d, key)) < 0 || d->tokens[i].type != JSMN_ARRAY)
		return 0;
	j = i + 1;
	for (n = 0; n < d->tokens[i].size && j < d->ntokens; n++) {
		if (d->tokens[j].type == JSMN_PRIMITIVE &&
		    json_token_int(d, &d->tokens[j], &v) == 0 && v == value)
			return 1;
		j = json_skip(d, j);
	}
	return 0;
}

int
json_array_first_int(const struct json_doc *d, const char *key,
    long long *out)
{
	int	i;

	if ((i = json_find(d, key)) < 0 || d->tokens[i].type != JSMN_ARRAY ||
	    d->tokens[i].size < 1 || i + 1 >= d->ntokens ||
	    d->tokens[i + 1].type != JSMN_PRIMITIVE)
		return EXO_ERR_NOTFOUND;
	if (json_token_int(d, &d->tokens[i + 1], out) != 0)
		return EXO_ERR_NOTFOUND;
	return 0;
}
