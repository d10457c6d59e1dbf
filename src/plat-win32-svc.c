/*
 * plat-win32-svc.c: the system service functions of plat.h on Windows:
 * installing exoconnect as a service of the service control manager,
 * running under it (StartServiceCtrlDispatcherW), the Event Log source,
 * the firewall rule (netsh advfirewall) and the ACL of the data folder.
 *
 * The installed service runs
 *   "%ProgramFiles%\exoconnect\exoconnect.exe"
 *       -c "%ProgramData%\exoconnect\exoconnect.conf" service run
 * as LocalSystem or the account given at install.
 */
#define WIN32_LEAN_AND_MEAN
#define _WIN32_WINNT 0x0A00	/* Windows 10 and Server 2016 */

#include <windows.h>
#include <aclapi.h>
#include <ntsecapi.h>
#include <sddl.h>
#include <shlobj.h>
#include <wincrypt.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "plat.h"
#include "util.h"

#define SVC_WNAME		L"exoconnect"
#define SVC_DISPLAY		L"exoconnect (POP3 and SMTP for Exchange Online)"
#define SVC_DESCRIPTION		L"Lets printers and scanners that know only " \
	L"POP3 and SMTP with a password send and fetch mail through " \
	L"Exchange Online with OAuth2."
/* The Event Log source's registry key. */
#define SVC_EVENT_KEY		L"SYSTEM\\CurrentControlSet\\Services\\" \
	L"EventLog\\Application\\exoconnect"
/*
 * The message file that eventcreate.exe registers for the sources it
 * creates. Its messages for event ids 1 to 1000 are "%1", so the Event
 * Viewer shows exoconnect's text without a message table of its own.
 * NOTE: wine keeps no Event Log, so this was never seen working here.
 * docs/windows-checklist.md lists the steps that check it on Windows.
 */
#define SVC_EVENT_FILE		L"%SystemRoot%\\System32\\EventCreate.exe"
#define SVC_EVENT_ID_MAX	1000
#define SVC_FIREWALL_RULE	L"exoconnect"
/* Restart delays after a failure, and when the failure count resets. */
#define SVC_RESTART_1_MS	5000
#define SVC_RESTART_2_MS	30000
#define SVC_RESTART_3_MS	120000
#define SVC_FAILURE_RESET_S	86400
#define SVC_START_WAIT_MS	30000
#define SVC_STOP_WAIT_MS	60000
#define SVC_POLL_MS		250
/* Wait hints: the time the manager allows a start or stop to take. */
#define SVC_START_HINT_MS	30000
#define SVC_STOP_HINT_MS	45000
#define SVC_NETSH_WAIT_MS	30000
/* Folder levels plat_svc_uninstall deletes below the data folder. */
#define SVC_DELETE_DEPTH	4
/* Largest secrets.dat that plat_svc_install re-encrypts. */
#define SVC_SECRETS_MAX		(16 * 1024 * 1024)
#define SVC_CMD_MAX		(3 * PLAT_PATH_MAX)

/* The files of a data folder that plat_svc_install copies. */
static const wchar_t *const svc_data_files[] = {
	L"users.conf",
	/* The device-side certificate: a new one would break the devices
	 * that were set up to trust this one. */
	L"device-cert.pem",
	L"device-key.pem",
};
#define SVC_SECRETS_FILE	L"secrets.dat"
#define SVC_CONFIG_FILE		L"exoconnect.conf"

/* ---- text and errors ---- */

/* Converts UTF-8 into w (cap characters); returns 0 or EXO_ERR_INVALID. */
static int
svc_wide(const char *text, wchar_t *w, size_t cap)
{
	int	n;

	n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, w,
	    (int)cap);
	if (n <= 0) {
		if (cap > 0)
			w[0] = L'\0';
		return (EXO_ERR_INVALID);
	}
	return (EXO_OK);
}

static void
svc_narrow(const wchar_t *w, char *out, size_t cap)
{
	if (WideCharToMultiByte(CP_UTF8, 0, w, -1, out, (int)cap, NULL,
	    NULL) <= 0 && cap > 0)
		out[0] = '\0';
}

/* Sets e to what failed, with the Windows error text of code. */
static int
svc_fail(struct exo_error *e, int rc, DWORD code, const char *what)
{
	wchar_t	w[256];
	char	text[512];
	DWORD	n;

	n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
	    FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code,
	    MAKELANGID(LANG_ENGLISH, SUBLANG_ENGLISH_US), w, 256, NULL);
	if (n == 0)
		n = FormatMessageW(FORMAT_MESSAGE_FROM_SYSTEM |
		    FORMAT_MESSAGE_IGNORE_INSERTS, NULL, code, 0, w, 256,
		    NULL);
	if (n == 0)
		snprintf(text, sizeof(text), "Windows error %lu",
		    (unsigned long)code);
	else
		svc_narrow(w, text, sizeof(text));
	str_trim_end(text, strlen(text));
	n = (DWORD)strlen(text);
	if (n > 0 && text[n - 1] == '.')
		text[n - 1] = '\0';
	return (err_set(e, rc, "%s failed: %s", what, text));
}

