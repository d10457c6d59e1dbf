/*
 * test-tls-hello.c: the ClientHello parser on real, truncated and garbage
 * hellos, and the explanations built from what a device offered.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tls-hello.h"

#define SUITE_RSA_AES128_SHA		0x002f
#define SUITE_RSA_AES128_GCM		0x009c
#define SUITE_ECDHE_RSA_AES128_SHA	0xc013
#define SUITE_ECDHE_RSA_AES128_GCM	0xc02f
#define SUITE_RC4_MD5			0x0004
#define GREASE				0x0a0a

/*
 * Writes a ClientHello record offering version and suites into out, with
 * a supported_versions extension when nver > 0. Returns its length.
 */
static size_t
make_hello(unsigned char *out, unsigned version, const unsigned *suites,
    size_t nsuites, const unsigned *vers, size_t nver)
{
	unsigned char	*p = out + 9;
	size_t		 i, body, hs;

	*p++ = version >> 8;
	*p++ = version & 0xff;
	memset(p, 0x5a, 32);
	p += 32;
	*p++ = 0;				/* session id */
	*p++ = (nsuites * 2) >> 8;
	*p++ = (nsuites * 2) & 0xff;
	for (i = 0; i < nsuites; i++) {
		*p++ = suites[i] >> 8;
		*p++ = suites[i] & 0xff;
	}
	*p++ = 1;				/* compression: null */
	*p++ = 0;
	if (nver > 0) {
		*p++ = 0;			/* extensions */
		*p++ = 5 + nver * 2;
		*p++ = 0;			/* supported_versions */
		*p++ = 43;
		*p++ = 0;
		*p++ = 1 + nver * 2;
		*p++ = nver * 2;
		for (i = 0; i < nver; i++) {
			*p++ = vers[i] >> 8;
			*p++ = vers[i] & 0xff;
		}
	}
	body = (size_t)(p - (out + 9));
	hs = body + 4;
	out[0] = 22;
	out[1] = 3;
	out[2] = 1;
	out[3] = hs >> 8;
	out[4] = hs & 0xff;
	out[5] = 1;
	out[6] = 0;
	out[7] = body >> 8;
	out[8] = body & 0xff;
	return hs + 5;
}

TEST(tls10_rsa_hello)
{
	static const unsigned	 suites[] = { SUITE_RSA_AES128_SHA };
	unsigned char		 buf[512];
	struct tls_hello	 h;
	size_t			 len;

	len = make_hello(buf, 0x0301, suites, 1, NULL, 0);
	CHECK_INT(tls_hello_parse(buf, len, &h), 1);
	CHECK_INT(h.best, TLS_HELLO_TLS10);
	CHECK_INT(h.tls13, 0);
	CHECK_INT(h.sslv2, 0);
	CHECK_INT(h.suites_whole, 1);
	CHECK_INT(h.suites, TLS_HELLO_RSA);
}

TEST(tls12_mixed_suites)
{
	static const unsigned	 suites[] = { GREASE, SUITE_RC4_MD5,
				    SUITE_ECDHE_RSA_AES128_GCM,
				    SUITE_ECDHE_RSA_AES128_SHA,
				    SUITE_RSA_AES128_GCM };
	unsigned char		 buf[512];
	struct tls_hello	 h;
	size_t			 len;

	len = make_hello(buf, 0x0303, suites, 5, NULL, 0);
	CHECK_INT(tls_hello_parse(buf, len, &h), 1);
	CHECK_INT(h.best, TLS_HELLO_TLS12);
	CHECK_INT(h.suites, TLS_HELLO_ECDHE | TLS_HELLO_ECDHE_OLD |
	    TLS_HELLO_RSA);
}

