"""How the release binaries are linked: static Linux, system DLLs only.

tests/run.py passes the binaries to check in EXO_CHECK_BINS (separated
by os.pathsep) and the Windows test build in EXO_WINE_EXE.
"""

import os
import re
import subprocess
import unittest

# The DLLs exoconnect.exe may import: each ships with every Windows 10,
# 11 and Server 2016 or later installation, Server Core included. USER32
# comes with ncurses' console driver, which calls MessageBeep for beep().
ALLOWED_DLLS = {"advapi32.dll", "bcrypt.dll", "crypt32.dll",
                "iphlpapi.dll", "kernel32.dll", "msvcrt.dll",
                "shell32.dll", "user32.dll", "winhttp.dll", "ws2_32.dll"}
OBJDUMP = "x86_64-w64-mingw32-objdump"


def imported_dlls(exe):
    out = subprocess.run([OBJDUMP, "-p", exe], capture_output=True,
                         check=True, timeout=60).stdout.decode()
    return {m.lower() for m in re.findall(r"DLL Name: (\S+)", out)}


class BinaryTest(unittest.TestCase):

    def named_binaries(self, windows):
        """Return the paths in EXO_CHECK_BINS for one platform."""
        names = os.environ.get("EXO_CHECK_BINS", "").split(os.pathsep)
        found = [n for n in names if n and n.endswith(".exe") == windows]
        if windows and os.environ.get("EXO_WINE_EXE"):
            found.append(os.environ["EXO_WINE_EXE"])
        if not found:
            self.fail("EXO_CHECK_BINS names no %s binary"
                      % ("Windows" if windows else "Linux"))
        return found

    def test_exe_imports_system_dlls(self):
        for exe in self.named_binaries(True):
            with self.subTest(exe=exe):
                dlls = imported_dlls(exe)
                self.assertIn("kernel32.dll", dlls)
                self.assertEqual(dlls - ALLOWED_DLLS, set())

    def test_exe_has_manifest_and_version(self):
        for exe in self.named_binaries(True):
            with open(exe, "rb") as f:
                data = f.read()
            with self.subTest(exe=exe):
                self.assertIn(b'level="asInvoker"', data)
                self.assertIn(b"<longPathAware", data)
                self.assertIn("FileVersion".encode("utf-16-le"), data)
                self.assertIn("exoconnect.exe".encode("utf-16-le"), data)

    def test_linux_binary_static(self):
        for path in self.named_binaries(False):
            with self.subTest(path=path):
                out = subprocess.run(["file", "-L", path],
                                     capture_output=True, check=True,
                                     timeout=60).stdout.decode()
                self.assertRegex(out, "statically linked|static-pie "
                                 "linked")
                with open(path, "rb") as f:
                    data = f.read()
                # A dynamic binary names its loader in PT_INTERP.
                self.assertNotIn(b"/lib64/ld-linux", data)
                self.assertNotIn(b"/lib/ld-musl", data)
