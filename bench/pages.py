"""The job list and the drafts library with 100,000 jobs and 1,000 drafts, against bare lists.

Queries per page must not grow with the rows: each page's count at 100 jobs and 100
drafts must equal its count at full size, or the benchmark fails. Time per page is
measured in this process (Django's test client, DEBUG=false, the same middleware as
production) against a bench-only view (bench/urls.py) that reads the same 20 rows in one
query (and, like the studio, the line's order when a job on the page waits) and renders the same fields for each (a job card's poster, prompt, model,
resolution, length, date, status, review badge, place in line or stage, progress and
error; a draft's name, prompts, version, owner, visibility and date) through a minimal
template, without the page around them. The time of each query, the database's plan for
the slowest, and a py-spy profile of the first pages follow. It runs on SQLite and on
PostgreSQL with Redis (--database), each in a run of its own.

    uv run python bench/pages.py [--smoke] [--database both] [--jobs 100000] [--drafts 1000]
"""

import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

GOAL = 1.5  # time per page, at most this many times the baseline's (issue 20)
SMALL_JOBS, SMALL_DRAFTS = 100, 100
SHARED_SHARE = 5  # one draft in five belongs to a teammate and is shared


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0], databases=True)
    parser.add_argument("--drafts", type=int, help="drafts at full size (default 1,000)")
    return page_bench(parser, "Job list and library pages", "pages", run, jobs="jobs at full size")


def page_bench(parser, title, name, run, *, jobs):
    """The opening every page benchmark shares: --jobs (default 100,000; smoke 2,000) and
    --seconds (time per page at most: 10 s; smoke 0.5 s), each database in a run of its own,
    a throwaway studio; then run(args), with args.iterations the GETs per page at most.
    """
    parser.add_argument("--jobs", type=int, help=f"{jobs} (default 100,000)")
    parser.add_argument("--seconds", type=float, help="time per page at most (default 10)")
    args = parser.parse_args()
    code = harness.per_database(args)
    if code is not None:
        return code
    args.jobs = args.jobs or (2_000 if args.smoke else 100_000)
    args.seconds = args.seconds or (0.5 if args.smoke else 10.0)
    args.iterations = 5 if args.smoke else 200
    harness.print_machine(title, args.smoke, args.database)
    with harness.Sandbox(name, database=args.database, keep=args.keep) as sandbox:
        sandbox.django()
        harness.print_stack()
        return run(args)


def pages(jobs, drafts):
    """Return {name: (studio page, baseline of the same rows)} for these row counts."""
    mine = drafts - drafts // SHARED_SHARE
    last_jobs = math.ceil(jobs / 20)
    last_drafts = math.ceil(mine / 20)
    return {
        "jobs, page 1": ("/", "/bench/baseline/jobs/"),
        "jobs, last page": (f"/?page={last_jobs}", f"/bench/baseline/jobs/?page={last_jobs}"),
        "library, page 1": ("/drafts/", "/bench/baseline/drafts/"),
        "library, last page": (
            f"/drafts/?page={last_drafts}",
            f"/bench/baseline/drafts/?page={last_drafts}",
        ),
        "library, shared tab": ("/drafts/?tab=shared", None),
        "library, search": ("/drafts/?q=fox", None),
        # The page around the rows: what the chrome costs without them.
        "library, no rows": ("/drafts/?q=no-draft-matches-this", None),
    }


def seed(owner, teammate, *, jobs, drafts, jobs_from=0, drafts_from=0):
    began = time.perf_counter()
    new_jobs = jobs - jobs_from
    harness.seed_jobs(owner, new_jobs, start=jobs_from, waiting=10, running=10)
    shared_from, shared = drafts_from // SHARED_SHARE, drafts // SHARED_SHARE
    harness.seed_drafts(owner, (drafts - shared) - (drafts_from - shared_from), start=drafts_from)
    harness.seed_drafts(teammate, shared - shared_from, start=shared_from, shared=True)
    return time.perf_counter() - began


def run(args):
    jobs, drafts = args.jobs, args.drafts or (300 if args.smoke else 1_000)
    owner, teammate = harness.make_user("lister"), harness.make_user("teammate")
    seed(owner, teammate, jobs=SMALL_JOBS, drafts=SMALL_DRAFTS)
    client = harness.http_client()
    client.force_login(owner)
    small = {
        name: {SMALL_JOBS: len(harness.captured_get(client, studio)[1])}
        for name, (studio, _baseline) in pages(SMALL_JOBS, SMALL_DRAFTS).items()
    }
    took = seed(
        owner, teammate, jobs=jobs, drafts=drafts, jobs_from=SMALL_JOBS, drafts_from=SMALL_DRAFTS
    )
    harness.figure("jobs (one owner; 10 waiting, 10 running, 5 % failed)", jobs)
    harness.figure("drafts (one in five a teammate's, shared)", drafts)
    harness.figure("seeding with bulk_create", took, "s")
    # No ANALYZE on SQLite: the studio never runs it, so SQLite plans without statistics
    # here too; PostgreSQL's autovacuum would have analyzed the new rows, so the bench does.
    harness.analyze_after_seeding()

    named = {
        name: (client, studio, baseline) for name, (studio, baseline) in pages(jobs, drafts).items()
    }
    failures = measure_pages(named, small, f"{jobs:,}", args)
    for name in ("jobs, page 1", "jobs, last page", "library, search"):
        explain(client, named[name][1], name)
    if not args.smoke:
        for name in ("jobs, page 1", "library, page 1"):
            profile(client, named[name][1], name)
    return verdict(failures, f"{SMALL_JOBS} and {jobs:,} jobs")


