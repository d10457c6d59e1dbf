/*
 * test-tls-cert.c: the self-signed device certificate, checked with the
 * openssl command line tool (x509, verify, rsa) and with our own loader.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "plat.h"
#include "stream.h"
#include "test.h"
#include "tls-cert.h"
#include "util.h"

/* 2026-12-04 12:00:00 UTC */
#define NOW 1796385600LL

static char dir[256];

/* Runs cmd and returns its output (stdout and stderr) in a new buffer. */
static char *
run(const char *cmd)
{
	char	 full[1024], *out;
	FILE	*f;
	size_t	 n = 0, got;

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	if ((f = popen(full, "r")) == NULL || (out = calloc(1, 65536)) == NULL)
		return NULL;
	while ((got = fread(out + n, 1, 65535 - n, f)) > 0)
		n += got;
	pclose(f);
	return out;
}

static void
write_pair(const char *cert, size_t clen, const char *key, size_t klen)
{
	char	path[512];

	snprintf(path, sizeof(path), "%s/c.pem", dir);
	CHECK_INT(plat_write_file_atomic(path, cert, clen, 0, NULL), 0);
	snprintf(path, sizeof(path), "%s/k.pem", dir);
	CHECK_INT(plat_write_file_atomic(path, key, klen, 1, NULL), 0);
}

TEST(generated_cert_passes_openssl)
{
	struct tls_cert_request	 rq = { .host = "scanpc.office.lan",
	    .addrs = { "192.168.10.5", "fe80::1:2", "not-an-address" },
	    .naddrs = 3, .now = NOW, .bits = 2048 };
	char			 fp[TLS_CERT_FINGERPRINT_MAX], cmd[600];
	char			*cert, *key, *out;
	size_t			 clen, klen;

	CHECK_INT(tls_cert_generate(&rq, &cert, &clen, &key, &klen, fp,
	    NULL), 0);
	if (cert == NULL || key == NULL)
		return;
	CHECK(strncmp(cert, "-----BEGIN CERTIFICATE-----", 27) == 0);
	CHECK(strstr(key, "BEGIN RSA PRIVATE KEY") != NULL);
	write_pair(cert, clen, key, klen);

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -text -in %s/c.pem",
	    dir);
	out = run(cmd);
	CHECK(out != NULL);
	if (out != NULL) {
		CHECK(strstr(out, "Version: 3 (0x2)") != NULL);
		CHECK(strstr(out, "Subject: CN = scanpc.office.lan") != NULL);
		CHECK(strstr(out, "Issuer: CN = scanpc.office.lan") != NULL);
		CHECK(strstr(out, "sha256WithRSAEncryption") != NULL);
		CHECK(strstr(out, "Public-Key: (2048 bit)") != NULL);
		CHECK(strstr(out, "Exponent: 65537") != NULL);
		CHECK(strstr(out, "Not Before: Dec  3 12:00:00 2026 GMT") !=
		    NULL);
		CHECK(strstr(out, "Not After : Dec  1 12:00:00 2036 GMT") !=
		    NULL);
		CHECK(strstr(out, "DNS:scanpc.office.lan, DNS:localhost, "
		    "IP Address:192.168.10.5, IP Address:FE80:0:0:0:0:0:1:2") !=
		    NULL);
		CHECK(strstr(out, "TLS Web Server Authentication") != NULL);
		CHECK(strstr(out, "Key Encipherment") != NULL);
		CHECK(strstr(out, "unable") == NULL);
	}
	free(out);

	snprintf(cmd, sizeof(cmd), "openssl verify -x509_strict -CAfile "
	    "%s/c.pem %s/c.pem", dir, dir);
	out = run(cmd);
	CHECK(out != NULL);
	CHECK(out != NULL && strstr(out, "c.pem: OK") != NULL);
	free(out);

	snprintf(cmd, sizeof(cmd), "openssl rsa -check -noout -in %s/k.pem",
	    dir);
	out = run(cmd);
	CHECK(out != NULL);
	CHECK(out != NULL && strstr(out, "RSA key ok") != NULL);
	free(out);

	snprintf(cmd, sizeof(cmd), "openssl x509 -noout -fingerprint "
	    "-sha256 -in %s/c.pem", dir);
	out = run(cmd);
	CHECK(out != NULL && strstr(out, fp) != NULL);
	free(out);

	plat_wipe(key, klen);
	free(key);
	free(cert);
}

