/*
 * test-stream.c: the buffered stream and its line reader over loopback
 * sockets, and TLS between stream_start_tls_server and
 * stream_start_tls_client with a CA and a "localhost" certificate that
 * openssl creates in a temporary folder when the test starts.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "../../src/stream-int.h"
#include "../../src/util.h"

static char	tmpdir[64];
static char	ca_file[PLAT_PATH_MAX];
static char	other_ca_file[PLAT_PATH_MAX];
static char	cert_file[PLAT_PATH_MAX];
static char	key_file[PLAT_PATH_MAX];
static char	ec_cert_file[PLAT_PATH_MAX];
static char	ec_key_file[PLAT_PATH_MAX];
static char	expired_file[PLAT_PATH_MAX];
static int	have_certs;
static int	have_expired;

/* Connected streams: a (accepted side) and c (connecting side). */
static void
make_pair(struct stream **a, struct stream **c, int timeout_ms)
{
	struct exo_error	e;
	plat_socket		l, sa;
	char			peer[PLAT_ADDR_MAX];

	*a = *c = NULL;
	CHECK_INT(plat_listen("127.0.0.1", 0, &l, &e), 0);
	CHECK_INT(stream_connect("127.0.0.1", (unsigned)plat_socket_port(l),
	    timeout_ms, c, &e), 0);
	CHECK_INT(plat_accept(l, 2000, &sa, peer), 0);
	plat_socket_close(l);
	*a = stream_new(sa, timeout_ms);
	CHECK(*a != NULL);
}

/* Sends a list of pieces with a pause between them, from a thread. */
struct writer {
	struct stream		*s;
	const char *const	*pieces;
	int			 close_after;
	atomic_int		 done;
};

static void
writer_run(void *arg)
{
	struct writer	*w = arg;
	size_t		 i;

	for (i = 0; w->pieces[i] != NULL; i++) {
		stream_puts(w->s, w->pieces[i]);
		stream_flush(w->s);
		plat_sleep_ms(20);
	}
	if (w->close_after)
		stream_abort(w->s);
	atomic_store(&w->done, 1);
}

static void
writer_wait(struct writer *w)
{
	int	i;

	for (i = 0; i < 500 && !atomic_load(&w->done); i++)
		plat_sleep_ms(10);
	CHECK(atomic_load(&w->done));
}

TEST(read_line_split_reads)
{
	static const char *const pieces[] = {
		"US", "ER scan", "ner1\r", "\nPASS x\r\nQU", "IT\r\n", NULL,
	};
	struct writer	 w = { 0 };
	struct stream	*a, *c;
	char		 line[64];
	size_t		 len;

	make_pair(&a, &c, 2000);
	w.s = c;
	w.pieces = pieces;
	CHECK_INT(plat_thread_start(writer_run, &w, 0), 0);

	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "USER scanner1\r\n");
	CHECK_INT(len, 15);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "PASS x\r\n");
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "QUIT\r\n");
	writer_wait(&w);
	CHECK_INT(stream_bytes_in(a), 29);
	CHECK_INT(stream_bytes_out(c), 29);
	stream_close(a);
	stream_close(c);
}

/* A small deterministic generator, so a failure can be replayed. */
static unsigned long
lcg_next(unsigned long *state)
{
	*state = *state * 6364136223846793005UL + 1442695040888963407UL;
	return (*state >> 33);
}

#define SPLIT_TEXT_SIZE	20000

struct chunk_writer {
	struct stream	*s;
	const char	*text;
	size_t		 len;
	atomic_int	 done;
};

/* Sends text in chunks of 1 to 300 bytes, pausing now and then. */
static void
chunk_writer_run(void *arg)
{
	struct chunk_writer	*w = arg;
	unsigned long		 seed = 7;
	size_t			 off, n;

	for (off = 0; off < w->len; off += n) {
		n = 1 + lcg_next(&seed) % 300;
		if (n > w->len - off)
			n = w->len - off;
		stream_write(w->s, w->text + off, n);
		stream_flush(w->s);
		if (lcg_next(&seed) % 8 == 0)
			plat_sleep_ms(1);
	}
	stream_abort(w->s);
	atomic_store(&w->done, 1);
}

TEST(read_line_random_splits)
{
	static char		 text[SPLIT_TEXT_SIZE], joined[SPLIT_TEXT_SIZE];
	struct chunk_writer	 w;
	struct stream		*a, *c;
	unsigned long		 seed = 1;
	char			 piece[64];
	size_t			 i, len, have = 0, lines = 0, want_lines = 0;
	int			 rc;

	/* Lines of 0 to 199 bytes, so many are longer than the piece. */
	for (i = 0; i < sizeof(text); i++) {
		text[i] = (char)('a' + lcg_next(&seed) % 26);
		if (lcg_next(&seed) % 100 == 0 || i == sizeof(text) - 1) {
			text[i] = '\n';
			want_lines++;
		}
	}

	make_pair(&a, &c, 2000);
	memset(&w, 0, sizeof(w));
	w.s = c;
	w.text = text;
	w.len = sizeof(text);
	CHECK_INT(plat_thread_start(chunk_writer_run, &w, 0), 0);

	/* Reassemble each line from its pieces; the joined text must match. */
	for (;;) {
		rc = stream_read_line(a, piece, sizeof(piece), &len);
		if (rc == EXO_ERR_CLOSED)
			break;
		CHECK(rc == 0 || rc == EXO_ERR_TOOLONG);
		if (rc != 0 && rc != EXO_ERR_TOOLONG)
			break;
		CHECK(len > 0);
		CHECK(have + len <= sizeof(joined));
		if (have + len > sizeof(joined))
			break;
		if (rc == EXO_ERR_TOOLONG)
			CHECK_INT(len, sizeof(piece) - 1);
		memcpy(joined + have, piece, len);
		have += len;
		if (piece[len - 1] == '\n')
			lines++;
	}
	CHECK_INT(have, sizeof(text));
	CHECK(memcmp(joined, text, sizeof(text)) == 0);
	CHECK_INT(lines, want_lines);
	for (i = 0; i < 500 && !atomic_load(&w.done); i++)
		plat_sleep_ms(10);
	stream_close(a);
	stream_close(c);
}

