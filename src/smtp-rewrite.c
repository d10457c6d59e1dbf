/*
 * smtp-rewrite.c: the header-aware stage between the DATA normalizer
 * (smtp-data.c) and the upstream, for the per-user sender and charset
 * fix-ups. Its input is the normalizer's output: CRLF line ends,
 * dot-stuffed, ended by ".\r\n".
 *
 * The stage keeps the streaming. It buffers one header field at a time,
 * up to SMTP_HEADER_FIELD_MAX bytes, and passes a longer one unchanged.
 * While it checks a text labelled ISO-2022-JP-2, it buffers that MIME
 * part, up to SMTP_HOLD_MAX bytes, and a longer part keeps its label.
 * Every byte it does not rewrite passes unchanged.
 *
 * The top-level header ends at the first empty line (RFC 5322 section
 * 2.1). A body line that starts with "--" is taken as a MIME boundary
 * (RFC 2046 section 5.1.1), after which a part header follows, in which
 * only the ISO-2022-JP-2 label is fixed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"
#include "util.h"

/* Bytes of UTF-8 text in one encoded word: 60 base64 characters, so the
 * word "=?UTF-8?B?...?=" has 72 of the 75 that RFC 2047 allows. */
#define RW_WORD_BYTES 45
/* Labels changed in one held part (Content-Type fields). */
#define RW_LABELS_MAX 8

enum rw_phase {
	RW_HEADER,		/* the message's own header */
	RW_BODY,
	RW_PART_HEADER,		/* header of a MIME part */
	RW_DONE,		/* after the end mark */
};

struct smtp_rewrite {
	struct smtp_rewrite_opts	opts;
	char				mailbox[USER_MAILBOX_MAX];
	struct smtp_rewrite_report	rep;
	enum rw_phase			phase;

	/* Header phases: the field being collected. */
	char		field[SMTP_HEADER_FIELD_MAX];
	size_t		field_len;
	int		field_overflow;	/* too long: passed unchanged */
	int		hdr_bol;	/* at the start of a header line */
	int		block_encoded;	/* part is base64 or quoted-printable */

	/* Body: the first bytes of the current line. */
	int		body_bol;
	size_t		line_len;
	char		line_first, line_second;

	/* A MIME part labelled ISO-2022-JP-2, held while it is checked. */
	int		holding;
	struct buf	hold;
	size_t		label_at[RW_LABELS_MAX];	/* offsets of "-2" */
	int		labels;
	int		hold_bad;	/* an escape beyond ISO-2022-JP */
	int		esc;		/* escape sequence state */
	int		failed;		/* out of memory */
};

/* ---- output ---- */

static void	rw_hold_end(struct smtp_rewrite *, struct buf *);

static void
rw_emit(struct smtp_rewrite *r, const void *p, size_t n, struct buf *out)
{
	if (r->holding && r->hold.len + n > SMTP_HOLD_MAX) {
		/* Too long to check: the label stays. */
		r->hold_bad = 1;
		rw_hold_end(r, out);
	}
	if (buf_append(r->holding ? &r->hold : out, p, n) != EXO_OK)
		r->failed = 1;
}

/*
 * Escape sequences of ISO-2022-JP (RFC 1468): ESC ( B, ESC ( J, ESC $ @
 * and ESC $ B. ISO-2022-JP-2 (RFC 1554) adds others, such as ESC $ A and
 * ESC . A, after which the label must stay.
 */
static void
rw_scan_escape(int *esc, int *bad, unsigned char c)
{
	switch (*esc) {
	case 0:
		if (c == 0x1b)
			*esc = 1;
		return;
	case 1:
		if (c == '(' || c == '$') {
			*esc = c == '(' ? 2 : 3;
			return;
		}
		*bad = 1;
		break;
	case 2:
		if (c != 'B' && c != 'J')
			*bad = 1;
		break;
	default:
		if (c != '@' && c != 'B')
			*bad = 1;
		break;
	}
	*esc = 0;
}