/* Formats one line of progress and passes it to the say callback. */
static void
svc_say(plat_svc_say_fn say, void *ctx, const char *fmt, ...)
{
	char	line[2 * PLAT_PATH_MAX];
	va_list	ap;

	if (say == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	say(ctx, line);
}

/* ---- folders ---- */

/* Writes the exoconnect folder under the known folder csidl into out. */
static int
svc_folder(int csidl, wchar_t out[MAX_PATH], struct exo_error *e)
{
	HRESULT	hr;
	size_t	n;

	hr = SHGetFolderPathW(NULL, csidl, NULL, SHGFP_TYPE_CURRENT, out);
	if (FAILED(hr))
		return (svc_fail(e, EXO_ERR_IO, (DWORD)hr, "SHGetFolderPathW"));
	n = wcslen(out);
	if (_snwprintf(out + n, MAX_PATH - n, L"\\%ls", SVC_WNAME) < 0) {
		out[n] = L'\0';
		return (err_set(e, EXO_ERR_TOOLONG, "the folder path is too "
		    "long"));
	}
	return (EXO_OK);
}

static int
svc_join(wchar_t *out, size_t cap, const wchar_t *dir, const wchar_t *name)
{
	int	n;

	n = _snwprintf(out, cap, L"%ls\\%ls", dir, name);
	if (n < 0 || (size_t)n >= cap) {
		if (cap > 0)
			out[0] = L'\0';
		return (EXO_ERR_TOOLONG);
	}
	return (EXO_OK);
}

int
plat_svc_data_dir(char out[PLAT_PATH_MAX], struct exo_error *e)
{
	wchar_t	w[MAX_PATH];
	int	rc;

	out[0] = '\0';
	if ((rc = svc_folder(CSIDL_COMMON_APPDATA, w, e)) != EXO_OK)
		return (rc);
	svc_narrow(w, out, PLAT_PATH_MAX);
	return (EXO_OK);
}

/* ---- elevation ---- */

int
plat_svc_check_admin(struct exo_error *e)
{
	SID_IDENTIFIER_AUTHORITY	 nt = SECURITY_NT_AUTHORITY;
	TOKEN_ELEVATION			 elevation;
	HANDLE				 token;
	PSID				 admins = NULL;
	DWORD				 len;
	BOOL				 member = FALSE;
	int				 elevated = 0;

	if (OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
		if (GetTokenInformation(token, TokenElevation, &elevation,
		    sizeof(elevation), &len))
			elevated = elevation.TokenIsElevated != 0;
		CloseHandle(token);
	}

	/* Under UAC an administrator's console runs with the group
	 * disabled, so the membership check fails until it is elevated. */
	if (AllocateAndInitializeSid(&nt, 2, SECURITY_BUILTIN_DOMAIN_RID,
	    DOMAIN_ALIAS_RID_ADMINS, 0, 0, 0, 0, 0, 0, &admins)) {
		if (!CheckTokenMembership(NULL, admins, &member))
			member = FALSE;
		FreeSid(admins);
	}
	if (elevated && member)
		return (EXO_OK);
	return (err_set(e, EXO_ERR_PERM, "this needs an administrator's "
	    "elevated console: open Command Prompt or PowerShell with "
	    "\"Run as administrator\" and try again"));
}

/* ---- access lists ---- */

/*
 * Builds a security descriptor granting full access to SYSTEM,
 * Administrators and account (NULL for none), inheriting nothing
 * from the parent folder. Freed with LocalFree.
 */
static int
svc_descriptor(const char *account, PSECURITY_DESCRIPTOR *out,
    struct exo_error *e)
{
	wchar_t		 sddl[512], waccount[256], domain[256];
	wchar_t		*sid_text = NULL;
	BYTE		 sid[SECURITY_MAX_SID_SIZE];
	DWORD		 sid_len = sizeof(sid), domain_len = 256;
	SID_NAME_USE	 use;

	*out = NULL;
	_snwprintf(sddl, 512, L"%ls", L"D:P(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)");
	if (account != NULL) {
		if (svc_wide(account, waccount, 256) != EXO_OK)
			return (err_set(e, EXO_ERR_INVALID, "the account name "
			    "is not valid UTF-8"));
		if (!LookupAccountNameW(NULL, waccount, sid, &sid_len, domain,
		    &domain_len, &use))
			return (svc_fail(e, EXO_ERR_NOTFOUND, GetLastError(),
			    "looking up the account given with --account"));
		if (!ConvertSidToStringSidW(sid, &sid_text))
			return (svc_fail(e, EXO_ERR_IO, GetLastError(),
			    "ConvertSidToStringSidW"));
		_snwprintf(sddl + wcslen(sddl), 512 - wcslen(sddl),
		    L"(A;OICI;FA;;;%ls)", sid_text);
		sddl[511] = L'\0';
		LocalFree(sid_text);
	}
	if (!ConvertStringSecurityDescriptorToSecurityDescriptorW(sddl,
	    SDDL_REVISION_1, out, NULL))
		return (svc_fail(e, EXO_ERR_IO, GetLastError(),
		    "building the access list"));
	return (EXO_OK);
}

/* Replaces the access list of path with the one of sd. */
static int
svc_apply_acl(const wchar_t *path, PSECURITY_DESCRIPTOR sd,
    struct exo_error *e)
{
	PACL	dacl = NULL;
	BOOL	present = FALSE, defaulted = FALSE;
	DWORD	rc;

	if (!GetSecurityDescriptorDacl(sd, &present, &dacl, &defaulted) ||
	    !present)
		return (err_set(e, EXO_ERR_IO, "the access list is empty"));
	rc = SetNamedSecurityInfoW((wchar_t *)path, SE_FILE_OBJECT,
	    DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION,
	    NULL, NULL, dacl, NULL);
	if (rc != ERROR_SUCCESS)
		return (svc_fail(e, EXO_ERR_PERM, rc, "setting the access "
		    "list"));
	return (EXO_OK);
}

/* ---- copying the program and the data ---- */

static int
svc_mkdir(const wchar_t *dir, struct exo_error *e)
{
	if (CreateDirectoryW(dir, NULL) ||
	    GetLastError() == ERROR_ALREADY_EXISTS)
		return (EXO_OK);
	return (svc_fail(e, EXO_ERR_IO, GetLastError(), "creating the "
	    "folder"));
}

/* Copies the running executable into the program folder. */
static int
svc_copy_program(wchar_t exe[MAX_PATH], plat_svc_say_fn say, void *ctx,
    struct exo_error *e)
{
	wchar_t	self[MAX_PATH], dir[MAX_PATH];
	char	text[PLAT_PATH_MAX];
	DWORD	n;
	int	rc;

	n = GetModuleFileNameW(NULL, self, MAX_PATH);
	if (n == 0 || n >= MAX_PATH)
		return (svc_fail(e, EXO_ERR_IO, GetLastError(),
		    "GetModuleFileNameW"));
	if ((rc = svc_folder(CSIDL_PROGRAM_FILES, dir, e)) != EXO_OK)
		return (rc);
	if ((rc = svc_mkdir(dir, e)) != EXO_OK)
		return (rc);
	if (svc_join(exe, MAX_PATH, dir, L"exoconnect.exe") != EXO_OK)
		return (err_set(e, EXO_ERR_TOOLONG, "the program path is too "
		    "long"));

	svc_narrow(exe, text, sizeof(text));
	if (_wcsicmp(self, exe) == 0) {
		svc_say(say, ctx, "The program already runs from %s.", text);
		return (EXO_OK);
	}
	if (!CopyFileW(self, exe, FALSE))
		return (svc_fail(e, EXO_ERR_IO, GetLastError(), "copying the "
		    "program"));
	svc_say(say, ctx, "Copied the program to %s.", text);
	return (EXO_OK);
}

/* Copies from into to unless to exists; sets the access list of to. */
static int
svc_copy_file(const wchar_t *from, const wchar_t *to,
    PSECURITY_DESCRIPTOR sd, plat_svc_say_fn say, void *ctx,
    struct exo_error *e)
{
	char	text[PLAT_PATH_MAX];

	svc_narrow(to, text, sizeof(text));
	if (GetFileAttributesW(to) != INVALID_FILE_ATTRIBUTES) {
		svc_say(say, ctx, "Kept the existing %s.", text);
		return (EXO_OK);
	}
	if (GetFileAttributesW(from) == INVALID_FILE_ATTRIBUTES)
		return (EXO_OK);
	if (!CopyFileW(from, to, TRUE))
		return (svc_fail(e, EXO_ERR_IO, GetLastError(), "copying a "
		    "data file"));
	if (svc_apply_acl(to, sd, e) != EXO_OK)
		return (e->code);
	svc_say(say, ctx, "Copied %s.", text);
	return (EXO_OK);
}

/* Reads a whole file of at most SVC_SECRETS_MAX bytes. */
static int
svc_read(const wchar_t *path, BYTE **data, DWORD *len, struct exo_error *e)
{
	LARGE_INTEGER	 size;
	HANDLE		 h;
	DWORD		 got = 0;
	int		 rc = EXO_OK;

	*data = NULL;
	h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL,
	    OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return (svc_fail(e, EXO_ERR_IO, GetLastError(), "reading "
		    "secrets.dat"));
	if (!GetFileSizeEx(h, &size) || size.QuadPart > SVC_SECRETS_MAX) {
		rc = err_set(e, EXO_ERR_TOOLONG, "secrets.dat is larger than "
		    "%d bytes", SVC_SECRETS_MAX);
		goto out;
	}
	if ((*data = malloc((size_t)size.QuadPart + 1)) == NULL) {
		rc = err_set(e, EXO_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (!ReadFile(h, *data, (DWORD)size.QuadPart, &got, NULL) ||
	    got != (DWORD)size.QuadPart) {
		rc = svc_fail(e, EXO_ERR_IO, GetLastError(), "reading "
		    "secrets.dat");
		goto out;
	}
	*len = got;
out:
	CloseHandle(h);
	if (rc != EXO_OK) {
		free(*data);
		*data = NULL;
	}
	return (rc);
}

static int
svc_write_new(const wchar_t *path, const BYTE *data, DWORD len,
    PSECURITY_DESCRIPTOR sd, struct exo_error *e)
{
	SECURITY_ATTRIBUTES	sa = { sizeof(sa), sd, FALSE };
	HANDLE			h;
	DWORD			put = 0;
	BOOL			ok;

	h = CreateFileW(path, GENERIC_WRITE, 0, &sa, CREATE_NEW,
	    FILE_ATTRIBUTE_NORMAL, NULL);
	if (h == INVALID_HANDLE_VALUE)
		return (svc_fail(e, EXO_ERR_IO, GetLastError(), "writing "
		    "secrets.dat"));
	ok = WriteFile(h, data, len, &put, NULL) && put == len &&
	    FlushFileBuffers(h);
	CloseHandle(h);
	if (!ok) {
		DeleteFileW(path);
		return (svc_fail(e, EXO_ERR_IO, GetLastError(), "writing "
		    "secrets.dat"));
	}
	return (EXO_OK);
}

/*
 * Copies secrets.dat, re-encrypted. DPAPI ties the file to the user who
 * wrote it, and the service runs as another account. So it is decrypted
 * as the installing user and encrypted for the machine, which any
 * account of this machine can decrypt. The access list of SYSTEM,
 * Administrators and the service's account protects the copy, and later
 * writes keep the machine scope (plat_secret_scope).
 */
static int
svc_copy_secrets(const wchar_t *from, const wchar_t *to,
    PSECURITY_DESCRIPTOR sd, plat_svc_say_fn say, void *ctx,
    struct exo_error *e)
{
	DATA_BLOB	 in, plain = { 0, NULL }, sealed = { 0, NULL };
	BYTE		*raw = NULL;
	DWORD		 len = 0;
	char		 text[PLAT_PATH_MAX];
	int		 rc;

	svc_narrow(to, text, sizeof(text));
	if (GetFileAttributesW(to) != INVALID_FILE_ATTRIBUTES) {
		svc_say(say, ctx, "Kept the existing %s.", text);
		return (EXO_OK);
	}
	if (GetFileAttributesW(from) == INVALID_FILE_ATTRIBUTES)
		return (EXO_OK);
	if ((rc = svc_read(from, &raw, &len, e)) != EXO_OK)
		return (rc);

	in.cbData = len;
	in.pbData = raw;
	if (!CryptUnprotectData(&in, NULL, NULL, NULL, NULL,
	    CRYPTPROTECT_UI_FORBIDDEN, &plain)) {
		rc = err_set(e, EXO_ERR_AUTH, "secrets.dat cannot be "
		    "decrypted by this user; run service install as the user "
		    "who signed the mailboxes in");
		goto out;
	}
	if (!CryptProtectData(&plain, L"exoconnect", NULL, NULL, NULL,
	    CRYPTPROTECT_UI_FORBIDDEN | CRYPTPROTECT_LOCAL_MACHINE,
	    &sealed)) {
		rc = svc_fail(e, EXO_ERR_IO, GetLastError(),
		    "CryptProtectData");
		goto out;
	}
	rc = svc_write_new(to, sealed.pbData, sealed.cbData, sd, e);
	if (rc == EXO_OK)
		svc_say(say, ctx, "Copied %s, encrypted for this machine.",
		    text);
out:
	if (plain.pbData != NULL) {
		SecureZeroMemory(plain.pbData, plain.cbData);
		LocalFree(plain.pbData);
	}
	if (sealed.pbData != NULL)
		LocalFree(sealed.pbData);
	free(raw);
	return (rc);
}

/* Creates the data folder with its access list and copies the data. */
static int
svc_copy_data(const struct plat_svc_install *in, wchar_t conf[MAX_PATH],
    plat_svc_say_fn say, void *ctx, struct exo_error *e)
{
	PSECURITY_DESCRIPTOR	 sd = NULL;
	wchar_t			 dir[MAX_PATH], src_dir[MAX_PATH];
	wchar_t			 src[MAX_PATH], dst[MAX_PATH];
	char			 text[PLAT_PATH_MAX];
	int			 rc;

	if ((rc = svc_folder(CSIDL_COMMON_APPDATA, dir, e)) != EXO_OK)
		return (rc);
	if (svc_wide(in->data_dir, src_dir, MAX_PATH) != EXO_OK ||
	    svc_wide(in->config_path, src, MAX_PATH) != EXO_OK)
		return (err_set(e, EXO_ERR_TOOLONG, "the settings path is "
		    "too long"));
	if ((rc = svc_descriptor(in->account, &sd, e)) != EXO_OK)
		return (rc);
	if ((rc = svc_mkdir(dir, e)) != EXO_OK ||
	    (rc = svc_apply_acl(dir, sd, e)) != EXO_OK)
		goto out;
	svc_narrow(dir, text, sizeof(text));
	svc_say(say, ctx, "Restricted %s to SYSTEM, Administrators%s%s.",
	    text, in->account != NULL ? " and " : "",
	    in->account != NULL ? in->account : "");

	svc_join(conf, MAX_PATH, dir, SVC_CONFIG_FILE);
	if ((rc = svc_copy_file(src, conf, sd, say, ctx, e)) != EXO_OK)
		goto out;
	for (size_t i = 0; i < sizeof(svc_data_files) /
	    sizeof(svc_data_files[0]); i++) {
		if (svc_join(src, MAX_PATH, src_dir, svc_data_files[i]) != 0 ||
		    svc_join(dst, MAX_PATH, dir, svc_data_files[i]) != 0) {
			rc = err_set(e, EXO_ERR_TOOLONG, "a data path is too "
			    "long");
			goto out;
		}
		if ((rc = svc_copy_file(src, dst, sd, say, ctx, e)) != EXO_OK)
			goto out;
	}
	/* On FAT and exFAT, secrets.dat is in the user's own folder. */
	if (in->secrets_path != NULL) {
		if (svc_wide(in->secrets_path, src, MAX_PATH) != EXO_OK)
			src[0] = L'\0';
	} else if (svc_join(src, MAX_PATH, src_dir, SVC_SECRETS_FILE) != 0)
		src[0] = L'\0';
	if (src[0] == L'\0' ||
	    svc_join(dst, MAX_PATH, dir, SVC_SECRETS_FILE) != 0) {
		rc = err_set(e, EXO_ERR_TOOLONG, "a data path is too long");
		goto out;
	}
	rc = svc_copy_secrets(src, dst, sd, say, ctx, e);
out:
	LocalFree(sd);
	return (rc);
}

/* ---- the firewall and the Event Log source ---- */

/*
 * Runs netsh from the system folder (never from PATH, since this runs
 * elevated) with args, its output discarded. Returns its exit code, or
 * -1 when it could not run or did not end within SVC_NETSH_WAIT_MS.
 */
static long
svc_netsh(const wchar_t *args)
{
	STARTUPINFOW		 si;
	PROCESS_INFORMATION	 pi;
	SECURITY_ATTRIBUTES	 sa = { sizeof(sa), NULL, TRUE };
	wchar_t			 sys[MAX_PATH], cmd[SVC_CMD_MAX];
	wchar_t			 exe[MAX_PATH];
	HANDLE			 nul;
	DWORD			 code = (DWORD)-1;
	UINT			 n;

	n = GetSystemDirectoryW(sys, MAX_PATH);
	if (n == 0 || n >= MAX_PATH ||
	    svc_join(exe, MAX_PATH, sys, L"netsh.exe") != EXO_OK)
		return (-1);
	if (_snwprintf(cmd, SVC_CMD_MAX, L"\"%ls\" %ls", exe, args) < 0)
		return (-1);
	cmd[SVC_CMD_MAX - 1] = L'\0';

	nul = CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE,
	    FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, OPEN_EXISTING, 0, NULL);
	memset(&si, 0, sizeof(si));
	si.cb = sizeof(si);
	si.dwFlags = STARTF_USESTDHANDLES;
	si.hStdInput = si.hStdOutput = si.hStdError = nul;
	if (!CreateProcessW(exe, cmd, NULL, NULL, TRUE, CREATE_NO_WINDOW,
	    NULL, NULL, &si, &pi)) {
		if (nul != INVALID_HANDLE_VALUE)
			CloseHandle(nul);
		return (-1);
	}
	if (WaitForSingleObject(pi.hProcess, SVC_NETSH_WAIT_MS) !=
	    WAIT_OBJECT_0 || !GetExitCodeProcess(pi.hProcess, &code))
		code = (DWORD)-1;
	CloseHandle(pi.hThread);
	CloseHandle(pi.hProcess);
	if (nul != INVALID_HANDLE_VALUE)
		CloseHandle(nul);
	return ((long)(int)code);
}

/* Adds one inbound rule named exoconnect for the ports of in. */
static void
svc_firewall_add(const struct plat_svc_install *in, const wchar_t *exe,
    plat_svc_say_fn say, void *ctx)
{
	wchar_t	args[SVC_CMD_MAX], ports[64];
	char	text[64];
	size_t	used = 0;
	long	code;

	if (in->nports == 0) {
		svc_say(say, ctx, "Added no firewall rule: no server is "
		    "enabled.");
		return;
	}
	ports[0] = L'\0';
	/* At most 4 ports of 5 digits and their commas: no truncation. */
	for (int i = 0; i < in->nports && i < PLAT_SVC_PORTS_MAX; i++)
		used += (size_t)_snwprintf(ports + used, 64 - used, L"%ls%u",
		    i > 0 ? L"," : L"", in->ports[i] & 0xffff);
	svc_narrow(ports, text, sizeof(text));

	_snwprintf(args, SVC_CMD_MAX, L"advfirewall firewall add rule "
	    L"name=\"%ls\" dir=in action=allow protocol=TCP localport=%ls "
	    L"program=\"%ls\" enable=yes profile=any", SVC_FIREWALL_RULE,
	    ports, exe);
	args[SVC_CMD_MAX - 1] = L'\0';
	code = svc_netsh(args);
	if (code == 0)
		svc_say(say, ctx, "Added the inbound firewall rule \"%s\" for "
		    "TCP ports %s.", PLAT_SVC_NAME, text);
	else
		svc_say(say, ctx, "Warning: adding the firewall rule failed "
		    "(netsh exit code %ld). Allow TCP ports %s inbound by "
		    "hand.", code, text);
}

static void
svc_firewall_delete(plat_svc_say_fn say, void *ctx)
{
	long	code;

	code = svc_netsh(L"advfirewall firewall delete rule name=\""
	    SVC_FIREWALL_RULE L"\"");
	if (code == 0)
		svc_say(say, ctx, "Deleted the firewall rule \"%s\".",
		    PLAT_SVC_NAME);
	else
		svc_say(say, ctx, "Deleted no firewall rule (netsh exit code "
		    "%ld; the rule may not exist).", code);
}

static int
svc_event_source_add(struct exo_error *e)
{
	HKEY	key;
	DWORD	types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE |
		    EVENTLOG_INFORMATION_TYPE;
	LONG	rc;

	rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, SVC_EVENT_KEY, 0, NULL, 0,
	    KEY_SET_VALUE, NULL, &key, NULL);
	if (rc != ERROR_SUCCESS)
		return (svc_fail(e, EXO_ERR_IO, (DWORD)rc, "registering the "
		    "Event Log source"));
	rc = RegSetValueExW(key, L"EventMessageFile", 0, REG_EXPAND_SZ,
	    (const BYTE *)SVC_EVENT_FILE, sizeof(SVC_EVENT_FILE));
	if (rc == ERROR_SUCCESS)
		rc = RegSetValueExW(key, L"TypesSupported", 0, REG_DWORD,
		    (const BYTE *)&types, sizeof(types));
	RegCloseKey(key);
	if (rc != ERROR_SUCCESS)
		return (svc_fail(e, EXO_ERR_IO, (DWORD)rc, "registering the "
		    "Event Log source"));
	return (EXO_OK);
}

/* ---- the service manager ---- */

static SC_HANDLE
svc_manager(DWORD access, struct exo_error *e)
{
	SC_HANDLE	scm;

	scm = OpenSCManagerW(NULL, NULL, access);
	if (scm == NULL)
		svc_fail(e, GetLastError() == ERROR_ACCESS_DENIED ?
		    EXO_ERR_PERM : EXO_ERR_IO, GetLastError(),
		    "opening the service manager");
	return (scm);
}

/* Opens the service; a missing one is EXO_ERR_NOTFOUND. */
static SC_HANDLE
svc_open(SC_HANDLE scm, DWORD access, struct exo_error *e)
{
	SC_HANDLE	svc;

	svc = OpenServiceW(scm, SVC_WNAME, access);
	if (svc != NULL)
		return (svc);
	if (GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST)
		err_set(e, EXO_ERR_NOTFOUND, "the service %s is not "
		    "installed; `exoconnect service install` installs it",
		    PLAT_SVC_NAME);
	else
		svc_fail(e, GetLastError() == ERROR_ACCESS_DENIED ?
		    EXO_ERR_PERM : EXO_ERR_IO, GetLastError(),
		    "opening the service");
	return (NULL);
}

/* Sets the restart actions: 5 s, 30 s, then 120 s after each failure. */
static int
svc_configure(SC_HANDLE svc, struct exo_error *e)
{
	SERVICE_DESCRIPTIONW			desc;
	SERVICE_FAILURE_ACTIONSW		fa;
	SERVICE_FAILURE_ACTIONS_FLAG		flag;
	SC_ACTION				actions[3] = {
		{ SC_ACTION_RESTART, SVC_RESTART_1_MS },
		{ SC_ACTION_RESTART, SVC_RESTART_2_MS },
		{ SC_ACTION_RESTART, SVC_RESTART_3_MS },
	};

	desc.lpDescription = (wchar_t *)SVC_DESCRIPTION;
	ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &desc);

	memset(&fa, 0, sizeof(fa));
	fa.dwResetPeriod = SVC_FAILURE_RESET_S;
	fa.cActions = 3;
	fa.lpsaActions = actions;
	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS, &fa))
		return (svc_fail(e, EXO_ERR_IO, GetLastError(), "setting the "
		    "restart actions"));
	/* Also restart when the service stops itself with an error, not
	 * only when the process crashes. */
	flag.fFailureActionsOnNonCrashFailures = TRUE;
	if (!ChangeServiceConfig2W(svc, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG,
	    &flag))
		return (svc_fail(e, EXO_ERR_IO, GetLastError(), "setting the "
		    "restart actions"));
	return (EXO_OK);
}

