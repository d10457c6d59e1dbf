/*
 * fuzz-smtp-session.c: a device's SMTP bytes (EHLO, AUTH PLAIN and LOGIN
 * with their prompts, MAIL, RCPT, DATA, line limits) through
 * smtp_session_run.
 */
#include <stdint.h>

#include "session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_session(smtp_session_run, data, size);
	return 0;
}
