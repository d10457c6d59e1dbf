/*
 * session.h: what the two session fuzz targets share. A real user store
 * in a temporary folder contains one user ("scanner1", "secret"). Tokens
 * come from a stand-in installed through the test seams, and the upstream
 * is the in-process stand-in of upstream.h, so a login that passes goes
 * on to the relayed commands and the message data.
 * Each input is written whole into one end of a socket pair, which is
 * then shut for writing; the session runs on the other end in the
 * calling thread while a thread drains its replies.
 */
#ifndef EXO_FUZZ_SESSION_H
#define EXO_FUZZ_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../src/auth.h"
#include "../../src/config.h"
#include "../../src/plat.h"
#include "../../src/pop3.h"
#include "../../src/session.h"
#include "../../src/smtp.h"
#include "../../src/stream.h"
#include "../../src/users.h"
#include "../../src/util.h"
#include "upstream.h"

#define FUZZ_SESSION_MAX 65536		/* longest input; fits a socket */
#define FUZZ_SESSION_REPLY_MAX (16 * 1024 * 1024) /* replies drained */

static struct settings	 fuzz_settings;
static struct userdb	*fuzz_users;
static atomic_int	 fuzz_stopping;

static int
fuzz_token_get(const char *login, struct token_lease *out)
{
	(void)login;
	memset(out, 0, sizeof(*out));
	str_copy(out->access_token, "fuzz-access-token",
	    sizeof(out->access_token));
	str_copy(out->mailbox, "mfp@example.com", sizeof(out->mailbox));
	return EXO_OK;
}

static int
fuzz_pop3_get(struct token_mgr *m, const char *login, int force,
    struct token_lease *out, struct exo_error *e)
{
	(void)m;
	(void)force;
	(void)e;
	return fuzz_token_get(login, out);
}

static void
fuzz_pop3_rejected(struct token_mgr *m, const char *login, const char *code,
    const char *reason)
{
	(void)m;
	(void)login;
	(void)code;
	(void)reason;
}

static void
fuzz_pop3_success(struct token_mgr *m, const char *login)
{
	(void)m;
	(void)login;
}

static int
fuzz_smtp_get(const char *login, int force, struct token_lease *out,
    struct exo_error *e)
{
	(void)force;
	(void)e;
	return fuzz_token_get(login, out);
}

static void
fuzz_smtp_rejected(const char *login, const char *code, const char *reason)
{
	(void)login;
	(void)code;
	(void)reason;
}

static void
fuzz_smtp_success(const char *login)
{
	(void)login;
}

static const struct pop3_token_ops fuzz_pop3_ops = {
	fuzz_pop3_get, fuzz_pop3_rejected, fuzz_pop3_success,
};

static const struct smtp_test_tokens fuzz_smtp_ops = {
	fuzz_smtp_get, fuzz_smtp_rejected, fuzz_smtp_success,
};

static void
fuzz_setup(void)
{
	static char		dir[PLAT_PATH_MAX];
	struct exo_error	e;
	struct user		u;
	char			notice[512];
	unsigned		pop3_port, smtp_port;

	if (fuzz_users != NULL)
		return;
	plat_init();
	snprintf(dir, sizeof(dir), "/tmp/exo-fuzz-session-XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
	config_defaults(&fuzz_settings);
	str_copy(fuzz_settings.data_dir, dir, sizeof(fuzz_settings.data_dir));
	fup_start(dir, &pop3_port, &smtp_port);
	str_copy(fuzz_settings.pop3.upstream.host, "localhost",
	    sizeof(fuzz_settings.pop3.upstream.host));
	fuzz_settings.pop3.upstream.port = pop3_port;
	str_copy(fuzz_settings.smtp.upstream.host, "localhost",
	    sizeof(fuzz_settings.smtp.upstream.host));
	fuzz_settings.smtp.upstream.port = smtp_port;
	fuzz_settings.smtp.upstream_personal = fuzz_settings.smtp.upstream;
	fuzz_settings.limits.preauth_timeout = 2;
	fuzz_settings.pop3.idle_timeout = 2;
	fuzz_settings.smtp.idle_timeout = 2;
	if (userdb_open(&fuzz_settings, &fuzz_users, notice, &e) != EXO_OK)
		abort();
	memset(&u, 0, sizeof(u));
	str_copy(u.login, "scanner1", sizeof(u.login));
	str_copy(u.mailbox, "mfp@example.com", sizeof(u.mailbox));
	str_copy(u.password, "secret", sizeof(u.password));
	str_copy(u.refresh_token, "refresh-1", sizeof(u.refresh_token));
	str_copy(u.sender_policy, "pass", sizeof(u.sender_policy));
	u.state = USER_OK;
	if (userdb_add(fuzz_users, &u, &e) != EXO_OK)
		abort();
	/* Failed logins from one address would otherwise be delayed. */
	auth_throttle_set_delay_ms(0);
	pop3_test_set_token_ops(&fuzz_pop3_ops);
	smtp_test_set_tokens(&fuzz_smtp_ops);
	atomic_init(&fuzz_stopping, 0);
}

static void
fuzz_on_login(struct session_ctx *ctx, const char *login)
{
	(void)ctx;
	(void)login;
}

static void *
fuzz_drain(void *arg)
{
	int	fd = *(int *)arg;
	char	buf[65536];
	size_t	total = 0;
	ssize_t	n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		total += (size_t)n;
		if (total > FUZZ_SESSION_REPLY_MAX)
			abort();
	}
	return NULL;
}

/* Runs one session of the given kind on data as the device's bytes. */
static void
fuzz_session(void (*run)(struct session_ctx *, struct stream *),
    const unsigned char *data, size_t size)
{
	struct server_stats	 stats;
	struct session_ctx	 ctx;
	struct stream		*st;
	pthread_t		 drain;
	int			 fd[2], sndbuf = 1 << 20;

	if (size > FUZZ_SESSION_MAX)
		return;
	fuzz_setup();
	auth_throttle_clear();
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0)
		return;
	(void)setsockopt(fd[1], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof(sndbuf));
	if (write(fd[1], data, size) != (ssize_t)size) {
		close(fd[0]);
		close(fd[1]);
		return;
	}
	shutdown(fd[1], SHUT_WR);
	if (pthread_create(&drain, NULL, fuzz_drain, &fd[1]) != 0) {
		close(fd[0]);
		close(fd[1]);
		return;
	}
	if ((st = stream_new(fd[0], 2000)) == NULL) {
		close(fd[0]);
		shutdown(fd[1], SHUT_RD);
	} else {
		memset(&stats, 0, sizeof(stats));
		memset(&ctx, 0, sizeof(ctx));
		ctx.settings = &fuzz_settings;
		ctx.trust = fup_trust;
		ctx.users = fuzz_users;
		ctx.stats = &stats;
		ctx.conn = 1;
		str_copy(ctx.peer, "127.0.0.1", sizeof(ctx.peer));
		ctx.local_port = 110;
		ctx.stopping = &fuzz_stopping;
		ctx.on_login = fuzz_on_login;
		run(&ctx, st);		/* closes st, so the drain ends */
	}
	pthread_join(drain, NULL);
	close(fd[1]);
}

#endif
