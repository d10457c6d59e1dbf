/*
 * fuzz-json.c: json_parse on any bytes, then every accessor on the keys
 * the identity platform's replies use.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/json.h"

#define FUZZ_JSON_MAX 65536	/* longest input tried */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_keys[] = {
	"access_token", "refresh_token", "id_token", "expires_in", "error",
	"error_codes", "error_description", "interval", "device_code",
	"user_code", "preferred_username", "", "a",
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc	*d;
	char		 small[8], big[4096];
	long long	 v;
	size_t		 i;
	int		 rc;

	if (size > FUZZ_JSON_MAX)
		return 0;
	if (json_parse((const char *)data, size, &d) != 0)
		return 0;
	for (i = 0; i < sizeof(fuzz_keys) / sizeof(fuzz_keys[0]); i++) {
		rc = json_get_string(d, fuzz_keys[i], big, sizeof(big));
		if (rc == 0 && memchr(big, '\0', sizeof(big)) == NULL)
			abort();
		if (rc == 0 && strlen(big) >= sizeof(small) &&
		    json_get_string(d, fuzz_keys[i], small, sizeof(small)) !=
		    EXO_ERR_TOOLONG)
			abort();
		(void)json_get_int(d, fuzz_keys[i], &v);
		(void)json_array_has_int(d, fuzz_keys[i], 70000);
		(void)json_array_first_int(d, fuzz_keys[i], &v);
	}
	json_free(d);
	return 0;
}
