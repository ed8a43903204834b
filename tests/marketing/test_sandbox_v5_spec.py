"""Faithfulness: every v5 answer the sandbox serves validates against the official spec.

The spec is read at test time from ``../shared/reference/`` (never copied into the project). It is
OpenAPI 3.0, so before handing it to jsonschema (draft 2020-12, ``$ref``s resolved by a
``referencing`` registry built from the whole document) three OpenAPI-only keywords are
translated: ``nullable`` (adds null), a boolean ``exclusiveMinimum`` (a number in 2020-12) and
``discriminator`` (the mapped schema must validate, as an OpenAPI client reads it; a plain
``oneOf`` would reject a body two similar variants both accept). ``date-time`` is checked as
RFC 3339.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tap_pinterest_ads.marketing.columns import enums, spec_enums
from tap_pinterest_ads.sandbox.control import SandboxProcess
from tap_pinterest_ads.sandbox.v5.auth import CLIENT_ID, CLIENT_SECRET, FIRST_REFRESH_TOKEN
from tap_pinterest_ads.sandbox.v5.data import STATUSES

# Pinterest's official spec (MIT), as published, gzipped: the check runs wherever the tests do.
SPEC_PATH = Path(__file__).resolve().parent / "pinterest-v5-openapi-5.23.0.json.gz"
SPEC_URI = "urn:pinterest-v5-openapi"
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
# Every route the sandbox serves under /v5, as the spec's path template and method.
OPERATIONS = (
    ("post", "/oauth/token"),
    ("get", "/ad_accounts"),
    ("get", "/ad_accounts/{ad_account_id}"),
    ("get", "/ad_accounts/{ad_account_id}/campaigns"),
    ("get", "/ad_accounts/{ad_account_id}/ad_groups"),
    ("get", "/ad_accounts/{ad_account_id}/ads"),
    ("get", "/ad_accounts/{ad_account_id}/audiences"),
    ("get", "/ad_accounts/{ad_account_id}/customer_lists"),
    ("get", "/ad_accounts/{ad_account_id}/keywords"),
    ("get", "/ad_accounts/{ad_account_id}/conversion_tags"),
    ("get", "/catalogs"),
    ("get", "/catalogs/feeds"),
    ("get", "/catalogs/product_groups"),
    ("get", "/boards"),
    ("get", "/boards/{board_id}/sections"),
    ("get", "/boards/{board_id}/pins"),
    ("get", "/boards/{board_id}/sections/{section_id}/pins"),
    ("get", "/user_account"),
)


def _openapi_to_jsonschema(node: Any, name: str | None = None) -> Any:
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_to_jsonschema(value) for key, value in node.items()}
    if out.get("exclusiveMinimum") is True:
        out["exclusiveMinimum"] = out.pop("minimum")
    elif out.get("exclusiveMinimum") is False:
        del out["exclusiveMinimum"]
    mapping = (
        out.get("discriminator", {}).get("mapping")
        if isinstance(out.get("discriminator"), dict)
        else None
    )
    if mapping:
        prop = out.pop("discriminator")["propertyName"]
        own_ref = f"#/components/schemas/{name}"
        picks: list[dict[str, Any]] = [
            {
                "if": {"properties": {prop: {"const": value}}, "required": [prop]},
                "then": {"$ref": target},
            }
            for value, target in mapping.items()
            if own_ref not in json.dumps(node.get("allOf", [])) and target != own_ref
        ]
        if "oneOf" in out or "anyOf" in out:
            out.pop("oneOf", None)
            out.pop("anyOf", None)
            picks.append({"required": [prop], "properties": {prop: {"enum": list(mapping)}}})
        out["allOf"] = [*out.get("allOf", []), *picks]
    if out.pop("nullable", False) is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


class Spec:
    def __init__(self, document: dict[str, Any]) -> None:
        converted = dict(document)
        converted["components"] = dict(document["components"])
        converted["components"]["schemas"] = {
            name: _openapi_to_jsonschema(schema, name)
            for name, schema in document["components"]["schemas"].items()
        }
        converted["paths"] = _openapi_to_jsonschema(document["paths"])
        self.document = converted
        resource = Resource.from_contents(converted, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self.formats = jsonschema.FormatChecker()
        self.formats.checks("date-time")(
            lambda value: not isinstance(value, str) or bool(RFC3339.match(value))
        )
        self.seen: Counter[tuple[str, str, int]] = Counter()

    def check(self, method: str, template: str, response: requests.Response) -> None:
        """The body of `response` against the schema the spec gives this operation and status
        (the status's own entry, else ``default``); fails on an undeclared status."""
        responses = self.document["paths"][template][method]["responses"]
        key = str(response.status_code) if str(response.status_code) in responses else "default"
        assert key in responses, f"{method} {template} {response.status_code} is not in the spec"
        assert response.headers["content-type"].startswith("application/json")
        pointer = "/".join(
            p.replace("~", "~0").replace("/", "~1")
            for p in (
                "paths",
                template,
                method,
                "responses",
                key,
                "content",
                "application/json",
                "schema",
            )
        )
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{SPEC_URI}#/{pointer}"}, registry=self.registry, format_checker=self.formats
        )
        errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.absolute_path))
        assert not errors, f"{method.upper()} {template} {response.status_code}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message[:200]}" for e in errors[:5]
        )
        self.seen[(method, template, response.status_code)] += 1


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(json.loads(gzip.decompress(SPEC_PATH.read_bytes())))


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxProcess]:
    with SandboxProcess(seed=23, ads=60) as proc:
        yield proc


