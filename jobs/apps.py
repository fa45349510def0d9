from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Video jobs"

    def ready(self):
        from django_q.signals import pre_execute

        from . import checks  # noqa: F401  (registers the data-dir check)
        from .watchdog import beat

        pre_execute.connect(beat, dispatch_uid="videostudio-cluster-heartbeat")
