/*
 * test-plat-win32.c: the Windows platform layer, run under wine by
 * make check: paths with drive letters and backslashes, sockets on
 * 127.0.0.1 and their timeouts, threads, files, locks, DPAPI, the ROOT
 * certificate store and the proxy settings. Besides plat.h it reads
 * access lists with the Windows API, so only mk/windows.mk builds it.
 */
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>
#include <wincrypt.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "../../src/plat.h"
#include "../../src/util.h"

static char	tmpdir[PLAT_PATH_MAX];

/* 1 when needle occurs in the len bytes at p (mingw has no memmem). */
static int
contains(const void *p, size_t len, const char *needle)
{
	size_t	n = strlen(needle), i;

	for (i = 0; i + n <= len; i++) {
		if (memcmp((const char *)p + i, needle, n) == 0)
			return (1);
	}
	return (0);
}

TEST(path_dir_and_join)
{
	char	out[PLAT_PATH_MAX];

	plat_path_dir(out, "C:\\exoconnect\\exoconnect.conf");
	CHECK_STR(out, "C:\\exoconnect");
	plat_path_dir(out, "C:\\exoconnect.conf");
	CHECK_STR(out, "C:\\");
	plat_path_dir(out, "D:/stick/exoconnect.conf");
	CHECK_STR(out, "D:/stick");
	plat_path_dir(out, "exoconnect.conf");
	CHECK_STR(out, ".");

	CHECK_INT(plat_path_join(out, "C:\\data", "users.conf"), 0);
	CHECK_STR(out, "C:\\data\\users.conf");
	CHECK_INT(plat_path_join(out, "C:\\", "users.conf"), 0);
	CHECK_STR(out, "C:\\users.conf");
}

TEST(mkdir_write_read)
{
	struct exo_error	 e;
	char			 dir[PLAT_PATH_MAX], path[PLAT_PATH_MAX];
	char			*data = NULL;
	size_t			 len = 0;

	CHECK_INT(plat_path_join(dir, tmpdir, "a\\b\\c"), 0);
	CHECK_INT(plat_mkdir_p(dir, 1, NULL), 0);
	CHECK(plat_file_exists(dir));
	CHECK(plat_dir_writable(dir));
	CHECK_INT(plat_path_join(path, dir, "f\xc3\xbcr.txt"), 0);

	CHECK_INT(plat_write_file_atomic(path, "one", 3, 1, NULL), 0);
	CHECK_INT(plat_write_file_atomic(path, "second", 6, 0, NULL), 0);
	CHECK_INT(plat_read_file(path, 64, &data, &len, NULL), 0);
	CHECK_INT(len, 6);
	CHECK_STR(data, "second");
	free(data);

	CHECK_INT(plat_read_file(path, 5, &data, &len, NULL), EXO_ERR_TOOLONG);
	CHECK_INT(plat_read_file(dir, 64, &data, &len, &e), EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "is a folder, not a file") != NULL);
	CHECK_INT(plat_remove(path), 0);
	CHECK_INT(plat_read_file(path, 64, &data, &len, NULL),
	    EXO_ERR_NOTFOUND);
}

struct writer {
	char		path[PLAT_PATH_MAX];
	atomic_int	failures;
	atomic_int	done;
};

static void
write_many(void *arg)
{
	struct writer	*w = arg;
	int		 i;

	for (i = 0; i < 20; i++) {
		if (plat_write_file_atomic(w->path, "0123456789", 10, 1,
		    NULL) != 0)
			atomic_fetch_add(&w->failures, 1);
	}
	atomic_fetch_add(&w->done, 1);
}

TEST(atomic_write_from_threads)
{
	static struct writer	w;
	int64_t			deadline;
	int			i;

	CHECK_INT(plat_path_join(w.path, tmpdir, "shared.dat"), 0);
	for (i = 0; i < 4; i++)
		CHECK_INT(plat_thread_start(write_many, &w, 0), 0);
	deadline = plat_monotonic_ms() + 30000;
	while (atomic_load(&w.done) < 4 && plat_monotonic_ms() < deadline)
		plat_sleep_ms(10);
	CHECK_INT(atomic_load(&w.done), 4);
	CHECK_INT(atomic_load(&w.failures), 0);
}

