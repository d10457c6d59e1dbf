/*
 * plat-win32-ipc.c: the local control channel on Windows, a named pipe
 * that only the current user, SYSTEM and Administrators may open. All
 * I/O is overlapped, so waits have timeouts and plat_ipc_shutdown can
 * end them from another thread.
 */
#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plat.h"

/* Maximum single wait, so that a shutdown is seen within this time. */
#define IPC_SLICE_MS 250
/* Buffer sizes of each pipe instance, in bytes. */
#define IPC_PIPE_BUFFER (64 * 1024)

struct plat_ipc {
	HANDLE		h;
	volatile LONG	closed;
	int		listener;
	int		first_done;	/* the first instance exists */
	wchar_t		name[64];
	PSECURITY_DESCRIPTOR sd;	/* of the listener's instances */
};

/*
 * Hashes a folder's path with FNV-1a, ignoring ASCII case and the kind of
 * slash, as Windows paths do.
 */
static uint64_t
ipc_hash(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;
	unsigned char	ch;

	for (; *s != '\0'; s++) {
		ch = (unsigned char)*s;
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		if (ch == '/')
			ch = '\\';
		h ^= ch;
		h *= 1099511628211ULL;
	}
	return h;
}

/*
 * Writes the absolute path of dir (GetFullPathNameW) without a trailing
 * backslash, so a relative -c path and the absolute one name the same
 * pipe. A path that cannot be converted is written as it is.
 */
static void
ipc_full_path(const char *dir, char out[PLAT_PATH_MAX])
{
	wchar_t	wdir[PLAT_PATH_MAX], wfull[PLAT_PATH_MAX];
	DWORD	n;

	snprintf(out, PLAT_PATH_MAX, "%s", dir);
	if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, dir, -1, wdir,
	    PLAT_PATH_MAX) == 0)
		return;
	n = GetFullPathNameW(wdir, PLAT_PATH_MAX, wfull, NULL);
	if (n == 0 || n >= PLAT_PATH_MAX)
		return;
	/* A root such as C:\ keeps its backslash. */
	if (n > 3 && (wfull[n - 1] == L'\\' || wfull[n - 1] == L'/'))
		wfull[n - 1] = L'\0';
	if (WideCharToMultiByte(CP_UTF8, 0, wfull, -1, out, PLAT_PATH_MAX,
	    NULL, NULL) == 0)
		snprintf(out, PLAT_PATH_MAX, "%s", dir);
}

void
plat_ipc_endpoint(const char *data_dir, char out[PLAT_PATH_MAX])
{
	char	full[PLAT_PATH_MAX];

	ipc_full_path(data_dir, full);
	snprintf(out, PLAT_PATH_MAX, "\\\\.\\pipe\\exoconnect-%016llx",
	    (unsigned long long)ipc_hash(full));
}

static void
ipc_wide_name(const char *data_dir, wchar_t out[64])
{
	char	name[PLAT_PATH_MAX];
	size_t	i;

	plat_ipc_endpoint(data_dir, name);
	for (i = 0; name[i] != '\0' && i < 63; i++)
		out[i] = (wchar_t)(unsigned char)name[i];
	out[i] = L'\0';
}

/* The process's user SID; free with free(). */
static PSID
ipc_user_sid(void)
{
	HANDLE		 token;
	DWORD		 n = 0;
	TOKEN_USER	*tu = NULL;

	if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
		return NULL;
	GetTokenInformation(token, TokenUser, NULL, 0, &n);
	if (n > 0 && (tu = malloc(n)) != NULL &&
	    !GetTokenInformation(token, TokenUser, tu, n, &n)) {
		free(tu);
		tu = NULL;
	}
	CloseHandle(token);
	if (tu == NULL)
		return NULL;
	/* Moves the SID, which follows the header, to the start of tu. */
	memmove(tu, tu->User.Sid, GetLengthSid(tu->User.Sid));
	return (PSID)tu;
}

/*
 * Builds a descriptor that gives full access to SYSTEM, Administrators
 * and the current user only, and names the user as owner for
 * ipc_owner_trusted.
 */