TEST(read_line_overlong)
{
	struct stream	*a, *c;
	char		 line[32], big[100];
	size_t		 len;

	make_pair(&a, &c, 2000);
	memset(big, 'x', sizeof(big));
	CHECK_INT(stream_write(c, big, sizeof(big)), 0);
	CHECK_INT(stream_puts(c, "\r\nNOOP\r\n"), 0);
	CHECK_INT(stream_flush(c), 0);

	/* cap - 1 bytes come back; the rest of the line stays unread. */
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len),
	    EXO_ERR_TOOLONG);
	CHECK_INT(len, sizeof(line) - 1);
	CHECK_INT(strlen(line), sizeof(line) - 1);
	CHECK_INT(stream_skip_line(a), 0);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "NOOP\r\n");
	stream_close(a);
	stream_close(c);
}

TEST(read_line_exact_fit)
{
	struct stream	*a, *c;
	char		 line[8];
	size_t		 len;

	/* "ABCDEF\n" is 7 bytes, which fills cap - 1 exactly. */
	make_pair(&a, &c, 2000);
	CHECK_INT(stream_puts(c, "ABCDEF\nABCDEFG\n"), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "ABCDEF\n");
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len),
	    EXO_ERR_TOOLONG);
	CHECK_STR(line, "ABCDEFG");
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "\n");
	stream_close(a);
	stream_close(c);
}

TEST(read_line_longer_than_buffer)
{
	struct stream	*a, *c;
	static char	 big[40000], line[40002];
	size_t		 len;

	make_pair(&a, &c, 2000);
	memset(big, 'y', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	CHECK_INT(stream_write(c, big, sizeof(big)), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_INT(len, sizeof(big));
	CHECK(memcmp(line, big, sizeof(big)) == 0);
	stream_close(a);
	stream_close(c);
}

TEST(read_line_eof)
{
	static const char *const pieces[] = { "partial", NULL };
	struct writer	 w = { 0 };
	struct stream	*a, *c;
	char		 line[32];
	size_t		 len;

	make_pair(&a, &c, 2000);
	w.s = c;
	w.pieces = pieces;
	w.close_after = 1;
	CHECK_INT(plat_thread_start(writer_run, &w, 0), 0);

	/* The last bytes come without "\n", then the end is reported. */
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "partial");
	CHECK_INT(len, 7);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len),
	    EXO_ERR_CLOSED);
	CHECK_INT(len, 0);
	CHECK_INT(stream_read(a, line, sizeof(line)), 0);
	writer_wait(&w);
	stream_close(a);
	stream_close(c);
}

TEST(read_line_keeps_nul)
{
	struct stream	*a, *c;
	char		 line[32];
	size_t		 len;

	make_pair(&a, &c, 2000);
	CHECK_INT(stream_write(c, "A\0B\r\n", 5), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_INT(len, 5);
	CHECK(memcmp(line, "A\0B\r\n", 5) == 0);
	stream_close(a);
	stream_close(c);
}

TEST(read_timeout)
{
	struct stream	*a, *c;
	char		 line[32];
	size_t		 len;
	int64_t		 start;

	make_pair(&a, &c, 2000);
	stream_set_timeout(a, 80);
	start = plat_now_ms();
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len),
	    EXO_ERR_TIMEOUT);
	CHECK(plat_now_ms() - start >= 70);
	stream_close(a);
	stream_close(c);
}

TEST(read_after_line_uses_buffer)
{
	struct stream	*a, *c;
	char		 line[32], data[32];
	size_t		 len;

	make_pair(&a, &c, 2000);
	CHECK_INT(stream_puts(c, "+OK 5 octets\r\nhello"), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "+OK 5 octets\r\n");
	CHECK_INT(stream_pending(a), 5);
	CHECK_INT(stream_read(a, data, 3), 3);
	CHECK(memcmp(data, "hel", 3) == 0);
	CHECK_INT(stream_read(a, data, sizeof(data)), 2);
	CHECK(memcmp(data, "lo", 2) == 0);
	CHECK_INT(stream_pending(a), 0);
	stream_close(a);
	stream_close(c);
}

