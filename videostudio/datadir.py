"""Make the data dir (and a SQLite file's directory) usable before Django touches them.

Django's model checks open the database (SQLite's JSONField support is probed), so a
missing directory would surface as a traceback from the first check; this runs first.
"""

import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def prepare_data_dir():
    """Create the data dir if missing; raise ImproperlyConfigured if it cannot be used."""
    data_dir = Path(settings.DATA_DIR)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"The data directory {data_dir} cannot be used: {exc.strerror}. "
            "Set VIDEOSTUDIO_DATA_DIR to a directory this user can write to."
        ) from None
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and str(database["NAME"]) != ":memory:":
        parent = Path(database["NAME"]).parent
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise ImproperlyConfigured(
                f"Cannot open the database {database['NAME']}: its directory does not "
                "exist or is not writable. Check DATABASE_URL."
            )
