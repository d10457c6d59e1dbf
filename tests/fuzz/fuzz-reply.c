/*
 * fuzz-reply.c: the upstream reply parsers. The first line goes through
 * smtp_reply_parse_line and pop3_status_ok. Then the whole input plays an
 * upstream POP3 server over a socket pair: pop3_upstream_read_status
 * reads a status line, and pop3_relay_multiline relays a multi-line body
 * to a device socket.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/plat.h"
#include "../../src/pop3.h"
#include "../../src/smtp.h"
#include "../../src/stream.h"

#define FUZZ_REPLY_MAX 65536	/* longest input tried; fits a socket */
#define FUZZ_REPLY_WAIT_MS 1000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_smtp_line(const char *text, size_t size)
{
	char		 enhanced[16];
	const char	*nl;
	size_t		 len;
	int		 code, more;

	nl = memchr(text, '\n', size);
	len = nl != NULL ? (size_t)(nl - text) + 1 : size;
	if (smtp_reply_parse_line(text, len, &code, &more, enhanced) == 0 &&
	    (code < 100 || code > 999 ||
	    memchr(enhanced, '\0', sizeof(enhanced)) == NULL))
		abort();
}

static void
fuzz_pop3_stream(const uint8_t *data, size_t size)
{
	struct stream		*up = NULL, *dev = NULL;
	struct exo_error	 e;
	enum pop3_relay_side	 side;
	unsigned long long	 body = 0;
	char			 line[512], sink[65536];
	size_t			 len;
	int			 upfd[2], devfd[2], sndbuf = 1 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, upfd) != 0)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, devfd) != 0) {
		close(upfd[0]);
		close(upfd[1]);
		return;
	}
	(void)setsockopt(upfd[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf));
	(void)setsockopt(devfd[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf));
	if (write(upfd[1], data, size) != (ssize_t)size)
		goto out;
	shutdown(upfd[1], SHUT_WR);
	up = stream_new(upfd[0], FUZZ_REPLY_WAIT_MS);
	dev = stream_new(devfd[0], FUZZ_REPLY_WAIT_MS);
	if (up == NULL || dev == NULL)
		goto out;

	if (pop3_upstream_read_status(up, line, sizeof(line), &len, &e) == 0 &&
	    (len >= sizeof(line) || line[len] != '\0'))
		abort();
	if (pop3_relay_multiline(up, dev, &body, &side, &e) == 0 &&
	    body > size)
		abort();
	(void)stream_flush(dev);
	shutdown(devfd[0], SHUT_WR);
	while (read(devfd[1], sink, sizeof(sink)) > 0)
		;
out:
	if (up != NULL)
		stream_close(up);
	else
		close(upfd[0]);
	if (dev != NULL)
		stream_close(dev);
	else
		close(devfd[0]);
	close(upfd[1]);
	close(devfd[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*text;

	if (size > FUZZ_REPLY_MAX)
		return 0;
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_smtp_line(text, size);
	(void)pop3_status_ok(text);
	free(text);
	fuzz_pop3_stream(data, size);
	return 0;
}
