"""Outgoing webhooks: each event sent once, signed, retried for a day, never inward.

The receiver is the network edge, faked with `responses` at a public-looking host whose
DNS answer is faked at `socket.getaddrinfo` (as the download tests do); it verifies every
delivery with the Standard Webhooks reference library. django-q2 runs for real, in sync
mode: the first attempt runs when the event's transaction commits, later ones when the
ticker finds them due.
"""

import logging
from datetime import timedelta

import pytest
import requests
import responses
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from jobs import services
from jobs.models import Budget, VideoCreationJob
from jobs.ticker import Ticker
from jobs.webhooks import services as webhooks
from jobs.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import run_due_jobs
from tests.factories import JOB_OPTIONS, api_client
from tests.veo.test_download import fake_dns

pytestmark = pytest.mark.django_db

MODEL = "veo-3.1-fast-generate-preview"
URL = "https://hooks.example/studio"
PUBLIC_IP = "93.184.215.14"
ALL_EVENTS = [
    "job.completed",
    "job.failed",
    "batch.finished",
    "budget.threshold",
    "take.completed",
    "storyboard.cut_ready",
]
Status = WebhookDelivery.Status


class Receiver:
    """A receiver at URL that verifies each delivery's signature and answers `codes`."""

    def __init__(self, wire, secret, *, codes=(200,), url=URL):
        self.secret, self.codes, self.calls = secret, list(codes), []
        wire.add_callback(responses.POST, url, callback=self)

    def __call__(self, request):
        payload = Webhook(self.secret).verify(request.body, dict(request.headers))
        self.calls.append((request.headers["webhook-id"], payload))
        code = self.codes.pop(0) if len(self.codes) > 1 else self.codes[0]
        return code, {}, ""

    def events(self):
        return [payload.get("type", payload.get("text")) for _id, payload in self.calls]


@pytest.fixture(autouse=True)
def parked(settings):
    """Leave the provider no room, so jobs stay queued: their ends here are cancels."""
    settings.VEO_MAX_IN_FLIGHT = 0


@pytest.fixture
def wire(monkeypatch):
    """Fake the wire: hooks.example resolves to a public address; unmatched URLs raise."""
    fake_dns(monkeypatch, {"hooks.example": [PUBLIC_IP]})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def endpoint_for(user, events=ALL_EVENTS, **kwargs):
    return webhooks.endpoint_create(owner=user, url=URL, events=list(events), **kwargs)


def queued_job(user, captured):
    """Create a job without running it (its run is left uncommitted-callback)."""
    with captured(execute=False):
        return services.job_create(
            owner=user, prompt_text="A lighthouse at dusk", model=MODEL, options=JOB_OPTIONS
        )


def make_due(delivery):
    """Let the wait before the delivery's next attempt pass, as the clock would."""
    delivery.refresh_from_db()
    wait = delivery.next_attempt_at - timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1),
        retry_until=delivery.retry_until - wait,
    )
    return wait


# --- Each event, once, signed --------------------------------------------------------------


def test_a_completed_job_is_sent_once_as_job_completed_and_verifies(
    veo, user, wire, settings, django_capture_on_commit_callbacks
):
    settings.VEO_MAX_IN_FLIGHT = 2
    wire.add_passthru(veo.base_url)
    endpoint = endpoint_for(user)
    receiver = Receiver(wire, endpoint.secret)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(
            owner=user, prompt_text="A red kite", model=MODEL, options=JOB_OPTIONS
        )
    with django_capture_on_commit_callbacks(execute=True):
        run_due_jobs(timeout=60)  # a loaded machine renders slowly
    job.refresh_from_db()
    assert job.status == "completed", job.error
    assert receiver.events() == ["job.completed"]
    message_id, payload = receiver.calls[0]
    assert payload["data"]["id"] == job.pk
    assert payload["data"]["url"].endswith(f"/jobs/{job.pk}/")
    assert payload["data"]["videoUrl"].endswith(f"/jobs/{job.pk}/video/")
    delivery = WebhookDelivery.objects.get()
    assert (delivery.pk, delivery.status, delivery.attempts) == (message_id, "delivered", 1)
    assert delivery.attempt_log.get().response_code == 200


