/*
 * plat-win32.c: the platform interface of plat.h for 64-bit Windows 10/11
 * and Server 2016 and later: Winsock2, Win32 threads and SRW locks,
 * BCryptGenRandom, wide-character file APIs with ACLs, LockFileEx, DPAPI,
 * ShellExecuteW, the console, the ROOT certificate store and the WinHTTP
 * proxy settings.
 *
 * Text is UTF-8 inside exoconnect and UTF-16 at every Windows API; the
 * conversions happen here and nowhere else. Server 2016 and 2019 ignore a
 * UTF-8 code page in the manifest, so no ANSI API is used.
 */
#define WIN32_LEAN_AND_MEAN
#define _WIN32_WINNT 0x0A00	/* Windows 10 and Server 2016 */

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <iphlpapi.h>
#include <bcrypt.h>
#include <wincrypt.h>
#include <sddl.h>
#include <aclapi.h>
#include <shellapi.h>
#include <winhttp.h>

#include <ctype.h>
#include <process.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wchar.h>

#include "plat.h"
#include "plat-seams.h"
#include "util.h"

#define PLAT_LISTEN_BACKLOG	128
/* Maximum single wait of plat_recv, in milliseconds. */
#define PLAT_RECV_SLICE_MS	250
/* 100-ns intervals between 1601-01-01 and 1970-01-01. */
#define PLAT_EPOCH_DIFF		116444736000000000LL
/* Offset of the byte range plat_lock_acquire locks: far past the text the
 * lock file holds, so other processes can still read the text. */
#define PLAT_LOCK_OFFSET	0x7ffffff0UL
/* Attempts and pause of plat_replace_file while the target is busy. */
#define PLAT_REPLACE_TRIES	50
#define PLAT_REPLACE_PAUSE_MS	20

/* ---- UTF-8 and UTF-16 ---- */

/* Converts UTF-8 to a new UTF-16 string; NULL on invalid input. */
static wchar_t *
plat_wide(const char *text)
{
	wchar_t	*w;
	int	 n;

	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1,
	    NULL, 0);
	if (n <= 0)
		return (NULL);
	if ((w = malloc((size_t)n * sizeof(*w))) == NULL)
		return (NULL);
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, w,
	    n) != n) {
		free(w);
		return (NULL);
	}
	return (w);
}

/* Converts UTF-16 into out (cap bytes); returns 0 or EXO_ERR_TOOLONG. */
static int
plat_narrow(const wchar_t *w, char *out, size_t cap)
{
	int	n;

	n = WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)cap, NULL, NULL);
	if (n <= 0) {
		if (cap > 0)
			out[0] = '\0';
		return (EXO_ERR_TOOLONG);
	}
	return (EXO_OK);
}

/* Converts UTF-16 to a new UTF-8 string. */
static char *
plat_narrow_new(const wchar_t *w)
{
	char	*s;
	int	 n;

	n = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
	if (n <= 0)
		return (NULL);
	if ((s = malloc((size_t)n)) == NULL)
		return (NULL);
	WideCharToMultiByte(CP_UTF8, 0, w, -1, s, n, NULL, NULL);
	return (s);
}

/* Formats a Windows error code as English text without the line end. */
static void
plat_error_text(DWORD code, char *buf, size_t cap)
{
	wchar_t	 w[256];
	DWORD	 n;

	n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
	    FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
	    MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), w, 256, NULL);
	if (n == 0)
		n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
		    FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, w, 256,
		    NULL);
	if (n == 0) {
		snprintf(buf, cap, "Windows error %lu", (unsigned long)code);
		return;
	}
	plat_narrow(w, buf, cap);
	str_trim_end(buf, strlen(buf));
	/* FormatMessage ends sentences with a period; messages add text. */
	n = (DWORD)strlen(buf);
	if (n > 0 && buf[n - 1] == '.')
		buf[n - 1] = '\0';
}

/* Maps a Windows file error to the project's error codes. */
static int
plat_file_code(DWORD err)
{
	switch (err) {
	case ERROR_FILE_NOT_FOUND:
	case ERROR_PATH_NOT_FOUND:
		return (EXO_ERR_NOTFOUND);
	case ERROR_ACCESS_DENIED:
	case ERROR_SHARING_VIOLATION:
		return (EXO_ERR_PERM);
	case ERROR_DISK_FULL:
	case ERROR_HANDLE_DISK_FULL:
		return (EXO_ERR_NOSPACE);
	case ERROR_ALREADY_EXISTS:
	case ERROR_FILE_EXISTS:
		return (EXO_ERR_EXISTS);
	default:
		return (EXO_ERR_IO);
	}
}

static int
plat_file_error(struct exo_error *e, DWORD err, const char *what,
    const char *path)
{
	char	text[256];

	plat_error_text(err, text, sizeof(text));
	return (err_set(e, plat_file_code(err), "%s %s failed: %s", what,
	    path, text));
}

/* ---- start-up ---- */

static atomic_int plat_started;

int
plat_init(void)
{
	WSADATA	wsa;

	if (atomic_exchange(&plat_started, 1))
		return (EXO_OK);
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
		return (EXO_ERR_IO);
	/* Under wine, a Unix TERM would select the terminfo driver. */
	_wputenv(L"TERM=#win32con");
	return (EXO_OK);
}

/*
 * Windows passes arguments as UTF-16; with -municode the C runtime calls
 * wmain, which hands UTF-8 arguments to the portable main.
 */
int main(int argc, char **argv);

int
wmain(int argc, wchar_t **wargv)
{
	char	**argv;
	int	  i;

	if ((argv = calloc((size_t)argc + 1, sizeof(*argv))) == NULL)
		return (1);
	for (i = 0; i < argc; i++) {
		if ((argv[i] = plat_narrow_new(wargv[i])) == NULL)
			return (1);
	}
	return (main(argc, argv));
}

/* ---- sockets ---- */

static int
plat_wait_socket(SOCKET s, int for_write, int timeout_ms)
{
	WSAPOLLFD	pfd;
	int		rc;

	pfd.fd = s;
	pfd.events = for_write ? POLLWRNORM : POLLRDNORM;
	pfd.revents = 0;
	rc = WSAPoll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
	if (rc == 0)
		return (EXO_ERR_TIMEOUT);
	if (rc < 0)
		return (EXO_ERR_IO);
	if (pfd.revents & POLLNVAL)
		return (EXO_ERR_CLOSED);
	return (EXO_OK);
}

static void
plat_set_nonblocking(SOCKET s)
{
	u_long	on = 1;

	ioctlsocket(s, FIONBIO, &on);
}

static int
plat_listen_error(const char *addr, unsigned port, int err,
    struct exo_error *e)
{
	char	text[256];

	if (err == WSAEADDRINUSE)
		return (err_set(e, EXO_ERR_ADDRINUSE, "cannot listen on %s "
		    "port %u: the port is already in use by another program; "
		    "stop that program or choose another port", addr, port));
	if (err == WSAEACCES)
		return (err_set(e, EXO_ERR_PERM, "cannot listen on %s port "
		    "%u: access denied; another program holds the port "
		    "exclusively or it is reserved (netsh interface ipv4 "
		    "show excludedportrange protocol=tcp); choose another "
		    "port", addr, port));
	plat_error_text((DWORD)err, text, sizeof(text));
	return (err_set(e, EXO_ERR_IO, "cannot listen on %s port %u: %s",
	    addr, port, text));
}

int
plat_listen(const char *addr, unsigned port, plat_socket *out,
    struct exo_error *e)
{
	struct addrinfo	 hints, *ai = NULL;
	char		 service[16];
	SOCKET		 s;
	BOOL		 on = TRUE;
	int		 err;

