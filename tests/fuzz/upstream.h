/*
 * upstream.h: an in-process stand-in for Exchange Online's POP3 and SMTP
 * servers, so that the session fuzz targets get past the login to the
 * relayed commands (LIST, UIDL, TOP, RETR, DELE; MAIL, RCPT, DATA). It
 * accepts any XOAUTH2 login and replies to every command as Exchange
 * would for a mailbox with two messages. TLS uses a certificate made at start
 * with tls_cert_generate and a session cache, so after the first input
 * the sessions' handshakes resume and stay cheap.
 *
 * Each connection runs on its own thread and checks nothing: the target
 * is the device session, not this server.
 */
#ifndef EXO_FUZZ_UPSTREAM_H
#define EXO_FUZZ_UPSTREAM_H

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/plat.h"
#include "../../src/stream-int.h"
#include "../../src/tls-cert.h"
#include "../../src/util.h"

#define FUP_TIMEOUT_MS	2000		/* a session never waits longer */
#define FUP_LINE_MAX	8192		/* longer command lines are cut */
#define FUP_SESSIONS	64		/* TLS sessions kept, 100 bytes each */

/* One accepted connection: the socket and, after the upgrade, TLS. */
struct fup_conn {
	plat_socket		 sock;
	int			 pop3;		/* else SMTP */
	int			 tls;
	br_ssl_server_context	 sc;
	br_sslio_context	 io;
	size_t			 rpos, rlen;	/* unread: rbuf[rpos..rlen) */
	unsigned char		 rbuf[4096];
	unsigned char		 iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* BearSSL's LRU session cache, which is not thread-safe, behind a lock. */
struct fup_cache {
	const br_ssl_session_cache_class	*vtable;
	struct plat_mutex			*mu;
	br_ssl_session_cache_lru		 lru;
};

static struct tls_server_creds	*fup_creds;
static struct trust_store	*fup_trust;
static struct fup_cache		 fup_cache;
static unsigned char		 fup_cache_store[FUP_SESSIONS * 100];
static plat_socket		 fup_listener[2];	/* POP3, SMTP */

/* A message as the server sends it: dot-stuffed, with the final line. */
static const char fup_message[] =
    "Received: from scanner (10.0.0.7) by fake.outlook.test\r\n"
    "From: <mfp@example.com>\r\nTo: <mfp@example.com>\r\n"
    "Subject: Scan 0001\r\nContent-Type: text/plain\r\n\r\n"
    "first line\r\n..a line that starts with a dot\r\n\r\nlast\r\n.\r\n";

static void
fup_cache_save(const br_ssl_session_cache_class **ctx,
    br_ssl_server_context *sc, const br_ssl_session_parameters *params)
{
	struct fup_cache	*c = (struct fup_cache *)(void *)ctx;

	plat_mutex_lock(c->mu);
	c->lru.vtable->save(&c->lru.vtable, sc, params);
	plat_mutex_unlock(c->mu);
}

static int
fup_cache_load(const br_ssl_session_cache_class **ctx,
    br_ssl_server_context *sc, br_ssl_session_parameters *params)
{
	struct fup_cache	*c = (struct fup_cache *)(void *)ctx;
	int			 found;

	plat_mutex_lock(c->mu);
	found = c->lru.vtable->load(&c->lru.vtable, sc, params);
	plat_mutex_unlock(c->mu);
	return found;
}

static const br_ssl_session_cache_class fup_cache_class = {
	sizeof(struct fup_cache), fup_cache_save, fup_cache_load,
};

static int
fup_sock_read(void *ctx, unsigned char *buf, size_t len)
{
	long	n = plat_recv(*(plat_socket *)ctx, buf, len, FUP_TIMEOUT_MS);

	return n > 0 ? (int)n : -1;
}

static int
fup_sock_write(void *ctx, const unsigned char *buf, size_t len)
{
	if (plat_send_all(*(plat_socket *)ctx, buf, len, FUP_TIMEOUT_MS) !=
	    EXO_OK)
		return -1;
	return (int)len;
}

static void
fup_start_tls(struct fup_conn *c)
{
	c->rpos = c->rlen = 0;
	br_ssl_server_init_full_rsa(&c->sc, fup_creds->chain,
	    fup_creds->chain_len, &fup_creds->rsa);
	br_ssl_engine_set_versions(&c->sc.eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_buffer(&c->sc.eng, c->iobuf, sizeof(c->iobuf), 1);
	br_ssl_server_set_cache(&c->sc, &fup_cache.vtable);
	br_ssl_server_reset(&c->sc);
	br_sslio_init(&c->io, &c->sc.eng, fup_sock_read, &c->sock,
	    fup_sock_write, &c->sock);
	c->tls = 1;
}

static int
fup_send(struct fup_conn *c, const char *text)
{
	size_t	len = strlen(text);

	if (!c->tls)
		return plat_send_all(c->sock, text, len, FUP_TIMEOUT_MS) ==
		    EXO_OK ? 0 : -1;
	if (br_sslio_write_all(&c->io, text, len) != 0)
		return -1;
	return br_sslio_flush(&c->io);
}

/*
 * Reads one line, cut to FUP_LINE_MAX - 1 bytes, without its line end,
 * and sets *ended when a LF ended it. Returns -1 at the end of the
 * connection.
 */
static int
fup_line(struct fup_conn *c, char *line, int *ended)
{
	unsigned char	*nl;
	size_t		 have = 0, take;
	long		 n;

	*ended = 0;
	for (;;) {
		if (c->rpos == c->rlen) {
			c->rpos = c->rlen = 0;
			n = c->tls ? br_sslio_read(&c->io, c->rbuf,
			    sizeof(c->rbuf)) : plat_recv(c->sock, c->rbuf,
			    sizeof(c->rbuf), FUP_TIMEOUT_MS);
			if (n <= 0)
				return -1;
			c->rlen = (size_t)n;
		}
		take = c->rlen - c->rpos;
		nl = memchr(c->rbuf + c->rpos, '\n', take);
		if (nl != NULL)
			take = (size_t)(nl - (c->rbuf + c->rpos)) + 1;
		if (have + take > FUP_LINE_MAX - 1)
			take = FUP_LINE_MAX - 1 - have;
		memcpy(line + have, c->rbuf + c->rpos, take);
		have += take;
		c->rpos += take;
		if ((nl != NULL && c->rbuf + c->rpos > nl) ||
		    have == FUP_LINE_MAX - 1)
			break;
	}
	*ended = have > 0 && line[have - 1] == '\n';
	line[have] = '\0';
	str_trim_end(line, have);
	return 0;
}

/* 1 when line is the command verb, alone or followed by a space. */
static int
fup_is(const char *line, const char *verb)
{
	size_t	n = strlen(verb);

	return str_ncasecmp(line, verb, n) == 0 &&
	    (line[n] == '\0' || line[n] == ' ');
}

/* ---- POP3 ---- */

static const char *
fup_pop3_reply(const char *line, char *buf, size_t cap, int *quit)
{
	const char	*arg = strchr(line, ' ');

	*quit = 0;
	if (fup_is(line, "STAT"))
		return "+OK 2 330\r\n";
	if (fup_is(line, "LIST") && arg == NULL)
		return "+OK 2 messages (330 octets)\r\n1 130\r\n2 200\r\n.\r\n";
	if (fup_is(line, "UIDL") && arg == NULL)
		return "+OK\r\n1 AAMkAGI2\r\n2 AAMkAGI3\r\n.\r\n";
	if (fup_is(line, "LIST") || fup_is(line, "UIDL")) {
		snprintf(buf, cap, "+OK%.40s %s\r\n", arg,
		    fup_is(line, "LIST") ? "130" : "AAMkAGI2");
		return buf;
	}
	if (fup_is(line, "RETR") || fup_is(line, "TOP")) {
		snprintf(buf, cap, "+OK\r\n%s", fup_message);
		return buf;
	}
	if (fup_is(line, "CAPA"))
		return "+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n.\r\n";
	if (fup_is(line, "DELE") || fup_is(line, "NOOP") ||
	    fup_is(line, "RSET"))
		return "+OK\r\n";
	if (fup_is(line, "QUIT")) {
		*quit = 1;
		return "+OK Microsoft Exchange Server POP3 server signing "
		    "off.\r\n";
	}
	return "-ERR Protocol error. 14\r\n";
}

static void
fup_pop3(struct fup_conn *c, char *line)
{
	char		 buf[1024];
	const char	*reply;
	int		 ended, quit = 0;

	fup_start_tls(c);
	if (fup_send(c, "+OK The Microsoft Exchange POP3 service is "
	    "ready.\r\n") != 0)
		return;
	while (!quit && fup_line(c, line, &ended) == 0) {
		if (str_casecmp(line, "AUTH XOAUTH2") == 0) {
			if (fup_send(c, "+ \r\n") != 0 ||
			    fup_line(c, line, &ended) != 0)
				return;
			reply = "+OK User successfully authenticated.\r\n";
		} else if (fup_is(line, "AUTH"))
			reply = "+OK User successfully authenticated.\r\n";
		else
			reply = fup_pop3_reply(line, buf, sizeof(buf), &quit);
		if (fup_send(c, reply) != 0)
			return;
	}
}

/* ---- SMTP ---- */

/* Reads message data up to the line "."; -1 when the connection ends. */
static int
fup_smtp_data(struct fup_conn *c, char *line)
{
	int	at_start = 1, ended;

	for (;;) {
		if (fup_line(c, line, &ended) != 0)
			return -1;
		if (at_start && ended && strcmp(line, ".") == 0)
			return 0;
		at_start = ended;
	}
}

static const char *
fup_smtp_reply(struct fup_conn *c, const char *line, int *quit)
{
	*quit = 0;
	if (fup_is(line, "EHLO") || fup_is(line, "HELO"))
		return c->tls ? "250-fake.outlook.test Hello\r\n"
		    "250-SIZE 157286400\r\n250-PIPELINING\r\n"
		    "250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n"
		    "250 8BITMIME\r\n" :
		    "250-fake.outlook.test Hello\r\n250-SIZE 157286400\r\n"
		    "250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n";
	if (fup_is(line, "MAIL"))
		return "250 2.1.0 Sender OK\r\n";
	if (fup_is(line, "RCPT"))
		return "250 2.1.5 Recipient OK\r\n";
	if (fup_is(line, "RSET") || fup_is(line, "NOOP"))
		return "250 2.0.0 OK\r\n";
	if (fup_is(line, "VRFY"))
		return "252 2.1.5 Cannot verify the user\r\n";
	if (fup_is(line, "QUIT")) {
		*quit = 1;
		return "221 2.0.0 Service closing transmission channel\r\n";
	}
	return "500 5.3.3 Unrecognized command\r\n";
}

static void
fup_smtp(struct fup_conn *c, char *line)
{
	const char	*reply;
	int		 ended, quit = 0;

	if (fup_send(c, "220 fake.outlook.test Microsoft ESMTP MAIL Service "
	    "ready\r\n") != 0)
		return;
	while (!quit && fup_line(c, line, &ended) == 0) {
		if (str_casecmp(line, "STARTTLS") == 0 && !c->tls) {
			if (fup_send(c, "220 2.0.0 SMTP server ready\r\n") != 0)
				return;
			fup_start_tls(c);
			continue;
		}
		if (fup_is(line, "AUTH")) {
			if (str_casecmp(line, "AUTH XOAUTH2") == 0 &&
			    (fup_send(c, "334 \r\n") != 0 ||
			    fup_line(c, line, &ended) != 0))
				return;
			reply = "235 2.7.0 Authentication successful\r\n";
		} else if (fup_is(line, "DATA")) {
			if (fup_send(c, "354 Start mail input; end with "
			    "<CRLF>.<CRLF>\r\n") != 0 ||
			    fup_smtp_data(c, line) != 0)
				return;
			reply = "250 2.0.0 OK <fuzz@upstream> "
			    "[Hostname=fake.outlook.test]\r\n";
		} else
			reply = fup_smtp_reply(c, line, &quit);
		if (fup_send(c, reply) != 0)
			return;
	}
}

/* ---- connections ---- */

static void
fup_conn_thread(void *arg)
{
	struct fup_conn	*c = arg;
	char		*line = malloc(FUP_LINE_MAX);

	if (line != NULL) {
		if (c->pop3)
			fup_pop3(c, line);
		else
			fup_smtp(c, line);
	}
	free(line);
	plat_socket_close(c->sock);
	free(c);
}

static void
fup_accept_thread(void *arg)
{
	int		 pop3 = arg != NULL;
	struct fup_conn	*c;
	plat_socket	 sock;
	char		 peer[PLAT_ADDR_MAX];

	for (;;) {
		if (plat_accept(fup_listener[pop3 ? 0 : 1], 1000, &sock,
		    peer) != EXO_OK)
			continue;
		if ((c = malloc(sizeof(*c))) == NULL) {
			plat_socket_close(sock);
			continue;
		}
		memset(c, 0, offsetof(struct fup_conn, rbuf));
		c->sock = sock;
		c->pop3 = pop3;
		if (plat_thread_start(fup_conn_thread, c, 256 * 1024) !=
		    EXO_OK) {
			plat_socket_close(sock);
			free(c);
		}
	}
}

/*
 * Starts both servers on 127.0.0.1 with a new certificate for
 * "localhost" in dir, and loads it as the only trust anchor. Stores the
 * ports; aborts on failure, which only a broken machine causes.
 */
static void
fup_start(const char *dir, unsigned *pop3_port, unsigned *smtp_port)
{
	struct tls_cert_request	 rq;
	struct exo_error	 e;
	char			*cert, *key, fp[TLS_CERT_FINGERPRINT_MAX];
	char			 cert_path[PLAT_PATH_MAX], key_path[PLAT_PATH_MAX];
	size_t			 cert_len, key_len;
	static int		 pop3 = 1;

	memset(&rq, 0, sizeof(rq));
	rq.host = "localhost";
	rq.now = plat_wall_time();
	rq.bits = 1024;
	if (tls_cert_generate(&rq, &cert, &cert_len, &key, &key_len, fp,
	    &e) != EXO_OK)
		abort();
	snprintf(cert_path, sizeof(cert_path), "%s/upstream-cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/upstream-key.pem", dir);
	if (plat_write_file_atomic(cert_path, cert, cert_len, 0, &e) !=
	    EXO_OK || plat_write_file_atomic(key_path, key, key_len, 1,
	    &e) != EXO_OK)
		abort();
	free(cert);
	plat_wipe(key, key_len);
	free(key);
	if (tls_server_creds_load(cert_path, key_path, &fup_creds, &e) !=
	    EXO_OK || trust_load(cert_path, &fup_trust, &e) != EXO_OK)
		abort();

	fup_cache.vtable = &fup_cache_class;
	if ((fup_cache.mu = plat_mutex_new()) == NULL)
		abort();
	br_ssl_session_cache_lru_init(&fup_cache.lru, fup_cache_store,
	    sizeof(fup_cache_store));
	if (plat_listen("127.0.0.1", 0, &fup_listener[0], &e) != EXO_OK ||
	    plat_listen("127.0.0.1", 0, &fup_listener[1], &e) != EXO_OK)
		abort();
	*pop3_port = (unsigned)plat_socket_port(fup_listener[0]);
	*smtp_port = (unsigned)plat_socket_port(fup_listener[1]);
	if (plat_thread_start(fup_accept_thread, &pop3, 0) != EXO_OK ||
	    plat_thread_start(fup_accept_thread, NULL, 0) != EXO_OK)
		abort();
}

#endif
