"""Webhook endpoints and deliveries: every write, for the settings page, API and admin.

An event becomes one delivery row per endpoint that chose it, inserted in the
transaction that caused the event, and its first attempt is enqueued on commit. A
failed attempt stores when the next is due (doubling waits, for WEBHOOK_RETRY_HOURS);
the cluster's ticker enqueues due attempts, each taken by a conditional UPDATE, and a
task only sends the attempt whose number it was given: a duplicate or stale task finds
the number moved on and does nothing.
"""

import logging
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from jobs import pricing
from jobs.models import Batch, Budget, VideoCreationJob, sees_all_jobs

from . import sending
from .models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
THRESHOLDS = (80, 100)
TASK = "jobs.webhooks.tasks.deliver"


# --- Endpoints -----------------------------------------------------------------------------


def _clean(*, owner, url, events, for_team):
    """Raise ValidationError naming each field that is wrong; return the cleaned events."""
    errors = {}
    try:
        sending.vet(url)
    except sending.AddressRefused as exc:
        errors["url"] = str(exc)
    except sending.VeoError:
        errors["url"] = "The URL's host name could not be looked up."
    known = set(Event.values)
    if not events:
        errors["events"] = "Choose at least one event."
    elif not isinstance(events, list) or not all(e in known for e in events):
        errors["events"] = f"Choose events from: {', '.join(Event.values)}."
    if for_team and not sees_all_jobs(owner):
        errors["for_team"] = "Only staff who see everyone's jobs can have team endpoints."
    if errors:
        raise ValidationError(errors)
    return sorted(set(events))


def endpoint_create(
    *,
    owner,
    url,
    events,
    description="",
    format=WebhookEndpoint.Format.STANDARD,
    for_team=False,
    is_active=True,
) -> WebhookEndpoint:
    """Register an endpoint after checking its URL resolves to public addresses only."""
    endpoint = WebhookEndpoint(
        owner=owner,
        url=url,
        events=_clean(owner=owner, url=url, events=events, for_team=for_team),
        description=description,
        format=format,
        for_team=for_team,
        is_active=is_active,
    )
    endpoint.full_clean(exclude=["owner", "events"])
    endpoint.save(force_insert=True)
    return endpoint


def endpoint_update(*, endpoint, **changes) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description, format, team flag or active flag."""
    allowed = {"url", "events", "description", "format", "for_team", "is_active"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in unknown})
    for name, value in changes.items():
        setattr(endpoint, name, value)
    endpoint.events = _clean(
        owner=endpoint.owner, url=endpoint.url, events=endpoint.events, for_team=endpoint.for_team
    )
    endpoint.full_clean(exclude=["owner", "events"])
    endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint) -> None:
    """Remove an endpoint; its deliveries and their log go with it."""
    endpoint.delete()


# --- Events ----------------------------------------------------------------------------------


def iso(moment):
    """Write a datetime as the API does (ISO 8601, milliseconds, Z)."""
    return DjangoJSONEncoder().default(moment) if moment else None


def link(path):
    return f"{settings.STUDIO_URL}{path}"


def _endpoints_for(event, owner_id):
    """Return the active endpoints that chose `event`: the owner's, and the team's."""
    candidates = (
        WebhookEndpoint.objects.filter(is_active=True)
        .filter(Q(owner_id=owner_id) | Q(for_team=True))
        .select_related("owner")
    )
    # A handful of rows: the event list is checked here, where every database can.
    return [
        endpoint
        for endpoint in candidates
        if event in endpoint.events
        and (endpoint.owner_id == owner_id or sees_all_jobs(endpoint.owner))
    ]


def event_fire(*, event, key, data, owner_id) -> int:
    """Queue `event` for every endpoint that chose it, once per `key`; return how many.

    Call it inside the transaction that caused the event: the rows commit with it, and
    the first attempts are enqueued after.
    """
    now = timezone.now()
    payload = {"type": event, "timestamp": iso(now), "data": data}
    queued = 0
    for endpoint in _endpoints_for(event, owner_id):
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    endpoint=endpoint,
                    event_type=event,
                    event_key=key,
                    payload=payload,
                    # The first attempt is enqueued on commit; the ticker takes it only
                    # if that task is lost.
                    next_attempt_at=now + timedelta(seconds=attempt_lease_seconds()),
                    retry_until=now + timedelta(hours=settings.WEBHOOK_RETRY_HOURS),
                )
        except IntegrityError:
            continue  # this occurrence was already queued for this endpoint
        transaction.on_commit(partial(async_task, TASK, delivery.pk, 1, group="webhooks"))
        queued += 1
    return queued


def job_data(job) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "promptText": job.prompt_text,
        "model": job.model,
        "error": job.error,
        "batchId": job.batch_id,
        "createdAt": iso(job.created_at),
        "completedAt": iso(job.completed_at),
        "url": link(job.get_absolute_url()),
        "videoUrl": link(reverse("jobs:video", args=[job.pk])) if job.video_url else None,
    }


def job_ended(job_id) -> None:
    """Fire job.completed or job.failed for a job that just ended, and batch.finished."""
    job = VideoCreationJob.objects.filter(pk=job_id).first()
    if job is None or not job.is_finished:
        return
    event = Event.JOB_COMPLETED if job.status == job.Status.COMPLETED else Event.JOB_FAILED
    event_fire(event=event, key=f"{event}:{job.pk}", data=job_data(job), owner_id=job.owner_id)
    if job.batch_id:
        batch_finished(job.batch_id)


def batch_finished(batch_id) -> None:
    """Fire batch.finished once, when the batch's last job has ended."""
    batch = Batch.objects.with_counts().filter(pk=batch_id).first()
    if batch is None or batch.live_count:
        return
    data = {
        "id": batch.pk,
        "label": batch.label,
        "total": batch.job_count,
        "completed": batch.completed_count,
        "failed": batch.failed_count,
        "createdAt": iso(batch.created_at),
        "url": link(batch.get_absolute_url()),
    }
    event_fire(
        event=Event.BATCH_FINISHED,
        key=f"batch.finished:{batch.pk}",
        data=data,
        owner_id=batch.owner_id,
    )


