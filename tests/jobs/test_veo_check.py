"""`manage.py veo_check` tells which models the credentials can use, and why not."""

import re

import pytest
import responses
from django.core.management import CommandError, call_command

BASE = "https://generativelanguage.googleapis.com/v1beta"


def test_lists_the_emulators_models_as_usable(veo, capsys):
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
