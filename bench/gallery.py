"""The team gallery with 100,000 completed jobs, against a bare list of the same cards.

Queries per page must not grow with the videos: each page's count at 100 jobs must equal
its count at full size, or the benchmark fails. Time per page is measured in this process
(Django's test client, DEBUG=false, the same middleware as production) against a
bench-only view that reads the same 24 jobs in one keyset query and renders the same
fields (poster, preview, prompt, review state, owner, model, task, date, checkbox)
through a minimal template: no filters form, no stars, no favourites, no cuts. The deep
page is the one past the middle job, reached by its cursor as the next-page links reach
it. The time of each query, the database's plan for the slowest and a py-spy profile of
page 1 follow. It runs on
SQLite and on PostgreSQL with Redis (--database), each in a run of its own.

    uv run python bench/gallery.py [--smoke] [--database both] [--jobs 100000]
"""

import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness
from bench.pages import explain, measure_pages, page_bench, profile, verdict

# Time per page, at most this many times the baseline's (issue 20), though the gallery
# reads two tables (jobs and cuts, PAGE_SIZE + 1 rows of each, merged), their stars and
# the viewer's favourites as subqueries, and renders the filters form, where the bare list
# reads one.
GOAL = 1.5
SMALL_JOBS = 100
SHARED_SHARE = 5  # one job in five is shared with the team
RATED_SHARE = 10  # one in ten has a teammate's stars, one in seven is the viewer's favourite
FAVOURITE_SHARE = 7
CUTS = 50  # a teammate's shared storyboard's cuts, among the jobs in time
TASKS = ["text_to_video", "image_to_video", "reference_to_video", "extend"]
MODELS = ["veo-3.1-fast-generate-preview", "veo-3.1-generate-preview"]


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0], databases=True)
    return page_bench(parser, "Gallery pages", "gallery", run, jobs="completed jobs at full size")


_EPOCH = {}


def seed(owner, teammate, count, *, start=0):
    """Bulk-create count completed jobs of owner's (newest first), their stars and marks."""
    from django.db import transaction
    from django.utils import timezone

    from drafts.review import averages
    from drafts.review.models import Favourite, Rating
    from jobs.models import VideoCreationJob
    from jobs.text import fold

    done, stage = VideoCreationJob.Status.COMPLETED, VideoCreationJob.Stage.DONE
    now = _EPOCH.setdefault("now", timezone.now())
    began = time.perf_counter()
    with transaction.atomic():
        for first in range(start, start + count, 2000):
            jobs = []
            for n in range(first, min(first + 2000, start + count)):
                prompt = f"Bench prompt {n}: a paper lantern drifting over a night river"
                job = VideoCreationJob(
                    owner=owner,
                    prompt_text=prompt,
                    search_text=fold(prompt),  # save() folds it; bulk_create does not
                    model=MODELS[n % len(MODELS)],
                    task=TASKS[n % len(TASKS)],
                    options=harness.JOB_OPTIONS,
                    status=done,
                    stage=stage,
                    progress=100,
                    visibility="shared" if n % SHARED_SHARE == 0 else "private",
                    created_at=now - timedelta(seconds=n),
                    completed_at=now - timedelta(seconds=n),
                )
                job.video_url = f"videos/{job.pk}/output.mp4"
                job.metadata = {"poster_url": f"/jobs/{job.pk}/resources/{job.pk}/"}
                jobs.append(job)
            VideoCreationJob.objects.bulk_create(jobs, batch_size=500)
            ratings = [
                Rating(job=job, person=teammate, stars=1 + (n // RATED_SHARE) % 5)
                for n, job in enumerate(jobs)
                if n % RATED_SHARE == 0
            ]
            favourites = [
                Favourite(job=job, person=owner)
                for n, job in enumerate(jobs)
                if n % FAVOURITE_SHARE == 0
            ]
            Rating.objects.bulk_create(ratings, batch_size=500)
            Favourite.objects.bulk_create(favourites, batch_size=500)
        averages.refresh_all()  # bulk_create sends no signal to keep the averages
    return time.perf_counter() - began


def seed_cuts(teammate, span):
    """A teammate's shared storyboard with CUTS ready cuts, spread over span seconds of jobs."""
    from drafts.models import Cut, Storyboard

    board = Storyboard.objects.create(
        owner=teammate, name="Night river", model=MODELS[0], visibility="shared"
    )
    step = max(1, span // CUTS)
    Cut.objects.bulk_create(
        Cut(
            storyboard=board,
            status=Cut.Status.READY,
            signature=str(n),
            duration_seconds=8,
            created_at=_EPOCH["now"] - timedelta(seconds=n * step),
        )
        for n in range(CUTS)
    )


def deep_cursor(jobs):
    """Return the gallery's cursor past the middle job, as its next-page link writes it."""
    from drafts.review import gallery
    from jobs.models import VideoCreationJob

    middle = VideoCreationJob.objects.order_by("-created_at", "-pk").values_list(
        "created_at", "pk"
    )[jobs // 2]
    return gallery.write_cursor((middle[0], "job", middle[1]))


def pages(jobs):
    """Return {name: (studio page, baseline of the same rows or None)} at this size."""
    from urllib.parse import quote

    after = quote(deep_cursor(jobs))
    return {
        "gallery, page 1": ("/gallery/", "/bench/baseline/gallery/"),
        "gallery, deep page": (
            f"/gallery/?after={after}",
            f"/bench/baseline/gallery/?after={after}",
        ),
        "gallery, best rated": ("/gallery/?sort=rated", None),
        "gallery, search": ("/gallery/?q=lantern", None),
        "gallery, 4 stars and up": ("/gallery/?rating=4", None),
    }


def run(args):
    jobs = args.jobs
    owner, teammate = harness.make_user("viewer"), harness.make_user("teammate")
    seed(owner, teammate, SMALL_JOBS)
    seed_cuts(teammate, jobs)
    client = harness.http_client()
    client.force_login(owner)
    team = harness.http_client()
    team.force_login(teammate)

    def named(at):
        found = {name: (client, studio, base) for name, (studio, base) in pages(at).items()}
        found["gallery, a teammate's page 1"] = (team, "/gallery/", None)
        return found

    small = {
        name: {SMALL_JOBS: len(harness.captured_get(who, studio)[1])}
        for name, (who, studio, _base) in named(SMALL_JOBS).items()
    }
    took = seed(owner, teammate, jobs - SMALL_JOBS, start=SMALL_JOBS)
    harness.figure("completed jobs (one viewer's; one in five shared)", jobs)
    harness.figure("ratings (a teammate's, one job in ten)", jobs // RATED_SHARE)
    harness.figure("cuts (a teammate's shared storyboard)", CUTS)
    harness.figure("seeding with bulk_create", took, "s")
    harness.analyze_after_seeding()  # PostgreSQL only: what autovacuum would have done

    def check(name, html):
        if (cards := html.count("data-gallery-card")) != 24:
            raise SystemExit(f"{name}: {cards} cards, not 24")

    full = named(jobs)
    failures = measure_pages(full, small, f"{jobs:,}", args, check=check)
    for name in ("gallery, page 1", "gallery, deep page", "gallery, best rated"):
        who, studio, _base = full[name]
        explain(who, studio, name)
    if not args.smoke:
        profile(client, full["gallery, page 1"][1], "gallery, page 1")
    return verdict(failures, f"{SMALL_JOBS} and {jobs:,} jobs")


if __name__ == "__main__":
    sys.exit(main())
