/*
 * plat-posix.c: the platform interface of plat.h for Linux (glibc and
 * musl): sockets with poll-based timeouts, pthreads, clocks, getrandom,
 * atomic files, flock, XDG folders, the browser, the terminal and signals.
 *
 * Every socket this file creates is non-blocking, so no send or receive
 * can wait longer than its timeout; poll does the waiting.
 */
/* accept4 and mkostemp are GNU extensions in glibc and musl. */
#define _GNU_SOURCE

#include <sys/types.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "plat.h"
#include "plat-seams.h"
#include "util.h"

/* Pending connections the kernel queues for each listener. */
#define PLAT_LISTEN_BACKLOG	128

/* Open-file limit to request when the hard limit is unlimited. */
#define PLAT_FD_LIMIT_TARGET	65536

/* Milliseconds from CLOCK_MONOTONIC, without the test offset. */
static int64_t
plat_mono_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Milliseconds left until deadline, or -1 for no limit. */
static int
plat_ms_left(int timeout_ms, int64_t deadline)
{
	int64_t	left;

	if (timeout_ms < 0)
		return (-1);
	left = deadline - plat_mono_ms();
	if (left < 0)
		return (0);
	return (left > INT_MAX ? INT_MAX : (int)left);
}

/* ---- start-up ---- */

int
plat_init(void)
{
	/* Writes to a closed socket must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	return (EXO_OK);
}

/* ---- sockets ---- */

static int
plat_set_nonblocking(int fd)
{
	int	flags;

	flags = fcntl(fd, F_GETFL);
	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		return (-1);
	return (0);
}

/* Waits for events on fd; returns 1 when ready, 0 on timeout, -1. */
static int
plat_poll_one(int fd, short events, int timeout_ms)
{
	struct pollfd	pfd;
	int64_t		deadline;
	int		rc;

	deadline = plat_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		rc = poll(&pfd, 1, plat_ms_left(timeout_ms, deadline));
		if (rc >= 0)
			return (rc > 0);
		if (errno != EINTR)
			return (-1);
	}
}

/* Formats addr and port as "1.2.3.4:110" or "[::]:110" for messages. */
static void
plat_format_endpoint(char *out, size_t cap, const char *addr, unsigned port)
{
	if (strchr(addr, ':') != NULL)
		snprintf(out, cap, "[%s]:%u", addr, port);
	else
		snprintf(out, cap, "%s:%u", addr, port);
}

static int
plat_listen_error(const char *addr, unsigned port, int err,
    struct exo_error *e)
{
	char	where[PLAT_ADDR_MAX + 16];

	plat_format_endpoint(where, sizeof(where), addr, port);
	if ((err == EACCES || err == EPERM) && port < 1024)
		return (err_set(e, EXO_ERR_PERM, "port %u needs privileges: "
		    "run as root, grant CAP_NET_BIND_SERVICE (setcap "
		    "cap_net_bind_service=+ep exoconnect), or choose a port "
		    "above 1023", port));
	if (err == EADDRINUSE)
		return (err_set(e, EXO_ERR_ADDRINUSE, "address %s is "
		    "already in use: stop the program listening there or "
		    "choose another port", where));
	if (err == EADDRNOTAVAIL)
		return (err_set(e, EXO_ERR_INVALID, "address %s is not an "
		    "address of this computer: use 0.0.0.0, :: or one of "
		    "its own addresses", addr));
	return (err_set(e, EXO_ERR_IO, "listen on %s failed: %s", where,
	    strerror(err)));
}

int
plat_listen(const char *addr, unsigned port, plat_socket *out,
    struct exo_error *e)
{
	struct addrinfo	 hints, *res = NULL;
	char		 service[16];
	int		 fd = -1, on = 1, off = 0, rc;

	*out = PLAT_SOCKET_INVALID;
	if (port > 65535)
		return (err_set(e, EXO_ERR_INVALID, "port %u is invalid: "
		    "use 1 to 65535", port));

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(addr, service, &hints, &res);
	if (rc != 0 || res == NULL)
		return (err_set(e, EXO_ERR_INVALID, "listen address \"%s\" is "
		    "invalid: use a numeric IPv4 or IPv6 address such as "
		    "0.0.0.0, :: or 127.0.0.1", addr));

	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		rc = plat_listen_error(addr, port, errno, e);
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	/* "::" serves IPv4 clients too, as IPv4-mapped addresses. */
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));

	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, PLAT_LISTEN_BACKLOG) == -1 ||
	    plat_set_nonblocking(fd) == -1) {
		rc = plat_listen_error(addr, port, errno, e);
		goto out;
	}
	*out = fd;
	fd = -1;
	rc = EXO_OK;
out:
	if (fd != -1)
		close(fd);
	freeaddrinfo(res);
	return (rc);
}

int
plat_socket_port(plat_socket s)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);

	if (getsockname((int)s, (struct sockaddr *)&ss, &len) == -1)
		return (-1);
	if (ss.ss_family == AF_INET)
		return (ntohs(((struct sockaddr_in *)&ss)->sin_port));
	if (ss.ss_family == AF_INET6)
		return (ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	return (-1);
}

