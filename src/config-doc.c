/*
 * config-doc.c: the settings reference (docs/settings.md) rendered from
 * the key table, so the document lists exactly the keys, defaults and
 * ranges that the parser accepts. test-config-doc fails when the file in
 * the repository differs from this output, and writes it with --write.
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "util.h"

#define KB 1024LL
#define MB (1024LL * 1024)

/* Writes a byte count as the parser accepts it: "35 MB", "1 KB", "100". */
static void
doc_size(char *out, size_t cap, long long n)
{
	if (n % MB == 0)
		snprintf(out, cap, "%lld MB", n / MB);
	else if (n % KB == 0)
		snprintf(out, cap, "%lld KB", n / KB);
	else
		snprintf(out, cap, "%lld bytes", n);
}

/* Writes the values a key accepts, from its type and range. */
static void
doc_values(const struct config_key *k, char *out, size_t cap)
{
	char	lo[24], hi[24];

	switch (k->type) {
	case CONFIG_BOOL:
		snprintf(out, cap, "yes or no");
		break;
	case CONFIG_INT:
		snprintf(out, cap, "%lld to %lld", k->min, k->max);
		break;
	case CONFIG_SIZE:
		doc_size(lo, sizeof(lo), k->min);
		doc_size(hi, sizeof(hi), k->max);
		snprintf(out, cap, "%s to %s", lo, hi);
		break;
	case CONFIG_ENDPOINT:
		snprintf(out, cap, "host:port");
		break;
	case CONFIG_PATH:
		snprintf(out, cap, "path");
		break;
	case CONFIG_LEVEL:
		snprintf(out, cap, "debug, info, warning or error");
		break;
	default:
		snprintf(out, cap, "text");
		break;
	}
}

/* Appends text with "|" escaped, so it stays in one table cell. */
static int
doc_cell(struct buf *b, const char *text)
{
	const char	*bar;
	int		 rc = 0;

	while (rc == 0 && (bar = strchr(text, '|')) != NULL) {
		rc = buf_append(b, text, (size_t)(bar - text));
		if (rc == 0)
			rc = buf_puts(b, "\\|");
		text = bar + 1;
	}
	return rc != 0 ? rc : buf_puts(b, text);
}

static int
doc_row(struct buf *b, const struct config_key *k)
{
	char	values[96];
	int	rc;

	doc_values(k, values, sizeof(values));
	rc = buf_printf(b, "| `%s` | %s%s%s | %s | ", k->name,
	    k->default_text[0] != '\0' ? "`" : "",
	    k->default_text[0] != '\0' ? k->default_text : "(empty)",
	    k->default_text[0] != '\0' ? "`" : "", values);
	if (rc == 0)
		rc = doc_cell(b, k->help != NULL ? k->help : "");
	if (rc == 0)
		rc = buf_puts(b, " |\n");
	return rc;
}

int
config_doc_markdown(struct buf *b)
{
	const struct config_key	*k;
	const char		*section = NULL;
	int			 rc;

	rc = buf_puts(b, "# Settings reference\n\n"
	    "<!-- Generated from the key table in src/config.c by\n"
	    "     build/debug/tests/test-config-doc --write docs/settings.md;\n"
	    "     the unit test fails when this file is out of date. -->\n\n"
	    "exoconnect.conf is an INI file: `[section]` headers, "
	    "`key = value` lines,\n"
	    "and comments that start with `;` or `#`. An unknown key or an "
	    "invalid value\n"
	    "stops the program with the file, the line and the accepted "
	    "values. Yes or no\n"
	    "also takes true/false, on/off and 1/0. Sizes take B, K, KB, M, "
	    "MB, G or GB\n"
	    "in any letter case, with or without a space. Relative paths are "
	    "relative\n"
	    "to the folder of the settings file.\n");
	for (k = config_keys(); rc == 0 && k->name != NULL; k++) {
		if (section == NULL || strcmp(section, k->section) != 0) {
			section = k->section;
			rc = buf_printf(b, "\n## [%s]\n\n"
			    "| key | default | values | meaning |\n"
			    "|---|---|---|---|\n", section);
		}
		if (rc == 0)
			rc = doc_row(b, k);
	}
	return rc;
}
