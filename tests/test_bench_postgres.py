"""The HTTP benchmarks run on PostgreSQL with Redis too, in their smoke mode.

CI's PostgreSQL pass runs these (DATABASE_URL and REDIS_URL point there); each benchmark
makes a throwaway database of its own on that server and gives the studio Redis for the
broker and sessions, as `--database postgres` does for a person.
"""

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.test_bench import BENCH, RATIO_LINE, ROOT

# Not the test database: real gunicorn processes on a database of the benchmark's own.
pytestmark = pytest.mark.processes

HTTP_BENCHMARKS = ["gallery", "pages", "poll", "serving", "storyboard", "watched"]


def servers():
    """Return BENCH_POSTGRES_URL and BENCH_REDIS_URL for the servers this run was given."""
    database, redis = os.environ.get("DATABASE_URL", ""), os.environ.get("REDIS_URL", "")
    if not database.startswith("postgres") or not redis:
        pytest.skip("needs DATABASE_URL on PostgreSQL and REDIS_URL (CI's second pass)")
    return {
        "BENCH_POSTGRES_URL": urlsplit(database)._replace(path="/postgres").geturl(),
        # Its own database on that Redis: the suite's workers take 7 and up.
        "BENCH_REDIS_URL": urlsplit(redis)._replace(path="/15").geturl(),
    }


@pytest.mark.parametrize("name", HTTP_BENCHMARKS)
def test_http_benchmark_runs_on_postgresql_and_redis(name):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), "--smoke", "--database", "postgres"],
        cwd=ROOT,
        env={**env, **servers()},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "database: postgresql; sessions: videostudio.sessions; broker: redis" in output
    assert RATIO_LINE.search(result.stdout), output