def measure_pages(named, small, full, args, *, check=None, statuses=None):
    """Time each page against its bare list and print the table and ratios.

    named: {name: (logged-in client, studio path, bare list path or None)}; small: {name:
    {smaller size: its queries}}, each of which must equal the queries at the full size
    (labelled `full`); check(name, html), when given, refuses a page with the wrong rows;
    each page must answer 200, or what statuses {name: status} says.
    Return the failures.
    """
    rows, failures, timings = [], [], {}
    sizes = list(next(iter(small.values())))
    for name, (client, studio, baseline) in named.items():
        response, queries = harness.captured_get(client, studio)
        if response.status_code != (statuses or {}).get(name, 200):
            raise SystemExit(f"{name}: {studio} answered {response.status_code}")
        if check:
            check(name, response.content.decode())
        for size, count in small[name].items():
            if count != len(queries):
                failures.append(f"{name}: {count} queries at {size}, {len(queries)} at {full}")
        paths = [studio, baseline] if baseline else [studio]
        page_ms, base_ms = [*time_pages(client, paths, args.seconds, args.iterations), None][:2]
        timings[name] = (page_ms, base_ms)
        rows.append(
            [
                name,
                *small[name].values(),
                len(queries),
                round(harness.median(page_ms), 2),
                round(harness.percentile(page_ms, 90), 2),
                round(harness.median(base_ms), 2) if base_ms else "-",
                round(harness.median(page_ms) / harness.median(base_ms), 2) if base_ms else "-",
            ]
        )
    print()
    harness.table(
        [
            "page",
            *(f"queries@{size}" for size in sizes),
            f"queries@{full}",
            "median ms",
            "p90 ms",
            "baseline ms",
            "x base",
        ],
        rows,
    )
    for name, (page_ms, base_ms) in timings.items():
        if base_ms:
            harness.ratio(
                f"{name} time",
                harness.median(page_ms),
                harness.median(base_ms),
                name="bare list",
                goal=GOAL,
                higher_is_better=False,
                smoke=args.smoke,
            )
    return failures


def verdict(failures, sizes):
    """Print whether queries per page stayed constant across sizes; return the exit code."""
    if failures:
        print("\nFAILED: queries per page grow with the rows:\n  " + "\n  ".join(failures))
        return 1
    print(f"\n  queries per page are the same at {sizes}: constant")
    return 0


def time_pages(client, paths, seconds, iterations):
    """Return, for each path, the milliseconds of each of its GETs, after a warm-up.

    The paths take turns, one GET each, so that a page and its baseline are timed on the
    same machine at the same moment: this VM's speed drifts by a third within a minute,
    which timing one page and then the other turned into ratios that moved as much.
    """
    for _ in range(3):
        for path in paths:
            client.get(path)
    times, deadline = [[] for _ in paths], time.perf_counter() + seconds * len(paths)
    while len(times[0]) < iterations and time.perf_counter() < deadline:
        for path, took in zip(paths, times, strict=True):
            began = time.perf_counter()
            client.get(path)
            took.append((time.perf_counter() - began) * 1000)
    return times


def explain(client, path, name):
    """Print each query of one GET with its time, and the database's plan for the slowest.

    SQLite's EXPLAIN QUERY PLAN, or PostgreSQL's EXPLAIN (its estimates; nothing is run).
    """
    from django.db import connection

    timed = []

    def timer(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            timed.append(((time.perf_counter() - began) * 1000, sql, params))

    with connection.execute_wrapper(timer):
        client.get(path)
    print(f"\n  queries of {name} ({path}), ms each:")
    for ms, sql, _params in timed:
        print(f"    {ms:7.2f}  {sql[:150]}")
    ms, sql, params = max(timed, key=lambda item: item[0])
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(f"{'EXPLAIN' if postgres else 'EXPLAIN QUERY PLAN'} {sql}", params)
        plan = [row[-1] for row in cursor.fetchall()]
    if postgres:  # a tree, one node a line, indented
        print(f"    plan of the slowest ({ms:.2f} ms):\n      " + "\n      ".join(plan))
    else:
        print(f"    plan of the slowest ({ms:.2f} ms): " + " | ".join(plan))


# Where a page's time goes, for harness.profile_report: the test client stands in for gunicorn.
PAGE_LAYERS = {
    "Django, the whole request": "django/core/handlers/base.py:BaseHandler.get_response",
    "the view (after the middleware)": "django/core/handlers/base.py:BaseHandler._get_response",
    "running queries (the driver)": "django/db/backends/utils.py:CursorWrapper._execute",
    "building SQL (the ORM compiler)": "django/db/models/sql/compiler.py:SQLCompiler.as_sql",
    "rows into model instances": "django/db/models/query.py:ModelIterable.__iter__",
    "the session and the user": "django/contrib/auth/__init__.py:get_user",
    "template rendering": "django/template/backends/django.py:Template.render",
    "kept fragments (the cache tag)": "django/templatetags/cache.py:CacheNode.render",
}


def profile(client, path, name, *, seconds=5):
    """Sample this process with py-spy while it GETs path for seconds; print the profile."""
    output = Path(tempfile.mkdtemp(prefix="videostudio-bench-profile-")) / "profile.txt"
    spy = harness.profile(os.getpid(), seconds, output)
    time.sleep(0.5)  # py-spy attaches
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        client.get(path)
    harness.heading(f"Profile: {name} ({path})")
    harness.profile_report(spy, output, layers=PAGE_LAYERS)
    shutil.rmtree(output.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
