/*
 * smtp.h: what the SMTP device session (smtp-session.c), the upstream
 * client (smtp-upstream.c) and the DATA normalizer (smtp-data.c) share.
 */
#ifndef EXO_SMTP_H
#define EXO_SMTP_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "stream.h"
#include "token.h"
#include "users.h"
#include "util.h"

/*
 * Maximum command or reply line, CRLF included (RFC 5321 4.5.3.1.4 and
 * 4.5.3.1.5).
 */
#define SMTP_LINE_MAX 512
/* Maximum reverse-path or forward-path, brackets included (4.5.3.1.3). */
#define SMTP_PATH_MAX 256
/* Maximum lines kept of one upstream reply; later ones are dropped. */
#define SMTP_REPLY_LINES_MAX 24
/* Maximum upstream reply line read before the rest is discarded. */
#define SMTP_REPLY_READ_MAX 4096

/* ---- smtp-data.c: the DATA normalizer ---- */

/*
 * Turns the bytes a device sends after its DATA command into the bytes sent
 * upstream, chunk by chunk, holding at most two bytes between calls:
 *   - a lone LF or a lone CR becomes CRLF; every other byte is unchanged;
 *   - only CRLF "." CRLF ends the data (RFC 5321 4.1.1.4), where the CRLF
 *     of the DATA command counts as the first one;
 *   - a line that starts after a CRLF the device sent is passed unchanged,
 *     because the device has done its own dot-stuffing. The one exception
 *     is a lone "." ended by a lone LF or CR, which gets a second ".";
 *   - a line that starts after a line end this step made, and begins
 *     with ".", gets an extra "." so the recipient sees the device's text.
 * The output ends with the terminating ".\r\n" once the end is found.
 */
struct smtp_data {
	int			state;
	unsigned long long	bytes_in;	/* device bytes consumed */
	unsigned long long	bytes_out;	/* bytes produced, end mark excluded */
};

/* Output room that smtp_data_feed needs for len input bytes. */
#define SMTP_DATA_OUT_MAX(len) (2 * (size_t)(len) + 8)

void smtp_data_init(struct smtp_data *d);

/*
 * Consumes input up to and including the end of the data, writing the
 * normalized bytes to out, which must hold SMTP_DATA_OUT_MAX(len) bytes.
 * Returns the number of input bytes consumed (less than len only when the
 * end was found), and stores the output length in *out_len.
 */
size_t smtp_data_feed(struct smtp_data *d, const void *in, size_t len,
    char *out, size_t *out_len);

/* 1 once the terminating CRLF "." CRLF has been consumed. */
int smtp_data_done(const struct smtp_data *d);

/* ---- smtp-rewrite.c: sender and charset fix-ups in DATA ---- */

/* Maximum header field buffered for rewriting; longer ones pass as is. */
#define SMTP_HEADER_FIELD_MAX 8192
/* Longest MIME part held while its ISO-2022-JP-2 text is checked. */
#define SMTP_HOLD_MAX (64 * 1024)

struct smtp_rewrite_opts {
	const char	*mailbox;	/* new From; "" or NULL: no rewrite */
	int		 encode_utf8;	/* raw UTF-8 header values: RFC 2047 */
	int		 relabel_jp;	/* ISO-2022-JP-2 -> ISO-2022-JP */
};

/* The changes of one message's rewrite, for the log. */
struct smtp_rewrite_report {
	int	from_seen;		/* the header had a From field */
	int	from_rewritten;
	char	old_from[SMTP_PATH_MAX];	/* address before the rewrite */
	int	utf8_encoded;		/* fields turned into encoded words */
	int	utf8_skipped;		/* fields with 8-bit bytes left as is */
	int	relabeled;		/* ISO-2022-JP-2 labels changed */
	int	relabel_kept;		/* labels kept: other escapes, encoded
					 * or too long to check */
};

struct smtp_rewrite;

/*
 * Creates the stage for one message; NULL when out of memory. With
 * mailbox set, the first From field's address becomes the mailbox when
 * it differs (ignoring case): in "phrase <addr>" only addr changes, and
 * a phrase containing "@" is dropped. encode_utf8 turns raw UTF-8 values
 * of the message header into folded RFC 2047 "B" words of at most 75
 * bytes. relabel_jp changes ISO-2022-JP-2 to ISO-2022-JP in Content-Type
 * fields and encoded words whose text uses only the escape sequences of
 * ISO-2022-JP (RFC 1468). Every other byte is unchanged.
 */
struct smtp_rewrite *smtp_rewrite_new(const struct smtp_rewrite_opts *opts);

/*
 * Consumes normalized data (smtp_data_feed's output) and appends the
 * result to out. Bytes after the end mark are ignored. Returns 0 or
 * EXO_ERR_NOMEM.
 */
int smtp_rewrite_feed(struct smtp_rewrite *r, const char *in, size_t len,
    struct buf *out);

const struct smtp_rewrite_report *smtp_rewrite_report(
    const struct smtp_rewrite *r);
void smtp_rewrite_free(struct smtp_rewrite *r);

