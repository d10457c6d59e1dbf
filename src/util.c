/*
 * util.c: string, number and buffer helpers, and base64 (RFC 4648).
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat.h"
#include "util.h"

size_t
str_copy(char *dst, const char *src, size_t cap)
{
	size_t	len, n;

	len = strlen(src);
	if (cap == 0)
		return (len);
	n = len < cap ? len : cap - 1;
	memmove(dst, src, n);
	dst[n] = '\0';
	return (len);
}

static int
ascii_lower(int c)
{
	if (c >= 'A' && c <= 'Z')
		return (c - 'A' + 'a');
	return (c);
}

int
str_ncasecmp(const char *a, const char *b, size_t n)
{
	const unsigned char	*pa = (const unsigned char *)a;
	const unsigned char	*pb = (const unsigned char *)b;
	int			 ca, cb;

	for (; n > 0; n--, pa++, pb++) {
		ca = ascii_lower(*pa);
		cb = ascii_lower(*pb);
		if (ca != cb)
			return (ca - cb);
		if (ca == '\0')
			break;
	}
	return (0);
}

int
str_casecmp(const char *a, const char *b)
{
	return (str_ncasecmp(a, b, SIZE_MAX));
}

int
str_has_prefix_case(const char *text, const char *prefix)
{
	return (str_ncasecmp(text, prefix, strlen(prefix)) == 0);
}

size_t
str_trim_end(char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == '\n' ||
	    s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	s[len] = '\0';
	return (len);
}

int
ct_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const volatile unsigned char	*pa = a;
	const volatile unsigned char	*pb = b;
	unsigned char			 diff;
	size_t				 i;

	/*
	 * Walk all of a whatever the contents, so the time reveals the
	 * lengths at most. Past the end of b, a is compared against zero
	 * bytes, and the length difference stored first in diff decides.
	 */
	diff = alen != blen;
	for (i = 0; i < alen; i++)
		diff |= pa[i] ^ (i < blen ? pb[i] : 0);
	return (diff == 0);
}

int
parse_ll(const char *text, long long min, long long max, long long *out)
{
	unsigned long long	limit, value;
	const char		*p = text;
	int			 negative = 0;

	if (text == NULL || min > max)
		return (EXO_ERR_INVALID);
	if (*p == '-') {
		if (min >= 0)
			return (EXO_ERR_INVALID);
		negative = 1;
		p++;
	}
	if (*p == '\0')
		return (EXO_ERR_INVALID);

	/* The magnitude may reach LLONG_MAX + 1 for LLONG_MIN. */
	limit = negative ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	value = 0;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return (EXO_ERR_INVALID);
		if (value > (limit - (unsigned)(*p - '0')) / 10)
			return (EXO_ERR_INVALID);
		value = value * 10 + (unsigned)(*p - '0');
	}

	if (negative) {
		long long v = value == (unsigned long long)LLONG_MAX + 1 ?
		    LLONG_MIN : -(long long)value;
		if (v < min || v > max)
			return (EXO_ERR_INVALID);
		*out = v;
	} else {
		if ((long long)value < min || (long long)value > max)
			return (EXO_ERR_INVALID);
		*out = (long long)value;
	}
	return (EXO_OK);
}

/* ---- growable buffer ---- */

void
buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

/* Makes room for extra more bytes plus the trailing NUL. */
static int
buf_reserve(struct buf *b, size_t extra)
{
	size_t	 need, cap;
	char	*data;

	if (extra > SIZE_MAX / 2 - b->len)
		return (EXO_ERR_NOMEM);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return (EXO_OK);

	cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap *= 2;

	/*
	 * Copy by hand instead of realloc, so the old block can be wiped,
	 * because buffers carry tokens and passwords.
	 */
	data = malloc(cap);
	if (data == NULL)
		return (EXO_ERR_NOMEM);
	if (b->data != NULL) {
		memcpy(data, b->data, b->len + 1);
		plat_wipe(b->data, b->cap);
		free(b->data);
	}
	b->data = data;
	b->cap = cap;
	return (EXO_OK);
}

