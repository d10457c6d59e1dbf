/*
 * i18n.c: the current language and the lookup of translations in the
 * catalogs compiled from locale/LANG.po (see i18n-int.h).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "i18n-int.h"
#include "plat.h"
#include "util.h"

/* Longer locale names are not names of a locale. */
#define I18N_LOCALE_MAX 64

/* NULL until a language is chosen: English, the text of the msgids. */
static const struct i18n_catalog *_Atomic i18n_current;

/* Environment variables that name the locale, in POSIX's order. */
static const char *const i18n_env_vars[] = {
	"LC_ALL", "LC_MESSAGES", "LANG", NULL,
};

/* Chinese regions and scripts written in Traditional characters. */
static const char *const i18n_traditional[] = {
	"TW", "HK", "MO", "Hant", "CHT", NULL,
};

static int
i18n_entry_cmp(const void *key, const void *elem)
{
	const struct i18n_entry	*entry = elem;

	return strcmp(key, entry->msgid);
}

/* Returns the text of msgid in cat, or NULL when cat has none. */
static const char *
i18n_lookup(const struct i18n_catalog *cat, const char *msgid)
{
	const struct i18n_entry	*hit;

	if (cat == NULL || cat->count == 0 || msgid == NULL)
		return NULL;
	hit = bsearch(msgid, cat->entries, cat->count, sizeof(*hit),
	    i18n_entry_cmp);
	return hit != NULL ? hit->msgstr : NULL;
}

const char *
tr(const char *msgid)
{
	const char	*text = i18n_lookup(atomic_load(&i18n_current), msgid);

	return text != NULL ? text : msgid;
}

const char *
i18n_msgid(const char *text)
{
	const struct i18n_catalog	*cat = atomic_load(&i18n_current);
	const struct i18n_entry		*hit;

	if (cat == NULL || cat->count == 0 || text == NULL)
		return NULL;
	hit = bsearch(text, cat->entries, cat->count, sizeof(*hit),
	    i18n_entry_cmp);
	return hit != NULL ? hit->msgid : NULL;
}

const char *
i18n_translate(const char *msgid, void *ctx)
{
	(void)ctx;
	return i18n_lookup(atomic_load(&i18n_current), msgid);
}

static const struct i18n_catalog *
i18n_find(const char *code)
{
	for (size_t i = 0; i < i18n_catalog_count; i++)
		if (str_casecmp(i18n_catalogs[i].code, code) == 0)
			return &i18n_catalogs[i];
	return NULL;
}

static int
i18n_in_list(const char *word, const char *const *list)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (str_casecmp(word, list[i]) == 0)
			return 1;
	return 0;
}

const char *
i18n_match_locale(const char *locale)
{
	const struct i18n_catalog	*cat;
	char				 name[I18N_LOCALE_MAX];
	char				*part, *next;
	int				 traditional = 0;

	if (locale == NULL || locale[0] == '\0' ||
	    str_copy(name, locale, sizeof(name)) >= sizeof(name))
		return NULL;

	/* "ja_JP.UTF-8@euro": the charset and modifier do not matter. */
	name[strcspn(name, ".@")] = '\0';
	if (strcmp(name, "C") == 0 || strcmp(name, "POSIX") == 0)
		return "en";

	/* "zh_TW", "zh-Hant-HK": the language, then script and region. */
	next = name + strcspn(name, "_-");
	if (*next != '\0')
		*next++ = '\0';
	while (*next != '\0') {
		part = next;
		next = part + strcspn(part, "_-");
		if (*next != '\0')
			*next++ = '\0';
		if (i18n_in_list(part, i18n_traditional))
			traditional = 1;
	}

	if (str_casecmp(name, "zh") == 0)
		return traditional ? "zh-TW" : "zh-CN";
	if (str_casecmp(name, "pt") == 0)
		return "pt-BR";
	if (strlen(name) > 3)
		return NULL;
	cat = i18n_find(name);
	return cat != NULL ? cat->code : NULL;
}

/* Returns the code for the system's language; "en" when none matches. */
static const char *
i18n_system_language(void)
{
	const char	*value, *code;
	char		 ui[I18N_LOCALE_MAX];

	for (size_t i = 0; i18n_env_vars[i] != NULL; i++) {
		value = getenv(i18n_env_vars[i]);
		if (value == NULL || value[0] == '\0')
			continue;
		code = i18n_match_locale(value);
		return code != NULL ? code : "en";
	}

	/* Windows consoles rarely set LANG; the display language counts. */
	plat_ui_language(ui, sizeof(ui));
	code = i18n_match_locale(ui);
	return code != NULL ? code : "en";
}

int
i18n_set_language(const char *code)
{
	const struct i18n_catalog	*cat;

	if (code == NULL)
		return EXO_ERR_INVALID;
	if (code[0] == '\0' || strcmp(code, "auto") == 0)
		code = i18n_system_language();
	cat = i18n_find(code);
	if (cat == NULL)
		return EXO_ERR_INVALID;
	atomic_store(&i18n_current, cat);
	return EXO_OK;
}

const char *
i18n_language(void)
{
	const struct i18n_catalog	*cat = atomic_load(&i18n_current);

	return cat != NULL ? cat->code : "en";
}

const char *const *
i18n_languages(void)
{
	return i18n_codes;
}

int
i18n_check_setting(const char *value, struct exo_error *e)
{
	char	list[I18N_CODE_MAX * 16];
	size_t	len = 0;
	int	n;

	if (value[0] == '\0' || strcmp(value, "auto") == 0 ||
	    i18n_find(value) != NULL)
		return EXO_OK;
	list[0] = '\0';
	for (size_t i = 0; i18n_codes[i] != NULL && len < sizeof(list); i++) {
		n = snprintf(list + len, sizeof(list) - len, "%s%s",
		    i == 0 ? "" : ", ", i18n_codes[i]);
		if (n < 0)
			break;
		len += (size_t)n;
	}
	return err_set(e, EXO_ERR_INVALID, "unknown language \"%s\"; use "
	    "auto (the system's language) or one of %s", value, list);
}

const char *
i18n_error(const struct exo_error *e, char *buf, size_t cap)
{
	err_render(e, i18n_translate, NULL, buf, cap);
	return buf;
}
