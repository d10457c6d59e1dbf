/*
 * oauth-device.c: the device authorization grant (RFC 8628) as the
 * Microsoft identity platform runs it, for consoles without a browser.
 */
#include <string.h>

#include "i18n.h"
#include "json.h"
#include "oauth.h"
#include "plat.h"
#include "util.h"

#define OAUTH_DEVICE_INTERVAL 5		/* seconds, when the reply has none */
#define OAUTH_DEVICE_INTERVAL_MAX 60	/* seconds; larger values are cut */
#define OAUTH_DEVICE_SLOW_DOWN 5	/* seconds added per slow_down */
#define OAUTH_DEVICE_EXPIRES 900	/* seconds, when the reply has none */
#define OAUTH_DEVICE_EXPIRES_MAX 3600

static const char oauth_device_grant[] =
    "urn:ietf:params:oauth:grant-type:device_code";

/* Copies an optional string member; returns nonzero when it was invalid. */
static int
oauth_device_string(const struct json_doc *d, const char *key, char *out,
    size_t cap)
{
	int	r = json_get_string(d, key, out, cap);

	if (r == EXO_ERR_NOTFOUND)
		out[0] = '\0';
	return r != 0 && r != EXO_ERR_NOTFOUND;
}

static int
oauth_device_parse(const struct http_response *resp,
    struct oauth_device_code *dc, struct oauth_error *err)
{
	struct json_doc	*d = NULL;
	long long	 v;
	int		 bad;

	memset(dc, 0, sizeof(*dc));
	if (json_parse(resp->body, resp->body_len, &d) != 0) {
		bad = 1;
	} else {
		bad = oauth_device_string(d, "user_code", dc->user_code,
		    sizeof(dc->user_code));
		bad |= oauth_device_string(d, "device_code", dc->device_code,
		    sizeof(dc->device_code));
		bad |= oauth_device_string(d, "verification_uri",
		    dc->verification_uri, sizeof(dc->verification_uri));
		bad |= oauth_device_string(d, "message", dc->message,
		    sizeof(dc->message));
		dc->expires_in = OAUTH_DEVICE_EXPIRES;
		if (json_get_int(d, "expires_in", &v) == 0 && v > 0)
			dc->expires_in = (int)(v < OAUTH_DEVICE_EXPIRES_MAX ?
			    v : OAUTH_DEVICE_EXPIRES_MAX);
		dc->interval = OAUTH_DEVICE_INTERVAL;
		if (json_get_int(d, "interval", &v) == 0 && v > 0)
			dc->interval = (int)(v < OAUTH_DEVICE_INTERVAL_MAX ?
			    v : OAUTH_DEVICE_INTERVAL_MAX);
	}
	json_free(d);
	if (bad || dc->user_code[0] == '\0' || dc->device_code[0] == '\0' ||
	    dc->verification_uri[0] == '\0') {
		err->kind = OAUTH_FAIL_TRANSIENT;
		err->http_status = resp->status;
		str_copy(err->description, "the device code reply is invalid "
		    "or lacks user_code, device_code or verification_uri",
		    sizeof(err->description));
		str_copy(err->advice, N_("Try the sign-in again."),
		    sizeof(err->advice));
		return EXO_ERR_PROTO;
	}
	return 0;
}

int
oauth_device_start(const struct oauth_client *c,
    struct oauth_device_code *dc, struct oauth_error *err)
{
	struct http_response	resp;
	struct buf		form;
	char			scope[CONFIG_TEXT_MAX * 2 + 128];
	int			r;

	memset(dc, 0, sizeof(*dc));
	oauth_scope(c->settings, scope, sizeof(scope));
	buf_init(&form);
	r = oauth_form_add(&form, "client_id",
	    c->settings->microsoft.client_id);
	if (r == 0)
		r = oauth_form_add(&form, "scope", scope);
	if (r == 0)
		r = oauth_post(c, "devicecode", &form, &resp, err);
	buf_free(&form);
	if (r != 0)
		return r;

	if (resp.status == 200)
		r = oauth_device_parse(&resp, dc, err);
	else {
		oauth_classify(resp.status, resp.content_type, resp.body,
		    resp.body_len, err);
		err->retry_after = resp.retry_after;
		r = oauth_failure_code(err);
	}
	http_response_free(&resp);
	return r;
}

