/*
 * plat-posix-ipc.c: the local control channel on POSIX, an AF_UNIX
 * stream socket with mode 0600 whose peers must run as the same user or
 * as root (SO_PEERCRED).
 */
#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plat.h"

/* Maximum single wait, so a shutdown is seen even where poll misses it. */
#define IPC_SLICE_MS 250
/* Time a stale socket gets to accept before it is replaced. */
#define IPC_PROBE_MS 500

struct plat_ipc {
	int		fd;
	atomic_int	closed;
	int		listener;
	char		path[PLAT_PATH_MAX];
};

static uint64_t
ipc_hash(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

void
plat_ipc_endpoint(const char *data_dir, char out[PLAT_PATH_MAX])
{
	struct sockaddr_un	 sun;
	const char		*base;
	char			 full[PATH_MAX];
	int			 n;

	/*
	 * The absolute path decides between the folder and the short path,
	 * and is what the short path hashes, so a relative -c path and the
	 * absolute one reach the same socket. realpath fails for a folder
	 * that does not exist, which then is used as it is.
	 */
	if (realpath(data_dir, full) != NULL)
		data_dir = full;
	n = snprintf(out, PLAT_PATH_MAX, "%s/%s", data_dir, PLAT_IPC_NAME);
	if (n >= 0 && (size_t)n < sizeof(sun.sun_path))
		return;

	/* The data folder's path is too long for sun_path. */
	base = getenv("XDG_RUNTIME_DIR");
	if (base == NULL || base[0] != '/' || strlen(base) > 64)
		base = "/tmp";
	snprintf(out, PLAT_PATH_MAX, "%s/exoconnect-%016llx.sock", base,
	    (unsigned long long)ipc_hash(data_dir));
}

static struct plat_ipc *
ipc_new(int fd, int listener)
{
	struct plat_ipc	*c = calloc(1, sizeof(*c));

	if (c == NULL) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->listener = listener;
	atomic_init(&c->closed, 0);
	return c;
}

static int
ipc_address(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return EXO_ERR_TOOLONG;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return EXO_OK;
}

/* 1 when the peer of fd runs as this process's user or as root. */
static int
ipc_peer_trusted(int fd)
{
	struct ucred	cred;
	socklen_t	len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return 0;
	return cred.uid == geteuid() || cred.uid == 0;
}

/*
 * Waits until fd is ready for events, in slices, so that a shutdown of c
 * ends the wait. Returns 0, EXO_ERR_TIMEOUT or EXO_ERR_CLOSED.
 */
static int
ipc_wait(struct plat_ipc *c, short events, int timeout_ms)
{
	struct pollfd	pfd;
	int64_t		deadline = plat_monotonic_ms() + timeout_ms;
	int64_t		left;
	int		slice, n;

	for (;;) {
		if (atomic_load(&c->closed))
			return EXO_ERR_CLOSED;
		slice = IPC_SLICE_MS;
		left = deadline - plat_monotonic_ms();
		if (timeout_ms >= 0 && left < slice)
			slice = left > 0 ? (int)left : 0;
		pfd.fd = c->fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, slice);
		if (n < 0 && errno != EINTR)
			return EXO_ERR_CLOSED;
		if (atomic_load(&c->closed))
			return EXO_ERR_CLOSED;
		if (n > 0)
			return EXO_OK;
		if (timeout_ms >= 0 && slice < IPC_SLICE_MS &&
		    deadline <= plat_monotonic_ms())
			return EXO_ERR_TIMEOUT;
	}
}

static int
ipc_connect_path(const char *path, int timeout_ms, int *out)
{
	struct sockaddr_un	sun;
	struct timeval		tv;
	int			fd, rc;

	*out = -1;
	if (ipc_address(path, &sun) != EXO_OK)
		return EXO_ERR_NOTFOUND;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return EXO_ERR_IO;
	/*
	 * A connect to a local socket completes or fails at once, unless
	 * the backlog is full: SO_SNDTIMEO bounds that wait.
	 */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		rc = errno == EACCES || errno == EPERM ? EXO_ERR_PERM :
		    errno == EAGAIN || errno == EINPROGRESS ?
		    EXO_ERR_TIMEOUT : EXO_ERR_NOTFOUND;
		close(fd);
		return rc;
	}
	*out = fd;
	return EXO_OK;
}

