/*
 * plat.h: the platform interface. Everything that differs between POSIX
 * and Windows sits behind these functions, implemented once in
 * plat-posix.c and once in plat-win32.c. No other file tests the platform
 * with #ifdef.
 *
 * Strings are UTF-8 everywhere; plat-win32.c converts to UTF-16 at the
 * Windows API. All functions are thread-safe unless a comment says
 * otherwise.
 */
#ifndef EXO_PLAT_H
#define EXO_PLAT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Initialises sockets and console; call once at start before any other. */
int plat_init(void);

/* ---- sockets ---- */

/* A socket handle: an fd on POSIX, a SOCKET on Windows. */
typedef intptr_t plat_socket;
#define PLAT_SOCKET_INVALID ((plat_socket)-1)

/* Maximum length of a numeric address as plat_accept writes it. */
#define PLAT_ADDR_MAX 64

/*
 * Opens a listening TCP socket on addr ("0.0.0.0", "::", "127.0.0.1") and
 * port (0 picks a free port). Returns EXO_ERR_ADDRINUSE when the port is
 * taken and EXO_ERR_PERM when the port needs privileges, each with a
 * message giving the fix.
 */
int plat_listen(const char *addr, unsigned port, plat_socket *out,
    struct exo_error *e);

/* Returns the local port a socket is bound to, or -1. */
int plat_socket_port(plat_socket s);

/*
 * Waits up to timeout_ms (-1: no limit) for a connection on listener l and
 * accepts it. peer receives the peer's numeric address (without port;
 * IPv4-mapped IPv6 addresses as plain IPv4). Returns EXO_ERR_TIMEOUT when
 * none came, EXO_ERR_CLOSED when the listener was shut down, and
 * EXO_ERR_TRANSIENT when the process is out of file descriptors or memory
 * (the caller waits a moment and retries).
 */
int plat_accept(plat_socket l, int timeout_ms, plat_socket *out,
    char peer[PLAT_ADDR_MAX]);

/*
 * Resolves host and connects to port within timeout_ms. Errors:
 * EXO_ERR_RESOLVE, EXO_ERR_CONNECT, EXO_ERR_TIMEOUT, with a message naming
 * host and port.
 */
int plat_connect(const char *host, unsigned port, int timeout_ms,
    plat_socket *out, struct exo_error *e);

/*
 * Sends all len bytes, waiting at most timeout_ms for each chunk to be
 * accepted. Returns 0, EXO_ERR_TIMEOUT, EXO_ERR_CLOSED or EXO_ERR_IO.
 */
int plat_send_all(plat_socket s, const void *buf, size_t len,
    int timeout_ms);

/*
 * Receives up to len bytes, waiting at most timeout_ms (-1: no limit).
 * Returns the byte count (> 0), 0 at end of stream, or EXO_ERR_TIMEOUT,
 * EXO_ERR_CLOSED (reset) or EXO_ERR_IO.
 */
long plat_recv(plat_socket s, void *buf, size_t len, int timeout_ms);

/*
 * Shuts down the receiving side only: a thread blocked reading s sees the
 * end of the stream, but replies can still be sent.
 */
void plat_socket_shutdown_read(plat_socket s);

/* Shuts down both directions so threads blocked on s return. */
void plat_socket_shutdown(plat_socket s);
void plat_socket_close(plat_socket s);

/* ---- threads and locks ---- */

struct plat_mutex;
struct plat_cond;

/*
 * Starts a detached thread running fn(arg) with a stack of stack_size
 * bytes (0: the platform default).
 */
int plat_thread_start(void (*fn)(void *), void *arg, size_t stack_size);

struct plat_mutex *plat_mutex_new(void);
void plat_mutex_free(struct plat_mutex *m);
void plat_mutex_lock(struct plat_mutex *m);
void plat_mutex_unlock(struct plat_mutex *m);

