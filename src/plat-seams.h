/*
 * plat-seams.h: the test seams shared by plat-posix.c and plat-win32.c.
 * Only the platform files include this header. In builds without
 * EXO_TEST_SEAMS every function is an inline no-op, so release binaries
 * carry no seam code.
 */
#ifndef EXO_PLAT_SEAMS_H
#define EXO_PLAT_SEAMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef EXO_TEST_SEAMS
/* Milliseconds the seams add to both clocks. */
int64_t plat_seam_offset_ms(void);
/* Advances the clock instead of sleeping when fast sleep is on; 1 then. */
int plat_seam_sleep(int ms);
/* 1 when writes to path must fail as if the disk were full. */
int plat_seam_write_fails(const char *path);
/* Fills buf with the fixed test pattern; 0 when none is set. */
int plat_seam_random_fill(unsigned char *buf, size_t len);
#else
static inline int64_t plat_seam_offset_ms(void) { return (0); }
static inline int plat_seam_sleep(int ms) { (void)ms; return (0); }
static inline int
plat_seam_write_fails(const char *path)
{
	(void)path;
	return (0);
}
static inline int
plat_seam_random_fill(unsigned char *buf, size_t len)
{
	(void)buf;
	(void)len;
	return (0);
}
#endif

#endif
