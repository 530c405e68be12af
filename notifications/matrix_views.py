"""Settings → Matrix: "send a test message" (POST + CSRF), straight to the user, not via the ledger."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import UserSettings
from buildwatch.htmx import login_required_htmx

from . import channels
from .channels import TransportError, matrix


@require_POST
@login_required_htmx
def send_test(request: HttpRequest) -> HttpResponse:
    user_settings = UserSettings.for_user(request.user)
    error = channels.get(matrix.MatrixChannel.name).unavailable_reason() or (
        "" if user_settings.matrix_id else "no Matrix ID is saved"
    )
    if not error:
        try:
            matrix.send_sample_message(user_settings)
        except TransportError as problem:
            error = problem.message
    if request.htmx:
        context = {"user_settings": user_settings, "matrix_sent": not error, "matrix_error": error}
        return render(request, "notifications/_matrix_section.html", context)
    if error:
        messages.error(request, f"The Matrix test message was not sent: {error}")
    else:
        messages.success(
            request, f"Test message sent to {user_settings.matrix_id}: look for the BuildWatch bot's chat."
        )
    return redirect("/settings/#matrix")
