"""A job's video sent by the studio under gunicorn, against a bare view sending it by sendfile.

gunicorn serves the studio as in production (DEBUG=false, sync workers, no front proxy:
the embedded default, where MEDIA_OFFLOAD is unset and Django sends the file) from a
throwaway database with one completed job and its 16 MiB video on local disk; a load
generator (wrk when installed) asks for it with a logged-in user's cookies, as the
player does: the whole file, the player's first request (`Range: bytes=0-`, answered
206 with the whole file) and a seek (1 MiB from a quarter in). Baseline: a view that reads
the job's row by primary key and sends the same bytes with sendfile (a FileResponse,
which gunicorn hands to os.sendfile from the file's position for its Content-Length),
served by a second gunicorn with no middleware at all (bench.bare_settings); the same
view behind the studio's middleware and session is reported beside it. Figures: MiB/s,
req/s and the serving gunicorn tree's CPU per request. It runs on SQLite and on
PostgreSQL with Redis (--database).

    uv run python bench/serving.py [--smoke] [--database sqlite|postgres|both] [--mib 16]
"""

import os
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

BASELINE, LOGGED_IN = "bare sendfile", "bare, logged in"
# Scenario: the Range it sends (None: none), and the status it must get.
ASKS = {
    "whole file": (None, 200),
    "player's first request": ("bytes=0-", 206),
    "a seek, 1 MiB": ("seek", 206),
}


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0], databases=True)
    parser.add_argument("--mib", type=int, help="the video's size in MiB (default 16; smoke 2)")
    parser.add_argument("--seconds", type=float, help="per scenario and round (default 3)")
    parser.add_argument("--rounds", type=int, help="rounds of every scenario (default 3)")
    parser.add_argument("--connections", type=int, help="default 8; smoke 4")
    args = parser.parse_args()
    if (code := harness.per_database(args)) is not None:
        return code
    args.mib = args.mib or (2 if args.smoke else 16)
    args.seconds = args.seconds or (0.5 if args.smoke else 3.0)
    args.rounds = args.rounds or (1 if args.smoke else 3)
    args.connections = args.connections or (4 if args.smoke else 8)
    args.wrk = None if args.smoke else harness.find_wrk()
    args.max_requests = 100_000
    harness.print_machine(
        "A job's video under gunicorn, against sendfile", args.smoke, args.database
    )
    with harness.Sandbox("serving", keep=args.keep, database=args.database) as sandbox:
        sandbox.django()
        return run(sandbox, args)


def seed(size):
    """Return (owner, job id) of a completed job whose video is `size` random bytes."""
    from jobs import storage
    from jobs.models import VideoCreationJob

    owner = harness.make_user("viewer")
    # The seed's second row is a completed job (its first, one in twenty, failed).
    harness.seed_jobs(owner, 1, waiting=0, running=0, posters=False, start=1)
    job = VideoCreationJob.objects.get(owner=owner)
    storage.store_bytes(job.video_url, os.urandom(size))
    return owner, job


def run(sandbox, args):
    from django.db import connection

    from jobs import storage

    size = args.mib * 1024 * 1024
    owner, job = seed(size)
    harness.figure("the video", args.mib, "MiB")
    harness.print_stack()
    client = harness.http_client()
    client.force_login(owner)
    client.get("/")  # sets the CSRF cookie, as the job's page would
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items())
    seek = size // 4  # a span that ends before the file does
    lengths, scenarios = {}, {}  # name: (server, targets, status)
    for ask, (span, status) in ASKS.items():
        headers = dict(harness.PROXY_HEADERS)
        if span == "seek":
            span = f"bytes={seek}-{seek + 1024 * 1024 - 1}"
        if span:
            headers["Range"] = span
        length = 1024 * 1024 if ask.startswith("a seek") else size
        for name, server, path, cookies in (
            (f"{BASELINE}, {ask}", "bare", "/bench/baseline/video/{}/", False),
            (f"{LOGGED_IN}, {ask}", "studio", "/bench/baseline/video/{}/", True),
            (f"studio, {ask}", "studio", "/jobs/{}/video/", True),
        ):
            sent = {**headers, "Cookie": cookie} if cookies else headers
            scenarios[name] = (server, [(path.format(job.pk), sent)], status)
            lengths[name] = length
    # Each answer must be the file's bytes: over HTTP from gunicorn (sendfile), and the
    # studio's in this process too (the test client reads the file instead).
    body = storage.read_bytes(job.video_url)
    expected = {}
    for name, (_server, [(path, headers)], status) in scenarios.items():
        start = seek if "seek" in name else 0
        expected[name] = (status, body[start : start + lengths[name]])
        if not name.startswith("studio"):
            continue  # the baselines send by sendfile alone
        response = client.get(path, headers={k: v for k, v in headers.items() if k != "Cookie"})
        got = (response.status_code, b"".join(response.streaming_content))
        if got != expected[name]:
            raise SystemExit(f"{name}: {got[0]}, {len(got[1])} bytes")
    connection.close()

    ready = scenarios[f"{LOGGED_IN}, whole file"][1][0][0]
    with harness.studio_and_bare(sandbox, ready=ready) as servers:
        for name, (server, [(path, headers)], _status) in scenarios.items():
            url = servers[server][1] + path
            request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback)
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                got = (answer.status, answer.read())
            if got != expected[name]:
                raise SystemExit(f"{name} over HTTP: {got[0]}, {len(got[1])} bytes")
        results = harness.interleaved_rounds(
            servers, scenarios, args, workdir=sandbox.root, warm_up=1
        )
    return report(results, lengths, args)


def report(results, lengths, args):
    mib = 1024 * 1024
    medians = {
        name: (
            harness.median([r.rps for r in runs]),
            harness.median([r.cpu_ms for r in runs]),
        )
        for name, runs in results.items()
    }
    print(
        f"\n  load: {results[next(iter(results))][0].tool}, {args.connections} connections, "
        f"{args.seconds:g} s per scenario, {args.rounds} round(s) interleaved; medians"
    )
    harness.table(
        ["scenario", "MiB a request", "req/s", "MiB/s", "CPU ms/req"],
        [
            [
                name,
                round(lengths[name] / mib, 2),
                round(rps, 1),
                round(rps * lengths[name] / mib),
                round(cpu, 2),
            ]
            for name, (rps, cpu) in medians.items()
        ],
    )
    for ask in ASKS:
        base = medians[f"{BASELINE}, {ask}"][0]
        harness.ratio(
            f"{ask}, MiB/s", medians[f"studio, {ask}"][0], base, name=BASELINE, smoke=args.smoke
        )
        harness.ratio(
            f"{ask}, MiB/s",
            medians[f"studio, {ask}"][0],
            medians[f"{LOGGED_IN}, {ask}"][0],
            name=LOGGED_IN,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
