/*
 * test-plat.c: the POSIX platform layer on 127.0.0.1 and in a temporary
 * folder: sockets and their timeouts, threads, files, locks, clocks and
 * the test seams.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "../../src/plat.h"
#include "../../src/util.h"

static char	tmpdir[PLAT_PATH_MAX];

/* Connects a client to a new listener on 127.0.0.1 and accepts it. */
static void
make_pair(plat_socket *l, plat_socket *c, plat_socket *a)
{
	struct exo_error	e;
	char			peer[PLAT_ADDR_MAX];

	CHECK_INT(plat_listen("127.0.0.1", 0, l, &e), 0);
	CHECK(plat_socket_port(*l) > 0);
	CHECK_INT(plat_connect("127.0.0.1", (unsigned)plat_socket_port(*l),
	    2000, c, &e), 0);
	CHECK_INT(plat_accept(*l, 2000, a, peer), 0);
	CHECK_STR(peer, "127.0.0.1");
}

TEST(socket_send_recv)
{
	plat_socket	l, c, a;
	char		buf[16];

	make_pair(&l, &c, &a);
	CHECK_INT(plat_send_all(c, "hello", 5, 1000), 0);
	CHECK_INT(plat_recv(a, buf, sizeof(buf), 1000), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);

	plat_socket_close(c);
	CHECK_INT(plat_recv(a, buf, sizeof(buf), 1000), 0);
	plat_socket_close(a);
	plat_socket_close(l);
}

TEST(socket_recv_timeout)
{
	plat_socket	l, c, a;
	char		buf[16];
	int64_t		start;

	make_pair(&l, &c, &a);
	start = plat_now_ms();
	CHECK_INT(plat_recv(a, buf, sizeof(buf), 100), EXO_ERR_TIMEOUT);
	CHECK(plat_now_ms() - start >= 90);
	CHECK(plat_now_ms() - start < 2000);
	plat_socket_close(c);
	plat_socket_close(a);
	plat_socket_close(l);
}

TEST(socket_send_timeout)
{
	plat_socket	l, c, a;
	static char	big[1 << 20];
	int		rc = 0, i;

	/* The peer never reads, so the kernel buffers fill up. */
	make_pair(&l, &c, &a);
	for (i = 0; i < 64 && rc == 0; i++)
		rc = plat_send_all(c, big, sizeof(big), 100);
	CHECK_INT(rc, EXO_ERR_TIMEOUT);
	plat_socket_close(c);
	plat_socket_close(a);
	plat_socket_close(l);
}

TEST(socket_send_to_closed_peer)
{
	plat_socket	l, c, a;
	static char	big[1 << 16];
	int		rc = 0, i;

	/* Without MSG_NOSIGNAL this would end the test with SIGPIPE. */
	make_pair(&l, &c, &a);
	plat_socket_close(a);
	for (i = 0; i < 100 && rc == 0; i++)
		rc = plat_send_all(c, big, sizeof(big), 1000);
	CHECK_INT(rc, EXO_ERR_CLOSED);
	plat_socket_close(c);
	plat_socket_close(l);
}

TEST(accept_timeout_and_shutdown)
{
	struct exo_error	e;
	plat_socket		l, a;
	char			peer[PLAT_ADDR_MAX];

	CHECK_INT(plat_listen("127.0.0.1", 0, &l, &e), 0);
	CHECK_INT(plat_accept(l, 50, &a, peer), EXO_ERR_TIMEOUT);
	plat_socket_shutdown(l);
	CHECK_INT(plat_accept(l, 1000, &a, peer), EXO_ERR_CLOSED);
	plat_socket_close(l);
}

TEST(listen_ipv6_any_takes_ipv4)
{
	struct exo_error	e;
	plat_socket		l, c, a;
	char			peer[PLAT_ADDR_MAX];

	CHECK_INT(plat_listen("::", 0, &l, &e), 0);
	CHECK_INT(plat_connect("127.0.0.1", (unsigned)plat_socket_port(l),
	    2000, &c, &e), 0);
	CHECK_INT(plat_accept(l, 2000, &a, peer), 0);
	/* IPv4-mapped peers are shown as plain IPv4. */
	CHECK_STR(peer, "127.0.0.1");
	plat_socket_close(c);
	plat_socket_close(a);
	plat_socket_close(l);
}

