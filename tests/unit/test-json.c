/*
 * test-json.c: JSON member lookup, string unescaping and the limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/json.h"
#include "test.h"

static struct json_doc *
parse(const char *text)
{
	struct json_doc	*d = NULL;

	if (json_parse(text, strlen(text), &d) != 0)
		return NULL;
	return d;
}

TEST(json_token_response)
{
	const char	*text = "{\"token_type\":\"Bearer\",\"scope\":\"a b\","
	    "\"expires_in\":3599,\"ext_expires_in\":\"3599\","
	    "\"access_token\":\"AT\",\"nested\":{\"access_token\":\"no\"},"
	    "\"refresh_token\":\"RT\"}";
	struct json_doc	*d = parse(text);
	char		 s[64];
	long long	 v = 0;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	CHECK_INT(json_get_string(d, "access_token", s, sizeof(s)), 0);
	CHECK_STR(s, "AT");
	CHECK_INT(json_get_string(d, "refresh_token", s, sizeof(s)), 0);
	CHECK_STR(s, "RT");
	CHECK_INT(json_get_int(d, "expires_in", &v), 0);
	CHECK_INT(v, 3599);
	CHECK_INT(json_get_int(d, "ext_expires_in", &v), 0);
	CHECK_INT(v, 3599);
	CHECK_INT(json_get_string(d, "id_token", s, sizeof(s)),
	    EXO_ERR_NOTFOUND);
	CHECK_INT(json_get_string(d, "expires_in", s, sizeof(s)),
	    EXO_ERR_NOTFOUND);
	CHECK_INT(json_get_string(d, "nested", s, sizeof(s)),
	    EXO_ERR_NOTFOUND);
	CHECK_INT(json_get_string(d, "scope", s, 3), EXO_ERR_TOOLONG);
	json_free(d);
}

TEST(json_error_codes_array)
{
	struct json_doc	*d = parse("{\"error\":\"invalid_grant\","
	    "\"error_codes\":[70043, 50076],\"other\":[],\"n\":[\"1\"]}");
	long long	 v = 0;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	CHECK_INT(json_array_first_int(d, "error_codes", &v), 0);
	CHECK_INT(v, 70043);
	CHECK_INT(json_array_has_int(d, "error_codes", 50076), 1);
	CHECK_INT(json_array_has_int(d, "error_codes", 50079), 0);
	CHECK_INT(json_array_first_int(d, "other", &v), EXO_ERR_NOTFOUND);
	CHECK_INT(json_array_first_int(d, "n", &v), EXO_ERR_NOTFOUND);
	CHECK_INT(json_array_first_int(d, "error", &v), EXO_ERR_NOTFOUND);
	CHECK_INT(json_array_has_int(d, "missing", 1), 0);
	json_free(d);
}

TEST(json_string_escapes)
{
	struct json_doc	*d = parse("{\"a\":\"q\\\"b\\\\s\\/n\\nt\\tr\\r\","
	    "\"u\":\"\\u00e4\\u20AC\",\"pair\":\"\\ud83d\\ude00!\","
	    "\"k\\u0065y\":\"escaped key\"}");
	char		 s[64];

	CHECK(d != NULL);
	if (d == NULL)
		return;
	CHECK_INT(json_get_string(d, "a", s, sizeof(s)), 0);
	CHECK_STR(s, "q\"b\\s/n\nt\tr\r");
	CHECK_INT(json_get_string(d, "u", s, sizeof(s)), 0);
	CHECK_STR(s, "\xc3\xa4\xe2\x82\xac");
	CHECK_INT(json_get_string(d, "pair", s, sizeof(s)), 0);
	CHECK_STR(s, "\xf0\x9f\x98\x80!");
	CHECK_INT(json_get_string(d, "key", s, sizeof(s)), 0);
	CHECK_STR(s, "escaped key");
	/* Four bytes of UTF-8 plus "!" need 6 bytes with the NUL. */
	CHECK_INT(json_get_string(d, "pair", s, 5), EXO_ERR_TOOLONG);
	CHECK_INT(json_get_string(d, "pair", s, 6), 0);
	json_free(d);
}

TEST(json_bad_strings)
{
	static const char *const members[] = {
		"{\"s\":\"\\u0000\"}",		/* NUL */
		"{\"s\":\"\\ud83d\"}",		/* lone high surrogate */
		"{\"s\":\"\\ud83dx\"}",
		"{\"s\":\"\\ud83d\\u0041\"}",	/* high then not low */
		"{\"s\":\"\\ude00\"}",		/* lone low surrogate */
		"{\"s\":\"tab\there\"}",	/* raw control character */
	};
	struct json_doc	*d;
	char		 s[64];
	size_t		 i;

	for (i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		d = parse(members[i]);
		CHECK(d != NULL);
		if (d == NULL)
			continue;
		CHECK_INT(json_get_string(d, "s", s, sizeof(s)),
		    EXO_ERR_INVALID);
		json_free(d);
	}
}

