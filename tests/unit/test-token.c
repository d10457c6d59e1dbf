/*
 * test-token.c: the token manager against the token service double on
 * 127.0.0.1 and a user store in a temporary folder: single flight,
 * rotation saved before use, backoff, and the states that stop refreshes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/token.h"
#include "../../src/plat.h"
#include "test.h"
#include "token-double.h"

#define LOGIN "scanner1"
#define MAILBOX "mfp@example.com"

struct fixture {
	struct settings		 s;
	struct token_double	*td;
	struct userdb		*db;
	struct token_mgr	*m;
	char			 dir[64];
	int64_t			 clock_s;	/* virtual clock offset */
};

static int
fixture_start(struct fixture *f, const char *refresh_token)
{
	struct user		*u = calloc(1, sizeof(*u));
	char			 notice[512];
	int			 r = -1;

	memset(f, 0, sizeof(*f));
	plat_test_set_clock_offset(0);
	config_defaults(&f->s);
	str_copy(f->s.microsoft.client_id,
	    "11111111-2222-3333-4444-555555555555",
	    sizeof(f->s.microsoft.client_id));
	snprintf(f->dir, sizeof(f->dir), "/tmp/exo-token-XXXXXX");
	if (u == NULL || mkdtemp(f->dir) == NULL)
		goto out;
	str_copy(f->s.data_dir, f->dir, sizeof(f->s.data_dir));
	if ((f->td = td_start(&f->s)) == NULL)
		goto out;
	if (userdb_open(&f->s, &f->db, notice, NULL) != 0)
		goto out;
	str_copy(u->login, LOGIN, sizeof(u->login));
	str_copy(u->mailbox, MAILBOX, sizeof(u->mailbox));
	str_copy(u->password, "secret", sizeof(u->password));
	str_copy(u->refresh_token, refresh_token, sizeof(u->refresh_token));
	u->last_refresh = plat_wall_time();
	if (userdb_add(f->db, u, NULL) != 0)
		goto out;
	f->m = token_mgr_new(&f->s, f->db, td_trust(f->td));
	r = f->m != NULL ? 0 : -1;
out:
	free(u);
	if (r != 0)
		printf("  fixture: start failed\n");
	return r;
}

static void
fixture_stop(struct fixture *f)
{
	char	cmd[128];

	token_mgr_free(f->m);
	if (f->db != NULL)
		userdb_close(f->db);
	td_stop(f->td);
	plat_test_set_clock_offset(0);
	plat_test_set_write_fail(NULL);
	if (f->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
		if (system(cmd) != 0)
			printf("  could not remove %s\n", f->dir);
	}
}

/* A new manager on a new store handle, as after a restart. */
static int
fixture_restart(struct fixture *f)
{
	char	notice[512];

	token_mgr_free(f->m);
	userdb_close(f->db);
	f->m = NULL;
	if (userdb_open(&f->s, &f->db, notice, NULL) != 0)
		return -1;
	f->m = token_mgr_new(&f->s, f->db, td_trust(f->td));
	return f->m != NULL ? 0 : -1;
}

static void
advance(struct fixture *f, int seconds)
{
	f->clock_s += seconds;
	plat_test_set_clock_offset(f->clock_s);
}

/* Reads the stored user from disk through a second store handle. */
static int
stored_user(struct fixture *f, struct user *u)
{
	struct userdb	*db;
	char		 notice[512];
	int		 r;

	if (userdb_open(&f->s, &db, notice, NULL) != 0)
		return -1;
	r = userdb_get(db, LOGIN, u, NULL);
	userdb_close(db);
	return r;
}

/* Concatenates users.conf and secrets.dat, for byte comparisons. */
static char *
store_bytes(struct fixture *f)
{
	static const char *const names[] = { "users.conf", "secrets.dat" };
	struct buf	 all;
	char		 path[PLAT_PATH_MAX];
	char		*data;
	size_t		 len, i;

	buf_init(&all);
	for (i = 0; i < 2; i++) {
		plat_path_join(path, f->dir, names[i]);
		if (plat_read_file(path, 1 << 20, &data, &len, NULL) != 0)
			continue;
		buf_printf(&all, "== %s\n", names[i]);
		buf_append(&all, data, len);
		free(data);
	}
	return all.data;
}

