"""`manage.py veo_check`: can the configured credentials reach the catalog's models?"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs import catalog, pipeline
from jobs.veo.base import VeoError


class Command(BaseCommand):
    help = "List which catalog models the configured Veo account can use, and why not."

    def handle(self, *args, **options):
        names = list(catalog.offered(settings.VEO_PROVIDER))
        try:
            provider = pipeline.get_provider()
            where = getattr(provider, "base_url", "")
            self.stdout.write(f"Provider: {settings.VEO_PROVIDER} ({provider.name} API at {where})")
            results = provider.reachable_models(names)
        except VeoError as exc:
            raise CommandError(exc.message) from None
        for name in names:
            reason = results.get(name, "not checked")
            if reason:
                self.stdout.write(self.style.ERROR(f"  ✗ {name}: {reason}"))
            else:
                self.stdout.write(self.style.SUCCESS(f"  ✓ {name}"))
        usable = [name for name in names if not results.get(name)]
        if not usable:
            raise CommandError("No model in the catalog is usable with these credentials.")
        if settings.VEO_MODEL not in usable:
            raise CommandError(
                f"The default model VEO_MODEL={settings.VEO_MODEL} is not usable; "
                f"set VEO_MODEL to one of: {', '.join(usable)}."
            )
        self.stdout.write(f"Ready: {len(usable)} of {len(names)} models usable.")