/* ---- smtp-upstream.c: the SMTP client towards Exchange Online ---- */

/* One reply of the upstream server, every line ending in CRLF. */
struct smtp_reply {
	int	code;			/* 3 digits; 0 when none was read */
	char	enhanced[16];		/* "5.7.139", or "" when absent */
	char	text[SMTP_REPLY_LINES_MAX * SMTP_LINE_MAX + 1];
	size_t	len;
	char	first[SMTP_LINE_MAX];	/* first line without CRLF, for logs */
};

struct smtp_upstream;

/*
 * Opens an SMTP session for lease: connects to the upstream of s (the
 * personal one when lease->personal), reads the greeting, sends EHLO
 * hostname, STARTTLS, EHLO again in TLS 1.2 (certificate checked against
 * trust and the host name) and logs in with AUTH XOAUTH2 in two steps, so
 * no command line passes 512 octets (RFC 4954 4). Returns:
 *   EXO_OK            *out is ready for a mail transaction;
 *   EXO_ERR_AUTH      the server rejected the login, and *reply contains
 *                     its final reply;
 *   EXO_ERR_UPSTREAM  the server refused an earlier step (421 after
 *                     STARTTLS, no STARTTLS offered), in *reply;
 *   EXO_ERR_CONNECT, EXO_ERR_RESOLVE, EXO_ERR_TIMEOUT, EXO_ERR_TLS,
 *   EXO_ERR_CLOSED, EXO_ERR_PROTO, EXO_ERR_NOMEM; e names the host and
 *   the step. reply->code is 0 when no reply was involved.
 * The XOAUTH2 line is wiped after it is sent and never logged.
 */
int smtp_upstream_open(const struct settings *s,
    const struct trust_store *trust, const struct token_lease *lease,
    const char *hostname, struct smtp_upstream **out,
    struct smtp_reply *reply, struct exo_error *e);

/*
 * Before connecting, smtp_upstream_open waits up to 25 seconds for one of
 * the max_upstream_per_mailbox connections of lease->mailbox (compared
 * case-insensitively) and fails with EXO_ERR_BUSY when none came free;
 * smtp_upstream_close gives it back. Returns the connections of mailbox
 * open now, for tests and the screen.
 */
int smtp_upstream_in_use(const char *mailbox);

/*
 * Sends one command line (without CRLF) and reads the reply. Returns
 * EXO_OK with any reply code, or the stream's error when the connection
 * failed (EXO_ERR_CLOSED, EXO_ERR_IO, EXO_ERR_TIMEOUT, EXO_ERR_TLS,
 * EXO_ERR_PROTO).
 */
int smtp_upstream_command(struct smtp_upstream *u, const char *line,
    struct smtp_reply *reply);

/*
 * Reads one reply, joining continuation lines and cutting each line to
 * SMTP_LINE_MAX octets (code and enhanced code kept). timeout_ms changes
 * the stream's timeout for this reply and later ones.
 */
int smtp_upstream_read_reply(struct smtp_upstream *u, int timeout_ms,
    struct smtp_reply *reply);

/* Buffered raw write and flush, for message data. */
int smtp_upstream_write(struct smtp_upstream *u, const void *buf,
    size_t len);
int smtp_upstream_flush(struct smtp_upstream *u);

/* The upstream's SIZE limit (0 when it sent none) and 8BITMIME. */
long long smtp_upstream_size(const struct smtp_upstream *u);
int smtp_upstream_8bitmime(const struct smtp_upstream *u);
/* "host:port" of the connection, for logs. */
const char *smtp_upstream_name(const struct smtp_upstream *u);

/*
 * Closes the connection, after a QUIT and a short wait for its reply when
 * quit != 0. NULL is allowed.
 */
void smtp_upstream_close(struct smtp_upstream *u, int quit);

/*
 * Returns the likely cause and fix of a rejected XOAUTH2 login, chosen by
 * the reply's enhanced status code, as one English sentence.
 */
const char *smtp_upstream_auth_hint(const struct smtp_reply *reply);

/* 1 for an enhanced code after which a retry with a new token may help. */
int smtp_upstream_auth_retryable(const struct smtp_reply *reply);

/*
 * Parses one reply line: the code, whether more lines follow, and the
 * enhanced status code after it. Returns EXO_ERR_PROTO for a line that
 * does not start with three digits followed by " ", "-" or the line end.
 */
int smtp_reply_parse_line(const char *line, size_t len, int *code,
    int *more, char enhanced[16]);

#ifdef EXO_TEST_SEAMS
/*
 * Replaces the token manager calls of the SMTP session, so unit tests can
 * hand out leases and count refreshes without a token endpoint. NULL
 * restores the real token manager.
 */
struct smtp_test_tokens {
	int	(*get)(const char *login, int force, struct token_lease *out,
		    struct exo_error *e);
	void	(*rejected)(const char *login, const char *code,
		    const char *reason);
	void	(*success)(const char *login);
};
void smtp_test_set_tokens(const struct smtp_test_tokens *t);
#endif

#endif
