/*
 * log.c: the log file, an event subscriber.
 *
 * Each event at or above the configured level becomes one line:
 *
 *	2026-12-04T17:03:26Z info conn=17 <text> key=value ... event=<id>
 *
 * conn= is left out for events without a connection. The rendered text
 * has its control characters escaped by ev_render, so one event is always
 * one line. stderr gets the same line from ev_render_display, which keeps
 * every backslash single for people reading Windows paths. The file
 * keeps ev_render's escapes, so a program can parse it (the rule is in
 * docs/architecture.md). A line identical to one written less than
 * LOG_REPEAT_WINDOW seconds ago (time stamp aside) is counted instead of
 * written. When the window ends, one line ending in "(repeated N
 * times)" reports the count. Windows are checked whenever an event
 * arrives, so a count is written with the next event after its window,
 * or by log_stop.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "plat.h"
#include "util.h"

#define LOG_LINE_MAX 16384
#define LOG_REPEAT_WINDOW 60	/* seconds */
#define LOG_REPEAT_SLOTS 16	/* distinct lines tracked at once */
#define LOG_KEEP_MAX 99

struct log_repeat {
	char		*key;		/* the line without its time stamp */
	char		*display;	/* key as stderr shows it, or NULL */
	uint64_t	 hash;
	int64_t		 start;		/* when the key was last written */
	unsigned long	 count;		/* identical lines not written since */
};

static _Atomic(struct plat_mutex *) log_mutex;
static struct log_settings log_settings;
static struct log_repeat log_repeats[LOG_REPEAT_SLOTS];
static int log_handle = -1;
static int log_write_failed;
/* Buffers of the stderr line, used under log_mutex only. */
static char log_display[LOG_LINE_MAX];
static char log_display_line[LOG_LINE_MAX + 64];

static struct plat_mutex *
log_lock_get(void)
{
	struct plat_mutex	*m, *expected = NULL;

	m = atomic_load(&log_mutex);
	if (m != NULL)
		return m;
	m = plat_mutex_new();
	if (m == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&log_mutex, &expected, m)) {
		plat_mutex_free(m);
		m = expected;
	}
	return m;
}

/* FNV-1a, to find a repeated line without comparing every slot. */
static uint64_t
log_hash(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Writes "FILE.n" into out; returns 0, or -1 when it does not fit. */
static int
log_rotated_name(char *out, size_t cap, const char *file, int n)
{
	int	len;

	len = snprintf(out, cap, "%s.%d", file, n);
	return len > 0 && (size_t)len < cap ? 0 : -1;
}

/* Renames FILE.(keep-1) to FILE.keep ... FILE to FILE.1. */
static void
log_rotate(const char *file, int keep)
{
	char	from[PLAT_PATH_MAX + 8], to[PLAT_PATH_MAX + 8];
	int	i;

	if (keep <= 0) {
		plat_remove(file);
		return;
	}
	if (log_rotated_name(to, sizeof(to), file, keep) != 0)
		return;
	plat_remove(to);
	for (i = keep - 1; i >= 1; i--) {
		if (log_rotated_name(from, sizeof(from), file, i) != 0 ||
		    log_rotated_name(to, sizeof(to), file, i + 1) != 0)
			return;
		if (plat_file_exists(from))
			plat_rename(from, to);
	}
	if (log_rotated_name(to, sizeof(to), file, 1) == 0)
		plat_rename(file, to);
}

/*
 * Writes one finished line to the log file. A file that cannot be
 * written is reported on stderr once until a write succeeds again,
 * because the logger has nowhere else to report it.
 */
static void
log_write(const char *line, size_t len)
{
	const struct log_settings	*ls = &log_settings;
	int64_t				 size;
	char				 msg[PLAT_PATH_MAX + 128];
	int				 n;

	if (ls->file[0] == '\0')
		return;
	if (ls->max_size > 0 && plat_file_size(ls->file, &size) == 0 &&
	    size > 0 && size + (int64_t)len > ls->max_size)
		log_rotate(ls->file, ls->keep);
	if (plat_append_file(ls->file, line, len) == 0) {
		log_write_failed = 0;
		return;
	}
	if (log_write_failed)
		return;
	log_write_failed = 1;
	n = snprintf(msg, sizeof(msg), "exoconnect: cannot write the log "
	    "file %s; check that its folder exists and is writable\n",
	    ls->file);
	if (n > 0)
		plat_write_console(2, msg, (size_t)n < sizeof(msg) ?
		    (size_t)n : sizeof(msg) - 1);
}

/* Formats the line of key at time t into line; returns its length. */
static size_t
log_format_line(char *line, size_t cap, int64_t t, const char *key,
    unsigned long repeated)
{
	char	stamp[32];
	int	n;

	plat_format_time(t, stamp);
	if (repeated > 0)
		n = snprintf(line, cap, "%s %s (repeated %lu %s)\n", stamp,
		    key, repeated, repeated == 1 ? "time" : "times");
	else
		n = snprintf(line, cap, "%s %s\n", stamp, key);
	if (n < 0)
		return 0;
	if ((size_t)n >= cap) {
		n = (int)cap - 1;
		line[n - 1] = '\n';
	}
	return (size_t)n;
}

/* Writes key to the log file and display (NULL: key) to stderr. */
static void
log_write_key(int64_t t, const char *key, const char *display,
    unsigned long repeated)
{
	char	line[LOG_LINE_MAX + 64];
	size_t	n;

	if (log_settings.to_stderr) {
		n = log_format_line(log_display_line,
		    sizeof(log_display_line), t, display != NULL ? display :
		    key, repeated);
		if (n > 0)
			plat_write_console(2, log_display_line, n);
	}
	if ((n = log_format_line(line, sizeof(line), t, key, repeated)) > 0)
		log_write(line, n);
}

static void
log_repeat_end(struct log_repeat *r, int64_t now)
{
	if (r->key != NULL && r->count > 0)
		log_write_key(now, r->key, r->display, r->count);
	free(r->key);
	free(r->display);
	memset(r, 0, sizeof(*r));
}

/* Writes the counts of windows that ended before now, or all when now < 0. */
static void
log_repeat_flush(int64_t now)
{
	int	i;

	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		if (log_repeats[i].key == NULL)
			continue;
		if (now < 0)
			log_repeat_end(&log_repeats[i], plat_wall_time());
		else if (now - log_repeats[i].start >= LOG_REPEAT_WINDOW)
			log_repeat_end(&log_repeats[i], now);
	}
}

