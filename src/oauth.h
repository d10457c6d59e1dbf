/*
 * oauth.h: Microsoft identity platform v2.0 endpoints: device code,
 * authorization code with PKCE and a loopback redirect, refresh, and the
 * classification of token endpoint errors.
 */
#ifndef EXO_OAUTH_H
#define EXO_OAUTH_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "http.h"
#include "users.h"

/* Tenant id of personal Microsoft accounts (Outlook.com, Hotmail, Live). */
#define OAUTH_PERSONAL_TENANT "9188040d-6c67-4c5b-b112-36a304b66dad"
#define OAUTH_ACCESS_TOKEN_MAX 16384

struct oauth_tokens {
	char	access_token[OAUTH_ACCESS_TOKEN_MAX];
	int64_t	expires_at;		/* wall clock seconds */
	char	refresh_token[USER_TOKEN_MAX];	/* empty when none came */
	char	id_token[USER_TOKEN_MAX];
};

struct idtoken_claims {
	char	preferred_username[USER_MAILBOX_MAX];
	char	email[USER_MAILBOX_MAX];
	char	name[256];
	char	tid[64];
	char	oid[64];
};

/* Decodes the payload of a JWT (no signature check: it came straight from
 * the token endpoint over verified TLS). */
int idtoken_parse(const char *jwt, struct idtoken_claims *out);

/* Class of a failed token request, which decides the retry policy. */
enum oauth_failure {
	OAUTH_FAIL_NONE = 0,
	OAUTH_FAIL_TRANSIENT,	/* 5xx, 429, timeouts, HTML: retry, keep tokens */
	OAUTH_FAIL_SIGNIN,	/* grant dead, MFA, sign-in frequency */
	OAUTH_FAIL_CONSENT,	/* 65001, 65004, 90094 */
	OAUTH_FAIL_CONFIG,	/* app registration or tenant wrong */
	OAUTH_FAIL_BLOCKED,	/* 53003 conditional access */
};

struct oauth_error {
	enum oauth_failure kind;
	int	http_status;
	char	error[64];		/* "invalid_grant" */
	long long code;			/* first of error_codes, 0 if none */
	int	retry_after;		/* seconds, -1 if none */
	char	description[512];	/* error_description, first line */
	char	advice[512];		/* what the admin must do */
};

/* Context shared by all calls: endpoints and client from the settings. */
struct oauth_client {
	const struct settings	*settings;
	struct http_client	 http;
};

void oauth_client_init(struct oauth_client *c, const struct settings *s,
    const struct trust_store *trust);

/* Scope string: "<resource>/POP.AccessAsUser.All <resource>/SMTP.Send
 * offline_access openid profile email". */
void oauth_scope(const struct settings *s, char *buf, size_t cap);

/*
 * Refreshes: POST token with grant_type=refresh_token, client_id,
 * refresh_token and scope (client_secret only for a confidential client).
 * On failure fills err (kind, code, advice) and returns EXO_ERR_TRANSIENT,
 * EXO_ERR_SIGNIN (kinds SIGNIN, CONSENT and BLOCKED: an admin must act on
 * the account) or EXO_ERR_CONFIG. A response without refresh_token leaves
 * out->refresh_token empty.
 */
int oauth_refresh(const struct oauth_client *c, const char *refresh_token,
    struct oauth_tokens *out, struct oauth_error *err);

/*
 * Classifies an HTTP response of the token endpoint into err, from the
 * status, `error` and `error_codes` only (never the description's
 * wording). err->retry_after is left at -1 for the caller to fill.
 */
void oauth_classify(int http_status, const char *content_type,
    const char *body, size_t len, struct oauth_error *err);

struct oauth_device_code {
	char	user_code[64];
	char	device_code[2048];
	char	verification_uri[512];
	char	message[1024];
	int	expires_in;
	int	interval;
};

