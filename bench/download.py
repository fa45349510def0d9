"""A 1 GB video from the emulator through the provider client, against curl.

The emulator serves a real MP4 grown by a trailing `free` box (its `[pad-mb=N]` marker).
A child process downloads it with `GeminiProvider.download` into the data dir while its
peak RSS is read from /proc (VmHWM reset to the idle RSS first, via clear_refs), then
runs the pipeline's own path on it: `fetch_video` (download to a temporary file, PyAV
probe, fsync and rename into storage) and the sha256 of the finished file. Baseline:
curl of the same URL into a file on the data dir's disk, then fsync'd, as the studio
keeps its videos (the goal is judged against it); curl to /dev/null is reported beside it,
the wire's ceiling with no disk at all (a raw `requests` stream for both when curl is
missing). 100 MB runs as well, to show that memory stays flat whatever the size. A size whose throughput
misses its goal is downloaded once more under py-spy, and the profile printed.

    uv run python bench/download.py [--smoke] [--sizes 1024,100]
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

API_KEY = "bench-emulator-key"
# GeminiProvider speaks predictLongRunning, which the emulator serves for the Veo previews.
MODEL = "veo-3.1-fast-generate-preview"
MIB = 1024 * 1024
THROUGHPUT_GOAL = 0.5  # of curl's
PEAK_GOAL_MIB = 32  # above the idle RSS, whatever the size


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", help="MiB to pad the video with (default 1024,100)")
    parser.add_argument("--runs", type=int, help="runs of each download (default 3; smoke 1)")
    parser.add_argument("--child", nargs=3, metavar=("URI", "DIR", "WHAT"), help=argparse_hide())
    args = parser.parse_args()
    if args.child:
        return child(*args.child)
    smoke = args.smoke
    sizes = [int(size) for size in (args.sizes or ("8,2" if smoke else "1024,100")).split(",")]
    runs = args.runs or (1 if smoke else 3)

    harness.print_machine("Download through the provider client", smoke)
    port = harness.free_port()
    with harness.Sandbox("download", keep=args.keep) as sandbox:
        emulator = harness.start_emulator(sandbox, port, api_key=API_KEY)
        try:
            results = {size: measure(sandbox, port, size, runs) for size in sizes}
            missed = report(results, smoke)
            if missed and not smoke:
                profile(sandbox, port, missed[0])
        finally:
            left = harness.stop(emulator)
        if left:
            raise SystemExit(f"the emulator left processes behind: {left}")
        return 0


def argparse_hide():
    import argparse

    return argparse.SUPPRESS


def video_uri(port, megabytes):
    """Submit a padded video to the emulator through the provider and return its URI."""
    from jobs.veo.base import GenerationRequest
    from jobs.veo.gemini import GeminiProvider

    provider = GeminiProvider(api_key=API_KEY, base_url=f"http://127.0.0.1:{port}")
    name = provider.submit(
        GenerationRequest(
            prompt=f"Download bench [latency=0] [pad-mb={megabytes}]",
            model=MODEL,
            resolution="720p",
            duration_seconds=4,
        )
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        operation = provider.poll(name)
        if operation.done:
            if operation.error or not operation.samples:
                raise SystemExit(f"the emulator did not make the video: {operation}")
            return operation.samples[0].uri
        time.sleep(0.05)
    raise SystemExit("the emulator did not finish the video within 60 s")


def measure(sandbox, port, megabytes, runs):
    uri = video_uri(port, megabytes)
    curl, curl_disk, curl_durable, ours = [], [], [], []
    for run in range(runs):
        curl.append(baseline(uri, sandbox))
        written, durable = baseline(uri, sandbox, to_disk=True)
        curl_disk.append(written)
        curl_durable.append(durable)
        target = sandbox.data_dir / "videos" / f"bench-{megabytes}-{run}"
        output = subprocess.run(
            [sys.executable, __file__, "--child", uri, str(target), "all"],
            env=sandbox.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if output.returncode != 0:
            raise SystemExit(f"the download child failed:\n{output.stdout}\n{output.stderr}")
        ours.append(json.loads(output.stdout.strip().splitlines()[-1]))
        shutil.rmtree(target, ignore_errors=True)
    return {"curl": curl, "curl_disk": curl_disk, "curl_durable": curl_durable, "ours": ours}


def baseline(uri, sandbox, *, to_disk=False):
    """Return (bytes, seconds, tool) of the baseline download of uri to nowhere; with
    to_disk, two: into a file beside the studio's videos, and that file then fsync'd."""
    if not to_disk:
        return _fetch(uri, sandbox, "/dev/null")
    if not shutil.which("curl"):
        nowhere = _fetch(uri, sandbox, "/dev/null")
        return nowhere, nowhere
    target = sandbox.data_dir / "videos" / "curl-baseline.mp4"
    target.parent.mkdir(parents=True, exist_ok=True)
    size, seconds, _tool = _fetch(uri, sandbox, str(target))
    started = time.perf_counter()  # curl's own clock stops at its last write
    with open(target, "rb+") as written:
        os.fsync(written.fileno())
    durable = seconds + time.perf_counter() - started
    target.unlink()
    return (size, seconds, "curl -o <data dir>"), (size, durable, "curl -o <data dir> + fsync")


def _fetch(uri, sandbox, output_path):
    curl = shutil.which("curl")
    if curl is None:
        output = subprocess.run(
            [sys.executable, __file__, "--child", uri, str(sandbox.root), "requests"],
            env=sandbox.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        data = json.loads(output.stdout.strip().splitlines()[-1])
        return data["bytes"], data["seconds"], "requests stream (no curl)"
    output = subprocess.run(
        [
            curl,
            "-sS",
            "-o",
            output_path,
            "-H",
            f"x-goog-api-key: {API_KEY}",
            "-w",
            "%{size_download} %{time_total}",
            uri,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    size, seconds = output.stdout.split()
    return int(size), float(seconds), f"curl -o {output_path}"


def child(uri, directory, what):
    """Download in this fresh process and print, as JSON, times and peak RSS above idle."""
    import gc

    import requests

    if what == "requests":
        began, size = time.perf_counter(), 0
        with requests.get(uri, headers={"x-goog-api-key": API_KEY}, stream=True, timeout=30) as r:
            for chunk in r.iter_content(MIB):
                size += len(chunk)
        print(json.dumps({"bytes": size, "seconds": time.perf_counter() - began}))
        return 0

    import django

    django.setup()
    from django.conf import settings

    from jobs.media import probe, sha256
    from jobs.pipeline import fetch_video
    from jobs.veo.base import Sample
    from jobs.veo.gemini import GeminiProvider

    provider = GeminiProvider(
        api_key=API_KEY, base_url=uri.split("/v1beta/")[0], timeout=settings.VEO_HTTP_TIMEOUT
    )
    sample = Sample(uri=uri)
    directory = Path(directory)
    directory.mkdir(parents=True)
    results = {"hwm_reset": harness.reset_peak_rss()}

    def phase(name, step):
        gc.collect()
        idle, _ = harness.memory_kib()
        harness.reset_peak_rss()
        began = time.perf_counter()
        value = step()
        seconds = time.perf_counter() - began
        _rss, peak = harness.memory_kib()
        results[name] = {
            "seconds": seconds,
            "idle_kib": idle,
            "peak_kib": peak,
            "above_idle_kib": peak - idle,
            "value": value,
        }

    raw = directory / "raw.mp4"
    # fetch_video stores under a name in the data dir, as the pipeline's output.mp4.
    name = (directory / "output.mp4").relative_to(settings.DATA_DIR).as_posix()
    final = directory / "output.mp4"  # the local backend's file (the bench runs on disk)
    phase(
        "download",
        lambda: provider.download(sample, raw, max_bytes=settings.VEO_DOWNLOAD_MAX_BYTES),
    )
    raw.unlink()
    if what == "download":  # the profiled run
        print(json.dumps(results))
        return 0
    phase(
        "fetch_video",
        lambda: fetch_video(provider, sample, name, job_id="bench", renew=lambda: None),
    )
    phase("probe", lambda: probe(final).duration)
    phase("sha256", lambda: sha256(final)[:12])
    results["bytes"] = final.stat().st_size
    print(json.dumps(results))
    return 0


# Where a download's time goes (see harness.profile_report).
DOWNLOAD_LAYERS = {
    "the whole download (jobs.veo.download.fetch)": "jobs/veo/download.py:fetch",
    "reading the stream (requests, urllib3, the socket)": (
        "requests/models.py:Response.iter_content.<locals>.generate"
    ),
}


def profile(sandbox, port, megabytes):
    """Profile one more GeminiProvider.download of a size that missed its goal, with py-spy."""
    harness.heading(f"Profile: GeminiProvider.download at {megabytes} MiB")
    uri = video_uri(port, megabytes)
    target = sandbox.data_dir / "videos" / "bench-profile"
    output = sandbox.root / "profile-download.txt"
    spy = harness.profile_command(
        [sys.executable, __file__, "--child", uri, str(target), "download"],
        output,
        env=sandbox.env,
    )
    harness.profile_report(spy, output, layers=DOWNLOAD_LAYERS)
    shutil.rmtree(target, ignore_errors=True)


def report(results, smoke):
    rows = []
    for megabytes, runs in results.items():
        size = runs["ours"][0]["bytes"]
        curl = harness.median([seconds for _b, seconds, _t in runs["curl"]])
        ours, fetch = _median(runs, "download"), _median(runs, "fetch_video")
        curl_disk = harness.median([seconds for _b, seconds, _t in runs["curl_disk"]])
        durable = harness.median([seconds for _b, seconds, _t in runs["curl_durable"]])
        for name, seconds, peak in (
            (runs["curl"][0][2], curl, None),
            (runs["curl_disk"][0][2], curl_disk, None),
            (runs["curl_durable"][0][2], durable, None),
            ("GeminiProvider.download", ours, "download"),
            ("pipeline fetch_video (+probe, fsync, store)", fetch, "fetch_video"),
            ("probe of the finished file", _median(runs, "probe"), "probe"),
            ("media.sha256 of the finished file", _median(runs, "sha256"), "sha256"),
        ):
            above = (
                max(run[peak]["above_idle_kib"] for run in runs["ours"]) / 1024 if peak else None
            )
            rows.append(
                [
                    f"{megabytes} MiB pad",
                    name,
                    round(seconds, 3),
                    "-" if peak == "probe" else round(size / MIB / seconds, 1),
                    "-" if above is None else round(above, 1),
                ]
            )
    print("\n  file: a 4 s 720p MP4 plus the pad; MiB = 2^20 bytes; medians of the runs")
    harness.table(["size", "step", "seconds", "MiB/s", "peak MiB above idle"], rows)
    idle = results[next(iter(results))]["ours"][0]["download"]["idle_kib"] / 1024
    print(f"  idle RSS of the downloading process: {idle:.1f} MiB")
    if not results[next(iter(results))]["ours"][0]["hwm_reset"]:
        print("  note: /proc/self/clear_refs refused; peaks are since the process started")
    missed = []
    for megabytes, runs in results.items():
        size = runs["ours"][0]["bytes"]
        curl = size / harness.median([seconds for _b, seconds, _t in runs["curl"]])
        curl_disk = size / harness.median([seconds for _b, seconds, _t in runs["curl_disk"]])
        durable = size / harness.median([seconds for _b, seconds, _t in runs["curl_durable"]])
        ours = size / _median(runs, "download")
        stored = size / _median(runs, "fetch_video")
        # The goal is against curl writing to the same disk as the studio does; the stored
        # video (probed, fsync'd) against curl's file fsync'd; /dev/null, the wire alone,
        # is printed for scale.
        met = harness.ratio(
            f"download throughput at {megabytes} MiB",
            ours,
            curl_disk,
            name="curl to the same disk",
            goal=THROUGHPUT_GOAL,
            smoke=smoke,
        )
        harness.ratio(
            f"fetch_video (download, probe, fsync, store) at {megabytes} MiB",
            stored,
            durable,
            name="curl to the same disk + fsync",
        )
        harness.ratio(
            f"download throughput at {megabytes} MiB", ours, curl, name="curl to /dev/null"
        )
        if not met:
            missed.append(megabytes)
        for step in ("download", "fetch_video", "probe", "sha256"):
            peak = max(run[step]["above_idle_kib"] for run in runs["ours"]) / 1024
            harness.goal(
                f"peak RSS above idle, {step} at {megabytes} MiB",
                peak,
                PEAK_GOAL_MIB,
                "MiB",
                smoke=smoke,
            )
    return missed


def _median(runs, step):
    return harness.median([run[step]["seconds"] for run in runs["ours"]])


if __name__ == "__main__":
    sys.exit(main())