static const char ok_reply[] = "{\"token_type\":\"Bearer\",\"scope\":\"x\","
    "\"expires_in\":3599,\"access_token\":\"AT-1\","
    "\"refresh_token\":\"RT-2\"}";

/* ---- single flight ---- */

struct waiter {
	struct fixture		*f;
	struct plat_mutex	*mu;
	struct plat_cond	*cond;
	int			*done;
	int			 result;
	char			 token[32];
	int			 fresh;
};

static void
waiter_run(void *arg)
{
	struct waiter		*w = arg;
	struct token_lease	*lease = calloc(1, sizeof(*lease));

	w->result = lease != NULL ? token_get(w->f->m, LOGIN, 0, lease,
	    NULL) : EXO_ERR_NOMEM;
	if (lease != NULL) {
		str_copy(w->token, lease->access_token, sizeof(w->token));
		w->fresh = lease->fresh;
		token_lease_wipe(lease);
		free(lease);
	}
	plat_mutex_lock(w->mu);
	(*w->done)++;
	plat_cond_broadcast(w->cond);
	plat_mutex_unlock(w->mu);
}

/* Starts ten waiters at once and waits until all of them returned. */
static void
run_waiters(struct fixture *f, struct waiter w[10])
{
	struct plat_mutex	*mu = plat_mutex_new();
	struct plat_cond	*cond = plat_cond_new();
	int			 done = 0, i;

	for (i = 0; i < 10; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].f = f;
		w[i].mu = mu;
		w[i].cond = cond;
		w[i].done = &done;
		w[i].result = 1;
		if (plat_thread_start(waiter_run, &w[i], 0) != 0)
			done++;
	}
	plat_mutex_lock(mu);
	while (done < 10)
		if (plat_cond_wait(cond, mu, 30000) != 0)
			break;
	plat_mutex_unlock(mu);
	CHECK_INT(done, 10);
	plat_cond_free(cond);
	plat_mutex_free(mu);
}

TEST(token_failure_shared_by_waiters)
{
	struct fixture		 f;
	struct waiter		 w[10];
	struct td_reply		*reply = calloc(1, sizeof(*reply));
	int			 i;

	if (fixture_start(&f, "RT-1") != 0 || reply == NULL) {
		CHECK(0);
		goto out;
	}
	reply->status = 503;
	reply->delay_ms = 300;
	str_copy(reply->body, "{\"error\":\"temporarily_unavailable\"}",
	    sizeof(reply->body));
	td_push_reply(f.td, reply);
	run_waiters(&f, w);
	CHECK_INT(td_requests(f.td), 1);
	for (i = 0; i < 10; i++)
		CHECK_INT(w[i].result, EXO_ERR_TRANSIENT);
out:
	fixture_stop(&f);
	free(reply);
}

TEST(token_single_flight)
{
	struct fixture		 f;
	struct waiter		 w[10];
	struct td_reply		*reply = calloc(1, sizeof(*reply));
	struct user		*u = calloc(1, sizeof(*u));
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	int			 i;

	if (fixture_start(&f, "RT-1") != 0 || reply == NULL || u == NULL ||
	    lease == NULL) {
		CHECK(0);
		goto out;
	}
	reply->status = 200;
	reply->delay_ms = 300;
	str_copy(reply->body, ok_reply, sizeof(reply->body));
	td_push_reply(f.td, reply);

	run_waiters(&f, w);
	CHECK_INT(td_requests(f.td), 1);
	for (i = 0; i < 10; i++) {
		CHECK_INT(w[i].result, 0);
		CHECK_STR(w[i].token, "AT-1");
		CHECK_INT(w[i].fresh, 1);
	}
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token, "RT-2");
	CHECK_STR(u->refresh_token_reserve, "RT-1");
	CHECK_INT(u->state, USER_OK);

	/* The cached token serves later calls without a request. */
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);
	CHECK_STR(lease->access_token, "AT-1");
	CHECK_INT(lease->fresh, 0);
	CHECK_INT(td_requests(f.td), 1);
out:
	fixture_stop(&f);
	free(lease);
	free(u);
	free(reply);
}

