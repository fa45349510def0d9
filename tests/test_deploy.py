"""The deployment files: gunicorn keeps long streams, the units create what they use, and
the container recipe (deploy/Dockerfile, deploy/compose.yaml) builds and runs the studio as
the settings expect. Docker itself is not needed: the image's build steps that can fail on
the studio's side (its context, collectstatic, the locked wheels) run here for real."""

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import requests
import yaml
from packaging.markers import Marker
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import parse_wheel_filename

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
    """The gunicorn arguments of the web unit, Procfile or image, without bind, workers, app."""
    text = (ROOT / source).read_text()
    if source.endswith("Dockerfile"):
        line = json.loads(dockerfile_instructions("CMD")[-1])
    else:
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


@pytest.mark.parametrize(
    "source", ["deploy/videostudio-web.service", "Procfile", "deploy/Dockerfile"]
)
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


# --- The container image and compose file ------------------------------------------------

DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
# Read by a library rather than by videostudio/settings.py: boto3 (the bucket's
# credentials, as settings.py's MEDIA_STORAGE comment says) and gunicorn (its workers).
READ_ELSEWHERE = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "WEB_CONCURRENCY"}
FIRST_USER = ROOT / "jobs" / "management" / "commands" / "first_user.py"


def dockerfile():
    """Return the Dockerfile's instructions as (KEYWORD, arguments), continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def dockerfile_instructions(keyword):
    return [arguments for name, arguments in dockerfile() if name == keyword]


def image_environment(until=None):
    """Return the ENV set before the first instruction containing until (None: all of it)."""
    env = {}
    for name, arguments in dockerfile():
        if until is not None and until in arguments:
            return env
        if name == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(arguments))
    assert until is None, f"no instruction contains {until!r}"
    return env


def compose():
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value, env):
    """Resolve compose's ${NAME}, ${NAME:-default} and ${NAME:?error} as `up` would."""

    def one(match):
        name, operator, word = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if operator == ":?":
            raise AssertionError(f"compose refuses to start without {name}: {word}")
        return word or ""

    resolved = re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, str(value).replace("$$", "\0"))
    return resolved.replace("\0", "$")


def settings_variables():
    """Return every variable name videostudio/settings.py reads through its env_* helpers."""
    text = (ROOT / "videostudio" / "settings.py").read_text()
    return set(re.findall(r"\benv_\w+\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", text))


def test_every_variable_compose_gives_the_studio_is_one_it_reads():
    services = compose()["services"]
    known = settings_variables() | READ_ELSEWHERE
    # The migrate one-shot also creates the first user, from the variables that command reads.
    first_user = set(re.findall(r"os\.environ\.get\(\"([A-Z_]+)\"", FIRST_USER.read_text()))
    assert first_user == {
        "DJANGO_SUPERUSER_USERNAME",
        "DJANGO_SUPERUSER_PASSWORD",
        "DJANGO_SUPERUSER_EMAIL",
    }
    unknown = {
        name: sorted(
            set(services[name]["environment"])
            - known
            - (first_user if name == "migrate" else set())
        )
        for name in ("web", "worker", "migrate")
    }
    assert unknown == {"web": [], "worker": [], "migrate": []}
    # The names the lead's settings and this file agree on for the bucket.
    for name in ("web", "worker", "migrate"):
        assert {"MEDIA_STORAGE", "S3_BUCKET", "S3_ENDPOINT_URL"} <= set(
            services[name]["environment"]
        )


def test_settings_accept_the_environment_compose_gives_web_and_worker(tmp_path):
    # Imported here: gunicorn imports this module for slow_stream with no settings, and
    # tests.factories needs them.
    from tests.factories import settings_read

    services = compose()["services"]
    for name in ("web", "worker"):
        given = {"SECRET_KEY": secrets.token_urlsafe(50)}
        env = {k: interpolate(v, given) for k, v in services[name]["environment"].items()}
        # The one path that is the container's own: its scratch dir, made there by the image.
        assert env["VIDEOSTUDIO_DATA_DIR"] == image_environment()["VIDEOSTUDIO_DATA_DIR"]
        env["VIDEOSTUDIO_DATA_DIR"] = str(tmp_path / name)
        assert settings_read(
            env,
            "s.DEBUG",
            "s.MEDIA_STORAGE",
            "s.STORAGES['default']['BACKEND']",
            "s.DATABASES['default']['HOST']",
            "s.Q_CLUSTER.get('redis')",
            "s.VEO_PROVIDER",
            "s.VEO_API_BASE_URL",
            "s.S3_ADDRESSING_STYLE",
        ) == [
            False,
            "s3",
            "jobs.storage.BucketStorage",
            "postgres",
            "redis://redis:6379/0",
            "emulator",
            "http://emulator:8765",
            "path",
        ]


