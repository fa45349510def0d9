"""Ops' view of review: every comment (a guest's included, to moderate), the review
history, and client links with their views (revoked here in an emergency)."""

from django.contrib import admin
from django.utils import timezone

from jobs.admin import ReadOnlyInline

from .models import ClientLink, ClientLinkView, Comment, ReviewChange


class ClientLinkViewInline(ReadOnlyInline):
    model = ClientLinkView
    fields = ["at", "address", "played"]
    readonly_fields = fields
    ordering = ["-at"]


@admin.register(ClientLink)
class ClientLinkAdmin(admin.ModelAdmin):
    """Links are made in the studio, where the token is shown once; here they are revoked."""

    list_display = ["__str__", "owner", "job", "cut", "storyboard", "expires_at", "revoked_at"]
    list_filter = ["guests_may_comment", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["label", "token_hint", "owner__username"]
    list_select_related = ["owner", "job", "cut__storyboard", "storyboard"]
    readonly_fields = [f.name for f in ClientLink._meta.fields if f.name != "label"]
    exclude = ["password"]
    inlines = [ClientLinkViewInline]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected links (their next load is a 410)")
    def revoke(self, request, queryset):
        count = queryset.filter(revoked_at=None).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} link{'s' if count != 1 else ''}.")


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    """Comments, to find and remove what should not stay (a guest's spam, say)."""

    list_display = ["__str__", "job", "cut", "at_seconds", "guest_name", "created_at"]
    list_filter = [
        ("author", admin.EmptyFieldListFilter),
        ("resolved_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["text", "guest_name", "author__username"]
    list_select_related = ["author", "job", "cut__storyboard"]
    readonly_fields = [f.name for f in Comment._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ReviewChange)
class ReviewChangeAdmin(admin.ModelAdmin):
    """Who moved which video in review, and when: the record, not to be rewritten."""

    list_display = ["state", "job", "cut", "by", "at"]
    list_filter = ["state"]
    list_select_related = ["by", "job", "cut__storyboard"]
    readonly_fields = [f.name for f in ReviewChange._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
