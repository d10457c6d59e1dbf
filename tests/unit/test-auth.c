/*
 * test-auth.c: the APOP and CRAM-MD5 digests, the address lists of
 * trusted devices, POP-before-SMTP and the throttling of failed logins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "../../src/auth.h"
#include "../../src/config.h"
#include "../../src/event.h"
#include "../../src/plat.h"
#include "../../src/users.h"
#include "../../src/util.h"
#include "test.h"

static char		 tmp_dir[PLAT_PATH_MAX];
static struct settings	 settings;
static struct userdb	*users;

/* Adds a user with password and the legacy charset flag. */
static int
add_user(const char *login, const char *password, int legacy)
{
	struct exo_error	e;
	struct user		u;

	memset(&u, 0, sizeof(u));
	str_copy(u.login, login, sizeof(u.login));
	str_copy(u.mailbox, "mfp@example.com", sizeof(u.mailbox));
	str_copy(u.password, password, sizeof(u.password));
	str_copy(u.refresh_token, "refresh-1", sizeof(u.refresh_token));
	str_copy(u.sender_policy, "pass", sizeof(u.sender_policy));
	u.accept_legacy_charset = legacy;
	if (userdb_add(users, &u, &e) != EXO_OK) {
		printf("  userdb_add: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static int
setup(void)
{
	struct exo_error	e;
	char			notice[512];
	unsigned char		nonce[4];

	/*
	 * Process ids repeat under wine, whose "rm -rf" in teardown does not
	 * run, so a random part keeps a leftover folder from being reused.
	 */
	if (plat_random(nonce, sizeof(nonce)) != EXO_OK)
		return -1;
	snprintf(tmp_dir, sizeof(tmp_dir),
	    "/tmp/exo-test-auth-%ld-%02x%02x%02x%02x", plat_getpid(),
	    nonce[0], nonce[1], nonce[2], nonce[3]);
	if (plat_mkdir_p(tmp_dir, 1, &e) != EXO_OK)
		return -1;
	config_defaults(&settings);
	str_copy(settings.data_dir, tmp_dir, sizeof(settings.data_dir));
	if (userdb_open(&settings, &users, notice, &e) != EXO_OK) {
		printf("  userdb_open: %s\n", e.msg);
		return -1;
	}
	/* RFC 2195 and RFC 1939 examples, and "pässwörd" in UTF-8. */
	if (add_user("tim", "tanstaaftanstaaf", 0) != 0 ||
	    add_user("mrose", "tanstaaf", 0) != 0 ||
	    add_user("utf8only", "p\xc3\xa4ssw\xc3\xb6rd", 0) != 0 ||
	    add_user("legacy", "p\xc3\xa4ssw\xc3\xb6rd", 1) != 0 ||
	    add_user("euro", "p\xc3\xa4ss\xe2\x82\xac", 1) != 0)
		return -1;
	return 0;
}

static void
teardown(void)
{
	char	cmd[PLAT_PATH_MAX + 16];

	userdb_close(users);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp_dir);
	if (system(cmd) != 0)
		printf("  cannot remove %s\n", tmp_dir);
}

/* Returns the digest check's code for a hex text. */
static int
check_digest(enum auth_digest kind, const char *login,
    const char *challenge, const char *hex)
{
	struct user	u;
	int		rc;

	rc = auth_check_digest(users, kind, login, challenge, hex,
	    strlen(hex), &u);
	if (rc == EXO_OK && str_casecmp(u.login, login) != 0)
		return -1;
	user_wipe(&u);
	return rc;
}

TEST(cram_md5_rfc2195_example)
{
	static const char	challenge[] =
	    "<1896.697170952@postoffice.reston.mci.net>";

	CHECK_INT(check_digest(AUTH_CRAM_MD5, "tim", challenge,
	    "b913a602c7eda7a495b4e6e7334d3890"), EXO_OK);
	CHECK_INT(check_digest(AUTH_CRAM_MD5, "tim", challenge,
	    "B913A602C7EDA7A495B4E6E7334D3890"), EXO_OK);
	CHECK_INT(check_digest(AUTH_CRAM_MD5, "tim", challenge,
	    "b913a602c7eda7a495b4e6e7334d3891"), EXO_ERR_AUTH);
	CHECK_INT(check_digest(AUTH_CRAM_MD5, "tim", challenge,
	    "b913a602c7eda7a495b4e6e7334d389"), EXO_ERR_AUTH);
	CHECK_INT(check_digest(AUTH_CRAM_MD5, "tim",
	    "<1897.697170952@postoffice.reston.mci.net>",
	    "b913a602c7eda7a495b4e6e7334d3890"), EXO_ERR_AUTH);
	CHECK_INT(check_digest(AUTH_CRAM_MD5, "nobody", challenge,
	    "b913a602c7eda7a495b4e6e7334d3890"), EXO_ERR_AUTH);
	/* The APOP digest of the same text is a different function. */
	CHECK_INT(check_digest(AUTH_APOP, "tim", challenge,
	    "b913a602c7eda7a495b4e6e7334d3890"), EXO_ERR_AUTH);
}

TEST(cram_md5_case_c14)
{
	/* HMAC-MD5 keyed with "secret" over the challenge of the case. */
	CHECK_INT(add_user("scanner1", "secret", 0), 0);
	CHECK_INT(check_digest(AUTH_CRAM_MD5, "scanner1",
	    "<4711.1700000000@proxy.example.lan>",
	    "1c42962e9711ef6238b73dbbd137fd75"), EXO_OK);
}

TEST(apop_rfc1939_example)
{
	static const char	ts[] = "<1896.697170952@dbc.mtview.ca.us>";

	CHECK_INT(check_digest(AUTH_APOP, "mrose", ts,
	    "c4c9334bac560ecc979e58001b3e22fb"), EXO_OK);
	CHECK_INT(check_digest(AUTH_APOP, "MROSE", ts,
	    "C4C9334BAC560ECC979E58001B3E22FB"), EXO_OK);
	CHECK_INT(check_digest(AUTH_APOP, "mrose", ts,
	    "c4c9334bac560ecc979e58001b3e22fc"), EXO_ERR_AUTH);
	CHECK_INT(check_digest(AUTH_APOP, "mrose", ts,
	    "g4c9334bac560ecc979e58001b3e22fb"), EXO_ERR_AUTH);
}

/* Formats the digest of kind over password bytes, as a device would. */
static void
device_digest(enum auth_digest kind, const char *challenge,
    const char *password, char out[AUTH_DIGEST_HEX + 1])
{
	static const char	digits[] = "0123456789abcdef";
	br_md5_context		md5;
	br_hmac_key_context	key;
	br_hmac_context		hmac;
	unsigned char		d[16];
	int			i;

	if (kind == AUTH_APOP) {
		br_md5_init(&md5);
		br_md5_update(&md5, challenge, strlen(challenge));
		br_md5_update(&md5, password, strlen(password));
		br_md5_out(&md5, d);
	} else {
		br_hmac_key_init(&key, &br_md5_vtable, password,
		    strlen(password));
		br_hmac_init(&hmac, &key, 0);
		br_hmac_update(&hmac, challenge, strlen(challenge));
		br_hmac_out(&hmac, d);
	}
	for (i = 0; i < 16; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[AUTH_DIGEST_HEX] = '\0';
}

TEST(digest_legacy_charsets)
{
	static const enum auth_digest	 kinds[] = { AUTH_APOP, AUTH_CRAM_MD5 };
	static const char		 ch[] = "<1.2@host>";
	char				 hex[AUTH_DIGEST_HEX + 1];
	size_t				 i;

	for (i = 0; i < 2; i++) {
		device_digest(kinds[i], ch, "p\xc3\xa4ssw\xc3\xb6rd", hex);
		CHECK_INT(check_digest(kinds[i], "utf8only", ch, hex), EXO_OK);
		CHECK_INT(check_digest(kinds[i], "legacy", ch, hex), EXO_OK);

		/* ISO-8859-1 bytes: only with accept_legacy_charset. */
		device_digest(kinds[i], ch, "p\xe4ssw\xf6rd", hex);
		CHECK_INT(check_digest(kinds[i], "utf8only", ch, hex),
		    EXO_ERR_AUTH);
		CHECK_INT(check_digest(kinds[i], "legacy", ch, hex), EXO_OK);

		/* The euro sign is 0x80 in Windows-1252 only. */
		device_digest(kinds[i], ch, "p\xe4ss\x80", hex);
		CHECK_INT(check_digest(kinds[i], "euro", ch, hex), EXO_OK);
		device_digest(kinds[i], ch, "p\xe4ss", hex);
		CHECK_INT(check_digest(kinds[i], "euro", ch, hex),
		    EXO_ERR_AUTH);
	}
}

TEST(challenge_format)
{
	char		 a[AUTH_CHALLENGE_MAX], b[AUTH_CHALLENGE_MAX];
	const char	*dot, *at;

	CHECK_INT(auth_make_challenge("proxy.example.lan", a), EXO_OK);
	CHECK_INT(auth_make_challenge("proxy.example.lan", b), EXO_OK);
	CHECK(a[0] == '<');
	CHECK(a[strlen(a) - 1] == '>');
	dot = strchr(a, '.');
	at = strchr(a, '@');
	CHECK(dot != NULL);
	CHECK(at != NULL);
	CHECK(dot < at);
	CHECK(strcmp(at, "@proxy.example.lan>") == 0);
	CHECK(strcmp(a, b) != 0);
	CHECK_INT(auth_make_challenge("", a), EXO_OK);
	CHECK(strstr(a, "@localhost>") != NULL);
}

TEST(net_list_check_forms)
{
	static const char *const	good[] = {
		"", "192.0.2.10", "192.0.2.0/24, 198.51.100.7",
		"10.0.0.0/8 172.16.0.0/12\t192.168.0.0/16", "::1", "2001:db8::/32", "fe80::1:2:3:4/64", "::",
		"::ffff:192.0.2.1", "1:2:3:4:5:6:7:8", "1::8", "1:2:3:4:5:6::",
	};
	static const char *const	bad[] = {
		"192.0.2", "192.0.2.256", "192.0.2.1/33", "192.0.2.1/",
		"010.0.0.1", "1.2.3.4.5", "host.example", "2001:db8::1::",
		"1:2:3:4:5:6:7:8:9", ":1", "12345::", "::/129", "fe80::1%eth0",
		"1:2:3:4:5:6:7::8",
	};
	struct exo_error		e;
	size_t				i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (auth_net_list_check(good[i], &e) != 0)
			printf("  rejected %s: %s\n", good[i], e.msg);
		CHECK_INT(auth_net_list_check(good[i], &e), 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (auth_net_list_check(bad[i], &e) == 0)
			printf("  accepted %s\n", bad[i]);
		CHECK_INT(auth_net_list_check(bad[i], &e), EXO_ERR_INVALID);
	}
}

TEST(net_list_rejects_everyone)
{
	struct exo_error	e;

	CHECK_INT(auth_net_list_check("0.0.0.0/0", &e), EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "0.0.0.0/0 covers every address") != NULL);
	CHECK_INT(auth_net_list_check("192.0.2.1, ::/0", &e),
	    EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "::/0 covers every address") != NULL);
	CHECK_INT(auth_net_list_check("10.9.8.7/0", &e), EXO_ERR_INVALID);
}

TEST(net_list_wide_entries)
{
	char	entry[64];

	CHECK_INT(auth_net_list_wide("192.168.0.0/16 2001:db8::/48", entry,
	    sizeof(entry)), 0);
	CHECK_INT(auth_net_list_wide("192.0.2.1, 10.0.0.0/8", entry,
	    sizeof(entry)), 1);
	CHECK_STR(entry, "10.0.0.0/8");
	CHECK_INT(auth_net_list_wide("2001:db8::/32", entry, sizeof(entry)),
	    1);
	CHECK_STR(entry, "2001:db8::/32");
	CHECK_INT(auth_net_list_wide("", entry, sizeof(entry)), 0);
}

TEST(net_list_too_many_entries)
{
	struct exo_error	e;
	char			list[AUTH_NET_LIST_MAX * 16];
	size_t			n = 0;
	int			i;

	for (i = 0; i <= AUTH_NET_LIST_MAX; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n,
		    "10.0.0.%d ", i);
	CHECK_INT(auth_net_list_check(list, &e), EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "more than 32 entries") != NULL);
}

