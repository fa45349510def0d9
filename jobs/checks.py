"""Start-up checks: a data dir the studio can write to."""

import os
from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register


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
