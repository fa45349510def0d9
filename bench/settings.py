"""The studio's settings, serving the benchmarks' baseline views beside the studio's own.

Only the benchmarks use this module (DJANGO_SETTINGS_MODULE=bench.settings), so the
baselines are never reachable in the real studio.
"""

import os

from videostudio.settings import *  # noqa: F403
from videostudio.settings import DATABASES, STORAGES

ROOT_URLCONF = "bench.urls"
# Nothing is collected; WhiteNoise would warn about a missing STATIC_ROOT on every start.
STATIC_ROOT = None

# Full pages render {% static %}; unhashed names spare each run a collectstatic, and a
# hashed name would only add a dictionary lookup.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# To measure other settings without touching the studio's: another session backend (e.g.
# signed_cookies), another CONN_MAX_AGE (0: a new connection, with its PRAGMAs, per request).
if os.environ.get("BENCH_SESSION_ENGINE"):
    SESSION_ENGINE = os.environ["BENCH_SESSION_ENGINE"]
if os.environ.get("BENCH_CONN_MAX_AGE", "") != "":
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ["BENCH_CONN_MAX_AGE"])
