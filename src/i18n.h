/*
 * i18n.h: translation of the text a person reads: the screen, dialogs,
 * --help and command output. The log file stays in English.
 *
 * Messages are marked in the source with _("English text") where they are
 * used, or N_("English text") where a table holds them and the translation
 * happens later with tr(). Event templates (ev_emit) are message ids too.
 * Catalogs live in locale/LANG.po (gettext's PO format), are checked and
 * compiled into the binary at build time, so exoconnect stays one file.
 */
#ifndef EXO_I18N_H
#define EXO_I18N_H

/*
 * Returns the translation of msgid in the current language, or msgid
 * itself when there is none. The result lives as long as the process.
 * Thread-safe.
 */
const char *tr(const char *msgid);

#define _(s) tr(s)
#define N_(s) (s)

/*
 * Selects the language: a code such as "de", "pt-BR", "zh-CN", "zh-TW",
 * "ja", or "" / "auto" for the system's language (LANG, LC_ALL,
 * LC_MESSAGES; the Windows UI language). An unknown code is
 * EXO_ERR_INVALID and leaves the language as it was.
 */
int i18n_set_language(const char *code);

/* Code of the current language, "en" when no catalog matched. */
const char *i18n_language(void);

/* Codes of all shipped languages, ended by NULL. */
const char *const *i18n_languages(void);

#endif
