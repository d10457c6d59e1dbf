/*
 * test-util.c: string helpers, the bounded number parser, the growable
 * buffer, form encoding and base64.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "../../src/util.h"

TEST(str_copy_cuts)
{
	char	dst[4];

	CHECK_INT(str_copy(dst, "ab", sizeof(dst)), 2);
	CHECK_STR(dst, "ab");
	CHECK_INT(str_copy(dst, "abcdef", sizeof(dst)), 6);
	CHECK_STR(dst, "abc");
	CHECK_INT(str_copy(dst, "abc", sizeof(dst)), 3);
	CHECK_STR(dst, "abc");
}

TEST(str_case_compare)
{
	CHECK_INT(str_casecmp("EHLO", "ehlo"), 0);
	CHECK(str_casecmp("EHLO", "HELO") != 0);
	CHECK(str_casecmp("a", "ab") < 0);
	CHECK_INT(str_ncasecmp("AUTH LOGIN", "auth plain", 5), 0);
	CHECK(str_ncasecmp("AUTH LOGIN", "auth plain", 6) != 0);
	CHECK(str_has_prefix_case("Content-Length: 5", "content-length:"));
	CHECK(!str_has_prefix_case("Content", "content-length:"));
	/* Bytes above 127 compare as bytes, never through the locale. */
	CHECK(str_casecmp("\xc3\x84", "\xc3\xa4") != 0);
}

TEST(str_trim_end_line_ends)
{
	char	s[16];

	memcpy(s, "QUIT \t\r\n", 9);
	CHECK_INT(str_trim_end(s, 8), 4);
	CHECK_STR(s, "QUIT");
	memcpy(s, "\r\n", 3);
	CHECK_INT(str_trim_end(s, 2), 0);
	CHECK_STR(s, "");
	memcpy(s, "a b", 4);
	CHECK_INT(str_trim_end(s, 3), 3);
	CHECK_STR(s, "a b");
}

TEST(ct_equal_cases)
{
	CHECK(ct_equal("secret", 6, "secret", 6));
	CHECK(!ct_equal("secret", 6, "secreT", 6));
	CHECK(!ct_equal("secret", 6, "secre", 5));
	CHECK(!ct_equal("secre", 5, "secret", 6));
	CHECK(!ct_equal("", 0, "a", 1));
	CHECK(ct_equal("", 0, "", 0));
	/* A prefix followed by zeros must not match a shorter string. */
	CHECK(!ct_equal("ab\0", 3, "ab", 2));
}

TEST(parse_ll_bounds)
{
	long long	v = -1;

	CHECK_INT(parse_ll("0", 0, 10, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(parse_ll("10", 0, 10, &v), 0);
	CHECK_INT(v, 10);
	CHECK_INT(parse_ll("11", 0, 10, &v), EXO_ERR_INVALID);
	CHECK_INT(parse_ll("-1", 0, 10, &v), EXO_ERR_INVALID);
	CHECK_INT(parse_ll("-5", -10, 10, &v), 0);
	CHECK_INT(v, -5);
	CHECK_INT(parse_ll("-11", -10, 10, &v), EXO_ERR_INVALID);
	CHECK_INT(parse_ll("007", 0, 10, &v), 0);
	CHECK_INT(v, 7);
	CHECK_INT(parse_ll("9223372036854775807", 0, LLONG_MAX, &v), 0);
	CHECK(v == LLONG_MAX);
	CHECK_INT(parse_ll("-9223372036854775808", LLONG_MIN, 0, &v), 0);
	CHECK(v == LLONG_MIN);
}

TEST(parse_ll_rejects_junk)
{
	static const char *bad[] = {
		"", "-", "+1", " 1", "1 ", "1a", "0x10", "1.0", "--1",
		"9223372036854775808", "-9223372036854775809",
		"99999999999999999999999",
	};
	long long	v = 42;
	size_t		i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_ll(bad[i], LLONG_MIN, LLONG_MAX, &v) !=
		    EXO_ERR_INVALID)
			printf("  accepted \"%s\"\n", bad[i]);
		CHECK_INT(parse_ll(bad[i], LLONG_MIN, LLONG_MAX, &v),
		    EXO_ERR_INVALID);
	}
	CHECK_INT(v, 42);
	CHECK_INT(parse_ll(NULL, 0, 1, &v), EXO_ERR_INVALID);
}

TEST(buf_grows)
{
	struct buf	b;
	int		i;

	buf_init(&b);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
	for (i = 0; i < 1000; i++)
		CHECK_INT(buf_append(&b, "0123456789", 10), 0);
	CHECK_INT(b.len, 10000);
	CHECK_INT(b.data[b.len], '\0');
	CHECK(memcmp(b.data + 9990, "0123456789", 10) == 0);
	buf_free(&b);
	CHECK(b.data == NULL);
	CHECK_INT(b.len, 0);
}

