"""A video into a bucket and out of it, over S3's wire, against boto3's own transfers.

moto's S3 server (`python -m moto.server`, the S3 wire the two-hosts proof uses) runs on
loopback as its own process; this process is the studio, configured for a bucket by the
S3_* settings (MEDIA_STORAGE=s3), on a throwaway database. The file is 256 MiB of random
bytes (smoke: 4 MiB) on the data dir's disk. Three transfers, each against the same
file on the same server:

- upload: `jobs.storage.store`, which the pipeline's `fetch_video` calls to put a
  finished video in the bucket (BucketStorage, django-storages' S3Storage and boto3's
  transfer manager, multipart above 8 MiB). Baseline: `boto3.client("s3").upload_file`.
- download, as a person gets a video: the studio answers the video's page,
  `/jobs/<id>/video/` (Django's test client, logged in, in this process: the access
  check, a HEAD of the object, the presign), with a redirect to a presigned URL, which
  is then fetched with requests, streaming to a file. The studio has no fetch of its own
  on this path: the browser follows the redirect, and requests stands in for it; the
  redirect's time is counted in. Baseline: `boto3 download_file` of the object.
- download, as the worker gets a video: `jobs.storage.local_copy`, the finishing step's
  local copy of the video for its poster and audio. Baseline: `boto3 download_file`.

boto3's `download_file` splits a large object into ranged GETs on 10 threads; moto
serves each ranged GET at about the cost of the whole object, so against moto it is
slower than one GET, which real S3 is not. The presigned download is therefore also
compared, for scale, with `download_file` in one GET (its multipart threshold above the
size).

Throughput is the file's MiB over the wall time; each transfer runs several times (7;
smoke 1), the studio's way and the baseline's taking turns, after one untimed run of
each; the medians are compared (goal: at least 0.8x boto3's).

    uv run python bench/storage.py [--smoke] [--mib 256] [--runs 7]
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

GOAL = 0.8  # of boto3's throughput
MIB = 1024 * 1024
BUCKET = "videostudio-bench"
PREFIX = "studio"
KEY_ID, SECRET = "bench", "moto-takes-any-secret"
CHUNK = MIB  # what the presigned download reads from the socket at a time
SCALE = "download, presigned URL (scale)"


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, help="size of the video (default 256; smoke 4)")
    parser.add_argument("--runs", type=int, help="timed runs of each transfer (default 7; smoke 1)")
    args = parser.parse_args()
    smoke = args.smoke
    size = (args.mib or (4 if smoke else 256)) * MIB
    runs = args.runs or (1 if smoke else 7)

    harness.print_machine("Media in a bucket: upload and download over S3's wire", smoke)
    port = harness.free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with harness.Sandbox(
        "storage",
        keep=args.keep,
        MEDIA_STORAGE="s3",
        S3_BUCKET=BUCKET,
        S3_PREFIX=PREFIX,
        S3_ENDPOINT_URL=endpoint,
        S3_REGION="us-east-1",
        S3_ADDRESSING_STYLE="path",
        AWS_ACCESS_KEY_ID=KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET,
    ) as sandbox:
        server = harness.start(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=sandbox.env,
            log=sandbox.log("moto"),
        )
        try:
            harness.wait_for(
                lambda: harness.port_open(port), timeout=60, what="moto", process=server
            )
            sandbox.django()
            results = measure(sandbox, endpoint, size, runs, server)
        finally:
            left = harness.stop(server)
        if left:
            raise SystemExit(f"moto's server left processes behind: {left}")
        return report(results, size, runs, smoke)


def client(endpoint):
    """Return boto3's S3 client for the server, as a script would make it."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )


