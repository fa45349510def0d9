"""`manage.py studio` as a new user runs it: real processes, a real browser, real files.

One studio is started per module on a fresh data dir; the browser test drives it like
a person would, and the stop tests check that Ctrl-C (SIGINT to the whole process
group) and SIGTERM to the main process each leave no process behind.
"""

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from jobs.watchdog import descendants

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
USERNAME, PASSWORD = "director", "correct-horse-battery-staple"
# The model the extend test chooses in the form: Omni, the Gemini default a new key gets,
# over the emulator's Interactions dialect (empty: the form's default).
EXTEND_MODEL = "gemini-omni-1.2-flash"

pytestmark = pytest.mark.studio


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class Studio:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"studio-{self.port}.log"
        self.env = {
            **os.environ,
            "VIDEOSTUDIO_DATA_DIR": str(data_dir),
            "PORT": str(self.port),
            "VEO_PROVIDER": "emulator",
            "VEO_EMULATOR_PORT": str(free_port()),
            "VEO_EMULATOR_LATENCY": "3",
            "VEO_POLL_INTERVAL": "0.5",
            "DJANGO_SUPERUSER_USERNAME": USERNAME,
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
            "WEB_CONCURRENCY": "2",
        }
        for name in ("DATABASE_URL", "REDIS_URL", "VEO_API_BASE_URL", "GEMINI_API_KEY"):
            self.env.pop(name, None)

    def start(self):
        self.output = open(self.log, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "studio"],
            cwd=ROOT,
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, as a terminal gives it
        )
        deadline = time.monotonic() + 60
        while "Video Studio is running at" not in self.log.read_text():
            assert self.process.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)
        return self

    def stop(self, how):
        children = descendants(self.process.pid)
        assert len(children) >= 3, "web, worker and emulator should be running"
        if how == "ctrl-c":
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        self.process.wait(timeout=30)
        took = time.monotonic() - started
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.output.close()
        return took, [pid for pid in children if alive(pid)]

    def kill(self):
        if self.process.poll() is None:
            for pid in descendants(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    running = Studio(tmp_path_factory.mktemp("studio") / "user-data").start()
    yield running
    running.kill()


def launch_chromium(playwright):
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
        ],
    )


@pytest.mark.browser
def test_a_new_user_logs_in_submits_a_prompt_and_plays_the_video(studio):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page()
        page.goto(studio.url + "/")
        expect(page).to_have_url(f"{studio.url}/accounts/login/?next=/")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()

        page.get_by_label("Prompt", exact=True).fill("A paper lantern drifting over a night river")
        page.get_by_label("Duration").select_option("4")
        page.get_by_role("button", name="Generate video").click()

        expect(page.locator("#job-progress")).to_be_visible()
        progress_seen = page.locator("[data-progress]").inner_text()
        video = page.locator("video#job-video")
        expect(video).to_be_visible(timeout=60_000)
        page.wait_for_function(
            "() => document.querySelector('video#job-video').readyState >= 1", timeout=20_000
        )
        duration = video.evaluate("v => v.duration")
        poster = video.get_attribute("poster")
        # The final poll swaps the resources list in beside the status, out of band.
        resources_shown = page.locator("#job-resources li").all_inner_texts()
        job_url = page.url
        browser.close()

    assert progress_seen.endswith("%")
    assert 3.5 < duration < 4.5
    assert poster and "/resources/" in poster
    job_id = job_url.rstrip("/").rsplit("/", 1)[1]
    db = sqlite3.connect(studio.data_dir / "videostudio.sqlite3")
    status, progress, video_url = db.execute(
        "SELECT status, progress, video_url FROM video_creation_jobs WHERE id = ?", [job_id]
    ).fetchone()
    assert (status, progress, video_url) == ("completed", 100, f"videos/{job_id}/output.mp4")
    resources = dict(
        db.execute(
            "SELECT filename, file_path FROM video_resources WHERE job_id = ?", [job_id]
        ).fetchall()
    )
    # The transcript follows in a task of its own, so it may or may not be there yet.
    transcript = {"transcript.vtt", "transcript.txt"}
    assert set(resources) - transcript == {"poster.jpg", "audio.m4a"}
    shown = {text.split()[0] for text in resources_shown}
    assert shown - transcript == {"audio.m4a", "poster.jpg"}
    file_path = resources["poster.jpg"]
    job_dir = studio.data_dir / "videos" / job_id
    assert (job_dir / "output.mp4").stat().st_size > 10_000
    assert (studio.data_dir / file_path).is_file()
    assert json.loads((job_dir / "metadata.json").read_text())["status"] == "completed"


