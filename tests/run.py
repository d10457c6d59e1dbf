#!/usr/bin/env python3
"""Run the unit test programs and the end-to-end tests, and count results.

Usage: python3 tests/run.py --unit-dir DIR --bin PATH [--wine-exe EXE]
                            [--wine-unit-dir DIR] [--wine-e2e]
                            [--check-bin PATH ...] [--counted CMD ...]
                            [-k PATTERN]

Every executable named test-* in DIR runs first. Each prints "pass NAME" or
"fail NAME" per test, followed by indented detail lines. A program that
crashes, times out or exits non-zero without printing a fail line counts as
one failure named after the program. Then the unittest tests in tests/e2e
run in a worker process with the binary path in the environment variable
EXO_BIN, followed by those of the screen in tests/tui. The runner kills a
test that exceeds its time limit, together with every process it started,
and continues with the next test.

With --wine-exe, the tests in tests/wine run last, the same way, against
that Windows executable under wine: the runner creates one wine prefix for
the whole run and removes it at the end. The Windows unit test programs in
--wine-unit-dir run in that prefix first, their names starting "wine/".
--wine-e2e also runs the tests in tests/e2e against the .exe, named
"wine/MODULE.TEST". --check-bin names the release binaries whose linking
the tests in tests/wine check (static for Linux, system DLLs only for
Windows).

--counted runs a shell command whose output has its own "pass NAME" and
"fail NAME" lines, such as the soak tests, the fuzz replay and memcheck
of make check. Its results count here, its other lines are shown as they
come, and its own "N passed, N failed" line is left out. A command that
exits non-zero without a fail line counts as one failure. These run last.

The output ends with exactly one line "N passed, N failed", and the exit
status is 1 when anything failed.
"""

import argparse
import fnmatch
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
E2E_DIR = os.path.join(HERE, "e2e")
WINE_DIR = os.path.join(HERE, "wine")
TUI_DIR = os.path.join(HERE, "tui")

UNIT_TIMEOUT = 300    # seconds per unit test program
E2E_TIMEOUT = 180    # seconds per end-to-end test, setUpClass included


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def record(self, ok, name, detail=""):
        if ok:
            self.passed += 1
            print("pass " + name)
        else:
            self.failed += 1
            print("fail " + name)
            for line in detail.rstrip("\n").splitlines():
                print("  " + line)
        sys.stdout.flush()


def matches(pattern, *names):
    """Return True when PATTERN is absent or matches one of NAMES.

    A pattern with shell wildcards is matched with fnmatch, any other
    pattern as a substring, as unittest's -k does.
    """
    if not pattern:
        return True
    wild = any(ch in pattern for ch in "*?[")
    for name in names:
        if wild and fnmatch.fnmatchcase(name, pattern):
            return True
        if not wild and pattern in name:
            return True
    return False


def kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run_unit_program(path, pattern, tally, runner=(), env=None, label=""):
    """Run one unit test program and record each of its results.

    RUNNER is a command that runs the program (wine for a Windows test),
    and LABEL goes before every name the program reports.
    """
    prog = label + os.path.basename(path)
    proc = subprocess.Popen(list(runner) + [path], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, cwd=os.path.dirname(path), env=env,
        start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=UNIT_TIMEOUT)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out = proc.stdout.read() if proc.stdout else b""
        timed_out = True
    text = out.decode("utf-8", "replace")

    # test.h prints a test's detail lines before its result line.
    results = []        # (ok, name, detail lines)
    detail = []
    stray = []          # unindented lines that are not results
    for line in text.splitlines():
        line = line.rstrip("\r")      # wine ends lines with CRLF
        if line.startswith("pass ") or line.startswith("fail "):
            results.append((line.startswith("pass "),
                label + line[5:].strip(), detail))
            detail = []
        elif line.startswith(" ") or line.startswith("\t"):
            detail.append(line.strip())
        else:
            stray.append(line)
    stray.extend(detail)

    any_fail = False
    for ok, name, lines in results:
        any_fail = any_fail or not ok
        if matches(pattern, name, prog):
            tally.record(ok, name, "\n".join(lines))

    status = proc.returncode
    if timed_out or (status != 0 and not any_fail):
        if timed_out:
            why = "timed out after %d s" % UNIT_TIMEOUT
        elif status < 0:
            why = "killed by signal %d" % -status
        else:
            why = "exited with status %d" % status
        tail = "\n".join(stray[-20:])
        tally.record(False, prog, why + ("\n" + tail if tail else ""))


