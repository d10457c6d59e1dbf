/*
 * sasl.c: decoding of the SASL PLAIN and LOGIN responses that devices send
 * (RFC 4616 and the LOGIN mechanism's base64 fields) and encoding of the
 * XOAUTH2 initial response sent to Exchange Online.
 */
#include <stdlib.h>
#include <string.h>

#include "plat.h"
#include "sasl.h"
#include "util.h"

/* Maximum decoded PLAIN message: three fields and two NUL separators. */
#define SASL_PLAIN_MAX (3 * SASL_FIELD_MAX)

/* Maximum mailbox or token length for XOAUTH2, far above real values. */
#define SASL_XOAUTH2_PART_MAX 65536

/* Copies one decoded field with its NUL, or returns EXO_ERR_TOOLONG when
 * it does not fit. */
static int
sasl_copy_field(char *dst, const char *src, size_t len)
{
	if (len >= SASL_FIELD_MAX)
		return EXO_ERR_TOOLONG;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return EXO_OK;
}

/* Splits "authzid NUL authcid NUL passwd" into c. */
static int
sasl_plain_split(const char *msg, size_t len, struct sasl_cred *c)
{
	const char	*user, *pass, *end = msg + len;
	int		 rc;

	user = memchr(msg, '\0', len);
	if (user == NULL)
		return EXO_ERR_INVALID;
	user++;
	pass = memchr(user, '\0', (size_t)(end - user));
	if (pass == NULL)
		return EXO_ERR_INVALID;
	pass++;

	/* RFC 4616 section 2: the password contains no NUL, and neither
	 * the authentication identity nor the password is empty. */
	if (memchr(pass, '\0', (size_t)(end - pass)) != NULL)
		return EXO_ERR_INVALID;
	if (pass - user == 1 || pass == end)
		return EXO_ERR_INVALID;

	if ((rc = sasl_copy_field(c->authzid, msg,
	    (size_t)(user - 1 - msg))) != EXO_OK)
		return rc;
	if ((rc = sasl_copy_field(c->user, user,
	    (size_t)(pass - 1 - user))) != EXO_OK)
		return rc;
	if ((rc = sasl_copy_field(c->password, pass,
	    (size_t)(end - pass))) != EXO_OK)
		return rc;
	c->password_len = (size_t)(end - pass);
	return EXO_OK;
}

int
sasl_plain_decode(const char *b64, size_t len, struct sasl_cred *c)
{
	char	msg[SASL_PLAIN_MAX];
	long	n;
	int	rc;

	memset(c, 0, sizeof(*c));
	if (len > SASL_LINE_MAX)
		return EXO_ERR_TOOLONG;

	n = base64_decode(b64, len, msg, sizeof(msg), 0);
	if (n < 0) {
		rc = (int)n;
		goto out;
	}
	if ((rc = sasl_plain_split(msg, (size_t)n, c)) != EXO_OK)
		goto out;

	/* Acting for another user is not offered: an authorization
	 * identity must name the same login, compared as logins are. */
	if (c->authzid[0] != '\0' && str_casecmp(c->authzid, c->user) != 0)
		rc = EXO_ERR_AUTH;

out:
	plat_wipe(msg, sizeof(msg));
	if (rc != EXO_OK)
		sasl_cred_wipe(c);
	return rc;
}

int
sasl_login_decode(const char *b64, size_t len, char *out, size_t cap,
    size_t *out_len)
{
	long	n;

	*out_len = 0;
	if (cap == 0)
		return EXO_ERR_INVALID;
	out[0] = '\0';
	if (len > SASL_LINE_MAX)
		return EXO_ERR_TOOLONG;

	n = base64_decode(b64, len, out, cap - 1, 0);
	if (n < 0) {
		plat_wipe(out, cap);
		return (int)n;
	}
	if (memchr(out, '\0', (size_t)n) != NULL) {
		plat_wipe(out, cap);
		return EXO_ERR_INVALID;
	}
	out[n] = '\0';
	*out_len = (size_t)n;
	return EXO_OK;
}

int
sasl_is_cancel(const char *line, size_t len)
{
	/* Tolerate the line end, so callers may pass a raw line. */
	while (len > 1 && (line[len - 1] == '\n' || line[len - 1] == '\r' ||
	    line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	return len == 1 && line[0] == '*';
}

/* 1 when text may appear in an XOAUTH2 field: printable, no separator. */
static int
sasl_xoauth2_part_ok(const char *text, size_t len)
{
	size_t	i;

	if (len == 0 || len > SASL_XOAUTH2_PART_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if ((unsigned char)text[i] <= 0x20 || text[i] == 0x7f)
			return 0;
	}
	return 1;
}

int
sasl_xoauth2_encode(const char *mailbox, const char *token, char **out,
    size_t *out_len)
{
	static const char pre_user[] = "user=";
	static const char pre_auth[] = "\001auth=Bearer ";
	static const char post[] = "\001\001";
	size_t		 mlen, tlen, rawlen, off = 0;
	char		*raw, *enc;

	*out = NULL;
	*out_len = 0;
	mlen = strlen(mailbox);
	tlen = strlen(token);
	if (!sasl_xoauth2_part_ok(mailbox, mlen) ||
	    !sasl_xoauth2_part_ok(token, tlen))
		return EXO_ERR_INVALID;

	rawlen = sizeof(pre_user) - 1 + mlen + sizeof(pre_auth) - 1 + tlen +
	    sizeof(post) - 1;
	if ((raw = malloc(rawlen)) == NULL)
		return EXO_ERR_NOMEM;
	memcpy(raw + off, pre_user, sizeof(pre_user) - 1);
	off += sizeof(pre_user) - 1;
	memcpy(raw + off, mailbox, mlen);
	off += mlen;
	memcpy(raw + off, pre_auth, sizeof(pre_auth) - 1);
	off += sizeof(pre_auth) - 1;
	memcpy(raw + off, token, tlen);
	off += tlen;
	memcpy(raw + off, post, sizeof(post) - 1);

	enc = malloc(base64_encoded_len(rawlen) + 1);
	if (enc == NULL) {
		plat_wipe(raw, rawlen);
		free(raw);
		return EXO_ERR_NOMEM;
	}
	base64_encode(raw, rawlen, enc);
	plat_wipe(raw, rawlen);
	free(raw);

	*out = enc;
	*out_len = base64_encoded_len(rawlen);
	return EXO_OK;
}

void
sasl_cred_wipe(struct sasl_cred *c)
{
	plat_wipe(c, sizeof(*c));
}