/* Grants account the right to log on as a service. */
static int
svc_grant_logon(const char *account, struct exo_error *e)
{
	LSA_OBJECT_ATTRIBUTES	 oa;
	LSA_UNICODE_STRING	 right;
	LSA_HANDLE		 policy;
	wchar_t			 waccount[256], domain[256];
	wchar_t			 name[] = SE_SERVICE_LOGON_NAME;
	BYTE			 sid[SECURITY_MAX_SID_SIZE];
	DWORD			 sid_len = sizeof(sid), domain_len = 256;
	SID_NAME_USE		 use;
	NTSTATUS		 st;

	if (svc_wide(account, waccount, 256) != EXO_OK ||
	    !LookupAccountNameW(NULL, waccount, sid, &sid_len, domain,
	    &domain_len, &use))
		return (svc_fail(e, EXO_ERR_NOTFOUND, GetLastError(),
		    "looking up the account"));
	memset(&oa, 0, sizeof(oa));
	st = LsaOpenPolicy(NULL, &oa, POLICY_LOOKUP_NAMES |
	    POLICY_CREATE_ACCOUNT, &policy);
	if (st != 0)
		return (svc_fail(e, EXO_ERR_PERM, LsaNtStatusToWinError(st),
		    "LsaOpenPolicy"));
	right.Buffer = name;
	right.Length = (USHORT)(wcslen(name) * sizeof(wchar_t));
	right.MaximumLength = right.Length + sizeof(wchar_t);
	st = LsaAddAccountRights(policy, sid, &right, 1);
	LsaClose(policy);
	if (st != 0)
		return (svc_fail(e, EXO_ERR_PERM, LsaNtStatusToWinError(st),
		    "granting \"Log on as a service\""));
	return (EXO_OK);
}

