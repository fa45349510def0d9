from django.apps import AppConfig


class DraftsConfig(AppConfig):
    name = "drafts"
    verbose_name = "Prompt drafts"

    def ready(self):
        from jobs import signals

        from .storyboards import receivers

        signals.job_ended.connect(receivers.take_job_ended, dispatch_uid="storyboards-take-ended")