int
buf_append(struct buf *b, const void *data, size_t len)
{
	int	rc;

	rc = buf_reserve(b, len);
	if (rc != EXO_OK)
		return (rc);
	if (len > 0)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return (EXO_OK);
}

int
buf_puts(struct buf *b, const char *text)
{
	return (buf_append(b, text, strlen(text)));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	ap;
	int	n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return (EXO_ERR_INVALID);

	rc = buf_reserve(b, (size_t)n);
	if (rc != EXO_OK)
		return (rc);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return (EXO_OK);
}

void
buf_free(struct buf *b)
{
	if (b->data != NULL) {
		plat_wipe(b->data, b->cap);
		free(b->data);
	}
	buf_init(b);
}

/*
 * Encodes as the WHATWG URL standard's application/x-www-form-urlencoded
 * serializer does: ALPHA, DIGIT and "*-._" stay, a space becomes "+",
 * every other byte becomes %XX.
 */
int
url_encode(struct buf *b, const char *text)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			 esc[3];
	int			 rc = EXO_OK;

	for (p = (const unsigned char *)text; *p != '\0' && rc == EXO_OK;
	    p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("*-._", *p) != NULL)
			rc = buf_append(b, p, 1);
		else if (*p == ' ')
			rc = buf_append(b, "+", 1);
		else {
			esc[0] = '%';
			esc[1] = hex[*p >> 4];
			esc[2] = hex[*p & 0x0f];
			rc = buf_append(b, esc, 3);
		}
	}
	return (rc);
}

/* ---- base64 (RFC 4648) ---- */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
base64_encoded_len(size_t n)
{
	return ((n + 2) / 3 * 4);
}

void
base64_encode(const void *data, size_t n, char *out)
{
	const unsigned char	*p = data;
	unsigned long		 v;
	size_t			 i;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		*out++ = b64_std[v >> 18 & 0x3f];
		*out++ = b64_std[v >> 12 & 0x3f];
		*out++ = b64_std[v >> 6 & 0x3f];
		*out++ = b64_std[v & 0x3f];
	}
	if (n - i == 1) {
		v = (unsigned long)p[i] << 16;
		*out++ = b64_std[v >> 18 & 0x3f];
		*out++ = b64_std[v >> 12 & 0x3f];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		*out++ = b64_std[v >> 18 & 0x3f];
		*out++ = b64_std[v >> 12 & 0x3f];
		*out++ = b64_std[v >> 6 & 0x3f];
		*out++ = '=';
	}
	*out = '\0';
}

/* Returns the 6-bit value of c in alphabet, or -1. */
static int
b64_value(const char *alphabet, char c)
{
	const char	*hit;

	if (c == '\0' || c == '=')
		return (-1);
	hit = strchr(alphabet, c);
	return (hit == NULL ? -1 : (int)(hit - alphabet));
}

long
base64_decode(const char *text, size_t len, void *out, size_t cap, int url)
{
	const char	*alphabet = url ? b64_url : b64_std;
	unsigned char	*o = out;
	unsigned long	 acc = 0;
	size_t		 i, data_len, n = 0;
	int		 v, bits = 0;

	/*
	 * Padding is optional, but when present it must complete the last
	 * group of four: "QQ==" and "QQ" are accepted, "QQ=" is not.
	 */
	data_len = len;
	if (len > 0 && text[len - 1] == '=') {
		if (len % 4 != 0)
			return (EXO_ERR_INVALID);
		data_len--;
		if (text[data_len - 1] == '=')
			data_len--;
	}
	if (data_len % 4 == 1)
		return (EXO_ERR_INVALID);
	if (cap > LONG_MAX)
		cap = LONG_MAX;

	for (i = 0; i < data_len; i++) {
		v = b64_value(alphabet, text[i]);
		if (v < 0)
			return (EXO_ERR_INVALID);
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= cap)
				return (EXO_ERR_TOOLONG);
			o[n++] = (unsigned char)(acc >> bits);
		}
	}

	/*
	 * Strict decoding (RFC 4648 section 3.5): the bits left over in the
	 * last character must be zero, so each byte string has one encoding.
	 */
	if ((acc & ((1UL << bits) - 1)) != 0)
		return (EXO_ERR_INVALID);
	return ((long)n);
}
