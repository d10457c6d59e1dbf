/*
 * tls-cert.c: the device-side certificate. Makes a self-signed X.509 v3
 * certificate (RFC 5280) with a DER encoder of our own around BearSSL's
 * RSA key generation and PKCS#1 signature, stores it beside the settings
 * file, and computes the SHA-256 fingerprints the log and screen show.
 */
#include <bearssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls-cert.h"
#include "util.h"

/* Room for one DER object. A 2048-bit certificate takes about 1,000 bytes. */
#define DER_MAX		4096
/* ub-common-name (RFC 5280 appendix A.1). */
#define CN_MAX		64
#define SERIAL_LEN	16
#define RSA_PUBEXP	65537
#define DAY_SECONDS	86400LL

/* A DER object under construction; bad is set once anything overflowed. */
struct der {
	unsigned char	b[DER_MAX];
	size_t		len;
	int		bad;
};

static const unsigned char oid_sha256_rsa[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b };
static const unsigned char oid_rsa[] = {
	0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const unsigned char oid_cn[] = { 0x55, 0x04, 0x03 };
static const unsigned char oid_ski[] = { 0x55, 0x1d, 0x0e };
static const unsigned char oid_key_usage[] = { 0x55, 0x1d, 0x0f };
static const unsigned char oid_san[] = { 0x55, 0x1d, 0x11 };
static const unsigned char oid_basic[] = { 0x55, 0x1d, 0x13 };
static const unsigned char oid_aki[] = { 0x55, 0x1d, 0x23 };
static const unsigned char oid_eku[] = { 0x55, 0x1d, 0x25 };
static const unsigned char oid_server_auth[] = {
	0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01 };

/* ---- the DER encoder ---- */

static void
der_raw(struct der *d, const void *p, size_t n)
{
	if (d->bad || n > DER_MAX - d->len) {
		d->bad = 1;
		return;
	}
	if (n > 0)
		memcpy(d->b + d->len, p, n);
	d->len += n;
}

/* Writes a tag and a definite length, which DER_MAX keeps under 65536. */
static void
der_head(struct der *d, unsigned tag, size_t n)
{
	unsigned char	h[4];
	size_t		k = 0;

	h[k++] = (unsigned char)tag;
	if (n >= 0x100) {
		h[k++] = 0x82;
		h[k++] = (unsigned char)(n >> 8);
	} else if (n >= 0x80)
		h[k++] = 0x81;
	h[k++] = (unsigned char)n;
	der_raw(d, h, k);
}

static void
der_tlv(struct der *d, unsigned tag, const void *p, size_t n)
{
	der_head(d, tag, n);
	der_raw(d, p, n);
}

static void
der_wrap(struct der *d, unsigned tag, const struct der *in)
{
	if (in->bad)
		d->bad = 1;
	der_tlv(d, tag, in->b, in->len);
}

/* Writes an unsigned big-endian number as a minimal positive INTEGER. */
static void
der_uint(struct der *d, const unsigned char *p, size_t n)
{
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n > 0 && (p[0] & 0x80)) {
		der_head(d, 0x02, n + 1);
		der_raw(d, "", 1);
	} else
		der_head(d, 0x02, n);
	der_raw(d, p, n);
}

/* Writes an AlgorithmIdentifier with NULL parameters. */
static void
der_alg(struct der *d, const unsigned char *oid, size_t n)
{
	struct der	a = { .len = 0 };

	der_tlv(&a, 0x06, oid, n);
	der_tlv(&a, 0x05, NULL, 0);
	der_wrap(d, 0x30, &a);
}

/* Writes a Name with one CN (UTF8String). */
static void
der_name(struct der *d, const char *cn)
{
	struct der	atv = { .len = 0 }, rdn = { .len = 0 };
	size_t		n = strlen(cn);

	der_tlv(&atv, 0x06, oid_cn, sizeof(oid_cn));
	der_tlv(&atv, 0x0c, cn, n > CN_MAX ? CN_MAX : n);
	der_wrap(&rdn, 0x30, &atv);
	atv.len = 0;
	der_wrap(&atv, 0x31, &rdn);
	der_wrap(d, 0x30, &atv);
}

/* ---- time ---- */

