/*
 * auth.c: the check of a device's local user name and password, shared by
 * the POP3 and SMTP sessions.
 */
#include <string.h>

#include "plat.h"
#include "session.h"
#include "util.h"

/*
 * Compared instead of a stored password when the user is unknown, so an
 * unknown user costs the same work as a wrong password. Its length is the
 * length of the random passwords that user_random_password makes.
 */
static const char auth_dummy_password[] = "AAAAAAAAAAAAAAAA";

int
auth_check_password(struct userdb *db, const char *login,
    const void *password, size_t len, struct user *u)
{
	const char	*stored = auth_dummy_password;
	size_t		 stored_len = sizeof(auth_dummy_password) - 1;
	int		 found = 0, equal;

	memset(u, 0, sizeof(*u));
	if (login != NULL && login[0] != '\0' &&
	    strlen(login) < USER_LOGIN_MAX &&
	    userdb_get(db, login, u, NULL) == EXO_OK) {
		found = 1;
		stored = u->password;
		stored_len = strnlen(u->password, sizeof(u->password));
	}

	/* A user without a password cannot log in, however it was stored. */
	equal = ct_equal(password, len, stored, stored_len);
	if (found && equal && stored_len > 0)
		return EXO_OK;

	plat_wipe(u, sizeof(*u));
	return EXO_ERR_AUTH;
}
