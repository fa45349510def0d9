"""`manage.py veo_check` tells which models the credentials can use, and why not."""

import json
import os
import re
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
import responses
from django.core.management import CommandError, call_command

from jobs.management.commands import studio
from tests.conftest import LEGACY_CATALOG

BASE = "https://generativelanguage.googleapis.com/v1beta"
OLD_OMNI = "gemini-omni-1.1-flash"


@pytest.fixture
def catalog_file(settings, tmp_path):
    """Write the suite's catalog override with these entries merged in, and point the settings at it."""

    def write(models):
        entries = json.loads(Path(LEGACY_CATALOG).read_text())["models"]
        for name, entry in models.items():
            entries[name] = {**entries.get(name, {}), **entry}
        path = tmp_path / "catalog.json"
        path.write_text(json.dumps({"models": entries}))
        settings.VEO_CATALOG_FILE = str(path)

    return write


@pytest.fixture
def old_omni_served(catalog_file):
    """Omni 1.1 still served, whatever today's date: the built-in catalog retires it on 2026-12-03."""
    catalog_file({OLD_OMNI: {"retired": "", "retiring": ""}})


def test_lists_the_emulators_models_as_usable(veo, old_omni_served, capsys):
    call_command("veo_check")
    out = capsys.readouterr().out
    assert "✓ veo-3.1-fast-generate-preview" in out
    # Every offered model gets a line, Omni's too (asked for by name on the Interactions side).
    assert re.search(r"[✓✗] gemini-omni-1\.2-flash", out)
    assert re.search(r"Ready: \d of 5 models usable\.", out)


@responses.activate
def test_names_models_the_key_cannot_reach(gemini, settings, capsys):
    settings.VEO_MODEL = "veo-3.1-generate-preview"
    responses.get(
        f"{BASE}/models",
        json={
            "models": [
                {
                    "name": "models/veo-3.1-fast-generate-preview",
                    "supportedGenerationMethods": ["predictLongRunning"],
                },
                {
                    "name": "models/gemini-omni-1.1-flash",
                    "supportedGenerationMethods": ["generateContent"],
                },
            ]
        },
    )
    with pytest.raises(
        CommandError, match=re.escape("VEO_MODEL=veo-3.1-generate-preview is not usable")
    ):
        call_command("veo_check")
    out = capsys.readouterr().out
    assert "✓ veo-3.1-fast-generate-preview" in out
    assert "✗ veo-3.1-generate-preview: not offered to this key" in out
    assert responses.calls[0].request.headers["x-goog-api-key"]


@responses.activate
def test_says_plainly_when_the_key_is_wrong(gemini):
    responses.get(
        f"{BASE}/models",
        status=400,
        json={
            "error": {
                "code": 400,
                "status": "INVALID_ARGUMENT",
                "message": "API key not valid. Please pass a valid API key.",
                "details": [{"reason": "API_KEY_INVALID"}],
            }
        },
    )
    with pytest.raises(
        CommandError, match=re.escape("The API key is not valid. Check GEMINI_API_KEY.")
    ):
        call_command("veo_check")


@responses.activate
def test_omni_is_asked_for_by_name_and_veo_through_list_models(
    gemini, old_omni_served, settings, capsys
):
    settings.VEO_MODEL = "veo-3.1-fast-generate-preview"
    listed = [
        {"name": f"models/{name}", "supportedGenerationMethods": ["predictLongRunning"]}
        for name in ("veo-3.1-fast-generate-preview", "veo-3.1-lite-generate-preview")
    ]
    # Either way of asking finds Omni 1.2 and not 1.1: by name (the Interactions side, §0 of
    # the reference) or in the list, as the provider of each API does.
    responses.get(
        f"{BASE}/models/gemini-omni-1.2-flash", json={"name": "models/gemini-omni-1.2-flash"}
    )
    responses.get(f"{BASE}/models/gemini-omni-1.1-flash", status=404, json={"error": {"code": 404}})
    listed.append({"name": "models/gemini-omni-1.2-flash", "supportedGenerationMethods": []})
    responses.get(f"{BASE}/models", json={"models": listed})

    call_command("veo_check")
    out = capsys.readouterr().out
    assert "✓ veo-3.1-fast-generate-preview" in out
    assert "✗ veo-3.1-generate-preview" in out
    assert "gemini-omni-1.1-flash: not offered" in out


