from django.urls import path, register_converter

from . import confirm_views, live_views, retrigger_views, views
from .rules import REPO_NAME


class RepoConverter:
    """A Treeherder repository name (validated against Treeherder's list in the views)."""

    regex = REPO_NAME

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(RepoConverter, "repo")

urlpatterns = [
    path("<repo:repo>/", views.push_list, name="push_list"),
    path("<repo:repo>/pushes/<int:push_id>/", views.push_detail, name="push_detail"),
    path("<repo:repo>/live/", views.push_list_live, name="push_list_live"),
    path("<repo:repo>/pushes/<int:push_id>/header/", views.push_header, name="push_header"),
    path("<repo:repo>/pushes/<int:push_id>/live/", live_views.push_refresh, name="push_refresh"),
    path("<repo:repo>/pushes/<int:push_id>/jobs/<int:job_id>/", live_views.job_detail, name="job_detail"),
    path("<repo:repo>/jobs/<int:job_id>/log/", live_views.job_log, name="job_log"),
    path("<repo:repo>/pushes/<int:push_id>/status/", views.push_status, name="push_status"),
    path("<repo:repo>/pushes/<int:push_id>/jobs/", views.push_jobs, name="push_jobs"),
    path("<repo:repo>/pushes/<int:push_id>/failures/", views.push_failures, name="push_failures"),
    path(
        "<repo:repo>/pushes/<int:push_id>/confirm/", confirm_views.confirm_failures, name="confirm_failures"
    ),
    path("<repo:repo>/jobs/<int:job_id>/retrigger/", retrigger_views.retrigger, name="retrigger"),
    # Anything else where a push id belongs is a 404 that says so.
    path("<repo:repo>/pushes/<str:value>/", views.bad_push_id),
]
