/*
 * test-smtp-data.c: the DATA normalizer of smtp-data.c, fed whole, byte by
 * byte and in random chunks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/smtp.h"
#include "../../src/util.h"
#include "test.h"

/* Result of feeding one input: output bytes and where the data ended. */
struct fed {
	char	*out;
	size_t	 len;
	size_t	 consumed;	/* input bytes consumed in total */
	int	 done;
};

static void
fed_free(struct fed *f)
{
	free(f->out);
	memset(f, 0, sizeof(*f));
}

/*
 * Feeds in[0..len) in chunks whose sizes come from sizes (cycled; 0 means
 * the whole input at once) and stops feeding once the data ended.
 */
static struct fed
feed_chunks(const char *in, size_t len, const size_t *sizes, size_t nsizes)
{
	struct smtp_data	 d;
	struct fed		 f;
	char			*tmp;
	size_t			 pos = 0, k = 0;

	memset(&f, 0, sizeof(f));
	f.out = malloc(SMTP_DATA_OUT_MAX(len));
	tmp = malloc(SMTP_DATA_OUT_MAX(len));
	smtp_data_init(&d);
	while (pos < len && !smtp_data_done(&d)) {
		size_t	chunk = nsizes ? sizes[k++ % nsizes] : len;
		size_t	used, n;

		if (chunk == 0 || chunk > len - pos)
			chunk = len - pos;
		used = smtp_data_feed(&d, in + pos, chunk, tmp, &n);
		CHECK(n <= SMTP_DATA_OUT_MAX(chunk));
		memcpy(f.out + f.len, tmp, n);
		f.len += n;
		pos += used;
		if (used < chunk)
			CHECK(smtp_data_done(&d));
	}
	f.consumed = pos;
	f.done = smtp_data_done(&d);
	CHECK_INT(d.bytes_in, pos);
	CHECK_INT(d.bytes_out + (f.done ? 3 : 0), f.len);
	free(tmp);
	return (f);
}

static struct fed
feed_all(const char *in)
{
	return (feed_chunks(in, strlen(in), NULL, 0));
}

static int
fed_is(const struct fed *f, const char *expect)
{
	return (f->len == strlen(expect) && memcmp(f->out, expect, f->len) == 0);
}

TEST(bare_lf_case_bytes)
{
	const char	*in = "Subject: scan\nFrom: mfp@example.com\n\n"
	    "line one\n.\nline two\r\n.\r\n";
	const char	*expect = "Subject: scan\r\nFrom: mfp@example.com\r\n"
	    "\r\nline one\r\n..\r\nline two\r\n.\r\n";
	struct fed	 f = feed_all(in);

	CHECK(f.done);
	CHECK_INT(f.consumed, strlen(in));
	CHECK(fed_is(&f, expect));
	fed_free(&f);
}

TEST(crlf_passes_unchanged)
{
	const char	*in = "A: b\r\n\r\nbody\r\n..stuffed\r\n.\r\n";
	struct fed	 f = feed_all(in);

	CHECK(f.done);
	CHECK(fed_is(&f, in));
	fed_free(&f);
}

TEST(end_right_after_data)
{
	struct fed	f = feed_all(".\r\nMAIL FROM:<a@b>\r\n");

	CHECK(f.done);
	CHECK_INT(f.consumed, 3);
	CHECK(fed_is(&f, ".\r\n"));
	fed_free(&f);
}

TEST(lone_dot_variants_are_data)
{
	/* Each input ends with a real end mark, so all output is flushed. */
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "a\n.\nb\r\n.\r\n", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\n.\r\nb\r\n.\r\n", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\r.\rb\r\n.\r\n", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\r\n.\nb\r\n.\r\n", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\r\n.\rb\r\n.\r\n", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\r\n.\r\rb\r\n.\r\n", "a\r\n..\r\n\r\nb\r\n.\r\n" },
		{ "a\n.x\r\n.\r\n", "a\r\n..x\r\n.\r\n" },
		{ "a\n..x\r\n.\r\n", "a\r\n...x\r\n.\r\n" },
		{ "a\r\n.x\r\n.\r\n", "a\r\n.x\r\n.\r\n" },
		{ "a\r\r\n.\r\n", "a\r\n\r\n.\r\n" },
		{ "a\n\r\n.\r\n", "a\r\n\r\n.\r\n" },
		{ "\n.\r\n.\r\n", "\r\n..\r\n.\r\n" },
	};
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fed	f = feed_all(cases[i].in);

		if (!f.done || !fed_is(&f, cases[i].out))
			printf("  case %zu: got \"%.*s\"\n", i, (int)f.len,
			    f.out);
		CHECK(f.done);
		CHECK(fed_is(&f, cases[i].out));
		fed_free(&f);
	}
}