/* Splits t (seconds since 1970, UTC) into a civil date. */
static void
civil_time(int64_t t, int64_t *year, unsigned f[5])
{
	int64_t		days = t / DAY_SECONDS, rem = t % DAY_SECONDS;
	int64_t		z, era, doe, yoe, doy, mp;

	if (rem < 0) {
		rem += DAY_SECONDS;
		days--;
	}
	/* Days to year, month and day in the proleptic Gregorian calendar. */
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	f[1] = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	f[0] = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*year = yoe + era * 400 + (f[0] <= 2);
	f[2] = (unsigned)(rem / 3600);
	f[3] = (unsigned)(rem / 60 % 60);
	f[4] = (unsigned)(rem % 60);
}

/* Writes UTCTime through 2049 and GeneralizedTime after (RFC 5280 4.1.2.5). */
static void
der_time(struct der *d, int64_t t)
{
	char		text[24];
	unsigned	f[5];
	int64_t		year;
	int		n;

	civil_time(t, &year, f);
	if (year >= 1950 && year < 2050)
		n = snprintf(text, sizeof(text), "%02u%02u%02u%02u%02u%02uZ",
		    (unsigned)(year % 100), f[0], f[1], f[2], f[3], f[4]);
	else
		n = snprintf(text, sizeof(text), "%04u%02u%02u%02u%02u%02uZ",
		    (unsigned)year, f[0], f[1], f[2], f[3], f[4]);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		d->bad = 1;
		return;
	}
	der_tlv(d, year >= 1950 && year < 2050 ? 0x17 : 0x18, text,
	    (size_t)n);
}

/* ---- addresses ---- */

