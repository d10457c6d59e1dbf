/*
 * fuzz-smtp-data.c: the SMTP DATA normalizer. The same bytes fed at once
 * and in pieces (sizes from the first input byte) must give the same
 * output. The output never contains a bare CR or LF, and contains the
 * end mark CRLF "." CRLF only at its very end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/smtp.h"

#define FUZZ_DATA_MAX 65536	/* longest input tried */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Normalizes in pieces of step bytes into out; returns input consumed. */
static size_t
normalize(const uint8_t *in, size_t len, size_t step, char *out,
    size_t *out_len, int *done)
{
	struct smtp_data	d;
	size_t			off = 0, n, used, produced;

	smtp_data_init(&d);
	*out_len = 0;
	while (off < len && !smtp_data_done(&d)) {
		n = len - off < step ? len - off : step;
		used = smtp_data_feed(&d, in + off, n, out + *out_len,
		    &produced);
		if (used > n || (used < n && !smtp_data_done(&d)))
			abort();
		if (produced > SMTP_DATA_OUT_MAX(n))
			abort();
		off += used;
		*out_len += produced;
	}
	*done = smtp_data_done(&d);
	return off;
}

static void
check_output(const char *out, size_t len, int done)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (out[i] == '\r' && (i + 1 >= len || out[i + 1] != '\n'))
			abort();
		if (out[i] == '\n' && (i == 0 || out[i - 1] != '\r'))
			abort();
	}
	if (done && (len < 3 || memcmp(out + len - 3, ".\r\n", 3) != 0))
		abort();
	/* The end mark appears nowhere but at the end. */
	for (i = 0; i + 5 < len; i++) {
		if (memcmp(out + i, "\r\n.\r\n", 5) == 0)
			abort();
	}
	if (len >= 3 && memcmp(out, ".\r\n", 3) == 0 && len != 3)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*a, *b;
	size_t	 alen, blen, aused, bused, step;
	int	 adone, bdone;

	if (size < 1 || size > FUZZ_DATA_MAX)
		return 0;
	step = data[0] % 7 + 1;
	data++;
	size--;
	a = malloc(SMTP_DATA_OUT_MAX(size));
	b = malloc(SMTP_DATA_OUT_MAX(size) + 8 * size);
	if (a == NULL || b == NULL)
		goto out;
	aused = normalize(data, size, size > 0 ? size : 1, a, &alen, &adone);
	bused = normalize(data, size, step, b, &blen, &bdone);
	if (aused != bused || adone != bdone || alen != blen ||
	    memcmp(a, b, alen) != 0)
		abort();
	check_output(a, alen, adone);
out:
	free(a);
	free(b);
	return 0;
}
