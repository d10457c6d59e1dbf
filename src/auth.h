/*
 * auth.h: the device logins shared by the POP3 and SMTP sessions, beyond
 * the password check in session.h: challenge-response digests (APOP,
 * CRAM-MD5), address lists of trusted devices, the POP-before-SMTP
 * registry and the throttling of failed logins per device address.
 */
#ifndef EXO_AUTH_H
#define EXO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "plat.h"
#include "users.h"

/* ---- challenges and digests (auth.c) ---- */

#define AUTH_CHALLENGE_MAX 320	/* "<random.time@host>" with its NUL */
#define AUTH_DIGEST_HEX 32	/* MD5 and HMAC-MD5 as hex, without NUL */

/*
 * Writes "<R.T@host>" into out: R a random decimal number from
 * plat_random, T the wall clock in seconds. An empty host is written as
 * "localhost". Used as the APOP timestamp (RFC 1939 section 7) and as the
 * CRAM-MD5 challenge (RFC 2195 section 2).
 */
int auth_make_challenge(const char *host, char out[AUTH_CHALLENGE_MAX]);

/*
 * Writes the name the servers give in greetings and challenges: the
 * smtp hostname setting, else this computer's host name, else
 * "localhost".
 */
void auth_host_name(const struct settings *s, char *out, size_t cap);

enum auth_digest {
	AUTH_APOP,		/* MD5(challenge || password) */
	AUTH_CRAM_MD5,		/* HMAC-MD5 keyed with the password */
};

/*
 * Checks the hex digest a device sent for challenge against the stored
 * password of login, case-insensitively and in constant time. With the
 * user's accept_legacy_charset, the digests of the password's ISO-8859-1
 * and Windows-1252 forms match too. An unknown login costs the same work
 * as a wrong digest. Returns 0 and fills *u, or EXO_ERR_AUTH.
 */
int auth_check_digest(struct userdb *db, enum auth_digest kind,
    const char *login, const char *challenge, const char *hex,
    size_t hex_len, struct user *u);

/* ---- device addresses and networks (auth-net.c) ---- */

#define AUTH_NET_LIST_MAX 32	/* entries in one address list */

/*
 * Checks a list of IPv4 and IPv6 addresses and CIDR networks separated
 * by commas or spaces ("192.0.2.10, 198.51.100.0/24, 2001:db8::/32").
 * The message names the first invalid entry. An empty list is valid.
 */
int auth_net_list_check(const char *list, struct exo_error *e);

/* Widest networks that trusted_devices takes without a warning. */
#define AUTH_NET_WARN_PREFIX_V4 16
#define AUTH_NET_WARN_PREFIX_V6 48

/*
 * Finds the first entry of a valid list that is wider than
 * AUTH_NET_WARN_PREFIX_V4 (IPv4) or AUTH_NET_WARN_PREFIX_V6 (IPv6) and
 * copies it into entry (cap bytes). Returns 1 when there is one, else 0.
 */
int auth_net_list_wide(const char *list, char *entry, size_t cap);

/*
 * Returns 1 when addr (a numeric address as plat_accept writes it) is in
 * the list, 0 otherwise, and 0 for an invalid list or address.
 */
int auth_net_list_match(const char *list, const char *addr);

/* ---- POP-before-SMTP (auth-recent.c) ---- */

#define AUTH_RECENT_MAX 1024	/* remembered addresses; the oldest go */

/* Records a successful POP3 login of login from addr at time now. */
void auth_recent_add(const char *addr, const char *login, int64_t now);

/*
 * Copies into login the user who last logged in with POP3 from addr
 * within minutes minutes before now. Returns 1 when there is one.
 */
int auth_recent_find(const char *addr, int minutes, int64_t now,
    char login[USER_LOGIN_MAX]);

/* Forgets every entry; for tests and reloads. */
void auth_recent_clear(void);

/* ---- failed-login throttling (auth-throttle.c) ---- */

#define AUTH_THROTTLE_FAILURES 5	/* failures that start a block */
#define AUTH_THROTTLE_WINDOW 300	/* seconds they are counted over */
#define AUTH_THROTTLE_BLOCK 300		/* seconds an address is refused */
#define AUTH_THROTTLE_DELAY_MS 3000	/* delay before each answer then */
#define AUTH_THROTTLE_MAX 1024		/* addresses tracked; oldest go */

struct auth_blocked {
	char	addr[PLAT_ADDR_MAX];
	int64_t	until;			/* wall clock seconds */
	int	failures;		/* counted in the current window */
};

/*
 * Records a failed login from addr at now. When this makes
 * AUTH_THROTTLE_FAILURES within AUTH_THROTTLE_WINDOW seconds, the address
 * is blocked for AUTH_THROTTLE_BLOCK seconds and an event
 * "auth.blocked" is emitted once for that block, with conn.
 */
void auth_throttle_fail(const char *addr, unsigned long conn, int64_t now);

/*
 * Returns 1 when addr is blocked at now. The sessions then wait
 * auth_throttle_delay_ms() and reject the login without checking it.
 */
int auth_throttle_blocked(const char *addr, int64_t now);

/* Forgets the failures of addr after a successful login. */
void auth_throttle_success(const char *addr);

/* Milliseconds a blocked attempt waits; tests may shorten it. */
int auth_throttle_delay_ms(void);
void auth_throttle_set_delay_ms(int ms);

/*
 * Copies the addresses blocked at now, at most cap, into out, and returns
 * how many there are. For the screen.
 */
size_t auth_throttle_list(struct auth_blocked *out, size_t cap,
    int64_t now);

/* Forgets every address; for tests. */
void auth_throttle_clear(void);

#endif