TEST(token_waiter_gives_up)
{
	struct fixture		 f;
	struct waiter		 refresher, waiter;
	struct td_reply		*reply = calloc(1, sizeof(*reply));
	struct plat_mutex	*mu = plat_mutex_new();
	struct plat_cond	*cond = plat_cond_new();
	int64_t			 start;
	int			 done = 0, i;

	if (fixture_start(&f, "RT-1") != 0 || reply == NULL) {
		CHECK(0);
		goto out;
	}
	reply->status = 200;
	reply->delay_ms = 3000;
	str_copy(reply->body, ok_reply, sizeof(reply->body));
	td_push_reply(f.td, reply);

	memset(&refresher, 0, sizeof(refresher));
	refresher.f = &f;
	refresher.mu = mu;
	refresher.cond = cond;
	refresher.done = &done;
	waiter = refresher;
	CHECK_INT(plat_thread_start(waiter_run, &refresher, 0), 0);
	for (i = 0; i < 100 && td_requests(f.td) == 0; i++)
		plat_sleep_ms(20);
	CHECK_INT(plat_thread_start(waiter_run, &waiter, 0), 0);
	plat_sleep_ms(200);

	/* The waiter gives up once its 20 s pass on the monotonic clock,
	 * while the refresh is still in flight. */
	start = plat_now_ms();
	advance(&f, TOKEN_WAIT_MAX_MS / 1000 + 1);
	plat_mutex_lock(mu);
	while (done < 1)
		if (plat_cond_wait(cond, mu, 10000) != 0)
			break;
	plat_mutex_unlock(mu);
	CHECK_INT(done, 1);
	CHECK_INT(waiter.result, EXO_ERR_TIMEOUT);
	CHECK(plat_now_ms() - start < (TOKEN_WAIT_MAX_MS / 1000 + 3) * 1000);

	plat_mutex_lock(mu);
	while (done < 2)
		if (plat_cond_wait(cond, mu, 10000) != 0)
			break;
	plat_mutex_unlock(mu);
	CHECK_INT(done, 2);
	CHECK_INT(refresher.result, 0);
	CHECK_STR(refresher.token, "AT-1");
	CHECK_INT(td_requests(f.td), 1);
out:
	fixture_stop(&f);
	plat_cond_free(cond);
	plat_mutex_free(mu);
	free(reply);
}

/* ---- rotation ---- */

/* Accepts only the current refresh token and rotates it once used. */
struct rotator {
	int	current;	/* "RT-<current>" is valid */
	int	issued;
};

static void
rotator_reply(const char *body, struct td_reply *reply, void *ctx)
{
	struct rotator	*rot = ctx;
	char		 want[64];

	snprintf(want, sizeof(want), "&refresh_token=RT-%d&", rot->current);
	if (strstr(body, want) == NULL) {
		reply->status = 400;
		str_copy(reply->body, "{\"error\":\"invalid_grant\","
		    "\"error_codes\":[70000]}", sizeof(reply->body));
		return;
	}
	rot->current++;
	rot->issued++;
	reply->status = 200;
	snprintf(reply->body, sizeof(reply->body), "{\"expires_in\":3599,"
	    "\"access_token\":\"AT-%d\",\"refresh_token\":\"RT-%d\"}",
	    rot->issued, rot->current);
}

TEST(token_rotation_across_restarts)
{
	struct fixture		 f;
	struct rotator		 rot = { 1, 0 };
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct user		*u = calloc(1, sizeof(*u));
	int			 i;

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL || u == NULL) {
		CHECK(0);
		goto out;
	}
	td_set_handler(f.td, rotator_reply, &rot);
	for (i = 1; i <= 3; i++) {
		CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);
		CHECK_INT(lease->fresh, 1);
		CHECK_INT(stored_user(&f, u), 0);
		/* Saved on disk by the time the access token is out. */
		CHECK_INT(atoi(u->refresh_token + 3), i + 1);
		CHECK_INT(atoi(lease->access_token + 3), i);
		CHECK(fixture_restart(&f) == 0);
	}
	CHECK_INT(td_requests(f.td), 3);
	CHECK_STR(u->refresh_token, "RT-4");
	CHECK_STR(u->refresh_token_reserve, "RT-3");

	/* A success at Exchange drops the reserve. */
	token_report_success(f.m, LOGIN, TOKEN_POP3);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token_reserve, "");
	CHECK_STR(u->refresh_token, "RT-4");
