/*
 * test-sasl.c: PLAIN and LOGIN decoding, the cancel line and the XOAUTH2
 * line, with the examples of RFC 4616 section 4.
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/sasl.h"
#include "../../src/util.h"
#include "test.h"

TEST(plain_rfc4616_without_authzid)
{
	struct sasl_cred c;

	/* "\0tim\0tanstaaftanstaaf" */
	CHECK_INT(sasl_plain_decode("AHRpbQB0YW5zdGFhZnRhbnN0YWFm", 28, &c),
	    EXO_OK);
	CHECK_STR(c.authzid, "");
	CHECK_STR(c.user, "tim");
	CHECK_STR(c.password, "tanstaaftanstaaf");
	CHECK_INT(c.password_len, 16);
	sasl_cred_wipe(&c);
	CHECK_STR(c.user, "");
}

TEST(plain_rfc4616_other_authzid)
{
	struct sasl_cred c;
	const char *b64 = "VXJzZWwAS3VydAB4aXBqM3BsbXE=";

	/* "Ursel\0Kurt\0xipj3plmq": Kurt acting as Ursel is not offered. */
	CHECK_INT(sasl_plain_decode(b64, strlen(b64), &c), EXO_ERR_AUTH);
	CHECK_STR(c.user, "");
	CHECK_INT(c.password_len, 0);
}

TEST(plain_same_authzid)
{
	struct sasl_cred c;
	const char *b64 = "c2Nhbm5lcjEAc2Nhbm5lcjEAc2VjcmV0";

	CHECK_INT(sasl_plain_decode(b64, strlen(b64), &c), EXO_OK);
	CHECK_STR(c.authzid, "scanner1");
	CHECK_STR(c.user, "scanner1");
	CHECK_STR(c.password, "secret");
	CHECK_INT(c.password_len, 6);
}

TEST(plain_padding_optional)
{
	struct sasl_cred c;

	CHECK_INT(sasl_plain_decode("AHNjYW5uZXIxAHNlY3JldA==", 24, &c),
	    EXO_OK);
	CHECK_STR(c.user, "scanner1");
	CHECK_STR(c.password, "secret");
	CHECK_INT(sasl_plain_decode("AHNjYW5uZXIxAHNlY3JldA", 22, &c),
	    EXO_OK);
	CHECK_STR(c.user, "scanner1");
	CHECK_STR(c.password, "secret");
}

TEST(plain_non_ascii_password)
{
	struct sasl_cred c;
	const char *b64 = "AHNjYW5uZXIxAHDDpHNzd8O2cmQ=";

	CHECK_INT(sasl_plain_decode(b64, strlen(b64), &c), EXO_OK);
	CHECK_STR(c.password, "p\xc3\xa4ssw\xc3\xb6rd");
	CHECK_INT(c.password_len, 10);
}

TEST(plain_rejects_bad_input)
{
	struct sasl_cred c;

	/* Not base64. */
	CHECK_INT(sasl_plain_decode("AHNj*W5u", 8, &c), EXO_ERR_INVALID);
	CHECK_INT(sasl_plain_decode("A", 1, &c), EXO_ERR_INVALID);
	/* Empty. */
	CHECK_INT(sasl_plain_decode("", 0, &c), EXO_ERR_INVALID);
	/* "ab": no separators. */
	CHECK_INT(sasl_plain_decode("YWI=", 4, &c), EXO_ERR_INVALID);
	/* "\0a\0b\0c": four fields. */
	CHECK_INT(sasl_plain_decode("AGEAYgBj", 8, &c), EXO_ERR_INVALID);
	/* "\0\0pw": empty user. */
	CHECK_INT(sasl_plain_decode("AABwdw==", 8, &c), EXO_ERR_INVALID);
	/* "\0u\0": empty password. */
	CHECK_INT(sasl_plain_decode("AHUA", 4, &c), EXO_ERR_INVALID);
}

TEST(plain_field_limits)
{
	struct sasl_cred c;
	char	 raw[2 + SASL_FIELD_MAX + 8];
	char	 b64[SASL_LINE_MAX * 2];
	size_t	 n;

	/* A user name of SASL_FIELD_MAX - 1 bytes fits, one more does not. */
	raw[0] = '\0';
	memset(raw + 1, 'u', SASL_FIELD_MAX - 1);
	raw[SASL_FIELD_MAX] = '\0';
	raw[SASL_FIELD_MAX + 1] = 'p';
	n = SASL_FIELD_MAX + 2;
	base64_encode(raw, n, b64);
	CHECK_INT(sasl_plain_decode(b64, strlen(b64), &c), EXO_OK);
	CHECK_INT(strlen(c.user), SASL_FIELD_MAX - 1);

	memset(raw + 1, 'u', SASL_FIELD_MAX);
	raw[SASL_FIELD_MAX + 1] = '\0';
	raw[SASL_FIELD_MAX + 2] = 'p';
	n = SASL_FIELD_MAX + 3;
	base64_encode(raw, n, b64);
	CHECK_INT(sasl_plain_decode(b64, strlen(b64), &c), EXO_ERR_TOOLONG);

	/* A response line above SASL_LINE_MAX is rejected before decoding. */
	memset(b64, 'A', SASL_LINE_MAX + 4);
	CHECK_INT(sasl_plain_decode(b64, SASL_LINE_MAX + 4, &c),
	    EXO_ERR_TOOLONG);
}