def studio_shell(studio, code):
    """Run Python in the studio's Django, as `manage.py shell -c` on its data dir."""
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=studio.env,
        check=True,
        capture_output=True,
    )


def log_in(browser, studio, username, password, *, axe=False):
    """Log in in a new context of its own; with axe, axe-core loads before the page's scripts."""
    context = browser.new_context()
    if axe:
        context.add_init_script(path=AXE)
    page = context.new_page()
    page.goto(studio.url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    return page


@pytest.mark.browser
def test_two_teammates_share_a_draft_run_it_as_a_batch_and_download_it(studio):
    from playwright.sync_api import expect, sync_playwright

    studio_shell(
        studio,
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('bo', 'bo@example.com', 'bo-long-passphrase')",
    )
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)

        # The director builds a draft with a placeholder and shares it.
        ana = log_in(browser, studio, USERNAME, PASSWORD)
        ana.get_by_role("link", name="Drafts").click()
        ana.get_by_role("link", name="New draft").click()
        ana.get_by_label("Name").fill("Harbour shots")
        ana.get_by_label("Prompt 1", exact=True).fill("Boats at dawn in {{city}}")
        ana.get_by_role("button", name="Add a prompt").click()
        ana.get_by_label("Prompt 2", exact=True).fill("Gulls over {{city}}")
        ana.get_by_role("button", name="Move prompt 2 up").click()
        expect(ana.get_by_label("Prompt 1", exact=True)).to_have_value("Gulls over {{city}}")
        ana.get_by_label("Who can see it").select_option("shared")
        ana.get_by_role("button", name="Save").click()
        expect(ana.get_by_role("heading", name="Harbour shots")).to_be_visible()
        original_url = ana.url

        # A teammate duplicates it and runs the copy over two rows of values.
        bo = log_in(browser, studio, "bo", "bo-long-passphrase")
        bo.goto(studio.url + "/drafts/?tab=shared")
        bo.get_by_role("link", name="Harbour shots").click()
        bo.get_by_role("button", name="Duplicate into my library").click()
        expect(bo.get_by_role("heading", name="Copy of Harbour shots")).to_be_visible()
        bo.get_by_role("link", name="Run as a batch…").click()
        bo.get_by_label("Duration").select_option("4")
        bo.get_by_label("Values for {{placeholders}} (CSV)").fill("city\nPorto\nNaples")
        bo.get_by_role("button", name="Review the batch").click()
        expect(bo.get_by_role("heading", name="Start 4 jobs?")).to_be_visible()
        expect(bo.get_by_text("Gulls over Naples")).to_be_visible()
        bo.get_by_role("button", name="Start 4 jobs").click()
        expect(bo.locator("#batch-progress")).to_be_visible()
        # Scoped to the summary: a "Batch finished" toast may appear beside it.
        expect(bo.locator("#batch-summary .progress-label")).to_contain_text(
            "Finished", timeout=120_000
        )
        expect(bo.locator("[data-count=completed]")).to_have_text("4")
        # Each card polled its status alone, then its last poll swapped the whole card.
        cards = bo.locator("article.job-card.status-completed")
        expect(cards).to_have_count(4)
        expect(cards.locator(".thumb img")).to_have_count(4)
        expect(bo.locator(".job-card-status[hx-get]")).to_have_count(0)
        expect(bo.locator("article.job-card")).to_have_count(4)  # replaced, not nested
        with bo.expect_download() as download:
            bo.get_by_role("link", name="Download 4 videos (ZIP)").click()
        archive = zipfile.ZipFile(download.value.path())
        assert len(archive.namelist()) == 4 and archive.testzip() is None

        # Neither can change the other's draft.
        response = bo.goto(original_url + "edit/")
        assert response.status == 403
        copy_url = bo.url.split("/batches/")[0]
        browser.close()

    db = sqlite3.connect(studio.data_dir / "videostudio.sqlite3")
    rows = db.execute(
        "SELECT j.prompt_text, j.prompt_id, v.prompts, d.name, v.number "
        "FROM video_creation_jobs j JOIN video_creation_draft_versions v ON v.id = j.draft_version_id "
        "JOIN video_creation_drafts d ON d.id = j.draft_id WHERE j.batch_id IS NOT NULL"
    ).fetchall()
    assert len(rows) == 4 and copy_url
    for text, prompt_id, prompts, name, number in rows:
        source = next(p for p in json.loads(prompts) if p["id"] == prompt_id)
        assert text == source["text"].replace("{{city}}", text.rsplit(" ", 1)[1])
        assert (name, number) == ("Copy of Harbour shots", 1)
    assert db.execute(
        "SELECT version FROM video_creation_drafts WHERE name = 'Harbour shots'"
    ).fetchone() == (1,)


