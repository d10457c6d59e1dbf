/*
 * fuzz-base64.c: base64_decode on arbitrary text in both alphabets, and
 * the round trip of base64_encode through base64_decode.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/util.h"

#define FUZZ_BASE64_MAX 8192	/* longest input tried */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_round_trip(const uint8_t *data, size_t size)
{
	char	*text, *back;
	long	 n;

	text = malloc(base64_encoded_len(size) + 1);
	back = malloc(size + 1);
	if (text == NULL || back == NULL)
		goto out;
	base64_encode(data, size, text);
	if (strlen(text) != base64_encoded_len(size))
		abort();
	n = base64_decode(text, strlen(text), back, size + 1, 0);
	if (n != (long)size || memcmp(back, data, size) != 0)
		abort();
out:
	free(text);
	free(back);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*out;
	size_t	 cap;
	long	 n;
	int	 url;

	if (size > FUZZ_BASE64_MAX)
		return 0;
	/* A capacity just under the decoded size checks EXO_ERR_TOOLONG. */
	cap = size * 3 / 4;
	if ((out = malloc(cap + 1)) == NULL)
		return 0;
	for (url = 0; url <= 1; url++) {
		n = base64_decode((const char *)data, size, out, cap, url);
		if (n > (long)cap)
			abort();
		if (cap > 0)
			(void)base64_decode((const char *)data, size, out,
			    cap - 1, url);
	}
	free(out);
	check_round_trip(data, size);
	return 0;
}
