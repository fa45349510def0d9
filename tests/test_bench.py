"""Every benchmark runs in its smoke mode, so that none can rot unnoticed.

Each runs as a person runs it, `python bench/<name>.py --smoke`, on its own throwaway
data dir and SQLite database (whatever DATABASE_URL says), and must exit 0 and print
its ratio against the baseline it measured. The figures themselves are not judged here.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
HELPERS = {"__init__", "harness", "settings", "urls", "bare_settings", "bare_urls"}
# Not a benchmark but a proof with no baseline: .ci/run runs it whole, as pass 3.
PROOFS = {"two_hosts"}
BENCHMARKS = sorted(path.stem for path in BENCH.glob("*.py") if path.stem not in HELPERS | PROOFS)
RATIO_LINE = re.compile(r"^ratio: .+ = \d+\.\d+x .+ \((goal [<>]=|no goal)", re.MULTILINE)

# Like the studio tests, these always run their own SQLite studio: no need to repeat
# them on PostgreSQL.
pytestmark = pytest.mark.studio


def test_every_benchmark_has_a_smoke_run():
    assert BENCHMARKS == [
        "cut",
        "download",
        "gallery",
        "pages",
        "pipeline",
        "poll",
        "startup",
        "storage",
        "ticks",
        "watched",
        "webhooks",
    ]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_runs_in_smoke_mode_and_prints_its_ratio(name):
    result = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert RATIO_LINE.search(result.stdout), output


@pytest.mark.parametrize(
    "path", ["/bench/baseline/poll/x/", "/bench/baseline/jobs/", "/bench/baseline/gallery/"]
)
def test_baselines_are_not_served_by_the_studio(path):
    with pytest.raises(Resolver404):
        resolve(path)