static PSECURITY_DESCRIPTOR
ipc_descriptor(void)
{
	PSECURITY_DESCRIPTOR	 sd = NULL;
	PSID			 sid;
	wchar_t			*text = NULL, sddl[256];

	if ((sid = ipc_user_sid()) == NULL)
		return NULL;
	if (ConvertSidToStringSidW(sid, &text)) {
		_snwprintf(sddl, 256, L"O:%lsD:P(A;;GA;;;SY)(A;;GA;;;BA)"
		    L"(A;;GA;;;%ls)", text, text);
		sddl[255] = L'\0';
		LocalFree(text);
		if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
		    SDDL_REVISION_1, &sd, NULL))
			sd = NULL;
	}
	free(sid);
	return sd;
}

/*
 * The service manager's names of the built-in service accounts, mapped
 * to their SIDs directly, because they differ from the names that
 * LookupAccountNameW knows ("NT AUTHORITY\NETWORK SERVICE").
 */
static const struct {
	const wchar_t		*name;
	WELL_KNOWN_SID_TYPE	 type;
} ipc_builtin_accounts[] = {
	{ L"LocalSystem", WinLocalSystemSid },
	{ L"NT AUTHORITY\\LocalService", WinLocalServiceSid },
	{ L"NT AUTHORITY\\NetworkService", WinNetworkServiceSid },
};

/*
 * Returns 1 when the account named account (as the service manager
 * stores it: "LocalSystem", "NT AUTHORITY\LocalService", ".\user",
 * "DOMAIN\user") has the SID sid.
 */
static int
ipc_account_is(const wchar_t *account, PSID sid)
{
	BYTE		 buf[SECURITY_MAX_SID_SIZE];
	wchar_t		 domain[256];
	DWORD		 len = sizeof(buf), domain_len = 256;
	SID_NAME_USE	 use;

	for (size_t i = 0; i < sizeof(ipc_builtin_accounts) /
	    sizeof(ipc_builtin_accounts[0]); i++)
		if (_wcsicmp(account, ipc_builtin_accounts[i].name) == 0)
			return (IsWellKnownSid(sid,
			    ipc_builtin_accounts[i].type) != 0);
	/* ".\user" is a local account, which a bare name finds first. */
	if (account[0] == L'.' && account[1] == L'\\')
		account += 2;
	if (account[0] == L'\0' || !LookupAccountNameW(NULL, account, buf,
	    &len, domain, &domain_len, &use))
		return (0);
	return (EqualSid(buf, sid) != 0);
}

/*
 * Returns 1 when a pipe owned by owner may be trusted: the owner is
 * SYSTEM, Administrators, this process's user, or service_account (the
 * installed service's account, NULL when none). Any other owner is a
 * process that took our pipe's name first.
 */
static int
ipc_owner_allowed(PSID owner, const wchar_t *service_account)
{
	PSID	self;
	int	ok = 0;

	if (IsWellKnownSid(owner, WinLocalSystemSid) ||
	    IsWellKnownSid(owner, WinBuiltinAdministratorsSid))
		return (1);
	if ((self = ipc_user_sid()) != NULL) {
		ok = EqualSid(owner, self) != 0;
		free(self);
	}
	if (!ok && service_account != NULL)
		ok = ipc_account_is(service_account, owner);
	return (ok);
}

/*
 * Writes the account the service manager runs the installed service as
 * into out, or returns 0 when the service is not installed or cannot be
 * queried.
 */
static int
ipc_service_account(wchar_t out[256])
{
	struct plat_svc_status	st;
	struct exo_error	e;

	err_clear(&e);
	if (plat_svc_status(&st, &e) != EXO_OK ||
	    st.state == PLAT_SVC_NOT_INSTALLED || st.account[0] == '\0')
		return (0);
	return (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, st.account,
	    -1, out, 256) != 0);
}

/*
 * Returns 1 when the pipe's owner passes ipc_owner_allowed, so a pipe
 * another user created first under our name is not trusted. The screen
 * of an administrator thereby attaches to the installed service under
 * its own account.
 */