@pytest.mark.browser
def test_a_save_clicked_while_the_editor_waits_for_an_answer_is_not_lost(studio):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, studio, USERNAME, PASSWORD)
        page.goto(studio.url + "/drafts/new/")
        page.get_by_label("Name").fill("Held answer")
        page.get_by_label("Prompt 1", exact=True).fill("A tram in the rain")
        held = []
        page.route("**/drafts/new/", lambda route: held.append(route))
        page.get_by_role("button", name="Edit as raw JSON").click()
        # htmx drops a request sent while one is out: the editor says so by disabling.
        expect(page.get_by_role("button", name="Save")).to_be_disabled()
        for _ in range(100):
            if held:
                break
            page.wait_for_timeout(50)
        held[0].continue_()
        page.unroute("**/drafts/new/")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="Held answer")).to_be_visible()
        browser.close()


@pytest.mark.browser
def test_usage_page_reads_at_a_glance(studio):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, studio, USERNAME, PASSWORD)
        page.get_by_role("link", name="Usage").click()
        expect(page.get_by_role("heading", name="Usage")).to_be_visible()
        # The director's one 4 s job at $0.10 a second.
        expect(page.locator(".totals", has_text="Billed")).to_contain_text("$0.40")
        bars = page.locator("svg rect.billed")
        assert bars.count() >= 1
        assert float(bars.first.get_attribute("height")) > 0
        page.get_by_label("Whose").select_option("team")
        page.get_by_role("button", name="Show").click()
        expect(page.get_by_role("heading", name="Usage of the whole team")).to_be_visible()
        expect(page.locator("table").first).to_contain_text("bo")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download CSV").click()
        assert download.value.suggested_filename.startswith("usage-team-")
        browser.close()


AXE = ROOT / "tests" / "vendor" / "axe.min.js"
# The rule ids axe reports for what a person with a screen reader or low vision meets at once.
BLOCKING = ("serious", "critical")
DANGLING_DESCRIPTIONS = """() => [...document.querySelectorAll("[aria-describedby]")].flatMap(
  element => element.getAttribute("aria-describedby").split(/\\s+/)
    .filter(id => id && !document.getElementById(id))
    .map(id => `${element.name || element.id}: #${id}`))"""


def accessibility_problems(page):
    """Return what axe-core finds serious or critical on the page, and dangling descriptions."""
    page.wait_for_load_state("networkidle")
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    problems = [
        f"{violation['id']} ({violation['impact']}): {violation['help']}: "
        + ", ".join(str(node["target"]) for node in violation["nodes"])
        for violation in result["violations"]
        if violation["impact"] in BLOCKING
    ]
    problems += [
        f"aria-describedby names no element: {dangling}"
        for dangling in page.evaluate(DANGLING_DESCRIPTIONS)
    ]
    return problems


