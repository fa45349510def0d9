"""WSGI entry point, served by gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videostudio.settings")

application = get_wsgi_application()

# gunicorn runs no system checks: refuse to serve with a VEO_MODEL that cannot be used,
# as runserver, qcluster and `manage.py studio` do.
from jobs.checks import require_usable_model  # noqa: E402

require_usable_model()
