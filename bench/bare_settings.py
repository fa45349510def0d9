"""The studio's settings with no middleware at all: the bare ceiling of a poll.

gunicorn serves bench.bare_urls with it (DJANGO_SETTINGS_MODULE=bench.bare_settings): no
session, no authentication, no CSRF, security or WhiteNoise layer, so the poll baseline
there costs only what Django itself must do to route a request, read one row and render
the partial.
"""

from bench.settings import *  # noqa: F403

MIDDLEWARE = []
ROOT_URLCONF = "bench.bare_urls"
