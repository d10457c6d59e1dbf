/*
 * test-users.c: the user store, its two files, its lock and its cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/plat.h"
#include "../../src/users.h"
#include "test.h"

static struct settings	settings;
static char		data_dir[64];

/* Starts a test with an empty data folder. */
static void
setup(void)
{
	snprintf(data_dir, sizeof(data_dir), "/tmp/exo-test-users-XXXXXX");
	CHECK(mkdtemp(data_dir) != NULL);
	config_defaults(&settings);
	snprintf(settings.data_dir, sizeof(settings.data_dir), "%s",
	    data_dir);
}

static void
teardown(void)
{
	static const char *const	 names[] = { "users.conf",
					    "secrets.dat", "users.lock" };
	char				 path[PLAT_PATH_MAX];
	size_t				 i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		plat_path_join(path, data_dir, names[i]);
		plat_remove(path);
	}
	rmdir(data_dir);
}

static struct userdb *
open_db(void)
{
	struct userdb		*db = NULL;
	struct exo_error	 e;
	char			 notice[512];

	CHECK_INT(userdb_open(&settings, &db, notice, &e), 0);
	CHECK_STR(notice, "");
	return db;
}

static int
add_user(struct userdb *db, const char *login, const char *mailbox,
    const char *password)
{
	struct user	*u;
	int		 rc;

	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return EXO_ERR_NOMEM;
	snprintf(u->login, sizeof(u->login), "%s", login);
	snprintf(u->mailbox, sizeof(u->mailbox), "%s", mailbox);
	snprintf(u->password, sizeof(u->password), "%s", password);
	snprintf(u->refresh_token, sizeof(u->refresh_token), "RT-%s", login);
	u->created = 1764868000;
	rc = userdb_add(db, u, NULL);
	user_wipe(u);
	free(u);
	return rc;
}

static char *
read_file_text(const char *name)
{
	char	 path[PLAT_PATH_MAX], *data = NULL;
	size_t	 len;

	plat_path_join(path, data_dir, name);
	if (plat_read_file(path, 1 << 24, &data, &len, NULL) != 0)
		return NULL;
	return data;
}

static int
set_display_name(struct user *u, void *ctx)
{
	snprintf(u->display_name, sizeof(u->display_name), "%s",
	    (const char *)ctx);
	return 0;
}

static int
set_token(struct user *u, void *ctx)
{
	snprintf(u->refresh_token_reserve, sizeof(u->refresh_token_reserve),
	    "%s", u->refresh_token);
	snprintf(u->refresh_token, sizeof(u->refresh_token), "%s",
	    (const char *)ctx);
	u->last_refresh = 1764870000;
	return 0;
}

static int
fail_update(struct user *u, void *ctx)
{
	(void)ctx;
	snprintf(u->mailbox, sizeof(u->mailbox), "changed@example.com");
	return EXO_ERR_CANCELLED;
}

TEST(add_get_list_delete)
{
	struct userdb	*db;
	struct user	*u, *list = NULL;
	size_t		 n = 0;

	setup();
	u = calloc(1, sizeof(*u));
	db = open_db();
	CHECK_INT(add_user(db, "scanner2", "b@example.com", "pw2"), 0);
	CHECK_INT(add_user(db, "Scanner1", "a@example.com", "pw1"), 0);
	CHECK_INT(add_user(db, "scanner1", "c@example.com", "x"),
	    EXO_ERR_EXISTS);

	CHECK_INT(userdb_get(db, "SCANNER1", u, NULL), 0);
	CHECK_STR(u->login, "Scanner1");
	CHECK_STR(u->mailbox, "a@example.com");
	CHECK_STR(u->password, "pw1");
	CHECK_STR(u->refresh_token, "RT-Scanner1");
	CHECK_STR(u->sender_policy, "pass");
	CHECK_INT(u->state, USER_OK);
	CHECK_INT(u->created, 1764868000);

	CHECK_INT(userdb_list(db, &list, &n, NULL), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(list[0].login, "Scanner1");
		CHECK_STR(list[1].login, "scanner2");
	}
	userdb_free_list(list, n);

	CHECK_INT(userdb_delete(db, "scanner1", NULL), 0);
	CHECK_INT(userdb_get(db, "scanner1", u, NULL), EXO_ERR_NOTFOUND);
	CHECK_INT(userdb_delete(db, "scanner1", NULL), EXO_ERR_NOTFOUND);
	CHECK_INT(userdb_get(db, "scanner2", u, NULL), 0);
	user_wipe(u);
	free(u);
	userdb_close(db);
	teardown();
}

