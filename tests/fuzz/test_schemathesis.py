"""schemathesis over the OpenAPI document the app publishes (/api/openapi.json), against a real
`sealdrop serve` of a demo instance: no 5xx, and every answer matches the document (status, type,
body). A bounded number of examples per operation keeps it under a minute."""

import json
import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from dropbox import config, create_app
from tests.helpers import demo_server

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance]  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with demo_server(tmp_path_factory.mktemp("schemathesis")) as (base, instance, _):
        html = requests.get(f"{base}/r/demo?lang=en", timeout=30).text
        page = json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1))
        yield base, page["csrf"], instance


@pytest.fixture(scope="module")
def published(served):
    base, _, _ = served
    return schemathesis.openapi.from_url(f"{base}/api/openapi.json")


def test_the_document_is_openapi_3_and_names_every_api_route(published, served):
    base, _, instance = served
    app = create_app(config.load(instance), "reporter")
    routes = {(rule.rule.removeprefix("/api").replace("<slug>", "{desk}").replace("<upload_id>", "{upload}"),
               method.lower())
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
              for method in rule.methods - {"HEAD", "OPTIONS"}}  # fmt: skip
    app.extensions["sealdrop.engine"].dispose()
    documented = {(path, method) for path, item in published.raw_schema["paths"].items() for method in item}
    assert published.raw_schema["openapi"].startswith("3.")
    assert routes == documented
    assert requests.get(f"{base}/api/openapi.json", timeout=30).json() == published.raw_schema


def test_api_answers_match_the_document_and_are_never_5xx(published, served):
    """Each operation in turn, through hypothesis (schemathesis' pytest plugin does not load under
    pytest 9): generated paths, queries, headers and bodies, the page's token beside them."""
    base, token, _ = served
    tried = []
    for found in published.get_all_operations():
        operation = found.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_as_documented(case):
            if case.path_parameters and "desk" in case.path_parameters:
                case.path_parameters["desk"] = "demo"  # an unknown desk is one 404: reach the parsers behind
            case.call_and_validate(base_url=f"{base}/api", headers={"X-Sealdrop-CSRF": token}, checks=CHECKS,
                                   timeout=30)  # fmt: skip

        answers_as_documented()
        tried.append((operation.path, operation.method.lower()))
    documented = [
        (path, method)
        for path, item in published.raw_schema["paths"].items()
        for method in item
        if path != "/openapi.json"
    ]  # schemathesis leaves out the document it was loaded from
    assert sorted(tried) == sorted(documented)
