/*
 * stream-tls.c: TLS for streams with BearSSL. The engine runs in this
 * file's own loop over the stream's socket, so every wait honours the
 * stream's timeout, and its failures become messages a user can act on.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream-int.h"
#include "tls-hello.h"
#include "util.h"

/*
 * Buffer sizes. The input buffer must hold a whole record of 16 KB
 * because Exchange Online does not negotiate a smaller maximum fragment
 * length. Output records take up to 16 KB of plain text too, so a large
 * DATA upload or RETR relay needs a quarter of the records and send
 * calls that 4 KB records took. The engine runs in full duplex, because
 * in half-duplex (mono) mode unread incoming data blocks every write
 * (bearssl_ssl.h, br_ssl_engine_set_buffer). A TLS stream thus takes
 * the buffers of BR_SSL_BUFSIZE_BIDI, about 33 KB, besides its contexts.
 * Untouched buffer pages stay out of resident memory (tls_alloc), and
 * POP3 and SMTP commands fill only the first page of the output buffer.
 * 300 loopback TLS pairs that exchanged one line each measured about
 * 25 KB resident per TLS stream and 6 KB per plain one with 4 KB output
 * records (glibc, x86_64, VmRSS before and after).
 */
#define TLS_INPUT_BUF	BR_SSL_BUFSIZE_INPUT
#define TLS_OUTPUT_BUF	BR_SSL_BUFSIZE_OUTPUT

/* Maximum wait for sending close_notify when a stream closes. */
#define TLS_CLOSE_TIMEOUT_MS	2000

/*
 * Upstream TLS sessions kept for resumption, per trust store: a device
 * login then skips the ECDHE key exchange and the chain check. With
 * BearSSL 0.6's portable P-256 code these took about a quarter of
 * exoconnect's CPU time in the login benchmark (perf). A session older than TLS_SESSION_MAX_AGE_MS is not offered.
 * NOTE: whether Exchange Online resumes TLS 1.2 sessions by session ID
 * was not checked. The Python doubles never do (openssl s_client
 * -reconnect got a new session each time), so there a login still runs
 * the full handshake.
 */
#define TLS_SESSION_SLOTS	16
#define TLS_SESSION_NAME_MAX	256
#define TLS_SESSION_MAX_AGE_MS	(60 * 60 * 1000)

struct tls_session_slot {
	char				name[TLS_SESSION_NAME_MAX];
	br_ssl_session_parameters	params;
	int64_t				stored;	/* plat_monotonic_ms() */
	uint64_t			used;	/* recency, 0 while free */
};

struct tls_session_cache {
	struct plat_mutex	*lock;
	uint64_t		 clock;
	unsigned long		 resumed;
	struct tls_session_slot	 slots[TLS_SESSION_SLOTS];
};

/*
 * The client's cipher suites with AES-GCM first, for when the CPU has
 * AES-NI and PCLMUL. BearSSL then seals and opens AES-GCM records at
 * about a fifth of ChaCha20-Poly1305's cost (tests/bench/tls-floor.c:
 * 0.4 against 2 s of CPU per GB). A server that takes the client's first
 * choice, as BearSSL's does, follows this order. The rest follows
 * BearSSL 0.6's list for br_ssl_client_init_full, without the static
 * ECDH suites and most CCM ones. Without AES-NI, BearSSL's default
 * order (ChaCha20 first) stays.
 */
static const uint16_t tls_suites_gcm_first[] = {
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CCM,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	BR_TLS_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_RSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_RSA_WITH_AES_256_CBC_SHA256,
	BR_TLS_RSA_WITH_AES_128_CBC_SHA,
	BR_TLS_RSA_WITH_AES_256_CBC_SHA,
};

/*
 * The device side's suites unless legacy_tls is on: ECDHE key exchange
 * only, for forward secrecy, with the AEAD suites first. The listener
 * picks from this order (BR_OPT_ENFORCE_SERVER_PREFERENCES). ECDHE with
 * AES-CBC and SHA-256 or SHA-384 is kept for TLS 1.2 devices that may
 * offer no AEAD suite; BearSSL checks CBC records in constant time
 * (ssl_rec_cbc.c). legacy_tls = yes uses BearSSL's full list instead,
 * which adds RSA key exchange, AES-CBC with SHA-1 and 3DES.
 */
