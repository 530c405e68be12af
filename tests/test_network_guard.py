import pytest
import requests

from tests.conftest import NetworkBlocked


def test_it_refuses_unmocked_http_to_treeherder():
    with pytest.raises((NetworkBlocked, requests.ConnectionError)) as info:
        requests.get("https://treeherder.mozilla.org/api/repository/", timeout=2)
    assert "not allowed" in str(info.value)


def test_it_allows_mocked_http(mocked_responses):
    mocked_responses.get("https://treeherder.mozilla.org/api/repository/", json=[{"name": "try"}])
    assert requests.get("https://treeherder.mozilla.org/api/repository/", timeout=2).json() == [
        {"name": "try"}
    ]
