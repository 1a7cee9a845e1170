"""Property tests (hypothesis) over every parser that reads what an outsider sends: arbitrary and
mutated-valid inputs give a result or the parser's documented error, never another exception, and
through HTTP never a 5xx. The targets are fuzz/targets.py's, the ones atheris runs for `make fuzz`."""

import io
import json
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crypto
import metadata
from crypto import jsonobject
from dropbox import parsing
from fuzz import targets

EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HTTP_EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)
FIELDS = ["category", "parts", "lookup_id", "reply_public", "size", "sizes", "pow"]


@pytest.mark.parametrize("name", sorted(set(targets.TARGETS) - {"api_json", "nojs_form"}))
@EXAMPLES
@given(data=st.binary(max_size=4096))
def test_parsers_give_a_result_or_their_documented_error(name, data):
    targets.TARGETS[name](data)


@pytest.mark.parametrize("name", ["api_json", "nojs_form"])
@HTTP_EXAMPLES
@given(data=st.binary(max_size=2048))
def test_http_parsers_never_answer_5xx(name, data):
    targets.TARGETS[name](data)


@pytest.mark.parametrize("path", ["/uploads", "/reports", "/additions", "/case"])
@HTTP_EXAMPLES
@given(body=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6) | JSON)
def test_every_json_endpoint_answers_any_json_with_a_4xx_code_or_success(path, body):
    client, page, _ = targets._app()
    response = client.post(f"/api/demo{path}", json=body, headers={"X-Sealdrop-CSRF": page["csrf"]})
    assert response.status_code < 500
    if response.status_code >= 400:
        assert set(response.json) <= {"error", "retry_after", "wait"}
        assert isinstance(response.json["error"], str)


@EXAMPLES
@given(changes=st.binary(min_size=3, max_size=60))
def test_a_changed_envelope_never_opens(changes):
    identity, valid = targets._officer()
    changed = targets.mutated(valid, changes)
    try:
        opened = crypto.unseal_bytes(changed, [identity.decryption_key])
    except crypto.EnvelopeError:
        return
    assert changed == valid and opened == b'{"what": "a report"}'


@EXAMPLES
@given(family=st.sampled_from(sorted(targets.MAGIC)), tail=st.binary(max_size=2048))
def test_a_cleaning_plan_reads_only_inside_the_file(family, tail):
    raw = targets.MAGIC[family] + tail
    try:
        plan = metadata.plan_for(metadata.BytesSource(raw), family)
    except metadata.CannotClean:
        return
    copies = [p for p in plan.pieces if isinstance(p, metadata.Copy)]
    assert all(0 <= c.start <= c.end <= len(raw) for c in copies)
    written = metadata.iter_pieces(metadata.BytesSource(raw), plan.pieces)
    assert plan.size == sum(len(chunk) for chunk in written)


@EXAMPLES
@given(raw=st.text(max_size=30), low=st.integers(0, 10), high=st.integers(10, 10**6))
def test_whole_number_is_int_of_ascii_digits_in_bounds_or_none(raw, low, high):
    value = parsing.whole_number(raw, low, high)
    if value is None:
        ok = raw.isascii() and raw.isdigit() and len(raw) <= len(str(high)) and low <= int(raw) <= high
        assert not ok
    else:
        assert raw.isascii() and str(value) == raw.lstrip("0").rjust(1, "0") and low <= value <= high


@EXAMPLES
@given(value=JSON, depth=st.integers(0, 60))
def test_json_object_refuses_exactly_what_is_not_a_shallow_object(value, depth):
    wrapped = value
    for _ in range(depth):
        wrapped = [wrapped]
    text = json.dumps({"v": wrapped})
    try:
        loaded = parsing.json_object(text, 1 << 20)
    except parsing.BadInput:
        assert jsonobject.nesting({"v": wrapped}, 1000) > jsonobject.MAX_DEPTH
        return
    assert loaded == json.loads(text)


def test_whole_report_meta_length_past_the_body_is_bad_request():
    client, page, _ = targets._app()
    body = struct.pack(">I", 60_000) + b"{}"
    headers = {"X-Sealdrop-CSRF": page["csrf"]}
    response = client.post("/api/demo/reports", data=io.BytesIO(body), headers=headers,
                           content_type="application/octet-stream")  # fmt: skip
    assert (response.status_code, response.json) == (400, {"error": "bad_request"})


@HTTP_EXAMPLES
@given(name=st.text(max_size=300), password=st.text(max_size=300), code=st.text(max_size=20))
def test_desk_login_answers_any_text_without_a_5xx(name, password, code):
    client, _, _ = targets._app()
    page = client.get("/desk/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/desk/login", data={"csrf_token": token, "name": name, "password": password,
                                                "code": code})  # fmt: skip
    assert response.status_code < 500 and response.status_code != 303  # nobody has these credentials