/* Writes the numeric address of sa, with IPv4-mapped IPv6 as IPv4. */
static void
plat_format_addr(const struct sockaddr *sa, socklen_t len,
    char peer[PLAT_ADDR_MAX])
{
	const char	*mapped = "::ffff:";

	if (getnameinfo(sa, len, peer, PLAT_ADDR_MAX, NULL, 0,
	    NI_NUMERICHOST) != 0) {
		str_copy(peer, "unknown", PLAT_ADDR_MAX);
		return;
	}
	if (strncmp(peer, mapped, strlen(mapped)) == 0 &&
	    strchr(peer + strlen(mapped), '.') != NULL)
		memmove(peer, peer + strlen(mapped),
		    strlen(peer + strlen(mapped)) + 1);
}

static void
plat_tune_connection(int fd)
{
	int	on = 1;

	/* The stream buffers its output, so Nagle would only add delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

int
plat_accept(plat_socket l, int timeout_ms, plat_socket *out,
    char peer[PLAT_ADDR_MAX])
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	int64_t			 deadline;
	int			 fd, rc;

	*out = PLAT_SOCKET_INVALID;
	deadline = plat_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	for (;;) {
		rc = plat_poll_one((int)l, POLLIN,
		    plat_ms_left(timeout_ms, deadline));
		if (rc == 0)
			return (EXO_ERR_TIMEOUT);
		if (rc < 0)
			return (errno == EBADF ? EXO_ERR_CLOSED : EXO_ERR_IO);

		len = sizeof(ss);
		fd = accept4((int)l, (struct sockaddr *)&ss, &len,
		    SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd != -1)
			break;
		switch (errno) {
		case EAGAIN:
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			/* The connection went away before we took it. */
			continue;
		case EINVAL:
		case EBADF:
		case ENOTSOCK:
			/* plat_socket_shutdown or close ended the listener. */
			return (EXO_ERR_CLOSED);
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			return (EXO_ERR_TRANSIENT);
		default:
			return (EXO_ERR_IO);
		}
	}

	plat_tune_connection(fd);
	plat_format_addr((struct sockaddr *)&ss, len, peer);
	*out = fd;
	return (EXO_OK);
}

/* Connects fd to one address within timeout_ms; returns 0 or errno. */
static int
plat_connect_one(int fd, const struct addrinfo *ai, int timeout_ms)
{
	socklen_t	len;
	int		rc, err;

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return (0);
	if (errno != EINPROGRESS && errno != EINTR)
		return (errno);

	rc = plat_poll_one(fd, POLLOUT, timeout_ms);
	if (rc == 0)
		return (ETIMEDOUT);
	if (rc < 0)
		return (errno);
	len = sizeof(err);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return (errno);
	return (err);
}

int
plat_connect(const char *host, unsigned port, int timeout_ms,
    plat_socket *out, struct exo_error *e)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 service[16];
	int64_t		 deadline;
	int		 fd = -1, rc, err = 0, left;

	*out = PLAT_SOCKET_INVALID;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(service, sizeof(service), "%u", port);

	/* NOTE: getaddrinfo has no timeout; a hung resolver blocks here. */
	rc = getaddrinfo(host, service, &hints, &res);
	if (rc != 0)
		return (err_set(e, EXO_ERR_RESOLVE, "cannot resolve %s: %s; "
		    "check the host name and the DNS settings", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc)));

	deadline = plat_mono_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		left = plat_ms_left(timeout_ms, deadline);
		if (left == 0) {
			err = ETIMEDOUT;
			break;
		}
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
		if (fd == -1) {
			err = errno;
			continue;
		}
		err = plat_connect_one(fd, ai, left);
		if (err == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);

	if (fd != -1) {
		plat_tune_connection(fd);
		*out = fd;
		return (EXO_OK);
	}
	if (err == ETIMEDOUT && timeout_ms >= 0)
		return (err_set(e, EXO_ERR_TIMEOUT, "connect to %s:%u timed "
		    "out after %d ms; check the network and any firewall",
		    host, port, timeout_ms));
	if (err == ETIMEDOUT)
		return (err_set(e, EXO_ERR_TIMEOUT, "connect to %s:%u timed "
		    "out; check the network and any firewall", host, port));
	return (err_set(e, EXO_ERR_CONNECT, "connect to %s:%u failed: %s",
	    host, port, strerror(err)));
}

static int
plat_socket_errno(int err)
{
	if (err == EPIPE || err == ECONNRESET || err == ENOTCONN ||
	    err == ESHUTDOWN)
		return (EXO_ERR_CLOSED);
	if (err == ETIMEDOUT)
		return (EXO_ERR_TIMEOUT);
	return (EXO_ERR_IO);
}

