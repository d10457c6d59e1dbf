/*
 * test-i18n.c: language selection from locale names and the environment,
 * the fallback to English, and lookups in the compiled catalogs.
 */
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "test.h"

/* A message of cli-user.c that every catalog translates. */
#define DELETED "Deleted user %s.\n"

static const struct {
	const char	*locale;
	const char	*code;		/* NULL: no catalog */
} locale_cases[] = {
	{ "ja_JP.UTF-8", "ja" },
	{ "ja", "ja" },
	{ "de_AT", "de" },
	{ "de_DE.UTF-8@euro", "de" },
	{ "de-CH", "de" },
	{ "fr_CA.UTF-8", "fr" },
	{ "it_IT", "it" },
	{ "es-419", "es" },
	{ "nl_BE.UTF-8", "nl" },
	{ "en_GB.UTF-8", "en" },
	{ "pt_BR.UTF-8", "pt-BR" },
	{ "pt_PT", "pt-BR" },
	{ "pt", "pt-BR" },
	{ "zh_CN.UTF-8", "zh-CN" },
	{ "zh_SG", "zh-CN" },
	{ "zh", "zh-CN" },
	{ "zh-Hans-CN", "zh-CN" },
	{ "zh_TW.UTF-8", "zh-TW" },
	{ "zh_HK", "zh-TW" },
	{ "zh-MO", "zh-TW" },
	{ "zh-Hant-HK", "zh-TW" },
	{ "zh-CHT", "zh-TW" },
	{ "C", "en" },
	{ "POSIX", "en" },
	{ "C.UTF-8", "en" },
	{ "sv_SE.UTF-8", NULL },
	{ "", NULL },
	{ "german", NULL },
	{ "xx_YY", NULL },
};

TEST(match_locale_table)
{
	for (size_t i = 0; i < sizeof(locale_cases) / sizeof(locale_cases[0]);
	    i++) {
		const char *got = i18n_match_locale(locale_cases[i].locale);

		if (locale_cases[i].code == NULL) {
			if (got != NULL)
				printf("  %s -> %s, expected none\n",
				    locale_cases[i].locale, got);
			CHECK(got == NULL);
		} else
			CHECK_STR(got, locale_cases[i].code);
	}
}

TEST(match_locale_too_long)
{
	char	name[200];

	memset(name, 'a', sizeof(name) - 1);
	name[0] = 'd';
	name[1] = 'e';
	name[2] = '_';
	name[sizeof(name) - 1] = '\0';
	CHECK(i18n_match_locale(name) == NULL);
	CHECK(i18n_match_locale(NULL) == NULL);
}

/* Sets the three variables; NULL unsets one. */
static void
set_env(const char *lc_all, const char *lc_messages, const char *lang)
{
	const char	*names[] = { "LC_ALL", "LC_MESSAGES", "LANG" };
	const char	*values[] = { lc_all, lc_messages, lang };

	for (int i = 0; i < 3; i++) {
		if (values[i] == NULL)
			unsetenv(names[i]);
		else
			setenv(names[i], values[i], 1);
	}
}

TEST(auto_follows_lang)
{
	set_env(NULL, NULL, "de_DE.UTF-8");
	CHECK_INT(i18n_set_language("auto"), EXO_OK);
	CHECK_STR(i18n_language(), "de");
	set_env(NULL, NULL, "ja_JP.UTF-8");
	CHECK_INT(i18n_set_language(""), EXO_OK);
	CHECK_STR(i18n_language(), "ja");
}

TEST(auto_lc_all_wins)
{
	set_env("fr_FR.UTF-8", "it_IT.UTF-8", "de_DE.UTF-8");
	CHECK_INT(i18n_set_language("auto"), EXO_OK);
	CHECK_STR(i18n_language(), "fr");
}

