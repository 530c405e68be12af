from django.urls import path

from . import views

urlpatterns = [
    # The Taskcluster section of the settings page (notifications' /settings/ includes its template).
    path("settings/taskcluster/", views.save_credentials, name="taskcluster_credentials"),
    path("settings/taskcluster/delete/", views.delete_credentials, name="taskcluster_credentials_delete"),
]