int
plat_send_all(plat_socket s, const void *buf, size_t len, int timeout_ms)
{
	const char	*p = buf;
	ssize_t		 n;
	int		 rc;

	while (len > 0) {
		n = send((int)s, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return (plat_socket_errno(errno));

		rc = plat_poll_one((int)s, POLLOUT, timeout_ms);
		if (rc == 0)
			return (EXO_ERR_TIMEOUT);
		if (rc < 0)
			return (EXO_ERR_IO);
	}
	return (EXO_OK);
}

long
plat_recv(plat_socket s, void *buf, size_t len, int timeout_ms)
{
	ssize_t	n;
	int	rc;

	for (;;) {
		n = recv((int)s, buf, len, 0);
		if (n >= 0)
			return ((long)n);
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return (plat_socket_errno(errno));

		rc = plat_poll_one((int)s, POLLIN, timeout_ms);
		if (rc == 0)
			return (EXO_ERR_TIMEOUT);
		if (rc < 0)
			return (EXO_ERR_IO);
	}
}

void
plat_socket_shutdown(plat_socket s)
{
	if (s != PLAT_SOCKET_INVALID)
		shutdown((int)s, SHUT_RDWR);
}

void
plat_socket_shutdown_read(plat_socket s)
{
	if (s != PLAT_SOCKET_INVALID)
		shutdown((int)s, SHUT_RD);
}

void
plat_socket_close(plat_socket s)
{
	if (s != PLAT_SOCKET_INVALID)
		close((int)s);
}

/* ---- threads and locks ---- */

struct plat_thread_start {
	void	(*fn)(void *);
	void	 *arg;
};

static void *
plat_thread_main(void *p)
{
	struct plat_thread_start	start = *(struct plat_thread_start *)p;

	free(p);
	start.fn(start.arg);
	return (NULL);
}

int
plat_thread_start(void (*fn)(void *), void *arg, size_t stack_size)
{
	struct plat_thread_start	*start;
	pthread_attr_t			 attr;
	pthread_t			 thread;
	sigset_t			 all, old;
	long				 page;
	int				 rc;

	start = malloc(sizeof(*start));
	if (start == NULL)
		return (EXO_ERR_NOMEM);
	start->fn = fn;
	start->arg = arg;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (stack_size > 0) {
		page = sysconf(_SC_PAGESIZE);
		if (page <= 0)
			page = 4096;
		if (stack_size < (size_t)PTHREAD_STACK_MIN)
			stack_size = (size_t)PTHREAD_STACK_MIN;
		stack_size = (stack_size + (size_t)page - 1) /
		    (size_t)page * (size_t)page;
		pthread_attr_setstacksize(&attr, stack_size);
	}

	/*
	 * New threads start with every signal blocked, so SIGINT, SIGTERM
	 * and SIGHUP reach only the sigwait thread of plat_on_signals.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&thread, &attr, plat_thread_main, start);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		free(start);
		return (EXO_ERR_NOMEM);
	}
	return (EXO_OK);
}

struct plat_mutex {
	pthread_mutex_t	m;
};

struct plat_cond {
	pthread_cond_t	c;
};

struct plat_mutex *
plat_mutex_new(void)
{
	struct plat_mutex	*m;

	m = malloc(sizeof(*m));
	if (m == NULL)
		return (NULL);
	if (pthread_mutex_init(&m->m, NULL) != 0) {
		free(m);
		return (NULL);
	}
	return (m);
}

void
plat_mutex_free(struct plat_mutex *m)
{
	if (m == NULL)
		return;
	pthread_mutex_destroy(&m->m);
	free(m);
}

void
plat_mutex_lock(struct plat_mutex *m)
{
	pthread_mutex_lock(&m->m);
}

void
plat_mutex_unlock(struct plat_mutex *m)
{
	pthread_mutex_unlock(&m->m);
}

struct plat_cond *
plat_cond_new(void)
{
	struct plat_cond	*c;
	pthread_condattr_t	 attr;
	int			 rc;

	c = malloc(sizeof(*c));
	if (c == NULL)
		return (NULL);

	/* Timed waits count on the monotonic clock, immune to clock steps. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&c->c, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0) {
		free(c);
		return (NULL);
	}
	return (c);
}

void
plat_cond_free(struct plat_cond *c)
{
	if (c == NULL)
		return;
	pthread_cond_destroy(&c->c);
	free(c);
}

int
plat_cond_wait(struct plat_cond *c, struct plat_mutex *m, int timeout_ms)
{
	struct timespec	ts;
	int		rc;

	if (timeout_ms < 0) {
		pthread_cond_wait(&c->c, &m->m);
		return (EXO_OK);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	rc = pthread_cond_timedwait(&c->c, &m->m, &ts);
	return (rc == ETIMEDOUT ? EXO_ERR_TIMEOUT : EXO_OK);
}

void
plat_cond_broadcast(struct plat_cond *c)
{
	pthread_cond_broadcast(&c->c);
}

/* ---- time and randomness ---- */

int64_t
plat_monotonic_ms(void)
{
	return (plat_mono_ms());
}

int64_t
plat_now_ms(void)
{
	return (plat_mono_ms() + plat_seam_offset_ms());
}

int64_t
plat_wall_time(void)
{
	return ((int64_t)time(NULL) + plat_seam_offset_ms() / 1000);
}

void
plat_sleep_ms(int ms)
{
	struct timespec	ts;

	if (ms <= 0)
		return;
	if (plat_seam_sleep(ms))
		return;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

void
plat_format_time(int64_t t, char buf[32])
{
	struct tm	tm;
	time_t		tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		str_copy(buf, "invalid-time", 32);
}

/* Reads len bytes from /dev/urandom, for kernels before getrandom. */
static int
plat_urandom(unsigned char *buf, size_t len)
{
	ssize_t	n;
	int	fd;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return (EXO_ERR_IO);
	while (len > 0) {
		n = read(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return (EXO_ERR_IO);
		}
		buf += n;
		len -= (size_t)n;
	}
	close(fd);
	return (EXO_OK);
}

int
plat_random(void *buf, size_t len)
{
	unsigned char	*p = buf;
	ssize_t		 n;

	if (plat_seam_random_fill(p, len))
		return (EXO_OK);
	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == ENOSYS)
			return (plat_urandom(p, len));
		if (n <= 0)
			return (EXO_ERR_IO);
		p += n;
		len -= (size_t)n;
	}
	return (EXO_OK);
}

/* ---- files and paths ---- */

static int
plat_file_error(struct exo_error *e, int err, const char *what,
    const char *path)
{
	if (err == ENOENT)
		return (err_set(e, EXO_ERR_NOTFOUND, "%s %s failed: file or "
		    "folder not found", what, path));
	if (err == EACCES || err == EPERM || err == EROFS)
		return (err_set(e, EXO_ERR_PERM, "%s %s failed: %s; check the "
		    "owner and mode of the file and its folder", what, path,
		    strerror(err)));
	if (err == ENOSPC || err == EDQUOT)
		return (err_set(e, EXO_ERR_NOSPACE, "%s %s failed: %s; free "
		    "some disk space", what, path, strerror(err)));
	return (err_set(e, EXO_ERR_IO, "%s %s failed: %s", what, path,
	    strerror(err)));
}

int
plat_read_file(const char *path, size_t max, char **data, size_t *len,
    struct exo_error *e)
{
	struct stat	 st;
	char		*p = NULL;
	size_t		 have = 0, cap;
	ssize_t		 n;
	int		 fd, rc;

	*data = NULL;
	*len = 0;
	if (max > SIZE_MAX / 2)
		max = SIZE_MAX / 2;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return (plat_file_error(e, errno, "open", path));
	if (fstat(fd, &st) == -1) {
		rc = plat_file_error(e, errno, "stat", path);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = err_set(e, EXO_ERR_INVALID, "%s is a folder, not a file",
		    path);
		goto out;
	}
	if (st.st_size > 0 && (uintmax_t)st.st_size > max)
		goto toolong;

	/*
	 * Read until end of file, at most max + 1 bytes, because files in
	 * /proc report size 0.
	 */
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	if (cap > max + 1)
		cap = max + 1;
	p = malloc(cap + 1);
	if (p == NULL) {
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory reading %s",
		    path);
		goto out;
	}
	for (;;) {
		if (have == cap) {
			char	*bigger;

			if (cap > max)
				goto toolong;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			bigger = realloc(p, cap + 1);
			if (bigger == NULL) {
				rc = err_set(e, EXO_ERR_NOMEM, "out of memory "
				    "reading %s", path);
				goto out;
			}
			p = bigger;
		}
		n = read(fd, p + have, cap - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = plat_file_error(e, errno, "read", path);
			goto out;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	if (have > max)
		goto toolong;

	p[have] = '\0';
	*data = p;
	*len = have;
	p = NULL;
	rc = EXO_OK;
	goto out;
toolong:
	rc = err_set(e, EXO_ERR_TOOLONG, "%s is larger than the limit of "
	    "%zu bytes", path, max);
out:
	free(p);
	close(fd);
	return (rc);
}

static int
plat_write_all(int fd, const void *data, size_t len)
{
	const char	*p = data;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (n == 0 ? EIO : errno);
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Flushes the directory entry of a rename to disk. */
static void
plat_sync_dir(const char *path)
{
	char	dir[PLAT_PATH_MAX];
	int	fd;

	plat_path_dir(dir, path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return;
	fsync(fd);
	close(fd);
}

int
plat_write_file_atomic(const char *path, const void *data, size_t len,
    int secret, struct exo_error *e)
{
	char	tmp[PLAT_PATH_MAX];
	int	fd, err;

	if (plat_seam_write_fails(path))
		return (err_set(e, EXO_ERR_NOSPACE, "write %s failed: no "
		    "space left on device (test seam)", path));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    sizeof(tmp))
		return (err_set(e, EXO_ERR_TOOLONG, "path %s is too long",
		    path));

	/* mkstemp creates the file with mode 0600 in the same folder. */
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1)
		return (plat_file_error(e, errno, "create temporary file for",
		    path));
	err = 0;
	if (!secret && fchmod(fd, 0644) == -1)
		err = errno;
	if (err == 0)
		err = plat_write_all(fd, data, len);
	if (err == 0 && fsync(fd) == -1)
		err = errno;
	if (close(fd) == -1 && err == 0)
		err = errno;
	if (err == 0 && rename(tmp, path) == -1)
		err = errno;
	if (err != 0) {
		unlink(tmp);
		return (plat_file_error(e, err, "write", path));
	}
	plat_sync_dir(path);
	return (EXO_OK);
}

int
plat_append_file(const char *path, const void *data, size_t len)
{
	int	fd, err;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return (plat_file_error(NULL, errno, "open", path));
	err = plat_write_all(fd, data, len);
	close(fd);
	return (err == 0 ? EXO_OK : plat_file_error(NULL, err, "write", path));
}

int
plat_file_size(const char *path, int64_t *size)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		return (plat_file_error(NULL, errno, "stat", path));
	*size = (int64_t)st.st_size;
	return (EXO_OK);
}

int
plat_file_mtime(const char *path, int64_t *mtime_ns)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		return (plat_file_error(NULL, errno, "stat", path));
	*mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
	    st.st_mtim.tv_nsec;
	return (EXO_OK);
}