def test_a_model_past_its_retiring_day_gets_no_line(veo, catalog_file, capsys):
    catalog_file({OLD_OMNI: {"retired": "", "retiring": "2026-01-01"}})
    call_command("veo_check")
    out = capsys.readouterr().out
    assert OLD_OMNI not in out
    assert re.search(r"Ready: \d of 4 models usable\.", out)


# --- VEO_MODEL at start-up -------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(argv, tmp_path, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environ.update(VIDEOSTUDIO_DATA_DIR=str(tmp_path / "data"), VEO_PROVIDER="emulator", **env)
    return subprocess.run(argv, cwd=ROOT, env=environ, capture_output=True, text=True, timeout=120)


COMMANDS = {
    "check": lambda: [sys.executable, "manage.py", "check"],
    "runserver": lambda: [sys.executable, "manage.py", "runserver", "--noreload", str(free_port())],
    "qcluster": lambda: [sys.executable, "manage.py", "qcluster"],
    "studio": lambda: [sys.executable, "manage.py", "studio", "--port", str(free_port())],
    "gunicorn": lambda: [
        sys.executable,
        "-m",
        "gunicorn",
        "videostudio.wsgi",
        "--preload",
        "--bind",
        f"127.0.0.1:{free_port()}",
    ],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_an_unknown_veo_model_stops_every_way_of_starting(command, tmp_path):
    result = start(COMMANDS[command](), tmp_path, VEO_MODEL="veo-9-imaginary")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert (
        "VEO_MODEL=veo-9-imaginary is not a model the catalog knows; set VEO_MODEL to one of: "
        "gemini-omni-1.2-flash, " in output
    )
    if command != "gunicorn":
        assert "Traceback" not in output


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"VEO_MODEL": "veo-3.1-fast-generate-preview", "VEO_CATALOG_FILE": ""},
            "VEO_MODEL=veo-3.1-fast-generate-preview was retired by Google on 2026-10-22; "
            "set VEO_MODEL to one of: gemini-omni-1.2-flash",
        ),
        (
            {"VEO_MODEL": "veo-3.1-fast-generate-001"},
            "VEO_MODEL=veo-3.1-fast-generate-001 is not served by the Gemini API; set VEO_MODEL",
        ),
    ],
)
def test_a_retired_or_foreign_veo_model_stops_start_up(tmp_path, env, message):
    result = start(COMMANDS["check"](), tmp_path, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_the_shipped_default_model_starts(tmp_path):
    env = {"VEO_CATALOG_FILE": ""}
    environ = {k: v for k, v in os.environ.items() if k != "VEO_MODEL"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**environ, **env, "VIDEOSTUDIO_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_the_studio_logs_which_models_the_credentials_reach(veo):
    out = StringIO()
    command = studio.Command(stdout=out)
    command._log_reachable_models()
    text = out.getvalue()
    assert "Models these credentials reach: " in text
    assert "veo-3.1-fast-generate-preview" in text.splitlines()[0]


@responses.activate
def test_the_studio_starts_anyway_when_the_models_cannot_be_asked(gemini):
    responses.get(f"{BASE}/models", status=503, json={"error": {"code": 503}})
    responses.get(f"{BASE}/models/gemini-omni-1.2-flash", status=503, json={"error": {"code": 503}})
    out = StringIO()
    studio.Command(stdout=out)._log_reachable_models()
    assert "Could not ask which models the credentials reach" in out.getvalue() or (
        "Not reachable" in out.getvalue()
    )