TEST(auto_lc_messages_over_lang)
{
	set_env(NULL, "zh_TW.UTF-8", "de_DE.UTF-8");
	CHECK_INT(i18n_set_language("auto"), EXO_OK);
	CHECK_STR(i18n_language(), "zh-TW");
	set_env("", "", "pt_PT.UTF-8");
	CHECK_INT(i18n_set_language("auto"), EXO_OK);
	CHECK_STR(i18n_language(), "pt-BR");
}

TEST(auto_falls_back_to_english)
{
	set_env(NULL, NULL, "sv_SE.UTF-8");
	CHECK_INT(i18n_set_language("auto"), EXO_OK);
	CHECK_STR(i18n_language(), "en");
	CHECK_STR(tr(DELETED), DELETED);

	set_env(NULL, NULL, "C");
	CHECK_INT(i18n_set_language("auto"), EXO_OK);
	CHECK_STR(i18n_language(), "en");
}

TEST(unknown_code_keeps_language)
{
	CHECK_INT(i18n_set_language("nl"), EXO_OK);
	CHECK_INT(i18n_set_language("xx"), EXO_ERR_INVALID);
	CHECK_INT(i18n_set_language("nl_NL"), EXO_ERR_INVALID);
	CHECK_INT(i18n_set_language(NULL), EXO_ERR_INVALID);
	CHECK_STR(i18n_language(), "nl");
}

TEST(known_translation)
{
	CHECK_INT(i18n_set_language("de"), EXO_OK);
	CHECK_STR(tr(DELETED), "Benutzer %s gelöscht.\n");
	CHECK_INT(i18n_set_language("ja"), EXO_OK);
	CHECK_STR(tr(DELETED), "ユーザー %s を削除しました。\n");
	CHECK_INT(i18n_set_language("en"), EXO_OK);
	CHECK_STR(tr(DELETED), DELETED);
}

TEST(unknown_msgid_returned_as_is)
{
	const char	*msgid = "no catalog has this text";

	CHECK_INT(i18n_set_language("fr"), EXO_OK);
	CHECK(tr(msgid) == msgid);
	CHECK(tr(NULL) == NULL);
}

TEST(every_language_translates)
{
	const char *const	*codes = i18n_languages();
	size_t			 n = 0;

	CHECK_STR(codes[0], "en");
	for (; codes[n] != NULL; n++) {
		CHECK_INT(i18n_set_language(codes[n]), EXO_OK);
		CHECK_STR(i18n_language(), codes[n]);
		if (n > 0 && strcmp(tr(DELETED), DELETED) == 0)
			printf("  %s does not translate the test message\n",
			    codes[n]);
		if (n > 0)
			CHECK(strcmp(tr(DELETED), DELETED) != 0);
	}
	CHECK_INT(n, 10);
}

TEST(check_setting)
{
	struct exo_error	e;

	CHECK_INT(i18n_check_setting("auto", NULL), EXO_OK);
	CHECK_INT(i18n_check_setting("", NULL), EXO_OK);
	CHECK_INT(i18n_check_setting("zh-CN", NULL), EXO_OK);
	CHECK_INT(i18n_check_setting("pt-BR", NULL), EXO_OK);
	err_clear(&e);
	CHECK_INT(i18n_check_setting("klingon", &e), EXO_ERR_INVALID);
	CHECK(strstr(e.msg, "klingon") != NULL);
	CHECK(strstr(e.msg, "zh-TW") != NULL);
	CHECK(strstr(e.msg, "auto") != NULL);
}

int
main(void)
{
	RUN(match_locale_table);
	RUN(match_locale_too_long);
	RUN(auto_follows_lang);
	RUN(auto_lc_all_wins);
	RUN(auto_lc_messages_over_lang);
	RUN(auto_falls_back_to_english);
	RUN(unknown_code_keeps_language);
	RUN(known_translation);
	RUN(unknown_msgid_returned_as_is);
	RUN(every_language_translates);
	RUN(check_setting);
	return TEST_EXIT();
}