def run_unit_dir(unit_dir, pattern, tally, runner=(), env=None, label=""):
    if not unit_dir:
        return
    if not os.path.isdir(unit_dir):
        tally.record(False, "unit-dir",
            "unit test directory not found: " + unit_dir)
        return
    for entry in sorted(os.listdir(unit_dir)):
        path = os.path.join(unit_dir, entry)
        if not entry.startswith("test-") or not os.path.isfile(path):
            continue
        if not os.access(path, os.X_OK) or entry.endswith((".c", ".o",
            ".d", ".h")):
            continue
        run_unit_program(os.path.abspath(path), pattern, tally, runner,
            env, label)


# ---- commands that count their own results ---------------------------

SUMMARY = re.compile(r"^\d+ passed, \d+ failed$")


def run_counted(cmd, tally):
    """Run the shell command CMD and record the results it prints."""
    proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, start_new_session=True)
    any_fail = False
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("pass ") or line.startswith("fail "):
            ok = line.startswith("pass ")
            any_fail = any_fail or not ok
            tally.record(ok, line[5:].strip())
        elif not SUMMARY.match(line):
            print(line)
            sys.stdout.flush()
    proc.wait()
    if proc.returncode != 0 and not any_fail:
        script = re.search(r"\S+\.(sh|py)\b", cmd)
        tally.record(False, script.group(0) if script else cmd,
            "exited with status %d" % proc.returncode)


# ---- end-to-end tests -------------------------------------------------

def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def discover_e2e(test_dir=E2E_DIR):
    """Return the loader's suite for TEST_DIR, or raise on import errors."""
    loader = unittest.TestLoader()
    suite = loader.discover(test_dir, pattern="test_*.py",
        top_level_dir=test_dir)
    return loader, suite


class JsonLinesResult(unittest.TestResult):
    """Report each test's start and outcome as one JSON line on stdout."""

    def __init__(self, out):
        super().__init__()
        self.out = out
        self.reported = False
        self.subtest_failures = []

    def emit(self, obj):
        if obj["event"] in ("result", "skip"):
            self.reported = True
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()

    def startTest(self, test):
        super().startTest(test)
        self.reported = False
        self.subtest_failures = []
        self.emit({"event": "start", "id": test.id()})

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.subtest_failures.append(subtest.id() + "\n" +
                                         self._exc_info_to_string(err, test))

    def stopTest(self, test):
        # A test whose subtests failed gets no addFailure call.
        if not self.reported:
            self.emit({"event": "result", "id": test.id(), "ok": False,
                       "detail": "\n".join(self.subtest_failures) or
                       "the test reported no result"})
        super().stopTest(test)

    def addSuccess(self, test):
        super().addSuccess(test)
        if self.subtest_failures:
            self.emit({"event": "result", "id": test.id(), "ok": False,
                       "detail": "\n".join(self.subtest_failures)})
        else:
            self.emit({"event": "result", "id": test.id(), "ok": True})

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.emit({"event": "result", "id": test.id(), "ok": False,
            "detail": self._exc_info_to_string(err, test)})

    def addError(self, test, err):
        super().addError(test, err)
        self.emit({"event": "result", "id": getattr(test, "id",
            lambda: str(test))(), "ok": False,
            "detail": self._exc_info_to_string(err, test)})

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.emit({"event": "skip", "id": test.id(),
            "reason": reason})

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.emit({"event": "result", "id": test.id(), "ok": True})

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.emit({"event": "result", "id": test.id(), "ok": False,
            "detail": "unexpected success"})