out:
	fixture_stop(&f);
	free(u);
	free(lease);
}

TEST(token_unsaved_rotation_not_used)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct user		*u = calloc(1, sizeof(*u));
	struct exo_error	 e;
	char			*before = NULL, *after = NULL;

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL || u == NULL) {
		CHECK(0);
		goto out;
	}
	before = store_bytes(&f);
	td_push(f.td, 200, ok_reply, 0);
	plat_test_set_write_fail("secrets");
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_STR(lease->access_token, "");
	CHECK(strstr(e.msg, "could not be read or written") != NULL);
	plat_test_set_write_fail(NULL);
	after = store_bytes(&f);
	CHECK(before != NULL);
	CHECK(after != NULL);
	if (before != NULL && after != NULL)
		CHECK_STR(after, before);

	/* The spent token is never sent again: the next call writes the
	 * rotated one kept in memory, and only then hands out AT-1. */
	advance(&f, 6);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);
	CHECK_STR(lease->access_token, "AT-1");
	CHECK_INT(td_requests(f.td), 1);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token, "RT-2");

	/* A response without refresh_token keeps the stored one. */
	advance(&f, 3600);
	td_push(f.td, 200, "{\"expires_in\":3599,\"access_token\":\"AT-10\"}",
	    0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);
	CHECK_STR(lease->access_token, "AT-10");
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token, "RT-2");
out:
	fixture_stop(&f);
	free(before);
	free(after);
	free(u);
	free(lease);
}

/* ---- transient failures ---- */

TEST(token_transient_keeps_store)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct td_reply		*reply = calloc(1, sizeof(*reply));
	struct exo_error	 e;
	char			*before = NULL, *after = NULL;
	int			 n;

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL ||
	    reply == NULL) {
		CHECK(0);
		goto out;
	}
	before = store_bytes(&f);

	/* Backoff: 5 s, 10 s, 20 s, then Retry-After 60 wins over 40 s. */
	td_push(f.td, 503, "Service Unavailable", 0);
	td_push(f.td, 502, "<html><body>Bad gateway</body></html>", 0);
	td_push(f.td, 400, "{\"error\":\"temporarily_unavailable\"}", 0);
	td_push(f.td, 429, "", 60);
	reply->close_without_reply = 1;
	td_push_reply(f.td, reply);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_INT(td_requests(f.td), 1);
	CHECK(strstr(e.msg, "RT-1") == NULL);

	/* While backing off, callers fail at once without a request. */
	advance(&f, 4);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_INT(td_requests(f.td), 1);
	advance(&f, 2);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_INT(td_requests(f.td), 2);
	advance(&f, 9);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_INT(td_requests(f.td), 2);
	advance(&f, 2);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_INT(td_requests(f.td), 3);
	advance(&f, 21);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_INT(td_requests(f.td), 4);
	advance(&f, 41);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_INT(td_requests(f.td), 4);
	advance(&f, 20);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	n = td_requests(f.td);
	CHECK_INT(n, 5);

	/* No server listening at all. */
	advance(&f, 200);
	td_stop(f.td);
	f.td = NULL;
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);

	after = store_bytes(&f);
	CHECK(before != NULL);
	CHECK(after != NULL);
	if (before != NULL && after != NULL)
		CHECK_STR(after, before);
out:
	fixture_stop(&f);
	free(before);
	free(after);
	free(reply);
	free(lease);
}

TEST(token_cached_used_while_down)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL) {
		CHECK(0);
		goto out;
	}
	td_push(f.td, 200, ok_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);

	/* Within the early refresh window the refresh fails, and the token
	 * that has not expired yet is still handed out. */
	advance(&f, 3599 - TOKEN_EARLY_REFRESH + 10);
	td_push(f.td, 503, "down", 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);
	CHECK_STR(lease->access_token, "AT-1");
	CHECK_INT(td_requests(f.td), 2);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);
	CHECK_INT(td_requests(f.td), 2);

	/* After it expired, callers get the transient error. */
	advance(&f, TOKEN_EARLY_REFRESH);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), EXO_ERR_TRANSIENT);
out:
	fixture_stop(&f);
	free(lease);
}

