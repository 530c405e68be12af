"""No sideways scroll (issue 28, item 6): every page, at 390 px (a phone) and 1280 px, with data that has
long unbroken text (a long test path in the failure lines and in a known bug's summary, a long commit
message word, a long job name), is no wider than the window. And the push list's status cell keeps to
two lines at 1280 px (item 9)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 1280)
LONG_PATH = (
    "testing/web-platform/tests/service-workers/service-worker/navigation-preload/"
    "resources/redirect-to-a-very-long-and-unbroken-resource-name-for-layout-checks_"
    "browser_navigation_preload_after_redirect_with_many_more_words.https.html"
)
LONG_LINE = (
    f"10:59:02     INFO - TEST-UNEXPECTED-FAIL | {LONG_PATH} | assert_equals: expected_but_got_{'x' * 80} -"
)
LONG_WORD = "Bug 1800099 - " + "Make" + "VeryLongIdentifier" * 8 + " faster. r=dev"
SCREENSHOTS = os.environ.get("BUILDWATCH_SCREENSHOTS", "")  # a directory: save each page there to look at


@pytest.fixture
def long_text(fake_treeherder: Any) -> Iterator[dict[str, int]]:
    """The `failed` push with a long commit message word, failure lines with a long test path (a known
    intermittent's bug summary repeating it), and a long job name; its ids."""
    push = fake_treeherder.pushes[fake_treeherder.push_id("failed")]
    push.revisions[0]["comments"] = LONG_WORD
    failed = [job for job in push.jobs if job.result == "testfailed" and job.errors]
    for job in failed[:2]:
        job.errors = [(eid, number, LONG_LINE, new) for eid, number, _, new in job.errors[:1]] + job.errors[
            1:
        ]
    failed[0].job_type_name = "test-linux1804-64-qr/debug-" + "web-platform-tests-privatebrowsing-" * 3 + "1"
    saved = dict(fake_treeherder.known_bugs)
    summary = f"Intermittent {LONG_PATH} | {'assert_equals_' * 12}"
    fake_treeherder.known_bugs[LONG_PATH] = {
        "open_recent": [
            {"id": 1888888, "internal_id": 88, "status": "NEW", "resolution": "", "dupe_of": None,
             "summary": summary, "crash_signature": "", "keywords": "intermittent-failure",
             "whiteboard": "", "occurrences": 12}
        ],
        "all_others": [],
    }  # fmt: skip
    yield {"push": push.id, "job": failed[0].id}
    fake_treeherder.known_bugs.clear()
    fake_treeherder.known_bugs.update(saved)


def pages_to_walk(ids: dict[str, int]) -> list[tuple[str, str]]:
    push, job = ids["push"], ids["job"]
    return [
        ("push-list", "/try/?author="),
        ("push", f"/try/pushes/{push}/"),
        ("failures", f"/try/pushes/{push}/failures/"),
        ("job-detail", f"/try/pushes/{push}/jobs/{job}/"),
        ("job-log", f"/try/jobs/{job}/log/"),
        ("watching", "/watching/"),
        ("settings", "/settings/"),
        ("confirm", f"/try/pushes/{push}/confirm/"),
        ("404", "/try/pushes/not-a-push/"),
    ]


def overflow(page: Any) -> dict[str, Any]:
    """The page's width beyond the window, and the widest elements that stick out (to say what to fix)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const out = [];
          for (const el of document.querySelectorAll('body *')) {
            const box = el.getBoundingClientRect();
            const spill = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === 'visible'
              && box.left + el.scrollWidth > width + 0.5;
            if ((box.right > width + 0.5 && box.width > 0) || spill) out.push(
              `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} right=${Math.round(box.right)}`
              + ` scroll=${el.scrollWidth}`);
          }
          return {scroll: document.documentElement.scrollWidth, width, culprits: out.slice(0, 14)};
        }"""
    )


def settle(page: Any) -> None:
    """The push page's shell loads its parts; wait for them (and for the failure summary)."""
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(page, app, fake_treeherder, signed_in, long_text, width: int) -> None:
    signed_in(make_user("walker", "walker@mozilla.com"))
    page.set_viewport_size({"width": width, "height": 900})
    wide = []
    for name, path in pages_to_walk(long_text):
        page.goto(app.url(path))
        settle(page)
        if name in ("push", "failures"):
            page.locator(".failure-group").first.wait_for(state="attached")
            # The folded sections (known intermittents) open: what they hold must fit too.
            page.evaluate("document.querySelectorAll('#failures details').forEach(d => { d.open = true; })")
            assert LONG_PATH in page.locator("main").inner_text(), name  # the long text is on the page
        measured = overflow(page)
        if SCREENSHOTS:
            page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}-{width}.png"), full_page=True)
        if measured["scroll"] > width:
            wide.append((name, measured))
    # Signed out: the sign-in page.
    page.context.clear_cookies()
    page.goto(app.url("/accounts/login/?next=/watching/"))
    measured = overflow(page)
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"sign-in-{width}.png"), full_page=True)
    if measured["scroll"] > width:
        wide.append(("sign-in", measured))
    assert wide == [], "\n".join(f"{name}: {measured}" for name, measured in wide)
    assert page.js_errors == []


def test_the_push_lists_status_cell_keeps_to_two_lines_at_1280(page, app, fake_treeherder, long_text) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(app.url("/try/?author="))
    rows = page.locator(".push-row")
    failed = page.locator(f"#status-{long_text['push']} .counts")
    failed.get_by_text("failed").wait_for()  # the status cells arrive after the page
    page.locator(".push-row .status-cell .badge").nth(rows.count() - 1).wait_for()
    cells = page.evaluate(
        """() => [...document.querySelectorAll('.push-row .status-cell')].map(cell => {
          // Parts whose tops are within half a line of each other share a line (a fixed grid of tops
          // would split a 259 px and a 260 px top at a cell boundary).
          const tops = [...cell.querySelectorAll('.badge, .counts, progress')]
            .map(part => part.getBoundingClientRect().top).sort((a, b) => a - b);
          const lines = [];
          for (const top of tops) if (!lines.length || top - lines[lines.length - 1] > 10) lines.push(top);
          const counts = cell.querySelector('.counts');
          return {
            text: cell.innerText, lines: lines.length,
            countsHeight: counts.getBoundingClientRect().height,
            lineHeight: parseFloat(getComputedStyle(counts).lineHeight),
          };
        })"""
    )
    assert len(cells) == rows.count() >= 4
    for cell in cells:
        assert cell["lines"] == 2, cell  # badge and counts side by side, the bar under them
        assert cell["countsHeight"] <= 1.5 * cell["lineHeight"], cell  # the counts on one line
    assert any("failed" in cell["text"] for cell in cells)
