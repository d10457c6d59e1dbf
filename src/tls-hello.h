/*
 * tls-hello.h: what a device offered in its TLS ClientHello. A listener
 * keeps the first bytes a device sends in the handshake, and when the
 * handshake fails, these functions turn them into a log line that names
 * the offer and the setting that fixes it ("offers only TLS 1.0 with RSA
 * key exchange; set [pop3] legacy_tls = yes for it").
 */
#ifndef EXO_TLS_HELLO_H
#define EXO_TLS_HELLO_H

#include <stddef.h>
#include <stdint.h>

/*
 * Maximum bytes of a device's first records kept and parsed. Old devices
 * send ClientHellos of 50 to 300 bytes. A longer hello is parsed as far
 * as these bytes reach.
 */
#define TLS_HELLO_MAX		2048

/* Protocol versions as they appear on the wire. */
#define TLS_HELLO_SSL30		0x0300
#define TLS_HELLO_TLS10		0x0301
#define TLS_HELLO_TLS11		0x0302
#define TLS_HELLO_TLS12		0x0303
#define TLS_HELLO_TLS13		0x0304

/* Kinds of cipher suites offered, as bits of tls_hello.suites. */
#define TLS_HELLO_ECDHE		0x01	/* ECDHE that every listener accepts:
					 * AES-GCM, ChaCha20, AES-CCM and
					 * AES-CBC with SHA-256 or SHA-384 */
#define TLS_HELLO_ECDHE_OLD	0x02	/* ECDHE with AES-CBC-SHA or 3DES */
#define TLS_HELLO_RSA		0x04	/* RSA key exchange */

/* The versions and key exchanges a ClientHello offered. */
struct tls_hello {
	int		 parsed;	/* 1 when the bytes began a ClientHello */
	int		 sslv2;		/* sent in the SSL 2.0 record format */
	unsigned	 best;		/* highest version offered from SSL 3.0
					 * to TLS 1.2, or 0 for none */
	int		 tls13;		/* TLS 1.3 offered */
	int		 suites_whole;	/* the whole cipher suite list read */
	unsigned	 suites;	/* TLS_HELLO_* bits of the suites read */
};

/*
 * Parses the first len bytes a client sent (TLS records or an SSL 2.0
 * ClientHello) into h. Reads at most min(len, TLS_HELLO_MAX) bytes and
 * never past a length field's end, so any bytes are safe. Returns 1 when
 * they began a ClientHello (possibly cut short), 0 otherwise with
 * h->parsed 0.
 */
int tls_hello_parse(const unsigned char *buf, size_t len,
    struct tls_hello *h);

/*
 * Writes why a listener rejected the hello h and how to fix it into buf
 * (cap bytes): "device PEER offers only TLS 1.0 with RSA key exchange;
 * set [SECTION] legacy_tls = yes for it", or that SSL 3.0 or TLS 1.3
 * alone is never accepted, or that no suite is supported. legacy is the
 * listener's legacy_tls. Returns buf, or NULL when the offer fits this
 * listener, so that something else failed.
 * NOTE: the suites are judged without the certificate's key type, so a
 * device that offers only ECDHE_ECDSA suites to an RSA certificate gets
 * no explanation.
 */
const char *tls_hello_explain(const struct tls_hello *h, const char *peer,
    int legacy, const char *section, char *buf, size_t cap);

/*
 * Writes the fix for a failed device-side handshake into buf: from the
 * hello when h is not NULL and explains it (tls_hello_explain), else
 * judged from the stream's error message msg. Returns buf, or NULL when
 * there is no fix to suggest, as for bytes that were no TLS record.
 */
const char *tls_hello_fix(const char *msg, const struct tls_hello *h,
    const char *peer, int legacy, const char *section, char *buf,
    size_t cap);

/*
 * Writes the fix for a TLS handshake that a device sent to the plain port
 * of [section] into buf: use the implicit-TLS port tls_port, or, when it
 * is 0, STARTTLS or no encryption, or tls_port = usual_port. Returns buf.
 */
const char *tls_hello_plain_port_fix(const char *section, unsigned port,
    unsigned tls_port, unsigned usual_port, char *buf, size_t cap);

#endif
