"""Polling that holds no worker: 50 jobs at once through 2 workers, measured from outside.

`manage.py qcluster` (Q_WORKERS=2, with its ticker) and the emulator run as their own
processes on a throwaway database. 50 jobs are created at once, each finishing at Google
(the emulator) a little later than the one before, all inside the in-flight cap. Read
from the database and the emulator's clock, two figures:

- the time from the first create until the last job is submitted to Google;
- for each job, the time from the emulator's "done" (the first moment a poll would have
  answered done: its latency passed and its video rendered, from /emulator/stats) to the
  studio's "downloading" (first seen at that stage or later, read every 50 ms), against
  the poll interval (goal: under two intervals, for every job).

    uv run python bench/ticks.py [--smoke] [--jobs 50]
"""

import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

API_KEY = "bench-emulator-key"
PROMPT = "Ticks job {n}: a kite over the dunes [latency={latency:.1f}]"
SUBMIT_GOAL_SECONDS = 10


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, help="jobs created at once (default 50; smoke 6)")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS")
    args = parser.parse_args()
    smoke = args.smoke
    count = args.jobs or (6 if smoke else 50)
    interval, interval_max = (0.5, 1.0) if smoke else (2.0, 4.0)
    # Each job is done at Google this long after its submit: staggered, so finishes
    # keep arriving while the others are still polled.
    first, step = (3.0, 0.3) if smoke else (15.0, 0.3)

    harness.print_machine("Ticks: submits and polls with 2 workers", smoke)
    port = harness.free_port()
    with harness.Sandbox(
        "ticks",
        keep=args.keep,
        VEO_PROVIDER="emulator",
        VEO_EMULATOR_PORT=port,
        GEMINI_API_KEY=API_KEY,
        Q_WORKERS=args.workers,
        VEO_POLL_INTERVAL=interval,
        VEO_POLL_INTERVAL_MAX=interval_max,
        VEO_MAX_IN_FLIGHT=max(count, 10),
    ) as sandbox:
        sandbox.django()
        latencies = [first + step * n for n in range(count)]
        return run(sandbox, port, latencies, args.workers, interval_max, smoke)


def create_jobs(owner, latencies, start=0):
    from jobs import services

    options = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4}
    return [
        services.job_create(
            owner=owner,
            prompt_text=PROMPT.format(n=start + n, latency=latency),
            model="veo-3.1-fast-generate-preview",
            options=options,
            check_budget=False,
        ).pk
        for n, latency in enumerate(latencies)
    ]


def run(sandbox, port, latencies, workers, interval_max, smoke):
    owner = harness.make_user("ticker")
    emulator = harness.start_emulator(sandbox, port, api_key=API_KEY)
    cluster = None
    try:
        cluster = harness.start(
            [sys.executable, "manage.py", "qcluster"], env=sandbox.env, log=sandbox.log("qcluster")
        )
        # Warm up: every worker imports PyAV and opens its connections on its first job.
        warm = create_jobs(owner, [0.0] * workers, start=1000)
        watch(warm, timeout=120, processes=[emulator, cluster])
        began = time.time()
        ids = create_jobs(owner, latencies)
        created = time.time() - began
        seen = watch(ids, timeout=120 + 2 * max(latencies), processes=[emulator, cluster])
        stats = emulator_stats(port)
    finally:
        left = harness.stop(cluster) + harness.stop(emulator)
    if left:
        raise SystemExit(f"processes left behind: {left}")
    return report(ids, began, created, seen, stats, workers, interval_max, smoke)


def watch(ids, *, timeout, processes):
    """Read the jobs every 50 ms until all have ended; return when each reached downloading."""
    from django.db import connection

    from jobs.models import VideoCreationJob

    stage = VideoCreationJob.Stage
    later_stages = {stage.DOWNLOADING, stage.FINISHING, stage.DONE}
    reached, give_up = {}, time.monotonic() + timeout
    while True:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"a child exited early with code {process.returncode}")
        rows = list(
            VideoCreationJob.objects.filter(pk__in=ids).values_list("pk", "stage", "status")
        )
        connection.close()  # let SQLite checkpoint; a held read would pin the WAL
        now = time.time()
        for pk, at_stage, _status in rows:
            if at_stage in later_stages:
                reached.setdefault(pk, now)
        if all(status in ("completed", "failed") for _pk, _stage, status in rows):
            return reached
        if time.monotonic() > give_up:
            raise SystemExit(f"not all {len(ids)} jobs ended within {timeout:.0f} s")
        time.sleep(0.05)


def emulator_stats(port):
    url = f"http://127.0.0.1:{port}/emulator/stats"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def report(ids, began, created, reached, stats, workers, interval_max, smoke):
    from jobs.models import VideoCreationJob

    jobs = {job.pk: job for job in VideoCreationJob.objects.filter(pk__in=ids)}
    failed = [(job.prompt_text, job.error) for job in jobs.values() if job.status == "failed"]
    submitted = [jobs[pk].submitted_at.timestamp() for pk in ids if jobs[pk].submitted_at]
    last_submit = max(submitted) - began
    done_at = {op["prompt"]: op["done_at"] for op in stats["operations"].values()}
    delays = [
        reached[pk] - done_at[jobs[pk].prompt_text]
        for pk in ids
        if pk in reached and done_at.get(jobs[pk].prompt_text)
    ]
    worst = max(delays)

    harness.figure("jobs created at once", len(ids))
    harness.figure("Q_WORKERS", workers)
    harness.figure("  of which creating them took (this process)", created, "s")
    harness.figure("from the first create to the last submit", last_submit, "s")
    harness.figure("jobs in flight at once (all)", len(submitted))
    harness.figure("VEO_POLL_INTERVAL_MAX", interval_max, "s")
    harness.figure("Google done -> studio downloading, median", harness.median(delays), "s")
    harness.figure("Google done -> studio downloading, p95", harness.percentile(delays, 95), "s")
    harness.figure("Google done -> studio downloading, worst", worst, "s")
    harness.goal(
        f"{len(ids)} jobs created at once: last submitted after",
        last_submit,
        SUBMIT_GOAL_SECONDS,
        "s",
        smoke=smoke,
    )
    harness.ratio(
        "worst Google done -> studio downloading",
        worst,
        interval_max,
        name="the poll interval",
        goal=2.0,
        higher_is_better=False,
        smoke=smoke,
    )
    if failed:
        print(f"\nFAILED: {len(failed)} job(s) failed, e.g. {failed[0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
