/*
 * json.h: reading JSON objects from the identity platform with jsmn.
 * Bounded: at most JSON_MAX_TOKENS tokens and JSON_MAX_DEPTH nesting.
 */
#ifndef EXO_JSON_H
#define EXO_JSON_H

#include <stddef.h>

#include "err.h"

#define JSON_MAX_TOKENS 512
#define JSON_MAX_DEPTH 16

struct json_doc;

/* Parses text (not NUL-terminated, len bytes); the top level must be an
 * object. EXO_ERR_INVALID for anything else. */
int json_parse(const char *text, size_t len, struct json_doc **out);
void json_free(struct json_doc *d);

/*
 * Copies the string member key of the top-level object, unescaped to UTF-8
 * (\uXXXX and surrogate pairs included), into out. EXO_ERR_NOTFOUND when
 * absent or not a string, EXO_ERR_TOOLONG when it does not fit. A string
 * holding "\u0000" is EXO_ERR_INVALID.
 */
int json_get_string(const struct json_doc *d, const char *key, char *out,
    size_t cap);
/* Number member (also accepts a string holding a number). */
int json_get_int(const struct json_doc *d, const char *key, long long *out);
/* 1 when the array member key holds the integer value. */
int json_array_has_int(const struct json_doc *d, const char *key,
    long long value);
/* First integer of the array member key, or EXO_ERR_NOTFOUND. */
int json_array_first_int(const struct json_doc *d, const char *key,
    long long *out);

#endif