	plat_init();
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(addr, service, &hints, &ai) != 0 || ai == NULL)
		return (err_set(e, EXO_ERR_INVALID, "invalid listen address "
		    "'%s': use a numeric IPv4 or IPv6 address such as "
		    "0.0.0.0", addr));
	s = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);
	if (s == INVALID_SOCKET) {
		err = WSAGetLastError();
		freeaddrinfo(ai);
		return (plat_listen_error(addr, port, err, e));
	}
	/* Windows' SO_REUSEADDR lets another socket steal the port. */
	setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on,
	    sizeof(on));
	SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
	if (bind(s, ai->ai_addr, (int)ai->ai_addrlen) != 0 ||
	    listen(s, PLAT_LISTEN_BACKLOG) != 0) {
		err = WSAGetLastError();
		closesocket(s);
		freeaddrinfo(ai);
		return (plat_listen_error(addr, port, err, e));
	}
	freeaddrinfo(ai);
	plat_set_nonblocking(s);
	*out = (plat_socket)s;
	return (EXO_OK);
}

int
plat_socket_port(plat_socket s)
{
	struct sockaddr_storage	ss;
	int			len = sizeof(ss);

	if (getsockname((SOCKET)s, (struct sockaddr *)&ss, &len) != 0)
		return (-1);
	if (ss.ss_family == AF_INET)
		return (ntohs(((struct sockaddr_in *)&ss)->sin_port));
	if (ss.ss_family == AF_INET6)
		return (ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	return (-1);
}

int
plat_accept(plat_socket l, int timeout_ms, plat_socket *out,
    char peer[PLAT_ADDR_MAX])
{
	struct sockaddr_storage	ss;
	int			len = sizeof(ss), rc, err;
	SOCKET			s;
	BOOL			on = TRUE;

	for (;;) {
		if ((rc = plat_wait_socket((SOCKET)l, 0, timeout_ms)) != 0)
			return (rc);
		len = sizeof(ss);
		s = accept((SOCKET)l, (struct sockaddr *)&ss, &len);
		if (s != INVALID_SOCKET)
			break;
		err = WSAGetLastError();
		if (err == WSAEWOULDBLOCK || err == WSAECONNRESET)
			continue;
		if (err == WSAENOTSOCK || err == WSAEINVAL ||
		    err == WSAEINTR)
			return (EXO_ERR_CLOSED);
		if (err == WSAEMFILE || err == WSAENOBUFS)
			return (EXO_ERR_TRANSIENT);
		return (EXO_ERR_IO);
	}
	SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
	plat_set_nonblocking(s);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on,
	    sizeof(on));
	peer[0] = '\0';
	if (getnameinfo((struct sockaddr *)&ss, len, peer, PLAT_ADDR_MAX,
	    NULL, 0, NI_NUMERICHOST) != 0)
		str_copy(peer, "?", PLAT_ADDR_MAX);
	*out = (plat_socket)s;
	return (EXO_OK);
}

/*
 * Waits for a non-blocking connect to finish. Before Windows 10 version
 * 2004, so on Server 2016 and 2019, WSAPoll never reports a refused
 * connect and would wait for the whole timeout. select reports it in the
 * exception set on every version.
 */
static int
plat_wait_connect(SOCKET s, int timeout_ms)
{
	fd_set		 writable, failed;
	struct timeval	 tv, *limit = NULL;
	int		 rc;

	FD_ZERO(&writable);
	FD_ZERO(&failed);
	FD_SET(s, &writable);
	FD_SET(s, &failed);
	if (timeout_ms >= 0) {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		limit = &tv;
	}
	rc = select(0, NULL, &writable, &failed, limit);
	if (rc == 0)
		return (EXO_ERR_TIMEOUT);
	if (rc < 0 || FD_ISSET(s, &failed))
		return (EXO_ERR_CONNECT);
	return (EXO_OK);
}

static int
plat_connect_one(SOCKET s, const struct addrinfo *ai, int timeout_ms)
{
	int	err, len = sizeof(err), rc;

	if (connect(s, ai->ai_addr, (int)ai->ai_addrlen) == 0)
		return (EXO_OK);
	if (WSAGetLastError() != WSAEWOULDBLOCK)
		return (EXO_ERR_CONNECT);
	if ((rc = plat_wait_connect(s, timeout_ms)) != 0)
		return (rc);
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&err, &len) != 0 ||
	    err != 0)
		return (EXO_ERR_CONNECT);
	return (EXO_OK);
}

int
plat_connect(const char *host, unsigned port, int timeout_ms,
    plat_socket *out, struct exo_error *e)
{
	struct addrinfo	 hints, *res = NULL, *ai;
	char		 service[16];
	SOCKET		 s = INVALID_SOCKET;
	BOOL		 on = TRUE;
	int		 rc = EXO_ERR_CONNECT;

	plat_init();
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%u", port);
	if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL)
		return (err_set(e, EXO_ERR_RESOLVE, "cannot resolve host "
		    "name %s: check the name and the DNS settings", host));
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		s = socket(ai->ai_family, SOCK_STREAM, IPPROTO_TCP);
		if (s == INVALID_SOCKET)
			continue;
		SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
		plat_set_nonblocking(s);
		if ((rc = plat_connect_one(s, ai, timeout_ms)) == EXO_OK)
			break;
		closesocket(s);
		s = INVALID_SOCKET;
	}
	freeaddrinfo(res);
	if (s == INVALID_SOCKET) {
		if (rc == EXO_ERR_TIMEOUT)
			return (err_set(e, rc, "connecting to %s port %u "
			    "timed out after %d ms", host, port,
			    timeout_ms));
		return (err_set(e, EXO_ERR_CONNECT, "cannot connect to %s "
		    "port %u: connection refused or network unreachable",
		    host, port));
	}
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on,
	    sizeof(on));
	*out = (plat_socket)s;
	return (EXO_OK);
}

static int
plat_socket_code(int err)
{
	switch (err) {
	case WSAECONNRESET:
	case WSAECONNABORTED:
	case WSAENOTCONN:
	case WSAESHUTDOWN:
	case WSAENOTSOCK:
		return (EXO_ERR_CLOSED);
	default:
		return (EXO_ERR_IO);
	}
}

int
plat_send_all(plat_socket s, const void *buf, size_t len, int timeout_ms)
{
	const char	*p = buf;
	int		 n, rc, chunk, err;

	while (len > 0) {
		chunk = len > 1048576 ? 1048576 : (int)len;
		n = send((SOCKET)s, p, chunk, 0);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		err = WSAGetLastError();
		if (n == SOCKET_ERROR && err != WSAEWOULDBLOCK)
			return (plat_socket_code(err));
		if ((rc = plat_wait_socket((SOCKET)s, 1, timeout_ms)) != 0)
			return (rc);
	}
	return (EXO_OK);
}

/*
 * Waits in slices of PLAT_RECV_SLICE_MS and calls recv after each one,
 * because shutdown(SD_RECEIVE) from another thread does not end a
 * WSAPoll that is under way (seen under wine 8.0), but makes the next
 * recv fail with WSAESHUTDOWN.
 */
long
plat_recv(plat_socket s, void *buf, size_t len, int timeout_ms)
{
	int64_t	deadline = plat_monotonic_ms() + timeout_ms, left;
	int	n, rc, err, slice;

	if (len > INT_MAX)
		len = INT_MAX;
	for (;;) {
		n = recv((SOCKET)s, buf, (int)len, 0);
		if (n >= 0)
			return (n);
		err = WSAGetLastError();
		/* The end of the stream, as recv after SHUT_RD on POSIX. */
		if (err == WSAESHUTDOWN)
			return (0);
		if (err != WSAEWOULDBLOCK)
			return (plat_socket_code(err));
		slice = PLAT_RECV_SLICE_MS;
		if (timeout_ms >= 0) {
			left = deadline - plat_monotonic_ms();
			if (left <= 0)
				return (EXO_ERR_TIMEOUT);
			if (left < slice)
				slice = (int)left;
		}
		rc = plat_wait_socket((SOCKET)s, 0, slice);
		if (rc != EXO_OK && rc != EXO_ERR_TIMEOUT)
			return (rc);
	}
}

