#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videostudio.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from videostudio.datadir import prepare_data_dir

    try:
        # Before any command: Django's checks open the database, so a missing data dir
        # would otherwise end in a traceback rather than being created or named.
        prepare_data_dir()
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A bad setting is the person's to fix: say which, without a traceback.
        sys.exit(f"Configuration error: {exc}")


if __name__ == "__main__":
    main()
