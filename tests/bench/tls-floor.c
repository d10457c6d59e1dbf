/*
 * tls-floor.c: the CPU cost of BearSSL's TLS 1.2 record layer alone, the
 * floor under exoconnect's cost per byte relayed. It seals 16 KB records
 * and opens them again with the implementations that BearSSL's engine
 * picks: AES-NI and PCLMUL when the CPU has them, else constant-time
 * code. It measures AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305, and
 * prints the process CPU seconds per GB for sealing and opening as JSON.
 *
 * Usage: tls-floor [MEGABYTES]   (default 512 per direction and suite)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bearssl.h>

#define FLOOR_RECORD 16384	/* plaintext bytes per record, TLS's maximum */
#define FLOOR_VERSION 0x0303	/* TLS 1.2 */
#define FLOOR_APP_DATA 23	/* record type of application data */
#define FLOOR_BATCH 64		/* records sealed, then opened, per timing */

union floor_out {
	const br_sslrec_out_class	*vtable;
	br_sslrec_gcm_context		 gcm;
	br_sslrec_chapol_context	 chapol;
};

union floor_in {
	const br_sslrec_in_class	*vtable;
	br_sslrec_gcm_context		 gcm;
	br_sslrec_chapol_context	 chapol;
};

struct floor_suite {
	const char	*name;
	size_t		 key_len;	/* 0 for ChaCha20-Poly1305 */
};

static const struct floor_suite floor_suites[] = {
	{ "AES-128-GCM", 16 },
	{ "AES-256-GCM", 32 },
	{ "ChaCha20-Poly1305", 0 },
};

static double
cpu_seconds(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Initializes both directions with the same key, as the two ends of a
 * connection have. */
static void
floor_init(const struct floor_suite *s, union floor_out *out,
    union floor_in *in)
{
	static const unsigned char key[32] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const unsigned char iv[12] = { 9, 10, 11, 12 };
	const br_block_ctr_class	*aes;
	br_ghash			 gh;
	br_chacha20_run			 cc;
	br_poly1305_run			 poly;

	if (s->key_len != 0) {
		/* The choice br_ssl_engine_set_default_aes_gcm makes. */
		if ((aes = br_aes_x86ni_ctr_get_vtable()) == NULL)
			aes = &br_aes_ct64_ctr_vtable;
		if ((gh = br_ghash_pclmul_get()) == 0)
			gh = &br_ghash_ctmul64;
		br_sslrec_out_gcm_vtable.init(&out->gcm.vtable.out, aes, key,
		    s->key_len, gh, iv);
		br_sslrec_in_gcm_vtable.init(&in->gcm.vtable.in, aes, key,
		    s->key_len, gh, iv);
		return;
	}
	if ((cc = br_chacha20_sse2_get()) == 0)
		cc = &br_chacha20_ct_run;
	if ((poly = br_poly1305_ctmulq_get()) == 0)
		poly = &br_poly1305_ctmul_run;
	br_sslrec_out_chapol_vtable.init(&out->chapol.vtable.out, cc, poly,
	    key, iv);
	br_sslrec_in_chapol_vtable.init(&in->chapol.vtable.in, cc, poly, key,
	    iv);
}

static int
floor_run(const struct floor_suite *s, size_t megabytes, const char *sep)
{
	static unsigned char	 buf[FLOOR_BATCH][BR_SSL_BUFSIZE_OUTPUT];
	static unsigned char	 plain[FLOOR_RECORD];
	unsigned char		*rec[FLOOR_BATCH], *back;
	size_t			 len[FLOOR_BATCH];
	union floor_out		 out;
	union floor_in		 in;
	size_t			 start, end, batches, b, i;
	double			 t0, seal = 0, open = 0, gb;

	floor_init(s, &out, &in);
	for (i = 0; i < sizeof(plain); i++)
		plain[i] = (unsigned char)(i * 7);
	batches = megabytes * 1024 * 1024 / FLOOR_RECORD / FLOOR_BATCH;

	/* Timed a batch at a time, so reading the clock costs little. */
	for (b = 0; b < batches; b++) {
		t0 = cpu_seconds();
		for (i = 0; i < FLOOR_BATCH; i++) {
			start = 0;
			end = sizeof(buf[i]);
			out.vtable->max_plaintext(&out.vtable, &start, &end);
			memcpy(buf[i] + start, plain, FLOOR_RECORD);
			len[i] = FLOOR_RECORD;
			rec[i] = out.vtable->encrypt(&out.vtable,
			    FLOOR_APP_DATA, FLOOR_VERSION, buf[i] + start,
			    &len[i]);
		}
		seal += cpu_seconds() - t0;

		t0 = cpu_seconds();
		for (i = 0; i < FLOOR_BATCH; i++) {
			len[i] -= 5;
			if (!in.vtable->check_length(&in.vtable, len[i]))
				return -1;
			back = in.vtable->decrypt(&in.vtable, FLOOR_APP_DATA,
			    FLOOR_VERSION, rec[i] + 5, &len[i]);
			if (back == NULL || len[i] != FLOOR_RECORD)
				return -1;
		}
		open += cpu_seconds() - t0;
		if (memcmp(back, plain, FLOOR_RECORD) != 0)
			return -1;
	}
	gb = (double)batches * FLOOR_BATCH * FLOOR_RECORD / 1e9;
	printf("%s\"%s\": {\"seal_s_per_gb\": %.3f, "
	    "\"open_s_per_gb\": %.3f, \"mb\": %zu}", sep, s->name, seal / gb,
	    open / gb, megabytes);
	return 0;
}

int
main(int argc, char **argv)
{
	size_t	megabytes = 512, i;

	if (argc > 1 && (megabytes = strtoul(argv[1], NULL, 10)) == 0) {
		fprintf(stderr, "usage: tls-floor [MEGABYTES]\n");
		return 2;
	}
	printf("{\"aes_ni\": %s, ", br_aes_x86ni_ctr_get_vtable() != NULL ?
	    "true" : "false");
	for (i = 0; i < sizeof(floor_suites) / sizeof(floor_suites[0]); i++) {
		if (floor_run(&floor_suites[i], megabytes, i ? ", " : "") != 0) {
			fprintf(stderr, "tls-floor: %s: a record did not "
			    "decrypt\n", floor_suites[i].name);
			return 1;
		}
	}
	printf("}\n");
	return 0;
}
