"""`manage.py veo_check`: can the configured credentials reach the catalog's models?"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs import catalog, pipeline
from jobs.veo.base import VeoError


def reachability(names) -> dict[str, str]:
    """Return, for each model name, "" when the credentials reach it, else why not.

    Each API is asked in its own way by its provider: predictLongRunning models through
    ListModels (Gemini) or a free probe (Vertex), Interactions models by asking for the
    model by name, whose existence is the only signal Google gives (the reference's §0).
    Raise VeoError when the provider cannot be reached at all.
    """
    by_api = {}
    for name in names:
        by_api.setdefault(catalog.api_of(name), []).append(name)
    result = {}
    for group in by_api.values():
        result.update(pipeline.get_provider(group[0]).reachable_models(group))
    return result


class Command(BaseCommand):
    help = "List which catalog models the configured credentials can use, and why not."

    def handle(self, *args, **options):
        names = list(catalog.offered(settings.VEO_PROVIDER))
        try:
            provider = pipeline.get_provider()
            where = getattr(provider, "base_url", "")
            self.stdout.write(f"Provider: {settings.VEO_PROVIDER} ({provider.name} API at {where})")
            results = reachability(names)
        except VeoError as exc:
            raise CommandError(exc.message) from None
        for name in names:
            reason = results.get(name, "not checked")
            warning = catalog.retirement_warning(name)
            if reason:
                self.stdout.write(self.style.ERROR(f"  ✗ {name}: {reason}"))
            elif warning:
                self.stdout.write(self.style.WARNING(f"  ✓ {name} ({warning})"))
            else:
                self.stdout.write(self.style.SUCCESS(f"  ✓ {name}"))
        usable = [name for name in names if not results.get(name, "not checked")]
        if not usable:
            raise CommandError("No model in the catalog is usable with these credentials.")
        if settings.VEO_MODEL not in usable:
            raise CommandError(
                f"The default model VEO_MODEL={settings.VEO_MODEL} is not usable; "
                f"set VEO_MODEL to one of: {', '.join(usable)}."
            )
        self.stdout.write(f"Ready: {len(usable)} of {len(names)} models usable.")
