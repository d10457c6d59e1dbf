/*
 * test-control.c: the control channel over its real socket. A service
 * runs on 127.0.0.1 ports with control_start, and admin-remote.c drives
 * it through every operation of struct admin_ops. Junk and oversized
 * messages end only their own connection; the socket has mode 0600 and
 * rejects other users. The identity platform and the Exchange upstreams
 * point at a closed port, so nothing reaches the network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "config.h"
#include "control.h"
#include "i18n.h"
#include "plat.h"
#include "service.h"
#include "users.h"
#include "util.h"
#include "test.h"

#define CLOSED_PORT 1		/* nothing listens on 127.0.0.1:1 */

static char	dir[PLAT_PATH_MAX];
static char	conf[PLAT_PATH_MAX];
static unsigned	pop3_port, smtp_port;

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

/* Creates a fresh folder under %TEMP% or /tmp. */
static void
make_dir(void)
{
	const char	*base = getenv("TEMP");
	unsigned char	 r[6];
	char		 name[64];

	if (base == NULL || base[0] == '\0')
		base = "/tmp";
	CHECK_INT(plat_random(r, sizeof(r)), 0);
	snprintf(name, sizeof(name), "exo-test-control-%02x%02x%02x%02x%02x"
	    "%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
	CHECK_INT(plat_path_join(dir, base, name), 0);
	CHECK_INT(plat_mkdir_p(dir, 1, NULL), 0);
}

static void
write_conf(void)
{
	char	text[2048];
	int	n;

	make_dir();
	CHECK_INT(plat_path_join(conf, dir, CONFIG_FILE_NAME), 0);
	pop3_port = free_port();
	smtp_port = free_port();
	n = snprintf(text, sizeof(text),
	    "[microsoft]\n"
	    "client_id = 11111111-2222-3333-4444-555555555555\n"
	    "authority = https://localhost:%d\n"
	    "[pop3]\nlisten = 127.0.0.1\nport = %u\n"
	    "upstream = localhost:%d\n"
	    "[smtp]\nlisten = 127.0.0.1\nport = %u\n"
	    "upstream = localhost:%d\nupstream_personal = localhost:%d\n"
	    "[log]\nfile =\n",
	    CLOSED_PORT, pop3_port, CLOSED_PORT, smtp_port, CLOSED_PORT,
	    CLOSED_PORT);
	CHECK(n > 0);
	CHECK((size_t)n < sizeof(text));
	CHECK_INT(plat_write_file_atomic(conf, text, strlen(text), 0, NULL),
	    0);
}

/* A started service with its control channel, as `serve` runs it. */
struct fixture {
	struct service	*sv;
	struct control	*ctl;
	struct admin	*adm;		/* attached over the channel */
};

static int
setup(struct fixture *f)
{
	struct exo_error	err;
	char			notice[512];

	memset(f, 0, sizeof(*f));
	write_conf();
	err_clear(&err);
	CHECK_INT(service_open(conf, 0, &f->sv, notice, &err), EXO_OK);
	if (f->sv == NULL)
		return -1;
	CHECK_INT(service_start(f->sv, &err), EXO_OK);
	CHECK_INT(control_start(f->sv, &f->ctl, &err), EXO_OK);
	if (f->ctl == NULL) {
		printf("  control_start: %s\n", err.msg);
		return -1;
	}
	CHECK_INT(admin_remote_open(conf, &f->adm, &err), EXO_OK);
	if (f->adm == NULL)
		printf("  admin_remote_open: %s\n", err.msg);
	return f->adm != NULL ? 0 : -1;
}

static void
teardown(struct fixture *f)
{
	if (f->adm != NULL)
		f->adm->ops->quit(f->adm);
	control_stop(f->ctl);
	if (f->sv != NULL) {
		service_stop(f->sv);
		service_close(f->sv);
	}
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

TEST(no_serve_is_not_found)
{
	struct admin		*adm = NULL;
	struct exo_error	 err;

	write_conf();
	CHECK_INT(admin_remote_open(conf, &adm, &err), EXO_ERR_NOTFOUND);
	CHECK(adm == NULL);
}

TEST(servers_round_trip)
{
	struct fixture		f;
	struct admin_server	s;
	struct exo_error	err;
	plat_socket		dev;
	char			line[256];

	if (setup(&f) != 0)
		goto out;
	CHECK_STR(f.adm->data_dir, service_settings(f.sv)->data_dir);
	CHECK_STR(f.adm->config_path, conf);

	f.adm->ops->server_info(f.adm, SERVER_POP3, &s);
	CHECK_INT(s.status.state, SERVER_RUNNING);
	CHECK_INT(s.status.port, pop3_port);
	CHECK_STR(s.status.listen, "127.0.0.1");
	CHECK_INT(s.enabled, 1);

	/* A device session moves the serve's counters. */
	CHECK_INT(plat_connect("127.0.0.1", pop3_port, 2000, &dev, NULL),
	    EXO_OK);
	CHECK(plat_recv(dev, line, sizeof(line), 3000) > 0);
	f.adm->ops->server_info(f.adm, SERVER_POP3, &s);
	CHECK_INT(s.sessions, 1);
	CHECK_INT(s.active, 1);
	CHECK_INT(f.adm->ops->active_sessions(f.adm), 1);
	plat_socket_close(dev);

	f.adm->ops->server_stop(f.adm, SERVER_SMTP);
	f.adm->ops->server_info(f.adm, SERVER_SMTP, &s);
	CHECK_INT(s.status.state, SERVER_STOPPED);
	CHECK_INT(f.adm->ops->server_start(f.adm, SERVER_SMTP, &err),
	    EXO_OK);
	f.adm->ops->server_info(f.adm, SERVER_SMTP, &s);
	CHECK_INT(s.status.state, SERVER_RUNNING);
	CHECK_INT(s.status.port, smtp_port);

	/* An error keeps its code and message across the channel. */
	err_clear(&err);
	CHECK_INT(f.adm->ops->server_start(f.adm, SERVER_SMTP, &err),
	    EXO_ERR_INVALID);
	CHECK(err.msg[0] != '\0');
	CHECK_INT(f.adm->ops->resume(f.adm, &err), EXO_OK);
out:
	teardown(&f);
}

TEST(users_round_trip)
{
	struct fixture		 f;
	struct exo_error	 err;
	struct user		*users = NULL, *u = calloc(1, sizeof(*u));
	size_t			 count = 0;
	char			 pw[USER_PASSWORD_MAX];

	if (setup(&f) != 0 || u == NULL)
		goto out;
	add_user(f.sv, "scan", "secret");

	CHECK_INT(f.adm->ops->user_list(f.adm, &users, &count, &err), EXO_OK);
	CHECK_INT(count, 1);
	if (count == 1) {
		CHECK_STR(users[0].login, "scan");
		CHECK_STR(users[0].mailbox, "scan@example.com");
		/* Secrets stay in the serve. */
		CHECK_STR(users[0].password, "");
		CHECK_STR(users[0].refresh_token, "");
	}
	userdb_free_list(users, count);

	CHECK_INT(f.adm->ops->user_set(f.adm, "scan", "sender", "rewrite",
	    &err), EXO_OK);
	CHECK_INT(f.adm->ops->user_set(f.adm, "scan", "colour", "red", &err),
	    EXO_ERR_INVALID);
	CHECK(strstr(err.msg, "mailbox") != NULL);
	CHECK_INT(f.adm->ops->user_set_password(f.adm, "scan", "n\xc3\xa9w",
	    &err), EXO_OK);
	CHECK_INT(userdb_get(service_userdb(f.sv), "scan", u, NULL), EXO_OK);
	CHECK_STR(u->sender_policy, "rewrite");
	CHECK_STR(u->password, "n\xc3\xa9w");

	CHECK_INT(f.adm->ops->user_reset_password(f.adm, "scan", pw, &err),
	    EXO_OK);
	CHECK_INT(strlen(pw), 16);
	CHECK_INT(userdb_get(service_userdb(f.sv), "scan", u, NULL), EXO_OK);
	CHECK_STR(u->password, pw);
	CHECK_INT(f.adm->ops->user_reset_password(f.adm, "nobody", pw, &err),
	    EXO_ERR_NOTFOUND);

	CHECK_INT(f.adm->ops->user_delete(f.adm, "scan", &err), EXO_OK);
	CHECK_INT(f.adm->ops->user_list(f.adm, &users, &count, &err), EXO_OK);
	CHECK_INT(count, 0);
	userdb_free_list(users, count);
out:
	if (u != NULL)
		user_wipe(u);
	free(u);
	teardown(&f);
}

static void
count_step(const char *line, void *ctx)
{
	CHECK(line[0] != '\0');
	(*(int *)ctx)++;
}

static void
on_code(const char *uri, const char *code, const char *message,
    int expires_in, void *ctx)
{
	(void)uri;
	(void)code;
	(void)message;
	(void)expires_in;
	(*(int *)ctx)++;
}

/* Sign-ins and tests stream progress and return the serve's failure. */
TEST(signin_and_test_round_trip)
{
	struct fixture		f;
	struct exo_error	err;
	struct signin_request	rq;
	struct signin_result	res;
	struct oauth_error	oerr;
	volatile int		cancel = 0;
	int			steps = 0, codes = 0;
	char			longbox[USER_MAILBOX_MAX + 8];

	if (setup(&f) != 0)
		goto out;
	add_user(f.sv, "scan", "secret");

	memset(&rq, 0, sizeof(rq));
	rq.method = SIGNIN_DEVICE_CODE;
	rq.on_device_code = on_code;
	rq.ctx = &codes;
	rq.cancel = &cancel;
	err_clear(&err);
	CHECK(f.adm->ops->user_add(f.adm, &rq, "new", NULL, &res, &oerr,
	    &err) != EXO_OK);
	CHECK(err.msg[0] != '\0');
	CHECK_INT(oerr.kind, OAUTH_FAIL_TRANSIENT);
	CHECK_INT(codes, 0);
	CHECK_INT(f.adm->ops->user_signin(f.adm, "nobody", &rq, &res, &oerr,
	    &err), EXO_ERR_NOTFOUND);

	/* A mailbox too long for the serve is an error, never cut. */
	memset(longbox, 'm', sizeof(longbox) - 1);
	longbox[sizeof(longbox) - 1] = '\0';
	CHECK_INT(f.adm->ops->user_add(f.adm, &rq, NULL, longbox, &res, &oerr,
	    &err), EXO_ERR_TOOLONG);
	CHECK(strstr(err.msg, "mailbox") != NULL);

	CHECK(f.adm->ops->user_test(f.adm, "scan", count_step, &steps,
	    &err) != EXO_OK);
	CHECK(steps >= 1);
out:
	teardown(&f);
}

TEST(settings_round_trip)
{
	struct fixture		 f;
	struct exo_error	 err;
	struct settings		*s = malloc(sizeof(*s));
	const struct config_key	*k;
	char			 a[2048], b[2048];
	int			 pending = -1;

	if (setup(&f) != 0 || s == NULL)
		goto out;
	f.adm->ops->settings_get(f.adm, s);
	CHECK_STR(s->path, conf);
	for (k = config_keys(); k->name != NULL; k++) {
		CHECK_INT(config_get(s, k->section, k->name, a, sizeof(a)),
		    EXO_OK);
		CHECK_INT(config_get(service_settings(f.sv), k->section,
		    k->name, b, sizeof(b)), EXO_OK);
		if (strcmp(a, b) != 0)
			printf("  %s.%s: %s != %s\n", k->section, k->name, a,
			    b);
		CHECK(strcmp(a, b) == 0);
	}
	CHECK_INT(f.adm->ops->settings_ready(f.adm, &err), EXO_OK);

	/* Saved while servers run: waits for the restart. */
	s->smtp.idle_timeout = 123;
	CHECK_INT(f.adm->ops->settings_save(f.adm, s, &pending, &err),
	    EXO_OK);
	CHECK_INT(pending, 1);
	CHECK_INT(service_settings(f.sv)->smtp.idle_timeout != 123, 1);
	f.adm->ops->settings_get(f.adm, s);
	CHECK_INT(s->smtp.idle_timeout, 123);
	CHECK_INT(f.adm->ops->settings_restart(f.adm, &err), EXO_OK);
	CHECK_INT(service_settings(f.sv)->smtp.idle_timeout, 123);

	/* A value the serve rejects keeps the old one. */
	CHECK_INT(config_set(s, "log", "level", "info", NULL), EXO_OK);
	str_copy(s->pop3.listen, "not an address", sizeof(s->pop3.listen));
	CHECK(f.adm->ops->settings_save(f.adm, s, &pending, &err) !=
	    EXO_OK);
	CHECK_STR(service_settings(f.sv)->pop3.listen, "127.0.0.1");
out:
	free(s);
	teardown(&f);
}

/* When the serve stops responding, the screen keeps what it last read. */
TEST(serve_gone_keeps_settings)
{
	struct fixture		 f;
	struct admin_server	 info;
	struct exo_error	 err;
	struct settings		*s = malloc(sizeof(*s));
	int			 pending = 0;

	if (setup(&f) != 0 || s == NULL)
		goto out;
	control_stop(f.ctl);
	f.ctl = NULL;

	f.adm->ops->settings_get(f.adm, s);
	CHECK_INT(s->pop3.port, pop3_port);
	CHECK_STR(s->pop3.listen, "127.0.0.1");
	f.adm->ops->server_info(f.adm, SERVER_POP3, &info);
	CHECK_INT(info.status.state, SERVER_FAILED);
	CHECK(strstr(info.status.last_error.msg, "stopped responding") !=
	    NULL);
	CHECK_INT(f.adm->ops->settings_save(f.adm, s, &pending, &err),
	    EXO_ERR_IO);
out:
	free(s);
	teardown(&f);
}

struct seen {
	int	count;
	char	text[512];
	char	param[64];
};

static void
on_event(const struct ev *ev, void *ctx)
{
	struct seen	*s = ctx;
	const char	*v = ev_param(ev, "who");

	if (strcmp(ev->id, "test.control") != 0)
		return;
	s->count++;
	str_copy(s->text, ev->text, sizeof(s->text));
	str_copy(s->param, v != NULL ? v : "", sizeof(s->param));
}

TEST(events_reach_subscriber)
{
	struct fixture	f;
	struct seen	seen;
	int		h;

	memset(&seen, 0, sizeof(seen));
	if (setup(&f) != 0)
		goto out;
	h = f.adm->ops->subscribe(f.adm, on_event, &seen);
	CHECK(h >= 0);
	ev_emit(EV_WARN, 7, "test.control", "Hello {who}", "who",
	    "line\nbreak \"quoted\"", (char *)NULL);
	for (int i = 0; i < 50 && seen.count == 0; i++)
		plat_sleep_ms(20);
	CHECK_INT(seen.count, 1);
	CHECK_STR(seen.text, "Hello {who}");
	CHECK_STR(seen.param, "line\nbreak \"quoted\"");
	f.adm->ops->unsubscribe(f.adm, h);
	ev_emit(EV_WARN, 7, "test.control", "Hello {who}", "who", "again",
	    (char *)NULL);
	plat_sleep_ms(200);
	CHECK_INT(seen.count, 1);
out:
	teardown(&f);
}

struct shown {
	int	count;
	char	english[1024];
	char	display[1024];
};

static void
on_shown(const struct ev *ev, void *ctx)
{
	struct shown	*s = ctx;

	if (strcmp(ev->id, "test.shown") != 0)
		return;
	s->count++;
	ev_render(ev, NULL, s->english, sizeof(s->english));
	ev_render_translated(ev, i18n_translate, NULL, s->display,
	    sizeof(s->display));
}

TEST(errors_translated_over_channel)
{
	struct fixture		f;
	struct exo_error	err;
	struct shown		shown;
	struct admin_server	info;
	plat_socket		busy;
	char			text[I18N_ERROR_MAX];
	int			h;

	memset(&shown, 0, sizeof(shown));
	if (setup(&f) != 0)
		goto out;
	/* After setup, which sets the language from the settings. */
	CHECK_INT(i18n_set_language("de"), EXO_OK);
	CHECK_INT(f.adm->ops->user_delete(f.adm, "nosuch", &err),
	    EXO_ERR_NOTFOUND);
	CHECK_STR(err.msg, "no user named \"nosuch\"; `exoconnect user "
	    "list` shows the users");
	CHECK_STR(i18n_error(&err, text, sizeof(text)), "kein Benutzer "
	    "namens \"nosuch\"; `exoconnect user list` zeigt die Benutzer "
	    "an");

	h = f.adm->ops->subscribe(f.adm, on_shown, &shown);
	CHECK(h >= 0);
	err_set(&err, EXO_ERR_NOTFOUND, "no user named \"%s\"; `exoconnect "
	    "user list` shows the users", "x");
	ev_emit(EV_WARN, 0, "test.shown", "The log file could not be "
	    "opened: {error}", EV_ERROR("error", &err), EV_MSGID("what"),
	    "Error", (char *)NULL);
	for (int i = 0; i < 50 && shown.count == 0; i++)
		plat_sleep_ms(20);
	f.adm->ops->unsubscribe(f.adm, h);
	CHECK_INT(shown.count, 1);
	CHECK_STR(shown.english, "The log file could not be opened: \"no "
	    "user named \\\"x\\\"; `exoconnect user list` shows the users\" "
	    "what=Error");
	CHECK_STR(shown.display, "Die Protokolldatei konnte nicht geöffnet "
	    "werden: \"kein Benutzer namens \\\"x\\\"; `exoconnect user "
	    "list` zeigt die Benutzer an\" what=Fehler");

	/* A server's failure, as the servers pane shows it. */
	f.adm->ops->server_stop(f.adm, SERVER_SMTP);
	CHECK_INT(plat_listen("127.0.0.1", smtp_port, &busy, NULL), EXO_OK);
	CHECK_INT(f.adm->ops->server_start(f.adm, SERVER_SMTP, &err),
	    EXO_ERR_ADDRINUSE);
	f.adm->ops->server_info(f.adm, SERVER_SMTP, &info);
	CHECK_INT(info.status.state, SERVER_FAILED);
	/* The message differs between POSIX and Windows. */
	CHECK(strstr(info.status.last_error.msg, "already in use") != NULL);
	CHECK(info.status.last_error.nlayers > 0);
	i18n_error(&info.status.last_error, text, sizeof(text));
	CHECK(strstr(text, "127.0.0.1") != NULL);
	CHECK(strstr(text, "bereits") != NULL);
	plat_socket_close(busy);
out:
	teardown(&f);
	CHECK_INT(i18n_set_language("en"), EXO_OK);
}

/* Sends text on a new raw connection; returns 1 when the serve hangs up. */
static int
dropped_after(const char *data_dir, const char *text, size_t len)
{
	struct plat_ipc	*c;
	char		 buf[256];
	long		 n;
	int		 closed = 0;

	if (plat_ipc_connect(data_dir, 2000, &c, NULL) != EXO_OK)
		return 0;
	plat_ipc_send_all(c, text, len, 5000);
	for (int i = 0; i < 20; i++) {
		n = plat_ipc_recv(c, buf, sizeof(buf), 250);
		if (n == 0 || n == EXO_ERR_CLOSED || n == EXO_ERR_IO) {
			closed = 1;
			break;
		}
	}
	plat_ipc_close(c);
	return closed;
}

TEST(junk_drops_only_that_client)
{
	struct fixture		 f;
	struct admin_server	 s;
	const char		*dd;
	char			*big;

	if (setup(&f) != 0)
		goto out;
	dd = service_settings(f.sv)->data_dir;
	CHECK(dropped_after(dd, "not json\n", 9));
	CHECK(dropped_after(dd, "{\"op\":\"hello\",\"x\":\"\0\"}\n", 23));
	CHECK(dropped_after(dd, "[1,2]\n", 6));
	if ((big = malloc(CONTROL_MSG_MAX + 10)) != NULL) {
		memset(big, 'x', CONTROL_MSG_MAX + 10);
		CHECK(dropped_after(dd, big, CONTROL_MSG_MAX + 10));
		free(big);
	}

	/* The attached screen keeps working. */
	f.adm->ops->server_info(f.adm, SERVER_POP3, &s);
	CHECK_INT(s.status.state, SERVER_RUNNING);
out:
	teardown(&f);
}

TEST(unknown_request_gets_error)
{
	struct fixture		 f;
	struct plat_ipc		*c = NULL;
	struct control_reader	*rd = calloc(1, sizeof(*rd));
	const char		*line;
	size_t			 len;
	static const char	 req[] = "{\"op\":\"format_disk\"}\n";

	if (setup(&f) != 0 || rd == NULL)
		goto out;
	CHECK_INT(plat_ipc_connect(service_settings(f.sv)->data_dir, 2000,
	    &c, NULL), EXO_OK);
	if (c == NULL)
		goto out;
	CHECK_INT(plat_ipc_send_all(c, req, sizeof(req) - 1, 2000), EXO_OK);
	CHECK_INT(control_read_line(c, rd, 3000, &line, &len), EXO_OK);
	CHECK(len > 0 && strstr(line, "\"rc\":-10") != NULL);
	plat_ipc_close(c);
out:
	free(rd);
	teardown(&f);
}

struct shutter {
	struct plat_ipc	*c;
};

static void
shut_later(void *arg)
{
	struct shutter	*s = arg;

	plat_sleep_ms(300);
	plat_ipc_shutdown(s->c);
}

/* Waits time out, a shutdown ends them, and one endpoint has one owner. */
TEST(channel_waits_and_shutdown)
{
	struct plat_ipc	*l = NULL, *second = NULL, *cli = NULL;
	struct plat_ipc	*srv = NULL;
	struct shutter	 sh;
	char		 byte;
	int64_t		 start;

	make_dir();
	CHECK_INT(plat_ipc_listen(dir, &l, NULL), EXO_OK);
	if (l == NULL)
		return;
	CHECK_INT(plat_ipc_accept(l, 100, &srv), EXO_ERR_TIMEOUT);
	CHECK_INT(plat_ipc_connect(dir, 2000, &cli, NULL), EXO_OK);
	CHECK_INT(plat_ipc_accept(l, 2000, &srv), EXO_OK);
	CHECK_INT(plat_ipc_listen(dir, &second, NULL), EXO_ERR_LOCKED);
	if (cli == NULL || srv == NULL)
		goto out;

	CHECK_INT(plat_ipc_send_all(cli, "x", 1, 2000), EXO_OK);
	CHECK_INT(plat_ipc_recv(srv, &byte, 1, 2000), 1);
	CHECK_INT(byte, 'x');
	CHECK_INT(plat_ipc_recv(srv, &byte, 1, 0), EXO_ERR_TIMEOUT);
	CHECK_INT(plat_ipc_recv(srv, &byte, 1, 200), EXO_ERR_TIMEOUT);

	sh.c = srv;
	start = plat_monotonic_ms();
	CHECK_INT(plat_thread_start(shut_later, &sh, 0), EXO_OK);
	CHECK_INT(plat_ipc_recv(srv, &byte, 1, 10000), EXO_ERR_CLOSED);
	CHECK(plat_monotonic_ms() - start < 5000);

	/* The other side sees the end of the stream. */
	plat_ipc_close(srv);
	srv = NULL;
	CHECK(plat_ipc_recv(cli, &byte, 1, 2000) <= 0);
out:
	plat_ipc_close(srv);
	plat_ipc_close(cli);
	plat_ipc_close(l);
}

int
main(void)
{
	plat_init();
	RUN(no_serve_is_not_found);
	RUN(servers_round_trip);
	RUN(users_round_trip);
	RUN(signin_and_test_round_trip);
	RUN(settings_round_trip);
	RUN(serve_gone_keeps_settings);
	RUN(events_reach_subscriber);
	RUN(errors_translated_over_channel);
	RUN(junk_drops_only_that_client);
	RUN(unknown_request_gets_error);
	RUN(channel_waits_and_shutdown);
	return TEST_EXIT();
}
