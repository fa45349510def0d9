"""Google's own SDK (google-genai 3.6.1, a test-only dependency) drives the emulator.

If the SDK accepts every answer, parses it into its typed models and finds the video with its
own ``output_video``, the emulator's Interactions dialect is the wire the SDK was built for, on
the Gemini API (API key) and on Vertex AI (bearer token).
"""

import base64
import contextlib
import io
import time

import google.oauth2.credentials
import pytest
from google import genai
from google.genai import types
from PIL import Image

from tests.conftest import API_KEY

MODEL = "gemini-omni-1.2-flash"
SMALL = {"type": "video", "duration": "3s", "resolution": "360p"}
VERTEX_TOKEN = "ya29.emulator-sdk-test-token"


@contextlib.contextmanager
def sdk_error(class_name):
    """Expect the SDK to raise its error class of that name (they live in a private module)."""
    with pytest.raises(Exception) as caught:
        yield
    names = [cls.__name__ for cls in type(caught.value).__mro__]
    assert names[0] == class_name, names
    assert "APIStatusError" in names


def png_base64(color="red"):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def client(emulator):
    options = types.HttpOptions(base_url=emulator.base_url, api_version="v1")
    return genai.Client(api_key=API_KEY, http_options=options)


@pytest.fixture
def vertex_client(emulator):
    # A token the emulator's token endpoint would have granted, as google-auth would hold it.
    emulator.operations.add_token(VERTEX_TOKEN, time.time() + 3600)
    credentials = google.oauth2.credentials.Credentials(token=VERTEX_TOKEN)
    return genai.Client(
        vertexai=True,
        project="emulator-project",
        location="global",
        credentials=credentials,
        http_options=types.HttpOptions(base_url=emulator.base_url),
    )


def task_config(task):
    return {"video_config": {"task": task}}


def until_done(client, interaction, *, timeout=60):
    deadline = time.monotonic() + timeout
    while interaction.status == "in_progress":
        assert time.monotonic() < deadline, f"{interaction.id} still in progress"
        time.sleep(0.05)
        interaction = client.interactions.get(interaction.id)
    return interaction


def generate(client, *, task, input, response_format=SMALL, running=True, **kwargs):
    created = client.interactions.create(
        model=MODEL,
        input=input,
        background=True,
        response_format=response_format,
        generation_config=task_config(task),
        **kwargs,
    )
    if running:  # A fault without a video ends at once at zero latency.
        assert created.status == "in_progress"
    assert created.id
    return until_done(client, created)


def video_bytes(interaction) -> bytes:
    video = interaction.output_video
    assert video is not None
    assert video.mime_type == "video/mp4"
    data = video.data
    return base64.b64decode(data) if isinstance(data, str) else data


def assert_completed(interaction, *, seconds, tokens_per_second=1931):
    assert interaction.status == "completed"
    assert [step.type for step in interaction.steps] == ["user_input", "thought", "model_output"]
    usage = interaction.usage
    assert usage.total_output_tokens == seconds * tokens_per_second
    [video_tokens] = usage.output_tokens_by_modality
    assert (video_tokens.modality, video_tokens.tokens) == ("video", seconds * tokens_per_second)


def test_text_to_video_through_the_sdk(client):
    interaction = generate(client, task="text_to_video", input="SDK: a red fox in snow")
    assert_completed(interaction, seconds=3)
    assert interaction.model == MODEL
    assert video_bytes(interaction)[4:8] == b"ftyp"


@pytest.mark.parametrize("images", [1, 2], ids=["first-frame", "first-and-last"])
def test_image_to_video_through_the_sdk(client, images):
    parts = [{"type": "image", "data": png_base64(), "mime_type": "image/png"}] * images
    text = {"type": "text", "text": "<FIRST_FRAME> SDK: the harbour at noon"}
    interaction = generate(client, task="image_to_video", input=[*parts, text])
    assert_completed(interaction, seconds=3)
    assert interaction.steps[0].type == "user_input"


def test_reference_images_through_the_sdk(client):
    references = [
        {"type": "image", "data": png_base64(color), "mime_type": "image/png"}
        for color in ("red", "blue", "green")
    ]
    text = {"type": "text", "text": "SDK: a woman <IMAGE_REF_0> walks a dog <IMAGE_REF_1>"}
    interaction = generate(client, task="reference_to_video", input=[*references, text])
    assert_completed(interaction, seconds=3)


