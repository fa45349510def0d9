"""A storyboard made in two real browsers on a real studio (web, worker, emulator).

The director builds a three-shot storyboard (shot 2 continues from shot 1's last frame)
and shares it; a teammate adds a second take of shot 1, compares the two and picks one;
the director generates the rest in one confirmed run, picks, trims and assembles the
cut, and plays it; its length is the sum of the picked, trimmed takes (read with PyAV).
"""

import json
import sqlite3

import av
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
    running = Studio(tmp_path_factory.mktemp("storyboard") / "user-data").start()
    yield running
    running.kill()


def add_shot(page, prompt, *, task=None):
    form = page.locator("#add-shot")
    form.get_by_label("Prompt").fill(prompt)
    if task:
        form.get_by_label("How it starts").select_option(task)
    form.get_by_label("Seconds").fill("4")
    form.get_by_role("button", name="Add shot").click()


def test_two_teammates_build_a_storyboard_pick_takes_and_play_the_cut(studio):
    from playwright.sync_api import expect, sync_playwright

    studio_shell(
        studio,
        "from django.contrib.auth.models import User; "
        f"User.objects.create_user('{TEAMMATE}', 'bo@example.com', '{TEAMMATE_PASSWORD}')",
    )
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)

        # The director builds the storyboard and shares it with the team; each page she
        # sees is checked with axe (no serious or critical violations).
        found = {}

        def check(page, name):
            found[name] = accessibility_problems(page)

        context = browser.new_context()
        context.add_init_script(path=AXE)  # before the page's own scripts, beside its CSP
        ana = context.new_page()
        ana.goto(studio.url + "/accounts/login/")
        ana.get_by_label("Username").fill(USERNAME)
        ana.get_by_label("Password").fill(PASSWORD)
        ana.get_by_role("button", name="Log in").click()
        ana.get_by_role("link", name="Storyboards").click()
        check(ana, "storyboards")
        ana.get_by_role("link", name="New storyboard").click()
        check(ana, "new storyboard")
        ana.get_by_label("Name").fill("Lighthouse")
        ana.get_by_label("Who can see it").select_option("shared")
        ana.get_by_role("button", name="Create storyboard").click()
        expect(ana.get_by_role("heading", name="Lighthouse")).to_be_visible()
        check(ana, "empty storyboard")
        add_shot(ana, "A lighthouse at dusk, waves below")
        add_shot(ana, "The lamp starts to turn", task="continue_frame")
        add_shot(ana, "Gulls circle the tower")
        shots = ana.locator(".shot")
        expect(shots).to_have_count(3)
        expect(shots.nth(1)).to_contain_text("Continue from the previous shot's last frame")
        board_url = ana.url.split("#")[0]
        shots.nth(0).get_by_role("button", name="Generate").click()
        check(ana, "storyboard, a take running")

        # A teammate opens the shared storyboard and adds a second take of shot 1.
        bo = log_in(browser, studio, TEAMMATE, TEAMMATE_PASSWORD)
        bo.goto(studio.url + "/storyboards/")
        bo.get_by_role("link", name="Lighthouse").click()
        first = bo.locator(".shot").nth(0)
        first.get_by_role("button", name="New take").click()
        first = bo.locator(".shot").nth(0)
        # The board polls once for the page and swaps in the finished takes.
        expect(first.locator("tr.take.status-completed")).to_have_count(2, timeout=90_000)
        expect(bo.locator("#board[hx-get]")).to_have_count(0, timeout=10_000)

        # Compare the two, then pick the second.
        first.get_by_label("Compare take 1").check()
        first.get_by_label("Compare take 2").check()
        first.get_by_role("button", name="Compare selected").click()
        expect(bo.locator("video")).to_have_count(2)
        bo.go_back()
        bo.locator(".shot").nth(0).locator("#take-" + take_id(bo, 0, 2)).get_by_role(
            "button", name="Pick"
        ).click()
        expect(bo.locator(".shot").nth(0).locator(".picked")).to_contain_text("Picked: take 2")

        # The director generates the rest in one confirmed run: shot 2 can now continue.
        ana.goto(board_url)
        ana.get_by_role("link", name="Generate all…").click()
        expect(ana.locator("#plan-summary")).to_contain_text("2 jobs")
        check(ana, "generate all, confirm")
        ana.get_by_role("button", name="Generate 2 takes").click()
        shots = ana.locator(".shot")
        for n in (1, 2):
            expect(shots.nth(n).locator("tr.take.status-completed")).to_have_count(
                1, timeout=90_000
            )
        for n in (1, 2):
            ana.locator(".shot").nth(n).get_by_role("button", name="Pick").click()
            expect(ana.locator(".shot").nth(n).locator(".picked")).to_contain_text("Picked: take 1")
        third = ana.locator(".shot").nth(2)
        third.get_by_label("Out (s)").fill("3")
        third.get_by_role("button", name="Trim").click()
        expect(ana.locator(".shot").nth(2).locator(".picked")).to_contain_text("trimmed 0\u20133 s")
        expect(ana.locator("#totals")).to_contain_text("11.0 s")

        # Assemble, then play the cut and seek in it.
        ana.get_by_role("button", name="Assemble the cut").click()
        video = ana.locator("video#cut-player")
        expect(video).to_be_visible(timeout=60_000)
        ana.wait_for_function(
            "() => document.querySelector('video#cut-player').readyState >= 1", timeout=20_000
        )
        duration = video.evaluate("v => v.duration")
        check(ana, "storyboard with its cut")
        video.evaluate("v => { v.muted = true; return v.play(); }")
        ana.wait_for_function(
            "() => document.querySelector('video#cut-player').currentTime > 0.3", timeout=20_000
        )
        video.evaluate("v => { v.currentTime = 9; }")
        ana.wait_for_function(
            "() => document.querySelector('video#cut-player').currentTime >= 9", timeout=20_000
        )
        # ... and it plays on to its end.
        ana.wait_for_function(
            "() => document.querySelector('video#cut-player').ended", timeout=20_000
        )
        played_to = video.evaluate("v => v.currentTime")
        ana.get_by_role("link", name="Edit list").click()
        expect(ana.locator("table.edit-list tbody tr")).to_have_count(3)
        expect(ana.locator("table.edit-list")).to_contain_text("The lamp starts to turn")
        check(ana, "cut")
        ana.goto(board_url + "versions/")
        check(ana, "versions")
        ana.goto(board_url)
        ana.locator(".shot").nth(0).get_by_role("link", name="Edit").click()
        check(ana, "shot edit")
        ana.goto(board_url)
        ana.locator(".shot").nth(0).get_by_label("Compare take 1").check()
        ana.locator(".shot").nth(0).get_by_label("Compare take 2").check()
        ana.locator(".shot").nth(0).get_by_role("button", name="Compare selected").click()
        check(ana, "compare")
        browser.close()

    failing = {name: problems for name, problems in found.items() if problems}
    assert not failing, json.dumps(failing, indent=2)
    assert duration == pytest.approx(11, abs=0.1)
    assert played_to == pytest.approx(duration, abs=0.1)
    db = sqlite3.connect(studio.data_dir / "videostudio.sqlite3")
    board_id, cut_id, edit_list = db.execute(
        "SELECT storyboard_id, id, edit_list FROM video_creation_storyboard_cuts "
        "WHERE status = 'ready'"
    ).fetchone()
    segments = json.loads(edit_list)
    assert [(s["shot"], s["take"], s["out"]) for s in segments] == [
        (1, 2, None),
        (2, 1, None),
        (3, 1, "3.000"),
    ]
    # Shot 2 was made from shot 1's picked take's last frame.
    task = db.execute(
        "SELECT task FROM video_creation_jobs WHERE id = ?", [segments[1]["jobId"]]
    ).fetchone()
    assert task == ("image_to_video",)
    path = studio.data_dir / "storyboards" / board_id / "cuts" / cut_id / "cut.mp4"
    with av.open(str(path)) as container:
        video_stream = container.streams.video[0]
        seconds = float(video_stream.duration * video_stream.time_base)
        assert container.streams.audio, "the cut keeps the takes' audio"
    assert seconds == pytest.approx(4 + 4 + 3, abs=1 / 24)


def take_id(page, shot_index, number):
    """Return the id of take `number` of the shot at shot_index, from its row."""
    rows = page.locator(".shot").nth(shot_index).locator("tr.take")
    return rows.nth(number - 1).get_attribute("id").removeprefix("take-")


def test_shots_reorder_by_dragging_and_by_the_arrow_buttons(studio):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = log_in(browser, studio, USERNAME, PASSWORD)
        page.goto(studio.url + "/storyboards/new/")
        page.get_by_label("Name").fill("Reordered")
        page.get_by_role("button", name="Create storyboard").click()
        for prompt in ("One", "Two", "Three"):
            add_shot(page, prompt)
        prompts = page.locator(".shot .prompt")
        expect(prompts).to_have_text(["One", "Two", "Three"])

        page.locator(".shot").nth(2).drag_to(page.locator(".shot").nth(0))
        expect(prompts).to_have_text(["Three", "One", "Two"])
        page.get_by_role("button", name="Move shot 3 earlier").click()
        expect(prompts).to_have_text(["Three", "Two", "One"])
        page.reload()
        expect(prompts).to_have_text(["Three", "Two", "One"])
        browser.close()