struct plat_cond *plat_cond_new(void);
void plat_cond_free(struct plat_cond *c);
/* Waits at most timeout_ms (-1: no limit); returns 0 or EXO_ERR_TIMEOUT. */
int plat_cond_wait(struct plat_cond *c, struct plat_mutex *m, int timeout_ms);
void plat_cond_broadcast(struct plat_cond *c);

/* ---- time and randomness ---- */

/* Milliseconds from a monotonic clock. */
int64_t plat_now_ms(void);
/*
 * Milliseconds from the same monotonic clock without the test seams'
 * offset, for deadlines of socket waits, which must follow real time.
 */
int64_t plat_monotonic_ms(void);
/* Seconds since 1970-01-01 UTC. */
int64_t plat_wall_time(void);
void plat_sleep_ms(int ms);
/* Formats t (seconds since the epoch) as "2026-12-04T17:03:26Z". */
void plat_format_time(int64_t t, char buf[32]);

/* Fills buf from the operating system's CSPRNG; returns 0 or EXO_ERR_IO. */
int plat_random(void *buf, size_t len);

/* ---- files and paths ---- */

#define PLAT_PATH_MAX 1024

/*
 * Reads a whole file of at most max bytes into a new NUL-terminated buffer
 * (*data, freed by the caller). EXO_ERR_NOTFOUND when it does not exist,
 * EXO_ERR_TOOLONG when it is larger than max.
 */
int plat_read_file(const char *path, size_t max, char **data, size_t *len,
    struct exo_error *e);

/*
 * Replaces path atomically: writes a temporary file beside it, flushes it
 * to disk, then renames it over path. A crash at any moment leaves the old
 * or the new content. secret != 0 makes the file readable and writable by
 * its owner only (mode 0600; on Windows an ACL for the user, SYSTEM and
 * Administrators; in the installed service's data folder the folder's,
 * see plat_secret_scope). On failure the old file is untouched; a full
 * disk is EXO_ERR_NOSPACE.
 */
int plat_write_file_atomic(const char *path, const void *data, size_t len,
    int secret, struct exo_error *e);

/* Appends to a log file, creating it when missing. */
int plat_append_file(const char *path, const void *data, size_t len);
int plat_file_size(const char *path, int64_t *size);
int plat_file_mtime(const char *path, int64_t *mtime_ns);
int plat_rename(const char *from, const char *to);
int plat_remove(const char *path);
int plat_file_exists(const char *path);

/*
 * Creates dir and its parents (mode 0755); secret != 0 creates the last one
 * with mode 0700. A folder that already exists keeps its mode.
 */
int plat_mkdir_p(const char *dir, int secret, struct exo_error *e);

/*
 * Makes path readable and writable by its owner only. On POSIX, when the
 * group or others have any access, it clears those bits (mode 0600 for a
 * file of mode 0644) and sets *changed to 1. On Windows, when its access
 * list admits anyone but the current user, SYSTEM and Administrators, it
 * gets a protected list of those three and *changed is 1. A file in the
 * installed service's data folder keeps the folder's list (see
 * plat_secret_scope). EXO_ERR_NOTFOUND when path does not exist.
 */
int plat_file_make_private(const char *path, int *changed,
    struct exo_error *e);

/*
 * Returns 1 when files in dir can be restricted to their owner, 0 when the
 * file system has no permissions (FAT, exFAT), so secrets must go elsewhere.
 * A folder that cannot be written (no access, read-only, full) is none of
 * these: the function then returns a negative EXO_ERR_* code and fills e
 * with the folder, the reason and the fix.
 */
int plat_dir_can_protect(const char *dir, struct exo_error *e);

/* Folder of the running executable. */
int plat_exe_dir(char out[PLAT_PATH_MAX]);
/* Per-user config folder: $XDG_CONFIG_HOME/exoconnect, %APPDATA%\exoconnect. */
int plat_user_config_dir(char out[PLAT_PATH_MAX]);
/* Per-user data folder: $XDG_DATA_HOME/exoconnect, %LOCALAPPDATA%\exoconnect. */
int plat_user_data_dir(char out[PLAT_PATH_MAX]);
/* 1 when the current process may create files in dir. */
int plat_dir_writable(const char *dir);
/* Joins dir and name with the platform's separator. */
int plat_path_join(char out[PLAT_PATH_MAX], const char *dir,
    const char *name);
