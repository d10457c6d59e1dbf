/*
 * test-service.c: the service against real sockets on 127.0.0.1: start
 * and stop, the instance lock, the connection limits and their replies,
 * closing the sessions of a deleted user, and the checks of the user
 * operations. Nothing reaches the network: the identity platform and the
 * Exchange upstreams point at a closed port on 127.0.0.1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plat.h"
#include "service.h"
#include "users.h"
#include "util.h"
#include "test.h"

#define CLOSED_PORT 1		/* nothing listens on 127.0.0.1:1 */

static char	dir[PLAT_PATH_MAX];
static char	conf[PLAT_PATH_MAX];
static unsigned	pop3_port, smtp_port;

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/exo-test-service-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	CHECK_INT(plat_path_join(conf, dir, CONFIG_FILE_NAME), 0);
}

static unsigned
free_port(void)
{
	plat_socket	s;
	int		port;

	if (plat_listen("127.0.0.1", 0, &s, NULL) != EXO_OK)
		return 0;
	port = plat_socket_port(s);
	plat_socket_close(s);
	return port > 0 ? (unsigned)port : 0;
}

/* Writes a settings file with the given limits and fresh ports. */
static void
write_conf(int max_connections, int max_preauth, int pop3_on)
{
	char	text[2048];
	int	n;

	pop3_port = free_port();
	smtp_port = free_port();
	n = snprintf(text, sizeof(text),
	    "[microsoft]\n"
	    "client_id = 11111111-2222-3333-4444-555555555555\n"
	    "authority = https://localhost:%d\n"
	    "[pop3]\nenabled = %s\nlisten = 127.0.0.1\nport = %u\n"
	    "upstream = localhost:%d\n"
	    "[smtp]\nlisten = 127.0.0.1\nport = %u\n"
	    "upstream = localhost:%d\nupstream_personal = localhost:%d\n"
	    "[limits]\nmax_connections = %d\nmax_preauth_per_address = %d\n"
	    "[log]\nfile =\n",
	    CLOSED_PORT, pop3_on ? "yes" : "no", pop3_port, CLOSED_PORT,
	    smtp_port, CLOSED_PORT, CLOSED_PORT, max_connections,
	    max_preauth);
	CHECK(n > 0);
	CHECK((size_t)n < sizeof(text));
	CHECK_INT(plat_write_file_atomic(conf, text, strlen(text), 0, NULL),
	    0);
}

static struct service *
open_service(void)
{
	struct service		*sv = NULL;
	struct exo_error	 err;
	char			 notice[512];
	int			 rc;

	err_clear(&err);
	rc = service_open(conf, 0, &sv, notice, &err);
	CHECK_INT(rc, EXO_OK);
	if (rc != EXO_OK)
		printf("  service_open: %s\n", err.msg);
	return sv;
}

static struct service *
start_service(void)
{
	struct service		*sv = open_service();
	struct exo_error	 err;

	int			 rc;

	err_clear(&err);
	if (sv == NULL)
		return NULL;
	rc = service_start(sv, &err);
	CHECK_INT(rc, EXO_OK);
	if (rc != EXO_OK)
		printf("  service_start: %s\n", err.msg);
	return sv;
}

static void
finish_service(struct service *sv)
{
	if (sv == NULL)
		return;
	service_stop(sv);
	service_close(sv);
}

/* Connects to port and reads the first line into line; -1 on failure. */
static plat_socket
connect_line(unsigned port, char *line, size_t cap)
{
	plat_socket	s;
	size_t		len = 0;
	long		n;

	line[0] = '\0';
	if (plat_connect("127.0.0.1", port, 2000, &s, NULL) != EXO_OK)
		return PLAT_SOCKET_INVALID;
	while (len + 1 < cap && memchr(line, '\n', len) == NULL) {
		n = plat_recv(s, line + len, cap - 1 - len, 3000);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
	}
	return s;
}

