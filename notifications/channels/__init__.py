"""Delivery channels, one module each (see notifications/channels/matrix.py)."""