TEST(add_rejects_bad_login)
{
	struct userdb		*db;
	struct exo_error	 e;

	setup();
	db = open_db();
	CHECK_INT(add_user(db, "bad name", "a@example.com", "p"),
	    EXO_ERR_INVALID);
	CHECK_INT(add_user(db, "x]", "a@example.com", "p"), EXO_ERR_INVALID);
	CHECK_INT(add_user(db, "", "a@example.com", "p"), EXO_ERR_INVALID);
	CHECK_INT(add_user(db, "ok", "no-at-sign", "p"), EXO_ERR_INVALID);
	CHECK_INT(add_user(db, "mfp@example.com", "mfp@example.com", "p"), 0);
	CHECK_INT(userdb_delete(db, "nobody", &e), EXO_ERR_NOTFOUND);
	CHECK_STR(e.msg, "no user nobody");
	userdb_close(db);
	teardown();
}

TEST(update_and_escaped_values)
{
	struct userdb	*db, *db2;
	struct user	*u;
	char		*conf, *secrets;
	const char	*name = " Floor 2\nPrinter \\ \x01 caf\xc3\xa9 ";

	setup();
	u = calloc(1, sizeof(*u));
	db = open_db();
	CHECK_INT(add_user(db, "scan", "s@example.com",
	    "p\xc3\xa4ss w\\rd\n"), 0);
	CHECK_INT(userdb_update(db, "scan", set_display_name, (void *)name,
	    NULL), 0);
	CHECK_INT(userdb_update(db, "scan", set_token, "RT2", NULL), 0);
	CHECK_INT(userdb_update(db, "nobody", set_token, "RT2", NULL),
	    EXO_ERR_NOTFOUND);

	/* A second handle reads what the first wrote. */
	db2 = open_db();
	CHECK_INT(userdb_get(db2, "scan", u, NULL), 0);
	CHECK_STR(u->display_name, name);
	CHECK_STR(u->password, "p\xc3\xa4ss w\\rd\n");
	CHECK_STR(u->refresh_token, "RT2");
	CHECK_STR(u->refresh_token_reserve, "RT-scan");
	CHECK_INT(u->last_refresh, 1764870000);

	conf = read_file_text("users.conf");
	secrets = read_file_text("secrets.dat");
	CHECK(conf != NULL);
	CHECK(secrets != NULL);
	if (conf != NULL) {
		CHECK(strstr(conf, "[user scan]\n") != NULL);
		CHECK(strstr(conf, "display_name = \\x20Floor 2\\nPrinter "
		    "\\\\ \\x01 caf\xc3\xa9\\x20\n") != NULL);
		CHECK(strstr(conf, "RT2") == NULL);
		CHECK(strstr(conf, "password") == NULL);
	}
	if (secrets != NULL)
		CHECK(strstr(secrets, "refresh_token = RT2\n") != NULL);
	free(conf);
	free(secrets);

	user_wipe(u);
	free(u);
	userdb_close(db2);
	userdb_close(db);
	teardown();
}

TEST(update_fn_failure_writes_nothing)
{
	struct userdb	*db;
	struct user	 u;
	char		*before, *after;

	setup();
	db = open_db();
	CHECK_INT(add_user(db, "scan", "s@example.com", "pw"), 0);
	before = read_file_text("users.conf");
	CHECK_INT(userdb_update(db, "scan", fail_update, NULL, NULL),
	    EXO_ERR_CANCELLED);
	after = read_file_text("users.conf");
	CHECK(before != NULL);
	CHECK(after != NULL);
	if (before != NULL && after != NULL)
		CHECK_STR(after, before);
	CHECK_INT(userdb_get(db, "scan", &u, NULL), 0);
	CHECK_STR(u.mailbox, "s@example.com");
	user_wipe(&u);
	free(before);
	free(after);
	userdb_close(db);
	teardown();
}

TEST(two_handles_keep_both_changes)
{
	struct userdb	*a, *b;
	struct user	 u;

	setup();
	a = open_db();
	CHECK_INT(add_user(a, "one", "one@example.com", "p1"), 0);
	CHECK_INT(add_user(a, "two", "two@example.com", "p2"), 0);
	b = open_db();

	/* Each handle still has a cached copy without the other's change. */
	CHECK_INT(userdb_update(a, "one", set_token, "RT-A", NULL), 0);
	CHECK_INT(userdb_update(b, "two", set_token, "RT-B", NULL), 0);
	CHECK_INT(userdb_update(a, "two", set_display_name, "Two", NULL), 0);

	CHECK_INT(userdb_get(a, "one", &u, NULL), 0);
	CHECK_STR(u.refresh_token, "RT-A");
	CHECK_INT(userdb_get(a, "two", &u, NULL), 0);
	CHECK_STR(u.refresh_token, "RT-B");
	CHECK_STR(u.display_name, "Two");
	user_wipe(&u);
	userdb_close(a);
	userdb_close(b);
	teardown();
}