TEST(listen_address_in_use)
{
	struct exo_error	e;
	plat_socket		l, l2;
	char			want[64];
	int			port;

	CHECK_INT(plat_listen("127.0.0.1", 0, &l, &e), 0);
	port = plat_socket_port(l);
	CHECK_INT(plat_listen("127.0.0.1", (unsigned)port, &l2, &e),
	    EXO_ERR_ADDRINUSE);
	CHECK_INT(e.code, EXO_ERR_ADDRINUSE);
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	CHECK(strstr(e.msg, want) != NULL);
	plat_socket_close(l);

	/* IPv6 addresses are bracketed so the port stays readable. */
	CHECK_INT(plat_listen("::", 0, &l, &e), 0);
	port = plat_socket_port(l);
	CHECK_INT(plat_listen("::", (unsigned)port, &l2, &e),
	    EXO_ERR_ADDRINUSE);
	snprintf(want, sizeof(want), "[::]:%d", port);
	CHECK(strstr(e.msg, want) != NULL);
	plat_socket_close(l);
}

TEST(listen_bad_address)
{
	struct exo_error	e;
	plat_socket		l;

	CHECK_INT(plat_listen("example.invalid", 0, &l, &e),
	    EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "example.invalid") != NULL);
	CHECK_INT(plat_listen("127.0.0.1", 70000, &l, &e), EXO_ERR_INVALID);
}

TEST(listen_low_port_message)
{
	struct exo_error	e;
	plat_socket		l;
	int			rc;

	/* Root may bind any port, so only an ordinary user sees the error. */
	rc = plat_listen("127.0.0.1", 1, &l, &e);
	if (geteuid() == 0) {
		CHECK(rc == 0 || rc == EXO_ERR_ADDRINUSE);
		if (rc == 0)
			plat_socket_close(l);
		return;
	}
	CHECK_INT(rc, EXO_ERR_PERM);
	CHECK(strstr(e.msg, "port 1 needs privileges") != NULL);
	CHECK(strstr(e.msg, "setcap cap_net_bind_service=+ep") != NULL);
}

TEST(connect_refused)
{
	struct exo_error	e;
	plat_socket		l, c;
	unsigned		port;

	/* A port that was free a moment ago and has no listener now. */
	CHECK_INT(plat_listen("127.0.0.1", 0, &l, &e), 0);
	port = (unsigned)plat_socket_port(l);
	plat_socket_close(l);
	CHECK_INT(plat_connect("127.0.0.1", port, 2000, &c, &e),
	    EXO_ERR_CONNECT);
	CHECK(strstr(e.msg, "127.0.0.1") != NULL);
}

struct waiter {
	struct plat_mutex	*m;
	struct plat_cond	*c;
	int			 done;
};

static void
waiter_run(void *arg)
{
	struct waiter	*w = arg;

	plat_mutex_lock(w->m);
	w->done = 1;
	plat_cond_broadcast(w->c);
	plat_mutex_unlock(w->m);
}

TEST(thread_and_cond)
{
	struct waiter	w;
	int64_t		start;
	int		rc = 0;

	w.m = plat_mutex_new();
	w.c = plat_cond_new();
	w.done = 0;
	CHECK(w.m != NULL);
	CHECK(w.c != NULL);

	plat_mutex_lock(w.m);
	start = plat_now_ms();
	CHECK_INT(plat_cond_wait(w.c, w.m, 50), EXO_ERR_TIMEOUT);
	CHECK(plat_now_ms() - start >= 45);

	CHECK_INT(plat_thread_start(waiter_run, &w, 64 * 1024), 0);
	while (!w.done && rc == 0)
		rc = plat_cond_wait(w.c, w.m, 5000);
	CHECK_INT(w.done, 1);
	plat_mutex_unlock(w.m);

	plat_cond_free(w.c);
	plat_mutex_free(w.m);
}

