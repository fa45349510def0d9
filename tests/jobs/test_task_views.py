"""The studio's pages speak tasks: the create form's picker and fields, a job's lineage,
and the Extend, Edit and Upscale buttons that make a linked child job.

The models come from a catalog file written here, so that what a form shows follows from
what the catalog says the model takes, and nothing else.
"""

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from jobs import catalog
from jobs.models import VideoCreationJob, VideoResource
from tests.factories import JOB_OPTIONS, Stage, Status, make_job

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("task_catalog")]

PRICES = {"720p": "0.10", "1080p": "0.12", "4k": "0.30"}


def model_entry(label, *, tasks, **flags):
    """A catalog entry in the shape of catalog.json, with its tasks and their limits."""
    return {
        "label": label,
        "provider": "gemini",
        "providers": ["gemini"],
        "api": "predict",
        "aspect_ratios": ["16:9", "9:16"],
        "resolutions": ["720p", "1080p", "4k"],
        "durations": [4, 6, 8],
        "person_generation": {"text": ["allow_all"], "image": ["allow_adult"]},
        "image_input": "image_to_video" in tasks,
        "last_frame": tasks.get("image_to_video", {}).get("images", 0) > 1,
        "reference_images": tasks.get("reference_to_video", {}).get("images", 0),
        "samples_per_request": flags.get("sample_counts", [1]),
        "audio": "always",
        "tasks": tasks,
        "price_per_second": PRICES,
        "price_date": "2026-11-01",
        "price_source": "a test",
        **flags,
    }


FULL = model_entry(
    "Full",
    tasks={
        "text_to_video": {},
        "image_to_video": {"images": 2},
        "reference_to_video": {"images": 2},
        "extend": {"chain_max_seconds": 20, "durations": [4, 6, 8]},
        "edit": {},
        "upscale": {"resolutions": ["4k"]},
    },
    seed=True,
    negative_prompt=True,
    audio_toggle=True,
    sample_counts=[1, 2],
    enhance_prompt=True,
)
PLAIN = model_entry("Plain", tasks={"text_to_video": {}}, negative_prompt=False)


@pytest.fixture
def task_catalog(settings, tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": {"test-full": FULL, "test-plain": PLAIN}}))
    settings.VEO_CATALOG_FILE = str(path)
    settings.VEO_MODEL = "test-full"


def image(size=(320, 180)):
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, format="PNG")
    return SimpleUploadedFile("ref.png", buffer.getvalue(), content_type="image/png")


def form(**values):
    return {
        "prompt_text": "A red kite over dunes",
        "model": "test-full",
        "aspect_ratio": "16:9",
        "resolution": "720p",
        "duration_seconds": "4",
        **values,
    }


def names(page):
    """The names of the create form's fields in a page."""
    return set(re.findall(r'name="([a-z_]+)"', page)) - {"csrfmiddlewaretoken"}


# --- The create form ------------------------------------------------------------------


def test_the_picker_offers_the_models_tasks_and_the_fields_follow_the_task(logged_in):
    page = logged_in.get(reverse("jobs:index")).content.decode()
    assert '<select name="task"' in page
    assert 'value="text_to_video"' in page and 'value="reference_to_video"' in page
    # Extend, edit and upscale start from a finished job's page, not from here.
    assert 'value="extend"' not in page
    assert "reference_images" not in names(page) and "image" not in names(page)

    references = logged_in.get(
        reverse("jobs:form-fields"), {"model": "test-full", "task": "reference_to_video"}
    ).content.decode()
    assert "reference_images" in names(references)
    assert "Up to 2 PNG, JPEG or WebP images" in references
    assert "multiple" in references
    assert "image" not in names(references)

    frames = logged_in.get(
        reverse("jobs:form-fields"), {"model": "test-full", "task": "image_to_video"}
    ).content.decode()
    assert {"image", "last_frame"} <= names(frames)
    assert "reference_images" not in names(frames)