static const uint16_t tls_suites_device[] = {
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CCM,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
};

struct stream_tls {
	union {
		br_ssl_client_context	client;
		br_ssl_server_context	server;
	} ctx;
	br_ssl_engine_context	*eng;
	br_x509_minimal_context	 x509;		/* client side only */
	int			 sock_end;	/* error that ended the
						 * socket, or 0 */
	int			 recv_end;	/* end or error of the
						 * receiving side, or 0 */
	int64_t			 deadline;	/* plat_monotonic_ms() limit
						 * of the handshake, or 0 */
	int			 resumed;	/* 1 when the handshake
						 * resumed a session */
	int			 capture;	/* 1 while the client's first
						 * bytes go into hello */
	size_t			 hello_len;
	unsigned char		 ibuf[TLS_INPUT_BUF];
	unsigned char		 obuf[TLS_OUTPUT_BUF];
	unsigned char		 hello[TLS_HELLO_MAX]; /* server side */
};

/*
 * The message and stream code for one BearSSL error. When versions is 1,
 * the message goes on to name the versions this side accepts.
 */
struct tls_error_text {
	int		 err;
	int		 code;
	const char	*text;
	int		 versions;
};

static const struct tls_error_text tls_error_texts[] = {
	{ BR_ERR_X509_NOT_TRUSTED, EXO_ERR_TLS,
	    "the certificate is not signed by a trusted CA (unknown CA); "
	    "set ca_file in the [tls] section to the CA that issued it", 0 },
	{ BR_ERR_X509_BAD_SERVER_NAME, EXO_ERR_TLS,
	    "the certificate does not carry this host name (name "
	    "mismatch); check the host name in the settings", 0 },
	{ BR_ERR_X509_EXPIRED, EXO_ERR_TLS,
	    "the certificate has expired or is not yet valid; check the "
	    "date and time of this computer", 0 },
	{ BR_ERR_X509_TIME_UNKNOWN, EXO_ERR_TLS,
	    "the certificate validity could not be checked against the "
	    "current time; check the date and time of this computer", 0 },
	{ BR_ERR_UNSUPPORTED_VERSION, EXO_ERR_TLS,
	    "no common TLS version: the peer does not offer the versions "
	    "accepted here", 1 },
	{ BR_ERR_BAD_VERSION, EXO_ERR_TLS,
	    "no common TLS version: the peer used an unexpected version", 0 },
	{ BR_ERR_BAD_CIPHER_SUITE, EXO_ERR_TLS,
	    "no common cipher suite with the peer", 0 },
	{ BR_ERR_X509_NOT_CA, EXO_ERR_TLS,
	    "an intermediate certificate of the chain is not a CA", 0 },
	{ BR_ERR_X509_BAD_SIGNATURE, EXO_ERR_TLS,
	    "a certificate signature of the chain is invalid", 0 },
	{ BR_ERR_X509_WEAK_PUBLIC_KEY, EXO_ERR_TLS,
	    "the certificate key is too weak", 0 },
	{ BR_ERR_X509_EMPTY_CHAIN, EXO_ERR_TLS,
	    "the peer sent no certificate", 0 },
	{ BR_ERR_RECV_FATAL_ALERT + 70, EXO_ERR_TLS,
	    "no common TLS version: the peer sent a protocol_version alert",
	    1 },
	{ BR_ERR_SEND_FATAL_ALERT + 70, EXO_ERR_TLS,
	    "no common TLS version: the peer offered only versions older "
	    "than this side accepts", 1 },
	{ BR_ERR_SEND_FATAL_ALERT + 40, EXO_ERR_TLS,
	    "no common cipher suite with the peer", 0 },
	{ BR_ERR_RECV_FATAL_ALERT + 40, EXO_ERR_TLS,
	    "the peer ended the handshake with a handshake_failure alert: "
	    "no common cipher suite or version", 0 },
	{ BR_ERR_RECV_FATAL_ALERT + 42, EXO_ERR_TLS,
	    "the peer rejected our certificate (bad_certificate alert)", 0 },
	{ BR_ERR_RECV_FATAL_ALERT + 48, EXO_ERR_TLS,
	    "the peer does not trust the CA of our certificate (unknown_ca "
	    "alert)", 0 },
};

