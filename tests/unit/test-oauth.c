/*
 * test-oauth.c: classification of token endpoint errors, id_token claims,
 * request encoding, and the device code flow against a token service
 * double on 127.0.0.1 with a virtual clock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "../../src/oauth.h"
#include "../../src/plat.h"
#include "test.h"
#include "token-double.h"

#define CLIENT_ID "11111111-2222-3333-4444-555555555555"

static void
test_settings(struct settings *s)
{
	config_defaults(s);
	str_copy(s->microsoft.client_id, CLIENT_ID,
	    sizeof(s->microsoft.client_id));
}

/* Classifies a 400 JSON error with error and error_codes. */
static void
classify_json(int status, const char *error, long long code,
    struct oauth_error *err)
{
	char	body[512];

	snprintf(body, sizeof(body), "{\"error\":\"%s\",\"error_description\":"
	    "\"AADSTS%lld: words that must not matter.\\r\\nTrace ID: x\","
	    "\"error_codes\":[%lld],\"timestamp\":\"2026-12-04 17:00:00Z\"}",
	    error, code, code);
	oauth_classify(status, "application/json; charset=utf-8", body,
	    strlen(body), err);
}

TEST(classify_every_code)
{
	static const struct {
		const char		*error;
		long long		 code;
		enum oauth_failure	 kind;
	} cases[] = {
		{ "invalid_grant", 700082, OAUTH_FAIL_SIGNIN },
		{ "invalid_grant", 70008, OAUTH_FAIL_SIGNIN },
		{ "invalid_grant", 70000, OAUTH_FAIL_SIGNIN },
		{ "invalid_grant", 50173, OAUTH_FAIL_SIGNIN },
		{ "invalid_grant", 50076, OAUTH_FAIL_SIGNIN },
		{ "interaction_required", 50079, OAUTH_FAIL_SIGNIN },
		{ "invalid_grant", 70043, OAUTH_FAIL_SIGNIN },
		{ "invalid_grant", 65001, OAUTH_FAIL_CONSENT },
		{ "invalid_grant", 65004, OAUTH_FAIL_CONSENT },
		{ "invalid_request", 90094, OAUTH_FAIL_CONSENT },
		{ "invalid_client", 7000218, OAUTH_FAIL_CONFIG },
		{ "invalid_request", 700025, OAUTH_FAIL_CONFIG },
		{ "unauthorized_client", 700016, OAUTH_FAIL_CONFIG },
		{ "invalid_request", 50194, OAUTH_FAIL_CONFIG },
		{ "invalid_request", 9002331, OAUTH_FAIL_CONFIG },
		{ "invalid_request", 9002332, OAUTH_FAIL_CONFIG },
		{ "invalid_request", 900144, OAUTH_FAIL_CONFIG },
		{ "invalid_request", 50020, OAUTH_FAIL_CONFIG },
		{ "invalid_grant", 53003, OAUTH_FAIL_BLOCKED },
		{ "temporarily_unavailable", 0, OAUTH_FAIL_TRANSIENT },
		{ "invalid_grant", 0, OAUTH_FAIL_SIGNIN },
		{ "invalid_client", 0, OAUTH_FAIL_CONFIG },
		{ "something_new", 12345, OAUTH_FAIL_TRANSIENT },
	};
	struct oauth_error	err;
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		classify_json(400, cases[i].error, cases[i].code, &err);
		if ((int)err.kind != (int)cases[i].kind)
			printf("  case %s %lld\n", cases[i].error,
			    cases[i].code);
		CHECK_INT(err.kind, cases[i].kind);
		CHECK_INT(err.code, cases[i].code);
		CHECK_STR(err.error, cases[i].error);
		CHECK_INT(err.http_status, 400);
		CHECK(err.advice[0] != '\0');
		CHECK_INT(err.retry_after, -1);
	}

	/* 401 carries the same JSON as 400. */
	classify_json(401, "invalid_client", 7000218, &err);
	CHECK_INT(err.kind, OAUTH_FAIL_CONFIG);
	CHECK(strstr(err.advice, "Allow public client flows") != NULL);
	classify_json(400, "invalid_grant", 65001, &err);
	CHECK(strstr(err.advice, "exoconnect consent-url") != NULL);
	classify_json(400, "invalid_request", 50020, &err);
	CHECK(strstr(err.advice, "common") != NULL);
}