TEST(peek_leaves_unconsumed_bytes)
{
	static const char *const pieces[] = { "body\r\n.\r\nQUIT\r\n", NULL };
	struct writer	 w = { 0 };
	struct stream	*a, *c;
	const void	*data;
	char		 line[32];
	size_t		 len;
	long		 n;

	make_pair(&a, &c, 2000);
	w.s = c;
	w.pieces = pieces;
	w.close_after = 1;
	CHECK_INT(plat_thread_start(writer_run, &w, 0), 0);

	/* The peek waits for the bytes and copies nothing. */
	n = stream_peek(a, &data);
	CHECK_INT(n, 15);
	CHECK(data != NULL && memcmp(data, "body\r\n.\r\n", 9) == 0);
	stream_consume(a, 4);
	CHECK_INT(stream_pending(a), 11);
	CHECK_INT(stream_peek(a, &data), 11);
	CHECK(memcmp(data, "\r\n.\r\nQUIT", 9) == 0);
	stream_consume(a, 5);

	/* What the caller left is read as usual. */
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "QUIT\r\n");
	writer_wait(&w);
	CHECK_INT(stream_peek(a, &data), 0);
	CHECK(data == NULL);
	stream_close(a);
	stream_close(c);
}

TEST(write_buffer_and_printf)
{
	struct stream	*a, *c;
	static char	 big[10000], got[10000];
	char		 line[1100];
	size_t		 len, have = 0;
	long		 n;

	make_pair(&a, &c, 2000);
	CHECK_INT(stream_printf(c, "%s %d\r\n", "250", 42), 0);
	/* Buffered until the flush. */
	CHECK_INT(stream_bytes_out(c), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_bytes_out(c), 8);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_STR(line, "250 42\r\n");

	/* Output longer than the printf stack buffer. */
	memset(big, 'z', 1000);
	big[1000] = '\0';
	CHECK_INT(stream_printf(c, "<%s>\n", big), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read_line(a, line, sizeof(line), &len), 0);
	CHECK_INT(len, 1003);
	CHECK_INT(line[0], '<');
	CHECK_INT(line[1001], '>');

	/* A write larger than the buffer goes straight through. */
	memset(big, 'q', sizeof(big));
	CHECK_INT(stream_write(c, "x", 1), 0);
	CHECK_INT(stream_write(c, big, sizeof(big)), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read(a, got, 1), 1);
	CHECK_INT(got[0], 'x');
	while (have < sizeof(big)) {
		n = stream_read(a, got + have, sizeof(got) - have);
		CHECK(n > 0);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	CHECK_INT(have, sizeof(big));
	CHECK(memcmp(got, big, sizeof(big)) == 0);
	stream_close(a);
	stream_close(c);
}

/* ---- TLS ---- */

/* Runs a shell command quietly; returns 1 on success. */
static int
run_quiet(const char *cmd)
{
	char	full[4096];

	if ((size_t)snprintf(full, sizeof(full), "( %s ) >/dev/null 2>&1",
	    cmd) >= sizeof(full))
		return (0);
	return (system(full) == 0);
}

/* Creates two CAs and RSA and EC certificates for "localhost". */
static int
make_certs(void)
{
	char	cmd[3072];

	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", tmpdir);
	snprintf(other_ca_file, sizeof(other_ca_file), "%s/other-ca.pem",
	    tmpdir);
	snprintf(cert_file, sizeof(cert_file), "%s/localhost.pem", tmpdir);
	snprintf(key_file, sizeof(key_file), "%s/localhost.key", tmpdir);
	snprintf(ec_cert_file, sizeof(ec_cert_file), "%s/ec.pem", tmpdir);
	snprintf(ec_key_file, sizeof(ec_key_file), "%s/ec.key", tmpdir);
	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && "
	    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
	    "-subj /CN=exo-test-ca -keyout ca.key -out ca.pem && "
	    "openssl req -x509 -newkey rsa:2048 -nodes -days 2 "
	    "-subj /CN=exo-other-ca -keyout other-ca.key -out other-ca.pem && "
	    "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost "
	    "-keyout localhost.key -out localhost.csr && "
	    "printf 'subjectAltName=DNS:localhost\\n' > san.ext && "
	    "openssl x509 -req -in localhost.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -days 2 -extfile san.ext -out localhost.pem && "
	    "openssl ecparam -name prime256v1 -genkey -noout -out ec.key && "
	    "openssl req -new -key ec.key -subj /CN=localhost -out ec.csr && "
	    "openssl x509 -req -in ec.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -days 2 -extfile san.ext -out ec.pem",
	    tmpdir);
	return (run_quiet(cmd));
}

/* Signs a "localhost" certificate that expired in 2020, with openssl ca. */
static int
make_expired_cert(void)
{
	char	cmd[3072];

	snprintf(expired_file, sizeof(expired_file), "%s/expired.pem",
	    tmpdir);
	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && mkdir -p db && : > db/index.txt && "
	    "echo 01 > db/serial && "
	    "printf '[ca]\ndefault_ca = c\n[c]\ndir = .\n"
	    "database = db/index.txt\nserial = db/serial\n"
	    "new_certs_dir = db\ndefault_md = sha256\npolicy = p\n"
	    "copy_extensions = copy\n[p]\ncommonName = supplied\n"
	    "[ext]\nsubjectAltName = DNS:localhost\n' > ca.cnf && "
	    "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key "
	    "-in localhost.csr -out expired.pem -extensions ext "
	    "-startdate 20200101000000Z -enddate 20200201000000Z",
	    tmpdir);
	return (run_quiet(cmd));
}

