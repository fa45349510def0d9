"""What every benchmark needs: a throwaway studio, child processes, /proc, load and a report.

A benchmark prints its figures and one line per ratio against a baseline it measured in the
same run, in the form ``ratio: <what> = 0.93x <baseline> (goal >= 0.80x): met``; with
``--smoke`` it runs a tiny version and prints the same lines with the goal not judged.
"""

import argparse
import contextlib
import datetime
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from jobs.watchdog import descendants

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Variables that would point a benchmark at the developer's own studio or services.
FOREIGN_ENV = (
    "DATABASE_URL",
    "REDIS_URL",
    "VIDEOSTUDIO_DATA_DIR",
    "VEO_PROVIDER",
    "VEO_CATALOG_FILE",
    "VEO_MODEL",
    "VEO_API_BASE_URL",
    "GEMINI_API_KEY",
    "VEO_EMULATOR_PORT",
    "DJANGO_SETTINGS_MODULE",
    "BENCH_SESSION_ENGINE",
    "BENCH_CONN_MAX_AGE",
    "BENCH_POSTGRES_URL",
    "BENCH_REDIS_URL",
    "DB_CONN_MAX_AGE",
    "PORT",
    "WEB_CONCURRENCY",
    "Q_WORKERS",
)


def arguments(description, *, databases=False):
    """Return an argument parser with the --smoke switch every benchmark has.

    With databases (the HTTP benchmarks), also --database: sqlite, postgres, or both (the
    default; a smoke run's is sqlite), each in a run of its own (per_database).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny, fast run that checks the benchmark works"
    )
    parser.add_argument("--keep", action="store_true", help="keep the throwaway data dir")
    if databases:
        parser.add_argument(
            "--database",
            choices=["sqlite", "postgres", "both"],
            help="SQLite (WAL, the ORM broker, database sessions), PostgreSQL (with Redis for "
            "the broker and sessions, as REDIS_URL configures them), or both in turn "
            f"(default; smoke: sqlite). PostgreSQL is {POSTGRES_SERVER} (BENCH_POSTGRES_URL), "
            f"Redis {REDIS_SERVER} (BENCH_REDIS_URL)",
        )
    return parser


# The servers a PostgreSQL run uses: a throwaway database is created on this one (and
# dropped after), and Redis is given to the studio as REDIS_URL.
POSTGRES_SERVER = os.environ.get(
    "BENCH_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"
)
REDIS_SERVER = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DATABASE_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL + Redis"}


def per_database(args):
    """With --database both, run this benchmark again once per database; return its exit code.

    Return None when this run is itself the one to measure (args.database is then set).
    """
    if args.database is None:
        args.database = "sqlite" if args.smoke else "both"
    if args.database != "both":
        return None
    codes = []
    for database in DATABASE_NAMES:
        if database == "postgres" and (problem := postgres_unreachable()):
            heading(f"{DATABASE_NAMES[database]}: not measured ({problem})")
            codes.append(1)
            continue
        argv = [sys.executable, sys.argv[0], *sys.argv[1:], "--database", database]
        codes.append(subprocess.run(argv, check=False).returncode)
    return max(codes)


def postgres_unreachable():
    """Return why the PostgreSQL server or Redis cannot be reached, or "" when both can."""
    import psycopg
    import redis

    try:
        psycopg.connect(POSTGRES_SERVER, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_SERVER}: {str(exc).strip().splitlines()[0]}"
    try:
        redis.Redis.from_url(REDIS_SERVER, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {REDIS_SERVER}: {exc}"
    return ""


# --- The machine and the report --------------------------------------------------------


def machine():
    """Return what the figures depend on: cores, CPU model, versions."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import django

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": model,
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
    }


def heading(text):
    print(f"\n== {text}", flush=True)


def print_machine(name, smoke, database=None):
    info = machine()
    on = f", on {DATABASE_NAMES[database]}" if database else ""
    heading(f"{name}{on}{' (smoke)' if smoke else ''}")
    print(
        f"machine: nproc={info['nproc']}, cpu={info['cpu']}, python {info['python']}, "
        f"django {info['django']}, sqlite {info['sqlite']}, linux {info['kernel']}",
        flush=True,
    )
    if not smoke:
        busy = cpu_busy_share()
        warning = " (other work is running: the figures will be noisy)" if busy > 0.25 else ""
        print(f"machine busy before the run: {busy:.0%} of all cores{warning}", flush=True)