TEST(classify_uses_codes_not_wording)
{
	const char		*body = "{\"error\":\"invalid_request\","
	    "\"error_description\":\"AADSTS70043: refresh token expired\","
	    "\"error_codes\":[900144]}";
	struct oauth_error	 err;

	oauth_classify(400, "application/json", body, strlen(body), &err);
	CHECK_INT(err.kind, OAUTH_FAIL_CONFIG);
	CHECK_INT(err.code, 900144);
	CHECK_STR(err.description, "AADSTS70043: refresh token expired");

	/* The description is cut at its first line. */
	classify_json(400, "invalid_grant", 70000, &err);
	CHECK_STR(err.description, "AADSTS70000: words that must not "
	    "matter.");
}

TEST(classify_transient_responses)
{
	const char		*html = "<html><body>Bad gateway</body></html>";
	const char		*grant = "{\"error\":\"invalid_grant\","
	    "\"error_codes\":[70000]}";
	struct oauth_error	 err;

	oauth_classify(502, "text/html", html, strlen(html), &err);
	CHECK_INT(err.kind, OAUTH_FAIL_TRANSIENT);
	CHECK(strstr(err.description, "text/html") != NULL);

	/* A proxy's HTML page with 400 is not a dead grant either. */
	oauth_classify(400, "text/html", html, strlen(html), &err);
	CHECK_INT(err.kind, OAUTH_FAIL_TRANSIENT);

	oauth_classify(503, "text/plain", "Service Unavailable", 19, &err);
	CHECK_INT(err.kind, OAUTH_FAIL_TRANSIENT);

	/* 5xx and 429 win over the error in the JSON. */
	oauth_classify(500, "application/json", grant, strlen(grant), &err);
	CHECK_INT(err.kind, OAUTH_FAIL_TRANSIENT);
	oauth_classify(429, "application/json", grant, strlen(grant), &err);
	CHECK_INT(err.kind, OAUTH_FAIL_TRANSIENT);
	oauth_classify(429, "", "", 0, &err);
	CHECK_INT(err.kind, OAUTH_FAIL_TRANSIENT);

	/* JSON without an error member. */
	oauth_classify(400, "application/json", "{\"a\":1}", 7, &err);
	CHECK_INT(err.kind, OAUTH_FAIL_TRANSIENT);

	oauth_classify(200, "application/json", "{}", 2, &err);
	CHECK_INT(err.kind, OAUTH_FAIL_NONE);
}

TEST(failure_kinds_map_to_codes)
{
	struct oauth_error	err;

	memset(&err, 0, sizeof(err));
	err.kind = OAUTH_FAIL_TRANSIENT;
	CHECK_INT(oauth_failure_code(&err), EXO_ERR_TRANSIENT);
	err.kind = OAUTH_FAIL_SIGNIN;
	CHECK_INT(oauth_failure_code(&err), EXO_ERR_SIGNIN);
	err.kind = OAUTH_FAIL_CONSENT;
	CHECK_INT(oauth_failure_code(&err), EXO_ERR_SIGNIN);
	err.kind = OAUTH_FAIL_BLOCKED;
	CHECK_INT(oauth_failure_code(&err), EXO_ERR_SIGNIN);
	err.kind = OAUTH_FAIL_CONFIG;
	CHECK_INT(oauth_failure_code(&err), EXO_ERR_CONFIG);
}

/* Makes "header.payload.signature" with a base64url payload. */
static void
make_jwt(const char *payload, char *out, size_t cap)
{
	char	b64[2048];
	char	*p;

	base64_encode(payload, strlen(payload), b64);
	for (p = b64; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	}
	snprintf(out, cap, "eyJhbGciOiJSUzI1NiJ9.%s.c2lnbmF0dXJl", b64);
}

