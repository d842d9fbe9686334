"""The admin API's OpenAPI document checked against the running server with
schemathesis: for requests made from the document (valid and not), no answer is a 5xx
and every answer matches the document (status declared, body of its schema)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from api_fleet import fleet_site, recent_day
from kenshin.bootstrap import open_app
from kenshin.domain.operators import Actor, Role
from kenshin.services.api_tokens import make_token
from kenshin.services.operators import keeping_of
from served_api import served

pytestmark = pytest.mark.integration

EXAMPLES = 12  # requests an operation (the document has about 30)
TOKEN: list[str] = []


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    """The document as the server serves it, for a site with a fleet, its day exported
    and an admin's API token (every operation is reached, not just refused, but those of
    users and tokens: a token may not manage them, and they answer 403 as declared)."""
    site = fleet_site(tmp_path_factory.mktemp("schema"), recent_day())
    app = open_app(Path(site) / "kenshin.toml")
    try:
        secret, _ = make_token(
            keeping_of(app.store),
            Actor("cli:test", "cli", "cli"),
            name="schemathesis",
            role=Role.ADMIN,
            maker_role=Role.ADMIN,
            days=1,
        )
        TOKEN[:] = [secret]
        with served(app) as base:
            yield schemathesis.openapi.from_url(f"{base}/api/v1/openapi.json")
    finally:
        app.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_server_answers_as_its_document_says(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKEN[0]}"},
        # Input the document allows may still be refused with a 422 by a rule it cannot
        # say (a time zone's name unknown to the server, a password too common): every
        # other check runs, the refusal of input the document forbids included.
        excluded_checks=[positive_data_acceptance],
    )