def cpu_busy_share(seconds=1.0):
    """Return the share of all cores busy over the next seconds, from /proc/stat."""

    def sample():
        fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return idle, sum(fields)

    idle_before, total_before = sample()
    time.sleep(seconds)
    idle_after, total_after = sample()
    total = total_after - total_before
    return 1 - (idle_after - idle_before) / total if total else 0.0


def figure(label, value, unit=""):
    """Print one figure, aligned."""
    text = f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"
    print(f"  {label:<52} {text} {unit}".rstrip(), flush=True)


def table(headers, rows):
    """Print rows under headers, in columns."""
    cells = [headers] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  " + "  ".join(value.rjust(widths[i]) for i, value in enumerate(row)))
        if n == 0:
            print("  " + "  ".join("-" * width for width in widths))
    sys.stdout.flush()


def _cell(value):
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def ratio(what, value, baseline, *, name, goal=None, higher_is_better=True, smoke=False):
    """Print the ratio line of value against a baseline and return whether the goal is met.

    Without a goal the ratio is printed for scale only.
    """
    times = value / baseline if baseline else float("inf")
    if goal is None:
        print(f"ratio: {what} = {times:.2f}x {name} (no goal: for scale)", flush=True)
        return True
    shown = round(times, 2)  # judged as printed, so "0.80x" never reads as a miss of 0.80
    met = shown >= goal if higher_is_better else shown <= goal
    sign = ">=" if higher_is_better else "<="
    verdict = "not judged (smoke)" if smoke else ("met" if met else "MISSED")
    print(f"ratio: {what} = {times:.2f}x {name} (goal {sign} {goal:.2f}x): {verdict}", flush=True)
    return met or smoke


def goal(what, value, limit, unit, *, smoke=False):
    """Print a goal on an absolute figure (at most limit) and return whether it is met."""
    met = value <= limit
    verdict = "not judged (smoke)" if smoke else ("met" if met else "MISSED")
    print(f"goal: {what} = {value:,.1f} {unit} (goal <= {limit:,} {unit}): {verdict}", flush=True)
    return met or smoke