void
plat_socket_shutdown(plat_socket s)
{
	shutdown((SOCKET)s, SD_BOTH);
}

void
plat_socket_shutdown_read(plat_socket s)
{
	/* A thread in plat_recv returns within PLAT_RECV_SLICE_MS. */
	shutdown((SOCKET)s, SD_RECEIVE);
}

void
plat_socket_close(plat_socket s)
{
	if (s != PLAT_SOCKET_INVALID)
		closesocket((SOCKET)s);
}

/* ---- threads and locks ---- */

struct plat_thread_start {
	void	(*fn)(void *);
	void	*arg;
};

static unsigned __stdcall
plat_thread_main(void *p)
{
	struct plat_thread_start	start = *(struct plat_thread_start *)p;

	free(p);
	start.fn(start.arg);
	return (0);
}

int
plat_thread_start(void (*fn)(void *), void *arg, size_t stack_size)
{
	struct plat_thread_start	*start;
	uintptr_t			 h;

	if ((start = malloc(sizeof(*start))) == NULL)
		return (EXO_ERR_NOMEM);
	start->fn = fn;
	start->arg = arg;
	/* The size reserves address space; pages are committed on use. */
	h = _beginthreadex(NULL, (unsigned)stack_size, plat_thread_main,
	    start, STACK_SIZE_PARAM_IS_A_RESERVATION, NULL);
	if (h == 0) {
		free(start);
		return (EXO_ERR_NOMEM);
	}
	CloseHandle((HANDLE)h);
	return (EXO_OK);
}

struct plat_mutex {
	SRWLOCK	lock;
};

struct plat_cond {
	CONDITION_VARIABLE	cond;
};

struct plat_mutex *
plat_mutex_new(void)
{
	struct plat_mutex	*m;

	if ((m = malloc(sizeof(*m))) != NULL)
		InitializeSRWLock(&m->lock);
	return (m);
}

void
plat_mutex_free(struct plat_mutex *m)
{
	free(m);
}

void
plat_mutex_lock(struct plat_mutex *m)
{
	AcquireSRWLockExclusive(&m->lock);
}

void
plat_mutex_unlock(struct plat_mutex *m)
{
	ReleaseSRWLockExclusive(&m->lock);
}

struct plat_cond *
plat_cond_new(void)
{
	struct plat_cond	*c;

	if ((c = malloc(sizeof(*c))) != NULL)
		InitializeConditionVariable(&c->cond);
	return (c);
}

void
plat_cond_free(struct plat_cond *c)
{
	free(c);
}

int
plat_cond_wait(struct plat_cond *c, struct plat_mutex *m, int timeout_ms)
{
	DWORD	ms = timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms;

	if (!SleepConditionVariableSRW(&c->cond, &m->lock, ms, 0))
		return (GetLastError() == ERROR_TIMEOUT ? EXO_ERR_TIMEOUT :
		    EXO_ERR_IO);
	return (EXO_OK);
}

void
plat_cond_broadcast(struct plat_cond *c)
{
	WakeAllConditionVariable(&c->cond);
}

/* ---- time and randomness ---- */

int64_t
plat_monotonic_ms(void)
{
	return ((int64_t)GetTickCount64());
}

int64_t
plat_now_ms(void)
{
	return ((int64_t)GetTickCount64() + plat_seam_offset_ms());
}

int64_t
plat_wall_time(void)
{
	FILETIME	ft;
	ULARGE_INTEGER	u;

	GetSystemTimeAsFileTime(&ft);
	u.LowPart = ft.dwLowDateTime;
	u.HighPart = ft.dwHighDateTime;
	return (((int64_t)u.QuadPart - PLAT_EPOCH_DIFF) / 10000000 +
	    plat_seam_offset_ms() / 1000);
}

void
plat_sleep_ms(int ms)
{
	if (ms <= 0)
		return;
	if (plat_seam_sleep(ms))
		return;
	Sleep((DWORD)ms);
}

void
plat_format_time(int64_t t, char buf[32])
{
	__time64_t	tt = (__time64_t)t;
	struct tm	tm;

	if (_gmtime64_s(&tm, &tt) != 0) {
		str_copy(buf, "invalid-time", 32);
		return;
	}
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int
plat_random(void *buf, size_t len)
{
	unsigned char	*p = buf;
	ULONG		 chunk;

	if (plat_seam_random_fill(p, len))
		return (EXO_OK);
	while (len > 0) {
		chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, p, chunk,
		    BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return (EXO_ERR_IO);
		p += chunk;
		len -= chunk;
	}
	return (EXO_OK);
}

/* ---- files ---- */

int
plat_read_file(const char *path, size_t max, char **data, size_t *len,
    struct exo_error *e)
{
	wchar_t		*w;
	HANDLE		 h;
	LARGE_INTEGER	 size;
	DWORD		 got, err, attr;
	char		*buf;
	size_t		 off = 0;

	*data = NULL;
	*len = 0;
	if ((w = plat_wide(path)) == NULL)
		return (err_set(e, EXO_ERR_INVALID, "invalid path %s", path));
	h = CreateFileW(w, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE |
	    FILE_SHARE_DELETE, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL,
	    NULL);
	err = h == INVALID_HANDLE_VALUE ? GetLastError() : ERROR_SUCCESS;
	attr = h == INVALID_HANDLE_VALUE ? GetFileAttributesW(w) :
	    INVALID_FILE_ATTRIBUTES;
	free(w);
	if (h == INVALID_HANDLE_VALUE) {
		/* Opening a folder as a file fails with "access denied". */
		if (attr != INVALID_FILE_ATTRIBUTES &&
		    (attr & FILE_ATTRIBUTE_DIRECTORY))
			return (err_set(e, EXO_ERR_INVALID, "%s is a folder, "
			    "not a file", path));
		if (plat_file_code(err) == EXO_ERR_NOTFOUND)
			return (err_set(e, EXO_ERR_NOTFOUND, "%s not found",
			    path));
		return (plat_file_error(e, err, "open", path));
	}
	if (!GetFileSizeEx(h, &size)) {
		err = GetLastError();
		CloseHandle(h);
		return (plat_file_error(e, err, "read", path));
	}
	if ((unsigned long long)size.QuadPart > max) {
		CloseHandle(h);
		return (err_set(e, EXO_ERR_TOOLONG, "%s is larger than %zu "
		    "bytes", path, max));
	}
	if ((buf = malloc((size_t)size.QuadPart + 1)) == NULL) {
		CloseHandle(h);
		return (err_set(e, EXO_ERR_NOMEM, "out of memory reading %s",
		    path));
	}
	while (off < (size_t)size.QuadPart) {
		if (!ReadFile(h, buf + off, (DWORD)((size_t)size.QuadPart -
		    off), &got, NULL)) {
			err = GetLastError();
			CloseHandle(h);
			free(buf);
			return (plat_file_error(e, err, "read", path));
		}
		if (got == 0)
			break;
		off += got;
	}
	CloseHandle(h);
	buf[off] = '\0';
	*data = buf;
	*len = off;
	return (EXO_OK);
}

/* The SID of the process's user as text ("S-1-5-21-..."), or NULL. */
static wchar_t *
plat_user_sid(void)
{
	HANDLE		 token;
	DWORD		 n = 0;
	TOKEN_USER	*tu;
	wchar_t		*sid = NULL;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
		return (NULL);
	GetTokenInformation(token, TokenUser, NULL, 0, &n);
	if (n > 0 && (tu = malloc(n)) != NULL) {
		if (GetTokenInformation(token, TokenUser, tu, n, &n))
			ConvertSidToStringSidW(tu->User.Sid, &sid);
		free(tu);
	}
	CloseHandle(token);
	return (sid);
}

/*
 * Builds a security descriptor that grants full access to the current
 * user, SYSTEM and Administrators only, inheriting nothing from the
 * folder. Freed with LocalFree.
 */
static PSECURITY_DESCRIPTOR
plat_secret_descriptor(void)
{
	PSECURITY_DESCRIPTOR	 sd = NULL;
	wchar_t			*sid, sddl[256];

	if ((sid = plat_user_sid()) == NULL)
		return (NULL);
	_snwprintf(sddl, 256, L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)"
	    L"(A;OICI;FA;;;%ls)", sid);
	sddl[255] = L'\0';
	LocalFree(sid);
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, &sd, NULL))
		return (NULL);
	return (sd);
}