static int
ipc_owner_trusted(HANDLE h)
{
	PSECURITY_DESCRIPTOR	 sd = NULL;
	PSID			 owner = NULL;
	wchar_t			 account[256];
	int			 ok;

	if (GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION,
	    &owner, NULL, NULL, NULL, &sd) != ERROR_SUCCESS)
		return 0;
	/* NOTE: wine may report no owner, which Windows always sets. */
	if (owner == NULL)
		ok = 1;
	else
		ok = ipc_owner_allowed(owner, ipc_service_account(account) ?
		    account : NULL);
	LocalFree(sd);
	return ok;
}

#ifdef EXO_TEST_SEAMS
int
plat_test_ipc_owner_trusted(const char *owner_sid,
    const char *service_account)
{
	wchar_t	 sid_text[256], account[256];
	PSID	 owner = NULL;
	int	 ok;

	if (MultiByteToWideChar(CP_UTF8, 0, owner_sid, -1, sid_text,
	    256) == 0 || !ConvertStringSidToSidW(sid_text, &owner))
		return (-1);
	if (service_account != NULL && MultiByteToWideChar(CP_UTF8, 0,
	    service_account, -1, account, 256) == 0) {
		LocalFree(owner);
		return (-1);
	}
	ok = ipc_owner_allowed(owner, service_account != NULL ? account :
	    NULL);
	LocalFree(owner);
	return (ok);
}
#endif

static HANDLE
ipc_instance(struct plat_ipc *l, DWORD *err)
{
	SECURITY_ATTRIBUTES	sa;
	DWORD			open = PIPE_ACCESS_DUPLEX |
				    FILE_FLAG_OVERLAPPED;
	HANDLE			h;

	sa.nLength = sizeof(sa);
	sa.lpSecurityDescriptor = l->sd;
	sa.bInheritHandle = FALSE;
	if (!l->first_done)
		open |= FILE_FLAG_FIRST_PIPE_INSTANCE;
	h = CreateNamedPipeW(l->name, open, PIPE_TYPE_BYTE |
	    PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
	    PIPE_UNLIMITED_INSTANCES, IPC_PIPE_BUFFER, IPC_PIPE_BUFFER, 0,
	    &sa);
	*err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
	if (h != INVALID_HANDLE_VALUE)
		l->first_done = 1;
	return h;
}

int
plat_ipc_listen(const char *data_dir, struct plat_ipc **out,
    struct exo_error *e)
{
	struct plat_ipc	*l;
	HANDLE		 probe;
	DWORD		 err;

	*out = NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	l->listener = 1;
	ipc_wide_name(data_dir, l->name);
	if ((l->sd = ipc_descriptor()) == NULL) {
		free(l);
		return err_set(e, EXO_ERR_IO, "cannot build the access list "
		    "of the control pipe (error %lu)", GetLastError());
	}
	/*
	 * FILE_FLAG_FIRST_PIPE_INSTANCE rejects a name another process
	 * serves; wine ignores it, so a pipe that opens is checked first.
	 */
	probe = CreateFileW(l->name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
	    OPEN_EXISTING, 0, NULL);
	err = probe == INVALID_HANDLE_VALUE ? GetLastError() : ERROR_SUCCESS;
	if (probe != INVALID_HANDLE_VALUE)
		CloseHandle(probe);
	if (err == ERROR_SUCCESS || err == ERROR_PIPE_BUSY)
		l->h = INVALID_HANDLE_VALUE;
	else
		l->h = ipc_instance(l, &err);
	if (l->h == INVALID_HANDLE_VALUE) {
		LocalFree(l->sd);
		free(l);
		if (err == ERROR_SUCCESS || err == ERROR_ACCESS_DENIED ||
		    err == ERROR_PIPE_BUSY)
			return err_set(e, EXO_ERR_LOCKED, "another process "
			    "listens on the control pipe of %s", data_dir);
		return err_set(e, EXO_ERR_IO, "cannot create the control pipe "
		    "(error %lu)", err);
	}
	*out = l;
	return EXO_OK;
}