TEST(buf_printf_appends)
{
	struct buf	b;

	buf_init(&b);
	CHECK_INT(buf_puts(&b, "user="), 0);
	CHECK_INT(buf_printf(&b, "%s;n=%d", "scanner1", 42), 0);
	CHECK_STR(b.data, "user=scanner1;n=42");
	CHECK_INT(b.len, strlen("user=scanner1;n=42"));
	CHECK_INT(buf_append(&b, "", 0), 0);
	CHECK_INT(b.len, strlen("user=scanner1;n=42"));
	buf_free(&b);
}

TEST(url_encode_form)
{
	struct buf	b;

	buf_init(&b);
	CHECK_INT(url_encode(&b, "a b+c&d=e/f~g*h-i._"), 0);
	CHECK_STR(b.data, "a+b%2Bc%26d%3De%2Ff%7Eg*h-i._");
	buf_free(&b);

	buf_init(&b);
	CHECK_INT(url_encode(&b, "https://outlook.office.com/POP.AccessAsUser.All"),
	    0);
	CHECK_STR(b.data,
	    "https%3A%2F%2Foutlook.office.com%2FPOP.AccessAsUser.All");
	buf_free(&b);

	buf_init(&b);
	CHECK_INT(url_encode(&b, "\xc3\xa4\x01"), 0);
	CHECK_STR(b.data, "%C3%A4%01");
	buf_free(&b);
}

/* The test vectors of RFC 4648 section 10. */
static const struct {
	const char	*plain;
	const char	*encoded;
} b64_vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

TEST(base64_rfc4648_vectors)
{
	char	enc[16], dec[16];
	size_t	i, n;
	long	got;

	for (i = 0; i < sizeof(b64_vectors) / sizeof(b64_vectors[0]); i++) {
		n = strlen(b64_vectors[i].plain);
		CHECK_INT(base64_encoded_len(n),
		    strlen(b64_vectors[i].encoded));
		base64_encode(b64_vectors[i].plain, n, enc);
		CHECK_STR(enc, b64_vectors[i].encoded);

		got = base64_decode(b64_vectors[i].encoded,
		    strlen(b64_vectors[i].encoded), dec, sizeof(dec), 0);
		CHECK_INT(got, n);
		CHECK(memcmp(dec, b64_vectors[i].plain, n) == 0);
	}
}

TEST(base64_without_padding)
{
	char	dec[16];

	CHECK_INT(base64_decode("Zg", 2, dec, sizeof(dec), 0), 1);
	CHECK_INT(dec[0], 'f');
	CHECK_INT(base64_decode("Zm9vYmE", 7, dec, sizeof(dec), 0), 5);
	CHECK(memcmp(dec, "fooba", 5) == 0);
}

TEST(base64_sasl_prompts)
{
	char	enc[32], dec[32];

	base64_encode("Username:", 9, enc);
	CHECK_STR(enc, "VXNlcm5hbWU6");
	base64_encode("Password:", 9, enc);
	CHECK_STR(enc, "UGFzc3dvcmQ6");
	CHECK_INT(base64_decode("c2Nhbm5lcjE=", 12, dec, sizeof(dec), 0), 8);
	CHECK(memcmp(dec, "scanner1", 8) == 0);
}

TEST(base64_url_alphabet)
{
	static const unsigned char raw[] = { 0xfb, 0xff, 0xbf };
	unsigned char	dec[8];

	CHECK_INT(base64_decode("-_-_", 4, dec, sizeof(dec), 1), 3);
	CHECK(memcmp(dec, raw, 3) == 0);
	CHECK_INT(base64_decode("+/+/", 4, dec, sizeof(dec), 0), 3);
	CHECK(memcmp(dec, raw, 3) == 0);
	CHECK_INT(base64_decode("-_-_", 4, dec, sizeof(dec), 0),
	    EXO_ERR_INVALID);
	CHECK_INT(base64_decode("+/+/", 4, dec, sizeof(dec), 1),
	    EXO_ERR_INVALID);
}

