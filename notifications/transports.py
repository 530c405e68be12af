"""Delivery channels. Each raises TransportError; `permanent=True` means retrying cannot help."""

from __future__ import annotations


class TransportError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