def worker(ids):
    """Run the end-to-end tests named in IDS, reporting as JSON lines.

    stdout carries only the JSON lines; anything the tests print goes to
    stderr, which the parent shows with a failing test.
    """
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # The wine tests import the end-to-end harness.
    sys.path.insert(0, WINE_DIR)
    sys.path.insert(0, TUI_DIR)
    sys.path.insert(0, E2E_DIR)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for test_id in ids:
        suite.addTests(loader.loadTestsFromName(test_id))
    result = JsonLinesResult(out)
    suite.run(result)
    out.write(json.dumps({"event": "done"}) + "\n")
    out.flush()
    return 0


def short_name(test_id):
    # "test_pop3.Pop3Tests.test_dele_without_quit" -> "pop3.dele_without_quit"
    parts = test_id.split(".")
    if len(parts) >= 3:
        module = parts[0][5:] if parts[0].startswith("test_") else \
            parts[0]
        method = parts[-1][5:] if parts[-1].startswith("test_") else \
            parts[-1]
        return module + "." + method
    return test_id


def run_e2e(bin_path, pattern, tally, test_dir=E2E_DIR, extra_env=None):
    if E2E_DIR not in sys.path:
        sys.path.insert(0, E2E_DIR)
    if test_dir not in sys.path:
        sys.path.insert(0, test_dir)
    try:
        _, suite = discover_e2e(test_dir)
    except Exception as exc:    # an import error in a test module
        tally.record(False, "e2e-discovery", repr(exc))
        return
    ids = []
    for test in iter_tests(suite):
        test_id = test.id()
        if test_id.startswith("unittest.loader._FailedTest"):
            # A module that failed to import: report its error here.
            result = unittest.TestResult()
            test.run(result)
            detail = "".join(text for _, text in result.errors)
            tally.record(False, short_name(test_id), detail)
            continue
        if matches(pattern, test_id, short_name(test_id)):
            ids.append(test_id)
    if not ids:
        return

    env = dict(os.environ)
    if bin_path:
        env["EXO_BIN"] = os.path.abspath(bin_path)
    env.update(extra_env or {})
    pending = list(ids)
    while pending:
        pending = run_worker_batch(pending, env, tally)


def run_worker_batch(ids, env, tally):
    """Run IDS in one worker; return the ids still to run after a kill."""
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__),
        "--e2e-worker"] + ids, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=env, start_new_session=True)
    done = set()
    current = None
    started_at = time.monotonic()
    buf = b""
    err_chunks = []
    streams = [proc.stdout, proc.stderr]
    finished = False
    while not finished:
        remaining = E2E_TIMEOUT - (time.monotonic() - started_at)
        if remaining <= 0:
            name = current or next((i for i in ids if i not in done),
                "e2e-worker")
            kill_group(proc)
            tail = b"".join(err_chunks)[-4000:].decode("utf-8",
                "replace")
            tally.record(False, short_name(name),
                "timed out after %d s\n%s" % (E2E_TIMEOUT, tail))
            done.add(name)
            return [i for i in ids if i not in done]
        ready, _, _ = select.select(streams, [], [], min(remaining, 1.0))
        for stream in ready:
            chunk = os.read(stream.fileno(), 65536)
            if stream is proc.stderr:
                if chunk:
                    err_chunks.append(chunk)
                    if len(err_chunks) > 200:
                        err_chunks = [b"".join(
                            err_chunks)[-16000:]]
                else:
                    streams.remove(stream)
                continue
            if not chunk:
                finished = True
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if msg["event"] == "start":
                    if current is not None:
                        tally.record(False, short_name(current),
                                     "the test started but reported no "
                                     "result")
                        done.add(current)
                    current = msg["id"]
                    started_at = time.monotonic()
                    err_chunks = []
                elif msg["event"] == "result":
                    tid = msg["id"]
                    done.add(tid)
                    started_at = time.monotonic()
                    if tid == current:
                        current = None
                    detail = msg.get("detail", "")
                    if not msg["ok"]:
                        tail = b"".join(err_chunks)[
                            -3000:].decode("utf-8",
                            "replace")
                        if tail.strip():
                            detail += ("\nstderr of "
                                "the test:\n" + tail)
                    tally.record(msg["ok"],
                        short_name(tid), detail)
                elif msg["event"] == "skip":
                    done.add(msg["id"])
                    if msg["id"] == current:
                        current = None
                    print("skip %s (%s)" % (short_name(
                        msg["id"]), msg["reason"]))
                elif msg["event"] == "done":
                    finished = True
    proc.wait()
    if proc.returncode != 0:
        tail = b"".join(err_chunks)[-4000:].decode("utf-8", "replace")
        name = current or "e2e-worker"
        tally.record(False, short_name(name),
            "worker exited with status %d\n%s" % (proc.returncode,
            tail))
        done.add(name)
        # Tests the worker never reached run again in a new worker.
        return [i for i in ids if i not in done and i != current]
    if current is not None:
        tally.record(False, short_name(current),
            "the test started but reported no result")
    return []