@pytest.mark.browser
def test_every_page_passes_axe_without_serious_or_critical_violations(studio):
    from playwright.sync_api import expect, sync_playwright

    found = {}

    def check(page, name):
        found[name] = accessibility_problems(page)

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        context = browser.new_context()
        # An init script runs before the page's own and is not subject to its CSP.
        context.add_init_script(path=AXE)
        page = context.new_page()
        page.goto(studio.url + "/accounts/login/")
        check(page, "login")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
        check(page, "login, refused")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="New video")).to_be_visible()
        check(page, "job list")

        page.get_by_role("button", name="Generate video").click()
        expect(page.locator(".has-error").first).to_be_visible()
        check(page, "job list, form with errors")

        page.get_by_label("Prompt", exact=True).fill("A kite over dunes [fault=safety]")
        page.get_by_label("Duration").select_option("4")
        page.get_by_role("button", name="Generate video").click()
        expect(page.locator("#job-progress")).to_be_visible()
        check(page, "job detail, running")
        expect(page.locator("#job-status .badge")).to_have_text("Failed", timeout=60_000)
        check(page, "job detail, failed")

        page.goto(studio.url + "/")
        page.get_by_label("Prompt", exact=True).fill("A lighthouse beam sweeping fog")
        page.get_by_label("Duration").select_option("4")
        page.get_by_role("button", name="Generate video").click()
        expect(page.locator("video#job-video")).to_be_visible(timeout=60_000)
        check(page, "job detail, completed")
        page.goto(studio.url + "/")
        check(page, "job list, with finished jobs")

        page.get_by_role("link", name="Drafts").click()
        check(page, "drafts library")
        page.get_by_label("Search by name or prompt text").fill("Harbour")
        expect(page).to_have_url(re.compile(r"q=Harbour"))
        check(page, "drafts library, searched")
        page.get_by_role("link", name="New draft").click()
        check(page, "draft new")
        page.get_by_role("button", name="Save").click()
        expect(page.locator(".has-error").first).to_be_visible()
        check(page, "draft new, with errors")
        page.get_by_label("Name").fill("Lighthouses")
        page.get_by_label("Prompt 1", exact=True).fill("A lighthouse at {{hour}}")
        page.get_by_role("button", name="Edit as raw JSON").click()
        expect(page.get_by_label(re.compile("Prompts as JSON"))).to_be_visible()
        check(page, "draft new, as JSON")
        page.get_by_role("button", name="Back to the prompt list").click()
        expect(page.get_by_label("Prompt 1", exact=True)).to_have_value("A lighthouse at {{hour}}")
        page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", name="Lighthouses")).to_be_visible()
        check(page, "draft detail")
        page.get_by_role("link", name="Edit").click()
        check(page, "draft edit")
        page.get_by_role("link", name="← Lighthouses").click()
        page.get_by_role("link", name="Run as a batch…").click()
        check(page, "draft run")
        page.get_by_label("Duration").select_option("4")
        page.get_by_label("Values for {{placeholders}} (CSV)").fill("hour\ndusk")
        page.get_by_role("button", name="Review the batch").click()
        expect(page.get_by_role("heading", name="Start 1 job?")).to_be_visible()
        check(page, "draft run, confirm")
        page.get_by_role("button", name="Start 1 job").click()
        expect(page.locator("#batch-progress")).to_be_visible()
        check(page, "batch, running")
        expect(page.locator("#batch-summary .progress-label")).to_contain_text(
            "Finished", timeout=120_000
        )
        check(page, "batch, finished")
        page.get_by_role("link", name="Batches").first.click()
        check(page, "batches")

        page.get_by_role("link", name="Usage").click()
        check(page, "usage")
        page.get_by_role("link", name="API tokens").click()
        check(page, "tokens")
        page.get_by_label("Name").fill("ci")
        page.get_by_role("button", name="Make token").click()
        expect(page.get_by_label(re.compile("Your new token"))).to_be_visible()
        check(page, "tokens, new token shown")
        browser.close()

    failing = {name: problems for name, problems in found.items() if problems}
    assert not failing, json.dumps(failing, indent=2)


