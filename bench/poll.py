"""The job page's poll under gunicorn, against a bare one-query partial with no middleware.

gunicorn serves the studio as in production (DEBUG=false, sync workers) from a throwaway
database of 10,000 jobs; a load generator (wrk when installed, else Python threads) polls
the running jobs with a logged-in user's cookies over 32 connections. The baseline is a
view that reads one row by primary key and renders the same partial, served by a second
gunicorn with no middleware at all (bench.bare_settings: no session, no authentication);
the same view behind the studio's middleware and session is the second baseline, for
scale. Scenarios: the partial rendered (200: a poll without a validator, and one whose
ETag is stale because the job changed) and answered by revalidation (304). Rounds of all
scenarios interleave, to even out noise. Queries per request are counted in this process.
A scenario that misses its goal is then profiled under the same load with py-spy
(--profile all profiles every one), beside the baseline, so the report says where the
time went. It runs on SQLite and on PostgreSQL with Redis (the broker and sessions, as
REDIS_URL configures them), one after the other (--database).

    uv run python bench/poll.py [--smoke] [--database sqlite|postgres|both]
        [--profile missed|all|none] [--session-engine ...] [--conn-max-age 60]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

QUERY_GOAL = 2
BASELINE, LOGGED_IN = "bare", "bare, logged in"
# Scenario: the least req/s it should reach, as a share of the bare baseline's.
GOALS = {
    "detail 200": 0.8,
    "detail 200 stale": 0.8,
    "detail 304": 1.0,
}


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0], databases=True)
    parser.add_argument(
        "--seconds", type=float, help="per scenario and round (default 3; smoke 0.5)"
    )
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
    if (code := harness.per_database(args)) is not None:
        return code
    smoke = args.smoke
    args.seconds = args.seconds or (0.5 if smoke else 3.0)
    args.rounds = args.rounds or (1 if smoke else 5)
    args.connections = args.connections or (8 if smoke else 32)
    args.max_requests = 3_000 if smoke else 2_000_000
    total = args.jobs or (300 if smoke else 10_000)
    args.wrk = None
    if args.load != "python" and not smoke:
        args.wrk = harness.find_wrk(install=args.install_wrk)
        if args.wrk is None and args.load == "wrk":
            raise SystemExit("wrk is not installed (try --install-wrk).")

    harness.print_machine("Poll partial under gunicorn", smoke, args.database)
    extra = {"BENCH_SESSION_ENGINE": args.session_engine} if args.session_engine else {}
    if args.conn_max_age is not None:
        extra["BENCH_CONN_MAX_AGE"] = args.conn_max_age
    with harness.Sandbox("poll", keep=args.keep, database=args.database, **extra) as sandbox:
        sandbox.django()
        return run(sandbox, total, args)


def run(sandbox, total, args):
    from django.db import connection

    user = harness.make_user("poller")
    _waiting, running = harness.seed_jobs(user, total, waiting=10, running=10)
    harness.figure("jobs in the database", total)
    harness.figure("running jobs polled", len(running))
    harness.print_stack()

    client = harness.http_client()
    client.force_login(user)
    htmx = {"HX-Request": "true"}
    client.get(f"/jobs/{running[0]}/", headers=htmx)  # sets the CSRF cookie, as a page would
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())

    etags = {}
    for pk in running:
        etags["detail", pk] = client.get(f"/jobs/{pk}/", headers=htmx)["ETag"]
    etags.update({("stale", pk): '"stale"' for pk in running})
    plans = [  # name, server, path, headers, the ETag sent, status
        (BASELINE, "bare", "/bench/baseline/poll/{}/", {}, None, 200),
        (LOGGED_IN, "studio", "/bench/baseline/poll/{}/", {}, None, 200),
        ("detail 200", "studio", "/jobs/{}/", htmx, None, 200),
        ("detail 200 stale", "studio", "/jobs/{}/", htmx, "stale", 200),
        ("detail 304", "studio", "/jobs/{}/", htmx, "detail", 304),
    ]
    scenarios = {}  # name: (server, targets, expected status, in-process queries)
    for name, server, path, headers, etag_of, status in plans:
        targets = []
        for pk in running:
            request_headers = {**harness.PROXY_HEADERS, **headers}
            if server == "studio":
                request_headers["Cookie"] = cookie
            if etag_of:
                request_headers["If-None-Match"] = etags[etag_of, pk]
            targets.append((path.format(pk), request_headers))
        in_process = {k: v for k, v in targets[0][1].items() if k != "Cookie"}
        # The bare view's queries are its own, whatever middleware serves it here.
        response, queries = harness.captured_get(client, targets[0][0], in_process)
        if response.status_code != status:
            raise SystemExit(f"{name}: expected {status}, got {response.status_code}")
        if name == BASELINE:
            queries = queries[-1:]
        scenarios[name] = (server, targets, status, queries)
    connection.close()

    ready = scenarios[LOGGED_IN][1][0][0]
    with harness.studio_and_bare(sandbox, ready=ready, workers=args.web_workers) as servers:
        results = harness.interleaved_rounds(
            servers,
            {name: scenario[:3] for name, scenario in scenarios.items()},
            args,
            workdir=sandbox.root,
            warm_up=1,
        )
        profiles = {}
        for name in to_profile(results, "none" if args.smoke else args.profile):
            server, targets, _status, _queries = scenarios[name]
            process, base_url = servers[server]
            output = Path(sandbox.root) / f"profile-{name.replace(' ', '-')}.txt"
            spy = harness.profile(process.pid, args.seconds * 2, output)
            options = harness.load_options(args, sandbox.root)
            harness.load(base_url, targets, seconds=args.seconds * 2, wrk=args.wrk, **options)
            profiles[name] = (spy, output)

    report(scenarios, results, args)
    for name, (spy, output) in profiles.items():
        harness.heading(f"Profile: {name}")
        harness.profile_report(spy, output)
    return 0


def to_profile(results, which):
    """Return the scenarios to profile: none, all, or those under their goal plus the baseline."""
    if which == "none":
        return []
    base = harness.median([r.rps for r in results[BASELINE]])
    missed = [
        name
        for name, goal in GOALS.items()
        if which == "all" or round(harness.median([r.rps for r in results[name]]) / base, 2) < goal
    ]
    return [BASELINE, *missed] if missed else []


def report(scenarios, results, args):
    runs = len(results[BASELINE])
    print(
        f"\n  load: {results[BASELINE][0].tool}, {args.seconds:g} s per scenario, "
        f"{runs} round(s) interleaved; figures are medians over the rounds; CPU is the "
        "serving gunicorn tree's user+system time per request, from /proc"
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
    base = medians[BASELINE]
    rows = [
        [
            name,
            scenarios[name][0],
            scenarios[name][2],
            figures["requests"],
            round(figures["rps"], 1),
            round(figures["p50"], 2),
            round(figures["p99"], 2),
            round(figures["cpu"], 3),
            round(figures["rps"] / base["rps"], 2),
            round(base["cpu"] / figures["cpu"], 2),
            len(scenarios[name][3]),
            harness.tables(scenarios[name][3]),
        ]
        for name, figures in medians.items()
    ]
    harness.table(
        [
            "scenario",
            "server",
            "status",
            "requests",
            "req/s",
            "p50 ms",
            "p99 ms",
            "CPU ms/req",
            "x bare req/s",
            "x bare by CPU",
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
            name=BASELINE,
            goal=goal,
            smoke=args.smoke,
        )
        # The same ratio from CPU per request (baseline CPU / this CPU): what req/s would
        # show on a machine with nothing else running.
        harness.ratio(
            f"{name} capacity by CPU per request",
            base["cpu"],
            medians[name]["cpu"],
            name=BASELINE,
            goal=goal,
            smoke=args.smoke,
        )
        harness.ratio(
            f"{name} req/s", medians[name]["rps"], medians[LOGGED_IN]["rps"], name=LOGGED_IN
        )
    harness.ratio(
        f"{LOGGED_IN} req/s (what the middleware and session cost)",
        medians[LOGGED_IN]["rps"],
        base["rps"],
        name=BASELINE,
    )
    for name in ("detail 200", "detail 304"):
        harness.goal(
            f"queries per poll ({name})",
            len(scenarios[name][3]),
            QUERY_GOAL,
            "queries",
            smoke=args.smoke,
        )
    sessions = sum("django_session" in sql for sql in scenarios["detail 200"][3])
    if sessions:
        print(
            f"  note: {sessions} of those queries read django_session (database sessions); "
            "with REDIS_URL (--database postgres) sessions are read from Redis and that "
            "query goes"
        )


if __name__ == "__main__":
    sys.exit(main())
