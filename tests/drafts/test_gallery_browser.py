"""The gallery in a real browser: a card's preview plays under the pointer, and compare.

Debian's Chromium through Playwright, against pytest-django's live server with the studio's
Content-Security-Policy; the videos are real MP4s from the emulator's renderer, served
through each job's video URL.
"""

import pytest
from django.urls import reverse

from jobs import storage
from jobs.veo.emulator.media import render_mp4
from tests.factories import PASSWORD, make_job
from tests.test_studio import launch_chromium, log_in

PREVIEW = "document.querySelector('#{card} video[data-gallery-preview]')"


def finished(owner, tmp_path, prompt):
    """Save a completed job of owner's whose video is a real 3-second MP4."""
    path = tmp_path / f"{len(prompt)}-{prompt[:8]}.mp4"
    render_mp4(path, prompt=prompt, width=320, height=180, seconds=3)
    job = make_job(owner, prompt_text=prompt, status="completed", stage="done", progress=100)
    job.video_url = storage.relative_output(job.pk)
    storage.store_bytes(job.video_url, path.read_bytes())
    job.save(update_fields=["video_url"])
    return job


# Serialized, as the other tests with a real server (see test_compare_browser.py).
@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_preview_plays_under_the_pointer_and_two_ticked_videos_compare(
    live_server, user, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    first = finished(user, tmp_path, "A lighthouse at dusk")
    second = finished(user, tmp_path, "A lighthouse at dawn")

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, live_server, user.username, PASSWORD)
        page.wait_for_url(live_server.url + "/")
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        response = page.goto(live_server.url + reverse("gallery:index"))
        assert "script-src" in response.headers["content-security-policy"]
        cards = page.locator("[data-gallery-card]")
        expect(cards).to_have_count(2)
        card = cards.first
        video = card.locator("video[data-gallery-preview]")
        assert video.evaluate("v => v.paused && v.readyState === 0")  # nothing loaded yet

        card.hover()
        page.wait_for_function(
            "v => !v.paused && v.currentTime > 0.2", arg=video.element_handle(), timeout=10_000
        )
        page.mouse.move(0, 0)
        page.wait_for_function(
            "v => v.paused && v.currentTime === 0", arg=video.element_handle(), timeout=2_000
        )

        for job in (first, second):
            page.locator(f'input[name="v"][value="job:{job.pk}"]').check()
        page.get_by_role("button", name="Compare").click()
        page.wait_for_url("**/gallery/compare/**")
        expect(page.locator("video[data-compare-video]")).to_have_count(2)
        expect(page.locator("mark")).to_have_count(2)  # dusk, dawn
        assert problems == []
