"""A watched page: what one open tab costs the server, per 2 s, against a bare poll.

A tab polls once every 2 s for all its live cards: the job list (at most 20 cards a page)
through its card poller, a batch's page (all its jobs) through its summary. gunicorn
serves the studio as in production (DEBUG=false, sync workers); a load generator (wrk
when installed) replays the tab's poll with a logged-in user's cookies, exactly as the
page builds it, and the serving gunicorn tree's CPU per request, from /proc, is the
tab's CPU per 2 s. Measured with 1, 20 and 100 running cards (100 on a batch's page), in
two states: nothing moved since the last poll (the steady state), and the share of the
cards the pipeline moves between two polls at its fastest (it writes a running job at
every poll of Google, every VEO_POLL_INTERVAL = 5 s at first: 2/5 of the cards).
Baseline: one bare poll per tab per 2 s, the view that reads one row by primary key and
renders the job page's polled partial, served by a second gunicorn with no middleware at
all (bench.bare_settings). Goal: at most 1.5x the baseline's CPU per tab, whatever the
number of cards. Also printed: the tabs two cores keep (2 cores x 2 s / CPU per tab) and
the tabs the measured req/s keeps (req/s x 2 s). It runs on SQLite and on PostgreSQL
with Redis (--database).

    uv run python bench/watched.py [--smoke] [--database sqlite|postgres|both]
"""

import re
import sys
from datetime import timedelta
from html import unescape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

