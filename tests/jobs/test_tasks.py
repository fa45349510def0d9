"""Jobs that say what they do: a task, its reference images and the job it starts from.

job_create asks the catalog before anything is stored or queued, so a request the model
cannot do leaves no row, no file and no task behind, and says which field is wrong.
"""

from decimal import Decimal
from io import BytesIO

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from PIL import Image

from jobs import catalog, services, storage
from jobs.frames import Frame
from jobs.models import VideoCreationJob
from jobs.veo.base import Task
from tests.factories import JOB_OPTIONS, MODEL, make_job

pytestmark = pytest.mark.django_db

OMNI = "gemini-omni-1.2-flash"
Status = VideoCreationJob.Status


def frame(color="red", kind="PNG"):
    out = BytesIO()
    Image.new("RGB", (64, 64), color).save(out, kind)
    mime, extension = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg")}[kind]
    return Frame(data=out.getvalue(), mime_type=mime, extension=extension, width=64, height=64)


def finished(owner, **fields):
    """A completed job with a video, made by `model` (MODEL unless fields say)."""
    return make_job(owner, status=Status.COMPLETED, video_url="/videos/x/output.mp4", **fields)


def create(owner, **fields):
    fields = {"prompt_text": "A fox", "model": OMNI, "options": dict(JOB_OPTIONS), **fields}
    return services.job_create(owner=owner, **fields)


def test_a_reference_job_stores_its_images_in_order_and_is_queued(
    user, data_dir, django_capture_on_commit_callbacks
):
    images = [frame("red"), frame("blue", "JPEG"), frame("green")]
    with django_capture_on_commit_callbacks() as queued:
        job = create(user, task=Task.REFERENCES, reference_images=images)

    assert job.task == "reference_to_video"
    assert len(queued) == 1
    stored = {r.filename: r for r in job.resources.all()}
    assert set(stored) == {"reference-0.png", "reference-1.jpg", "reference-2.png"}
    for index, image in enumerate(images):
        resource = stored[f"reference-{index}.{image.extension}"]
        assert resource.type == "image"
        assert storage.read_bytes(resource.file_path) == image.data
        assert f"videos/{job.pk}/resources/images/" in resource.file_path


def test_frames_without_a_task_make_an_image_job_and_references_a_reference_job(user):
    assert create(user, image=frame()).task == Task.IMAGE
    assert create(user, reference_images=[frame()]).task == Task.REFERENCES
    assert create(user).task == Task.TEXT


def test_an_extension_links_its_parent_and_an_edit_is_as_long_as_its_source(user):
    parent = finished(user, model=OMNI, options={**JOB_OPTIONS, "duration_seconds": 9})
    child = create(user, task=Task.EXTEND, parent=parent, options={**JOB_OPTIONS})
    assert child.parent == parent and child.task == "extend"
    assert list(parent.children.all()) == [child]
    assert catalog.chain_seconds(child) == 13
    assert catalog.chain_room(child) == 17

    edit = create(user, task=Task.EDIT, parent=parent, options={**JOB_OPTIONS})
    assert edit.options["duration_seconds"] == 9
    assert edit.estimated_cost_usd == catalog.estimate_cost(
        OMNI, resolution="720p", duration_seconds=9
    )


def test_a_job_records_which_google_made_it_and_extends_a_video_of_the_same(user, settings):
    parent = finished(user, model=OMNI, metadata=create(user).metadata)
    assert parent.metadata == {"provider": "gemini"}
    assert create(user, task=Task.EXTEND, parent=parent).parent == parent
    settings.VEO_PROVIDER = "vertex"
    assert create(user).metadata == {"provider": "vertex"}


def test_a_veo_extension_adds_seven_seconds_to_the_chain(user):
    parent = finished(user, options={**JOB_OPTIONS, "duration_seconds": 8})
    child = create(
        user,
        model=MODEL,
        task=Task.EXTEND,
        parent=parent,
        options={**JOB_OPTIONS, "duration_seconds": 8},
    )
    assert catalog.chain_seconds(child) == 15
    assert catalog.chain_room(child) == 133


