"""Rows for the tests, with the values a test does not care about written once.

Each factory saves one row (or a few) through the ORM with ordinary values and takes
keyword arguments for the fields a test does care about, so a test names only those:
`make_job(user, status=Status.FAILED)`. The fixtures in conftest.py build their rows
with these too. Rows that a product service makes (drafts, API tokens) come from that
service, so the tests keep its rules.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from jobs.api import tokens
from jobs.models import Batch, VideoCreationJob, VideoResource

# Veo 3.1 Fast on the Gemini API, the model most tests run: $0.10 a second at 720p, so a
# job with JOB_OPTIONS (4 s) is estimated at $0.40.
MODEL = "veo-3.1-fast-generate-preview"
JOB_OPTIONS = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4}
# The same model and options as the studio's web form posts them.
FORM = {"model": MODEL, "aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": "4"}
PASSWORD = "a-long-passphrase"

Status = VideoCreationJob.Status
Stage = VideoCreationJob.Stage


def make_user(username, *, password=PASSWORD, superuser=False, **fields):
    """Save a person who can log in with password; superuser=True makes an admin."""
    users = get_user_model().objects
    create = users.create_superuser if superuser else users.create_user
    return create(username, password=password, **fields)


def make_job(owner, **fields):
    """Save a queued job of owner's: "A fox" on MODEL with JOB_OPTIONS unless fields say."""
    fields = {"prompt_text": "A fox", "model": MODEL, "options": dict(JOB_OPTIONS), **fields}
    return VideoCreationJob.objects.create(owner=owner, **fields)


def make_jobs(owner, count, **fields):
    """Save count jobs of owner's in one query, prompted "Job 0", "Job 1" and so on."""
    return VideoCreationJob.objects.bulk_create(
        VideoCreationJob(
            owner=owner, prompt_text=f"Job {n}", model=MODEL, options=dict(JOB_OPTIONS), **fields
        )
        for n in range(count)
    )


def make_batch(owner, label="A batch", **fields):
    """Save an empty batch of owner's; give its jobs batch=... through make_job."""
    return Batch.objects.create(owner=owner, label=label, **fields)


def make_resource(job, filename="poster.jpg", **fields):
    """Save a file record of the job's: a poster image unless fields say otherwise."""
    fields = {"type": VideoResource.Type.IMAGE, "url": "/x", **fields}
    return VideoResource.objects.create(job=job, filename=filename, **fields)


def api_client(user, *, name="script", csrf=False, **token_fields):
    """Return a client that calls the JSON API with a fresh token of user's.

    csrf=True enforces CSRF checks as a browser would, to show a token needs none.
    """
    _token, raw = tokens.token_create(user=user, name=name, **token_fields)
    return Client(enforce_csrf_checks=csrf, headers={"Authorization": f"Bearer {raw}"})


def session_queries():
    """Return the queries a logged-in request spends reading its session.

    One with database sessions; none when REDIS_URL puts them in Redis (cached_db,
    videostudio/sessions.py), where the login already wrote the session.
    """
    return 0 if settings.SESSION_ENGINE == "videostudio.sessions" else 1


def settings_read(env, *expressions):
    """Return what each expression of `s` (the settings) is when settings read only env.

    A fresh interpreter runs django.setup() with PATH, DJANGO_SETTINGS_MODULE and env as
    its whole environment, as a process the studio starts would, and prints them as JSON.
    """
    probe = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps([{', '.join(expressions)}]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=Path(__file__).resolve().parent.parent,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "videostudio.settings",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
