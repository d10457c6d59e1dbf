/*
 * test-control-posix.c: the POSIX side of the control channel: the
 * socket's mode, the uid checks, the short path for a long data folder
 * and the replacement of a stale socket file.
 */
#define _GNU_SOURCE

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plat.h"
#include "util.h"
#include "test.h"

/* The uid of nobody on Debian, for the tests that switch users. */
#define OTHER_UID 65534

static char	dir[PLAT_PATH_MAX];

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/exo-test-control-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
}

TEST(socket_is_owner_only)
{
	struct plat_ipc	*l = NULL;
	struct stat	 st;
	char		 path[PLAT_PATH_MAX];

	make_dir();
	CHECK_INT(plat_ipc_listen(dir, &l, NULL), EXO_OK);
	plat_ipc_endpoint(dir, path);
	CHECK_STR(strrchr(path, '/') + 1, PLAT_IPC_NAME);
	CHECK_INT(stat(path, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_INT(st.st_mode & 0777, 0600);
	plat_ipc_close(l);
	CHECK(!plat_file_exists(path));
}

/* Connects as OTHER_UID in a child; returns its plat_ipc_connect code. */
static int
connect_as_other(const char *data_dir)
{
	struct plat_ipc	*c;
	pid_t		 pid;
	int		 status = 0;

	pid = fork();
	if (pid == 0) {
		if (setgid(OTHER_UID) != 0 || setuid(OTHER_UID) != 0)
			_exit(100);
		_exit(-plat_ipc_connect(data_dir, 2000, &c, NULL));
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return -WEXITSTATUS(status);
}

/* Another uid cannot open the socket, and the uid check backs the mode. */
TEST(other_user_rejected)
{
	struct plat_ipc	*l = NULL, *srv = NULL;
	char		 path[PLAT_PATH_MAX];

	if (geteuid() != 0) {
		printf("  skipped: needs root to run as another user\n");
		return;
	}
	make_dir();
	CHECK_INT(chmod(dir, 0755), 0);
	CHECK_INT(plat_ipc_listen(dir, &l, NULL), EXO_OK);
	if (l == NULL)
		return;
	CHECK_INT(connect_as_other(dir), EXO_ERR_PERM);

	/*
	 * With the mode opened up, the client connects (it accepts a serve
	 * of root) but the accept still rejects it by its uid.
	 */
	plat_ipc_endpoint(dir, path);
	CHECK_INT(chmod(path, 0666), 0);
	CHECK_INT(connect_as_other(dir), EXO_OK);
	CHECK_INT(plat_ipc_accept(l, 2000, &srv), EXO_ERR_PERM);
	CHECK(srv == NULL);
	plat_ipc_close(l);
}

TEST(long_folder_uses_short_path)
{
	struct plat_ipc	*l = NULL, *second = NULL;
	char		 longdir[PLAT_PATH_MAX], path[PLAT_PATH_MAX];

	snprintf(longdir, sizeof(longdir), "/tmp/exo-test-control-%0150d", 7);
	plat_ipc_endpoint(longdir, path);
	CHECK(strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path));
	CHECK(strstr(path, "/exoconnect-") != NULL);
	CHECK_INT(plat_ipc_listen(longdir, &l, NULL), EXO_OK);
	CHECK_INT(plat_ipc_listen(longdir, &second, NULL), EXO_ERR_LOCKED);
	plat_ipc_close(l);
	CHECK(!plat_file_exists(path));
}

/*
 * A relative data folder whose socket path fits sun_path, while the
 * absolute one needs the short path: both forms reach the same socket.
 */
TEST(relative_folder_same_endpoint)
{
	struct plat_ipc	*l = NULL, *c = NULL, *srv = NULL;
	char		 sub[128], cwd[PLAT_PATH_MAX];
	char		 abs_dir[PLAT_PATH_MAX + 128];
	char		 rel_path[PLAT_PATH_MAX], abs_path[PLAT_PATH_MAX];

	make_dir();
	snprintf(sub, sizeof(sub), "data-%075d", 8);
	snprintf(abs_dir, sizeof(abs_dir), "%s/%s", dir, sub);
	CHECK_INT(mkdir(abs_dir, 0700), 0);
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	CHECK_INT(chdir(dir), 0);

	plat_ipc_endpoint(sub, rel_path);
	plat_ipc_endpoint(abs_dir, abs_path);
	CHECK_STR(rel_path, abs_path);
	CHECK(strstr(abs_path, "/exoconnect-") != NULL);

	CHECK_INT(plat_ipc_listen(abs_dir, &l, NULL), EXO_OK);
	CHECK_INT(plat_ipc_connect(sub, 2000, &c, NULL), EXO_OK);
	CHECK_INT(plat_ipc_accept(l, 2000, &srv), EXO_OK);
	plat_ipc_close(srv);
	plat_ipc_close(c);
	plat_ipc_close(l);
	CHECK_INT(chdir(cwd), 0);
	rmdir(abs_dir);
}

TEST(stale_socket_replaced)
{
	struct sockaddr_un	 sun;
	struct plat_ipc		*l = NULL;
	char			 path[PLAT_PATH_MAX];
	int			 fd;

	make_dir();
	plat_ipc_endpoint(dir, path);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	str_copy(sun.sun_path, path, sizeof(sun.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	CHECK_INT(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	CHECK(plat_file_exists(path));
	CHECK_INT(plat_ipc_listen(dir, &l, NULL), EXO_OK);
	plat_ipc_close(l);
}

int
main(void)
{
	plat_init();
	RUN(socket_is_owner_only);
	RUN(other_user_rejected);
	RUN(long_folder_uses_short_path);
	RUN(relative_folder_same_endpoint);
	RUN(stale_socket_replaced);
	return TEST_EXIT();
}