/*
 * Writes the meaning of a BearSSL error into e and returns the code.
 * versions names the versions this side accepts, such as "TLS 1.2".
 */
static int
tls_error(struct exo_error *e, const char *peer, int err,
    const char *versions)
{
	const struct tls_error_text	*t;
	char				 text[256];
	size_t				 i;

	for (i = 0; i < sizeof(tls_error_texts) / sizeof(tls_error_texts[0]);
	    i++) {
		t = &tls_error_texts[i];
		if (t->err != err)
			continue;
		if (t->versions)
			snprintf(text, sizeof(text), "%s; this side "
			    "accepts %s", t->text, versions);
		else
			str_copy(text, t->text, sizeof(text));
		return (err_set(e, t->code, "TLS with %s failed: %s", peer,
		    text));
	}
	if (err >= BR_ERR_SEND_FATAL_ALERT)
		return (err_set(e, EXO_ERR_TLS, "TLS with %s failed: this "
		    "side sent fatal alert %d", peer,
		    err - BR_ERR_SEND_FATAL_ALERT));
	if (err >= BR_ERR_RECV_FATAL_ALERT)
		return (err_set(e, EXO_ERR_TLS, "TLS with %s failed: the peer "
		    "sent fatal alert %d", peer,
		    err - BR_ERR_RECV_FATAL_ALERT));
	if (err >= BR_ERR_X509_OK)
		return (err_set(e, EXO_ERR_TLS, "TLS with %s failed: the "
		    "certificate chain is invalid (BearSSL X.509 error %d)",
		    peer, err));
	return (err_set(e, EXO_ERR_TLS, "TLS with %s failed: BearSSL error "
	    "%d", peer, err));
}

/* Maps a closed engine to a stream code. */
static int
tls_closed_code(br_ssl_engine_context *eng)
{
	int	err = br_ssl_engine_last_error(eng);

	if (err == BR_ERR_OK || err == BR_ERR_IO)
		return (EXO_ERR_CLOSED);
	return (EXO_ERR_TLS);
}

/*
 * Returns the wait allowed for one socket operation: the stream's timeout,
 * cut to what is left of the handshake's deadline, so a peer that sends
 * a byte now and then cannot stretch a handshake without end.
 */
static int
tls_wait_ms(const struct stream *s)
{
	int64_t	left;

	if (s->tls->deadline == 0)
		return (s->timeout_ms);
	left = s->tls->deadline - plat_monotonic_ms();
	if (left < 1)
		left = 1;
	if (s->timeout_ms >= 0 && left > s->timeout_ms)
		left = s->timeout_ms;
	return ((int)left);
}

/* Returns the wait for one socket read: tls_wait_ms within the stream's
 * read deadline, and 0 once that deadline has passed. */
static int
tls_read_wait_ms(const struct stream *s)
{
	int	wait = tls_wait_ms(s), left = stream_read_wait_ms(s);

	if (s->read_deadline == 0)
		return (wait);
	if (left == 0)
		return (0);
	if (left > 0 && (wait < 0 || left < wait))
		wait = left;
	return (wait);
}

/* Sends the records the engine has ready. */
static int
tls_send_records(struct stream *s, int timeout_ms)
{
	br_ssl_engine_context	*eng = s->tls->eng;
	unsigned char		*buf;
	size_t			 len;
	int			 rc;

	while (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) {
		buf = br_ssl_engine_sendrec_buf(eng, &len);
		rc = plat_send_all(s->sock, buf, len, timeout_ms);
		if (rc != EXO_OK) {
			if (rc != EXO_ERR_TIMEOUT)
				s->tls->sock_end = rc;
			return (rc);
		}
		br_ssl_engine_sendrec_ack(eng, len);
	}
	return (EXO_OK);
}

