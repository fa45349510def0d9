"""The deployment files: gunicorn keeps long streams, the units create what they use."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
STREAM_SECONDS = 4


def slow_stream(environ, start_response):
    """A response that lasts longer than gunicorn's (shortened) timeout, like a big ZIP."""
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    for _ in range(STREAM_SECONDS * 4):
        time.sleep(0.25)
        yield b"x" * 1024


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def web_command(source):
    """The gunicorn arguments of the web unit or the Procfile, without bind, workers, app."""
    text = (ROOT / source).read_text()
    line = re.search(r"^(?:ExecStart=|web: )(.*)$", text, re.MULTILINE).group(1).split()
    assert line[0].endswith("gunicorn")
    kept, skip = [], False
    for arg in line[1:]:
        if skip:
            skip = False
        elif arg in ("--bind", "--workers"):
            skip = True
        elif arg != "videostudio.wsgi":
            kept.append(arg.removeprefix("/srv/videostudio/"))
    return kept


@pytest.mark.parametrize("source", ["deploy/videostudio-web.service", "Procfile"])
def test_gunicorn_as_deployed_does_not_cut_a_stream_longer_than_its_timeout(tmp_path, source):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            *web_command(source),
            # The deployed 30 s, shortened so that the stream outlasts it.
            "--timeout",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--no-control-socket",
            "tests.test_deploy:slow_stream",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "gunicorn.log").open("w"),
        start_new_session=True,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        started = time.monotonic()
        try:
            body = requests.get(f"http://127.0.0.1:{port}/", timeout=30).content
        except requests.exceptions.ChunkedEncodingError:
            body = b""
        took = time.monotonic() - started
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    log = (tmp_path / "gunicorn.log").read_text()
    assert "WORKER TIMEOUT" not in log
    assert len(body) == STREAM_SECONDS * 4 * 1024, f"cut after {took:.1f} s"


def unit(name):
    return (ROOT / "deploy" / name).read_text()


def test_the_units_create_the_user_data_dir_and_virtualenv_they_run_with():
    setup = unit("videostudio-setup.service")
    creates = " ".join(re.findall(r"^ExecStart=(.*)$", setup, re.MULTILINE))
    for name in ("videostudio-web.service", "videostudio-worker.service"):
        text = unit(name)
        assert "Requires=videostudio-setup.service" in text
        assert re.search(r"^After=.*videostudio-setup\.service", text, re.MULTILINE)
        user = re.search(r"^User=(\S+)", text, re.MULTILINE).group(1)
        assert f'systemd-sysusers --inline "u {user} ' in creates
        assert f"-o {user} -g {user}" in creates and "${VIDEOSTUDIO_DATA_DIR}" in creates
        workdir = re.search(r"^WorkingDirectory=(\S+)", text, re.MULTILINE).group(1)
        if "collectstatic" in text:
            assert f"-o {user} -g {user} -m 0755 {workdir}/staticfiles" in creates
        assert f"UV_PROJECT_ENVIRONMENT={workdir}/.venv uv sync --locked" in creates
        for command in re.findall(r"^Exec\w+=(\S+)", text, re.MULTILINE):
            assert command.startswith(f"{workdir}/.venv/bin/"), command


def test_the_setup_unit_is_valid_for_systemd(tmp_path):
    (tmp_path / "videostudio-setup.service").write_text(unit("videostudio-setup.service"))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "videostudio-setup.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