def test_extend_by_previous_interaction_adds_to_the_chain(client):
    first = generate(client, task="text_to_video", input="SDK: the fox, part one")
    extended = generate(
        client,
        task="extend",
        input="SDK: the fox reaches the forest",
        previous_interaction_id=first.id,
        response_format={"type": "video", "duration": "4s"},
    )
    assert_completed(extended, seconds=4)
    assert extended.previous_interaction_id == first.id
    with av_open(video_bytes(extended)) as container:
        assert container.duration / 1_000_000 == pytest.approx(7, abs=0.2)


def av_open(data):
    import av

    return av.open(io.BytesIO(data))


def uploaded(client, data: bytes, *, mime_type="video/mp4"):
    file = client.files.upload(
        file=io.BytesIO(data), config={"mime_type": mime_type, "display_name": "clip.mp4"}
    )
    assert file.state == "PROCESSING"
    assert file.size_bytes == len(data)
    deadline = time.monotonic() + 10
    while (file := client.files.get(name=file.name)).state != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return file


def test_extend_an_uploaded_video_through_the_files_api(client):
    source = generate(client, task="text_to_video", input="SDK: a clip to upload")
    file = uploaded(client, video_bytes(source))
    assert file.video_metadata is not None
    video_part = {"type": "video", "uri": file.uri, "mime_type": "video/mp4"}
    text = {"type": "text", "text": "SDK: extend the uploaded clip"}
    extended = generate(
        client,
        task="extend",
        input=[video_part, text],
        response_format={"type": "video", "duration": "3s"},
    )
    assert_completed(extended, seconds=3)
    with av_open(video_bytes(extended)) as container:
        assert container.duration / 1_000_000 == pytest.approx(6, abs=0.2)


def test_edit_of_a_previous_interaction_through_the_sdk(client):
    source = generate(client, task="text_to_video", input="SDK: a fox to edit")
    edited = generate(
        client,
        task="edit",
        input="SDK: make it golden hour. Keep everything else the same.",
        previous_interaction_id=source.id,
        response_format={"type": "video"},
    )
    assert_completed(edited, seconds=3)