TEST(supported_versions_replace_client_version)
{
	static const unsigned	 suites[] = { SUITE_ECDHE_RSA_AES128_GCM };
	static const unsigned	 only13[] = { GREASE, TLS_HELLO_TLS13 };
	static const unsigned	 both[] = { TLS_HELLO_TLS13, TLS_HELLO_TLS12 };
	unsigned char		 buf[512];
	struct tls_hello	 h;
	size_t			 len;

	len = make_hello(buf, 0x0303, suites, 1, only13, 2);
	CHECK_INT(tls_hello_parse(buf, len, &h), 1);
	CHECK_INT(h.best, 0);
	CHECK_INT(h.tls13, 1);

	len = make_hello(buf, 0x0303, suites, 1, both, 2);
	CHECK_INT(tls_hello_parse(buf, len, &h), 1);
	CHECK_INT(h.best, TLS_HELLO_TLS12);
	CHECK_INT(h.tls13, 1);
}

TEST(hello_split_across_records)
{
	static const unsigned	 suites[] = { SUITE_RSA_AES128_SHA,
				    SUITE_ECDHE_RSA_AES128_SHA };
	unsigned char		 one[512], two[600];
	struct tls_hello	 h;
	size_t			 len, cut = 20;

	/* The record of one split after cut bytes of its handshake data. */
	len = make_hello(one, 0x0302, suites, 2, NULL, 0);
	memcpy(two, one, 5 + cut);
	two[3] = 0;
	two[4] = cut;
	two[5 + cut] = 22;
	two[5 + cut + 1] = 3;
	two[5 + cut + 2] = 2;
	two[5 + cut + 3] = 0;
	two[5 + cut + 4] = len - 5 - cut;
	memcpy(two + 10 + cut, one + 5 + cut, len - 5 - cut);
	CHECK_INT(tls_hello_parse(two, len + 5, &h), 1);
	CHECK_INT(h.best, TLS_HELLO_TLS11);
	CHECK_INT(h.suites_whole, 1);
	CHECK_INT(h.suites, TLS_HELLO_RSA | TLS_HELLO_ECDHE_OLD);
}

TEST(sslv2_format_hello)
{
	/* SSL 2.0 record: version TLS 1.0, one SSL 2.0 spec and one TLS
	 * suite (TLS_RSA_WITH_AES_128_CBC_SHA), no session id, a 16-byte
	 * challenge. */
	unsigned char		 buf[64] = {
		0x80, 0x1f, 0x01, 0x03, 0x01, 0x00, 0x06, 0x00, 0x00, 0x00,
		0x10, 0x07, 0x00, 0xc0, 0x00, 0x00, 0x2f,
	};
	struct tls_hello	 h;

	CHECK_INT(tls_hello_parse(buf, 17 + 16, &h), 1);
	CHECK_INT(h.sslv2, 1);
	CHECK_INT(h.best, TLS_HELLO_TLS10);
	CHECK_INT(h.suites_whole, 1);
	CHECK_INT(h.suites, TLS_HELLO_RSA);

	/* An SSL 2.0 client that knows no SSL 3.0. */
	buf[3] = 0x00;
	buf[4] = 0x02;
	CHECK_INT(tls_hello_parse(buf, 17 + 16, &h), 1);
	CHECK_INT(h.best, 0);
}

TEST(truncated_hellos_stay_in_bounds)
{
	static const unsigned	 suites[] = { SUITE_RSA_AES128_SHA,
				    SUITE_ECDHE_RSA_AES128_GCM };
	static const unsigned	 vers[] = { TLS_HELLO_TLS12 };
	unsigned char		 buf[512], *copy;
	struct tls_hello	 h;
	size_t			 len, cut;

	len = make_hello(buf, 0x0303, suites, 2, vers, 1);
	for (cut = 0; cut < len; cut++) {
		/* An exact-size copy lets ASan catch a read past the end. */
		copy = malloc(cut + 1);
		CHECK(copy != NULL);
		if (copy == NULL)
			return;
		memcpy(copy, buf, cut);
		tls_hello_parse(copy, cut, &h);
		if (cut < 11)
			CHECK_INT(h.parsed, 0);
		if (cut >= 11)
			CHECK_INT(h.best, TLS_HELLO_TLS12);
		if (cut < 9 + 2 + 32 + 1 + 2 + 4)
			CHECK_INT(h.suites_whole, 0);
		free(copy);
	}
	CHECK_INT(tls_hello_parse(buf, len, &h), 1);
	CHECK_INT(h.suites_whole, 1);
}

