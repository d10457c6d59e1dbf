/*
 * tui.h: the curses screen. tui_main is the entry point; the rest is
 * shared between the tui-*.c files, one per pane or dialog:
 *
 *   tui-main.c      terminal setup, layout, the main loop and key table
 *   tui-text.c      UTF-8 text of a given width, wrapping, colours
 *   tui-users.c     the users pane and the user list snapshot
 *   tui-servers.c   the servers pane, Start and Stop
 *   tui-log.c       the log pane, the event subscriber and the log view
 *   tui-dialog.c    message, confirm, input and choice dialogs
 *   tui-add.c       Add and Re-sign-in with the device code display
 *   tui-user.c      Delete, Password, Test and User settings
 *   tui-settings.c  the Settings form
 *
 * Everything the screen changes goes through struct admin (admin.h). Only
 * the main thread calls curses; workers report through mutex-guarded
 * fields that the main loop reads every TUI_TICK_MS.
 */
#ifndef EXO_TUI_H
#define EXO_TUI_H

#include <stddef.h>
#include <stdint.h>
#include <wchar.h>

#include "admin.h"
#include "event.h"
#include "i18n.h"
#include "plat.h"
#include "users.h"

/* Smallest terminal the layout supports. */
#define TUI_MIN_COLS 80
#define TUI_MIN_ROWS 24
/* Wait for a key before the screen is redrawn, in milliseconds. */
#define TUI_TICK_MS 200
/* Log lines kept for the log pane and the log view. */
#define TUI_LOG_LINES 2000
/* Maximum length of a log line, in bytes. */
#define TUI_LOG_LINE_MAX 640
/* Maximum length of typed text, in characters. */
#define TUI_INPUT_MAX 512
/* Maximum length of the status line, in bytes. */
#define TUI_STATUS_MAX 600

/* No attribute; curses' A_NORMAL is unsigned, the attributes here int. */
#define TUI_PLAIN 0

/* Colour pairs. In monochrome, the attribute alone distinguishes them. */
enum tui_color {
	TUI_NORMAL = 0,
	TUI_TITLE,
	TUI_HEADING,
	TUI_SELECTED,
	TUI_OK,
	TUI_WARN,
	TUI_ERROR,
	TUI_KEY,
	TUI_DIALOG,
	TUI_FIELD,
	TUI_COLOR_COUNT
};

/* The non-secret part of one user, copied from the user list. */
struct tui_user {
	char		login[USER_LOGIN_MAX];
	char		mailbox[USER_MAILBOX_MAX];
	enum user_state	state;
	char		state_code[32];
	char		state_reason[USER_REASON_MAX];
	char		sender[16];
	int		accept_legacy_charset;
	int		encode_utf8_headers;
	int		relabel_iso2022jp;
	int64_t		last_pop3;
	int64_t		last_smtp;
};

struct tui_log_line {
	enum ev_level	level;
	char		text[TUI_LOG_LINE_MAX];	/* rendered, with the time */
	/*
	 * The event, kept to render it again in another language. It is the
	 * English template, then each parameter's name, value and mark ("m"
	 * for a message id, "e" and the layout for an error, else empty),
	 * each ended by a NUL. NULL when out of memory.
	 */
	char		*source;
	int		 nparams;
	int64_t		 time;
};

/* The log ring, filled by the event subscriber on any thread. */
struct tui_log {
	struct plat_mutex	*mu;
	struct tui_log_line	*lines;		/* TUI_LOG_LINES entries */
	size_t			 first;		/* oldest line */
	size_t			 count;
	unsigned long		 added;		/* lines ever added */
	int			 handle;	/* of the subscription */
};

struct tui {
	struct admin		*adm;
	int			 rows, cols;
	int			 color;		/* the terminal has colours */
	int			 too_small;

	struct tui_user		*users;
	size_t			 nusers;
	size_t			 sel;		/* selected user */
	size_t			 top;		/* first user shown */
	char			 list_error[I18N_ERROR_MAX];
	int64_t			 users_at;	/* monotonic ms of the list */