TEST(generated_pair_loads_as_creds)
{
	struct tls_cert_request	 rq = { .host = "pc", .now = NOW,
	    .bits = 2048 };
	struct tls_server_creds	*creds = NULL;
	char			 fp[TLS_CERT_FINGERPRINT_MAX], c[512], k[512];
	char			 fp2[TLS_CERT_FINGERPRINT_MAX];
	char			*cert, *key;
	size_t			 clen, klen;

	CHECK_INT(tls_cert_generate(&rq, &cert, &clen, &key, &klen, fp,
	    NULL), 0);
	if (cert == NULL)
		return;
	write_pair(cert, clen, key, klen);
	snprintf(c, sizeof(c), "%s/c.pem", dir);
	snprintf(k, sizeof(k), "%s/k.pem", dir);
	CHECK_INT(tls_server_creds_load(c, k, &creds, NULL), 0);
	tls_server_creds_free(creds);
	CHECK_INT(tls_cert_fingerprint(c, fp2, NULL), 0);
	CHECK_STR(fp2, fp);
	CHECK_INT(strlen(fp), TLS_CERT_FINGERPRINT_MAX - 1);
	free(key);
	free(cert);
}

TEST(invalid_requests_are_rejected)
{
	struct tls_cert_request	 rq = { .host = "", .now = NOW,
	    .bits = 2048 };
	struct exo_error	 e;
	char			 fp[TLS_CERT_FINGERPRINT_MAX];
	char			*cert, *key;
	size_t			 clen, klen;

	CHECK_INT(tls_cert_generate(&rq, &cert, &clen, &key, &klen, fp, &e),
	    EXO_ERR_INVALID);
	CHECK(cert == NULL);
	CHECK(key == NULL);
	rq.host = "pc";
	rq.bits = 8192;
	CHECK_INT(tls_cert_generate(&rq, &cert, &clen, &key, &klen, fp, &e),
	    EXO_ERR_INVALID);
}

TEST(fingerprint_needs_a_certificate)
{
	struct exo_error	e;
	char			fp[TLS_CERT_FINGERPRINT_MAX], path[512];

	snprintf(path, sizeof(path), "%s/junk.pem", dir);
	CHECK_INT(plat_write_file_atomic(path, "hello\n", 6, 0, NULL), 0);
	CHECK_INT(tls_cert_fingerprint(path, fp, &e), EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "no PEM certificate") != NULL);
	snprintf(path, sizeof(path), "%s/missing.pem", dir);
	CHECK(tls_cert_fingerprint(path, fp, &e) != EXO_OK);
}

TEST(ensure_generates_once)
{
	struct settings	*s = calloc(1, sizeof(*s));
	struct stat	 st;
	char		 cert[PLAT_PATH_MAX], key[PLAT_PATH_MAX];
	char		 fp1[TLS_CERT_FINGERPRINT_MAX];
	char		 fp2[TLS_CERT_FINGERPRINT_MAX];
	int		 generated = -1;

	if (s == NULL)
		return;
	config_defaults(s);
	snprintf(s->path, sizeof(s->path), "%s/ensure/exoconnect.conf", dir);
	snprintf(cert, sizeof(cert), "%s/ensure", dir);
	CHECK_INT(plat_mkdir_p(cert, 0, NULL), 0);

	CHECK_INT(tls_cert_ensure(s, cert, key, &generated, fp1, NULL), 0);
	CHECK_INT(generated, 1);
	CHECK(strstr(cert, "ensure/device-cert.pem") != NULL);
	CHECK(strstr(key, "ensure/device-key.pem") != NULL);
	CHECK_INT(stat(key, &st), 0);
	CHECK_INT(st.st_mode & 077, 0);
	CHECK_INT(tls_cert_ensure(s, cert, key, &generated, fp2, NULL), 0);
	CHECK_INT(generated, 0);
	CHECK_STR(fp2, fp1);

	/* Configured files are used as they are, and must come in pairs. */
	str_copy(s->tls.certificate, cert, sizeof(s->tls.certificate));
	CHECK_INT(tls_cert_ensure(s, cert, key, &generated, fp2, NULL),
	    EXO_ERR_CONFIG);
	str_copy(s->tls.key, key, sizeof(s->tls.key));
	CHECK_INT(tls_cert_ensure(s, cert, key, &generated, fp2, NULL), 0);
	CHECK_INT(generated, 0);
	CHECK_STR(fp2, fp1);
	free(s);
}

int
main(void)
{
	char	cmd[300];

	snprintf(dir, sizeof(dir), "/tmp/exo-test-tls-cert-%ld",
	    plat_getpid());
	if (plat_init() != 0 || plat_mkdir_p(dir, 0, NULL) != 0)
		return 1;
	RUN(generated_cert_passes_openssl);
	RUN(generated_pair_loads_as_creds);
	RUN(invalid_requests_are_rejected);
	RUN(fingerprint_needs_a_certificate);
	RUN(ensure_generates_once);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	free(run(cmd));
	return TEST_EXIT();
}
