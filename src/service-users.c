/*
 * service-users.c: the user operations behind `exoconnect user ...` and
 * the screen's Users page. They print nothing: progress goes to the
 * callbacks of struct signin_request, results to the caller's structs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "i18n.h"
#include "oauth.h"
#include "plat.h"
#include "service.h"
#include "session.h"
#include "token.h"
#include "users.h"
#include "util.h"

/* Retries of a derived login that another process took meanwhile. */
#define ADD_LOGIN_ATTEMPTS 3
/* Size of the report of one upstream check. */
#define TEST_REPORT_MAX 4096

/* Tokens and claims of a finished sign-in. */
struct signin_outcome {
	struct oauth_tokens	tokens;
	struct idtoken_claims	claims;
};

void
signin_result_wipe(struct signin_result *r)
{
	plat_wipe(r->password, sizeof(r->password));
}

/* ---- checks of admin input ---- */

/* 1 when text is valid UTF-8 without control characters. */
static int
text_is_clean(const char *text)
{
	const unsigned char	*p = (const unsigned char *)text;
	int			 more;

	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			more = 1;
		else if (*p >= 0xe0 && *p <= 0xef)
			more = 2;
		else if (*p >= 0xf0 && *p <= 0xf4)
			more = 3;
		else
			return 0;
		for (p++; more > 0; more--, p++)
			if ((*p & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

static int
check_login(const char *login, struct exo_error *e)
{
	size_t	len = strlen(login);

	if (len == 0 || len >= USER_LOGIN_MAX)
		return err_set(e, EXO_ERR_INVALID, "the login name must be 1 "
		    "to %d characters long", USER_LOGIN_MAX - 1);
	/* The same characters as the user store accepts in users.conf. */
	if (strspn(login, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-@+") != len)
		return err_set(e, EXO_ERR_INVALID, "invalid login name; use "
		    "only letters A-Z and a-z, digits and . _ - @ +");
	return EXO_OK;
}

static int
check_mailbox(const char *mailbox, struct exo_error *e)
{
	const char	*at = strchr(mailbox, '@');
	size_t		 len = strlen(mailbox);

	if (len >= USER_MAILBOX_MAX)
		return err_set(e, EXO_ERR_INVALID, "the mailbox address is "
		    "longer than %d bytes", USER_MAILBOX_MAX - 1);
	if (at == NULL || at == mailbox || at[1] == '\0' ||
	    strchr(at + 1, '@') != NULL || strchr(mailbox, ' ') != NULL ||
	    !text_is_clean(mailbox))
		return err_set(e, EXO_ERR_INVALID, "invalid mailbox address "
		    "\"%s\"; expected an address such as scan@example.com",
		    text_is_clean(mailbox) ? mailbox : "?");
	return EXO_OK;
}

static int
check_password(const char *password, struct exo_error *e)
{
	size_t	len = strlen(password);

	if (len == 0)
		return err_set(e, EXO_ERR_INVALID, "the password is empty");
	if (len > SERVICE_PASSWORD_MAX)
		return err_set(e, EXO_ERR_INVALID, "the password is longer "
		    "than %d bytes", SERVICE_PASSWORD_MAX);
	if (!text_is_clean(password))
		return err_set(e, EXO_ERR_INVALID, "the password must be "
		    "UTF-8 text without control characters");
	return EXO_OK;
}

static int
user_not_found(const char *login, struct exo_error *e)
{
	return err_set(e, EXO_ERR_NOTFOUND, "no user named \"%s\"; "
	    "`exoconnect user list` shows the users", login);
}

/* ---- signing in ---- */

static int
signin_device_code(const struct oauth_client *client,
    const struct signin_request *rq, volatile int *cancel,
    struct oauth_tokens *tokens, struct oauth_error *oerr)
{
	struct oauth_device_code	*dc;
	int				 rc;

	dc = calloc(1, sizeof(*dc));
	if (dc == NULL)
		return EXO_ERR_NOMEM;
	rc = oauth_device_start(client, dc, oerr);
	if (rc == EXO_OK) {
		if (rq->on_device_code != NULL)
			rq->on_device_code(dc->verification_uri, dc->user_code,
			    dc->message, dc->expires_in, rq->ctx);
		rc = oauth_device_poll(client, dc, cancel, tokens, oerr);
	}
	plat_wipe(dc, sizeof(*dc));
	free(dc);
	return rc;
}

/*
 * Runs the sign-in of rq and decodes the id_token. Fails with
 * EXO_ERR_CANCELLED when cancel was set, even after a success, so a
 * cancelled sign-in never stores anything.
 */
static int
signin_run(struct service *sv, const struct signin_request *rq,
    struct signin_outcome *so, struct oauth_error *oerr,
    struct exo_error *e)
{
	struct oauth_client	 client;
	volatile int		 no_cancel = 0;
	volatile int		*cancel = rq->cancel ? rq->cancel : &no_cancel;
	const char		*reason;
	int			 rc;

	rc = service_check_ready(sv, e);
	if (rc != EXO_OK)
		return rc;

	oauth_client_init(&client, service_settings(sv), service_trust(sv));
	if (rq->method == SIGNIN_BROWSER)
		rc = oauth_browser_signin(&client, rq->on_browser_url, rq->ctx,
		    cancel, rq->timeout_s, &so->tokens, oerr);
	else
		rc = signin_device_code(&client, rq, cancel, &so->tokens,
		    oerr);
	if (*cancel)
		return err_set(e, EXO_ERR_CANCELLED, "sign-in cancelled; "
		    "nothing was stored");
	if (rc != EXO_OK) {
		reason = oerr->description[0] != '\0' ? oerr->description :
		    exo_strerror(rc);
		return err_set(e, rc, "sign-in failed: %s", reason);
	}

	if (so->tokens.refresh_token[0] == '\0')
		return err_set(e, EXO_ERR_CONFIG, "sign-in returned no refresh "
		    "token; the requested scopes must include offline_access");
	if (idtoken_parse(so->tokens.id_token, &so->claims) != EXO_OK)
		return err_set(e, EXO_ERR_PROTO, "sign-in returned no readable "
		    "id_token, so the account is unknown; the scopes must "
		    "include openid and profile");
	return EXO_OK;
}

static const char *
claims_account(const struct idtoken_claims *c)
{
	return c->preferred_username[0] != '\0' ? c->preferred_username :
	    c->email;
}

/* Fills the grant fields of u from a finished sign-in. */
static void
user_apply_signin(struct user *u, const struct signin_outcome *so)
{
	const struct idtoken_claims *c = &so->claims;

	str_copy(u->refresh_token, so->tokens.refresh_token,
	    sizeof(u->refresh_token));
	plat_wipe(u->refresh_token_reserve, sizeof(u->refresh_token_reserve));
	u->refresh_token_rejected = 0;
	str_copy(u->tenant_id, c->tid, sizeof(u->tenant_id));
	u->personal = strcmp(c->tid, OAUTH_PERSONAL_TENANT) == 0;
	if (c->name[0] != '\0')
		str_copy(u->display_name, c->name, sizeof(u->display_name));
	u->state = USER_OK;
	u->state_code[0] = '\0';
	u->state_reason[0] = '\0';
	u->last_refresh = plat_wall_time();
}

/* Allocates the large structs of a sign-in; both are freed by the caller. */
static int
signin_alloc(struct signin_outcome **so, struct user **u,
    struct exo_error *e)
{
	*so = calloc(1, sizeof(**so));
	*u = calloc(1, sizeof(**u));
	if (*so == NULL || *u == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	return EXO_OK;
}

static void
signin_free(struct signin_outcome *so, struct user *u)
{
	if (so != NULL) {
		oauth_tokens_wipe(&so->tokens);
		plat_wipe(so, sizeof(*so));
		free(so);
	}
	if (u != NULL) {
		user_wipe(u);
		free(u);
	}
}

/* Adds u, deriving its login again when another process took it. */
static int
add_with_login(struct service *sv, struct user *u, const char *login,
    struct exo_error *e)
{
	struct userdb	*db = service_userdb(sv);
	int		 rc = EXO_ERR_EXISTS;

	if (login != NULL) {
		str_copy(u->login, login, sizeof(u->login));
		return userdb_add(db, u, e);
	}
	for (int i = 0; i < ADD_LOGIN_ATTEMPTS && rc == EXO_ERR_EXISTS; i++) {
		rc = userdb_unique_login(db, u->mailbox, u->login, e);
		if (rc != EXO_OK)
			return rc;
		rc = userdb_add(db, u, e);
	}
	return rc;
}

static int
add_check_args(struct service *sv, const char *login, const char *mailbox,
    struct user *u, struct exo_error *e)
{
	int	rc;

	if (mailbox != NULL && (rc = check_mailbox(mailbox, e)) != EXO_OK)
		return rc;
	if (login == NULL)
		return EXO_OK;
	if ((rc = check_login(login, e)) != EXO_OK)
		return rc;
	if (userdb_get(service_userdb(sv), login, u, NULL) == EXO_OK)
		return err_set(e, EXO_ERR_EXISTS, "a user named \"%s\" "
		    "exists already; choose another --login", login);
	return EXO_OK;
}

int
service_user_add(struct service *sv, const struct signin_request *rq,
    const char *login, const char *mailbox, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e)
{
	struct signin_outcome	*so = NULL;
	struct user		*u = NULL;
	struct oauth_error	 local;
	char			 password[17];
	int			 rc;

	memset(out, 0, sizeof(*out));
	memset(&local, 0, sizeof(local));
	if (oerr == NULL)
		oerr = &local;
	memset(oerr, 0, sizeof(*oerr));

	if ((rc = signin_alloc(&so, &u, e)) != EXO_OK)
		goto out;
	if ((rc = add_check_args(sv, login, mailbox, u, e)) != EXO_OK)
		goto out;
	if ((rc = signin_run(sv, rq, so, oerr, e)) != EXO_OK)
		goto out;

	memset(u, 0, sizeof(*u));
	str_copy(out->account, claims_account(&so->claims),
	    sizeof(out->account));
	if (mailbox == NULL)
		mailbox = out->account;
	if ((rc = check_mailbox(mailbox, e)) != EXO_OK) {
		err_set(e, rc, "the signed-in account has no usable mailbox "
		    "address (\"%s\"); give one with --mailbox", out->account);
		goto out;
	}
	str_copy(u->mailbox, mailbox, sizeof(u->mailbox));
	user_apply_signin(u, so);
	u->created = plat_wall_time();
	if ((rc = user_random_password(password)) != EXO_OK) {
		err_set(e, rc, "could not draw a random password");
		goto out;
	}
	str_copy(u->password, password, sizeof(u->password));
	plat_wipe(password, sizeof(password));

	if ((rc = add_with_login(sv, u, login, e)) != EXO_OK)
		goto out;
	token_forget(service_tokens(sv), u->login);
	ev_emit(EV_INFO, 0, "user.added", "Added user {login} for mailbox "
	    "{mailbox}", "login", u->login, "mailbox", u->mailbox,
	    (char *)NULL);

	str_copy(out->login, u->login, sizeof(out->login));
	str_copy(out->mailbox, u->mailbox, sizeof(out->mailbox));
	str_copy(out->password, u->password, sizeof(out->password));
	out->personal = u->personal;
out:
	signin_free(so, u);
	return rc;
}

static int
apply_signin_fn(struct user *u, void *ctx)
{
	user_apply_signin(u, ctx);
	return EXO_OK;
}

int
service_user_signin(struct service *sv, const char *login,
    const struct signin_request *rq, struct signin_result *out,
    struct oauth_error *oerr, struct exo_error *e)
{
	struct signin_outcome	*so = NULL;
	struct user		*u = NULL;
	struct oauth_error	 local;
	int			 rc;

	memset(out, 0, sizeof(*out));
	memset(&local, 0, sizeof(local));
	if (oerr == NULL)
		oerr = &local;
	memset(oerr, 0, sizeof(*oerr));

	if ((rc = signin_alloc(&so, &u, e)) != EXO_OK)
		goto out;
	rc = userdb_get(service_userdb(sv), login, u, e);
	if (rc == EXO_ERR_NOTFOUND)
		rc = user_not_found(login, e);
	if (rc != EXO_OK)
		goto out;
	if ((rc = signin_run(sv, rq, so, oerr, e)) != EXO_OK)
		goto out;

	rc = userdb_update(service_userdb(sv), u->login, apply_signin_fn, so,
	    e);
	if (rc == EXO_ERR_NOTFOUND)
		rc = err_set(e, rc, "user \"%s\" was deleted during the "
		    "sign-in; nothing was stored", login);
	if (rc != EXO_OK)
		goto out;
	token_forget(service_tokens(sv), u->login);
	ev_emit(EV_INFO, 0, "user.signed_in", "User {login} signed in again "
	    "as {account}", "login", u->login, "account",
	    claims_account(&so->claims), (char *)NULL);

	str_copy(out->login, u->login, sizeof(out->login));
	str_copy(out->mailbox, u->mailbox, sizeof(out->mailbox));
	str_copy(out->account, claims_account(&so->claims),
	    sizeof(out->account));
	out->personal = strcmp(so->claims.tid, OAUTH_PERSONAL_TENANT) == 0;
out:
	signin_free(so, u);
	return rc;
}

/* ---- changes without a sign-in ---- */

static int
set_password_fn(struct user *u, void *ctx)
{
	str_copy(u->password, ctx, sizeof(u->password));
	return EXO_OK;
}

/* Runs fn on login under the store's lock and forgets cached tokens. */
static int
user_change(struct service *sv, const char *login,
    int (*fn)(struct user *, void *), void *ctx, struct exo_error *e)
{
	int	rc;

	rc = userdb_update(service_userdb(sv), login, fn, ctx, e);
	if (rc == EXO_ERR_NOTFOUND)
		return user_not_found(login, e);
	if (rc == EXO_OK)
		token_forget(service_tokens(sv), login);
	return rc;
}

int
service_user_reset_password(struct service *sv, const char *login,
    char password[USER_PASSWORD_MAX], struct exo_error *e)
{
	char	fresh[17];
	int	rc;

	password[0] = '\0';
	rc = user_random_password(fresh);
	if (rc != EXO_OK)
		return err_set(e, rc, "could not draw a random password");
	rc = user_change(sv, login, set_password_fn, fresh, e);
	if (rc == EXO_OK) {
		str_copy(password, fresh, USER_PASSWORD_MAX);
		ev_emit(EV_INFO, 0, "user.password_reset", "User {login} got "
		    "a new random password", "login", login, (char *)NULL);
	}
	plat_wipe(fresh, sizeof(fresh));
	return rc;
}

int
service_user_set_password(struct service *sv, const char *login,
    const char *password, struct exo_error *e)
{
	int	rc;

	rc = check_password(password, e);
	if (rc != EXO_OK)
		return rc;
	rc = user_change(sv, login, set_password_fn, (void *)password, e);
	if (rc == EXO_OK)
		ev_emit(EV_INFO, 0, "user.password_set", "The admin set the "
		    "password of user {login}", "login", login, (char *)NULL);
	return rc;
}

static int
set_mailbox_fn(struct user *u, void *ctx)
{
	str_copy(u->mailbox, ctx, sizeof(u->mailbox));
	return EXO_OK;
}

static int
set_sender_fn(struct user *u, void *ctx)
{
	str_copy(u->sender_policy, ctx, sizeof(u->sender_policy));
	return EXO_OK;
}

static int
check_sender(const char *value, struct exo_error *e)
{
	if (strcmp(value, "pass") == 0 || strcmp(value, "rewrite") == 0)
		return EXO_OK;
	return err_set(e, EXO_ERR_INVALID, "invalid sender \"%s\"; use "
	    "pass (send the device's sender as it is) or rewrite (replace "
	    "it with the mailbox address)", text_is_clean(value) ? value :
	    "?");
}

/* Words of a yes/no value; even indexes mean yes. */
static const char *const bool_words[] = {
	"yes", "no", "on", "off", "true", "false", "1", "0", NULL,
};

static int
bool_index(const char *value)
{
	for (int i = 0; bool_words[i] != NULL; i++)
		if (str_casecmp(bool_words[i], value) == 0)
			return i;
	return -1;
}

static int
check_bool(const char *value, struct exo_error *e)
{
	if (bool_index(value) >= 0)
		return EXO_OK;
	return err_set(e, EXO_ERR_INVALID, "invalid value \"%s\"; use yes or "
	    "no", text_is_clean(value) ? value : "?");
}

static int
set_legacy_charset_fn(struct user *u, void *ctx)
{
	u->accept_legacy_charset = bool_index(ctx) % 2 == 0;
	return EXO_OK;
}

static int
set_encode_utf8_fn(struct user *u, void *ctx)
{
	u->encode_utf8_headers = bool_index(ctx) % 2 == 0;
	return EXO_OK;
}

static int
set_relabel_jp_fn(struct user *u, void *ctx)
{
	u->relabel_iso2022jp = bool_index(ctx) % 2 == 0;
	return EXO_OK;
}

/* The per-user settings of `user set`; names match service_user_keys. */
static const struct user_key {
	const char	*name;
	int		(*check)(const char *value, struct exo_error *e);
	int		(*apply)(struct user *u, void *value);
} user_keys[] = {
	{ "mailbox", check_mailbox, set_mailbox_fn },
	{ "sender", check_sender, set_sender_fn },
	{ "accept_legacy_charset", check_bool, set_legacy_charset_fn },
	{ "encode_utf8_headers", check_bool, set_encode_utf8_fn },
	{ "relabel_iso2022jp", check_bool, set_relabel_jp_fn },
};

#define USER_KEY_COUNT (sizeof(user_keys) / sizeof(user_keys[0]))

const char *const *
service_user_keys(void)
{
	static const char *const names[USER_KEY_COUNT + 1] = {
		"mailbox", "sender", "accept_legacy_charset",
		"encode_utf8_headers", "relabel_iso2022jp", NULL,
	};

	return names;
}

int
service_user_set(struct service *sv, const char *login, const char *key,
    const char *value, struct exo_error *e)
{
	const struct user_key	*k = NULL;
	int			 rc;

	for (size_t i = 0; i < USER_KEY_COUNT; i++)
		if (strcmp(user_keys[i].name, key) == 0)
			k = &user_keys[i];
	if (k == NULL)
		return err_set(e, EXO_ERR_INVALID, "unknown setting \"%s\"; "
		    "known settings: mailbox, sender, accept_legacy_charset, "
		    "encode_utf8_headers, relabel_iso2022jp",
		    text_is_clean(key) ? key : "?");

	rc = k->check(value, e);
	if (rc != EXO_OK)
		return rc;
	rc = user_change(sv, login, k->apply, (void *)value, e);
	if (rc == EXO_OK)
		ev_emit(EV_INFO, 0, "user.setting_changed", "Set {key} of user "
		    "{login} to {value}", "key", key, "login", login, "value",
		    value, (char *)NULL);
	return rc;
}

int
service_user_delete(struct service *sv, const char *login,
    struct exo_error *e)
{
	int	rc;

	rc = userdb_delete(service_userdb(sv), login, e);
	if (rc == EXO_ERR_NOTFOUND)
		return user_not_found(login, e);
	if (rc == EXO_OK) {
		token_forget(service_tokens(sv), login);
		ev_emit(EV_INFO, 0, "user.deleted", "Deleted user {login}",
		    "login", login, (char *)NULL);
	}
	return rc;
}

/* Shows the token manager's state of u, when the store has no worse. */
static void
list_token_state(struct service *sv, struct user *u)
{
	struct token_status	st;
	char			next[64];

	if (u->state != USER_OK)
		return;
	token_status(service_tokens(sv), u->login, &st);
	if (st.refreshing) {
		u->state = USER_REFRESHING;
		return;
	}
	if (st.reason[0] == '\0')
		return;
	u->state = USER_TRANSIENT_ERROR;
	u->state_code[0] = '\0';
	if (st.retry_in_s >= 120)
		snprintf(next, sizeof(next), _("next try in %d min"),
		    (st.retry_in_s + 59) / 60);
	else if (st.retry_in_s > 0)
		snprintf(next, sizeof(next), _("next try in %d s"),
		    st.retry_in_s);
	else
		str_copy(next, _("next try at the next login"), sizeof(next));
	/* The reason is cut to leave room for the time of the next try. */
	snprintf(u->state_reason, sizeof(u->state_reason), "%.*s (%s)",
	    (int)(sizeof(u->state_reason) - sizeof(next) - 4), st.reason,
	    next);
}

int
service_user_list(struct service *sv, struct user **users, size_t *count,
    struct exo_error *e)
{
	int	rc;

	rc = userdb_list(service_userdb(sv), users, count, e);
	if (rc == EXO_OK && service_tokens(sv) != NULL)
		for (size_t i = 0; i < *count; i++)
			list_token_state(sv, &(*users)[i]);
	return rc;
}

/* ---- user test ---- */

/* Passes each line of report to step. */
static void
report_lines(char *report, void (*step)(const char *, void *), void *ctx)
{
	char	*line, *next;

	for (line = report; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (*line != '\0')
			step(line, ctx);
	}
}

typedef int (*upstream_check_fn)(const struct settings *,
    const struct trust_store *, const struct token_lease *, char *, size_t,
    struct exo_error *);

static int
test_upstream(struct service *sv, const char *name, int enabled,
    upstream_check_fn check, const struct token_lease *lease,
    void (*step)(const char *, void *), void *ctx, struct exo_error *e)
{
	char	*report, line[EXO_ERROR_MSG_MAX + 64];
	int	 rc;

	if (!enabled) {
		snprintf(line, sizeof(line), _("%s: skipped, the %s server is "
		    "disabled in the settings"), name, name);
		step(line, ctx);
		return EXO_OK;
	}
	report = calloc(1, TEST_REPORT_MAX);
	if (report == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	rc = check(service_settings(sv), service_trust(sv), lease, report,
	    TEST_REPORT_MAX, e);
	report_lines(report, step, ctx);
	if (rc == EXO_OK)
		snprintf(line, sizeof(line), _("%s: ok"), name);
	else
		snprintf(line, sizeof(line), _("%s: failed: %s"), name,
		    e != NULL ? e->msg : exo_strerror(rc));
	step(line, ctx);
	free(report);
	return rc;
}

int
service_user_test(struct service *sv, const char *login,
    void (*step)(const char *line, void *ctx), void *ctx,
    struct exo_error *e)
{
	const struct settings	*s = service_settings(sv);
	struct token_lease	*lease;
	struct exo_error	 pop_err, smtp_err;
	char			 line[EXO_ERROR_MSG_MAX + USER_MAILBOX_MAX];
	int			 rc, rc_pop, rc_smtp;

	rc = service_check_ready(sv, e);
	if (rc != EXO_OK)
		return rc;
	lease = calloc(1, sizeof(*lease));
	if (lease == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");

	/* An admin's test always asks the token service, even for a
	 * flagged refresh token, and reports its answer. */
	rc = token_test(service_tokens(sv), login, lease, e);
	if (rc == EXO_ERR_NOTFOUND)
		rc = user_not_found(login, e);
	if (rc != EXO_OK)
		snprintf(line, sizeof(line), _("token refresh: failed: %s"),
		    e != NULL ? e->msg : exo_strerror(rc));
	else if (lease->personal)
		snprintf(line, sizeof(line), _("token refresh: ok, mailbox %s "
		    "(personal account)"), lease->mailbox);
	else
		snprintf(line, sizeof(line), _("token refresh: ok, mailbox %s"),
		    lease->mailbox);
	step(line, ctx);
	if (rc != EXO_OK)
		goto out;

	err_clear(&pop_err);
	err_clear(&smtp_err);
	rc_pop = test_upstream(sv, "POP3", s->pop3.enabled,
	    pop3_upstream_check, lease, step, ctx, &pop_err);
	rc_smtp = test_upstream(sv, "SMTP", s->smtp.enabled,
	    smtp_upstream_check, lease, step, ctx, &smtp_err);
	if (rc_pop != EXO_OK)
		rc = err_copy(e, rc_pop, &pop_err);
	else if (rc_smtp != EXO_OK)
		rc = err_copy(e, rc_smtp, &smtp_err);
	if (rc_pop == EXO_OK && s->pop3.enabled)
		token_report_success(service_tokens(sv), login, TOKEN_POP3);
	if (rc_smtp == EXO_OK && s->smtp.enabled)
		token_report_success(service_tokens(sv), login, TOKEN_SMTP);
out:
	token_lease_wipe(lease);
	free(lease);
	return rc;
}
