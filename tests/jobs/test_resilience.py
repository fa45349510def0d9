"""Jobs survive a real qcluster being killed, restarted and handed duplicate tasks.

A real `manage.py qcluster` process works on the test database (SQLite file, or
PostgreSQL with the Redis broker in CI's second pass) against the emulator over HTTP.
The cluster is SIGKILLed at random moments (a seed makes a run reproducible) and
restarted; afterwards every job must have ended, none may have been submitted twice,
each completed job has one verified output file, and no temporary file is left.
"""

import contextlib
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from django.db import connection
from django_q.conf import Conf
from django_q.tasks import async_task

from jobs import services
from jobs.health.models import ClusterHeartbeat
from jobs.media import probe
from jobs.models import VideoCreationJob
from jobs.veo.emulator import Emulator
from jobs.watchdog import process_children
from tests.conftest import API_KEY
from tests.factories import JOB_OPTIONS, MODEL, Stage, Status, make_job

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("RESILIENCE_SEED", random.randrange(1_000_000)))

pytestmark = [
    pytest.mark.processes,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def database_url():
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )


class Cluster:
    """A real qcluster in its own process group, so it can be killed like a crash."""

    def __init__(self, env, log):
        self.env, self.log, self.process = env, log, None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        # Whatever is left in the group (orphaned workers included) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def emulator(tmp_path):
    server = Emulator(latency=3, api_key=API_KEY, data_dir=tmp_path / "emulator").start()
    yield server
    server.stop()


@pytest.fixture
def cluster(monkeypatch, data_dir, emulator, tmp_path):
    monkeypatch.setattr(Conf, "SYNC", False)  # tasks go to the real broker
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "VIDEOSTUDIO_DATA_DIR": str(data_dir),
        "VEO_PROVIDER": "gemini",
        "GEMINI_API_KEY": API_KEY,
        "VEO_API_BASE_URL": emulator.base_url,
        "VEO_POLL_INTERVAL": "0.3",
        "VEO_POLL_INTERVAL_MAX": "1",
        "VEO_TASK_SLICE_SECONDS": "2",
        "VEO_HTTP_TIMEOUT": "3",
        "VEO_LEASE_GRACE_SECONDS": "1",
        "VEO_RETRY_BASE_SECONDS": "0.1",
        "Q_WORKERS": "2",
        "Q_TASK_TIMEOUT": "30",
        "Q_WATCHDOG_SECONDS": "20",
    }
    log = open(tmp_path / "qcluster.log", "w")  # noqa: SIM115
    running = Cluster(env, log)
    yield running
    running.stop()
    log.close()


def wait_until_all_finished(timeout):
    deadline = time.monotonic() + timeout
    while VideoCreationJob.objects.active().exists():
        assert time.monotonic() < deadline, list(
            VideoCreationJob.objects.active().values_list(
                "prompt_text",
                "status",
                "stage",
                "lease_expires_at",
                "updated_at",
                "submitted_at",
                "operation_name",
            )
        )
        time.sleep(0.5)


def assert_no_temp_file_left(cluster, data_dir):
    """Stop the cluster, so no task (a transcript among them) is still writing, then sweep.

    A kill mid-write leaves a temporary file for the sweep; the sweep must find them all.
    """
    cluster.stop()
    services.jobs_settle_files(older_than=timedelta(0))
    assert not list(data_dir.rglob(".tmp-*"))


def assert_unknown_is_true(job, prompt, emulator):
    """A job that says its paid request may have gone through said so truthfully.

    Google got the request, or the kill landed in the one gap no client can close: after
    the submit mark committed and before the held-back last byte left, so the emulator
    saw the body end exactly one byte short (and, like Google, acted on nothing).
    """
    assert "may have gone through" in job.error, (prompt, job.error, SEED)
    if emulator.submits_for(prompt) == 1:
        return
    # Saying a paid request may have gone through when Google never got one is a lie
    # that costs a person a check in the console and a retry they did not need: only the
    # last byte's gap may leave it.
    assert emulator.cut_off_for(prompt) == [1], (
        f"{prompt}: '{job.error}' but the emulator counted no submit (seed {SEED})"
    )