static void
send_text(plat_socket s, const char *text)
{
	CHECK_INT(plat_send_all(s, text, strlen(text), 2000), 0);
}

/* Reads one line (at most cap - 1 bytes); returns its length or -1. */
static long
read_line(plat_socket s, char *line, size_t cap, int timeout_ms)
{
	size_t	len = 0;
	long	n;

	line[0] = '\0';
	while (len + 1 < cap && memchr(line, '\n', len) == NULL) {
		n = plat_recv(s, line + len, 1, timeout_ms);
		if (n <= 0)
			return len > 0 ? (long)len : -1;
		len += (size_t)n;
		line[len] = '\0';
	}
	return (long)len;
}

static void
add_user(struct service *sv, const char *login, const char *password)
{
	struct user	*u = calloc(1, sizeof(*u));

	CHECK(u != NULL);
	if (u == NULL)
		return;
	str_copy(u->login, login, sizeof(u->login));
	snprintf(u->mailbox, sizeof(u->mailbox), "%s@example.com", login);
	str_copy(u->password, password, sizeof(u->password));
	str_copy(u->refresh_token, "test-refresh-token",
	    sizeof(u->refresh_token));
	CHECK_INT(userdb_add(service_userdb(sv), u, NULL), EXO_OK);
	user_wipe(u);
	free(u);
}

TEST(open_missing_file_writes_default)
{
	struct service		*sv = NULL;
	struct exo_error	 err;
	char			 notice[512];

	make_dir();
	err_clear(&err);
	CHECK_INT(service_open(conf, SERVICE_OPEN_CREATE, &sv, notice, &err),
	    EXO_ERR_CONFIG);
	CHECK(sv == NULL);
	CHECK(strstr(err.msg, conf) != NULL);
	CHECK(strstr(err.msg, "client_id") != NULL);
	CHECK(plat_file_exists(conf));
}

TEST(open_missing_file_without_create)
{
	struct service		*sv = NULL;
	struct exo_error	 err;
	char			 notice[512];

	make_dir();
	err_clear(&err);
	CHECK_INT(service_open(conf, 0, &sv, notice, &err), EXO_ERR_NOTFOUND);
	CHECK(sv == NULL);
	CHECK(strstr(err.msg, conf) != NULL);
	CHECK(strstr(err.msg, "exoconnect user add") != NULL);
	CHECK(!plat_file_exists(conf));
}

TEST(start_runs_both_servers)
{
	struct service		*sv;
	struct server_status	 st;
	char			 line[256];
	plat_socket		 s;

	make_dir();
	write_conf(10, 10, 1);
	sv = start_service();
	if (sv == NULL)
		return;

	service_server_status(sv, SERVER_POP3, &st);
	CHECK_INT(st.state, SERVER_RUNNING);
	CHECK_INT(st.port, pop3_port);
	CHECK_STR(st.listen, "127.0.0.1");
	service_server_status(sv, SERVER_SMTP, &st);
	CHECK_INT(st.state, SERVER_RUNNING);
	CHECK_INT(st.port, smtp_port);

	s = connect_line(pop3_port, line, sizeof(line));
	CHECK(strncmp(line, "+OK", 3) == 0);
	plat_socket_close(s);
	s = connect_line(smtp_port, line, sizeof(line));
	CHECK(strncmp(line, "220", 3) == 0);
	plat_socket_close(s);
	CHECK(service_server_stats(sv, SERVER_POP3)->sessions == 1);

	service_stop(sv);
	service_server_status(sv, SERVER_POP3, &st);
	CHECK_INT(st.state, SERVER_STOPPED);
	CHECK_INT(st.port, 0);
	service_close(sv);
}

