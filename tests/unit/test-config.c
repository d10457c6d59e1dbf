/*
 * test-config.c: the settings file parser, writer and checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/config.h"
#include "../../src/i18n.h"
#include "../../src/plat.h"
#include "test.h"

static struct settings	settings_a, settings_b;

/* Parses text into settings_a; returns the code and fills e. */
static int
parse(const char *text, struct exo_error *e)
{
	memset(&settings_a, 0, sizeof(settings_a));
	err_clear(e);
	return config_parse("test.conf", text, strlen(text), &settings_a, e);
}

/* Checks that text fails to parse with exactly the message msg. */
static void
check_error(const char *text, int code, const char *msg)
{
	struct exo_error	e;

	CHECK_INT(parse(text, &e), code);
	CHECK_STR(e.msg, msg);
}

static void
temp_dir(char *out, size_t cap)
{
	snprintf(out, cap, "/tmp/exo-test-config-XXXXXX");
	CHECK(mkdtemp(out) != NULL);
}

static char *
read_text(const char *path)
{
	char	*data = NULL;
	size_t	 len;

	if (plat_read_file(path, 1 << 20, &data, &len, NULL) != 0)
		return NULL;
	return data;
}

static void
write_text(const char *path, const char *text)
{
	CHECK_INT(plat_write_file_atomic(path, text, strlen(text), 0, NULL),
	    0);
}

TEST(defaults_match_documentation)
{
	struct settings	*s = &settings_a;

	config_defaults(s);
	CHECK_STR(s->microsoft.client_id, "");
	CHECK_STR(s->microsoft.client_secret, "");
	CHECK_STR(s->microsoft.tenant, "common");
	CHECK_STR(s->microsoft.authority, "https://login.microsoftonline.com");
	CHECK_STR(s->microsoft.resource, "https://outlook.office.com");
	CHECK_INT(s->pop3.enabled, 1);
	CHECK_STR(s->pop3.listen, "0.0.0.0");
	CHECK_INT(s->pop3.port, 110);
	CHECK_STR(s->pop3.upstream.host, "outlook.office365.com");
	CHECK_INT(s->pop3.upstream.port, 995);
	CHECK_INT(s->pop3.idle_timeout, 600);
	CHECK_INT(s->smtp.enabled, 1);
	CHECK_STR(s->smtp.listen, "0.0.0.0");
	CHECK_INT(s->smtp.port, 25);
	CHECK_STR(s->smtp.upstream.host, "smtp.office365.com");
	CHECK_INT(s->smtp.upstream.port, 587);
	CHECK_STR(s->smtp.upstream_personal.host, "smtp-mail.outlook.com");
	CHECK_INT(s->smtp.upstream_personal.port, 587);
	CHECK_STR(s->smtp.hostname, "");
	CHECK_INT(s->smtp.max_message_size, 35LL * 1024 * 1024);
	CHECK_INT(s->smtp.idle_timeout, 300);
	CHECK_STR(s->tls.ca_file, "");
	CHECK_STR(s->network.proxy, "");
	CHECK_INT(s->limits.max_connections, 100);
	CHECK_INT(s->limits.max_preauth_per_address, 20);
	CHECK_INT(s->limits.preauth_timeout, 60);
	CHECK_STR(s->log.file, "exoconnect.log");
	CHECK_INT(s->log.level, EV_INFO);
	CHECK_INT(s->log.max_size, 10LL * 1024 * 1024);
	CHECK_INT(s->log.keep, 5);
}

TEST(defaults_device_access)
{
	struct settings	*s = &settings_a;

	config_defaults(s);
	CHECK_INT(s->pop3.starttls, 0);
	CHECK_INT(s->pop3.tls_port, 0);
	CHECK_INT(s->pop3.require_tls, 0);
	CHECK_INT(s->pop3.legacy_tls, 0);
	CHECK_INT(s->pop3.apop, 1);
	CHECK_INT(s->pop3.cram_md5, 1);
	CHECK_INT(s->smtp.starttls, 0);
	CHECK_INT(s->smtp.tls_port, 0);
	CHECK_INT(s->smtp.require_tls, 0);
	CHECK_INT(s->smtp.legacy_tls, 0);
	CHECK_INT(s->smtp.cram_md5, 1);
	CHECK_INT(s->smtp.pop_before_smtp, 0);
	CHECK_STR(s->smtp.trusted_devices, "");
	CHECK_STR(s->smtp.trusted_user, "");
	CHECK_INT(s->smtp.max_upstream_per_mailbox, 3);
	CHECK_STR(s->tls.certificate, "");
	CHECK_STR(s->tls.key, "");
}