TEST(json_rejects_non_objects)
{
	static const char *const texts[] = {
		"", "[]", "\"s\"", "42", "{", "{\"a\":}", "{\"a\":1}x",
		"{\"a\":1}{\"b\":2}", "{1:2}", "{\"a\" 1}", "<html></html>",
		"{\"a\":\"unterminated}",
	};
	struct json_doc	*d;
	size_t		 i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		d = (struct json_doc *)1;
		CHECK(json_parse(texts[i], strlen(texts[i]), &d) < 0);
		CHECK(d == NULL);
	}
	d = (struct json_doc *)1;
	CHECK_INT(json_parse("{\"a\":\"b\"}\0junk", 14, &d), EXO_ERR_INVALID);
	CHECK(d == NULL);
	d = parse(" {\"a\":1} \r\n");
	CHECK(d != NULL);
	json_free(d);
}

TEST(json_depth_limit)
{
	char		 text[256];
	struct json_doc	*d;
	size_t		 o;
	int		 i, depth;

	for (depth = JSON_MAX_DEPTH - 1; depth <= JSON_MAX_DEPTH + 1;
	    depth++) {
		/* {"a":[[[...]]]} nests the arrays inside the object. */
		o = (size_t)snprintf(text, sizeof(text), "{\"a\":");
		for (i = 0; i < depth; i++)
			text[o++] = '[';
		for (i = 0; i < depth; i++)
			text[o++] = ']';
		text[o++] = '}';
		text[o] = '\0';
		d = NULL;
		if (depth < JSON_MAX_DEPTH) {
			CHECK_INT(json_parse(text, o, &d), 0);
		} else {
			CHECK_INT(json_parse(text, o, &d), EXO_ERR_INVALID);
		}
		json_free(d);
	}
}

TEST(json_token_limit)
{
	size_t		 cap = JSON_MAX_TOKENS * 8 + 64, o;
	char		*text = malloc(cap);
	struct json_doc	*d = NULL;
	int		 i, count;

	CHECK(text != NULL);
	if (text == NULL)
		return;
	/* The object, the key, the array and count elements. */
	for (count = JSON_MAX_TOKENS - 3; count <= JSON_MAX_TOKENS - 2;
	    count++) {
		o = (size_t)snprintf(text, cap, "{\"a\":[");
		for (i = 0; i < count; i++)
			o += (size_t)snprintf(text + o, cap - o, "%s1",
			    i ? "," : "");
		o += (size_t)snprintf(text + o, cap - o, "]}");
		d = NULL;
		if (count == JSON_MAX_TOKENS - 3) {
			CHECK_INT(json_parse(text, o, &d), 0);
		} else {
			CHECK_INT(json_parse(text, o, &d), EXO_ERR_TOOLONG);
		}
		json_free(d);
	}
	free(text);
}

TEST(json_int_bounds)
{
	struct json_doc	*d = parse("{\"big\":99999999999999999999,"
	    "\"neg\":-5,\"frac\":1.5,\"t\":true,\"s\":\"x1\"}");
	long long	 v = 0;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	CHECK(json_get_int(d, "big", &v) < 0);
	CHECK_INT(json_get_int(d, "neg", &v), 0);
	CHECK_INT(v, -5);
	CHECK(json_get_int(d, "frac", &v) < 0);
	CHECK(json_get_int(d, "t", &v) < 0);
	CHECK(json_get_int(d, "s", &v) < 0);
	CHECK_INT(json_get_int(d, "none", &v), EXO_ERR_NOTFOUND);
	json_free(d);
}

TEST(json_mutated_input)
{
	static const char	 seed[] = "{\"error\":\"invalid_grant\","
	    "\"error_description\":\"AADSTS70000: x\\r\\n\\u00e4\","
	    "\"error_codes\":[70000,2],\"n\":{\"a\":[true,null,-1.5e3]}}";
	struct json_doc		*d;
	char			 text[sizeof(seed)], s[64];
	unsigned		 rnd = 4242;
	long long		 v;
	int			 i, k, r, bad = 0;

	for (i = 0; i < 20000; i++) {
		memcpy(text, seed, sizeof(seed));
		for (k = 0; k < 3; k++) {
			rnd ^= rnd << 13;
			rnd ^= rnd >> 17;
			rnd ^= rnd << 5;
			text[rnd % (sizeof(seed) - 1)] = (char)(rnd >> 8);
		}
		d = NULL;
		if ((r = json_parse(text, sizeof(seed) - 1, &d)) != 0) {
			if (d != NULL || (r != EXO_ERR_INVALID &&
			    r != EXO_ERR_TOOLONG))
				bad++;
			continue;
		}
		r = json_get_string(d, "error_description", s, sizeof(s));
		if (r == 0 && strlen(s) >= sizeof(s))
			bad++;
		json_get_int(d, "n", &v);
		json_array_first_int(d, "error_codes", &v);
		json_array_has_int(d, "error_codes", 2);
		json_free(d);
	}
	CHECK_INT(bad, 0);
}

int
main(void)
{
	RUN(json_token_response);
	RUN(json_error_codes_array);
	RUN(json_string_escapes);
	RUN(json_bad_strings);
	RUN(json_rejects_non_objects);
	RUN(json_depth_limit);
	RUN(json_token_limit);
	RUN(json_int_bounds);
	RUN(json_mutated_input);
	return TEST_EXIT();
}
