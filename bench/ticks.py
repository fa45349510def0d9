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

Then the same told by webhooks (`--webhooks` alone; `--polls` for the first run alone):
the emulator posts each end, signed, to `/hooks/gemini/` of a studio web process
(gunicorn, with GEMINI_WEBHOOK_SECRET), and the woken job's run polls at once instead of
at its next poll; polls go on as before, as the fallback. Goal: Google's done to the
studio's downloading within 1 s for every job ("at once", where polling alone may take
an interval); how many jobs a webhook woke is reported beside it. Both runs are of
Gemini Omni's jobs (the Interactions API, whose ends Google announces by its static
webhook), each in its own process on its own throwaway database; --smoke runs the
webhooks run alone.

    uv run python bench/ticks.py [--smoke] [--jobs 50] [--webhooks | --polls]
"""

import base64
import json
import secrets
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

API_KEY = "bench-emulator-key"
PROMPT = "Ticks job {n}: a kite over the dunes [latency={latency:.1f}]"
SUBMIT_GOAL_SECONDS = 10
WEBHOOK_GOAL_SECONDS = 1.0  # Google's done to the studio's downloading, told by webhook
# Both modes on Gemini Omni: the Interactions API is the one whose ends Google announces
# by webhook, so the two runs differ only in being told.
MODEL = "gemini-omni-1.2-flash"


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, help="jobs created at once (default 50; smoke 6)")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--webhooks", action="store_true", help="only the run told by webhooks")
    only.add_argument("--polls", action="store_true", help="only the run that polls alone")
    args = parser.parse_args()
    smoke = args.smoke
    count = args.jobs or (6 if smoke else 50)
    interval, interval_max = (0.5, 1.0) if smoke else (2.0, 4.0)
    # Each job is done at Google this long after its submit: staggered, so finishes
    # keep arriving while the others are still polled.
    first, step = (3.0, 0.3) if smoke else (15.0, 0.3)

    if not (args.webhooks or args.polls):
        # Each mode in a process of its own: Django is set up once per process. The smoke
        # run, which guards the script, runs the webhooks mode alone: it polls too.
        passed = [arg for arg in sys.argv[1:] if arg not in ("--webhooks", "--polls")]
        codes = [
            subprocess.run([sys.executable, __file__, mode, *passed], check=False).returncode
            for mode in (("--webhooks",) if smoke else ("--polls", "--webhooks"))
        ]
        return max(codes)
    mode = "webhooks" if args.webhooks else "polls"
    harness.print_machine(f"Ticks: submits and polls with 2 workers, {mode}", smoke)
    port = harness.free_port()
    env, web_port = {}, None
    if mode == "webhooks":
        web_port = harness.free_port()
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        env = {
            "GEMINI_WEBHOOK_SECRET": secret,
            "VEO_EMULATOR_WEBHOOK_URL": f"http://127.0.0.1:{web_port}/hooks/gemini/",
            "VEO_EMULATOR_WEBHOOK_SECRET": secret,
            # The emulator posts over plain http on loopback, where production has a TLS
            # proxy in front of the studio.
            "SECURE_SSL_REDIRECT": "false",
        }
    with harness.Sandbox(
        f"ticks-{mode}",
        keep=args.keep,
        VEO_PROVIDER="emulator",
        VEO_EMULATOR_PORT=port,
        GEMINI_API_KEY=API_KEY,
        Q_WORKERS=args.workers,
        VEO_POLL_INTERVAL=interval,
        VEO_POLL_INTERVAL_MAX=interval_max,
        VEO_MAX_IN_FLIGHT=max(count, 10),
        **env,
    ) as sandbox:
        sandbox.django()
        latencies = [first + step * n for n in range(count)]
        return run(sandbox, port, latencies, args.workers, interval_max, smoke, mode, web_port)


def create_jobs(owner, latencies, model, start=0):
    from jobs import services

    options = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4}
    return [
        services.job_create(
            owner=owner,
            prompt_text=PROMPT.format(n=start + n, latency=latency),
            model=model,
            options=options,
            check_budget=False,
        ).pk
        for n, latency in enumerate(latencies)
    ]


def run(sandbox, port, latencies, workers, interval_max, smoke, mode, web_port):
    owner = harness.make_user("ticker")
    model = MODEL
    emulator = harness.start_emulator(sandbox, port, api_key=API_KEY)
    cluster = web = None
    try:
        if web_port:
            web = start_web(sandbox, web_port)
        cluster = harness.start(
            [sys.executable, "manage.py", "qcluster"], env=sandbox.env, log=sandbox.log("qcluster")
        )
        processes = [p for p in (emulator, cluster, web) if p]
        # Warm up: every worker imports PyAV and opens its connections on its first job.
        warm = create_jobs(owner, [0.0] * workers, model, start=1000)
        watch(warm, timeout=120, processes=processes)
        began = time.time()
        ids = create_jobs(owner, latencies, model)
        created = time.time() - began
        seen = watch(ids, timeout=120 + 2 * max(latencies), processes=processes)
        stats = emulator_stats(port)
    finally:
        left = harness.stop(cluster) + harness.stop(web) + harness.stop(emulator)
    if left:
        raise SystemExit(f"processes left behind: {left}")
    return report(ids, began, created, seen, stats, workers, interval_max, smoke, mode)


def start_web(sandbox, port):
    """Start the studio's web process, which takes Google's webhooks; wait until it answers."""
    web = harness.start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "videostudio.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--no-control-socket",
        ],
        env=sandbox.env,
        log=sandbox.log("gunicorn"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        harness.wait_for(
            lambda: harness.http_status(base + "/accounts/login/") == 200,
            timeout=60,
            what="gunicorn",
            process=web,
        )
    except BaseException:
        harness.stop(web)
        raise
    return web


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


def report(ids, began, created, reached, stats, workers, interval_max, smoke, mode):
    from jobs.models import VideoCreationJob
    from jobs.webhooks.models import InboundEvent

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
    if mode == "webhooks":
        operations = {jobs[pk].operation_name for pk in ids}
        woke = InboundEvent.objects.filter(
            outcome=InboundEvent.Outcome.WOKE, object_id__in=operations
        ).count()
        harness.figure("webhooks received that woke a job", woke)
        harness.goal(
            "worst Google done -> studio downloading, told by webhook",
            worst,
            WEBHOOK_GOAL_SECONDS,
            "s",
            smoke=smoke,
        )
    harness.ratio(
        f"worst Google done -> studio downloading ({mode})",
        worst,
        interval_max,
        name="the poll interval",
        goal=2.0 if mode == "polls" else None,
        higher_is_better=False,
        smoke=smoke,
    )
    if failed:
        print(f"\nFAILED: {len(failed)} job(s) failed, e.g. {failed[0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