TEST(net_list_match_addresses)
{
	static const char	list[] = "192.0.2.10, 198.51.100.0/24 "
	    "2001:db8:10::/48 127.0.0.2";

	CHECK_INT(auth_net_list_match(list, "192.0.2.10"), 1);
	CHECK_INT(auth_net_list_match(list, "192.0.2.11"), 0);
	CHECK_INT(auth_net_list_match(list, "198.51.100.200"), 1);
	CHECK_INT(auth_net_list_match(list, "198.51.101.1"), 0);
	CHECK_INT(auth_net_list_match(list, "2001:db8:10:ffff::1"), 1);
	CHECK_INT(auth_net_list_match(list, "2001:db8:11::1"), 0);
	CHECK_INT(auth_net_list_match(list, "2001:db8:10::1%eth0"), 1);
	CHECK_INT(auth_net_list_match(list, "::ffff:192.0.2.10"), 1);
	CHECK_INT(auth_net_list_match(list, "127.0.0.2"), 1);
	CHECK_INT(auth_net_list_match(list, "127.0.0.1"), 0);
	CHECK_INT(auth_net_list_match(list, "garbage"), 0);
	CHECK_INT(auth_net_list_match("", "192.0.2.10"), 0);
	CHECK_INT(auth_net_list_match("10.1.2.3/12", "10.15.0.1"), 1);
	CHECK_INT(auth_net_list_match("10.1.2.3/12", "10.16.0.1"), 0);
	CHECK_INT(auth_net_list_match("::/0", "::1"), 1);
	CHECK_INT(auth_net_list_match("::/0", "127.0.0.1"), 0);
}

