"""Review and share in three real browsers on a real studio (web, worker, emulator).

The owner makes a one-shot storyboard, shares it, assembles its cut and asks for review;
a teammate plays the cut to 0:03, comments there and requests changes; the owner makes a
new take and approves it; a client opens a link to the cut in a context with no session,
plays it and comments as a guest; the owner revokes the link, and the client's next load
is a 410 that shows nothing of what it shared.
"""

import json
import re
import sqlite3

import pytest

from tests.test_studio import (
    AXE,
    PASSWORD,
    USERNAME,
    Studio,
    accessibility_problems,
    launch_chromium,
    log_in,
    studio_shell,
)

pytestmark = [pytest.mark.studio, pytest.mark.browser]

TEAMMATE, TEAMMATE_PASSWORD = "bo", "bo-long-passphrase"


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    running = Studio(tmp_path_factory.mktemp("review") / "user-data").start()
    yield running
    running.kill()


def new_page(browser):
    """A page in a context of its own (no session), with axe loaded before the page's scripts."""
    context = browser.new_context()
    context.add_init_script(path=AXE)
    return context.new_page()


def wait_for_player(page, selector, *, at_least=1):
    page.wait_for_function(
        f"() => document.querySelector({selector!r}).readyState >= {at_least}", timeout=20_000
    )


