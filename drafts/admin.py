from django.contrib import admin

from .models import Draft


@admin.register(Draft)
class DraftAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "prompt_count", "updated_at"]
    list_filter = ["owner"]
    search_fields = ["name"]
    list_select_related = ["owner"]
    readonly_fields = ["id", "created_at", "updated_at"]

    @admin.display(description="Prompts")
    def prompt_count(self, obj):
        return len(obj.prompts or [])