/* Writes the folder part of path into out ("." when there is none). */
void plat_path_dir(char out[PLAT_PATH_MAX], const char *path);

/* ---- inter-process locks ---- */

struct plat_lock;

/*
 * Takes an exclusive lock on the file path (created when missing). wait
 * != 0 blocks until the lock is free; wait == 0 returns EXO_ERR_LOCKED at
 * once when another process holds it. The lock ends with
 * plat_lock_release or with the process.
 */
int plat_lock_acquire(const char *path, int wait, struct plat_lock **out,
    struct exo_error *e);
void plat_lock_release(struct plat_lock *l);
/* Writes text (such as a process id) into the locked file. */
int plat_lock_write(struct plat_lock *l, const char *text);

/* ---- secrets ---- */

/* The accounts that can decrypt what plat_secret_protect wrote. */
enum plat_secret_scope {
	PLAT_SECRET_USER = 0,	/* the current user (the file's owner) */
	PLAT_SECRET_MACHINE,	/* any account of this machine */
};

/*
 * Returns the scope plat_secret_protect uses for the file path. On
 * Windows it is PLAT_SECRET_MACHINE in the installed service's data
 * folder (plat_svc_data_dir) when that folder's access list keeps
 * ordinary users out, as plat_svc_install sets it. The service's account
 * and elevated administrators can then all decrypt the file, and the
 * folder's access list keeps everyone else out. Everywhere else, and
 * always on POSIX, it is PLAT_SECRET_USER.
 */
enum plat_secret_scope plat_secret_scope(const char *path);

/*
 * Protects a secret blob for storage in the file path: identity on POSIX
 * (the file mode protects it), DPAPI on Windows, for the scope that
 * plat_secret_scope returns for path. *out is a new buffer freed by the
 * caller.
 */
int plat_secret_protect(const char *path, const void *in, size_t len,
    void **out, size_t *out_len, struct exo_error *e);
/* Reverses plat_secret_protect for either scope; data from another
 * machine or user fails with EXO_ERR_AUTH and a message asking for a
 * new sign-in. */
int plat_secret_unprotect(const void *in, size_t len, void **out,
    size_t *out_len, struct exo_error *e);

/* Overwrites len bytes at p with zeros in a way the compiler keeps. */
void plat_wipe(void *p, size_t len);

/* ---- processes, console and signals ---- */

long plat_getpid(void);
/* 1 when a process with this id is running. */
int plat_process_alive(long pid);
int plat_hostname(char *buf, size_t len);
/*
 * Writes the numeric unicast addresses of the interfaces that are up,
 * IPv4 and IPv6, into addrs (at most max), skipping loopback addresses
 * and IPv6 link-local ones, whose zone a certificate cannot name. Returns
 * how many it wrote: 0 when the system cannot list them.
 */
size_t plat_local_addrs(char addrs[][PLAT_ADDR_MAX], size_t max);

/* Opens url in the system browser; returns 0 or EXO_ERR_IO. */
int plat_open_browser(const char *url);

/* 1 when stdin and stdout are terminals. */
int plat_is_terminal(void);
/* Writes UTF-8 text to stdout (fd 1) or stderr (fd 2). */
void plat_write_console(int fd, const char *text, size_t len);
/*
 * Reads a line from the terminal without echo (from stdin when it is not a
 * terminal), without the line end. Returns 0, EXO_ERR_CLOSED at end of
 * input, EXO_ERR_TOOLONG, or EXO_ERR_INVALID for a line with a NUL byte.
 */
int plat_read_password(const char *prompt, char *buf, size_t len);