def test_a_failed_job_is_sent_once_however_often_it_is_failed(
    user, wire, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(user, ["job.failed"])
    receiver = Receiver(wire, endpoint.secret)
    job = queued_job(user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.job_fail(job.pk, message="Veo refused the prompt.")
        assert not services.job_fail(job.pk, message="again")
        webhooks.job_ended(job.pk)  # a second firing of the same end
    assert receiver.events() == ["job.failed"]
    assert receiver.calls[0][1]["data"]["error"] == "Veo refused the prompt."


def test_an_endpoint_gets_only_the_events_it_chose_and_only_its_owners(
    user, other_user, wire, django_capture_on_commit_callbacks
):
    mine = endpoint_for(user, ["job.completed"])
    theirs = endpoint_for(other_user, ["job.failed"])
    Receiver(wire, mine.secret)
    job = queued_job(user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=job)
    assert WebhookDelivery.objects.filter(endpoint__in=[mine, theirs]).count() == 0


def test_a_team_endpoint_of_a_manager_hears_everyones_jobs(
    user, manager, wire, django_capture_on_commit_callbacks
):
    team = endpoint_for(manager, ["job.failed"], for_team=True)
    receiver = Receiver(wire, team.secret)
    job = queued_job(user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=job)
    assert receiver.events() == ["job.failed"]


def test_only_staff_who_see_everyones_jobs_may_have_a_team_endpoint(staff_user, wire):
    with pytest.raises(ValidationError) as refused:
        endpoint_for(staff_user, for_team=True)
    assert "for_team" in refused.value.message_dict


def test_a_batch_is_sent_once_when_its_last_job_ends(
    user, wire, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(user, ["batch.finished"])
    receiver = Receiver(wire, endpoint.secret)
    spec = {"prompt_text": "A fox", "model": MODEL, "options": JOB_OPTIONS}
    with django_capture_on_commit_callbacks(execute=False):
        batch = services.batch_create(owner=user, label="Foxes", jobs=[spec, spec])
    first, second = batch.jobs.order_by("created_at", "pk")
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=first)
    assert receiver.events() == []
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=second)
        webhooks.batch_finished(batch.pk)
    assert receiver.events() == ["batch.finished"]
    data = receiver.calls[0][1]["data"]
    assert (data["id"], data["total"], data["failed"]) == (batch.pk, 2, 2)
    assert data["url"].endswith(f"/batches/{batch.pk}/")


def test_a_budget_is_sent_once_at_80_and_once_at_100_percent(
    user, wire, django_capture_on_commit_callbacks
):
    Budget.objects.create(user=user, period="monthly", limit_usd="1.00")
    endpoint = endpoint_for(user, ["budget.threshold"])
    receiver = Receiver(wire, endpoint.secret)

    def spend(amount):
        VideoCreationJob.objects.create(
            owner=user,
            prompt_text="A fox",
            model=MODEL,
            options=JOB_OPTIONS,
            status="completed",
            actual_cost_usd=amount,
        )
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.budgets_check(user.pk)
            webhooks.budgets_check(user.pk)
        return [payload["data"]["threshold"] for _id, payload in receiver.calls]

    assert spend("0.50") == []
    assert spend("0.30") == [80]
    assert spend("0.10") == [80]
    assert spend("0.10") == [80, 100]
    assert receiver.calls[1][1]["data"]["spentUsd"] == "1.00"
    assert spend("0.50") == [80, 100]  # once per period
    Budget.objects.create(user=user, period="daily", limit_usd="0")
    assert spend("1.00") == [80, 100]  # a zero limit has no 80 %


def test_a_job_create_that_crosses_80_percent_queues_the_threshold_with_the_job(
    user, wire, django_capture_on_commit_callbacks
):
    Budget.objects.create(user=user, period="monthly", limit_usd="0.50")
    endpoint_for(user, ["budget.threshold"])
    queued_job(user, django_capture_on_commit_callbacks)  # $0.40 of $0.50
    delivery = WebhookDelivery.objects.get()
    assert delivery.event_type == "budget.threshold"
    assert delivery.payload["data"]["threshold"] == 80


def test_a_wrong_secret_does_not_verify(user, wire, django_capture_on_commit_callbacks):
    """The receiver's check can fail: a delivery verifies with its own secret only."""
    endpoint = endpoint_for(user, ["job.failed"])
    other = endpoint_for(user, ["job.completed"])
    seen = []

    def receive(request):
        seen.append((request.body, dict(request.headers)))
        return 200, {}, ""

    wire.add_callback(responses.POST, URL, callback=receive)
    job = queued_job(user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=job)
    ((body, headers),) = seen
    assert Webhook(endpoint.secret).verify(body, headers)["type"] == "job.failed"
    with pytest.raises(WebhookVerificationError):
        Webhook(other.secret).verify(body, headers)
    assert set(headers) >= {"webhook-id", "webhook-timestamp", "webhook-signature"}


# --- Retries -------------------------------------------------------------------------------


def failing_delivery(user, wire, captured, *, codes=(500,)):
    endpoint = endpoint_for(user, ["job.failed"])
    receiver = Receiver(wire, endpoint.secret, codes=codes)
    job = queued_job(user, captured)
    with captured(execute=True):
        services.job_cancel(job=job)
    return WebhookDelivery.objects.get(), receiver


def test_a_failed_attempt_is_retried_after_doubling_waits_by_the_ticker(
    user, wire, django_capture_on_commit_callbacks
):
    delivery, receiver = failing_delivery(
        user, wire, django_capture_on_commit_callbacks, codes=(500, 503, 502, 200)
    )
    waits = []
    for _ in range(3):
        delivery.refresh_from_db()
        assert delivery.status == Status.PENDING
        waits.append(round(make_due(delivery).total_seconds()))
        assert webhooks.deliveries_enqueue_due() == 1
    delivery.refresh_from_db()
    assert waits == [30, 60, 120]
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("delivered", 4, None)
    log = list(delivery.attempt_log.order_by("number").values_list("number", "response_code"))
    assert log == [(1, 500), (2, 503), (3, 502), (4, 200)]
    assert len({message_id for message_id, _ in receiver.calls}) == 1  # same webhook-id


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_clusters_ticker_enqueues_a_due_attempt(user, wire):
    endpoint = endpoint_for(user, ["job.failed"])
    receiver = Receiver(wire, endpoint.secret)
    job = VideoCreationJob.objects.create(
        owner=user, prompt_text="A fox", model=MODEL, options=JOB_OPTIONS, status="failed"
    )
    webhooks.job_ended(job.pk)  # autocommit: the first attempt runs at once
    assert len(receiver.calls) == 1
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="pending", next_attempt_at=timezone.now()
    )
    Ticker(every=1).tick()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.calls)) == ("delivered", 2, 2)