TEST(token_status_while_refreshing_and_retrying)
{
	struct fixture		 f;
	struct waiter		 w;
	struct td_reply		*reply = calloc(1, sizeof(*reply));
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct token_status	 st;
	struct plat_mutex	*mu = plat_mutex_new();
	struct plat_cond	*cond = plat_cond_new();
	int			 done = 0, i;

	if (fixture_start(&f, "RT-1") != 0 || reply == NULL ||
	    lease == NULL || mu == NULL || cond == NULL) {
		CHECK(0);
		goto out;
	}
	token_status(f.m, LOGIN, &st);
	CHECK(!st.refreshing);
	CHECK(st.reason[0] == '\0');
	CHECK_INT(st.retry_in_s, 0);

	/* A refresh whose reply the token endpoint sends after 400 ms. */
	reply->status = 500;
	reply->delay_ms = 400;
	str_copy(reply->body, "{\"error\":\"server_error\","
	    "\"error_description\":\"AADSTS90033: busy\"}",
	    sizeof(reply->body));
	td_push_reply(f.td, reply);
	memset(&w, 0, sizeof(w));
	w.f = &f;
	w.mu = mu;
	w.cond = cond;
	w.done = &done;
	CHECK_INT(plat_thread_start(waiter_run, &w, 0), 0);
	for (i = 0; i < 100; i++) {
		token_status(f.m, LOGIN, &st);
		if (st.refreshing)
			break;
		plat_sleep_ms(5);
	}
	CHECK(st.refreshing);
	plat_mutex_lock(mu);
	while (done < 1)
		if (plat_cond_wait(cond, mu, 30000) != 0)
			break;
	plat_mutex_unlock(mu);
	CHECK_INT(w.result, EXO_ERR_TRANSIENT);

	/* Then the reason and the time to the next try (5 s at first). */
	token_status(f.m, LOGIN, &st);
	CHECK(!st.refreshing);
	CHECK(strstr(st.reason, "returned status 500: ") != NULL);
	CHECK(strstr(st.reason, "busy") != NULL);
	CHECK_INT(st.retry_in_s, 5);
	advance(&f, 2);
	token_status(f.m, LOGIN, &st);
	CHECK_INT(st.retry_in_s, 3);

	/* A success clears it. */
	advance(&f, 4);
	td_push(f.td, 200, ok_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);
	token_status(f.m, LOGIN, &st);
	CHECK(!st.refreshing);
	CHECK(st.reason[0] == '\0');
	CHECK_INT(st.retry_in_s, 0);
out:
	fixture_stop(&f);
	plat_cond_free(cond);
	plat_mutex_free(mu);
	free(lease);
	free(reply);
}

/* ---- sign-in required ---- */

static int
admin_signs_in(struct user *u, void *ctx)
{
	(void)ctx;
	str_copy(u->refresh_token, "RT-NEW", sizeof(u->refresh_token));
	u->refresh_token_rejected = 0;
	u->state = USER_OK;
	return 0;
}

TEST(token_signin_stops_refreshes)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct user		*u = calloc(1, sizeof(*u));
	struct exo_error	 e;

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL || u == NULL) {
		CHECK(0);
		goto out;
	}
	td_push(f.td, 400, "{\"error\":\"invalid_grant\",\"error_description\":"
	    "\"AADSTS70043: The refresh token has expired.\",\"error_codes\":"
	    "[70043],\"suberror\":\"token_expired\"}", 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_SIGNIN);
	CHECK(strstr(e.msg, MAILBOX) != NULL);
	CHECK(strstr(e.msg, "AADSTS70043") != NULL);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->state, USER_SIGNIN_REQUIRED);
	CHECK_STR(u->state_code, "AADSTS70043");
	CHECK(strstr(u->state_reason, "Sign in again") != NULL);
	CHECK_STR(u->refresh_token, "RT-1");
	CHECK_INT(u->refresh_token_rejected, 1);

	/* Later logins are counted, and the reason is not repeated. */
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_SIGNIN);
	CHECK(strstr(e.msg, MAILBOX) != NULL);
	CHECK(strstr(e.msg, "AADSTS70043") == NULL);
	CHECK(strstr(e.msg, "1 logins refused") != NULL);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_SIGNIN);
	CHECK(strstr(e.msg, "2 logins refused") != NULL);

	/* No further refresh, also after a restart and a day later. */
	advance(&f, 86400);
	CHECK_INT(token_get(f.m, LOGIN, 1, lease, &e), EXO_ERR_SIGNIN);
	CHECK(fixture_restart(&f) == 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_SIGNIN);
	token_keepalive(f.m);
	CHECK_INT(td_requests(f.td), 1);

	/* The admin signs in again: the new refresh token is used. */
	CHECK_INT(userdb_update(f.db, LOGIN, admin_signs_in, NULL, NULL), 0);
	td_push(f.td, 200, ok_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);
	CHECK_INT(td_requests(f.td), 2);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token, "RT-2");
	CHECK_INT(u->state, USER_OK);