TEST(lock_excludes_second_holder)
{
	struct plat_lock	*first = NULL, *second = NULL;
	struct exo_error	 e;
	char			 path[PLAT_PATH_MAX], *data = NULL;
	size_t			 len = 0;

	CHECK_INT(plat_path_join(path, tmpdir, "exoconnect.lock"), 0);
	CHECK_INT(plat_lock_acquire(path, 0, &first, &e), 0);
	CHECK_INT(plat_lock_write(first, "1234\n"), 0);
	CHECK_INT(plat_lock_acquire(path, 0, &second, &e), EXO_ERR_LOCKED);
	/* Other processes read the holder's text beside the locked byte. */
	CHECK_INT(plat_read_file(path, 64, &data, &len, NULL), 0);
	CHECK_STR(data, "1234\n");
	free(data);
	plat_lock_release(first);
	CHECK_INT(plat_lock_acquire(path, 0, &second, &e), 0);
	plat_lock_release(second);
}

TEST(socket_pair_and_timeouts)
{
	plat_socket		l, c, a;
	struct exo_error	e;
	char			peer[PLAT_ADDR_MAX], buf[16];
	int64_t			start;

	CHECK_INT(plat_listen("127.0.0.1", 0, &l, &e), 0);
	CHECK(plat_socket_port(l) > 0);
	CHECK_INT(plat_connect("127.0.0.1", (unsigned)plat_socket_port(l),
	    2000, &c, &e), 0);
	CHECK_INT(plat_accept(l, 2000, &a, peer), 0);
	CHECK_STR(peer, "127.0.0.1");

	CHECK_INT(plat_send_all(c, "hello", 5, 1000), 0);
	CHECK_INT(plat_recv(a, buf, sizeof(buf), 1000), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	start = plat_monotonic_ms();
	CHECK_INT(plat_recv(a, buf, sizeof(buf), 200), EXO_ERR_TIMEOUT);
	CHECK(plat_monotonic_ms() - start >= 150);

	plat_socket_close(c);
	CHECK_INT(plat_recv(a, buf, sizeof(buf), 1000), 0);
	plat_socket_close(a);
	CHECK_INT(plat_accept(l, 100, &a, peer), EXO_ERR_TIMEOUT);
	plat_socket_close(l);
}

struct reader {
	plat_socket	s;
	atomic_long	result;
	atomic_int	done;
};

static void
read_once(void *arg)
{
	struct reader	*r = arg;
	char		 buf[16];

	atomic_store(&r->result, plat_recv(r->s, buf, sizeof(buf), 10000));
	atomic_store(&r->done, 1);
}

TEST(shutdown_read_wakes_reader)
{
	static struct reader	 r;
	plat_socket		 l, c;
	struct exo_error	 e;
	char			 peer[PLAT_ADDR_MAX], buf[16];
	int64_t			 start, deadline;

	CHECK_INT(plat_listen("127.0.0.1", 0, &l, &e), 0);
	CHECK_INT(plat_connect("127.0.0.1", (unsigned)plat_socket_port(l),
	    2000, &c, &e), 0);
	CHECK_INT(plat_accept(l, 2000, &r.s, peer), 0);
	atomic_store(&r.result, 1);
	CHECK_INT(plat_thread_start(read_once, &r, 0), 0);

	/* The reader waits in WSAPoll by then. */
	plat_sleep_ms(300);
	CHECK_INT(atomic_load(&r.done), 0);
	start = plat_monotonic_ms();
	plat_socket_shutdown_read(r.s);
	deadline = start + 5000;
	while (!atomic_load(&r.done) && plat_monotonic_ms() < deadline)
		plat_sleep_ms(10);
	CHECK_INT(atomic_load(&r.done), 1);
	CHECK(plat_monotonic_ms() - start < 3000);
	CHECK_INT((int)atomic_load(&r.result), 0);

	/* Replies still reach the peer. */
	CHECK_INT(plat_send_all(r.s, "bye", 3, 1000), 0);
	CHECK_INT(plat_recv(c, buf, sizeof(buf), 2000), 3);
	CHECK(memcmp(buf, "bye", 3) == 0);
	plat_socket_close(r.s);
	plat_socket_close(c);
	plat_socket_close(l);
}

TEST(connect_refused_is_quick)
{
	plat_socket		l, c;
	struct exo_error	e;
	unsigned		port;
	int64_t			start;

	/* A port that was just free: nothing listens on it. */
	CHECK_INT(plat_listen("127.0.0.1", 0, &l, &e), 0);
	port = (unsigned)plat_socket_port(l);
	plat_socket_close(l);

	start = plat_monotonic_ms();
	CHECK_INT(plat_connect("127.0.0.1", port, 10000, &c, &e),
	    EXO_ERR_CONNECT);
	CHECK(plat_monotonic_ms() - start < 5000);
}

TEST(listen_port_in_use)
{
	plat_socket		l, l2;
	struct exo_error	e;

	CHECK_INT(plat_listen("127.0.0.1", 0, &l, &e), 0);
	CHECK_INT(plat_listen("127.0.0.1", (unsigned)plat_socket_port(l), &l2,
	    &e), EXO_ERR_ADDRINUSE);
	CHECK(strstr(e.msg, "already in use") != NULL);
	plat_socket_close(l);
	CHECK_INT(plat_listen("not-an-address", 0, &l, &e), EXO_ERR_INVALID);
}

TEST(cond_wait_timeout)
{
	struct plat_mutex	*m = plat_mutex_new();
	struct plat_cond	*c = plat_cond_new();
	int64_t			 start;

	CHECK(m != NULL);
	CHECK(c != NULL);
	plat_mutex_lock(m);
	start = plat_monotonic_ms();
	CHECK_INT(plat_cond_wait(c, m, 100), EXO_ERR_TIMEOUT);
	CHECK(plat_monotonic_ms() - start >= 80);
	plat_mutex_unlock(m);
	plat_cond_free(c);
	plat_mutex_free(m);
}

TEST(random_and_time)
{
	unsigned char	a[32], b[32];
	char		text[32];

	CHECK_INT(plat_random(a, sizeof(a)), 0);
	CHECK_INT(plat_random(b, sizeof(b)), 0);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	plat_format_time(0, text);
	CHECK_STR(text, "1970-01-01T00:00:00Z");
	plat_format_time(1796404206, text);
	CHECK_STR(text, "2026-12-04T17:10:06Z");
	CHECK(plat_wall_time() > 1700000000);
}

TEST(secret_round_trip)
{
	struct exo_error	 e;
	void			*sealed = NULL, *plain = NULL;
	size_t			 sealed_len = 0, plain_len = 0;
	const char		 secret[] = "refresh-token-value";

	CHECK_INT(plat_secret_protect("secrets.dat", secret,
	    sizeof(secret) - 1, &sealed, &sealed_len, &e), 0);
	CHECK(sealed_len > sizeof(secret));
	CHECK(!contains(sealed, sealed_len, secret));
	CHECK_INT(plat_secret_unprotect(sealed, sealed_len, &plain,
	    &plain_len, &e), 0);
	CHECK_INT(plain_len, sizeof(secret) - 1);
	CHECK(plain != NULL);
	CHECK(plain == NULL || memcmp(plain, secret, plain_len) == 0);
	free(plain);

	/*
	 * The blob ends with its signature, in Windows' format and in
	 * wine's. Damaged lengths elsewhere crash wine 8.0's
	 * CryptUnprotectData, so only the signature is changed.
	 */
	((unsigned char *)sealed)[sealed_len - 1] ^= 0xff;
	CHECK_INT(plat_secret_unprotect(sealed, sealed_len, &plain,
	    &plain_len, &e), EXO_ERR_AUTH);
	CHECK(strstr(e.msg, "sign each mailbox in again") != NULL);
	free(sealed);
}

/*
 * 1 under wine, which keeps no access lists of files: it turns the one
 * a file is created with into Unix permissions, ignores
 * SetNamedSecurityInfoW and reports a list made from the permissions.
 */
static int
under_wine(void)
{
	HMODULE	ntdll = GetModuleHandleA("ntdll.dll");

	return (ntdll != NULL &&
	    GetProcAddress(ntdll, "wine_get_version") != NULL);
}

/* Offset of dwFlags in a DPAPI blob, in Windows' format and in wine's. */
#define DPAPI_FLAGS_OFFSET 40

/* Returns the dwFlags that CryptProtectData stored in a blob. */
static unsigned long
dpapi_flags(const void *blob, size_t len)
{
	const unsigned char	*p = blob;

	if (len < DPAPI_FLAGS_OFFSET + 4)
		return (0xffffffffUL);
	p += DPAPI_FLAGS_OFFSET;
	return ((unsigned long)p[0] | (unsigned long)p[1] << 8 |
	    (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24);
}

/* Seals secret for path, checks the scope bit and unseals it again. */
static void
check_scope(const char *path, int machine)
{
	struct exo_error	 e;
	void			*sealed = NULL, *plain = NULL;
	size_t			 sealed_len = 0, plain_len = 0;
	const char		 secret[] = "refresh-token-value";

	CHECK_INT(plat_secret_scope(path), machine ? PLAT_SECRET_MACHINE :
	    PLAT_SECRET_USER);
	CHECK_INT(plat_secret_protect(path, secret, sizeof(secret) - 1,
	    &sealed, &sealed_len, &e), 0);
	/* wine 8.0 stores 0 as the blob's flags, whatever the scope. */
	if (!under_wine())
		CHECK_INT((dpapi_flags(sealed, sealed_len) &
		    CRYPTPROTECT_LOCAL_MACHINE) != 0, machine);
	CHECK_INT(plat_secret_unprotect(sealed, sealed_len, &plain,
	    &plain_len, &e), 0);
	CHECK_INT(plain_len, sizeof(secret) - 1);
	CHECK(plain != NULL);
	CHECK(plain != NULL && memcmp(plain, secret, plain_len) == 0);
	free(plain);
	free(sealed);
}

/* 1 when the DACL of path is protected from inheritance. */
static int
dacl_protected(const char *path)
{
	PSECURITY_DESCRIPTOR		sd = NULL;
	SECURITY_DESCRIPTOR_CONTROL	control = 0;
	DWORD				revision;

	if (GetNamedSecurityInfoA(path, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, NULL, NULL, &sd) !=
	    ERROR_SUCCESS)
		return (-1);
	GetSecurityDescriptorControl(sd, &control, &revision);
	LocalFree(sd);
	return ((control & SE_DACL_PROTECTED) != 0);
}

TEST(secret_scope_by_folder)
{
	struct exo_error	e;
	char			svc[PLAT_PATH_MAX], path[PLAT_PATH_MAX];
	int			made = 0;

	/* A portable folder: DPAPI for the current user. */
	CHECK_INT(plat_path_join(path, tmpdir, "secrets.dat"), 0);
	check_scope(path, 0);

	/*
	 * The installed data folder, closed to ordinary users as service
	 * install leaves it: DPAPI for the machine.
	 */
	CHECK_INT(plat_svc_data_dir(svc, &e), 0);
	if (!plat_file_exists(svc)) {
		CHECK_INT(plat_mkdir_p(svc, 1, &e), 0);
		made = 1;
	}
	CHECK_INT(plat_path_join(path, svc, "secrets.dat"), 0);
	check_scope(path, 1);
	/* Files there inherit the folder's list, which names the service. */
	CHECK_INT(plat_write_file_atomic(path, "x", 1, 1, &e), 0);
	if (!under_wine())
		CHECK_INT(dacl_protected(path), 0);
	plat_remove(path);

	/* A folder below it is not the data folder. */
	CHECK_INT(plat_path_join(path, svc, "sub\\secrets.dat"), 0);
	check_scope(path, 0);
	if (made)
		RemoveDirectoryA(svc);
}

TEST(secret_scope_open_folder)
{
	PSECURITY_DESCRIPTOR	sd = NULL;
	SECURITY_ATTRIBUTES	sa;
	struct exo_error	e;
	char			svc[PLAT_PATH_MAX], path[PLAT_PATH_MAX];

	/* The same folder made by hand, open to Everyone: user scope. */
	CHECK_INT(plat_svc_data_dir(svc, &e), 0);
	CHECK(!plat_file_exists(svc));
	CHECK(ConvertStringSecurityDescriptorToSecurityDescriptorA(
	    "D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICI;FA;;;WD)",
	    SDDL_REVISION_1, &sd, NULL));
	sa.nLength = sizeof(sa);
	sa.lpSecurityDescriptor = sd;
	sa.bInheritHandle = FALSE;
	CHECK(CreateDirectoryA(svc, &sa));
	LocalFree(sd);
	CHECK_INT(plat_path_join(path, svc, "secrets.dat"), 0);
	check_scope(path, 0);
	RemoveDirectoryA(svc);
}

/* Counts the ACEs of path's DACL; *others counts those for other SIDs. */
static int
count_aces(const char *path, int *others)
{
	PSECURITY_DESCRIPTOR	 sd = NULL;
	PACL			 dacl = NULL;
	ACL_SIZE_INFORMATION	 info;
	ACCESS_ALLOWED_ACE	*ace;
	HANDLE			 token;
	char			 user[SECURITY_MAX_SID_SIZE + 64];
	DWORD			 n;
	PSID			 self;

	*others = 0;
	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
		return (-1);
	if (!GetTokenInformation(token, TokenUser, user, sizeof(user), &n)) {
		CloseHandle(token);
		return (-1);
	}
	CloseHandle(token);
	self = ((TOKEN_USER *)user)->User.Sid;
	if (GetNamedSecurityInfoA(path, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL, &sd) !=
	    ERROR_SUCCESS || dacl == NULL ||
	    !GetAclInformation(dacl, &info, sizeof(info), AclSizeInformation))
		return (-1);
	for (DWORD i = 0; i < info.AceCount; i++) {
		if (!GetAce(dacl, i, (void **)&ace))
			continue;
		if (!IsWellKnownSid(&ace->SidStart, WinLocalSystemSid) &&
		    !IsWellKnownSid(&ace->SidStart,
		    WinBuiltinAdministratorsSid) &&
		    !EqualSid(&ace->SidStart, self))
			(*others)++;
	}
	LocalFree(sd);
	return ((int)info.AceCount);
}

TEST(make_private_sets_dacl)
{
	PSECURITY_DESCRIPTOR	 sd = NULL;
	SECURITY_ATTRIBUTES	 sa;
	struct exo_error	 e;
	char			 path[PLAT_PATH_MAX];
	HANDLE			 h;
	int			 changed = -1, others = -1;

	/* A file that Everyone may read. */
	CHECK_INT(plat_path_join(path, tmpdir, "open.conf"), 0);
	CHECK(ConvertStringSecurityDescriptorToSecurityDescriptorA(
	    "D:P(A;;FA;;;WD)", SDDL_REVISION_1, &sd, NULL));
	sa.nLength = sizeof(sa);
	sa.lpSecurityDescriptor = sd;
	sa.bInheritHandle = FALSE;
	h = CreateFileA(path, GENERIC_WRITE, 0, &sa, CREATE_ALWAYS,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	CHECK(h != INVALID_HANDLE_VALUE);
	CloseHandle(h);
	LocalFree(sd);
	CHECK(count_aces(path, &others) >= 1);
	CHECK_INT(others, 1);

	CHECK_INT(plat_file_make_private(path, &changed, &e), 0);
	CHECK_INT(changed, 1);
	if (!under_wine()) {
		CHECK_INT(dacl_protected(path), 1);
		CHECK_INT(count_aces(path, &others), 3);
		CHECK_INT(others, 0);

		/* Already private: nothing to change. */
		CHECK_INT(plat_file_make_private(path, &changed, &e), 0);
		CHECK_INT(changed, 0);
	}
	plat_remove(path);

	/* Created owner-only, which wine can show too: nothing to change. */
	CHECK_INT(plat_write_file_atomic(path, "x", 1, 1, &e), 0);
	CHECK_INT(plat_file_make_private(path, &changed, &e), 0);
	CHECK_INT(changed, 0);
	plat_remove(path);
	CHECK_INT(plat_file_make_private(path, &changed, &e),
	    EXO_ERR_NOTFOUND);
}

TEST(relative_folder_same_pipe)
{
	struct plat_ipc	*l = NULL, *c = NULL, *srv = NULL;
	char		 cwd[PLAT_PATH_MAX], rel[PLAT_PATH_MAX];
	char		 abs_pipe[PLAT_PATH_MAX], up[PLAT_PATH_MAX];

	CHECK(GetCurrentDirectoryA(sizeof(cwd), cwd) > 0);
	CHECK(SetCurrentDirectoryA(tmpdir));
	plat_ipc_endpoint(tmpdir, abs_pipe);
	plat_ipc_endpoint(".", rel);
	CHECK_STR(rel, abs_pipe);
	plat_ipc_endpoint(".\\", rel);
	CHECK_STR(rel, abs_pipe);
	CHECK_INT(plat_path_join(up, "..", strrchr(tmpdir, '\\') + 1), 0);
	plat_ipc_endpoint(up, rel);
	CHECK_STR(rel, abs_pipe);

	/* A serve of the absolute folder answers the relative one. */
	CHECK_INT(plat_ipc_listen(tmpdir, &l, NULL), EXO_OK);
	CHECK_INT(plat_ipc_connect(".", 2000, &c, NULL), EXO_OK);
	CHECK_INT(plat_ipc_accept(l, 2000, &srv), EXO_OK);
	plat_ipc_close(srv);
	plat_ipc_close(c);
	plat_ipc_close(l);
	CHECK(SetCurrentDirectoryA(cwd));
}

TEST(pipe_owner_rules)
{
	HANDLE		 token;
	char		 user[SECURITY_MAX_SID_SIZE + 64], *self = NULL;
	DWORD		 n;
	const char	*netsvc = "NT AUTHORITY\\NETWORK SERVICE";

	/* SYSTEM, Administrators and this user, with or without a service. */
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-18", NULL), 1);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-32-544", NULL), 1);
	CHECK(OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token));
	CHECK(GetTokenInformation(token, TokenUser, user, sizeof(user), &n));
	CloseHandle(token);
	CHECK(ConvertSidToStringSidA(((TOKEN_USER *)user)->User.Sid, &self));
	if (self != NULL) {
		CHECK_INT(plat_test_ipc_owner_trusted(self, NULL), 1);
		CHECK_INT(plat_test_ipc_owner_trusted(self, netsvc), 1);
		LocalFree(self);
	}

	/* The service's account only while the service runs as it. */
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-20", NULL), 0);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-20", netsvc), 1);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-20",
	    "NT AUTHORITY\\NetworkService"), 1);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-19",
	    "NT AUTHORITY\\LocalService"), 1);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-19", netsvc), 0);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-20", "LocalSystem"), 0);

	/* A squatter: another account, whatever the service runs as. */
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-21-1-2-3-1001", NULL),
	    0);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-21-1-2-3-1001", netsvc),
	    0);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-21-1-2-3-1001",
	    ".\\nosuchaccount"), 0);
	CHECK_INT(plat_test_ipc_owner_trusted("S-1-5-32-545", NULL), 0);
	CHECK_INT(plat_test_ipc_owner_trusted("not a SID", NULL), -1);
}

