from django.contrib import admin, messages
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html

from . import catalog, pricing, services, usage
from .models import Batch, Budget, VideoCreationJob, VideoResource


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent that only the pipeline writes."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class VideoResourceInline(ReadOnlyInline):
    model = VideoResource
    fields = ["type", "filename", "file_path", "url", "created_at"]
    readonly_fields = fields


@admin.register(VideoCreationJob)
class VideoCreationJobAdmin(admin.ModelAdmin):
    list_display = [
        "short_prompt",
        "owner",
        "status",
        "stage",
        "progress",
        "model_column",
        "estimated_cost_usd",
        "actual_cost_usd",
        "stored",
        "created_at",
    ]
    list_filter = ["status", "stage", "model", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["prompt_text", "id", "prompt_id"]
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    inlines = [VideoResourceInline]
    actions = ["cancel_jobs"]
    # State belongs to the pipeline and the services: ops read it here, never edit it.
    readonly_fields = [
        "id",
        "prompt_id",
        "status",
        "stage",
        "progress",
        "video_url",
        "error",
        "created_at",
        "completed_at",
        "cancelled_at",
        "submitted_at",
        "heartbeat_at",
        "updated_at",
        "operation_name",
        "metadata",
        "model",
        "options",
        "owner",
        "stored_bytes",
    ]
    fieldsets = [
        (None, {"fields": ["id", "owner", "prompt_id", "prompt_text"]}),
        (
            "Generation",
            {"fields": ["model", "options", "draft", "draft_version", "batch", "retry_of"]},
        ),
        ("Cost", {"fields": ["estimated_cost_usd", "actual_cost_usd", "billed_seconds"]}),
        (
            "State",
            {"fields": ["status", "stage", "progress", "error", "video_url", "stored_bytes"]},
        ),
        ("Provider", {"fields": ["operation_name", "metadata"]}),
        (
            "Times",
            {
                "fields": [
                    "created_at",
                    "submitted_at",
                    "heartbeat_at",
                    "completed_at",
                    "cancelled_at",
                    "updated_at",
                ]
            },
        ),
    ]

    @admin.display(description="Prompt", ordering="prompt_text")
    def short_prompt(self, obj):
        return obj.prompt_text[:80]

    @admin.display(description="Stored", ordering="stored_bytes")
    def stored(self, obj):
        """The bytes its files take in storage; empty until the sweep has measured them."""
        return None if obj.stored_bytes is None else filesizeformat(obj.stored_bytes)

    @admin.display(description="Model", ordering="model")
    def model_column(self, obj):
        """The model, and the catalog's warning when it retires within 30 days."""
        warning = catalog.retirement_warning(obj.model)
        if warning is None:
            return obj.model
        return format_html('{} <strong title="{}">(retiring)</strong>', obj.model, warning)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        warning = catalog.retirement_warning(job.model) if job is not None else None
        if warning and request.method == "GET":
            self.message_user(request, warning, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        """Show the usage page's totals and space, by person (and model), for the jobs listed."""
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            jobs = changelist.queryset.order_by()
            response.context_data["usage"] = usage.totals(jobs)
            response.context_data["space"] = usage.space(jobs)
        return response

    def has_delete_permission(self, request, obj=None):
        """Refuse a running job, one page or one bulk selection at a time: cancel it first."""
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_finished)

    def delete_model(self, request, obj):
        self.delete_queryset(request, [obj])

    def delete_queryset(self, request, queryset):
        # Through the service, so the job's files go with its rows.
        for job in queryset:
            try:
                services.job_delete(job=job)
            except services.JobStateError as exc:
                self.message_user(request, str(exc), messages.ERROR)

    @admin.action(description="Cancel selected jobs")
    def cancel_jobs(self, request, queryset):
        cancelled = sum(services.job_cancel(job=job) for job in queryset)
        self.message_user(request, f"Cancelled {cancelled} job(s).", messages.SUCCESS)


class BatchJobInline(ReadOnlyInline):
    model = VideoCreationJob
    fk_name = "batch"
    show_change_link = True
    fields = ["prompt_text", "status", "progress", "actual_cost_usd", "created_at"]
    readonly_fields = fields


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    """Batches as people started them; their jobs change through the pipeline only."""

    list_display = ["label", "owner", "draft_version", "job_count", "created_at", "notified_at"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["label", "id", "owner__username"]
    list_select_related = ["owner", "draft_version"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "label",
        "owner",
        "draft_version",
        "options",
        "notify_by_email",
        "notified_at",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [BatchJobInline]

    def get_queryset(self, request):
        return super().get_queryset(request).with_counts().defer("draft_version__prompts")

    @admin.display(description="Jobs", ordering="job_count")
    def job_count(self, obj):
        return obj.job_count

    def has_add_permission(self, request):
        return False


@admin.register(VideoResource)
class VideoResourceAdmin(admin.ModelAdmin):
    list_display = ["filename", "type", "job", "created_at"]
    list_filter = ["type"]
    search_fields = ["filename", "job__id", "job__prompt_text"]
    list_select_related = ["job"]
    readonly_fields = ["id", "job", "type", "url", "filename", "file_path", "created_at"]

    def has_add_permission(self, request):
        return False


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["__str__", "period", "limit_usd", "spent_this_period", "left_this_period"]
    list_filter = ["period"]
    list_select_related = ["user"]
    search_fields = ["user__username"]

    @admin.display(description="Counted this period (billed, maybe billed, running)")
    def spent_this_period(self, obj):
        return f"${self._spent(obj):.2f}"

    @admin.display(description="Left")
    def left_this_period(self, obj):
        return f"${max(obj.limit_usd - self._spent(obj), 0):.2f}"

    def _spent(self, obj):
        return pricing.spent(since=pricing.period_start(obj.period), user=obj.user)


# The API's and the webhooks' rooms register their own models.
from .api import admin as api_admin  # noqa: E402, F401
from .health import admin as health_admin  # noqa: E402, F401
from .webhooks import admin as webhooks_admin  # noqa: E402, F401
