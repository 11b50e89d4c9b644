"""The per-process client: one parsed URI, and a name that does not resolve is an outage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client

from samembed import mongo
from samembed.exceptions import DatabaseUnavailable
from samembed.repositories import stories as stories_repo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mongo_db")]

# `.invalid` never resolves (RFC 2606): the local resolver answers at once.
UNRESOLVABLE = "mongodb+srv://cluster.samembed-test.invalid/samembed"


@pytest.fixture
def unresolvable_uri() -> Iterator[None]:
    real = settings.MONGODB_URI
    mongo.close()
    settings.MONGODB_URI = UNRESOLVABLE
    try:
        yield
    finally:
        settings.MONGODB_URI = real
        mongo.close()


def test_every_repository_call_shares_one_database_handle() -> None:
    assert mongo.database() is mongo.database()
    assert mongo.database().name == "samembed"


def test_a_database_name_that_does_not_resolve_is_an_outage_not_a_bug(
        unresolvable_uri: None) -> None:
    with pytest.raises(DatabaseUnavailable, match="did not resolve"):
        stories_repo.get_by_slug("demo")


def test_an_embed_whose_database_name_does_not_resolve_answers_503(
        unresolvable_uri: None) -> None:
    client = Client(raise_request_exception=False)

    response = client.get("/e/demo")

    assert response.status_code == 503
    assert "Set-Cookie" not in response