struct tls_server {
	plat_socket			 listener;
	const struct tls_server_creds	*creds;
	const char			*reply;		/* sent after a line */
	int				 no_close_notify;
	int				 handshake_rc;
	int				 rc;
	char				 line[64];
	char				 msg[EXO_ERROR_MSG_MAX];
	atomic_int			 done;
};

/* Accepts one client, upgrades to TLS, reads a line and replies. */
static void
tls_server_run(void *arg)
{
	struct tls_server	*t = arg;
	struct exo_error	 e;
	struct stream		*s = NULL;
	plat_socket		 sock;
	char			 peer[PLAT_ADDR_MAX];
	size_t			 len;

	err_clear(&e);
	t->rc = plat_accept(t->listener, 5000, &sock, peer);
	if (t->rc != 0)
		goto out;
	s = stream_new(sock, 5000);
	t->rc = stream_start_tls_server(s, t->creds, &e);
	t->handshake_rc = t->rc;
	str_copy(t->msg, e.msg, sizeof(t->msg));
	if (t->rc != 0)
		goto out;
	t->rc = stream_read_line(s, t->line, sizeof(t->line), &len);
	if (t->rc != 0)
		goto out;
	stream_puts(s, t->reply);
	t->rc = stream_flush(s);
	if (t->no_close_notify)
		stream_abort(s);
out:
	stream_close(s);
	atomic_store(&t->done, 1);
}

static void
tls_server_start(struct tls_server *t, const struct tls_server_creds *creds,
    const char *reply)
{
	struct exo_error	e;

	memset(t, 0, sizeof(*t));
	t->creds = creds;
	t->reply = reply;
	CHECK_INT(plat_listen("127.0.0.1", 0, &t->listener, &e), 0);
}

static void
tls_server_wait(struct tls_server *t)
{
	int	i;

	for (i = 0; i < 1000 && !atomic_load(&t->done); i++)
		plat_sleep_ms(10);
	CHECK(atomic_load(&t->done));
	plat_socket_close(t->listener);
}

/* Connects to the test server and starts TLS as a client. */
static int
tls_client(struct tls_server *t, const char *name,
    const struct trust_store *trust, struct stream **out,
    struct exo_error *e)
{
	int	rc;

	rc = stream_connect("127.0.0.1", (unsigned)plat_socket_port(
	    t->listener), 5000, out, e);
	if (rc != 0)
		return (rc);
	return (stream_start_tls_client(*out, name, trust, e));
}

static void
tls_round_trip(const char *cert, const char *key)
{
	struct tls_server	 t;
	struct tls_server_creds	*creds = NULL;
	struct trust_store	*trust = NULL;
	struct exo_error	 e;
	struct stream		*c = NULL;
	char			 line[64];
	size_t			 len;

	CHECK_INT(tls_server_creds_load(cert, key, &creds, &e), 0);
	CHECK_INT(trust_load(ca_file, &trust, &e), 0);
	if (creds == NULL || trust == NULL)
		goto out;
	tls_server_start(&t, creds, "+OK over TLS\r\n");
	CHECK_INT(plat_thread_start(tls_server_run, &t, 0), 0);

	CHECK_INT(tls_client(&t, "localhost", trust, &c, &e), 0);
	CHECK(stream_is_tls(c));
	CHECK_INT(stream_puts(c, "CAPA\r\n"), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read_line(c, line, sizeof(line), &len), 0);
	CHECK_STR(line, "+OK over TLS\r\n");
	/* The server closed with close_notify: a clean end of stream. */
	CHECK_INT(stream_read(c, line, sizeof(line)), 0);
	CHECK_INT(stream_bytes_in(c), 14);
	CHECK_INT(stream_bytes_out(c), 6);
	stream_close(c);

	tls_server_wait(&t);
	CHECK_INT(t.rc, 0);
	CHECK_STR(t.line, "CAPA\r\n");
out:
	trust_free(trust);
	tls_server_creds_free(creds);
}

TEST(tls_round_trip_rsa)
{
	if (!have_certs)
		CHECK(!"openssl could not create the test certificates");
	else
		tls_round_trip(cert_file, key_file);
}

TEST(tls_round_trip_ec)
{
	if (!have_certs)
		CHECK(!"openssl could not create the test certificates");
	else
		tls_round_trip(ec_cert_file, ec_key_file);
}

/*
 * A BearSSL server with a session cache, which exoconnect's own server
 * side does not keep, for the client's session resumption.
 */
struct resume_server {
	plat_socket			 listener;
	const struct tls_server_creds	*creds;
	br_ssl_session_cache_lru	 lru;
	unsigned char			 store[4096];
	int				 use_cache;
	int				 clients;	/* to serve */
	int				 served;
	atomic_int			 done;
};

static int
resume_sock_read(void *ctx, unsigned char *buf, size_t len)
{
	long	n = plat_recv(*(plat_socket *)ctx, buf, len, 5000);

	return (n > 0 ? (int)n : -1);
}

static int
resume_sock_write(void *ctx, const unsigned char *buf, size_t len)
{
	if (plat_send_all(*(plat_socket *)ctx, buf, len, 5000) != 0)
		return (-1);
	return ((int)len);
}