TEST(parse_device_access_keys)
{
	CHECK_INT(parse("[pop3]\nstarttls = yes\ntls_port = 995\n"
	    "require_tls = yes\nlegacy_tls = on\napop = no\ncram_md5 = no\n"
	    "[smtp]\nstarttls = yes\ntls_port = 465\ncram_md5 = off\n"
	    "pop_before_smtp = 10\n"
	    "trusted_devices = 192.0.2.10, 198.51.100.0/24 2001:db8::/32\n"
	    "trusted_user = scanner1\nmax_upstream_per_mailbox = 2\n"
	    "[tls]\ncertificate = /etc/exo/cert.pem\nkey = /etc/exo/key.pem\n",
	    NULL), 0);
	CHECK_INT(settings_a.pop3.starttls, 1);
	CHECK_INT(settings_a.pop3.tls_port, 995);
	CHECK_INT(settings_a.pop3.require_tls, 1);
	CHECK_INT(settings_a.pop3.legacy_tls, 1);
	CHECK_INT(settings_a.pop3.apop, 0);
	CHECK_INT(settings_a.pop3.cram_md5, 0);
	CHECK_INT(settings_a.smtp.starttls, 1);
	CHECK_INT(settings_a.smtp.tls_port, 465);
	CHECK_INT(settings_a.smtp.cram_md5, 0);
	CHECK_INT(settings_a.smtp.pop_before_smtp, 10);
	CHECK_STR(settings_a.smtp.trusted_devices,
	    "192.0.2.10, 198.51.100.0/24 2001:db8::/32");
	CHECK_STR(settings_a.smtp.trusted_user, "scanner1");
	CHECK_INT(settings_a.smtp.max_upstream_per_mailbox, 2);
	CHECK_STR(settings_a.tls.certificate, "/etc/exo/cert.pem");
	CHECK_STR(settings_a.tls.key, "/etc/exo/key.pem");
}

TEST(error_trusted_devices_names_entry)
{
	check_error("[smtp]\ntrusted_devices = 192.0.2.10, 192.0.2.300\n",
	    EXO_ERR_INVALID, "test.conf:2: trusted_devices: 192.0.2.300 is "
	    "not an IPv4 or IPv6 address or network; use forms such as "
	    "192.0.2.10, 192.0.2.0/24 or 2001:db8::/32");
	check_error("[smtp]\n\ntrusted_devices = 10.0.0.0/33\n",
	    EXO_ERR_INVALID, "test.conf:3: trusted_devices: 10.0.0.0/33 is "
	    "not an IPv4 or IPv6 address or network; use forms such as "
	    "192.0.2.10, 192.0.2.0/24 or 2001:db8::/32");
	check_error("[smtp]\ntrusted_devices = 2001:db8::1::2\n",
	    EXO_ERR_INVALID, "test.conf:2: trusted_devices: 2001:db8::1::2 "
	    "is not an IPv4 or IPv6 address or network; use forms such as "
	    "192.0.2.10, 192.0.2.0/24 or 2001:db8::/32");
	check_error("[smtp]\ntrusted_user = scan ner\n", EXO_ERR_INVALID,
	    "test.conf:2: trusted_user = scan ner is invalid; use the login "
	    "of a local user");
	check_error("[smtp]\ntrusted_devices = 192.0.2.10\n", EXO_ERR_INVALID,
	    "test.conf: trusted_devices in [smtp] is set but trusted_user is "
	    "empty; set trusted_user to the local user these devices send as");
	check_error("[smtp]\nmax_upstream_per_mailbox = 0\n",
	    EXO_ERR_INVALID, "test.conf:2: max_upstream_per_mailbox = 0 is "
	    "out of range; use 1 to 100");
	check_error("[smtp]\npop_before_smtp = 1441\n", EXO_ERR_INVALID,
	    "test.conf:2: pop_before_smtp = 1441 is out of range; use 0 to "
	    "1440");
}

TEST(key_table_complete)
{
	const struct config_key	*k;
	int			 n = 0;

	for (k = config_keys(); k->name != NULL; k++) {
		CHECK(k->help != NULL);
		CHECK(strlen(k->help) > 10);
		CHECK(k->default_text != NULL);
		CHECK(config_find(k->section, k->name) == k);
		n++;
	}
	CHECK_INT(n, 46);
	CHECK(config_find("pop3", "nope") == NULL);
}

