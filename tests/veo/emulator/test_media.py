import io

import av

from jobs.veo.emulator.media import render_mp4


def test_render_mp4_writes_h264_and_aac_of_the_requested_size_and_length(tmp_path):
    path = tmp_path / "clip.mp4"

    render_mp4(path, prompt="A heron over a misty lake", width=1280, height=720, seconds=4)

    with av.open(str(path)) as container:
        video, audio = container.streams.video, container.streams.audio
        assert len(video) == 1
        assert len(audio) == 1
        assert video[0].codec_context.name == "h264"
        assert video[0].codec_context.pix_fmt == "yuv420p"
        assert (video[0].width, video[0].height) == (1280, 720)
        assert audio[0].codec_context.name == "aac"
        assert audio[0].sample_rate == 48_000
        assert abs(container.duration / av.time_base - 4) <= 0.2
        assert abs(float(video[0].duration * video[0].time_base) - 4) <= 0.2
        assert abs(float(audio[0].duration * audio[0].time_base) - 4) <= 0.2


def test_render_mp4_puts_the_index_first_when_writing_to_a_file_object():
    buffer = io.BytesIO()

    render_mp4(buffer, prompt="Portrait clip", width=360, height=640, seconds=1)

    data = buffer.getvalue()
    assert data.index(b"moov") < data.index(b"mdat")
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (360, 640)


def test_render_mp4_frames_change_over_time(tmp_path):
    path = tmp_path / "clip.mp4"
    render_mp4(path, prompt="Something moves", width=320, height=180, seconds=1, fps=10)

    with av.open(str(path)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]

    assert len(frames) == 10
    assert frames[0].tobytes() != frames[-1].tobytes()


def test_render_mp4_survives_an_overlong_prompt_and_unbreakable_words(tmp_path):
    path = tmp_path / "clip.mp4"
    prompt = "x" * 400 + " " + "a long prompt with many words " * 150 + "\n\nlast line"

    render_mp4(path, prompt=prompt, width=320, height=180, seconds=1)

    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 24
