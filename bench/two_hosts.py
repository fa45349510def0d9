"""Two hosts without a shared disk: the whole flow through separate web and worker processes.

    uv run python bench/two_hosts.py                  # media in a bucket: must pass
    uv run python bench/two_hosts.py --storage local  # each process's own disk: must fail

On loopback it starts moto's S3 server (an S3 wire), a Redis of its own (so it can stop
the broker), a fresh PostgreSQL database, the Veo emulator, then two gunicorn and two
`qcluster` processes, each with its own empty VIDEOSTUDIO_DATA_DIR. Through the JSON API
and the pages, alternating the two web processes, it creates jobs and a batch, waits for
them, plays every video with seeking from the web process that did not create it, fetches
the poster and the transcript, downloads the batch's ZIP, lets retention delete an old
failed job, deletes the rest, and asserts that the bucket is empty and that no process's
data dir holds a video. Then it stops Redis and expects /readyz to say 503 naming the
broker, starts it again and expects 200. Exits non-zero with the step that failed.

`.ci/run` runs it after the PostgreSQL pass; CI's machine has PostgreSQL and Redis.
"""

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "studio-two-hosts"
BUCKET = "videostudio-two-hosts"
USERNAME, PASSWORD = "director", "two-hosts-passphrase"
JOBS = 3
KEY_ID, SECRET = "two-hosts", "moto-takes-any-secret"


class Failed(SystemExit):
    """A step of the flow did not go as it must."""


def check(condition, message):
    if not condition:
        raise Failed(f"two_hosts: FAILED: {message}")


class Run:
    """The processes of one run, their data dirs, and how to reach them."""

    def __init__(self, root, storage):
        self.root, self.storage = root, storage
        self.processes = []  # (name, Popen), stopped in reverse order
        self.database = f"vs_two_hosts_{os.getpid()}"
        self.s3_port, self.redis_port = harness.free_port(), harness.free_port()
        self.emulator_port = harness.free_port()
        self.web_ports = [harness.free_port(), harness.free_port()]
        self.data_dirs = {}

    def log(self, name):
        return self.root / f"{name}.log"

    def env(self, name):
        """The environment of process `name`: its own data dir, everything else shared."""
        data_dir = self.root / name
        data_dir.mkdir(exist_ok=True)
        self.data_dirs[name] = data_dir
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "VIDEOSTUDIO_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"postgres://postgres:postgres@127.0.0.1:5432/{self.database}",
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "VEO_PROVIDER": "emulator",
            "VEO_EMULATOR_PORT": str(self.emulator_port),
            "VEO_POLL_INTERVAL": "0.2",
            "VEO_TICK_SECONDS": "0.1",
            "Q_WORKERS": "2",
            "MEDIA_STORAGE": self.storage,
            "S3_BUCKET": BUCKET,
            "S3_PREFIX": PREFIX,
            "S3_ENDPOINT_URL": f"http://127.0.0.1:{self.s3_port}",
            "S3_REGION": "us-east-1",
            "S3_ADDRESSING_STYLE": "path",
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "RETENTION_FAILED_DAYS": "30",
            "DJANGO_SUPERUSER_USERNAME": USERNAME,
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "DJANGO_SUPERUSER_EMAIL": "director@example.com",
        }
        for name_ in ("VEO_CATALOG_FILE", "VEO_MODEL", "GEMINI_API_KEY", "VEO_API_BASE_URL"):
            env.pop(name_, None)  # the suite's or the shell's: this run uses the emulator
        return env

    def start(self, name, argv, *, port=None):
        process = harness.start(argv, env=self.env(name), log=self.log(name))
        self.processes.append((name, process))
        if port is not None:
            harness.wait_for(
                lambda: harness.port_open(port), timeout=60, what=name, process=process
            )
        return process

    def manage(self, name, *args, input_text=None):
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env(name),
            input=input_text,
            capture_output=True,
            text=True,
            timeout=120,
        )
        check(done.returncode == 0, f"manage.py {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def stop_all(self):
        for _name, process in reversed(self.processes):
            harness.stop(process)
        self.processes.clear()


# --- The services ------------------------------------------------------------------------


def start_services(run):
    run.start(
        "s3",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(run.s3_port)],
        port=run.s3_port,
    )
    start_redis(run)
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-q",
            "-c",
            f"CREATE DATABASE {run.database}",
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PGPASSWORD": "postgres"},
    )
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{run.s3_port}",
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    s3.create_bucket(Bucket=BUCKET)
    return s3


