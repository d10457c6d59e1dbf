/*
 * auth-recent.c: the addresses that logged in with POP3 lately, for
 * POP-before-SMTP. A device that fetched mail with a valid login may then
 * send from the same address without SMTP AUTH, as that user, for the
 * minutes that pop_before_smtp sets.
 *
 * One table for the process, guarded by a spin lock, because every
 * operation is a short scan. When it is full, the oldest entry goes.
 */
#include <stdatomic.h>
#include <string.h>

#include "auth.h"
#include "util.h"

struct recent_entry {
	char	addr[PLAT_ADDR_MAX];	/* empty: unused */
	char	login[USER_LOGIN_MAX];
	int64_t	time;			/* of the POP3 login */
};

static struct recent_entry	recent_table[AUTH_RECENT_MAX];
static atomic_flag		recent_busy = ATOMIC_FLAG_INIT;

static void
recent_lock(void)
{
	while (atomic_flag_test_and_set_explicit(&recent_busy,
	    memory_order_acquire))
		;
}

static void
recent_unlock(void)
{
	atomic_flag_clear_explicit(&recent_busy, memory_order_release);
}

void
auth_recent_add(const char *addr, const char *login, int64_t now)
{
	struct recent_entry	*e, *slot = NULL;
	size_t			 i;

	recent_lock();
	for (i = 0; i < AUTH_RECENT_MAX; i++) {
		e = &recent_table[i];
		if (e->addr[0] != '\0' && strcmp(e->addr, addr) == 0) {
			slot = e;
			break;
		}
		if (slot == NULL || (slot->addr[0] != '\0' &&
		    (e->addr[0] == '\0' || e->time < slot->time)))
			slot = e;
	}
	str_copy(slot->addr, addr, sizeof(slot->addr));
	str_copy(slot->login, login, sizeof(slot->login));
	slot->time = now;
	recent_unlock();
}

int
auth_recent_find(const char *addr, int minutes, int64_t now,
    char login[USER_LOGIN_MAX])
{
	const struct recent_entry	*e;
	size_t				 i;
	int				 found = 0;

	if (minutes <= 0)
		return 0;
	recent_lock();
	for (i = 0; i < AUTH_RECENT_MAX; i++) {
		e = &recent_table[i];
		if (e->addr[0] == '\0' || strcmp(e->addr, addr) != 0)
			continue;
		if (now - e->time <= (int64_t)minutes * 60 && now >= e->time) {
			str_copy(login, e->login, USER_LOGIN_MAX);
			found = 1;
		}
		break;
	}
	recent_unlock();
	return found;
}

void
auth_recent_clear(void)
{
	recent_lock();
	memset(recent_table, 0, sizeof(recent_table));
	recent_unlock();
}