def percentile(values, share):
    """Return the share-th percentile (0-100) of values, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(share / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# --- A throwaway studio ----------------------------------------------------------------


class Sandbox:
    """A throwaway data dir and SQLite database, and the environment that points at them.

    The benchmark's own process adopts the environment (call django()) to seed data; child
    processes get it through env.
    """

    def __init__(self, name, *, debug=False, keep=False, database="sqlite", **env):
        self.root = Path(tempfile.mkdtemp(prefix=f"videostudio-bench-{name}-"))
        self.data_dir = self.root / "user-data"
        self.data_dir.mkdir()
        self.database = self.data_dir / "videostudio.sqlite3"
        self.keep = keep
        self.postgres = None
        database_url = f"sqlite:///{self.database}"
        if database == "postgres":
            self.postgres = f"vs_bench_{name}_{os.getpid()}"
            self._postgres_admin(f"CREATE DATABASE {self.postgres}")
            database_url = urlsplit(POSTGRES_SERVER)._replace(path=f"/{self.postgres}").geturl()
        self.env = {key: value for key, value in os.environ.items() if key not in FOREIGN_ENV}
        self.env.update(
            {
                "VIDEOSTUDIO_DATA_DIR": str(self.data_dir),
                "DATABASE_URL": database_url,
                "DJANGO_SETTINGS_MODULE": "bench.settings",
                "PYTHONPATH": str(ROOT),
                "DEBUG": "true" if debug else "false",
                "LOG_LEVEL": "WARNING",
            }
        )
        if not debug:
            self.env.update(
                {"SECRET_KEY": "bench-secret-key-" + "x" * 40, "ALLOWED_HOSTS": "127.0.0.1"}
            )
        if self.postgres:
            self.env["REDIS_URL"] = REDIS_SERVER
        self.env.update({key: str(value) for key, value in env.items()})

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        if self.keep:
            print(f"kept {self.root}" + (f" and database {self.postgres}" if self.postgres else ""))
            return
        shutil.rmtree(self.root, ignore_errors=True)
        if self.postgres:
            self._postgres_admin(f"DROP DATABASE IF EXISTS {self.postgres} WITH (FORCE)")

    @staticmethod
    def _postgres_admin(sql):
        import psycopg

        with psycopg.connect(POSTGRES_SERVER, autocommit=True, connect_timeout=10) as admin:
            admin.execute(sql)

    def django(self, *, migrate=True):
        """Configure Django in this process for the sandbox, migrating its database."""
        os.environ.update(self.env)
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        if migrate:
            from django.core.management import call_command

            call_command("migrate", verbosity=0, interactive=False)

    def log(self, name):
        return self.root / f"{name}.log"


def print_stack():
    """Print what the studio under measure runs on, once Sandbox.django() has configured it."""
    from django.conf import settings
    from django.db import connection

    broker = "redis" if settings.Q_CLUSTER.get("redis") else "the ORM"
    print(
        f"  database: {connection.vendor}; sessions: {settings.SESSION_ENGINE}; "
        f"broker: {broker}; CONN_MAX_AGE: {settings.DATABASES['default'].get('CONN_MAX_AGE', 0)}",
        flush=True,
    )


# Production (DEBUG=false) redirects plain http to https unless a TLS-terminating proxy
# says the request came over https; the benchmarks play that proxy over loopback.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


def http_client(**extra):
    """Return a Django test client that talks to the sandbox's studio in this process."""
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https", **extra)


# --- Processes and /proc ---------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(argv, *, env, log, cwd=ROOT):
    """Start a child in its own session, its output in log."""
    with open(log, "ab") as output:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )


def start_emulator(sandbox, port, *, api_key):
    """Start the local Veo emulator with no latency on port; wait until it listens."""
    emulator = start(
        [
            sys.executable,
            "-m",
            "jobs.veo.emulator",
            "--port",
            str(port),
            "--latency",
            "0",
            "--api-key",
            api_key,
            "--data-dir",
            str(sandbox.root / "emulator"),
        ],
        env=sandbox.env,
        log=sandbox.log("emulator"),
    )
    try:
        wait_for(lambda: port_open(port), timeout=30, what="emulator", process=emulator)
    except BaseException:
        stop(emulator)
        raise
    return emulator


def stop(process, *, grace=10.0):
    """SIGTERM the process, then SIGKILL its group and every process it left behind."""
    if process is None:
        return []
    family = descendants(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    process.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in family) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in family if alive(pid)]
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def _stat_fields(pid):
    """Return /proc/pid/stat's fields after the command name (state is [0])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def alive(pid):
    try:
        return _stat_fields(pid)[0] != "Z"
    except OSError:
        return False


def cpu_seconds(pid):
    """Return the user+system CPU of pid and of its children it has waited for."""
    try:
        fields = _stat_fields(pid)
    except OSError:
        return 0.0
    # utime, stime, cutime, cstime are stat fields 14-17, i.e. [11:15] after the name.
    return sum(int(value) for value in fields[11:15]) / CLOCK_TICKS


def tree_cpu_seconds(pid):
    """Return the CPU of pid's whole tree: the live processes plus those reaped in it."""
    return sum(cpu_seconds(each) for each in [pid, *descendants(pid)])