def test_a_team_reviews_a_cut_and_a_client_watches_it_until_the_link_is_revoked(studio):
    from playwright.sync_api import expect, sync_playwright

    studio_shell(
        studio,
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('{TEAMMATE}', 'bo@example.com', '{TEAMMATE_PASSWORD}')",
    )
    found = {}

    def check(page, name):
        found[name] = accessibility_problems(page)

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)

        # The owner: a shared storyboard of one four-second shot, its take, its cut.
        ana = log_in(browser, studio, USERNAME, PASSWORD, axe=True)
        ana.goto(studio.url + "/storyboards/new/")
        ana.get_by_label("Name").fill("Harbour")
        ana.get_by_label("Who can see it").select_option("shared")
        ana.get_by_role("button", name="Create storyboard").click()
        form = ana.locator("#add-shot")
        form.get_by_label("Prompt").fill("Boats rock in a harbour at dawn")
        form.get_by_label("Seconds").fill("4")
        form.get_by_role("button", name="Add shot").click()
        board_url = ana.url.split("#")[0]
        ana.locator(".shot").nth(0).get_by_role("button", name="Generate").click()
        shot = ana.locator(".shot").nth(0)
        expect(shot.locator("tr.take.status-completed")).to_have_count(1, timeout=90_000)
        shot.get_by_role("button", name="Pick").click()
        expect(ana.locator(".shot").nth(0).locator(".picked")).to_contain_text("take 1")
        ana.get_by_role("button", name="Assemble the cut").click()
        expect(ana.locator("video#cut-player")).to_be_visible(timeout=60_000)
        ana.locator("#cut").get_by_role("link", name="Review", exact=True).click()
        review_url = ana.url.split("#")[0]
        ana.get_by_role("button", name="Ask for review").click()
        expect(ana.locator("[data-review-state]").first).to_have_text("In review")
        check(ana, "review page")

        # A teammate plays the cut to 0:03, comments there and asks for changes.
        bo = log_in(browser, studio, TEAMMATE, TEAMMATE_PASSWORD, axe=True)
        bo.goto(review_url)
        wait_for_player(bo, "#review-player")
        bo.locator("#review-player").evaluate("v => { v.muted = true; v.currentTime = 3; }")
        bo.wait_for_function(
            "() => document.querySelector('#review-player').currentTime >= 3", timeout=20_000
        )
        expect(bo.locator("[data-moment-readout]")).to_contain_text("0:03")
        bo.get_by_label("Comment", exact=True).fill("The horizon tilts here, @ana")
        bo.get_by_role("button", name="Comment", exact=True).click()
        thread = bo.locator("article.thread").first
        expect(thread.locator(".moment")).to_have_text("0:03")
        expect(thread).to_contain_text("The horizon tilts here")
        check(bo, "review page with a comment")
        bo.get_by_role("button", name="Request changes").click()
        expect(bo.locator("[data-review-state]").first).to_have_text("Changes requested")
        # A plain teammate is offered no approval.
        expect(bo.get_by_role("button", name="Approve")).to_have_count(0)

        # The owner sees it, seeks to the comment from its moment, makes a new take and
        # approves that.
        ana.goto(review_url)
        expect(ana.locator("[data-review-state]").first).to_have_text("Changes requested")
        wait_for_player(ana, "#review-player")
        ana.locator("article.thread .moment").first.click()
        ana.wait_for_function(
            "() => document.querySelector('#review-player').currentTime >= 2.9", timeout=20_000
        )
        ana.goto(board_url)
        ana.locator(".shot").nth(0).get_by_role("button", name="New take").click()
        expect(ana.locator(".shot").nth(0).locator("tr.take.status-completed")).to_have_count(
            2, timeout=90_000
        )
        second = ana.locator(".shot").nth(0).locator("tr.take").nth(1)
        second.get_by_role("link", name="Review take 2").click()
        ana.get_by_role("button", name="Ask for review").click()
        ana.get_by_role("button", name="Approve").click()
        expect(ana.locator("[data-review-state]").first).to_have_text("Approved")

        # A client link to the cut: the token is shown once.
        ana.goto(review_url)
        cut_key = "cut:" + review_url.rstrip("/").split("/")[-1]
        ana.goto(f"{studio.url}/links/?target={cut_key}")
        ana.get_by_label("The client may comment").check()
        ana.get_by_role("button", name="Make link").click()
        link_url = ana.locator("#new-link").input_value()
        check(ana, "client links, a new one")
        assert "/c/" in link_url

        # The client: a context with no session plays it and comments as a guest.
        client = new_page(browser)
        opened = client.goto(link_url)
        assert opened.status == 200
        check(client, "client link")
        expect(client.get_by_role("link", name="Storyboards")).to_have_count(0)
        wait_for_player(client, "video")
        client.locator("video").first.evaluate("v => { v.muted = true; v.currentTime = 2; }")
        client.wait_for_function(
            "() => document.querySelector('video').currentTime >= 2", timeout=20_000
        )
        client.get_by_label("Your name").fill("Cleo from the agency")
        client.get_by_label("At (seconds").fill("2")
        client.get_by_role("textbox", name="Comment").fill("Love the light, keep it")
        client.get_by_role("button", name="Send").click()
        expect(client.locator("[role=alert]")).to_have_count(0)

        # The team sees the guest's comment, marked as a guest's.
        ana.goto(review_url)
        guest = ana.locator("article.thread", has_text="Love the light")
        expect(guest).to_contain_text("Cleo from the agency")
        expect(guest).to_contain_text("(guest)")
        expect(guest.locator(".moment")).to_have_text("0:02")

        # The owner revokes it; the client's next load is a 410 that reveals nothing.
        ana.goto(studio.url + "/links/")
        ana.get_by_role("button", name="Revoke").click()
        expect(ana.get_by_text("Revoked", exact=True)).to_be_visible()
        gone = client.reload()
        assert gone.status == 410
        assert "Harbour" not in client.content()
        ana.goto(studio.url + "/gallery/")
        expect(ana.locator(".gallery-card")).to_have_count(3)  # two takes and the cut
        check(ana, "gallery")
        browser.close()

    failing = {name: problems for name, problems in found.items() if problems}
    assert not failing, json.dumps(failing, indent=2)

    db = sqlite3.connect(studio.data_dir / "videostudio.sqlite3")
    states = dict(
        db.execute("SELECT state, COUNT(*) FROM video_creation_review_changes GROUP BY state")
    )
    assert states == {"in_review": 2, "changes_requested": 1, "approved": 1}
    (at_seconds,) = db.execute(
        "SELECT at_seconds FROM video_creation_comments WHERE guest_name = ''"
    ).fetchone()
    assert float(at_seconds) == pytest.approx(3, abs=0.5)
    played = [row[0] for row in db.execute("SELECT played FROM video_creation_client_link_views")]
    assert "page" in played and any(re.match(r"cut:", p) for p in played)
