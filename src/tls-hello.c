/*
 * tls-hello.c: reads the versions and cipher suites a device offers in
 * its ClientHello, and explains from them why a listener rejected it.
 * Formats: RFC 5246 section 7.4.1.2, the SSL 2.0 form of RFC 5246
 * appendix E.2, and supported_versions of RFC 8446 section 4.2.1.
 */
#include <stdio.h>
#include <string.h>

#include <bearssl.h>

#include "tls-cert.h"
#include "tls-hello.h"

#define HELLO_RECORD_HANDSHAKE		22
#define HELLO_CLIENT_HELLO		1
#define HELLO_RANDOM_LEN		32
#define HELLO_EXT_SUPPORTED_VERSIONS	43
#define HELLO_V2_HEADER			3

/* The kind of each cipher suite that BearSSL implements. */
struct hello_suite {
	uint16_t	id;
	unsigned	kind;
};

static const struct hello_suite hello_suites[] = {
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_CCM, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_CCM, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, TLS_HELLO_ECDHE },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, TLS_HELLO_ECDHE_OLD },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8, TLS_HELLO_ECDHE_OLD },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_HELLO_ECDHE_OLD },
	{ BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, TLS_HELLO_ECDHE_OLD },
	{ BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, TLS_HELLO_ECDHE_OLD },
	{ BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, TLS_HELLO_ECDHE_OLD },
	{ BR_TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA, TLS_HELLO_ECDHE_OLD },
	{ BR_TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, TLS_HELLO_ECDHE_OLD },
	{ BR_TLS_RSA_WITH_AES_128_GCM_SHA256, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_256_GCM_SHA384, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_128_CCM, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_256_CCM, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_128_CCM_8, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_256_CCM_8, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_128_CBC_SHA256, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_256_CBC_SHA256, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_128_CBC_SHA, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_AES_256_CBC_SHA, TLS_HELLO_RSA },
	{ BR_TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_HELLO_RSA },
};

/* A read position in bytes of known length; reads never pass the end. */
struct hello_reader {
	const unsigned char	*p;
	size_t			 len;
	size_t			 pos;
};

static size_t
hello_left(const struct hello_reader *r)
{
	return r->len - r->pos;
}

/* Reads a big-endian number of n bytes (1 to 3); 0 when cut short. */
static int
hello_read(struct hello_reader *r, size_t n, unsigned *v)
{
	size_t	i;

	if (hello_left(r) < n)
		return 0;
	*v = 0;
	for (i = 0; i < n; i++)
		*v = (*v << 8) | r->p[r->pos++];
	return 1;
}

/* Skips n bytes; 0 when fewer are left. */
static int
hello_skip(struct hello_reader *r, size_t n)
{
	if (hello_left(r) < n)
		return 0;
	r->pos += n;
	return 1;
}

/*
 * Starts sub on the next n bytes of r, or on what is left of r when that
 * is less, and moves r past them. Returns 1 when all n bytes were there.
 */
static int
hello_sub(struct hello_reader *r, size_t n, struct hello_reader *sub)
{
	int	whole = hello_left(r) >= n;

	if (!whole)
		n = hello_left(r);
	sub->p = r->p + r->pos;
	sub->len = n;
	sub->pos = 0;
	r->pos += n;
	return whole;
}

static unsigned
hello_suite_kind(unsigned id)
{
	size_t	i;

	for (i = 0; i < sizeof(hello_suites) / sizeof(hello_suites[0]); i++) {
		if (hello_suites[i].id == id)
			return hello_suites[i].kind;
	}
	return 0;
}

/* Notes one offered version: best up to TLS 1.2, or TLS 1.3. */
static void
hello_version(struct tls_hello *h, unsigned v)
{
	if (v == TLS_HELLO_TLS13)
		h->tls13 = 1;
	else if (v >= TLS_HELLO_SSL30 && v <= TLS_HELLO_TLS12 && v > h->best)
		h->best = v;
}

/*
 * Reads supported_versions, which replaces client_version when present
 * (RFC 8446 section 4.2.1). GREASE and unknown values are skipped.
 */