def memory_kib(pid="self"):
    """Return VmRSS and VmHWM (peak RSS) of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def reset_peak_rss():
    """Reset this process's VmHWM to its current RSS; return whether the kernel allowed it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def wait_for(check, *, timeout, what, process=None, interval=0.05):
    """Wait until check() is true, failing early if process has exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"{what}: the process exited with code {process.returncode}")
        if check():
            return
        time.sleep(interval)
    raise SystemExit(f"{what}: not within {timeout:.0f} s")


def port_open(port, host="127.0.0.1"):
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def http_status(url, headers=None, timeout=5):
    """Return the status of a GET (redirects not followed), or None if it failed."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback only)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, http.client.HTTPException):
        return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def start_gunicorn(sandbox, *, workers=2, settings=None, name="gunicorn", ready="/"):
    """Start gunicorn serving the sandbox's studio (or another settings module) on a free
    port, as production runs it but with sync workers; wait until `ready` answers.

    Return (process, base URL).
    """
    port = free_port()
    env = {**sandbox.env, **({"DJANGO_SETTINGS_MODULE": settings} if settings else {})}
    argv = [sys.executable, "-m", "gunicorn", "videostudio.wsgi", "--bind", f"127.0.0.1:{port}"]
    argv += ["--workers", str(workers), "--no-control-socket"]
    process = start(argv, env=env, log=sandbox.log(name))
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: http_status(base_url + ready, PROXY_HEADERS) is not None,
            timeout=30,
            what=name,
            process=process,
        )
    except BaseException:
        stop(process)
        raise
    return process, base_url


def measured_load(server, base_url, targets, status, **load_options):
    """Run load() on targets and return its result with the server tree's CPU per request.

    Fails the benchmark when any answer is an error or not `status`. CPU per request,
    unlike req/s, hardly moves when other work shares the machine.
    """
    cpu = tree_cpu_seconds(server.pid)
    result = load(base_url, targets, **load_options)
    unexpected = sum(n for code, n in result.statuses.items() if code != status)
    if result.errors or unexpected or not result.requests:
        raise SystemExit(
            f"{targets[0][0]}: {result.errors} errors, statuses {dict(result.statuses)} "
            f"(expected {status})"
        )
    result.cpu_ms = (tree_cpu_seconds(server.pid) - cpu) * 1000 / result.requests
    return result


@contextlib.contextmanager
def studio_and_bare(sandbox, *, ready, workers=2):
    """Serve the sandbox's studio and the bare baseline (bench.bare_settings: no middleware)
    from two gunicorns; yield {"studio": (process, URL), "bare": (process, URL)}.

    Both are stopped on the way out; a process either leaves behind fails the benchmark.
    """
    servers = {}
    try:
        for server, settings_module in (("studio", None), ("bare", "bench.bare_settings")):
            servers[server] = start_gunicorn(
                sandbox,
                workers=workers,
                settings=settings_module,
                name=f"gunicorn-{server}",
                ready=ready,
            )
        yield servers
    finally:
        left = [pid for process, _url in servers.values() for pid in stop(process)]
    if left:
        raise SystemExit(f"gunicorn left processes behind: {left}")


def load_options(args, workdir):
    """The load() options a benchmark's arguments give: connections and the request cap."""
    return {"connections": args.connections, "max_requests": args.max_requests, "workdir": workdir}


def interleaved_rounds(servers, scenarios, args, *, workdir, warm_up):
    """Measure every scenario, {name: (server, targets, status)}, in args.rounds interleaved
    rounds of args.seconds, to even out noise; return {name: [LoadResult per round]}.

    Each scenario is first checked over HTTP (its first target must answer its status) and
    warmed up for `warm_up` seconds (0.2 in a smoke run).
    """
    options = load_options(args, workdir)
    warm_up = 0.2 if args.smoke else warm_up
    for name, (server, targets, status) in scenarios.items():
        got = http_status(servers[server][1] + targets[0][0], targets[0][1])
        if got != status:
            raise SystemExit(f"{name} over HTTP: expected {status}, got {got}")
        load(servers[server][1], targets, seconds=warm_up, **options)
    results = {}
    for _round in range(args.rounds):
        for name, (server, targets, status) in scenarios.items():
            process, base_url = servers[server]
            result = measured_load(
                process, base_url, targets, status, seconds=args.seconds, wrk=args.wrk, **options
            )
            results.setdefault(name, []).append(result)
    return results