def test_the_minutely_sweep_enqueues_a_due_attempt_too(
    user, wire, django_capture_on_commit_callbacks
):
    delivery, receiver = failing_delivery(
        user, wire, django_capture_on_commit_callbacks, codes=(500, 200)
    )
    make_due(delivery)
    assert services.jobs_recover()["webhooks"] == 1
    delivery.refresh_from_db()
    assert (delivery.status, len(receiver.calls)) == ("delivered", 2)


def test_a_delivery_is_given_up_after_a_day(user, wire, django_capture_on_commit_callbacks):
    delivery, receiver = failing_delivery(user, wire, django_capture_on_commit_callbacks)
    waited = timedelta()
    while True:
        delivery.refresh_from_db()
        if delivery.status != Status.PENDING:
            break
        waited += make_due(delivery)
        webhooks.deliveries_enqueue_due()
    assert delivery.status == Status.FAILED
    assert delivery.next_attempt_at is None
    # 30 s doubling to 6 h: the 13th attempt comes 20.5 h after the first, a 14th
    # would come after more than a day.
    assert delivery.attempts == len(receiver.calls) == 13
    assert timedelta(hours=20) < waited < timedelta(hours=24)
    assert delivery.error == "The receiver answered 500."


def test_a_delivery_already_taken_is_not_sent_twice(user, wire, django_capture_on_commit_callbacks):
    delivery, receiver = failing_delivery(user, wire, django_capture_on_commit_callbacks)
    make_due(delivery)
    assert webhooks.delivery_attempt(delivery.pk, 2)
    assert not webhooks.delivery_attempt(delivery.pk, 2)  # a duplicate task
    assert not webhooks.delivery_attempt(delivery.pk, 1)  # a stale one
    assert len(receiver.calls) == 2


