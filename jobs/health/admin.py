"""The health rows in the admin, read-only: clusters' heartbeats, and the metrics' tallies."""

from django.contrib import admin

from .models import ClusterHeartbeat, LatencyTally, ProviderErrorTally


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the studio writes itself: shown, never added or changed by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ClusterHeartbeat)
class ClusterHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["host", "pid", "started_at", "seen_at"]
    search_fields = ["host"]
    fields = list_display
    readonly_fields = fields


@admin.register(ProviderErrorTally)
class ProviderErrorTallyAdmin(ReadOnlyAdmin):
    list_display = ["error_class", "count"]
    fields = list_display
    readonly_fields = fields


@admin.register(LatencyTally)
class LatencyTallyAdmin(ReadOnlyAdmin):
    list_display = ["bucket_le", "count", "sum_seconds"]
    fields = list_display
    readonly_fields = fields
