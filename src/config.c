/*
 * config.c: the key table of the settings file and the checks on values.
 *
 * Every key is one row of config_table, with the offset of its field in
 * struct settings, so the parser, config_get, config_set, the default file
 * writer and config_save (all in config-file.c) share one list. Values
 * are checked here, and each error names the key and the accepted values.
 */
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config-int.h"
#include "auth.h"
#include "i18n.h"
#include "plat.h"
#include "util.h"

#define KB 1024LL
#define MB (1024LL * 1024)
#define GB (1024LL * 1024 * 1024)

#define FIELD(f) offsetof(struct settings, f), \
	sizeof(((struct settings *)0)->f)

#define ROW(sec, key, type, def, lo, hi, field, help) \
	{ sec, key, type, def, lo, hi, help, FIELD(field) }

static const struct config_key config_table[] = {
	ROW("microsoft", "client_id", CONFIG_STRING, "", 0, 0,
	    microsoft.client_id,
	    N_("Application (client) ID of the app registration in Microsoft "
	    "Entra (Entra admin center > App registrations > your app > "
	    "Overview). Required.")),
	ROW("microsoft", "client_secret", CONFIG_STRING, "", 0, 0,
	    microsoft.client_secret,
	    N_("Client secret value, for a confidential client only. Leave it "
	    "empty for a public client, which needs \"Allow public client "
	    "flows\" set to Yes under Authentication.")),
	ROW("microsoft", "tenant", CONFIG_STRING, "common", 0, 0,
	    microsoft.tenant,
	    N_("Directory (tenant) ID or domain of the organisation, or common "
	    "for any work, school or personal account, or organizations for "
	    "work and school accounts only.")),
	ROW("microsoft", "authority", CONFIG_STRING,
	    "https://login.microsoftonline.com", 0, 0, microsoft.authority,
	    N_("Base URL of the Microsoft identity platform. Change it only for "
	    "a national cloud.")),
	ROW("microsoft", "resource", CONFIG_STRING,
	    "https://outlook.office.com", 0, 0, microsoft.resource,
	    N_("Resource the POP3 and SMTP scopes belong to, as in "
	    "https://outlook.office.com/SMTP.Send.")),

	ROW("pop3", "enabled", CONFIG_BOOL, "yes", 0, 1, pop3.enabled,
	    N_("Offer the POP3 server to devices.")),
	ROW("pop3", "listen", CONFIG_STRING, "0.0.0.0", 0, 0, pop3.listen,
	    N_("Local address the POP3 server listens on: 0.0.0.0 for every "
	    "IPv4 address, :: for IPv6, 127.0.0.1 for this computer only.")),
	ROW("pop3", "port", CONFIG_INT, "110", 1, 65535, pop3.port,
	    N_("TCP port of the POP3 server.")),
	ROW("pop3", "upstream", CONFIG_ENDPOINT, "outlook.office365.com:995",
	    0, 0, pop3.upstream,
	    N_("Exchange Online POP3 server as host:port, reached with "
	    "implicit TLS.")),
	ROW("pop3", "idle_timeout", CONFIG_INT, "600", 1, 86400,
	    pop3.idle_timeout,
	    N_("Seconds a logged-in device may stay silent before the proxy "
	    "closes the connection.")),
	ROW("pop3", "starttls", CONFIG_BOOL, "no", 0, 1, pop3.starttls,
	    N_("Offer STLS on the plain port, so devices can switch to TLS "
	    "before they log in.")),
	ROW("pop3", "tls_port", CONFIG_INT, "0", 0, 65535, pop3.tls_port,
	    N_("Port of a second POP3 listener with implicit TLS (POP3S), "
	    "usually 995. 0 turns it off.")),
	ROW("pop3", "require_tls", CONFIG_BOOL, "no", 0, 1, pop3.require_tls,
	    N_("Reject logins before TLS: USER, APOP and AUTH are offered only "
	    "after STLS or on the implicit-TLS port.")),
	ROW("pop3", "legacy_tls", CONFIG_BOOL, "no", 0, 1, pop3.legacy_tls,
	    N_("Also accept TLS 1.0 and 1.1, RSA key exchange, and AES-CBC "
	    "with SHA-1 or 3DES on the POP3 listeners, for old devices. "
	    "Without it they accept only TLS 1.2 with ECDHE key exchange. "
	    "Weaker; logged as a warning.")),
	ROW("pop3", "apop", CONFIG_BOOL, "yes", 0, 1, pop3.apop,
	    N_("Offer APOP: the greeting carries a timestamp, and devices may "
	    "log in with an MD5 digest instead of the password.")),
	ROW("pop3", "cram_md5", CONFIG_BOOL, "yes", 0, 1, pop3.cram_md5,
	    N_("Offer AUTH CRAM-MD5 on the POP3 server.")),

	ROW("smtp", "enabled", CONFIG_BOOL, "yes", 0, 1, smtp.enabled,
	    N_("Offer the SMTP server to devices.")),
	ROW("smtp", "listen", CONFIG_STRING, "0.0.0.0", 0, 0, smtp.listen,
	    N_("Local address the SMTP server listens on: 0.0.0.0 for every "
	    "IPv4 address, :: for IPv6, 127.0.0.1 for this computer only.")),
	ROW("smtp", "port", CONFIG_INT, "25", 1, 65535, smtp.port,
	    N_("TCP port of the SMTP server.")),
	ROW("smtp", "upstream", CONFIG_ENDPOINT, "smtp.office365.com:587",
	    0, 0, smtp.upstream,
	    N_("Exchange Online SMTP submission server for work and school "
	    "mailboxes, as host:port, reached with STARTTLS.")),
	ROW("smtp", "upstream_personal", CONFIG_ENDPOINT,
	    "smtp-mail.outlook.com:587", 0, 0, smtp.upstream_personal,
	    N_("SMTP server for Outlook.com, Hotmail and Live mailboxes, as "
	    "host:port, reached with STARTTLS.")),
	ROW("smtp", "hostname", CONFIG_STRING, "", 0, 0, smtp.hostname,
	    N_("Name the proxy gives in its greeting and in EHLO. Empty uses "
	    "this computer's host name.")),
	ROW("smtp", "max_message_size", CONFIG_SIZE, "35 MB", 1 * KB,
	    150 * MB, smtp.max_message_size,
	    N_("Largest message accepted from a device, advertised with SIZE. "
	    "35 MB is the default limit of Exchange Online.")),
	ROW("smtp", "idle_timeout", CONFIG_INT, "300", 1, 86400,
	    smtp.idle_timeout,
	    N_("Seconds a device may stay silent before the proxy closes the "
	    "connection.")),
	ROW("smtp", "starttls", CONFIG_BOOL, "no", 0, 1, smtp.starttls,
	    N_("Offer STARTTLS on the plain port, so devices can switch to TLS "
	    "before they log in.")),
	ROW("smtp", "tls_port", CONFIG_INT, "0", 0, 65535, smtp.tls_port,
	    N_("Port of a second SMTP listener with implicit TLS (SMTPS), "
	    "usually 465. 0 turns it off.")),
	ROW("smtp", "require_tls", CONFIG_BOOL, "no", 0, 1, smtp.require_tls,
	    N_("Reject logins before TLS: AUTH is offered only after STARTTLS "
	    "or on the implicit-TLS port.")),
	ROW("smtp", "legacy_tls", CONFIG_BOOL, "no", 0, 1, smtp.legacy_tls,
	    N_("Also accept TLS 1.0 and 1.1, RSA key exchange, and AES-CBC "
	    "with SHA-1 or 3DES on the SMTP listeners, for old devices. "
	    "Without it they accept only TLS 1.2 with ECDHE key exchange. "
	    "Weaker; logged as a warning.")),
	ROW("smtp", "cram_md5", CONFIG_BOOL, "yes", 0, 1, smtp.cram_md5,
	    N_("Offer AUTH CRAM-MD5 on the SMTP server.")),
	ROW("smtp", "pop_before_smtp", CONFIG_INT, "0", 0, 1440,
	    smtp.pop_before_smtp,
	    N_("Minutes an address may send without AUTH, as the user, after "
	    "a successful POP3 login from it. 0 turns it off; 10 suits "
	    "most devices.")),
	ROW("smtp", "trusted_devices", CONFIG_STRING, "", 0, 0,
	    smtp.trusted_devices,
	    N_("Device addresses or networks (IPv4, IPv6, CIDR) that may send "
	    "without AUTH as trusted_user, separated by commas, such as "
	    "192.0.2.10, 192.0.2.0/24. Empty: every device logs in.")),
	ROW("smtp", "trusted_user", CONFIG_STRING, "", 0, 0,
	    smtp.trusted_user,
	    N_("Local user whose mailbox sends the mail of trusted_devices.")),
	ROW("smtp", "max_upstream_per_mailbox", CONFIG_INT, "3", 1, 100,
	    smtp.max_upstream_per_mailbox,
	    N_("Upstream SMTP connections open at once for one mailbox. "
	    "Exchange Online allows 3; further devices wait for a free one.")),

	ROW("tls", "ca_file", CONFIG_PATH, "", 0, 0, tls.ca_file,
	    N_("PEM file with more trusted root certificates, added to the "
	    "system's and the built-in Microsoft roots. A relative path is "
	    "relative to this file's folder.")),
	ROW("tls", "certificate", CONFIG_PATH, "", 0, 0, tls.certificate,
	    N_("PEM certificate chain that the POP3 and SMTP servers show to "
	    "devices. Empty: a self-signed certificate, made when TLS is "
	    "first needed and stored beside this file.")),
	ROW("tls", "key", CONFIG_PATH, "", 0, 0, tls.key,
	    N_("PEM private key (RSA or EC) of the certificate.")),

	ROW("network", "proxy", CONFIG_STRING, "", 0, 0, network.proxy,
	    N_("HTTP proxy for sign-in and token requests, as "
	    "http://[user:password@]host:port. Empty uses HTTPS_PROXY and "
	    "NO_PROXY from the environment. Mail connections never use it.")),

	ROW("limits", "max_connections", CONFIG_INT, "100", 1, 10000,
	    limits.max_connections,
	    N_("Maximum number of device connections open at once.")),
	ROW("limits", "max_preauth_per_address", CONFIG_INT, "20", 1, 10000,
	    limits.max_preauth_per_address,
	    N_("Maximum number of connections from one address that have not "
	    "logged in yet.")),
	ROW("limits", "preauth_timeout", CONFIG_INT, "60", 1, 3600,
	    limits.preauth_timeout,
	    N_("Seconds a device has to log in after connecting.")),

	ROW("log", "file", CONFIG_PATH, "exoconnect.log", 0, 0, log.file,
	    N_("Log file. A relative path is relative to this file's folder. "
	    "Empty writes no log file.")),
	ROW("log", "level", CONFIG_LEVEL, "info", 0, 0, log.level,
	    N_("Lowest level written: debug, info, warning or error.")),
	ROW("log", "max_size", CONFIG_SIZE, "10 MB", 1 * KB, 1 * GB,
	    log.max_size,
	    N_("Size at which the log file is renamed to FILE.1 and a new one "
	    "is started.")),
	ROW("log", "keep", CONFIG_INT, "5", 0, 99, log.keep,
	    N_("Number of old log files kept (FILE.1 to FILE.N).")),

	ROW("ui", "autostart", CONFIG_BOOL, "no", 0, 1, ui.autostart,
	    N_("Start the servers that were running when the screen last quit, "
	    "when the screen opens again.")),
	ROW("ui", "language", CONFIG_STRING, "auto", 0, 0, ui.language,
	    N_("Language of the screen and the command output: auto follows "
	    "the system, or one of en, de, fr, it, es, nl, pt-BR, ja, zh-CN, "
	    "zh-TW. The log file stays in English.")),

	{ NULL, NULL, CONFIG_STRING, NULL, 0, 0, NULL, 0, 0 },
};

