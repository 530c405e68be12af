"""A browser's name from its User-Agent header, to tell a user's subscribed browsers apart on /settings/."""

from __future__ import annotations


def browser_label(user_agent: str) -> str:
    """'Firefox on Linux' from a User-Agent header; good enough to tell a user's browsers apart."""
    ua = user_agent or ""
    browser = "Unknown browser"
    for token, name in (
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("HeadlessChrome/", "Headless Chrome"),
        ("Chromium/", "Chromium"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ):
        if token in ua:
            browser = name
            break
    system = ""
    for token, name in (
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("CrOS", "ChromeOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Macintosh", "macOS"),
        ("Linux", "Linux"),
    ):
        if token in ua:
            system = name
            break
    return f"{browser} on {system}" if system else browser