TEST(garbage_is_no_hello)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
	} inputs[] = {
		{ "", 0 },
		{ "USER scanner\r\n", 14 },
		{ "EHLO printer\r\n", 14 },
		{ "\x16\x03\x01\x00\x00", 5 },		/* empty record */
		{ "\x16\x03\x01\xff\xff\x02", 6 },	/* ServerHello */
		{ "\x15\x03\x01\x00\x02\x02\x28", 7 },	/* alert */
		{ "\x80\x03\x02", 3 },			/* SSL 2.0, type 2 */
	};
	unsigned char		 noise[TLS_HELLO_MAX + 100];
	struct tls_hello	 h;
	size_t			 i;
	unsigned		 x = 1;

	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		CHECK_INT(tls_hello_parse((const unsigned char *)inputs[i].bytes,
		    inputs[i].len, &h), 0);
		CHECK_INT(h.parsed, 0);
	}

	/* Lengths that claim more than was sent, over and over. */
	memset(noise, 0xff, sizeof(noise));
	noise[0] = 22;
	CHECK_INT(tls_hello_parse(noise, sizeof(noise), &h), 0);
	for (i = 0; i < sizeof(noise); i++) {
		x = x * 1103515245u + 12345u;
		noise[i] = (unsigned char)(x >> 16);
	}
	noise[0] = 22;
	tls_hello_parse(noise, sizeof(noise), &h);
	CHECK(h.best <= TLS_HELLO_TLS12);
}

/* Parses a hello of version and suites and returns its explanation. */
static const char *
explain(unsigned version, const unsigned *suites, size_t n, int legacy,
    char *buf, size_t cap)
{
	unsigned char		 rec[512];
	struct tls_hello	 h;
	size_t			 len;

	len = make_hello(rec, version, suites, n, NULL, 0);
	if (!tls_hello_parse(rec, len, &h))
		return "(no hello)";
	return tls_hello_explain(&h, "10.0.0.5", legacy, "pop3", buf, cap);
}

TEST(explain_names_offer_and_fix)
{
	static const unsigned	 rsa[] = { SUITE_RSA_AES128_SHA };
	static const unsigned	 ecdhe_old[] = { SUITE_ECDHE_RSA_AES128_SHA };
	static const unsigned	 modern[] = { SUITE_ECDHE_RSA_AES128_GCM };
	static const unsigned	 rc4[] = { SUITE_RC4_MD5 };
	char			 buf[256];

	CHECK_STR(explain(0x0301, rsa, 1, 0, buf, sizeof(buf)),
	    "device 10.0.0.5 offers only TLS 1.0 with RSA key exchange; "
	    "set [pop3] legacy_tls = yes for it");
	CHECK_STR(explain(0x0302, ecdhe_old, 1, 0, buf, sizeof(buf)),
	    "device 10.0.0.5 offers only TLS 1.0 and 1.1; set [pop3] "
	    "legacy_tls = yes for it");
	CHECK_STR(explain(0x0303, rsa, 1, 0, buf, sizeof(buf)),
	    "device 10.0.0.5 offers TLS 1.2 but only with RSA key exchange; "
	    "set [pop3] legacy_tls = yes for it");
	CHECK(strstr(explain(0x0303, ecdhe_old, 1, 0, buf, sizeof(buf)),
	    "only with old cipher suites") != NULL);
	CHECK_STR(explain(0x0300, rsa, 1, 1, buf, sizeof(buf)),
	    "device 10.0.0.5 offers only SSL 3.0, which exoconnect never "
	    "accepts; update the device's firmware");
	CHECK_STR(explain(0x0300, rsa, 1, 0, buf, sizeof(buf)),
	    "device 10.0.0.5 offers only SSL 3.0, which exoconnect never "
	    "accepts; update the device's firmware");
	CHECK_STR(explain(0x0301, rc4, 1, 1, buf, sizeof(buf)),
	    "device 10.0.0.5 offers no cipher suite that exoconnect "
	    "supports; update the device's firmware");

	/* Offers that fit the listener leave the reason to the error. */
	CHECK(explain(0x0303, modern, 1, 0, buf, sizeof(buf)) == NULL);
	CHECK(explain(0x0301, rsa, 1, 1, buf, sizeof(buf)) == NULL);
	CHECK(explain(0x0303, rsa, 1, 1, buf, sizeof(buf)) == NULL);
}