@pytest.mark.browser
def test_a_list_of_twenty_live_cards_polls_once_every_two_seconds_and_stops_at_the_end(studio):
    from playwright.sync_api import expect, sync_playwright

    # Cy's own jobs, so that the director's usage stays as the tests above left it. Ten
    # run at once (VEO_MAX_IN_FLIGHT) and ten wait: twenty live cards for a while.
    studio_shell(
        studio,
        "from django.contrib.auth.models import User; from jobs import services; "
        "cy = User.objects.create_user('cy', 'cy@example.com', 'cy-long-passphrase'); "
        "[services.job_create(owner=cy, prompt_text=f'[latency=15] Card {n}', "
        "model='veo-3.1-fast-generate-preview', "
        "options={'aspect_ratio': '16:9', 'resolution': '720p', 'duration_seconds': 4}) "
        "for n in range(20)]",
    )
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, studio, "cy", "cy-long-passphrase")
        expect(page.get_by_role("heading", name="Jobs")).to_be_visible()
        polls = []  # (seconds since the page loaded, path) of every htmx request
        page.on(
            "request",
            lambda request: (
                request.headers.get("hx-request")
                and polls.append((time.monotonic(), request.url.removeprefix(studio.url)))
            ),
        )
        cards = page.locator("article.job-card")
        expect(cards).to_have_count(20)
        live = page.locator("article.job-card:not(.status-completed):not(.status-failed)")
        assert live.count() == 20
        expect(page.locator(".job-card-status[hx-get]")).to_have_count(0)
        expect(page.locator("#card-poller")).to_have_count(1)

        started = time.monotonic()
        page.wait_for_timeout(5_000)
        window = [path for at, path in polls if started <= at <= started + 5]
        assert all(path.startswith(("/jobs/changes/", "/notices/")) for path in window), window
        changes = [path for path in window if path.startswith("/jobs/changes/")]
        assert 2 <= len(changes) <= 3, window  # one request every 2 s, not twenty
        assert live.count() == 20  # all twenty were live through the window
        print(f"list polls in 5 s with 20 live cards: {len(changes)}")

        # The cards follow their jobs without a reload, to the last poster.
        expect(page.locator("article.job-card.status-completed")).not_to_have_count(
            0, timeout=60_000
        )
        expect(page.locator("article.job-card.status-completed")).to_have_count(20, timeout=120_000)
        expect(page.locator("article.job-card .thumb img")).to_have_count(20)
        expect(cards).to_have_count(20)  # replaced, not nested
        expect(page.locator("#card-poller")).to_have_count(0)
        ended = time.monotonic()
        page.wait_for_timeout(5_000)
        late = [path for at, path in polls if at > ended and path.startswith("/jobs/changes/")]
        assert late == []
        browser.close()