_Static_assert(sizeof(config_table) / sizeof(config_table[0]) <=
    CONFIG_KEYS_MAX, "config_table has more rows than CONFIG_KEYS_MAX");

static const char *const config_sections[] = {
	"microsoft", "pop3", "smtp", "tls", "network", "limits", "log",
	"ui", NULL,
};

#define HOST_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
	"0123456789.-"

/* Text keys that go into a URL, a socket address or EHLO. */
static const struct {
	const char	*section;
	const char	*name;
	const char	*allowed;
	const char	*hint;
} config_charsets[] = {
	{ "microsoft", "tenant", HOST_CHARS,
	    "use common, organizations, a domain or a Directory (tenant) ID" },
	{ "pop3", "listen", HOST_CHARS ":%",
	    "use an IP address such as 0.0.0.0, :: or 127.0.0.1" },
	{ "smtp", "listen", HOST_CHARS ":%",
	    "use an IP address such as 0.0.0.0, :: or 127.0.0.1" },
	{ "smtp", "hostname", HOST_CHARS,
	    "use a host name of letters, digits, '.' and '-'" },
	{ "smtp", "trusted_user", HOST_CHARS "_@+",
	    "use the login of a local user" },
	{ NULL, NULL, NULL, NULL },
};

/* Text keys with a grammar of their own, checked by a function. */
static const struct {
	const char	*section;
	const char	*name;
	int		(*check)(const char *, struct exo_error *);
} config_checks[] = {
	{ "smtp", "trusted_devices", auth_net_list_check },
	{ "ui", "language", i18n_check_setting },
	{ NULL, NULL, NULL },
};