TEST(parse_bool_words)
{
	static const char *const	 yes[] = { "yes", "true", "on", "1",
					    "YES", "On" };
	static const char *const	 no[] = { "no", "false", "off", "0" };
	char				 text[128];
	size_t				 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(text, sizeof(text), "[pop3]\nenabled = no\n[smtp]\n"
		    "enabled = %s\n", yes[i]);
		CHECK_INT(parse(text, NULL), 0);
		CHECK_INT(settings_a.smtp.enabled, 1);
		CHECK_INT(settings_a.pop3.enabled, 0);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(text, sizeof(text), "[smtp]\nenabled = %s\n", no[i]);
		CHECK_INT(parse(text, NULL), 0);
		CHECK_INT(settings_a.smtp.enabled, 0);
	}
}

TEST(parse_sizes)
{
	static const struct {
		const char	*text;
		long long	 bytes;
	} cases[] = {
		{ "10 MB", 10LL << 20 },
		{ "10MB", 10LL << 20 },
		{ "512 KB", 512LL << 10 },
		{ "1 GB", 1LL << 30 },
		{ "1g", 1LL << 30 },
		{ "2048", 2048 },
		{ "4096 B", 4096 },
	};
	char	text[128];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[log]\nmax_size = %s\n",
		    cases[i].text);
		CHECK_INT(parse(text, NULL), 0);
		CHECK_INT(settings_a.log.max_size, cases[i].bytes);
	}
}

/* Found by the config fuzzer: a size whose unit pushes it past LLONG_MAX. */
TEST(parse_size_overflow_rejected)
{
	static const char *const texts[] = {
		"3222222222222g", "1125899906842624 GB", "9007199254740992 KB",
	};
	char	text[128];
	size_t	i;

	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		snprintf(text, sizeof(text), "[smtp]\nmax_message_size = %s\n",
		    texts[i]);
		CHECK(parse(text, NULL) != 0);
	}
}

TEST(parse_other_types)
{
	const char	*text =
	    "; a comment\n"
	    "# another\n"
	    "[microsoft]\n"
	    "client_id = 11111111-2222-3333-4444-555555555555\n"
	    "tenant = contoso.onmicrosoft.com ; inline comment\n"
	    "client_secret = \"s3cr;t # with \\\"quotes\\\"\"  # comment\n"
	    "[POP3]\n"
	    "Port = 1110\n"
	    "upstream = [::1]:9950\n"
	    "[smtp]\n"
	    "hostname = relay-1.example.com\n"
	    "upstream = 127.0.0.1:2525\n"
	    "[network]\n"
	    "proxy = http://u:p#w@127.0.0.1:3128\n"
	    "[log]\n"
	    "level = warning\n"
	    "file = /var/log/exo.log\n";

	CHECK_INT(parse(text, NULL), 0);
	CHECK_STR(settings_a.microsoft.client_id,
	    "11111111-2222-3333-4444-555555555555");
	CHECK_STR(settings_a.microsoft.tenant, "contoso.onmicrosoft.com");
	CHECK_STR(settings_a.microsoft.client_secret,
	    "s3cr;t # with \"quotes\"");
	CHECK_INT(settings_a.pop3.port, 1110);
	CHECK_STR(settings_a.pop3.upstream.host, "::1");
	CHECK_INT(settings_a.pop3.upstream.port, 9950);
	CHECK_STR(settings_a.smtp.hostname, "relay-1.example.com");
	CHECK_STR(settings_a.network.proxy, "http://u:p#w@127.0.0.1:3128");
	CHECK_STR(settings_a.smtp.upstream.host, "127.0.0.1");
	CHECK_INT(settings_a.smtp.upstream.port, 2525);
	CHECK_INT(settings_a.log.level, EV_WARN);
	CHECK_STR(settings_a.log.file, "/var/log/exo.log");
	/* Keys the text leaves out keep their defaults. */
	CHECK_INT(settings_a.smtp.port, 25);
}

TEST(parse_crlf_and_bom)
{
	CHECK_INT(parse("\xef\xbb\xbf[pop3]\r\nport = 2110\r\n", NULL), 0);
	CHECK_INT(settings_a.pop3.port, 2110);
}

TEST(error_with_file_and_line_translates)
{
	struct exo_error	e;
	char			text[I18N_ERROR_MAX];

	CHECK_INT(parse("[pop3]\n\nport = 70000\n", &e), EXO_ERR_INVALID);
	CHECK_INT(e.nlayers, 2);
	CHECK_INT(i18n_set_language("de"), EXO_OK);
	CHECK_STR(i18n_error(&e, text, sizeof(text)), "test.conf:3: port = "
	    "70000 liegt außerhalb des zulässigen Bereichs; zulässig: 1 to "
	    "65535");
	CHECK_INT(i18n_set_language("en"), EXO_OK);
	CHECK_STR(i18n_error(&e, text, sizeof(text)), e.msg);
}