def test_a_model_with_one_task_shows_only_what_it_takes(logged_in):
    response = logged_in.get(
        reverse("jobs:form-fields"),
        {"model": "test-plain", "task": "reference_to_video", "prompt_text": "kept"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="text_to_video"' in page and 'value="reference_to_video"' not in page
    assert "negative_prompt" not in names(page) and "reference_images" not in names(page)
    # The partial is the options alone: the prompt the person wrote stays where it is.
    assert "prompt_text" not in names(page)


def test_the_knobs_show_where_the_model_has_them_and_are_stored_as_chosen(logged_in):
    full = names(logged_in.get(reverse("jobs:index")).content.decode())
    assert {"seed", "generate_audio", "sample_count", "enhance_prompt", "negative_prompt"} <= full
    plain = names(
        logged_in.get(reverse("jobs:form-fields"), {"model": "test-plain"}).content.decode()
    )
    assert not {"seed", "generate_audio", "sample_count", "enhance_prompt"} & plain

    data = form(seed="42", generate_audio="off", enhance_prompt="", sample_count="2")
    response = logged_in.post(reverse("jobs:index"), data)
    assert response.status_code == 302, response.context["form"].errors
    job = VideoCreationJob.objects.get()
    assert job.options["seed"] == 42
    assert job.options["generate_audio"] is False
    assert job.options["sample_count"] == 2
    assert "enhance_prompt" not in job.options  # left to the model


def test_a_seed_out_of_range_is_an_error_on_the_seed(logged_in):
    response = logged_in.post(reverse("jobs:index"), form(seed=str(2**32)))
    assert response.status_code == 400
    assert "seed" in response.context["form"].errors
    assert not VideoCreationJob.objects.exists()


def test_without_javascript_the_refresh_button_shows_the_fields_and_creates_nothing(logged_in):
    response = logged_in.post(reverse("jobs:index"), form(task="reference_to_video", refresh="1"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "reference_images" in names(page)
    assert "A red kite over dunes" in page  # the prompt is kept
    assert 'class="has-error"' not in page and "field has-error" not in page
    assert "<noscript>" in page and 'name="refresh"' in page
    assert not VideoCreationJob.objects.exists()


def test_a_task_the_model_does_not_offer_is_an_error_on_the_task(logged_in):
    response = logged_in.post(
        reverse("jobs:index"), form(model="test-plain", task="reference_to_video")
    )
    assert response.status_code == 400
    assert "does not offer that task" in response.context["form"].errors["task"][0]
    assert not VideoCreationJob.objects.exists()


def test_more_reference_images_than_the_model_takes_are_refused_naming_the_field(
    logged_in, data_dir
):
    data = form(task="reference_to_video", reference_images=[image(), image(), image()])
    response = logged_in.post(reverse("jobs:index"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "at most 2 reference images; you chose 3" in errors["reference_images"][0]
    assert not VideoCreationJob.objects.exists()
    assert not any(data_dir.rglob("reference-*"))


def test_a_reference_task_needs_an_image(logged_in):
    response = logged_in.post(reverse("jobs:index"), form(task="reference_to_video"))
    assert response.status_code == 400
    assert "at least one reference image" in response.context["form"].errors["reference_images"][0]


def test_a_form_without_a_task_makes_a_text_job_as_before(logged_in):
    response = logged_in.post(reverse("jobs:index"), form())
    assert response.status_code == 302
    job = VideoCreationJob.objects.get()
    assert job.task == "text_to_video"


# --- A job's page: lineage and the buttons that make children --------------------------


def finished(owner, **fields):
    fields = {"model": "test-full", **fields}
    return make_job(
        owner,
        status=Status.COMPLETED,
        stage=Stage.DONE,
        progress=100,
        video_url="videos/x/output.mp4",
        **fields,
    )


def test_a_finished_jobs_page_offers_extend_edit_and_upscale_where_the_model_does(logged_in, user):
    job = finished(user)
    page = logged_in.get(job.get_absolute_url()).content.decode()
    for task in ("extend", "edit", "upscale"):
        assert f'action="{reverse(f"jobs:{task}", args=[job.pk])}"' in page
    plain = finished(user, model="test-plain")
    page = logged_in.get(plain.get_absolute_url()).content.decode()
    assert "/extend/" not in page and "/upscale/" not in page
    running = make_job(user, model="test-full", status=Status.PROCESSING)
    assert "/extend/" not in logged_in.get(running.get_absolute_url()).content.decode()


def test_a_jobs_page_shows_its_parent_children_and_the_chains_room_left(logged_in, user):
    root = finished(user, prompt_text="A heron on a lake")
    first = finished(
        user, task="extend", parent=root, options={**JOB_OPTIONS, "duration_seconds": 6}
    )
    second = finished(user, task="extend", parent=first, prompt_text="It flies off")
    edit = make_job(user, model="test-full", task="edit", parent=second, prompt_text="At night")

    page = logged_in.get(second.get_absolute_url()).content.decode()
    assert f'href="{first.get_absolute_url()}" id="job-parent"' in page
    # 4 s, then 6 s, then 4 s more, of the model's 20.
    assert "14 s of 20 s: 6 s left to extend" in page
    assert "Edit a video: At night" in page
    assert edit.get_absolute_url() in page

    page = logged_in.get(root.get_absolute_url()).content.decode()
    assert "4 s of 20 s: 16 s left to extend" in page
    assert first.get_absolute_url() in page and "job-parent" not in page


def test_a_chain_at_its_limit_offers_no_extend(logged_in, user):
    long = {**JOB_OPTIONS, "duration_seconds": 8}
    root = finished(user, options=long)
    middle = finished(user, task="extend", parent=root, options=long)
    last = finished(user, task="extend", parent=middle, options={**long, "duration_seconds": 4})
    page = logged_in.get(last.get_absolute_url()).content.decode()
    assert "20 s of 20 s: 0 s left to extend" in page
    assert reverse("jobs:extend", args=[last.pk]) not in page
    assert reverse("jobs:edit", args=[last.pk]) in page


def test_the_retiring_warning_shows_beside_the_model_and_on_the_job_page(
    logged_in, user, settings, tmp_path
):
    soon = (timezone.now() + timedelta(days=10)).date().isoformat()
    path = tmp_path / "catalog.json"
    entry = {**PLAIN, "retiring": soon, "source": "Google's deprecations page"}
    path.write_text(json.dumps({"models": {"test-plain": entry}}))
    settings.VEO_CATALOG_FILE = str(path)
    settings.VEO_MODEL = "test-plain"
    warning = catalog.retirement_warning("test-plain")
    assert warning
    page = logged_in.get(reverse("jobs:index")).content.decode()
    assert 'aria-describedby="model-warning"' in page and warning in page
    job = finished(user, model="test-plain")
    assert warning in logged_in.get(job.get_absolute_url()).content.decode()


def test_extend_makes_a_child_job_linked_to_this_one(
    logged_in, user, django_capture_on_commit_callbacks
):
    parent = finished(user, prompt_text="A heron on a lake")
    with django_capture_on_commit_callbacks():
        response = logged_in.post(
            reverse("jobs:extend", args=[parent.pk]), {"extend-prompt_text": "It takes off"}
        )
    child = VideoCreationJob.objects.get(parent=parent)
    assert response.status_code == 302 and response["Location"] == child.get_absolute_url()
    assert (child.task, child.prompt_text, child.model) == ("extend", "It takes off", "test-full")
    assert child.owner == user


def test_an_edit_needs_an_instruction_and_names_the_field(logged_in, user):
    parent = finished(user)
    response = logged_in.post(reverse("jobs:edit", args=[parent.pk]), {"edit-prompt_text": " "})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Say what to change" in page
    assert 'id="id_edit-prompt_text_error"' in page
    assert not VideoCreationJob.objects.filter(parent=parent).exists()


def test_someone_elses_job_cannot_be_extended(logged_in, other_user):
    theirs = finished(other_user)
    response = logged_in.post(reverse("jobs:extend", args=[theirs.pk]), {})
    assert response.status_code == 404
    assert not VideoCreationJob.objects.filter(parent=theirs).exists()


def test_reference_images_are_stored_as_the_jobs_image_resources(
    logged_in, data_dir, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        response = logged_in.post(
            reverse("jobs:index"),
            form(task="reference_to_video", reference_images=[image(), image()]),
        )
    assert response.status_code == 302, response.context["form"].errors
    job = VideoCreationJob.objects.get()
    assert job.task == "reference_to_video"
    stored = sorted(r.filename for r in VideoResource.objects.filter(job=job))
    assert stored == ["reference-0.png", "reference-1.png"]