/* Serves each client one line back, with or without the cache. */
static void
resume_server_run(void *arg)
{
	static br_ssl_server_context	 sc;
	static unsigned char		 iobuf[BR_SSL_BUFSIZE_BIDI];
	struct resume_server		*r = arg;
	br_sslio_context		 io;
	plat_socket			 sock;
	char				 peer[PLAT_ADDR_MAX], line[16];
	int				 i;

	for (i = 0; i < r->clients; i++) {
		if (plat_accept(r->listener, 5000, &sock, peer) != 0)
			break;
		br_ssl_server_init_full_ec(&sc, r->creds->chain,
		    r->creds->chain_len, r->creds->issuer_key_type,
		    &r->creds->ec);
		br_ssl_engine_set_buffer(&sc.eng, iobuf, sizeof(iobuf), 1);
		if (r->use_cache)
			br_ssl_server_set_cache(&sc, &r->lru.vtable);
		br_ssl_server_reset(&sc);
		br_sslio_init(&io, &sc.eng, resume_sock_read, &sock,
		    resume_sock_write, &sock);
		if (br_sslio_read_all(&io, line, 6) == 0 &&
		    br_sslio_write_all(&io, line, 6) == 0 &&
		    br_sslio_flush(&io) == 0)
			r->served++;
		/* The client may close before close_notify comes back. */
		br_sslio_close(&io);
		plat_socket_close(sock);
	}
	atomic_store(&r->done, 1);
}

/* Connects, sends a line and checks it comes back; returns resumed. */
static int
resume_client(struct resume_server *r, struct trust_store *trust)
{
	struct exo_error	 e;
	struct stream		*c = NULL;
	char			 line[16];
	size_t			 len;
	int			 resumed = -1;

	CHECK_INT(stream_connect("127.0.0.1", (unsigned)plat_socket_port(
	    r->listener), 5000, &c, &e), 0);
	if (c == NULL)
		return (-1);
	CHECK_INT(stream_start_tls_client(c, "localhost", trust, &e), 0);
	CHECK_INT(stream_puts(c, "NOOP\r\n"), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read_line(c, line, sizeof(line), &len), 0);
	CHECK_STR(line, "NOOP\r\n");
	if (stream_is_tls(c))
		resumed = stream_tls_resumed(c);
	stream_close(c);
	return (resumed);
}

static void
resume_run(int use_cache, int *resumed, int n, unsigned long *count)
{
	struct resume_server	*r;
	struct tls_server_creds	*creds = NULL;
	struct trust_store	*trust = NULL;
	struct exo_error	 e;
	int			 i, j;

	r = calloc(1, sizeof(*r));
	CHECK(r != NULL);
	CHECK_INT(tls_server_creds_load(ec_cert_file, ec_key_file, &creds,
	    &e), 0);
	CHECK_INT(trust_load(ca_file, &trust, &e), 0);
	if (r == NULL || creds == NULL || trust == NULL)
		goto out;
	r->creds = creds;
	r->use_cache = use_cache;
	r->clients = n;
	br_ssl_session_cache_lru_init(&r->lru, r->store, sizeof(r->store));
	CHECK_INT(plat_listen("127.0.0.1", 0, &r->listener, &e), 0);
	CHECK_INT(plat_thread_start(resume_server_run, r, 0), 0);
	for (i = 0; i < n; i++)
		resumed[i] = resume_client(r, trust);
	for (j = 0; j < 500 && !atomic_load(&r->done); j++)
		plat_sleep_ms(10);
	CHECK(atomic_load(&r->done));
	CHECK_INT(r->served, n);
	*count = tls_session_cache_resumed(trust->sessions);
	plat_socket_close(r->listener);
out:
	trust_free(trust);
	tls_server_creds_free(creds);
	free(r);
}

TEST(tls_session_resumed)
{
	int		resumed[3];
	unsigned long	count = 0;

	if (!have_certs) {
		CHECK(!"openssl could not create the test certificates");
		return;
	}
	/* The first login runs in full, the next ones resume. */
	resume_run(1, resumed, 3, &count);
	CHECK_INT(resumed[0], 0);
	CHECK_INT(resumed[1], 1);
	CHECK_INT(resumed[2], 1);
	CHECK_INT(count, 2);
}

TEST(tls_session_refused_full_handshake)
{
	int		resumed[3];
	unsigned long	count = 1;

	if (!have_certs) {
		CHECK(!"openssl could not create the test certificates");
		return;
	}
	/* A server that forgot the session: each handshake runs in full. */
	resume_run(0, resumed, 3, &count);
	CHECK_INT(resumed[0], 0);
	CHECK_INT(resumed[1], 0);
	CHECK_INT(resumed[2], 0);
	CHECK_INT(count, 0);
}

#define BULK_SIZE	(1024 * 1024 + 17)

/* The byte at offset i of the bulk transfer test. */
static unsigned char
bulk_byte(size_t i)
{
	return ((unsigned char)(i * 7 + i / 4099));
}

struct bulk_server {
	struct tls_server	*t;
	int			 rc;
	size_t			 received;
	int			 mismatch;
	atomic_int		 done;
};

