"""A storyboard's cut: real takes from the emulator's renderer, assembled and read back with PyAV.

Each take has its own background colour, so a frame says which take it came from, and the
emulator's tone, which steps through four notes every half second from the take's start,
so the sound says which moment of which take plays: its pitch, counted from zero
crossings, shows whether audio and picture stayed together across a boundary.
"""

import io
import itertools
import math
from array import array

import av
import pytest
from PIL import Image, ImageChops, ImageStat

from drafts.storyboards.assembly import (
    AssemblyError,
    Profile,
    Segment,
    assemble,
    inspect,
    last_frame,
)
from jobs.media import probe
from jobs.veo.emulator.media import NOTES_HZ, render_mp4

PROFILE = Profile(width=320, height=180, fps=24)
FRAME = 1 / PROFILE.fps
# Red, green, blue, yellow and magenta takes; 4:3 for the letterbox.
TAKES = {
    "red": {"colour": "#c03020", "size": (320, 180), "seconds": 2},
    "green": {"colour": "#20a040", "size": (320, 180), "seconds": 3},
    "blue": {"colour": "#2040c0", "size": (640, 360), "seconds": 1.5},
    "mute": {"colour": "#c0c020", "size": (320, 180), "seconds": 1, "audio": False},
    "square": {"colour": "#c020c0", "size": (240, 180), "seconds": 1},
}


@pytest.fixture(scope="module")
def takes(tmp_path_factory):
    """Render each take once for the module: {name: path}."""
    folder = tmp_path_factory.mktemp("takes")
    paths = {}
    for name, spec in TAKES.items():
        picture = io.BytesIO()
        Image.new("RGB", (16, 9), spec["colour"]).save(picture, format="PNG")
        paths[name] = folder / f"{name}.mp4"
        width, height = spec["size"]
        render_mp4(
            paths[name],
            prompt=f"Take {name}",
            width=width,
            height=height,
            seconds=spec["seconds"],
            background=picture.getvalue(),
            audio=spec.get("audio", True),
        )
    return paths


@pytest.fixture(scope="module")
def b_frames_take(takes, tmp_path_factory):
    """Return a take with B-frames: a re-encoded cut (x264 "veryfast" stores them)."""
    path = tmp_path_factory.mktemp("b-frames") / "b-frames.mp4"
    assemble([Segment(takes["green"], trim_in=1.0)], path, profile=PROFILE)
    return path


# --- Reading the written file back ---------------------------------------------------------


def video_seconds(path):
    """Return the video stream's duration and the seconds its frames cover, decoded."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return float(stream.duration * stream.time_base), frames / PROFILE.fps


def audio_seconds(path):
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def frame_at(path, seconds, *, size=(64, 36)):
    """Return the frame showing at `seconds` as an RGB image, small unless size is None."""
    with av.open(str(path)) as container:
        chosen = None
        for frame in container.decode(video=0):
            if frame.time > seconds + 1e-3:
                break
            chosen = frame
        picture = chosen.to_image().convert("RGB")
        return picture if size is None else picture.resize(size)


def bar_filled(picture):
    """Return how many pixels of the emulator's progress bar are filled: its frame's moment."""
    row = picture.height - picture.height // 12 + max(4, picture.height // 60) // 2
    pixels = [picture.getpixel((x, row)) for x in range(picture.width)]
    return sum(1 for red, _green, blue in pixels if blue > 180 and red < 120)


def difference(one, other):
    """Return the mean absolute difference of two images' pixels (0 alike, 255 opposite)."""
    return sum(ImageStat.Stat(ImageChops.difference(one, other)).mean) / 3


