"""`manage.py first_user`: create the first superuser when the studio has no users.

Safe to run on every deploy (the `studio` command and a container's migrate step run it):
once any user exists it changes nothing. The user comes from DJANGO_SUPERUSER_USERNAME
(default `admin`), DJANGO_SUPERUSER_PASSWORD and DJANGO_SUPERUSER_EMAIL; without a
password one is generated and printed once.
"""

import os
import secrets

from django.core.management.base import BaseCommand

from jobs import services


class Command(BaseCommand):
    help = "Create the first superuser from DJANGO_SUPERUSER_* if the studio has no users."

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        _user, created = services.ensure_first_user(
            username=username,
            email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""),
            password=password,
        )
        if not created:
            self.stdout.write("Log in with an existing account.")
            return
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"Created the first user {username!r} with password {password}\n"
                    "This password is shown only once: keep it, or change it in the admin."
                )
            )
        else:
            self.stdout.write(f"Created the first user {username!r} from DJANGO_SUPERUSER_*.")