static int
svc_create(const struct plat_svc_install *in, const wchar_t *exe,
    const wchar_t *conf, plat_svc_say_fn say, void *ctx,
    struct exo_error *e)
{
	struct exo_error	 warn;
	SC_HANDLE		 scm, svc = NULL;
	wchar_t			 cmd[SVC_CMD_MAX], account[256];
	wchar_t			 password[256];
	int			 rc = EXO_OK;

	if (_snwprintf(cmd, SVC_CMD_MAX, L"\"%ls\" -c \"%ls\" service run",
	    exe, conf) < 0)
		return (err_set(e, EXO_ERR_TOOLONG, "the service's command "
		    "line is too long"));
	cmd[SVC_CMD_MAX - 1] = L'\0';
	account[0] = password[0] = L'\0';
	if (in->account != NULL &&
	    svc_wide(in->account, account, 256) != EXO_OK)
		return (err_set(e, EXO_ERR_INVALID, "the account name is too "
		    "long"));
	if (in->password != NULL &&
	    svc_wide(in->password, password, 256) != EXO_OK)
		return (err_set(e, EXO_ERR_INVALID, "the password is too "
		    "long"));
	if (in->account != NULL && (rc = svc_grant_logon(in->account, e)) !=
	    EXO_OK)
		goto out_wipe;