TEST(no_lone_cr_or_lf_in_output)
{
	const char	*in = "\r\r\n\n\r\n\r.\r\r\n.\n\n.\r\n.\r\n";
	struct fed	 f = feed_all(in);
	size_t		 i;

	CHECK(f.done);
	for (i = 0; i < f.len; i++) {
		if (f.out[i] == '\r') {
			CHECK(i + 1 < f.len);
			CHECK(f.out[i + 1] == '\n');
		}
		if (f.out[i] == '\n') {
			CHECK(i > 0);
			CHECK(f.out[i - 1] == '\r');
		}
	}
	fed_free(&f);
}

TEST(lone_cr_at_chunk_end)
{
	struct smtp_data	d;
	char			out[64];
	size_t			n, total = 0;
	char			all[64];

	smtp_data_init(&d);
	CHECK_INT(smtp_data_feed(&d, "ab\r", 3, out, &n), 3);
	CHECK_INT(n, 2);	/* the CR waits for the next byte */
	memcpy(all, out, n);
	total = n;
	CHECK_INT(smtp_data_feed(&d, "c\r", 2, out, &n), 2);
	memcpy(all + total, out, n);
	total += n;
	CHECK_INT(smtp_data_feed(&d, "\n.\r\n", 4, out, &n), 4);
	memcpy(all + total, out, n);
	total += n;
	CHECK(smtp_data_done(&d));
	CHECK_INT(total, 10);
	CHECK(memcmp(all, "ab\r\nc\r\n.\r\n", 10) == 0);
}

TEST(final_dot_split_everywhere)
{
	const char	*in = "x\r\n.\r\nNOOP\r\n";
	size_t		 len = strlen(in), a, b;

	/* Three chunks cut at every pair of positions. */
	for (a = 1; a < len; a++) {
		for (b = a + 1; b < len; b++) {
			size_t		sizes[3] = { a, b - a, len - b };
			struct fed	f = feed_chunks(in, len, sizes, 3);

			CHECK(f.done);
			CHECK_INT(f.consumed, 6);
			CHECK(fed_is(&f, "x\r\n.\r\n"));
			fed_free(&f);
		}
	}
}

TEST(every_split_of_sample)
{
	const char	*in = "Subject: t\nX: y\r\n\r\n.lead\n..two\r\n"
	    "\r.\r\r\nend\n.\r\r\n.\r\n";
	size_t		 len = strlen(in), cut;
	struct fed	 whole = feed_all(in);
	size_t		 one = 1;
	struct fed	 bytes = feed_chunks(in, len, &one, 1);

	CHECK(whole.done);
	CHECK(bytes.done);
	CHECK(bytes.len == whole.len &&
	    memcmp(bytes.out, whole.out, whole.len) == 0);
	for (cut = 1; cut < len; cut++) {
		size_t		sizes[2] = { cut, len };
		struct fed	f = feed_chunks(in, len, sizes, 2);

		CHECK(f.len == whole.len &&
		    memcmp(f.out, whole.out, whole.len) == 0);
		fed_free(&f);
	}
	fed_free(&bytes);
	fed_free(&whole);
}

/* A small deterministic generator, so failures repeat. */
static uint32_t
next_random(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 8);
}

