/*
 * fuzz-tls-hello.c: the ClientHello parser on the first bytes a device
 * sends to a TLS listener, and the explanation built from its result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/tls-hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_hello	 h;
	char			 buf[256];
	const char		*text;
	int			 legacy;

	if (tls_hello_parse(data, size, &h) != h.parsed)
		abort();
	if (h.best != 0 && (h.best < TLS_HELLO_SSL30 ||
	    h.best > TLS_HELLO_TLS12))
		abort();
	for (legacy = 0; legacy < 2; legacy++) {
		text = tls_hello_fix("no common cipher suite", &h,
		    "192.0.2.1", legacy, "pop3", buf, sizeof(buf));
		if (text != NULL && strlen(text) >= sizeof(buf))
			abort();
	}
	return 0;
}
