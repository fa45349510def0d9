"""The API against a live studio (gunicorn, worker, emulator), as an outsider meets it.

A fuzzer (schemathesis) reads /api/openapi.json and sends every operation positive and
negative data with a real token, checking that nothing is a server error and that every
answer's status and body are the ones the document declares. A browser opens /api/docs
under the studio's Content-Security-Policy and sees the operations.
"""

import json
import subprocess
import sys
import time

import pytest

from tests.test_studio import PASSWORD, ROOT, USERNAME, Studio, launch_chromium, log_in

pytestmark = pytest.mark.studio
# Enough examples per operation to try each field wrong, few enough for 2 cores.
MAX_EXAMPLES = 25
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    running = Studio(tmp_path_factory.mktemp("studio") / "user-data").start()
    yield running
    running.kill()


@pytest.fixture(scope="module")
def token(studio):
    """A read-and-write token for the studio's first user, made as the tokens page does."""
    code = (
        "from django.contrib.auth import get_user_model; from jobs.api import tokens; "
        f"print(tokens.token_create(user=get_user_model().objects.get(username={USERNAME!r}),"
        " name='fuzzer')[1])"
    )
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=studio.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


@pytest.mark.fuzz
def test_the_fuzzer_finds_nothing_on_any_operation(studio, token, tmp_path):
    report = tmp_path / "report.json"
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{studio.url}/api/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--mode",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workers",
            "2",
            "--seed",
            "16",
            "--generation-deterministic",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
        ],
        cwd=tmp_path,  # schemathesis keeps its cache in the working directory
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert took < 180, f"the fuzzer took {took:.0f} s"
    assert report.exists()


@pytest.mark.browser
def test_the_docs_page_shows_every_operation_under_the_csp(studio):
    from playwright.sync_api import sync_playwright

    document = json.loads(_get(studio.url + "/api/openapi.json"))
    count = sum(len(methods) for methods in document["paths"].values())
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, studio, USERNAME, PASSWORD)
        page.wait_for_url(studio.url + "/")
        problems = []
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        response = page.goto(studio.url + "/api/docs")
        assert "script-src" in response.headers["content-security-policy"]
        page.locator(".opblock").first.wait_for(timeout=30_000)
        assert page.locator(".opblock").count() == count
        assert page.get_by_text("/api/video-creation/jobs/{job_id}/cancel").count() >= 1
        browser.close()
    assert not [p for p in problems if "Content Security Policy" in p or "CSP" in p], problems
    assert not problems, problems
    assert all(url.startswith(studio.url) for url in requests), requests


def _get(url):
    from urllib.request import urlopen

    with urlopen(url, timeout=10) as response:
        return response.read()
