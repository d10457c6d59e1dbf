/*
 * smtp-data.c: the streaming normalizer for message data, between a
 * device's DATA and the upstream. The rules are in smtp.h; this file is a
 * byte-at-a-time state machine so chunk boundaries never matter. Runs of
 * bytes that cannot change the state, ordinary lines included, are
 * copied whole.
 */
#include <stdint.h>
#include <string.h>

#include "smtp.h"

enum data_state {
	DATA_START_DEVICE,	/* line start after a CRLF the device sent */
	DATA_START_MADE,	/* line start after a line end made here */
	DATA_MIDDLE,		/* inside a line */
	DATA_CR,		/* a CR is pending */
	DATA_DOT,		/* "." at a device line start is pending */
	DATA_DOT_CR,		/* "." CR at a device line start is pending */
	DATA_DONE,
};

void
smtp_data_init(struct smtp_data *d)
{
	memset(d, 0, sizeof(*d));
	d->state = DATA_START_DEVICE;
}

int
smtp_data_done(const struct smtp_data *d)
{
	return (d->state == DATA_DONE);
}

static void
put(char *out, size_t *n, const char *bytes, size_t len)
{
	memcpy(out + *n, bytes, len);
	*n += len;
}

/* Handles byte c in a state where no byte is pending. */
static void
step_plain(struct smtp_data *d, unsigned char c, char *out, size_t *n)
{
	if (c == '\r') {
		d->state = DATA_CR;
		return;
	}
	if (c == '\n') {
		/* A lone LF: the line end is made here. */
		put(out, n, "\r\n", 2);
		d->state = DATA_START_MADE;
		return;
	}
	out[(*n)++] = (char)c;
	d->state = DATA_MIDDLE;
}

/* Handles one input byte; returns 1 when it ended the data. */
static int
step(struct smtp_data *d, unsigned char c, char *out, size_t *n)
{
	switch (d->state) {
	case DATA_START_DEVICE:
		if (c == '.') {
			d->state = DATA_DOT;
			return (0);
		}
		break;
	case DATA_START_MADE:
		if (c == '.') {
			/* The device did not stuff this line: do it here. */
			put(out, n, "..", 2);
			d->state = DATA_MIDDLE;
			return (0);
		}
		break;
	case DATA_CR:
		put(out, n, "\r\n", 2);
		if (c == '\n') {
			d->state = DATA_START_DEVICE;
			return (0);
		}
		/* A lone CR: the line end is made here. */
		d->state = DATA_START_MADE;
		return (step(d, c, out, n));
	case DATA_DOT:
		if (c == '\r') {
			d->state = DATA_DOT_CR;
			return (0);
		}
		if (c == '\n') {
			/* ".\n" would become the end mark upstream. */
			put(out, n, "..\r\n", 4);
			d->state = DATA_START_MADE;
			return (0);
		}
		/* A device-stuffed line or any other: pass it as it is. */
		out[(*n)++] = '.';
		d->state = DATA_MIDDLE;
		break;
	case DATA_DOT_CR:
		if (c == '\n') {
			put(out, n, ".\r\n", 3);
			d->state = DATA_DONE;
			return (1);
		}
		/* ".\r" then anything else: a lone "." line ended by CR. */
		put(out, n, "..\r\n", 4);
		d->state = DATA_START_MADE;
		return (step(d, c, out, n));
	default:
		break;
	}
	step_plain(d, c, out, n);
	return (0);
}

#define DATA_ONES	0x0101010101010101ULL
#define DATA_HIGHS	0x8080808080808080ULL

/* Nonzero when one of the 8 bytes of w is zero. */
#define DATA_HAS_ZERO(w)	(((w) - DATA_ONES) & ~(w) & DATA_HIGHS)

/*
 * Returns the length of the run of bytes at p that are neither CR nor LF.
 * Eight bytes are tested at a time while none of them can end the run.
 */
static size_t
plain_run(const unsigned char *p, size_t len)
{
	uint64_t	w, cr, lf;
	size_t		i = 0;

	while (len - i >= 8) {
		memcpy(&w, p + i, 8);
		cr = w ^ (DATA_ONES * '\r');
		lf = w ^ (DATA_ONES * '\n');
		if (DATA_HAS_ZERO(cr) || DATA_HAS_ZERO(lf))
			break;
		i += 8;
	}
	while (i < len && p[i] != '\r' && p[i] != '\n')
		i++;
	return (i);
}

/*
 * Returns the length of the bytes at p, inside a line, that pass unchanged
 * and end inside a line again: runs without CR or LF, joined by CRLF line
 * ends whose next line starts with a byte that is none of ".", CR and LF.
 * Such a line start changes nothing, so whole blocks of ordinary lines
 * are copied at once.
 */
static size_t
plain_span(const unsigned char *p, size_t len)
{
	size_t	i = 0;

	for (;;) {
		i += plain_run(p + i, len - i);
		if (len - i < 3 || p[i] != '\r' || p[i + 1] != '\n' ||
		    p[i + 2] == '.' || p[i + 2] == '\r' || p[i + 2] == '\n')
			return (i);
		i += 3;
	}
}

size_t
smtp_data_feed(struct smtp_data *d, const void *in, size_t len, char *out,
    size_t *out_len)
{
	const unsigned char	*p = in;
	size_t			 i, n = 0, run;

	for (i = 0; i < len && d->state != DATA_DONE; i++) {
		/* Inside a line only CR and LF change the state, so the bytes
		 * up to the next one are copied at once. */
		if (d->state == DATA_MIDDLE) {
			run = plain_span(p + i, len - i);
			put(out, &n, (const char *)p + i, run);
			i += run;
			if (i == len)
				break;
		}
		if (step(d, p[i], out, &n)) {
			d->bytes_out += n - 3;
			d->bytes_in += i + 1;
			*out_len = n;
			return (i + 1);
		}
	}
	d->bytes_out += n;
	d->bytes_in += i;
	*out_len = n;
	return (i);
}