static int
parse_ipv4(const char *s, unsigned char out[4])
{
	unsigned	v;
	int		i, digits;

	for (i = 0; i < 4; i++) {
		v = 0;
		for (digits = 0; s[digits] >= '0' && s[digits] <= '9';
		    digits++) {
			v = v * 10 + (unsigned)(s[digits] - '0');
			if (digits >= 3 || v > 255)
				return 0;
		}
		if (digits == 0)
			return 0;
		out[i] = (unsigned char)v;
		s += digits;
		if (*s != (i < 3 ? '.' : '\0'))
			return 0;
		s++;
	}
	return 1;
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses IPv6 hex groups with at most one "::" but no embedded IPv4. */
static int
parse_ipv6(const char *s, unsigned char out[16])
{
	unsigned	groups[8];
	int		n = 0, gap = -1, v, digits, h;

	if (s[0] == ':' && s[1] == ':') {
		gap = 0;
		s += 2;
	}
	while (*s != '\0') {
		for (v = 0, digits = 0; (h = hex_value(*s)) >= 0; s++) {
			v = v * 16 + h;
			if (++digits > 4)
				return 0;
		}
		if (digits == 0 || n == 8)
			return 0;
		groups[n++] = (unsigned)v;
		if (*s == '\0')
			break;
		if (*s++ != ':')
			return 0;
		if (*s == ':') {
			if (gap >= 0)
				return 0;
			gap = n;
			s++;
		} else if (*s == '\0')
			return 0;
	}
	if ((gap < 0 && n != 8) || (gap >= 0 && n > 7))
		return 0;
	memset(out, 0, 16);
	for (int i = 0; i < n; i++) {
		int	pos = gap >= 0 && i >= gap ? i + 8 - n : i;

		out[2 * pos] = (unsigned char)(groups[i] >> 8);
		out[2 * pos + 1] = (unsigned char)groups[i];
	}
	return 1;
}

/* ---- extensions ---- */

static void
der_extension(struct der *d, const unsigned char *oid, size_t oid_len,
    int critical, const struct der *value)
{
	struct der	ext = { .len = 0 };

	der_tlv(&ext, 0x06, oid, oid_len);
	if (critical)
		der_tlv(&ext, 0x01, "\xff", 1);
	der_wrap(&ext, 0x04, value);
	der_wrap(d, 0x30, &ext);
}

static void
der_san(struct der *exts, const struct tls_cert_request *rq)
{
	struct der	names = { .len = 0 }, v = { .len = 0 };
	unsigned char	ip[16];

	der_tlv(&names, 0x82, rq->host, strlen(rq->host));
	if (str_casecmp(rq->host, "localhost") != 0)
		der_tlv(&names, 0x82, "localhost", 9);
	for (size_t i = 0; i < rq->naddrs && i < TLS_CERT_ADDR_MAX; i++) {
		if (rq->addrs[i] == NULL)
			continue;
		if (parse_ipv4(rq->addrs[i], ip))
			der_tlv(&names, 0x87, ip, 4);
		else if (parse_ipv6(rq->addrs[i], ip))
			der_tlv(&names, 0x87, ip, 16);
	}
	der_wrap(&v, 0x30, &names);
	der_extension(exts, oid_san, sizeof(oid_san), 0, &v);
}

/*
 * The extensions of a self-signed server certificate, as strict X.509
 * checkers (OpenSSL's X509_V_FLAG_X509_STRICT, which Python 3.13 sets)
 * want them for a certificate that is its own CA: key identifiers, a
 * critical basicConstraints and keyUsage with keyCertSign. keyEncipherment
 * serves the TLS_RSA_* suites of old devices.
 */
static void
der_extensions(struct der *d, const struct tls_cert_request *rq,
    const unsigned char keyid[20])
{
	struct der	exts = { .len = 0 }, v = { .len = 0 }, w = { .len = 0 };

	der_tlv(&v, 0x04, keyid, 20);
	der_extension(&exts, oid_ski, sizeof(oid_ski), 0, &v);
	v.len = 0;
	der_tlv(&w, 0x80, keyid, 20);
	der_wrap(&v, 0x30, &w);
	der_extension(&exts, oid_aki, sizeof(oid_aki), 0, &v);
	v.len = 0;
	w.len = 0;
	der_tlv(&w, 0x01, "\xff", 1);	/* cA TRUE */
	der_wrap(&v, 0x30, &w);
	der_extension(&exts, oid_basic, sizeof(oid_basic), 1, &v);
	v.len = 0;
	/* digitalSignature, keyEncipherment, keyCertSign; 2 unused bits. */
	der_tlv(&v, 0x03, "\x02\xa4", 2);
	der_extension(&exts, oid_key_usage, sizeof(oid_key_usage), 1, &v);
	v.len = 0;
	w.len = 0;
	der_tlv(&w, 0x06, oid_server_auth, sizeof(oid_server_auth));
	der_wrap(&v, 0x30, &w);
	der_extension(&exts, oid_eku, sizeof(oid_eku), 0, &v);
	der_san(&exts, rq);

	v.len = 0;
	der_wrap(&v, 0x30, &exts);
	der_wrap(d, 0xa3, &v);
}

/* ---- the certificate ---- */

/* Writes the SubjectPublicKeyInfo. keyid receives the SHA-1 of the key
 * (RFC 5280 4.2.1.2, method 1). */
static void
der_spki(struct der *d, const br_rsa_public_key *pk, unsigned char keyid[20])
{
	struct der		 spki = { .len = 0 }, key = { .len = 0 };
	struct der		 bits = { .len = 0 };
	br_sha1_context		 sha1;

	der_uint(&key, pk->n, pk->nlen);
	der_uint(&key, pk->e, pk->elen);
	der_wrap(&bits, 0x30, &key);
	br_sha1_init(&sha1);
	br_sha1_update(&sha1, bits.b, bits.len);
	br_sha1_out(&sha1, keyid);

	der_alg(&spki, oid_rsa, sizeof(oid_rsa));
	der_head(&spki, 0x03, bits.len + 1);
	der_raw(&spki, "", 1);
	der_raw(&spki, bits.b, bits.len);
	der_wrap(d, 0x30, &spki);
}

static int
der_tbs(struct der *tbs, const struct tls_cert_request *rq,
    const br_rsa_public_key *pk)
{
	struct der	body = { .len = 0 }, v = { .len = 0 };
	unsigned char	serial[SERIAL_LEN], keyid[20];

	if (plat_random(serial, sizeof(serial)) != EXO_OK)
		return EXO_ERR_IO;
	serial[0] = (unsigned char)((serial[0] & 0x7f) | 0x40);

	der_tlv(&body, 0xa0, "\x02\x01\x02", 3);	/* version v3 */
	der_uint(&body, serial, sizeof(serial));
	der_alg(&body, oid_sha256_rsa, sizeof(oid_sha256_rsa));
	der_name(&body, rq->host);
	der_time(&v, rq->now - DAY_SECONDS);
	der_time(&v, rq->now + TLS_CERT_DAYS * DAY_SECONDS);
	der_wrap(&body, 0x30, &v);
	der_name(&body, rq->host);
	der_spki(&body, pk, keyid);
	der_extensions(&body, rq, keyid);
	der_wrap(tbs, 0x30, &body);
	return tbs->bad ? EXO_ERR_TOOLONG : EXO_OK;
}

static void
fingerprint_text(const void *der, size_t len,
    char out[TLS_CERT_FINGERPRINT_MAX])
{
	static const char	 hex[] = "0123456789ABCDEF";
	br_sha256_context	 sha;
	unsigned char		 h[32];

	br_sha256_init(&sha);
	br_sha256_update(&sha, der, len);
	br_sha256_out(&sha, h);
	for (int i = 0; i < 32; i++) {
		out[3 * i] = hex[h[i] >> 4];
		out[3 * i + 1] = hex[h[i] & 15];
		out[3 * i + 2] = i < 31 ? ':' : '\0';
	}
}

/* Signs tbs and writes the whole certificate into cert. */
static int
cert_sign(struct der *cert, const struct der *tbs,
    const br_rsa_private_key *sk)
{
	struct der		 body = { .len = 0 };
	br_sha256_context	 sha;
	unsigned char		 h[32], sig[512];
	size_t			 siglen = (sk->n_bitlen + 7) / 8;

	if (siglen > sizeof(sig))
		return EXO_ERR_INVALID;
	br_sha256_init(&sha);
	br_sha256_update(&sha, tbs->b, tbs->len);
	br_sha256_out(&sha, h);
	if (!br_rsa_pkcs1_sign_get_default()(BR_HASH_OID_SHA256, h,
	    sizeof(h), sk, sig))
		return EXO_ERR_TLS;

	der_raw(&body, tbs->b, tbs->len);
	der_alg(&body, oid_sha256_rsa, sizeof(oid_sha256_rsa));
	der_head(&body, 0x03, siglen + 1);
	der_raw(&body, "", 1);
	der_raw(&body, sig, siglen);
	der_wrap(cert, 0x30, &body);
	return cert->bad ? EXO_ERR_TOOLONG : EXO_OK;
}

/* Returns the PEM text of der in a new buffer. */
static char *
pem_new(const void *der, size_t len, const char *banner, size_t *out_len)
{
	char	*p;
	size_t	 n;

	n = br_pem_encode(NULL, der, len, banner, BR_PEM_LINE64);
	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	*out_len = br_pem_encode(p, der, len, banner, BR_PEM_LINE64);
	return p;
}

/* Returns the key as PKCS#1 RSAPrivateKey PEM in a new buffer. */
static char *
key_pem_new(const br_rsa_private_key *sk, const br_rsa_public_key *pk,
    size_t *out_len)
{
	unsigned char	 d[512], *der = NULL;
	char		*pem = NULL;
	size_t		 dlen, n;

	dlen = br_rsa_compute_privexp_get_default()(d, sk, RSA_PUBEXP);
	if (dlen == 0 || dlen > sizeof(d))
		goto out;
	n = br_encode_rsa_raw_der(NULL, sk, pk, d, dlen);
	if (n == 0 || (der = malloc(n)) == NULL)
		goto out;
	n = br_encode_rsa_raw_der(der, sk, pk, d, dlen);
	pem = pem_new(der, n, "RSA PRIVATE KEY", out_len);
	plat_wipe(der, n);
out:
	plat_wipe(d, sizeof(d));
	free(der);
	return pem;
}

/* Key generation state, wiped as one block. */
struct keygen {
	br_hmac_drbg_context	rng;
	br_rsa_private_key	sk;
	br_rsa_public_key	pk;
	unsigned char		seed[32];
	unsigned char		priv[BR_RSA_KBUF_PRIV_SIZE(4096)];
	unsigned char		pub[BR_RSA_KBUF_PUB_SIZE(4096)];
	struct der		tbs;
	struct der		cert;
};

int
tls_cert_generate(const struct tls_cert_request *rq, char **cert_pem,
    size_t *cert_len, char **key_pem, size_t *key_len,
    char fingerprint[TLS_CERT_FINGERPRINT_MAX], struct exo_error *e)
{
	struct keygen	*k;
	int		 rc;

	*cert_pem = *key_pem = NULL;
	if (rq->bits < 1024 || rq->bits > 4096 || rq->host == NULL ||
	    rq->host[0] == '\0')
		return err_set(e, EXO_ERR_INVALID, "cannot make a certificate "
		    "without a host name or with a %u-bit key", rq->bits);
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory making the "
		    "device certificate");

	rc = plat_random(k->seed, sizeof(k->seed));
	if (rc != EXO_OK) {
		rc = err_set(e, rc, "no random numbers for the device "
		    "certificate key");
		goto out;
	}
	br_hmac_drbg_init(&k->rng, &br_sha256_vtable, k->seed,
	    sizeof(k->seed));
	if (!br_rsa_keygen_get_default()(&k->rng.vtable, &k->sk, k->priv,
	    &k->pk, k->pub, rq->bits, RSA_PUBEXP)) {
		rc = err_set(e, EXO_ERR_TLS, "making a %u-bit RSA key "
		    "failed", rq->bits);
		goto out;
	}

	if ((rc = der_tbs(&k->tbs, rq, &k->pk)) != EXO_OK ||
	    (rc = cert_sign(&k->cert, &k->tbs, &k->sk)) != EXO_OK) {
		rc = err_set(e, rc, "writing the device certificate failed "
		    "(host name %.64s)", rq->host);
		goto out;
	}
	fingerprint_text(k->cert.b, k->cert.len, fingerprint);
	*cert_pem = pem_new(k->cert.b, k->cert.len, "CERTIFICATE", cert_len);
	*key_pem = key_pem_new(&k->sk, &k->pk, key_len);
	if (*cert_pem == NULL || *key_pem == NULL) {
		free(*cert_pem);
		free(*key_pem);
		*cert_pem = *key_pem = NULL;
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory writing the "
		    "device certificate");
	}
