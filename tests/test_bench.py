"""Every benchmark runs in its smoke mode, so that none can rot unnoticed.

Each runs as a person runs it, `python bench/<name>.py --smoke`, on its own throwaway
data dir and SQLite database (whatever DATABASE_URL says), and must exit 0 and print
its ratio against the baseline it measured. The figures themselves are not judged here.
"""

import html
import re
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

from drafts import services as drafts
from drafts.models import Take
from drafts.storyboards import services as storyboards
from jobs.models import VideoCreationJob
from tests.factories import MODEL, make_job

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HELPERS = {"__init__", "harness", "settings", "urls", "bare_settings", "bare_urls"}
# Not a benchmark but a proof with no baseline: .ci/run runs it whole, as pass 3.
PROOFS = {"two_hosts"}
BENCHMARKS = sorted(path.stem for path in BENCH.glob("*.py") if path.stem not in HELPERS | PROOFS)
RATIO_LINE = re.compile(r"^ratio: .+ = \d+\.\d+x .+ \((goal [<>]=|no goal)", re.MULTILINE)

# Like the studio tests, these always run their own SQLite studio: no need to repeat
# them on PostgreSQL.
pytestmark = pytest.mark.studio


def test_every_benchmark_has_a_smoke_run():
    assert BENCHMARKS == [
        "cut",
        "download",
        "gallery",
        "pages",
        "pipeline",
        "poll",
        "serving",
        "startup",
        "storage",
        "storyboard",
        "ticks",
        "watched",
        "webhooks",
    ]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_in_smoke_mode_and_prints_its_ratio(name):
    result = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert RATIO_LINE.search(result.stdout), output


@pytest.mark.parametrize(
    "path",
    [
        "/bench/baseline/poll/x/",
        "/bench/baseline/video/x/",
        "/bench/baseline/jobs/",
        "/bench/baseline/gallery/",
    ],
)
def test_baselines_are_not_served_by_the_studio(path):
    with pytest.raises(Resolver404):
        resolve(path)


# --- The list baselines show what the studio's rows show --------------------------------
# Issue 20 measures a list against "a bare list view of the same page size rendering the
# same fields": each baseline's row must read, word for word, as the studio's row does.

Status = VideoCreationJob.Status


def words(fragment):
    """Return the words a reader sees in an HTML fragment, counted."""
    return Counter(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def element(page, tag, marker):
    """Return the first <tag>...</tag> of page holding marker (that tag not nested)."""
    found = [m[0] for m in re.finditer(rf"<{tag}\b.*?</{tag}>", page, re.DOTALL) if marker in m[0]]
    assert found, f"no <{tag}> with {marker}"
    return found[0]


@pytest.mark.django_db
@pytest.mark.urls("bench.urls")
def test_the_job_list_baseline_renders_each_card_s_fields(logged_in, user):
    cards = [
        make_job(user, prompt_text="A fox waits"),
        make_job(user, prompt_text="A second fox waits"),
        make_job(user, status=Status.PROCESSING, stage="generating", progress=30),
        make_job(user, status=Status.FAILED, error="Veo could not generate the video."),
        make_job(
            user,
            prompt_text="A lantern on a night river, drifting " * 4,
            status=Status.COMPLETED,
            stage="done",
            progress=100,
            review_state="in_review",
            metadata={"poster_url": "/poster.jpg"},
        ),
    ]
    studio = logged_in.get("/").content.decode()
    baseline = logged_in.get("/bench/baseline/jobs/").content.decode()
    for job in cards:
        marker = f'id="job-{job.pk}"'
        assert words(element(baseline, "article", marker)) == words(
            element(studio, "article", marker)
        )
    assert "number 2 in line" in baseline


@pytest.mark.django_db
@pytest.mark.urls("bench.urls")
def test_the_library_baseline_renders_each_draft_s_fields(logged_in, user):
    for name in ("Harbour", "Lantern"):
        drafts.draft_save(author=user, name=name, prompts=["A fox", "A hare"])
    studio = logged_in.get("/drafts/").content.decode()
    baseline = logged_in.get("/bench/baseline/drafts/").content.decode()
    for name in ("Harbour", "Lantern"):
        assert words(element(baseline, "article", f">{name}<")) == words(
            element(studio, "article", f">{name}<")
        )


# What the board shows its owner beyond the fields: buttons, labels and the takes' header.
BOARD_CONTROLS = words(
    "Compare Take Status Seed Model Cost Takes of shot 1 Compare selected New take Edit "
    "↑ ↓ In (s) Out (s) Trim Remove… Removes the shot; its takes stay as jobs. "
    "Remove shot 1 Pick"
)


@pytest.mark.django_db
@pytest.mark.urls("bench.urls")
def test_the_storyboard_baseline_renders_each_shot_s_and_take_s_fields(logged_in, user):
    board = storyboards.storyboard_create(owner=user, name="Harbour", model=MODEL)
    shot = storyboards.shot_add(storyboard=board, author=user, prompt="A quay", notes="Dark")
    takes = []
    for n, fields in enumerate(
        [
            {
                "status": Status.COMPLETED,
                "actual_cost_usd": Decimal("0.8"),
                "review_state": "approved",
            },
            {"status": Status.COMPLETED, "prompt_text": "An earlier quay"},
            {"status": Status.FAILED, "error": "Veo could not generate the video."},
            {"status": Status.PROCESSING, "stage": "generating", "progress": 40},
        ],
        start=1,
    ):
        fields.setdefault("prompt_text", shot.prompt)
        fields["metadata"] = {"video": {"duration_seconds": 8.0}}
        job = make_job(user, options={"seed": 7, "duration_seconds": 4}, **fields)
        takes.append(Take.objects.create(shot=shot, job=job, number=n, created_by=user))
    shot = storyboards.take_pick(shot=shot, take=takes[0], author=user)
    storyboards.shot_set_trim(shot=shot, author=user, trim_in="0.5", trim_out="3.25")
    studio = logged_in.get(board.get_absolute_url()).content.decode()
    baseline = logged_in.get(f"/bench/baseline/storyboard/{board.pk}/").content.decode()
    shown = words(element(studio, "li", f'id="shot-{shot.pk}"'))
    assert words(element(baseline, "li", "")) == shown - BOARD_CONTROLS