/* Words accepted for yes/no values; even indexes are true. */
static const char *const config_bool_words[] = {
	"yes", "no", "true", "false", "on", "off", "1", "0", NULL,
};

static const struct {
	const char	*unit;
	long long	 factor;
} config_size_units[] = {
	{ "", 1 }, { "B", 1 }, { "KB", KB }, { "K", KB }, { "MB", MB },
	{ "M", MB }, { "GB", GB }, { "G", GB }, { NULL, 0 },
};

const struct config_key *
config_keys(void)
{
	return config_table;
}

const char *const *
config_section_names(void)
{
	return config_sections;
}

const struct config_key *
config_find(const char *section, const char *name)
{
	const struct config_key	*k;

	for (k = config_table; k->name != NULL; k++) {
		if (strcmp(k->section, section) == 0 &&
		    strcmp(k->name, name) == 0)
			return k;
	}
	return NULL;
}

/* ---- values ---- */

/* Formats a size as "35 MB" when it is a whole number of a unit. */
void
config_format_size(long long v, char *buf, size_t cap)
{
	if (v > 0 && v % GB == 0)
		snprintf(buf, cap, "%lld GB", v / GB);
	else if (v > 0 && v % MB == 0)
		snprintf(buf, cap, "%lld MB", v / MB);
	else if (v > 0 && v % KB == 0)
		snprintf(buf, cap, "%lld KB", v / KB);
	else
		snprintf(buf, cap, "%lld", v);
}