TEST(random_chunks_match_whole)
{
	static const char	 alphabet[] = "\r\n.ab";
	uint32_t		 seed = 4711;
	char			 in[2048];
	size_t			 round, i, len;

	for (round = 0; round < 200; round++) {
		struct fed	whole, f;
		size_t		sizes[16];

		len = 100 + next_random(&seed) % 1800;
		for (i = 0; i < len; i++)
			in[i] = alphabet[next_random(&seed) % 5];
		/* Always end the data, so both runs see the end. */
		memcpy(in + len, "\r\n.\r\n", 5);
		len += 5;
		for (i = 0; i < 16; i++)
			sizes[i] = 1 + next_random(&seed) % 40;
		whole = feed_chunks(in, len, NULL, 0);
		f = feed_chunks(in, len, sizes, 16);
		CHECK(whole.done);
		CHECK(f.done);
		CHECK_INT(f.consumed, whole.consumed);
		CHECK(f.len == whole.len &&
		    memcmp(f.out, whole.out, whole.len) == 0);
		fed_free(&whole);
		fed_free(&f);
	}
}

/*
 * Mail-like lines: mostly CRLF line ends, some bare LF or CR, some lines
 * starting with ".", and runs of ordinary lines that the normalizer
 * copies as whole blocks. Fed at once and in random chunks, the output
 * must match the output of one byte at a time, which never takes the
 * block path.
 */
TEST(ordinary_lines_match_byte_at_a_time)
{
	static const char *const ends[] = { "\r\n", "\r\n", "\r\n", "\n",
	    "\r" };
	uint32_t	 seed = 1234;
	char		*in = malloc(40000);
	size_t		 round, i, len, one = 1;

	for (round = 0; round < 40; round++) {
		struct fed	whole, bytes, chunks;
		size_t		sizes[8];

		len = 0;
		while (len < 30000) {
			size_t	n = next_random(&seed) % 90;
			int	kind = (int)(next_random(&seed) % 20);

			/* No lone "." line: the data would end there. */
			if (kind <= 1 && n == 0)
				n = 1;

			if (kind == 0)
				in[len++] = '.';
			for (i = 0; i < n; i++)
				in[len++] = (char)('a' + next_random(&seed) %
				    26);
			if (kind == 1)
				in[len++] = '.';
			memcpy(in + len, ends[next_random(&seed) % 5], 2);
			len += in[len] == '\r' && in[len + 1] == '\n' ? 2 : 1;
		}
		memcpy(in + len, "\r\n.\r\n", 5);
		len += 5;
		for (i = 0; i < 8; i++)
			sizes[i] = 1 + next_random(&seed) % 9000;
		whole = feed_chunks(in, len, NULL, 0);
		bytes = feed_chunks(in, len, &one, 1);
		chunks = feed_chunks(in, len, sizes, 8);
		CHECK(whole.done);
		CHECK(bytes.done);
		CHECK(chunks.done);
		CHECK_INT(whole.consumed, len);
		CHECK(whole.len == bytes.len &&
		    memcmp(whole.out, bytes.out, whole.len) == 0);
		CHECK(chunks.len == bytes.len &&
		    memcmp(chunks.out, bytes.out, bytes.len) == 0);
		fed_free(&whole);
		fed_free(&bytes);
		fed_free(&chunks);
	}
	free(in);
}

TEST(long_lines_not_cut)
{
	size_t		 len = 5000, i;
	char		*in = malloc(len + 8);
	struct fed	 f;

	for (i = 0; i < len; i++)
		in[i] = (char)('a' + i % 26);
	memcpy(in + len, "\r\n.\r\n", 5);
	f = feed_chunks(in, len + 5, NULL, 0);
	CHECK(f.done);
	CHECK_INT(f.len, len + 5);
	CHECK(memcmp(f.out, in, len + 5) == 0);
	fed_free(&f);
	free(in);
}

TEST(no_end_keeps_waiting)
{
	struct fed	f = feed_all("a\r\n.\r");

	CHECK(!f.done);
	CHECK_INT(f.consumed, 5);
	CHECK(fed_is(&f, "a\r\n"));
	fed_free(&f);
}

/* ---- the rewrite stage ---- */

static char	rw_out[1 << 18];