	if ((scm = svc_manager(SC_MANAGER_CREATE_SERVICE, e)) == NULL) {
		rc = e->code;
		goto out_wipe;
	}
	svc = CreateServiceW(scm, SVC_WNAME, SVC_DISPLAY, SERVICE_ALL_ACCESS,
	    SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
	    SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL,
	    in->account != NULL ? account : NULL,
	    in->password != NULL ? password : NULL);
	if (svc == NULL) {
		rc = svc_fail(e, GetLastError() == ERROR_SERVICE_EXISTS ?
		    EXO_ERR_EXISTS : EXO_ERR_IO, GetLastError(),
		    "registering the service");
		goto out;
	}
	svc_say(say, ctx, "Registered the service %s (automatic start, "
	    "account %s).", PLAT_SVC_NAME, in->account != NULL ?
	    in->account : "LocalSystem");
	/* wine 8.0 does not implement the restart actions; the service
	 * works without them, so a failure is a warning. */
	err_clear(&warn);
	if (svc_configure(svc, &warn) == EXO_OK)
		svc_say(say, ctx, "Set it to restart after a failure: after "
		    "%d s, %d s, then %d s.", SVC_RESTART_1_MS / 1000,
		    SVC_RESTART_2_MS / 1000, SVC_RESTART_3_MS / 1000);
	else
		svc_say(say, ctx, "Warning: %s. `sc failure %s reset= %d "
		    "actions= restart/%d/restart/%d/restart/%d` sets them.",
		    warn.msg, PLAT_SVC_NAME, SVC_FAILURE_RESET_S,
		    SVC_RESTART_1_MS, SVC_RESTART_2_MS, SVC_RESTART_3_MS);
out:
	if (svc != NULL)
		CloseServiceHandle(svc);
	CloseServiceHandle(scm);
out_wipe:
	SecureZeroMemory(password, sizeof(password));
	return (rc);
}

