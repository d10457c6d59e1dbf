/*
 * auth.c: the check of a device's local user name and password, shared by
 * the POP3 and SMTP sessions, and the challenge-response digests of APOP
 * (RFC 1939 section 7) and CRAM-MD5 (RFC 2195).
 *
 * Passwords are stored as UTF-8 and compared as bytes. Some printer
 * firmware sends non-ASCII passwords in ISO-8859-1 or Windows-1252, so a
 * user with accept_legacy_charset set also logs in with those encodings
 * of the stored password, where the password can be written in them. The
 * digests follow the same rule: they are computed over each form.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <bearssl.h>

#include "auth.h"
#include "plat.h"
#include "session.h"
#include "util.h"

/*
 * Compared instead of a stored password when the user is unknown, so an
 * unknown user costs the same work as a wrong password. Its length is the
 * length of the random passwords that user_random_password makes.
 */
static const char auth_dummy_password[] = "AAAAAAAAAAAAAAAA";

enum auth_charset {
	AUTH_LATIN1,		/* ISO-8859-1 */
	AUTH_CP1252,		/* Windows-1252 */
};

/*
 * Unicode code points of the Windows-1252 bytes 0x80 to 0x9F, 0 where
 * the byte is undefined. The other bytes encode the same code points as
 * in ISO-8859-1.
 */
static const uint16_t auth_cp1252_high[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

/*
 * Decodes one UTF-8 character at s (len bytes left) into *cp and returns
 * its length, or 0 for an invalid or overlong sequence.
 */
static size_t
auth_utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	static const uint32_t	 min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t			 n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0)
		n = 2;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3;
	else if ((s[0] & 0xf8) == 0xf0)
		n = 4;
	else
		return 0;
	if (n > len)
		return 0;

	*cp = s[0] & (0x7f >> n);
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min[n] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return n;
}

/* Returns the byte for code point cp in charset, or -1 when it has none. */
static int
auth_legacy_byte(uint32_t cp, enum auth_charset charset)
{
	size_t	i;

	if (cp < 0x80 || (cp >= 0xa0 && cp <= 0xff))
		return (int)cp;
	if (charset == AUTH_LATIN1)
		return cp <= 0xff ? (int)cp : -1;
	for (i = 0; i < sizeof(auth_cp1252_high) / sizeof(auth_cp1252_high[0]);
	    i++) {
		if (auth_cp1252_high[i] != 0 && auth_cp1252_high[i] == cp)
			return 0x80 + (int)i;
	}
	return -1;
}

/*
 * Encodes the UTF-8 password in charset into out (cap bytes). Returns the
 * length, or 0 when the password is not valid UTF-8 or has a character
 * that charset lacks.
 */
static size_t
auth_encode_legacy(const char *utf8, size_t len, enum auth_charset charset,
    char *out, size_t cap)
{
	const unsigned char	*s = (const unsigned char *)utf8;
	size_t			 pos = 0, n, out_len = 0;
	uint32_t		 cp;
	int			 b;

	while (pos < len) {
		n = auth_utf8_next(s + pos, len - pos, &cp);
		if (n == 0 || out_len == cap)
			return 0;
		if ((b = auth_legacy_byte(cp, charset)) < 0)
			return 0;
		out[out_len++] = (char)b;
		pos += n;
	}
	return out_len;
}

/*
 * Compares password with stored and, when legacy is set, with its
 * ISO-8859-1 and Windows-1252 forms. All three comparisons always run,
 * so the time depends only on the lengths.
 */
static int
auth_password_matches(const void *password, size_t len, const char *stored,
    size_t stored_len, int legacy)
{
	char	latin1[USER_PASSWORD_MAX], cp1252[USER_PASSWORD_MAX];
	size_t	latin1_len, cp1252_len;
	int	utf8_ok, latin1_ok, cp1252_ok;

	latin1_len = auth_encode_legacy(stored, stored_len, AUTH_LATIN1,
	    latin1, sizeof(latin1));
	cp1252_len = auth_encode_legacy(stored, stored_len, AUTH_CP1252,
	    cp1252, sizeof(cp1252));

	utf8_ok = ct_equal(password, len, stored, stored_len);
	latin1_ok = ct_equal(password, len, latin1, latin1_len);
	cp1252_ok = ct_equal(password, len, cp1252, cp1252_len);
	plat_wipe(latin1, sizeof(latin1));
	plat_wipe(cp1252, sizeof(cp1252));

	if (utf8_ok)
		return 1;
	return legacy && ((latin1_ok && latin1_len > 0) ||
	    (cp1252_ok && cp1252_len > 0));
}

int
auth_check_password(struct userdb *db, const char *login,
    const void *password, size_t len, struct user *u)
{
	const char	*stored = auth_dummy_password;
	size_t		 stored_len = sizeof(auth_dummy_password) - 1;
	int		 found = 0, legacy = 0, equal;

	memset(u, 0, sizeof(*u));
	if (login != NULL && login[0] != '\0' &&
	    strlen(login) < USER_LOGIN_MAX &&
	    userdb_get(db, login, u, NULL) == EXO_OK) {
		found = 1;
		stored = u->password;
		stored_len = strnlen(u->password, sizeof(u->password));
		legacy = u->accept_legacy_charset;
	}

	/* A user without a password cannot log in, however it was stored. */
	equal = auth_password_matches(password, len, stored, stored_len,
	    legacy);
	if (found && equal && stored_len > 0)
		return EXO_OK;

	plat_wipe(u, sizeof(*u));
	return EXO_ERR_AUTH;
}

