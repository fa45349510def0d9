"""Who may see and who may change a draft: the one lookup the pages and the JSON API share.

Another person's private draft is a 404, like one that does not exist; changing a draft
one may only see (someone else's shared draft) is a 403.
"""

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from .models import Draft


def get_draft_for_user(user, pk, *, edit=False) -> Draft:
    """Return the draft if this user may see it (404 otherwise) and, with edit, change it (403)."""
    draft = get_object_or_404(Draft.objects.visible_to(user).select_related("owner"), pk=pk)
    if edit and not can_edit(user, draft):
        raise PermissionDenied("Only the draft's owner can change it.")
    return draft


def can_edit(user, draft) -> bool:
    """Return whether this user may change the draft: its owner, or staff with change_draft."""
    return draft.owner_id == user.pk or (user.is_staff and user.has_perm("drafts.change_draft"))
