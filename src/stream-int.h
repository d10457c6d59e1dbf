/*
 * stream-int.h: the stream's internals shared by stream.c (buffers and
 * line reading), stream-tls.c (the BearSSL engine) and trust.c (trust
 * anchors and server credentials). Not for other modules.
 */
#ifndef EXO_STREAM_INT_H
#define EXO_STREAM_INT_H

#include <bearssl.h>

#include "stream.h"

/* Received plain text buffered for the line reader. */
#define STREAM_READ_BUF		16384
/* Output collected before it goes to the socket. Over TLS, output goes
 * straight into the engine's buffer instead. */
#define STREAM_WRITE_BUF	4096

/* stream.end after a plain end of stream or a TLS close_notify. */
#define STREAM_END_CLEAN	1

struct stream_tls;

struct stream {
	plat_socket		 sock;
	int			 timeout_ms;
	int64_t			 read_deadline;	/* plat_monotonic_ms(), or 0 */
	long			 end;		/* 0 while open, else the end:
						 * STREAM_END_CLEAN or
						 * EXO_ERR_CLOSED */
	unsigned long long	 bytes_in;
	unsigned long long	 bytes_out;
	struct stream_tls	*tls;		/* NULL while in plain text */

	size_t			 rpos, rlen;	/* unread: rbuf[rpos..rlen) */
	size_t			 wlen;
	unsigned char		 rbuf[STREAM_READ_BUF];
	unsigned char		 wbuf[STREAM_WRITE_BUF];
};

struct tls_session_cache;

struct trust_store {
	br_x509_trust_anchor	*anchors;
	size_t			 count;
	size_t			 cap;
	/* TLS sessions of servers checked against these anchors, for
	 * resumption (stream-tls.c). */
	struct tls_session_cache *sessions;
};

struct tls_server_creds {
	br_x509_certificate	*chain;
	size_t			 chain_len;
	int			 key_type;	/* BR_KEYTYPE_RSA or _EC */
	unsigned		 issuer_key_type; /* of the CA that signed */
	br_rsa_private_key	 rsa;
	br_ec_private_key	 ec;
	int			 legacy;	/* accept TLS 1.0 and 1.1, RSA
						 * key exchange and CBC-SHA */
};

/*
 * Returns the wait allowed for one read from the socket: the timeout, cut
 * to what is left before the read deadline; 0 once the deadline passed.
 */
int stream_read_wait_ms(const struct stream *s);

/*
 * Reads plain text from the TLS engine: the count (> 0), 0 after the
 * peer's close_notify, EXO_ERR_CLOSED when the connection ended without
 * one, or another negative error.
 */
long stream_tls_read(struct stream *s, void *buf, size_t cap);
/* Encrypts and sends all len bytes. */
int stream_tls_write(struct stream *s, const void *buf, size_t len);
/*
 * Copies len bytes into the engine's output buffer, sending each record
 * that fills it (16 KB of plain text). stream_tls_flush sends the rest
 * as a shorter record; a read that has to wait sends it too.
 */
int stream_tls_append(struct stream *s, const void *buf, size_t len);
int stream_tls_flush(struct stream *s);
/*
 * The client's TLS session cache: up to 16 sessions, one per server name,
 * and the least recently used is replaced first. Any number of threads
 * may use one. stream_start_tls_client offers the session kept for its
 * server name and keeps the one it ends with. The constructor returns
 * NULL when out of memory.
 */
struct tls_session_cache *tls_session_cache_new(void);
void tls_session_cache_free(struct tls_session_cache *c);
/* Number of handshakes that resumed a session of c. */
unsigned long tls_session_cache_resumed(struct tls_session_cache *c);
/* 1 when the stream's client handshake resumed a kept session. */
int stream_tls_resumed(const struct stream *s);

/* Sends close_notify without waiting for the reply, and frees the TLS
 * state. */
void stream_tls_close(struct stream *s);

#endif