TEST(second_start_reports_running)
{
	struct service		*first, *second;
	struct exo_error	 err;
	char			 expected[PLAT_PATH_MAX + 128];

	make_dir();
	write_conf(10, 10, 1);
	first = start_service();
	second = open_service();
	if (first == NULL || second == NULL)
		return;

	err_clear(&err);
	CHECK_INT(service_start(second, &err), EXO_ERR_LOCKED);
	snprintf(expected, sizeof(expected), "exoconnect serve is already "
	    "running for %s (process %ld)", dir, plat_getpid());
	CHECK_STR(err.msg, expected);
	service_close(second);
	finish_service(first);
}

TEST(both_servers_disabled_fail)
{
	struct service		*sv;
	struct exo_error	 err;
	char			 text[] = "[microsoft]\nclient_id = "
	    "11111111-2222-3333-4444-555555555555\n[pop3]\nenabled = no\n"
	    "[smtp]\nenabled = no\n[log]\nfile =\n";

	make_dir();
	CHECK_INT(plat_write_file_atomic(conf, text, strlen(text), 0, NULL),
	    0);
	sv = open_service();
	if (sv == NULL)
		return;
	err_clear(&err);
	CHECK_INT(service_start(sv, &err), EXO_ERR_CONFIG);
	CHECK(strstr(err.msg, "disabled") != NULL);
	service_close(sv);
}

TEST(max_connections_reply)
{
	struct service	*sv;
	char		 line[256];
	plat_socket	 a, b, c, d;

	make_dir();
	write_conf(2, 10, 1);
	sv = start_service();
	if (sv == NULL)
		return;

	a = connect_line(pop3_port, line, sizeof(line));
	CHECK(strncmp(line, "+OK", 3) == 0);
	b = connect_line(smtp_port, line, sizeof(line));
	CHECK(strncmp(line, "220", 3) == 0);
	c = connect_line(pop3_port, line, sizeof(line));
	CHECK_STR(line, "-ERR [SYS/TEMP] Too many connections, try again "
	    "later\r\n");
	plat_socket_close(c);
	d = connect_line(smtp_port, line, sizeof(line));
	CHECK_STR(line, "421 4.7.0 Too many connections, try again later\r\n");
	plat_socket_close(d);

	/* A closed session frees its place. */
	plat_socket_close(a);
	plat_sleep_ms(300);
	c = connect_line(pop3_port, line, sizeof(line));
	CHECK(strncmp(line, "+OK", 3) == 0);
	plat_socket_close(c);
	plat_socket_close(b);
	finish_service(sv);
}

TEST(preauth_slot_freed_by_login)
{
	struct service	*sv;
	char		 line[512];
	plat_socket	 a, b;

	make_dir();
	write_conf(10, 1, 1);
	sv = start_service();
	if (sv == NULL)
		return;
	add_user(sv, "scan", "secret");

	a = connect_line(pop3_port, line, sizeof(line));
	CHECK(strncmp(line, "+OK", 3) == 0);
	b = connect_line(pop3_port, line, sizeof(line));
	CHECK_STR(line, "-ERR [SYS/TEMP] Too many connections, try again "
	    "later\r\n");
	plat_socket_close(b);

	send_text(a, "USER scan\r\n");
	CHECK(read_line(a, line, sizeof(line), 3000) > 0);
	send_text(a, "PASS secret\r\n");
	/* The upstream login fails (closed port); the local one counts. */
	CHECK(read_line(a, line, sizeof(line), 30000) > 0);

	b = connect_line(pop3_port, line, sizeof(line));
	CHECK(strncmp(line, "+OK", 3) == 0);
	plat_socket_close(b);
	plat_socket_close(a);
	finish_service(sv);
}

