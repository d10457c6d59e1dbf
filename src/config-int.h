/*
 * config-int.h: helpers shared by config.c (the key table and values) and
 * config-file.c (reading and writing the settings file). Not for other
 * modules.
 */
#ifndef EXO_CONFIG_INT_H
#define EXO_CONFIG_INT_H

#include "config.h"

#define CONFIG_KEYS_MAX 64	/* rows in the key table, checked in config.c */

/* Section names in file order, ended by NULL. */
const char *const *config_section_names(void);

/*
 * Checks value as k's type and range and stores it in s. The message
 * names the key and the accepted values but not the file or line.
 */
int config_set_key(struct settings *s, const struct config_key *k,
    const char *value, struct exo_error *e);
/* Formats k's value in s as the settings file spells it. */
int config_get_key(const struct settings *s, const struct config_key *k,
    char *buf, size_t cap);

/* Formats bytes as "35 MB" when it is a whole number of KB, MB or GB. */
void config_format_size(long long v, char *buf, size_t cap);

/*
 * Returns 1 for "/x", "\x", "C:\x" and "C:/x". Both forms are checked on
 * every platform, as a settings file may move between them.
 */
int config_path_absolute(const char *p);

/* Makes a relative path relative to s->data_dir, when that is set. */
void config_resolve_path(const struct settings *s, char *path, size_t cap);

#endif