class LabeledTally:
    """Record results in a Tally with LABEL before every name."""

    def __init__(self, tally, label):
        self.tally = tally
        self.label = label

    def record(self, ok, name, detail=""):
        self.tally.record(ok, self.label + name, detail)


def run_wine(exe, check_bins, unit_dir, all_e2e, pattern, tally):
    """Run the tests in tests/wine against EXE in a new wine prefix.

    The unit test programs in UNIT_DIR (test-*.exe) run first, under wine,
    with "wine/" before their names. With ALL_E2E the tests in tests/e2e
    run last against EXE too, also named "wine/...".
    """
    if not os.path.isfile(exe):
        tally.record(False, "wine-exe", "Windows executable not found: "
                     + exe)
        return
    sys.path.insert(0, WINE_DIR)
    import wineprefix
    prefix = wineprefix.WinePrefix(exe)
    try:
        try:
            env = prefix.start()
        except (OSError, RuntimeError) as exc:
            tally.record(False, "wine-prefix", str(exc))
            return
        if unit_dir:
            run_unit_dir(unit_dir, pattern, tally,
                ["timeout", "-k", "5", str(UNIT_TIMEOUT), "wine"],
                prefix.env, "wine/")
        env["EXO_CHECK_BINS"] = os.pathsep.join(
            os.path.abspath(b) for b in check_bins)
        run_e2e(None, pattern, tally, WINE_DIR, env)
        if all_e2e:
            run_e2e(None, pattern, LabeledTally(tally, "wine/"), E2E_DIR,
                env)
    finally:
        prefix.stop()


def main(argv):
    if len(argv) > 1 and argv[1] == "--e2e-worker":
        return worker(argv[2:])
    parser = argparse.ArgumentParser(description="Run exoconnect's "
        "unit and end-to-end tests.")
    parser.add_argument("--unit-dir", help="folder of test-* programs")
    parser.add_argument("--bin", help="exoconnect binary for the "
        "end-to-end tests (passed as EXO_BIN)")
    parser.add_argument("--wine-exe", help="Windows exoconnect.exe "
        "for the tests in tests/wine, run under wine")
    parser.add_argument("--wine-unit-dir", help="folder of Windows "
        "test-*.exe unit test programs, run under wine with --wine-exe")
    parser.add_argument("--wine-e2e", action="store_true",
        help="with --wine-exe, also run tests/e2e against the .exe")
    parser.add_argument("--check-bin", action="append", default=[],
        help="release binary whose linking tests/wine checks "
        "(repeatable)")
    parser.add_argument("--counted", action="append", default=[],
        metavar="CMD", help="shell command that prints its own pass and "
        "fail lines, counted here (repeatable; skipped with -k)")
    parser.add_argument("-k", dest="pattern", help="run only tests "
        "whose name contains PATTERN (or matches it, with wildcards)")
    args = parser.parse_args(argv[1:])

    tally = Tally()
    run_unit_dir(args.unit_dir, args.pattern, tally)
    if args.bin and not os.access(args.bin, os.X_OK):
        tally.record(False, "e2e-binary",
            "binary not found or not executable: " + args.bin)
    else:
        run_e2e(args.bin, args.pattern, tally)
        run_e2e(args.bin, args.pattern, tally, TUI_DIR)
    if args.wine_exe:
        run_wine(args.wine_exe, args.check_bin, args.wine_unit_dir,
            args.wine_e2e, args.pattern, tally)
    if not args.pattern:
        for cmd in args.counted:
            run_counted(cmd, tally)
    print("%d passed, %d failed" % (tally.passed, tally.failed))
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