def test_the_translation_keeps_the_spec_strict(spec: Spec) -> None:
    """The translated schemas still reject what the spec rejects, so a green run means something."""
    pointer = f"{SPEC_URI}#/components/schemas/"

    def ok(schema: str, body: object) -> bool:
        validator = jsonschema.Draft202012Validator(
            {"$ref": pointer + schema}, registry=spec.registry, format_checker=spec.formats
        )
        return validator.is_valid(body)

    assert ok("Error", {"code": 283, "message": "x"}) and not ok(
        "Error", {"code": "283", "message": "x"}
    )
    assert ok("CampaignResponse", {"id": "1", "daily_spend_cap": None})
    assert not ok("CampaignResponse", {"id": "1", "status": "DELETED"})
    assert not ok("CampaignResponse", {"id": "1", "created_time": None})  # not nullable there
    feed = {"catalog_type": "HOTEL", "id": "1", "created_at": "2026-01-01T00:00:00Z"}
    assert not ok("CatalogsFeed", feed)  # the mapped Hotel schema wants its required fields
    assert not ok(
        "Catalog",
        {
            "id": "1",
            "name": None,
            "catalog_type": "RETAIL",
            "created_at": "yesterday",
            "updated_at": "2026-01-01T00:00:00Z",
        },
    )
    token = {"access_token": "a", "token_type": "bearer", "expires_in": 1, "scope": "s"}
    assert ok("OauthAccessTokenResponse", token)
    assert not ok("OauthAccessTokenResponse", {**token, "response_type": "refresh_token"})