static int
count_der(void *arg, enum plat_cert_format format, const void *data,
    size_t len)
{
	const unsigned char	*der = data;

	/* A DER certificate starts with a SEQUENCE (0x30). */
	if (format != PLAT_CERT_DER || len < 16 || der[0] != 0x30)
		return (EXO_ERR_INVALID);
	(*(size_t *)arg)++;
	return (1);
}

static int
stop_at_first(void *arg, enum plat_cert_format format, const void *data,
    size_t len)
{
	(void)format;
	(void)data;
	(void)len;
	(*(size_t *)arg)++;
	return (EXO_ERR_NOMEM);
}

TEST(system_roots_as_der)
{
	size_t	count = 0;

	/* wine fills the ROOT store from the host's CA certificates. */
	CHECK_INT(plat_system_roots(count_der, &count), 0);
	CHECK(count > 10);
	count = 0;
	CHECK_INT(plat_system_roots(stop_at_first, &count), EXO_ERR_NOMEM);
	CHECK_INT(count, 1);
}

TEST(system_proxy_none)
{
	char	out[512];

	/* The test prefix sets no proxy, and run.py unsets http_proxy. */
	memset(out, 'x', sizeof(out));
	plat_system_proxy("login.microsoftonline.com", out);
	CHECK_STR(out, "");
}