/*
 * Counts key and returns 1 when it is a repeat, else remembers it with
 * its stderr form display (may be NULL).
 */
static int
log_repeat_count(const char *key, const char *display, int64_t now)
{
	struct log_repeat	*r, *oldest = &log_repeats[0];
	uint64_t		 h = log_hash(key);
	int			 i;

	for (i = 0; i < LOG_REPEAT_SLOTS; i++) {
		r = &log_repeats[i];
		if (r->key != NULL && r->hash == h &&
		    strcmp(r->key, key) == 0) {
			r->count++;
			return 1;
		}
		if (r->key == NULL || (oldest->key != NULL &&
		    r->start < oldest->start))
			oldest = r;
	}
	log_repeat_end(oldest, now);
	if ((oldest->key = strdup(key)) != NULL) {
		oldest->hash = h;
		oldest->start = now;
		if (display != NULL)
			oldest->display = strdup(display);
	}
	return 0;
}

static void
log_event(const struct ev *ev, void *ctx)
{
	struct plat_mutex	*m;
	char			 key[LOG_LINE_MAX];
	size_t			 n, display_len;
	int			 len;

	(void)ctx;
	if ((m = log_lock_get()) == NULL)
		return;
	plat_mutex_lock(m);
	if (ev->level < log_settings.level)
		goto out;

	if (ev->conn != 0)
		len = snprintf(key, sizeof(key), "%s conn=%lu ",
		    ev_level_name(ev->level), ev->conn);
	else
		len = snprintf(key, sizeof(key), "%s ",
		    ev_level_name(ev->level));
	n = (size_t)len;
	if (log_settings.to_stderr) {
		memcpy(log_display, key, n);
		display_len = n + ev_render_display(ev, NULL, log_display + n,
		    sizeof(log_display) - n);
		snprintf(log_display + display_len, sizeof(log_display) -
		    display_len, "%sevent=%s", log_display[display_len - 1] ==
		    ' ' ? "" : " ", ev->id);
	}
	n += ev_render(ev, NULL, key + n, sizeof(key) - n);
	snprintf(key + n, sizeof(key) - n, "%sevent=%s",
	    key[n - 1] == ' ' ? "" : " ", ev->id);

	log_repeat_flush(ev->time);
	if (!log_repeat_count(key, log_settings.to_stderr ? log_display : NULL,
	    ev->time))
		log_write_key(ev->time, key, log_settings.to_stderr ?
		    log_display : NULL, 0);
out:
	plat_mutex_unlock(m);
}

int
log_start(const struct log_settings *ls, struct exo_error *e)
{
	struct plat_mutex	*m;

	if (ls->keep < 0 || ls->keep > LOG_KEEP_MAX)
		return err_set(e, EXO_ERR_INVALID, "log keep = %d is out of "
		    "range; use 0 to %d", ls->keep, LOG_KEEP_MAX);
	if (ls->file[0] != '\0' && plat_append_file(ls->file, "", 0) != 0)
		return err_set(e, EXO_ERR_IO, "cannot write the log file %s; "
		    "check that its folder exists and is writable, or change "
		    "file in [log]", ls->file);
	if ((m = log_lock_get()) == NULL)
		return err_set(e, EXO_ERR_NOMEM, "out of memory starting the "
		    "log");

	plat_mutex_lock(m);
	log_repeat_flush(-1);
	log_settings = *ls;
	log_write_failed = 0;
	plat_mutex_unlock(m);

	/* Subscribing takes the event mutex, so never hold ours here. */
	if (log_handle < 0 && (log_handle = ev_subscribe(log_event,
	    NULL)) < 0)
		return err_set(e, EXO_ERR_NOMEM, "too many event subscribers "
		    "to start the log");
	return 0;
}

void
log_stop(void)
{
	struct plat_mutex	*m;

	if (log_handle >= 0)
		ev_unsubscribe(log_handle);
	log_handle = -1;
	if ((m = log_lock_get()) == NULL)
		return;
	plat_mutex_lock(m);
	log_repeat_flush(-1);
	plat_mutex_unlock(m);
}
