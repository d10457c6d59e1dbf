/*
 * fuzz-config.c: config_parse on any settings file text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/config.h"

#define FUZZ_CONFIG_MAX 65536	/* longest input tried */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct settings	s;
	struct exo_error	e;

	if (size > FUZZ_CONFIG_MAX)
		return 0;
	memset(&s, 0, sizeof(s));
	memset(&e, 0, sizeof(e));
	if (config_parse("fuzz.conf", (const char *)data, size, &s, &e) != 0) {
		if (memchr(e.msg, '\0', sizeof(e.msg)) == NULL)
			abort();
		return 0;
	}
	if (memchr(s.microsoft.client_id, '\0',
	    sizeof(s.microsoft.client_id)) == NULL ||
	    s.pop3.port > 65535 || s.smtp.port > 65535)
		abort();
	return 0;
}
