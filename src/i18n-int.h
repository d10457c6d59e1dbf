/*
 * i18n-int.h: the compiled catalogs, shared by i18n.c and the file that
 * tools/gen-catalogs writes from locale/LANG.po (build/gen/catalogs.c).
 * Not for other modules.
 */
#ifndef EXO_I18N_INT_H
#define EXO_I18N_INT_H

#include <stddef.h>

struct i18n_entry {
	const char	*msgid;		/* English text */
	const char	*msgstr;	/* its translation */
};

struct i18n_catalog {
	const char		*code;		/* "pt-BR" */
	const struct i18n_entry	*entries;	/* sorted by strcmp of msgid */
	size_t			 count;
};

/*
 * One catalog per locale/LANG.po, "en" first (with no entries when there
 * is no en.po), then the others in file name order.
 */
extern const struct i18n_catalog i18n_catalogs[];
extern const size_t i18n_catalog_count;

/* The codes of i18n_catalogs in the same order, ended by NULL. */
extern const char *const i18n_codes[];

#endif