struct worker {
	struct userdb	*db;
	const char	*login;
	int		 rounds;
	int		 failures;
	volatile int	 done;
};

static void
run_worker(void *arg)
{
	struct worker	*w = arg;
	char		 token[32];
	int		 i;

	for (i = 1; i <= w->rounds; i++) {
		snprintf(token, sizeof(token), "%s-%d", w->login, i);
		if (userdb_update(w->db, w->login, set_token, token, NULL) != 0)
			w->failures++;
	}
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
}

TEST(parallel_updates_keep_all_tokens)
{
	static const char *const	 logins[] = { "a", "b", "c", "d" };
	struct worker			 w[4];
	struct userdb			*db[2];
	struct user			 u;
	char				 want[32];
	int				 i, waited;

	setup();
	db[0] = open_db();
	db[1] = open_db();
	for (i = 0; i < 4; i++) {
		snprintf(want, sizeof(want), "%s@example.com", logins[i]);
		CHECK_INT(add_user(db[0], logins[i], want, "pw"), 0);
	}
	for (i = 0; i < 4; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].db = db[i % 2];
		w[i].login = logins[i];
		w[i].rounds = 15;
		CHECK_INT(plat_thread_start(run_worker, &w[i], 0), 0);
	}
	for (i = 0, waited = 0; i < 4 && waited < 60000; waited += 10) {
		if (__atomic_load_n(&w[i].done, __ATOMIC_SEQ_CST))
			i++;
		else
			plat_sleep_ms(10);
	}
	CHECK_INT(i, 4);

	/* A new handle, since a cache may be up to a second old. */
	userdb_close(db[1]);
	db[1] = open_db();
	for (i = 0; i < 4; i++) {
		CHECK_INT(w[i].failures, 0);
		CHECK_INT(userdb_get(db[1], logins[i], &u, NULL), 0);
		snprintf(want, sizeof(want), "%s-15", logins[i]);
		CHECK_STR(u.refresh_token, want);
	}
	user_wipe(&u);
	userdb_close(db[0]);
	userdb_close(db[1]);
	teardown();
}

TEST(cache_follows_other_handle)
{
	struct userdb	*a, *b;
	struct user	 u;
	unsigned long	 gen;

	setup();
	a = open_db();
	b = open_db();
	gen = userdb_generation(b);
	CHECK_INT(add_user(a, "late", "late@example.com", "p"), 0);

	/* b re-checks the files only after a second. */
	plat_test_set_clock_offset(2);
	CHECK_INT(userdb_get(b, "late", &u, NULL), 0);
	CHECK(userdb_generation(b) != gen);
	gen = userdb_generation(b);
	plat_test_set_clock_offset(3);
	CHECK_INT(userdb_generation(b), gen);
	plat_test_set_clock_offset(0);
	user_wipe(&u);
	userdb_close(a);
	userdb_close(b);
	teardown();
}

TEST(secrets_file_owner_only)
{
	struct userdb	*db;
	struct stat	 st;
	char		 path[PLAT_PATH_MAX];

	setup();
	db = open_db();
	CHECK_INT(add_user(db, "scan", "s@example.com", "pw"), 0);
	plat_path_join(path, data_dir, "secrets.dat");
	CHECK_STR(userdb_secrets_path(db), path);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	userdb_close(db);
	teardown();
}