/*
 * Installs handlers so SIGINT and SIGTERM (Ctrl+C, Ctrl+Break, console
 * close on Windows) call on_stop once, and SIGHUP calls on_reload (may be
 * NULL). The callbacks run on a separate thread, never in a signal handler.
 * A second SIGINT or SIGTERM ends the process at once, so a hung shutdown
 * can still be interrupted. Call it before starting other threads.
 */
void plat_on_signals(void (*on_stop)(void), void (*on_reload)(void));

/* Raises the open-file limit as far as the system allows. */
void plat_raise_fd_limit(void);

/* ---- local control channel (plat-posix-ipc.c, plat-win32-ipc.c) ---- */

/*
 * A connection or listener of the channel between `serve` and a screen
 * of the same data folder. POSIX: an AF_UNIX socket PLAT_IPC_NAME in the
 * data folder with mode 0600, or, when that path does not fit sun_path,
 * "exoconnect-HASH.sock" under $XDG_RUNTIME_DIR or /tmp. Windows: the
 * named pipe \\.\pipe\exoconnect-HASH with access for the current user,
 * SYSTEM and Administrators only. HASH is 16 hex digits of FNV-1a over
 * the data folder's absolute path (on Windows with ASCII letters in lower
 * case and "/" as a backslash). The absolute path also decides whether
 * the socket fits sun_path, so a relative and an absolute form of one
 * folder reach the same endpoint. Both sides check that the other
 * runs as the same user or as an administrator (root, SYSTEM) where the
 * platform tells them. On Windows the client also trusts a pipe of the
 * account the installed service runs as (plat_svc_status).
 */
struct plat_ipc;

#define PLAT_IPC_NAME "control.sock"

/* Writes the endpoint of data_dir (a socket path or pipe name) to out. */
void plat_ipc_endpoint(const char *data_dir, char out[PLAT_PATH_MAX]);

/*
 * Listens on the endpoint of data_dir. A stale endpoint that accepts no
 * connection is replaced. A live one makes this fail with EXO_ERR_LOCKED.
 */
int plat_ipc_listen(const char *data_dir, struct plat_ipc **out,
    struct exo_error *e);

/*
 * Waits up to timeout_ms (-1: no limit) for a client and accepts it.
 * Returns EXO_ERR_TIMEOUT when none came, EXO_ERR_PERM (after closing it)
 * for a client of another user, EXO_ERR_CLOSED after plat_ipc_shutdown.
 */
int plat_ipc_accept(struct plat_ipc *l, int timeout_ms,
    struct plat_ipc **out);

/*
 * Connects to the endpoint of data_dir within timeout_ms. EXO_ERR_NOTFOUND
 * when nothing listens there, EXO_ERR_PERM when the listener belongs to
 * another user.
 */
int plat_ipc_connect(const char *data_dir, int timeout_ms,
    struct plat_ipc **out, struct exo_error *e);

/* As plat_send_all and plat_recv, on a channel connection. */
int plat_ipc_send_all(struct plat_ipc *c, const void *buf, size_t len,
    int timeout_ms);
long plat_ipc_recv(struct plat_ipc *c, void *buf, size_t len,
    int timeout_ms);

/*
 * Makes current and later waits on c return EXO_ERR_CLOSED, from any
 * thread. plat_ipc_close frees c (a listener also removes its socket).
 */
void plat_ipc_shutdown(struct plat_ipc *c);
void plat_ipc_close(struct plat_ipc *c);

/* ---- system trust store and proxy ---- */

/* Largest system CA bundle file plat_system_roots reads. */
#define PLAT_ROOTS_FILE_MAX	(16 * 1024 * 1024)

/* Format of the certificates plat_system_roots passes to its callback. */
enum plat_cert_format {
	PLAT_CERT_PEM,	/* a whole bundle of PEM text */
	PLAT_CERT_DER	/* one DER-encoded certificate */
};

/*
 * Called by plat_system_roots with data that stays valid only during the
 * call. Returns the number of certificates it took from data (0 or more)
 * or a negative error code, which ends the walk.
 */
typedef int (*plat_cert_fn)(void *arg, enum plat_cert_format format,
    const void *data, size_t len);