/* Creates a fresh folder under %TEMP% for the file tests. */
static int
make_tmpdir(void)
{
	const char	*base = getenv("TEMP");
	unsigned char	 r[6];
	char		 name[32];
	size_t		 i;

	if (base == NULL || plat_random(r, sizeof(r)) != 0)
		return (-1);
	str_copy(name, "exo-test-", sizeof(name));
	for (i = 0; i < sizeof(r); i++)
		name[9 + i] = (char)('a' + r[i] % 26);
	name[9 + sizeof(r)] = '\0';
	if (plat_path_join(tmpdir, base, name) != 0)
		return (-1);
	return (plat_mkdir_p(tmpdir, 0, NULL));
}

int
main(void)
{
	plat_init();
	if (make_tmpdir() != 0) {
		printf("fail setup\n  no temporary folder under %%TEMP%%\n");
		return (1);
	}
	RUN(path_dir_and_join);
	RUN(mkdir_write_read);
	RUN(atomic_write_from_threads);
	RUN(lock_excludes_second_holder);
	RUN(socket_pair_and_timeouts);
	RUN(shutdown_read_wakes_reader);
	RUN(connect_refused_is_quick);
	RUN(listen_port_in_use);
	RUN(cond_wait_timeout);
	RUN(random_and_time);
	RUN(secret_round_trip);
	RUN(secret_scope_by_folder);
	RUN(secret_scope_open_folder);
	RUN(make_private_sets_dacl);
	RUN(relative_folder_same_pipe);
	RUN(pipe_owner_rules);
	RUN(system_roots_as_der);
	RUN(system_proxy_none);
	return (TEST_EXIT());
}
