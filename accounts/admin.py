from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .models import SSOIdentity, UserSettings


class UserSettingsInline(admin.StackedInline):
    model = UserSettings
    can_delete = False
    verbose_name = verbose_name_plural = "BuildWatch settings"
    readonly_fields = ["updated_at"]


User = get_user_model()
if admin.site.is_registered(User) and isinstance(admin.site.get_model_admin(User), UserAdmin):
    # The stock user admin, plus each user's BuildWatch settings on the same page.
    user_admin = type(admin.site.get_model_admin(User))
    admin.site.unregister(User)

    @admin.register(User)
    class BuildWatchUserAdmin(user_admin):
        inlines = [*user_admin.inlines, UserSettingsInline]


@admin.register(UserSettings)
class UserSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "user",
        "author_email",
        "default_repo",
        "notifications_enabled",
        "auto_watch",
        "updated_at",
    ]
    # Each channel's switch is the notifications app's (ChannelSettings), listed in its admin.
    list_filter = ["notifications_enabled", "auto_watch"]
    search_fields = ["user__username", "user__email", "author_email"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]


@admin.register(SSOIdentity)
class SSOIdentityAdmin(admin.ModelAdmin):
    """Delete one to let its account be linked to another SSO subject at the next sign-in."""

    list_display = ["user", "email", "subject", "issuer", "linked_at", "last_sign_in"]
    search_fields = ["user__username", "user__email", "email", "subject"]
    readonly_fields = ["user", "issuer", "subject", "email", "linked_at", "last_sign_in"]

    def has_add_permission(self, request: Any) -> bool:
        return False  # made by a sign-in only