TEST(fix_from_message_without_hello)
{
	static const struct {
		const char	*msg;
		int		 legacy;
		const char	*want;	/* part of the fix, or NULL */
	} cases[] = {
		{ "TLS with the client failed: no common TLS version: the peer "
		    "offered only versions older than this side accepts", 0,
		    "set [smtp] legacy_tls = yes" },
		{ "TLS with the client failed: no common cipher suite with "
		    "the peer", 0, "set [smtp] legacy_tls = yes" },
		{ "TLS with the client failed: no common TLS version: the peer "
		    "offered only versions older than this side accepts", 1,
		    "only SSL 3.0 or older" },
		{ "TLS with the client failed: no common TLS version: the peer "
		    "does not offer the versions accepted here", 0, NULL },
		{ "TLS with the client failed: the handshake timed out", 0,
		    NULL },
	};
	struct tls_hello	 none;
	char			 buf[256];
	const char		*fix;
	size_t			 i;

	memset(&none, 0, sizeof(none));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fix = tls_hello_fix(cases[i].msg, i % 2 ? &none : NULL,
		    "10.0.0.5", cases[i].legacy, "smtp", buf, sizeof(buf));
		if (cases[i].want == NULL) {
			CHECK(fix == NULL);
			continue;
		}
		CHECK(fix != NULL);
		if (fix != NULL)
			CHECK(strstr(fix, cases[i].want) != NULL);
	}
}

TEST(fix_prefers_hello_over_message)
{
	static const unsigned	 modern[] = { SUITE_ECDHE_RSA_AES128_GCM };
	unsigned char		 rec[512];
	struct tls_hello	 h;
	char			 buf[256];
	size_t			 len;

	/* A hello that fits: legacy_tls would not help, so no fix. */
	len = make_hello(rec, 0x0303, modern, 1, NULL, 0);
	CHECK_INT(tls_hello_parse(rec, len, &h), 1);
	CHECK(tls_hello_fix("TLS with the client failed: no common cipher "
	    "suite with the peer", &h, "10.0.0.5", 0, "smtp", buf,
	    sizeof(buf)) == NULL);
}

TEST(plain_port_fix_names_port)
{
	char	buf[256];

	CHECK_STR(tls_hello_plain_port_fix("pop3", 110, 995, 995, buf,
	    sizeof(buf)), "this device uses SSL/TLS on port 110; set the "
	    "device to STARTTLS or use port 995");
	CHECK_STR(tls_hello_plain_port_fix("smtp", 2525, 0, 465, buf,
	    sizeof(buf)), "this device uses SSL/TLS on port 2525; set the "
	    "device to STARTTLS (with starttls = yes) or to no encryption, "
	    "or set tls_port = 465 under [smtp] and use that port");
}

int
main(void)
{
	RUN(tls10_rsa_hello);
	RUN(tls12_mixed_suites);
	RUN(supported_versions_replace_client_version);
	RUN(hello_split_across_records);
	RUN(sslv2_format_hello);
	RUN(truncated_hellos_stay_in_bounds);
	RUN(garbage_is_no_hello);
	RUN(explain_names_offer_and_fix);
	RUN(fix_from_message_without_hello);
	RUN(fix_prefers_hello_over_message);
	RUN(plain_port_fix_names_port);
	return TEST_EXIT();
}
