/*
 * fuzz-token.c: what the token endpoint sends back. A success body goes
 * through oauth_parse_tokens (static in oauth.c, so that file is compiled
 * into this target), an error through oauth_classify, and the id_token
 * through idtoken_parse. The first byte picks the HTTP status.
 */
#include <stdint.h>

#include "../../src/oauth.c"

#define FUZZ_TOKEN_MAX (2 * USER_TOKEN_MAX)	/* longest input tried */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const int fuzz_statuses[] = { 200, 400, 401, 403, 429, 500, 503 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response	 resp;
	struct oauth_tokens	*tok;
	struct oauth_error	 err;
	struct idtoken_claims	 claims;
	char			*body;
	size_t			 n = sizeof(fuzz_statuses) /
				    sizeof(fuzz_statuses[0]);

	if (size < 1 || size > FUZZ_TOKEN_MAX)
		return 0;
	if ((body = malloc(size)) == NULL)
		return 0;
	if ((tok = malloc(sizeof(*tok))) == NULL) {
		free(body);
		return 0;
	}
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';

	memset(&resp, 0, sizeof(resp));
	resp.status = fuzz_statuses[data[0] % n];
	str_copy(resp.content_type, data[0] & 0x80 ? "text/html" :
	    "application/json; charset=utf-8", sizeof(resp.content_type));
	resp.retry_after = -1;
	resp.body = body;
	resp.body_len = size - 1;

	oauth_error_reset(&err);
	if (oauth_parse_tokens(&resp, tok, &err) == 0) {
		if (tok->access_token[0] == '\0')
			abort();
		if (tok->id_token[0] != '\0')
			(void)idtoken_parse(tok->id_token, &claims);
	}
	oauth_tokens_wipe(tok);

	oauth_error_reset(&err);
	oauth_classify(resp.status, resp.content_type, body, size - 1, &err);
	if (memchr(err.description, '\0', sizeof(err.description)) == NULL)
		abort();

	(void)idtoken_parse(body, &claims);
	free(tok);
	free(body);
	return 0;
}
