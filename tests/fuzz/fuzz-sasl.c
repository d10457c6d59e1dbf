/*
 * fuzz-sasl.c: the SASL responses a device sends (PLAIN, LOGIN fields,
 * the "*" cancel) and the XOAUTH2 line built from a mailbox and token.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/sasl.h"
#include "../../src/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Builds an XOAUTH2 line from the input split at its first NUL, and
 * checks that it decodes back to exactly the expected message. */
static void
check_xoauth2(const char *text, size_t size)
{
	char		 mailbox[256], token[2048], *line = NULL, *back = NULL;
	char		*want = NULL;
	const char	*nul;
	size_t		 mlen, tlen, line_len = 0, want_len;
	long		 n;

	if ((nul = memchr(text, '\0', size)) == NULL)
		return;
	mlen = (size_t)(nul - text);
	tlen = size - mlen - 1;
	if (mlen >= sizeof(mailbox) || tlen >= sizeof(token) ||
	    memchr(nul + 1, '\0', tlen) != NULL)
		return;
	memcpy(mailbox, text, mlen);
	mailbox[mlen] = '\0';
	memcpy(token, nul + 1, tlen);
	token[tlen] = '\0';
	if (sasl_xoauth2_encode(mailbox, token, &line, &line_len) != 0)
		return;
	want_len = 5 + mlen + 13 + tlen + 2;
	want = malloc(want_len + 1);
	back = malloc(line_len);
	if (want == NULL || back == NULL)
		goto out;
	snprintf(want, want_len + 1, "user=%s\001auth=Bearer %s\001\001",
	    mailbox, token);
	n = base64_decode(line, line_len, back, line_len, 0);
	if (n != (long)want_len || memcmp(back, want, want_len) != 0)
		abort();
out:
	free(want);
	free(back);
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_cred	 c;
	const char		*text = (const char *)data;
	char			 field[SASL_FIELD_MAX];
	size_t			 len;

	if (size > SASL_LINE_MAX)
		return 0;

	if (sasl_plain_decode(text, size, &c) == 0 &&
	    (strlen(c.user) >= SASL_FIELD_MAX ||
	    c.password_len >= SASL_FIELD_MAX))
		abort();
	sasl_cred_wipe(&c);

	if (sasl_login_decode(text, size, field, sizeof(field), &len) == 0 &&
	    len >= sizeof(field))
		abort();
	(void)sasl_login_decode(text, size, field, 8, &len);
	(void)sasl_is_cancel(text, size);

	check_xoauth2(text, size);
	return 0;
}