static int
config_parse_size(const char *text, long long *out)
{
	char		 digits[32], unit[8];
	const char	*p = text;
	size_t		 n = 0, u = 0;
	long long	 v;
	int		 i;

	while (*p >= '0' && *p <= '9' && n < sizeof(digits) - 1)
		digits[n++] = *p++;
	digits[n] = '\0';
	while (*p == ' ')
		p++;
	while (*p != '\0' && u < sizeof(unit) - 1)
		unit[u++] = *p++;
	unit[u] = '\0';
	if (n == 0 || *p != '\0' ||
	    parse_ll(digits, 0, 1LL << 50, &v) != 0)
		return EXO_ERR_INVALID;
	for (i = 0; config_size_units[i].unit != NULL; i++) {
		if (str_casecmp(unit, config_size_units[i].unit) == 0) {
			/* "3222222222222g" would overflow a long long. */
			if (v > LLONG_MAX / config_size_units[i].factor)
				return EXO_ERR_INVALID;
			*out = v * config_size_units[i].factor;
			return 0;
		}
	}
	return EXO_ERR_INVALID;
}

/* Splits "host:port" or "[v6]:port" into ep. */
static int
config_parse_endpoint(const char *text, struct endpoint *ep)
{
	const char	*colon, *host = text;
	size_t		 hostlen;
	long long	 port;

	colon = strrchr(text, ':');
	if (colon == NULL || parse_ll(colon + 1, 1, 65535, &port) != 0)
		return EXO_ERR_INVALID;
	hostlen = (size_t)(colon - text);
	if (text[0] == '[') {
		if (hostlen < 3 || text[hostlen - 1] != ']')
			return EXO_ERR_INVALID;
		host++;
		hostlen -= 2;
	} else if (memchr(text, ':', hostlen) != NULL) {
		return EXO_ERR_INVALID;	/* IPv6 needs brackets */
	}
	if (hostlen == 0 || hostlen >= sizeof(ep->host) ||
	    memchr(host, ' ', hostlen) != NULL)
		return EXO_ERR_INVALID;
	memcpy(ep->host, host, hostlen);
	ep->host[hostlen] = '\0';
	ep->port = (unsigned)port;
	return 0;
}

