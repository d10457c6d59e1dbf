/*
 * auth-throttle.c: failed device logins counted per address. After
 * AUTH_THROTTLE_FAILURES failures within AUTH_THROTTLE_WINDOW seconds,
 * logins from that address are delayed and rejected for
 * AUTH_THROTTLE_BLOCK seconds, so a device with a wrong password, or
 * someone guessing, cannot try passwords at full speed. Other addresses
 * are not affected: the delay runs on the blocked session's thread and no
 * lock is held while it waits.
 *
 * One table for the process, shared by the POP3 and SMTP sessions and
 * guarded by a spin lock, because every operation is a short scan.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "event.h"
#include "util.h"

struct throttle_entry {
	char	addr[PLAT_ADDR_MAX];	/* empty: unused */
	int64_t	window_start;		/* first failure of the window */
	int64_t	last;			/* last failure, for eviction */
	int64_t	until;			/* blocked until; 0: not blocked */
	int	failures;
};

static struct throttle_entry	throttle_table[AUTH_THROTTLE_MAX];
static atomic_flag		throttle_busy = ATOMIC_FLAG_INIT;
static atomic_int		throttle_delay_ms = AUTH_THROTTLE_DELAY_MS;

static void
throttle_lock(void)
{
	while (atomic_flag_test_and_set_explicit(&throttle_busy,
	    memory_order_acquire))
		;
}

static void
throttle_unlock(void)
{
	atomic_flag_clear_explicit(&throttle_busy, memory_order_release);
}

/* Returns the entry of addr, or NULL. Call with the lock held. */
static struct throttle_entry *
throttle_find(const char *addr)
{
	size_t	i;

	for (i = 0; i < AUTH_THROTTLE_MAX; i++) {
		if (throttle_table[i].addr[0] != '\0' &&
		    strcmp(throttle_table[i].addr, addr) == 0)
			return &throttle_table[i];
	}
	return NULL;
}

/* Returns 1 when a goes before b: unblocked first, then the oldest. */
static int
throttle_evicts_first(const struct throttle_entry *a,
    const struct throttle_entry *b, int64_t now)
{
	int	a_blocked = a->until > now, b_blocked = b->until > now;

	if (a_blocked != b_blocked)
		return b_blocked;
	return a->last < b->last;
}

/*
 * Returns a cleared entry for addr: a free one, or else the one that
 * throttle_evicts_first picks. Call with the lock held.
 */
static struct throttle_entry *
throttle_new(const char *addr, int64_t now)
{
	struct throttle_entry	*e, *victim = NULL;
	size_t			 i;

	for (i = 0; i < AUTH_THROTTLE_MAX; i++) {
		e = &throttle_table[i];
		if (e->addr[0] == '\0') {
			victim = e;
			break;
		}
		if (victim == NULL || throttle_evicts_first(e, victim, now))
			victim = e;
	}
	memset(victim, 0, sizeof(*victim));
	str_copy(victim->addr, addr, sizeof(victim->addr));
	victim->window_start = now;
	return victim;
}

void
auth_throttle_fail(const char *addr, unsigned long conn, int64_t now)
{
	struct throttle_entry	*e;
	char			 count[16], minutes[16];
	int			 blocked = 0, failures;

	throttle_lock();
	if ((e = throttle_find(addr)) == NULL)
		e = throttle_new(addr, now);
	if (now - e->window_start >= AUTH_THROTTLE_WINDOW) {
		e->window_start = now;
		e->failures = 0;
	}
	e->failures++;
	e->last = now;
	failures = e->failures;
	if (e->failures >= AUTH_THROTTLE_FAILURES && e->until <= now) {
		e->until = now + AUTH_THROTTLE_BLOCK;
		blocked = 1;
	}
	throttle_unlock();

	if (!blocked)
		return;
	snprintf(count, sizeof(count), "%d", failures);
	snprintf(minutes, sizeof(minutes), "%d", AUTH_THROTTLE_BLOCK / 60);
	ev_emit(EV_WARN, conn, "auth.blocked", "{count} failed logins from "
	    "{peer}; logins from this address are rejected for {minutes} "
	    "minutes. Check the user name and password set on that device",
	    "count", count, "peer", addr, "minutes", minutes, (char *)NULL);
}

int
auth_throttle_blocked(const char *addr, int64_t now)
{
	struct throttle_entry	*e;
	int			 blocked;

	throttle_lock();
	e = throttle_find(addr);
	blocked = e != NULL && e->until > now;
	throttle_unlock();
	return blocked;
}

void
auth_throttle_success(const char *addr)
{
	struct throttle_entry	*e;

	throttle_lock();
	if ((e = throttle_find(addr)) != NULL)
		memset(e, 0, sizeof(*e));
	throttle_unlock();
}

int
auth_throttle_delay_ms(void)
{
	return atomic_load(&throttle_delay_ms);
}

void
auth_throttle_set_delay_ms(int ms)
{
	atomic_store(&throttle_delay_ms, ms);
}

size_t
auth_throttle_list(struct auth_blocked *out, size_t cap, int64_t now)
{
	const struct throttle_entry	*e;
	size_t				 i, n = 0;

	throttle_lock();
	for (i = 0; i < AUTH_THROTTLE_MAX; i++) {
		e = &throttle_table[i];
		if (e->addr[0] == '\0' || e->until <= now)
			continue;
		if (n < cap) {
			str_copy(out[n].addr, e->addr, sizeof(out[n].addr));
			out[n].until = e->until;
			out[n].failures = e->failures;
		}
		n++;
	}
	throttle_unlock();
	return n;
}

void
auth_throttle_clear(void)
{
	throttle_lock();
	memset(throttle_table, 0, sizeof(throttle_table));
	throttle_unlock();
}