def samples(path):
    """Return the first audio channel as 48 kHz floats."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=48_000)
    values = array("f")
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for piece in resampler.resample(frame):
                values.frombytes(bytes(piece.planes[0])[: piece.samples * 4])
    return values


def pitch(values, start, end):
    """Return the pitch in Hz between start and end seconds, from zero crossings."""
    window = values[round(start * 48_000) : round(end * 48_000)]
    crossings = sum(1 for a, b in itertools.pairwise(window) if (a < 0) != (b < 0))
    return crossings / 2 / (end - start)


def note(values, start, end):
    """Return the emulator note (index into NOTES_HZ) heard between start and end seconds."""
    heard = pitch(values, start, end)
    nearest = min(range(len(NOTES_HZ)), key=lambda n: abs(NOTES_HZ[n] - heard))
    assert abs(NOTES_HZ[nearest] - heard) < 40, f"{heard:.0f} Hz is none of the notes"
    return nearest


def note_of_take_at(seconds):
    """Return the note the emulator's tone plays at `seconds` into a take."""
    return int(seconds // 0.5) % len(NOTES_HZ)


def loudness(values, start, end):
    window = values[round(start * 48_000) : round(end * 48_000)]
    return math.sqrt(sum(v * v for v in window) / len(window))


def assert_plays(path, cut):
    """Assert the cut passes the studio's probe: every stream reaches its declared length."""
    info = probe(path)
    assert (info.width, info.height) == (cut.width, cut.height)
    assert info.has_audio == cut.has_audio
    return info


# --- Stream copy ---------------------------------------------------------------------------


def test_same_profile_takes_are_copied_with_their_whole_length_and_sound(takes, tmp_path):
    dest = tmp_path / "cut.mp4"

    cut = assemble([Segment(takes["red"]), Segment(takes["green"])], dest, profile=PROFILE)

    assert cut.stream_copy
    assert (cut.width, cut.height, cut.has_audio) == (320, 180, True)
    assert cut.duration == pytest.approx(5.0, abs=FRAME)
    declared, decoded = video_seconds(dest)
    assert declared == pytest.approx(5.0, abs=FRAME)
    assert decoded == pytest.approx(5.0, abs=FRAME)
    assert audio_seconds(dest) == pytest.approx(5.0, abs=FRAME)
    assert cut.segments == [(0.0, 2.0), (2.0, 5.0)]
    assert_plays(dest, cut)
    # The green take's first note starts with its first frame, two seconds in.
    sound = samples(dest)
    assert note(sound, 1.55, 1.98) == note_of_take_at(1.9)  # red's last half second
    assert note(sound, 2.02, 2.45) == note_of_take_at(0.0)
    green = frame_at(takes["green"], 0.0)
    assert difference(frame_at(dest, 2.0), green) < 3
    assert difference(frame_at(dest, 1.95), green) > 30


def test_takes_copied_with_a_trim_out_end_at_the_frame_asked_for(takes, tmp_path):
    dest = tmp_path / "cut.mp4"
    segments = [Segment(takes["red"], trim_out=1.5), Segment(takes["green"], trim_out=2.01)]

    cut = assemble(segments, dest, profile=PROFILE)

    assert cut.stream_copy
    assert cut.segments == [(0.0, 1.5), (1.5, 3.5)]
    declared, decoded = video_seconds(dest)
    assert declared == pytest.approx(1.5 + 2.01, abs=FRAME)
    assert decoded == pytest.approx(1.5 + 2.01, abs=FRAME)
    assert_plays(dest, cut)
    sound = samples(dest)
    assert note(sound, 1.05, 1.48) == note_of_take_at(1.4)
    assert note(sound, 1.52, 1.95) == note_of_take_at(0.0)


def test_a_take_with_b_frames_is_copied_whole_but_re_encoded_when_trimmed(b_frames_take, tmp_path):
    assert inspect([Segment(b_frames_take)])[0].reorders
    whole = assemble(
        [Segment(b_frames_take), Segment(b_frames_take)], tmp_path / "whole.mp4", profile=PROFILE
    )
    trimmed = assemble(
        [Segment(b_frames_take, trim_out=1.0), Segment(b_frames_take)],
        tmp_path / "trimmed.mp4",
        profile=PROFILE,
    )

    assert whole.stream_copy
    assert video_seconds(tmp_path / "whole.mp4") == pytest.approx((4.0, 4.0), abs=FRAME)
    assert_plays(tmp_path / "whole.mp4", whole)
    assert not trimmed.stream_copy
    assert video_seconds(tmp_path / "trimmed.mp4") == pytest.approx((3.0, 3.0), abs=FRAME)
    assert_plays(tmp_path / "trimmed.mp4", trimmed)


@pytest.fixture(scope="module")
def long_take(tmp_path_factory):
    """Return an 11 s take: the emulator's x264 puts its second keyframe at frame 250."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    render_mp4(path, prompt="Long take", width=160, height=90, seconds=11)
    return path


def keyframes(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        return [
            float(packet.pts * video.time_base)
            for packet in container.demux(video)
            if packet.dts is not None and packet.is_keyframe
        ]


@pytest.mark.parametrize(
    ("trim_in", "copied"), [(250 / 24, True), (250 / 24 + 0.4 / 24, True), (1.0, False)]
)
def test_a_trim_in_is_copied_only_within_half_a_frame_of_a_keyframe(
    long_take, tmp_path, trim_in, copied
):
    assert keyframes(long_take) == pytest.approx([0.0, 250 / 24])
    dest = tmp_path / "cut.mp4"
    segments = [Segment(long_take, trim_out=1.0), Segment(long_take, trim_in=trim_in)]

    cut = assemble(segments, dest, profile=Profile(width=160, height=90))

    assert cut.stream_copy is copied
    asked = 1.0 + 11 - trim_in
    assert video_seconds(dest) == pytest.approx((asked, asked), abs=FRAME)
    assert audio_seconds(dest) == pytest.approx(asked, abs=FRAME)
    assert_plays(dest, cut)
    sound = samples(dest)
    # Past the boundary the take plays from trim_in: its note at trim_in + 0.05 s.
    heard = note_of_take_at(trim_in + 0.05)
    assert note(sound, 1.02, 1.0 + (math.floor(trim_in / 0.5 + 1) * 0.5 - trim_in) - 0.02) == heard


def test_a_take_at_another_frame_rate_is_re_encoded_to_the_profile_rate(takes, tmp_path):
    thirty = tmp_path / "thirty.mp4"
    render_mp4(thirty, prompt="Thirty", width=320, height=180, seconds=1.5, fps=30)
    dest = tmp_path / "cut.mp4"

    cut = assemble([Segment(takes["red"]), Segment(thirty)], dest, profile=PROFILE)

    assert not cut.stream_copy
    with av.open(str(dest)) as container:
        assert container.streams.video[0].average_rate == 24
    assert video_seconds(dest) == pytest.approx((3.5, 3.5), abs=FRAME)
    assert audio_seconds(dest) == pytest.approx(3.5, abs=FRAME)
    assert_plays(dest, cut)
    # Each frame shows the thirty's frame of its moment: its progress bar as far along.
    for seconds in (0.25, 0.75, 1.25):
        shown = bar_filled(frame_at(dest, 2.0 + seconds, size=None))
        assert shown == pytest.approx(bar_filled(frame_at(thirty, seconds, size=None)), abs=3)


def test_takes_without_sound_make_a_cut_without_an_audio_track(takes, tmp_path):
    dest = tmp_path / "cut.mp4"

    cut = assemble([Segment(takes["mute"]), Segment(takes["mute"])], dest, profile=PROFILE)

    assert cut.stream_copy
    assert not cut.has_audio
    assert video_seconds(dest) == pytest.approx((2.0, 2.0), abs=FRAME)
    assert_plays(dest, cut)


# --- Re-encode -----------------------------------------------------------------------------


def test_a_take_of_another_size_forces_one_re_encode_to_the_profile_size(takes, tmp_path):
    dest = tmp_path / "cut.mp4"

    cut = assemble([Segment(takes["red"]), Segment(takes["blue"])], dest, profile=PROFILE)

    assert not cut.stream_copy
    assert (cut.width, cut.height, cut.has_audio) == (320, 180, True)
    with av.open(str(dest)) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert container.streams.audio[0].codec_context.name == "aac"
    assert video_seconds(dest) == pytest.approx((3.5, 3.5), abs=FRAME)
    assert audio_seconds(dest) == pytest.approx(3.5, abs=FRAME)
    assert_plays(dest, cut)
    assert difference(frame_at(dest, 0.5), frame_at(takes["red"], 0.5)) < 4
    assert difference(frame_at(dest, 2.5), frame_at(takes["blue"], 0.5)) < 4
    assert difference(frame_at(dest, 2.5), frame_at(takes["red"], 0.5)) > 30


def test_a_take_of_another_shape_is_letterboxed_into_the_profile(takes, tmp_path):
    dest = tmp_path / "cut.mp4"

    cut = assemble([Segment(takes["red"]), Segment(takes["square"])], dest, profile=PROFILE)

    assert (cut.width, cut.height) == (320, 180)
    with av.open(str(dest)) as container:
        frames = list(container.decode(video=0))
    picture = frames[-1].to_image().convert("RGB")
    # 240x180 in 320x180: 40 black columns each side, the magenta take between them.
    for x in (5, 314):
        assert max(picture.getpixel((x, 90))) < 20
    assert picture.getpixel((160, 90))[0] > 120


@pytest.mark.parametrize(
    "trims",
    [
        [("red", 0.5, 1.7), ("green", 1.0, None)],
        [("red", 0.0, 1.3), ("green", 0.7, 2.2), ("red", 1.01, 1.99)],
        [("green", 0.25, 0.3), ("red", 0.0, None), ("green", 2.9, None)],
    ],
    ids=["two", "three-odd-edges", "short-and-end"],
)
def test_trimmed_takes_make_a_cut_as_long_as_the_trims(takes, tmp_path, trims):
    dest = tmp_path / "cut.mp4"
    segments = [Segment(takes[name], trim_in=a, trim_out=b) for name, a, b in trims]
    asked = sum((b if b is not None else TAKES[name]["seconds"]) - a for name, a, b in trims)

    cut = assemble(segments, dest, profile=PROFILE)

    declared, decoded = video_seconds(dest)
    assert cut.duration == pytest.approx(asked, abs=FRAME)
    assert declared == pytest.approx(asked, abs=FRAME)
    assert decoded == pytest.approx(asked, abs=FRAME)
    assert audio_seconds(dest) == pytest.approx(asked, abs=FRAME)
    assert_plays(dest, cut)
    assert len(cut.segments) == len(trims)
    assert cut.segments[0][0] == 0.0
    assert cut.segments[-1][1] == pytest.approx(cut.duration, abs=1e-6)
    for (_, end), (start, _) in itertools.pairwise(cut.segments):
        assert start == end
    # Each segment opens on its take's frame at its trim_in, with the take's sound from there.
    sound = samples(dest)
    for (name, trim_in, _), (start, end) in zip(trims, cut.segments, strict=True):
        assert difference(frame_at(dest, start), frame_at(takes[name], trim_in)) < 4
        # Listen inside one note of the take: from just after trim_in to the note's end.
        heard_from = trim_in + 0.02
        heard_to = min(math.floor(heard_from / 0.5 + 1) * 0.5, trim_in + end - start) - 0.02
        if heard_to - heard_from >= 0.1:
            at = start - trim_in
            assert note(sound, at + heard_from, at + heard_to) == note_of_take_at(heard_from)


def test_a_trim_in_between_keyframes_is_re_encoded_with_its_sound_in_step(takes, tmp_path):
    dest = tmp_path / "cut.mp4"
    segments = [Segment(takes["red"], trim_out=1.25), Segment(takes["green"], trim_in=1.0)]

    cut = assemble(segments, dest, profile=PROFILE)

    assert not cut.stream_copy  # the emulator's only keyframe is its first frame
    assert cut.segments == [(0.0, 1.25), (1.25, 3.25)]
    sound = samples(dest)
    # Red from 1.0 s plays its third note until 1.25; green from 1.0 s its third, then
    # at 1.5 s into green (1.75 into the cut) its fourth.
    assert note(sound, 1.02, 1.23) == note_of_take_at(1.1)
    assert note(sound, 1.27, 1.73) == note_of_take_at(1.1)
    assert note(sound, 1.77, 2.23) == note_of_take_at(1.6)
    assert note(sound, 2.27, 2.73) == note_of_take_at(2.1)


def test_a_take_without_sound_gets_silence_among_takes_with_sound(takes, tmp_path):
    dest = tmp_path / "cut.mp4"
    segments = [Segment(takes["red"]), Segment(takes["mute"]), Segment(takes["green"])]

    cut = assemble(segments, dest, profile=PROFILE)

    assert not cut.stream_copy
    assert cut.has_audio
    assert cut.segments == [(0.0, 2.0), (2.0, 3.0), (3.0, 6.0)]
    assert video_seconds(dest) == pytest.approx((6.0, 6.0), abs=FRAME)
    assert audio_seconds(dest) == pytest.approx(6.0, abs=FRAME)
    assert_plays(dest, cut)
    sound = samples(dest)
    assert loudness(sound, 2.05, 2.95) < 0.002
    assert loudness(sound, 1.5, 1.95) > 0.03
    assert note(sound, 1.52, 1.98) == note_of_take_at(1.9)
    assert note(sound, 3.02, 3.48) == note_of_take_at(0.0)
    assert note(sound, 3.52, 3.98) == note_of_take_at(0.6)


def test_a_take_whose_sound_stops_early_is_re_encoded_with_silence_after_it(takes, tmp_path):
    early = tmp_path / "early.mp4"
    with av.open(str(takes["red"])) as source, av.open(str(early), "w", format="mp4") as out:
        video, audio = source.streams.video[0], source.streams.audio[0]
        copies = {video.index: out.add_stream_from_template(video)}
        copies[audio.index] = out.add_stream_from_template(audio)
        for packet in source.demux(video, audio):
            if packet.dts is None:
                continue
            if packet.stream_index == audio.index and packet.pts * audio.time_base >= 1:
                continue
            packet.stream = copies[packet.stream_index]
            out.mux(packet)
    assert audio_seconds(early) == pytest.approx(1.0, abs=0.03)
    dest = tmp_path / "cut.mp4"

    cut = assemble([Segment(early), Segment(takes["green"])], dest, profile=PROFILE)

    assert not cut.stream_copy
    assert audio_seconds(dest) == pytest.approx(5.0, abs=FRAME)
    assert_plays(dest, cut)
    sound = samples(dest)
    assert note(sound, 0.52, 0.98) == note_of_take_at(0.6)
    assert loudness(sound, 1.1, 1.95) < 0.002
    assert note(sound, 2.02, 2.48) == note_of_take_at(0.0)


@pytest.mark.parametrize(
    "names",
    [["red", "green"], ["red", "blue", "mute"]],
    ids=["stream-copy", "re-encode"],
)
def test_progress_grows_to_one(takes, tmp_path, names):
    told = []

    cut = assemble(
        [Segment(takes[name]) for name in names],
        tmp_path / "cut.mp4",
        profile=PROFILE,
        progress=told.append,
    )

    assert cut.stream_copy is (names == ["red", "green"])
    assert len(told) > 10
    assert told == sorted(told)
    assert 0 <= told[0] < 0.2
    assert told[-1] == 1.0
    assert told.count(1.0) == 1


# --- Refusals --------------------------------------------------------------------------------


def bad_takes(folder, takes):
    text = folder / "notes.mp4"
    text.write_text("<html>Not found</html>")
    truncated = folder / "truncated.mp4"
    whole = takes["green"].read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    return {"text": text, "missing": folder / "missing.mp4", "truncated": truncated}


@pytest.mark.parametrize(
    ("second", "message"),
    [
        (("green", -0.5, None), "Shot 2's trim starts before its take begins."),
        (("green", 1.0, 1.0), "Shot 2's trim must end after it starts."),
        (("green", 2.0, 1.0), "Shot 2's trim must end after it starts."),
        (("green", 0.0, 4.0), "Shot 2's trim ends after its take (3.0 s)."),
        (("green", 3.0, None), "Shot 2's trim starts after its take ends (3.0 s)."),
        (("green", 1.0, 1.01), "Shot 2's trim is shorter than one frame."),
        (("green", float("nan"), None), "Shot 2's trim is not a number of seconds."),
        (("green", 0.0, float("inf")), "Shot 2's trim is not a number of seconds."),
        (("text", 0.0, None), "Shot 2's take is not a video."),
        (("missing", 0.0, None), "Shot 2's take is not a video."),
    ],
)
def test_a_bad_shot_is_refused_by_its_position_in_words_for_a_person(
    takes, tmp_path, second, message
):
    files = {**takes, **bad_takes(tmp_path, takes)}
    name, trim_in, trim_out = second
    segments = [Segment(takes["red"]), Segment(files[name], trim_in=trim_in, trim_out=trim_out)]
    dest = tmp_path / "cut.mp4"

    with pytest.raises(AssemblyError) as refused:
        assemble(segments, dest, profile=PROFILE)

    assert str(refused.value) == message
    assert not dest.exists()


def test_a_trim_out_within_a_frame_past_the_end_means_the_end(takes, tmp_path):
    cut = assemble(
        [Segment(takes["green"], trim_out=3.0 + FRAME / 2)], tmp_path / "cut.mp4", profile=PROFILE
    )

    assert cut.duration == pytest.approx(3.0, abs=1e-6)


def test_an_empty_cut_is_refused(tmp_path):
    with pytest.raises(AssemblyError, match=r"^A cut needs at least one picked take\.$"):
        assemble([], tmp_path / "cut.mp4", profile=PROFILE)


@pytest.mark.parametrize("shots", [["red", "truncated"], ["red", "truncated", "blue"]])
def test_a_take_cut_off_fails_the_cut_and_leaves_no_file_behind(takes, tmp_path, shots):
    folder = tmp_path / "out"
    folder.mkdir()
    dest = folder / "cut.mp4"
    dest.write_bytes(b"the cut before")
    files = {**takes, **bad_takes(tmp_path, takes)}

    with pytest.raises(AssemblyError) as refused:
        assemble([Segment(files[name]) for name in shots], dest, profile=PROFILE)

    assert str(refused.value) == (
        "Shot 2's take is shorter than it declares: the file was cut off."
    )
    assert sorted(path.name for path in folder.iterdir()) == ["cut.mp4"]
    assert dest.read_bytes() == b"the cut before"


def test_no_refusal_names_a_path_or_ffmpeg(takes, tmp_path):
    files = bad_takes(tmp_path, takes)
    for name in ("text", "missing", "truncated"):
        with pytest.raises(AssemblyError) as refused:
            assemble([Segment(files[name])], tmp_path / "cut.mp4", profile=PROFILE)
        words = str(refused.value)
        assert str(tmp_path) not in words
        assert ".mp4" not in words
        assert "Invalid data" not in words
        assert "rrno" not in words


# --- The last frame --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["green", "blue"])
def test_last_frame_is_a_png_of_the_takes_final_frame(takes, name):
    png = last_frame(takes[name])

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    picture = Image.open(io.BytesIO(png))
    assert picture.format == "PNG"
    assert picture.size == TAKES[name]["size"]
    with av.open(str(takes[name])) as container:
        frames = [frame.to_image().convert("RGB") for frame in container.decode(video=0)]
    picture = picture.convert("RGB")
    assert difference(picture, frames[-1]) < 0.5
    # The progress bar and frame counter move every frame: the frame before differs.
    assert ImageChops.difference(picture, frames[-2]).getbbox() is not None


def test_last_frame_of_a_long_take_seeks_past_its_keyframes(tmp_path):
    path = tmp_path / "long.mp4"
    render_mp4(path, prompt="Long", width=160, height=90, seconds=12, audio=False)

    picture = Image.open(io.BytesIO(last_frame(path))).convert("RGB")

    with av.open(str(path)) as container:
        frames = [frame for frame in container.decode(video=0)]
    assert difference(picture, frames[-1].to_image().convert("RGB")) < 0.5


def test_last_frame_of_a_file_that_is_not_a_video_is_refused(tmp_path):
    path = tmp_path / "page.mp4"
    path.write_text("<html>502</html>")

    with pytest.raises(AssemblyError, match=r"^The take is not a video\.$"):
        last_frame(path)


def test_inspect_reports_each_takes_codec_size_rate_and_sound(takes):
    red, blue, mute = inspect(
        [Segment(takes["red"]), Segment(takes["blue"]), Segment(takes["mute"])]
    )

    assert (red.video_codec, red.width, red.height, red.fps) == ("h264", 320, 180, 24)
    assert (red.audio_codec, red.sample_rate, red.channels) == ("aac", 48_000, 1)
    assert red.audio_layout == "mono"
    assert not red.reorders
    assert (blue.width, blue.height) == (640, 360)
    assert not mute.has_audio
    assert red.duration == pytest.approx(2.0)