/*
 * Runs text (the device's data, end mark included) through the
 * normalizer and the rewrite stage in pieces of step bytes, and returns
 * the upstream bytes. *rep receives the stage's report.
 */
static const char *
rewrite(const char *text, const struct smtp_rewrite_opts *o, size_t step,
    struct smtp_rewrite_report *rep)
{
	struct smtp_data	 d;
	struct smtp_rewrite	*r;
	struct buf		 out;
	static char		 norm[SMTP_DATA_OUT_MAX(1 << 17)];
	size_t			 len = strlen(text), pos = 0, n, used;

	smtp_data_init(&d);
	buf_init(&out);
	r = smtp_rewrite_new(o);
	while (pos < len && !smtp_data_done(&d)) {
		n = len - pos < step ? len - pos : step;
		used = smtp_data_feed(&d, text + pos, n, norm, &n);
		CHECK_INT(smtp_rewrite_feed(r, norm, n, &out), EXO_OK);
		pos += used;
	}
	*rep = *smtp_rewrite_report(r);
	smtp_rewrite_free(r);
	str_copy(rw_out, out.data != NULL ? out.data : "", sizeof(rw_out));
	buf_free(&out);
	return rw_out;
}

/* Checks the output for every piece size from 1 to 64 and the whole. */
static void
check_rewrite(const char *in, const struct smtp_rewrite_opts *o,
    const char *want)
{
	struct smtp_rewrite_report	rep;
	size_t				step;

	CHECK_STR(rewrite(in, o, strlen(in) + 1, &rep), want);
	for (step = 1; step <= 64; step++) {
		if (strcmp(rewrite(in, o, step, &rep), want) != 0) {
			printf("  differs with pieces of %zu bytes\n", step);
			CHECK_STR(rw_out, want);
			break;
		}
	}
}

TEST(rewrite_from_keeps_display_name)
{
	struct smtp_rewrite_opts	o = { "mfp@example.com", 0, 0 };
	struct smtp_rewrite_report	rep;

	check_rewrite("From: Scanner 2F <scanner@example.net>\r\n"
	    "Subject: scan\r\n\r\nFrom: body <x@y>\r\n.\r\n", &o,
	    "From: Scanner 2F <mfp@example.com>\r\n"
	    "Subject: scan\r\n\r\nFrom: body <x@y>\r\n.\r\n");
	rewrite("From: Scanner 2F <scanner@example.net>\r\n\r\n.\r\n", &o,
	    7, &rep);
	CHECK_INT(rep.from_rewritten, 1);
	CHECK_STR(rep.old_from, "scanner@example.net");
}

/*
 * Without relabel_iso2022jp the body passes as a block: MIME part headers
 * keep their From fields and raw UTF-8, bytes after the end mark are
 * dropped, and a "." line ends the data only when it is the end mark.
 */
TEST(rewrite_body_passes_parts_unchanged)
{
	struct smtp_rewrite_opts	o = { "mfp@example.com", 1, 0 };
	struct smtp_rewrite		*r;
	struct buf			 out;
	static const char		 body[] = "--b\r\nFrom: <x@y>\r\n"
	    "Subject: \xc3\xa9t\xc3\xa9\r\n\r\n..lead\r\n.x\r\n--b--\r\n";

	check_rewrite("From: <scanner@example.net>\r\nContent-Type: "
	    "multipart/mixed; boundary=b\r\n\r\n--b\r\nFrom: <x@y>\r\n"
	    "Subject: \xc3\xa9t\xc3\xa9\r\n\r\n.lead\r\n..x\r\n--b--\r\n"
	    ".\r\n", &o,
	    "From: <mfp@example.com>\r\nContent-Type: "
	    "multipart/mixed; boundary=b\r\n\r\n--b\r\nFrom: <x@y>\r\n"
	    "Subject: \xc3\xa9t\xc3\xa9\r\n\r\n.lead\r\n..x\r\n--b--\r\n"
	    ".\r\n");

	/* Normalized input straight into the stage, with a tail after the
	 * end mark. */
	buf_init(&out);
	r = smtp_rewrite_new(&o);
	CHECK_INT(smtp_rewrite_feed(r, "X: 1\r\n\r\n", 8, &out), EXO_OK);
	CHECK_INT(smtp_rewrite_feed(r, body, sizeof(body) - 1, &out), EXO_OK);
	CHECK_INT(smtp_rewrite_feed(r, ".", 1, &out), EXO_OK);
	CHECK_INT(smtp_rewrite_feed(r, "\r\nNOOP\r\n", 8, &out), EXO_OK);
	CHECK_INT(out.len, 8 + sizeof(body) - 1 + 3);
	CHECK(out.len >= 3);
	CHECK(out.len >= 3 &&
	    memcmp(out.data + out.len - 3, ".\r\n", 3) == 0);
	smtp_rewrite_free(r);
	buf_free(&out);
}

