/*
 * oauth.c: token requests to the Microsoft identity platform (v2.0
 * endpoints): the refresh grant, the classification of failures, the
 * scope, the admin consent URL and the claims of an id_token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "i18n.h"
#include "json.h"
#include "oauth.h"
#include "plat.h"
#include "util.h"

/* Lifetime assumed when a token response has no usable expires_in. */
#define OAUTH_DEFAULT_EXPIRES 3600
#define OAUTH_MAX_EXPIRES (24 * 3600)

static const char *const oauth_transient_advice = N_("No action is "
    "needed, because exoconnect retries on its own and keeps the tokens.");

void
oauth_client_init(struct oauth_client *c, const struct settings *s,
    const struct trust_store *trust)
{
	struct http_url	u;

	memset(c, 0, sizeof(*c));
	c->settings = s;
	c->http.trust = trust;
	c->http.connect_timeout_ms = OAUTH_CONNECT_TIMEOUT_MS;
	c->http.read_timeout_ms = OAUTH_READ_TIMEOUT_MS;
	if (http_parse_url(s->microsoft.authority, &u) != 0)
		u.host[0] = '\0';
	http_choose_proxy(s->network.proxy, u.host, c->http.proxy);
	plat_wipe(&u, sizeof(u));
}

void
oauth_scope(const struct settings *s, char *buf, size_t cap)
{
	char	res[CONFIG_TEXT_MAX];
	size_t	len;

	str_copy(res, s->microsoft.resource, sizeof(res));
	len = strlen(res);
	while (len > 0 && res[len - 1] == '/')
		res[--len] = '\0';
	snprintf(buf, cap, "%s/POP.AccessAsUser.All %s/SMTP.Send "
	    "offline_access openid profile email", res, res);
}

int
oauth_form_add(struct buf *b, const char *name, const char *value)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			 esc[3];
	int			 r = 0;

	if (b->len > 0)
		r = buf_puts(b, "&");
	if (r == 0)
		r = buf_printf(b, "%s=", name);
	for (p = (const unsigned char *)value; r == 0 && *p != '\0'; p++) {
		/* RFC 3986 unreserved characters stay; a space is %20. */
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL) {
			r = buf_append(b, p, 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[*p >> 4];
		esc[2] = hex[*p & 0x0f];
		r = buf_append(b, esc, 3);
	}
	return r;
}

int
oauth_failure_code(const struct oauth_error *err)
{
	switch (err->kind) {
	case OAUTH_FAIL_NONE:
		return 0;
	case OAUTH_FAIL_CONFIG:
		return EXO_ERR_CONFIG;
	case OAUTH_FAIL_SIGNIN:
	case OAUTH_FAIL_CONSENT:
	case OAUTH_FAIL_BLOCKED:
		return EXO_ERR_SIGNIN;
	default:
		return EXO_ERR_TRANSIENT;
	}
}

static void
oauth_error_reset(struct oauth_error *err)
{
	memset(err, 0, sizeof(*err));
	err->retry_after = -1;
}

int
oauth_post(const struct oauth_client *c, const char *endpoint,
    const struct buf *form, struct http_response *resp,
    struct oauth_error *err)
{
	struct exo_error	e;
	char			url[CONFIG_TEXT_MAX + CONFIG_HOST_MAX + 64];
	int			r;

	oauth_error_reset(err);
	memset(resp, 0, sizeof(*resp));
	if (config_oauth_url(c->settings, endpoint, url, sizeof(url)) != 0) {
		err->kind = OAUTH_FAIL_CONFIG;
		str_copy(err->description, "the authority or tenant setting "
		    "is too long or invalid", sizeof(err->description));
		str_copy(err->advice, N_("Check authority and tenant in the "
		    "[microsoft] section of the settings."),
		    sizeof(err->advice));
		return EXO_ERR_CONFIG;
	}
	err_clear(&e);
	r = http_post_form(&c->http, url, form->data != NULL ? form->data : "",
	    resp, &e);
	if (r == 0)
		return 0;

