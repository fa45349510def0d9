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


@register()
def check_media_storage(app_configs=None, **kwargs):
    """With MEDIA_STORAGE=s3, ask the bucket once; refuse to start naming the setting at fault.

    Every serving command runs it before the first job could fail on a bucket that is not
    there, a key it refuses, an endpoint that does not answer, or a region it expects.
    """
    if settings.MEDIA_STORAGE != "s3":
        return []
    problem = bucket_problem()
    return [Error(problem, id="videostudio.E004")] if problem else []


def bucket_problem():
    """Return one line naming the S3 setting that keeps the bucket from answering, or None."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )
    from django.core.files.storage import default_storage

    bucket = settings.S3_BUCKET
    try:
        default_storage.connection.meta.client.head_bucket(Bucket=bucket)
    except NoCredentialsError:
        return (
            "No credentials for the bucket: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or give the machine a role)."
        )
    except NoRegionError:
        return "The bucket's region is unknown: set S3_REGION."
    except EndpointConnectionError:
        where = settings.S3_ENDPOINT_URL or "AWS's endpoint"
        return f"The bucket's endpoint {where} does not answer: check S3_ENDPOINT_URL."
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code", "")
        if status == 404 or code in ("404", "NoSuchBucket"):
            return f"The bucket {bucket!r} does not exist: check S3_BUCKET."
        if status == 301 or code in ("PermanentRedirect", "AuthorizationHeaderMalformed"):
            return f"The bucket {bucket!r} is in another region: check S3_REGION."
        if status in (400, 403):
            return (
                f"The bucket {bucket!r} refused the credentials: check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or the machine's role)."
            )
        return f"The bucket {bucket!r} answered {status}: check S3_ENDPOINT_URL and S3_BUCKET."
    except Exception as exc:  # a malformed endpoint URL, a TLS failure...
        return (
            f"The bucket could not be reached ({type(exc).__name__}): "
            "check S3_ENDPOINT_URL and S3_REGION."
        )
    return None
