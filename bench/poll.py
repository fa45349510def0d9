"""The job-status polls under gunicorn, against a bare view that reads one row.

gunicorn serves the studio as in production (DEBUG=false, sync workers) from a throwaway
database of 10,000 jobs; a load generator (wrk when installed, else Python threads) polls
the running jobs with a logged-in user's cookies over 32 connections. Scenarios: the
baseline view; the detail partial rendered (200: a poll without a validator, and one
whose ETag is stale because the job changed) and answered by revalidation (304); and the
job list's one poll for all its running cards, with every card changed (200) and with
none (204). Rounds of all scenarios interleave, to even out noise.
Queries per request are counted in this process. A scenario that misses its goal is then
profiled under the same load with py-spy (--profile all profiles every one), beside the
baseline, so the report says where the time went.

    uv run python bench/poll.py [--smoke] [--profile missed|all|none]
        [--session-engine django.contrib.sessions.backends.signed_cookies] [--conn-max-age 60]
"""

import sys
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

QUERY_GOAL = 2
# The list's poll reads the session, the user and its cards: it has no row to bring the
# user along, and it replaces a poll per card.
CHANGES_QUERY_GOAL = 3
# Scenario: the least req/s it should reach, as a share of the baseline's.
GOALS = {
    "detail 200": 0.8,
    "detail 200 stale": 0.8,
    "detail 304": 1.0,
}
# For scale only: one list poll stands for as many card polls as it has running cards.
FOR_SCALE = ("changes 200", "changes 204")


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, help="per scenario and round (default 3; smoke 1)")
    parser.add_argument("--rounds", type=int, help="rounds of every scenario (default 5; smoke 1)")
    parser.add_argument("--connections", type=int, help="default 32; smoke 8")
    parser.add_argument("--jobs", type=int, help="jobs in the database (default 10,000)")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--install-wrk", action="store_true", help="apt-get install wrk if absent")
    parser.add_argument(
        "--profile",
        choices=["missed", "all", "none"],
        default="missed",
        help="which scenarios to profile with py-spy after the rounds (smoke: none)",
    )
    parser.add_argument(
        "--session-engine",
        default="",
        help="measure another SESSION_ENGINE (the studio's settings stay as they are)",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        help="measure another CONN_MAX_AGE (the studio keeps connections 60 s: DB_CONN_MAX_AGE)",
    )
    args = parser.parse_args()
    smoke = args.smoke
    seconds = args.seconds or (1.0 if smoke else 3.0)
    rounds = args.rounds or (1 if smoke else 5)
    connections = args.connections or (8 if smoke else 32)
    total = args.jobs or (300 if smoke else 10_000)
    max_requests = 3_000 if smoke else 2_000_000
    wrk = None
    if args.load != "python" and not smoke:
        wrk = harness.find_wrk(install=args.install_wrk)
        if wrk is None and args.load == "wrk":
            raise SystemExit("wrk is not installed (try --install-wrk).")

    harness.print_machine("Poll partial under gunicorn", smoke)
    extra = {"BENCH_SESSION_ENGINE": args.session_engine} if args.session_engine else {}
    if args.conn_max_age is not None:
        extra["BENCH_CONN_MAX_AGE"] = args.conn_max_age
    with harness.Sandbox("poll", keep=args.keep, **extra) as sandbox:
        sandbox.django()
        return run(sandbox, smoke, seconds, rounds, connections, total, max_requests, wrk, args)