int
plat_svc_install(const struct plat_svc_install *in, plat_svc_say_fn say,
    void *ctx, struct exo_error *e)
{
	PSECURITY_DESCRIPTOR	sd;
	SC_HANDLE		scm, svc;
	wchar_t			exe[MAX_PATH], conf[MAX_PATH];
	int			rc;

	if ((scm = svc_manager(SC_MANAGER_CONNECT, e)) == NULL)
		return (e->code);
	svc = OpenServiceW(scm, SVC_WNAME, SERVICE_QUERY_STATUS);
	if (svc != NULL)
		CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	if (svc != NULL)
		return (err_set(e, EXO_ERR_EXISTS, "the service %s is "
		    "installed already; `exoconnect service uninstall` "
		    "removes it", PLAT_SVC_NAME));

	/* An unknown account fails before anything is copied. */
	if (in->account != NULL) {
		if ((rc = svc_descriptor(in->account, &sd, e)) != EXO_OK)
			return (rc);
		LocalFree(sd);
	}
	if ((rc = svc_copy_program(exe, say, ctx, e)) != EXO_OK)
		return (rc);
	if ((rc = svc_copy_data(in, conf, say, ctx, e)) != EXO_OK)
		return (rc);
	if ((rc = svc_event_source_add(e)) != EXO_OK)
		return (rc);
	svc_say(say, ctx, "Registered the Event Log source %s.",
	    PLAT_SVC_NAME);
	if ((rc = svc_create(in, exe, conf, say, ctx, e)) != EXO_OK)
		return (rc);
	svc_firewall_add(in, exe, say, ctx);
	return (EXO_OK);
}

/* ---- starting, stopping, status ---- */

/* Polls until the service leaves pending, for at most wait_ms. */
static DWORD
svc_wait(SC_HANDLE svc, DWORD pending, int wait_ms,
    SERVICE_STATUS_PROCESS *st)
{
	DWORD	need;

	for (int waited = 0; ; waited += SVC_POLL_MS) {
		if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO,
		    (BYTE *)st, sizeof(*st), &need))
			return (0);
		if (st->dwCurrentState != pending || waited >= wait_ms)
			return (st->dwCurrentState);
		Sleep(SVC_POLL_MS);
	}
}

/*
 * Starts svc, retrying for a while when the manager is busy starting
 * another service. wine 8.0 starts the automatic services when a prefix
 * boots and returns "database locked" meanwhile.
 */
static BOOL
svc_start_handle(SC_HANDLE svc)
{
	for (int waited = 0; ; waited += SVC_POLL_MS) {
		if (StartServiceW(svc, 0, NULL))
			return (TRUE);
		if (GetLastError() != ERROR_SERVICE_DATABASE_LOCKED ||
		    waited >= SVC_START_WAIT_MS)
			return (FALSE);
		Sleep(SVC_POLL_MS);
	}
}

int
plat_svc_start(struct exo_error *e)
{
	SERVICE_STATUS_PROCESS	 st;
	SC_HANDLE		 scm, svc;
	DWORD			 state;
	int			 rc = EXO_OK;

	if ((scm = svc_manager(SC_MANAGER_CONNECT, e)) == NULL)
		return (e->code);
	if ((svc = svc_open(scm, SERVICE_START | SERVICE_QUERY_STATUS,
	    e)) == NULL) {
		CloseServiceHandle(scm);
		return (e->code);
	}
	if (!svc_start_handle(svc)) {
		if (GetLastError() == ERROR_SERVICE_ALREADY_RUNNING)
			rc = err_set(e, EXO_ERR_EXISTS, "the service %s runs "
			    "already", PLAT_SVC_NAME);
		else
			rc = svc_fail(e, EXO_ERR_IO, GetLastError(),
			    "starting the service");
		goto out;
	}
	state = svc_wait(svc, SERVICE_START_PENDING, SVC_START_WAIT_MS, &st);
	if (state == SERVICE_START_PENDING)
		rc = err_set(e, EXO_ERR_TIMEOUT, "the service did not finish "
		    "starting within %d s", SVC_START_WAIT_MS / 1000);
	else if (state != SERVICE_RUNNING)
		rc = err_set(e, EXO_ERR_IO, "the service stopped while "
		    "starting (exit code %lu); the Event Log and the log file "
		    "in %%ProgramData%%\\exoconnect say why",
		    (unsigned long)(st.dwWin32ExitCode ==
		    ERROR_SERVICE_SPECIFIC_ERROR ? st.dwServiceSpecificExitCode :
		    st.dwWin32ExitCode));
out:
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	return (rc);
}

/* Stops svc, waiting up to SVC_STOP_WAIT_MS; a stopped one is fine. */
static int
svc_stop_handle(SC_HANDLE svc, struct exo_error *e)
{
	SERVICE_STATUS_PROCESS	st;
	SERVICE_STATUS		ss;
	DWORD			state;

	if (!ControlService(svc, SERVICE_CONTROL_STOP, &ss)) {
		if (GetLastError() == ERROR_SERVICE_NOT_ACTIVE)
			return (EXO_OK);
		return (svc_fail(e, EXO_ERR_IO, GetLastError(), "stopping the "
		    "service"));
	}
	state = svc_wait(svc, SERVICE_STOP_PENDING, SVC_STOP_WAIT_MS, &st);
	if (state != SERVICE_STOPPED)
		return (err_set(e, EXO_ERR_TIMEOUT, "the service did not stop "
		    "within %d s", SVC_STOP_WAIT_MS / 1000));
	return (EXO_OK);
}