TEST(write_failure_keeps_old_files)
{
	struct userdb		*db;
	struct exo_error	 e;
	struct user		 u;
	char			*conf, *secrets, *conf2, *secrets2;

	setup();
	db = open_db();
	CHECK_INT(add_user(db, "scan", "s@example.com", "pw"), 0);
	conf = read_file_text("users.conf");
	secrets = read_file_text("secrets.dat");

	plat_test_set_write_fail("secrets.dat");
	CHECK_INT(userdb_update(db, "scan", set_token, "RT-NEW", &e),
	    EXO_ERR_NOSPACE);
	CHECK_INT(add_user(db, "other", "o@example.com", "p"),
	    EXO_ERR_NOSPACE);
	plat_test_set_write_fail("users.conf");
	CHECK_INT(userdb_delete(db, "scan", &e), EXO_ERR_NOSPACE);
	plat_test_set_write_fail(NULL);

	conf2 = read_file_text("users.conf");
	secrets2 = read_file_text("secrets.dat");
	CHECK(conf != NULL);
	CHECK(conf2 != NULL);
	CHECK(secrets != NULL);
	CHECK(secrets2 != NULL);
	if (conf != NULL && conf2 != NULL)
		CHECK_STR(conf2, conf);
	if (secrets != NULL && secrets2 != NULL)
		CHECK_STR(secrets2, secrets);
	CHECK_INT(userdb_get(db, "scan", &u, NULL), 0);
	CHECK_STR(u.refresh_token, "RT-scan");
	CHECK_INT(userdb_get(db, "other", &u, NULL), EXO_ERR_NOTFOUND);
	user_wipe(&u);
	free(conf);
	free(secrets);
	free(conf2);
	free(secrets2);
	userdb_close(db);
	teardown();
}

static void
count_reload_failures(const struct ev *ev, void *ctx)
{
	if (strcmp(ev->id, "users.reload_failed") == 0 &&
	    ev_param(ev, "error") != NULL &&
	    strstr(ev_param(ev, "error"), "users.conf:3:") != NULL)
		(*(int *)ctx)++;
}

TEST(bad_hand_edit_keeps_cache)
{
	struct userdb	*db;
	struct user	 u;
	char		 path[PLAT_PATH_MAX];
	int		 failures = 0, h;
	const char	*bad = "[user scan]\nmailbox = s@example.com\n"
			    "state = sleepy\n";

	setup();
	db = open_db();
	CHECK_INT(add_user(db, "scan", "s@example.com", "pw"), 0);
	plat_path_join(path, data_dir, "users.conf");
	CHECK_INT(plat_write_file_atomic(path, bad, strlen(bad), 0, NULL), 0);
	h = ev_subscribe(count_reload_failures, &failures);
	plat_test_set_clock_offset(2);
	CHECK_INT(userdb_get(db, "scan", &u, NULL), 0);
	CHECK_STR(u.password, "pw");
	CHECK_INT(failures, 1);

	/* The same broken file is reported once, not on every check. */
	plat_test_set_clock_offset(4);
	CHECK_INT(userdb_get(db, "scan", &u, NULL), 0);
	CHECK_INT(failures, 1);
	plat_test_set_clock_offset(0);
	ev_unsubscribe(h);
	user_wipe(&u);
	userdb_close(db);
	teardown();
}

TEST(hand_edit_read_and_sorted)
{
	struct userdb	*db;
	struct user	*list = NULL;
	size_t		 n = 0;
	char		 path[PLAT_PATH_MAX];
	const char	*text = "# edited by hand\n[user zed]\nmailbox = "
			    "z@example.com\ndisplay_name =\n\n[user amy]\n"
			    "mailbox = a@example.com\n"
			    "state = signin_required\n";

	setup();
	db = open_db();
	plat_path_join(path, data_dir, "users.conf");
	CHECK_INT(plat_write_file_atomic(path, text, strlen(text), 0, NULL),
	    0);
	plat_test_set_clock_offset(2);
	CHECK_INT(userdb_list(db, &list, &n, NULL), 0);
	plat_test_set_clock_offset(0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(list[0].login, "amy");
		CHECK_INT(list[0].state, USER_SIGNIN_REQUIRED);
		CHECK_STR(list[1].login, "zed");
		CHECK_STR(list[1].display_name, "");
		CHECK_STR(list[1].password, "");
	}
	userdb_free_list(list, n);
	userdb_close(db);
	teardown();
}

TEST(open_mutated_files)
{
	struct userdb		*db;
	struct exo_error	 e;
	char			 path[PLAT_PATH_MAX], notice[512], *text, *copy;
	unsigned long		 seed = 7;
	size_t			 len, i;
	int			 round, opened = 0, failed = 0;

	setup();
	db = open_db();
	CHECK_INT(add_user(db, "scan", "s@example.com", "p\\w\x01"), 0);
	CHECK_INT(add_user(db, "fax", "f@example.com", "pw"), 0);
	userdb_close(db);
	text = read_file_text("users.conf");
	CHECK(text != NULL);
	if (text == NULL)
		return;
	len = strlen(text);
	copy = malloc(len + 1);
	plat_path_join(path, data_dir, "users.conf");
	for (round = 0; copy != NULL && round < 300; round++) {
		memcpy(copy, text, len + 1);
		for (i = 0; i < 4; i++) {
			seed = seed * 6364136223846793005UL + 1;
			copy[(seed >> 33) % len] = (char)(seed >> 24);
		}
		plat_write_file_atomic(path, copy, len, 0, NULL);
		db = NULL;
		if (userdb_open(&settings, &db, notice, &e) == 0) {
			opened++;
			userdb_close(db);
		} else if (strstr(e.msg, "users.conf") != NULL)
			failed++;
	}
	CHECK_INT(opened + failed, 300);
	free(copy);
	free(text);
	teardown();
}

