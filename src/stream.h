/*
 * stream.h: a buffered byte stream over a TCP socket, in plain text or in
 * TLS (BearSSL), with bounded line reading.
 *
 * A stream starts in plain text and can be upgraded to TLS in place, which
 * serves implicit TLS (upgrade at once) and STARTTLS/STLS (upgrade after
 * the command). One stream is used by one thread at a time.
 */
#ifndef EXO_STREAM_H
#define EXO_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "plat.h"

struct stream;
struct trust_store;
struct tls_server_creds;
struct tls_hello;

/*
 * Wraps a connected socket; the stream owns it from now on. timeout_ms
 * applies to every read and write that waits (-1: no limit).
 */
struct stream *stream_new(plat_socket s, int timeout_ms);

/* Connects to host:port and wraps the socket. */
int stream_connect(const char *host, unsigned port, int timeout_ms,
    struct stream **out, struct exo_error *e);

/* Sends pending output, shuts down TLS politely when active, closes the
 * socket and frees the stream. NULL is allowed. */
void stream_close(struct stream *s);

/* Changes the timeout for later reads and writes. */
void stream_set_timeout(struct stream *s, int timeout_ms);

/*
 * Sets a deadline on reads: after plat_monotonic_ms() reaches deadline_ms,
 * every read that has to wait fails with EXO_ERR_TIMEOUT, however often
 * the peer sends a byte. Buffered input is still returned, and writes keep
 * the plain timeout so a reply can go out after the deadline. 0 removes it.
 */
void stream_set_read_deadline(struct stream *s, int64_t deadline_ms);

/* Shuts the socket down from another thread, so a blocked read returns. */
void stream_abort(struct stream *s);

/*
 * Starts TLS as a client: TLS 1.2 only, certificate chain verified against
 * trust, server_name sent as SNI and checked against the certificate's DNS
 * names. Bytes already buffered before the upgrade make it fail with
 * EXO_ERR_PROTO (a server may not send data after its STARTTLS reply). The
 * message names the host and the reason (unknown CA, name mismatch,
 * expired, no TLS 1.2).
 */
int stream_start_tls_client(struct stream *s, const char *server_name,
    const struct trust_store *trust, struct exo_error *e);

/*
 * Starts TLS as a server with creds: TLS 1.2 with ECDHE key exchange, or
 * with creds' legacy flag TLS 1.0 to 1.2 with every suite BearSSL's full
 * profile has. Bytes the peer sent after its STARTTLS command and before
 * the handshake are discarded (RFC 3207 4.2). For both sides, the whole
 * handshake must finish within the stream's timeout, or it fails with
 * EXO_ERR_TIMEOUT.
 */
int stream_start_tls_server(struct stream *s,
    const struct tls_server_creds *creds, struct exo_error *e);

/*
 * Parses into h the first TLS_HELLO_MAX bytes that the client sent in the
 * handshake of stream_start_tls_server, whether it succeeded or failed,
 * until stream_close. Returns 1 when they began a ClientHello, else 0
 * with h cleared (also for streams without a server handshake).
 */
int stream_tls_client_hello(const struct stream *s, struct tls_hello *h);

/* 1 when TLS is active. */
int stream_is_tls(const struct stream *s);

/*
 * Reads one line, including its "\n" when one came, into buf (cap bytes,
 * always NUL-terminated, so at most cap - 1 bytes of data). Returns:
 *   EXO_OK          *len bytes, ending in "\n", or the last bytes before
 *                   the peer closed (no "\n");
 *   EXO_ERR_TOOLONG cap - 1 bytes without "\n": the rest of the line is
 *                   still unread, so the caller either discards it with
 *                   stream_skip_line or keeps reading pieces;
 *   EXO_ERR_CLOSED  end of stream before any byte;
 *   EXO_ERR_TIMEOUT, EXO_ERR_IO, EXO_ERR_TLS: the bytes of an
 *                   incomplete line read so far are lost.
 * Embedded NUL bytes are returned as data; callers that forbid them check
 * with memchr.
 */
int stream_read_line(struct stream *s, char *buf, size_t cap, size_t *len);

/* Discards input up to and including the next "\n". */
int stream_skip_line(struct stream *s);

/*
 * Reads at most cap bytes, from the buffer first, waiting only when the
 * buffer is empty. Returns the count (> 0), 0 at end of stream, or a
 * negative error. Over TLS, 0 means the peer sent close_notify. An end
 * without it is EXO_ERR_CLOSED, and only the caller's framing can tell
 * whether the data was complete. Later reads return the same end again.
 */
long stream_read(struct stream *s, void *buf, size_t cap);

/*
 * Reads without copying: waits only when nothing is buffered, then points
 * *data at the buffered bytes and returns their count (> 0), or returns
 * 0 or a negative error as stream_read does. The bytes stay valid until
 * the next call on s, and stay unread until stream_consume takes them,
 * so a caller can leave what follows its own framing for the next read.
 */
long stream_peek(struct stream *s, const void **data);
/* Marks n of the bytes stream_peek returned as read (n <= that count). */
void stream_consume(struct stream *s, size_t n);

/* Number of received bytes buffered and not yet read. */
size_t stream_pending(const struct stream *s);

/* Buffers output; large writes go straight through. */
int stream_write(struct stream *s, const void *buf, size_t len);
int stream_puts(struct stream *s, const char *text);
int stream_printf(struct stream *s, const char *fmt, ...) EXO_PRINTF(2, 3);
/* Sends everything buffered. */
int stream_flush(struct stream *s);

/*
 * Total bytes read from and written to the peer, for the log: plain text
 * only, without TLS record overhead.
 */
unsigned long long stream_bytes_in(const struct stream *s);
unsigned long long stream_bytes_out(const struct stream *s);

/* ---- TLS trust and credentials (stream-tls.c, trust.c) ---- */

/*
 * Loads trust anchors: the system CA bundle where one exists (on Windows,
 * the machine's ROOT store), then the PEM file ca_file when not NULL or
 * empty, then the Microsoft roots built into the binary. A missing or
 * unreadable ca_file is an error naming the file. Read-only after loading,
 * so any number of threads may use it.
 */
int trust_load(const char *ca_file, struct trust_store **out,
    struct exo_error *e);
size_t trust_count(const struct trust_store *t);
void trust_free(struct trust_store *t);

/* Loads a PEM certificate chain and its private key (RSA or EC). */
int tls_server_creds_load(const char *cert_file, const char *key_file,
    struct tls_server_creds **out, struct exo_error *e);
/*
 * on != 0 lets a listener accept TLS 1.0 and 1.1 as well as 1.2, and RSA
 * key exchange, AES-CBC with SHA-1 and 3DES besides ECDHE, for old
 * devices; the default is TLS 1.2 with ECDHE only. Takes effect for
 * handshakes started afterwards.
 */
void tls_server_creds_set_legacy(struct tls_server_creds *c, int on);
/* Frees c; no stream may use it any more (the engine keeps pointers). */
void tls_server_creds_free(struct tls_server_creds *c);

#endif
