"""200 jobs through the real cluster against the emulator, in CPU per job.

`manage.py qcluster` (Q_WORKERS=2) and the emulator (`python -m jobs.veo.emulator`, zero
latency) run as their own processes on a throwaway database; every job is a 4 s 720p
video. Reported: jobs/s, and the user+system CPU per job of the cluster's process tree
(our code: claim, submit, polls, download, probe, poster, audio, sha256, every database
write) read from /proc, against the emulator's own CPU per job (mostly its render).

    uv run python bench/pipeline.py [--smoke] [--jobs 200]
"""

import json
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

GOAL_MS = 300  # cluster CPU per job beyond the emulator's
API_KEY = "bench-emulator-key"
PROMPT = "Bench job {n}: a paper lantern drifting over a night river [latency=0]"


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, help="jobs to time (default 200; smoke 3)")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS")
    args = parser.parse_args()
    smoke = args.smoke
    count = args.jobs or (3 if smoke else 200)

    harness.print_machine("Pipeline overhead: jobs through qcluster", smoke)
    port = harness.free_port()
    with harness.Sandbox(
        "pipeline",
        keep=args.keep,
        VEO_PROVIDER="emulator",
        VEO_EMULATOR_PORT=port,
        GEMINI_API_KEY=API_KEY,
        Q_WORKERS=args.workers,
        VEO_POLL_INTERVAL=0.05,
        VEO_TASK_SLICE_SECONDS=5,
        # One person creates them all: the warm-up jobs and 200 more pass the hourly cap.
        API_JOB_CREATE_LIMIT=count + args.workers + 100,
    ) as sandbox:
        sandbox.django()
        return run(sandbox, port, count, args.workers, smoke)


def create_jobs(owner, first, count):
    from jobs import services
    from jobs.models import VideoCreationJob

    options = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4}
    for n in range(first, first + count):
        services.job_create(
            owner=owner,
            prompt_text=PROMPT.format(n=n),
            model=harness.MODEL,
            options=options,
            check_budget=False,
        )
    return VideoCreationJob.objects.count()


def wait_finished(total, *, timeout, processes):
    from django.db import connection

    from jobs.models import VideoCreationJob

    def finished():
        done = VideoCreationJob.objects.finished().count()
        connection.close()  # let SQLite checkpoint; a held read would pin the WAL
        return done >= total

    for process in processes:
        if process.poll() is not None:
            raise SystemExit(f"a child exited early with code {process.returncode}")
    harness.wait_for(finished, timeout=timeout, what=f"{total} jobs finished", interval=0.25)


def run(sandbox, port, count, workers, smoke):
    owner = harness.make_user("pipeliner")
    emulator = harness.start_emulator(sandbox, port, api_key=API_KEY)
    cluster = None
    try:
        cluster = harness.start(
            [sys.executable, "manage.py", "qcluster"], env=sandbox.env, log=sandbox.log("qcluster")
        )
        # Warm up: every worker imports PyAV and opens its connections on its first job.
        total = create_jobs(owner, 0, workers)
        wait_finished(total, timeout=120, processes=[emulator, cluster])
        before = snapshot(cluster, emulator)
        began = time.monotonic()
        total = create_jobs(owner, workers, count)
        created = time.monotonic() - began
        wait_finished(total, timeout=60 + 5 * count, processes=[emulator, cluster])
        elapsed = time.monotonic() - began
        after = snapshot(cluster, emulator)
        stats = emulator_stats(port)
    finally:
        left = harness.stop(cluster) + harness.stop(emulator)
    if left:
        raise SystemExit(f"processes left behind: {left}")
    return report(count, workers, elapsed, created, before, after, stats, smoke)


def snapshot(cluster, emulator):
    return {
        "cluster": harness.tree_cpu_seconds(cluster.pid),
        "emulator": harness.tree_cpu_seconds(emulator.pid),
        "processes": {
            pid: (command(pid), harness.cpu_seconds(pid))
            for pid in [cluster.pid, *harness.descendants(cluster.pid)]
        },
    }


def command(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"


def emulator_stats(port):
    url = f"http://127.0.0.1:{port}/emulator/stats"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def report(count, workers, elapsed, created, before, after, stats, smoke):
    from jobs.models import VideoCreationJob

    failed = list(
        VideoCreationJob.objects.filter(status=VideoCreationJob.Status.FAILED).values_list(
            "prompt_text", "error"
        )
    )
    completed = VideoCreationJob.objects.filter(status=VideoCreationJob.Status.COMPLETED).count()
    cluster_ms = (after["cluster"] - before["cluster"]) * 1000 / count
    emulator_ms = (after["emulator"] - before["emulator"]) * 1000 / count
    operations = [op for op in stats["operations"].values() if "[latency=0]" in op["prompt"]]
    polls = sum(op["polls"] for op in operations) / max(1, len(operations))

    harness.figure("jobs timed (after a warm-up job per worker)", count)
    harness.figure("Q_WORKERS", workers)
    harness.figure("jobs completed (all, warm-up included)", completed)
    harness.figure("wall time from the first create to the last finish", elapsed, "s")
    harness.figure("  of which creating the jobs (this process)", created, "s")
    harness.figure("jobs per second", count / elapsed)
    harness.figure("cluster CPU per job (qcluster tree, /proc)", cluster_ms, "ms")
    harness.figure("emulator CPU per job (its own process, /proc)", emulator_ms, "ms")
    harness.figure("Veo polls per job (emulator stats)", polls)
    print("  cluster CPU by process over the run:")
    for pid, (name, cpu) in after["processes"].items():
        was = before["processes"].get(pid, (name, 0.0))[1]
        print(f"    {pid:>7}  {(cpu - was) * 1000:9.0f} ms  {name[:90]}")
    media = media_cpu_ms()
    print(
        "  media work per job, measured here on one 4 s 720p render: "
        + ", ".join(f"{name} {ms:.0f} ms" for name, ms in media.items())
        + f"; the pipeline probes twice, so about {sum(media.values()) + media['probe']:.0f} ms"
    )
    harness.ratio(
        "cluster CPU per job", cluster_ms, emulator_ms, name="emulator CPU per job", smoke=smoke
    )
    harness.goal(
        "cluster CPU per job beyond the emulator's", cluster_ms, GOAL_MS, "ms", smoke=smoke
    )
    if failed:
        print(f"\nFAILED: {len(failed)} job(s) failed, e.g. {failed[0]}")
        return 1
    return 0


def media_cpu_ms(repeat=3):
    """Return the CPU milliseconds of each media step of the pipeline on one 4 s 720p video."""
    import tempfile

    from jobs.media import extract_audio, probe, sha256, write_poster
    from jobs.veo.emulator.media import render_mp4

    steps = {
        "probe": lambda video, out: probe(video),
        "poster": lambda video, out: write_poster(video, out / "poster.jpg"),
        "audio": lambda video, out: extract_audio(video, out / "audio.m4a"),
        "sha256": lambda video, out: sha256(video),
    }
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        video = out / "video.mp4"
        render_mp4(video, prompt="Bench media", width=1280, height=720, seconds=4)
        result = {}
        for name, step in steps.items():
            step(video, out)
            began = time.process_time()
            for _ in range(repeat):
                step(video, out)
            result[name] = (time.process_time() - began) * 1000 / repeat
    return result


if __name__ == "__main__":
    sys.exit(main())