/* ---- challenges and digests ---- */

void
auth_host_name(const struct settings *s, char *out, size_t cap)
{
	if (s->smtp.hostname[0] != '\0')
		str_copy(out, s->smtp.hostname, cap);
	else if (plat_hostname(out, cap) != EXO_OK || out[0] == '\0')
		str_copy(out, "localhost", cap);
}

int
auth_make_challenge(const char *host, char out[AUTH_CHALLENGE_MAX])
{
	uint32_t	r;
	int		n;

	if (plat_random(&r, sizeof(r)) != EXO_OK)
		return EXO_ERR_IO;
	if (host == NULL || host[0] == '\0')
		host = "localhost";
	n = snprintf(out, AUTH_CHALLENGE_MAX, "<%lu.%lld@%s>",
	    (unsigned long)r, (long long)plat_wall_time(), host);
	if (n < 0 || n >= AUTH_CHALLENGE_MAX)
		return EXO_ERR_TOOLONG;
	return EXO_OK;
}

static void
auth_hex(const unsigned char *d, size_t len, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 0x0f];
	}
}

/* Writes the lower-case hex digest of kind for one password form. */
static void
auth_digest_hex(enum auth_digest kind, const char *challenge,
    const void *password, size_t len, char out[AUTH_DIGEST_HEX])
{
	br_md5_context		md5;
	br_hmac_key_context	key;
	br_hmac_context		hmac;
	unsigned char		d[16];

	if (kind == AUTH_APOP) {
		br_md5_init(&md5);
		br_md5_update(&md5, challenge, strlen(challenge));
		br_md5_update(&md5, password, len);
		br_md5_out(&md5, d);
	} else {
		br_hmac_key_init(&key, &br_md5_vtable, password, len);
		br_hmac_init(&hmac, &key, 0);
		br_hmac_update(&hmac, challenge, strlen(challenge));
		br_hmac_out(&hmac, d);
	}
	auth_hex(d, sizeof(d), out);
	plat_wipe(&md5, sizeof(md5));
	plat_wipe(&key, sizeof(key));
	plat_wipe(&hmac, sizeof(hmac));
	plat_wipe(d, sizeof(d));
}

/*
 * Compares the device's digest (lower-cased) with the digests of the
 * stored password and, when legacy is set, of its ISO-8859-1 and
 * Windows-1252 forms. All three digests are always computed.
 */
static int
auth_digest_matches(enum auth_digest kind, const char *challenge,
    const char *hex, const char *stored, size_t stored_len, int legacy)
{
	char	forms[2][USER_PASSWORD_MAX];
	size_t	form_len[2];
	char	want[3][AUTH_DIGEST_HEX];
	int	ok[3], i;

	form_len[0] = auth_encode_legacy(stored, stored_len, AUTH_LATIN1,
	    forms[0], sizeof(forms[0]));
	form_len[1] = auth_encode_legacy(stored, stored_len, AUTH_CP1252,
	    forms[1], sizeof(forms[1]));
	auth_digest_hex(kind, challenge, stored, stored_len, want[0]);
	for (i = 0; i < 2; i++)
		auth_digest_hex(kind, challenge, forms[i], form_len[i],
		    want[i + 1]);
	for (i = 0; i < 3; i++)
		ok[i] = ct_equal(hex, AUTH_DIGEST_HEX, want[i],
		    AUTH_DIGEST_HEX);
	plat_wipe(forms, sizeof(forms));
	plat_wipe(want, sizeof(want));

	if (ok[0])
		return 1;
	return legacy && ((ok[1] && form_len[0] > 0) ||
	    (ok[2] && form_len[1] > 0));
}

int
auth_check_digest(struct userdb *db, enum auth_digest kind,
    const char *login, const char *challenge, const char *hex,
    size_t hex_len, struct user *u)
{
	const char	*stored = auth_dummy_password;
	size_t		 stored_len = sizeof(auth_dummy_password) - 1, i;
	char		 lower[AUTH_DIGEST_HEX];
	int		 found = 0, legacy = 0, equal, valid = 1;

	memset(u, 0, sizeof(*u));
	memset(lower, 0, sizeof(lower));
	if (hex_len != AUTH_DIGEST_HEX)
		valid = 0;
	for (i = 0; valid && i < AUTH_DIGEST_HEX; i++) {
		lower[i] = hex[i] >= 'A' && hex[i] <= 'F' ?
		    (char)(hex[i] - 'A' + 'a') : hex[i];
	}
	if (login != NULL && login[0] != '\0' &&
	    strlen(login) < USER_LOGIN_MAX &&
	    userdb_get(db, login, u, NULL) == EXO_OK) {
		found = 1;
		stored = u->password;
		stored_len = strnlen(u->password, sizeof(u->password));
		legacy = u->accept_legacy_charset;
	}

	equal = auth_digest_matches(kind, challenge, lower, stored,
	    stored_len, legacy);
	if (found && valid && equal && stored_len > 0)
		return EXO_OK;

	plat_wipe(u, sizeof(*u));
	return EXO_ERR_AUTH;
}
