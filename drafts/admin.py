from django.contrib import admin

from . import services
from .models import Draft, DraftVersion


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