/* Receives BULK_SIZE bytes over TLS, checks them, and sends them back. */
static void
bulk_server_run(void *arg)
{
	struct bulk_server	*b = arg;
	struct exo_error	 e;
	struct stream		*s = NULL;
	plat_socket		 sock;
	unsigned char		 buf[7000];
	char			 peer[PLAT_ADDR_MAX];
	size_t			 i, n;
	long			 got;

	b->rc = plat_accept(b->t->listener, 5000, &sock, peer);
	if (b->rc != 0)
		goto out;
	s = stream_new(sock, 5000);
	b->rc = stream_start_tls_server(s, b->t->creds, &e);
	while (b->rc == 0 && b->received < BULK_SIZE) {
		got = stream_read(s, buf, sizeof(buf));
		if (got <= 0) {
			b->rc = got == 0 ? EXO_ERR_CLOSED : (int)got;
			break;
		}
		for (i = 0; i < (size_t)got; i++)
			if (buf[i] != bulk_byte(b->received + i))
				b->mismatch = 1;
		b->received += (size_t)got;
	}
	for (i = 0; b->rc == 0 && i < BULK_SIZE; i += n) {
		n = BULK_SIZE - i < sizeof(buf) ? BULK_SIZE - i : sizeof(buf);
		for (got = 0; (size_t)got < n; got++)
			buf[got] = bulk_byte(i + (size_t)got);
		b->rc = stream_write(s, buf, n);
	}
	if (b->rc == 0)
		b->rc = stream_flush(s);
out:
	stream_close(s);
	atomic_store(&b->done, 1);
}