TEST(idtoken_claims)
{
	struct idtoken_claims	c;
	char			jwt[4096];

	/* "?" and ">" give "/" and "+" in base64, which base64url replaces. */
	make_jwt("{\"aud\":\"x\",\"preferred_username\":\"mfp@example.com\","
	    "\"email\":\"scan@example.com\",\"name\":\"Ren\\u00e9 ???x>>>\","
	    "\"tid\":\"9188040d-6c67-4c5b-b112-36a304b66dad\","
	    "\"oid\":\"00000000-0000-0000-0000-000000000001\"}", jwt,
	    sizeof(jwt));
	CHECK_INT(idtoken_parse(jwt, &c), 0);
	CHECK_STR(c.preferred_username, "mfp@example.com");
	CHECK_STR(c.email, "scan@example.com");
	CHECK_STR(c.name, "Ren\xc3\xa9 ???x>>>");
	CHECK_STR(c.tid, OAUTH_PERSONAL_TENANT);
	CHECK_STR(c.oid, "00000000-0000-0000-0000-000000000001");

	make_jwt("{\"preferred_username\":\"only@example.com\"}", jwt,
	    sizeof(jwt));
	CHECK_INT(idtoken_parse(jwt, &c), 0);
	CHECK_STR(c.preferred_username, "only@example.com");
	CHECK_STR(c.email, "");
	CHECK_STR(c.tid, "");
}

TEST(idtoken_rejects_bad_tokens)
{
	struct idtoken_claims	c;
	char			jwt[4096];

	CHECK(idtoken_parse("", &c) < 0);
	CHECK(idtoken_parse("abc", &c) < 0);
	CHECK(idtoken_parse("a.b", &c) < 0);
	CHECK(idtoken_parse("a.!!!.c", &c) < 0);
	make_jwt("[1,2]", jwt, sizeof(jwt));
	CHECK(idtoken_parse(jwt, &c) < 0);
	make_jwt("{\"tid\":\"0123456789012345678901234567890123456789"
	    "01234567890123456789012345\"}", jwt, sizeof(jwt));
	CHECK(idtoken_parse(jwt, &c) < 0);
	make_jwt("{\"name\":\"\\u0000\"}", jwt, sizeof(jwt));
	CHECK(idtoken_parse(jwt, &c) < 0);
}

TEST(scope_and_form_encoding)
{
	struct settings	s;
	struct buf	b;
	char		scope[2048];

	test_settings(&s);
	oauth_scope(&s, scope, sizeof(scope));
	CHECK_STR(scope, "https://outlook.office.com/POP.AccessAsUser.All "
	    "https://outlook.office.com/SMTP.Send offline_access openid "
	    "profile email");

	str_copy(s.microsoft.resource, "https://outlook.office365.us/",
	    sizeof(s.microsoft.resource));
	oauth_scope(&s, scope, sizeof(scope));
	CHECK_STR(scope, "https://outlook.office365.us/POP.AccessAsUser.All "
	    "https://outlook.office365.us/SMTP.Send offline_access openid "
	    "profile email");

	buf_init(&b);
	CHECK_INT(oauth_form_add(&b, "scope", "https://a.b/C d"), 0);
	CHECK_INT(oauth_form_add(&b, "x", "a+b&c=d~e_f.g-h%"), 0);
	CHECK_STR(b.data, "scope=https%3A%2F%2Fa.b%2FC%20d&"
	    "x=a%2Bb%26c%3Dd~e_f.g-h%25");
	buf_free(&b);
}

TEST(consent_url_shape)
{
	struct settings	s;
	char		url[2048];

	test_settings(&s);
	oauth_consent_url(&s, url, sizeof(url));
	CHECK(strncmp(url, "https://login.microsoftonline.com/organizations/"
	    "v2.0/adminconsent?client_id=" CLIENT_ID "&scope=https%3A%2F%2F",
	    110) == 0);
	CHECK(strstr(url, "&redirect_uri=http%3A%2F%2Flocalhost%2F") != NULL);

	str_copy(s.microsoft.tenant, "contoso.onmicrosoft.com",
	    sizeof(s.microsoft.tenant));
	oauth_consent_url(&s, url, sizeof(url));
	CHECK(strncmp(url, "https://login.microsoftonline.com/contoso."
	    "onmicrosoft.com/v2.0/adminconsent?", 75) == 0);
}