	str_copy(err->description, e.msg, sizeof(err->description));
	if (r == EXO_ERR_INVALID || r == EXO_ERR_CONFIG) {
		err->kind = OAUTH_FAIL_CONFIG;
		str_copy(err->advice, N_("Check the authority and the HTTP "
		    "proxy in the settings."), sizeof(err->advice));
		return EXO_ERR_CONFIG;
	}
	err->kind = OAUTH_FAIL_TRANSIENT;
	str_copy(err->advice, oauth_transient_advice, sizeof(err->advice));
	return EXO_ERR_TRANSIENT;
}

/* Reads the tokens of a successful response. */
static int
oauth_parse_tokens(const struct http_response *resp,
    struct oauth_tokens *out, struct oauth_error *err)
{
	struct json_doc	*d = NULL;
	long long	 expires;
	const char	*problem = NULL;
	int		 r;

	memset(out, 0, sizeof(*out));
	if (json_parse(resp->body, resp->body_len, &d) != 0)
		problem = "the token service returned a success that is not "
		    "JSON";
	else if ((r = json_get_string(d, "access_token", out->access_token,
	    sizeof(out->access_token))) != 0 || out->access_token[0] == '\0')
		problem = r == EXO_ERR_TOOLONG ? "the access token is longer "
		    "than exoconnect accepts" : "the token response has no "
		    "access_token";
	else if (json_get_string(d, "refresh_token", out->refresh_token,
	    sizeof(out->refresh_token)) == EXO_ERR_TOOLONG)
		problem = "the refresh token is longer than exoconnect "
		    "accepts";
	if (problem != NULL) {
		json_free(d);
		oauth_tokens_wipe(out);
		err->kind = OAUTH_FAIL_TRANSIENT;
		err->http_status = resp->status;
		str_copy(err->description, problem, sizeof(err->description));
		str_copy(err->advice, oauth_transient_advice,
		    sizeof(err->advice));
		return EXO_ERR_TRANSIENT;
	}

	/* An id_token that does not fit is dropped: it only names the
	 * account, and the access token is still good. */
	if (json_get_string(d, "id_token", out->id_token,
	    sizeof(out->id_token)) != 0)
		out->id_token[0] = '\0';
	if (json_get_int(d, "expires_in", &expires) != 0 || expires < 1 ||
	    expires > OAUTH_MAX_EXPIRES)
		expires = OAUTH_DEFAULT_EXPIRES;
	out->expires_at = plat_wall_time() + expires;
	json_free(d);
	return 0;
}

int
oauth_token_request(const struct oauth_client *c, const struct buf *form,
    struct oauth_tokens *out, struct oauth_error *err)
{
	struct http_response	resp;
	int			r;

	memset(out, 0, sizeof(*out));
	if ((r = oauth_post(c, "token", form, &resp, err)) != 0)
		return r;
	if (resp.status == 200)
		r = oauth_parse_tokens(&resp, out, err);
	else {
		oauth_classify(resp.status, resp.content_type, resp.body,
		    resp.body_len, err);
		err->retry_after = resp.retry_after;
		r = oauth_failure_code(err);
	}
	http_response_free(&resp);
	return r;
}

int
oauth_refresh(const struct oauth_client *c, const char *refresh_token,
    struct oauth_tokens *out, struct oauth_error *err)
{
	const struct settings	*s = c->settings;
	struct buf		 form;
	char			 scope[CONFIG_TEXT_MAX * 2 + 128];
	int			 r;

	oauth_error_reset(err);
	oauth_scope(s, scope, sizeof(scope));
	buf_init(&form);
	r = oauth_form_add(&form, "client_id", s->microsoft.client_id);
	if (r == 0)
		r = oauth_form_add(&form, "grant_type", "refresh_token");
	if (r == 0)
		r = oauth_form_add(&form, "refresh_token", refresh_token);
	if (r == 0)
		r = oauth_form_add(&form, "scope", scope);
	/* A public client must not send client_secret, not even empty
	 * (AADSTS700025). */
	if (r == 0 && s->microsoft.client_secret[0] != '\0')
		r = oauth_form_add(&form, "client_secret",
		    s->microsoft.client_secret);
	if (r != 0) {
		buf_free(&form);
		err->kind = OAUTH_FAIL_TRANSIENT;
		str_copy(err->description, "out of memory",
		    sizeof(err->description));
		return EXO_ERR_TRANSIENT;
	}
	r = oauth_token_request(c, &form, out, err);
	buf_free(&form);
	return r;
}