def _chain(user, *seconds):
    """A finished Omni text job of seconds[0], extended by each of the rest."""
    job = finished(user, model=OMNI, options={**JOB_OPTIONS, "duration_seconds": seconds[0]})
    for added in seconds[1:]:
        job = finished(
            user,
            model=OMNI,
            task=Task.EXTEND,
            parent=job,
            options={**JOB_OPTIONS, "duration_seconds": added},
        )
    return job


REFUSALS = {
    "a task the model does not offer": (
        lambda user: {"model": MODEL, "task": Task.UPSCALE, "parent": finished(user)},
        "task",
        "Veo 3.1 Fast does not upscale a video",
    ),
    "more reference images than allowed": (
        lambda user: {"task": Task.REFERENCES, "reference_images": [frame()] * 7},
        "reference_images",
        "takes up to 6 reference images; 7 were given",
    ),
    "an extension of a full chain": (
        lambda user: {"task": Task.EXTEND, "parent": _chain(user, 10, 10, 10)},
        "parent",
        "already 30 s long and Gemini Omni 1.2 Flash extends a video to at most 30 s: 0 s are left",
    ),
    "an extension longer than the room left": (
        lambda user: {
            "task": Task.EXTEND,
            "parent": _chain(user, 10, 10, 5),
            "options": {**JOB_OPTIONS, "duration_seconds": 8},
        },
        "duration_seconds",
        "The video is 25 s long and Gemini Omni 1.2 Flash extends a video to at most 30 s: "
        "5 s are left, so choose at most 5 s.",
    ),
    "an extension of another API's video": (
        lambda user: {"task": Task.EXTEND, "parent": finished(user, model=MODEL)},
        "parent",
        "made by Veo 3.1 Fast through another provider or API",
    ),
    "an extension of another provider's video": (
        lambda user: {
            "model": MODEL,
            "task": Task.EXTEND,
            "parent": finished(user, model="veo-3.1-fast-generate-001"),
            "options": {**JOB_OPTIONS, "duration_seconds": 8},
        },
        "parent",
        "Veo 3.1 Fast can only extend videos made through predictLongRunning on the Gemini API",
    ),
    "an extension of an Omni video made on Vertex": (
        lambda user: {
            "task": Task.EXTEND,
            "parent": finished(user, model=OMNI, metadata={"provider": "vertex"}),
        },
        "parent",
        "made by Gemini Omni 1.2 Flash through another provider or API; Gemini Omni 1.2 Flash "
        "can only extend videos made through the Interactions API on the Gemini API",
    ),
    "a Veo extension of a video that is not 720p": (
        lambda user: {
            "model": MODEL,
            "task": Task.EXTEND,
            "parent": finished(user, options={**JOB_OPTIONS, "resolution": "1080p"}),
            "options": {**JOB_OPTIONS, "duration_seconds": 8},
        },
        "parent",
        "video is 1080p; Veo 3.1 Fast extends 720p videos only.",
    ),
    "an edit of a job that has no video": (
        lambda user: {
            "task": Task.EDIT,
            "parent": make_job(user, model=OMNI, status=Status.FAILED, error="Refused"),
        },
        "parent",
        "has no video to edit: it failed",
    ),
    "an upscale of a job still running": (
        lambda user: {"task": Task.UPSCALE, "parent": make_job(user, model=OMNI)},
        "parent",
        "has no video to upscale: it has not finished",
    ),
    "an edit of a video too long for the model": (
        lambda user: {"task": Task.EDIT, "parent": _chain(user, 10, 8)},
        "parent",
        "video is 18 s long; Gemini Omni 1.2 Flash edits videos of 3 to 15 s",
    ),
    "an extend without a parent": (
        lambda user: {"task": Task.EXTEND},
        "parent",
        "Choose the job whose video to extend.",
    ),
    "a parent for a text job": (
        lambda user: {"task": Task.TEXT, "parent": finished(user, model=OMNI)},
        "parent",
        "Only an extend, edit or upscale starts from another job's video",
    ),
    "a seed on a model without one": (
        lambda user: {"model": MODEL, "options": {**JOB_OPTIONS, "seed": 42}},
        "seed",
        "Veo 3.1 Fast takes no seed here",
    ),
    "a negative prompt on Omni": (
        lambda user: {"options": {**JOB_OPTIONS, "negative_prompt": "text"}},
        "negative_prompt",
        "say what to avoid in the prompt itself",
    ),
    "an audio switch on Omni": (
        lambda user: {"options": {**JOB_OPTIONS, "generate_audio": False}},
        "generate_audio",
        "always makes sound",
    ),
    "prompt enhancement on Omni": (
        lambda user: {"options": {**JOB_OPTIONS, "enhance_prompt": True}},
        "enhance_prompt",
        "no prompt enhancement",
    ),
    "an unknown task": (lambda user: {"task": "dance"}, "task", "Unknown task 'dance'"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_bad_input_is_refused_naming_the_field_with_nothing_stored_or_queued(
    case, user, data_dir, django_capture_on_commit_callbacks
):
    make_fields, field, message = REFUSALS[case]
    fields = make_fields(user)
    before = set(VideoCreationJob.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks() as queued, pytest.raises(ValidationError) as caught:
        create(user, **fields)

    errors = caught.value.message_dict
    assert field in errors, errors
    assert message in errors[field][0]
    assert set(VideoCreationJob.objects.values_list("pk", flat=True)) == before
    assert queued == []
    assert not (data_dir / "videos").exists() or not any(
        path.is_file() for path in (data_dir / "videos").rglob("reference-*")
    )


@pytest.mark.usefixtures("real_catalog")
def test_a_retired_model_is_refused_before_anything_is_stored(
    user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as queued, pytest.raises(ValidationError) as caught:
        create(user, model="veo-3.1-fast-generate-preview")
    assert "retired by Google on 2026-10-22" in caught.value.message_dict["model"][0]
    assert queued == [] and not VideoCreationJob.objects.exists()


@pytest.mark.usefixtures("real_catalog")
def test_a_retired_model_by_api_is_refused_naming_the_field(api):
    body = {"promptText": "A fox", "options": {"model": "veo-3.1-fast-generate-preview"}}
    response = api.post(reverse("api:jobs"), body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "options.model" in response.content.decode()
    assert not VideoCreationJob.objects.exists()


def test_a_retry_keeps_the_task_the_parent_and_the_reference_images(user):
    images = [frame("red"), frame("blue", "JPEG")]
    failed = create(user, task=Task.REFERENCES, reference_images=images)
    VideoCreationJob.objects.filter(pk=failed.pk).update(status=Status.FAILED)
    failed.refresh_from_db()

    retry = services.job_retry(job=failed, owner=user)

    assert retry.task == "reference_to_video" and retry.retry_of == failed
    stored = {r.filename: r for r in retry.resources.all()}
    assert set(stored) == {"reference-0.png", "reference-1.jpg"}
    assert storage.read_bytes(stored["reference-1.jpg"].file_path) == images[1].data

    parent = finished(user, model=OMNI, options={**JOB_OPTIONS, "duration_seconds": 6})
    extension = create(user, task=Task.EXTEND, parent=parent)
    VideoCreationJob.objects.filter(pk=extension.pk).update(status=Status.FAILED)
    extension.refresh_from_db()
    again = services.job_retry(job=extension, owner=user)
    assert (again.task, again.parent) == ("extend", parent)


def test_a_token_priced_job_is_estimated_from_its_tokens(user):
    job = create(user, options={**JOB_OPTIONS, "duration_seconds": 8})
    # 8 s x 5,792 tokens x $17.50 a million.
    assert job.estimated_cost_usd == Decimal("0.8109")