out:
	fixture_stop(&f);
	free(u);
	free(lease);
}

TEST(token_config_and_consent_states)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct user		*u = calloc(1, sizeof(*u));

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL || u == NULL) {
		CHECK(0);
		goto out;
	}
	td_push(f.td, 401, "{\"error\":\"invalid_client\",\"error_codes\":"
	    "[7000218]}", 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), EXO_ERR_CONFIG);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->state, USER_CONFIG_ERROR);
	CHECK_STR(u->state_code, "AADSTS7000218");
	CHECK_STR(u->refresh_token, "RT-1");

	CHECK_INT(userdb_update(f.db, LOGIN, admin_signs_in, NULL, NULL), 0);
	td_push(f.td, 400, "{\"error\":\"invalid_grant\",\"error_codes\":"
	    "[65001]}", 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), EXO_ERR_SIGNIN);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->state, USER_CONSENT_REQUIRED);
	CHECK(strstr(u->state_reason, "consent-url") != NULL);
	CHECK_INT(td_requests(f.td), 2);
out:
	fixture_stop(&f);
	free(u);
	free(lease);
}

/* ---- Exchange refused the token ---- */

TEST(token_rejected_backoff)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct user		*u = calloc(1, sizeof(*u));

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL || u == NULL) {
		CHECK(0);
		goto out;
	}
	td_push(f.td, 200, ok_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, NULL), 0);

	token_report_rejected(f.m, LOGIN, TOKEN_POP3, "-ERR", "Exchange refused it");
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->state, USER_UPSTREAM_REJECTED);
	CHECK_INT(token_get_proto(f.m, TOKEN_POP3, LOGIN, 0, lease, NULL),
	    EXO_ERR_UPSTREAM);
	/* A POP3 refusal says nothing about SMTP, and the state stays
	 * while POP3 is refused. */
	CHECK_INT(token_get_proto(f.m, TOKEN_SMTP, LOGIN, 0, lease, NULL), 0);
	token_report_success(f.m, LOGIN, TOKEN_SMTP);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->state, USER_UPSTREAM_REJECTED);
	advance(&f, 59);
	CHECK_INT(token_get_proto(f.m, TOKEN_POP3, LOGIN, 0, lease, NULL),
	    EXO_ERR_UPSTREAM);
	advance(&f, 2);
	CHECK_INT(token_get_proto(f.m, TOKEN_POP3, LOGIN, 0, lease, NULL), 0);

	/* The second rejection doubles the wait to 120 s. */
	token_report_rejected(f.m, LOGIN, TOKEN_POP3, "-ERR", "again");
	advance(&f, 119);
	CHECK_INT(token_get_proto(f.m, TOKEN_POP3, LOGIN, 0, lease, NULL),
	    EXO_ERR_UPSTREAM);
	advance(&f, 2);
	CHECK_INT(token_get_proto(f.m, TOKEN_POP3, LOGIN, 0, lease, NULL), 0);
	CHECK_INT(td_requests(f.td), 1);

	token_report_success(f.m, LOGIN, TOKEN_POP3);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->state, USER_OK);
	CHECK_STR(u->refresh_token_reserve, "");

	/* After a success, a rejection starts at 60 s again. */
	token_report_rejected(f.m, LOGIN, TOKEN_POP3, "-ERR", "third");
	advance(&f, 61);
	CHECK_INT(token_get_proto(f.m, TOKEN_POP3, LOGIN, 0, lease, NULL), 0);
out:
	fixture_stop(&f);
	free(u);
	free(lease);
}