def run(sandbox, smoke, seconds, rounds, connections, total, max_requests, wrk, args):
    from django.conf import settings
    from django.db import connection
    from django.db.models import Max

    from jobs.models import VideoCreationJob

    user = harness.make_user("poller")
    _waiting, running = harness.seed_jobs(user, total, waiting=10, running=10)
    harness.figure("jobs in the database", total)
    harness.figure("running jobs polled", len(running))
    print(f"  session engine: {settings.SESSION_ENGINE}")
    print(f"  CONN_MAX_AGE: {settings.DATABASES['default'].get('CONN_MAX_AGE', 0)}")

    client = harness.http_client()
    client.force_login(user)
    htmx = {"HX-Request": "true"}
    client.get(f"/jobs/{running[0]}/", headers=htmx)  # sets the CSRF cookie, as a page would
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())

    scenarios = {}  # name: (targets, expected status, in-process queries)
    etags = {}
    for pk in running:
        etags["detail", pk] = client.get(f"/jobs/{pk}/", headers=htmx)["ETag"]
    etags.update({("stale", pk): '"stale"' for pk in running})
    # The list's poller as a page of these running cards carries it: all changed, or none.
    ids = "&".join(f"id={pk}" for pk in running)
    newest = VideoCreationJob.objects.filter(pk__in=running).aggregate(at=Max("updated_at"))
    since = quote(newest["at"].isoformat())
    plans = [
        ("baseline", "/bench/baseline/poll/{}/", {}, None, 200),
        ("detail 200", "/jobs/{}/", htmx, None, 200),
        ("detail 200 stale", "/jobs/{}/", htmx, "stale", 200),
        ("detail 304", "/jobs/{}/", htmx, "detail", 304),
        ("changes 200", f"/jobs/changes/?{ids}", htmx, None, 200),
        ("changes 204", f"/jobs/changes/?since={since}&{ids}", htmx, None, 204),
    ]
    for name, path, headers, etag_of, status in plans:
        targets = []
        for pk in running if "{}" in path else running[:1]:
            request_headers = {**harness.PROXY_HEADERS, "Cookie": cookie, **headers}
            if etag_of:
                request_headers["If-None-Match"] = etags[etag_of, pk]
            targets.append((path.format(pk), request_headers))
        in_process = {
            k: v for k, v in targets[0][1].items() if k not in ("Cookie", *harness.PROXY_HEADERS)
        }
        response, queries = harness.captured_get(client, targets[0][0], in_process)
        if response.status_code != status:
            raise SystemExit(f"{name}: expected {status}, got {response.status_code}")
        scenarios[name] = (targets, status, queries)
    connection.close()

    port = harness.free_port()
    base_url = f"http://127.0.0.1:{port}"
    gunicorn = harness.start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "videostudio.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.web_workers),
            "--no-control-socket",
        ],
        env=sandbox.env,
        log=sandbox.log("gunicorn"),
    )
    try:
        harness.wait_for(
            lambda: (
                harness.http_status(base_url + "/accounts/login/", harness.PROXY_HEADERS) == 200
            ),
            timeout=30,
            what="gunicorn",
            process=gunicorn,
        )
        for name, (targets, status, _queries) in scenarios.items():
            got = harness.http_status(base_url + targets[0][0], targets[0][1])
            if got != status:
                raise SystemExit(f"{name} over HTTP: expected {status}, got {got}")
        warm = [target for targets, _s, _q in scenarios.values() for target in targets]
        harness.load(
            base_url,
            warm,
            connections=connections,
            seconds=min(seconds, 2),
            max_requests=max_requests,
            workdir=sandbox.root,
        )
        results = {}
        for _round in range(rounds):
            for name, (targets, status, _queries) in scenarios.items():
                cpu = harness.tree_cpu_seconds(gunicorn.pid)
                result = harness.load(
                    base_url,
                    targets,
                    connections=connections,
                    seconds=seconds,
                    max_requests=max_requests,
                    wrk=wrk,
                    workdir=sandbox.root,
                )
                unexpected = sum(n for code, n in result.statuses.items() if code != status)
                if result.errors or unexpected or not result.requests:
                    raise SystemExit(
                        f"{name}: {result.errors} errors, statuses {dict(result.statuses)}; "
                        f"see {sandbox.log('gunicorn')}"
                    )
                # CPU per request, unlike req/s, hardly moves when other work shares the
                # machine: the cross-check of every ratio.
                result.cpu_ms = (harness.tree_cpu_seconds(gunicorn.pid) - cpu) * 1000
                result.cpu_ms /= result.requests
                results.setdefault(name, []).append(result)
        profiles = {}
        for name in to_profile(results, "none" if smoke else args.profile):
            output = Path(sandbox.root) / f"profile-{name.replace(' ', '-')}.txt"
            spy = harness.profile(gunicorn.pid, seconds * 2, output)
            targets = scenarios[name][0]
            harness.load(
                base_url,
                targets,
                connections=connections,
                seconds=seconds * 2,
                max_requests=max_requests,
                wrk=wrk,
                workdir=sandbox.root,
            )
            profiles[name] = (spy, output)
    finally:
        left = harness.stop(gunicorn)
    if left:
        raise SystemExit(f"gunicorn left processes behind: {left}")

    report(scenarios, results, connections, seconds, smoke, cards=len(running))
    for name, (spy, output) in profiles.items():
        harness.heading(f"Profile: {name}")
        harness.profile_report(spy, output)
    return 0


