"""Many clients writing at once: no "database is locked", no server error.

A real studio (two gunicorn workers, two cluster workers, the emulator) on SQLite, or on
PostgreSQL with the Redis broker in CI's second pass, is driven over loopback by 16
clients that create jobs, save drafts, cancel, poll partials and list pages for a
bounded time, while the cluster writes the jobs' progress.
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
SECONDS = 20
JOBS_PER_CLIENT = 3


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
    login = session.get(f"{url}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    session.post(
        f"{url}/accounts/login/",
        data={"username": USERNAME, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{url}/accounts/login/"},
        timeout=30,
    )
    return session


def drive(url, number, deadline):
    """Write and read as a person would, until the deadline; return the status codes."""
    session = client_session(url)
    csrf = session.cookies["csrftoken"]
    headers = {"Referer": url + "/", "X-CSRFToken": csrf}
    statuses, jobs, step = [], [], 0
    while time.monotonic() < deadline:
        step += 1
        if len(jobs) < JOBS_PER_CLIENT:
            response = session.post(
                url + "/",
                data={**FORM, "prompt_text": f"Load {number}.{step} [latency=1]"},
                headers=headers,
                allow_redirects=False,
                timeout=60,
            )
            if response.status_code == 302:
                jobs.append(response.headers["Location"])
        elif step % 5 == 0:
            response = session.post(
                url + "/drafts/new/",
                data={
                    "name": f"Draft {number}.{step}",
                    "visibility": "shared",
                    "mode": "json",
                    "op": "save",
                    "prompts_json": '["one", "two"]',
                },
                headers=headers,
                allow_redirects=False,
                timeout=60,
            )
        elif step % 7 == 0:
            response = session.get(url + "/drafts/?tab=shared", timeout=60)
        else:
            target = jobs[step % len(jobs)] if jobs else "/"
            response = session.get(url + target, headers={"HX-Request": "true"}, timeout=60)
        statuses.append(response.status_code)
    return statuses, jobs


def test_many_writers_meet_no_lock_errors_and_no_server_errors(tmp_path, database_env):
    studio = Studio(tmp_path / "user-data")
    studio.env.update(database_env)
    studio.env.update({"VEO_EMULATOR_LATENCY": "1", "Q_WORKERS": "2", "WEB_CONCURRENCY": "2"})
    studio.start()
    try:
        deadline = time.monotonic() + SECONDS
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = list(pool.map(lambda n: drive(studio.url, n, deadline), range(CLIENTS)))
        statuses = [status for batch, _ in results for status in batch]
        job_pages = [page for _, pages in results for page in pages]
        # Let the cluster finish writing every job's progress while nothing else runs.
        session = client_session(studio.url)
        finish_by = time.monotonic() + 150
        while any(
            session.get(studio.url + page, headers={"HX-Request": "true"}, timeout=60).status_code
            != 286
            for page in job_pages
        ):
            assert time.monotonic() < finish_by, "jobs did not finish"
            time.sleep(1)
    finally:
        _took, left = studio.stop("sigterm")
        studio.kill()
    log = studio.log.read_text()
    assert "database is locked" not in log
    assert "Traceback" not in log
    assert len(statuses) > CLIENTS * 10
    assert not [s for s in statuses if s >= 500], sorted(set(statuses))
    assert len(job_pages) == CLIENTS * JOBS_PER_CLIENT
    if not database_env:
        db = sqlite3.connect(studio.data_dir / "videostudio.sqlite3")
        done = db.execute(
            "SELECT COUNT(*) FROM video_creation_jobs WHERE status = 'completed'"
        ).fetchone()[0]
        assert done == CLIENTS * JOBS_PER_CLIENT
    assert left == []