/*
 * Waits for the overlapped operation of ov in slices, so a shutdown of c
 * ends the wait. Returns 0, EXO_ERR_TIMEOUT or EXO_ERR_CLOSED; on the
 * last two the operation is cancelled.
 */
static int
ipc_wait(struct plat_ipc *c, OVERLAPPED *ov, int timeout_ms)
{
	int64_t	deadline = plat_monotonic_ms() + timeout_ms;
	int64_t	left;
	DWORD	slice, n;
	int	rc;

	for (;;) {
		if (WaitForSingleObject(ov->hEvent, 0) == WAIT_OBJECT_0)
			return EXO_OK;
		rc = InterlockedCompareExchange(&c->closed, 0, 0) ?
		    EXO_ERR_CLOSED : EXO_OK;
		left = deadline - plat_monotonic_ms();
		if (rc == EXO_OK && timeout_ms >= 0 && left <= 0)
			rc = EXO_ERR_TIMEOUT;
		if (rc != EXO_OK)
			break;
		slice = IPC_SLICE_MS;
		if (timeout_ms >= 0 && left < (int64_t)slice)
			slice = (DWORD)left;
		if (WaitForSingleObject(ov->hEvent, slice) == WAIT_OBJECT_0)
			return EXO_OK;
	}

	/* An operation that completed before the cancel keeps its result. */
	CancelIoEx(c->h, ov);
	if (GetOverlappedResult(c->h, ov, &n, TRUE))
		return EXO_OK;
	return rc;
}

