"""Restart a django-q2 cluster whose workers have wedged.

A worker waiting for work holds the lock of the cluster's multiprocessing queue; if it
is SIGKILLed there (the OOM killer, an operator), the lock is never released and every
worker, old and new, blocks on it for good. Nothing in django-q2 notices. The watchdog
runs in the qcluster main process, which stays responsive: every task start touches a
heartbeat file (django-q2's pre_execute signal, in the worker), and when tasks wait in
the broker but none has started for longer than a task may run, the cluster's processes
are killed and a fresh cluster, with fresh queues, is started. The tasks it held come
back through the broker's redelivery or the recovery sweep; leases make re-runs safe.
"""

import contextlib
import logging
import os
import signal
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

HEARTBEAT_ENV = "VIDEOSTUDIO_CLUSTER_HEARTBEAT"
CHECK_EVERY = 5.0


def beat(sender=None, **kwargs):
    """Mark that a worker of this cluster just started a task (a pre_execute receiver)."""
    path = os.environ.get(HEARTBEAT_ENV)
    if path:
        Path(path).touch()


def heartbeat_path(main_pid):
    return Path(tempfile.gettempdir()) / f"videostudio-qcluster-{main_pid}.heartbeat"


def process_children():
    """Return {parent pid: [child pids]} for every live process, read from /proc."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid):
    """Return every live process below pid, deepest last."""
    children = process_children()
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Watchdog:
    def __init__(self, cluster, broker, *, stall_seconds=None):
        self.cluster = cluster
        self.broker = broker
        self.stall_seconds = stall_seconds or settings.Q_WATCHDOG_SECONDS
        self.path = heartbeat_path(os.getpid())
        os.environ[HEARTBEAT_ENV] = str(self.path)  # inherited by the forked workers
        self.path.touch()
        self.restarts = 0

    def wedged(self):
        """Return whether work waits while no worker has started a task for too long.

        Work waits when the broker holds tasks (waiting, or, on the ORM broker, taken by a
        pusher and never started) or when a job is unfinished and no run holds it: with
        Redis a wedged pusher pops tasks it can never hand on, so the broker looks empty.
        """
        idle_for = time.time() - self.path.stat().st_mtime
        if idle_for < self.stall_seconds:
            return False
        try:
            from . import services  # the models load only once Django is set up

            close_old_connections()  # one a database restart broke is opened afresh
            queued = (self.broker.queue_size() or 0) + (self.broker.lock_size() or 0)
            return queued > 0 or services.jobs_unattended_exist()
        except Exception:  # the database or Redis is down: not the workers' fault
            logger.warning("Watchdog could not read the broker or the jobs", exc_info=True)
            return False

    def restart(self):
        sentinel = self.cluster.sentinel
        logger.critical(
            "Cluster %s: tasks are waiting but no worker has started one for %.0f s; "
            "its workers are wedged. Restarting the cluster.",
            self.cluster.name,
            self.stall_seconds,
        )
        for pid in [sentinel.pid, *descendants(sentinel.pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sentinel.join(timeout=10)
        self.path.touch()
        self.restarts += 1
        connections.close_all()  # not to be inherited by the new cluster's processes
        self.cluster.start()
        # Hand the new cluster the jobs whose tasks died with the old one, now rather
        # than at the next scheduled sweep.
        from . import services

        try:
            services.jobs_recover()
        except Exception:
            logger.exception("Recovery after the restart failed; the scheduled sweep will retry")

    def run(self):
        """Watch until the cluster stops (SIGTERM/SIGINT stop it through its own handler)."""
        try:
            while self.cluster.sentinel is not None and self.cluster.sentinel.is_alive():
                time.sleep(CHECK_EVERY)
                if self.cluster.stop_event is None or self.cluster.stop_event.is_set():
                    break
                if self.wedged():
                    self.restart()
        finally:
            self.path.unlink(missing_ok=True)
