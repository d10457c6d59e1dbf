#!/usr/bin/env python3
"""Run the soak and fault tests and count results.

Usage: EXO_BIN=build/test/exoconnect [EXO_SOAK=long] python3 tests/soak/soak.py
           [-k PATTERN]

Prints "pass NAME" or "fail NAME" per test with the figures each test
measured, and ends with one line "N passed, N failed". The exit status is
1 when anything failed. EXO_SOAK=long runs the full load (1,000 sessions
over 10 minutes); without it, a short pass for make check.
"""

import argparse
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class CountingResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.passed = 0
        self.failed = 0

    def report(self, test, ok, detail=""):
        name = test.id().split(".")[-1]
        if name.startswith("test_"):
            name = name[5:]
        if ok:
            self.passed += 1
            print("pass soak." + name, flush=True)
        else:
            self.failed += 1
            print("fail soak." + name, flush=True)
            for line in detail.rstrip("\n").splitlines():
                print("  " + line, flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.report(test, True)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.report(test, False, self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self.report(test, False, self._exc_info_to_string(err, test))


def main():
    parser = argparse.ArgumentParser(description="Run exoconnect's soak "
                                     "and fault tests.")
    parser.add_argument("-k", dest="pattern", help="run only tests whose "
                        "name contains PATTERN")
    args = parser.parse_args()
    # The figures go to stderr; show them in order with the results.
    os.dup2(1, 2)
    sys.path.insert(0, HERE)
    suite = unittest.TestLoader().discover(HERE, pattern="test_*.py",
                                           top_level_dir=HERE)
    tests = []

    def flatten(s):
        for item in s:
            if isinstance(item, unittest.TestSuite):
                flatten(item)
            else:
                tests.append(item)
    flatten(suite)
    if args.pattern:
        tests = [t for t in tests if args.pattern in t.id()]
    result = CountingResult()
    unittest.TestSuite(tests).run(result)
    print("%d passed, %d failed" % (result.passed, result.failed))
    return 1 if result.failed else 0


if __name__ == "__main__":
    sys.exit(main())
