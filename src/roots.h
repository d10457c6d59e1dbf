/*
 * roots.h: the TLS root certificates built into the binary, used when no
 * CA bundle is configured. The table is generated at build time by
 * tools/gen-roots from Debian's ca-certificates, so build/gen/roots.c
 * defines it and no file in src/ does.
 */
#ifndef EXO_ROOTS_H
#define EXO_ROOTS_H

#include <stddef.h>

/*
 * One root certificate: its common name for messages, and its DER
 * encoding of len bytes. All of it is static, read-only and shared by
 * every thread.
 */
struct builtin_root {
	const char		*name;
	const unsigned char	*der;
	size_t			 len;
};

/*
 * The roots, in this order: DigiCert Global Root G2 (Exchange Online's
 * chain), DigiCert Global Root CA and G3, then Microsoft's RSA and ECC
 * roots of 2017. Those missing from the build machine's ca-certificates
 * are left out, so builtin_roots_count is at least 1 and at most 5.
 */
extern const struct builtin_root builtin_roots[];
extern const size_t builtin_roots_count;

#endif
