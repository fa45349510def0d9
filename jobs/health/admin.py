"""The clusters' heartbeats in the admin: which machines run workers, and since when."""

from django.contrib import admin

from .models import ClusterHeartbeat


@admin.register(ClusterHeartbeat)
class ClusterHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["host", "pid", "started_at", "seen_at"]
    search_fields = ["host"]
    fields = list_display
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
