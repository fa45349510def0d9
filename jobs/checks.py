"""Start-up checks: a data dir the studio can write to, a usable model, a cap on spending.

Every manage.py command that serves (runserver, qcluster, `studio`, which runs `check`)
runs the checks and stops on an Error; gunicorn runs none, so videostudio/wsgi.py calls
require_usable_model() itself.
"""

import os
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError


@register()
def check_data_dir(app_configs=None, **kwargs):
    data_dir = Path(settings.DATA_DIR)
    if not data_dir.exists():
        return [
            Error(
                f"The data directory {data_dir} does not exist.",
                hint="Create it, or point VIDEOSTUDIO_DATA_DIR at an existing directory. "
                "`manage.py studio` creates the default one.",
                id="videostudio.E001",
            )
        ]
    if not data_dir.is_dir() or not os.access(data_dir, os.W_OK | os.X_OK):
        return [
            Error(
                f"The data directory {data_dir} is not a directory this user can write to.",
                hint="Fix its permissions or set VIDEOSTUDIO_DATA_DIR to another directory.",
                id="videostudio.E002",
            )
        ]
    return []


@register()
def check_model_setting(app_configs=None, **kwargs):
    """Refuse a VEO_MODEL the catalog does not know, has retired, or the family lacks.

    The form and the API preselect it; started anyway, a job meant for it would run, and
    bill, on another model.
    """
    from . import catalog

    problem = catalog.model_setting_problem()
    if problem is None:
        return []
    return [Error(problem, id="videostudio.E003")]


def require_usable_model():
    """Raise ImproperlyConfigured with the one-line reason when VEO_MODEL is unusable."""
    from . import catalog

    problem = catalog.model_setting_problem()
    if problem:
        raise ImproperlyConfigured(problem)


@register()
def check_spending_limit(app_configs=None, databases=None, **kwargs):
    """Warn when DEBUG is off and no budget caps spending.

    It reads the database, so it runs only when a check is given one (`migrate`, which
    `manage.py studio` runs at every start, and `check --database default`).
    """
    from . import pricing

    if not databases or "default" not in databases:
        return []
    try:
        unlimited = pricing.spending_unlimited()
    except DatabaseError:  # before the first migrate: nothing to spend yet
        return []
    if not unlimited:
        return []
    return [
        CheckWarning(
            pricing.UNLIMITED_WARNING,
            hint="Set a monthly team budget in the admin (Video jobs > Budgets).",
            id="videostudio.W001",
        )
    ]
