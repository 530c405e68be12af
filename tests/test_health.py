import pytest


@pytest.mark.django_db
def test_it_reports_healthy_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_root_redirects_to_try(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/try/"