out:
	plat_wipe(k, sizeof(*k));
	free(k);
	return rc;
}

/* ---- files ---- */

/* Collects the first CERTIFICATE object of a PEM text. */
struct pem_first {
	struct der	der;
	int		in_cert;
	int		done;
};

static void
pem_append(void *ctx, const void *data, size_t len)
{
	struct pem_first	*p = ctx;

	if (p->in_cert && !p->done)
		der_raw(&p->der, data, len);
}

static int
pem_first_cert(const char *text, size_t len, struct pem_first *p)
{
	br_pem_decoder_context	pc;
	size_t			n;

	br_pem_decoder_init(&pc);
	br_pem_decoder_setdest(&pc, pem_append, p);
	while (len > 0 && !p->done) {
		n = br_pem_decoder_push(&pc, text, len);
		text += n;
		len -= n;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			p->in_cert = strcmp(br_pem_decoder_name(&pc),
			    "CERTIFICATE") == 0 ||
			    strcmp(br_pem_decoder_name(&pc),
			    "X509 CERTIFICATE") == 0;
			break;
		case BR_PEM_END_OBJ:
			if (p->in_cert && p->der.len > 0)
				p->done = 1;
			p->in_cert = 0;
			break;
		case BR_PEM_ERROR:
			return EXO_ERR_INVALID;
		}
	}
	return p->done && !p->der.bad ? EXO_OK : EXO_ERR_INVALID;
}