def test_a_timeout_is_a_sentence_and_retried(user, wire, django_capture_on_commit_callbacks):
    endpoint = endpoint_for(user, ["job.failed"])
    wire.post(URL, body=requests.ConnectTimeout("connect timed out to 93.184.215.14"))
    job = queued_job(user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=job)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == Status.PENDING
    assert delivery.error == "The receiver did not answer in time."
    assert "93.184" not in delivery.attempt_log.get().error


def test_a_redirect_is_not_followed(user, wire, django_capture_on_commit_callbacks):
    endpoint = endpoint_for(user, ["job.failed"])
    wire.post(URL, status=307, headers={"Location": "http://169.254.169.254/latest/"})
    job = queued_job(user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=job)
    assert len(wire.calls) == 1
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.response_code == 307
    assert "redirect, which is not followed" in delivery.error


# --- Never inward --------------------------------------------------------------------------

INWARD = ["127.0.0.1", "10.0.0.5", "192.168.1.20", "169.254.169.254", "::1", "fd00::1"]


@pytest.mark.parametrize("address", INWARD)
def test_a_url_resolving_inward_is_refused_when_saved(user, monkeypatch, address):
    fake_dns(monkeypatch, {"inside.example": [PUBLIC_IP, address]})
    with pytest.raises(ValidationError) as refused:
        webhooks.endpoint_create(owner=user, url="https://inside.example/", events=ALL_EVENTS)
    assert "private, local or metadata address" in refused.value.message_dict["url"][0]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hook", "private, local or metadata"),
        ("https://[::1]:8443/hook", "private, local or metadata"),
        ("https://169.254.169.254/latest/meta-data/", "private, local or metadata"),
        ("http://hooks.example/studio", "https://"),
        ("https://user:pw@hooks.example/", "malformed"),
    ],
)
def test_an_inward_plain_or_odd_url_is_refused_on_the_settings_page(logged_in, wire, url, reason):
    response = logged_in.post(
        reverse("webhooks:endpoints"), {"url": url, "events": ["job.failed"], "format": "standard"}
    )
    assert response.status_code == 400
    assert reason in response.context["form"].errors["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_a_url_that_turns_inward_after_it_was_saved_is_refused_when_sent(
    user, wire, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    endpoint = endpoint_for(user, ["job.failed"])
    Receiver(wire, endpoint.secret)
    fake_dns(monkeypatch, {"hooks.example": ["169.254.169.254"]})
    job = queued_job(user, django_capture_on_commit_callbacks)
    with (
        caplog.at_level(logging.WARNING, logger="jobs.webhooks"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.job_cancel(job=job)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.next_attempt_at, delivery.attempts) == ("failed", None, 1)
    assert "private, local or metadata address" in delivery.error
    assert "Refused to send a webhook" in caplog.text
    assert len(wire.calls) == 0


def test_the_pinned_request_names_the_receivers_host(
    user, wire, django_capture_on_commit_callbacks
):
    """The pinned session connects to the vetted IP; the Host header names the host."""
    endpoint = endpoint_for(user, ["job.failed"])
    Receiver(wire, endpoint.secret)
    job = queued_job(user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=job)
    (call,) = wire.calls
    assert call.request.headers["Host"] == "hooks.example"
    assert WebhookDelivery.objects.get().status == "delivered"


# --- Slack ---------------------------------------------------------------------------------


def test_a_slack_endpoint_gets_a_text_with_a_link_back(
    user, wire, settings, django_capture_on_commit_callbacks
):
    settings.STUDIO_URL = "https://studio.example"
    endpoint = endpoint_for(user, ["job.failed"], format="slack")
    receiver = Receiver(wire, endpoint.secret)
    job = queued_job(user, django_capture_on_commit_callbacks)
    VideoCreationJob.objects.filter(pk=job.pk).update(prompt_text="Cats <& dogs>")
    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job=job)
    ((_id, body),) = receiver.calls
    assert list(body) == ["text"]
    link = f"<https://studio.example/jobs/{job.pk}/|Cats &lt;&amp; dogs&gt;>"
    assert body["text"] == f"Job failed: {link} — Cancelled by user"


# --- The settings page ---------------------------------------------------------------------


def test_an_endpoint_registered_on_the_page_shows_its_secret_once_then_on_request(
    logged_in, user, wire
):
    response = logged_in.post(
        reverse("webhooks:endpoints"),
        {"url": URL, "events": ["job.completed", "batch.finished"], "format": "slack"},
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get(owner=user)
    assert endpoint.events == ["batch.finished", "job.completed"]
    assert endpoint.is_active is False  # an unticked box is off
    assert endpoint.secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    page = logged_in.get(endpoint.get_absolute_url())
    assert endpoint.secret not in page.content.decode()
    revealed = logged_in.post(reverse("webhooks:secret", args=[endpoint.pk]))
    assert endpoint.secret in revealed.content.decode()
    assert "no-store" in revealed["Cache-Control"]


def test_the_page_shows_the_delivery_log_and_sends_again(
    logged_in, user, wire, django_capture_on_commit_callbacks
):
    delivery, receiver = failing_delivery(
        user, wire, django_capture_on_commit_callbacks, codes=(410, 200)
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None)
    page = logged_in.get(delivery.endpoint.get_absolute_url()).content.decode()
    assert "The receiver answered 410." in page
    assert "Send again" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = logged_in.post(
            reverse("webhooks:resend", args=[delivery.endpoint_id, delivery.pk])
        )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [message_id for message_id, _ in receiver.calls] == [delivery.pk, delivery.pk]
    # A delivery still being sent is not sent again beside its own retries.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="pending")
    with django_capture_on_commit_callbacks(execute=True):
        logged_in.post(reverse("webhooks:resend", args=[delivery.endpoint_id, delivery.pk]))
    assert len(receiver.calls) == 2


def test_the_page_edits_an_endpoint_and_refuses_an_unknown_event(logged_in, user, wire):
    endpoint = endpoint_for(user)
    url = endpoint.get_absolute_url()
    response = logged_in.post(url, {"url": URL, "events": ["job.exploded"], "format": "standard"})
    assert response.status_code == 400
    assert "events" in response.context["form"].errors
    response = logged_in.post(
        url, {"url": URL, "events": ["job.failed"], "format": "standard", "is_active": "on"}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.events == ["job.failed"]


@pytest.mark.parametrize(
    ("name", "method"),
    [("endpoint", "get"), ("endpoint", "post"), ("secret", "post"), ("delete", "post")],
)
def test_someone_elses_endpoint_is_not_found(client, user, other_user, wire, name, method):
    endpoint = endpoint_for(user)
    client.force_login(other_user)
    response = getattr(client, method)(reverse(f"webhooks:{name}", args=[endpoint.pk]))
    assert response.status_code == 404
    assert endpoint.secret not in response.content.decode()
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_someone_elses_delivery_is_not_sent_again(
    client, user, other_user, wire, django_capture_on_commit_callbacks
):
    delivery, receiver = failing_delivery(user, wire, django_capture_on_commit_callbacks)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    client.force_login(other_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("webhooks:resend", args=[delivery.endpoint_id, delivery.pk]))
    assert response.status_code == 404
    assert len(receiver.calls) == 1


# --- The API router ------------------------------------------------------------------------


def test_the_api_registers_lists_and_hides_others_endpoints(user, other_user, wire):
    mine, theirs = api_client(user), api_client(other_user, name="theirs")
    made = mine.post(
        reverse("api:webhooks"),
        {"url": URL, "events": ["job.completed"], "isActive": True},
        content_type="application/json",
    )
    assert made.status_code == 201
    body = made.json()["data"]
    assert body["secret"].startswith("whsec_")
    assert (body["events"], body["forTeam"], body["format"]) == (
        ["job.completed"],
        False,
        "standard",
    )
    listed = mine.get(reverse("api:webhooks")).json()
    assert [e["id"] for e in listed["data"]] == [body["id"]]
    assert theirs.get(reverse("api:webhooks")).json()["data"] == []
    one = reverse("api:webhook", args=[body["id"]])
    assert theirs.get(one).status_code == 404
    assert theirs.delete(one).json() == {"success": False, "error": "Webhook endpoint not found."}
    changed = mine.patch(one, {"isActive": False, "url": None}, content_type="application/json")
    assert changed.json()["data"]["isActive"] is False
    assert changed.json()["data"]["url"] == URL
    assert "secret" not in changed.json()["data"]


def test_the_api_refuses_an_inward_url_naming_the_field(user, wire):
    api = api_client(user)
    response = api.post(
        reverse("api:webhooks"),
        {"url": "https://169.254.169.254/", "events": ["job.failed"]},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert "metadata address" in response.json()["fields"]["url"]
    unknown = api.post(
        reverse("api:webhooks"),
        {"url": URL, "events": ["job.exploded"]},
        content_type="application/json",
    )
    assert unknown.status_code == 400
    assert any(name.startswith("events") for name in unknown.json()["fields"])
    assert not WebhookEndpoint.objects.exists()


def test_the_api_lists_deliveries_and_sends_again(user, wire, django_capture_on_commit_callbacks):
    delivery, receiver = failing_delivery(
        user, wire, django_capture_on_commit_callbacks, codes=(500, 200)
    )
    api = api_client(user)
    deliveries = reverse("api:webhook-deliveries", args=[delivery.endpoint_id])
    (listed,) = api.get(deliveries).json()["data"]
    assert (listed["id"], listed["status"], listed["responseCode"]) == (delivery.pk, "pending", 500)
    resend = reverse("api:webhook-resend", args=[delivery.endpoint_id, delivery.pk])
    assert api.post(resend).status_code == 409
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed")
    with django_capture_on_commit_callbacks(execute=True):
        resent = api.post(resend)
    assert resent.status_code == 202
    assert resent.json()["data"]["id"] == delivery.pk
    assert WebhookDelivery.objects.get().status == "delivered"
    assert len(receiver.calls) == 2


def test_a_slack_endpoint_gets_a_line_for_a_take_and_a_cut_too(user, settings):
    from drafts.models import Cut, Take
    from drafts.storyboards import services as storyboards

    settings.STUDIO_URL = "https://studio.example"
    board = storyboards.storyboard_create(owner=user, name="Board", model=MODEL)
    shot = storyboards.shot_add(
        storyboard=board, author=user, prompt="Cats <& dogs>", duration_seconds=4
    )
    job = VideoCreationJob.objects.create(
        owner=user, prompt_text=shot.prompt, model=MODEL, options=JOB_OPTIONS
    )
    take = Take.objects.create(shot=shot, job=job, number=2)
    line = webhooks.slack_text({"type": "take.completed", "data": storyboards.take_data(take)})
    assert (
        line == f"Take 2 completed: <https://studio.example/jobs/{job.pk}/|Cats &lt;&amp; dogs&gt;>"
    )
    cut = Cut.objects.create(
        storyboard=board, signature="s", edit_list=[{"shot": 1}], duration_seconds=7.5
    )
    line = webhooks.slack_text({"type": "storyboard.cut_ready", "data": storyboards.cut_data(cut)})
    assert line == f"Cut ready: <https://studio.example{cut.get_absolute_url()}|1 shot, 7.5 s>"