static int
config_has_control(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text < 0x20 || *text == 0x7f)
			return 1;
	return 0;
}

static void
config_range_text(const struct config_key *k, char *buf, size_t cap)
{
	char	lo[32], hi[32];

	if (k->type == CONFIG_SIZE) {
		config_format_size(k->min, lo, sizeof(lo));
		config_format_size(k->max, hi, sizeof(hi));
		snprintf(buf, cap, "%s to %s", lo, hi);
	} else
		snprintf(buf, cap, "%lld to %lld", k->min, k->max);
}

static int
config_set_number(const struct config_key *k, void *field,
    const char *value, struct exo_error *e)
{
	char			 range[80];
	long long		 v;
	int			 rc;

	config_range_text(k, range, sizeof(range));
	if (k->type == CONFIG_SIZE)
		rc = config_parse_size(value, &v);
	else
		rc = parse_ll(value, k->min < 0 ? k->min : 0, 1LL << 50, &v);
	if (rc != 0 && k->type == CONFIG_SIZE)
		return err_set(e, EXO_ERR_INVALID, "%s = %s is not a size; use "
		    "bytes or a number with KB, MB or GB, from %s", k->name,
		    value, range);
	if (rc != 0)
		return err_set(e, EXO_ERR_INVALID, "%s = %s is not a whole "
		    "number; use %s", k->name, value, range);
	if (v < k->min || v > k->max)
		return err_set(e, EXO_ERR_INVALID, "%s = %s is out of range; "
		    "use %s", k->name, value, range);

	if (k->type == CONFIG_SIZE)
		*(long long *)field = v;
	else if (k->size == sizeof(int))
		*(int *)field = (int)v;	/* int and unsigned fields */
	else
		return err_set(e, EXO_ERR_INVALID, "%s has no integer field",
		    k->name);
	return 0;
}

static int
config_set_bool(const struct config_key *k, int *field, const char *value,
    struct exo_error *e)
{
	int	i;

	for (i = 0; config_bool_words[i] != NULL; i++) {
		if (str_casecmp(value, config_bool_words[i]) == 0) {
			*field = i % 2 == 0;
			return 0;
		}
	}
	return err_set(e, EXO_ERR_INVALID, "%s = %s is not a yes/no value; "
	    "use yes or no", k->name, value);
}

/* Checks the characters of the text keys in config_charsets. */
static int
config_check_charset(const struct config_key *k, const char *value,
    struct exo_error *e)
{
	int	i;

	for (i = 0; config_charsets[i].name != NULL; i++) {
		if (strcmp(config_charsets[i].section, k->section) != 0 ||
		    strcmp(config_charsets[i].name, k->name) != 0)
			continue;
		if (strspn(value, config_charsets[i].allowed) != strlen(value))
			return err_set(e, EXO_ERR_INVALID, "%s = %s is "
			    "invalid; %s", k->name, value,
			    config_charsets[i].hint);
	}
	return 0;
}