TEST(deleted_user_sessions_closed)
{
	struct service	*sv;
	char		 line[512];
	plat_socket	 a;
	int64_t		 start;
	long		 n;

	make_dir();
	write_conf(10, 10, 1);
	sv = start_service();
	if (sv == NULL)
		return;
	add_user(sv, "scan", "secret");

	a = connect_line(pop3_port, line, sizeof(line));
	send_text(a, "USER scan\r\n");
	CHECK(read_line(a, line, sizeof(line), 3000) > 0);
	send_text(a, "PASS secret\r\n");
	CHECK(read_line(a, line, sizeof(line), 30000) > 0);

	start = plat_now_ms();
	CHECK_INT(service_user_delete(sv, "scan", NULL), EXO_OK);
	n = read_line(a, line, sizeof(line),
	    (SERVICE_CHECK_SECONDS + 5) * 1000);
	CHECK(n > 0);
	CHECK(strncmp(line, "-ERR [SYS/PERM] this user was deleted", 37) == 0);
	n = read_line(a, line, sizeof(line), 5000);
	CHECK(n == -1);
	CHECK(plat_now_ms() - start < (SERVICE_CHECK_SECONDS + 5) * 1000);
	plat_socket_close(a);
	finish_service(sv);
}

TEST(user_set_checks_keys_and_values)
{
	struct service		*sv;
	struct exo_error	 err;
	struct user		*u = calloc(1, sizeof(*u));

	make_dir();
	write_conf(10, 10, 1);
	sv = open_service();
	if (sv == NULL || u == NULL) {
		free(u);
		return;
	}
	add_user(sv, "scan", "secret");

	err_clear(&err);
	CHECK_INT(service_user_set(sv, "scan", "colour", "red", &err),
	    EXO_ERR_INVALID);
	CHECK(strstr(err.msg, "mailbox, sender") != NULL);
	CHECK_INT(service_user_set(sv, "scan", "sender", "drop", &err),
	    EXO_ERR_INVALID);
	CHECK_INT(service_user_set(sv, "scan", "mailbox", "no-at-sign", &err),
	    EXO_ERR_INVALID);
	CHECK_INT(service_user_set(sv, "scan", "mailbox", "a@b@c", &err),
	    EXO_ERR_INVALID);
	CHECK_INT(service_user_set(sv, "nobody", "sender", "pass", &err),
	    EXO_ERR_NOTFOUND);
	CHECK_INT(service_user_set(sv, "scan", "accept_legacy_charset",
	    "maybe", &err), EXO_ERR_INVALID);

	CHECK_INT(service_user_set(sv, "scan", "sender", "rewrite", &err),
	    EXO_OK);
	CHECK_INT(service_user_set(sv, "scan", "mailbox", "shared@example.com",
	    &err), EXO_OK);
	CHECK_INT(userdb_get(service_userdb(sv), "scan", u, NULL), EXO_OK);
	CHECK_STR(u->sender_policy, "rewrite");
	CHECK_STR(u->mailbox, "shared@example.com");
	CHECK_INT(u->accept_legacy_charset, 0);

	CHECK_INT(service_user_set(sv, "scan", "accept_legacy_charset", "On",
	    &err), EXO_OK);
	CHECK_INT(userdb_get(service_userdb(sv), "scan", u, NULL), EXO_OK);
	CHECK_INT(u->accept_legacy_charset, 1);
	CHECK_INT(service_user_set(sv, "scan", "accept_legacy_charset", "no",
	    &err), EXO_OK);
	CHECK_INT(userdb_get(service_userdb(sv), "scan", u, NULL), EXO_OK);
	CHECK_INT(u->accept_legacy_charset, 0);
	user_wipe(u);
	free(u);
	service_close(sv);
}