int
plat_rename(const char *from, const char *to)
{
	if (rename(from, to) == -1)
		return (plat_file_error(NULL, errno, "rename", from));
	return (EXO_OK);
}

int
plat_remove(const char *path)
{
	if (unlink(path) == -1)
		return (plat_file_error(NULL, errno, "remove", path));
	return (EXO_OK);
}

int
plat_file_exists(const char *path)
{
	return (access(path, F_OK) == 0);
}

int
plat_mkdir_p(const char *dir, int secret, struct exo_error *e)
{
	char		 path[PLAT_PATH_MAX];
	struct stat	 st;
	char		*p;
	size_t		 len;
	int		 last;

	len = str_copy(path, dir, sizeof(path));
	if (len >= sizeof(path))
		return (err_set(e, EXO_ERR_TOOLONG, "path %s is too long",
		    dir));
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	if (len == 0)
		return (err_set(e, EXO_ERR_INVALID, "empty folder name"));

	/* Create each component in turn; the last gets 0700 for secrets. */
	for (p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		last = *p == '\0';
		*p = '\0';
		if (mkdir(path, last && secret ? 0700 : 0755) == -1) {
			if (errno != EEXIST)
				return (plat_file_error(e, errno,
				    "create folder", path));
			if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode))
				return (err_set(e, EXO_ERR_EXISTS, "%s exists "
				    "but is not a folder", path));
		}
		if (last)
			break;
		*p = '/';
	}
	return (EXO_OK);
}