TEST(error_messages_name_file_and_line)
{
	check_error("[pop3]\nportt = 1\n", EXO_ERR_INVALID,
	    "test.conf:2: unknown key 'portt' in [pop3]; known keys: "
	    "enabled, listen, port, upstream, idle_timeout, starttls, "
	    "tls_port, require_tls, legacy_tls, apop, cram_md5");

	check_error("[pop3]\n\nport = 70000\n", EXO_ERR_INVALID,
	    "test.conf:3: port = 70000 is out of range; use 1 to 65535");

	check_error("[pop3]\nport = 0\n", EXO_ERR_INVALID,
	    "test.conf:2: port = 0 is out of range; use 1 to 65535");

	check_error("[pop3]\nport = 11o\n", EXO_ERR_INVALID,
	    "test.conf:2: port = 11o is not a whole number; use 1 to 65535");

	check_error("[pop3]\nport = -5\n", EXO_ERR_INVALID,
	    "test.conf:2: port = -5 is not a whole number; use 1 to 65535");

	check_error("[smtp]\nenabled = maybe\n", EXO_ERR_INVALID,
	    "test.conf:2: enabled = maybe is not a yes/no value; use yes "
	    "or no");

	check_error("[smtp]\nmax_message_size = 10 XB\n", EXO_ERR_INVALID,
	    "test.conf:2: max_message_size = 10 XB is not a size; use bytes "
	    "or a number with KB, MB or GB, from 1 KB to 150 MB");

	check_error("[smtp]\nmax_message_size = 200 MB\n", EXO_ERR_INVALID,
	    "test.conf:2: max_message_size = 200 MB is out of range; use "
	    "1 KB to 150 MB");

	check_error("[smtp]\nupstream = smtp.office365.com\n",
	    EXO_ERR_INVALID, "test.conf:2: upstream = smtp.office365.com is "
	    "not host:port; use a host name and a port from 1 to 65535, such "
	    "as smtp.office365.com:587");

	check_error("[pop3]\nupstream = ::1:995\n", EXO_ERR_INVALID,
	    "test.conf:2: upstream = ::1:995 is not host:port; use a host "
	    "name and a port from 1 to 65535, such as "
	    "outlook.office365.com:995");

	check_error("[log]\nlevel = loud\n", EXO_ERR_INVALID,
	    "test.conf:2: level = loud is not a log level; use debug, info, "
	    "warning or error");

	check_error("[imap]\n", EXO_ERR_INVALID,
	    "test.conf:1: unknown section [imap]; known sections: microsoft, "
	    "pop3, smtp, tls, network, limits, log, ui");

	check_error("port = 1\n", EXO_ERR_INVALID,
	    "test.conf:1: key 'port' comes before any [section]; move it "
	    "under its section");

	check_error("[pop3]\nport = 1\nport = 2\n", EXO_ERR_INVALID,
	    "test.conf:3: port in [pop3] is already set on line 2; remove "
	    "one of them");

	check_error("[pop3]\nport 110\n", EXO_ERR_INVALID,
	    "test.conf:2: expected key = value, found 'port 110'");

	check_error("[pop3\n", EXO_ERR_INVALID,
	    "test.conf:1: expected [section], found '[pop3'");

	check_error("[microsoft]\nclient_secret = \"abc\n", EXO_ERR_INVALID,
	    "test.conf:2: the value of client_secret has no closing quote");

	check_error("[microsoft]\nclient_secret = \"abc\" x\n",
	    EXO_ERR_INVALID, "test.conf:2: text after the closing quote of "
	    "client_secret; start a comment with ';'");

	check_error("[microsoft]\ntenant = a\x01 b\n", EXO_ERR_INVALID,
	    "test.conf:2: tenant contains a control character; remove it");

	check_error("[microsoft]\ntenant = contoso.com/x\n", EXO_ERR_INVALID,
	    "test.conf:2: tenant = contoso.com/x is invalid; use common, "
	    "organizations, a domain or a Directory (tenant) ID");

	check_error("[smtp]\nhostname = my relay\n", EXO_ERR_INVALID,
	    "test.conf:2: hostname = my relay is invalid; use a host name "
	    "of letters, digits, '.' and '-'");

	check_error("[pop3]\nlisten = 0.0.0.0;1\n", EXO_ERR_INVALID,
	    "test.conf:2: listen = 0.0.0.0;1 is invalid; use an IP address "
	    "such as 0.0.0.0, :: or 127.0.0.1");
}