def test_killed_cluster_leaves_no_job_unfinished_or_submitted_twice(
    cluster, emulator, user, data_dir, tmp_path
):
    rng = random.Random(SEED)
    print(f"RESILIENCE_SEED={SEED}")
    prompts = [f"Resilience {n} [latency={rng.randint(1, 5)}]" for n in range(6)]
    jobs = [
        services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
        for prompt in prompts
    ]
    # The same task delivered twice more, as a retry shorter than the task would.
    for _ in range(2):
        async_task("jobs.tasks.run_job", jobs[0].pk, group="jobs")

    cluster.start()
    for _ in range(2):
        time.sleep(rng.uniform(1.5, 6))
        cluster.kill()
        cluster.start()
    wait_until_all_finished(timeout=240)
    # A kill between a job's terminal commit and its metadata.json write leaves the file to
    # the recovery sweep (jobs_settle_files, run by the ticker): run it before reading them.
    assert_no_temp_file_left(cluster, data_dir)

    completed = 0
    for job, prompt in zip(jobs, prompts, strict=True):
        job.refresh_from_db()
        submits = emulator.submits_for(prompt)
        assert submits <= 1, f"{prompt} was submitted {submits} times (seed {SEED})"
        if job.status == VideoCreationJob.Status.COMPLETED:
            completed += 1
            assert submits == 1
            output = data_dir / job.video_url
            assert (
                hashlib.sha256(output.read_bytes()).hexdigest() == job.metadata["video"]["sha256"]
            )
            assert probe(output).duration > 3
            on_disk = json.loads((output.parent / "metadata.json").read_text())
            assert on_disk["status"] == "completed"
        else:
            # The only acceptable failure: killed between the submit mark and saving the answer.
            assert_unknown_is_true(job, prompt, emulator)
    assert completed >= 1, f"no job completed (seed {SEED})"
    finished_outputs = sorted(
        data_dir / job.video_url
        for job in VideoCreationJob.objects.filter(status=VideoCreationJob.Status.COMPLETED)
    )
    assert sorted(data_dir.rglob("output.mp4")) == finished_outputs


def wait_for(condition, timeout, message):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


def test_sigterm_mid_generation_stops_warmly_and_the_job_finishes_after_restart(
    cluster, emulator, user, data_dir
):
    prompt = "Warm stop [latency=4]"
    job = services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
    cluster.start()
    wait_for(
        lambda: VideoCreationJob.objects.filter(pk=job.pk, stage="generating").exists(),
        60,
        "the job never started generating",
    )
    # Alive, as /readyz sees a cluster from any machine: its ticker keeps a heartbeat row.
    beats = ClusterHeartbeat.objects.filter(pid=cluster.process.pid)
    wait_for(beats.exists, 30, "the cluster wrote no heartbeat")
    cluster.process.send_signal(signal.SIGTERM)  # the main process only, as systemd's mixed mode
    cluster.process.wait(timeout=30)
    assert not beats.exists()  # stopped warmly, it no longer counts as alive
    cluster.start()
    wait_until_all_finished(timeout=180)
    job.refresh_from_db()
    assert job.status == VideoCreationJob.Status.COMPLETED, job.error
    assert emulator.submits_for(prompt) == 1
    assert_no_temp_file_left(cluster, data_dir)


def test_a_job_whose_task_was_lost_is_found_by_the_sweep(cluster, emulator, user):
    # Written without an enqueue, as if the broker had lost the task (a Redis restart,
    # a crash between COMMIT and on_commit, a rotated SECRET_KEY).
    job = make_job(user, prompt_text="Lost task [latency=1]")
    cluster.start()
    wait_until_all_finished(timeout=150)
    job.refresh_from_db()
    assert job.status == VideoCreationJob.Status.COMPLETED, job.error
    assert emulator.submits_for("Lost task") == 1


def cluster_workers(cluster):
    """Return the pids the sentinel guards (workers, pusher, monitor), which it reincarnates."""
    children = process_children()
    sentinels = children.get(cluster.process.pid, [])
    return [pid for sentinel in sentinels for pid in children.get(sentinel, [])]


def test_chaos_workers_killed_at_random_across_two_dozen_jobs(cluster, emulator, user, data_dir):
    rng = random.Random(SEED)
    print(f"RESILIENCE_SEED={SEED}")
    prompts = [f"Chaos {n} [latency={rng.choice([0, 1, 2, 3])}]" for n in range(24)]
    jobs = [
        services.job_create(owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS)
        for prompt in prompts
    ]
    cluster.start()
    kills, give_up = 0, time.monotonic() + 60
    while kills < 8 and time.monotonic() < give_up:
        time.sleep(rng.uniform(0.5, 3))
        victims = cluster_workers(cluster)
        if victims:
            os.kill(rng.choice(victims), signal.SIGKILL)  # the sentinel reincarnates it
            kills += 1
    assert kills == 8
    wait_until_all_finished(timeout=300)

    outputs = []
    for job, prompt in zip(jobs, prompts, strict=True):
        job.refresh_from_db()
        submits = emulator.submits_for(prompt)
        assert submits <= 1, f"{prompt} was submitted {submits} times (seed {SEED})"
        if job.status == VideoCreationJob.Status.COMPLETED:
            assert submits == 1
            output = data_dir / job.video_url
            assert (
                hashlib.sha256(output.read_bytes()).hexdigest() == job.metadata["video"]["sha256"]
            )
            outputs.append(output)
        else:
            assert_unknown_is_true(job, prompt, emulator)
    assert len(outputs) >= 12, f"only {len(outputs)} of 24 completed (seed {SEED})"
    assert sorted(data_dir.rglob("output.mp4")) == sorted(outputs)
    assert_no_temp_file_left(cluster, data_dir)


