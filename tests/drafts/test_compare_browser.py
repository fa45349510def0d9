"""The compare page in a real browser: two takes' players started, paused and scrubbed together.

Debian's Chromium through Playwright, against pytest-django's live server with the studio's
Content-Security-Policy; the takes are real MP4s of different lengths (3 s and 2 s) from
the emulator's renderer, served through the take's video URL with Range.
"""

import pytest
from django.urls import reverse

from drafts.storyboards import services
from jobs.veo.emulator.media import render_mp4
from tests.drafts.test_compare_view import completed_take
from tests.factories import MODEL, PASSWORD
from tests.test_studio import launch_chromium, log_in

# Every player's state, read in the page: where it is, whether it runs.
PLAYERS = "() => Array.from(document.querySelectorAll('video[data-compare-video]'))"
READY = PLAYERS + ".every(v => v.readyState >= 1 && v.duration > 0)"
ALL_PLAYING = PLAYERS + ".every(v => !v.paused && v.currentTime > 0.4)"
# Paused by the button, not stopped by reaching the end (the short take ends at 2 s).
ALL_PAUSED = PLAYERS + ".every(v => v.paused && !v.ended)"
TIMES = PLAYERS + ".map(v => v.currentTime)"


def at(seconds, tolerance=0.05):
    """Return a page function true once every player has landed within tolerance of seconds."""
    return PLAYERS + f".every(v => !v.seeking && Math.abs(v.currentTime - {seconds}) < {tolerance})"


def clip(tmp_path, name, seconds):
    path = tmp_path / f"{name}.mp4"
    render_mp4(path, prompt=name, width=320, height=180, seconds=seconds)
    return path.read_bytes()


# Serialized, as the other tests with a real server: a plain flush would re-create the
# content types that later serialized tests restore, and their restore would collide.
@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_players_play_pause_and_scrub_together(live_server, user, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    board = services.storyboard_create(owner=user, name="The lighthouse", model=MODEL)
    shot = services.shot_add(
        storyboard=board, author=user, prompt="A lighthouse at dusk", duration_seconds=4
    )
    long = completed_take(
        shot, user, 1, video=clip(tmp_path, "long", 3), prompt="A lighthouse at dusk"
    )
    short = completed_take(
        shot, user, 2, video=clip(tmp_path, "short", 2), prompt="A lighthouse at dawn"
    )
    page_url = (
        live_server.url
        + reverse("storyboards:compare", args=[board.pk, shot.pk])
        + f"?takes={long.pk}&takes={short.pk}"
    )

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, live_server, user.username, PASSWORD)
        page.wait_for_url(live_server.url + "/")
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        response = page.goto(page_url)
        assert "script-src" in response.headers["content-security-policy"]
        page.wait_for_function(READY, timeout=15_000)
        expect(page.locator("mark")).to_have_count(2)

        # One Play starts both.
        page.get_by_role("button", name="Play").click()
        page.wait_for_function(ALL_PLAYING, timeout=10_000)
        assert all(t > 0 for t in page.evaluate(TIMES))

        # One Pause stops both, and they stay where they are.
        page.get_by_role("button", name="Pause").click()
        page.wait_for_function(ALL_PAUSED, timeout=1_000)
        stopped = page.evaluate(TIMES)
        page.wait_for_timeout(300)
        assert page.evaluate(TIMES) == stopped
        expect(page.get_by_role("button", name="Play")).to_be_visible()

        # Scrubbing seeks both to the same time.
        page.get_by_label("Position").fill("1.5")
        page.wait_for_function(at(1.5), timeout=5_000)
        expect(page.locator("[data-compare-time]")).to_have_text("1.5 s of 3.0 s")

        # Scrubbed past the short take's end, it waits on its last frame, and its seek
        # (clamped to 2 s) does not pull the long one back.
        page.get_by_label("Position").fill("2.5")
        clamped = (
            "() => { const [long, short] = document.querySelectorAll('video');"
            " return !long.seeking && !short.seeking && Math.abs(long.currentTime - 2.5) < 0.05"
            " && short.currentTime >= short.duration - 0.05; }"
        )
        page.wait_for_function(clamped, timeout=5_000)
        page.wait_for_timeout(300)
        assert page.evaluate(clamped)

        # Played from 1.5 s, the short take stops at its end and the long one plays on.
        page.get_by_label("Position").fill("1.5")
        page.wait_for_function(at(1.5), timeout=5_000)
        page.get_by_role("button", name="Play").click()
        page.wait_for_function(
            "() => { const [long, short] = document.querySelectorAll('video');"
            " return short.ended && !long.paused && long.currentTime > 2.3; }",
            timeout=5_000,
        )
        page.get_by_role("button", name="Pause").click()
        page.wait_for_function("() => document.querySelectorAll('video')[0].paused", timeout=1_000)

        # A player's own controls lead the others: a seek on one moves both.
        page.evaluate("document.querySelectorAll('video')[1].currentTime = 0.5")
        page.wait_for_function(at(0.5), timeout=5_000)
        browser.close()

    assert not problems, problems