TEST(user_passwords_checked)
{
	struct service	*sv;
	struct user	*u = calloc(1, sizeof(*u));
	char		 long_pw[USER_PASSWORD_MAX + 1];
	char		 fresh[USER_PASSWORD_MAX];

	make_dir();
	write_conf(10, 10, 1);
	sv = open_service();
	if (sv == NULL || u == NULL) {
		free(u);
		return;
	}
	add_user(sv, "scan", "secret");

	memset(long_pw, 'x', sizeof(long_pw) - 1);
	long_pw[sizeof(long_pw) - 1] = '\0';
	CHECK_INT(service_user_set_password(sv, "scan", "", NULL),
	    EXO_ERR_INVALID);
	CHECK_INT(service_user_set_password(sv, "scan", "a\tb", NULL),
	    EXO_ERR_INVALID);
	CHECK_INT(service_user_set_password(sv, "scan", "\xc3(", NULL),
	    EXO_ERR_INVALID);
	CHECK_INT(service_user_set_password(sv, "scan", long_pw, NULL),
	    EXO_ERR_INVALID);
	CHECK_INT(service_user_set_password(sv, "scan", "p\xc3\xa4ss", NULL),
	    EXO_OK);
	CHECK_INT(userdb_get(service_userdb(sv), "scan", u, NULL), EXO_OK);
	CHECK_STR(u->password, "p\xc3\xa4ss");

	CHECK_INT(service_user_reset_password(sv, "scan", fresh, NULL),
	    EXO_OK);
	CHECK_INT(strlen(fresh), 16);
	CHECK_INT(userdb_get(service_userdb(sv), "scan", u, NULL), EXO_OK);
	CHECK_STR(u->password, fresh);
	CHECK_INT(service_user_reset_password(sv, "nobody", fresh, NULL),
	    EXO_ERR_NOTFOUND);
	user_wipe(u);
	free(u);
	service_close(sv);
}

TEST(user_add_checks_before_signin)
{
	struct service		*sv;
	struct signin_request	 rq;
	struct signin_result	 r;
	struct exo_error	 err;

	make_dir();
	write_conf(10, 10, 1);
	sv = open_service();
	if (sv == NULL)
		return;
	add_user(sv, "scan", "secret");
	memset(&rq, 0, sizeof(rq));
	rq.method = SIGNIN_DEVICE_CODE;

	err_clear(&err);
	CHECK_INT(service_user_add(sv, &rq, "a b", NULL, &r, NULL, &err),
	    EXO_ERR_INVALID);
	CHECK(strstr(err.msg, "login") != NULL);
	CHECK_INT(service_user_add(sv, &rq, "SCAN", NULL, &r, NULL, &err),
	    EXO_ERR_EXISTS);
	CHECK(strstr(err.msg, "SCAN") != NULL);
	CHECK_INT(service_user_add(sv, &rq, NULL, "no-at-sign", &r, NULL,
	    &err), EXO_ERR_INVALID);
	CHECK(strstr(err.msg, "no-at-sign") != NULL);
	service_close(sv);
}

TEST(servers_start_and_stop_one_at_a_time)
{
	struct service		*sv;
	struct server_status	 st;
	struct exo_error	 err;
	char			 line[256];
	plat_socket		 s;

	make_dir();
	write_conf(10, 10, 1);
	sv = open_service();
	if (sv == NULL)
		return;

	err_clear(&err);
	CHECK_INT(service_server_start(sv, SERVER_SMTP, &err), EXO_OK);
	service_server_status(sv, SERVER_POP3, &st);
	CHECK_INT(st.state, SERVER_STOPPED);
	s = connect_line(smtp_port, line, sizeof(line));
	CHECK(strncmp(line, "220", 3) == 0);
	CHECK_INT(service_active_sessions(sv), 1);
	CHECK_INT(service_server_start(sv, SERVER_SMTP, &err),
	    EXO_ERR_INVALID);

	CHECK_INT(service_server_start(sv, SERVER_POP3, &err), EXO_OK);
	service_server_stop(sv, SERVER_SMTP);
	/* The open SMTP session ended with the server. */
	CHECK(read_line(s, line, sizeof(line), 3000) <= 0 ||
	    strncmp(line, "421", 3) == 0);
	plat_socket_close(s);
	service_server_status(sv, SERVER_SMTP, &st);
	CHECK_INT(st.state, SERVER_STOPPED);
	CHECK_INT(service_active_sessions(sv), 0);
	s = connect_line(pop3_port, line, sizeof(line));
	CHECK(strncmp(line, "+OK", 3) == 0);
	plat_socket_close(s);

	service_server_stop(sv, SERVER_POP3);
	service_server_status(sv, SERVER_POP3, &st);
	CHECK_INT(st.state, SERVER_STOPPED);
	/* The instance lock went with the last server. */
	CHECK_INT(service_start(sv, &err), EXO_OK);
	finish_service(sv);
}