/* ---- against the token service double ---- */

TEST(refresh_request_body)
{
	struct token_double	*td;
	struct settings		 s;
	struct oauth_client	 c;
	struct oauth_tokens	*t = calloc(1, sizeof(*t));
	struct oauth_error	 err;
	char			 req[4096];

	test_settings(&s);
	td = td_start(&s);
	CHECK(td != NULL);
	CHECK(t != NULL);
	if (td == NULL || t == NULL)
		goto out;
	td_push(td, 200, "{\"token_type\":\"Bearer\",\"scope\":\"x\","
	    "\"expires_in\":3599,\"ext_expires_in\":3599,"
	    "\"access_token\":\"AT-1\",\"refresh_token\":\"RT-2\","
	    "\"id_token\":\"a.b.c\"}", 0);
	oauth_client_init(&c, &s, td_trust(td));
	CHECK_INT(oauth_refresh(&c, "RT-1 +/=", t, &err), 0);
	CHECK_STR(t->access_token, "AT-1");
	CHECK_STR(t->refresh_token, "RT-2");
	CHECK_STR(t->id_token, "a.b.c");
	CHECK(t->expires_at >= plat_wall_time() + 3590);
	CHECK_INT(td_requests(td), 1);
	td_request(td, 0, req, sizeof(req));
	CHECK_STR(req, "POST /common/oauth2/v2.0/token client_id=" CLIENT_ID
	    "&grant_type=refresh_token&refresh_token=RT-1%20%2B%2F%3D"
	    "&scope=https%3A%2F%2Foutlook.office.com%2FPOP.AccessAsUser.All"
	    "%20https%3A%2F%2Foutlook.office.com%2FSMTP.Send%20"
	    "offline_access%20openid%20profile%20email");

	/* A confidential client adds client_secret; none sends it empty. */
	str_copy(s.microsoft.client_secret, "s3cret",
	    sizeof(s.microsoft.client_secret));
	td_push(td, 200, "{\"access_token\":\"AT-2\",\"expires_in\":60}", 0);
	CHECK_INT(oauth_refresh(&c, "RT-2", t, &err), 0);
	CHECK_STR(t->refresh_token, "");
	td_request(td, 1, req, sizeof(req));
	CHECK(strstr(req, "&client_secret=s3cret") != NULL);
	td_request(td, 0, req, sizeof(req));
	CHECK(strstr(req, "client_secret") == NULL);
out:
	free(t);
	td_stop(td);
}

TEST(refresh_failures_classified)
{
	struct token_double	*td;
	struct settings		 s;
	struct oauth_client	 c;
	struct oauth_tokens	*t = calloc(1, sizeof(*t));
	struct oauth_error	 err;

	test_settings(&s);
	td = td_start(&s);
	CHECK(td != NULL);
	CHECK(t != NULL);
	if (td == NULL || t == NULL)
		goto out;
	oauth_client_init(&c, &s, td_trust(td));

	td_push(td, 400, "{\"error\":\"invalid_grant\",\"error_codes\":"
	    "[70043],\"suberror\":\"token_expired\"}", 0);
	CHECK_INT(oauth_refresh(&c, "RT", t, &err), EXO_ERR_SIGNIN);
	CHECK_INT(err.kind, OAUTH_FAIL_SIGNIN);
	CHECK_INT(err.code, 70043);

	td_push(td, 429, "", 2);
	CHECK_INT(oauth_refresh(&c, "RT", t, &err), EXO_ERR_TRANSIENT);
	CHECK_INT(err.retry_after, 2);

	td_push(td, 401, "{\"error\":\"invalid_client\",\"error_codes\":"
	    "[7000218]}", 0);
	CHECK_INT(oauth_refresh(&c, "RT", t, &err), EXO_ERR_CONFIG);

	/* A success that is not JSON keeps the tokens: transient. */
	td_push(td, 200, "<html>portal</html>", 0);
	CHECK_INT(oauth_refresh(&c, "RT", t, &err), EXO_ERR_TRANSIENT);
	CHECK_STR(t->access_token, "");

	/* Nobody listening: transient, with the host in the text. */
	td_stop(td);
	td = NULL;
	CHECK_INT(oauth_refresh(&c, "RT", t, &err), EXO_ERR_TRANSIENT);
	CHECK_INT(err.kind, OAUTH_FAIL_TRANSIENT);
	CHECK(strstr(err.description, "127.0.0.1") != NULL);
out:
	free(t);
	td_stop(td);
}

