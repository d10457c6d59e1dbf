/*
 * test-smtp-data.c: the DATA normalizer of smtp-data.c, fed whole, byte by
 * byte and in random chunks.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/smtp.h"
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
	RUN(long_lines_not_cut);
	RUN(no_end_keeps_waiting);
	return (TEST_EXIT());
}
