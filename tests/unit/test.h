/*
 * test.h: the unit test harness. A test file defines functions with
 * TEST(name) and lists them in main with RUN(name). Each check that fails
 * prints its file, line and expression; each test prints one line
 * "pass NAME" or "fail NAME", which tests/run.py counts.
 */
#ifndef EXO_TEST_H
#define EXO_TEST_H

#include <stdio.h>
#include <string.h>

static int test_failed_checks;
static int test_total_failed;

#define TEST(name) static void test_##name(void)

#define RUN(name) do {							\
	test_failed_checks = 0;						\
	test_##name();							\
	printf("%s %s\n", test_failed_checks ? "fail" : "pass", #name);	\
	if (test_failed_checks)						\
		test_total_failed++;					\
	fflush(stdout);							\
} while (0)

#define CHECK(expr) do {						\
	if (!(expr)) {							\
		printf("  %s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #expr);					\
		test_failed_checks++;					\
	}								\
} while (0)

#define CHECK_INT(a, b) do {						\
	long long check_a_ = (long long)(a), check_b_ = (long long)(b);	\
	if (check_a_ != check_b_) {					\
		printf("  %s:%d: %s == %lld, expected %s == %lld\n",	\
		    __FILE__, __LINE__, #a, check_a_, #b, check_b_);	\
		test_failed_checks++;					\
	}								\
} while (0)

#define CHECK_STR(a, b) do {						\
	const char *check_a_ = (a), *check_b_ = (b);			\
	if (check_a_ == NULL || check_b_ == NULL ||			\
	    strcmp(check_a_, check_b_) != 0) {				\
		printf("  %s:%d: %s is \"%s\", expected \"%s\"\n",	\
		    __FILE__, __LINE__, #a,				\
		    check_a_ ? check_a_ : "(null)",			\
		    check_b_ ? check_b_ : "(null)");			\
		test_failed_checks++;					\
	}								\
} while (0)

/* Exit status of a test program: 1 when any test failed. */
#define TEST_EXIT() (test_total_failed ? 1 : 0)

#endif