/* Runs the check of config_checks for k, if it has one. */
static int
config_check_grammar(const struct config_key *k, const char *value,
    struct exo_error *e)
{
	struct exo_error	inner;
	int			i, rc;

	for (i = 0; config_checks[i].name != NULL; i++) {
		if (strcmp(config_checks[i].section, k->section) != 0 ||
		    strcmp(config_checks[i].name, k->name) != 0)
			continue;
		err_clear(&inner);
		if ((rc = config_checks[i].check(value, &inner)) != 0)
			return err_wrap(e, rc, &inner, "%s: %s", k->name,
			    inner.msg);
	}
	return 0;
}

int
config_set_key(struct settings *s, const struct config_key *k,
    const char *value, struct exo_error *e)
{
	void			*field = (char *)s + k->offset;
	enum ev_level		 level;
	int			 rc;

	if (config_has_control(value))
		return err_set(e, EXO_ERR_INVALID, "%s contains a control "
		    "character; remove it", k->name);
	if ((rc = config_check_charset(k, value, e)) != 0)
		return rc;
	if ((rc = config_check_grammar(k, value, e)) != 0)
		return rc;

	switch (k->type) {
	case CONFIG_BOOL:
		return config_set_bool(k, field, value, e);
	case CONFIG_INT:
	case CONFIG_SIZE:
		return config_set_number(k, field, value, e);
	case CONFIG_ENDPOINT:
		if (config_parse_endpoint(value, field) != 0)
			return err_set(e, EXO_ERR_INVALID, "%s = %s is not "
			    "host:port; use a host name and a port from 1 to "
			    "65535, such as %s", k->name, value,
			    k->default_text);
		return 0;
	case CONFIG_LEVEL:
		if (ev_level_parse(value, &level) != 0)
			return err_set(e, EXO_ERR_INVALID, "%s = %s is not a "
			    "log level; use debug, info, warning or error",
			    k->name, value);
		*(enum ev_level *)field = level;
		return 0;
	case CONFIG_STRING:
	case CONFIG_PATH:
		break;
	}
	if (strlen(value) >= k->size)
		return err_set(e, EXO_ERR_TOOLONG, "%s is longer than %zu "
		    "bytes; shorten it", k->name, k->size - 1);
	str_copy(field, value, k->size);
	if (k->type == CONFIG_PATH)
		config_resolve_path(s, field, k->size);
	return 0;
}

int
config_path_absolute(const char *p)
{
	if (p[0] == '/' || p[0] == '\\')
		return 1;
	return ((p[0] >= 'A' && p[0] <= 'Z') || (p[0] >= 'a' &&
	    p[0] <= 'z')) && p[1] == ':' && (p[2] == '/' || p[2] == '\\');
}

void
config_resolve_path(const struct settings *s, char *path, size_t cap)
{
	char	joined[PLAT_PATH_MAX];

	if (path[0] == '\0' || s->data_dir[0] == '\0' ||
	    config_path_absolute(path))
		return;
	if (plat_path_join(joined, s->data_dir, path) == 0 &&
	    strlen(joined) < cap)
		str_copy(path, joined, cap);
}

int
config_get_key(const struct settings *s, const struct config_key *k,
    char *buf, size_t cap)
{
	const void		*field = (const char *)s + k->offset;
	const struct endpoint	*ep;
	size_t			 dirlen;
	int			 n = 0;

	switch (k->type) {
	case CONFIG_BOOL:
		n = snprintf(buf, cap, "%s",
		    *(const int *)field ? "yes" : "no");
		break;
	case CONFIG_INT:
		n = snprintf(buf, cap, "%d", *(const int *)field);
		break;
	case CONFIG_SIZE:
		config_format_size(*(const long long *)field, buf, cap);
		break;
	case CONFIG_ENDPOINT:
		ep = field;
		n = snprintf(buf, cap, strchr(ep->host, ':') != NULL ?
		    "[%s]:%u" : "%s:%u", ep->host, ep->port);
		break;
	case CONFIG_LEVEL:
		n = snprintf(buf, cap, "%s",
		    ev_level_name(*(const enum ev_level *)field));
		break;
	case CONFIG_PATH:
		/* Paths inside the settings folder are shown relative. */
		dirlen = strlen(s->data_dir);
		if (dirlen > 0 && strncmp(field, s->data_dir, dirlen) == 0 &&
		    (((const char *)field)[dirlen] == '/' ||
		    ((const char *)field)[dirlen] == '\\'))
			field = (const char *)field + dirlen + 1;
		/* FALLTHROUGH */
	case CONFIG_STRING:
		n = (int)str_copy(buf, field, cap);
		break;
	}
	return n >= 0 && (size_t)n < cap ? 0 : EXO_ERR_TOOLONG;
}