TEST(error_long_values_and_lines)
{
	char	*text;
	size_t	 n = 6000;

	text = malloc(n + 64);
	CHECK(text != NULL);
	if (text == NULL)
		return;
	snprintf(text, n + 64, "[microsoft]\nclient_id = ");
	memset(text + strlen(text), 'a', 200);
	text[23 + 200] = '\0';
	check_error(text, EXO_ERR_TOOLONG,
	    "test.conf:2: client_id is longer than 127 bytes; shorten it");

	snprintf(text, n + 64, "[microsoft]\n; ");
	memset(text + strlen(text), 'c', n - 20);
	text[14 + n - 20] = '\0';
	check_error(text, EXO_ERR_TOOLONG,
	    "test.conf:2: line is longer than 4096 bytes");
	free(text);
}

TEST(error_nul_byte)
{
	struct exo_error	e;
	static const char	text[] = "[pop3]\nport = 1\0\n";

	CHECK_INT(config_parse("x.conf", text, sizeof(text) - 1, &settings_a,
	    &e), EXO_ERR_INVALID);
	CHECK_STR(e.msg, "x.conf:2: contains a NUL byte; save the file as "
	    "plain text (UTF-8)");
}

TEST(parse_mutated_files)
{
	struct exo_error	 e;
	char			 dir[64], path[128], *text, *copy;
	unsigned long		 seed = 99;
	size_t			 len, i;
	int			 round, rc, unprefixed = 0;

	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/exoconnect.conf", dir);
	CHECK_INT(config_write_default(path, &e), 0);
	text = read_text(path);
	CHECK(text != NULL);
	if (text == NULL)
		return;
	len = strlen(text);
	copy = malloc(len + 1);
	CHECK(copy != NULL);
	for (round = 0; copy != NULL && round < 3000; round++) {
		memcpy(copy, text, len + 1);
		for (i = 0; i < 8; i++) {
			seed = seed * 6364136223846793005UL + 1;
			copy[(seed >> 33) % len] = (char)(seed >> 24);
		}
		err_clear(&e);
		rc = config_parse("test.conf", copy, len, &settings_a, &e);
		if (rc != 0 && strncmp(e.msg, "test.conf:", 10) != 0)
			unprefixed++;
	}
	CHECK_INT(unprefixed, 0);
	free(copy);
	free(text);
	unlink(path);
	rmdir(dir);
}

TEST(set_and_get_without_file)
{
	struct exo_error	e;
	char			buf[64];

	config_defaults(&settings_a);
	CHECK_INT(config_set(&settings_a, "smtp", "port", "99999", &e),
	    EXO_ERR_INVALID);
	CHECK_STR(e.msg, "port = 99999 is out of range; use 1 to 65535");
	CHECK_INT(config_set(&settings_a, "smtp", "nope", "1", &e),
	    EXO_ERR_NOTFOUND);
	CHECK_INT(config_set(&settings_a, "smtp", "max_message_size",
	    "1536 KB", &e), 0);
	CHECK_INT(config_get(&settings_a, "smtp", "max_message_size", buf,
	    sizeof(buf)), 0);
	CHECK_STR(buf, "1536 KB");
	CHECK_INT(config_set(&settings_a, "pop3", "upstream", "[fe80::1]:995",
	    &e), 0);
	CHECK_INT(config_get(&settings_a, "pop3", "upstream", buf,
	    sizeof(buf)), 0);
	CHECK_STR(buf, "[fe80::1]:995");
	CHECK_INT(config_get(&settings_a, "log", "level", buf, sizeof(buf)), 0);
	CHECK_STR(buf, "info");
	CHECK_INT(config_get(&settings_a, "pop3", "enabled", buf, 2),
	    EXO_ERR_TOOLONG);
}

/* Compares every key of two settings through config_get. */
static void
check_same_values(const struct settings *a, const struct settings *b)
{
	const struct config_key	*k;
	char			 va[1100], vb[1100];

	for (k = config_keys(); k->name != NULL; k++) {
		CHECK_INT(config_get(a, k->section, k->name, va, sizeof(va)),
		    0);
		CHECK_INT(config_get(b, k->section, k->name, vb, sizeof(vb)),
		    0);
		if (strcmp(va, vb) != 0)
			printf("  key %s in [%s]\n", k->name, k->section);
		CHECK_STR(va, vb);
	}
}

