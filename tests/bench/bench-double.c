/*
 * bench-double.c: a fast stand-in for Exchange Online's POP3 and SMTP
 * servers, for make bench only. The Python doubles spend a whole core on
 * a large transfer, so they would set the pace of both the direct and
 * the proxied path. This one serves TLS with BearSSL through br_sslio,
 * one thread per connection, and checks nothing: any XOAUTH2 line logs
 * in.
 *
 * POP3 (implicit TLS) serves one message, read from a file at start and
 * dot-stuffed once. SMTP (STARTTLS) accepts any message and counts its
 * bytes. Replies follow Exchange's wording where exoconnect reads them.
 *
 * Both servers share one TLS session cache (BearSSL's LRU cache behind a
 * lock), so a client that offers the session ID of an earlier connection
 * resumes it, as exoconnect's client does. Exchange Online's behaviour
 * here was not measured.
 *
 * NOTE: BearSSL's server takes the client's first choice of suite, so
 * the suite is the first one exoconnect offers (AES-128-GCM on a CPU
 * with AES-NI, see src/stream-tls.c).
 *
 * Usage: bench-double CERT KEY MESSAGE
 * Prints one line "pop3=PORT smtp=PORT" once both ports listen on
 * 127.0.0.1, then serves until killed.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/plat.h"
#include "../../src/stream-int.h"
#include "../../src/util.h"

#define DOUBLE_TIMEOUT_MS	600000	/* a bench run never idles this long */
#define DOUBLE_LINE_MAX		70000	/* longest command or SASL line */
#define DOUBLE_DATA_CHUNK	65536	/* DATA bytes read at a time */
#define DOUBLE_READ_BUF		16384	/* received bytes buffered */
#define DOUBLE_MESSAGE_MAX	(200LL * 1024 * 1024) /* largest message file */
#define DOUBLE_SESSIONS		4096	/* TLS sessions kept, 100 bytes each */

struct dconn;

struct double_server {
	plat_socket		 listener;
	void			(*serve)(struct dconn *);
};