/*
 * Passes the system's trust anchors to fn. On POSIX the CA bundle files
 * of the common distributions are tried in order, each passed whole as
 * PEM text, until fn takes a certificate from one. On Windows every
 * certificate of the ROOT store (the machine's and the current user's,
 * as CertOpenSystemStoreW shows them) is passed as DER. Returns 0, or
 * the first negative code of fn. A missing or unreadable store is not
 * an error: fn is then called for nothing.
 */
int plat_system_roots(plat_cert_fn fn, void *arg);

/*
 * Writes the system's proxy for HTTPS requests to host as
 * "http://host:port" into out, or "" for a direct connection. On Windows
 * this is the Internet Options proxy of the current user (when it names
 * a fixed proxy and its bypass list does not match host), else the
 * WinHTTP proxy (netsh winhttp set proxy). Automatic configuration
 * scripts (PAC) are not evaluated. On POSIX it always writes "", because
 * the proxy variables are read by the caller.
 */
void plat_system_proxy(const char *host, char out[512]);

/* ---- language ---- */

/*
 * Writes the user's Windows display language as a locale name such as
 * "de-DE" or "zh-TW" into buf (cap bytes), or "" when it has none. POSIX
 * always writes "", because the LANG and LC_ variables name the language
 * there and i18n.c reads them itself.
 */
void plat_ui_language(char *buf, size_t cap);

/* ---- running as a system service (plat-win32-svc.c, plat-posix-svc.c) ---- */

/*
 * The Windows service's name, also its Event Log source and the folder
 * name under %ProgramFiles% and %ProgramData%.
 */
#define PLAT_SVC_NAME "exoconnect"
/* Maximum number of TCP ports plat_svc_install opens in the firewall. */
#define PLAT_SVC_PORTS_MAX 4

/* Receives one line (no line end) of what an operation did. */
typedef void (*plat_svc_say_fn)(void *ctx, const char *line);

/* Files and options of a service installation. */
struct plat_svc_install {
	const char	*config_path;	/* settings file to copy */
	const char	*data_dir;	/* folder of users.conf */
	const char	*secrets_path;	/* secrets.dat; elsewhere on FAT */
	const char	*account;	/* NULL: LocalSystem */
	const char	*password;	/* of account; NULL for none */
	unsigned	 ports[PLAT_SVC_PORTS_MAX];	/* firewall rules */
	int		 nports;
};

enum plat_svc_state {
	PLAT_SVC_NOT_INSTALLED = 0,
	PLAT_SVC_STOPPED,
	PLAT_SVC_STARTING,
	PLAT_SVC_RUNNING,
	PLAT_SVC_STOPPING,
	PLAT_SVC_OTHER,		/* paused or pausing */
};

/* The installed service as the service manager reports it. */
struct plat_svc_status {
	enum plat_svc_state state;
	long		pid;			/* 0 when not running */
	unsigned long	exit_code;		/* of the last run */
	char		command[2 * PLAT_PATH_MAX];
	char		account[256];
	char		start_type[32];		/* "automatic", "manual", ... */
};

/* Levels of plat_svc_alert, the Event Log's types. */
enum plat_alert_level {
	PLAT_ALERT_INFO = 0,
	PLAT_ALERT_WARNING,
	PLAT_ALERT_ERROR,
};

/*
 * Returns EXO_OK when the process may install and control services (an
 * elevated administrator on Windows). Otherwise EXO_ERR_PERM with a
 * message asking for an elevated console, or on POSIX EXO_ERR_INVALID
 * with a message pointing to the systemd unit (docs/systemd.md). Every
 * other plat_svc_ function fails the same way on POSIX, except
 * plat_svc_alert.
 */
int plat_svc_check_admin(struct exo_error *e);

/* The folder the installed service keeps its settings and data in. */
int plat_svc_data_dir(char out[PLAT_PATH_MAX], struct exo_error *e);