TEST(write_default_round_trip)
{
	struct exo_error	 e;
	char			 dir[64], path[128], *text;

	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/sub/exoconnect.conf", dir);
	CHECK_INT(config_write_default(path, &e), 0);
	CHECK_INT(config_load(path, &settings_a, &e), 0);
	config_defaults(&settings_b);
	snprintf(settings_b.data_dir, sizeof(settings_b.data_dir), "%s/sub",
	    dir);
	check_same_values(&settings_a, &settings_b);
	CHECK_STR(settings_a.path, path);

	text = read_text(path);
	CHECK(text != NULL);
	if (text != NULL) {
		CHECK(strstr(text, "client_id in [microsoft]") != NULL);
		CHECK(strstr(text, "Microsoft Entra") != NULL);
		CHECK(strstr(text, "\n[log]\n") != NULL);
		CHECK(strstr(text, "\nmax_message_size = 35 MB\n") != NULL);
		CHECK(strstr(text, "\nclient_id =\n") != NULL);
	}
	free(text);
	unlink(path);
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
}

TEST(load_resolves_relative_paths)
{
	struct exo_error	e;
	char			dir[64], path[128], want[160];

	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/exoconnect.conf", dir);
	write_text(path, "[tls]\nca_file = roots.pem\n[log]\nfile = "
	    "/abs/exo.log\n");
	CHECK_INT(config_load(path, &settings_a, &e), 0);
	CHECK_STR(settings_a.data_dir, dir);
	snprintf(want, sizeof(want), "%s/roots.pem", dir);
	CHECK_STR(settings_a.tls.ca_file, want);
	CHECK_STR(settings_a.log.file, "/abs/exo.log");
	unlink(path);

	/* The default log file lands beside the settings file too. */
	write_text(path, "[pop3]\nport = 110\n");
	CHECK_INT(config_load(path, &settings_a, &e), 0);
	snprintf(want, sizeof(want), "%s/exoconnect.log", dir);
	CHECK_STR(settings_a.log.file, want);
	unlink(path);

	CHECK_INT(config_load(path, &settings_a, &e), EXO_ERR_NOTFOUND);
	CHECK(strstr(e.msg, "not found") != NULL);
	rmdir(dir);
}

TEST(save_keeps_comments_and_order)
{
	struct exo_error	 e;
	struct stat		 st;
	char			 dir[64], path[128], *text;

	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/exoconnect.conf", dir);
	write_text(path, "; my notes\r\n[pop3]\r\n; keep me\r\nport = 110 ; "
	    "old port\r\n\r\n; trailing comment\r\n[log]\r\nlevel = info\r\n");
	CHECK_INT(config_load(path, &settings_a, &e), 0);
	CHECK_INT(config_set(&settings_a, "pop3", "port", "1110", &e), 0);
	CHECK_INT(config_set(&settings_a, "pop3", "idle_timeout", "900", &e),
	    0);
	CHECK_INT(config_set(&settings_a, "microsoft", "client_secret",
	    "x ;y", &e), 0);
	CHECK_INT(config_set(&settings_a, "tls", "ca_file", "roots.pem", &e),
	    0);
	CHECK_INT(config_save(&settings_a, &e), 0);

	text = read_text(path);
	CHECK(text != NULL);
	if (text != NULL) {
		CHECK(strstr(text, "; my notes\r\n[pop3]\r\n; keep me\r\n"
		    "port = 1110 ; old port\r\nidle_timeout = 900\r\n\r\n"
		    "; trailing comment\r\n[log]\r\nlevel = info\r\n") ==
		    text);
		CHECK(strstr(text, "[microsoft]\r\nclient_secret = "
		    "\"x ;y\"\r\n") != NULL);
		CHECK(strstr(text, "[tls]\r\nca_file = roots.pem\r\n") != NULL);
		CHECK(strstr(text, "[smtp]") == NULL);
	}
	free(text);

	/* A client secret makes the file readable by its owner only. */
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);

	CHECK_INT(config_load(path, &settings_b, &e), 0);
	check_same_values(&settings_a, &settings_b);
	unlink(path);
	rmdir(dir);
}