def test_web_and_worker_share_no_disk_only_the_database_broker_and_bucket():
    services = compose()["services"]
    for name in ("web", "worker"):
        service = services[name]
        # No volume, bind or tmpfs mount: whatever the studio keeps goes to the bucket.
        assert not {"volumes", "volumes_from", "tmpfs"} & set(service), name
        assert service["environment"]["MEDIA_STORAGE"] == "s3"
        assert service["environment"]["VIDEOSTUDIO_DATA_DIR"].startswith("/var/lib/")


def test_the_web_is_healthy_by_readyz_once_migrate_has_completed():
    services = compose()["services"]
    web = services["web"]
    test = web["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "http://127.0.0.1:8000/readyz" in test[3]
    # The image's own HEALTHCHECK is the same probe, for a container run without compose.
    healthcheck = dockerfile_instructions("HEALTHCHECK")
    assert len(healthcheck) == 1
    assert json.loads(healthcheck[0].split(" CMD ", 1)[1]) == test[1:]
    # ...on the port the image's gunicorn listens on.
    assert "0.0.0.0:8000" in json.loads(dockerfile_instructions("CMD")[0])
    assert web["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["command"][-1].startswith("python manage.py migrate --noinput")
    assert services["migrate"]["command"][-1].endswith("&& python manage.py first_user")


@pytest.mark.parametrize(("status", "healthy"), [("200 OK", True), ("503 Unavailable", False)])
def test_the_healthcheck_asks_readyz_as_a_host_django_allows(status, healthy):
    """Run the probe against a server that records what it was asked."""
    seen = []

    def app(environ, start_response):
        seen.append((environ["PATH_INFO"], environ["HTTP_HOST"], environ["HTTP_X_FORWARDED_PROTO"]))
        start_response(status, [("Content-Type", "application/json")])
        return [b"{}"]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    code = compose()["services"]["web"]["healthcheck"]["test"][3]
    assert code.count("127.0.0.1:8000") == 1
    with make_server("127.0.0.1", 0, app, handler_class=Quiet) as server:
        code = code.replace("127.0.0.1:8000", f"127.0.0.1:{server.server_port}")
        thread = threading.Thread(target=server.handle_request, daemon=True)
        thread.start()
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={"PATH": os.environ["PATH"], "ALLOWED_HOSTS": ".example.com,localhost"},
            capture_output=True,
            timeout=30,
        )
        thread.join(timeout=10)
    # The first allowed name (a leading dot allows the domain itself), past the SSL redirect.
    assert seen == [("/readyz", "example.com", "https")]
    assert (result.returncode == 0) is healthy, result.stderr


def test_the_worker_runs_qcluster_and_scales():
    worker = compose()["services"]["worker"]
    assert worker["command"] == ["python", "manage.py", "qcluster"]
    # `--scale worker=3` needs no fixed name and no host port.
    assert "container_name" not in worker and "ports" not in worker
    # SIGTERM to qcluster alone (init: true, not the process group), then more time than a
    # task may run, as the systemd unit's TimeoutStopSec=360.
    assert worker["init"] is True
    grace = worker["stop_grace_period"]
    seconds = int(grace[:-1]) * {"s": 1, "m": 60}[grace[-1]]
    assert seconds >= 360


def test_the_image_installs_the_lock_and_runs_as_a_user_not_root():
    steps = dockerfile()
    names = [name for name, _ in steps]
    assert steps[names.index("FROM", 1)] == ("FROM", "python:3.12-slim")
    runs = dockerfile_instructions("RUN")
    # Every sync installs exactly uv.lock (and refuses a lock that pyproject.toml outgrew).
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs and all("uv sync --locked --no-dev" in run for run in syncs)
    assert any("python manage.py collectstatic --noinput" in run for run in runs)
    users = [arguments for name, arguments in steps if name == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert names.index("USER") < names.index("CMD")
    assert len(dockerfile_instructions("CMD")) == 1
    # The collect comes after the code is copied in, with DEBUG=false's storage.
    copy_all = steps.index(("COPY", ". ."))
    collect = next(i for i, (_, a) in enumerate(steps) if "collectstatic" in a)
    assert copy_all < collect
    assert image_environment("collectstatic")["DEBUG"] == "false"


IGNORE_FILE = ROOT / "deploy" / "Dockerfile.dockerignore"


def context_patterns():
    """Return the ignore file's patterns; the test understands names, * and a leading **/."""
    patterns = []
    for line in IGNORE_FILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert re.fullmatch(r"(\*\*/)?[\w.*-]+(/[\w.*-]+)*", line), f"unsupported: {line}"
        patterns.append(line.split("/"))
    return patterns


def matches(pattern, parts):
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(matches(pattern[1:], parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatchcase(parts[0], pattern[0]) and matches(pattern[1:], parts[1:])


def left_out(relative, patterns):
    """Return whether Docker leaves relative out of the context (a directory takes its files)."""
    parts = relative.split("/")
    return any(matches(p, parts[:n]) for p in patterns for n in range(1, len(parts) + 1))


def test_the_build_context_leaves_out_environments_data_and_secrets():
    patterns = context_patterns()
    for path in (
        ".venv",
        ".git",
        "user-data",
        "staticfiles",
        "jobs/__pycache__/x.pyc",
        "deploy/.env",
    ):
        assert left_out(path, patterns), path
    for path in ("manage.py", "uv.lock", "deploy/gunicorn.conf.py", "static/css", "jobs/models.py"):
        assert not left_out(path, patterns), path


def test_collectstatic_as_the_build_runs_it_succeeds_in_the_build_context(tmp_path):
    """`COPY . .` of the context the ignore file leaves, then the image's collectstatic line."""
    patterns = context_patterns()
    app = tmp_path / "app"
    for folder, directories, files in os.walk(ROOT):
        relative = Path(folder).relative_to(ROOT)
        directories[:] = [
            d for d in directories if not left_out((relative / d).as_posix(), patterns)
        ]
        for name in files:
            if not left_out((relative / name).as_posix(), patterns):
                (app / relative).mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(folder) / name, app / relative / name)
    run = next(r for r in dockerfile_instructions("RUN") if "collectstatic" in r)
    words = shlex.split(run)
    inline = dict(word.split("=", 1) for word in words if re.fullmatch(r"[A-Z_]+=.*", word))
    command = [word for word in words if not re.fullmatch(r"[A-Z_]+=.*", word)]
    assert command[:2] == ["python", "manage.py"]
    env = {**image_environment("collectstatic"), **inline}
    env.pop("PATH")  # the image's venv; here the project's, whose Python runs this test
    env["VIDEOSTUDIO_DATA_DIR"] = str(tmp_path / "data")  # the image's, made by useradd's step
    result = subprocess.run(
        [sys.executable, *command[1:]],
        cwd=app,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((app / "staticfiles" / "staticfiles.json").read_text())
    assert {"css/studio.css", "js/notices.js", "admin/css/base.css"} <= set(manifest["paths"])
    assert (app / "staticfiles" / manifest["paths"]["css/studio.css"]).is_file()


LINUX = {
    "sys_platform": "linux",
    "platform_system": "Linux",
    "os_name": "posix",
    "python_version": "3.12",
    "python_full_version": "3.12.12",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def runtime_packages(lock, machine):
    """Return the locked packages `uv sync --no-dev` installs on Linux for machine."""
    packages = {package["name"]: package for package in lock["package"]}
    environment = {**LINUX, "platform_machine": machine, "extra": ""}
    wanted, todo = set(), [*packages["videostudio"]["dependencies"]]
    while todo:
        dependency = todo.pop()
        if "marker" in dependency and not Marker(dependency["marker"]).evaluate(environment):
            continue
        package = packages[dependency["name"]]
        for extra in dependency.get("extra", []):
            todo.extend(package["optional-dependencies"][extra])
        if package["name"] not in wanted:
            wanted.add(package["name"])
            todo.extend(package.get("dependencies", []))
    return {name: packages[name] for name in wanted}


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_every_locked_package_has_a_wheel_for_the_slim_image(machine):
    """No compiler and no FFmpeg in python:3.12-slim: each package must come as a wheel."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    # glibc 2.36 (bookworm) and newer; older manylinux names are the same wheels.
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(36, 16, -1)]
    platforms += [f"manylinux2014_{machine}"]
    accepted = {
        *cpython_tags((3, 12), platforms=platforms),
        *compatible_tags((3, 12), "cp312", platforms=platforms),
    }
    packages = runtime_packages(lock, machine)
    assert {"av", "django", "psycopg-binary", "django-storages"} <= set(packages)
    without = sorted(
        name
        for name, package in packages.items()
        if not any(
            parse_wheel_filename(wheel["url"].rsplit("/", 1)[1])[3] & accepted
            for wheel in package.get("wheels", [])
        )
    )
    assert without == []
