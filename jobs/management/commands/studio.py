"""Run the whole studio on this machine: `uv run manage.py studio`.

Migrates, creates the first user, then starts the Veo emulator (when it is the
provider), the django-q2 cluster and gunicorn, and stops all of them on Ctrl-C or
SIGTERM. Each child runs in its own session so that a terminal's Ctrl-C reaches only
this process, which then signals every child the way it expects: qcluster deadlocks
when its whole process group gets SIGTERM, so only its main process is signalled,
and its group is killed if it has not stopped within STOP_GRACE seconds.
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from jobs import catalog
from jobs.management.commands.veo_check import reachability
from jobs.veo.base import VeoError
from videostudio.datadir import prepare_data_dir

STOP_GRACE = 6.0
READY_TIMEOUT = 30.0


class Command(BaseCommand):
    help = "Migrate, create the first user, and run the web server, worker and emulator."
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument(
            "--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2"))
        )

    def handle(self, *args, port, host, web_workers, **options):
        self.children = []
        self.stopping = False
        self._prepare_data_dir()
        self._check_database()
        call_command("check")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is up to date.")
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        self._first_user()
        connection.close()

        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        try:
            if settings.VEO_PROVIDER == "emulator":
                self._start_emulator()
            self._log_reachable_models()
            self._start("worker", [sys.executable, "manage.py", "qcluster"])
            self._ensure_free(host, port, "PORT")
            self._start(
                "web",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    # Threaded workers, as deployed: a long ZIP stream is never cut.
                    "--config",
                    str(settings.BASE_DIR / "deploy" / "gunicorn.conf.py"),
                    "videostudio.wsgi",
                    "--bind",
                    f"{host}:{port}",
                    "--workers",
                    str(web_workers),
                    # Load the app once in the master, not once per worker (faster start).
                    "--preload",
                    "--graceful-timeout",
                    "5",
                    # Two studios on one machine (tests, say) must not share a socket.
                    "--no-control-socket",
                    "--access-logfile",
                    "-",
                ],
            )
            self._wait_for_port(host, port, "web server")
            self.stdout.write(
                self.style.SUCCESS(f"Video Studio is running at http://{host}:{port}/")
            )
            self.stdout.write("Press Ctrl-C to stop.")
            self._supervise()
        finally:
            self._stop_all()

    # --- Preparation ----------------------------------------------------------------

    def _prepare_data_dir(self):
        prepare_data_dir()  # manage.py ran it already; `call_command("studio")` may not have
        self.stdout.write(f"Data directory: {settings.DATA_DIR}")

    def _check_database(self):
        try:
            connection.ensure_connection()
        except DatabaseError as exc:
            name = settings.DATABASES["default"]["NAME"]
            raise CommandError(
                f"Cannot open the database {name}: {exc}. Check DATABASE_URL or "
                "VIDEOSTUDIO_DATA_DIR, and that the file is readable and writable."
            ) from None

    def _first_user(self):
        call_command("first_user", stdout=self.stdout, stderr=self.stderr)

    def _log_reachable_models(self):
        """Say which catalog models the credentials reach, as veo_check does; never stop."""
        names = list(catalog.offered())
        try:
            results = reachability(names)
        except VeoError as exc:
            self.stdout.write(
                self.style.WARNING(
                    f"Could not ask which models the credentials reach: {exc.message}"
                )
            )
            return
        reached = [name for name in names if not results.get(name, "not checked")]
        self.stdout.write(f"Models these credentials reach: {', '.join(reached) or 'none'}.")
        for name in names:
            if name not in reached:
                reason = results.get(name, "not checked")
                self.stdout.write(self.style.WARNING(f"  Not reachable: {name}: {reason}"))
        if settings.VEO_MODEL not in reached:
            self.stdout.write(
                self.style.WARNING(
                    f"VEO_MODEL={settings.VEO_MODEL} is not reachable with these credentials; "
                    "its jobs will fail until it is (see `manage.py veo_check`)."
                )
            )

    # --- Children -----------------------------------------------------------------

    def _start(self, name, argv):
        process = subprocess.Popen(argv, cwd=settings.BASE_DIR, start_new_session=True)
        self.children.append((name, process))
        return process

    def _start_emulator(self):
        port = settings.VEO_EMULATOR_PORT
        self._ensure_free("127.0.0.1", port, "VEO_EMULATOR_PORT")
        self._start(
            "emulator",
            [
                sys.executable,
                "-m",
                "jobs.veo.emulator",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--latency",
                str(settings.VEO_EMULATOR_LATENCY),
                "--api-key",
                settings.GEMINI_API_KEY,
                "--data-dir",
                str(Path(settings.DATA_DIR) / "emulator"),
            ],
        )
        self._wait_for_port("127.0.0.1", port, "Veo emulator")
        self.stdout.write(f"Local Veo emulator on http://127.0.0.1:{port}/")

    def _ensure_free(self, host, port, setting):
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                raise CommandError(f"Port {port} on {host} is already in use; set {setting}.")

    def _wait_for_port(self, host, port, what):
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and not self.stopping:
            self._check_children()
            with socket.socket() as sock:
                if sock.connect_ex((host, port)) == 0:
                    return
            time.sleep(0.1)
        if not self.stopping:
            raise CommandError(f"The {what} did not start within {READY_TIMEOUT:.0f} seconds.")

    def _check_children(self):
        for name, process in self.children:
            if process.poll() is not None and not self.stopping:
                raise CommandError(f"The {name} process exited with code {process.returncode}.")

    def _supervise(self):
        while not self.stopping:
            self._check_children()
            time.sleep(0.5)

    def _on_signal(self, signum, frame):
        self.stopping = True

    def _stop_all(self):
        self.stopping = True
        for _name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for _name, process in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for name, process in self.children:
            # Whatever is left (a worker mid-task, a stuck qcluster) goes with its group;
            # its task is redelivered and resumes from the job's saved state.
            if process.poll() is None:
                self.stdout.write(f"Stopping the {name} forcibly.")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if self.children:
            self.stdout.write("Video Studio stopped.")
        self.children = []
