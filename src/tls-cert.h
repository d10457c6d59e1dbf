/*
 * tls-cert.h: the certificate that devices see. It comes from the PEM
 * files of the [tls] certificate and key settings, or is a self-signed
 * RSA-2048 certificate that exoconnect makes once and keeps beside the
 * settings file. BearSSL makes keys but writes no certificates, so a
 * small DER encoder of our own writes it.
 */
#ifndef EXO_TLS_CERT_H
#define EXO_TLS_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "plat.h"

/* Files of the generated certificate and key, beside the settings file. */
#define TLS_CERT_FILE_NAME	"device-cert.pem"
#define TLS_KEY_FILE_NAME	"device-key.pem"

/* "AB:CD:..." for the 32 bytes of a SHA-256 digest, with the NUL. */
#define TLS_CERT_FINGERPRINT_MAX	(32 * 3)
/* Numeric addresses a generated certificate names besides the host. */
#define TLS_CERT_ADDR_MAX	24
/* Largest PEM file read for a fingerprint. */
#define TLS_CERT_PEM_MAX	(256 * 1024)
/* Validity of a generated certificate. */
#define TLS_CERT_DAYS		3650

/* The contents of a generated certificate. */
struct tls_cert_request {
	const char	*host;		/* CN, and the first DNS name */
	const char	*addrs[TLS_CERT_ADDR_MAX]; /* IPv4 or IPv6, numeric */
	size_t		 naddrs;	/* invalid ones are skipped */
	int64_t		 now;		/* seconds since 1970, UTC */
	unsigned	 bits;		/* RSA key size, 1024 to 4096 */
};

/*
 * Makes a new RSA key and a self-signed X.509 v3 certificate for rq:
 * subject and issuer CN = host, DNS names host and "localhost", the
 * addresses as IP names, valid from one day before now for TLS_CERT_DAYS
 * days, signed with sha256WithRSAEncryption. *cert_pem and *key_pem
 * (PKCS#1 "RSA PRIVATE KEY") are new NUL-terminated buffers the caller
 * frees; the key buffer must be wiped first. fingerprint receives the
 * SHA-256 of the certificate.
 */
int tls_cert_generate(const struct tls_cert_request *rq, char **cert_pem,
    size_t *cert_len, char **key_pem, size_t *key_len,
    char fingerprint[TLS_CERT_FINGERPRINT_MAX], struct exo_error *e);

/*
 * Finds the device certificate for s. With [tls] certificate set, cert
 * and key receive the two settings (both must be set). Otherwise they name
 * device-cert.pem and device-key.pem beside the settings file. When either
 * file is missing, a new pair is made for the host name, "localhost",
 * 127.0.0.1, ::1, the specific listen addresses and the addresses of the
 * PC's interfaces (plat_local_addrs), up to TLS_CERT_ADDR_MAX addresses,
 * and stored with the key readable by its owner only, and *generated is
 * set to 1. Existing files are kept as they are, even when the PC's names
 * or addresses have changed, because devices may have pinned them.
 * fingerprint receives the SHA-256 of the first certificate of the file.
 */
int tls_cert_ensure(const struct settings *s, char cert[PLAT_PATH_MAX],
    char key[PLAT_PATH_MAX], int *generated,
    char fingerprint[TLS_CERT_FINGERPRINT_MAX], struct exo_error *e);

/*
 * Writes the SHA-256 fingerprint of the first certificate in the PEM file
 * path (at most TLS_CERT_PEM_MAX bytes) as "AB:CD:...".
 */
int tls_cert_fingerprint(const char *path,
    char out[TLS_CERT_FINGERPRINT_MAX], struct exo_error *e);

/*
 * Part of the stream's message when the first bytes were no TLS record
 * (BR_ERR_UNSUPPORTED_VERSION), as with plain text on a TLS port.
 */
#define TLS_CERT_NOT_TLS	"does not offer the versions accepted here"

#endif