def test_workers_killed_while_idle_wedge_the_queue_and_the_watchdog_restarts_it(
    cluster, emulator, user, tmp_path
):
    cluster.start()
    wait_for(lambda: len(cluster_workers(cluster)) >= 4, 30, "the cluster did not start")
    time.sleep(2)  # idle: one worker now waits in task_queue.get(), holding its lock
    for pid in cluster_workers(cluster):
        if pid in cluster_workers(cluster):
            os.kill(pid, signal.SIGKILL)  # workers, pusher and monitor alike
    time.sleep(3)  # reincarnated, but blocked on the dead worker's lock
    job = services.job_create(
        owner=user, prompt_text="After the wedge [latency=0]", model=MODEL, options=JOB_OPTIONS
    )
    wait_until_all_finished(timeout=150)
    job.refresh_from_db()
    assert job.status == VideoCreationJob.Status.COMPLETED, job.error
    assert emulator.submits_for("After the wedge") == 1
    log = (tmp_path / "qcluster.log").read_text()
    assert "workers are wedged. Restarting the cluster." in log
    # Its database connection, not shared with the workers it forked, stayed readable.
    assert "Watchdog could not read" not in log


# --- Kills at each stage, on purpose --------------------------------------------------

# Each job is steered so that its target stage lasts long enough to be seen from outside:
# the emulator holds the submit's answer, pads the video so download and hashing take time.
TARGETS = {
    "before submit": "[latency=1]",
    "mid-submit": "[latency=1] [submit-delay=2]",
    "generating": "[latency=4]",
    "downloading": "[latency=1] [pad-mb=200]",
    "finishing": "[latency=1] [pad-mb=200]",
}


def at_stage(target, row):
    """Return whether a job's row (status, stage, submitted_at, operation_name) is at target."""
    status, stage, submitted_at, operation_name = row
    if target == "before submit":
        # Claimed by a run, which is now building and sending its request: a kill counts
        # as before the submit if the row it leaves has no submit mark (read post mortem).
        return status == Status.PROCESSING and stage == Stage.SUBMITTING and submitted_at is None
    if target == "mid-submit":
        return stage == Stage.SUBMITTING and submitted_at is not None and not operation_name
    return status == Status.PROCESSING and stage == target


def job_row(job):
    return (
        VideoCreationJob.objects.filter(pk=job.pk)
        .values_list("status", "stage", "submitted_at", "operation_name")
        .get()
    )


def kill_at(cluster, job, target, held, timeout=60):
    """SIGKILL the cluster once the job's row shows target, restart it; return the row left.

    `held()` says whether Google holds the request, as it must "mid-submit": the whole
    body arrived and its answer is held back. Return None if the job went past its target
    unseen.
    """
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        row = job_row(job)
        if at_stage(target, row) and (target != "mid-submit" or held()):
            cluster.kill()  # every process of the cluster, the worker running this job too
            left = job_row(job)  # nothing writes any more: the state the kill left
            cluster.start()
            return left
        if row[0] in (Status.COMPLETED, Status.FAILED) or (
            target == "before submit" and row[2] is not None
        ):
            return None
        time.sleep(0.002)
    return None


def assert_honest_end(job, prompt, emulator, data_dir):
    """A job completed once with a verified video, or failed saying why, truthfully."""
    submits = emulator.submits_for(prompt)
    assert submits <= 1, f"{prompt} was submitted {submits} times"
    if job.status == Status.COMPLETED:
        assert submits == 1
        output = data_dir / job.video_url
        assert hashlib.sha256(output.read_bytes()).hexdigest() == job.metadata["video"]["sha256"]
        on_disk = json.loads((output.parent / "metadata.json").read_text())
        assert on_disk["status"] == "completed"
        return output
    assert_unknown_is_true(job, prompt, emulator)
    return None


def test_workers_killed_at_each_stage_leave_every_job_honestly_ended(
    cluster, emulator, user, data_dir
):
    cluster.start()
    wait_for(lambda: len(cluster_workers(cluster)) >= 4, 60, "the cluster did not start")
    jobs, hit = [], {}
    for target, markers in TARGETS.items():
        # The claim-to-mark window is a few milliseconds: try a few jobs to land in it.
        for attempt in range(6 if target == "before submit" else 2):
            prompt = f"Targeted {target} #{attempt} {markers}"
            job = services.job_create(
                owner=user, prompt_text=prompt, model=MODEL, options=JOB_OPTIONS
            )
            jobs.append((target, job, prompt))
            left = kill_at(cluster, job, target, held=partial(emulator.submits_for, prompt))
            if left is not None and (target != "before submit" or left[2] is None):
                hit[target] = attempt
                break
    print("kills at attempt:", hit)
    assert set(hit) == set(TARGETS), f"stages never hit: {set(TARGETS) - set(hit)}"
    wait_until_all_finished(timeout=240)
    cluster.stop()

    outputs = []
    for target, job, prompt in jobs:
        job.refresh_from_db()
        if output := assert_honest_end(job, prompt, emulator, data_dir):
            outputs.append(output)
        elif target != "mid-submit":
            # Only a kill between the paid call and saving its answer may lose a job.
            assert job_row(job)[2] is not None, (target, job.error)
    assert sorted(data_dir.rglob("output.mp4")) == sorted(outputs)
    # With the cluster stopped no task can still be writing: the sweep leaves nothing.
    services.jobs_settle_files(older_than=timedelta(0))
    assert not list(data_dir.rglob(".tmp-*"))