TEST(tls_bulk_both_ways)
{
	struct tls_server	 t;
	struct bulk_server	 b;
	struct tls_server_creds	*creds = NULL;
	struct trust_store	*trust = NULL;
	struct exo_error	 e;
	struct stream		*c = NULL;
	static unsigned char	 out[BULK_SIZE], in[BULK_SIZE];
	size_t			 i, have = 0;
	long			 n;

	CHECK_INT(tls_server_creds_load(cert_file, key_file, &creds, &e), 0);
	CHECK_INT(trust_load(ca_file, &trust, &e), 0);
	if (creds == NULL || trust == NULL)
		goto out;
	tls_server_start(&t, creds, "");
	memset(&b, 0, sizeof(b));
	b.t = &t;
	CHECK_INT(plat_thread_start(bulk_server_run, &b, 0), 0);

	for (i = 0; i < BULK_SIZE; i++)
		out[i] = bulk_byte(i);
	CHECK_INT(tls_client(&t, "localhost", trust, &c, &e), 0);
	CHECK_INT(stream_write(c, out, BULK_SIZE), 0);
	CHECK_INT(stream_flush(c), 0);
	while (have < BULK_SIZE) {
		n = stream_read(c, in + have, BULK_SIZE - have);
		CHECK(n > 0);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	CHECK_INT(have, BULK_SIZE);
	CHECK(memcmp(in, out, BULK_SIZE) == 0);
	CHECK_INT(stream_bytes_out(c), BULK_SIZE);
	CHECK_INT(stream_bytes_in(c), BULK_SIZE);
	stream_close(c);

	for (i = 0; i < 1000 && !atomic_load(&b.done); i++)
		plat_sleep_ms(10);
	CHECK(atomic_load(&b.done));
	CHECK_INT(b.rc, 0);
	CHECK_INT(b.received, BULK_SIZE);
	CHECK_INT(b.mismatch, 0);
	plat_socket_close(t.listener);
out:
	trust_free(trust);
	tls_server_creds_free(creds);
}

TEST(tls_close_without_notify)
{
	struct tls_server	 t;
	struct tls_server_creds	*creds = NULL;
	struct trust_store	*trust = NULL;
	struct exo_error	 e;
	struct stream		*c = NULL;
	char			 line[64];
	size_t			 len;

	CHECK_INT(tls_server_creds_load(cert_file, key_file, &creds, &e), 0);
	CHECK_INT(trust_load(ca_file, &trust, &e), 0);
	if (creds == NULL || trust == NULL)
		goto out;
	tls_server_start(&t, creds, "+OK then gone\r\n");
	t.no_close_notify = 1;
	CHECK_INT(plat_thread_start(tls_server_run, &t, 0), 0);

	CHECK_INT(tls_client(&t, "localhost", trust, &c, &e), 0);
	CHECK_INT(stream_puts(c, "QUIT\r\n"), 0);
	CHECK_INT(stream_flush(c), 0);
	CHECK_INT(stream_read_line(c, line, sizeof(line), &len), 0);
	CHECK_STR(line, "+OK then gone\r\n");
	/* Without close_notify the end is EXO_ERR_CLOSED, not 0. */
	CHECK_INT(stream_read(c, line, sizeof(line)), EXO_ERR_CLOSED);
	CHECK_INT(stream_read(c, line, sizeof(line)), EXO_ERR_CLOSED);
	stream_close(c);
	tls_server_wait(&t);
out:
	trust_free(trust);
	tls_server_creds_free(creds);
}

/* Runs a client handshake that must fail and checks its message. */
static void
tls_expect_failure(const char *cert, const char *name,
    const char *trusted_ca, const char *want)
{
	struct tls_server	 t;
	struct tls_server_creds	*creds = NULL;
	struct trust_store	*trust = NULL;
	struct exo_error	 e;
	struct stream		*c = NULL;

	CHECK_INT(tls_server_creds_load(cert, key_file, &creds, &e), 0);
	CHECK_INT(trust_load(trusted_ca, &trust, &e), 0);
	if (creds == NULL || trust == NULL)
		goto out;
	tls_server_start(&t, creds, "");
	CHECK_INT(plat_thread_start(tls_server_run, &t, 0), 0);

	err_clear(&e);
	CHECK_INT(tls_client(&t, name, trust, &c, &e), EXO_ERR_TLS);
	CHECK_INT(e.code, EXO_ERR_TLS);
	if (strstr(e.msg, want) == NULL)
		printf("  message: %s\n", e.msg);
	CHECK(strstr(e.msg, want) != NULL);
	CHECK(strstr(e.msg, name) != NULL);

	/* The failed stream stays in TLS, so nothing leaks in plain text. */
	CHECK(stream_is_tls(c));
	CHECK(stream_puts(c, "secret\r\n") != 0 || stream_flush(c) != 0);
	stream_close(c);

	tls_server_wait(&t);
	CHECK(t.rc != 0);
out:
	trust_free(trust);
	tls_server_creds_free(creds);
}

TEST(tls_rejects_wrong_name)
{
	if (!have_certs)
		CHECK(!"openssl could not create the test certificates");
	else
		tls_expect_failure(cert_file, "wrong.localdomain", ca_file,
		    "name mismatch");
}

TEST(tls_rejects_unknown_ca)
{
	if (!have_certs)
		CHECK(!"openssl could not create the test certificates");
	else
		tls_expect_failure(cert_file, "localhost", other_ca_file,
		    "unknown CA");
}

TEST(tls_rejects_expired_cert)
{
	if (!have_expired)
		CHECK(!"openssl ca could not create the expired certificate");
	else
		tls_expect_failure(expired_file, "localhost", ca_file,
		    "has expired");
}

/*
 * Connects openssl s_client offering only TLS 1.1 to a server on this
 * side; returns the handshake result of the server.
 */
static int
tls_server_vs_tls11(int legacy, int *client_ok, char *msg, size_t cap)
{
	struct tls_server	 t;
	struct tls_server_creds	*creds = NULL;
	struct exo_error	 e;
	char			 cmd[512];

	*client_ok = 0;
	CHECK_INT(tls_server_creds_load(cert_file, key_file, &creds, &e), 0);
	if (creds == NULL)
		return (EXO_ERR_INVALID);
	tls_server_creds_set_legacy(creds, legacy);
	tls_server_start(&t, creds, "");
	CHECK_INT(plat_thread_start(tls_server_run, &t, 0), 0);

	/* OpenSSL 3 allows TLS 1.1 only at security level 0. */
	snprintf(cmd, sizeof(cmd), "openssl s_client -connect 127.0.0.1:%d "
	    "-tls1_1 -cipher DEFAULT@SECLEVEL=0 </dev/null",
	    plat_socket_port(t.listener));
	*client_ok = run_quiet(cmd);
	tls_server_wait(&t);
	str_copy(msg, t.msg, cap);
	tls_server_creds_free(creds);
	return (t.handshake_rc);
}

TEST(tls_server_rejects_tls11)
{
	char	msg[EXO_ERROR_MSG_MAX];
	int	client_ok;

	CHECK_INT(tls_server_vs_tls11(0, &client_ok, msg, sizeof(msg)),
	    EXO_ERR_TLS);
	CHECK(!client_ok);
	if (strstr(msg, "no common TLS version") == NULL)
		printf("  message: %s\n", msg);
	CHECK(strstr(msg, "no common TLS version") != NULL);
}

TEST(tls_server_legacy_allows_tls11)
{
	char	msg[EXO_ERROR_MSG_MAX];
	int	client_ok;

	CHECK_INT(tls_server_vs_tls11(1, &client_ok, msg, sizeof(msg)), 0);
	CHECK(client_ok);
}

/* Sends a TLS record header, then one byte every 50 ms for 2 seconds. */
static void
trickle_run(void *arg)
{
	struct writer	*w = arg;
	int		 i;

	stream_write(w->s, "\x16\x03\x03\x40\x00", 5);
	stream_flush(w->s);
	for (i = 0; i < 40; i++) {
		plat_sleep_ms(50);
		if (stream_write(w->s, "", 1) != 0 || stream_flush(w->s) != 0)
			break;
	}
	atomic_store(&w->done, 1);
}

TEST(tls_handshake_deadline)
{
	struct writer		 w = { 0 };
	struct trust_store	*trust = NULL;
	struct exo_error	 e;
	struct stream		*a, *c;
	int64_t			 start;

	/* Each byte comes well within the timeout; the total does not. */
	make_pair(&a, &c, 300);
	CHECK_INT(trust_load(ca_file, &trust, &e), 0);
	w.s = a;
	CHECK_INT(plat_thread_start(trickle_run, &w, 0), 0);
	start = plat_now_ms();
	CHECK_INT(stream_start_tls_client(c, "localhost", trust, &e),
	    EXO_ERR_TIMEOUT);
	CHECK(plat_now_ms() - start < 1000);
	CHECK(strstr(e.msg, "timed out") != NULL);
	writer_wait(&w);
	trust_free(trust);
	stream_close(a);
	stream_close(c);
}

TEST(tls_client_rejects_early_data)
{
	struct stream		*a, *c;
	struct trust_store	*trust = NULL;
	struct exo_error	 e;
	char			 line[64];
	size_t			 len;

	/* A server may send nothing between its STARTTLS reply and TLS. */
	make_pair(&a, &c, 2000);
	CHECK_INT(trust_load(NULL, &trust, &e), 0);
	CHECK_INT(stream_puts(a, "220 go ahead\r\nextra"), 0);
	CHECK_INT(stream_flush(a), 0);
	plat_sleep_ms(50);
	CHECK_INT(stream_read_line(c, line, sizeof(line), &len), 0);
	CHECK_STR(line, "220 go ahead\r\n");
	CHECK_INT(stream_start_tls_client(c, "localhost", trust, &e),
	    EXO_ERR_PROTO);
	CHECK(strstr(e.msg, "localhost") != NULL);
	CHECK(!stream_is_tls(c));
	trust_free(trust);
	stream_close(a);
	stream_close(c);
}

TEST(trust_load_errors)
{
	struct trust_store	*trust = NULL;
	struct exo_error	 e;
	char			 path[PLAT_PATH_MAX];

	snprintf(path, sizeof(path), "%s/no-such-ca.pem", tmpdir);
	CHECK_INT(trust_load(path, &trust, &e), EXO_ERR_NOTFOUND);
	CHECK(trust == NULL);
	CHECK(strstr(e.msg, "no-such-ca.pem") != NULL);

	/* A key file has PEM objects but no certificate. */
	CHECK_INT(trust_load(key_file, &trust, &e), EXO_ERR_INVALID);
	CHECK(strstr(e.msg, key_file) != NULL);
	CHECK(strstr(e.msg, "no usable PEM certificate") != NULL);

	CHECK_INT(trust_load(NULL, &trust, &e), 0);
	CHECK(trust != NULL);
	if (trust != NULL)
		CHECK(trust_count(trust) > 0);
	trust_free(trust);
}

TEST(trust_load_adds_ca_file)
{
	struct trust_store	*base = NULL, *more = NULL;
	struct exo_error	 e;

	CHECK_INT(trust_load(NULL, &base, &e), 0);
	CHECK_INT(trust_load(ca_file, &more, &e), 0);
	if (base != NULL && more != NULL)
		CHECK_INT(trust_count(more), trust_count(base) + 1);
	trust_free(base);
	trust_free(more);
}

TEST(server_creds_errors)
{
	struct tls_server_creds	*creds = NULL;
	struct exo_error	 e;
	char			 path[PLAT_PATH_MAX], cmd[3 * PLAT_PATH_MAX];

	snprintf(path, sizeof(path), "%s/missing.pem", tmpdir);
	CHECK_INT(tls_server_creds_load(path, key_file, &creds, &e),
	    EXO_ERR_NOTFOUND);
	CHECK(strstr(e.msg, "missing.pem") != NULL);
	CHECK_INT(tls_server_creds_load(cert_file, path, &creds, &e),
	    EXO_ERR_NOTFOUND);
	CHECK(strstr(e.msg, "missing.pem") != NULL);

	/* A certificate file given as the key, and the other way round. */
	CHECK_INT(tls_server_creds_load(cert_file, cert_file, &creds, &e),
	    EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "no PEM private key") != NULL);
	CHECK_INT(tls_server_creds_load(key_file, key_file, &creds, &e),
	    EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "no PEM certificate") != NULL);

	/* An RSA certificate with an EC key. */
	CHECK_INT(tls_server_creds_load(cert_file, ec_key_file, &creds, &e),
	    EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "does not belong") != NULL);

	snprintf(path, sizeof(path), "%s/encrypted.key", tmpdir);
	CHECK((size_t)snprintf(cmd, sizeof(cmd), "openssl pkey -in '%s' "
	    "-aes256 -passout pass:x -out '%s'", key_file, path) < sizeof(cmd));
	CHECK(run_quiet(cmd));
	CHECK_INT(tls_server_creds_load(cert_file, path, &creds, &e),
	    EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "encrypted") != NULL);
	CHECK(creds == NULL);
}