int
plat_svc_stop(struct exo_error *e)
{
	SC_HANDLE	scm, svc;
	int		rc;

	if ((scm = svc_manager(SC_MANAGER_CONNECT, e)) == NULL)
		return (e->code);
	if ((svc = svc_open(scm, SERVICE_STOP | SERVICE_QUERY_STATUS,
	    e)) == NULL) {
		CloseServiceHandle(scm);
		return (e->code);
	}
	rc = svc_stop_handle(svc, e);
	CloseServiceHandle(svc);
	CloseServiceHandle(scm);
	return (rc);
}

static const struct {
	DWORD			win;
	enum plat_svc_state	state;
} svc_states[] = {
	{ SERVICE_STOPPED, PLAT_SVC_STOPPED },
	{ SERVICE_START_PENDING, PLAT_SVC_STARTING },
	{ SERVICE_RUNNING, PLAT_SVC_RUNNING },
	{ SERVICE_STOP_PENDING, PLAT_SVC_STOPPING },
};

static const struct {
	DWORD		 win;
	const char	*name;
} svc_start_types[] = {
	{ SERVICE_AUTO_START, "automatic" },
	{ SERVICE_DEMAND_START, "manual" },
	{ SERVICE_DISABLED, "disabled" },
	{ SERVICE_BOOT_START, "boot" },
	{ SERVICE_SYSTEM_START, "system" },
};

static void
svc_status_config(SC_HANDLE svc, struct plat_svc_status *out)
{
	QUERY_SERVICE_CONFIGW	*qc;
	DWORD			 need = 0;

	QueryServiceConfigW(svc, NULL, 0, &need);
	if (need == 0 || (qc = malloc(need)) == NULL)
		return;
	if (QueryServiceConfigW(svc, qc, need, &need)) {
		svc_narrow(qc->lpBinaryPathName, out->command,
		    sizeof(out->command));
		svc_narrow(qc->lpServiceStartName != NULL ?
		    qc->lpServiceStartName : L"", out->account,
		    sizeof(out->account));
		for (size_t i = 0; i < sizeof(svc_start_types) /
		    sizeof(svc_start_types[0]); i++)
			if (svc_start_types[i].win == qc->dwStartType)
				str_copy(out->start_type,
				    svc_start_types[i].name,
				    sizeof(out->start_type));
	}
	free(qc);
}

int
plat_svc_status(struct plat_svc_status *out, struct exo_error *e)
{
	SERVICE_STATUS_PROCESS	 st;
	SC_HANDLE		 scm, svc;
	DWORD			 need;

	memset(out, 0, sizeof(*out));
	if ((scm = svc_manager(SC_MANAGER_CONNECT, e)) == NULL)
		return (e->code);
	svc = svc_open(scm, SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG, e);
	CloseServiceHandle(scm);
	if (svc == NULL) {
		if (e->code != EXO_ERR_NOTFOUND)
			return (e->code);
		err_clear(e);
		return (EXO_OK);
	}
	if (!QueryServiceStatusEx(svc, SC_STATUS_PROCESS_INFO, (BYTE *)&st,
	    sizeof(st), &need)) {
		svc_fail(e, EXO_ERR_IO, GetLastError(), "querying the "
		    "service");
		CloseServiceHandle(svc);
		return (e->code);
	}
	out->state = PLAT_SVC_OTHER;
	for (size_t i = 0; i < sizeof(svc_states) / sizeof(svc_states[0]);
	    i++)
		if (svc_states[i].win == st.dwCurrentState)
			out->state = svc_states[i].state;
	out->pid = (long)st.dwProcessId;
	out->exit_code = st.dwWin32ExitCode == ERROR_SERVICE_SPECIFIC_ERROR ?
	    st.dwServiceSpecificExitCode : st.dwWin32ExitCode;
	if (st.dwWin32ExitCode == ERROR_SERVICE_NEVER_STARTED)
		out->exit_code = 0;
	svc_status_config(svc, out);
	CloseServiceHandle(svc);
	return (EXO_OK);
}

/* ---- uninstalling ---- */

/* Deletes a folder and what it contains, down to depth levels. */
static int
svc_delete_tree(const wchar_t *dir, int depth)
{
	WIN32_FIND_DATAW	fd;
	wchar_t			pattern[MAX_PATH], path[MAX_PATH];
	HANDLE			h;
	int			ok = 1;

	if (depth < 0 || svc_join(pattern, MAX_PATH, dir, L"*") != EXO_OK)
		return (0);
	h = FindFirstFileW(pattern, &fd);
	if (h != INVALID_HANDLE_VALUE) {
		do {
			if (wcscmp(fd.cFileName, L".") == 0 ||
			    wcscmp(fd.cFileName, L"..") == 0)
				continue;
			if (svc_join(path, MAX_PATH, dir, fd.cFileName) !=
			    EXO_OK) {
				ok = 0;
				continue;
			}
			/* A link is deleted, never followed. */
			if ((fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) &&
			    !(fd.dwFileAttributes &
			    FILE_ATTRIBUTE_REPARSE_POINT))
				ok &= svc_delete_tree(path, depth - 1);
			else if (fd.dwFileAttributes &
			    FILE_ATTRIBUTE_DIRECTORY)
				ok &= RemoveDirectoryW(path) != 0;
			else
				ok &= DeleteFileW(path) != 0;
		} while (FindNextFileW(h, &fd));
		FindClose(h);
	}
	return (ok && RemoveDirectoryW(dir));
}

/* Deletes the installed program, or schedules it for the next reboot. */
static void
svc_delete_program(plat_svc_say_fn say, void *ctx)
{
	struct exo_error	e;
	wchar_t			dir[MAX_PATH], exe[MAX_PATH];
	char			text[PLAT_PATH_MAX];

	err_clear(&e);
	if (svc_folder(CSIDL_PROGRAM_FILES, dir, &e) != EXO_OK ||
	    svc_join(exe, MAX_PATH, dir, L"exoconnect.exe") != EXO_OK)
		return;
	svc_narrow(exe, text, sizeof(text));
	if (DeleteFileW(exe) || GetLastError() == ERROR_FILE_NOT_FOUND) {
		RemoveDirectoryW(dir);
		svc_say(say, ctx, "Deleted %s.", text);
		return;
	}
	/* The running program is the installed one. */
	if (MoveFileExW(exe, NULL, MOVEFILE_DELAY_UNTIL_REBOOT)) {
		MoveFileExW(dir, NULL, MOVEFILE_DELAY_UNTIL_REBOOT);
		svc_say(say, ctx, "%s is in use; Windows deletes it at the "
		    "next restart.", text);
	} else
		svc_say(say, ctx, "Warning: could not delete %s.", text);
}

int
plat_svc_uninstall(int delete_data, plat_svc_say_fn say, void *ctx,
    struct exo_error *e)
{
	SC_HANDLE	scm, svc;
	wchar_t		dir[MAX_PATH];
	char		text[PLAT_PATH_MAX];
	int		rc;