TEST(login_fields)
{
	char	out[SASL_FIELD_MAX];
	size_t	len;

	CHECK_INT(sasl_login_decode("c2Nhbm5lcjE=", 12, out, sizeof(out),
	    &len), EXO_OK);
	CHECK_STR(out, "scanner1");
	CHECK_INT(len, 8);
	/* Without padding. */
	CHECK_INT(sasl_login_decode("c2VjcmV0", 8, out, sizeof(out), &len),
	    EXO_OK);
	CHECK_STR(out, "secret");
	CHECK_INT(sasl_login_decode("c2Nhbm5lcjE", 11, out, sizeof(out),
	    &len), EXO_OK);
	CHECK_STR(out, "scanner1");
	/* ISO-8859-1 bytes come back as sent. */
	CHECK_INT(sasl_login_decode("cORzc3f2cmQ=", 12, out, sizeof(out),
	    &len), EXO_OK);
	CHECK_INT(len, 8);
	CHECK(memcmp(out, "p\xe4ssw\xf6rd", 8) == 0);
}

TEST(login_rejects_bad_input)
{
	char	out[8];
	size_t	len;

	CHECK_INT(sasl_login_decode("c2Nh!m5l", 8, out, sizeof(out), &len),
	    EXO_ERR_INVALID);
	CHECK_INT(len, 0);
	/* "a\0b" */
	CHECK_INT(sasl_login_decode("YQBi", 4, out, sizeof(out), &len),
	    EXO_ERR_INVALID);
	/* "scanner1" needs 9 bytes with its NUL. */
	CHECK_INT(sasl_login_decode("c2Nhbm5lcjE=", 12, out, sizeof(out),
	    &len), EXO_ERR_TOOLONG);
	/* Seven bytes fit. */
	CHECK_INT(sasl_login_decode("c2Nhbm5lcg==", 12, out, sizeof(out),
	    &len), EXO_OK);
	CHECK_STR(out, "scanner");
}

TEST(cancel_line)
{
	CHECK_INT(sasl_is_cancel("*", 1), 1);
	CHECK_INT(sasl_is_cancel("*\r\n", 3), 1);
	CHECK_INT(sasl_is_cancel("*\n", 2), 1);
	CHECK_INT(sasl_is_cancel("", 0), 0);
	CHECK_INT(sasl_is_cancel("**", 2), 0);
	CHECK_INT(sasl_is_cancel("Kg==", 4), 0);
	CHECK_INT(sasl_is_cancel("\r\n", 2), 0);
}

TEST(xoauth2_exact_line)
{
	char	*line;
	size_t	 len;

	CHECK_INT(sasl_xoauth2_encode("mfp@example.com", "<ACCESS_TOKEN>",
	    &line, &len), EXO_OK);
	CHECK_STR(line, "dXNlcj1tZnBAZXhhbXBsZS5jb20BYXV0aD1CZWFyZXIgPEFDQ0VT"
	    "U19UT0tFTj4BAQ==");
	CHECK_INT(len, strlen(line));
	free(line);
}

TEST(xoauth2_long_token_one_line)
{
	static char	 token[3001];
	char		*line = NULL, *expect = NULL, *raw = NULL;
	size_t		 len, rawlen, i;
	long		 n;

	for (i = 0; i < 3000; i++)
		token[i] = "abcdefghijklmnopqrstuvwxyz0123456789-_."[i % 39];
	token[3000] = '\0';

	CHECK_INT(sasl_xoauth2_encode("scan@example.com", token, &line,
	    &len), EXO_OK);
	if (line == NULL)
		return;
	CHECK(memchr(line, '\r', len) == NULL);
	CHECK(memchr(line, '\n', len) == NULL);
	CHECK(memchr(line, ' ', len) == NULL);
	CHECK_INT(len, strlen(line));

	/* 5 + 16 + 13 + 3000 + 2 bytes encode to 4 * ceil(3036 / 3). */
	rawlen = 5 + 16 + 13 + 3000 + 2;
	CHECK_INT(len, 4 * ((rawlen + 2) / 3));

	raw = malloc(rawlen + 1);
	expect = malloc(rawlen + 1);
	memcpy(expect, "user=scan@example.com\001auth=Bearer ", 34);
	memcpy(expect + 34, token, 3000);
	memcpy(expect + 3034, "\001\001", 2);
	n = base64_decode(line, len, raw, rawlen + 1, 0);
	CHECK_INT(n, (long)rawlen);
	if (n == (long)rawlen)
		CHECK(memcmp(raw, expect, rawlen) == 0);
	free(raw);
	free(expect);
	free(line);
}

TEST(xoauth2_rejects_bad_parts)
{
	char	*line = (char *)"x";
	size_t	 len = 1;

	CHECK_INT(sasl_xoauth2_encode("", "tok", &line, &len),
	    EXO_ERR_INVALID);
	CHECK(line == NULL);
	CHECK_INT(len, 0);
	CHECK_INT(sasl_xoauth2_encode("a@b", "", &line, &len),
	    EXO_ERR_INVALID);
	CHECK_INT(sasl_xoauth2_encode("a@b", "to\001k", &line, &len),
	    EXO_ERR_INVALID);
	CHECK_INT(sasl_xoauth2_encode("a@b\r\n", "tok", &line, &len),
	    EXO_ERR_INVALID);
}

int
main(void)
{
	RUN(plain_rfc4616_without_authzid);
	RUN(plain_rfc4616_other_authzid);
	RUN(plain_same_authzid);
	RUN(plain_padding_optional);
	RUN(plain_non_ascii_password);
	RUN(plain_rejects_bad_input);
	RUN(plain_field_limits);
	RUN(login_fields);
	RUN(login_rejects_bad_input);
	RUN(cancel_line);
	RUN(xoauth2_exact_line);
	RUN(xoauth2_long_token_one_line);
	RUN(xoauth2_rejects_bad_parts);
	return TEST_EXIT();
}
