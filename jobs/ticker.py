"""Enqueue each job's next step when it is due, from a thread of the qcluster process.

A pipeline run never sleeps: it stores when the job's next poll (or retry) is due and
lets its worker go. django-q2's scheduler only looks at its schedules every 30 s (its
guard loop adds its 0.5 s cycle to a counter and calls the scheduler at 30), too coarse
for a poll every few seconds, so the qcluster command runs this ticker beside the watchdog:
every VEO_TICK_SECONDS it asks for the due jobs (one indexed query) and enqueues each
through a conditional UPDATE, so that of many clusters one enqueues it; webhook
deliveries whose next attempt is due are enqueued the same way. Every tick also keeps the
cluster's heartbeat row fresh (jobs/health/), which /readyz reads from any machine.
"""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)


class Ticker:
    def __init__(self, *, every=None):
        self.every = every if every is not None else settings.VEO_TICK_SECONDS
        self.stopped = threading.Event()
        self.heart = None  # made on the ticker's thread, with the process's pid
        self.thread = threading.Thread(target=self.run, name="videostudio-ticker", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopped.set()
        self.thread.join(timeout=10)

    def tick(self):
        """Enqueue the due jobs once; return how many. Errors are logged, never raised.

        Webhook deliveries whose next attempt is due are enqueued on the same tick, and the
        heartbeat row is touched when it is due.
        """
        from . import services  # the models load only once Django is set up
        from .health.beats import Heart
        from .webhooks import services as webhooks

        close_old_connections()
        try:
            queued = services.jobs_enqueue_due()
            webhooks.deliveries_enqueue_due()
        except Exception:  # the database or the broker is down: try again next tick
            logger.warning("The ticker could not enqueue due jobs", exc_info=True)
            connection.close()
            return 0
        try:
            self.heart = self.heart or Heart()
            self.heart.beat()
        except Exception:
            logger.warning("The ticker could not touch its heartbeat", exc_info=True)
        return queued

    def run(self):
        try:
            while not self.stopped.wait(self.every):
                self.tick()
            if self.heart:
                self.heart.stop()  # stopped warmly: no longer counted as alive
        except Exception:
            logger.warning("The ticker could not remove its heartbeat", exc_info=True)
        finally:
            connection.close()