TEST(random_fills)
{
	unsigned char	a[32], b[32], zero[32];

	memset(a, 0, sizeof(a));
	memset(b, 0, sizeof(b));
	memset(zero, 0, sizeof(zero));
	CHECK_INT(plat_random(a, sizeof(a)), 0);
	CHECK_INT(plat_random(b, sizeof(b)), 0);
	CHECK(memcmp(a, zero, sizeof(a)) != 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
}

TEST(seam_random_pattern)
{
	unsigned char	buf[5];

	plat_test_set_random("\x01\x02", 2);
	CHECK_INT(plat_random(buf, sizeof(buf)), 0);
	CHECK(memcmp(buf, "\x01\x02\x01\x02\x01", 5) == 0);
	plat_test_set_random(NULL, 0);
	CHECK_INT(plat_random(buf, sizeof(buf)), 0);
}

TEST(seam_clock_and_fast_sleep)
{
	int64_t	wall, mono;

	wall = plat_wall_time();
	mono = plat_now_ms();
	plat_test_set_clock_offset(3600);
	CHECK(plat_wall_time() - wall >= 3600);
	CHECK(plat_wall_time() - wall < 3610);
	CHECK(plat_now_ms() - mono >= 3600 * 1000);

	plat_test_set_fast_sleep(1);
	mono = plat_now_ms();
	plat_sleep_ms(600 * 1000);
	CHECK(plat_now_ms() - mono >= 600 * 1000);
	plat_test_set_fast_sleep(0);
	plat_test_set_clock_offset(0);
}

TEST(seam_environment)
{
	struct exo_error	 e;
	unsigned char		 bytes[3];
	char			 clock_path[PLAT_PATH_MAX], path[PLAT_PATH_MAX];
	int64_t			 wall, mono;

	/* The clock file is re-read on each call. */
	CHECK_INT(plat_path_join(clock_path, tmpdir, "clock"), 0);
	CHECK_INT(plat_write_file_atomic(clock_path, "7200\n", 5, 0, &e), 0);
	wall = plat_wall_time();
	mono = plat_now_ms();
	setenv("EXO_TEST_CLOCK_FILE", clock_path, 1);
	CHECK(plat_wall_time() - wall >= 7200);
	CHECK(plat_now_ms() - mono >= 7200 * 1000);
	CHECK_INT(plat_write_file_atomic(clock_path, "0", 1, 0, &e), 0);
	CHECK(plat_wall_time() - wall < 10);
	unsetenv("EXO_TEST_CLOCK_FILE");

	setenv("EXO_TEST_FAST_SLEEP", "1", 1);
	mono = plat_now_ms();
	plat_sleep_ms(3600 * 1000);
	CHECK(plat_now_ms() - mono >= 3600 * 1000);
	unsetenv("EXO_TEST_FAST_SLEEP");
	plat_test_set_clock_offset(0);

	setenv("EXO_TEST_RANDOM", "a1b2", 1);
	CHECK_INT(plat_random(bytes, sizeof(bytes)), 0);
	CHECK(memcmp(bytes, "\xa1\xb2\xa1", 3) == 0);
	unsetenv("EXO_TEST_RANDOM");

	setenv("EXO_TEST_WRITE_FAIL", "users.json", 1);
	CHECK_INT(plat_path_join(path, tmpdir, "users.json"), 0);
	CHECK_INT(plat_write_file_atomic(path, "{}", 2, 1, &e),
	    EXO_ERR_NOSPACE);
	CHECK_INT(plat_path_join(path, tmpdir, "other.json"), 0);
	CHECK_INT(plat_write_file_atomic(path, "{}", 2, 1, &e), 0);
	unsetenv("EXO_TEST_WRITE_FAIL");
}

TEST(format_time_utc)
{
	char	buf[32];

	plat_format_time(0, buf);
	CHECK_STR(buf, "1970-01-01T00:00:00Z");
	plat_format_time(1796403806, buf);
	CHECK_STR(buf, "2026-12-04T17:03:26Z");
}

TEST(file_write_read_modes)
{
	struct exo_error	 e;
	struct stat		 st;
	char			 path[PLAT_PATH_MAX], *data;
	size_t			 len;
	int64_t			 size;

	CHECK_INT(plat_path_join(path, tmpdir, "secret.json"), 0);
	CHECK_INT(plat_write_file_atomic(path, "{\"a\":1}", 7, 1, &e), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(plat_read_file(path, 100, &data, &len, &e), 0);
	CHECK_INT(len, 7);
	CHECK_STR(data, "{\"a\":1}");
	free(data);
	CHECK_INT(plat_file_size(path, &size), 0);
	CHECK_INT(size, 7);

	/* Replacing keeps one file and no temporary beside it. */
	CHECK_INT(plat_write_file_atomic(path, "x", 1, 0, &e), 0);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0644);
	CHECK_INT(plat_read_file(path, 100, &data, &len, &e), 0);
	CHECK_STR(data, "x");
	free(data);
}

TEST(file_read_limits)
{
	struct exo_error	 e;
	char			 path[PLAT_PATH_MAX], *data = NULL;
	size_t			 len;

	CHECK_INT(plat_path_join(path, tmpdir, "ten"), 0);
	CHECK_INT(plat_write_file_atomic(path, "0123456789", 10, 0, &e), 0);
	CHECK_INT(plat_read_file(path, 10, &data, &len, &e), 0);
	free(data);
	CHECK_INT(plat_read_file(path, 9, &data, &len, &e), EXO_ERR_TOOLONG);
	CHECK(data == NULL);
	CHECK(strstr(e.msg, path) != NULL);

	CHECK_INT(plat_path_join(path, tmpdir, "missing"), 0);
	CHECK_INT(plat_read_file(path, 10, &data, &len, &e),
	    EXO_ERR_NOTFOUND);
	CHECK(strstr(e.msg, "missing") != NULL);
	CHECK(!plat_file_exists(path));
}

TEST(seam_write_fail)
{
	struct exo_error	e;
	char			path[PLAT_PATH_MAX];

	CHECK_INT(plat_path_join(path, tmpdir, "tokens.json"), 0);
	plat_test_set_write_fail("tokens");
	CHECK_INT(plat_write_file_atomic(path, "x", 1, 1, &e),
	    EXO_ERR_NOSPACE);
	CHECK(!plat_file_exists(path));
	plat_test_set_write_fail(NULL);
	CHECK_INT(plat_write_file_atomic(path, "x", 1, 1, &e), 0);
	CHECK(plat_file_exists(path));
}

TEST(mkdir_p_and_protect)
{
	struct exo_error	e;
	struct stat		st;
	char			dir[PLAT_PATH_MAX];

	CHECK_INT(plat_path_join(dir, tmpdir, "a/b/c/"), 0);
	CHECK_INT(plat_mkdir_p(dir, 1, &e), 0);
	CHECK_INT(stat(dir, &st), 0);
	CHECK(S_ISDIR(st.st_mode));
	CHECK_INT(st.st_mode & 0777, 0700);
	CHECK_INT(plat_mkdir_p(dir, 1, &e), 0);
	CHECK(plat_dir_writable(dir));
	CHECK_INT(plat_dir_can_protect(dir, &e), 1);
}

/*
 * Runs plat_dir_can_protect on a folder of mode 0555 as a user who does
 * not own it (nobody when the tests run as root). Exits 0 when the answer
 * is the "not writable" error, never "cannot protect".
 */
static int
protect_unwritable_child(const char *dir)
{
	struct exo_error	e;
	int			rc;

	if (geteuid() == 0 && setuid(65534) != 0)
		return (3);
	rc = plat_dir_can_protect(dir, &e);
	if (rc != EXO_ERR_PERM)
		return (1);
	return (strstr(e.msg, "is not writable") != NULL &&
	    strstr(e.msg, dir) != NULL ? 0 : 2);
}

TEST(protect_unwritable_is_error)
{
	char	dir[PLAT_PATH_MAX];
	pid_t	pid;
	int	status = -1;

	CHECK_INT(plat_path_join(dir, tmpdir, "readonly"), 0);
	CHECK_INT(mkdir(dir, 0555), 0);
	CHECK_INT(chmod(tmpdir, 0755), 0);
	pid = fork();
	if (pid == 0)
		_exit(protect_unwritable_child(dir));
	CHECK(pid > 0);
	CHECK_INT(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_INT(WEXITSTATUS(status), 0);
}

TEST(protect_full_disk_is_error)
{
	struct exo_error	e;
	char			dir[PLAT_PATH_MAX];

	CHECK_INT(plat_path_join(dir, tmpdir, "full"), 0);
	CHECK_INT(plat_mkdir_p(dir, 0, &e), 0);
	plat_test_set_write_fail(".exoconnect-mode");
	CHECK_INT(plat_dir_can_protect(dir, &e), EXO_ERR_NOSPACE);
	CHECK(strstr(e.msg, "is full") != NULL);
	plat_test_set_write_fail(NULL);
	CHECK_INT(plat_dir_can_protect(dir, &e), 1);
}

TEST(path_join_and_dir)
{
	char	out[PLAT_PATH_MAX];
	char	longname[PLAT_PATH_MAX + 10];

	CHECK_INT(plat_path_join(out, "/etc", "exoconnect.conf"), 0);
	CHECK_STR(out, "/etc/exoconnect.conf");
	CHECK_INT(plat_path_join(out, "/", "x"), 0);
	CHECK_STR(out, "/x");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK_INT(plat_path_join(out, "/tmp", longname), EXO_ERR_TOOLONG);

	plat_path_dir(out, "/etc/exoconnect.conf");
	CHECK_STR(out, "/etc");
	plat_path_dir(out, "/x");
	CHECK_STR(out, "/");
	plat_path_dir(out, "x");
	CHECK_STR(out, ".");
	plat_path_dir(out, "a//b");
	CHECK_STR(out, "a");
}

TEST(user_dirs_follow_xdg)
{
	char	out[PLAT_PATH_MAX];

	setenv("XDG_CONFIG_HOME", "/cfg", 1);
	setenv("XDG_DATA_HOME", "relative", 1);
	setenv("HOME", "/home/u", 1);
	CHECK_INT(plat_user_config_dir(out), 0);
	CHECK_STR(out, "/cfg/exoconnect");
	/* The XDG specification declares relative values invalid. */
	CHECK_INT(plat_user_data_dir(out), 0);
	CHECK_STR(out, "/home/u/.local/share/exoconnect");
	unsetenv("XDG_CONFIG_HOME");
	CHECK_INT(plat_user_config_dir(out), 0);
	CHECK_STR(out, "/home/u/.config/exoconnect");
}

TEST(lock_excludes_second_holder)
{
	struct exo_error	 e;
	struct plat_lock	*l1, *l2;
	char			 path[PLAT_PATH_MAX], *data;
	size_t			 len;

	CHECK_INT(plat_path_join(path, tmpdir, "exoconnect.lock"), 0);
	CHECK_INT(plat_lock_acquire(path, 0, &l1, &e), 0);
	CHECK_INT(plat_lock_write(l1, "1234"), 0);
	CHECK_INT(plat_lock_acquire(path, 0, &l2, &e), EXO_ERR_LOCKED);
	CHECK(strstr(e.msg, "exoconnect.lock") != NULL);
	CHECK_INT(plat_read_file(path, 100, &data, &len, &e), 0);
	CHECK_STR(data, "1234");
	free(data);
	plat_lock_release(l1);
	CHECK_INT(plat_lock_acquire(path, 0, &l2, &e), 0);
	plat_lock_release(l2);
}

TEST(read_password_from_pipe)
{
	char	buf[8];
	int	fds[2], saved;

	CHECK_INT(pipe(fds), 0);
	saved = dup(0);
	dup2(fds[0], 0);
	close(fds[0]);
	CHECK_INT(write(fds[1], "secret\r\nmuch-too-long\n", 22), 22);
	close(fds[1]);

	CHECK_INT(plat_read_password("Password: ", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "secret");
	CHECK_INT(plat_read_password("Password: ", buf, sizeof(buf)),
	    EXO_ERR_TOOLONG);
	CHECK_INT(plat_read_password("Password: ", buf, sizeof(buf)),
	    EXO_ERR_CLOSED);
	dup2(saved, 0);
	close(saved);
}

static atomic_int	reloads;

static void
on_reload(void)
{
	atomic_fetch_add(&reloads, 1);
}

static void
on_stop(void)
{
}

TEST(signals_run_on_thread)
{
	int	i;

	plat_on_signals(on_stop, on_reload);
	kill(getpid(), SIGHUP);
	for (i = 0; i < 200 && atomic_load(&reloads) == 0; i++)
		plat_sleep_ms(10);
	CHECK_INT(atomic_load(&reloads), 1);
}

TEST(process_checks)
{
	char	name[256];

	CHECK(plat_process_alive(plat_getpid()));
	CHECK(!plat_process_alive(0));
	CHECK_INT(plat_hostname(name, sizeof(name)), 0);
	CHECK(name[0] != '\0');
}

TEST(fd_limit_never_drops)
{
	struct rlimit	before, after;

	CHECK_INT(getrlimit(RLIMIT_NOFILE, &before), 0);
	plat_raise_fd_limit();
	CHECK_INT(getrlimit(RLIMIT_NOFILE, &after), 0);
	CHECK(after.rlim_cur >= before.rlim_cur);
	CHECK(after.rlim_cur >= 1024);
	CHECK(after.rlim_max == before.rlim_max);
}

TEST(browser_needs_display)
{
	unsetenv("DISPLAY");
	unsetenv("WAYLAND_DISPLAY");
	CHECK_INT(plat_open_browser("https://127.0.0.1/"), EXO_ERR_IO);
}

TEST(local_addrs_are_unicast)
{
	char		 addrs[32][PLAT_ADDR_MAX], one[1][PLAT_ADDR_MAX];
	unsigned char	 ip[16];
	size_t		 n, i;

	n = plat_local_addrs(addrs, 32);
	for (i = 0; i < n; i++) {
		if (inet_pton(AF_INET, addrs[i], ip) == 1) {
			CHECK(ip[0] != 127);
			continue;
		}
		CHECK_INT(inet_pton(AF_INET6, addrs[i], ip), 1);
		CHECK(strcmp(addrs[i], "::1") != 0);
		/* fe80::/10 */
		CHECK(!(ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80));
	}
	if (n > 0)
		CHECK_INT(plat_local_addrs(one, 1), 1);
	CHECK_INT(plat_local_addrs(one, 0), 0);
}

int
main(void)
{
	char	cmd[PLAT_PATH_MAX + 16];
	int	rc;

	plat_init();
	str_copy(tmpdir, "/tmp/exo-test-plat-XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return (1);
	}

	RUN(socket_send_recv);
	RUN(socket_recv_timeout);
	RUN(socket_send_timeout);
	RUN(socket_send_to_closed_peer);
	RUN(accept_timeout_and_shutdown);
	RUN(listen_ipv6_any_takes_ipv4);
	RUN(listen_address_in_use);
	RUN(listen_bad_address);
	RUN(listen_low_port_message);
	RUN(connect_refused);
	RUN(thread_and_cond);
	RUN(random_fills);
	RUN(seam_random_pattern);
	RUN(seam_clock_and_fast_sleep);
	RUN(seam_environment);
	RUN(format_time_utc);
	RUN(file_write_read_modes);
	RUN(file_read_limits);
	RUN(seam_write_fail);
	RUN(mkdir_p_and_protect);
	RUN(protect_unwritable_is_error);
	RUN(protect_full_disk_is_error);
	RUN(path_join_and_dir);
	RUN(user_dirs_follow_xdg);
	RUN(lock_excludes_second_holder);
	RUN(read_password_from_pipe);
	RUN(signals_run_on_thread);
	RUN(process_checks);
	RUN(fd_limit_never_drops);
	RUN(browser_needs_display);
	RUN(local_addrs_are_unicast);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	rc = system(cmd);
	(void)rc;
	return (TEST_EXIT());
}
