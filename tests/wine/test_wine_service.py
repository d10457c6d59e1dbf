"""exoconnect.exe as a Windows service under wine's service manager.

wine 8.0 runs services: CreateServiceW, StartServiceW, the control
dispatcher and ControlService work, so the test installs the service,
starts it, sends a mail through it, stops it and uninstalls it. wine
keeps no firewall rules, ACLs or Event Log, and it does not implement
the restart actions. Its debug output shows the Event Log calls, which
one test reads. docs/windows-checklist.md lists how to check the rest on
Windows.

Only this module installs the service, because the prefix is shared by
every test of the run.
"""

import os
import poplib
import smtplib
import socket
import subprocess
import time

from harness import MAILBOX, ProductTest
from wineprefix import services_processes

MESSAGE = (b"From: <mfp@example.com>\r\nTo: <mfp@example.com>\r\n"
           b"Subject: service\r\n\r\nsent through the exoconnect service\r\n")

# DPAPI blobs as wine 8.0 writes them (see test_wine.py).
WINE_DPAPI_MAGIC = b"\x01\x00\x00\x00Wine Crypt32 ok\x00"
STOP_TIMEOUT = 60       # seconds for the service to stop and free a port


class WineServiceTest(ProductTest):
    """One user signed in by device code; the service not installed."""

    SERVE = False

    def setUp(self):
        super().setUp()
        prefix = os.environ.get("WINEPREFIX", "")
        self.assertTrue(prefix, "WINEPREFIX is not set")
        # wineprefix.py waited for exactly one when it booted wine.
        self.assertEqual(services_processes(prefix), 1,
                         "wine runs %d service managers"
                         % services_processes(prefix))
        drive = os.path.join(prefix, "drive_c")
        self.data_dir = os.path.join(drive, "ProgramData", "exoconnect")
        self.program = os.path.join(drive, "Program Files", "exoconnect",
                                    "exoconnect.exe")
        # A failed test must not leave the service for the next one.
        self.addCleanup(self.service, "uninstall", "--yes")

    def service(self, *args, stdin=None):
        """Run `service ARGS` with STDIN as input, by default none, which
        answers no to every question; return (status, stdout, stderr)."""
        proc = subprocess.run([self.product.bin, "-c", self.product.conf,
                               "service"] + list(args),
                              input=stdin or b"", capture_output=True,
                              timeout=120, env=self.product.env)
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        self.product.stderr_texts += [out, err]
        return proc.returncode, out, err

    def state(self):
        status, out, err = self.service("status")
        for line in out.splitlines():
            if line.startswith("state:"):
                return line.split(":", 1)[1].strip()
        self.fail("service status printed no state: " + out + err)

    def send_and_fetch(self):
        login, password = self.login()
        smtp = smtplib.SMTP("127.0.0.1", self.product.smtp_port,
                            timeout=30)
        smtp.login(login, password)
        self.assertEqual(smtp.sendmail(MAILBOX, [MAILBOX], MESSAGE), {})
        smtp.quit()
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=30)
        pop.user(login)
        pop.pass_(password)
        count, _ = pop.stat()
        _, lines, _ = pop.retr(count)
        pop.quit()
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", MESSAGE)

    def port_closed(self, port):
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                smtplib.SMTP("127.0.0.1", port, timeout=5).close()
            except OSError:
                return True
            time.sleep(0.5)
        return False

    def test_install_start_mail_stop_uninstall(self):
        self.assertEqual(self.state(), "not installed")

        status, out, err = self.service("install")
        self.assertEqual(status, 0, out + err)
        self.assertIn("Copied the program", out)
        self.assertIn("Registered the service exoconnect", out)
        self.assertTrue(os.path.isfile(self.program))
        for name in ("exoconnect.conf", "users.conf", "secrets.dat"):
            self.assertTrue(os.path.isfile(os.path.join(self.data_dir,
                                                        name)), name)
        with open(os.path.join(self.data_dir, "secrets.dat"), "rb") as f:
            sealed = f.read()
        self.assertTrue(sealed.startswith(WINE_DPAPI_MAGIC) or
                        sealed[:4] == b"\x01\x00\x00\x00", sealed[:32])
        self.assertNotIn(self.login()[1].encode(), sealed)
        for token in self.doubles.secrets():
            self.assertNotIn(token.encode(), sealed)
        self.assertEqual(self.state(), "stopped")

        status, out, err = self.service("install")
        self.assertEqual(status, 1, out + err)
        self.assertIn("installed already", err)

        status, out, err = self.service("start")
        self.assertEqual(status, 0, out + err)
        self.assertEqual(self.state(), "running")
        self.send_and_fetch()
        self.assertEqual(len(self.doubles.state()["smtp_messages"]), 1)

        status, out, err = self.service("stop")
        self.assertEqual(status, 0, out + err)
        self.assertEqual(self.state(), "stopped")
        self.assertTrue(self.port_closed(self.product.smtp_port),
                        "the SMTP port still accepts after the stop")
        with open(self.product.log_file, encoding="utf-8") as f:
            log = f.read()
        self.assertIn("event=service.started", log)
        self.assertIn("event=service.stopped", log)

        status, out, err = self.service("uninstall", "--yes")
        self.assertEqual(status, 0, out + err)
        self.assertIn("Stopped and deleted the service", out)
        self.assertEqual(self.state(), "not installed")
        self.assertFalse(os.path.exists(self.program))
        self.assertFalse(os.path.exists(self.data_dir))

    def test_uninstall_keeps_data_on_no(self):
        status, out, err = self.service("install")
        self.assertEqual(status, 0, out + err)
        status, out, err = self.service("uninstall")
        self.assertEqual(status, 0, out + err)
        self.assertIn("[y/N]", out)
        # The question's line ends before the next message.
        self.assertRegex(out, r"\[y/N\] *\r?\n")
        self.assertIn("Kept the settings and data", out)
        self.assertTrue(os.path.isfile(os.path.join(self.data_dir,
                                                    "secrets.dat")))
        self.assertEqual(self.state(), "not installed")

        # A new install keeps the data it finds.
        status, out, err = self.service("install")
        self.assertEqual(status, 0, out + err)
        self.assertIn("Kept the existing", out)
        status, out, err = self.service("uninstall", "--yes")
        self.assertEqual(status, 0, out + err)
        self.assertFalse(os.path.exists(self.data_dir))

    def test_start_failure_reported(self):
        status, out, err = self.service("install")
        self.assertEqual(status, 0, out + err)
        holder = socket.socket()
        holder.bind(("127.0.0.1", self.product.smtp_port))
        holder.listen(1)
        self.addCleanup(holder.close)

        status, out, err = self.service("start")
        self.assertEqual(status, 1, out + err)
        self.assertIn("stopped while starting (exit code 1)", err)
        status, out, err = self.service("status")
        self.assertEqual(status, 0, out + err)
        self.assertIn("state:      stopped", out)
        self.assertIn("last exit:  1", out)
        with open(self.product.log_file, encoding="utf-8") as f:
            self.assertIn("event=service.start_failed", f.read())

    def test_alert_reaches_event_log(self):
        # wine 8.0's ReportEventW writes nothing to a log, but its
        # eventlog and advapi debug channels print each call and its text.
        holder = socket.socket()
        holder.bind(("127.0.0.1", self.product.smtp_port))
        holder.listen(1)
        self.addCleanup(holder.close)
        env = dict(self.product.env)
        env["WINEDEBUG"] = "-all,err+eventlog,fixme+advapi"
        proc = subprocess.run([self.product.bin, "-c", self.product.conf,
                               "serve"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=120, env=env)
        err = proc.stderr.decode("utf-8", "replace")
        self.product.stderr_texts.append(err)
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn('RegisterEventSourceW ((null),L"exoconnect")', err)
        # Type 1 is EVENTLOG_ERROR_TYPE; event id 2 is a server that
        # could not start.
        self.assertRegex(err, r"ReportEventW \([0-9A-F]+,0x0001,0x0000,"
                              r"0x00000002,")
        self.assertRegex(err, r'err:eventlog:ReportEventW L"exoconnect '
                              r'could not start: cannot listen on '
                              r'127\.0\.0\.1 port %d' % self.product.smtp_port)

    def test_install_with_account(self):
        account = "NT AUTHORITY\\NETWORK SERVICE"
        status, out, err = self.service("install", "--account", account)
        self.assertEqual(status, 0, out + err)
        self.assertIn("Administrators and " + account, out)
        self.assertIn("account " + account, out)
        status, out, err = self.service("status")
        self.assertIn("account:    " + account, out)

    def test_unknown_account_copies_nothing(self):
        status, out, err = self.service("install", "--account",
                                        "nosuchaccount", stdin=b"secret\n")
        self.assertEqual(status, 1, out + err)
        self.assertIn("looking up the account given with --account", err)
        self.assertFalse(os.path.exists(self.program))
        self.assertFalse(os.path.exists(self.data_dir))
        self.assertEqual(self.state(), "not installed")

    def test_missing_password_named(self):
        status, out, err = self.service("install", "--account",
                                        ".\\exosvc")
        self.assertEqual(status, 1, out + err)
        self.assertIn("no password for .\\exosvc", err)
        self.assertEqual(self.state(), "not installed")

    def test_run_from_console_fails(self):
        status, out, err = self.service("run")
        self.assertEqual(status, 1, out + err)
        self.assertIn("for the Windows service manager", err)

    def test_help_hides_service_run(self):
        proc = self.product.run("--help")
        out = proc.stdout.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 0, out)
        self.assertIn("service status", out)
        self.assertNotIn("service run", out)
        # The command itself keeps its own help.
        proc = self.product.run("help", "service", "run")
        out = proc.stdout.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 0, out)
        self.assertIn("Windows service manager", out)

    def test_commands_on_missing_service(self):
        for verb in ("start", "stop", "uninstall"):
            status, out, err = self.service(verb)
            self.assertEqual(status, 1, verb + ": " + out + err)
            self.assertIn("not installed", err, verb)
        status, out, err = self.service("status")
        self.assertEqual(status, 1, out + err)
        self.assertIn("not installed", out)