def start_redis(run):
    run.start(
        "redis",
        [
            "redis-server",
            "--port",
            str(run.redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        port=run.redis_port,
    )


def stop_redis(run):
    for name, process in list(run.processes):
        if name == "redis":
            harness.stop(process)
            run.processes.remove((name, process))


def start_studio(run):
    run.manage("setup", "migrate", "--noinput")
    run.manage("setup", "first_user")
    token = run.manage(
        "setup",
        "shell",
        "--no-imports",
        "-c",
        "from django.contrib.auth import get_user_model; from jobs.api.tokens import token_create;"
        f" print(token_create(user=get_user_model().objects.get(username={USERNAME!r}),"
        " name='two hosts')[1])",
    ).strip()
    run.start(
        "emulator",
        [
            sys.executable,
            "-m",
            "jobs.veo.emulator",
            "--port",
            str(run.emulator_port),
            "--latency",
            "0.5",
            "--api-key",
            "emulator-key",
            "--data-dir",
            str(run.root / "emulator-files"),
        ],
        port=run.emulator_port,
    )
    for n, port in enumerate(run.web_ports, 1):
        run.start(
            f"web-{n}",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "videostudio.wsgi",
                "-c",
                "deploy/gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            port=port,
        )
    for n in (1, 2):
        run.start(f"worker-{n}", [sys.executable, "manage.py", "qcluster"])
    return token


# --- The flow ----------------------------------------------------------------------------


class Web:
    """One web process, reached as a script (token) or as a person (session)."""

    def __init__(self, port, token):
        self.base = f"http://127.0.0.1:{port}"
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Bearer {token}"

    def url(self, path):
        return self.base + path

    def get(self, path, **kwargs):
        return self.api.get(self.url(path), timeout=30, **kwargs)

    def data(self, path, **kwargs):
        """Return the envelope's data of an API GET."""
        answer = self.get(path, **kwargs)
        check(answer.status_code == 200, f"GET {path} answered {answer.status_code}")
        return answer.json()["data"]

    def login(self):
        person = requests.Session()
        page = person.get(self.url("/accounts/login/"), timeout=30)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = person.post(
            self.url("/accounts/login/"),
            data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
            headers={"Referer": self.url("/accounts/login/")},
            timeout=30,
        )
        check(answer.ok and "/accounts/login/" not in answer.url, "the login did not take")
        return person


def wait_ready(web, *, expect=200, timeout=60):
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        try:
            answer = web.get("/readyz")
        except requests.RequestException as exc:
            last = repr(exc)
        else:
            if answer.status_code == expect:
                return answer.json()
            last = f"{answer.status_code} {answer.text[:300]}"
        time.sleep(0.25)
    raise Failed(f"two_hosts: FAILED: {web.base}/readyz did not answer {expect}, but {last}")


def create_job(web, prompt):
    answer = web.api.post(
        web.url("/api/video-creation/jobs"), json={"promptText": prompt}, timeout=30
    )
    check(answer.status_code == 201, f"creating a job answered {answer.status_code}: {answer.text}")
    return answer.json()["data"]["jobId"]


def wait_finished(web, job_id, *, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = web.data(f"/api/video-creation/jobs/{job_id}")
        if job["status"] in ("completed", "failed"):
            return job
        time.sleep(0.25)
    raise Failed(f"two_hosts: FAILED: job {job_id} did not finish within {timeout} s")


def fetch(web, path, *, session=None, range_=None):
    """GET path on web (following a redirect to the bucket); return the final answer."""
    headers = {"Range": range_} if range_ else {}
    answer = (session or web.api).get(
        web.url(path), headers=headers, allow_redirects=False, timeout=30
    )
    if answer.status_code in (301, 302, 303, 307):
        answer = requests.get(answer.headers["Location"], headers=headers, timeout=30)
    return answer


def play(web, job):
    """Seek into the video and play it whole from web; return its bytes."""
    path = f"/api/video-creation/jobs/{job['id']}/video"
    whole = fetch(web, path)
    check(whole.status_code == 200, f"{web.base} could not send job {job['id']}'s video")
    part = fetch(web, path, range_="bytes=1000-1999")
    check(
        part.status_code == 206, f"a seek into job {job['id']}'s video answered {part.status_code}"
    )
    check(part.content == whole.content[1000:2000], "a seek sent other bytes than the video's")
    import av

    with av.open(io.BytesIO(whole.content)) as container:
        check(container.duration and container.duration > 0, "the video does not play")
        next(container.decode(video=0))
    return whole.content


def wait_transcript(web, job_id, *, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = web.data(f"/api/video-creation/jobs/{job_id}")
        for resource in job["resources"]:
            if resource["type"] == "transcript" and resource["filename"].endswith(".vtt"):
                return resource
        time.sleep(0.25)
    raise Failed(f"two_hosts: FAILED: job {job_id} got no transcript within {timeout} s")


def bucket_keys(s3):
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def flow(run, s3, token):
    a, b = (Web(port, token) for port in run.web_ports)
    timings = {}
    started = time.monotonic()
    for web in (a, b):
        wait_ready(web)
    # Jobs made on one web process, watched, played and read on the other.
    made = [(create_job(a if n % 2 else b, f"Two hosts, take {n}"), n) for n in range(JOBS)]
    jobs = []
    for job_id, n in made:
        job = wait_finished(b if n % 2 else a, job_id)
        check(job["status"] == "completed", f"job {job_id} failed: {job.get('error')}")
        jobs.append((job, n))
    timings["jobs completed"] = time.monotonic() - started
    for job, n in jobs:
        other = b if n % 2 else a
        videos = [play(web, job) for web in (other, a if other is b else b)]
        check(videos[0] == videos[1], "the two web processes sent different videos")
        poster = next(r for r in job["resources"] if r["filename"] == "poster.jpg")
        answer = fetch(other, poster["url"])
        check(answer.status_code == 200 and answer.content[:2] == b"\xff\xd8", "no poster")
    transcript = wait_transcript(b, jobs[0][0]["id"])
    answer = fetch(a, transcript["url"])
    check(answer.status_code == 200 and answer.text.startswith("WEBVTT"), "no transcript")
    timings["played, posters, transcript"] = time.monotonic() - started

    # A batch, made as the studio's pages make one, and its ZIP from the other process.
    batch_id = run.manage(
        "setup",
        "shell",
        "--no-imports",
        "-c",
        "from django.contrib.auth import get_user_model; from jobs import services;"
        f" u = get_user_model().objects.get(username={USERNAME!r});"
        " from jobs import options;"
        " spec = lambda p: {'prompt_text': p, 'model': options.default_model(),"
        " 'options': options.defaults()};"
        " print(services.batch_create(owner=u, label='Two hosts',"
        " jobs=[spec('Batch one'), spec('Batch two')]).pk)",
    ).strip()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        batch = a.data(f"/api/video-creation/batches/{batch_id}")
        if batch["finished"]:
            break
        time.sleep(0.25)
    check(batch["finished"], "the batch did not finish within 90 s")
    check(batch["counts"]["completed"] == 2, f"the batch ended {batch['counts']}")
    batch_jobs = batch["jobIds"]
    person = b.login()
    answer = person.get(b.url(f"/batches/{batch_id}/videos.zip"), timeout=60)
    check(answer.status_code == 200, f"the batch ZIP answered {answer.status_code}")
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    names = archive.namelist()
    check(len(names) == 2 and all(n.endswith(".mp4") for n in names), f"ZIP holds {names}")
    timings["batch ZIP"] = time.monotonic() - started

    # Retention: a failed job older than RETENTION_FAILED_DAYS goes at the next sweep.
    old = create_job(a, "Two hosts, refused long ago [fault=safety]")
    check(wait_finished(a, old)["status"] == "failed", "the emulator's refusal did not fail it")
    run.manage(
        "setup",
        "shell",
        "--no-imports",
        "-c",
        "from datetime import timedelta; from django.utils import timezone;"
        " from jobs.models import VideoCreationJob as J; from jobs import services;"
        f" J.objects.filter(pk={old!r}).update(completed_at=timezone.now() - timedelta(days=40),"
        " files_settled_at=timezone.now());"
        " print(services.jobs_recover()['deleted'])",
    )
    check(a.get(f"/api/video-creation/jobs/{old}").status_code == 404, "retention kept it")
    check(not any(f"/{old}/" in key for key in bucket_keys(s3)), "retention left its files")

    # Delete everything from the other process than the one that made it: nothing is left.
    everyone = [job["id"] for job in a.data("/api/video-creation/jobs", params={"limit": 100})]
    check(set(everyone) == {job["id"] for job, _ in jobs} | set(batch_jobs), "jobs went missing")
    for job_id in everyone:
        answer = b.api.delete(b.url(f"/api/video-creation/jobs/{job_id}"), timeout=30)
        check(answer.status_code in (200, 204), f"deleting {job_id} answered {answer.status_code}")
    left = bucket_keys(s3)
    check(left == [], f"the bucket still holds {left[:5]}")
    videos = [str(p) for d in run.data_dirs.values() for p in d.rglob("*.mp4")]
    check(videos == [], f"a process kept videos on its own disk: {videos[:3]}")
    timings["deleted, bucket empty"] = time.monotonic() - started

    # The broker goes away and comes back: /readyz says so, naming it.
    stop_redis(run)
    answer = wait_ready(a, expect=503)
    check(answer["checks"]["broker"] == "unreachable", f"/readyz said {answer}")
    start_redis(run)
    wait_ready(a, expect=200)
    timings["readyz 503 and back"] = time.monotonic() - started
    return timings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--storage", choices=("s3", "local"), default="s3")
    parser.add_argument("--keep", action="store_true", help="keep the logs' folder")
    options = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="two-hosts-"))
    run = Run(root, options.storage)
    begun = time.monotonic()
    try:
        s3 = start_services(run)
        token = start_studio(run)
        timings = flow(run, s3, token)
    except BaseException as exc:
        print(f"two_hosts: the logs are in {root}", file=sys.stderr)
        options.keep = True
        if isinstance(exc, Failed):
            print(exc.code, file=sys.stderr)
            return 1
        raise
    finally:
        run.stop_all()
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-q",
                "-c",
                f"DROP DATABASE IF EXISTS {run.database}",
            ],
            capture_output=True,
            env={**os.environ, "PGPASSWORD": "postgres"},
        )
        if not options.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
    print(
        json.dumps(
            {
                "storage": options.storage,
                "web": 2,
                "workers": 2,
                "seconds": round(time.monotonic() - begun, 1),
                "steps": {k: round(v, 1) for k, v in timings.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