TEST(open_reports_parse_error)
{
	struct userdb		*db = NULL;
	struct exo_error	 e;
	char			 path[PLAT_PATH_MAX], notice[512];
	const char		*bad = "[user scan]\nmailbox s@example.com\n";

	setup();
	plat_path_join(path, data_dir, "users.conf");
	CHECK_INT(plat_write_file_atomic(path, bad, strlen(bad), 0, NULL), 0);
	CHECK_INT(userdb_open(&settings, &db, notice, &e), EXO_ERR_INVALID);
	CHECK(db == NULL);
	CHECK(strstr(e.msg, "users.conf:2: expected key = value") != NULL);
	teardown();
}

TEST(random_password_alphabet)
{
	char		pw[17];
	int		i, j;
	/* 255 and 238 are dropped, since 238 and up would favour A..H. */
	static const unsigned char	bytes[] = { 255, 0, 33, 34, 237, 238,
					    25, 26 };

	for (i = 0; i < 50; i++) {
		CHECK_INT(user_random_password(pw), 0);
		CHECK_INT(strlen(pw), 16);
		for (j = 0; j < 16; j++)
			CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ23456789",
			    pw[j]) != NULL);
	}
	plat_test_set_random(bytes, sizeof(bytes));
	CHECK_INT(user_random_password(pw), 0);
	CHECK_STR(pw, "A9A9Z2A9A9Z2A9A9");
	plat_test_set_random(NULL, 0);
}

TEST(unique_login_from_mailbox)
{
	struct userdb	*db;
	char		 login[USER_LOGIN_MAX];

	setup();
	db = open_db();
	CHECK_INT(userdb_unique_login(db, "Scan.Office@example.com", login,
	    NULL), 0);
	CHECK_STR(login, "scan.office");
	CHECK_INT(add_user(db, login, "scan.office@example.com", "p"), 0);
	CHECK_INT(userdb_unique_login(db, "SCAN.office@other.com", login,
	    NULL), 0);
	CHECK_STR(login, "scan.office2");
	CHECK_INT(add_user(db, login, "scan.office@other.com", "p"), 0);
	CHECK_INT(userdb_unique_login(db, "scan.office@third.com", login,
	    NULL), 0);
	CHECK_STR(login, "scan.office3");
	CHECK_INT(userdb_unique_login(db, "J+\xc3\xb6rg_1@example.com", login,
	    NULL), 0);
	CHECK_STR(login, "jrg_1");
	CHECK_INT(userdb_unique_login(db, "@example.com", login, NULL), 0);
	CHECK_STR(login, "user");
	userdb_close(db);
	teardown();
}

TEST(state_names_and_wipe)
{
	struct user	u;

	CHECK_STR(user_state_name(USER_OK), "valid");
	CHECK_STR(user_state_name(USER_SIGNIN_REQUIRED), "sign-in required");
	CHECK_STR(user_state_name((enum user_state)42), "unknown");
	memset(&u, 'x', sizeof(u));
	user_wipe(&u);
	CHECK_INT(u.password[0], 0);
	CHECK_INT(u.password[USER_PASSWORD_MAX - 1], 0);
	CHECK_INT(u.refresh_token[USER_TOKEN_MAX - 1], 0);
	CHECK_INT(u.refresh_token_reserve[0], 0);
	CHECK_INT(u.login[0], 'x');
}

int
main(void)
{
	RUN(add_get_list_delete);
	RUN(add_rejects_bad_login);
	RUN(update_and_escaped_values);
	RUN(update_fn_failure_writes_nothing);
	RUN(two_handles_keep_both_changes);
	RUN(parallel_updates_keep_all_tokens);
	RUN(cache_follows_other_handle);
	RUN(secrets_file_owner_only);
	RUN(write_failure_keeps_old_files);
	RUN(bad_hand_edit_keeps_cache);
	RUN(hand_edit_read_and_sorted);
	RUN(open_mutated_files);
	RUN(open_reports_parse_error);
	RUN(random_password_alphabet);
	RUN(unique_login_from_mailbox);
	RUN(state_names_and_wipe);
	return TEST_EXIT();
}