/* Groups of ordinary users, which %ProgramData% admits by default. */
static const WELL_KNOWN_SID_TYPE plat_user_groups[] = {
	WinWorldSid, WinAuthenticatedUserSid, WinBuiltinUsersSid,
	WinInteractiveSid,
};

/*
 * Returns 1 when dacl lets one of plat_user_groups in; a missing access
 * list lets everyone in.
 */
static int
plat_dacl_admits_users(PACL dacl)
{
	ACL_SIZE_INFORMATION	 info;
	ACCESS_ALLOWED_ACE	*ace;

	if (dacl == NULL || !GetAclInformation(dacl, &info, sizeof(info),
	    AclSizeInformation))
		return (1);
	for (DWORD i = 0; i < info.AceCount; i++) {
		if (!GetAce(dacl, i, (void **)&ace) ||
		    ace->Header.AceType != ACCESS_ALLOWED_ACE_TYPE)
			continue;
		for (size_t j = 0; j < sizeof(plat_user_groups) /
		    sizeof(plat_user_groups[0]); j++)
			if (IsWellKnownSid(&ace->SidStart,
			    plat_user_groups[j]))
				return (1);
	}
	return (0);
}

/*
 * Returns 1 when path is a file directly in the installed service's data
 * folder (plat_svc_data_dir) and that folder's access list keeps
 * ordinary users out, as plat_svc_install sets it: only SYSTEM,
 * Administrators and the service's account may open it. Files there
 * inherit that list, so the service and an elevated administrator can
 * both use them. The same folder made by hand, with the access list
 * %ProgramData% passes on, is treated like any other folder.
 */
static int
plat_in_service_dir(const char *path)
{
	PSECURITY_DESCRIPTOR	 sd = NULL;
	PACL			 dacl = NULL;
	char			 dir[PLAT_PATH_MAX], svc[PLAT_PATH_MAX];
	wchar_t			*wdir = NULL, *wsvc = NULL;
	wchar_t			 full_dir[MAX_PATH], full_svc[MAX_PATH];
	DWORD			 n;
	int			 inside = 0;

	plat_path_dir(dir, path);
	if (plat_svc_data_dir(svc, NULL) != EXO_OK ||
	    (wdir = plat_wide(dir)) == NULL || (wsvc = plat_wide(svc)) == NULL)
		goto out;
	n = GetFullPathNameW(wdir, MAX_PATH, full_dir, NULL);
	if (n == 0 || n >= MAX_PATH)
		goto out;
	n = GetFullPathNameW(wsvc, MAX_PATH, full_svc, NULL);
	if (n == 0 || n >= MAX_PATH || _wcsicmp(full_dir, full_svc) != 0)
		goto out;
	if (GetNamedSecurityInfoW(full_dir, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd) !=
	    ERROR_SUCCESS)
		goto out;
	inside = !plat_dacl_admits_users(dacl);
	LocalFree(sd);
out:
	free(wdir);
	free(wsvc);
	return (inside);
}

/*
 * Renames from over to, retrying for about a second while the target is
 * busy: another rename onto it, or a virus scanner or indexer that opened
 * it without FILE_SHARE_DELETE, makes MoveFileExW fail for a moment.
 */
static BOOL
plat_replace_file(const wchar_t *from, const wchar_t *to)
{
	DWORD	err;
	int	i;

	for (i = 0; i < PLAT_REPLACE_TRIES; i++) {
		if (MoveFileExW(from, to, MOVEFILE_REPLACE_EXISTING |
		    MOVEFILE_WRITE_THROUGH))
			return (TRUE);
		err = GetLastError();
		if (err != ERROR_ACCESS_DENIED &&
		    err != ERROR_SHARING_VIOLATION)
			return (FALSE);
		Sleep(PLAT_REPLACE_PAUSE_MS);
		SetLastError(err);
	}
	return (FALSE);
}

/* Numbers the temporary files of plat_write_file_atomic. */
static atomic_uint plat_tmp_counter;

int
plat_write_file_atomic(const char *path, const void *data, size_t len,
    int secret, struct exo_error *e)
{
	SECURITY_ATTRIBUTES	 sa, *psa = NULL;
	PSECURITY_DESCRIPTOR	 sd = NULL;
	wchar_t			*wpath = NULL, *wtmp = NULL;
	char			 tmp[PLAT_PATH_MAX + 32];
	const char		*p = data;
	HANDLE			 h;
	DWORD			 put, err;
	int			 rc = EXO_OK, len_tmp;

	if (plat_seam_write_fails(path))
		return (err_set(e, EXO_ERR_NOSPACE, "write %s failed: no "
		    "space left on device (test seam)", path));
	/* Unique per process and call, so threads never share a file. */
	len_tmp = snprintf(tmp, sizeof(tmp), "%s.%lu-%u.tmp", path,
	    (unsigned long)GetCurrentProcessId(),
	    atomic_fetch_add(&plat_tmp_counter, 1));
	if (len_tmp < 0 || (size_t)len_tmp >= sizeof(tmp))
		return (err_set(e, EXO_ERR_TOOLONG, "path %s is too long",
		    path));
	if ((wpath = plat_wide(path)) == NULL ||
	    (wtmp = plat_wide(tmp)) == NULL) {
		rc = err_set(e, EXO_ERR_INVALID, "invalid path %s", path);
		goto out;
	}
	if (secret && !plat_in_service_dir(path)) {
		if ((sd = plat_secret_descriptor()) == NULL) {
			rc = err_set(e, EXO_ERR_PERM, "cannot build an access "
			    "list for %s", path);
			goto out;
		}
		sa.nLength = sizeof(sa);
		sa.lpSecurityDescriptor = sd;
		sa.bInheritHandle = FALSE;
		psa = &sa;
	}
	h = CreateFileW(wtmp, GENERIC_WRITE, 0, psa, CREATE_ALWAYS,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE) {
		rc = plat_file_error(e, GetLastError(), "create", tmp);
		goto out;
	}
	while (len > 0) {
		DWORD chunk = len > 0x40000000 ? 0x40000000 : (DWORD)len;

		if (!WriteFile(h, p, chunk, &put, NULL)) {
			err = GetLastError();
			CloseHandle(h);
			DeleteFileW(wtmp);
			rc = plat_file_error(e, err, "write", tmp);
			goto out;
		}
		p += put;
		len -= put;
	}
	if (!FlushFileBuffers(h)) {
		err = GetLastError();
		CloseHandle(h);
		DeleteFileW(wtmp);
		rc = plat_file_error(e, err, "flush", tmp);
		goto out;
	}
	CloseHandle(h);
	if (!plat_replace_file(wtmp, wpath)) {
		err = GetLastError();
		DeleteFileW(wtmp);
		rc = plat_file_error(e, err, "replace", path);
	}
out:
	if (sd != NULL)
		LocalFree(sd);
	free(wpath);
	free(wtmp);
	return (rc);
}