TEST(token_keepalive_refreshes_idle)
{
	struct fixture		 f;
	struct user		*u = calloc(1, sizeof(*u));

	if (fixture_start(&f, "RT-1") != 0 || u == NULL) {
		CHECK(0);
		goto out;
	}
	token_keepalive(f.m);
	CHECK_INT(td_requests(f.td), 0);
	advance(&f, TOKEN_KEEPALIVE + 1);
	td_push(f.td, 200, ok_reply, 0);
	token_keepalive(f.m);
	CHECK_INT(td_requests(f.td), 1);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token, "RT-2");
	CHECK(u->last_refresh >= plat_wall_time() - 5);
	token_keepalive(f.m);
	CHECK_INT(td_requests(f.td), 1);
out:
	fixture_stop(&f);
	free(u);
}

TEST(token_unknown_user)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL) {
		CHECK(0);
		goto out;
	}
	CHECK_INT(token_get(f.m, "nobody", 0, lease, NULL), EXO_ERR_NOTFOUND);
	CHECK_INT(td_requests(f.td), 0);
out:
	fixture_stop(&f);
	free(lease);
}

/* ---- settings failures, the admin's test, unsaved rotation ---- */

static const char config_reply[] = "{\"error\":\"invalid_client\","
    "\"error_description\":\"AADSTS7000218: The request body must contain "
    "client_assertion or client_secret.\",\"error_codes\":[7000218]}";

TEST(token_config_keeps_token_usable)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct user		*u = calloc(1, sizeof(*u));
	struct exo_error	 e;

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL || u == NULL) {
		CHECK(0);
		goto out;
	}
	td_push(f.td, 401, config_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "AADSTS7000218") != NULL);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->state, USER_CONFIG_ERROR);
	CHECK_INT(u->refresh_token_rejected, 0);
	CHECK_STR(u->refresh_token, "RT-1");

	/* 5 min of backoff, with the logins counted. */
	CHECK_INT(token_get(f.m, LOGIN, 1, lease, &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "1 logins refused") != NULL);
	advance(&f, 299);
	CHECK_INT(token_get(f.m, LOGIN, 1, lease, &e), EXO_ERR_CONFIG);
	CHECK_INT(td_requests(f.td), 1);

	/* Then a retry; a second failure doubles the wait to 10 min. */
	advance(&f, 2);
	td_push(f.td, 401, config_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 1, lease, &e), EXO_ERR_CONFIG);
	CHECK_INT(td_requests(f.td), 2);
	advance(&f, 301);
	CHECK_INT(token_get(f.m, LOGIN, 1, lease, &e), EXO_ERR_CONFIG);
	CHECK_INT(td_requests(f.td), 2);

	/* A restart, after the settings were fixed, retries at once. */
	CHECK(fixture_restart(&f) == 0);
	td_push(f.td, 200, ok_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), 0);
	CHECK_STR(lease->access_token, "AT-1");
	CHECK_INT(td_requests(f.td), 3);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->state, USER_OK);
	CHECK_STR(u->refresh_token, "RT-2");
out:
	fixture_stop(&f);
	free(u);
	free(lease);
}

/* The flag an earlier version set after a settings failure. */
static int
old_config_flag(struct user *u, void *ctx)
{
	(void)ctx;
	u->refresh_token_rejected = 1;
	u->state = USER_CONFIG_ERROR;
	str_copy(u->state_code, "AADSTS7000218", sizeof(u->state_code));
	return 0;
}