/* Fills e for a data folder where no file can be created. */
static int
plat_dir_write_error(struct exo_error *e, int err, const char *dir)
{
	if (err == EACCES || err == EPERM || err == EROFS)
		return (err_set(e, EXO_ERR_PERM, "the data folder %s is not "
		    "writable (%s); give the account that runs exoconnect "
		    "write access to it, or keep the settings file in a "
		    "writable folder (-c)", dir, strerror(err)));
	if (err == ENOSPC || err == EDQUOT)
		return (err_set(e, EXO_ERR_NOSPACE, "the data folder %s is "
		    "full (%s); free some disk space", dir, strerror(err)));
	return (err_set(e, EXO_ERR_IO, "creating a file in the data folder "
	    "%s failed: %s", dir, strerror(err)));
}

int
plat_file_make_private(const char *path, int *changed, struct exo_error *e)
{
	struct stat	st;

	*changed = 0;
	if (stat(path, &st) == -1)
		return (plat_file_error(e, errno, "stat", path));
	if ((st.st_mode & 077) == 0)
		return (EXO_OK);
	if (chmod(path, st.st_mode & 0700) == -1)
		return (plat_file_error(e, errno, "restrict access to", path));
	*changed = 1;
	return (EXO_OK);
}

int
plat_dir_can_protect(const char *dir, struct exo_error *e)
{
	char		path[PLAT_PATH_MAX];
	struct stat	st;
	int		fd, ok;

	if ((size_t)snprintf(path, sizeof(path), "%s/.exoconnect-mode-XXXXXX",
	    dir) >= sizeof(path))
		return (err_set(e, EXO_ERR_TOOLONG, "data folder path %.80s "
		    "is too long", dir));
	if (plat_seam_write_fails(path))
		return (plat_dir_write_error(e, ENOSPC, dir));
	fd = mkostemp(path, O_CLOEXEC);
	if (fd == -1)
		return (plat_dir_write_error(e, errno, dir));

	/*
	 * FAT and exFAT accept chmod (or fail it) but report the mount's
	 * fixed mode, so only a stat that reads 0600 back proves it.
	 */
	ok = fchmod(fd, 0600) == 0 && fstat(fd, &st) == 0 &&
	    (st.st_mode & 07777) == 0600;
	close(fd);
	unlink(path);
	return (ok);
}