int
plat_append_file(const char *path, const void *data, size_t len)
{
	wchar_t	*w;
	HANDLE	 h;
	DWORD	 put;
	BOOL	 ok;

	if ((w = plat_wide(path)) == NULL)
		return (EXO_ERR_INVALID);
	h = CreateFileW(w, FILE_APPEND_DATA, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return (plat_file_code(GetLastError()));
	ok = WriteFile(h, data, (DWORD)len, &put, NULL);
	CloseHandle(h);
	return (ok && put == len ? EXO_OK : EXO_ERR_IO);
}

static int
plat_attributes(const char *path, WIN32_FILE_ATTRIBUTE_DATA *fa)
{
	wchar_t	*w;
	BOOL	 ok;

	if ((w = plat_wide(path)) == NULL)
		return (EXO_ERR_INVALID);
	ok = GetFileAttributesExW(w, GetFileExInfoStandard, fa);
	free(w);
	return (ok ? EXO_OK : plat_file_code(GetLastError()));
}

int
plat_file_size(const char *path, int64_t *size)
{
	WIN32_FILE_ATTRIBUTE_DATA	fa;
	int				rc;

	if ((rc = plat_attributes(path, &fa)) != 0)
		return (rc);
	*size = ((int64_t)fa.nFileSizeHigh << 32) | fa.nFileSizeLow;
	return (EXO_OK);
}

int
plat_file_mtime(const char *path, int64_t *mtime_ns)
{
	WIN32_FILE_ATTRIBUTE_DATA	fa;
	ULARGE_INTEGER			u;
	int				rc;

	if ((rc = plat_attributes(path, &fa)) != 0)
		return (rc);
	u.LowPart = fa.ftLastWriteTime.dwLowDateTime;
	u.HighPart = fa.ftLastWriteTime.dwHighDateTime;
	*mtime_ns = ((int64_t)u.QuadPart - PLAT_EPOCH_DIFF) * 100;
	return (EXO_OK);
}

int
plat_rename(const char *from, const char *to)
{
	wchar_t	*wf = plat_wide(from), *wt = plat_wide(to);
	int	 rc = EXO_ERR_INVALID;

	if (wf != NULL && wt != NULL)
		rc = MoveFileExW(wf, wt, MOVEFILE_REPLACE_EXISTING) ?
		    EXO_OK : plat_file_code(GetLastError());
	free(wf);
	free(wt);
	return (rc);
}

int
plat_remove(const char *path)
{
	wchar_t	*w;
	int	 rc;

	if ((w = plat_wide(path)) == NULL)
		return (EXO_ERR_INVALID);
	rc = DeleteFileW(w) ? EXO_OK : plat_file_code(GetLastError());
	free(w);
	return (rc);
}

int
plat_file_exists(const char *path)
{
	wchar_t	*w;
	DWORD	 attr;

	if ((w = plat_wide(path)) == NULL)
		return (0);
	attr = GetFileAttributesW(w);
	free(w);
	return (attr != INVALID_FILE_ATTRIBUTES);
}

static int
plat_is_separator(char c)
{
	return (c == '\\' || c == '/');
}

/*
 * Returns the length of the part of path no folder can be created in:
 * "C:" of "C:\data", or "\\server\share" of a UNC path.
 */
static size_t
plat_path_root_len(const char *path)
{
	size_t	i, seps = 0;

	if (plat_is_separator(path[0]) && plat_is_separator(path[1])) {
		for (i = 2; path[i] != '\0'; i++) {
			if (plat_is_separator(path[i]) && ++seps == 2)
				return (i);
		}
		return (i);
	}
	return (path[0] != '\0' && path[1] == ':' ? 2 : 0);
}

int
plat_mkdir_p(const char *dir, int secret, struct exo_error *e)
{
	char			 part[PLAT_PATH_MAX];
	SECURITY_ATTRIBUTES	 sa;
	PSECURITY_DESCRIPTOR	 sd = NULL;
	wchar_t			*w;
	size_t			 i, n;
	DWORD			 err;
	BOOL			 ok;

	if (str_copy(part, dir, sizeof(part)) >= sizeof(part))
		return (err_set(e, EXO_ERR_TOOLONG, "path too long: %s", dir));
	n = strlen(part);
	for (i = plat_path_root_len(part) + 1; i <= n; i++) {
		int last = i == n;

		if (!last && !plat_is_separator(part[i]))
			continue;
		part[i] = '\0';
		if ((w = plat_wide(part)) == NULL)
			return (err_set(e, EXO_ERR_INVALID, "invalid path %s",
			    dir));
		sa.nLength = sizeof(sa);
		sa.bInheritHandle = FALSE;
		sa.lpSecurityDescriptor = NULL;
		if (last && secret && (sd = plat_secret_descriptor()) != NULL)
			sa.lpSecurityDescriptor = sd;
		ok = CreateDirectoryW(w, &sa);
		err = GetLastError();
		free(w);
		if (sd != NULL) {
			LocalFree(sd);
			sd = NULL;
		}
		if (!ok && err != ERROR_ALREADY_EXISTS &&
		    err != ERROR_ACCESS_DENIED)
			return (plat_file_error(e, err, "create folder", part));
		if (!last)
			part[i] = '\\';
	}
	if (!plat_file_exists(dir))
		return (err_set(e, EXO_ERR_PERM, "cannot create folder %s: "
		    "access denied", dir));
	return (EXO_OK);
}

/*
 * Returns 1 when dacl grants access to anyone but SYSTEM, Administrators
 * and the process's user; a missing access list grants it to everyone.
 */
static int
plat_dacl_open_to_others(PACL dacl)
{
	ACL_SIZE_INFORMATION	 info;
	ACCESS_ALLOWED_ACE	*ace;
	wchar_t			*self, *text;
	int			 others = 0;

	if (dacl == NULL)
		return (1);
	if (!GetAclInformation(dacl, &info, sizeof(info),
	    AclSizeInformation) || (self = plat_user_sid()) == NULL)
		return (1);
	for (DWORD i = 0; i < info.AceCount && !others; i++) {
		if (!GetAce(dacl, i, (void **)&ace))
			continue;
		if (ace->Header.AceType != ACCESS_ALLOWED_ACE_TYPE)
			continue;
		if (IsWellKnownSid(&ace->SidStart, WinLocalSystemSid) ||
		    IsWellKnownSid(&ace->SidStart,
		    WinBuiltinAdministratorsSid))
			continue;
		if (!ConvertSidToStringSidW(&ace->SidStart, &text)) {
			others = 1;
			continue;
		}
		others = wcscmp(text, self) != 0;
		LocalFree(text);
	}
	LocalFree(self);
	return (others);
}

int
plat_file_make_private(const char *path, int *changed, struct exo_error *e)
{
	PSECURITY_DESCRIPTOR	 old = NULL, sd = NULL;
	PACL			 dacl = NULL;
	BOOL			 present = FALSE, defaulted = FALSE;
	wchar_t			*w;
	DWORD			 rc;
	int			 others;

	*changed = 0;
	if (!plat_file_exists(path))
		return (plat_file_error(e, ERROR_FILE_NOT_FOUND, "stat", path));
	/* The service's account must keep reading the installed files. */
	if (plat_in_service_dir(path))
		return (EXO_OK);
	if ((w = plat_wide(path)) == NULL)
		return (err_set(e, EXO_ERR_INVALID, "invalid path %s", path));
	rc = GetNamedSecurityInfoW(w, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &old);
	others = rc != ERROR_SUCCESS || plat_dacl_open_to_others(dacl);
	if (old != NULL)
		LocalFree(old);
	if (!others) {
		free(w);
		return (EXO_OK);
	}
	dacl = NULL;
	if ((sd = plat_secret_descriptor()) == NULL ||
	    !GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) ||
	    !present) {
		if ((rc = GetLastError()) == ERROR_SUCCESS)
			rc = ERROR_INVALID_SECURITY_DESCR;
	} else
		rc = SetNamedSecurityInfoW(w, SE_FILE_OBJECT,
		    DACL_SECURITY_INFORMATION |
		    PROTECTED_DACL_SECURITY_INFORMATION, NULL, NULL, dacl,
		    NULL);
	if (sd != NULL)
		LocalFree(sd);
	free(w);
	if (rc != ERROR_SUCCESS)
		return (plat_file_error(e, rc, "restrict access to", path));
	*changed = 1;
	return (EXO_OK);
}