int
plat_ipc_listen(const char *data_dir, struct plat_ipc **out,
    struct exo_error *e)
{
	struct sockaddr_un	 sun;
	struct plat_ipc		*c;
	char			 path[PLAT_PATH_MAX];
	int			 fd, probe;

	*out = NULL;
	plat_ipc_endpoint(data_dir, path);
	if (ipc_address(path, &sun) != EXO_OK)
		return err_set(e, EXO_ERR_TOOLONG, "the control socket path "
		    "%s is too long", path);
	if (ipc_connect_path(path, IPC_PROBE_MS, &probe) == EXO_OK) {
		close(probe);
		return err_set(e, EXO_ERR_LOCKED, "another process answers on "
		    "the control socket %s", path);
	}
	unlink(path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, EXO_ERR_IO, "cannot create the control "
		    "socket: %s", strerror(errno));
	/* Linux gives the socket file the mode of the socket's inode. */
	fchmod(fd, 0600);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 ||
	    chmod(path, 0600) != 0 || listen(fd, 16) != 0) {
		err_set(e, errno == EACCES ? EXO_ERR_PERM : EXO_ERR_IO,
		    "cannot listen on the control socket %s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return e != NULL ? e->code : EXO_ERR_IO;
	}
	if ((c = ipc_new(fd, 1)) == NULL) {
		unlink(path);
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	}
	memcpy(c->path, path, sizeof(c->path));
	*out = c;
	return EXO_OK;
}

int
plat_ipc_accept(struct plat_ipc *l, int timeout_ms, struct plat_ipc **out)
{
	int	rc, fd;

	*out = NULL;
	rc = ipc_wait(l, POLLIN, timeout_ms);
	if (rc != EXO_OK)
		return rc;
	fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
		    errno == ENOBUFS ? EXO_ERR_TRANSIENT : EXO_ERR_TIMEOUT;
	if (!ipc_peer_trusted(fd)) {
		close(fd);
		return EXO_ERR_PERM;
	}
	*out = ipc_new(fd, 0);
	return *out != NULL ? EXO_OK : EXO_ERR_TRANSIENT;
}

int
plat_ipc_connect(const char *data_dir, int timeout_ms,
    struct plat_ipc **out, struct exo_error *e)
{
	char	path[PLAT_PATH_MAX];
	int	fd, rc;

	*out = NULL;
	plat_ipc_endpoint(data_dir, path);
	rc = ipc_connect_path(path, timeout_ms, &fd);
	if (rc != EXO_OK)
		return err_set(e, rc, "no exoconnect serve answers on %s",
		    path);
	/* In /tmp another user could have taken the name first. */
	if (!ipc_peer_trusted(fd)) {
		close(fd);
		return err_set(e, EXO_ERR_PERM, "the control socket %s belongs "
		    "to another user", path);
	}
	if ((*out = ipc_new(fd, 0)) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	return EXO_OK;
}

int
plat_ipc_send_all(struct plat_ipc *c, const void *buf, size_t len,
    int timeout_ms)
{
	const char	*p = buf;
	ssize_t		 n;
	int		 rc;

	while (len > 0) {
		rc = ipc_wait(c, POLLOUT, timeout_ms);
		if (rc != EXO_OK)
			return rc;
		n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == EPIPE || errno == ECONNRESET ?
			    EXO_ERR_CLOSED : EXO_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return EXO_OK;
}

long
plat_ipc_recv(struct plat_ipc *c, void *buf, size_t len, int timeout_ms)
{
	ssize_t	n;
	int	rc;

	for (;;) {
		rc = ipc_wait(c, POLLIN, timeout_ms);
		if (rc != EXO_OK)
			return rc;
		n = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return (long)n;
		if (errno == EINTR || errno == EAGAIN)
			continue;
		return errno == ECONNRESET ? EXO_ERR_CLOSED : EXO_ERR_IO;
	}
}

void
plat_ipc_shutdown(struct plat_ipc *c)
{
	atomic_store(&c->closed, 1);
	shutdown(c->fd, SHUT_RDWR);
}

void
plat_ipc_close(struct plat_ipc *c)
{
	if (c == NULL)
		return;
	if (c->listener)
		unlink(c->path);
	close(c->fd);
	free(c);
}
