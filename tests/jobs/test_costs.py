"""Estimates, what each outcome costs, budgets that hold, and the usage report."""

import calendar
import csv
import io
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.urls import reverse
from django.utils import dateformat, timezone
from django_q.conf import Conf

from jobs import pricing, services
from jobs.admin import BudgetAdmin
from jobs.models import Budget, VideoCreationJob
from tests.conftest import run_due_jobs
from tests.factories import FORM, JOB_OPTIONS, MODEL, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.VEO_RETRY_BASE_SECONDS = 0.01


def run(user, capture, prompt, **options):
    with capture(execute=True):
        job = services.job_create(
            owner=user, prompt_text=prompt, model=MODEL, options={**JOB_OPTIONS, **options}
        )
    run_due_jobs()
    job.refresh_from_db()
    return job


# --- What each outcome costs ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "actual", "seconds"),
    [
        ("Billed in full", Decimal("0.40"), 4),
        ("Filtered [fault=safety]", Decimal("0"), None),
        ("Veo failed [fault=done-error]", Decimal("0"), None),
        ("Refused [fault=permission]", Decimal("0"), None),
        ("Outcome unknown [fault=submit-500-accepted]", None, None),
        ("Generated then unreadable [fault=html]", Decimal("0.40"), None),
    ],
)
def test_each_outcome_records_what_google_bills(
    veo, user, django_capture_on_commit_callbacks, prompt, actual, seconds
):
    job = run(user, django_capture_on_commit_callbacks, prompt)
    assert job.estimated_cost_usd == Decimal("0.40")
    assert job.actual_cost_usd == actual
    assert job.billed_seconds == seconds


def test_the_job_page_says_what_may_have_been_billed(
    veo, user, logged_in, django_capture_on_commit_callbacks
):
    job = run(user, django_capture_on_commit_callbacks, "Unknown [fault=submit-500-accepted]")
    page = logged_in.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "Unknown: up to $0.40 may have been billed" in page


