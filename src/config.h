/*
 * config.h: the settings file, exoconnect.conf.
 *
 * An INI file: [section] headers, "key = value" lines, comments starting
 * with ";" or "#" (also after a value, when preceded by white space).
 * Every key is in one table (config.c) with its type, range, default and
 * help text, which the parser, the default file writer and the screen's
 * Settings form all use. Unknown keys and bad values are errors with file,
 * line and the accepted range, and the program refuses to start.
 */
#ifndef EXO_CONFIG_H
#define EXO_CONFIG_H

#include "err.h"
#include "event.h"
#include "plat.h"

#define CONFIG_FILE_NAME "exoconnect.conf"
#define CONFIG_HOST_MAX 256
#define CONFIG_TEXT_MAX 512

struct endpoint {
	char		host[CONFIG_HOST_MAX];
	unsigned	port;
};

struct settings {
	/* Where the settings came from; data files live in data_dir. */
	char	path[PLAT_PATH_MAX];
	char	data_dir[PLAT_PATH_MAX];

	struct {
		char	client_id[128];
		char	client_secret[CONFIG_TEXT_MAX]; /* empty: public client */
		char	tenant[CONFIG_HOST_MAX];
		char	authority[CONFIG_TEXT_MAX];	/* https://login.microsoftonline.com */
		char	resource[CONFIG_TEXT_MAX];	/* https://outlook.office.com */
	} microsoft;

	struct {
		int		enabled;
		char		listen[PLAT_ADDR_MAX];
		unsigned	port;
		struct endpoint	upstream;		/* implicit TLS */
		int		idle_timeout;		/* seconds, after login */
		int		starttls;		/* offer STLS */
		unsigned	tls_port;		/* implicit TLS; 0 = off */
		int		require_tls;		/* no login before TLS */
		int		legacy_tls;		/* also TLS 1.0, 1.1 */
		int		apop;			/* offer APOP */
		int		cram_md5;		/* offer AUTH CRAM-MD5 */
	} pop3;

	struct {
		int		enabled;
		char		listen[PLAT_ADDR_MAX];
		unsigned	port;
		struct endpoint	upstream;		/* STARTTLS */
		struct endpoint	upstream_personal;	/* Outlook.com accounts */
		char		hostname[CONFIG_HOST_MAX]; /* our EHLO name; empty: host name */
		long long	max_message_size;	/* bytes, advertised in SIZE */
		int		idle_timeout;		/* seconds */
		int		starttls;		/* offer STARTTLS */
		unsigned	tls_port;		/* implicit TLS; 0 = off */
		int		require_tls;		/* no AUTH before TLS */
		int		legacy_tls;		/* also TLS 1.0, 1.1 */
		int		cram_md5;		/* offer AUTH CRAM-MD5 */
		int		pop_before_smtp;	/* minutes; 0 = off */
		/* Addresses and CIDR networks, checked by auth_net_list_check. */
		char		trusted_devices[CONFIG_TEXT_MAX];
		char		trusted_user[64];	/* login they send as */
		int		max_upstream_per_mailbox;
	} smtp;

	struct {
		char	ca_file[PLAT_PATH_MAX];
		char	certificate[PLAT_PATH_MAX];	/* device side, PEM chain */
		char	key[PLAT_PATH_MAX];		/* its private key, PEM */
	} tls;

	struct {
		char	proxy[CONFIG_TEXT_MAX];		/* http://[user:pass@]host:port */
	} network;

	struct {
		int	max_connections;		/* default 100 */
		int	max_preauth_per_address;	/* default 20 */
		int	preauth_timeout;		/* seconds, default 60 */
	} limits;

	struct log_settings log;

	struct {
		int	autostart;	/* the screen starts servers that ran */
		char	language[16];	/* "auto" or a code such as "pt-BR" */
	} ui;
};

/* Fills s with the defaults (no paths). */
void config_defaults(struct settings *s);