TEST(token_test_always_asks)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct user		*u = calloc(1, sizeof(*u));
	struct exo_error	 e;

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL || u == NULL) {
		CHECK(0);
		goto out;
	}
	/* During the settings backoff, the admin's test still asks and
	 * reports the answer. */
	td_push(f.td, 401, config_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_CONFIG);
	td_push(f.td, 401, config_reply, 0);
	CHECK_INT(token_test(f.m, LOGIN, lease, &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "AADSTS7000218") != NULL);
	CHECK_INT(td_requests(f.td), 2);

	/* A flagged refresh token is sent too, and a success clears it. */
	td_push(f.td, 400, "{\"error\":\"invalid_grant\",\"error_codes\":"
	    "[50076]}", 0);
	CHECK_INT(token_test(f.m, LOGIN, lease, &e), EXO_ERR_SIGNIN);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->refresh_token_rejected, 1);
	CHECK_INT(token_get(f.m, LOGIN, 1, lease, &e), EXO_ERR_SIGNIN);
	CHECK_INT(td_requests(f.td), 3);
	td_push(f.td, 200, ok_reply, 0);
	CHECK_INT(token_test(f.m, LOGIN, lease, &e), 0);
	CHECK_STR(lease->access_token, "AT-1");
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_INT(u->refresh_token_rejected, 0);
	CHECK_INT(u->state, USER_OK);
	CHECK_STR(u->refresh_token, "RT-2");

	/* A flag from a settings failure of an earlier version is not
	 * honoured: the token was never rejected. */
	CHECK_INT(userdb_update(f.db, LOGIN, old_config_flag, NULL, NULL), 0);
	CHECK(fixture_restart(&f) == 0);
	advance(&f, 4000);
	td_push(f.td, 200, ok_reply, 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), 0);
	CHECK_INT(td_requests(f.td), 5);
out:
	fixture_stop(&f);
	free(u);
	free(lease);
}

TEST(token_unsaved_rotation_kept)
{
	struct fixture		 f;
	struct token_lease	*lease = calloc(1, sizeof(*lease));
	struct user		*u = calloc(1, sizeof(*u));
	struct exo_error	 e;

	if (fixture_start(&f, "RT-1") != 0 || lease == NULL || u == NULL) {
		CHECK(0);
		goto out;
	}
	td_push(f.td, 200, ok_reply, 0);
	plat_test_set_write_fail("secrets");
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_STR(lease->access_token, "");

	/* Still failing: retried on each call and from the keepalive,
	 * never by sending RT-1 again, and AT-1 is not handed out. */
	advance(&f, 700);
	CHECK_INT(token_get(f.m, LOGIN, 1, lease, &e), EXO_ERR_TRANSIENT);
	CHECK_STR(lease->access_token, "");
	token_keepalive(f.m);
	CHECK_INT(td_requests(f.td), 1);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token, "RT-1");

	/* A password change forgets the cached token, not RT-2. Once the
	 * disk has room again, the keepalive writes RT-2. */
	token_forget(f.m, LOGIN);
	plat_test_set_write_fail(NULL);
	token_keepalive(f.m);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token, "RT-2");
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), 0);
	CHECK_STR(lease->access_token, "AT-1");
	CHECK_INT(td_requests(f.td), 1);

	/* After a new sign-in, unsaved tokens of the old grant are dropped
	 * and the new refresh token is used. */
	advance(&f, 4000);
	td_push(f.td, 200, ok_reply, 0);
	plat_test_set_write_fail("secrets");
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), EXO_ERR_TRANSIENT);
	plat_test_set_write_fail(NULL);
	CHECK_INT(userdb_update(f.db, LOGIN, admin_signs_in, NULL, NULL), 0);
	td_push(f.td, 200, "{\"expires_in\":3599,\"access_token\":\"AT-5\","
	    "\"refresh_token\":\"RT-5\"}", 0);
	CHECK_INT(token_get(f.m, LOGIN, 0, lease, &e), 0);
	CHECK_STR(lease->access_token, "AT-5");
	CHECK_INT(td_requests(f.td), 3);
	CHECK_INT(stored_user(&f, u), 0);
	CHECK_STR(u->refresh_token, "RT-5");
out:
	fixture_stop(&f);
	free(u);
	free(lease);
}

int
main(void)
{
	plat_init();
	RUN(token_single_flight);
	RUN(token_failure_shared_by_waiters);
	RUN(token_waiter_gives_up);
	RUN(token_rotation_across_restarts);
	RUN(token_unsaved_rotation_not_used);
	RUN(token_transient_keeps_store);
	RUN(token_cached_used_while_down);
	RUN(token_status_while_refreshing_and_retrying);
	RUN(token_signin_stops_refreshes);
	RUN(token_config_and_consent_states);
	RUN(token_rejected_backoff);
	RUN(token_keepalive_refreshes_idle);
	RUN(token_unknown_user);
	RUN(token_config_keeps_token_usable);
	RUN(token_test_always_asks);
	RUN(token_unsaved_rotation_kept);
	return TEST_EXIT();
}