def write_certificates(folder, certificates, *, ca_name="Bench CA"):
    """Write folder/ca.pem, a CA made for this run, and for each {file stem: [DNS names]}
    folder/<stem>.pem: a certificate for those names signed by it, then its key.

    The benchmarks' and the tests' TLS servers on loopback; valid a day either side of now.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def signed(builder, subject, public_key, serial):
        return (
            builder.subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256())
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca = signed(
        x509.CertificateBuilder().add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        ),
        issuer,
        ca_key.public_key(),
        1,
    )
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for serial, (stem, names) in enumerate(certificates.items(), start=2):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = signed(
            x509.CertificateBuilder().add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in names]),
                critical=False,
            ),
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]),
            key.public_key(),
            serial,
        )
        (folder / f"{stem}.pem").write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return folder


# --- Load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    statuses: Counter = field(default_factory=Counter)
    cpu_ms: float = 0.0  # the server's CPU per request, when the caller measures it

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0


def find_wrk(*, install=False):
    """Return wrk's path; with install, try Debian's package first; None to use Python."""
    found = shutil.which("wrk")
    if found or not install:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("wrk is not installed and cannot be installed here; using the Python load.")
        return None
    print("Installing wrk from Debian (apt-get install wrk)...", flush=True)
    with contextlib.suppress(subprocess.SubprocessError, OSError):
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
            timeout=300,
            check=False,
        )
    return shutil.which("wrk")


def load(base_url, targets, *, connections, seconds, max_requests, wrk=None, workdir):
    """Send GETs round-robin over targets ([(path, headers)]) for at most seconds/max_requests.

    Uses wrk when given its path, else a Python generator (threads, one persistent
    connection each, reconnecting when the server closes it).
    """
    if wrk:
        return _wrk_load(wrk, base_url, targets, connections, seconds, max_requests, Path(workdir))
    return _python_load(base_url, targets, connections, seconds, max_requests)


def _python_load(base_url, targets, connections, seconds, max_requests):
    host, port = base_url.removeprefix("http://").rstrip("/").split(":")
    per_connection = max(1, max_requests // connections)
    latencies, statuses, errors = [], Counter(), [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def run(offset):
        mine, counts, failed = [], Counter(), 0
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        for n in range(per_connection):
            if time.perf_counter() >= deadline:
                break
            target, headers = targets[(offset + n) % len(targets)]
            began = time.perf_counter()
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
                response.read()
                if response.will_close:
                    connection.close()
            except (OSError, http.client.HTTPException):
                failed += 1
                connection.close()
                continue
            mine.append(time.perf_counter() - began)
            counts[response.status] += 1
        connection.close()
        with lock:
            latencies.extend(mine)
            statuses.update(counts)
            errors[0] += failed

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return LoadResult(
        tool=f"python ({connections} threads)",
        requests=len(latencies),
        seconds=elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors[0] + sum(n for status, n in statuses.items() if status >= 400),
        statuses=statuses,
    )


WRK_SCRIPT = """
local targets = %(targets)s
local cap = %(cap)d
local requests, done_count = {}, 0
function init(args)
  for i, target in ipairs(targets) do
    local headers = {}
    for k, v in pairs(wrk.headers) do headers[k] = v end
    for k, v in pairs(target[2]) do headers[k] = v end
    requests[i] = wrk.format("GET", target[1], headers)
  end