TEST(device_poll_schedule)
{
	struct token_double	*td;
	struct settings		 s;
	struct oauth_client	 c;
	struct oauth_device_code dc;
	struct oauth_tokens	*t = calloc(1, sizeof(*t));
	struct oauth_error	 err;
	volatile int		 cancel = 0;
	static const int	 gaps[4] = { 5, 5, 10, 10 };
	char			 req[4096];
	int64_t			 start, gap;
	int			 i;

	test_settings(&s);
	td = td_start(&s);
	CHECK(td != NULL);
	CHECK(t != NULL);
	if (td == NULL || t == NULL)
		goto out;
	oauth_client_init(&c, &s, td_trust(td));
	td_push(td, 200, "{\"user_code\":\"ABCD1234\",\"device_code\":\"DC\","
	    "\"verification_uri\":\"https://microsoft.com/devicelogin\","
	    "\"expires_in\":900,\"interval\":5,\"message\":\"To sign in, "
	    "open the page.\"}", 0);
	CHECK_INT(oauth_device_start(&c, &dc, &err), 0);
	CHECK_STR(dc.user_code, "ABCD1234");
	CHECK_STR(dc.verification_uri, "https://microsoft.com/devicelogin");
	CHECK_STR(dc.message, "To sign in, open the page.");
	CHECK_INT(dc.interval, 5);
	CHECK_INT(dc.expires_in, 900);
	td_request(td, 0, req, sizeof(req));
	CHECK(strncmp(req, "POST /common/oauth2/v2.0/devicecode client_id="
	    CLIENT_ID "&scope=https%3A%2F%2F", 82) == 0);

	td_push(td, 400, "{\"error\":\"authorization_pending\","
	    "\"error_codes\":[70016]}", 0);
	td_push(td, 400, "{\"error\":\"authorization_pending\"}", 0);
	td_push(td, 400, "{\"error\":\"slow_down\"}", 0);
	td_push(td, 400, "{\"error\":\"authorization_pending\"}", 0);
	td_push(td, 200, "{\"access_token\":\"AT\",\"refresh_token\":\"RT\","
	    "\"expires_in\":3599}", 0);
	plat_test_set_fast_sleep(1);
	start = plat_now_ms();
	CHECK_INT(oauth_device_poll(&c, &dc, &cancel, t, &err), 0);
	plat_test_set_fast_sleep(0);
	CHECK_STR(t->refresh_token, "RT");
	CHECK_INT(td_requests(td), 6);

	/* Gaps between the polls, in whole seconds of the virtual clock:
	 * the first after one interval, then 5, 5, 10 and 10. */
	CHECK_INT((td_request_time(td, 1) - start + 500) / 1000, 5);
	for (i = 0; i < 4; i++) {
		gap = td_request_time(td, i + 2) - td_request_time(td, i + 1);
		CHECK_INT((gap + 500) / 1000, gaps[i]);
	}
	td_request(td, 1, req, sizeof(req));
	CHECK_STR(req, "POST /common/oauth2/v2.0/token grant_type=urn%3Aietf"
	    "%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id="
	    CLIENT_ID "&device_code=DC");
out:
	free(t);
	td_stop(td);
}