/* Keeps the client's first bytes of a server handshake for tls_hello. */
static void
tls_capture(struct stream_tls *t, const unsigned char *buf, size_t len)
{
	if (!t->capture)
		return;
	if (len > sizeof(t->hello) - t->hello_len)
		len = sizeof(t->hello) - t->hello_len;
	memcpy(t->hello + t->hello_len, buf, len);
	t->hello_len += len;
}

/*
 * Runs the engine until one of the states in target (BR_SSL_SENDAPP or
 * BR_SSL_RECVAPP) is available, moving records over the socket.
 */
static int
tls_run_until(struct stream *s, unsigned target)
{
	br_ssl_engine_context	*eng = s->tls->eng;
	unsigned char		*buf;
	unsigned		 state;
	size_t			 len;
	long			 n;
	int			 rc, wait, flushed = 0;

	for (;;) {
		if (s->tls->sock_end != 0)
			return (s->tls->sock_end);
		state = br_ssl_engine_current_state(eng);
		if (state & BR_SSL_CLOSED)
			return (tls_closed_code(eng));
		if (state & BR_SSL_SENDREC) {
			rc = tls_send_records(s, tls_wait_ms(s));
			if (rc != EXO_OK)
				return (rc);
			continue;
		}
		if (state & target)
			return (EXO_OK);

		/*
		 * Full duplex makes this rare: plain text waits to be read
		 * while the engine cannot accept any to send, as during a
		 * renegotiation. Reading it here would lose it.
		 */
		if (state & BR_SSL_RECVAPP)
			return (EXO_ERR_TLS);

		if (state & BR_SSL_RECVREC) {
			/*
			 * Output that stream_write left in the engine goes
			 * out before waiting for the peer, which may be
			 * waiting for it.
			 */
			if ((target & BR_SSL_RECVAPP) && !flushed) {
				br_ssl_engine_flush(eng, 0);
				flushed = 1;
				continue;
			}
			if (s->tls->recv_end != 0)
				return (s->tls->recv_end);
			if ((wait = tls_read_wait_ms(s)) == 0)
				return (EXO_ERR_TIMEOUT);
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			n = plat_recv(s->sock, buf, len, wait);
			if (n == 0 || n == EXO_ERR_CLOSED || n == EXO_ERR_IO) {
				/*
				 * The socket ended without close_notify, which
				 * BearSSL's own I/O layer reports as BR_ERR_IO.
				 * Only the caller's framing can tell whether
				 * the data was complete. Writes go on, so a
				 * session whose reading side was shut down
				 * (plat_socket_shutdown_read, for a deleted
				 * user) can still send its reply.
				 */
				s->tls->recv_end = n == 0 ? EXO_ERR_CLOSED :
				    (int)n;
				return (s->tls->recv_end);
			}
			if (n < 0)
				return ((int)n);
			tls_capture(s->tls, buf, (size_t)n);
			br_ssl_engine_recvrec_ack(eng, (size_t)n);
			continue;
		}

		/* Plain text waits in the engine: push it into a record. */
		br_ssl_engine_flush(eng, 0);
	}
}

long
stream_tls_read(struct stream *s, void *buf, size_t cap)
{
	br_ssl_engine_context	*eng = s->tls->eng;
	unsigned char		*p;
	size_t			 avail;
	int			 rc;

	rc = tls_run_until(s, BR_SSL_RECVAPP);
	if (rc == EXO_ERR_CLOSED && s->tls->sock_end == 0 &&
	    s->tls->recv_end == 0 &&
	    br_ssl_engine_last_error(eng) == BR_ERR_OK)
		return (0);
	if (rc != EXO_OK)
		return (rc);

	p = br_ssl_engine_recvapp_buf(eng, &avail);
	if (avail > cap)
		avail = cap;
	memcpy(buf, p, avail);
	br_ssl_engine_recvapp_ack(eng, avail);
	return ((long)avail);
}