int
main(void)
{
	char	cmd[sizeof(tmpdir) + 16];

	plat_init();
	str_copy(tmpdir, "/tmp/exo-test-stream-XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	have_certs = make_certs();
	have_expired = have_certs && make_expired_cert();

	RUN(read_line_split_reads);
	RUN(read_line_random_splits);
	RUN(read_line_overlong);
	RUN(read_line_exact_fit);
	RUN(read_line_longer_than_buffer);
	RUN(read_line_eof);
	RUN(read_line_keeps_nul);
	RUN(read_timeout);
	RUN(read_after_line_uses_buffer);
	RUN(peek_leaves_unconsumed_bytes);
	RUN(write_buffer_and_printf);
	RUN(tls_round_trip_rsa);
	RUN(tls_round_trip_ec);
	RUN(tls_bulk_both_ways);
	RUN(tls_close_without_notify);
	RUN(tls_rejects_wrong_name);
	RUN(tls_rejects_unknown_ca);
	RUN(tls_rejects_expired_cert);
	RUN(tls_server_rejects_tls11);
	RUN(tls_server_legacy_allows_tls11);
	RUN(tls_session_resumed);
	RUN(tls_session_refused_full_handshake);
	RUN(tls_handshake_deadline);
	RUN(tls_client_rejects_early_data);
	RUN(trust_load_errors);
	RUN(trust_load_adds_ca_file);
	RUN(server_creds_errors);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("  could not remove %s\n", tmpdir);
	return (TEST_EXIT());
}