int
plat_ipc_accept(struct plat_ipc *l, int timeout_ms, struct plat_ipc **out)
{
	struct plat_ipc	*c;
	OVERLAPPED	 ov;
	DWORD		 n, err;
	HANDLE		 next;
	int		 rc = EXO_OK;

	*out = NULL;
	if (InterlockedCompareExchange(&l->closed, 0, 0))
		return EXO_ERR_CLOSED;
	memset(&ov, 0, sizeof(ov));
	if ((ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL)
		return EXO_ERR_TRANSIENT;
	if (!ConnectNamedPipe(l->h, &ov)) {
		err = GetLastError();
		if (err == ERROR_IO_PENDING) {
			rc = ipc_wait(l, &ov, timeout_ms);
			if (rc == EXO_OK && !GetOverlappedResult(l->h, &ov, &n,
			    FALSE))
				rc = EXO_ERR_TIMEOUT;
		} else if (err != ERROR_PIPE_CONNECTED)
			rc = EXO_ERR_TRANSIENT;
	}
	CloseHandle(ov.hEvent);
	if (rc != EXO_OK) {
		/* A client that came and went leaves the instance unusable. */
		if (rc == EXO_ERR_TIMEOUT || rc == EXO_ERR_TRANSIENT)
			DisconnectNamedPipe(l->h);
		return rc;
	}

	/* The connected instance goes to the client; listen on a new one. */
	next = ipc_instance(l, &err);
	if (next == INVALID_HANDLE_VALUE) {
		DisconnectNamedPipe(l->h);
		return EXO_ERR_TRANSIENT;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		DisconnectNamedPipe(l->h);
		CloseHandle(next);
		return EXO_ERR_TRANSIENT;
	}
	c->h = l->h;
	l->h = next;
	*out = c;
	return EXO_OK;
}

int
plat_ipc_connect(const char *data_dir, int timeout_ms,
    struct plat_ipc **out, struct exo_error *e)
{
	struct plat_ipc	*c;
	wchar_t		 name[64];
	HANDLE		 h;
	DWORD		 err;
	int64_t		 deadline = plat_monotonic_ms() + timeout_ms;

	*out = NULL;
	ipc_wide_name(data_dir, name);
	for (;;) {
		h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
		    OPEN_EXISTING, FILE_FLAG_OVERLAPPED |
		    SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
		if (h != INVALID_HANDLE_VALUE)
			break;
		err = GetLastError();
		if (err == ERROR_ACCESS_DENIED)
			return err_set(e, EXO_ERR_PERM, "access to the control "
			    "pipe of %s was denied: open the screen as the "
			    "user that runs serve, or in a console started "
			    "with Run as administrator", data_dir);
		if (err != ERROR_PIPE_BUSY || plat_monotonic_ms() >= deadline)
			return err_set(e, EXO_ERR_NOTFOUND, "no exoconnect "
			    "serve answers for %s", data_dir);
		WaitNamedPipeW(name, IPC_SLICE_MS);
	}
	if (!ipc_owner_trusted(h)) {
		CloseHandle(h);
		return err_set(e, EXO_ERR_PERM, "the control pipe of %s "
		    "belongs to another user", data_dir);
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		CloseHandle(h);
		return err_set(e, EXO_ERR_NOMEM, "out of memory");
	}
	c->h = h;
	*out = c;
	return EXO_OK;
}

/* One overlapped read or write; returns the byte count or an error. */
static long
ipc_io(struct plat_ipc *c, int write, void *buf, DWORD len, int timeout_ms)
{
	OVERLAPPED	ov;
	DWORD		n = 0, err;
	BOOL		ok;
	int		rc;

	memset(&ov, 0, sizeof(ov));
	if ((ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL)
		return EXO_ERR_IO;
	ok = write ? WriteFile(c->h, buf, len, NULL, &ov) :
	    ReadFile(c->h, buf, len, NULL, &ov);
	err = ok ? ERROR_SUCCESS : GetLastError();
	if (err == ERROR_SUCCESS || err == ERROR_IO_PENDING) {
		rc = ipc_wait(c, &ov, timeout_ms);
		if (rc == EXO_OK && GetOverlappedResult(c->h, &ov, &n, FALSE))
			err = ERROR_SUCCESS;
		else if (rc == EXO_OK)
			err = GetLastError();
		else
			err = ERROR_OPERATION_ABORTED;
	} else
		rc = EXO_OK;
	CloseHandle(ov.hEvent);
	if (err == ERROR_SUCCESS)
		return (long)n;
	if (rc != EXO_OK)
		return rc;
	/* plat_ipc_shutdown cancels the I/O that is under way. */
	if (err == ERROR_OPERATION_ABORTED ||
	    InterlockedCompareExchange(&c->closed, 0, 0))
		return EXO_ERR_CLOSED;
	/* A closed pipe is the end of the stream for a reader. */
	if (err == ERROR_BROKEN_PIPE || err == ERROR_PIPE_NOT_CONNECTED ||
	    err == ERROR_NO_DATA)
		return write ? EXO_ERR_CLOSED : 0;
	return EXO_ERR_IO;
}

int
plat_ipc_send_all(struct plat_ipc *c, const void *buf, size_t len,
    int timeout_ms)
{
	const char	*p = buf;
	long		 n;
	DWORD		 chunk;

	while (len > 0) {
		chunk = len > IPC_PIPE_BUFFER ? IPC_PIPE_BUFFER : (DWORD)len;
		n = ipc_io(c, 1, (void *)p, chunk, timeout_ms);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return EXO_ERR_CLOSED;
		p += n;
		len -= (size_t)n;
	}
	return EXO_OK;
}

long
plat_ipc_recv(struct plat_ipc *c, void *buf, size_t len, int timeout_ms)
{
	DWORD	chunk = len > IPC_PIPE_BUFFER ? IPC_PIPE_BUFFER : (DWORD)len;

	return ipc_io(c, 0, buf, chunk, timeout_ms);
}

void
plat_ipc_shutdown(struct plat_ipc *c)
{
	InterlockedExchange(&c->closed, 1);
	CancelIoEx(c->h, NULL);
}

/*
 * Closes without DisconnectNamedPipe, which would discard what the other
 * side has not read yet: the pipe instance ends when both sides closed.
 */
void
plat_ipc_close(struct plat_ipc *c)
{
	if (c == NULL)
		return;
	CloseHandle(c->h);
	if (c->sd != NULL)
		LocalFree(c->sd);
	free(c);
}
