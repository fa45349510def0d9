"""A storyboard's cut by stream copy (drafts.storyboards.assembly.assemble), against ffmpeg.

Renders N distinct takes with the emulator's renderer (H.264 + AAC, as Veo's stand-in
makes them; default 8 takes of 8 s at 1280x720) and assembles them whole, in order, with
`assemble` in this process: every packet copied, timestamps rebased per take, a
faststart MP4 written beside the target, fsynced and renamed into place. Baseline: the
same files through `ffmpeg -f concat -safe 0 -i list.txt -c copy out.mp4`, a process
per cut as a worker would start it. Throughput is the takes' bytes over the wall time,
median of the runs, the two tools taking turns. Both outputs are checked: the cut must
be a stream copy as long as the takes, and pass `jobs.media.probe`. Without ffmpeg
(CI machines may lack it) the baseline is a plain PyAV remux of the same files, a
stand-in said so in the ratio line and not judged.

    uv run python bench/cut.py [--smoke] [--takes 8] [--seconds 8] [--size 1280x720]
"""

import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

THROUGHPUT_GOAL = 0.7  # of ffmpeg's
MIB = 1024 * 1024


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--takes", type=int, help="takes in the cut (default 8; smoke 3)")
    parser.add_argument("--seconds", type=float, help="seconds per take (default 8; smoke 1)")
    parser.add_argument("--size", help="WxH of the takes (default 1280x720; smoke 320x180)")
    parser.add_argument("--runs", type=int, help="runs of each tool (default 7; smoke 1)")
    parser.add_argument(
        "--without-ffmpeg",
        action="store_true",
        help="measure against the PyAV stand-in even when ffmpeg is installed",
    )
    args = parser.parse_args()
    smoke = args.smoke
    count = args.takes or (3 if smoke else 8)
    seconds = args.seconds or (1.0 if smoke else 8.0)
    width, height = (int(n) for n in (args.size or ("320x180" if smoke else "1280x720")).split("x"))
    runs = args.runs or (1 if smoke else 7)
    ffmpeg = None if args.without_ffmpeg else shutil.which("ffmpeg")

    harness.print_machine("A cut by stream copy against ffmpeg's concat", smoke)
    with harness.Sandbox("cut", keep=args.keep) as sandbox:
        takes = render_takes(sandbox.root / "takes", count, seconds, width, height)
        size = sum(path.stat().st_size for path in takes)
        print(
            f"  takes: {count} x {seconds:g} s at {width}x{height}, H.264 + AAC from the "
            f"emulator's renderer, {size / MIB:.1f} MiB in all (in the page cache: one "
            "untimed run of each tool first)"
        )
        tools = {"assemble": lambda dest: ours(takes, dest, width, height)}
        if ffmpeg:
            tools["ffmpeg"] = lambda dest: ffmpeg_concat(ffmpeg, takes, dest, sandbox.root)
            baseline, baseline_name = "ffmpeg", "ffmpeg -f concat -c copy"
        else:
            why = "--without-ffmpeg" if args.without_ffmpeg else "ffmpeg is not installed"
            print(f"  {why}: the baseline is a stand-in, a plain PyAV remux")
            tools["remux"] = lambda dest: remux(takes, dest)
            baseline, baseline_name = "remux", "a plain PyAV remux (stand-in: no ffmpeg here)"
        times = measure(tools, sandbox.root / "out", runs)
        problems = check(sandbox.root / "out", tools, count * seconds)
        startup = process_start(ffmpeg) if ffmpeg else None
        return report(
            times, size, baseline, baseline_name, startup, problems, smoke, judged=bool(ffmpeg)
        )


def render_takes(folder, count, seconds, width, height):
    from jobs.veo.emulator.media import render_mp4

    folder.mkdir()
    takes = []
    for n in range(count):
        path = folder / f"take-{n}.mp4"
        render_mp4(
            path,
            prompt=f"Cut bench, shot {n + 1}: a lighthouse at dusk",
            width=width,
            height=height,
            seconds=seconds,
            seed=n,
        )
        takes.append(path)
    return takes


def ours(takes, dest, width, height):
    from drafts.storyboards.assembly import Profile, Segment, assemble

    cut = assemble([Segment(path) for path in takes], dest, profile=Profile(width, height))
    if not cut.stream_copy:
        raise SystemExit("assemble re-encoded the takes: the bench measures a stream copy")


