"""The media checks on real files: a cut video is refused, and the reason names no path."""

import pytest

from jobs.media import NotAVideo, probe
from jobs.veo.emulator.media import render_mp4


@pytest.fixture(scope="module")
def faststart_mp4(tmp_path_factory):
    """A real faststart MP4 (moov first) from the emulator's renderer, four seconds long."""
    path = tmp_path_factory.mktemp("media") / "clip.mp4"
    render_mp4(path, prompt="media clip", width=320, height=180, seconds=4)
    return path


def cut(source, dest, fraction):
    data = source.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


def test_a_whole_video_passes_with_its_duration(faststart_mp4):
    info = probe(faststart_mp4)
    assert abs(info.duration - 4) < 0.3
    assert (info.width, info.height) == (320, 180)


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_a_faststart_video_cut_short_is_refused(faststart_mp4, tmp_path, fraction):
    assert faststart_mp4.read_bytes()[4:8] == b"ftyp"
    assert b"moov" in faststart_mp4.read_bytes()[:4096]  # faststart: the index comes first
    short = cut(faststart_mp4, tmp_path / "short.mp4", fraction)
    with pytest.raises(NotAVideo) as refused:
        probe(short)
    assert "shorter than it declares" in str(refused.value)


def test_the_reason_for_an_unreadable_file_names_no_path_nor_ffmpeg_error(tmp_path):
    page = tmp_path / "secret-server-dir" / "download.mp4"
    page.parent.mkdir()
    page.write_bytes(b"<html><body>Quota exceeded</body></html>")
    with pytest.raises(NotAVideo) as refused:
        probe(page)
    reason = str(refused.value)
    assert "secret-server-dir" not in reason
    assert str(tmp_path) not in reason
    assert "Errno" not in reason and "Invalid data" not in reason
    assert reason == "The downloaded file is not a video."