int
stream_tls_append(struct stream *s, const void *buf, size_t len)
{
	br_ssl_engine_context	*eng = s->tls->eng;
	const unsigned char	*src = buf;
	unsigned char		*p;
	size_t			 avail;
	int			 rc;

	/* The engine seals a record by itself once its buffer is full. */
	while (len > 0) {
		rc = tls_run_until(s, BR_SSL_SENDAPP);
		if (rc != EXO_OK)
			return (rc);
		p = br_ssl_engine_sendapp_buf(eng, &avail);
		if (avail > len)
			avail = len;
		memcpy(p, src, avail);
		br_ssl_engine_sendapp_ack(eng, avail);
		src += avail;
		len -= avail;
	}
	return (EXO_OK);
}

int
stream_tls_flush(struct stream *s)
{
	if (s->tls->sock_end != 0)
		return (s->tls->sock_end);
	br_ssl_engine_flush(s->tls->eng, 0);
	return (tls_send_records(s, s->timeout_ms));
}

int
stream_tls_write(struct stream *s, const void *buf, size_t len)
{
	int	rc;

	if ((rc = stream_tls_append(s, buf, len)) != EXO_OK)
		return (rc);
	return (stream_tls_flush(s));
}

void
stream_tls_close(struct stream *s)
{
	struct stream_tls	*t = s->tls;
	int			 timeout_ms = TLS_CLOSE_TIMEOUT_MS;

	if (t->sock_end == 0 &&
	    !(br_ssl_engine_current_state(t->eng) & BR_SSL_CLOSED)) {
		/* Send close_notify but do not wait for the peer's reply. */
		if (s->timeout_ms >= 0 && s->timeout_ms < timeout_ms)
			timeout_ms = s->timeout_ms;
		br_ssl_engine_close(t->eng);
		tls_send_records(s, timeout_ms);
	}
	plat_wipe(t, sizeof(*t));
	free(t);
	s->tls = NULL;
}

/*
 * Allocates TLS state with only the contexts cleared, so the record
 * buffers enter resident memory only as far as records fill them.
 */
static struct stream_tls *
tls_alloc(void)
{
	struct stream_tls	*t;

	t = malloc(sizeof(*t));
	if (t != NULL)
		memset(t, 0, offsetof(struct stream_tls, ibuf));
	return (t);
}

/*
 * Runs the handshake to its end and reports a failure in e. versions
 * names the versions this side accepts, for the message.
 */
static int
tls_handshake(struct stream *s, const char *peer, const char *versions,
    struct exo_error *e)
{
	br_ssl_engine_context	*eng = s->tls->eng;
	int			 rc;

	if (s->timeout_ms >= 0)
		s->tls->deadline = plat_monotonic_ms() + s->timeout_ms;
	rc = tls_run_until(s, BR_SSL_SENDAPP);
	s->tls->deadline = 0;
	if (rc == EXO_OK)
		return (EXO_OK);
	if (rc == EXO_ERR_CLOSED && (s->tls->sock_end != 0 ||
	    s->tls->recv_end != 0))
		return (err_set(e, rc, "TLS with %s failed: the connection "
		    "closed during the handshake", peer));
	if (rc == EXO_ERR_TIMEOUT)
		return (err_set(e, rc, "TLS with %s failed: the handshake "
		    "timed out", peer));
	if (rc == EXO_ERR_IO)
		return (err_set(e, rc, "TLS with %s failed: socket error "
		    "during the handshake", peer));
	return (tls_error(e, peer, br_ssl_engine_last_error(eng), versions));
}

struct tls_session_cache *
tls_session_cache_new(void)
{
	struct tls_session_cache	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return (NULL);
	if ((c->lock = plat_mutex_new()) == NULL) {
		free(c);
		return (NULL);
	}
	return (c);
}

void
tls_session_cache_free(struct tls_session_cache *c)
{
	if (c == NULL)
		return;
	plat_mutex_free(c->lock);
	plat_wipe(c, sizeof(*c));
	free(c);
}

unsigned long
tls_session_cache_resumed(struct tls_session_cache *c)
{
	unsigned long	n;

	plat_mutex_lock(c->lock);
	n = c->resumed;
	plat_mutex_unlock(c->lock);
	return (n);
}