TEST(check_ready_names_setting)
{
	struct exo_error	e;

	config_defaults(&settings_a);
	snprintf(settings_a.path, sizeof(settings_a.path), "/etc/exo.conf");
	CHECK_INT(config_check_ready(&settings_a, &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "client_id in [microsoft] of /etc/exo.conf is "
	    "empty") != NULL);
	CHECK(strstr(e.msg, "Application (client) ID") != NULL);

	snprintf(settings_a.microsoft.client_id,
	    sizeof(settings_a.microsoft.client_id), "my-app");
	CHECK_INT(config_check_ready(&settings_a, &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "client_id = my-app in [microsoft] of "
	    "/etc/exo.conf is not a GUID") != NULL);

	snprintf(settings_a.microsoft.client_id,
	    sizeof(settings_a.microsoft.client_id),
	    "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	CHECK_INT(config_check_ready(&settings_a, &e), 0);

	settings_a.microsoft.tenant[0] = '\0';
	CHECK_INT(config_check_ready(&settings_a, &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "tenant in [microsoft]") != NULL);

	snprintf(settings_a.microsoft.tenant,
	    sizeof(settings_a.microsoft.tenant), "evil/../x");
	CHECK_INT(config_check_ready(&settings_a, &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "tenant = evil/../x") != NULL);

	snprintf(settings_a.microsoft.tenant,
	    sizeof(settings_a.microsoft.tenant), "common");
	snprintf(settings_a.microsoft.authority,
	    sizeof(settings_a.microsoft.authority),
	    "http://login.microsoftonline.com");
	CHECK_INT(config_check_ready(&settings_a, &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "authority = http://login.microsoftonline.com "
	    "in [microsoft]") != NULL);
	CHECK(strstr(e.msg, "not an https URL") != NULL);
}

TEST(check_ready_one_key)
{
	struct exo_error	e;

	config_defaults(&settings_a);
	snprintf(settings_a.microsoft.client_id,
	    sizeof(settings_a.microsoft.client_id), "not a guid");
	settings_a.microsoft.tenant[0] = '\0';
	CHECK_INT(config_check_ready_key(&settings_a, "microsoft",
	    "client_id", &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "client_id = not a guid in [microsoft]") != NULL);
	CHECK(strstr(e.msg, "is not a GUID") != NULL);
	CHECK_INT(config_check_ready_key(&settings_a, "microsoft", "tenant",
	    &e), EXO_ERR_CONFIG);
	CHECK(strstr(e.msg, "tenant in [microsoft]") != NULL);
	/* A key without a readiness check passes. */
	CHECK_INT(config_check_ready_key(&settings_a, "pop3", "port", &e), 0);
	snprintf(settings_a.microsoft.client_id,
	    sizeof(settings_a.microsoft.client_id),
	    "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	CHECK_INT(config_check_ready_key(&settings_a, "microsoft",
	    "client_id", &e), 0);
}

TEST(ports_of_servers_must_differ)
{
	struct exo_error	e;

	CHECK_INT(parse("[pop3]\nport = 2525\n[smtp]\nport = 2525\n", &e),
	    EXO_ERR_INVALID);
	CHECK_STR(e.msg, "test.conf: port in [pop3] and port in [smtp] are "
	    "both port 2525; give each one a port of its own");
	CHECK_INT(parse("[pop3]\nport = 995\ntls_port = 995\n", &e),
	    EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "port in [pop3] and tls_port in [pop3]") != NULL);
	CHECK_INT(parse("[pop3]\nlisten = 127.0.0.1\nport = 2525\n[smtp]\n"
	    "listen = 0.0.0.0\nport = 2525\n", &e), EXO_ERR_INVALID);
	CHECK_INT(parse("[pop3]\nlisten = 127.0.0.1\nport = 2525\n[smtp]\n"
	    "listen = ::\ntls_port = 2525\n", &e), EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "tls_port in [smtp]") != NULL);

	/* Different addresses, or a disabled server, do not clash. */
	CHECK_INT(parse("[pop3]\nlisten = 127.0.0.1\nport = 2525\n[smtp]\n"
	    "listen = 127.0.0.2\nport = 2525\n", &e), 0);
	CHECK_INT(parse("[pop3]\nport = 2525\n[smtp]\nenabled = no\n"
	    "port = 2525\n", &e), 0);
	CHECK_INT(config_check_ports(&settings_a, &e), 0);
	settings_a.smtp.enabled = 1;
	CHECK_INT(config_check_ports(&settings_a, &e), EXO_ERR_INVALID);
}

TEST(save_keeps_absolute_paths)
{
	struct exo_error	 e;
	char			 dir[64], path[128], text[512], *saved;

	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/exoconnect.conf", dir);
	snprintf(text, sizeof(text), "[tls]\nca_file = %s/roots.pem\n"
	    "certificate = cert.pem\n[log]\nfile = %s/exo.log\n", dir, dir);
	write_text(path, text);
	CHECK_INT(config_load(path, &settings_a, &e), 0);
	CHECK_INT(config_set(&settings_a, "log", "level", "debug", &e), 0);
	CHECK_INT(config_save(&settings_a, &e), 0);
	saved = read_text(path);
	CHECK(saved != NULL);
	if (saved != NULL) {
		snprintf(text, sizeof(text), "\nca_file = %s/roots.pem\n",
		    dir);
		CHECK(strstr(saved, text) != NULL);
		snprintf(text, sizeof(text), "\nfile = %s/exo.log\n", dir);
		CHECK(strstr(saved, text) != NULL);
		/* A relative path stays relative. */
		CHECK(strstr(saved, "\ncertificate = cert.pem\n") != NULL);
	}
	free(saved);
	unlink(path);
	rmdir(dir);
}