TEST(device_poll_endings)
{
	struct token_double	*td;
	struct settings		 s;
	struct oauth_client	 c;
	struct oauth_device_code dc;
	struct oauth_tokens	*t = calloc(1, sizeof(*t));
	struct oauth_error	 err;
	volatile int		 cancel = 0;
	int64_t			 start;

	test_settings(&s);
	td = td_start(&s);
	CHECK(td != NULL);
	CHECK(t != NULL);
	if (td == NULL || t == NULL)
		goto out;
	oauth_client_init(&c, &s, td_trust(td));
	memset(&dc, 0, sizeof(dc));
	str_copy(dc.device_code, "DC", sizeof(dc.device_code));
	plat_test_set_fast_sleep(1);

	/* Polls at 5 and 10 s; the next would be at 15, after the expiry. */
	dc.expires_in = 12;
	dc.interval = 0;
	td_push(td, 400, "{\"error\":\"authorization_pending\"}", 0);
	td_push(td, 400, "{\"error\":\"authorization_pending\"}", 0);
	start = plat_now_ms();
	CHECK_INT(oauth_device_poll(&c, &dc, &cancel, t, &err),
	    EXO_ERR_TIMEOUT);
	CHECK_INT(td_requests(td), 2);
	CHECK_INT((plat_now_ms() - start + 500) / 1000, 12);
	CHECK_STR(err.error, "expired_token");

	dc.expires_in = 900;
	td_push(td, 400, "{\"error\":\"authorization_declined\"}", 0);
	CHECK_INT(oauth_device_poll(&c, &dc, &cancel, t, &err), EXO_ERR_AUTH);
	CHECK_INT(td_requests(td), 3);
	CHECK(strstr(err.description, "declined") != NULL);

	td_push(td, 400, "{\"error\":\"expired_token\"}", 0);
	CHECK_INT(oauth_device_poll(&c, &dc, &cancel, t, &err),
	    EXO_ERR_TIMEOUT);
	td_push(td, 400, "{\"error\":\"bad_verification_code\"}", 0);
	CHECK_INT(oauth_device_poll(&c, &dc, &cancel, t, &err), EXO_ERR_AUTH);

	/* A 503 does not end the attempt; the next poll succeeds. */
	td_push(td, 503, "<html>busy</html>", 0);
	td_push(td, 200, "{\"access_token\":\"AT\",\"expires_in\":60}", 0);
	CHECK_INT(oauth_device_poll(&c, &dc, &cancel, t, &err), 0);
	CHECK_INT(td_requests(td), 7);

	td_push(td, 401, "{\"error\":\"invalid_client\",\"error_codes\":"
	    "[7000218]}", 0);
	CHECK_INT(oauth_device_poll(&c, &dc, &cancel, t, &err),
	    EXO_ERR_CONFIG);
	CHECK(strstr(err.advice, "Allow public client flows") != NULL);
	CHECK_INT(td_requests(td), 8);

	/* Cancelled before the first poll: nothing is sent. */
	cancel = 1;
	CHECK_INT(oauth_device_poll(&c, &dc, &cancel, t, &err),
	    EXO_ERR_CANCELLED);
	CHECK_INT(td_requests(td), 8);
	plat_test_set_fast_sleep(0);
out:
	free(t);
	td_stop(td);
}

/* ---- browser sign-in ---- */

struct browser {
	char		url[4096];
	char		redirect[128];
	char		state[128];
	char		challenge[128];
	const char	*query;		/* sent with the right state */
	plat_socket	 socks[3];
	int		 nsocks;
};

/* Copies the percent-decoded query parameter name of url. */
static void
url_param(const char *url, const char *name, char *out, size_t cap)
{
	char		 key[64];
	const char	*p;
	size_t		 o = 0;
	unsigned	 v;

	out[0] = '\0';
	snprintf(key, sizeof(key), "%s=", name);
	for (p = strchr(url, '?'); p != NULL; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, key, strlen(key)) == 0)
			break;
	}
	if (p == NULL)
		return;
	for (p += 1 + strlen(key); *p != '\0' && *p != '&' && o + 1 < cap;
	    p++) {
		if (*p == '%' && sscanf(p + 1, "%2x", &v) == 1) {
			out[o++] = (char)v;
			p += 2;
		} else
			out[o++] = *p;
	}
	out[o] = '\0';
}

/* Opens a connection to the redirect listener and sends a GET. */
static void
browser_get(struct browser *b, const char *target)
{
	plat_socket	s;
	char		req[1024];
	unsigned	port = (unsigned)atoi(b->redirect + 17);

	if (plat_connect("127.0.0.1", port, 2000, &s, NULL) != 0)
		return;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost:%u"
	    "\r\nUser-Agent: test\r\n\r\n", target, port);
	plat_send_all(s, req, strlen(req), 2000);
	b->socks[b->nsocks++] = s;
}