int
tls_cert_fingerprint(const char *path, char out[TLS_CERT_FINGERPRINT_MAX],
    struct exo_error *e)
{
	struct pem_first	*p;
	char			*text = NULL;
	size_t			 len;
	int			 rc;

	out[0] = '\0';
	rc = plat_read_file(path, TLS_CERT_PEM_MAX, &text, &len, e);
	if (rc != EXO_OK)
		return rc;
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		free(text);
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	}
	rc = pem_first_cert(text, len, p);
	if (rc == EXO_OK)
		fingerprint_text(p->der.b, p->der.len, out);
	else
		rc = err_set(e, rc, "%s holds no PEM certificate (BEGIN "
		    "CERTIFICATE) of at most %d bytes", path, DER_MAX);
	free(p);
	free(text);
	return rc;
}

/* Returns 1 for a listen address that names one interface. */
static int
specific_addr(const char *addr)
{
	return addr[0] != '\0' && strcmp(addr, "0.0.0.0") != 0 &&
	    strcmp(addr, "::") != 0 && strcmp(addr, "*") != 0;
}

/* Adds addr to rq unless it is there already or rq is full. */
static void
cert_add_addr(struct tls_cert_request *rq, const char *addr)
{
	size_t	i;

	for (i = 0; i < rq->naddrs; i++) {
		if (strcmp(rq->addrs[i], addr) == 0)
			return;
	}
	if (rq->naddrs < TLS_CERT_ADDR_MAX)
		rq->addrs[rq->naddrs++] = addr;
}