/* ---- classification ---- */

static const struct {
	long long		 code;
	enum oauth_failure	 kind;
	const char		*advice;
} oauth_codes[] = {
	{ 700082, OAUTH_FAIL_SIGNIN, N_("Sign in again for this mailbox, "
	    "because its refresh token expired after 90 days without use.") },
	{ 70008, OAUTH_FAIL_SIGNIN, N_("Sign in again for this mailbox, "
	    "because its grant expired.") },
	{ 70000, OAUTH_FAIL_SIGNIN, N_("Sign in again for this mailbox, "
	    "because its grant is invalid or was revoked.") },
	{ 50173, OAUTH_FAIL_SIGNIN, N_("Sign in again for this mailbox, "
	    "because its grant was revoked, for example by a password "
	    "change.") },
	{ 50076, OAUTH_FAIL_SIGNIN, N_("Sign in again with multi-factor "
	    "authentication, and exclude this app from the policy if it forces "
	    "this regularly.") },
	{ 50079, OAUTH_FAIL_SIGNIN, N_("Sign in again and set up multi-factor "
	    "authentication, and exclude this app from the policy if it forces "
	    "this regularly.") },
	{ 70043, OAUTH_FAIL_SIGNIN, N_("Sign in again, because a sign-in "
	    "frequency policy of Conditional Access ended the grant, and "
	    "exclude this app from the policy if it forces this regularly.") },
	{ 65001, OAUTH_FAIL_CONSENT, N_("An administrator must grant consent "
	    "for the app at the URL that `exoconnect consent-url` prints.") },
	{ 65004, OAUTH_FAIL_CONSENT, N_("The user declined consent, so an "
	    "administrator must grant it at the URL that `exoconnect "
	    "consent-url` prints.") },
	{ 90094, OAUTH_FAIL_CONSENT, N_("An administrator must grant consent "
	    "for the app at the URL that `exoconnect consent-url` prints.") },
	{ 7000218, OAUTH_FAIL_CONFIG, N_("Set \"Allow public client flows\" to "
	    "Yes under Authentication in the app registration.") },
	{ 700025, OAUTH_FAIL_CONFIG, N_("Remove client_secret from the "
	    "settings, because the app is a public client.") },
	{ 700016, OAUTH_FAIL_CONFIG, N_("Check client_id and tenant in the "
	    "settings, because the tenant has no app with this client ID.") },
	{ 50194, OAUTH_FAIL_CONFIG, N_("Set tenant to the ID of the app's own "
	    "tenant or make the app multi-tenant, because it is registered for "
	    "a single tenant.") },
	{ 9002331, OAUTH_FAIL_CONFIG, N_("Change the supported account types "
	    "of the app registration or the tenant setting, because the app "
	    "accepts personal Microsoft accounts only.") },
	{ 9002332, OAUTH_FAIL_CONFIG, N_("Change the supported account types "
	    "of the app registration or the tenant setting, because the app "
	    "accepts work and school accounts only.") },
	{ 900144, OAUTH_FAIL_CONFIG, N_("Check client_id and resource in the "
	    "settings, because the token request missed a required field.") },
	{ 50020, OAUTH_FAIL_CONFIG, N_("Set tenant to common or to the "
	    "account's tenant, because the account is not in the configured "
	    "tenant.") },
	{ 53003, OAUTH_FAIL_BLOCKED, N_("An administrator must allow this app "
	    "or device in the Conditional Access policies that blocked the "
	    "sign-in.") },
};