TEST(recent_pop_login_expires)
{
	char	login[USER_LOGIN_MAX];

	auth_recent_clear();
	auth_recent_add("192.0.2.10", "scanner1", 1000);
	CHECK_INT(auth_recent_find("192.0.2.10", 10, 1000 + 600, login), 1);
	CHECK_STR(login, "scanner1");
	CHECK_INT(auth_recent_find("192.0.2.10", 10, 1000 + 601, login), 0);
	CHECK_INT(auth_recent_find("192.0.2.10", 0, 1000, login), 0);
	CHECK_INT(auth_recent_find("192.0.2.11", 10, 1000, login), 0);

	/* A later login from the same address replaces the user. */
	auth_recent_add("192.0.2.10", "scanner2", 1500);
	CHECK_INT(auth_recent_find("192.0.2.10", 10, 1600, login), 1);
	CHECK_STR(login, "scanner2");
}

TEST(recent_table_full_drops_oldest)
{
	char	addr[32], login[USER_LOGIN_MAX];
	int	i;

	auth_recent_clear();
	for (i = 0; i < AUTH_RECENT_MAX + 1; i++) {
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 256, i % 256);
		auth_recent_add(addr, "scanner1", 1000 + i);
	}
	CHECK_INT(auth_recent_find("10.0.0.0", 60, 3000, login), 0);
	CHECK_INT(auth_recent_find("10.0.0.1", 60, 3000, login), 1);
	snprintf(addr, sizeof(addr), "10.0.%d.%d", AUTH_RECENT_MAX / 256,
	    AUTH_RECENT_MAX % 256);
	CHECK_INT(auth_recent_find(addr, 60, 3000, login), 1);
}

