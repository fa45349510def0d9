"""Library pages, the editor, permissions, batch runs, the batch page and its ZIP."""

import io
import json
import zipfile

import pytest
from django.core import mail
from django.urls import reverse

from drafts import services
from drafts.models import Draft
from jobs import services as job_services
from jobs.models import Batch, VideoCreationJob
from jobs.veo.emulator.media import render_mp4
from tests.factories import FORM, make_batch, make_job

pytestmark = pytest.mark.django_db


def draft_of(owner, name="Harbour", prompts=("Boats at dawn", "Gulls over {{place}}"), **kw):
    return services.draft_save(author=owner, name=name, prompts=list(prompts), **kw)


def editor_post(client, url, *, rows, op="save", name="Harbour", mode="list", **extra):
    data = {
        "name": name,
        "visibility": "private",
        "mode": mode,
        "op": op,
        "prompt_id": [r[0] for r in rows],
        "prompt_text": [r[1] for r in rows],
        "prompt_options": ["{}" for _ in rows],
        **extra,
    }
    return client.post(url, data)


# --- Permissions, checked in one place ---------------------------------------------------


def test_someone_elses_private_draft_is_not_found(client, other_user, user):
    private = draft_of(other_user)
    client.force_login(user)
    for name in ("detail", "edit", "run", "export"):
        assert client.get(reverse(f"drafts:{name}", args=[private.pk])).status_code == 404
    assert client.post(reverse("drafts:duplicate", args=[private.pk])).status_code == 404


def test_the_team_views_and_runs_a_shared_draft_but_cannot_change_it(client, other_user, user):
    shared = draft_of(other_user, visibility="shared")
    client.force_login(user)
    assert client.get(reverse("drafts:detail", args=[shared.pk])).status_code == 200
    assert client.get(reverse("drafts:run", args=[shared.pk])).status_code == 200
    for name in ("edit", "share", "delete"):
        assert client.post(reverse(f"drafts:{name}", args=[shared.pk])).status_code == 403
    assert client.post(reverse("drafts:restore", args=[shared.pk, 1])).status_code == 403
    shared.refresh_from_db()
    assert (shared.version, shared.visibility) == (1, "shared")


def test_staff_with_the_permission_can_change_anyones_draft(client, manager, other_user):
    theirs = draft_of(other_user)
    client.force_login(manager)
    response = client.post(reverse("drafts:share", args=[theirs.pk]), {"visibility": "shared"})
    assert response.status_code == 302
    theirs.refresh_from_db()
    assert theirs.visibility == "shared"


# --- Library -------------------------------------------------------------------------------