/* Returns the slot kept for name, or NULL; the caller holds the lock. */
static struct tls_session_slot *
tls_session_find(struct tls_session_cache *c, const char *name)
{
	size_t	i;

	for (i = 0; i < TLS_SESSION_SLOTS; i++) {
		if (c->slots[i].used != 0 &&
		    strcmp(c->slots[i].name, name) == 0)
			return (&c->slots[i]);
	}
	return (NULL);
}

/* Copies the session kept for name into p; 0 when there is none. */
static int
tls_session_get(struct tls_session_cache *c, const char *name,
    br_ssl_session_parameters *p)
{
	struct tls_session_slot	*slot;
	int			 found = 0;

	if (c == NULL)
		return (0);
	plat_mutex_lock(c->lock);
	slot = tls_session_find(c, name);
	if (slot != NULL && plat_monotonic_ms() - slot->stored <
	    TLS_SESSION_MAX_AGE_MS) {
		*p = slot->params;
		slot->used = ++c->clock;
		found = 1;
	}
	plat_mutex_unlock(c->lock);
	return (found);
}

/*
 * Keeps p as the session for name, in name's slot, a free one or the
 * least recently used one. p NULL removes name's session.
 */
static void
tls_session_put(struct tls_session_cache *c, const char *name,
    const br_ssl_session_parameters *p, int resumed)
{
	struct tls_session_slot	*slot;
	size_t			 i;

	if (c == NULL || strlen(name) >= TLS_SESSION_NAME_MAX)
		return;
	plat_mutex_lock(c->lock);
	if (resumed)
		c->resumed++;
	slot = tls_session_find(c, name);
	if (p == NULL) {
		if (slot != NULL)
			plat_wipe(slot, sizeof(*slot));
		goto out;
	}
	if (slot == NULL) {
		slot = &c->slots[0];
		for (i = 1; i < TLS_SESSION_SLOTS; i++) {
			if (c->slots[i].used < slot->used)
				slot = &c->slots[i];
		}
		str_copy(slot->name, name, sizeof(slot->name));
	}
	if (!resumed)
		slot->stored = plat_monotonic_ms();
	slot->params = *p;
	slot->used = ++c->clock;
out:
	plat_mutex_unlock(c->lock);
}

int
stream_tls_resumed(const struct stream *s)
{
	return (s->tls != NULL && s->tls->resumed);
}

/* Sets the client's suites: AES-GCM first where the CPU speeds it up. */
static void
tls_client_suites(br_ssl_engine_context *eng)
{
	if (br_aes_x86ni_ctr_get_vtable() != NULL && br_ghash_pclmul_get() !=
	    0)
		br_ssl_engine_set_suites(eng, tls_suites_gcm_first,
		    sizeof(tls_suites_gcm_first) /
		    sizeof(tls_suites_gcm_first[0]));
}

