/*
 * users-int.h: what users.c (the store, its cache and its locks) uses of
 * users-file.c (the file format and file access). Not for other modules.
 */
#ifndef EXO_USERS_INT_H
#define EXO_USERS_INT_H

#include <stdint.h>

#include "plat.h"
#include "users.h"

#define USERS_MAX 2000		/* users in one store */

/* Paths of the two files of one store. */
struct users_files {
	char	conf[PLAT_PATH_MAX];
	char	secrets[PLAT_PATH_MAX];
};

/* Size and change time of one file; -1 for a missing file. */
struct users_stamp {
	int64_t	size;
	int64_t	mtime_ns;
};

struct users_list {
	struct user	*users;
	size_t		 count;
};

/* 1 when login is 1 to 63 letters, digits or ". _ - @ +". */
int users_login_valid(const char *login);

/* Returns the user named login (ASCII case-insensitive) in l, or NULL. */
struct user *users_find(const struct users_list *l, const char *login);
/* Wipes and frees the users of l and empties it. */
void users_list_free(struct users_list *l);
/*
 * Appends a user named login with the default settings and points *out
 * at it. EXO_ERR_TOOLONG past USERS_MAX users, EXO_ERR_NOMEM.
 */
int users_list_append(struct users_list *l, const char *login,
    struct user **out);
/* qsort order: login, ASCII case-insensitive. */
int users_compare(const void *a, const void *b);

/* Reads the size and change time of path; -1 in both when it is missing. */
void users_stamp_of(const char *path, struct users_stamp *st);
int users_stamp_equal(const struct users_stamp *a,
    const struct users_stamp *b);

/*
 * Reads both files into l (missing files are empty) with the stamps they
 * had, retrying when a file changed during the read. The caller frees l.
 */
int users_read_stable(const struct users_files *f, struct users_list *l,
    struct users_stamp *conf, struct users_stamp *secrets,
    struct exo_error *e);

/*
 * Sorts l and writes both files atomically: secrets.dat first, or
 * users.conf first when deleting != 0. So every user in users.conf keeps
 * its secrets even when the second write fails, which leaves at most
 * secrets of a user users.conf lacks, and reading ignores those.
 */
int users_write(const struct users_files *f, struct users_list *l,
    int deleting, struct exo_error *e);

#endif