def budgets_check(owner_id) -> None:
    """Fire budget.threshold for each of the owner's and the team's budgets whose
    spending this period has reached 80 % or 100 % of the limit, once per period."""
    if not any(
        Event.BUDGET_THRESHOLD in endpoint.events
        for endpoint in WebhookEndpoint.objects.filter(is_active=True)
        .filter(Q(owner_id=owner_id) | Q(for_team=True))
        .only("events")
    ):
        return
    budgets = Budget.objects.filter(Q(user_id=owner_id) | Q(user__isnull=True)).select_related(
        "user"
    )
    for budget in budgets:
        if budget.limit_usd <= 0:
            continue
        since = pricing.period_start(budget.period)
        used = pricing.spent(since=since, user=budget.user)
        for threshold in THRESHOLDS:
            if used * 100 < budget.limit_usd * threshold:
                continue
            data = {
                "budgetId": budget.pk,
                "scope": "personal" if budget.user_id else "team",
                "user": budget.user.get_username() if budget.user_id else None,
                "period": budget.period,
                "periodStart": iso(since),
                "limitUsd": str(budget.limit_usd),
                "spentUsd": str(used.quantize(budget.limit_usd)),
                "threshold": threshold,
                "url": link(reverse("jobs:usage")),
            }
            event_fire(
                event=Event.BUDGET_THRESHOLD,
                key=f"budget.threshold:{budget.pk}:{since.date()}:{threshold}",
                data=data,
                # A team budget's crossing goes to team endpoints only.
                owner_id=budget.user_id,
            )


# --- Deliveries ------------------------------------------------------------------------------


def attempt_lease_seconds():
    """Return how long an attempt may take before its delivery is due again."""
    connect, read = settings.WEBHOOK_TIMEOUT
    return int(connect + read) + 60


def backoff_seconds(attempt) -> int:
    """Return the wait after failed attempt number `attempt`: doubling, up to a cap."""
    return min(
        settings.WEBHOOK_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1),
        settings.WEBHOOK_BACKOFF_MAX_SECONDS,
    )


def body_for(delivery) -> dict:
    """Return what is sent: the Standard Webhooks payload, or a Slack message."""
    if delivery.endpoint.format != WebhookEndpoint.Format.SLACK:
        return delivery.payload
    return {"text": slack_text(delivery.payload)}


