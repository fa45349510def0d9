"""/healthz, /readyz and /metrics: answered without login, telling nothing more than asked.

/healthz says the process answers (a load balancer's liveness probe). /readyz asks what a
request needs (the database, the broker, the media storage) and whether a cluster beat
lately (jobs would wait forever without one): 200 when all answer, 503 naming the ones that
did not. A failure's detail goes to the log, never into the answer.

/metrics answers Prometheus, in its text format, only with the bearer token METRICS_TOKEN;
while that is empty it is not there at all (404).
"""

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.files.storage import default_storage
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from . import metrics as figures
from .models import ClusterHeartbeat

logger = logging.getLogger(__name__)


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_broker():
    from django_q.brokers import get_broker

    get_broker().queue_size()  # a read from Redis, or from the ORM broker's table
    return "ok"


def check_storage():
    default_storage.listdir("")  # a missing directory or an unreachable bucket raises
    return "ok"


def check_cluster():
    window = settings.READY_HEARTBEAT_SECONDS
    since = timezone.now() - timedelta(seconds=window)
    if ClusterHeartbeat.objects.filter(seen_at__gte=since).exists():
        return "ok"
    return f"no cluster beat in the last {window} s"


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "storage": check_storage,
    "cluster": check_cluster,
}


@login_not_required
@never_cache
@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
@require_safe
def readyz(request):
    checks = {}
    for name, check in CHECKS.items():
        try:
            checks[name] = check()
        except Exception:  # any failure is an answer: say which check, log how
            logger.warning("Readiness check %s failed", name, exc_info=True)
            checks[name] = "unreachable"
    ready = all(answer == "ok" for answer in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "failing", "checks": checks}, status=200 if ready else 503
    )


@login_not_required
@never_cache
@require_safe
def metrics(request):
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are switched off (METRICS_TOKEN is empty).")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Bytes, so that a header with characters beyond ASCII is a wrong token, not a 500.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        response = HttpResponse(
            "Send Authorization: Bearer <METRICS_TOKEN>.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(figures.exposition(), content_type=CONTENT_TYPE_LATEST)