/* One accepted connection: the socket and, after the upgrade, TLS. */
struct dconn {
	struct double_server	*srv;
	plat_socket		 sock;
	int			 tls;
	br_ssl_server_context	 sc;
	br_sslio_context	 io;
	size_t			 rpos, rlen;	/* unread: rbuf[rpos..rlen) */
	unsigned char		 rbuf[DOUBLE_READ_BUF];
	unsigned char		 iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* BearSSL's LRU session cache, which is not thread-safe, behind a lock. */
struct double_cache {
	const br_ssl_session_cache_class	*vtable;
	struct plat_mutex			*mu;
	br_ssl_session_cache_lru		 lru;
};

static struct tls_server_creds	*double_creds;
static struct double_cache	 double_cache;
static unsigned char		 double_cache_store[DOUBLE_SESSIONS * 100];
static char			*double_message;	/* dot-stuffed, ends ".\r\n" */
static size_t			 double_message_len;
static size_t			 double_message_size;	/* before stuffing */

static void
cache_save(const br_ssl_session_cache_class **ctx,
    br_ssl_server_context *sc, const br_ssl_session_parameters *params)
{
	struct double_cache	*c = (struct double_cache *)ctx;

	plat_mutex_lock(c->mu);
	c->lru.vtable->save(&c->lru.vtable, sc, params);
	plat_mutex_unlock(c->mu);
}

static int
cache_load(const br_ssl_session_cache_class **ctx,
    br_ssl_server_context *sc, br_ssl_session_parameters *params)
{
	struct double_cache	*c = (struct double_cache *)ctx;
	int			 found;

	plat_mutex_lock(c->mu);
	found = c->lru.vtable->load(&c->lru.vtable, sc, params);
	plat_mutex_unlock(c->mu);
	return found;
}

static const br_ssl_session_cache_class double_cache_class = {
	sizeof(struct double_cache), cache_save, cache_load,
};

static int
sock_read(void *ctx, unsigned char *buf, size_t len)
{
	long	n = plat_recv(*(plat_socket *)ctx, buf, len, DOUBLE_TIMEOUT_MS);

	return n > 0 ? (int)n : -1;
}

static int
sock_write(void *ctx, const unsigned char *buf, size_t len)
{
	if (plat_send_all(*(plat_socket *)ctx, buf, len, DOUBLE_TIMEOUT_MS) !=
	    EXO_OK)
		return -1;
	return (int)len;
}

/* Starts TLS as the server; the handshake runs with the first read. */
static void
dconn_start_tls(struct dconn *c)
{
	/* RFC 3207 4.2: what the client sent before the handshake goes. */
	c->rpos = c->rlen = 0;
	if (double_creds->key_type == BR_KEYTYPE_RSA)
		br_ssl_server_init_full_rsa(&c->sc, double_creds->chain,
		    double_creds->chain_len, &double_creds->rsa);
	else
		br_ssl_server_init_full_ec(&c->sc, double_creds->chain,
		    double_creds->chain_len, double_creds->issuer_key_type,
		    &double_creds->ec);
	br_ssl_engine_set_versions(&c->sc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_buffer(&c->sc.eng, c->iobuf, sizeof(c->iobuf), 1);
	br_ssl_server_set_cache(&c->sc, &double_cache.vtable);
	br_ssl_server_reset(&c->sc);
	br_sslio_init(&c->io, &c->sc.eng, sock_read, &c->sock, sock_write,
	    &c->sock);
	c->tls = 1;
}

/* Reads at most cap bytes, from the buffer first; <= 0 at the end. */
static long
dconn_read(struct dconn *c, void *buf, size_t cap)
{
	size_t	take;

	if (c->rpos == c->rlen) {
		if (c->tls)
			return br_sslio_read(&c->io, buf, cap);
		return plat_recv(c->sock, buf, cap, DOUBLE_TIMEOUT_MS);
	}
	take = c->rlen - c->rpos < cap ? c->rlen - c->rpos : cap;
	memcpy(buf, c->rbuf + c->rpos, take);
	c->rpos += take;
	return (long)take;
}

static int
dconn_write(struct dconn *c, const void *buf, size_t len)
{
	if (c->tls)
		return br_sslio_write_all(&c->io, buf, len);
	return plat_send_all(c->sock, buf, len, DOUBLE_TIMEOUT_MS) == EXO_OK ?
	    0 : -1;
}

static int
dconn_flush(struct dconn *c)
{
	return c->tls ? br_sslio_flush(&c->io) : 0;
}

/* Reads a command line without its line end; -1 at the end. */
static int
double_line(struct dconn *c, char *line)
{
	unsigned char	*nl;
	size_t		 have = 0, take;
	long		 n;

	for (;;) {
		if (c->rpos == c->rlen) {
			c->rpos = c->rlen = 0;
			n = dconn_read(c, c->rbuf, sizeof(c->rbuf));
			if (n <= 0)
				return -1;
			c->rlen = (size_t)n;
		}
		take = c->rlen - c->rpos;
		nl = memchr(c->rbuf + c->rpos, '\n', take);
		if (nl != NULL)
			take = (size_t)(nl - (c->rbuf + c->rpos)) + 1;
		if (have + take >= DOUBLE_LINE_MAX)
			return -1;
		memcpy(line + have, c->rbuf + c->rpos, take);
		have += take;
		c->rpos += take;
		if (nl != NULL)
			break;
	}
	line[have] = '\0';
	str_trim_end(line, have);
	return 0;
}

static int
double_reply(struct dconn *c, const char *text)
{
	if (dconn_write(c, text, strlen(text)) != 0 || dconn_flush(c) != 0)
		return -1;
	return 0;
}

/* ---- POP3 ---- */

static void
pop3_serve(struct dconn *s)
{
	char	*line, reply[128];

	if ((line = malloc(DOUBLE_LINE_MAX)) == NULL)
		return;
	dconn_start_tls(s);
	if (double_reply(s, "+OK The Microsoft Exchange POP3 service is "
	    "ready.\r\n") != 0)
		goto out;
	while (double_line(s, line) == 0) {
		if (str_casecmp(line, "AUTH XOAUTH2") == 0) {
			if (double_reply(s, "+ \r\n") != 0 ||
			    double_line(s, line) != 0 ||
			    double_reply(s, "+OK User successfully "
			    "authenticated.\r\n") != 0)
				break;
		} else if (str_casecmp(line, "STAT") == 0) {
			snprintf(reply, sizeof(reply), "+OK 1 %zu\r\n",
			    double_message_size);
			if (double_reply(s, reply) != 0)
				break;
		} else if (str_casecmp(line, "RETR 1") == 0) {
			if (dconn_write(s, "+OK\r\n", 5) != 0 ||
			    dconn_write(s, double_message,
			    double_message_len) != 0 || dconn_flush(s) != 0)
				break;
		} else if (str_casecmp(line, "QUIT") == 0) {
			double_reply(s, "+OK Microsoft Exchange Server 2016 "
			    "POP3 server signing off.\r\n");
			break;
		} else if (double_reply(s, str_casecmp(line, "NOOP") == 0 ?
		    "+OK\r\n" : "-ERR Protocol error. 19\r\n") != 0)
			break;
	}
out:
	free(line);
}

/* ---- SMTP ---- */

/* Reads DATA up to CRLF "." CRLF; returns the bytes or -1. */
static long long
smtp_read_data(struct dconn *s, char *buf)
{
	long long	total = 0;
	char		tail[5] = "\r\n\0\0\0";	/* the DATA line's CRLF */
	size_t		keep = 2, take;
	long		n;

	for (;;) {
		if ((n = dconn_read(s, buf, DOUBLE_DATA_CHUNK)) <= 0)
			return -1;
		total += n;
		/* The end mark may straddle reads: test the last bytes. */
		take = (size_t)n < 5 ? (size_t)n : 5;
		if (keep + take > 5) {
			memmove(tail, tail + keep + take - 5, 5 - take);
			keep = 5 - take;
		}
		memcpy(tail + keep, buf + n - take, take);
		keep += take;
		if (keep == 5 && memcmp(tail, "\r\n.\r\n", 5) == 0)
			return total;
	}
}

/* Returns the SMTP reply to a command line; sets *quit after QUIT. */
static const char *
smtp_answer(const char *line, int tls, int *quit)
{
	*quit = 0;
	if (str_has_prefix_case(line, "EHLO "))
		return tls ? "250-LO4P302CA0005.outlook.office365.com Hello\r\n"
		    "250-SIZE 157286400\r\n250-PIPELINING\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
		    "250 AUTH LOGIN XOAUTH2\r\n" :
		    "250-LO4P302CA0005.outlook.office365.com Hello\r\n"
		    "250-SIZE 157286400\r\n250-PIPELINING\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n"
		    "250 8BITMIME\r\n";
	if (str_has_prefix_case(line, "MAIL FROM:"))
		return "250 2.1.0 Sender OK\r\n";
	if (str_has_prefix_case(line, "RCPT TO:"))
		return "250 2.1.5 Recipient OK\r\n";
	if (str_casecmp(line, "RSET") == 0)
		return "250 2.0.0 Resetting\r\n";
	if (str_casecmp(line, "NOOP") == 0)
		return "250 2.0.0 OK\r\n";
	if (str_casecmp(line, "QUIT") == 0) {
		*quit = 1;
		return "221 2.0.0 Service closing transmission channel\r\n";
	}
	return "500 5.3.3 Unrecognized command\r\n";
}

static void
smtp_serve(struct dconn *s)
{
	char		*line, *buf;
	const char	*answer;
	int		 tls = 0, quit = 0;

	line = malloc(DOUBLE_LINE_MAX);
	buf = malloc(DOUBLE_DATA_CHUNK);
	if (line == NULL || buf == NULL ||
	    double_reply(s, "220 LO4P302CA0005.outlook.office365.com "
	    "Microsoft ESMTP MAIL Service ready\r\n") != 0)
		goto out;
	while (!quit && double_line(s, line) == 0) {
		if (str_casecmp(line, "STARTTLS") == 0 && !tls) {
			if (double_reply(s, "220 2.0.0 SMTP server ready\r\n") !=
			    0)
				break;
			dconn_start_tls(s);
			tls = 1;
		} else if (str_has_prefix_case(line, "AUTH XOAUTH2")) {
			if (line[12] == '\0' && (double_reply(s, "334 \r\n") !=
			    0 || double_line(s, line) != 0))
				break;
			if (double_reply(s, "235 2.7.0 Authentication "
			    "successful\r\n") != 0)
				break;
		} else if (str_casecmp(line, "DATA") == 0) {
			if (double_reply(s, "354 Start mail input; end with "
			    "<CRLF>.<CRLF>\r\n") != 0 ||
			    smtp_read_data(s, buf) < 0 ||
			    double_reply(s, "250 2.0.0 OK <bench@double> "
			    "[Hostname=LO4P302MB0005]\r\n") != 0)
				break;
		} else {
			answer = smtp_answer(line, tls, &quit);
			if (double_reply(s, answer) != 0)
				break;
		}
	}
out:
	free(buf);
	free(line);
}

/* ---- connections ---- */

static void
conn_thread(void *arg)
{
	struct dconn	*c = arg;

	c->srv->serve(c);
	plat_socket_close(c->sock);
	free(c);
}

static void
accept_thread(void *arg)
{
	struct double_server	*srv = arg;
	struct dconn		*c;
	plat_socket		 sock;
	char			 peer[PLAT_ADDR_MAX];

	for (;;) {
		if (plat_accept(srv->listener, 1000, &sock, peer) != EXO_OK)
			continue;
		/* Untouched buffers stay out of the resident memory. */
		if ((c = malloc(sizeof(*c))) == NULL) {
			plat_socket_close(sock);
			continue;
		}
		memset(c, 0, offsetof(struct dconn, rbuf));
		c->sock = sock;
		c->srv = srv;
		if (plat_thread_start(conn_thread, c, 256 * 1024) != EXO_OK) {
			plat_socket_close(sock);
			free(c);
		}
	}
}

/* Loads the message and dot-stuffs it, with the final line. */
static int
load_message(const char *path)
{
	struct exo_error	 e;
	struct buf		 b;
	char			*raw;
	size_t			 len, i;

	if (plat_read_file(path, DOUBLE_MESSAGE_MAX, &raw, &len, &e) !=
	    EXO_OK) {
		fprintf(stderr, "bench-double: %s\n", e.msg);
		return -1;
	}
	buf_init(&b);
	for (i = 0; i < len; i++) {
		if ((i == 0 || raw[i - 1] == '\n') && raw[i] == '.' &&
		    buf_append(&b, ".", 1) != 0)
			return -1;
		if (buf_append(&b, raw + i, 1) != 0)
			return -1;
	}
	if ((len == 0 || raw[len - 1] != '\n') && buf_puts(&b, "\r\n") != 0)
		return -1;
	if (buf_puts(&b, ".\r\n") != 0)
		return -1;
	double_message = b.data;
	double_message_len = b.len;
	double_message_size = len;
	free(raw);
	return 0;
}

int
main(int argc, char **argv)
{
	static struct double_server	pop3 = { 0, pop3_serve };
	static struct double_server	smtp = { 0, smtp_serve };
	struct exo_error		e;

	if (argc != 4) {
		fprintf(stderr, "usage: bench-double CERT KEY MESSAGE\n");
		return 2;
	}
	if (plat_init() != EXO_OK || load_message(argv[3]) != 0)
		return 1;
	double_cache.vtable = &double_cache_class;
	if ((double_cache.mu = plat_mutex_new()) == NULL)
		return 1;
	br_ssl_session_cache_lru_init(&double_cache.lru, double_cache_store,
	    sizeof(double_cache_store));
	if (tls_server_creds_load(argv[1], argv[2], &double_creds, &e) !=
	    EXO_OK) {
		fprintf(stderr, "bench-double: %s\n", e.msg);
		return 1;
	}
	if (plat_listen("127.0.0.1", 0, &pop3.listener, &e) != EXO_OK ||
	    plat_listen("127.0.0.1", 0, &smtp.listener, &e) != EXO_OK) {
		fprintf(stderr, "bench-double: %s\n", e.msg);
		return 1;
	}
	if (plat_thread_start(accept_thread, &pop3, 0) != EXO_OK ||
	    plat_thread_start(accept_thread, &smtp, 0) != EXO_OK)
		return 1;
	printf("pop3=%d smtp=%d\n", plat_socket_port(pop3.listener),
	    plat_socket_port(smtp.listener));
	fflush(stdout);
	for (;;)
		plat_sleep_ms(3600 * 1000);
}
