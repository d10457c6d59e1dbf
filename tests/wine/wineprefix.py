"""A wine prefix for one test run, and a command that runs an .exe in it.

tests/run.py creates the prefix once per run with start(), runs the tests
in tests/wine with the environment that start() returns, and calls stop()
at the end. Every wine call is bounded by `timeout`.
"""

import os
import shutil
import stat
import subprocess
import tempfile
import time

BOOT_TIMEOUT = 180      # seconds for wineserver and wineboot
RUN_TIMEOUT = 300       # seconds for one run of the program under wine
SERVICES_WAIT = 30      # seconds for wine's service manager to settle


def wine_env(prefix):
    """Return the environment for wine calls in PREFIX.

    WINEDEBUG=-all keeps wine's own diagnostics out of the program's
    stderr. Disabling mscoree and mshtml stops wineboot from offering to
    install Mono and Gecko. Without DISPLAY no window can open.
    """
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    env["WINEPREFIX"] = prefix
    env["WINEDEBUG"] = "-all"
    env["WINEDLLOVERRIDES"] = "mscoree,mshtml="
    return env


def quiet_run(args, env, timeout):
    """Run ARGS under `timeout` with stdin, stdout and stderr on /dev/null.

    wine's helper processes inherit the caller's descriptors and outlive
    the call, so a captured pipe would stay open and stall the caller.
    """
    return subprocess.run(["timeout", "-k", "5", str(timeout)] + args,
                          stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=env,
                          start_new_session=True).returncode


def services_processes(prefix):
    """Return the number of services.exe processes running in PREFIX."""
    count = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read()
            with open("/proc/%s/environ" % pid, "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if (b"services.exe" in cmdline and
                b"WINEPREFIX=" + prefix.encode() in environ):
            count += 1
    return count


class WinePrefix:
    """A temporary wine prefix with a persistent wineserver."""

    def __init__(self, exe):
        self.exe = os.path.abspath(exe)
        self.dir = tempfile.mkdtemp(prefix="exo-wine-")
        self.prefix = os.path.join(self.dir, "prefix")
        self.env = wine_env(self.prefix)
        self.wrapper = os.path.join(self.dir, "exoconnect")

    def start(self):
        """Create the prefix and start wine; return the tests' environment.

        Raises RuntimeError when wine cannot start.
        """
        # wineserver runs in the prefix folder, so it must exist first.
        os.makedirs(self.prefix)
        self.boot()
        if not self.wait_for_one_service_manager():
            # boot() avoids the known cause of a second services.exe;
            # should one appear anyway, a restart of wine leaves one.
            quiet_run(["wineserver", "-k"], self.env, BOOT_TIMEOUT)
            self.boot()
            if not self.wait_for_one_service_manager():
                raise RuntimeError(
                    "wine runs %d services.exe in %s after a restart; "
                    "the service tests need exactly one"
                    % (services_processes(self.prefix), self.prefix))
        self.write_wrapper()
        env = dict(self.env)
        env["EXO_BIN"] = self.wrapper
        env["EXO_WINE_EXE"] = self.exe
        return env

    def boot(self):
        """Start a persistent wineserver and boot the prefix.

        Plain `wineboot` creates a new prefix once. wine 8.0 runs the
        first-run setup itself, so `wineboot --init` on a new prefix ran
        it a second time and left two services.exe. Each served some of
        the service manager's calls from its own list, so a service
        created through one was missing from the other.
        """
        if quiet_run(["wineserver", "-p"], self.env, BOOT_TIMEOUT) != 0:
            raise RuntimeError("wineserver -p failed in " + self.prefix)
        if quiet_run(["wine", "wineboot"], self.env, BOOT_TIMEOUT) != 0:
            raise RuntimeError("wine wineboot failed in " + self.prefix)

    def wait_for_one_service_manager(self):
        """Wait up to SERVICES_WAIT seconds until exactly one services.exe
        runs in the prefix and stays alone for a second; return whether
        it did."""
        deadline = time.monotonic() + SERVICES_WAIT
        alone_since = None
        while time.monotonic() < deadline:
            if services_processes(self.prefix) == 1:
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since >= 1:
                    return True
            else:
                alone_since = None
            time.sleep(0.2)
        return False

    def write_wrapper(self):
        """Write a shell script that runs the .exe under wine.

        The end-to-end harness runs EXO_BIN as a program, so the wrapper
        lets it drive the .exe unchanged. exec keeps one process, so a
        signal to the wrapper reaches `timeout`, which passes it on to
        wine. --foreground keeps wine in the caller's process group:
        without it, a wrapper started from a terminal runs wine in a
        background group, which stops at its first read of the terminal
        (a password prompt, the screen).
        """
        text = ("#!/bin/sh\n"
                "exec timeout --foreground -k 5 %d wine '%s' \"$@\"\n"
                % (RUN_TIMEOUT, self.exe.replace("'", "'\\''")))
        with open(self.wrapper, "w") as f:
            f.write(text)
        os.chmod(self.wrapper, stat.S_IRWXU)

    def stop(self):
        """Stop the wineserver and remove the prefix."""
        quiet_run(["wineserver", "-k"], self.env, 60)
        shutil.rmtree(self.dir, ignore_errors=True)
