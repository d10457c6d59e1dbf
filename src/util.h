/*
 * util.h: small string, number and buffer helpers shared by every layer.
 */
#ifndef EXO_UTIL_H
#define EXO_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Copies src into dst (cap bytes, NUL-terminated); returns strlen(src),
 * so a result >= cap means the text was cut. */
size_t str_copy(char *dst, const char *src, size_t cap);

/* ASCII case-insensitive comparisons, independent of the locale. */
int str_casecmp(const char *a, const char *b);
int str_ncasecmp(const char *a, const char *b, size_t n);
/* 1 when text starts with prefix, ignoring ASCII case. */
int str_has_prefix_case(const char *text, const char *prefix);

/* Removes trailing "\r\n", "\n" and white space in place; returns the new
 * length. */
size_t str_trim_end(char *s, size_t len);

/* Compares two byte strings in time that depends only on their lengths. */
int ct_equal(const void *a, size_t alen, const void *b, size_t blen);

/*
 * Parses a decimal number in [min, max] that fills the whole of text.
 * Returns 0 or EXO_ERR_INVALID (empty, junk, sign where min >= 0, out of
 * range). The one bounded number parser of the project.
 */
int parse_ll(const char *text, long long min, long long max, long long *out);

/* A growable byte buffer that keeps a NUL after the data. */
struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void buf_init(struct buf *b);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *text);
int buf_printf(struct buf *b, const char *fmt, ...) EXO_PRINTF(2, 3);
/* Wipes and frees the data. */
void buf_free(struct buf *b);

/* Percent-encodes text for application/x-www-form-urlencoded. */
int url_encode(struct buf *b, const char *text);

/* ---- base64 (RFC 4648) ---- */

/* Length of the base64 text for n bytes, without the NUL. */
size_t base64_encoded_len(size_t n);
/* Encodes into out (base64_encoded_len(n) + 1 bytes, NUL-terminated). */
void base64_encode(const void *data, size_t n, char *out);
/*
 * Decodes standard base64, with or without "=" padding, no white space.
 * url != 0 decodes the base64url alphabet instead. Writes at most cap
 * bytes; returns the byte count or EXO_ERR_INVALID (bad character, bad
 * padding, impossible length) or EXO_ERR_TOOLONG.
 */
long base64_decode(const char *text, size_t len, void *out, size_t cap,
    int url);

#endif