static void
hello_supported_versions(struct hello_reader *ext, struct tls_hello *h)
{
	struct hello_reader	list;
	unsigned		n, v;

	if (!hello_read(ext, 1, &n))
		return;
	hello_sub(ext, n, &list);
	h->best = 0;
	h->tls13 = 0;
	while (hello_read(&list, 2, &v))
		hello_version(h, v);
}

static void
hello_extensions(struct hello_reader *r, struct tls_hello *h)
{
	struct hello_reader	exts, ext;
	unsigned		n, type;

	if (!hello_read(r, 2, &n))
		return;
	hello_sub(r, n, &exts);
	while (hello_read(&exts, 2, &type) && hello_read(&exts, 2, &n)) {
		if (!hello_sub(&exts, n, &ext))
			return;
		if (type == HELLO_EXT_SUPPORTED_VERSIONS)
			hello_supported_versions(&ext, h);
	}
}

/* Parses the body of a ClientHello handshake message. */
static void
hello_body(struct hello_reader *r, struct tls_hello *h)
{
	struct hello_reader	suites;
	unsigned		version, n, id;

	if (!hello_read(r, 2, &version))
		return;
	h->parsed = 1;
	/* A newer client_version means the client also takes TLS 1.2. */
	hello_version(h, version > TLS_HELLO_TLS12 ? TLS_HELLO_TLS12 : version);

	if (!hello_skip(r, HELLO_RANDOM_LEN) || !hello_read(r, 1, &n) ||
	    !hello_skip(r, n) || !hello_read(r, 2, &n))
		return;
	h->suites_whole = hello_sub(r, n, &suites);
	while (hello_read(&suites, 2, &id))
		h->suites |= hello_suite_kind(id);

	if (!hello_read(r, 1, &n) || !hello_skip(r, n))
		return;
	hello_extensions(r, h);
}

/*
 * Parses an SSL 2.0 ClientHello: a 2-byte record header with the top bit
 * set, then message type 1, the version, three lengths and the cipher
 * specs of 3 bytes each. Specs whose first byte is 0 are TLS suites.
 */
static int
hello_parse_v2(struct hello_reader *r, struct tls_hello *h)
{
	struct hello_reader	rec, specs;
	unsigned		len, type, version, n, spec;

	if (!hello_read(r, 2, &len))
		return 0;
	hello_sub(r, len & 0x7fff, &rec);
	r = &rec;
	if (!hello_read(r, 1, &type) || type != HELLO_CLIENT_HELLO ||
	    !hello_read(r, 2, &version))
		return 0;
	h->parsed = 1;
	h->sslv2 = 1;
	hello_version(h, version > TLS_HELLO_TLS12 ? TLS_HELLO_TLS12 : version);
	if (!hello_read(r, 2, &n))
		return 1;
	hello_skip(r, 4);
	h->suites_whole = hello_sub(r, n, &specs) && n % 3 == 0;
	while (hello_read(&specs, 3, &spec)) {
		if (spec <= 0xffff)
			h->suites |= hello_suite_kind(spec);
	}
	return 1;
}

int
tls_hello_parse(const unsigned char *buf, size_t len, struct tls_hello *h)
{
	unsigned char		hs[TLS_HELLO_MAX];
	struct hello_reader	in, frag, msg;
	size_t			hs_len = 0, n;
	unsigned		type, v, rec_len;

	memset(h, 0, sizeof(*h));
	in.p = buf;
	in.len = len < TLS_HELLO_MAX ? len : TLS_HELLO_MAX;
	in.pos = 0;
	if (in.len >= HELLO_V2_HEADER && (buf[0] & 0x80) != 0)
		return hello_parse_v2(&in, h);

	/* A ClientHello may be split across several handshake records. */
	while (hello_read(&in, 1, &type) && type == HELLO_RECORD_HANDSHAKE &&
	    hello_read(&in, 2, &v) && hello_read(&in, 2, &rec_len)) {
		hello_sub(&in, rec_len, &frag);
		n = hello_left(&frag);
		memcpy(hs + hs_len, frag.p, n);
		hs_len += n;
	}

	msg.p = hs;
	msg.len = hs_len;
	msg.pos = 0;
	if (!hello_read(&msg, 1, &type) || type != HELLO_CLIENT_HELLO ||
	    !hello_read(&msg, 3, &v))
		return 0;
	hello_sub(&msg, v, &frag);
	hello_body(&frag, h);
	return h->parsed;
}

