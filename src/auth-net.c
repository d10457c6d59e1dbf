/*
 * auth-net.c: lists of IPv4 and IPv6 addresses and CIDR networks, as the
 * trusted_devices setting spells them, and the match of a device address
 * against such a list.
 *
 * The parsers are our own, so the settings check and the match behave the
 * same on every platform. IPv6 accepts "::" compression and a dotted IPv4
 * tail (RFC 4291 section 2.2). A zone ("%eth0") is ignored in a device
 * address and rejected in the list. IPv4-mapped IPv6 addresses match as
 * IPv4, as plat_accept writes them.
 */
#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "util.h"

#define NET_ENTRY_MAX 64	/* longest list entry, "addr/prefix" */
#define NET_SEPARATORS ", \t"

struct net_addr {
	int		v6;
	uint8_t		b[16];		/* IPv4 in the first 4 bytes */
};

static int
net_parse_v4(const char *s, size_t len, uint8_t out[4])
{
	size_t		i = 0;
	int		part, digits, value;

	for (part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return -1;
			i++;
		}
		value = 0;
		for (digits = 0; i < len && s[i] >= '0' && s[i] <= '9';
		    digits++, i++) {
			/* No leading zeros: "010" is octal to some parsers. */
			if (digits > 0 && value == 0)
				return -1;
			value = value * 10 + (s[i] - '0');
			if (value > 255)
				return -1;
		}
		if (digits == 0)
			return -1;
		out[part] = (uint8_t)value;
	}
	return i == len ? 0 : -1;
}

static int
net_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses one hex group of 1 to 4 digits at s; returns its length or 0. */
static size_t
net_parse_group(const char *s, size_t len, unsigned *value)
{
	size_t	n;
	int	d;

	*value = 0;
	for (n = 0; n < len && n < 5 && (d = net_hex_digit(s[n])) >= 0; n++)
		*value = (*value << 4) | (unsigned)d;
	return n >= 1 && n <= 4 ? n : 0;
}

static int
net_parse_v6(const char *s, size_t len, uint8_t out[16])
{
	uint8_t		words[16];
	size_t		i = 0, n, nbytes = 0, gap = SIZE_MAX;
	unsigned	value;

	if (len >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		i = 2;
	} else if (len >= 1 && s[0] == ':')
		return -1;
	while (i < len) {
		if (nbytes + 4 <= 16 && memchr(s + i, '.', len - i) != NULL &&
		    memchr(s + i, ':', len - i) == NULL) {
			if (net_parse_v4(s + i, len - i, words + nbytes) != 0)
				return -1;
			nbytes += 4;
			i = len;
			break;
		}
		if (nbytes + 2 > 16 ||
		    (n = net_parse_group(s + i, len - i, &value)) == 0)
			return -1;
		words[nbytes++] = (uint8_t)(value >> 8);
		words[nbytes++] = (uint8_t)value;
		i += n;
		if (i == len)
			break;
		if (s[i] != ':' || i + 1 == len)
			return -1;
		i++;
		if (s[i] == ':') {
			if (gap != SIZE_MAX)
				return -1;
			gap = nbytes;
			i++;
		}
	}

	if (gap == SIZE_MAX && nbytes != 16)
		return -1;
	if (gap != SIZE_MAX && nbytes > 14)
		return -1;
	memset(out, 0, 16);
	if (gap == SIZE_MAX)
		memcpy(out, words, 16);
	else {
		memcpy(out, words, gap);
		memcpy(out + 16 - (nbytes - gap), words + gap, nbytes - gap);
	}
	return 0;
}

/* Parses an address; IPv4-mapped IPv6 becomes IPv4. */
static int
net_parse_addr(const char *s, size_t len, struct net_addr *a)
{
	static const uint8_t	mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
				    0xff, 0xff };

	memset(a, 0, sizeof(*a));
	if (memchr(s, ':', len) == NULL)
		return net_parse_v4(s, len, a->b);
	if (net_parse_v6(s, len, a->b) != 0)
		return -1;
	a->v6 = 1;
	if (memcmp(a->b, mapped, sizeof(mapped)) == 0) {
		memmove(a->b, a->b + 12, 4);
		memset(a->b + 4, 0, 12);
		a->v6 = 0;
	}
	return 0;
}

/* Parses "addr" or "addr/prefix" into *a and *prefix. */
static int
net_parse_entry(const char *s, size_t len, struct net_addr *a, int *prefix)
{
	const char	*slash = memchr(s, '/', len);
	size_t		 alen = slash != NULL ? (size_t)(slash - s) : len;
	long long	 p;
	char		 digits[4];
	size_t		 dlen;

	if (net_parse_addr(s, alen, a) != 0)
		return -1;
	*prefix = a->v6 ? 128 : 32;
	if (slash == NULL)
		return 0;

	dlen = len - alen - 1;
	if (dlen == 0 || dlen >= sizeof(digits))
		return -1;
	memcpy(digits, slash + 1, dlen);
	digits[dlen] = '\0';
	if (parse_ll(digits, 0, *prefix, &p) != 0)
		return -1;
	*prefix = (int)p;
	return 0;
}

