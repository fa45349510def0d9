"""The review page in a real browser: a comment's moment seeks the player, and a new
comment is pinned where the player is (or to the whole video), under the studio's CSP.

Debian's Chromium through Playwright, against pytest-django's live server; the video is a
real three-second MP4 from the emulator's renderer, served through the job's video URL.
"""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from drafts.review import services
from drafts.review.models import Comment
from jobs import storage
from jobs.models import ReviewState, Visibility
from jobs.veo.emulator.media import render_mp4
from tests.factories import PASSWORD, make_job
from tests.test_studio import launch_chromium, log_in

PLAYER = "document.querySelector('#review-player')"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_moment_seeks_the_player_and_a_comment_is_pinned_where_it_is(
    live_server, user, other_user, tmp_path
):
    from playwright.sync_api import expect, sync_playwright

    clip = tmp_path / "clip.mp4"
    render_mp4(clip, prompt="review", width=320, height=180, seconds=3)
    job = make_job(
        user,
        status="completed",
        stage="done",
        completed_at=timezone.now(),
        visibility=Visibility.SHARED,
        metadata={"video": {"duration_seconds": 3.0}},
    )
    job.video_url = storage.relative_output(job.pk)
    storage.store_bytes(job.video_url, clip.read_bytes())
    job.save(update_fields=["video_url"])
    services.review_move(video=job, to_state=ReviewState.IN_REVIEW, by=user)
    services.comment_add(video=job, author=other_user, text="Look at the sky", at_seconds="2")
    url = live_server.url + reverse("review:video", args=["job", job.pk])

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, live_server, user.username, PASSWORD)
        page.wait_for_url(live_server.url + "/")
        problems = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        response = page.goto(url)
        assert "script-src" in response.headers["content-security-policy"]
        page.wait_for_function(f"() => {PLAYER}.readyState >= 1", timeout=15_000)
        # With the script, the moment is the player's: the number field makes way for it.
        expect(page.locator("#comment-at")).to_be_hidden()
        expect(page.locator("[data-moment-readout]")).to_have_text("At 0:00, where the player is")

        page.get_by_role("link", name="Play from 0:02").click()
        page.wait_for_function(
            f"() => !{PLAYER}.seeking && Math.abs({PLAYER}.currentTime - 2) < 0.05",
            timeout=5_000,
        )
        assert page.evaluate(f"() => {PLAYER}.paused")
        expect(page.locator("[data-moment-readout]")).to_have_text("At 0:02, where the player is")
        page.screenshot(path=str(tmp_path / "review.png"), full_page=True)

        page.get_by_label("Comment", exact=True).fill("The gull comes in late")
        page.get_by_role("button", name="Comment", exact=True).click()
        page.wait_for_url(f"{url}#comment-*")
        pinned = page.url.rsplit("#comment-", 1)[1]
        expect(page.locator(f"#comment-{pinned} .moment")).to_have_text("0:02")

        page.get_by_label("Comment", exact=True).fill("Lovely overall")
        page.get_by_label("The whole video").check()
        expect(page.locator("[data-moment-readout]")).to_have_text("On the whole video")
        page.get_by_role("button", name="Comment", exact=True).click()
        page.wait_for_url(lambda now: now != f"{url}#comment-{pinned}" and "#comment-" in now)
        whole = page.url.rsplit("#comment-", 1)[1]
        expect(page.locator(f"#comment-{whole} .moment")).to_have_text("The whole video")
        browser.close()
    assert problems == []
    # The database, read once the browser (and its event loop) is gone.
    comments = {c.text: c for c in Comment.objects.filter(pk__in=[pinned, whole])}
    assert abs(comments["The gull comes in late"].at_seconds - Decimal(2)) < Decimal("0.05")
    assert comments["Lovely overall"].at_seconds is None