TEST(base64_rejects_bad_input)
{
	static const char *bad[] = {
		"Z",		/* one character cannot hold a byte */
		"Zm9vY",	/* five characters, same reason */
		"Zg=",		/* padding that does not complete the group */
		"Zg===",
		"====",
		"=",
		"Z===",
		"Zm=v",		/* padding in the middle */
		"Zg==Zg==",
		"Zm9v\n",	/* white space is not accepted */
		"Zm 9v",
		"Zm9v*",
		"Zh==",		/* non-zero bits after the last byte */
		"Zm9=",
		"Zm\0v",
	};
	char	dec[16];
	size_t	i, len;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		len = strlen(bad[i]);
		if (i == sizeof(bad) / sizeof(bad[0]) - 1)
			len = 4;
		if (base64_decode(bad[i], len, dec, sizeof(dec), 0) !=
		    EXO_ERR_INVALID)
			printf("  accepted \"%s\"\n", bad[i]);
		CHECK_INT(base64_decode(bad[i], len, dec, sizeof(dec), 0),
		    EXO_ERR_INVALID);
	}
}

TEST(base64_output_limit)
{
	char	dec[8];

	CHECK_INT(base64_decode("Zm9vYmFy", 8, dec, 6, 0), 6);
	CHECK_INT(base64_decode("Zm9vYmFy", 8, dec, 5, 0), EXO_ERR_TOOLONG);
	CHECK_INT(base64_decode("Zg==", 4, dec, 0, 0), EXO_ERR_TOOLONG);
}

TEST(base64_round_trip_all_bytes)
{
	unsigned char	raw[256], dec[256];
	char		enc[400];
	size_t		n;

	for (n = 0; n < sizeof(raw); n++)
		raw[n] = (unsigned char)(255 - n);
	for (n = 0; n <= sizeof(raw); n += 37) {
		base64_encode(raw, n, enc);
		CHECK_INT(strlen(enc), base64_encoded_len(n));
		CHECK_INT(base64_decode(enc, strlen(enc), dec, sizeof(dec), 0),
		    n);
		CHECK(memcmp(dec, raw, n) == 0);
	}
}

TEST(err_set_fills_message)
{
	struct exo_error	e;

	err_clear(&e);
	CHECK_INT(e.code, EXO_OK);
	CHECK_STR(e.msg, "");
	CHECK_INT(err_set(&e, EXO_ERR_NOTFOUND, "file %s not found", "a.pem"),
	    EXO_ERR_NOTFOUND);
	CHECK_INT(e.code, EXO_ERR_NOTFOUND);
	CHECK_STR(e.msg, "file a.pem not found");
	CHECK_INT(err_set(NULL, EXO_ERR_IO, "ignored"), EXO_ERR_IO);
}

TEST(err_set_cuts_at_utf8_boundary)
{
	struct exo_error	e;
	char			text[EXO_ERROR_MSG_MAX + 8];
	size_t			len;

	/* "a" then two-byte characters: the cut falls inside one. */
	text[0] = 'a';
	for (len = 1; len + 2 < sizeof(text); len += 2)
		memcpy(text + len, "\xc3\xa4", 2);
	text[len] = '\0';
	err_set(&e, EXO_ERR_INVALID, "%sb", text);
	len = strlen(e.msg);
	CHECK(len < EXO_ERROR_MSG_MAX);
	CHECK(len >= EXO_ERROR_MSG_MAX - 4);
	CHECK_INT((unsigned char)e.msg[len - 1], 0xa4);

	/* Plain ASCII is cut at the last byte that fits. */
	memset(text, 'x', EXO_ERROR_MSG_MAX + 4);
	text[EXO_ERROR_MSG_MAX + 4] = '\0';
	err_set(&e, EXO_ERR_INVALID, "%s", text);
	CHECK_INT(strlen(e.msg), EXO_ERROR_MSG_MAX - 1);
}

TEST(exo_strerror_names)
{
	CHECK_STR(exo_strerror(EXO_OK), "no error");
	CHECK_STR(exo_strerror(EXO_ERR_TIMEOUT), "timed out");
	CHECK_STR(exo_strerror(EXO_ERR_BUSY), "too many connections");
	CHECK_STR(exo_strerror(-999), "unknown error");
}

int
main(void)
{
	RUN(str_copy_cuts);
	RUN(str_case_compare);
	RUN(str_trim_end_line_ends);
	RUN(ct_equal_cases);
	RUN(parse_ll_bounds);
	RUN(parse_ll_rejects_junk);
	RUN(buf_grows);
	RUN(buf_printf_appends);
	RUN(url_encode_form);
	RUN(base64_rfc4648_vectors);
	RUN(base64_without_padding);
	RUN(base64_sasl_prompts);
	RUN(base64_url_alphabet);
	RUN(base64_rejects_bad_input);
	RUN(base64_output_limit);
	RUN(base64_round_trip_all_bytes);
	RUN(err_set_fills_message);
	RUN(err_set_cuts_at_utf8_boundary);
	RUN(exo_strerror_names);
	return (TEST_EXIT());
}
