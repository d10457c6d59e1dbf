/*
 * stream.c: buffered reads and writes over a socket, in plain text or
 * through the TLS engine of stream-tls.c, and the bounded line reader.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream-int.h"

/* Largest stream_printf output kept on the stack; longer goes to the heap. */
#define STREAM_PRINTF_STACK	512

struct stream *
stream_new(plat_socket sock, int timeout_ms)
{
	struct stream	*s;

	/*
	 * Clear the fields only: buffers untouched until data arrives stay
	 * out of the resident memory of idle sessions.
	 */
	s = malloc(sizeof(*s));
	if (s == NULL) {
		plat_socket_close(sock);
		return (NULL);
	}
	memset(s, 0, offsetof(struct stream, rbuf));
	s->sock = sock;
	s->timeout_ms = timeout_ms;
	return (s);
}

int
stream_connect(const char *host, unsigned port, int timeout_ms,
    struct stream **out, struct exo_error *e)
{
	plat_socket	sock;
	int		rc;

	*out = NULL;
	rc = plat_connect(host, port, timeout_ms, &sock, e);
	if (rc != EXO_OK)
		return (rc);
	*out = stream_new(sock, timeout_ms);
	if (*out == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory connecting "
		    "to %s:%u", host, port));
	return (EXO_OK);
}

void
stream_close(struct stream *s)
{
	if (s == NULL)
		return;
	stream_flush(s);
	if (s->tls != NULL)
		stream_tls_close(s);
	plat_socket_close(s->sock);

	/* The buffers held passwords, tokens or mail. */
	plat_wipe(s, sizeof(*s));
	free(s);
}

void
stream_set_timeout(struct stream *s, int timeout_ms)
{
	s->timeout_ms = timeout_ms;
}

void
stream_set_read_deadline(struct stream *s, int64_t deadline_ms)
{
	s->read_deadline = deadline_ms;
}

int
stream_read_wait_ms(const struct stream *s)
{
	int64_t	left;

	if (s->read_deadline == 0)
		return (s->timeout_ms);
	left = s->read_deadline - plat_monotonic_ms();
	if (left < 0)
		left = 0;
	if (s->timeout_ms >= 0 && left > s->timeout_ms)
		left = s->timeout_ms;
	return ((int)left);
}

void
stream_abort(struct stream *s)
{
	plat_socket_shutdown(s->sock);
}

int
stream_is_tls(const struct stream *s)
{
	return (s->tls != NULL);
}

/* Reads from the socket or the TLS engine, without the buffer. */
static long
stream_raw_read(struct stream *s, void *buf, size_t cap)
{
	long	n;
	int	wait;

	/* Once ended, every later read reports the same end. */
	if (s->end != 0)
		return (s->end == STREAM_END_CLEAN ? 0 : s->end);
	if (s->tls != NULL)
		n = stream_tls_read(s, buf, cap);
	else if ((wait = stream_read_wait_ms(s)) == 0 && s->read_deadline != 0)
		n = EXO_ERR_TIMEOUT;
	else
		n = plat_recv(s->sock, buf, cap, wait);
	if (n == 0)
		s->end = STREAM_END_CLEAN;
	else if (n == EXO_ERR_CLOSED)
		s->end = EXO_ERR_CLOSED;
	if (n > 0)
		s->bytes_in += (unsigned long long)n;
	return (n);
}

static int
stream_raw_write(struct stream *s, const void *buf, size_t len)
{
	int	rc;

	if (s->tls != NULL)
		rc = stream_tls_write(s, buf, len);
	else
		rc = plat_send_all(s->sock, buf, len, s->timeout_ms);
	if (rc == EXO_OK)
		s->bytes_out += len;
	return (rc);
}

/* Refills the empty read buffer; returns the count, 0 at end, or < 0. */
static long
stream_fill(struct stream *s)
{
	long	n;

	s->rpos = 0;
	s->rlen = 0;
	n = stream_raw_read(s, s->rbuf, sizeof(s->rbuf));
	if (n > 0)
		s->rlen = (size_t)n;
	return (n);
}