TEST(server_start_reports_port_in_use)
{
	struct service		*sv;
	struct server_status	 st;
	struct exo_error	 err;
	plat_socket		 taken;

	make_dir();
	write_conf(10, 10, 1);
	sv = open_service();
	if (sv == NULL)
		return;
	CHECK_INT(plat_listen("127.0.0.1", pop3_port, &taken, NULL), EXO_OK);

	err_clear(&err);
	CHECK_INT(service_server_start(sv, SERVER_POP3, &err),
	    EXO_ERR_ADDRINUSE);
	CHECK(strstr(err.msg, "choose another port") != NULL);
	service_server_status(sv, SERVER_POP3, &st);
	CHECK_INT(st.state, SERVER_FAILED);
	CHECK_STR(st.last_error.msg, err.msg);
	plat_socket_close(taken);

	/* A failed first start leaves no lock behind. */
	CHECK_INT(service_server_start(sv, SERVER_POP3, &err), EXO_OK);
	finish_service(sv);
}

TEST(apply_settings_only_when_stopped)
{
	struct service		*sv;
	struct settings		*s;
	struct server_status	 st;
	struct exo_error	 err;
	unsigned		 port;

	make_dir();
	write_conf(10, 10, 1);
	sv = open_service();
	s = malloc(sizeof(*s));
	CHECK(s != NULL);
	if (sv == NULL || s == NULL) {
		free(s);
		return;
	}
	port = free_port();
	*s = *service_settings(sv);
	s->smtp.port = port;

	CHECK_INT(service_server_start(sv, SERVER_SMTP, &err), EXO_OK);
	CHECK_INT(service_apply_settings(sv, s, &err), EXO_ERR_BUSY);
	service_server_stop(sv, SERVER_SMTP);
	CHECK_INT(service_apply_settings(sv, s, &err), EXO_OK);
	CHECK_INT(service_server_start(sv, SERVER_SMTP, &err), EXO_OK);
	service_server_status(sv, SERVER_SMTP, &st);
	CHECK_INT(st.port, port);
	CHECK_STR(service_settings(sv)->path, conf);
	free(s);
	finish_service(sv);
}

TEST(json_string_escapes)
{
	struct buf	b;

	buf_init(&b);
	CHECK_INT(cli_json_string(&b, "a\"b\\c\n\x01\xc3\xa4"), EXO_OK);
	CHECK_STR(b.data, "\"a\\\"b\\\\c\\u000a\\u0001\xc3\xa4\"");
	buf_free(&b);
}

TEST(clean_replaces_controls)
{
	char	out[16];

	cli_clean(out, sizeof(out), "ok\x1b[2J\r\nend");
	CHECK_STR(out, "ok?[2J??end");
	cli_clean(out, 4, "abcdef");
	CHECK_STR(out, "abc");
}

int
main(void)
{
	plat_init();
	RUN(open_missing_file_writes_default);
	RUN(open_missing_file_without_create);
	RUN(start_runs_both_servers);
	RUN(second_start_reports_running);
	RUN(both_servers_disabled_fail);
	RUN(max_connections_reply);
	RUN(preauth_slot_freed_by_login);
	RUN(deleted_user_sessions_closed);
	RUN(user_set_checks_keys_and_values);
	RUN(user_passwords_checked);
	RUN(user_add_checks_before_signin);
	RUN(servers_start_and_stop_one_at_a_time);
	RUN(server_start_reports_port_in_use);
	RUN(apply_settings_only_when_stopped);
	RUN(json_string_escapes);
	RUN(clean_replaces_controls);
	return TEST_EXIT();
}