def measure(sandbox, endpoint, size, runs, server):
    import requests
    from boto3.s3.transfer import TransferConfig

    from jobs import storage
    from jobs.models import VideoCreationJob

    s3 = client(endpoint)
    s3.create_bucket(Bucket=BUCKET)
    source = sandbox.root / "video.mp4"
    write_random(source, size)
    owner = harness.make_user("uploader")
    job = VideoCreationJob.objects.create(
        owner=owner,
        prompt_text="Storage bench: a paper lantern drifting over a night river",
        model=harness.MODEL,
        options=harness.JOB_OPTIONS,
        status=VideoCreationJob.Status.COMPLETED,
        stage=VideoCreationJob.Stage.DONE,
        progress=100,
    )
    name = storage.relative_output(job.pk)
    VideoCreationJob.objects.filter(pk=job.pk).update(video_url=name)
    baseline_key = "baseline/output.mp4"
    person = harness.http_client()
    person.force_login(owner)
    fetched = sandbox.root / "fetched.mp4"
    session = requests.Session()

    def studio_upload():
        storage.store(name, source)

    def boto3_upload():
        s3.upload_file(str(source), BUCKET, baseline_key)

    def studio_presigned():
        answer = person.get(f"/jobs/{job.pk}/video/")
        if answer.status_code != 302:
            raise SystemExit(f"the video's page answered {answer.status_code}, not a redirect")
        with session.get(answer["Location"], stream=True, timeout=60) as response:
            response.raise_for_status()
            with open(fetched, "wb") as out:
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
        check_size(fetched, size, "the presigned download")

    def studio_local_copy():
        with storage.local_copy(name) as copy:
            check_size(copy, size, "local_copy")

    def boto3_download():
        s3.download_file(BUCKET, f"{PREFIX}/{name}", str(fetched))
        check_size(fetched, size, "download_file")

    whole = TransferConfig(multipart_threshold=2 * size)

    def boto3_one_get():
        s3.download_file(BUCKET, f"{PREFIX}/{name}", str(fetched), Config=whole)
        check_size(fetched, size, "download_file in one GET")

    pairs = {
        "upload": (studio_upload, boto3_upload),
        "download, presigned URL": (studio_presigned, boto3_download),
        "download, local_copy": (studio_local_copy, boto3_download),
        SCALE: (studio_presigned, boto3_one_get),
    }
    results = {}
    for what, (ours, theirs) in pairs.items():
        ours(), theirs()  # untimed: connections opened, the object in place to download
        timed = {"studio": [], "boto3": []}
        for run in range(runs):
            order = [("studio", ours), ("boto3", theirs)]
            for who, transfer in order if run % 2 == 0 else reversed(order):
                timed[who].append(timing(transfer, server.pid))
        results[what] = timed
    stored = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{name}")
    if stored["ContentLength"] != size:
        raise SystemExit(f"the bucket holds {stored['ContentLength']} bytes, not {size}")
    fetched.unlink(missing_ok=True)
    return results


def write_random(path, size):
    with open(path, "wb") as out:
        for _ in range(size // MIB):
            out.write(os.urandom(MIB))
        out.write(os.urandom(size % MIB))


def check_size(path, size, what):
    got = Path(path).stat().st_size
    if got != size:
        raise SystemExit(f"{what} wrote {got} bytes, not {size}")


def timing(transfer, server_pid):
    """Run transfer; return (wall seconds, this process's CPU, the server's CPU)."""
    cpu, server_cpu = time.process_time(), harness.tree_cpu_seconds(server_pid)
    began = time.perf_counter()
    transfer()
    wall = time.perf_counter() - began
    return wall, time.process_time() - cpu, harness.tree_cpu_seconds(server_pid) - server_cpu


def report(results, size, runs, smoke):
    mib = size / MIB
    rows = []
    for what, timed in results.items():
        for who in ("studio", "boto3"):
            walls = [wall for wall, _cpu, _server in timed[who]]
            rows.append(
                [
                    what,
                    who,
                    mib / harness.median(walls),
                    mib / max(walls),
                    mib / min(walls),
                    harness.median([cpu for _wall, cpu, _server in timed[who]]),
                    harness.median([server for _wall, _cpu, server in timed[who]]),
                ]
            )
    harness.figure("video", mib, "MiB")
    harness.figure("timed runs of each", runs)
    harness.table(
        ["transfer", "by", "MiB/s median", "slowest", "fastest", "CPU s (us)", "CPU s (moto)"],
        rows,
    )
    met = True
    for what, timed in results.items():
        ours = harness.median([wall for wall, _cpu, _server in timed["studio"]])
        theirs = harness.median([wall for wall, _cpu, _server in timed["boto3"]])
        name = "boto3 upload_file" if what == "upload" else "boto3 download_file"
        if what == SCALE:
            name += " in one GET"
        met &= harness.ratio(
            f"{what.removesuffix(' (scale)')} throughput",
            mib / ours,
            mib / theirs,
            name=name,
            goal=None if what == SCALE else GOAL,
            smoke=smoke,
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