static int	blocked_events;

static void
count_blocked(const struct ev *ev, void *arg)
{
	(void)arg;
	if (strcmp(ev->id, "auth.blocked") == 0)
		blocked_events++;
}

TEST(throttle_blocks_after_five)
{
	struct auth_blocked	list[4];
	int			i, sub;

	auth_throttle_clear();
	blocked_events = 0;
	sub = ev_subscribe(count_blocked, NULL);
	for (i = 0; i < AUTH_THROTTLE_FAILURES - 1; i++) {
		auth_throttle_fail("192.0.2.10", 1, 1000 + i);
		CHECK_INT(auth_throttle_blocked("192.0.2.10", 1000 + i), 0);
	}
	auth_throttle_fail("192.0.2.10", 1, 1010);
	CHECK_INT(auth_throttle_blocked("192.0.2.10", 1010), 1);
	CHECK_INT(auth_throttle_blocked("192.0.2.11", 1010), 0);
	CHECK_INT(blocked_events, 1);

	/* Failures during the block are not logged again. */
	auth_throttle_fail("192.0.2.10", 1, 1011);
	CHECK_INT(blocked_events, 1);

	CHECK_INT(auth_throttle_list(list, 4, 1020), 1);
	CHECK_STR(list[0].addr, "192.0.2.10");
	CHECK_INT(list[0].until, 1010 + AUTH_THROTTLE_BLOCK);
	CHECK_INT(auth_throttle_blocked("192.0.2.10",
	    1010 + AUTH_THROTTLE_BLOCK), 0);
	CHECK_INT(auth_throttle_list(list, 4, 1010 + AUTH_THROTTLE_BLOCK), 0);
	ev_unsubscribe(sub);
}