def test_upscale_raises_the_resolution(client):
    source = generate(client, task="text_to_video", input="SDK: a 360p draft")
    upscaled = generate(
        client,
        task="upscale",
        input="SDK: upscale to 720p",
        previous_interaction_id=source.id,
        response_format={"type": "video", "resolution": "720p"},
    )
    assert_completed(upscaled, seconds=3, tokens_per_second=5792)
    with av_open(video_bytes(upscaled)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (1280, 720)


def test_uri_delivery_is_downloaded_through_the_files_api(client):
    interaction = generate(
        client,
        task="text_to_video",
        input="SDK: delivered by uri",
        response_format={**SMALL, "delivery": "uri"},
    )
    assert_completed(interaction, seconds=3)
    uri = interaction.output_video.uri
    assert interaction.output_video.data is None
    file_id = uri.rpartition("/files/")[2]
    assert client.files.get(name=f"files/{file_id}").state == "ACTIVE"
    # The SDK extracts the id of https:// uris only; the emulator serves plain http.
    data = client.files.download(file=f"files/{file_id}")
    assert data[4:8] == b"ftyp"


def test_foreground_create_returns_the_completed_interaction(client):
    interaction = client.interactions.create(
        model=MODEL, input="SDK: in the foreground", response_format=SMALL
    )
    assert_completed(interaction, seconds=3)
    assert video_bytes(interaction)[4:8] == b"ftyp"


def test_cancel_and_delete_through_the_sdk(client):
    created = client.interactions.create(
        model=MODEL, input="SDK: cancel me [latency=60]", background=True, response_format=SMALL
    )
    cancelled = client.interactions.cancel(created.id)
    assert cancelled.status == "cancelled"
    assert client.interactions.get(created.id).status == "cancelled"
    client.interactions.delete(created.id)
    with sdk_error("NotFoundError"):
        client.interactions.get(created.id)


def test_cancel_of_a_finished_interaction_is_a_bad_request(client):
    done = generate(client, task="text_to_video", input="SDK: finished before cancel")
    with sdk_error("BadRequestError"):
        client.interactions.cancel(done.id)


def test_sdk_error_classes_for_refusals(client, emulator):
    # Held in a name: a client that is garbage collected closes its connection pool.
    wrong_key = genai.Client(
        api_key="not-the-key",
        http_options=types.HttpOptions(base_url=emulator.base_url, api_version="v1"),
    )
    with sdk_error("AuthenticationError"):
        wrong_key.interactions.create(model=MODEL, input="SDK: wrong key", background=True)
    with sdk_error("NotFoundError"):
        client.interactions.create(model="gemini-omni-9-flash", input="x", background=True)
    with sdk_error("BadRequestError"):
        client.interactions.create(model=MODEL, input=[], background=True)
    with sdk_error("NotFoundError"):
        client.interactions.create(
            model=MODEL, input="x", background=True, previous_interaction_id="v1_gone"
        )


def test_the_sdk_retries_a_429_create_five_times(client, emulator):
    """The SDK retries creates by itself: one reason the studio's client does not use it."""
    prompt = "SDK: rate limited [fault=submit-429] [retry-after=0.05]"
    with sdk_error("RateLimitError"):
        client.interactions.create(model=MODEL, input=prompt, background=True)
    assert emulator.requests_for("SDK: rate limited") == 5
    assert emulator.submits_for("SDK: rate limited") == 0


def test_the_sdk_resubmits_a_create_the_server_accepted(client, emulator):
    """A 500 after acceptance makes the SDK create again: four more billed generations."""
    prompt = "SDK: accepted then 500 [fault=submit-500-accepted]"
    with sdk_error("InternalServerError"):
        client.interactions.create(model=MODEL, input=prompt, background=True)
    assert emulator.submits_for("SDK: accepted then 500") == 5


def test_failed_and_videoless_interactions_parse(client):
    failed = generate(
        client, task="text_to_video", input="SDK: breaks [fault=done-error]", running=False
    )
    assert failed.status == "failed"
    assert failed.errors[0].message
    assert failed.steps[-1].error.code == 13
    assert failed.output_video is None
    empty = generate(
        client, task="text_to_video", input="SDK: filtered [fault=safety]", running=False
    )
    assert empty.status == "completed"
    assert empty.output_video is None
    assert empty.usage.total_output_tokens == 0


def test_vertex_interactions_through_the_sdk(vertex_client):
    interaction = generate(vertex_client, task="text_to_video", input="SDK Vertex: a fox")
    assert_completed(interaction, seconds=3)
    assert video_bytes(interaction)[4:8] == b"ftyp"
    extended = generate(
        vertex_client,
        task="extend",
        input="SDK Vertex: and on",
        previous_interaction_id=interaction.id,
        response_format={"type": "video", "duration": "3s"},
    )
    assert_completed(extended, seconds=3)
    with sdk_error("BadRequestError"):
        vertex_client.interactions.cancel(extended.id)
    vertex_client.interactions.delete(extended.id)
    with sdk_error("NotFoundError"):
        vertex_client.interactions.get(extended.id)


def test_vertex_uri_delivery_writes_to_cloud_storage(vertex_client):
    interaction = generate(
        vertex_client,
        task="text_to_video",
        input="SDK Vertex: into a bucket",
        response_format={**SMALL, "delivery": "uri", "gcs_uri": "gs://studio-bucket/out/"},
    )
    assert_completed(interaction, seconds=3)
    uri = interaction.output_video.uri
    assert uri.startswith("gs://studio-bucket/out/") and uri.endswith(".mp4")


def test_vertex_refuses_a_token_it_did_not_grant(emulator):
    credentials = google.oauth2.credentials.Credentials(token="ya29.forged")
    client = genai.Client(
        vertexai=True,
        project="emulator-project",
        location="global",
        credentials=credentials,
        http_options=types.HttpOptions(base_url=emulator.base_url),
    )
    with sdk_error("AuthenticationError"):
        client.interactions.create(model=MODEL, input="SDK Vertex: forged", background=True)


@pytest.fixture
def vertex_veo_client(emulator):
    emulator.operations.add_token(VERTEX_TOKEN, time.time() + 3600)
    return genai.Client(
        vertexai=True,
        project="emulator-project",
        location="us-central1",
        credentials=google.oauth2.credentials.Credentials(token=VERTEX_TOKEN),
        http_options=types.HttpOptions(base_url=emulator.base_url),
    )


def test_veo_on_vertex_through_the_sdk(vertex_veo_client, emulator):
    """The predict dialect still answers the SDK's generate_videos, into a bucket and inline."""
    client = vertex_veo_client
    for storage in ("gs://studio-bucket/veo/", None):
        operation = client.models.generate_videos(
            model="veo-3.1-fast-generate-001",
            source=types.GenerateVideosSource(prompt=f"SDK Veo on Vertex {storage}"),
            config=types.GenerateVideosConfig(duration_seconds=4, output_gcs_uri=storage),
        )
        deadline = time.monotonic() + 60
        while not operation.done:
            assert time.monotonic() < deadline
            time.sleep(0.05)
            operation = client.operations.get(operation)
        assert operation.error is None
        [generated] = operation.response.generated_videos
        if storage:
            assert generated.video.uri.startswith(storage)
        else:
            assert generated.video.video_bytes[4:8] == b"ftyp"
    assert emulator.submits_for("SDK Veo on Vertex") == 2
