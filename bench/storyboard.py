"""A storyboard of 50 shots with 4 takes each, among 100,000 jobs, against a bare list of them.

Queries per board must not grow with the shots or the takes: the board's count (and its
poll's) for 5 shots of 4 takes and for 50 shots of 1 take must equal its count for 50
shots of 4, or the benchmark fails. Time per board is measured in this process
(Django's test client, DEBUG=false, the same middleware as production) against a
bench-only view (bench/urls.py) that reads the same 200 takes with their shots and jobs
in one query and renders the same fields for each shot (position, task, length, the
picked take's poster, number, review badge, length, cost and trim, prompt, notes) and
take (compare box, link, status, review badge and link, progress, error, earlier prompt,
seed, model, cost, picked) through a minimal template, without the page around them:
no header, totals, cut, owner's forms or settings. The shots are the owner's: every
take completed but one in twelve failed and five running, 45 shots picked (every third
trimmed), one ready cut. The board's poll is timed twice: when something changed (the
board rendered again) and when nothing did since the version the tab shows (answered
204). The time of each query, the database's plan for the slowest and a py-spy profile
of the board follow. It runs on SQLite and on PostgreSQL with Redis (--database), each
in a run of its own.

    uv run python bench/storyboard.py [--smoke] [--database both] [--jobs 100000]
"""

import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.pages import explain, measure_pages, page_bench, profile, verdict

GOAL = 1.5  # time per board, at most this many times the baseline's (issue 20)
SHOTS, TAKES = 50, 4
SMALL = [(5, TAKES), (SHOTS, 1)]  # (shots, takes) whose counts must equal the full board's
UNPICKED = 5  # the last shots have no pick yet
RUNNING = 5  # the last take of these shots is being generated
FAILED_SHARE = 12  # one take in twelve failed
QUIET = "storyboard's poll, nothing changed"


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0], databases=True)
    return page_bench(
        parser, "A storyboard's board", "storyboard", run, jobs="jobs in the database"
    )


def seed_board(owner, name, shots, takes):
    """Bulk-create a storyboard of owner's with shots x takes (their jobs) and a ready cut."""
    from django.db import transaction

    from drafts.models import Cut, Shot, Storyboard, Take
    from jobs.models import VideoCreationJob

    status, stage = VideoCreationJob.Status, VideoCreationJob.Stage
    reviews = ["draft", "draft", "in_review", "approved", "changes_requested"]
    with transaction.atomic():
        board = Storyboard.objects.create(owner=owner, name=name, model=harness.MODEL)
        rows = [
            Shot(
                storyboard=board,
                position=n + 1,
                prompt=f"Shot {n + 1}: the lantern passes under bridge {n + 1}, seen from the bank",
                duration_seconds=8,
                notes="Keep the water dark." if n % 4 == 0 else "",
            )
            for n in range(shots)
        ]
        Shot.objects.bulk_create(rows)
        made, picked = [], []
        for s, shot in enumerate(rows):
            for t in range(takes):
                job = VideoCreationJob(
                    owner=owner,
                    # An earlier prompt for the first take of every fifth shot.
                    prompt_text=shot.prompt if (t or s % 5) else f"Shot {s + 1}, first try",
                    model=harness.MODEL,
                    options={**harness.JOB_OPTIONS, "seed": 1000 + t},
                    review_state=reviews[(s + t) % len(reviews)],
                )
                last = t == takes - 1
                if last and s >= shots - RUNNING:
                    job.status, job.stage, job.progress = status.PROCESSING, stage.GENERATING, 40
                elif (s * takes + t) % FAILED_SHARE == FAILED_SHARE - 1:
                    job.status, job.error = status.FAILED, "Veo could not generate the video."
                else:
                    job.status, job.stage, job.progress = status.COMPLETED, stage.DONE, 100
                    job.video_url = f"videos/{job.pk}/output.mp4"
                    job.actual_cost_usd = Decimal("0.80")
                    job.metadata = {
                        "poster_url": f"/jobs/{job.pk}/poster/",
                        "video": {"duration_seconds": 8.0},
                    }
                take = Take(shot=shot, job=job, number=t + 1, created_by=owner)
                made.append(take)
                if shot.picked_id is None and s < shots - UNPICKED and job.status == "completed":
                    shot.picked_id = take.pk
                    if s % 3 == 0:
                        shot.trim_in, shot.trim_out = Decimal("0.5"), Decimal("7.25")
                    picked.append(shot)
        VideoCreationJob.objects.bulk_create([take.job for take in made], batch_size=500)
        Take.objects.bulk_create(made, batch_size=500)
        Shot.objects.bulk_update(picked, ["picked", "trim_in", "trim_out"], batch_size=500)
        Cut.objects.create(
            storyboard=board,
            status=Cut.Status.READY,
            signature="a cut of the picks before",
            duration_seconds=350.0,
            stream_copy=True,
        )
    return board


def pages(board):
    """Return {name: (studio page, baseline of the same shots and takes or None)}."""
    from drafts.storyboards.services import board_version

    return {
        f"storyboard {SHOTS} x {TAKES}": (
            board.get_absolute_url(),
            f"/bench/baseline/storyboard/{board.pk}/",
        ),
        "storyboard's poll": (f"{board.get_absolute_url()}status/", None),
        # What a tab's poll costs while nothing on the board changed: 204, not the board.
        QUIET: (
            f"{board.get_absolute_url()}status/?since={board_version(board)}",
            None,
        ),
    }


def run(args):
    owner = harness.make_user("director")
    client = harness.http_client()
    client.force_login(owner)
    small = {}
    for shots, takes in SMALL:
        board = seed_board(owner, f"Small {shots}x{takes}", shots, takes)
        for name, (studio, _baseline) in pages(board).items():
            count = len(harness.captured_get(client, studio)[1])
            small.setdefault(name, {})[f"{shots}x{takes}"] = count
    began = time.perf_counter()
    board = seed_board(owner, "Night river", SHOTS, TAKES)
    harness.seed_jobs(owner, args.jobs - job_count(), posters=False)
    took = time.perf_counter() - began
    harness.figure(f"shots ({UNPICKED} unpicked, {RUNNING} with a take running)", SHOTS)
    harness.figure("takes (one job each)", SHOTS * TAKES)
    harness.figure("jobs in the database (takes included)", job_count())
    harness.figure("seeding with bulk_create", took, "s")
    harness.analyze_after_seeding()  # PostgreSQL only: what autovacuum would have done

    def check(name, html):
        if name == QUIET:
            return
        if html.count('class="shot"') != SHOTS or html.count('class="take ') != SHOTS * TAKES:
            raise SystemExit(f"{name}: not {SHOTS} shots of {TAKES} takes")

    named = {name: (client, studio, base) for name, (studio, base) in pages(board).items()}
    failures = measure_pages(
        named, small, f"{SHOTS}x{TAKES}", args, check=check, statuses={QUIET: 204}
    )
    studio = named[f"storyboard {SHOTS} x {TAKES}"][1]
    explain(client, studio, "board")
    if not args.smoke:
        profile(client, studio, "board")
    return verdict(failures, f"{', '.join(small[next(iter(small))])} and {SHOTS}x{TAKES}")


def job_count():
    from jobs.models import VideoCreationJob

    return VideoCreationJob.objects.count()


if __name__ == "__main__":
    sys.exit(main())
