"""`manage.py` on a fresh checkout: a usable data dir is made, an unusable one is named."""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage_env(data_dir):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    return {**env, "VIDEOSTUDIO_DATA_DIR": str(data_dir), "VEO_PROVIDER": "emulator"}


def manage(data_dir, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=manage_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )


def unusable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    return blocker / "data"


@pytest.mark.parametrize("command", [["check"], ["migrate", "--no-input"]])
def test_command_on_a_fresh_checkout_creates_the_data_dir(tmp_path, command):
    data_dir = tmp_path / "fresh" / "user-data"
    result = manage(data_dir, *command)
    assert "Traceback" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert data_dir.is_dir()


def run_qcluster(data_dir, log, *, settle):
    """Run `qcluster` until it stops or has run for `settle` seconds, then stop it."""
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=manage_env(data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            if "running." in log.read_text():
                time.sleep(settle)  # long enough for a worker to pull from the broker
                break
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the cluster's main process only
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return process.returncode, log.read_text()


def test_qcluster_before_migrate_stops_with_one_line(tmp_path):
    data_dir = tmp_path / "fresh" / "user-data"
    returncode, output = run_qcluster(data_dir, tmp_path / "qcluster.log", settle=3)
    assert returncode != 0
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if " INFO " not in line]  # start-up logs
    assert len(lines) == 1, output
    assert lines[0].startswith("Configuration error: The database has ")
    assert "run `manage.py migrate` first" in lines[0]
    assert data_dir.is_dir()


def test_qcluster_after_migrate_runs_without_a_traceback(tmp_path):
    data_dir = tmp_path / "fresh" / "user-data"
    assert manage(data_dir, "migrate", "--no-input").returncode == 0
    _, output = run_qcluster(data_dir, tmp_path / "qcluster.log", settle=3)
    assert "running." in output
    assert "Traceback" not in output
    assert "ERROR" not in output


@pytest.mark.parametrize("command", [["check"], ["migrate", "--no-input"], ["qcluster"]])
def test_command_with_an_unusable_data_dir_stops_with_one_line(tmp_path, command):
    data_dir = unusable(tmp_path)
    result = manage(data_dir, *command)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error: The data directory")
    assert "VIDEOSTUDIO_DATA_DIR" in lines[0]


def test_unopenable_sqlite_database_stops_with_one_line(tmp_path):
    env = {**manage_env(tmp_path / "data"), "DATABASE_URL": "sqlite:////nonexistent/dir/db.sqlite3"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Configuration error: Cannot open the database /nonexistent/dir/db.sqlite3: its "
        "directory does not exist or is not writable. Check DATABASE_URL."
    ]


@pytest.mark.parametrize(
    ("credentials", "provider"),
    [
        ({}, "emulator"),
        ({"GEMINI_API_KEY": "a-key"}, "gemini"),
        ({"VERTEX_PROJECT": "a-project"}, "vertex"),
        ({"GEMINI_API_KEY": "a-key", "VEO_PROVIDER": "emulator"}, "emulator"),
    ],
)
def test_the_emulator_serves_until_credentials_say_which_google(tmp_path, credentials, provider):
    env = manage_env(tmp_path / "user-data")
    for name in ("VEO_PROVIDER", "GEMINI_API_KEY", "VERTEX_PROJECT"):
        env.pop(name, None)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.conf import settings as s\nprint(s.VEO_PROVIDER)",
        ],
        cwd=ROOT,
        env={**env, **credentials},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip().splitlines()[-1] == provider, result.stderr


@pytest.mark.django_db
def test_first_user_creates_the_superuser_from_the_environment_once(monkeypatch):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "owner")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long pass phrase")
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "owner@example.com")
    out = io.StringIO()
    call_command("first_user", stdout=out)
    assert "Created the first user 'owner' from DJANGO_SUPERUSER_*." in out.getvalue()
    user = get_user_model().objects.get()
    assert (user.username, user.email, user.is_superuser) == ("owner", "owner@example.com", True)
    assert user.check_password("a long pass phrase")

    # A second deploy's run leaves the users alone, whatever the environment says now.
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "someone-else")
    out = io.StringIO()
    call_command("first_user", stdout=out)
    assert out.getvalue() == "Log in with an existing account.\n"
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["owner"]


@pytest.mark.django_db
def test_first_user_without_a_password_prints_the_generated_one(monkeypatch):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    out = io.StringIO()
    call_command("first_user", stdout=out)
    password = out.getvalue().split(" with password ", 1)[1].split()[0]
    assert get_user_model().objects.get(username="admin").check_password(password)
