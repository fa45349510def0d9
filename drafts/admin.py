from django.contrib import admin

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

    @admin.display(description="Prompts")
    def prompt_count(self, obj):
        return len(obj.prompts or [])