def _slack_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(payload) -> str:
    """Return one line for a Slack incoming webhook, with a link back to the studio."""
    event, data = payload["type"], payload["data"]
    if event in (Event.JOB_COMPLETED, Event.JOB_FAILED):
        prompt = _slack_escape(data["promptText"][:80])
        line = f"Job completed: <{data['url']}|{prompt}>"
        if event == Event.JOB_FAILED:
            line = f"Job failed: <{data['url']}|{prompt}> — {_slack_escape(data['error'] or '')}"
        return line
    if event == Event.BATCH_FINISHED:
        return (
            f"Batch finished: <{data['url']}|{_slack_escape(data['label'])}> — "
            f"{data['completed']} completed, {data['failed']} failed of {data['total']}."
        )
    if event == Event.TAKE_COMPLETED:
        prompt = _slack_escape(data["job"]["promptText"][:80])
        return f"Take {data['number']} completed: <{data['job']['url']}|{prompt}>"
    if event == Event.STORYBOARD_CUT_READY:
        shots = len(data["segments"])
        return (
            f"Cut ready: <{data['url']}|{shots} shot{'s' if shots != 1 else ''}, "
            f"{data['durationSeconds'] or 0:.1f} s>"
        )
    if "summary" in data:  # review states, comments, mentions and client links
        return f"{_slack_escape(data['summary'])} <{data['video']['url']}|Open>"
    whose = "the team's" if data["scope"] == "team" else f"{data['user']}'s"
    return (
        f"Spending reached {data['threshold']} % of {whose} {data['period']} budget: "
        f"${data['spentUsd']} of ${data['limitUsd']}. <{data['url']}|Usage>"
    )


def delivery_attempt(delivery_id, number) -> bool:
    """Make attempt `number` of a delivery, log it, and schedule the next if it failed.

    Return whether this call made the attempt (False for a duplicate or stale task).
    """
    now = timezone.now()
    taken = WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PENDING, attempts=number - 1
    ).update(
        attempts=number,
        last_attempt_at=now,
        next_attempt_at=now + timedelta(seconds=attempt_lease_seconds()),
    )
    if not taken:
        return False
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        return False  # its endpoint was removed meanwhile
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        outcome = sending.Outcome(False, retryable=False, error="The endpoint is switched off.")
    else:
        body = sending.encode(body_for(delivery))
        headers = sending.signed_headers(
            secret=endpoint.secret, message_id=delivery.pk, timestamp=now, body=body
        )
        outcome = sending.send(
            endpoint.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT
        )
    done = timezone.now()
    retry_at = done + timedelta(seconds=backoff_seconds(number))
    if outcome.succeeded:
        status, next_at = Status.DELIVERED, None
    elif outcome.retryable and retry_at <= delivery.retry_until:
        status, next_at = Status.PENDING, retry_at
    else:
        status, next_at = Status.FAILED, None
        logger.warning(
            "Gave up on webhook %s to endpoint %s after %d attempts: %s",
            delivery.pk,
            endpoint.pk,
            number,
            outcome.error,
        )
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=number,
            at=now,
            succeeded=outcome.succeeded,
            response_code=outcome.response_code,
            error=outcome.error[:300],
        )
        WebhookDelivery.objects.filter(pk=delivery_id, attempts=number).update(
            status=status,
            next_attempt_at=next_at,
            response_code=outcome.response_code,
            error=outcome.error[:300],
        )
    return True


def deliveries_enqueue_due(*, limit=200) -> int:
    """Enqueue the next attempt of each pending delivery that is due; return how many.

    Run by the cluster's ticker. Each delivery is taken by a conditional UPDATE on the
    due time it was read with, moving it a lease ahead, so of many tickers one enqueues it.
    """
    now = timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", "next_attempt_at", "attempts")[:limit]
    )
    rearmed = now + timedelta(seconds=attempt_lease_seconds())
    queued = 0
    for delivery_id, at, attempts in due:
        if WebhookDelivery.objects.filter(pk=delivery_id, next_attempt_at=at).update(
            next_attempt_at=rearmed
        ):
            async_task(TASK, delivery_id, attempts + 1, group="webhooks")
            queued += 1
    return queued


def delivery_resend(*, delivery) -> bool:
    """Send a delivered or failed delivery again now, with the same webhook-id.

    If that attempt fails it is retried for another WEBHOOK_RETRY_HOURS. Return False
    for a delivery still being sent: its own attempts are under way.
    """
    now = timezone.now()
    with transaction.atomic():
        taken = WebhookDelivery.objects.filter(
            pk=delivery.pk, status__in=[Status.DELIVERED, Status.FAILED], attempts=delivery.attempts
        ).update(
            status=Status.PENDING,
            next_attempt_at=now + timedelta(seconds=attempt_lease_seconds()),
            retry_until=now + timedelta(hours=settings.WEBHOOK_RETRY_HOURS),
        )
        if taken:
            transaction.on_commit(
                partial(async_task, TASK, delivery.pk, delivery.attempts + 1, group="webhooks")
            )
    return taken == 1
