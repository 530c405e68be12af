from django.contrib import admin
from django.contrib.auth import get_user_model

from .models import ChannelSettings, MatrixLogin, Notification, PushState, PushSubscription, Watch


@admin.register(Watch)
class WatchAdmin(admin.ModelAdmin):
    list_display = ["user", "repo", "push_id", "created_at", "auto", "last_state", "notified_at"]
    list_filter = ["repo", "auto", "last_state"]
    search_fields = ["user__username", "user__email", "=push_id"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "created_at"


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "repo",
        "push_id",
        "channel",
        "status",
        "uncertain",
        "attempts",
        "created_at",
        "sent_at",
    ]
    # "uncertain": an attempt may have delivered without us knowing (see Notification.uncertain).
    list_filter = ["channel", "status", "uncertain", "repo"]
    search_fields = ["user__username", "user__email", "=push_id", "title", "last_error"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    date_hierarchy = "created_at"


@admin.register(PushState)
class PushStateAdmin(admin.ModelAdmin):
    list_display = [
        "repo",
        "push_id",
        "state",
        "title",
        "author",
        "completed_count",
        "job_count",
        "failed_count",
        "last_polled_at",
    ]
    list_filter = ["state", "repo"]
    search_fields = ["=push_id", "revision", "author", "title"]


@admin.register(PushSubscription)
class PushSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["user", "short_endpoint", "user_agent", "created_at"]
    search_fields = ["user__username", "user__email", "endpoint", "user_agent"]
    list_filter = ["created_at"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    # The keys are secrets of the subscribing browser: show them, never edit them by hand.
    readonly_fields = ["endpoint", "p256dh", "auth", "user_agent", "created_at"]

    @admin.display(description="endpoint")
    def short_endpoint(self, obj: PushSubscription) -> str:
        return obj.endpoint if len(obj.endpoint) <= 60 else obj.endpoint[:57] + "…"


@admin.register(MatrixLogin)
class MatrixLoginAdmin(admin.ModelAdmin):
    """The bot's stored login (MATRIX_USER/MATRIX_PASSWORD): delete it to make the bot log in again."""

    list_display = ["user", "homeserver", "device_id", "created_at"]
    readonly_fields = ["homeserver", "user", "device_id", "created_at"]
    exclude = ["access_token"]

    def has_add_permission(self, request: object) -> bool:
        return False


class ChannelSettingsInline(admin.TabularInline):
    model = ChannelSettings
    extra = 0
    verbose_name_plural = "Notification channels"
    readonly_fields = ["updated_at"]


User = get_user_model()
if admin.site.is_registered(User):
    # The user admin (accounts' BuildWatchUserAdmin), plus the user's settings of each channel.
    user_admin = type(admin.site.get_model_admin(User))
    admin.site.unregister(User)
    admin.site.register(
        User,
        type(user_admin.__name__, (user_admin,), {"inlines": [*user_admin.inlines, ChannelSettingsInline]}),
    )


@admin.register(ChannelSettings)
class ChannelSettingsAdmin(admin.ModelAdmin):
    """A user's switch and config of one channel; the channel validates the config (Channel.config_errors)."""

    list_display = ["user", "channel", "enabled", "config", "updated_at"]
    list_filter = ["channel", "enabled"]
    search_fields = ["user__username", "user__email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
