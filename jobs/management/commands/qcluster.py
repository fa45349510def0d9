"""`manage.py qcluster`: django-q2's cluster, restarted by a watchdog if its workers wedge,
and a ticker that enqueues each job's next step when it is due.

This replaces django-q2's command of the same name (the jobs app comes first in
INSTALLED_APPS), so the production shape stays gunicorn plus `manage.py qcluster`.
"""

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django_q.brokers import get_broker
from django_q.cluster import Cluster
from django_q.management.commands.qcluster import Command as DjangoQCommand

from jobs.ticker import Ticker
from jobs.watchdog import Watchdog


class Command(DjangoQCommand):
    help = "Start the django-q2 cluster and its ticker, and restart it if its workers wedge."

    def handle(self, *args, **options):
        settings.SECRET_KEY  # noqa: B018  (signing needs it; fail before starting)
        self._refuse_unmigrated_database()
        # A connection open now would be shared with every forked worker; one closing it
        # (django-q2's workers close theirs at start) would end it for this process too.
        connections.close_all()
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = Cluster()
        watchdog = Watchdog(cluster, get_broker())
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
            return
        ticker = Ticker().start()
        try:
            watchdog.run()
        finally:
            ticker.stop()

    def _refuse_unmigrated_database(self):
        """Stop with one line, not a worker traceback per poll, before `migrate` has run."""
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if pending:
            raise ImproperlyConfigured(
                f"The database has {len(pending)} unapplied migrations: "
                "run `manage.py migrate` first."
            )
