/*
 * bench-double.c: a fast stand-in for Exchange Online's POP3 and SMTP
 * servers, for make bench only. The Python doubles spend a whole core on
 * a large transfer, so they would set the pace of both the direct and
 * the proxied path. This one uses exoconnect's own streams (BearSSL), one
 * thread per connection, and checks nothing: any XOAUTH2 line logs in.
 *
 * POP3 (implicit TLS) serves one message, read from a file at start and
 * dot-stuffed once. SMTP (STARTTLS) accepts any message and counts its
 * bytes. Replies follow Exchange's wording where exoconnect reads them.
 *
 * NOTE: BearSSL's server takes the client's first choice of suite, and
 * BearSSL's client offers ChaCha20-Poly1305 first, so exoconnect talks to
 * this double with ChaCha20. Exchange Online and the Python doubles pick
 * AES-GCM, which costs less on CPUs with AES-NI.
 *
 * Usage: bench-double CERT KEY MESSAGE
 * Prints one line "pop3=PORT smtp=PORT" once both ports listen on
 * 127.0.0.1, then serves until killed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/plat.h"
#include "../../src/stream.h"
#include "../../src/util.h"

#define DOUBLE_TIMEOUT_MS	600000	/* a bench run never idles this long */
#define DOUBLE_LINE_MAX		70000	/* longest command or SASL line */
#define DOUBLE_DATA_CHUNK	65536	/* DATA bytes read at a time */
#define DOUBLE_MESSAGE_MAX	(200LL * 1024 * 1024) /* largest message file */

struct double_server {
	plat_socket		 listener;
	void			(*serve)(struct stream *);
};

/* One accepted connection, handed to its thread. */
struct double_conn {
	struct double_server	*srv;
	struct stream		*s;
};

static struct tls_server_creds	*double_creds;
static char			*double_message;	/* dot-stuffed, ends ".\r\n" */
static size_t			 double_message_len;
static size_t			 double_message_size;	/* before stuffing */

/* Reads a command line without its line end; -1 at the end. */
static int
double_line(struct stream *s, char *line)
{
	size_t	len;

	if (stream_read_line(s, line, DOUBLE_LINE_MAX, &len) != EXO_OK)
		return -1;
	str_trim_end(line, len);
	return 0;
}

static int
double_reply(struct stream *s, const char *text)
{
	if (stream_puts(s, text) != EXO_OK || stream_flush(s) != EXO_OK)
		return -1;
	return 0;
}

/* ---- POP3 ---- */

static void
pop3_serve(struct stream *s)
{
	char	*line, reply[128];

	if ((line = malloc(DOUBLE_LINE_MAX)) == NULL)
		return;
	if (stream_start_tls_server(s, double_creds, NULL) != EXO_OK ||
	    double_reply(s, "+OK The Microsoft Exchange POP3 service is "
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
			if (stream_puts(s, "+OK\r\n") != EXO_OK ||
			    stream_write(s, double_message,
			    double_message_len) != EXO_OK ||
			    stream_flush(s) != EXO_OK)
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
smtp_read_data(struct stream *s, char *buf)
{
	long long	total = 0;
	char		tail[5] = "\r\n\0\0\0";	/* the DATA line's CRLF */
	size_t		keep = 2, take;
	long		n;

	for (;;) {
		if ((n = stream_read(s, buf, DOUBLE_DATA_CHUNK)) <= 0)
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
smtp_serve(struct stream *s)
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
			    0 || stream_start_tls_server(s, double_creds,
			    NULL) != EXO_OK)
				break;
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
	struct double_conn	*c = arg;

	c->srv->serve(c->s);
	stream_close(c->s);
	free(c);
}

static void
accept_thread(void *arg)
{
	struct double_server	*srv = arg;
	struct double_conn	*c;
	plat_socket		 sock;
	char			 peer[PLAT_ADDR_MAX];

	for (;;) {
		if (plat_accept(srv->listener, 1000, &sock, peer) != EXO_OK)
			continue;
		if ((c = malloc(sizeof(*c))) == NULL) {
			plat_socket_close(sock);
			continue;
		}
		c->srv = srv;
		if ((c->s = stream_new(sock, DOUBLE_TIMEOUT_MS)) == NULL) {
			plat_socket_close(sock);
			free(c);
			continue;
		}
		if (plat_thread_start(conn_thread, c, 256 * 1024) != EXO_OK) {
			stream_close(c->s);
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