	struct admin_server	 servers[SERVER_COUNT];
	struct tui_log		 log;

	/* Written by workers too, so guarded by mu. */
	struct plat_mutex	*mu;
	char			 status[TUI_STATUS_MAX];
	int			 status_level;	/* enum ev_level */
	int			 busy;		/* start or stop jobs running */
	char			 busy_text[128];
	/* A dialog: one failure of each server at most. */
	char			 alert[SERVER_COUNT * (I18N_ERROR_MAX + 128)];
	int			 quit;
};

/* Runs the screen for the settings file config_path; the exit status. */
int tui_main(const char *config_path);

/* tui-main.c */
void tui_draw_main(struct tui *t);
int tui_getkey(struct tui *t, wint_t *ch);
void tui_set_status(struct tui *t, enum ev_level level, const char *fmt,
    ...) EXO_PRINTF(3, 4);
void tui_help(struct tui *t);
void tui_apply_language(struct tui *t);

/* tui-text.c */
void tui_colors_init(struct tui *t);
int tui_attr(struct tui *t, enum tui_color c);
int tui_level_attr(struct tui *t, enum ev_level level);
int tui_char_width(uint32_t cp);
size_t tui_utf8_decode(const char *s, uint32_t *cp);
int tui_width(const char *s);
int tui_put(void *win, int y, int x, int width, const char *s, int attr);
size_t tui_wrap(const char *s, int width, char lines[][TUI_LOG_LINE_MAX],
    size_t max);
void tui_format_time(int64_t t, char out[32]);
int tui_from_wide(const wchar_t *w, char *out, size_t cap);

/* tui-users.c */
void tui_users_refresh(struct tui *t, int force);
void tui_users_draw(struct tui *t, int y, int h);
void tui_users_key(struct tui *t, int key);
const struct tui_user *tui_selected_user(struct tui *t);

/* tui-servers.c */
void tui_servers_refresh(struct tui *t);
void tui_servers_draw(struct tui *t, int y);
void tui_server_start(struct tui *t);
void tui_server_stop(struct tui *t);
void tui_servers_resume(struct tui *t);
void tui_servers_restart(struct tui *t);
void tui_servers_wait(struct tui *t);

/* tui-log.c */
int tui_log_open(struct tui *t);
void tui_log_close(struct tui *t);
void tui_log_draw(struct tui *t, int y, int h);
void tui_log_view(struct tui *t);
void tui_log_rerender(struct tui *t);

/* tui-dialog.c */
void *tui_box(struct tui *t, int h, int w, const char *title);
void tui_box_free(void *win);
void tui_message(struct tui *t, const char *title, const char *text);
int tui_confirm(struct tui *t, const char *title, const char *text);
int tui_input(struct tui *t, const char *title, const char *prompt,
    char *buf, size_t cap, int secret);
int tui_choose(struct tui *t, const char *title, const char *text,
    const char *const *items, int n);
/* A line being edited in an input field. */
struct tui_edit {
	wchar_t	w[TUI_INPUT_MAX];
	size_t	len;
	size_t	cur;		/* cursor, in characters */
};

void tui_edit_set(struct tui_edit *ed, const char *text);
int tui_edit_key(struct tui_edit *ed, int key, wint_t ch);
void tui_edit_draw(struct tui *t, void *win, int y, int x, int width,
    const struct tui_edit *ed, int secret);

/* tui-add.c */
void tui_add(struct tui *t);
void tui_signin(struct tui *t);
void tui_credentials(struct tui *t, const char *title, const char *mailbox,
    const char *login, const char *password);

/* tui-user.c */
void tui_delete(struct tui *t);
void tui_password(struct tui *t);
void tui_test(struct tui *t);
void tui_user_settings(struct tui *t);

/* tui-settings.c */
void tui_settings(struct tui *t, const char *problem);

#endif