int
plat_exe_dir(char out[PLAT_PATH_MAX])
{
	char	path[PLAT_PATH_MAX];
	ssize_t	n;

	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0 || (size_t)n >= sizeof(path) - 1)
		return (EXO_ERR_NOTFOUND);
	path[n] = '\0';
	plat_path_dir(out, path);
	return (EXO_OK);
}

/* Writes $HOME, or the home folder of the user database, into out. */
static int
plat_home_dir(char out[PLAT_PATH_MAX])
{
	const char	*home = getenv("HOME");
	struct passwd	 pw, *found = NULL;
	char		 buf[4096];

	if (home != NULL && home[0] == '/')
		return (str_copy(out, home, PLAT_PATH_MAX) < PLAT_PATH_MAX ?
		    EXO_OK : EXO_ERR_TOOLONG);
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &found) != 0 ||
	    found == NULL || found->pw_dir == NULL)
		return (EXO_ERR_NOTFOUND);
	return (str_copy(out, found->pw_dir, PLAT_PATH_MAX) < PLAT_PATH_MAX ?
	    EXO_OK : EXO_ERR_TOOLONG);
}

/*
 * Builds $<xdg_var>/exoconnect, or <home>/<fallback>/exoconnect when the
 * variable is unset or relative (the XDG Base Directory specification
 * declares relative values invalid and to be ignored).
 */
static int
plat_xdg_dir(const char *xdg_var, const char *fallback,
    char out[PLAT_PATH_MAX])
{
	const char	*xdg = getenv(xdg_var);
	char		 home[PLAT_PATH_MAX];
	int		 n, rc;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, PLAT_PATH_MAX, "%s/exoconnect", xdg);
	else {
		rc = plat_home_dir(home);
		if (rc != EXO_OK)
			return (rc);
		n = snprintf(out, PLAT_PATH_MAX, "%s/%s/exoconnect", home,
		    fallback);
	}
	if (n < 0 || n >= PLAT_PATH_MAX)
		return (EXO_ERR_TOOLONG);
	return (EXO_OK);
}

int
plat_user_config_dir(char out[PLAT_PATH_MAX])
{
	return (plat_xdg_dir("XDG_CONFIG_HOME", ".config", out));
}

int
plat_user_data_dir(char out[PLAT_PATH_MAX])
{
	return (plat_xdg_dir("XDG_DATA_HOME", ".local/share", out));
}

int
plat_dir_writable(const char *dir)
{
	return (access(dir, W_OK | X_OK) == 0);
}

int
plat_path_join(char out[PLAT_PATH_MAX], const char *dir, const char *name)
{
	size_t	len = strlen(dir);
	int	n;

	if (len == 0)
		n = snprintf(out, PLAT_PATH_MAX, "%s", name);
	else if (dir[len - 1] == '/')
		n = snprintf(out, PLAT_PATH_MAX, "%s%s", dir, name);
	else
		n = snprintf(out, PLAT_PATH_MAX, "%s/%s", dir, name);
	if (n < 0 || n >= PLAT_PATH_MAX)
		return (EXO_ERR_TOOLONG);
	return (EXO_OK);
}

void
plat_path_dir(char out[PLAT_PATH_MAX], const char *path)
{
	const char	*slash;
	size_t		 len;

	slash = strrchr(path, '/');
	if (slash == NULL) {
		str_copy(out, ".", PLAT_PATH_MAX);
		return;
	}
	/* Keep the root itself, and drop a run of slashes before the name. */
	while (slash > path && slash[-1] == '/')
		slash--;
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= PLAT_PATH_MAX)
		len = PLAT_PATH_MAX - 1;
	memcpy(out, path, len);
	out[len] = '\0';
}

/* ---- inter-process locks ---- */

struct plat_lock {
	int	fd;
};

int
plat_lock_acquire(const char *path, int wait, struct plat_lock **out,
    struct exo_error *e)
{
	struct plat_lock	*l;
	int			 fd, err;

	*out = NULL;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return (plat_file_error(e, errno, "open lock file", path));

	/*
	 * flock, unlike fcntl locks, belongs to the open file, so a second
	 * acquire in the same process also fails with EXO_ERR_LOCKED.
	 */
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == -1) {
		err = errno;
		if (err == EINTR)
			continue;
		close(fd);
		if (err == EWOULDBLOCK)
			return (err_set(e, EXO_ERR_LOCKED, "%s is locked by "
			    "another running exoconnect", path));
		return (plat_file_error(e, err, "lock", path));
	}

	l = malloc(sizeof(*l));
	if (l == NULL) {
		close(fd);
		return (err_set(e, EXO_ERR_NOMEM, "out of memory"));
	}
	l->fd = fd;
	*out = l;
	return (EXO_OK);
}