void
config_defaults(struct settings *s)
{
	const struct config_key	*k;

	memset(s, 0, sizeof(*s));
	for (k = config_table; k->name != NULL; k++)
		config_set_key(s, k, k->default_text, NULL);
}

int
config_set(struct settings *s, const char *section, const char *name,
    const char *value, struct exo_error *e)
{
	const struct config_key	*k;

	if ((k = config_find(section, name)) == NULL)
		return err_set(e, EXO_ERR_NOTFOUND, "unknown key '%s' in [%s]",
		    name, section);
	return config_set_key(s, k, value, e);
}

int
config_get(const struct settings *s, const char *section, const char *name,
    char *buf, size_t cap)
{
	const struct config_key	*k;

	if ((k = config_find(section, name)) == NULL)
		return EXO_ERR_NOTFOUND;
	return config_get_key(s, k, buf, cap);
}

/* ---- checks before the network is used ---- */

static int
config_is_guid(const char *t)
{
	static const int	 dash[] = { 8, 13, 18, 23 };
	size_t			 i, d = 0;

	if (strlen(t) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (d < 4 && (int)i == dash[d]) {
			if (t[i] != '-')
				return 0;
			d++;
		} else if (strchr("0123456789abcdefABCDEF", t[i]) == NULL)
			return 0;
	}
	return 1;
}

static int
config_ready_client_id(const struct settings *s, const char *file,
    struct exo_error *e)
{
	if (s->microsoft.client_id[0] == '\0')
		return err_set(e, EXO_ERR_CONFIG, "client_id in [microsoft] "
		    "of %s is empty. Set it to the Application (client) ID of "
		    "your app registration (Microsoft Entra admin center > "
		    "App registrations > your app > Overview).", file);
	if (!config_is_guid(s->microsoft.client_id))
		return err_set(e, EXO_ERR_CONFIG, "client_id = %s in "
		    "[microsoft] of %s is not a GUID. Copy the Application "
		    "(client) ID from the Overview page of your app "
		    "registration in Microsoft Entra.",
		    s->microsoft.client_id, file);
	return 0;
}

static int
config_ready_tenant(const struct settings *s, const char *file,
    struct exo_error *e)
{
	const char	*t = s->microsoft.tenant;

