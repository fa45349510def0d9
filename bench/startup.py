"""From `uv run manage.py studio` to the first page served, and what the time goes on.

Starts the studio as a person does (laptop defaults, the emulator as provider) on a fresh
data dir (cold: migrate, create the first user) and again on the same dir (warm), polls
the login page until it answers 200, then stops it with SIGTERM to the `manage.py
studio` process and checks that nothing is left running. Every line the command prints
is timestamped to split the time into phases; `python -X importtime` and a bare
`django.setup()` (the baseline) show what the imports cost.

    uv run python bench/startup.py [--smoke]
"""

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness

READY_TIMEOUT = 120
# (label, a regular expression matched against the command's output), in order.
MARKS = [
    ("command started, settings loaded", r"^Data directory:"),
    ("checks and migrate", r"^Database is up to date\."),
    ("first user", r"^(Created the first user|Log in with an existing account)"),
    ("emulator started and listening", r"^Local Veo emulator on"),
    ("worker spawned, gunicorn bound", r"Video Studio is running at"),
]


def main():
    parser = harness.arguments(__doc__.split("\n\n")[0])
    args = parser.parse_args()
    smoke = args.smoke
    harness.print_machine("Start-up of manage.py studio", smoke)
    uv = shutil.which("uv")
    command = [uv, "run", "manage.py", "studio"] if uv else [sys.executable, "manage.py", "studio"]
    print(f"  command: {' '.join(['uv' if uv else 'python', *command[1:]])}")
    with harness.Sandbox("startup", debug=True, keep=args.keep) as sandbox:
        env = {key: value for key, value in sandbox.env.items() if key != "DJANGO_SETTINGS_MODULE"}
        env.update(
            {
                # Only so that each line arrives when printed and its timestamp is true.
                "PYTHONUNBUFFERED": "1",
                "DJANGO_SUPERUSER_USERNAME": "director",
                "DJANGO_SUPERUSER_PASSWORD": secrets.token_urlsafe(16),
                "LOG_LEVEL": "INFO",
            }
        )
        runs = {"cold": start_once(command, env, sandbox, "cold")}
        if not smoke:
            runs["warm"] = start_once(command, env, sandbox, "warm")
        imports = import_costs(env, repeat=1 if smoke else 3)
    return report(runs, imports, smoke)


def start_once(command, env, sandbox, name):
    """Start the studio, time its phases and the first 200, stop it; return the timings."""
    port, emulator_port = harness.free_port(), harness.free_port()
    env = {**env, "PORT": str(port), "VEO_EMULATOR_PORT": str(emulator_port)}
    lines = []
    began = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=harness.ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )

    def read():
        for line in process.stdout:
            lines.append((time.monotonic() - began, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    login = f"http://127.0.0.1:{port}/accounts/login/"
    try:
        harness.wait_for(
            lambda: harness.http_status(login, timeout=2) == 200,
            timeout=READY_TIMEOUT,
            what=f"{name} start: the login page",
            process=process,
            interval=0.02,
        )
    except SystemExit:
        harness.stop(process)
        print("\n".join(f"  {at:6.2f}  {line}" for at, line in lines))
        raise
    ready = time.monotonic() - began
    studio = studio_process(process)
    family = [process.pid, *harness.descendants(process.pid)]
    stopping = time.monotonic()
    os.kill(studio, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    stopped = time.monotonic() - stopping
    deadline = time.monotonic() + 5
    while any(harness.alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in family if harness.alive(pid)]
    harness.stop(process)  # whatever is left goes, so a failed run leaves nothing behind
    reader.join(timeout=5)
    return {"lines": lines, "ready": ready, "stopped": stopped, "left": left, "family": family}


def studio_process(process):
    """Return the pid of `manage.py studio` itself (uv runs it as a child)."""
    for pid in [process.pid, *harness.descendants(process.pid)]:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"manage.py" in argv and b"studio" in argv:
            return pid
    return process.pid


def phases(run):
    """Return [(label, seconds since the previous mark, seconds since the start)]."""
    marks = []
    for label, pattern in MARKS:
        at = next((at for at, line in run["lines"] if re.search(pattern, line)), None)
        if at is not None:
            marks.append((at, label))
    booted = [at for at, line in run["lines"] if "Booting worker" in line]
    if booted:
        marks.append((max(booted), "gunicorn workers booted"))
    marks.append((run["ready"], "first 200 of the login page"))
    result, previous = [], 0.0
    for at, label in sorted(marks):
        result.append((label, at - previous, at))
        previous = at
    return result


def import_costs(env, *, repeat):
    """Return wall times of bare interpreters and django.setup(), and the costliest imports."""
    env = {**env, "DJANGO_SETTINGS_MODULE": "videostudio.settings"}
    setup = "import django; django.setup()"

    def wall(argv):
        times = []
        for _ in range(repeat):
            began = time.monotonic()
            subprocess.run(argv, cwd=harness.ROOT, env=env, check=True, capture_output=True)
            times.append(time.monotonic() - began)
        return harness.median(times)

    uv = shutil.which("uv")
    costs = {
        "python -c pass": wall([sys.executable, "-c", "pass"]),
        "python -c 'django.setup()' (baseline)": wall([sys.executable, "-c", setup]),
    }
    if uv:
        costs["uv run python -c pass"] = wall([uv, "run", "python", "-c", "pass"])
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", setup],
        cwd=harness.ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stderr
    top = []
    for line in trace.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and not match[3]:  # top-level imports only
            top.append((int(match[2]) / 1e6, match[4]))
    return costs, sorted(top, reverse=True)[:10]


def report(runs, imports, smoke):
    failed = False
    for name, run in runs.items():
        print(f"\n  {name} start, seconds (phase, since the command started):")
        for label, took, at in phases(run):
            print(f"    {label:<36} {took:6.2f}  {at:6.2f}")
        harness.figure(f"{name}: command to first page", run["ready"], "s")
        harness.figure(f"{name}: stop after SIGTERM to manage.py studio", run["stopped"], "s")
        harness.figure(f"{name}: processes in the tree / left running", len(run["family"]))
        if run["left"]:
            failed = True
            print(f"  FAILED: left running after the stop: {run['left']}")
        else:
            print("  nothing left running after the stop")
    costs, top = imports
    print("\n  interpreter and Django set-up, wall seconds (median):")
    for label, seconds in costs.items():
        print(f"    {label:<40} {seconds:6.2f}")
    print("  costliest top-level imports of django.setup() (python -X importtime), seconds:")
    for seconds, module in top:
        print(f"    {seconds:6.3f}  {module}")
    baseline = costs["python -c 'django.setup()' (baseline)"]
    for name, run in runs.items():
        harness.ratio(
            f"{name} start to first page",
            run["ready"],
            baseline,
            name="bare django.setup()",
            smoke=smoke,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
