from django.contrib import admin

from . import services
from .models import Cut, Draft, DraftVersion, Shot, Storyboard
from .storyboards import services as storyboards


class DraftVersionInline(admin.TabularInline):
    model = DraftVersion
    extra = 0
    can_delete = False
    fields = ["number", "name", "author", "note", "created_at"]
    readonly_fields = fields
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "visibility", "version", "prompt_count", "updated_at"]
    list_filter = ["visibility", "owner"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "version", "created_at", "updated_at"]
    inlines = [DraftVersionInline]

    def save_model(self, request, obj, form, change):
        # The list's count and the search text follow the prompts, edited here or saved.
        prompts = (
            [p for p in obj.prompts if isinstance(p, dict)] if isinstance(obj.prompts, list) else []
        )
        obj.prompt_count = len(prompts)
        obj.search_text = services.search_text_for(obj.name, prompts)
        super().save_model(request, obj, form, change)

    def get_queryset(self, request):
        # The list shows the count; the change page reads the prompts when it needs them.
        return super().get_queryset(request).defer("prompts", "search_text")


# --- Storyboards -----------------------------------------------------------------------------


class ShotInline(admin.TabularInline):
    model = Shot
    extra = 0
    can_delete = False
    fields = ["position", "prompt", "task", "duration_seconds", "picked", "trim_in", "trim_out"]
    readonly_fields = fields
    ordering = ["position"]

    def has_add_permission(self, request, obj=None):
        return False


class CutInline(admin.TabularInline):
    model = Cut
    extra = 0
    can_delete = False
    fields = ["created_at", "status", "progress", "duration_seconds", "stream_copy", "error"]
    readonly_fields = fields
    ordering = ["-created_at"]
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Storyboard)
class StoryboardAdmin(admin.ModelAdmin):
    """Storyboards for ops: who owns them, their shots and cuts. Changes go through the pages."""

    list_display = ["name", "owner", "visibility", "version", "chaining", "updated_at"]
    list_filter = ["visibility", "chaining"]
    search_fields = ["name", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "version", "chaining", "created_at", "updated_at"]
    fields = [
        "id",
        "name",
        "owner",
        "visibility",
        "model",
        "aspect_ratio",
        "resolution",
        *readonly_fields[1:],
    ]
    inlines = [ShotInline, CutInline]


@admin.register(Cut)
class CutAdmin(admin.ModelAdmin):
    """Cuts and why one failed; a stalled one can be queued again (the sweep does it too)."""

    list_display = ["storyboard", "status", "progress", "duration_seconds", "created_at"]
    list_filter = ["status"]
    search_fields = ["storyboard__name", "id"]
    list_select_related = ["storyboard"]
    readonly_fields = [f.name for f in Cut._meta.fields]
    actions = ["fail_stalled"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Fail the selected cuts that are still queued or assembling")
    def fail_stalled(self, request, queryset):
        count = storyboards.cuts_fail(
            cuts=queryset, message="Stopped by an administrator; assemble again."
        )
        self.message_user(request, f"Failed {count} cut{'s' if count != 1 else ''}.")


from .review import admin as review_admin  # noqa: E402, F401  (registers review's admins)
