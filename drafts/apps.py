from django.apps import AppConfig
from django.db.models import Q


class DraftsConfig(AppConfig):
    name = "drafts"
    verbose_name = "Prompt drafts"

    def ready(self):
        from jobs import signals

        from .storyboards import receivers

        signals.job_ended.connect(receivers.take_job_ended, dispatch_uid="storyboards-take-ended")

        # A take of a shared storyboard is the team's to see, as the storyboard is.
        from jobs.models import SHARED_JOB_PATHS

        if shared_takes not in SHARED_JOB_PATHS:
            SHARED_JOB_PATHS.append(shared_takes)


def shared_takes():
    return Q(take__shot__storyboard__visibility="shared")