/*
 * Finds the settings file: explicit_path when not NULL, whose folder must
 * exist (else EXO_ERR_NOTFOUND); else exoconnect.conf beside the
 * executable when that folder holds one or is writable; else in the
 * per-user config folder.
 */
int config_locate(const char *explicit_path, char out[PLAT_PATH_MAX],
    struct exo_error *e);

/*
 * Resets s to the defaults, keeping s->path and s->data_dir, and parses
 * text (from a file named path, for messages) into it. Errors name the
 * file, the line and the accepted values.
 */
int config_parse(const char *path, const char *text, size_t len,
    struct settings *s, struct exo_error *e);

/*
 * Loads path into s and sets s->path and s->data_dir. A missing file is
 * EXO_ERR_NOTFOUND (call config_write_default).
 */
int config_load(const char *path, struct settings *s, struct exo_error *e);

/*
 * Makes the settings file s->path owner-only when it holds a client
 * secret or a proxy password and the group or others could read it.
 * When it changed the mode, it writes a sentence saying so into notice
 * (cap bytes); otherwise notice is "".
 */
int config_protect_file(const struct settings *s, char *notice, size_t cap,
    struct exo_error *e);

struct buf;
/*
 * Appends the settings reference (docs/settings.md) to b: one Markdown
 * table per section with each key's default, accepted values and help.
 * Returns 0 or EXO_ERR_NOMEM.
 */
int config_doc_markdown(struct buf *b);

/* Writes a commented settings file with every key at its default. */
int config_write_default(const char *path, struct exo_error *e);

/*
 * Checks the values that must be filled in before any network call (a
 * client ID that is a GUID, a tenant, an https authority). The message
 * names the setting and says where the value comes from.
 */
int config_check_ready(const struct settings *s, struct exo_error *e);
/*
 * Runs the part of config_check_ready that concerns one key; 0 for a key
 * it does not check. The Settings form checks typed values with it.
 */
int config_check_ready_key(const struct settings *s, const char *section,
    const char *name, struct exo_error *e);

/*
 * Checks that no two ports of the enabled servers (port and tls_port
 * under [pop3] and [smtp]) are the same on overlapping listen addresses,
 * where 0.0.0.0 and :: overlap every address. The settings file parser
 * and the Settings form both run it.
 */
int config_check_ports(const struct settings *s, struct exo_error *e);

/* Builds "<authority>/<tenant>/oauth2/v2.0/<endpoint>". */
int config_oauth_url(const struct settings *s, const char *endpoint,
    char *buf, size_t cap);

/* ---- the key table, for the Settings form and `user set` ---- */

enum config_type {
	CONFIG_BOOL,
	CONFIG_INT,
	CONFIG_SIZE,		/* "10 MB", "35MB", "1024" */
	CONFIG_STRING,
	CONFIG_ENDPOINT,	/* host:port */
	CONFIG_PATH,
	CONFIG_LEVEL,
};

struct config_key {
	const char	*section;
	const char	*name;
	enum config_type type;
	const char	*default_text;
	long long	 min, max;	/* for CONFIG_INT and CONFIG_SIZE */
	const char	*help;
	size_t		 offset;	/* of the field in struct settings */
	size_t		 size;		/* of that field, in bytes */
};

/* The key table, ended by an entry with a NULL name. */
const struct config_key *config_keys(void);

/* Returns the row for section and name, or NULL when there is none. */
const struct config_key *config_find(const char *section,
    const char *name);

/*
 * Sets one key from text in s, checking it as the parser does. Used by the
 * Settings form; config_save writes s back.
 */
int config_set(struct settings *s, const char *section, const char *name,
    const char *value, struct exo_error *e);
/* Formats the current value of a key. */
int config_get(const struct settings *s, const char *section,
    const char *name, char *buf, size_t cap);
/*
 * Writes s to s->path atomically. Comments, unknown lines and the order of
 * keys stay as the file has them. A key missing from the file is added
 * only when its value differs from the default. The file gets owner-only
 * access when it contains a client secret or a proxy password.
 */
int config_save(const struct settings *s, struct exo_error *e);

#endif