/* Plays the browser: a favicon, a forged redirect, then the real one. */
static void
browser_show(const char *url, void *ctx)
{
	struct browser	*b = ctx;
	char		 target[512];

	str_copy(b->url, url, sizeof(b->url));
	url_param(url, "redirect_uri", b->redirect, sizeof(b->redirect));
	url_param(url, "state", b->state, sizeof(b->state));
	url_param(url, "code_challenge", b->challenge, sizeof(b->challenge));
	if (b->query == NULL)
		return;
	browser_get(b, "/favicon.ico");
	browser_get(b, "/?code=FORGED&state=wrong");
	snprintf(target, sizeof(target), "/?%s&state=%s&session_state=x",
	    b->query, b->state);
	browser_get(b, target);
}

/* Reads what the listener sent back on connection i. */
static void
browser_reply(struct browser *b, int i, char *out, size_t cap)
{
	size_t	len = 0;
	long	n;

	while (len + 1 < cap && (n = plat_recv(b->socks[i], out + len,
	    cap - len - 1, 2000)) > 0)
		len += (size_t)n;
	out[len] = '\0';
}

static void
browser_close(struct browser *b)
{
	int	i;

	for (i = 0; i < b->nsocks; i++)
		plat_socket_close(b->socks[i]);
	b->nsocks = 0;
}

/* base64url of SHA-256 of the verifier, as RFC 7636 4.2 defines it. */
static void
s256(const char *verifier, char *out)
{
	unsigned char		hash[br_sha256_SIZE];
	br_sha256_context	sha;
	char			*p;

	br_sha256_init(&sha);
	br_sha256_update(&sha, verifier, strlen(verifier));
	br_sha256_out(&sha, hash);
	base64_encode(hash, sizeof(hash), out);
	for (p = out; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	}
}

TEST(browser_signin_redeems_once)
{
	struct token_double	*td;
	struct settings		 s;
	struct oauth_client	 c;
	struct oauth_tokens	*t = calloc(1, sizeof(*t));
	struct oauth_error	 err;
	struct browser		*b = calloc(1, sizeof(*b));
	volatile int		 cancel = 0;
	char			 req[4096], want[512], verifier[128];
	char			 reply[2048], redirect[128], enc[64];
	char			*p;

	test_settings(&s);
	td = td_start(&s);
	CHECK(td != NULL);
	CHECK(t != NULL);
	CHECK(b != NULL);
	if (td == NULL || t == NULL || b == NULL)
		goto out;
	oauth_client_init(&c, &s, td_trust(td));
	td_push(td, 200, "{\"access_token\":\"AT\",\"refresh_token\":"
	    "\"RT\",\"expires_in\":3599}", 0);
	b->query = "code=C0DE%2F1";
	CHECK_INT(oauth_browser_signin(&c, browser_show, b, &cancel, 30, t,
	    &err), 0);
	CHECK_STR(t->refresh_token, "RT");

	/* The authorize URL and its parameters. */
	snprintf(want, sizeof(want), "https://127.0.0.1:%u/common/oauth2/"
	    "v2.0/authorize?client_id=" CLIENT_ID "&response_type=code&"
	    "redirect_uri=http%%3A%%2F%%2Flocalhost%%3A", td->port);
	CHECK(strncmp(b->url, want, strlen(want)) == 0);
	CHECK(strstr(b->url, "&response_mode=query&scope=https%3A%2F%2F"
	    "outlook.office.com%2FPOP.AccessAsUser.All%20") != NULL);
	CHECK(strstr(b->url, "&code_challenge_method=S256&prompt="
	    "select_account") != NULL);
	CHECK(strncmp(b->redirect, "http://localhost:", 17) == 0);
	CHECK_INT(b->redirect[strlen(b->redirect) - 1], '/');
	CHECK_INT(strlen(b->challenge), 43);
	CHECK(strlen(b->state) >= 16);

	/* Favicon and forged state get errors; the real one finishes. */
	browser_reply(b, 0, reply, sizeof(reply));
	CHECK(strncmp(reply, "HTTP/1.1 404 ", 13) == 0);
	browser_reply(b, 1, reply, sizeof(reply));
	CHECK(strncmp(reply, "HTTP/1.1 400 ", 13) == 0);
	browser_reply(b, 2, reply, sizeof(reply));
	CHECK(strncmp(reply, "HTTP/1.1 200 ", 13) == 0);
	CHECK(strstr(reply, "Sign-in finished") != NULL);
	browser_close(b);

	/* One redemption, with the same redirect_uri and the verifier
	 * that matches the challenge. */
	CHECK_INT(td_requests(td), 1);
	td_request(td, 0, req, sizeof(req));
	CHECK(strstr(req, "&grant_type=authorization_code&code=C0DE%2F1&")
	    != NULL);
	snprintf(redirect, sizeof(redirect), "&redirect_uri=http%%3A%%2F%%2F"
	    "localhost%%3A%s", b->redirect + 17);
	if ((p = strrchr(redirect, '/')) != NULL)
		snprintf(p, sizeof(redirect) - (size_t)(p - redirect), "%%2F&");
	CHECK(strstr(req, redirect) != NULL);
	verifier[0] = '\0';
	if ((p = strstr(req, "&code_verifier=")) != NULL) {
		str_copy(verifier, p + 15, sizeof(verifier));
		verifier[strcspn(verifier, "&")] = '\0';
	}
	CHECK_INT(strlen(verifier), 43);
	s256(verifier, enc);
	CHECK_STR(enc, b->challenge);
	CHECK(strstr(req, "client_secret") == NULL);
out:
	free(b);
	free(t);
	td_stop(td);
}