TEST(rewrite_from_folded_and_bare)
{
	struct smtp_rewrite_opts	o = { "mfp@example.com", 0, 0 };

	check_rewrite("Subject: a\nFrom: \"Scanner, 2F\"\n"
	    "\t<Scanner@Example.NET> (scan)\n\nbody\r\n.\r\n", &o,
	    "Subject: a\r\nFrom: \"Scanner, 2F\"\r\n"
	    "\t<mfp@example.com> (scan)\r\n\r\nbody\r\n.\r\n");
	check_rewrite("From: scanner@example.net (Scanner)\r\n\r\n.\r\n", &o,
	    "From: mfp@example.com (Scanner)\r\n\r\n.\r\n");
	/* A display name that contains "@" is dropped. */
	check_rewrite("From: scanner@example.net <scanner@example.net>\r\n"
	    "\r\nx\r\n.\r\n", &o, "From: <mfp@example.com>\r\n\r\nx\r\n"
	    ".\r\n");
}

TEST(rewrite_from_same_mailbox_unchanged)
{
	struct smtp_rewrite_opts	o = { "mfp@example.com", 0, 0 };
	struct smtp_rewrite_report	rep;
	static const char		in[] = "From: MFP <MFP@example.COM>\r\n"
	    "\r\n.\r\n";

	check_rewrite(in, &o, in);
	rewrite(in, &o, 3, &rep);
	CHECK_INT(rep.from_rewritten, 0);
	CHECK_INT(rep.from_seen, 1);
}

TEST(rewrite_off_passes_everything)
{
	struct smtp_rewrite_opts	o = { "", 0, 0 };
	static const char		in[] = "From: A <a@b.c>\r\nSubject: "
	    "\xe3\x82\xb9\r\nContent-Type: text/plain; charset=ISO-2022-JP-2"
	    "\r\n\r\n\x1b$Btest\x1b(B\r\n..dot\r\n.\r\n";

	check_rewrite(in, &o, in);
}

TEST(rewrite_long_field_passes)
{
	struct smtp_rewrite_opts	o = { "mfp@example.com", 1, 0 };
	static char			in[SMTP_HEADER_FIELD_MAX * 2];
	size_t				n;

	n = (size_t)snprintf(in, sizeof(in), "X-Long: ");
	while (n < SMTP_HEADER_FIELD_MAX + 100) {
		in[n] = (char)('a' + n % 26);
		n++;
	}
	snprintf(in + n, sizeof(in) - n, "\r\n \xe3\x82\xb9\r\nFrom: "
	    "<s@x.y>\r\n\r\n.\r\n");
	/* The long field is unchanged; the From after it is rewritten. */
	CHECK(strstr(rewrite(in, &o, 4096, &(struct smtp_rewrite_report){ 0 }),
	    "\xe3\x82\xb9\r\nFrom: <mfp@example.com>\r\n") != NULL);
}

TEST(utf8_subject_becomes_encoded_word)
{
	struct smtp_rewrite_opts	o = { NULL, 1, 0 };
	struct smtp_rewrite_report	rep;

	/* The example: "スキャン" in UTF-8. */
	check_rewrite("Subject: \xe3\x82\xb9\xe3\x82\xad\xe3\x83\xa3\xe3\x83"
	    "\xb3\r\n\r\n\xe3\x82\xb9 body stays\r\n.\r\n", &o,
	    "Subject: =?UTF-8?B?44K544Kt44Oj44Oz?=\r\n\r\n"
	    "\xe3\x82\xb9 body stays\r\n.\r\n");
	rewrite("Subject: \xc3\xa4\r\n\r\n.\r\n", &o, 5, &rep);
	CHECK_INT(rep.utf8_encoded, 1);
}

