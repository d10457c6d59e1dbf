/*
 * fuzz-pop3-session.c: a device's POP3 bytes (commands, USER/PASS, AUTH
 * PLAIN and LOGIN responses, line limits) through pop3_session_run.
 */
#include <stdint.h>

#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_session(pop3_session_run, data, size);
	return 0;
}