TEST(browser_signin_denied_and_timeout)
{
	struct token_double	*td;
	struct settings		 s;
	struct oauth_client	 c;
	struct oauth_tokens	*t = calloc(1, sizeof(*t));
	struct oauth_error	 err;
	struct browser		*b = calloc(1, sizeof(*b));
	volatile int		 cancel = 0;
	char			 reply[2048];

	test_settings(&s);
	td = td_start(&s);
	CHECK(td != NULL);
	CHECK(t != NULL);
	CHECK(b != NULL);
	if (td == NULL || t == NULL || b == NULL)
		goto out;
	oauth_client_init(&c, &s, td_trust(td));
	b->query = "error=access_denied&error_description=<script>x</script>";
	CHECK_INT(oauth_browser_signin(&c, browser_show, b, &cancel, 30, t,
	    &err), EXO_ERR_AUTH);
	CHECK_STR(err.error, "access_denied");
	CHECK(strstr(err.description, "denied") != NULL);
	browser_reply(b, 2, reply, sizeof(reply));
	CHECK(strstr(reply, "cancelled or denied") != NULL);
	CHECK(strstr(reply, "<script>") == NULL);
	browser_close(b);

	b->query = NULL;
	CHECK_INT(oauth_browser_signin(&c, browser_show, b, &cancel, 1, t,
	    &err), EXO_ERR_TIMEOUT);
	cancel = 1;
	CHECK_INT(oauth_browser_signin(&c, browser_show, b, &cancel, 30, t,
	    &err), EXO_ERR_CANCELLED);
	CHECK_INT(td_requests(td), 0);
out:
	free(b);
	free(t);
	td_stop(td);
}

int
main(void)
{
	plat_init();
	RUN(classify_every_code);
	RUN(classify_uses_codes_not_wording);
	RUN(classify_transient_responses);
	RUN(failure_kinds_map_to_codes);
	RUN(idtoken_claims);
	RUN(idtoken_rejects_bad_tokens);
	RUN(scope_and_form_encoding);
	RUN(consent_url_shape);
	RUN(refresh_request_body);
	RUN(refresh_failures_classified);
	RUN(device_poll_schedule);
	RUN(device_poll_endings);
	RUN(browser_signin_redeems_once);
	RUN(browser_signin_denied_and_timeout);
	return TEST_EXIT();
}
