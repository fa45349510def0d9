"""Webhooks in the admin: ops see endpoints and delivery logs, switch off and resend.

Endpoints are registered on their owner's settings page, where the URL's address is
checked; the signing secret is never shown here. The webhooks Google sent the studio
are listed read-only, with what each did.
"""

from django.contrib import admin, messages

from jobs.admin import ReadOnlyInline

from . import services
from .models import InboundEvent, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["number", "at", "succeeded", "response_code", "error"]
    readonly_fields = fields


class WebhookDeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    show_change_link = True
    fields = ["event_type", "status", "attempts", "response_code", "last_attempt_at", "error"]
    readonly_fields = fields
    max_num = 0


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "owner", "for_team", "format", "is_active", "created_at"]
    list_filter = ["is_active", "for_team", "format"]
    search_fields = ["url", "description", "owner__username", "id"]
    list_select_related = ["owner"]
    fields = ["id", "owner", "url", "description", "events", "format", "for_team", "is_active"]
    readonly_fields = ["id", "owner", "url", "description", "events", "format", "for_team"]
    inlines = [WebhookDeliveryInline]

    def has_add_permission(self, request):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "last_attempt_at",
        "error",
    ]
    list_filter = ["status", "event_type", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["id", "endpoint__url", "event_key"]
    list_select_related = ["endpoint"]
    fields = [
        "id",
        "endpoint",
        "event_type",
        "event_key",
        "status",
        "attempts",
        "next_attempt_at",
        "retry_until",
        "last_attempt_at",
        "response_code",
        "error",
        "payload",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["send_again"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Send selected deliveries again")
    def send_again(self, request, queryset):
        sent = sum(services.delivery_resend(delivery=delivery) for delivery in queryset)
        self.message_user(request, f"Sending {sent} delivery(ies) again.", messages.SUCCESS)


@admin.register(InboundEvent)
class InboundEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "event_type", "object_id", "outcome", "job", "webhook_id"]
    list_filter = ["outcome", "event_type", ("received_at", admin.DateFieldListFilter)]
    search_fields = ["webhook_id", "object_id", "job__id"]
    list_select_related = ["job"]
    fields = ["webhook_id", "event_type", "object_id", "outcome", "job", "received_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