end
local n = 0
function request()
  n = n + 1
  return requests[(n %% #requests) + 1]
end
function response(status, headers, body)
  done_count = done_count + 1
  if done_count >= cap then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {"duration_us": %%d, "requests": %%d, "p50_us": %%d, "p99_us": %%d, '
    .. '"errors": %%d, "status_errors": %%d}\\n',
    summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def _lua_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wrk_load(wrk, base_url, targets, connections, seconds, max_requests, workdir):
    threads = min(2, connections)
    entries = []
    for target, headers in targets:
        fields = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
        entries.append(f"{{{_lua_string(target)}, {{{fields}}}}}")
    lua_targets = "{" + ", ".join(entries) + "}"
    script = workdir / "wrk-load.lua"
    script.write_text(WRK_SCRIPT % {"targets": lua_targets, "cap": max(1, max_requests // threads)})
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base_url,
    ]
    output = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK-JSON "))
    data = json.loads(line.removeprefix("WRK-JSON "))
    return LoadResult(
        tool=f"wrk ({threads} threads, {connections} connections)",
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=data["errors"] + data["status_errors"],
    )


def median(values):
    return statistics.median(values) if values else float("nan")


# --- Profiles (py-spy) ---------------------------------------------------------------------

# Where a request's time goes: a sample counts toward every layer whose frame is on its stack.
PROFILE_LAYERS = {
    "gunicorn, the whole request": "gunicorn/workers/sync.py:SyncWorker.handle_request",
    "Django, the whole request": "django/core/handlers/base.py:BaseHandler.get_response",
    "the view (after the middleware)": "django/core/handlers/base.py:BaseHandler._get_response",
    "opening the database connection": "django/db/backends/base/base.py:BaseDatabaseWrapper.connect",
    "running queries (the driver)": "django/db/backends/utils.py:CursorWrapper._execute",
    "building SQL (the ORM compiler)": "django/db/models/sql/compiler.py:SQLCompiler.as_sql",
    "rows into model instances": "django/db/models/query.py:ModelIterable.__iter__",
    "the session": "django/contrib/sessions/backends/base.py:SessionBase._get_session",
    "the user and its session hash": "django/contrib/auth/__init__.py:get_user",
    "template rendering": "django/template/backends/django.py:Template.render",
}
STUDIO_CODE = ("jobs/", "drafts/", "videostudio/", "bench/urls.py")


def py_spy():
    """Return the py-spy command (a dev dependency), or None when it cannot run here."""
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


def profile(pid, seconds, output, *, rate=250):
    """Start sampling pid and its children with py-spy for seconds; return the Popen."""
    command = py_spy()
    if command is None:
        return None
    argv = [command, "record", "--format", "raw", "--subprocesses", "--nonblocking"]
    argv += ["-r", str(rate), "-d", str(max(1, round(seconds))), "-p", str(pid), "-o", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def profile_command(argv, output, *, env, rate=250):
    """Start argv under py-spy, sampling it until it exits; return the Popen (or None)."""
    command = py_spy()
    if command is None:
        return None
    argv = [command, "record", "--format", "raw", "-r", str(rate), "-o", str(output), "--", *argv]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def profile_report(process, output, *, layers=PROFILE_LAYERS, top=12):
    """Wait for a profile; print the share of samples per layer and the hottest functions."""
    if process is None:
        print("  profile: py-spy is not installed (uv sync installs it)", flush=True)
        return
    _out, error = process.communicate(timeout=600)
    if process.returncode or not Path(output).exists():
        print(f"  profile: py-spy failed: {error.strip()[-300:]}", flush=True)
        return
    stacks = []
    for line in Path(output).read_text().splitlines():
        frames, _, count = line.rpartition(" ")
        names = [_frame_name(f) for f in frames.split(";") if not f.startswith("process ")]
        if names and count.isdigit():
            stacks.append((names, int(count)))
    total = sum(count for _names, count in stacks)
    if not total:
        print("  profile: no samples", flush=True)
        return
    print(f"  profile: {total:,} samples of busy workers (py-spy); share of samples", flush=True)
    for layer, marker in layers.items():
        share = sum(count for names, count in stacks if marker in names) / total
        print(f"    {share:6.1%}  {layer}", flush=True)
    own, inclusive = Counter(), Counter()
    for names, count in stacks:
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    print("  hottest functions by own time:", flush=True)
    for name, count in own.most_common(top):
        print(f"    {count / total:6.1%}  {name}", flush=True)
    print("  studio code on the stack (inclusive):", flush=True)
    for name, count in inclusive.most_common():
        if name.startswith(STUDIO_CODE):
            print(f"    {count / total:6.1%}  {name}", flush=True)


def _frame_name(frame):
    """'Class.function (package/module.py:12)' -> 'package/module.py:Class.function'."""
    function, _, where = frame.rpartition(" (")
    return f"{where.rstrip(')').rsplit(':', 1)[0]}:{function}"


# --- Data and queries (call after Sandbox.django()) ---------------------------------------

JOB_OPTIONS = {"aspect_ratio": "16:9", "resolution": "720p", "duration_seconds": 4}
# A model Google serves in the built-in catalog (the Veo previews are retired there).
MODEL = "gemini-omni-1.2-flash"


def make_user(username, *, staff=False):
    from django.contrib.auth import get_user_model

    # No usable password: benchmarks log in with force_login.
    return get_user_model().objects.create_user(username, is_staff=staff)


_EPOCH = {}


def seed_jobs(owner, count, *, waiting=10, running=10, posters=True, start=0):
    """Bulk-create count jobs for owner, newest first: waiting, then running, then finished.

    Finished jobs are 95 % completed (each with a poster resource when posters) and 5 %
    failed. Return the ids of the waiting and of the running jobs.
    """
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from jobs.models import VideoCreationJob, VideoResource

    status, stage = VideoCreationJob.Status, VideoCreationJob.Stage
    # One clock for every call, so that rows seeded later still sort after earlier ones.
    now = _EPOCH.setdefault("now", timezone.now())
    waiting_ids, running_ids = [], []
    with transaction.atomic():
        for first in range(start, start + count, 2000):
            jobs, resources = [], []
            for n in range(first, min(first + 2000, start + count)):
                job = VideoCreationJob(
                    owner=owner,
                    prompt_text=f"Bench prompt {n}: a paper lantern drifting over a night river",
                    model=MODEL,
                    options=JOB_OPTIONS,
                    created_at=now - timedelta(seconds=n),
                )
                if n < waiting:
                    waiting_ids.append(job.pk)
                elif n < waiting + running:
                    job.status, job.stage, job.progress = status.PROCESSING, stage.GENERATING, 30
                    job.submitted_at = job.created_at
                    running_ids.append(job.pk)
                elif n % 20 == 0:
                    job.status, job.error = status.FAILED, "Veo could not generate the video."
                    job.completed_at = job.created_at
                else:
                    job.status, job.stage, job.progress = status.COMPLETED, stage.DONE, 100
                    job.video_url = f"videos/{job.pk}/output.mp4"
                    job.completed_at = job.created_at
                    if posters:
                        poster = VideoResource(
                            job=job,
                            type=VideoResource.Type.IMAGE,
                            filename="poster.jpg",
                            file_path=f"videos/{job.pk}/resources/images/poster.jpg",
                        )
                        poster.url = poster.get_absolute_url()
                        resources.append(poster)
                        job.metadata = {"poster_url": poster.url}
                jobs.append(job)
            VideoCreationJob.objects.bulk_create(jobs, batch_size=500)
            VideoResource.objects.bulk_create(resources, batch_size=500)
    return waiting_ids, running_ids


def seed_drafts(owner, count, *, start=0, shared=False):
    """Bulk-create count drafts of three prompts each for owner."""
    from drafts.models import Draft

    drafts = [
        Draft(
            owner=owner,
            name=f"Draft {n:06d} {owner.get_username()}",
            prompts=[
                {"id": f"p{n}-{i}", "text": f"Prompt {i} of draft {n}: a fox in fresh snow"}
                for i in range(3)
            ],
            visibility=Draft.Visibility.SHARED if shared else Draft.Visibility.PRIVATE,
        )
        for n in range(start, start + count)
    ]
    Draft.objects.bulk_create(drafts, batch_size=500)


def captured_get(client, path, headers=None):
    """GET path in this process; return the response and the SQL it ran."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, headers=headers or {})
    return response, [query["sql"] for query in captured.captured_queries]


def tables(queries):
    """Name the table each query reads or writes, in order: "django_session, auth_user"."""
    import re

    names = []
    for sql in queries:
        match = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
        names.append(match[1] if match else sql.split()[0])
    return ", ".join(names)


def analyze_after_seeding():
    """On PostgreSQL, ANALYZE the seeded tables, as autovacuum does soon after a bulk load.

    Measured right after bulk_create, PostgreSQL would plan with the statistics of empty
    tables (a sort of every one of 100,000 rows for one page); a studio in service has had
    autovacuum's. SQLite is left alone: nothing ever runs ANALYZE on the studio's file.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