@pytest.mark.browser
def test_a_person_extends_a_finished_job_and_plays_the_child(studio):
    """Issue 15: Extend on a finished job's page makes a linked child that plays, with captions."""
    from playwright.sync_api import expect, sync_playwright

    studio_shell(
        studio,
        "from django.contrib.auth.models import User; "
        "User.objects.create_user('dee', 'dee@example.com', 'dee-long-passphrase')",
    )
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, studio, "dee", "dee-long-passphrase")
        if EXTEND_MODEL:
            page.get_by_label("Model").select_option(EXTEND_MODEL)
        page.get_by_label("Prompt", exact=True).fill("A heron standing still in the reeds")
        page.get_by_role("button", name="Generate video").click()
        expect(page.locator("video#job-video")).to_be_visible(timeout=60_000)
        parent_path = page.url.removeprefix(studio.url)

        # The finished job offers Extend; the child links back to it.
        page.get_by_label("What happens next (optional)").fill("The heron takes off over the lake")
        page.get_by_role("button", name="Extend this video").click()
        expect(page.locator("#job-parent")).to_have_attribute("href", parent_path)
        expect(page.locator("#job-chain")).to_contain_text("s left to extend")
        child_path = page.url.removeprefix(studio.url)
        assert child_path != parent_path

        video = page.locator("video#job-video")
        expect(video).to_be_visible(timeout=90_000)
        # The captions come from a transcription after the video is done: the page has
        # its track once they are written.
        captions = page.locator('video#job-video track[kind="captions"]')
        deadline = time.monotonic() + 60
        while not captions.count() and time.monotonic() < deadline:
            page.wait_for_timeout(1_000)
            page.reload()
        expect(captions).to_have_count(1)
        page.wait_for_function(
            "() => document.querySelector('video#job-video').readyState >= 2", timeout=20_000
        )
        video.evaluate("v => { v.muted = true; return v.play(); }")
        page.wait_for_function(
            "() => document.querySelector('video#job-video').currentTime > 0.5", timeout=20_000
        )
        page.wait_for_function(
            "() => { const t = document.querySelector('video#job-video').textTracks[0];"
            " return t && t.cues && t.cues.length > 0; }",
            timeout=20_000,
        )
        played = video.evaluate("v => v.currentTime")
        cues = video.evaluate("v => v.textTracks[0].cues.length")

        # The parent's page lists its child.
        page.goto(studio.url + parent_path)
        expect(page.locator("#job-children")).to_contain_text("The heron takes off over the lake")
        expect(page.locator(f'#job-children a[href="{child_path}"]')).to_have_count(1)
        browser.close()

    assert played > 0.5 and cues > 0
    child_id = child_path.rstrip("/").rsplit("/", 1)[1]
    parent_id = parent_path.rstrip("/").rsplit("/", 1)[1]
    db = sqlite3.connect(studio.data_dir / "videostudio.sqlite3")
    row = db.execute(
        "SELECT task, parent_id, status, model, operation_name FROM video_creation_jobs"
        " WHERE id = ?",
        [child_id],
    ).fetchone()
    assert row[:4] == ("extend", parent_id, "completed", EXTEND_MODEL)
    assert row[4].startswith("v1_")  # an interaction's id, not a Veo operation's name


def test_ctrl_c_stops_every_process_within_seconds(studio):
    took, left = studio.stop("ctrl-c")
    assert left == []
    assert took < 12
    assert studio.process.returncode == 0
    assert "Video Studio stopped." in studio.log.read_text()


def test_second_run_reuses_the_data_dir_and_stops_on_sigterm(studio):
    again = Studio(studio.data_dir)
    again.start()
    try:
        log = again.log.read_text()
        assert "Log in with an existing account." in log
        assert "Created the first user" not in log
        took, left = again.stop("sigterm")
    finally:
        again.kill()
    assert left == []
    assert took < 12
    assert again.process.returncode == 0


def test_unusable_data_dir_is_refused_with_a_clear_message(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {**os.environ, "VIDEOSTUDIO_DATA_DIR": str(blocker / "data")}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "studio"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "cannot be used" in result.stderr
    assert "VIDEOSTUDIO_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "Configuration error: DEBUG must be true or false, not 'maybe'."),
        ({"VEO_PROVIDER": "sora"}, "VEO_PROVIDER must be one of emulator, gemini, vertex"),
        ({"VEO_PROVIDER": "gemini"}, "GEMINI_API_KEY must be set."),
        (
            {"DATABASE_URL": "sqlite:////nonexistent/dir/db.sqlite3"},
            "Cannot open the database /nonexistent/dir/db.sqlite3",
        ),
    ],
)
def test_bad_configuration_stops_start_up_with_the_variable_named(tmp_path, env, message):
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GEMINI_API_KEY")}
    result = subprocess.run(
        [sys.executable, "manage.py", "studio", "--port", str(free_port())],
        cwd=ROOT,
        env={**base, "VIDEOSTUDIO_DATA_DIR": str(tmp_path / "data"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