TEST(throttle_window_and_success)
{
	int	i;

	auth_throttle_clear();
	/* Failures spread over more than the window never block. */
	for (i = 0; i < 3 * AUTH_THROTTLE_FAILURES; i++) {
		auth_throttle_fail("192.0.2.20", 0,
		    1000 + (int64_t)i * (AUTH_THROTTLE_WINDOW / 4 + 1));
		CHECK_INT(auth_throttle_blocked("192.0.2.20",
		    1000 + (int64_t)i * (AUTH_THROTTLE_WINDOW / 4 + 1)), 0);
	}

	/* A successful login clears the count. */
	for (i = 0; i < AUTH_THROTTLE_FAILURES - 1; i++)
		auth_throttle_fail("192.0.2.21", 0, 5000);
	auth_throttle_success("192.0.2.21");
	auth_throttle_fail("192.0.2.21", 0, 5001);
	CHECK_INT(auth_throttle_blocked("192.0.2.21", 5001), 0);
}

TEST(throttle_table_full_keeps_blocks)
{
	char	addr[32];
	int	i;

	auth_throttle_clear();
	for (i = 0; i < AUTH_THROTTLE_FAILURES; i++)
		auth_throttle_fail("192.0.2.30", 0, 1000);
	for (i = 0; i < AUTH_THROTTLE_MAX + 10; i++) {
		snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
		auth_throttle_fail(addr, 0, 1001);
	}
	CHECK_INT(auth_throttle_blocked("192.0.2.30", 1100), 1);
}

int
main(void)
{
	plat_init();
	if (setup() != 0) {
		printf("fail setup\n");
		return 1;
	}
	RUN(cram_md5_rfc2195_example);
	RUN(cram_md5_case_c14);
	RUN(apop_rfc1939_example);
	RUN(digest_legacy_charsets);
	RUN(challenge_format);
	RUN(net_list_check_forms);
	RUN(net_list_rejects_everyone);
	RUN(net_list_wide_entries);
	RUN(net_list_too_many_entries);
	RUN(net_list_match_addresses);
	RUN(recent_pop_login_expires);
	RUN(recent_table_full_drops_oldest);
	RUN(throttle_blocks_after_five);
	RUN(throttle_window_and_success);
	RUN(throttle_table_full_keeps_blocks);
	teardown();
	return TEST_EXIT();
}