int
stream_start_tls_client(struct stream *s, const char *server_name,
    const struct trust_store *trust, struct exo_error *e)
{
	struct stream_tls		*t;
	br_ssl_session_parameters	 offered, got;
	int				 rc, resume;

	if (s->tls != NULL)
		return (err_set(e, EXO_ERR_INVALID, "TLS with %s is already "
		    "active", server_name));
	if (stream_pending(s) > 0)
		return (err_set(e, EXO_ERR_PROTO, "%s sent data after its "
		    "STARTTLS reply and before the TLS handshake", server_name));
	rc = stream_flush(s);
	if (rc != EXO_OK)
		return (err_set(e, rc, "sending to %s failed before the TLS "
		    "handshake: %s", server_name, exo_strerror(rc)));

	t = tls_alloc();
	if (t == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory starting TLS "
		    "with %s", server_name));
	br_ssl_client_init_full(&t->ctx.client, &t->x509, trust->anchors,
	    trust->count);
	t->eng = &t->ctx.client.eng;
	br_ssl_engine_set_versions(t->eng, BR_TLS12, BR_TLS12);
	tls_client_suites(t->eng);
	br_ssl_engine_set_buffers_bidi(t->eng, t->ibuf, sizeof(t->ibuf),
	    t->obuf, sizeof(t->obuf));

	/*
	 * A server without a record of the offered session replies with a
	 * new one, and the handshake runs in full, chain check included.
	 */
	resume = tls_session_get(trust->sessions, server_name, &offered);
	if (resume)
		br_ssl_engine_set_session_parameters(t->eng, &offered);

	/*
	 * From here the stream stays in TLS even when the handshake fails,
	 * so no later write can send plain text by mistake.
	 */
	s->tls = t;
	if (!br_ssl_client_reset(&t->ctx.client, server_name, resume)) {
		rc = tls_error(e, server_name,
		    br_ssl_engine_last_error(t->eng), "TLS 1.2");
		goto out;
	}
	if ((rc = tls_handshake(s, server_name, "TLS 1.2", e)) != EXO_OK) {
		tls_session_put(trust->sessions, server_name, NULL, 0);
		goto out;
	}
	br_ssl_engine_get_session_parameters(t->eng, &got);
	t->resumed = resume && got.session_id_len > 0 &&
	    got.session_id_len == offered.session_id_len &&
	    memcmp(got.session_id, offered.session_id,
	    got.session_id_len) == 0;
	if (got.session_id_len > 0)
		tls_session_put(trust->sessions, server_name, &got,
		    t->resumed);
	plat_wipe(&got, sizeof(got));
out:
	if (resume)
		plat_wipe(&offered, sizeof(offered));
	return (rc);
}

int
stream_start_tls_server(struct stream *s,
    const struct tls_server_creds *creds, struct exo_error *e)
{
	struct stream_tls	*t;
	const char		*versions;
	int			 rc;

	if (s->tls != NULL)
		return (err_set(e, EXO_ERR_INVALID, "TLS is already active"));
	versions = creds->legacy ? "TLS 1.0 to 1.2" : "TLS 1.2 with ECDHE";

	/* RFC 3207 section 4.2: discard what the client sent too early. */
	s->rpos = 0;
	s->rlen = 0;
	rc = stream_flush(s);
	if (rc != EXO_OK)
		return (err_set(e, rc, "sending to the client failed before "
		    "the TLS handshake: %s", exo_strerror(rc)));

	t = tls_alloc();
	if (t == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory starting "
		    "TLS"));
	if (creds->key_type == BR_KEYTYPE_RSA)
		br_ssl_server_init_full_rsa(&t->ctx.server, creds->chain,
		    creds->chain_len, &creds->rsa);
	else
		br_ssl_server_init_full_ec(&t->ctx.server, creds->chain,
		    creds->chain_len, creds->issuer_key_type, &creds->ec);
	t->eng = &t->ctx.server.eng;
	if (creds->legacy)
		br_ssl_engine_set_versions(t->eng, BR_TLS10, BR_TLS12);
	else {
		br_ssl_engine_set_versions(t->eng, BR_TLS12, BR_TLS12);
		br_ssl_engine_set_suites(t->eng, tls_suites_device,
		    sizeof(tls_suites_device) / sizeof(tls_suites_device[0]));
		br_ssl_engine_add_flags(t->eng,
		    BR_OPT_ENFORCE_SERVER_PREFERENCES);
	}
	br_ssl_engine_set_buffers_bidi(t->eng, t->ibuf, sizeof(t->ibuf),
	    t->obuf, sizeof(t->obuf));

	s->tls = t;
	if (!br_ssl_server_reset(&t->ctx.server))
		return (tls_error(e, "the client",
		    br_ssl_engine_last_error(t->eng), versions));
	t->capture = 1;
	rc = tls_handshake(s, "the client", versions, e);
	t->capture = 0;
	return (rc);
}

int
stream_tls_client_hello(const struct stream *s, struct tls_hello *h)
{
	if (s->tls == NULL || s->tls->hello_len == 0) {
		memset(h, 0, sizeof(*h));
		return (0);
	}
	return (tls_hello_parse(s->tls->hello, s->tls->hello_len, h));
}