TEST(utf8_long_value_folded)
{
	struct smtp_rewrite_opts	o = { NULL, 1, 0 };
	struct smtp_rewrite_report	rep;
	char				in[1024];
	const char			*out, *p, *eol;
	size_t				n, i;

	n = (size_t)snprintf(in, sizeof(in), "Subject: ");
	for (i = 0; i < 40; i++)
		n += (size_t)snprintf(in + n, sizeof(in) - n, "\xe3\x82\xb9");
	snprintf(in + n, sizeof(in) - n, "\r\n\r\n.\r\n");
	out = rewrite(in, &o, 13, &rep);
	CHECK_INT(rep.utf8_encoded, 1);
	/* Three words of at most 75 bytes, none splitting a character. */
	for (p = out, i = 0; (eol = strstr(p, "\r\n")) != NULL &&
	    eol != p; p = eol + 2, i++) {
		const char	*w = strstr(p, "=?UTF-8?B?");

		CHECK(w != NULL);
		CHECK(eol - w <= 75);
	}
	CHECK_INT(i, 3);
	CHECK(strstr(out, "?=\r\n =?UTF-8?B?") != NULL);
}

TEST(utf8_address_phrase_encoded)
{
	struct smtp_rewrite_opts	o = { "mfp@example.com", 1, 0 };

	check_rewrite("From: \"\xc3\x84rger\" <s@x.y>\r\n"
	    "To: B\xc3\xbc <b@x.y>, c@x.y\r\n\r\n.\r\n", &o,
	    "From: =?UTF-8?B?w4RyZ2Vy?= <mfp@example.com>\r\n"
	    "To: =?UTF-8?B?QsO8?= <b@x.y>,\r\n c@x.y\r\n\r\n.\r\n");
}

TEST(utf8_invalid_or_structured_kept)
{
	struct smtp_rewrite_opts	o = { NULL, 1, 0 };
	struct smtp_rewrite_report	rep;
	static const char		in[] = "Subject: \xe4\xf6\r\n"
	    "Content-Type: text/plain; name=\"\xc3\xa4.pdf\"\r\n"
	    "To: \xc3\xa4@x.y\r\n\r\n.\r\n";

	check_rewrite(in, &o, in);
	rewrite(in, &o, 64, &rep);
	CHECK_INT(rep.utf8_skipped, 3);
	CHECK_INT(rep.utf8_encoded, 0);
}

TEST(iso2022jp2_label_fixed)
{
	struct smtp_rewrite_opts	o = { NULL, 0, 1 };
	struct smtp_rewrite_report	rep;

	check_rewrite("Subject: =?ISO-2022-JP-2?B?GyRCJTklLSVjJXMbKEI=?=\r\n"
	    "Content-Type: text/plain; charset=\"ISO-2022-JP-2\"\r\n\r\n"
	    "\x1b$B%9%-%c%s\x1b(B\r\n.\r\n", &o,
	    "Subject: =?ISO-2022-JP?B?GyRCJTklLSVjJXMbKEI=?=\r\n"
	    "Content-Type: text/plain; charset=\"ISO-2022-JP\"\r\n\r\n"
	    "\x1b$B%9%-%c%s\x1b(B\r\n.\r\n");
	rewrite("Content-Type: text/plain; charset=iso-2022-jp-2\r\n\r\n"
	    "abc\r\n.\r\n", &o, 9, &rep);
	CHECK_INT(rep.relabeled, 1);
}