GOAL = 1.5
POLL_SECONDS = 2
# The share of a tab's running cards the pipeline writes between two of its polls, at its
# fastest: a write per poll of Google, every VEO_POLL_INTERVAL (5 s) at first.
MOVING_SHARE = 2 / 5
BASELINE = "bare poll"


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0], databases=True)
    parser.add_argument(
        "--seconds", type=float, help="per scenario and round (default 3; smoke 0.5)"
    )
    parser.add_argument("--rounds", type=int, help="rounds of every scenario (default 3; smoke 1)")
    parser.add_argument("--connections", type=int, help="default 32; smoke 8")
    parser.add_argument("--load", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    if (code := harness.per_database(args)) is not None:
        return code
    args.seconds = args.seconds or (0.5 if args.smoke else 3.0)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    args.connections = args.connections or (8 if args.smoke else 32)
    args.max_requests = 2_000 if args.smoke else 2_000_000
    args.wrk = None if args.smoke or args.load == "python" else harness.find_wrk()
    if args.wrk is None and args.load == "wrk":
        raise SystemExit("wrk is not installed (apt-get install wrk).")

    harness.print_machine("A watched page: server CPU per tab per 2 s", args.smoke, args.database)
    with harness.Sandbox("watched", keep=args.keep, database=args.database) as sandbox:
        sandbox.django()
        return run(sandbox, args)


def poller_url(body, attribute="hx-get"):
    match = re.search(rf'id="(?:card-poller|batch-summary)"[^>]*{attribute}="([^"]+)"', body)
    if not match:
        match = re.search(rf'{attribute}="([^"]*(?:changes|batches)[^"]*)"', body)
    return unescape(match[1])


def tabs(owner_cards, batch_cards):
    """Seed the tabs' jobs; return {name: (user, page path, the page's running job ids)}."""
    from jobs.models import Batch, VideoCreationJob

    found = {}
    for cards in owner_cards:
        user = harness.make_user(f"list{cards}")
        # Newest first: the running jobs fill page 1 before the finished ones.
        _waiting, running = harness.seed_jobs(user, 40, waiting=0, running=cards, posters=False)
        found[f"job list, {cards} running"] = (user, "/", running)
    for cards in batch_cards:
        user = harness.make_user(f"batch{cards}")
        _waiting, running = harness.seed_jobs(user, cards, waiting=0, running=cards, posters=False)
        batch = Batch.objects.create(owner=user, label=f"{cards} running")
        VideoCreationJob.objects.filter(pk__in=running).update(batch=batch)
        found[f"batch page, {cards} running"] = (user, f"/batches/{batch.pk}/", running)
    return found


def run(sandbox, args):
    from django.db import connection
    from django.utils import timezone

    from jobs.models import VideoCreationJob

    harness.print_stack()
    harness.seed_jobs(harness.make_user("others"), 300 if args.smoke else 10_000, posters=False)
    pages = tabs((1, 20), (1, 20, 100))
    client = harness.http_client()
    htmx = {"HX-Request": "true"}
    scenarios = {}  # name: (server, targets, status, queries, cards rendered)
    bare_pk = next(iter(pages.values()))[2][0]
    headers = dict(harness.PROXY_HEADERS)
    response, queries = harness.captured_get(client, f"/bench/baseline/poll/{bare_pk}/")
    scenarios[BASELINE] = ("bare", [(f"/bench/baseline/poll/{bare_pk}/", headers)], 200, [], 1)
    for name, (user, page, running) in pages.items():
        client = harness.http_client()  # a login of its own: another login would end it
        client.force_login(user)
        moved_at = timezone.now()
        VideoCreationJob.objects.filter(pk__in=running).update(updated_at=moved_at)
        body = client.get(page).content.decode()
        page_poll = poller_url(body)  # its cursor: the newest updated_at it showed, moved_at
        moving = max(1, round(len(running) * MOVING_SHARE))
        later = moved_at + timedelta(seconds=1)
        VideoCreationJob.objects.filter(pk__in=running[:moving]).update(updated_at=later)
        cookie = "; ".join(f"{key}={morsel.value}" for key, morsel in client.cookies.items())
        # Steady: the cursor is past every write. Moving: the page's cursor, before them.
        steady = page_poll.replace(_since(page_poll), _quoted(later))
        for state, url, rendered in (("steady", steady, 0), ("moving", page_poll, moving)):
            response, queries = harness.captured_get(client, url, htmx)
            if response.status_code not in (200, 204):
                raise SystemExit(f"{name}, {state}: {url} answered {response.status_code}")
            body = response.content.decode()
            shown = body.count('hx-swap-oob="outerHTML"')
            if shown != rendered:
                raise SystemExit(f"{name}, {state}: {shown} cards rendered, expected {rendered}")
            targets = [(url, {**headers, **htmx, "Cookie": cookie})]
            scenarios[f"{name}, {state}"] = (
                "studio",
                targets,
                response.status_code,
                queries,
                shown,
            )
    connection.close()

    with harness.studio_and_bare(sandbox, ready=scenarios[BASELINE][1][0][0]) as servers:
        results = harness.interleaved_rounds(
            servers,
            {name: scenario[:3] for name, scenario in scenarios.items()},
            args,
            workdir=sandbox.root,
            warm_up=0.5,
        )
    return report(scenarios, results, args)


def _since(url):
    return re.search(r"since=([^&]+)", url)[1]


def _quoted(when):
    from urllib.parse import quote

    return quote(when.isoformat(), safe="")


def report(scenarios, results, args):
    cores = harness.machine()["nproc"]
    medians = {
        name: (harness.median([r.cpu_ms for r in runs]), harness.median([r.rps for r in runs]))
        for name, runs in results.items()
    }
    base_cpu = medians[BASELINE][0]
    print(
        f"\n  load: {results[BASELINE][0].tool}, {args.seconds:g} s per scenario, "
        f"{args.rounds} round(s) interleaved; medians; a tab sends one poll every "
        f"{POLL_SECONDS} s, so its CPU per {POLL_SECONDS} s is the CPU of one poll"
    )
    rows = []
    for name, (cpu, rps) in medians.items():
        _server, _targets, status, queries, shown = scenarios[name]
        rows.append(
            [
                name,
                status,
                shown,
                round(rps, 1),
                round(cpu, 3),
                round(cpu / base_cpu, 2),
                round(cores * POLL_SECONDS * 1000 / cpu),
                round(rps * POLL_SECONDS),
                len(queries) if name != BASELINE else 1,
            ]
        )
    harness.table(
        [
            "tab",
            "status",
            "cards sent",
            "req/s",
            f"CPU ms per tab per {POLL_SECONDS} s",
            "x bare",
            f"tabs {cores} cores keep",
            "tabs at the req/s",
            "queries",
        ],
        rows,
    )
    for name, (cpu, _rps) in medians.items():
        if name == BASELINE:
            continue
        harness.ratio(
            f"CPU per tab per {POLL_SECONDS} s, {name}",
            cpu,
            base_cpu,
            name="one bare poll per tab",
            goal=GOAL,
            higher_is_better=False,
            smoke=args.smoke,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
