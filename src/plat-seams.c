/*
 * plat-seams.c: the test seams of plat.h, in portable C so both platform
 * files share them. Compiled to nothing without EXO_TEST_SEAMS.
 */
#include "plat.h"
#include "plat-seams.h"

#ifdef EXO_TEST_SEAMS

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Milliseconds added to both clocks by the setters and by fast sleep. */
static atomic_llong	seam_clock_offset_ms;
static atomic_int	seam_fast_sleep;
/* Guards the two buffers below; the seams are never contended. */
static atomic_flag	seam_lock = ATOMIC_FLAG_INIT;
static char		seam_write_fail[PLAT_PATH_MAX];
static unsigned char	seam_random[256];
static size_t		seam_random_len;

static void
seam_acquire(void)
{
	while (atomic_flag_test_and_set(&seam_lock))
		;
}

static void
seam_release(void)
{
	atomic_flag_clear(&seam_lock);
}

void
plat_test_set_clock_offset(int64_t seconds)
{
	atomic_store(&seam_clock_offset_ms, (long long)seconds * 1000);
}

void
plat_test_set_fast_sleep(int on)
{
	atomic_store(&seam_fast_sleep, on);
}

void
plat_test_set_write_fail(const char *path_part)
{
	seam_acquire();
	str_copy(seam_write_fail, path_part ? path_part : "",
	    sizeof(seam_write_fail));
	seam_release();
}

void
plat_test_set_random(const void *bytes, size_t len)
{
	seam_acquire();
	if (len > sizeof(seam_random))
		len = sizeof(seam_random);
	if (len > 0)
		memcpy(seam_random, bytes, len);
	seam_random_len = len;
	seam_release();
}

/* Seconds from EXO_TEST_CLOCK_FILE, re-read on each call; 0 without it. */
static int64_t
seam_clock_file(void)
{
	const char	*path = getenv("EXO_TEST_CLOCK_FILE");
	char		 text[32];
	long long	 seconds;
	size_t		 n;
	FILE		*f;

	if (path == NULL || *path == '\0')
		return (0);
	if ((f = fopen(path, "rb")) == NULL)
		return (0);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	if (n == 0)
		return (0);
	text[n] = '\0';
	str_trim_end(text, n);
	if (parse_ll(text, -1000000000LL, 1000000000LL, &seconds) != 0)
		return (0);
	return (seconds);
}

int64_t
plat_seam_offset_ms(void)
{
	return (atomic_load(&seam_clock_offset_ms) +
	    seam_clock_file() * 1000);
}

int
plat_seam_sleep(int ms)
{
	const char	*env = getenv("EXO_TEST_FAST_SLEEP");

	if (!atomic_load(&seam_fast_sleep) &&
	    (env == NULL || strcmp(env, "1") != 0))
		return (0);
	atomic_fetch_add(&seam_clock_offset_ms, ms);
	return (1);
}

int
plat_seam_write_fails(const char *path)
{
	const char	*env = getenv("EXO_TEST_WRITE_FAIL");
	int		 fail;

	if (env != NULL && *env != '\0' && strstr(path, env) != NULL)
		return (1);
	seam_acquire();
	fail = seam_write_fail[0] != '\0' &&
	    strstr(path, seam_write_fail) != NULL;
	seam_release();
	return (fail);
}

static int
seam_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

int
plat_seam_random_fill(unsigned char *buf, size_t len)
{
	const char	*env = getenv("EXO_TEST_RANDOM");
	unsigned char	 pattern[256];
	size_t		 n = 0, i;

	if (env != NULL && *env != '\0') {
		for (; env[0] != '\0' && env[1] != '\0' &&
		    n < sizeof(pattern); env += 2) {
			if (seam_hex_digit(env[0]) < 0 ||
			    seam_hex_digit(env[1]) < 0)
				break;
			pattern[n++] = (unsigned char)(seam_hex_digit(env[0])
			    << 4 | seam_hex_digit(env[1]));
		}
	} else {
		seam_acquire();
		n = seam_random_len;
		memcpy(pattern, seam_random, n);
		seam_release();
	}
	if (n == 0)
		return (0);
	for (i = 0; i < len; i++)
		buf[i] = pattern[i % n];
	return (1);
}

#else

/* ISO C forbids an empty translation unit. */
typedef int plat_seams_unused;

#endif