def test_library_tabs_search_and_query_count(
    logged_in, user, other_user, django_assert_max_num_queries
):
    draft_of(user, name="Mine about boats")
    draft_of(other_user, name="Their shared city", prompts=["Neon rain"], visibility="shared")
    draft_of(other_user, name="Their private", prompts=["Secret"])
    mine = logged_in.get(reverse("drafts:library")).content.decode()
    assert "Mine about boats" in mine and "Their shared city" not in mine
    shared = logged_in.get(reverse("drafts:library"), {"tab": "shared"}).content.decode()
    assert "Their shared city" in shared and "Their private" not in shared
    found = logged_in.get(
        reverse("drafts:library"),
        {"tab": "shared", "q": "neon"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    assert "Their shared city" in found.content.decode()
    assert "<html" not in found.content.decode()
    for n in range(25):
        draft_of(user, name=f"Bulk {n}")
    with django_assert_max_num_queries(3) as read:  # the session, the user, one page
        logged_in.get(reverse("drafts:library"))
    assert "auth_user" not in read.captured_queries[-1]["sql"]  # "Mine" shows no owner


def test_kept_library_rows_follow_renames_of_drafts_and_owners(logged_in, user, other_user):
    mine = draft_of(user, name="Harbour")
    theirs = draft_of(other_user, name="City", visibility="shared")
    assert "Harbour" in logged_in.get(reverse("drafts:library")).content.decode()
    assert "by bo" in logged_in.get(reverse("drafts:library"), {"tab": "shared"}).content.decode()

    services.draft_save(author=user, draft=mine, name="Harbour at night", prompts=mine.prompts)
    other_user.username = "renamed"
    other_user.save()
    page = logged_in.get(reverse("drafts:library")).content.decode()
    assert "Harbour at night" in page and "version 2" in page
    shared = logged_in.get(reverse("drafts:library"), {"tab": "shared"}).content.decode()
    assert "by renamed" in shared and theirs.name in shared


# --- The editor ----------------------------------------------------------------------------


def test_editor_adds_reorders_removes_and_saves_a_new_version(logged_in, user):
    draft = draft_of(user, prompts=[{"id": "a", "text": "one"}, {"id": "b", "text": "two"}])
    url = reverse("drafts:edit", args=[draft.pk])
    rows = [("a", "one"), ("b", "two")]
    moved = editor_post(logged_in, url, rows=rows, op="down:0", base_version=1)
    page = moved.content.decode()
    assert page.index(">two</textarea>") < page.index(">one</textarea>")
    added = editor_post(logged_in, url, rows=[("b", "two"), ("a", "one")], op="add", base_version=1)
    assert added.content.decode().count('name="prompt_text"') == 3
    removed = editor_post(logged_in, url, rows=rows, op="remove:0", base_version=1)
    assert ">one</textarea>" not in removed.content.decode()
    draft.refresh_from_db()
    assert draft.version == 1  # nothing was saved by the buttons
    saved = editor_post(
        logged_in, url, rows=[("b", "two"), ("a", "one edited"), ("", "")], base_version=1
    )
    assert saved.status_code == 302
    draft.refresh_from_db()
    assert draft.version == 2
    assert draft.prompts == [{"id": "b", "text": "two"}, {"id": "a", "text": "one edited"}]


def test_a_save_from_a_stale_editor_is_refused_beside_the_prompts(logged_in, user):
    draft = draft_of(user, prompts=[{"id": "a", "text": "one"}])
    services.draft_save(author=user, draft=draft, name="Harbour", prompts=["theirs"])
    url = reverse("drafts:edit", args=[draft.pk])
    response = editor_post(logged_in, url, rows=[("a", "mine")], base_version=1)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Someone saved this draft after you opened it" in page
    assert ">mine</textarea>" in page  # the editor keeps what was typed
    draft.refresh_from_db()
    assert (draft.version, [p["text"] for p in draft.prompts]) == (2, ["theirs"])


def test_json_mode_errors_point_at_line_and_column_and_save_nothing(logged_in, user):
    draft = draft_of(user)
    url = reverse("drafts:edit", args=[draft.pk])
    response = logged_in.post(
        url,
        {
            "name": "Harbour",
            "visibility": "private",
            "mode": "json",
            "op": "save",
            "base_version": "1",
            "prompts_json": '[\n  {"text": "ok"},\n  {"text": }\n]',
        },
    )
    assert response.status_code == 400
    assert "Line 3, column 12: Expecting value." in response.content.decode()
    draft.refresh_from_db()
    assert draft.version == 1


def test_json_mode_saves_plain_strings(logged_in, user):
    response = logged_in.post(
        reverse("drafts:new"),
        {
            "name": "From JSON",
            "visibility": "shared",
            "mode": "json",
            "op": "save",
            "prompts_json": '["first", "second"]',
        },
    )
    draft = Draft.objects.get(name="From JSON")
    assert response["Location"] == draft.get_absolute_url()
    assert [p["text"] for p in draft.prompts] == ["first", "second"]
    assert draft.visibility == "shared"


def test_duplicate_name_is_shown_on_the_name_field(logged_in, user):
    draft_of(user, name="Taken")
    response = editor_post(logged_in, reverse("drafts:new"), rows=[("", "x")], name="Taken")
    assert response.status_code == 400
    assert "You already have a draft named" in str(response.context["form"].errors["name"])


def test_export_then_import_round_trips(logged_in, user):
    draft = draft_of(user, name="Round trip")
    exported = logged_in.get(reverse("drafts:export", args=[draft.pk]))
    assert exported["Content-Disposition"] == 'attachment; filename="Round-trip.json"'
    body = json.loads(exported.content)
    body["name"] = "Round trip again"
    upload = io.BytesIO(json.dumps(body).encode())
    upload.name = "x.json"
    response = logged_in.post(reverse("drafts:import"), {"file": upload}, follow=True)
    imported = Draft.objects.get(name="Round trip again")
    assert imported.prompts == draft.prompts
    assert "Imported Round trip again with 2 prompts" in response.content.decode()


# --- Running a draft ---------------------------------------------------------------------------


def test_run_shows_the_batch_and_its_cost_before_starting_anything(
    logged_in, user, django_capture_on_commit_callbacks
):
    draft = draft_of(user)
    prompt_ids = [p["id"] for p in draft.prompts]
    data = {**FORM, "prompt_ids": prompt_ids, "values": "place\nPorto\nNaples", "version": "1"}
    review = logged_in.post(reverse("drafts:run", args=[draft.pk]), data)
    page = review.content.decode()
    assert "Start 4 jobs?" in page
    assert "$1.60" in page  # 4 jobs x 4 s x $0.10
    assert "Gulls over Naples" in page
    assert not VideoCreationJob.objects.exists()
    with django_capture_on_commit_callbacks():
        started = logged_in.post(reverse("drafts:run", args=[draft.pk]), {**data, "confirm": "yes"})
    batch = Batch.objects.get()
    assert started["Location"] == batch.get_absolute_url()
    assert batch.jobs.count() == 4
    assert set(batch.jobs.values_list("draft_version__number", flat=True)) == {1}


def test_run_with_an_undefined_placeholder_starts_nothing(logged_in, user):
    draft = draft_of(user)
    data = {**FORM, "prompt_ids": [p["id"] for p in draft.prompts], "version": "1"}
    response = logged_in.post(reverse("drafts:run", args=[draft.pk]), data)
    assert response.status_code == 400
    assert "No values for {{place}}" in response.content.decode()
    assert not Batch.objects.exists()


def test_draft_page_shows_the_videos_each_prompt_made(logged_in, user):
    draft = draft_of(user)
    version = draft.versions.get()
    first = draft.prompts[0]
    make_job(
        user,
        prompt_text=first["text"],
        prompt_id=first["id"],
        draft=draft,
        draft_version=version,
        status="completed",
        review_state="approved",
    )
    page = logged_in.get(reverse("drafts:detail", args=[draft.pk])).content.decode()
    section = page.split(first["text"], 1)[1].split("Gulls over", 1)[0]
    assert "Completed" in section and "v1" in section
    assert 'data-review-state="approved"' in section  # its review badge, as everywhere


# --- The batch page ------------------------------------------------------------------------------


@pytest.fixture
def batch(user):
    return make_batch(user, "Harbour v1 · 3 jobs")


def test_batch_summary_polls_until_every_job_has_ended(logged_in, user, batch):
    make_job(user, batch=batch, status="completed", progress=100)
    running = make_job(user, batch=batch, status="processing", progress=40)
    make_job(user, batch=batch, status="idle")
    url = reverse("jobs:batch", args=[batch.pk])
    live = logged_in.get(url, headers={"HX-Request": "true"})
    body = live.content.decode()
    assert live.status_code == 200
    assert 'hx-trigger="every 2s"' in body
    assert 'value="47"' in body  # (100 + 40 + 0) / 3
    VideoCreationJob.objects.filter(batch=batch).exclude(status="completed").update(status="failed")
    ended = logged_in.get(url, headers={"HX-Request": "true"})
    assert ended.status_code == 286
    assert "hx-trigger" not in ended.content.decode()
    assert running.pk


def test_cancel_the_rest_and_retry_the_failed(
    logged_in, user, batch, django_capture_on_commit_callbacks
):
    done = make_job(user, batch=batch, status="completed")
    waiting = make_job(user, batch=batch, status="idle")
    logged_in.post(reverse("jobs:batch-cancel", args=[batch.pk]))
    waiting.refresh_from_db()
    done.refresh_from_db()
    assert (waiting.status, waiting.error) == ("failed", "Cancelled by user")
    assert done.status == "completed"
    with django_capture_on_commit_callbacks():
        logged_in.post(reverse("jobs:batch-retry", args=[batch.pk]))
    retry = VideoCreationJob.objects.get(retry_of=waiting)
    assert retry.batch == batch
    summary = job_services.batch_summary(batch)
    assert (summary["completed"], summary["failed"], summary["idle"]) == (1, 0, 1)


def test_zip_streams_every_finished_video(logged_in, user, batch, data_dir):
    for n in range(2):
        job = make_job(user, batch=batch, status="completed", prompt_text=f"Clip {n}")
        path = data_dir / "videos" / job.pk / "output.mp4"
        path.parent.mkdir(parents=True)
        render_mp4(path, prompt=f"clip {n}", width=160, height=90, seconds=1)
        VideoCreationJob.objects.filter(pk=job.pk).update(video_url=f"videos/{job.pk}/output.mp4")
    make_job(user, batch=batch, status="failed")
    response = logged_in.get(reverse("jobs:batch-zip", args=[batch.pk]))
    assert response.streaming
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == ["001-Clip-0.mp4", "002-Clip-1.mp4"]


def test_someone_elses_batch_is_not_found(client, other_user, batch):
    client.force_login(other_user)
    for name in ("jobs:batch", "jobs:batch-zip"):
        assert client.get(reverse(name, args=[batch.pk])).status_code == 404
    assert client.post(reverse("jobs:batch-cancel", args=[batch.pk])).status_code == 404


def test_finished_batch_emails_its_owner_once_when_asked(user, django_capture_on_commit_callbacks):
    user.email = "ana@example.com"
    user.save()
    batch = make_batch(user, "Night run", notify_by_email=True)
    first, second = (
        make_job(user, batch=batch, status="processing"),
        make_job(user, batch=batch, status="processing"),
    )
    with django_capture_on_commit_callbacks(execute=True):
        job_services.job_fail(first.pk, message="Boom")
    assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        job_services.job_fail(second.pk, message="Boom")
        job_services.batch_notify_if_finished(batch.pk)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Batch finished: Night run"
    assert "0 completed, 2 failed, of 2 jobs" in mail.outbox[0].body


# --- Limits: bodies, lists that leave the prompts unread, the creation limit -----------------


def test_a_2_mb_draft_post_is_a_clear_413_not_a_500(logged_in):
    prompts = json.dumps(["x" * 4000] * 490)  # a valid draft, under Django's 2.5 MB default
    assert len(prompts) > 1_950_000
    response = logged_in.post(
        reverse("drafts:new"),
        {"name": "Huge", "visibility": "private", "mode": "json", "prompts_json": prompts},
    )
    assert response.status_code == 413
    assert "larger than this endpoint accepts (1,048,576 bytes)" in response.content.decode()
    assert not Draft.objects.exists()


def test_the_library_reads_no_prompts_column(logged_in, user, other_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(3):
        draft_of(user, name=f"Mine {n}", prompts=["p " * 1000] * 5)
        draft_of(other_user, name=f"Theirs {n}", prompts=["q"], visibility="shared")
    for tab in ("mine", "shared"):
        with CaptureQueriesContext(connection) as queries:
            response = logged_in.get(reverse("drafts:library"), {"tab": tab})
        assert response.status_code == 200
        assert "5 prompts" in response.content.decode() or tab == "shared"
        draft_reads = [q["sql"] for q in queries if 'FROM "video_creation_drafts"' in q["sql"]]
        assert draft_reads
        assert not [sql for sql in draft_reads if '"video_creation_drafts"."prompts"' in sql]


def test_the_run_form_counts_every_job_against_the_creation_limit(logged_in, user, settings):
    settings.API_JOB_CREATE_LIMIT = 3
    draft = draft_of(user, prompts=["Boats at {{place}}", "Gulls over {{place}}"])
    data = {
        **FORM,
        "prompt_ids": [p["id"] for p in draft.prompts],
        "values": "place\nLisbon\nOslo",
        "confirm": "yes",
    }
    response = logged_in.post(reverse("drafts:run", args=[draft.pk]), data)
    assert response.status_code == 400
    assert "This would create 4 jobs at once" in response.content.decode()
    assert not VideoCreationJob.objects.exists() and not Batch.objects.exists()


def test_the_admin_draft_list_reads_no_prompts_and_its_edits_stay_searchable(admin_client, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    draft = draft_of(user, name="Harbour", prompts=["Boats at dawn"] * 3)
    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(reverse("admin:drafts_draft_changelist"))
    assert page.status_code == 200
    draft_reads = [q["sql"] for q in queries if 'FROM "video_creation_drafts"' in q["sql"]]
    assert draft_reads
    assert not [sql for sql in draft_reads if '"video_creation_drafts"."prompts"' in sql]
    change = reverse("admin:drafts_draft_change", args=[draft.pk])
    form = {
        "name": "Harbour",
        "prompts": json.dumps([{"id": "a", "text": "Möwen über dem Hafen"}]),
        "owner": user.pk,
        "visibility": "private",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }
    assert admin_client.post(change, form).status_code == 302
    found = services.draft_list(user=user, scope="mine", query="MOWEN")
    assert [d.prompt_count for d in found] == [1]


def test_a_2_mb_import_is_refused_before_it_is_read_while_the_job_form_takes_frames(logged_in):
    from django.core.files.uploadedfile import SimpleUploadedFile

    big = json.dumps(["x" * 4000] * 500).encode()
    assert len(big) > 2_000_000
    upload = SimpleUploadedFile("big.json", big, content_type="application/json")
    response = logged_in.post(reverse("drafts:import"), {"file": upload})
    assert response.status_code == 413
    assert "1,048,576 bytes" in response.content.decode()
    assert not Draft.objects.exists()
    # The create form's first frame may be far larger: it is read, and judged as an image.
    frame = SimpleUploadedFile("frame.png", b"\0" * 2_000_000, content_type="image/png")
    created = logged_in.post(
        reverse("jobs:index"), {**FORM, "prompt_text": "A fox", "image": frame}
    )
    assert created.status_code == 400
    assert created.context["form"].errors["image"]