void
plat_lock_release(struct plat_lock *l)
{
	if (l == NULL)
		return;
	flock(l->fd, LOCK_UN);
	close(l->fd);
	free(l);
}

int
plat_lock_write(struct plat_lock *l, const char *text)
{
	size_t	len = strlen(text);

	if (ftruncate(l->fd, 0) == -1 || lseek(l->fd, 0, SEEK_SET) == -1)
		return (EXO_ERR_IO);
	return (plat_write_all(l->fd, text, len) == 0 ? EXO_OK : EXO_ERR_IO);
}

/* ---- secrets ---- */

/* The file mode protects secrets on POSIX, so the blob is copied as is. */
static int
plat_secret_copy(const void *in, size_t len, void **out, size_t *out_len,
    struct exo_error *e)
{
	*out = malloc(len > 0 ? len : 1);
	if (*out == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory"));
	if (len > 0)
		memcpy(*out, in, len);
	*out_len = len;
	return (EXO_OK);
}

enum plat_secret_scope
plat_secret_scope(const char *path)
{
	(void)path;
	return (PLAT_SECRET_USER);
}

int
plat_secret_protect(const char *path, const void *in, size_t len,
    void **out, size_t *out_len, struct exo_error *e)
{
	(void)path;
	return (plat_secret_copy(in, len, out, out_len, e));
}

int
plat_secret_unprotect(const void *in, size_t len, void **out,
    size_t *out_len, struct exo_error *e)
{
	return (plat_secret_copy(in, len, out, out_len, e));
}

/* Calling memset through a volatile pointer keeps the compiler from
 * dropping a store it sees as dead. */
static void *(*const volatile plat_memset)(void *, int, size_t) = memset;

void
plat_wipe(void *p, size_t len)
{
	if (p != NULL && len > 0)
		plat_memset(p, 0, len);
}

/* ---- processes, console and signals ---- */

long
plat_getpid(void)
{
	return ((long)getpid());
}

int
plat_process_alive(long pid)
{
	if (pid <= 0)
		return (0);
	return (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

int
plat_hostname(char *buf, size_t len)
{
	if (len == 0 || gethostname(buf, len) == -1)
		return (EXO_ERR_IO);
	buf[len - 1] = '\0';
	return (EXO_OK);
}

size_t
plat_local_addrs(char addrs[][PLAT_ADDR_MAX], size_t max)
{
	struct ifaddrs		*list, *ifa;
	struct sockaddr_in6	*sin6;
	const void		*addr;
	size_t			 n = 0;

	if (getifaddrs(&list) == -1)
		return (0);
	for (ifa = list; ifa != NULL && n < max; ifa = ifa->ifa_next) {
		if (ifa->ifa_addr == NULL || !(ifa->ifa_flags & IFF_UP) ||
		    (ifa->ifa_flags & IFF_LOOPBACK))
			continue;
		if (ifa->ifa_addr->sa_family == AF_INET)
			addr = &((struct sockaddr_in *)(void *)
			    ifa->ifa_addr)->sin_addr;
		else if (ifa->ifa_addr->sa_family == AF_INET6) {
			sin6 = (struct sockaddr_in6 *)(void *)ifa->ifa_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) ||
			    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
				continue;
			addr = &sin6->sin6_addr;
		} else
			continue;
		if (inet_ntop(ifa->ifa_addr->sa_family, addr, addrs[n],
		    PLAT_ADDR_MAX) != NULL)
			n++;
	}
	freeifaddrs(list);
	return (n);
}

/*
 * Finds prog in $PATH before forking, because execvp may allocate, which
 * is unsafe in the child of a multithreaded process.
 */
static int
plat_find_program(const char *prog, char out[PLAT_PATH_MAX])
{
	const char	*path = getenv("PATH"), *end;
	size_t		 dirlen;

	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (; *path != '\0'; path = *end ? end + 1 : end) {
		end = strchr(path, ':');
		if (end == NULL)
			end = path + strlen(path);
		dirlen = (size_t)(end - path);
		if (dirlen == 0)
			continue;
		if (snprintf(out, PLAT_PATH_MAX, "%.*s/%s", (int)dirlen, path,
		    prog) >= PLAT_PATH_MAX)
			continue;
		if (access(out, X_OK) == 0)
			return (EXO_OK);
	}
	return (EXO_ERR_NOTFOUND);
}

int
plat_open_browser(const char *url)
{
	char		 prog[PLAT_PATH_MAX];
	const char	*display = getenv("DISPLAY");
	const char	*wayland = getenv("WAYLAND_DISPLAY");
	pid_t		 pid;
	int		 status, fd;

	/* With no graphical session, xdg-open would start a text browser. */
	if ((display == NULL || *display == '\0') &&
	    (wayland == NULL || *wayland == '\0'))
		return (EXO_ERR_IO);
	if (url[0] == '-' || plat_find_program("xdg-open", prog) != EXO_OK)
		return (EXO_ERR_IO);

	/*
	 * Fork twice so the browser is not our child and leaves no zombie.
	 * Between fork and exec only async-signal-safe calls run.
	 */
	pid = fork();
	if (pid == -1)
		return (EXO_ERR_IO);
	if (pid == 0) {
		if (fork() != 0)
			_exit(0);
		fd = open("/dev/null", O_RDWR);
		if (fd != -1) {
			dup2(fd, 0);
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(prog, "xdg-open", url, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		continue;
	return (EXO_OK);
}

int
plat_is_terminal(void)
{
	return (isatty(0) && isatty(1));
}

void
plat_write_console(int fd, const char *text, size_t len)
{
	plat_write_all(fd == 2 ? 2 : 1, text, len);
}

/* Reads one line from fd 0 byte by byte, so nothing beyond it is lost. */
static int
plat_read_line_fd(char *buf, size_t len)
{
	size_t	n = 0;
	ssize_t	r;
	char	c;
	int	toolong = 0, nul = 0;

	for (;;) {
		r = read(0, &c, 1);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (n == 0 && !toolong)
				return (EXO_ERR_CLOSED);
			break;
		}
		if (c == '\n')
			break;
		/* A NUL would cut the C string, so "ab\0cd" would set "ab". */
		if (c == '\0')
			nul = 1;
		if (n + 1 < len)
			buf[n++] = c;
		else
			toolong = 1;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (toolong || nul) {
		plat_wipe(buf, len);
		return (toolong ? EXO_ERR_TOOLONG : EXO_ERR_INVALID);
	}
	return (EXO_OK);
}

int
plat_read_password(const char *prompt, char *buf, size_t len)
{
	struct termios	old, quiet;
	int		rc, restore = 0;

	if (len == 0)
		return (EXO_ERR_TOOLONG);
	if (isatty(0) && tcgetattr(0, &old) == 0) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
		quiet.c_lflag |= ICANON;
		restore = tcsetattr(0, TCSAFLUSH, &quiet) == 0;
		plat_write_console(2, prompt, strlen(prompt));
	}
	rc = plat_read_line_fd(buf, len);
	if (restore) {
		tcsetattr(0, TCSAFLUSH, &old);
		plat_write_console(2, "\n", 1);
	}
	return (rc);
}

static void	(*plat_stop_cb)(void);
static void	(*plat_reload_cb)(void);

/* Receives the blocked signals one at a time and runs the callbacks. */
static void
plat_signal_thread(void *arg)
{
	sigset_t	*set = arg;
	int		 sig, stopped = 0;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			if (plat_reload_cb != NULL)
				plat_reload_cb();
			continue;
		}
		if (stopped) {
			/* A second Ctrl+C ends a shutdown that hangs. */
			_exit(128 + sig);
		}
		stopped = 1;
		if (plat_stop_cb != NULL)
			plat_stop_cb();
	}
}

void
plat_on_signals(void (*on_stop)(void), void (*on_reload)(void))
{
	static sigset_t	set;

	plat_stop_cb = on_stop;
	plat_reload_cb = on_reload;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);

	/*
	 * Block them here before the thread starts. Threads started later
	 * with plat_thread_start block every signal, so sigwait receives
	 * each one whichever thread the kernel picks.
	 */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	plat_thread_start(plat_signal_thread, &set, 0);
}

void
plat_raise_fd_limit(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_max == RLIM_INFINITY) {
		if (rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur < PLAT_FD_LIMIT_TARGET) {
			rl.rlim_cur = PLAT_FD_LIMIT_TARGET;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- system trust store and proxy ---- */

/* CA bundles of the common Linux distributions, tried in order. */
static const char *const plat_ca_bundles[] = {
	"/etc/ssl/certs/ca-certificates.crt",	/* Debian, Ubuntu, Alpine */
	"/etc/pki/tls/certs/ca-bundle.crt",	/* Fedora, RHEL */
	"/etc/ssl/cert.pem",			/* Alpine, macOS, BSD */
};

int
plat_system_roots(plat_cert_fn fn, void *arg)
{
	char	*text;
	size_t	 i, len;
	int	 rc;

	/* The first bundle that yields a certificate; a broken one is
	 * skipped, since it only costs anchors. */
	for (i = 0; i < sizeof(plat_ca_bundles) / sizeof(plat_ca_bundles[0]);
	    i++) {
		if (plat_read_file(plat_ca_bundles[i], PLAT_ROOTS_FILE_MAX,
		    &text, &len, NULL) != EXO_OK)
			continue;
		rc = fn(arg, PLAT_CERT_PEM, text, len);
		free(text);
		if (rc != 0)
			return (rc < 0 ? rc : EXO_OK);
	}
	return (EXO_OK);
}

void
plat_system_proxy(const char *host, char out[512])
{
	(void)host;
	out[0] = '\0';
}

void
plat_ui_language(char *buf, size_t cap)
{
	if (cap > 0)
		buf[0] = '\0';
}