	if ((scm = svc_manager(SC_MANAGER_CONNECT, e)) == NULL)
		return (e->code);
	svc = svc_open(scm, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE, e);
	CloseServiceHandle(scm);
	if (svc == NULL)
		return (e->code);
	if ((rc = svc_stop_handle(svc, e)) != EXO_OK) {
		CloseServiceHandle(svc);
		return (rc);
	}
	if (!DeleteService(svc)) {
		rc = svc_fail(e, EXO_ERR_IO, GetLastError(), "deleting the "
		    "service");
		CloseServiceHandle(svc);
		return (rc);
	}
	CloseServiceHandle(svc);
	svc_say(say, ctx, "Stopped and deleted the service %s.",
	    PLAT_SVC_NAME);

	svc_firewall_delete(say, ctx);
	if (RegDeleteKeyW(HKEY_LOCAL_MACHINE, SVC_EVENT_KEY) ==
	    ERROR_SUCCESS)
		svc_say(say, ctx, "Deleted the Event Log source %s.",
		    PLAT_SVC_NAME);
	svc_delete_program(say, ctx);

	if ((rc = svc_folder(CSIDL_COMMON_APPDATA, dir, e)) != EXO_OK)
		return (rc);
	svc_narrow(dir, text, sizeof(text));
	if (!delete_data)
		svc_say(say, ctx, "Kept the settings and data in %s.", text);
	else if (svc_delete_tree(dir, SVC_DELETE_DEPTH))
		svc_say(say, ctx, "Deleted %s.", text);
	else
		return (err_set(e, EXO_ERR_IO, "could not delete all of %s",
		    text));
	return (EXO_OK);
}

/* ---- running under the service manager ---- */

static int			(*svc_serve_fn)(void *);
static void			(*svc_stop_fn)(void *);
static void			 *svc_arg;
static int			  svc_result;
static SERVICE_STATUS_HANDLE	  svc_handle;
static SRWLOCK			  svc_lock = SRWLOCK_INIT;
static DWORD			  svc_checkpoint;

/* Reports state to the manager; controls are accepted while running. */
static void
svc_report(DWORD state, DWORD exit_code, DWORD hint_ms)
{
	SERVICE_STATUS	st;

	AcquireSRWLockExclusive(&svc_lock);
	memset(&st, 0, sizeof(st));
	st.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
	st.dwCurrentState = state;
	if (state == SERVICE_RUNNING)
		st.dwControlsAccepted = SERVICE_ACCEPT_STOP |
		    SERVICE_ACCEPT_SHUTDOWN;
	if (exit_code != 0) {
		st.dwWin32ExitCode = ERROR_SERVICE_SPECIFIC_ERROR;
		st.dwServiceSpecificExitCode = exit_code;
	}
	st.dwWaitHint = hint_ms;
	if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING)
		st.dwCheckPoint = ++svc_checkpoint;
	if (svc_handle != NULL)
		SetServiceStatus(svc_handle, &st);
	ReleaseSRWLockExclusive(&svc_lock);
}

static DWORD WINAPI
svc_control(DWORD control, DWORD type, void *data, void *ctx)
{
	(void)type;
	(void)data;
	(void)ctx;
	switch (control) {
	case SERVICE_CONTROL_STOP:
	case SERVICE_CONTROL_SHUTDOWN:
		svc_report(SERVICE_STOP_PENDING, 0, SVC_STOP_HINT_MS);
		svc_stop_fn(svc_arg);
		return (NO_ERROR);
	case SERVICE_CONTROL_INTERROGATE:
		return (NO_ERROR);
	default:
		return (ERROR_CALL_NOT_IMPLEMENTED);
	}
}

static void WINAPI
svc_main(DWORD argc, wchar_t **argv)
{
	(void)argc;
	(void)argv;
	svc_handle = RegisterServiceCtrlHandlerExW(SVC_WNAME, svc_control,
	    NULL);
	if (svc_handle == NULL) {
		svc_result = EXO_ERR_IO;
		return;
	}
	svc_report(SERVICE_START_PENDING, 0, SVC_START_HINT_MS);
	svc_result = svc_serve_fn(svc_arg);
	svc_report(SERVICE_STOPPED, (DWORD)svc_result, 0);
}

void
plat_svc_running(void)
{
	svc_report(SERVICE_RUNNING, 0, 0);
}

int
plat_svc_run(int (*serve)(void *arg), void (*on_stop)(void *arg),
    void *arg, struct exo_error *e)
{
	SERVICE_TABLE_ENTRYW	table[] = {
		{ (wchar_t *)SVC_WNAME, svc_main },
		{ NULL, NULL },
	};

	svc_serve_fn = serve;
	svc_stop_fn = on_stop;
	svc_arg = arg;
	if (!StartServiceCtrlDispatcherW(table)) {
		if (GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
			return (err_set(e, EXO_ERR_INVALID, "`service run` is "
			    "for the Windows service manager; use `serve` in "
			    "a console"));
		return (svc_fail(e, EXO_ERR_IO, GetLastError(),
		    "StartServiceCtrlDispatcherW"));
	}
	return (svc_result);
}

/* ---- the Event Log ---- */

static const WORD svc_event_types[] = {
	[PLAT_ALERT_INFO] = EVENTLOG_INFORMATION_TYPE,
	[PLAT_ALERT_WARNING] = EVENTLOG_WARNING_TYPE,
	[PLAT_ALERT_ERROR] = EVENTLOG_ERROR_TYPE,
};

void
plat_svc_alert(enum plat_alert_level level, unsigned id, const char *text)
{
	static _Atomic(HANDLE)	 source;
	HANDLE			 h, none = NULL;
	wchar_t			 w[EXO_ERROR_MSG_MAX * 2];
	const wchar_t		*strings[1] = { w };
	WORD			 type = EVENTLOG_ERROR_TYPE;

	if ((h = atomic_load(&source)) == NULL) {
		if ((h = RegisterEventSourceW(NULL, SVC_WNAME)) == NULL)
			return;
		/* Two threads may both register; one handle is kept. */
		if (!atomic_compare_exchange_strong(&source, &none, h)) {
			DeregisterEventSource(h);
			h = none;
		}
	}
	if ((unsigned)level < sizeof(svc_event_types) /
	    sizeof(svc_event_types[0]))
		type = svc_event_types[level];
	if (id == 0 || id > SVC_EVENT_ID_MAX)
		id = SVC_EVENT_ID_MAX;
	if (svc_wide(text, w, sizeof(w) / sizeof(w[0])) != EXO_OK)
		_snwprintf(w, sizeof(w) / sizeof(w[0]), L"%ls",
		    L"(text not valid UTF-8)");
	ReportEventW(h, type, 0, id, NULL, 1, 0, strings, NULL);
}