/*
 * Installs the service: copies the running executable into
 * %ProgramFiles%\exoconnect, copies the settings file and the data files
 * of in->data_dir into plat_svc_data_dir with an ACL for SYSTEM,
 * Administrators and in->account (secrets.dat is re-encrypted with DPAPI
 * for the machine, so the service's account can read it), registers the
 * service (automatic start, restart on failure after 5 s, 30 s, then
 * 120 s), the Event Log source and one inbound firewall rule per port.
 * say receives one line per step. EXO_ERR_EXISTS when the service is
 * installed already. A failed firewall rule is reported through say and
 * does not fail the install.
 */
int plat_svc_install(const struct plat_svc_install *in, plat_svc_say_fn say,
    void *ctx, struct exo_error *e);

/*
 * Reverses plat_svc_install: stops the service (waiting up to 60 s),
 * deletes it, its firewall rules, its Event Log source and the installed
 * executable; delete_data != 0 also deletes plat_svc_data_dir. An
 * executable still in use is deleted at the next reboot, and say tells
 * so. EXO_ERR_NOTFOUND when the service is not installed.
 */
int plat_svc_uninstall(int delete_data, plat_svc_say_fn say, void *ctx,
    struct exo_error *e);

/* Starts the service and waits up to 30 s until it runs or stops. */
int plat_svc_start(struct exo_error *e);
/* Stops the service and waits up to 60 s until it has stopped. */
int plat_svc_stop(struct exo_error *e);
/* Fills *out; a missing service is state PLAT_SVC_NOT_INSTALLED. */
int plat_svc_status(struct plat_svc_status *out, struct exo_error *e);

/*
 * Runs serve(arg) as the service's main function under the service
 * manager (StartServiceCtrlDispatcherW) and returns its result once the
 * service has stopped. A stop or shutdown request from the manager calls
 * on_stop(arg) on another thread. serve calls plat_svc_running once its
 * listeners are open; until then the manager sees "start pending".
 * A result above 0 (an exit code) is reported as a service-specific
 * error, which triggers the restart actions. EXO_ERR_INVALID when the
 * process was not started by the service manager.
 */
int plat_svc_run(int (*serve)(void *arg), void (*on_stop)(void *arg),
    void *arg, struct exo_error *e);
void plat_svc_running(void);

/*
 * Writes text to the Windows Event Log (source PLAT_SVC_NAME, event id
 * id, from 1 to 1000) or to syslog (facility daemon). Never pass a
 * secret. Thread-safe.
 */
void plat_svc_alert(enum plat_alert_level level, unsigned id,
    const char *text);

/* ---- test seams ---- */

/*
 * Compiled into test builds only (-DEXO_TEST_SEAMS). The environment of a
 * test build selects them, so end-to-end tests drive the real binary:
 *   EXO_TEST_CLOCK_FILE  a file holding a number of seconds that
 *                        plat_wall_time and plat_now_ms add, re-read on
 *                        each call, so a test can move time forward;
 *   EXO_TEST_FAST_SLEEP  "1": plat_sleep_ms adds to the offset instead of
 *                        sleeping, and logs nothing;
 *   EXO_TEST_WRITE_FAIL  plat_write_file_atomic fails with
 *                        EXO_ERR_NOSPACE for paths containing this text;
 *   EXO_TEST_RANDOM      a hex string that plat_random repeats instead of
 *                        drawing from the CSPRNG.
 * Unit tests call the setters below instead.
 */
#ifdef EXO_TEST_SEAMS
void plat_test_set_clock_offset(int64_t seconds);
void plat_test_set_fast_sleep(int on);
void plat_test_set_write_fail(const char *path_part);
void plat_test_set_random(const void *bytes, size_t len);
/*
 * Windows only: returns 1 when plat_ipc_connect trusts a pipe owned by
 * the SID owner_sid ("S-1-5-18") while the installed service runs as
 * service_account (the service manager's name, NULL for none), 0 when
 * it rejects the pipe, -1 for an invalid SID.
 */
int plat_test_ipc_owner_trusted(const char *owner_sid,
    const char *service_account);
#endif

#endif