static int
cert_write_new(const struct settings *s, const char *cert,
    const char *key, char fingerprint[TLS_CERT_FINGERPRINT_MAX],
    struct exo_error *e)
{
	struct tls_cert_request	 rq;
	char			 host[CONFIG_HOST_MAX];
	char			 local[TLS_CERT_ADDR_MAX][PLAT_ADDR_MAX];
	char			*cpem = NULL, *kpem = NULL;
	size_t			 clen = 0, klen = 0, nlocal, i;
	int			 rc;

	memset(&rq, 0, sizeof(rq));
	if (plat_hostname(host, sizeof(host)) != EXO_OK || host[0] == '\0')
		str_copy(host, "localhost", sizeof(host));
	rq.host = host;
	cert_add_addr(&rq, "127.0.0.1");
	cert_add_addr(&rq, "::1");
	if (specific_addr(s->pop3.listen))
		cert_add_addr(&rq, s->pop3.listen);
	if (specific_addr(s->smtp.listen))
		cert_add_addr(&rq, s->smtp.listen);
	nlocal = plat_local_addrs(local, TLS_CERT_ADDR_MAX);
	for (i = 0; i < nlocal; i++)
		cert_add_addr(&rq, local[i]);
	rq.now = plat_wall_time();
	rq.bits = 2048;

	rc = tls_cert_generate(&rq, &cpem, &clen, &kpem, &klen, fingerprint,
	    e);
	if (rc != EXO_OK)
		return rc;
	/* The key goes first, because a certificate without its key is
	 * replaced at the next start. */
	rc = plat_write_file_atomic(key, kpem, klen, 1, e);
	if (rc == EXO_OK)
		rc = plat_write_file_atomic(cert, cpem, clen, 0, e);
	plat_wipe(kpem, klen);
	free(kpem);
	free(cpem);
	return rc;
}

int
tls_cert_ensure(const struct settings *s, char cert[PLAT_PATH_MAX],
    char key[PLAT_PATH_MAX], int *generated,
    char fingerprint[TLS_CERT_FINGERPRINT_MAX], struct exo_error *e)
{
	char	dir[PLAT_PATH_MAX];

	*generated = 0;
	fingerprint[0] = '\0';
	if (s->tls.certificate[0] != '\0' || s->tls.key[0] != '\0') {
		if (s->tls.certificate[0] == '\0' || s->tls.key[0] == '\0')
			return err_set(e, EXO_ERR_CONFIG, "%s: [tls] "
			    "certificate and key must be set together, or "
			    "both left empty for a self-signed certificate",
			    s->path);
		str_copy(cert, s->tls.certificate, PLAT_PATH_MAX);
		str_copy(key, s->tls.key, PLAT_PATH_MAX);
		return tls_cert_fingerprint(cert, fingerprint, e);
	}

	plat_path_dir(dir, s->path);
	if (plat_path_join(cert, dir, TLS_CERT_FILE_NAME) != EXO_OK ||
	    plat_path_join(key, dir, TLS_KEY_FILE_NAME) != EXO_OK)
		return err_set(e, EXO_ERR_TOOLONG, "the folder of %s is too "
		    "long a path for the device certificate", s->path);
	if (plat_file_exists(cert) && plat_file_exists(key))
		return tls_cert_fingerprint(cert, fingerprint, e);
	*generated = 1;
	return cert_write_new(s, cert, key, fingerprint, e);
}