def test_cancelling_before_submit_costs_nothing(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        job = services.job_create(owner=user, prompt_text="x", model=MODEL, options=JOB_OPTIONS)
    services.job_cancel(job=job)
    job.refresh_from_db()
    assert job.actual_cost_usd == Decimal("0")


# --- Budgets --------------------------------------------------------------------------------


def test_a_submit_past_the_budget_is_refused_with_what_is_left(
    veo, user, logged_in, django_capture_on_commit_callbacks
):
    Budget.objects.create(user=user, period="monthly", limit_usd=Decimal("1.00"))
    run(user, django_capture_on_commit_callbacks, "First")
    run(user, django_capture_on_commit_callbacks, "Second")
    form = {**FORM, "prompt_text": "Third"}
    response = logged_in.post(reverse("jobs:index"), form)
    assert response.status_code == 400
    assert (
        "This would cost $0.40, but only $0.20 is left of your monthly budget of $1.00. "
        "Nothing was sent to Veo." in response.content.decode()
    )
    assert VideoCreationJob.objects.count() == 2
    assert veo.submits_for("Third") == 0


def test_failures_google_does_not_bill_give_the_budget_back(
    veo, user, django_capture_on_commit_callbacks
):
    Budget.objects.create(user=user, period="daily", limit_usd=Decimal("0.40"))
    run(user, django_capture_on_commit_callbacks, "Filtered [fault=safety]")
    job = run(user, django_capture_on_commit_callbacks, "Now it fits")
    assert job.status == "completed"


def test_running_jobs_count_by_their_estimate_against_the_team_budget(user, other_user):
    Budget.objects.create(user=None, period="monthly", limit_usd=Decimal("0.50"))
    make_job(
        other_user,
        prompt_text="running",
        status="processing",
        estimated_cost_usd=Decimal("0.40"),
    )
    with pytest.raises(
        pricing.BudgetExceeded, match=r"only \$0.10 is left of the team's monthly budget"
    ):
        services.job_create(owner=user, prompt_text="x", model=MODEL, options=JOB_OPTIONS)


def test_a_batch_over_budget_creates_nothing(user):
    Budget.objects.create(user=user, period="monthly", limit_usd=Decimal("1.00"))
    specs = [{"prompt_text": f"p{n}", "model": MODEL, "options": JOB_OPTIONS} for n in range(3)]
    with pytest.raises(pricing.BudgetExceeded, match=r"cost \$1.20, but only \$1.00"):
        services.batch_create(owner=user, label="Too much", jobs=specs)
    assert not VideoCreationJob.objects.exists()


@pytest.mark.parametrize("limit", ["-1", "lots", ""])
def test_budget_admin_refuses_bad_limits(admin_client, limit):
    response = admin_client.post(
        reverse("admin:jobs_budget_add"), {"user": "", "period": "monthly", "limit_usd": limit}
    )
    assert response.status_code == 200  # the form again, with its error
    assert response.context["adminform"].form.errors["limit_usd"]
    assert not Budget.objects.exists()


def test_budget_admin_shows_what_is_left(rf, user):
    budget = Budget.objects.create(user=user, period="monthly", limit_usd=Decimal("2.00"))
    make_job(
        user,
        prompt_text="x",
        status="completed",
        estimated_cost_usd=Decimal("0.40"),
        actual_cost_usd=Decimal("0.40"),
    )
    admin = BudgetAdmin(Budget, None)
    assert (admin.spent_this_period(budget), admin.left_this_period(budget)) == ("$0.40", "$1.60")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_twenty_parallel_submits_against_room_for_five_let_exactly_five_through(
    live_server, client, user, monkeypatch
):
    monkeypatch.setattr(Conf, "SYNC", False)  # queue the tasks; nothing needs to run them
    Budget.objects.create(user=None, period="monthly", limit_usd=Decimal("2.00"))
    client.force_login(user)
    cookies = {"sessionid": client.cookies["sessionid"].value, "csrftoken": "x" * 32}
    form = {**FORM, "csrfmiddlewaretoken": "x" * 32}

    def submit(n):
        response = requests.post(
            live_server.url + "/",
            data={**form, "prompt_text": f"Parallel {n}"},
            cookies=cookies,
            headers={"Referer": live_server.url + "/"},
            allow_redirects=False,
            timeout=60,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(submit, range(20)))
    assert sorted(statuses) == [302] * 5 + [400] * 15
    assert VideoCreationJob.objects.count() == 5
    assert pricing.spent(since=pricing.period_start("monthly")) == Decimal("2.00")


# --- The live estimate and the usage page ---------------------------------------------------------


def test_estimate_follows_the_forms_options(logged_in):
    url = reverse("jobs:estimate")
    cheap = logged_in.get(
        url, {"model": MODEL, "aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": "6"}
    )
    assert "$0.60" in cheap.content.decode()
    sharp = logged_in.get(
        url, {"model": MODEL, "aspect_ratio": "16:9", "resolution": "4k", "duration_seconds": "8"}
    )
    assert "$2.40" in sharp.content.decode() and "price of 2026-09-24" in sharp.content.decode()
    wrong = logged_in.get(
        url, {"model": MODEL, "aspect_ratio": "16:9", "resolution": "4k", "duration_seconds": "4"}
    )
    assert "accepts durations 8 s" in wrong.content.decode()


@pytest.fixture
def spending(user, other_user):
    rows = [
        (user, "veo-3.1-fast-generate-preview", "completed", "0.40", "0.40", 4),
        (user, "veo-3.1-generate-preview", "completed", "3.20", "3.20", 8),
        (user, "veo-3.1-fast-generate-preview", "failed", "0.40", None, None),
        (other_user, "veo-3.1-fast-generate-preview", "completed", "0.80", "0.80", 8),
    ]
    for owner, model, status, estimate, actual, seconds in rows:
        make_job(
            owner,
            prompt_text="x",
            model=model,
            status=status,
            estimated_cost_usd=Decimal(estimate),
            actual_cost_usd=Decimal(actual) if actual else None,
            billed_seconds=seconds,
        )


def test_usage_shows_my_spend_by_day_person_and_model(logged_in, spending):
    response = logged_in.get(reverse("jobs:usage"))
    figures = response.context["figures"]
    assert figures["totals"]["spend"] == Decimal("3.60")
    assert figures["totals"]["maybe"] == Decimal("0.40")
    assert figures["totals"]["seconds"] == 12
    assert [(m["model"], m["spend"]) for m in figures["models"]] == [
        ("veo-3.1-generate-preview", Decimal("3.20")),
        ("veo-3.1-fast-generate-preview", Decimal("0.40")),
    ]
    page = response.content.decode()
    assert "<svg" in page and 'class="billed"' in page


def test_team_usage_is_for_staff_with_the_permission_only(
    logged_in, client, staff_user, manager, spending
):
    assert logged_in.get(reverse("jobs:usage"), {"scope": "team"}).status_code == 403
    client.force_login(staff_user)
    assert client.get(reverse("jobs:usage"), {"scope": "team"}).status_code == 403
    client.force_login(manager)
    team = client.get(reverse("jobs:usage"), {"scope": "team"}).context["figures"]
    assert team["totals"]["spend"] == Decimal("4.40")
    assert {p["owner__username"] for p in team["people"]} == {"ana", "bo"}


def test_a_period_with_no_data_is_an_empty_chart_not_an_error(logged_in, spending):
    response = logged_in.get(
        reverse("jobs:usage"), {"period": "custom", "start": "2025-01-01", "end": "2025-01-31"}
    )
    assert response.status_code == 200
    assert response.context["figures"]["totals"]["jobs"] == 0
    assert len(response.context["chart"]["bars"]) == 31
    assert "No videos were made in this period." in response.content.decode()


def test_usage_csv_has_rows_by_day_person_and_model(logged_in, spending):
    response = logged_in.get(reverse("jobs:usage"), {"period": "last-7-days", "format": "csv"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == [
        "by",
        "key",
        "jobs",
        "seconds_of_video",
        "billed_usd",
        "may_have_been_billed_usd",
        "reserved_usd",
    ]
    days = [row for row in rows if row[0] == "day"]
    assert len(days) == 7
    assert days[-1][1] == timezone.localdate().isoformat() and days[-1][4] == "3.6000"
    assert [row[1:5] for row in rows if row[0] == "person"] == [["ana", "3", "12", "3.6000"]]
    assert [(row[1], row[4]) for row in rows if row[0] == "model"] == [
        ("veo-3.1-generate-preview", "3.2000"),
        ("veo-3.1-fast-generate-preview", "0.4000"),
    ]
    assert [row for row in rows if row[0] == "total"] == [
        ["total", "", "3", "12", "3.6000", "0.4000", "0.0000"]
    ]


def chart_svg(response):
    page = response.content.decode()
    return page[page.index("<svg") : page.index("</svg>")]


def test_usage_chart_gives_every_day_of_this_month_its_own_bar(logged_in, spending):
    chart = logged_in.get(reverse("jobs:usage")).context["chart"]
    today = timezone.localdate()
    days_in_month = calendar.monthrange(today.year, today.month)[1]
    assert [bar["row"]["day"].day for bar in chart["bars"]] == list(range(1, days_in_month + 1))
    assert max(bar["width"] for bar in chart["bars"]) <= chart["width"] / days_in_month


def test_a_one_day_period_is_one_narrow_bar_not_the_whole_width(logged_in, spending):
    today = timezone.localdate().isoformat()
    response = logged_in.get(
        reverse("jobs:usage"), {"period": "custom", "start": today, "end": today}
    )
    chart = response.context["chart"]
    assert len(chart["bars"]) == 1
    assert chart["bars"][0]["width"] <= chart["width"] / 7


def test_usage_chart_has_date_and_amount_axes_and_seconds_beside_spend(logged_in, spending):
    svg = chart_svg(logged_in.get(reverse("jobs:usage"), {"period": "last-7-days"}))
    today = timezone.localdate()
    for n in range(7):
        day = dateformat.format(today - timedelta(days=6 - n), "M j")
        assert re.search(rf'<text class="date"[^>]*>{day}</text>', svg), day
    amounts = [Decimal(a) for a in re.findall(r'<text class="amount"[^>]*>\$([\d.]+)<', svg)]
    assert amounts[0] == 0 and len(amounts) >= 3 and amounts[-1] >= Decimal("3.60")
    seconds = [int(s) for s in re.findall(r'<text class="seconds-tick"[^>]*>(\d+) s<', svg)]
    assert seconds[0] == 0 and seconds[-1] >= 12
    heights = re.findall(r'<rect class="seconds"[^>]*height="([\d.]+)"', svg)
    assert len(heights) == 1 and float(heights[0]) > 0  # today's 12 s, beside its spend
    assert 'preserveAspectRatio="none"' not in svg  # labels are not stretched


def test_bad_periods_are_explained(logged_in):
    response = logged_in.get(
        reverse("jobs:usage"), {"period": "custom", "start": "2026-05-02", "end": "2026-05-01"}
    )
    assert "The period&#x27;s start is after its end." in response.content.decode()


OMNI = "gemini-omni-1.2-flash"


def test_a_token_priced_job_costs_the_tokens_google_counted(user):
    # 10 s of 720p is 57,920 video tokens at $17.50 a million (the reference's §8).
    assert pricing.cost_of_tokens(OMNI, 57_920) == Decimal("1.0136")
    assert pricing.cost_of_tokens(OMNI, 0) == Decimal("0")
    # Unknown usage, or a model priced per second: the pipeline falls back to billed().
    assert pricing.cost_of_tokens(OMNI, None) is None
    assert pricing.cost_of_tokens(MODEL, 57_920) is None

    job = make_job(user, model=OMNI, options={**JOB_OPTIONS, "duration_seconds": 10})
    assert pricing.billed(job, samples=1) == (Decimal("1.0136"), 10)
    assert pricing.job_estimate(OMNI, job.options) == Decimal("1.0136")


def test_a_token_priced_job_counts_its_estimate_against_the_budget(user):
    Budget.objects.create(user=None, period=Budget.Period.MONTHLY, limit_usd=Decimal("1.00"))
    with pytest.raises(pricing.BudgetExceeded, match=re.escape("would cost $1.01")):
        services.job_create(
            owner=user,
            prompt_text="A fox",
            model=OMNI,
            options={**JOB_OPTIONS, "duration_seconds": 10},
        )
    assert not VideoCreationJob.objects.exists()