/* The versions up to best, as a device offering them supports them. */
static const char *
hello_versions_text(unsigned best)
{
	switch (best) {
	case TLS_HELLO_TLS10:
		return "TLS 1.0";
	case TLS_HELLO_TLS11:
		return "TLS 1.0 and 1.1";
	case TLS_HELLO_SSL30:
		return "SSL 3.0";
	default:
		return "SSL 2.0";
	}
}

const char *
tls_hello_explain(const struct tls_hello *h, const char *peer, int legacy,
    const char *section, char *buf, size_t cap)
{
	unsigned	usable = TLS_HELLO_ECDHE | TLS_HELLO_ECDHE_OLD |
			    TLS_HELLO_RSA;
	const char	*suites_text;
	int		 n;

	if (!h->parsed)
		return NULL;
	if (h->best == 0 && h->tls13)
		n = snprintf(buf, cap, "device %s offers only TLS 1.3, which "
		    "exoconnect does not support; allow TLS 1.2 on the device",
		    peer);
	else if (h->best < TLS_HELLO_TLS10)
		n = snprintf(buf, cap, "device %s offers only %s, which "
		    "exoconnect never accepts; update the device's firmware",
		    peer, hello_versions_text(h->best));
	else if (h->suites_whole && (h->suites & usable) == 0)
		n = snprintf(buf, cap, "device %s offers no cipher suite that "
		    "exoconnect supports; update the device's firmware", peer);
	else if (legacy)
		return NULL;
	else if (h->best < TLS_HELLO_TLS12)
		n = snprintf(buf, cap, "device %s offers only %s%s; set [%s] "
		    "legacy_tls = yes for it", peer,
		    hello_versions_text(h->best), h->suites_whole &&
		    (h->suites & (TLS_HELLO_ECDHE | TLS_HELLO_ECDHE_OLD)) == 0 ?
		    " with RSA key exchange" : "", section);
	else if (h->suites_whole && (h->suites & TLS_HELLO_ECDHE) == 0) {
		suites_text = (h->suites & TLS_HELLO_ECDHE_OLD) == 0 ?
		    "RSA key exchange" : "old cipher suites (such as AES-CBC "
		    "with SHA-1, 3DES or RSA key exchange)";
		n = snprintf(buf, cap, "device %s offers TLS 1.2 but only with "
		    "%s; set [%s] legacy_tls = yes for it", peer, suites_text,
		    section);
	} else
		return NULL;
	if (n < 0)
		return NULL;
	return buf;
}

const char *
tls_hello_fix(const char *msg, const struct tls_hello *h, const char *peer,
    int legacy, const char *section, char *buf, size_t cap)
{
	if (h != NULL && h->parsed) {
		if (tls_hello_explain(h, peer, legacy, section, buf, cap) !=
		    NULL)
			return buf;
		/* The offer fits this listener, so legacy_tls cannot help. */
		if (h->suites_whole)
			return NULL;
	}
	if (strstr(msg, TLS_CERT_NOT_TLS) != NULL)
		return NULL;
	if (strstr(msg, "no common TLS version") != NULL && legacy) {
		snprintf(buf, cap, "the device offered only SSL 3.0 or older, "
		    "which exoconnect never accepts; update the device's "
		    "firmware");
		return buf;
	}
	if (strstr(msg, "no common") != NULL && !legacy) {
		snprintf(buf, cap, "the device may support only TLS 1.0 or "
		    "1.1 or old cipher suites; set [%s] legacy_tls = yes for "
		    "it", section);
		return buf;
	}
	return NULL;
}

const char *
tls_hello_plain_port_fix(const char *section, unsigned port,
    unsigned tls_port, unsigned usual_port, char *buf, size_t cap)
{
	if (tls_port != 0)
		snprintf(buf, cap, "this device uses SSL/TLS on port %u; set "
		    "the device to STARTTLS or use port %u", port, tls_port);
	else
		snprintf(buf, cap, "this device uses SSL/TLS on port %u; set "
		    "the device to STARTTLS (with starttls = yes) or to no "
		    "encryption, or set tls_port = %u under [%s] and use that "
		    "port", port, usual_port, section);
	return (buf);
}
