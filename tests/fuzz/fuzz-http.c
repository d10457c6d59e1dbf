/*
 * fuzz-http.c: the HTTP/1.1 response parser (status line, headers,
 * Content-Length and chunked bodies) fed in pieces, the status line on
 * its own, and the URL parser. The first input byte picks where the
 * response is cut into pieces, so boundaries land anywhere.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/http.h"

#define FUZZ_HTTP_MAX (HTTP_HEADER_MAX + 65536)	/* longest input tried */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds text in pieces of step bytes; returns the last result. */
static int
feed(const char *text, size_t len, size_t step, struct http_response *resp)
{
	struct http_parser	*p;
	size_t			 off = 0, n;
	int			 rc = 0;

	memset(resp, 0, sizeof(*resp));
	if ((p = http_parser_new()) == NULL)
		return EXO_ERR_NOMEM;
	while (off < len && rc == 0) {
		n = len - off < step ? len - off : step;
		rc = http_parser_feed(p, text + off, n, 0, resp);
		off += n;
	}
	if (rc == 0)
		rc = http_parser_feed(p, "", 0, 1, resp);
	http_parser_free(p);
	return rc;
}

static void
check_response(const struct http_response *resp)
{
	if (resp->status < 100 || resp->status > 599)
		abort();
	if (resp->body_len > HTTP_BODY_MAX)
		abort();
	if (resp->body != NULL && resp->body[resp->body_len] != '\0')
		abort();
	if (memchr(resp->content_type, '\0', sizeof(resp->content_type)) ==
	    NULL)
		abort();
}

static void
fuzz_strings(const char *text, size_t len)
{
	struct http_url	 url;
	char		*s;
	int		 status;

	if ((s = malloc(len + 1)) == NULL)
		return;
	memcpy(s, text, len);
	s[len] = '\0';
	if (http_parse_status_line(s, &status) == 0 &&
	    (status < 100 || status > 599))
		abort();
	if (http_parse_url(s, &url) == 0 && (url.port == 0 ||
	    url.port > 65535 || url.path[0] != '/'))
		abort();
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response	 whole, parts;
	const char		*text;
	size_t			 step;
	int			 rc1, rc2;

	if (size < 1 || size > FUZZ_HTTP_MAX)
		return 0;
	step = data[0] % 16 + 1;
	text = (const char *)data + 1;
	size--;

	rc1 = feed(text, size, size > 0 ? size : 1, &whole);
	rc2 = feed(text, size, step, &parts);
	/* Where the bytes are cut must not change the outcome. */
	if (rc1 != rc2)
		abort();
	if (rc1 == 1) {
		check_response(&whole);
		check_response(&parts);
		if (whole.status != parts.status ||
		    whole.body_len != parts.body_len ||
		    (whole.body_len > 0 && memcmp(whole.body, parts.body,
		    whole.body_len) != 0))
			abort();
		http_response_free(&whole);
		http_response_free(&parts);
	}

	fuzz_strings(text, size > 2048 ? 2048 : size);
	return 0;
}
