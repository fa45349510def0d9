"""Many clients writing at once: no "database is locked", no server error, no lost write.

A real studio (two gunicorn workers, two cluster workers, the emulator) on SQLite, or on
PostgreSQL with the Redis broker in CI's second pass, is driven over loopback by 16
clients at once. Each creates two jobs, then saves a draft, lists the drafts and polls
its jobs' partials round after round until all its jobs are done, while the cluster writes
the jobs' progress. A fixed piece of work, not a time window: however busy the machine,
the test judges what was done (every answer, every job, every draft), never how much.
"""

import os
import re
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from django.db import connection

from tests.factories import FORM
from tests.test_studio import PASSWORD, USERNAME, Studio

pytestmark = pytest.mark.processes

CLIENTS = 16
JOBS_PER_CLIENT = 2
# Only guards against a hang: a busy machine is slower, not wrong.
GIVE_UP_SECONDS = 600
REQUEST_SECONDS = 180


@pytest.fixture
def database_env():
    """Give the studio a fresh database: a SQLite file, or a new PostgreSQL database."""
    if connection.vendor != "postgresql":
        yield {}
        return
    settings = connection.settings_dict
    name = f"videostudio_contention_{uuid.uuid4().hex[:8]}"
    admin = dict(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        password=settings.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    with psycopg.connect(**admin) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{settings['USER']}:{settings.get('PASSWORD') or ''}@{settings['HOST']}:{settings['PORT']}/{name}"
    yield {"DATABASE_URL": url, "REDIS_URL": os.environ["REDIS_URL"]}
    with psycopg.connect(**admin) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def client_session(url):
    session = requests.Session()
    login = session.get(f"{url}/accounts/login/", timeout=REQUEST_SECONDS)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    session.post(
        f"{url}/accounts/login/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=REQUEST_SECONDS,
    )
    return session


def drive(url, number, give_up):
    """Create jobs, then write and read as a person would until they are done.

    Return every answer's status, the job pages, how many drafts were saved, and whether
    every job page ended its polling (286).
    """
    session = client_session(url)
    headers = {"Referer": url + "/", "X-CSRFToken": session.cookies["csrftoken"]}
    statuses, jobs, saved = [], [], 0
    for n in range(JOBS_PER_CLIENT):
        response = session.post(
            url + "/",
            data={**FORM, "prompt_text": f"Load {number}.{n} [latency=1]"},
            headers=headers,
            allow_redirects=False,
            timeout=REQUEST_SECONDS,
        )
        statuses.append(response.status_code)
        if response.status_code == 302:
            jobs.append(response.headers["Location"])
    running, round_ = set(jobs), 0
    while running and time.monotonic() < give_up:
        round_ += 1
        response = session.post(
            url + "/drafts/new/",
            data={
                "name": f"Draft {number}.{round_}",
                "visibility": "shared",
                "mode": "json",
                "op": "save",
                "prompts_json": '["one", "two"]',
            },
            headers=headers,
            allow_redirects=False,
            timeout=REQUEST_SECONDS,
        )
        statuses.append(response.status_code)
        saved += response.status_code == 302
        statuses.append(
            session.get(url + "/drafts/?tab=shared", timeout=REQUEST_SECONDS).status_code
        )
        for page in sorted(running):
            response = session.get(
                url + page, headers={"HX-Request": "true"}, timeout=REQUEST_SECONDS
            )
            statuses.append(response.status_code)
            if response.status_code == 286:
                running.discard(page)
        time.sleep(0.2)
    return statuses, jobs, saved, not running


def count(database_env, studio, sql):
    if database_env:
        with psycopg.connect(database_env["DATABASE_URL"]) as db:
            return db.execute(sql).fetchone()[0]
    db = sqlite3.connect(studio.data_dir / "videostudio.sqlite3")
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


def test_many_writers_meet_no_lock_errors_and_no_server_errors(tmp_path, database_env):
    studio = Studio(tmp_path / "user-data")
    studio.env.update(database_env)
    studio.env.update({"VEO_EMULATOR_LATENCY": "1", "Q_WORKERS": "2", "WEB_CONCURRENCY": "2"})
    studio.start()
    try:
        give_up = time.monotonic() + GIVE_UP_SECONDS
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = list(pool.map(lambda n: drive(studio.url, n, give_up), range(CLIENTS)))
    finally:
        _took, left = studio.stop("sigterm")
        studio.kill()
    statuses = [status for batch, *_ in results for status in batch]
    log = studio.log.read_text()
    assert "database is locked" not in log
    assert "Traceback" not in log
    assert not [s for s in statuses if s >= 500], sorted(set(statuses))
    assert all(len(jobs) == JOBS_PER_CLIENT for _, jobs, _, _ in results), sorted(set(statuses))
    assert all(done for *_, done in results), "jobs did not finish"
    assert all(saved >= 1 for _, _, saved, _ in results)
    # Every answer told the truth: each job it made is completed, each draft it saved is kept.
    assert (
        count(
            database_env,
            studio,
            "SELECT COUNT(*) FROM video_creation_jobs WHERE status = 'completed'",
        )
        == CLIENTS * JOBS_PER_CLIENT
    )
    assert count(database_env, studio, "SELECT COUNT(*) FROM video_creation_drafts") == sum(
        saved for _, _, saved, _ in results
    )
    assert left == []