static const struct {
	const char		*error;
	enum oauth_failure	 kind;
	const char		*advice;
} oauth_errors[] = {
	{ "temporarily_unavailable", OAUTH_FAIL_TRANSIENT, N_("No action is "
	    "needed, because exoconnect retries on its own and keeps the "
	    "tokens.") },
	{ "invalid_grant", OAUTH_FAIL_SIGNIN, N_("Sign in again for this "
	    "mailbox, because its grant is no longer valid.") },
	{ "interaction_required", OAUTH_FAIL_SIGNIN, N_("Sign in again for "
	    "this mailbox, because the token service requires an interactive "
	    "sign-in.") },
	{ "consent_required", OAUTH_FAIL_CONSENT, N_("An administrator must "
	    "grant consent for the app at the URL that `exoconnect "
	    "consent-url` prints.") },
	{ "invalid_client", OAUTH_FAIL_CONFIG, N_("Check client_id and "
	    "client_secret in the settings against the app registration.") },
	{ "unauthorized_client", OAUTH_FAIL_CONFIG, N_("Check the app "
	    "registration, because it does not allow this grant.") },
	{ "invalid_scope", OAUTH_FAIL_CONFIG, N_("Check resource in the "
	    "settings and the API permissions of the app registration.") },
	{ "invalid_request", OAUTH_FAIL_CONFIG, N_("Check the [microsoft] "
	    "settings, because the token service rejected the request.") },
};

/* Copies the first line of the description. */
static void
oauth_first_line(struct oauth_error *err, const char *text)
{
	size_t	n = strcspn(text, "\r\n");

	if (n >= sizeof(err->description))
		n = sizeof(err->description) - 1;
	memcpy(err->description, text, n);
	err->description[n] = '\0';
}

/* Looks up the code table, then the error table. */
static void
oauth_classify_json(struct oauth_error *err)
{
	size_t	i;

	for (i = 0; i < sizeof(oauth_codes) / sizeof(oauth_codes[0]); i++) {
		if (oauth_codes[i].code == err->code) {
			err->kind = oauth_codes[i].kind;
			str_copy(err->advice, oauth_codes[i].advice,
			    sizeof(err->advice));
			return;
		}
	}
	for (i = 0; i < sizeof(oauth_errors) / sizeof(oauth_errors[0]); i++) {
		if (strcmp(oauth_errors[i].error, err->error) == 0) {
			err->kind = oauth_errors[i].kind;
			str_copy(err->advice, oauth_errors[i].advice,
			    sizeof(err->advice));
			return;
		}
	}

	/* An error this table does not know keeps the tokens, so it is
	 * retried rather than treated as a dead grant. */
	err->kind = OAUTH_FAIL_TRANSIENT;
	str_copy(err->advice, N_("If this repeats, look the code up in "
	    "Microsoft's AADSTS error list, because exoconnect does not know "
	    "it and retries with backoff."), sizeof(err->advice));
}

void
oauth_classify(int http_status, const char *content_type, const char *body,
    size_t len, struct oauth_error *err)
{
	struct json_doc	*d = NULL;
	char		 desc[2048];
	int		 json;

	oauth_error_reset(err);
	err->http_status = http_status;
	if (http_status >= 200 && http_status <= 299)
		return;

	json = body != NULL && json_parse(body, len, &d) == 0 &&
	    json_get_string(d, "error", err->error, sizeof(err->error)) == 0;
	if (json) {
		if (json_array_first_int(d, "error_codes", &err->code) != 0)
			err->code = 0;
		if (json_get_string(d, "error_description", desc,
		    sizeof(desc)) == 0)
			oauth_first_line(err, desc);
	}
	json_free(d);

	/*
	 * 5xx, 429 and anything that is not an OAuth error in JSON (an HTML
	 * page of a proxy or gateway) are transient, whatever error the JSON
	 * contains.
	 */
	if (http_status >= 500 || http_status == 429 || !json) {
		err->kind = OAUTH_FAIL_TRANSIENT;
		str_copy(err->advice, oauth_transient_advice,
		    sizeof(err->advice));
		if (!json)
			snprintf(err->description, sizeof(err->description),
			    "HTTP status %d with a %s body", http_status,
			    content_type != NULL && *content_type != '\0' ?
			    content_type : "non-JSON");
		return;
	}
	oauth_classify_json(err);
}

/* ---- id_token and consent ---- */

/* Copies one string claim; an absent claim is an empty string. */
static int
idtoken_claim(const struct json_doc *d, const char *name, char *out,
    size_t cap)
{
	int	r = json_get_string(d, name, out, cap);

	if (r == EXO_ERR_NOTFOUND) {
		out[0] = '\0';
		return 0;
	}
	return r;
}