/* Starts the device code flow: POST devicecode. */
int oauth_device_start(const struct oauth_client *c,
    struct oauth_device_code *dc, struct oauth_error *err);

/*
 * Polls the token endpoint every interval seconds (5 when absent; slow_down
 * adds 5 to this and every later interval) until success, expiry,
 * authorization_declined, expired_token or bad_verification_code, or until
 * *cancel becomes non-zero (checked at least once a second). Transient
 * failures do not end the polling. Returns 0, EXO_ERR_CANCELLED,
 * EXO_ERR_TIMEOUT (expired), EXO_ERR_AUTH (declined or unknown code) or a
 * code of oauth_refresh; err->description says which in plain words.
 */
int oauth_device_poll(const struct oauth_client *c,
    const struct oauth_device_code *dc, volatile int *cancel,
    struct oauth_tokens *out, struct oauth_error *err);

/*
 * Signs in with the authorization code flow and PKCE (S256): listens on
 * 127.0.0.1 at a random port, calls show_url with the authorize URL (to
 * print it and open the browser), waits for the redirect (timeout_s),
 * checks state, and redeems the code once. Requests with another path or
 * state get an error page and the wait goes on. Returns 0,
 * EXO_ERR_CANCELLED, EXO_ERR_TIMEOUT, EXO_ERR_AUTH (the redirect carried
 * an error such as access_denied, copied to err->error) or a code of
 * oauth_refresh.
 */
int oauth_browser_signin(const struct oauth_client *c,
    void (*show_url)(const char *url, void *ctx), void *ctx,
    volatile int *cancel, int timeout_s, struct oauth_tokens *out,
    struct oauth_error *err);

/* URL that lets a tenant admin grant consent for the app. */
void oauth_consent_url(const struct settings *s, char *buf, size_t cap);

void oauth_tokens_wipe(struct oauth_tokens *t);

/*
 * After a mail connection to Exchange failed: when token requests go
 * through an HTTP proxy (the setting or HTTPS_PROXY), logs that the proxy
 * serves token requests only and mail connects directly, so the admin
 * does not look for the fault at the proxy. conn is the event's
 * connection id. Logs nothing without a proxy.
 */
void oauth_note_mail_proxy(const struct settings *s, unsigned long conn);

/* ---- shared by oauth.c, oauth-device.c and oauth-browser.c ---- */

/*
 * Timeouts of token requests, in milliseconds: the connection, and the
 * whole request with the connection included. The whole request stays
 * below TOKEN_WAIT_MAX_MS, so the device whose login sent it gets its
 * reply before it gives up.
 */
#define OAUTH_CONNECT_TIMEOUT_MS 10000
#define OAUTH_READ_TIMEOUT_MS 18000
#define OAUTH_REQUEST_MAX_MS OAUTH_READ_TIMEOUT_MS

/* Appends "&name=value" (no "&" first) with RFC 3986 percent-encoding. */
int oauth_form_add(struct buf *b, const char *name, const char *value);

/*
 * POSTs form to the endpoint ("token", "devicecode") of the configured
 * authority and tenant. Network, TLS and proxy failures fill err as
 * OAUTH_FAIL_TRANSIENT (OAUTH_FAIL_CONFIG for an invalid URL or proxy
 * setting) and return the matching error code.
 */
int oauth_post(const struct oauth_client *c, const char *endpoint,
    const struct buf *form, struct http_response *resp,
    struct oauth_error *err);

/*
 * POSTs form to the token endpoint and reads the tokens from a 200
 * response. Other responses are classified into err; the return value
 * is as for oauth_refresh.
 */
int oauth_token_request(const struct oauth_client *c,
    const struct buf *form, struct oauth_tokens *out,
    struct oauth_error *err);

/* Maps err->kind to EXO_ERR_TRANSIENT, EXO_ERR_SIGNIN or EXO_ERR_CONFIG. */
int oauth_failure_code(const struct oauth_error *err);

#endif