static int
net_in_prefix(const struct net_addr *net, int prefix,
    const struct net_addr *a)
{
	int	full = prefix / 8, rest = prefix % 8;
	uint8_t	mask;

	if (net->v6 != a->v6)
		return 0;
	if (memcmp(net->b, a->b, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff << (8 - rest));
	return (net->b[full] & mask) == (a->b[full] & mask);
}

#define NET_TOO_LONG (-2)
#define NET_TOO_MANY (-3)
#define NET_EVERYONE (-4)	/* a /0 entry: every address of a family */
#define NET_WIDE 1		/* an entry wider than the warning limit */

/*
 * Calls fn on each entry of list until fn returns non-zero, and returns
 * that value, NET_TOO_LONG for an entry of NET_ENTRY_MAX bytes or more,
 * or NET_TOO_MANY after AUTH_NET_LIST_MAX entries. *bad points at the
 * entry that failed.
 */
static int
net_each(const char *list, int (*fn)(const char *, size_t, void *),
    void *arg, const char **bad, size_t *bad_len)
{
	const char	*p = list;
	size_t		 n;
	int		 count = 0, rc;

	for (;;) {
		p += strspn(p, NET_SEPARATORS);
		if (*p == '\0')
			return 0;
		n = strcspn(p, NET_SEPARATORS);
		*bad = p;
		*bad_len = n;
		if (n >= NET_ENTRY_MAX)
			return NET_TOO_LONG;
		if (++count > AUTH_NET_LIST_MAX)
			return NET_TOO_MANY;
		if ((rc = fn(p, n, arg)) != 0)
			return rc;
		p += n;
	}
}

static int
net_check_one(const char *s, size_t len, void *arg)
{
	struct net_addr	a;
	int		prefix;

	(void)arg;
	if (net_parse_entry(s, len, &a, &prefix) != 0)
		return -1;
	return prefix == 0 ? NET_EVERYONE : 0;
}

int
auth_net_list_check(const char *list, struct exo_error *e)
{
	const char	*bad = list;
	size_t		 bad_len = 0;

	switch (net_each(list, net_check_one, NULL, &bad, &bad_len)) {
	case 0:
		return 0;
	case NET_TOO_LONG:
		return err_set(e, EXO_ERR_INVALID, "the entry %.40s... is too "
		    "long for an address or network", bad);
	case NET_TOO_MANY:
		return err_set(e, EXO_ERR_INVALID, "the list has more than %d "
		    "entries; combine addresses into networks such as "
		    "192.0.2.0/24", AUTH_NET_LIST_MAX);
	case NET_EVERYONE:
		/* With /0, any host that reaches the port sends as the
		 * trusted user, without a password. */
		return err_set(e, EXO_ERR_INVALID, "%.*s covers every address, "
		    "so anyone who reaches the SMTP port could send mail "
		    "without a password; list the devices' addresses or their "
		    "local network, such as 192.168.1.0/24", (int)bad_len,
		    bad);
	}
	return err_set(e, EXO_ERR_INVALID, "%.*s is not an IPv4 or IPv6 "
	    "address or network; use forms such as 192.0.2.10, "
	    "192.0.2.0/24 or 2001:db8::/32", (int)bad_len, bad);
}

static int
net_wide_one(const char *s, size_t len, void *arg)
{
	struct net_addr	a;
	int		prefix;

	(void)arg;
	if (net_parse_entry(s, len, &a, &prefix) != 0)
		return 0;
	return prefix < (a.v6 ? AUTH_NET_WARN_PREFIX_V6 :
	    AUTH_NET_WARN_PREFIX_V4) ? NET_WIDE : 0;
}

int
auth_net_list_wide(const char *list, char *entry, size_t cap)
{
	const char	*found = list;
	size_t		 len = 0;

	if (net_each(list, net_wide_one, NULL, &found, &len) != NET_WIDE)
		return 0;
	if (cap > 0) {
		if (len >= cap)
			len = cap - 1;
		memcpy(entry, found, len);
		entry[len] = '\0';
	}
	return 1;
}

static int
net_match_one(const char *s, size_t len, void *arg)
{
	const struct net_addr	*a = arg;
	struct net_addr		 net;
	int			 prefix;

	if (net_parse_entry(s, len, &net, &prefix) != 0)
		return -1;
	return net_in_prefix(&net, prefix, a) ? 1 : 0;
}

int
auth_net_list_match(const char *list, const char *addr)
{
	struct net_addr	 a;
	const char	*bad;
	size_t		 len, bad_len;

	len = strcspn(addr, "%");
	if (net_parse_addr(addr, len, &a) != 0)
		return 0;
	return net_each(list, net_match_one, &a, &bad, &bad_len) == 1;
}