def ffmpeg_concat(ffmpeg, takes, dest, root):
    listing = root / "list.txt"
    listing.write_text("".join(f"file '{path}'\n" for path in takes))
    subprocess.run(
        [
            *(ffmpeg, "-hide_banner", "-loglevel", "error", "-y"),
            *("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(dest)),
        ],
        check=True,
        timeout=600,
    )


def remux(takes, dest):
    """Copy every packet of the takes into one MP4, each take after the last: no checks."""
    import av

    with av.open(str(dest), "w", format="mp4") as out:
        with av.open(str(takes[0])) as first:
            streams = [
                out.add_stream_from_template(s)
                for s in (*first.streams.video, *first.streams.audio)
            ]
        offset, last = 0.0, {}
        for path in takes:
            with av.open(str(path)) as source:
                inputs = [*source.streams.video, *source.streams.audio]
                video = inputs[0]
                shifts = {s.index: round(offset / s.time_base) for s in inputs}
                for packet in source.demux(*inputs):
                    if packet.dts is None:
                        continue
                    shift = shifts[packet.stream_index]
                    packet.pts += shift
                    packet.dts += shift
                    # The AAC priming packet (pts < 0) of a later take would overlap.
                    if packet.dts <= last.get(packet.stream_index, -(2**62)):
                        continue
                    last[packet.stream_index] = packet.dts
                    packet.stream = streams[inputs.index(packet.stream)]
                    out.mux(packet)
                offset += float(video.duration * video.time_base)


def measure(tools, folder, runs):
    """Run each tool once untimed, then runs times in turn; return {tool: [seconds]}."""
    folder.mkdir()
    times = {name: [] for name in tools}
    for run in range(runs + 1):
        for name, tool in tools.items():
            dest = folder / f"{name}.mp4"
            dest.unlink(missing_ok=True)
            began = time.perf_counter()
            tool(dest)
            elapsed = time.perf_counter() - began
            if run:
                times[name].append(elapsed)
    return times


def check(folder, tools, seconds):
    """Return what is wrong with the tools' last outputs (nothing, one hopes)."""
    import av

    from jobs.media import NotAVideo, probe

    problems = []
    for name in tools:
        path = folder / f"{name}.mp4"
        try:
            info = probe(path)
        except NotAVideo as exc:
            problems.append(f"{name}: {exc}")
            continue
        with av.open(str(path)) as container:
            frames = container.streams.video[0].frames
        print(
            f"  {name} wrote {path.stat().st_size / MIB:.1f} MiB, {info.duration:.3f} s, "
            f"{frames} frames, audio {'yes' if info.has_audio else 'no'}"
        )
        if abs(info.duration - seconds) > 1 / 24 or not info.has_audio:
            problems.append(f"{name}: {info.duration:.3f} s of {seconds:g}, audio {info.has_audio}")
    return problems


def process_start(ffmpeg, runs=5):
    """Return the median wall time of `ffmpeg -version`: what starting ffmpeg costs."""
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([ffmpeg, "-version"], capture_output=True, check=True)
        times.append(time.perf_counter() - began)
    return harness.median(times)


def report(times, size, baseline, baseline_name, startup, problems, smoke, *, judged):
    rows = []
    for name, values in times.items():
        median = harness.median(values)
        rows.append([name, len(values), round(median, 3), round(size / MIB / median, 1)])
    harness.table(["tool", "runs", "median seconds", "MiB/s of takes"], rows)
    ours, theirs = harness.median(times["assemble"]), harness.median(times[baseline])
    harness.ratio(
        "stream-copy throughput of assemble",
        size / ours,
        size / theirs,
        name=baseline_name,
        goal=THROUGHPUT_GOAL if judged else None,
        smoke=smoke,
    )
    if startup is not None:
        harness.figure("ffmpeg's start-up alone (ffmpeg -version)", startup * 1000, "ms")
        if theirs > startup:
            harness.ratio(
                "stream-copy throughput of assemble",
                size / ours,
                size / (theirs - startup),
                name="ffmpeg without its start-up",
                smoke=smoke,
            )
    if problems:
        print("\nFAILED: " + "; ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