int
plat_dir_can_protect(const char *dir, struct exo_error *e)
{
	wchar_t	*w;
	HANDLE	 h;
	DWORD	 flags = 0;
	int	 ok = 0;

	if ((w = plat_wide(dir)) == NULL)
		return (err_set(e, EXO_ERR_INVALID, "data folder %s is not "
		    "valid UTF-8", dir));
	/*
	 * Asking through a handle of the folder itself follows mount points
	 * and needs no access to the volume's root.
	 */
	h = CreateFileW(w, FILE_READ_ATTRIBUTES, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_EXISTING,
	    FILE_FLAG_BACKUP_SEMANTICS, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return (err_set(e, EXO_ERR_PERM, "the data folder %s cannot "
		    "be opened (error %lu); give the account that runs "
		    "exoconnect access to it", dir,
		    (unsigned long)GetLastError()));
	if (GetVolumeInformationByHandleW(h, NULL, 0, NULL, NULL, &flags,
	    NULL, 0))
		ok = (flags & FILE_PERSISTENT_ACLS) != 0;
	CloseHandle(h);
	return (ok);
}

int
plat_exe_dir(char out[PLAT_PATH_MAX])
{
	wchar_t	w[PLAT_PATH_MAX];
	DWORD	n;
	char	full[PLAT_PATH_MAX];

	n = GetModuleFileNameW(NULL, w, PLAT_PATH_MAX);
	if (n == 0 || n >= PLAT_PATH_MAX)
		return (EXO_ERR_IO);
	if (plat_narrow(w, full, sizeof(full)) != 0)
		return (EXO_ERR_TOOLONG);
	plat_path_dir(out, full);
	return (EXO_OK);
}

static int
plat_env_dir(const wchar_t *var, char out[PLAT_PATH_MAX])
{
	wchar_t	w[PLAT_PATH_MAX];
	char	base[PLAT_PATH_MAX];
	DWORD	n;

	n = GetEnvironmentVariableW(var, w, PLAT_PATH_MAX);
	if (n == 0 || n >= PLAT_PATH_MAX)
		return (EXO_ERR_NOTFOUND);
	if (plat_narrow(w, base, sizeof(base)) != 0)
		return (EXO_ERR_TOOLONG);
	return (plat_path_join(out, base, "exoconnect"));
}

int
plat_user_config_dir(char out[PLAT_PATH_MAX])
{
	return (plat_env_dir(L"APPDATA", out));
}

int
plat_user_data_dir(char out[PLAT_PATH_MAX])
{
	return (plat_env_dir(L"LOCALAPPDATA", out));
}

int
plat_dir_writable(const char *dir)
{
	char	 probe[PLAT_PATH_MAX], name[64];
	wchar_t	*w;
	HANDLE	 h;

	snprintf(name, sizeof(name), ".exoconnect-probe-%lu",
	    (unsigned long)GetCurrentProcessId());
	if (plat_path_join(probe, dir, name) != 0 ||
	    (w = plat_wide(probe)) == NULL)
		return (0);
	h = CreateFileW(w, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
	    FILE_ATTRIBUTE_TEMPORARY | FILE_FLAG_DELETE_ON_CLOSE, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return (0);
	CloseHandle(h);
	return (1);
}

int
plat_path_join(char out[PLAT_PATH_MAX], const char *dir, const char *name)
{
	size_t	n = strlen(dir);
	int	len;

	if (n > 0 && plat_is_separator(dir[n - 1]))
		len = snprintf(out, PLAT_PATH_MAX, "%s%s", dir, name);
	else
		len = snprintf(out, PLAT_PATH_MAX, "%s\\%s", dir, name);
	if (len < 0 || len >= PLAT_PATH_MAX)
		return (EXO_ERR_TOOLONG);
	return (EXO_OK);
}

void
plat_path_dir(char out[PLAT_PATH_MAX], const char *path)
{
	size_t	n = strlen(path);

	while (n > 0 && !plat_is_separator(path[n - 1]))
		n--;
	if (n == 0) {
		str_copy(out, ".", PLAT_PATH_MAX);
		return;
	}
	/* Keep the separator of a root such as "C:\". */
	if (n > 1 && !(n == 3 && path[1] == ':'))
		n--;
	if (n >= PLAT_PATH_MAX)
		n = PLAT_PATH_MAX - 1;
	memcpy(out, path, n);
	out[n] = '\0';
}

/* ---- inter-process locks ---- */

struct plat_lock {
	HANDLE	h;
};

int
plat_lock_acquire(const char *path, int wait, struct plat_lock **out,
    struct exo_error *e)
{
	struct plat_lock	*l;
	OVERLAPPED		 ov;
	wchar_t			*w;
	HANDLE			 h;
	DWORD			 flags = LOCKFILE_EXCLUSIVE_LOCK, err;

	if ((w = plat_wide(path)) == NULL)
		return (err_set(e, EXO_ERR_INVALID, "invalid path %s", path));
	h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ |
	    FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	free(w);
	if (h == INVALID_HANDLE_VALUE)
		return (plat_file_error(e, GetLastError(), "open", path));
	if (!wait)
		flags |= LOCKFILE_FAIL_IMMEDIATELY;
	memset(&ov, 0, sizeof(ov));
	ov.Offset = PLAT_LOCK_OFFSET;
	if (!LockFileEx(h, flags, 0, 1, 0, &ov)) {
		err = GetLastError();
		CloseHandle(h);
		if (err == ERROR_LOCK_VIOLATION || err == ERROR_IO_PENDING)
			return (err_set(e, EXO_ERR_LOCKED, "%s is locked by "
			    "another process", path));
		return (plat_file_error(e, err, "lock", path));
	}
	if ((l = malloc(sizeof(*l))) == NULL) {
		CloseHandle(h);
		return (err_set(e, EXO_ERR_NOMEM, "out of memory"));
	}
	l->h = h;
	*out = l;
	return (EXO_OK);
}

void
plat_lock_release(struct plat_lock *l)
{
	OVERLAPPED	ov;

	if (l == NULL)
		return;
	memset(&ov, 0, sizeof(ov));
	ov.Offset = PLAT_LOCK_OFFSET;
	UnlockFileEx(l->h, 0, 1, 0, &ov);
	CloseHandle(l->h);
	free(l);
}

int
plat_lock_write(struct plat_lock *l, const char *text)
{
	DWORD	put, len = (DWORD)strlen(text);

	if (SetFilePointer(l->h, 0, NULL, FILE_BEGIN) ==
	    INVALID_SET_FILE_POINTER || !SetEndOfFile(l->h))
		return (EXO_ERR_IO);
	if (!WriteFile(l->h, text, len, &put, NULL) || put != len)
		return (EXO_ERR_IO);
	FlushFileBuffers(l->h);
	return (EXO_OK);
}

/* ---- secrets ---- */

static int
plat_blob_copy(const DATA_BLOB *b, void **out, size_t *out_len,
    struct exo_error *e)
{
	if ((*out = malloc(b->cbData + 1)) == NULL)
		return (err_set(e, EXO_ERR_NOMEM, "out of memory"));
	memcpy(*out, b->pbData, b->cbData);
	((char *)*out)[b->cbData] = '\0';
	*out_len = b->cbData;
	return (EXO_OK);
}

/*
 * In the installed data folder the service's account and elevated
 * administrators share secrets.dat, which DPAPI for one user would shut
 * the others out of. DPAPI for the machine lets every account of this
 * machine decrypt it, so the folder's access list is what protects it
 * there.
 */
enum plat_secret_scope
plat_secret_scope(const char *path)
{
	return (plat_in_service_dir(path) ? PLAT_SECRET_MACHINE :
	    PLAT_SECRET_USER);
}

int
plat_secret_protect(const char *path, const void *in, size_t len,
    void **out, size_t *out_len, struct exo_error *e)
{
	DATA_BLOB	plain, sealed;
	DWORD		flags = CRYPTPROTECT_UI_FORBIDDEN;
	int		rc;

	if (plat_secret_scope(path) == PLAT_SECRET_MACHINE)
		flags |= CRYPTPROTECT_LOCAL_MACHINE;
	plain.pbData = (BYTE *)in;
	plain.cbData = (DWORD)len;
	if (!CryptProtectData(&plain, L"exoconnect secrets", NULL, NULL, NULL,
	    flags, &sealed))
		return (err_set(e, EXO_ERR_IO, "protecting the secrets with "
		    "DPAPI failed (Windows error %lu)",
		    (unsigned long)GetLastError()));
	rc = plat_blob_copy(&sealed, out, out_len, e);
	LocalFree(sealed.pbData);
	return (rc);
}

int
plat_secret_unprotect(const void *in, size_t len, void **out,
    size_t *out_len, struct exo_error *e)
{
	DATA_BLOB	sealed, plain;
	int		rc;

	sealed.pbData = (BYTE *)in;
	sealed.cbData = (DWORD)len;
	if (!CryptUnprotectData(&sealed, NULL, NULL, NULL, NULL,
	    CRYPTPROTECT_UI_FORBIDDEN, &plain))
		return (err_set(e, EXO_ERR_AUTH, "the secrets file cannot be "
		    "decrypted: it was written by another Windows user or on "
		    "another machine; sign each mailbox in again (exoconnect "
		    "user signin NAME) and set the device passwords again"));
	rc = plat_blob_copy(&plain, out, out_len, e);
	SecureZeroMemory(plain.pbData, plain.cbData);
	LocalFree(plain.pbData);
	return (rc);
}

void
plat_wipe(void *p, size_t len)
{
	if (p != NULL)
		SecureZeroMemory(p, len);
}

/* ---- processes, console and signals ---- */

long
plat_getpid(void)
{
	return ((long)GetCurrentProcessId());
}

int
plat_process_alive(long pid)
{
	HANDLE	h;
	DWORD	code = 0;

	h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
	if (h == NULL)
		return (GetLastError() == ERROR_ACCESS_DENIED);
	GetExitCodeProcess(h, &code);
	CloseHandle(h);
	return (code == STILL_ACTIVE);
}

int
plat_hostname(char *buf, size_t len)
{
	wchar_t	w[256];
	DWORD	n = 256;

	if (!GetComputerNameExW(ComputerNameDnsHostname, w, &n))
		return (EXO_ERR_IO);
	return (plat_narrow(w, buf, len));
}

/* Tries of GetAdaptersAddresses while the adapter list grows. */
#define PLAT_ADAPTER_TRIES	3

size_t
plat_local_addrs(char addrs[][PLAT_ADDR_MAX], size_t max)
{
	IP_ADAPTER_ADDRESSES		*list = NULL, *a;
	IP_ADAPTER_UNICAST_ADDRESS	*u;
	struct sockaddr_in6		*sin6;
	ULONG				 size = 16 * 1024, rc = ERROR_BUFFER_OVERFLOW;
	size_t				 n = 0;
	int				 tries;

	for (tries = 0; tries < PLAT_ADAPTER_TRIES &&
	    rc == ERROR_BUFFER_OVERFLOW; tries++) {
		free(list);
		if ((list = malloc(size)) == NULL)
			return (0);
		rc = GetAdaptersAddresses(AF_UNSPEC, GAA_FLAG_SKIP_ANYCAST |
		    GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER, NULL,
		    list, &size);
	}
	if (rc != NO_ERROR) {
		free(list);
		return (0);
	}
	for (a = list; a != NULL && n < max; a = a->Next) {
		if (a->OperStatus != IfOperStatusUp ||
		    a->IfType == IF_TYPE_SOFTWARE_LOOPBACK)
			continue;
		for (u = a->FirstUnicastAddress; u != NULL && n < max;
		    u = u->Next) {
			if (u->Address.lpSockaddr->sa_family == AF_INET6) {
				sin6 = (struct sockaddr_in6 *)(void *)
				    u->Address.lpSockaddr;
				if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) ||
				    IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
					continue;
			} else if (u->Address.lpSockaddr->sa_family != AF_INET)
				continue;
			if (getnameinfo(u->Address.lpSockaddr,
			    u->Address.iSockaddrLength, addrs[n], PLAT_ADDR_MAX,
			    NULL, 0, NI_NUMERICHOST) == 0)
				n++;
		}
	}
	free(list);
	return (n);
}

int
plat_open_browser(const char *url)
{
	wchar_t		*w;
	INT_PTR		 rc;

	if ((w = plat_wide(url)) == NULL)
		return (EXO_ERR_INVALID);
	rc = (INT_PTR)ShellExecuteW(NULL, L"open", w, NULL, NULL,
	    SW_SHOWNORMAL);
	free(w);
	/* ShellExecute returns a value above 32 on success. */
	return (rc > 32 ? EXO_OK : EXO_ERR_IO);
}

static int
plat_is_console(HANDLE h)
{
	DWORD	mode;

	return (h != NULL && h != INVALID_HANDLE_VALUE &&
	    GetConsoleMode(h, &mode));
}

int
plat_is_terminal(void)
{
	return (plat_is_console(GetStdHandle(STD_INPUT_HANDLE)) &&
	    plat_is_console(GetStdHandle(STD_OUTPUT_HANDLE)));
}

void
plat_write_console(int fd, const char *text, size_t len)
{
	HANDLE	 h = GetStdHandle(fd == 2 ? STD_ERROR_HANDLE :
	    STD_OUTPUT_HANDLE);
	wchar_t	*w;
	DWORD	 put;
	int	 n;

	if (h == NULL || h == INVALID_HANDLE_VALUE || len == 0)
		return;
	if (!plat_is_console(h)) {
		/* Pipes and files get UTF-8 bytes. */
		WriteFile(h, text, (DWORD)len, &put, NULL);
		return;
	}
	n = MultiByteToWideChar(CP_UTF8, 0, text, (int)len, NULL, 0);
	if (n <= 0 || (w = malloc((size_t)n * sizeof(*w))) == NULL)
		return;
	MultiByteToWideChar(CP_UTF8, 0, text, (int)len, w, n);
	WriteConsoleW(h, w, (DWORD)n, &put, NULL);
	free(w);
}

/* Reads one line of bytes from a pipe or file. */
static int
plat_read_line_handle(HANDLE h, char *buf, size_t len)
{
	size_t	n = 0;
	DWORD	got;
	char	c;

	for (;;) {
		if (!ReadFile(h, &c, 1, &got, NULL) || got == 0)
			return (n == 0 ? EXO_ERR_CLOSED : EXO_OK);
		if (c == '\n')
			break;
		if (c == '\0') {
			/* The rest of the line is left unread. */
			SecureZeroMemory(buf, len);
			return (EXO_ERR_INVALID);
		}
		if (n + 1 >= len)
			return (EXO_ERR_TOOLONG);
		buf[n++] = c;
		buf[n] = '\0';
	}
	buf[n] = '\0';
	str_trim_end(buf, n);
	return (EXO_OK);
}

int
plat_read_password(const char *prompt, char *buf, size_t len)
{
	HANDLE	 in = GetStdHandle(STD_INPUT_HANDLE);
	wchar_t	 w[512];
	DWORD	 mode, got = 0;
	int	 rc;

	buf[0] = '\0';
	if (!plat_is_console(in))
		return (plat_read_line_handle(in, buf, len));
	if (prompt != NULL)
		plat_write_console(2, prompt, strlen(prompt));
	GetConsoleMode(in, &mode);
	SetConsoleMode(in, (mode & ~(DWORD)ENABLE_ECHO_INPUT) |
	    ENABLE_LINE_INPUT | ENABLE_PROCESSED_INPUT);
	if (!ReadConsoleW(in, w, 511, &got, NULL))
		got = 0;
	SetConsoleMode(in, mode);
	plat_write_console(2, "\n", 1);
	w[got] = L'\0';
	while (got > 0 && (w[got - 1] == L'\n' || w[got - 1] == L'\r'))
		w[--got] = L'\0';
	rc = plat_narrow(w, buf, len);
	SecureZeroMemory(w, sizeof(w));
	return (rc);
}

static void	(*plat_stop_cb)(void);
static atomic_int plat_stop_called;

/* Windows runs console control handlers on a thread of their own. */
static BOOL WINAPI
plat_console_handler(DWORD type)
{
	switch (type) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
	case CTRL_CLOSE_EVENT:
	case CTRL_LOGOFF_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		/* A second Ctrl+C goes to the default handler, which ends
		 * the process at once, so a hung stop can be interrupted. */
		if (atomic_exchange(&plat_stop_called, 1) &&
		    (type == CTRL_C_EVENT || type == CTRL_BREAK_EVENT))
			return (FALSE);
		if (plat_stop_cb != NULL)
			plat_stop_cb();
		/* After a close event Windows ends the process when the
		 * handler returns, so give the stop a moment to finish. */
		if (type != CTRL_C_EVENT && type != CTRL_BREAK_EVENT)
			Sleep(5000);
		return (TRUE);
	default:
		return (FALSE);
	}
}

