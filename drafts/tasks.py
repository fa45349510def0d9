"""django-q2 entry points for storyboards: thin adapters over their services."""

from .storyboards import services


def assemble_cut(cut_id):
    return services.cut_assemble(cut_id)


def recover_cuts():
    return services.cuts_recover()
