from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Video jobs"

    def ready(self):
        from . import checks  # noqa: F401  (registers the data-dir check)
