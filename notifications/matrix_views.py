"""Settings → Matrix: "send a test message" (POST + CSRF), straight to the user, not via the ledger."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from buildwatch.htmx import login_required_htmx

from . import channels
from .channels import TransportError, matrix
from .models import ChannelSettings


@require_POST
@login_required_htmx
def send_test(request: HttpRequest) -> HttpResponse:
    prefs = ChannelSettings.of(request.user, matrix.MatrixChannel.name)
    error = channels.get(matrix.MatrixChannel.name).unavailable_reason() or (
        "" if matrix.matrix_id(prefs) else "no Matrix ID is saved"
    )
    if not error:
        try:
            matrix.send_sample_message(prefs)
        except TransportError as problem:
            error = problem.message
    if request.htmx:
        context = {"matrix_sent": not error, "matrix_error": error}
        return render(request, "notifications/_matrix_section.html", context)
    if error:
        messages.error(request, f"The Matrix test message was not sent: {error}")
    else:
        messages.success(
            request, f"Test message sent to {matrix.matrix_id(prefs)}: look for the BuildWatch bot's chat."
        )
    return redirect("/settings/#matrix")
