/*
 * test-config-doc.c: docs/settings.md must match the reference rendered
 * from the key table. Run with --write PATH to regenerate the file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "../../src/config.h"
#include "../../src/plat.h"
#include "../../src/util.h"

/* The tests run in build/debug/tests; make runs them from the top. */
static const char *const doc_paths[] = {
	"docs/settings.md", "../../../docs/settings.md", NULL,
};

TEST(settings_doc_up_to_date)
{
	struct buf	 b;
	char		*text = NULL;
	size_t		 len = 0;
	int		 i, rc = EXO_ERR_NOTFOUND;

	buf_init(&b);
	CHECK_INT(config_doc_markdown(&b), 0);
	for (i = 0; doc_paths[i] != NULL && rc == EXO_ERR_NOTFOUND; i++)
		rc = plat_read_file(doc_paths[i], 1 << 20, &text, &len, NULL);
	CHECK_INT(rc, 0);
	if (rc == 0 && (len != b.len || memcmp(text, b.data, len) != 0))
		printf("  docs/settings.md is stale; run build/debug/tests/"
		    "test-config-doc --write docs/settings.md\n");
	CHECK_INT((int)len, (int)b.len);
	CHECK(len == b.len && memcmp(text, b.data, len) == 0);
	free(text);
	buf_free(&b);
}

TEST(settings_doc_lists_every_key)
{
	const struct config_key	*k;
	struct buf		 b;
	char			 cell[80];

	buf_init(&b);
	CHECK_INT(config_doc_markdown(&b), 0);
	for (k = config_keys(); k->name != NULL; k++) {
		snprintf(cell, sizeof(cell), "| `%s` |", k->name);
		CHECK(strstr(b.data, cell) != NULL);
	}
	CHECK(strstr(b.data, "## [ui]") != NULL);
	CHECK(strstr(b.data, "| `max_message_size` | `35 MB` | 1 KB to "
	    "150 MB |") != NULL);
	buf_free(&b);
}

int
main(int argc, char **argv)
{
	struct buf	b;
	int		rc;

	if (argc == 3 && strcmp(argv[1], "--write") == 0) {
		buf_init(&b);
		rc = config_doc_markdown(&b);
		if (rc == 0)
			rc = plat_write_file_atomic(argv[2], b.data, b.len, 0,
			    NULL);
		buf_free(&b);
		return rc == 0 ? 0 : 1;
	}
	RUN(settings_doc_up_to_date);
	RUN(settings_doc_lists_every_key);
	return TEST_EXIT();
}
