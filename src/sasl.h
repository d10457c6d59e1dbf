/*
 * sasl.h: SASL messages on the device side (PLAIN, LOGIN) and the XOAUTH2
 * line sent upstream. Decoders take the base64 text a device sent and
 * return the parts as bytes, because passwords are compared as sent.
 */
#ifndef EXO_SASL_H
#define EXO_SASL_H

#include <stddef.h>

#include "err.h"

#define SASL_LINE_MAX 4096	/* longest SASL response line a device may send */
#define SASL_FIELD_MAX 512	/* longest decoded user name or password */

/* A decoded credential pair; wiped with sasl_cred_wipe. */
struct sasl_cred {
	char	authzid[SASL_FIELD_MAX];
	char	user[SASL_FIELD_MAX];
	char	password[SASL_FIELD_MAX];
	size_t	password_len;
};

/*
 * Decodes a PLAIN response (RFC 4616): base64 of authzid NUL user NUL
 * password. Errors: EXO_ERR_INVALID (bad base64 or not three fields),
 * EXO_ERR_TOOLONG. An authzid that differs from user is EXO_ERR_AUTH.
 */
int sasl_plain_decode(const char *b64, size_t len, struct sasl_cred *c);

/* Decodes one base64 LOGIN field (user name or password). */
int sasl_login_decode(const char *b64, size_t len, char *out, size_t cap,
    size_t *out_len);

/* 1 when the line is "*", the client's cancel (RFC 4954, RFC 5034). */
int sasl_is_cancel(const char *line, size_t len);

/*
 * Builds the XOAUTH2 initial response, base64 of
 * "user=" mailbox "\x01auth=Bearer " token "\x01\x01", as one line
 * without CRLF, in a new buffer (*out; wipe and free it after use).
 */
int sasl_xoauth2_encode(const char *mailbox, const char *token, char **out,
    size_t *out_len);

void sasl_cred_wipe(struct sasl_cred *c);

#endif