	if (t[0] == '\0')
		return err_set(e, EXO_ERR_CONFIG, "tenant in [microsoft] of "
		    "%s is empty. Use common, organizations, your domain or "
		    "the Directory (tenant) ID from the Overview page of your "
		    "app registration.", file);
	if (strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-") != strlen(t))
		return err_set(e, EXO_ERR_CONFIG, "tenant = %s in [microsoft] "
		    "of %s is invalid. Use common, organizations, a domain "
		    "or a Directory (tenant) ID.", t, file);
	return 0;
}

static int
config_ready_authority(const struct settings *s, const char *file,
    struct exo_error *e)
{
	if (!str_has_prefix_case(s->microsoft.authority, "https://") ||
	    s->microsoft.authority[8] == '\0')
		return err_set(e, EXO_ERR_CONFIG, "authority = %s in "
		    "[microsoft] of %s is not an https URL. Use "
		    "https://login.microsoftonline.com.",
		    s->microsoft.authority, file);
	return 0;
}

static int
config_ready_resource(const struct settings *s, const char *file,
    struct exo_error *e)
{
	if (!str_has_prefix_case(s->microsoft.resource, "https://"))
		return err_set(e, EXO_ERR_CONFIG, "resource = %s in "
		    "[microsoft] of %s is not an https URL. Use "
		    "https://outlook.office.com.", s->microsoft.resource, file);
	return 0;
}

/* The keys config_check_ready checks, in the order it checks them. */
static const struct {
	const char	*section;
	const char	*name;
	int		(*check)(const struct settings *, const char *,
			    struct exo_error *);
} config_ready_checks[] = {
	{ "microsoft", "client_id", config_ready_client_id },
	{ "microsoft", "tenant", config_ready_tenant },
	{ "microsoft", "authority", config_ready_authority },
	{ "microsoft", "resource", config_ready_resource },
	{ NULL, NULL, NULL },
};

int
config_check_ready_key(const struct settings *s, const char *section,
    const char *name, struct exo_error *e)
{
	const char	*file = s->path[0] != '\0' ? s->path : CONFIG_FILE_NAME;
	int		 rc;

	for (int i = 0; config_ready_checks[i].name != NULL; i++) {
		if (section != NULL &&
		    (strcmp(config_ready_checks[i].section, section) != 0 ||
		    strcmp(config_ready_checks[i].name, name) != 0))
			continue;
		if ((rc = config_ready_checks[i].check(s, file, e)) != 0)
			return rc;
	}
	return 0;
}

int
config_check_ready(const struct settings *s, struct exo_error *e)
{
	return config_check_ready_key(s, NULL, NULL, e);
}

/* ---- checks across keys ---- */

/* One port a server listens on, for config_check_ports. */
struct config_listener {
	const char	*section;
	const char	*key;
	const char	*addr;
	unsigned	 port;
};

/* Returns 1 when a listener on a also receives connections for b. */
static int
config_addr_overlap(const char *a, const char *b)
{
	static const char *const	 any[] = { "", "0.0.0.0", "::", NULL };

	for (int i = 0; any[i] != NULL; i++)
		if (strcmp(a, any[i]) == 0 || strcmp(b, any[i]) == 0)
			return 1;
	return strcmp(a, b) == 0;
}

static size_t
config_listeners(const struct settings *s, struct config_listener out[4])
{
	size_t	n = 0;

	if (s->pop3.enabled) {
		out[n++] = (struct config_listener){ "pop3", "port",
		    s->pop3.listen, s->pop3.port };
		if (s->pop3.tls_port != 0)
			out[n++] = (struct config_listener){ "pop3",
			    "tls_port", s->pop3.listen, s->pop3.tls_port };
	}
	if (s->smtp.enabled) {
		out[n++] = (struct config_listener){ "smtp", "port",
		    s->smtp.listen, s->smtp.port };
		if (s->smtp.tls_port != 0)
			out[n++] = (struct config_listener){ "smtp",
			    "tls_port", s->smtp.listen, s->smtp.tls_port };
	}
	return n;
}

int
config_check_ports(const struct settings *s, struct exo_error *e)
{
	struct config_listener	l[4];
	size_t			n = config_listeners(s, l);

	for (size_t i = 0; i < n; i++) {
		for (size_t j = i + 1; j < n; j++) {
			if (l[i].port != l[j].port ||
			    !config_addr_overlap(l[i].addr, l[j].addr))
				continue;
			return err_set(e, EXO_ERR_INVALID, "%s in [%s] and %s "
			    "in [%s] are both port %u; give each one a port "
			    "of its own", l[i].key, l[i].section, l[j].key,
			    l[j].section, l[i].port);
		}
	}
	return 0;
}

int
config_oauth_url(const struct settings *s, const char *endpoint, char *buf,
    size_t cap)
{
	size_t	alen = strlen(s->microsoft.authority);
	int	n;

	while (alen > 0 && s->microsoft.authority[alen - 1] == '/')
		alen--;
	n = snprintf(buf, cap, "%.*s/%s/oauth2/v2.0/%s", (int)alen,
	    s->microsoft.authority, s->microsoft.tenant, endpoint);
	if (n < 0 || (size_t)n >= cap)
		return EXO_ERR_TOOLONG;
	return 0;
}
