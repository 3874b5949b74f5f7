"""Hostile requests to the control server (issue #16, defect 4): never a 500.

Each request the adversarial pass found answered 500 (plain text, a traceback in the log) is now a 400
with a JSON error or a 200 carrying a measured failure string, as OONI's test helper does; a URL's port 0
is not silently port 80.  The request parser is fuzzed with Hypothesis, through the real app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from netfreedom.errors import InputError
from netfreedom.probe.control import ControlConfig, parse_request
from netfreedom.probe.control_server import create_app
from netfreedom.probe.lab import PUBLIC_NET, Lab


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab("127.0.12") as running:
        yield running


@pytest.fixture(scope="module")
def client(lab: Lab) -> Iterator[TestClient]:
    # The lab's control: confined to the lab's routes and its honest resolver, so nothing leaves the machine.
    app = create_app(lab.control_config(dns_timeout=1.0, tcp_timeout=1.0, http_timeout=2.0))
    with TestClient(app, raise_server_exceptions=False) as running:
        yield running


def ok_url(lab: Lab) -> str:
    return next(c.url for c in lab.cases if c.name == "ok")


def post(client: TestClient, url: str, user_agent: str = "t", tcp: list[str] | None = None) -> Any:
    body = {
        "http_request": url,
        "http_request_headers": {"User-Agent": [user_agent]},
        "tcp_connect": tcp or [],
    }
    return client.post("/", json=body)


def assert_json_400(response: Any, words: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["error"]


def test_deep_json_is_a_400(client: TestClient) -> None:
    for levels in (2_000, 6_000, 100_000):  # the issue's ~4 KB, and far deeper
        nested = b'{"x":' * levels + b"1" + b"}" * levels
        assert_json_400(client.post("/", content=nested), "nested too deeply")
        body = b'{"http_request": "http://x/", "x_unknown": ' + b"[" * levels + b"]" * levels + b"}"
        assert_json_400(client.post("/", content=body), "nested too deeply")


def test_an_unparseable_url_is_a_400(client: TestClient) -> None:
    assert_json_400(post(client, "http://[::1/"), "http_request")
    assert_json_400(post(client, "http://[nothex]/"), "http_request")


def test_control_characters_in_the_url_are_a_400(client: TestClient, lab: Lab) -> None:
    for bad in ("/a\r\nX-Evil: 1", "/a\nb", "/a\x00b", "/a\tb", "/\x7f"):
        assert_json_400(post(client, ok_url(lab).rstrip("/") + bad), "control character")
    assert_json_400(post(client, "http://exa mple.lab.test/"), "http_request")


def test_a_space_or_non_ascii_in_the_path_is_escaped_as_a_browser_does(client: TestClient, lab: Lab) -> None:
    for path in ("/a b", "/caf\u00e9?q=\u65e5\u672c", '/"<>'):
        answer = post(client, ok_url(lab).rstrip("/") + path)
        assert answer.status_code == 200, answer.text
        assert answer.json()["http_request"]["status_code"] == 200  # the lab site answers every path


def test_bad_user_agents_are_a_400(client: TestClient, lab: Lab) -> None:
    for agent in ("a\r\nX-Evil: 1", "a\x00b", "a\nb", "caf\u00e9", "\u65e5\u672c"):
        assert_json_400(post(client, ok_url(lab), user_agent=agent), "User-Agent")
    body = {"http_request": ok_url(lab), "http_request_headers": {"X-Other": ["a\r\nb"]}, "tcp_connect": []}
    assert client.post("/", json=body).status_code == 200  # a header the control ignores is not checked


def test_a_label_over_63_characters_is_a_measured_dns_failure(client: TestClient) -> None:
    answer = post(client, f"http://{'a' * 64}.lab.test/")
    assert answer.status_code == 200, answer.text
    control = answer.json()
    assert control["dns"]["failure"] == "dns_name_error"
    assert control["http_request"]["failure"] == "dns_lookup_error"
    answer = post(client, f"http://{'a' * 300}/")
    assert answer.status_code == 200 and answer.json()["dns"]["failure"] == "dns_name_error"


def test_port_0_is_not_port_80(client: TestClient, lab: Lab) -> None:
    assert_json_400(post(client, ok_url(lab).replace(".test/", ".test:0/")), "port 0")
    assert_json_400(post(client, f"http://{PUBLIC_NET}.10:0/"), "port 0")
    # A probe's port is never dialed (the helper picks its ports), so port 0 there is just the probe's IP.
    answer = post(client, ok_url(lab), tcp=[f"{PUBLIC_NET}.10:0"]).json()
    assert f"{PUBLIC_NET}.10:0" not in answer["tcp_connect"]
    assert answer["ip_info"][f"{PUBLIC_NET}.10"]["flags"] & 1


def test_the_probe_does_not_turn_port_0_into_80() -> None:
    from netfreedom.probe.measure import target_port

    assert target_port("http://x.test:0/") == 0
    assert target_port("http://x.test/") == 80
    assert target_port("https://x.test/") == 443
    assert target_port("https://x.test:8443/") == 8443


# -- fuzzing ---------------------------------------------------------------------------------------------

TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
SPECIAL = st.sampled_from(
    ["\r\n", "\x00", " ", "\t", "\u00e9", "\u65e5", "%", "%zz", "[", "]", "@", ":", "#", "?"]
)
PIECE = st.one_of(TEXT, SPECIAL)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "ftp", ""]))
    host = draw(
        st.one_of(
            st.sampled_from(["ok.lab.test", f"{PUBLIC_NET}.10", "[::1]", "[::1", "a" * 64 + ".lab.test", ""]),
            st.lists(PIECE, max_size=3).map("".join),
        )
    )
    port = draw(st.sampled_from(["", ":0", ":80", ":65535", ":65536", ":-1", ":x", ":"]))
    path = draw(st.lists(PIECE, max_size=4).map("".join))
    return f"{scheme}://{host}{port}/{path}"


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    headers = draw(
        st.dictionaries(
            st.sampled_from(["User-Agent", "user-agent", "Accept", "Accept-Language", "Cookie", ""]),
            st.lists(st.lists(PIECE, max_size=3).map("".join), max_size=2),
            max_size=3,
        )
    )
    tcp = draw(
        st.lists(st.sampled_from([f"{PUBLIC_NET}.10:80", "1.1.1.1:0", "[::1]:80", "x:1", ""]), max_size=3)
    )
    return {"http_request": draw(urls()), "http_request_headers": headers, "tcp_connect": tcp}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests())
def test_fuzzed_requests_are_never_a_500(client: TestClient, request: dict[str, Any]) -> None:
    answer = client.post("/", json=request)
    assert answer.status_code in (200, 400), (request, answer.status_code, answer.text)
    doc = answer.json()
    if answer.status_code == 400:
        assert doc["error"]
    else:
        assert {"tcp_connect", "http_request", "dns"} <= set(doc)


JSON = st.recursive(
    st.none() | st.integers() | TEXT, lambda inner: st.lists(inner) | st.dictionaries(TEXT, inner)
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), JSON.map(lambda v: json.dumps(v).encode())))
def test_the_parser_raises_only_input_errors(data: bytes) -> None:
    try:
        parse_request(data, ControlConfig())
    except InputError as exc:
        assert str(exc)