TEST(oauth_url_from_settings)
{
	char	url[256];

	config_defaults(&settings_a);
	CHECK_INT(config_oauth_url(&settings_a, "token", url, sizeof(url)), 0);
	CHECK_STR(url, "https://login.microsoftonline.com/common/oauth2/v2.0/"
	    "token");
	snprintf(settings_a.microsoft.authority,
	    sizeof(settings_a.microsoft.authority), "https://127.0.0.1:8443/");
	snprintf(settings_a.microsoft.tenant,
	    sizeof(settings_a.microsoft.tenant), "contoso.com");
	CHECK_INT(config_oauth_url(&settings_a, "devicecode", url,
	    sizeof(url)), 0);
	CHECK_STR(url, "https://127.0.0.1:8443/contoso.com/oauth2/v2.0/"
	    "devicecode");
	CHECK_INT(config_oauth_url(&settings_a, "token", url, 20),
	    EXO_ERR_TOOLONG);
}

TEST(locate_settings_file)
{
	struct exo_error	e;
	char			out[PLAT_PATH_MAX];
	size_t			n;

	CHECK_INT(config_locate("/tmp/where.conf", out, &e), 0);
	CHECK_STR(out, "/tmp/where.conf");
	CHECK_INT(config_locate("/nonexistent-exo/x.conf", out, &e),
	    EXO_ERR_NOTFOUND);
	CHECK(strstr(e.msg, "the folder /nonexistent-exo of") != NULL);
	CHECK(strstr(e.msg, "does not exist") != NULL);
	CHECK_INT(config_locate("where.conf", out, &e), 0);
	CHECK_INT(config_locate(NULL, out, &e), 0);
	n = strlen(out);
	CHECK(n > strlen(CONFIG_FILE_NAME));
	CHECK_STR(out + n - strlen(CONFIG_FILE_NAME), CONFIG_FILE_NAME);
}

/* Loads text from a file of mode 0644 and runs config_protect_file. */
static void
protect_case(const char *text, int want_private)
{
	struct settings		*s;
	struct exo_error	 e;
	struct stat		 st;
	char			 dir[64], path[128], notice[512];

	temp_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/exoconnect.conf", dir);
	write_text(path, text);
	CHECK_INT(chmod(path, 0644), 0);
	s = calloc(1, sizeof(*s));
	CHECK(s != NULL);
	CHECK_INT(config_load(path, s, &e), 0);
	CHECK_INT(config_protect_file(s, notice, sizeof(notice), &e), 0);
	CHECK_INT(stat(path, &st), 0);
	if (want_private) {
		CHECK_INT(st.st_mode & 0777, 0600);
		CHECK(strstr(notice, path) != NULL);
		CHECK(strstr(notice, "limited to its owner (mode 0600") != NULL);
	} else {
		CHECK_INT(st.st_mode & 0777, 0644);
		CHECK_STR(notice, "");
	}
	free(s);
	unlink(path);
	rmdir(dir);
}

TEST(protect_file_with_secrets)
{
	protect_case("[microsoft]\nclient_secret = abc~def\n", 1);
	protect_case("[network]\nproxy = http://u:pw@127.0.0.1:3128\n", 1);
	protect_case("[network]\nproxy = http://127.0.0.1:3128\n", 0);
	protect_case("[log]\nlevel = debug\n", 0);
}

int
main(void)
{
	RUN(defaults_match_documentation);
	RUN(defaults_device_access);
	RUN(parse_device_access_keys);
	RUN(error_trusted_devices_names_entry);
	RUN(key_table_complete);
	RUN(parse_bool_words);
	RUN(parse_sizes);
	RUN(parse_size_overflow_rejected);
	RUN(parse_other_types);
	RUN(parse_crlf_and_bom);
	RUN(error_messages_name_file_and_line);
	RUN(error_with_file_and_line_translates);
	RUN(error_long_values_and_lines);
	RUN(error_nul_byte);
	RUN(parse_mutated_files);
	RUN(set_and_get_without_file);
	RUN(write_default_round_trip);
	RUN(load_resolves_relative_paths);
	RUN(save_keeps_comments_and_order);
	RUN(check_ready_names_setting);
	RUN(check_ready_one_key);
	RUN(ports_of_servers_must_differ);
	RUN(save_keeps_absolute_paths);
	RUN(oauth_url_from_settings);
	RUN(locate_settings_file);
	RUN(protect_file_with_secrets);
	return TEST_EXIT();
}
