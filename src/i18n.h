/*
 * i18n.h: translation of the text a person reads: the screen, dialogs,
 * --help and command output. The log file stays in English.
 *
 * Messages are marked in the source with _("English text") where they are
 * used, or N_("English text") in a table whose entries are translated
 * later with tr(). Event templates (ev_emit) are message ids too.
 * Catalogs live in locale/LANG.po (gettext's PO format), are checked and
 * compiled into the binary at build time, so exoconnect stays one file.
 * tools/extract-messages writes locale/messages.pot from those three
 * kinds of call, and tools/check-catalogs (run by make check) fails when
 * a catalog misses one of them.
 */
#ifndef EXO_I18N_H
#define EXO_I18N_H

#include "err.h"

/* Maximum size of a language code such as "zh-TW", with its NUL. */
#define I18N_CODE_MAX 8

/*
 * Returns the translation of msgid in the current language, or msgid
 * itself when there is none. The result lives as long as the process.
 * Thread-safe.
 *
 * format_arg makes the compiler check _("%s ...") against the printf
 * arguments as if the English literal were the format. tools/gen-catalogs
 * rejects a translation whose conversions differ from the English ones,
 * so the check covers every language.
 */
const char *tr(const char *msgid) __attribute__((format_arg(1)));

#define _(s) tr(s)
#define N_(s) (s)

/*
 * Selects the language: a code such as "de", "pt-BR", "zh-CN", "zh-TW",
 * "ja", or "" / "auto" for the system's language: the first of LC_ALL,
 * LC_MESSAGES and LANG that is set and not empty, else the Windows UI
 * language (plat_ui_language). A system language without a catalog, "C"
 * and "POSIX" select English. An unknown code is EXO_ERR_INVALID and
 * leaves the language as it was. Thread-safe, but text already returned
 * by tr() stays in the old language.
 */
int i18n_set_language(const char *code);

/* Code of the current language, "en" when no catalog matched. */
const char *i18n_language(void);

/* Codes of all shipped languages, "en" first, ended by NULL. */
const char *const *i18n_languages(void);

/*
 * Returns the shipped language code for a locale name as LANG or Windows
 * spell it ("ja_JP.UTF-8", "de-AT", "zh_HK", "zh-Hant-TW", "pt"), or NULL
 * when no catalog matches. Chinese follows the script or region: Hong
 * Kong, Macau, Taiwan and Hant select zh-TW, everything else zh-CN; any
 * Portuguese selects pt-BR.
 */
const char *i18n_match_locale(const char *locale);

/*
 * Checks a value of the [ui] language setting: "auto" (or empty, which
 * means the same) or a shipped code. The message lists the accepted
 * values.
 */
int i18n_check_setting(const char *value, struct exo_error *e);

/*
 * Returns the translation of msgid in the current language, or NULL when
 * there is none: an err_translate_fn for err_render and
 * ev_render_translated. ctx is not used. Thread-safe.
 */
const char *i18n_translate(const char *msgid, void *ctx);

/*
 * Returns the message id equal to text from the current language's
 * catalog, which lives as long as the process, or NULL when that catalog
 * has no translation of text. An error that came over the control
 * channel keeps its formats this way (err_layout_read).
 */
const char *i18n_msgid(const char *text);

/* Size of a buffer for an error message rendered in any language. */
#define I18N_ERROR_MAX (EXO_ERROR_MSG_MAX * 2)

/*
 * Renders e's message in the current language into buf (see err_render)
 * and returns buf, so a front end can write
 * printf("%s", i18n_error(&e, text, sizeof(text))). Thread-safe.
 */
const char *i18n_error(const struct exo_error *e, char *buf, size_t cap);

#endif