/* Errors that end the polling, with their message and return code. */
static const struct {
	const char	*error;
	int		 code;
	const char	*description;
	const char	*advice;
} oauth_device_ends[] = {
	{ "authorization_declined", EXO_ERR_AUTH, "The sign-in was declined "
	    "in the browser.", N_("Start the sign-in again and accept it.") },
	{ "expired_token", EXO_ERR_TIMEOUT, "The code expired before the "
	    "sign-in finished.", N_("Start the sign-in again and enter the new "
	    "code within its time limit.") },
	{ "bad_verification_code", EXO_ERR_AUTH, "The token service did not "
	    "recognise the device code.", N_("Start the sign-in again.") },
};

/*
 * Sleeps until the monotonic clock reaches until_ms, waking at least once
 * a second to check cancel. Returns EXO_ERR_CANCELLED or 0.
 */
static int
oauth_device_wait(int64_t until_ms, volatile int *cancel)
{
	int64_t	left;

	for (;;) {
		if (cancel != NULL && *cancel)
			return EXO_ERR_CANCELLED;
		if ((left = until_ms - plat_now_ms()) <= 0)
			return 0;
		plat_sleep_ms(left < 1000 ? (int)left : 1000);
	}
}

/* Handles an error reply to a poll: 1 to poll again, else the result. */
static int
oauth_device_failed(struct oauth_error *err, int r, int *interval)
{
	size_t	i;

	if (strcmp(err->error, "authorization_pending") == 0)
		return 1;
	if (strcmp(err->error, "slow_down") == 0) {
		/* RFC 8628 3.5: this and every later interval grow by 5 s. */
		*interval += OAUTH_DEVICE_SLOW_DOWN;
		return 1;
	}
	for (i = 0; i < sizeof(oauth_device_ends) /
	    sizeof(oauth_device_ends[0]); i++) {
		if (strcmp(err->error, oauth_device_ends[i].error) != 0)
			continue;
		err->kind = OAUTH_FAIL_SIGNIN;
		str_copy(err->description, oauth_device_ends[i].description,
		    sizeof(err->description));
		str_copy(err->advice, oauth_device_ends[i].advice,
		    sizeof(err->advice));
		return oauth_device_ends[i].code;
	}

	/* Network trouble and 5xx do not end the attempt: the code stays
	 * valid until it expires. */
	if (err->kind == OAUTH_FAIL_TRANSIENT)
		return 1;
	return r;
}

int
oauth_device_poll(const struct oauth_client *c,
    const struct oauth_device_code *dc, volatile int *cancel,
    struct oauth_tokens *out, struct oauth_error *err)
{
	struct buf	form;
	int64_t		start, expires, next;
	int		interval, r;

	memset(err, 0, sizeof(*err));
	err->retry_after = -1;
	interval = dc->interval > 0 ? dc->interval : OAUTH_DEVICE_INTERVAL;
	start = plat_now_ms();
	expires = start + (int64_t)(dc->expires_in > 0 ? dc->expires_in :
	    OAUTH_DEVICE_EXPIRES) * 1000;
	next = start + (int64_t)interval * 1000;

	buf_init(&form);
	r = oauth_form_add(&form, "grant_type", oauth_device_grant);
	if (r == 0)
		r = oauth_form_add(&form, "client_id",
		    c->settings->microsoft.client_id);
	if (r == 0)
		r = oauth_form_add(&form, "device_code", dc->device_code);
	while (r == 0) {
		/* No poll at or after the expiry. */
		if (next >= expires) {
			r = oauth_device_wait(expires, cancel);
			if (r == 0)
				r = EXO_ERR_TIMEOUT;
			err->kind = OAUTH_FAIL_SIGNIN;
			str_copy(err->error, "expired_token",
			    sizeof(err->error));
			str_copy(err->description, "The code expired before "
			    "the sign-in finished.", sizeof(err->description));
			str_copy(err->advice, N_("Start the sign-in again "
			    "and enter the new code within its time limit."),
			    sizeof(err->advice));
			break;
		}
		if ((r = oauth_device_wait(next, cancel)) != 0)
			break;
		next = plat_now_ms();
		r = oauth_token_request(c, &form, out, err);
		if (r == 0)
			break;
		r = oauth_device_failed(err, r, &interval);
		if (r == 1) {
			r = 0;
			next += (int64_t)interval * 1000;
		}
	}
	if (r == EXO_ERR_CANCELLED) {
		err->kind = OAUTH_FAIL_NONE;
		str_copy(err->description, "The sign-in was cancelled.",
		    sizeof(err->description));
		err->advice[0] = '\0';
	}
	buf_free(&form);
	return r;
}