int
stream_read_line(struct stream *s, char *buf, size_t cap, size_t *len)
{
	unsigned char	*start, *nl;
	size_t		 have = 0, avail, take;
	long		 n;

	*len = 0;
	if (cap == 0)
		return (EXO_ERR_TOOLONG);
	buf[0] = '\0';

	/*
	 * Copy into buf as bytes arrive, so a line may be longer than the
	 * read buffer. The limit is checked before each copy, never after.
	 */
	for (;;) {
		if (s->rpos == s->rlen) {
			n = stream_fill(s);
			if (n == 0 || n == EXO_ERR_CLOSED)
				break;
			if (n < 0)
				return ((int)n);
		}

		start = s->rbuf + s->rpos;
		avail = s->rlen - s->rpos;
		take = avail < cap - 1 - have ? avail : cap - 1 - have;
		nl = memchr(start, '\n', take);
		if (nl != NULL)
			take = (size_t)(nl - start) + 1;
		memcpy(buf + have, start, take);
		have += take;
		s->rpos += take;
		buf[have] = '\0';
		*len = have;

		if (nl != NULL)
			return (EXO_OK);
		if (have == cap - 1)
			return (EXO_ERR_TOOLONG);
	}

	/* The peer closed: hand out what came before, then report it. */
	if (have > 0)
		return (EXO_OK);
	return (EXO_ERR_CLOSED);
}

int
stream_skip_line(struct stream *s)
{
	unsigned char	*nl;
	long		 n;

	for (;;) {
		if (s->rpos == s->rlen) {
			n = stream_fill(s);
			if (n == 0)
				return (EXO_ERR_CLOSED);
			if (n < 0)
				return ((int)n);
		}
		nl = memchr(s->rbuf + s->rpos, '\n', s->rlen - s->rpos);
		if (nl != NULL) {
			s->rpos = (size_t)(nl - s->rbuf) + 1;
			return (EXO_OK);
		}
		s->rpos = s->rlen;
	}
}

long
stream_read(struct stream *s, void *buf, size_t cap)
{
	size_t	take;
	long	n;

	if (cap == 0)
		return (0);
	if (s->rpos == s->rlen) {
		/* Large reads skip the copy through the buffer. */
		if (cap >= sizeof(s->rbuf))
			return (stream_raw_read(s, buf, cap));
		n = stream_fill(s);
		if (n <= 0)
			return (n);
	}
	take = s->rlen - s->rpos;
	if (take > cap)
		take = cap;
	memcpy(buf, s->rbuf + s->rpos, take);
	s->rpos += take;
	return ((long)take);
}

long
stream_peek(struct stream *s, const void **data)
{
	long	n;

	*data = NULL;
	if (s->rpos == s->rlen && (n = stream_fill(s)) <= 0)
		return (n);
	*data = s->rbuf + s->rpos;
	return ((long)(s->rlen - s->rpos));
}

void
stream_consume(struct stream *s, size_t n)
{
	if (n > s->rlen - s->rpos)
		n = s->rlen - s->rpos;
	s->rpos += n;
}

size_t
stream_pending(const struct stream *s)
{
	return (s->rlen - s->rpos);
}

int
stream_flush(struct stream *s)
{
	int	rc;

	if (s->wlen == 0 && s->tls != NULL)
		return (stream_tls_flush(s));
	if (s->wlen == 0)
		return (EXO_OK);
	rc = stream_raw_write(s, s->wbuf, s->wlen);
	plat_wipe(s->wbuf, s->wlen);
	s->wlen = 0;
	return (rc);
}

int
stream_write(struct stream *s, const void *buf, size_t len)
{
	int	rc;

	/*
	 * Over TLS the engine's buffer collects the output, which saves a
	 * copy and lets records carry 16 KB. The TLS upgrade flushed wbuf.
	 */
	if (s->tls != NULL && s->wlen == 0) {
		if ((rc = stream_tls_append(s, buf, len)) == EXO_OK)
			s->bytes_out += len;
		return (rc);
	}
	if (len <= sizeof(s->wbuf) - s->wlen) {
		memcpy(s->wbuf + s->wlen, buf, len);
		s->wlen += len;
		return (EXO_OK);
	}
	rc = stream_flush(s);
	if (rc != EXO_OK)
		return (rc);
	if (len >= sizeof(s->wbuf))
		return (stream_raw_write(s, buf, len));
	memcpy(s->wbuf, buf, len);
	s->wlen = len;
	return (EXO_OK);
}

int
stream_puts(struct stream *s, const char *text)
{
	return (stream_write(s, text, strlen(text)));
}

int
stream_printf(struct stream *s, const char *fmt, ...)
{
	char	 small[STREAM_PRINTF_STACK], *text = small;
	va_list	 ap;
	int	 n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return (EXO_ERR_INVALID);
	if ((size_t)n >= sizeof(small)) {
		text = malloc((size_t)n + 1);
		if (text == NULL)
			return (EXO_ERR_NOMEM);
		va_start(ap, fmt);
		vsnprintf(text, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	rc = stream_write(s, text, (size_t)n);
	plat_wipe(text, (size_t)n);
	if (text != small)
		free(text);
	return (rc);
}

unsigned long long
stream_bytes_in(const struct stream *s)
{
	return (s->bytes_in);
}

unsigned long long
stream_bytes_out(const struct stream *s)
{
	return (s->bytes_out);
}