def _get(sb: SandboxProcess, path: str, token: str, **params: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.get(f"{sb.v5_url}{path}", params=params, headers=headers, timeout=30)


def _refresh(sb: SandboxProcess, refresh: str, secret: str = CLIENT_SECRET) -> requests.Response:
    form = {"grant_type": "refresh_token", "refresh_token": refresh, "continuous_refresh": "true"}
    return requests.post(
        f"{sb.v5_url}/oauth/token", data=form, auth=(CLIENT_ID, secret), timeout=30
    )


def _walk(
    spec: Spec, sb: SandboxProcess, template: str, path: str, token: str, **params: Any
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    bookmark = None
    while True:
        resp = _get(sb, path, token, **params, **({"bookmark": bookmark} if bookmark else {}))
        assert resp.status_code == 200, resp.text
        spec.check("get", template, resp)
        body = resp.json()
        rows += body["items"]
        bookmark = body.get("bookmark")
        if not bookmark:
            return rows


def test_every_v5_answer_validates_against_the_spec(spec: Spec, sb: SandboxProcess) -> None:
    sb.reset()
    sb.v5_configure(rate_limit_per_minute=100_000)
    token_resp = _refresh(sb, FIRST_REFRESH_TOKEN)
    spec.check("post", "/oauth/token", token_resp)
    token = token_resp.json()["access_token"]
    spec.check("post", "/oauth/token", _refresh(sb, FIRST_REFRESH_TOKEN))  # 283, rotated away
    spec.check("post", "/oauth/token", _refresh(sb, "anything", secret="wrong"))  # 401

    state = sb.v5_state()
    forbidden = state["forbidden_ad_accounts"][0]
    no_catalog = next(a for a in state["no_catalog_ad_accounts"] if a != forbidden)
    readable = [a for a in state["ad_accounts"] if a != forbidden]
    accounts = _walk(spec, sb, "/ad_accounts", "/ad_accounts", token, page_size=1)
    assert [a["id"] for a in accounts] == state["ad_accounts"]
    _walk(spec, sb, "/ad_accounts", "/ad_accounts", token, include_shared_accounts="false")
    every = {"entity_statuses": list(STATUSES), "page_size": 250}
    for account in readable:
        base = f"/ad_accounts/{account}"
        spec.check("get", "/ad_accounts/{ad_account_id}", _get(sb, base, token))
        for kind in ("campaigns", "ad_groups", "ads"):
            template = "/ad_accounts/{ad_account_id}/" + kind
            _walk(spec, sb, template, f"{base}/{kind}", token, **every)
            _walk(spec, sb, template, f"{base}/{kind}", token, order="DESCENDING")
            for status in STATUSES:
                rows = _walk(
                    spec,
                    sb,
                    template,
                    f"{base}/{kind}",
                    token,
                    entity_statuses=status,
                    page_size=100,
                )
                assert rows and {r["status"] for r in rows} == {status}
        for kind in ("audiences", "customer_lists"):
            _walk(
                spec,
                sb,
                "/ad_accounts/{ad_account_id}/" + kind,
                f"{base}/{kind}",
                token,
                page_size=3,
            )
        groups = sb.v5_truth("ad_groups", ad_account_id=account)[:15]
        for group in groups:
            _walk(
                spec,
                sb,
                "/ad_accounts/{ad_account_id}/keywords",
                f"{base}/keywords",
                token,
                ad_group_id=group["id"],
            )
        _walk(spec, sb, "/ad_accounts/{ad_account_id}/keywords", f"{base}/keywords", token)
        every_group = [g["id"] for g in sb.v5_truth("ad_groups", ad_account_id=account)]
        _walk(  # the BETA array filter, as the spec's form style sends it: repeated
            spec,
            sb,
            "/ad_accounts/{ad_account_id}/keywords",
            f"{base}/keywords",
            token,
            ad_group_ids=every_group[:250],
            page_size=250,
        )
        for deleted in ("false", "true"):
            resp = _get(sb, f"{base}/conversion_tags", token, filter_deleted=deleted)
            spec.check("get", "/ad_accounts/{ad_account_id}/conversion_tags", resp)
        for kind in ("catalogs", "catalogs/feeds"):
            _walk(spec, sb, f"/{kind}", f"/{kind}", token, ad_account_id=account, page_size=1)
        if account != no_catalog:
            _walk(
                spec,
                sb,
                "/catalogs/product_groups",
                "/catalogs/product_groups",
                token,
                ad_account_id=account,
            )
    for kind in ("catalogs", "catalogs/feeds", "catalogs/product_groups"):
        _walk(spec, sb, f"/{kind}", f"/{kind}", token)
    for kind in ("catalogs_feeds", "catalogs_product_groups"):  # both variants were served
        assert {r["catalog_type"] for r in sb.v5_truth(kind)} == {"RETAIL", "HOTEL"}
    for privacy in ("ALL", "PUBLIC", "PROTECTED", "SECRET", "PUBLIC_AND_SECRET"):
        _walk(spec, sb, "/boards", "/boards", token, privacy=privacy)
    boards = _walk(spec, sb, "/boards", "/boards", token, page_size=5)
    for board in boards:
        _walk(
            spec, sb, "/boards/{board_id}/pins", f"/boards/{board['id']}/pins", token, page_size=10
        )
        sections = _walk(
            spec, sb, "/boards/{board_id}/sections", f"/boards/{board['id']}/sections", token
        )
        for section in sections:
            template = "/boards/{board_id}/sections/{section_id}/pins"
            _walk(spec, sb, template, f"/boards/{board['id']}/sections/{section['id']}/pins", token)
    spec.check("get", "/user_account", _get(sb, "/user_account", token))
    sb.v5_quirks(product_group_time="ms")
    _walk(spec, sb, "/catalogs/product_groups", "/catalogs/product_groups", token)

    # Errors: every operation answers each in the shape the spec gives its status.
    board = boards[0]["id"]
    section = next(
        s for b in boards for s in sb.v5_truth("board_sections") if s["board_id"] == b["id"]
    )
    concrete = {
        "/ad_accounts": "/ad_accounts",
        "/ad_accounts/{ad_account_id}": f"/ad_accounts/{readable[0]}",
        "/catalogs": "/catalogs",
        "/catalogs/feeds": "/catalogs/feeds",
        "/catalogs/product_groups": "/catalogs/product_groups",
        "/boards": "/boards",
        "/boards/{board_id}/sections": f"/boards/{board}/sections",
        "/boards/{board_id}/pins": f"/boards/{board}/pins",
        "/boards/{board_id}/sections/{section_id}/pins": (
            f"/boards/{section['board_id']}/sections/{section['id']}/pins"
        ),
        "/user_account": "/user_account",
    }
    for _, template in OPERATIONS[1:]:
        path = concrete.get(template) or template.replace("{ad_account_id}", readable[0])
        spec.check("get", template, _get(sb, path, "pina_not_a_token"))  # 401
        sb.add_faults({"kind": "429", "family": "v5"})
        spec.check("get", template, _get(sb, path, token))
        sb.add_faults({"kind": "500"}, {"kind": "503"})
        spec.check("get", template, _get(sb, path, token))
        spec.check("get", template, _get(sb, path, token))
        if "ad_account_id}" in template:
            spec.check(
                "get", template, _get(sb, template.replace("{ad_account_id}", forbidden), token)
            )  # 403
            spec.check(
                "get", template, _get(sb, template.replace("{ad_account_id}", "1"), token)
            )  # 404
        if template not in (
            "/ad_accounts/{ad_account_id}",
            "/ad_accounts/{ad_account_id}/conversion_tags",
            "/user_account",
        ):
            spec.check(
                "get",
                template,
                _get(sb, path, token, page_size=251 if "keywords" not in template else 0),
            )  # 400
    for kind in ("campaigns", "ad_groups", "ads"):
        template = "/ad_accounts/{ad_account_id}/" + kind
        spec.check(
            "get",
            template,
            _get(sb, f"/ad_accounts/{readable[0]}/{kind}", token, entity_statuses="DELETED"),
        )
    spec.check(
        "get",
        "/catalogs/product_groups",
        _get(sb, "/catalogs/product_groups", token, ad_account_id=no_catalog),
    )  # 409
    spec.check("get", "/boards/{board_id}/pins", _get(sb, "/boards/1/pins", token))  # 404
    sb.v5_configure(rate_limit_per_minute=1)
    spec.check("get", "/ad_accounts", _get(sb, "/ad_accounts", token))  # 429 from the window
    sb.v5_configure(rate_limit_per_minute=100_000)

    served = {(m, t) for m, t, _ in spec.seen}
    assert served == set(OPERATIONS)
    statuses = Counter(code for _, _, code in spec.seen)
    for code in (200, 400, 401, 403, 404, 409, 429, 500, 503):
        assert statuses[code], code
    assert spec.seen[("post", "/oauth/token", 400)] and spec.seen[("post", "/oauth/token", 401)]
    figures = {
        "operations": len(served),
        "operation_status_pairs": len(spec.seen),
        "responses_validated": sum(spec.seen.values()),
        "by_status": dict(sorted(statuses.items())),
    }
    print(json.dumps(figures))
    log = sb.v5_requests()
    assert any(e["path"] == "/v5/oauth/token" and e["status"] == 400 for e in log)  # the 283 answer


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _sample(
    document: dict[str, Any], name: str, schema: dict[str, Any], ids: dict[str, str]
) -> str:
    """A value the spec allows for a query parameter: a real id where the name says id."""
    schema = _resolve(document, schema)
    if schema.get("type") == "array":
        return _sample(document, name, schema["items"], ids)
    if "enum" in schema:
        return str(schema["enum"][0])
    if schema.get("type") == "boolean":
        return "true"
    if schema.get("type") == "integer" and name != "id":
        return str(schema.get("maximum", schema.get("default", 1)))
    return ids.get(name, "1")


def test_every_parameter_the_spec_declares_is_accepted(spec: Spec, sb: SandboxProcess) -> None:
    """A client written against the spec may send any declared query parameter (each alone,
    with a value the spec allows) and gets a 200 that validates."""
    sb.reset()
    sb.v5_configure(rate_limit_per_minute=100_000)
    token = _refresh(sb, FIRST_REFRESH_TOKEN).json()["access_token"]
    account = sb.v5_state()["owned_ad_accounts"][0]
    group = sb.v5_truth("ad_groups", ad_account_id=account)[0]
    section = sb.v5_truth("board_sections")[0]
    ids = {
        "ad_account_id": account,
        "campaign_ids": group["campaign_id"],
        "campaign_id": group["campaign_id"],
        "ad_group_ids": group["id"],
        "ad_group_id": group["id"],
        "ad_ids": sb.v5_truth("ads", ad_account_id=account)[0]["id"],
        "catalog_id": sb.v5_truth("catalogs", ad_account_id=account)[0]["id"],
        "feed_id": sb.v5_truth("catalogs_feeds", ad_account_id=account)[0]["id"],
        "id": sb.v5_truth("catalogs_product_groups", ad_account_id=account)[0]["id"],
    }
    paths = {
        "{ad_account_id}": account,
        "{board_id}": section["board_id"],
        "{section_id}": section["id"],
    }
    sent = 0
    for method, template in OPERATIONS[1:]:
        item = spec.document["paths"][template]
        declared = [_resolve(spec.document, p) for p in item.get("parameters", [])]
        declared += [_resolve(spec.document, p) for p in item[method].get("parameters", [])]
        path = template
        for placeholder, value in paths.items():
            path = path.replace(placeholder, value)
        for param in declared:
            if param["in"] != "query" or param["name"] == "bookmark":
                continue
            value = _sample(spec.document, param["name"], param["schema"], ids)
            resp = _get(sb, path, token, **{param["name"]: value})
            assert resp.status_code == 200, (template, param["name"], value, resp.text)
            spec.check(method, template, resp)
            sent += 1
    assert sent >= 40
    print(json.dumps({"declared_parameters_sent": sent}))


def test_the_analytics_vocabulary_file_equals_the_spec() -> None:
    # The tap validates settings against it and the sandbox serves its columns: both follow it.
    document = json.loads(gzip.decompress(SPEC_PATH.read_bytes()))
    assert enums() == {name: tuple(values) for name, values in spec_enums(document).items()}