/* Ends a hold: removes the "-2" of each label when the text allows. */
static void
rw_hold_end(struct smtp_rewrite *r, struct buf *out)
{
	int	i;

	if (!r->holding)
		return;
	r->holding = 0;
	if (!r->hold_bad && !r->block_encoded && r->esc == 0) {
		for (i = r->labels - 1; i >= 0; i--) {
			memmove(r->hold.data + r->label_at[i],
			    r->hold.data + r->label_at[i] + 2,
			    r->hold.len - r->label_at[i] - 2);
			r->hold.len -= 2;
		}
		r->rep.relabeled += r->labels;
	} else
		r->rep.relabel_kept += r->labels;
	if (buf_append(out, r->hold.data, r->hold.len) != EXO_OK)
		r->failed = 1;
	r->hold.len = 0;
	r->labels = 0;
	r->hold_bad = 0;
	r->esc = 0;
}

/* ---- header fields ---- */

/* Returns 1 when the field in f (len bytes) has the name name. */
static int
rw_field_is(const char *f, size_t len, const char *name)
{
	size_t	n = strlen(name);

	return len > n && f[n] == ':' && str_ncasecmp(f, name, n) == 0;
}

/* Returns the offset of text in p (len bytes), ignoring ASCII case. */
static long
rw_find_case(const char *p, size_t len, const char *text)
{
	size_t	n = strlen(text), i;

	for (i = 0; i + n <= len; i++)
		if (str_ncasecmp(p + i, text, n) == 0)
			return (long)i;
	return -1;
}

/* 1 when s (len bytes) is valid UTF-8 with at least one 8-bit byte. */
static int
rw_utf8_8bit(const unsigned char *s, size_t len)
{
	size_t	i = 0, n, k;
	int	high = 0;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		high = 1;
		if ((s[i] & 0xe0) == 0xc0 && s[i] >= 0xc2)
			n = 2;
		else if ((s[i] & 0xf0) == 0xe0)
			n = 3;
		else if ((s[i] & 0xf8) == 0xf0 && s[i] <= 0xf4)
			n = 4;
		else
			return 0;
		if (i + n > len)
			return 0;
		for (k = 1; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		i += n;
	}
	return high;
}

