"""tests/helpers.py's parse_html: what the page tests assert on HTML holds whatever the attribute order,
quoting and spacing, and still fails when the element or the attribute is not there."""

from __future__ import annotations

import re

import pytest

from tests.helpers import has_class, parse_html


@pytest.mark.parametrize(
    "markup",
    [
        '<input name="default_repo" value="try">',
        "<input value='try'  name=default_repo>",
        '<input\n  type="text"\n  value="try"\n  name="default_repo"\n>',
    ],
)
def test_attributes_match_in_any_order_quoting_and_spacing(markup: str) -> None:
    page = parse_html(f"<form>{markup}</form>")
    assert page.find_all("input", name="default_repo", value="try")
    assert not page.find_all("input", name="default_repo", value="autoland")
    assert not page.find_all("select", name="default_repo")


def test_a_class_matches_the_same_classes_in_any_order_and_has_class_any_one() -> None:
    page = parse_html('<tr id="jr-1" class="failed  job"></tr><tr id="jr-2" class="job failed new"></tr>')
    assert [row.attrs["id"] for row in page.find_all("tr", class_="job failed")] == ["jr-1"]
    assert [row.attrs["id"] for row in page.find_all("tr", class_=has_class("new"))] == ["jr-2"]
    assert not page.find_all("tr", class_="job")


def test_present_absent_patterns_and_predicates() -> None:
    page = parse_html(
        '<details class="group" id="g-a" open></details><details id="g-b" hx-get="/x"></details>'
    )
    assert [d.attrs["id"] for d in page.find_all("details", open=True)] == ["g-a"]
    assert [d.attrs["id"] for d in page.find_all("details", hx_get=False)] == ["g-a"]
    assert len(page.find_all(id=re.compile(r"g-\w"))) == 2 and not page.find_all(id=re.compile("g"))
    assert [d.attrs["id"] for d in page.find_all(id=lambda value: value.endswith("b"))] == ["g-b"]
    assert page.one("details", id="g-a").attrs == {"class": "group", "id": "g-a", "open": ""}


def test_the_tree_keeps_void_elements_empty_and_survives_stray_end_tags() -> None:
    page = parse_html('<div id="a"><input name="x"><br/><p>one</span>two</div><p id="b">three</p>')
    div = page.one("div", id="a")
    assert [child.tag for child in div.elements] == ["input", "br", "p"]
    assert div.one("p").text == "onetwo"  # the stray </span> closed nothing; </div> closed the open <p>
    assert page.one("p", id="b").text == "three" and page.elements[-1].attrs == {"id": "b"}


def test_values_and_text_are_decoded_and_the_markup_is_kept_as_it_came() -> None:
    html = '<a href="/logviewer?job_id=7&amp;repo=try" title="a &lt;b&gt;">x &amp; y</a>'
    [link] = parse_html(html).find_all("a", href="/logviewer?job_id=7&repo=try")
    assert link.attrs["title"] == "a <b>" and link.text == "x & y"
    assert link.start_tag == '<a href="/logviewer?job_id=7&amp;repo=try" title="a &lt;b&gt;">'
    assert link.source == html


def test_source_is_each_elements_own_markup_across_lines() -> None:
    html = (
        '<section id="s">\n  <div id="d">\n    <tr id="r"><td>1</td></tr>\n  </div>\n</section>\n<p>after</p>'
    )
    page = parse_html(html)
    assert page.one(id="d").source == '<div id="d">\n    <tr id="r"><td>1</td></tr>\n  </div>'
    assert page.one(id="r").source == '<tr id="r"><td>1</td></tr>'
    assert page.one("section").source == html[: html.index("</section>") + len("</section>")]


def test_one_wants_exactly_one_and_first_wants_nothing_before_it() -> None:
    page = parse_html('  <li class="a"></li><li class="a"></li>')
    with pytest.raises(AssertionError, match="2 elements li"):
        page.one("li", class_="a")
    with pytest.raises(AssertionError, match="0 elements"):
        page.one("ol")
    assert page.first().matches("li", class_="a")
    with pytest.raises(AssertionError, match="text before the first element"):
        parse_html("oops <section></section>").first()