void
plat_on_signals(void (*on_stop)(void), void (*on_reload)(void))
{
	/* Windows has no SIGHUP; settings reload by restarting. */
	(void)on_reload;
	plat_stop_cb = on_stop;
	SetConsoleCtrlHandler(plat_console_handler, TRUE);
}

void
plat_raise_fd_limit(void)
{
	/* Sockets on Windows are not limited by a descriptor table. */
}

/* ---- system trust store and proxy ---- */

int
plat_system_roots(plat_cert_fn fn, void *arg)
{
	HCERTSTORE	store;
	PCCERT_CONTEXT	cert = NULL;
	int		rc;

	/*
	 * The current user's logical ROOT store also shows the machine's
	 * roots, those Group Policy distributes and the enterprise ones,
	 * which is where an admin puts the root of a TLS-inspecting proxy.
	 */
	if ((store = CertOpenSystemStoreW(0, L"ROOT")) == NULL)
		return (EXO_OK);
	while ((cert = CertEnumCertificatesInStore(store, cert)) != NULL) {
		rc = fn(arg, PLAT_CERT_DER, cert->pbCertEncoded,
		    cert->cbCertEncoded);
		if (rc < 0) {
			CertFreeCertificateContext(cert);
			CertCloseStore(store, 0);
			return (rc);
		}
	}
	CertCloseStore(store, 0);
	return (EXO_OK);
}