TEST(iso2022jp2_other_escapes_kept)
{
	struct smtp_rewrite_opts	o = { NULL, 0, 1 };
	struct smtp_rewrite_report	rep;
	/* ESC $ A selects GB 2312, which ISO-2022-JP lacks. */
	static const char		in[] = "Content-Type: text/plain; "
	    "charset=ISO-2022-JP-2\r\n\r\n\x1b$A0!\x1b(B\r\n.\r\n";
	static const char		q[] = "Subject: =?ISO-2022-JP-2?Q?"
	    "=1B=2EA=1BNx?=\r\n\r\n.\r\n";

	check_rewrite(in, &o, in);
	rewrite(in, &o, 5, &rep);
	CHECK_INT(rep.relabel_kept, 1);
	CHECK_INT(rep.relabeled, 0);
	check_rewrite(q, &o, q);
}

TEST(iso2022jp2_in_mime_part)
{
	struct smtp_rewrite_opts	o = { NULL, 0, 1 };

	check_rewrite("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain; charset=ISO-2022-JP-2\r\n\r\n"
	    "\x1b$B%9\x1b(B\r\n--b1\r\nContent-Type: text/plain; "
	    "charset=ISO-2022-JP-2\r\n\r\n\x1b$A0!\x1b(B\r\n--b1\r\n"
	    "Content-Type: application/pdf\r\nContent-Transfer-Encoding: "
	    "base64\r\n\r\nJVBERi0=\r\n--b1--\r\n.\r\n", &o,
	    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
	    "--b1\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
	    "\x1b$B%9\x1b(B\r\n--b1\r\nContent-Type: text/plain; "
	    "charset=ISO-2022-JP-2\r\n\r\n\x1b$A0!\x1b(B\r\n--b1\r\n"
	    "Content-Type: application/pdf\r\nContent-Transfer-Encoding: "
	    "base64\r\n\r\nJVBERi0=\r\n--b1--\r\n.\r\n");
}

TEST(iso2022jp2_base64_part_kept)
{
	struct smtp_rewrite_opts	o = { NULL, 0, 1 };
	static const char		in[] = "Content-Transfer-Encoding: "
	    "base64\r\nContent-Type: text/plain; charset=ISO-2022-JP-2\r\n"
	    "\r\nGyRCJTkbKEI=\r\n.\r\n";

	check_rewrite(in, &o, in);
}

TEST(iso2022jp2_long_part_kept)
{
	struct smtp_rewrite_opts	o = { NULL, 0, 1 };
	static char			in[SMTP_HOLD_MAX + 4096];
	size_t				n;

	n = (size_t)snprintf(in, sizeof(in), "Content-Type: text/plain; "
	    "charset=ISO-2022-JP-2\r\n\r\n");
	while (n < SMTP_HOLD_MAX + 1000) {
		memcpy(in + n, "abcdefghi\r\n", 11);
		n += 11;
	}
	snprintf(in + n, sizeof(in) - n, ".\r\n");
	check_rewrite(in, &o, in);
}

int
main(void)
{
	RUN(bare_lf_case_bytes);
	RUN(crlf_passes_unchanged);
	RUN(end_right_after_data);
	RUN(lone_dot_variants_are_data);
	RUN(no_lone_cr_or_lf_in_output);
	RUN(lone_cr_at_chunk_end);
	RUN(final_dot_split_everywhere);
	RUN(every_split_of_sample);
	RUN(random_chunks_match_whole);
	RUN(ordinary_lines_match_byte_at_a_time);
	RUN(long_lines_not_cut);
	RUN(no_end_keeps_waiting);
	RUN(rewrite_from_keeps_display_name);
	RUN(rewrite_body_passes_parts_unchanged);
	RUN(rewrite_from_folded_and_bare);
	RUN(rewrite_from_same_mailbox_unchanged);
	RUN(rewrite_off_passes_everything);
	RUN(rewrite_long_field_passes);
	RUN(utf8_subject_becomes_encoded_word);
	RUN(utf8_long_value_folded);
	RUN(utf8_address_phrase_encoded);
	RUN(utf8_invalid_or_structured_kept);
	RUN(iso2022jp2_label_fixed);
	RUN(iso2022jp2_other_escapes_kept);
	RUN(iso2022jp2_in_mime_part);
	RUN(iso2022jp2_base64_part_kept);
	RUN(iso2022jp2_long_part_kept);
	return (TEST_EXIT());
}
