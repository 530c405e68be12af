from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Watches and notifications"

    def ready(self) -> None:
        # The push pages ask this app about the signed-in user through pushes.hooks: pushes never
        # imports notifications (the dependency goes one way, notifications -> pushes).
        from accounts.models import UserSettings
        from pushes import hooks

        from .selectors import treeherder_author_email, watched_push_ids

        hooks.register(
            hooks.UserHooks(
                author_email=treeherder_author_email,
                watched_push_ids=watched_push_ids,
                confirm_times=lambda user: UserSettings.for_user(user).confirm_times,
            )
        )