/*
 * Matches text against a bypass pattern with '*' wildcards, ignoring
 * case. It backtracks only to the last '*', so time stays linear in the
 * product of both lengths.
 */
static int
plat_glob_match(const char *pattern, const char *text)
{
	const char	*star = NULL, *resume = NULL;

	while (*text != '\0') {
		if (*pattern == '*') {
			star = pattern++;
			resume = text;
		} else if (tolower((unsigned char)*pattern) ==
		    tolower((unsigned char)*text)) {
			pattern++;
			text++;
		} else if (star != NULL) {
			pattern = star + 1;
			text = ++resume;
		} else
			return (0);
	}
	while (*pattern == '*')
		pattern++;
	return (*pattern == '\0');
}

/*
 * 1 when a proxy bypass list ("<local>;*.corp.example;10.*") names host.
 * "<local>" matches names without a dot.
 */
static int
plat_proxy_bypassed(char *list, const char *host)
{
	char	*entry, *next;

	for (entry = list; entry != NULL; entry = next) {
		next = strpbrk(entry, "; \t");
		if (next != NULL)
			*next++ = '\0';
		if (*entry == '\0')
			continue;
		if (strcmp(entry, "<local>") == 0 && strchr(host, '.') == NULL)
			return (1);
		if (plat_glob_match(entry, host))
			return (1);
	}
	return (0);
}

/*
 * Picks the entry for HTTPS from a Windows proxy list: "https=host:port"
 * first, else an entry without a scheme, which serves every protocol.
 */
static void
plat_proxy_pick(char *list, char out[512])
{
	char	*entry, *next;
	char	 any[512] = "";

	for (entry = list; entry != NULL; entry = next) {
		next = strpbrk(entry, "; \t");
		if (next != NULL)
			*next++ = '\0';
		if (*entry == '\0')
			continue;
		if (strncmp(entry, "https=", 6) == 0) {
			str_copy(any, entry + 6, sizeof(any));
			break;
		}
		if (strchr(entry, '=') == NULL && any[0] == '\0')
			str_copy(any, entry, sizeof(any));
	}
	if (any[0] == '\0')
		return;
	if (strstr(any, "://") != NULL)
		str_copy(out, any, 512);
	else
		snprintf(out, 512, "http://%s", any);
}

/* Applies one proxy setting; returns 1 when it names a fixed proxy. */
static int
plat_proxy_apply(const wchar_t *proxy, const wchar_t *bypass,
    const char *host, char out[512])
{
	char	list[1024], skip[2048];

	if (proxy == NULL || *proxy == L'\0')
		return (0);
	if (plat_narrow(proxy, list, sizeof(list)) != EXO_OK)
		return (0);
	if (bypass != NULL && plat_narrow(bypass, skip, sizeof(skip)) ==
	    EXO_OK && plat_proxy_bypassed(skip, host))
		return (1);
	plat_proxy_pick(list, out);
	return (1);
}

static void
plat_global_free(wchar_t *p)
{
	if (p != NULL)
		GlobalFree(p);
}

void
plat_system_proxy(const char *host, char out[512])
{
	WINHTTP_CURRENT_USER_IE_PROXY_CONFIG	ie;
	WINHTTP_PROXY_INFO			info;
	int					fixed = 0;

	out[0] = '\0';
	memset(&ie, 0, sizeof(ie));
	if (WinHttpGetIEProxyConfigForCurrentUser(&ie)) {
		fixed = plat_proxy_apply(ie.lpszProxy, ie.lpszProxyBypass, host,
		    out);
		plat_global_free(ie.lpszAutoConfigUrl);
		plat_global_free(ie.lpszProxy);
		plat_global_free(ie.lpszProxyBypass);
	}
	if (fixed)
		return;

	/* Services and SYSTEM have no Internet Options: the machine-wide
	 * WinHTTP setting of "netsh winhttp set proxy". */
	memset(&info, 0, sizeof(info));
	if (WinHttpGetDefaultProxyConfiguration(&info)) {
		if (info.dwAccessType == WINHTTP_ACCESS_TYPE_NAMED_PROXY)
			plat_proxy_apply(info.lpszProxy, info.lpszProxyBypass,
			    host, out);
		plat_global_free(info.lpszProxy);
		plat_global_free(info.lpszProxyBypass);
	}
}

void
plat_ui_language(char *buf, size_t cap)
{
	wchar_t	name[LOCALE_NAME_MAX_LENGTH];
	LCID	lcid;

	if (cap == 0)
		return;
	buf[0] = '\0';
	lcid = MAKELCID(GetUserDefaultUILanguage(), SORT_DEFAULT);
	if (LCIDToLocaleName(lcid, name, LOCALE_NAME_MAX_LENGTH, 0) == 0)
		return;
	plat_narrow(name, buf, cap);
}