def to_profile(results, which):
    """Return the scenarios to profile: none, all, or those under their goal plus the baseline."""
    if which == "none":
        return []
    base = harness.median([r.rps for r in results["baseline"]])
    missed = [
        name
        for name, goal in GOALS.items()
        if which == "all" or round(harness.median([r.rps for r in results[name]]) / base, 2) < goal
    ]
    return ["baseline", *missed] if missed else []


def report(scenarios, results, connections, seconds, smoke, *, cards):
    runs = len(results["baseline"])
    print(
        f"\n  load: {results['baseline'][0].tool}, {seconds:.0f} s per scenario, "
        f"{runs} round(s) interleaved; figures are medians over the rounds; CPU is the "
        "gunicorn tree's user+system time per request, from /proc"
    )
    medians = {
        name: {
            "rps": harness.median([r.rps for r in runs]),
            "p50": harness.median([r.p50_ms for r in runs]),
            "p99": harness.median([r.p99_ms for r in runs]),
            "cpu": harness.median([r.cpu_ms for r in runs]),
            "requests": sum(r.requests for r in runs),
        }
        for name, runs in results.items()
    }
    base = medians["baseline"]
    rows = [
        [
            name,
            scenarios[name][1],
            figures["requests"],
            round(figures["rps"], 1),
            round(figures["p50"], 2),
            round(figures["p99"], 2),
            round(figures["cpu"], 2),
            round(figures["rps"] / base["rps"], 2),
            round(base["cpu"] / figures["cpu"], 2),
            len(scenarios[name][2]),
            harness.tables(scenarios[name][2]),
        ]
        for name, figures in medians.items()
    ]
    harness.table(
        [
            "scenario",
            "status",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "CPU ms/req",
            "x base req/s",
            "x base by CPU",
            "queries",
            "tables",
        ],
        rows,
    )
    print(
        "  every round's req/s: "
        + "; ".join(
            f"{name} {', '.join(f'{r.rps:.0f}' for r in runs)}" for name, runs in results.items()
        )
    )
    for name, goal in GOALS.items():
        harness.ratio(
            f"{name} req/s",
            medians[name]["rps"],
            base["rps"],
            name="baseline",
            goal=goal,
            smoke=smoke,
        )
        # The same ratio from CPU per request (baseline CPU / this CPU): what req/s would
        # show on a machine with nothing else running.
        harness.ratio(
            f"{name} capacity by CPU per request",
            base["cpu"],
            medians[name]["cpu"],
            name="baseline",
            goal=goal,
            smoke=smoke,
        )
    for name in FOR_SCALE:
        harness.ratio(f"{name} req/s", medians[name]["rps"], base["rps"], name="baseline")
        # A card poll per running card is what one list poll replaces.
        harness.ratio(
            f"{name} cards/s ({cards} per poll)",
            medians[name]["rps"] * cards,
            base["rps"],
            name="baseline req/s",
        )
    for name in ("detail 200", "detail 304", *FOR_SCALE):
        harness.goal(
            f"queries per poll ({name})",
            len(scenarios[name][2]),
            CHANGES_QUERY_GOAL if name in FOR_SCALE else QUERY_GOAL,
            "queries",
            smoke=smoke,
        )
    sessions = sum("django_session" in sql for sql in scenarios["detail 200"][2])
    if sessions:
        print(
            f"  note: {sessions} of those queries read django_session (database sessions); "
            "with SESSION_ENGINE = signed_cookies (or cached_db) that query goes; "
            "measure it with --session-engine django.contrib.sessions.backends.signed_cookies"
        )


if __name__ == "__main__":
    sys.exit(main())