int
idtoken_parse(const char *jwt, struct idtoken_claims *out)
{
	const char	*payload, *end;
	char		*json = NULL;
	struct json_doc	*d = NULL;
	long		 n;
	int		 r = EXO_ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if ((payload = strchr(jwt, '.')) == NULL)
		return EXO_ERR_INVALID;
	payload++;
	if ((end = strchr(payload, '.')) == NULL)
		return EXO_ERR_INVALID;
	if ((size_t)(end - payload) > USER_TOKEN_MAX)
		return EXO_ERR_TOOLONG;
	if ((json = malloc(USER_TOKEN_MAX)) == NULL)
		return EXO_ERR_NOMEM;
	n = base64_decode(payload, (size_t)(end - payload), json,
	    USER_TOKEN_MAX, 1);
	if (n < 0 || json_parse(json, (size_t)n, &d) != 0)
		goto out;

	/* Claims that are absent stay empty; ones that are too long or
	 * invalid make the token invalid. */
	r = 0;
	if (idtoken_claim(d, "preferred_username", out->preferred_username,
	    sizeof(out->preferred_username)) != 0 ||
	    idtoken_claim(d, "email", out->email, sizeof(out->email)) != 0 ||
	    idtoken_claim(d, "name", out->name, sizeof(out->name)) != 0 ||
	    idtoken_claim(d, "tid", out->tid, sizeof(out->tid)) != 0 ||
	    idtoken_claim(d, "oid", out->oid, sizeof(out->oid)) != 0)
		r = EXO_ERR_INVALID;
out:
	json_free(d);
	free(json);
	return r;
}

void
oauth_consent_url(const struct settings *s, char *buf, size_t cap)
{
	struct buf	 q;
	char		 scope[CONFIG_TEXT_MAX * 2 + 128];
	const char	*tenant = s->microsoft.tenant;
	size_t		 len;

	/*
	 * Admin consent needs an organization. "common" and "consumers"
	 * cannot grant it, but "organizations" lets the admin's tenant do it.
	 */
	if (str_casecmp(tenant, "common") == 0 ||
	    str_casecmp(tenant, "consumers") == 0)
		tenant = "organizations";
	oauth_scope(s, scope, sizeof(scope));
	buf_init(&q);
	if (oauth_form_add(&q, "client_id", s->microsoft.client_id) != 0 ||
	    oauth_form_add(&q, "scope", scope) != 0 ||
	    oauth_form_add(&q, "redirect_uri", "http://localhost/") != 0) {
		buf_free(&q);
		if (cap > 0)
			buf[0] = '\0';
		return;
	}
	len = strlen(s->microsoft.authority);
	while (len > 0 && s->microsoft.authority[len - 1] == '/')
		len--;
	snprintf(buf, cap, "%.*s/%s/v2.0/adminconsent?%s", (int)len,
	    s->microsoft.authority, tenant, q.data);
	buf_free(&q);
}

void
oauth_tokens_wipe(struct oauth_tokens *t)
{
	plat_wipe(t, sizeof(*t));
}

void
oauth_note_mail_proxy(const struct settings *s, unsigned long conn)
{
	struct http_url	 u;
	char		 proxy[512], name[300];

	if (http_parse_url(s->microsoft.authority, &u) != 0)
		u.host[0] = '\0';
	http_choose_proxy(s->network.proxy, u.host, proxy);
	if (proxy[0] == '\0')
		return;
	/* Host and port only: the proxy URL may carry a password. */
	if (http_parse_url(proxy, &u) != 0)
		str_copy(name, "(invalid URL)", sizeof(name));
	else
		snprintf(name, sizeof(name), "%s:%u", u.host, u.port);
	ev_emit(EV_INFO, conn, "oauth.mail_not_proxied", "The HTTP proxy "
	    "{proxy} serves sign-in and token requests only; mail connects to "
	    "Exchange directly, so this failure is not the proxy's", "proxy",
	    name, NULL);
	plat_wipe(&u, sizeof(u));
	plat_wipe(proxy, sizeof(proxy));
}