static int
rw_has_8bit(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/*
 * Appends text (valid UTF-8) as RFC 2047 "B" encoded words of at most
 * RW_WORD_BYTES bytes each, never splitting a character, folded with
 * CRLF SP between words.
 */
static int
rw_put_words(struct buf *b, const char *text, size_t len)
{
	char	b64[base64_encoded_len(RW_WORD_BYTES) + 1];
	size_t	pos = 0, n;
	int	rc = 0;

	while (pos < len && rc == 0) {
		n = len - pos < RW_WORD_BYTES ? len - pos : RW_WORD_BYTES;
		/* Step back to the start of a character. */
		while (pos + n < len && n > 0 &&
		    ((unsigned char)text[pos + n] & 0xc0) == 0x80)
			n--;
		base64_encode(text + pos, n, b64);
		if (pos > 0)
			rc = buf_puts(b, "\r\n ");
		if (rc == 0)
			rc = buf_printf(b, "=?UTF-8?B?%s?=", b64);
		pos += n;
	}
	return rc;
}

/* Names of fields that contain addresses (RFC 5322 section 3.6). */
static const char *const rw_address_fields[] = {
	"From", "To", "Cc", "Bcc", "Reply-To", "Sender", NULL,
};

/* Names of structured fields whose 8-bit bytes stay as they are. */
static const char *const rw_structured_fields[] = {
	"Content-Type", "Content-Disposition", "Content-Transfer-Encoding",
	"Content-ID", "MIME-Version", "Message-ID", "In-Reply-To",
	"References", "Date", "Received", "Return-Path", NULL,
};

static int
rw_name_in(const char *f, size_t len, const char *const *names)
{
	int	i;

	for (i = 0; names[i] != NULL; i++)
		if (rw_field_is(f, len, names[i]))
			return 1;
	return 0;
}

/*
 * Copies the unfolded value of field f into v: after the colon and the
 * white space, without line ends. Returns its length.
 */
static size_t
rw_unfold_value(const char *f, size_t len, char *v)
{
	const char	*colon = memchr(f, ':', len);
	size_t		 i, n = 0;

	i = (size_t)(colon - f) + 1;
	while (i < len && (f[i] == ' ' || f[i] == '\t'))
		i++;
	for (; i < len; i++)
		if (f[i] != '\r' && f[i] != '\n')
			v[n++] = f[i];
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return n;
}

/* Trims white space and one pair of surrounding quotes from a phrase. */
static void
rw_trim_phrase(const char **p, size_t *n)
{
	while (*n > 0 && (**p == ' ' || **p == '\t'))
		(*p)++, (*n)--;
	while (*n > 0 && ((*p)[*n - 1] == ' ' || (*p)[*n - 1] == '\t'))
		(*n)--;
	if (*n >= 2 && **p == '"' && (*p)[*n - 1] == '"')
		(*p)++, *n -= 2;
}

/*
 * Encodes the display names of an address list v: each entry is
 * "phrase <addr>" or an address alone. Returns 1 when 8-bit bytes sit
 * anywhere but in a phrase, so the field must stay as it is.
 */
static int
rw_encode_addresses(const char *v, size_t len, struct buf *b)
{
	const char	*entry, *lt, *phrase;
	size_t		 start = 0, i, n, plen;
	int		 quoted = 0, angle = 0, rc = 0, count = 0;

	for (i = 0; i <= len && rc == 0; i++) {
		if (i < len && v[i] == '"')
			quoted = !quoted;
		else if (i < len && !quoted && v[i] == '<')
			angle = 1;
		else if (i < len && !quoted && v[i] == '>')
			angle = 0;
		if (i < len && (quoted || angle || v[i] != ','))
			continue;

		/* One entry: v[start, i) without its leading white space. */
		entry = v + start;
		n = i - start;
		while (n > 0 && (*entry == ' ' || *entry == '\t'))
			entry++, n--;
		start = i + 1;
		if (count++ > 0 && (rc = buf_puts(b, ",\r\n ")) != 0)
			break;
		lt = memchr(entry, '<', n);
		phrase = entry;
		plen = lt != NULL ? (size_t)(lt - entry) : 0;
		rw_trim_phrase(&phrase, &plen);
		if (lt == NULL || !rw_has_8bit(phrase, plen)) {
			if (rw_has_8bit(entry, n))
				return 1;
			rc = buf_append(b, entry, n);
			continue;
		}
		if (rw_has_8bit(lt, (size_t)(entry + n - lt)))
			return 1;
		rc = rw_put_words(b, phrase, plen);
		if (rc == 0)
			rc = buf_puts(b, " ");
		if (rc == 0)
			rc = buf_append(b, lt, (size_t)(entry + n - lt));
	}
	return rc;
}

/*
 * Turns raw UTF-8 in the field's value into encoded words: the whole
 * value of an unstructured field, the display names of an address field.
 * Other 8-bit values stay and are counted in utf8_skipped.
 */
static int
rw_encode_field(struct smtp_rewrite *r)
{
	struct buf	 b;
	char		*v;
	size_t		 vlen, nlen;
	int		 rc;

	if (!rw_has_8bit(r->field, r->field_len))
		return 0;
	if (rw_name_in(r->field, r->field_len, rw_structured_fields)) {
		r->rep.utf8_skipped++;
		return 0;
	}
	if ((v = malloc(r->field_len)) == NULL)
		return EXO_ERR_NOMEM;
	vlen = rw_unfold_value(r->field, r->field_len, v);
	if (!rw_utf8_8bit((unsigned char *)v, vlen)) {
		free(v);
		r->rep.utf8_skipped++;
		return 0;
	}

	buf_init(&b);
	nlen = (size_t)((char *)memchr(r->field, ':', r->field_len) -
	    r->field);
	rc = buf_append(&b, r->field, nlen);
	if (rc == 0)
		rc = buf_puts(&b, ": ");
	if (rc == 0 && rw_name_in(r->field, r->field_len, rw_address_fields))
		rc = rw_encode_addresses(v, vlen, &b);
	else if (rc == 0)
		rc = rw_put_words(&b, v, vlen);
	if (rc == 0)
		rc = buf_puts(&b, "\r\n");
	if (rc == 0 && b.len <= sizeof(r->field)) {
		memcpy(r->field, b.data, b.len);
		r->field_len = b.len;
		r->rep.utf8_encoded++;
	} else
		r->rep.utf8_skipped++;
	free(v);
	buf_free(&b);
	return rc == EXO_ERR_NOMEM ? rc : 0;
}

/* Replaces len bytes at off of the field with text. */
static int
rw_splice(struct smtp_rewrite *r, size_t off, size_t len, const char *text)
{
	size_t	n = strlen(text);

	if (r->field_len - len + n > sizeof(r->field))
		return -1;
	memmove(r->field + off + n, r->field + off + len,
	    r->field_len - off - len);
	memcpy(r->field + off, text, n);
	r->field_len = r->field_len - len + n;
	return 0;
}

/*
 * Puts the mailbox in the From field (RFC 5322 section 3.6.2) when its
 * address differs, ignoring case. In "phrase <addr>" only addr changes,
 * and a phrase that contains "@" is dropped. A bare address is replaced.
 */
static void
rw_rewrite_from(struct smtp_rewrite *r)
{
	char	*f = r->field, *colon, *lt, *gt, *end, *p;
	size_t	 len = r->field_len, alen;
	int	 quoted = 0;

	colon = memchr(f, ':', len);
	end = f + len;
	for (lt = colon + 1; lt < end; lt++) {
		if (*lt == '"')
			quoted = !quoted;
		else if (*lt == '<' && !quoted)
			break;
	}
	if (lt < end && (gt = memchr(lt, '>', (size_t)(end - lt))) != NULL) {
		alen = (size_t)(gt - lt - 1);
		if (alen == strlen(r->mailbox) &&
		    str_ncasecmp(lt + 1, r->mailbox, alen) == 0)
			return;
		snprintf(r->rep.old_from, sizeof(r->rep.old_from), "%.*s",
		    (int)alen, lt + 1);
		if (rw_splice(r, (size_t)(lt + 1 - f), alen, r->mailbox) != 0)
			return;
		if (memchr(colon + 1, '@', (size_t)(lt - colon - 1)) != NULL)
			rw_splice(r, (size_t)(colon + 1 - f),
			    (size_t)(lt - colon - 1), " ");
		r->rep.from_rewritten = 1;
		return;
	}

	/* A bare address: the word that contains "@". */
	for (p = colon + 1; p < end; p++) {
		char	*w = p;

		while (p < end && *p != ' ' && *p != '\t' && *p != '\r' &&
		    *p != '(')
			p++;
		if (memchr(w, '@', (size_t)(p - w)) == NULL)
			continue;
		alen = (size_t)(p - w);
		if (alen == strlen(r->mailbox) &&
		    str_ncasecmp(w, r->mailbox, alen) == 0)
			return;
		snprintf(r->rep.old_from, sizeof(r->rep.old_from), "%.*s",
		    (int)alen, w);
		if (rw_splice(r, (size_t)(w - f), alen, r->mailbox) == 0)
			r->rep.from_rewritten = 1;
		return;
	}
}

static int
rw_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * 1 when the text of an encoded word ("B" or "Q", RFC 2047 section 4)
 * decodes to ISO-2022-JP: only its four escape sequences.
 */
static int
rw_word_is_jp(char enc, const char *text, size_t len)
{
	char	*dec;
	long	 n = 0;
	size_t	 i;
	int	 esc = 0, bad = 0, hi, lo;

	if ((dec = malloc(len + 1)) == NULL)
		return 0;
	if (enc == 'B' || enc == 'b')
		n = base64_decode(text, len, dec, len + 1, 0);
	else {
		for (i = 0; i < len; i++) {
			if (text[i] == '=' && i + 2 < len &&
			    (hi = rw_hex(text[i + 1])) >= 0 &&
			    (lo = rw_hex(text[i + 2])) >= 0) {
				dec[n++] = (char)(hi * 16 + lo);
				i += 2;
			} else
				dec[n++] = text[i] == '_' ? ' ' : text[i];
		}
	}
	for (i = 0; n > 0 && i < (size_t)n; i++)
		rw_scan_escape(&esc, &bad, (unsigned char)dec[i]);
	free(dec);
	return n >= 0 && !bad && esc == 0;
}

/*
 * Fixes the ISO-2022-JP-2 label in the encoded words of the field
 * (RFC 2047 section 2), and starts holding the part when the field is a
 * Content-Type with that charset. The offsets of the labels in the field
 * go to label_at from the index it returns.
 */
static int
rw_relabel_field(struct smtp_rewrite *r, struct buf *out)
{
	static const char	 label[] = "=?ISO-2022-JP-2?";
	char			*p, *text, *close;
	long			 at;
	size_t			 from = 0;

	while ((at = rw_find_case(r->field + from, r->field_len - from,
	    label)) >= 0) {
		p = r->field + from + at;
		from += (size_t)at + sizeof(label) - 1;
		text = p + sizeof(label) - 1;
		if (text + 2 > r->field + r->field_len || text[1] != '?')
			continue;
		close = text + 2;
		while (close + 1 < r->field + r->field_len &&
		    !(close[0] == '?' && close[1] == '='))
			close++;
		if (close + 1 >= r->field + r->field_len)
			continue;
		if (rw_word_is_jp(text[0], text + 2,
		    (size_t)(close - text - 2))) {
			memmove(text - 3, text - 1,
			    r->field_len - (size_t)(text - 1 - r->field));
			r->field_len -= 2;
			from -= 2;
			r->rep.relabeled++;
		} else
			r->rep.relabel_kept++;
	}

	if (!rw_field_is(r->field, r->field_len, "Content-Type") ||
	    rw_find_case(r->field, r->field_len, "ISO-2022-JP-2") < 0)
		return r->labels;
	if (r->holding) {
		/* One part at a time: the earlier one ends here. */
		rw_hold_end(r, out);
	}
	r->holding = 1;
	r->hold.len = 0;
	r->labels = 0;
	from = 0;
	while (r->labels < RW_LABELS_MAX && (at = rw_find_case(r->field +
	    from, r->field_len - from, "ISO-2022-JP-2")) >= 0) {
		/* The "-2" after the 11 bytes of "ISO-2022-JP". */
		r->label_at[r->labels++] = from + (size_t)at + 11;
		from += (size_t)at + 13;
	}
	return 0;
}

/* Rewrites and emits the collected field. */
static void
rw_finish_field(struct smtp_rewrite *r, struct buf *out)
{
	size_t	base;
	int	i, first = r->labels;

	if (r->field_len == 0 || r->field_overflow) {
		r->field_len = 0;
		r->field_overflow = 0;
		return;
	}
	if (memchr(r->field, ':', r->field_len) != NULL) {
		if (r->phase == RW_HEADER && r->mailbox[0] != '\0' &&
		    !r->rep.from_seen && rw_field_is(r->field, r->field_len,
		    "From")) {
			r->rep.from_seen = 1;
			rw_rewrite_from(r);
		}
		if (r->phase == RW_HEADER && r->opts.encode_utf8 &&
		    rw_encode_field(r) != 0)
			r->failed = 1;
		if (rw_field_is(r->field, r->field_len,
		    "Content-Transfer-Encoding") &&
		    (rw_find_case(r->field, r->field_len, "base64") >= 0 ||
		    rw_find_case(r->field, r->field_len, "quoted") >= 0))
			r->block_encoded = 1;
		if (r->opts.relabel_jp)
			first = rw_relabel_field(r, out);
	}
	base = r->hold.len;
	rw_emit(r, r->field, r->field_len, out);
	/* The new labels' offsets were relative to the field. */
	for (i = first; r->holding && i < r->labels; i++)
		r->label_at[i] += base;
	r->field_len = 0;
}

/* Consumes header bytes; returns how many. */
static size_t
rw_header(struct smtp_rewrite *r, const char *in, size_t len,
    struct buf *out)
{
	size_t	i;
	char	c;

	for (i = 0; i < len && r->phase != RW_BODY && r->phase != RW_DONE;
	    i++) {
		c = in[i];
		if (r->hdr_bol && c != ' ' && c != '\t')
			rw_finish_field(r, out);
		r->hdr_bol = 0;

		if (r->field_overflow)
			rw_emit(r, &c, 1, out);
		else if (r->field_len == sizeof(r->field)) {
			/* Too long to rewrite: it passes unchanged. */
			rw_emit(r, r->field, r->field_len, out);
			rw_emit(r, &c, 1, out);
			r->field_overflow = 1;
		} else
			r->field[r->field_len++] = c;
		if (c != '\n')
			continue;

		r->hdr_bol = 1;
		if (!r->field_overflow && r->field_len == 2) {
			/* The empty line: the body follows. */
			rw_emit(r, "\r\n", 2, out);
			r->field_len = 0;
			r->phase = RW_BODY;
			r->body_bol = 1;
		} else if (!r->field_overflow && r->field_len == 3 &&
		    r->field[0] == '.') {
			rw_emit(r, ".\r\n", 3, out);
			r->field_len = 0;
			rw_hold_end(r, out);
			r->phase = RW_DONE;
		}
	}
	return i;
}

/*
 * Consumes body bytes when no part header needs a look (no relabel_jp):
 * only the end mark ends the body, so the search jumps from line end to
 * line end and the bytes pass as one block.
 */
static size_t
rw_body_plain(struct smtp_rewrite *r, const char *in, size_t len,
    struct buf *out)
{
	const char	*nl;
	size_t		 i = 0, n;

	while (i < len) {
		if (r->body_bol) {
			r->body_bol = 0;
			r->line_len = 0;
			r->line_first = in[i];
		}
		nl = memchr(in + i, '\n', len - i);
		n = nl == NULL ? len - i : (size_t)(nl - (in + i)) + 1;
		r->line_len += n;
		i += n;
		if (nl == NULL)
			break;
		r->body_bol = 1;
		if (r->line_len == 3 && r->line_first == '.') {
			rw_emit(r, in, i, out);
			r->phase = RW_DONE;
			return i;
		}
	}
	rw_emit(r, in, len, out);
	return len;
}

/* Consumes body bytes; returns how many. */
static size_t
rw_body(struct smtp_rewrite *r, const char *in, size_t len, struct buf *out)
{
	size_t	i, start = 0;
	char	c;

	if (!r->opts.relabel_jp)
		return rw_body_plain(r, in, len, out);
	for (i = 0; i < len; i++) {
		c = in[i];
		if (r->body_bol) {
			r->body_bol = 0;
			r->line_len = 0;
			r->line_first = c;
			r->line_second = '\0';
		}
		if (++r->line_len == 2)
			r->line_second = c;
		if (r->holding)
			rw_scan_escape(&r->esc, &r->hold_bad, (unsigned char)c);
		if (c != '\n')
			continue;

		r->body_bol = 1;
		if (r->line_len == 3 && r->line_first == '.') {
			rw_emit(r, in + start, i + 1 - start, out);
			rw_hold_end(r, out);
			r->phase = RW_DONE;
			return i + 1;
		}
		if (r->line_first == '-' && r->line_second == '-') {
			rw_emit(r, in + start, i + 1 - start, out);
			rw_hold_end(r, out);
			r->phase = RW_PART_HEADER;
			r->hdr_bol = 1;
			r->block_encoded = 0;
			return i + 1;
		}
	}
	rw_emit(r, in + start, len - start, out);
	return len;
}

/* ---- interface ---- */

struct smtp_rewrite *
smtp_rewrite_new(const struct smtp_rewrite_opts *opts)
{
	struct smtp_rewrite	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->opts = *opts;
	if (opts->mailbox != NULL)
		str_copy(r->mailbox, opts->mailbox, sizeof(r->mailbox));
	r->opts.mailbox = r->mailbox;
	r->phase = RW_HEADER;
	r->hdr_bol = 1;
	buf_init(&r->hold);
	return r;
}

int
smtp_rewrite_feed(struct smtp_rewrite *r, const char *in, size_t len,
    struct buf *out)
{
	size_t	n;

	while (len > 0 && r->phase != RW_DONE && !r->failed) {
		if (r->phase == RW_BODY)
			n = rw_body(r, in, len, out);
		else
			n = rw_header(r, in, len, out);
		in += n;
		len -= n;
	}
	return r->failed ? EXO_ERR_NOMEM : EXO_OK;
}

const struct smtp_rewrite_report *
smtp_rewrite_report(const struct smtp_rewrite *r)
{
	return &r->rep;
}

void
smtp_rewrite_free(struct smtp_rewrite *r)
{
	if (r == NULL)
		return;
	buf_free(&r->hold);
	free(r);
}
