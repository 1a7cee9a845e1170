"""The families of hostile input that were 500s (issue 12): digits that are not ASCII, and JSON nested
deeper than the interpreter recurses. Each answers 4xx with its error code now."""

import io
import json
import re
import struct

import pytest

import crypto
from crypto import bundle
from dropbox import onions, parsing
from dropbox.desk import accounts
from dropbox.security import csrf_token
from tests.desk_helpers import add_user, csrf, login, officer_identity, upload_replies
from viewer import documents

SUPERSCRIPT = "²"
DEEP = "[" * 60_000  # under the API's 64 KiB, far past the interpreter's recursion limit
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def page_data(client):
    html = client.get("/r/demo?lang=en").get_data(as_text=True)
    return json.loads(re.search(r'id="page-data">(.*?)</script>', html, re.S).group(1)), html


def api(client, method, path, **kw):
    data, _ = page_data(client)
    return client.open(f"/api/demo{path}", method=method, headers={"X-Sealdrop-CSRF": data["csrf"]}, **kw)


def nojs_post(client, **fields):
    _, html = page_data(client)
    form = {"csrf_token": csrf(html), "lang": "en", "what": "Dealing behind the gym", "where_mode": "none"}
    return client.post("/r/demo?lang=en", data={**form, **fields}, content_type="multipart/form-data")


def test_whole_number_takes_ascii_digits_within_bounds_only():
    assert parsing.whole_number("42", 1, 100) == 42
    assert parsing.whole_number("0042", 1, 1000) == 42
    for raw in ("²", "٤٢", "①", "4²", "", " 4", "4\n", "-4", "+4", "4.0", "101", "0", "9" * 5000):
        assert parsing.whole_number(raw, 1, 100) is None, raw


@pytest.mark.parametrize("raw", [SUPERSCRIPT, "¹²", "9" * 5000])
def test_nojs_category_that_is_no_ascii_number_is_choose_category(app, raw):
    response = nojs_post(app.test_client(), category=raw)
    assert response.status_code == 400
    assert "choose what happened" in response.get_data(as_text=True)


def test_nojs_category_in_arabic_indic_digits_is_not_read_as_that_id(app):
    client = app.test_client()
    data, _ = page_data(client)
    real = next(iter(data["categories"]))
    response = nojs_post(client, category=real.translate(ARABIC_INDIC))
    assert response.status_code == 400
    assert "choose what happened" in response.get_data(as_text=True)


def test_nojs_place_in_superscript_is_required_again(app):
    client = app.test_client()
    data, _ = page_data(client)
    response = nojs_post(client, category=next(iter(data["categories"])), where_mode="place",
                         where_place=SUPERSCRIPT)  # fmt: skip
    assert response.status_code == 400


@pytest.mark.parametrize("query", [f"offset=0&size={SUPERSCRIPT}", f"offset=0&size=1{SUPERSCRIPT}"])
def test_first_piece_with_a_superscript_size_is_bad_request(app, query):
    response = api(app.test_client(), "PUT", f"/uploads/{'a' * 32}?{query}", data=b"x",
                   content_type="application/octet-stream")  # fmt: skip
    assert (response.status_code, response.json) == (400, {"error": "bad_request"})


def test_piece_with_a_superscript_offset_is_bad_request(app):
    client = app.test_client()
    started = api(client, "POST", "/uploads", json={"size": 10})
    assert started.status_code == 201
    response = api(client, "PUT", f"/uploads/{started.json['id']}?offset={SUPERSCRIPT}", data=b"x",
                   content_type="application/octet-stream")  # fmt: skip
    assert (response.status_code, response.json) == (400, {"error": "bad_request"})


@pytest.mark.parametrize("path", ["/uploads", "/reports", "/additions", "/case"])
def test_deeply_nested_json_is_bad_request(app, path):
    response = api(app.test_client(), "POST", path, data=DEEP, content_type="application/json")
    assert (response.status_code, response.json) == (400, {"error": "bad_request"})


def test_json_nested_past_the_limit_but_loadable_is_bad_request(app):
    nested = {"category": json.loads("[" * 40 + "]" * 40)}  # loads, but nothing of ours nests so deep
    response = api(app.test_client(), "POST", "/reports", json=nested)
    assert (response.status_code, response.json) == (400, {"error": "bad_request"})


def test_a_whole_report_with_deeply_nested_meta_is_bad_request(app):
    meta = DEEP.encode()
    body = struct.pack(">I", len(meta)) + meta + b"envelope"
    response = api(app.test_client(), "POST", "/reports", data=body, content_type="application/octet-stream")
    assert (response.status_code, response.json) == (400, {"error": "bad_request"})


def test_add_form_whose_case_token_ends_in_a_superscript_is_unknown_case(app):
    with app.test_request_context():
        token = csrf_token(f"case:{SUPERSCRIPT}") + "." + SUPERSCRIPT  # signed: only the digit is wrong
    response = app.test_client().post("/r/demo/add?lang=en", data={"case_token": token, "what": "more"})
    assert response.status_code == 404


@pytest.fixture
def admin(app, instance):
    client = app.test_client()
    name, secret = add_user(instance, "admin")
    assert login(client, name, secret).status_code == 303
    return client


def admin_post(client, url, data):
    token = csrf(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **data})


@pytest.mark.parametrize("sequence", ["99999999999999999999", "2147483648"])
def test_export_again_of_a_sequence_past_any_row_is_nothing_to_export(admin, sequence):
    token = csrf(admin.get("/desk/").get_data(as_text=True))
    unknown = admin.post("/desk/export/demo/5", data={"csrf_token": token})
    response = admin.post(f"/desk/export/demo/{sequence}", data={"csrf_token": token})
    assert response.status_code == unknown.status_code < 500  # as for any bundle never made
    assert response.headers.get("Location") == unknown.headers.get("Location")


@pytest.mark.parametrize("path", ["/desk/admin/categories/{n}", "/desk/admin/officers/{n}"])
def test_an_admin_page_for_an_id_past_any_row_is_not_found(admin, path):
    assert admin.get(path.format(n="99999999999999999999")).status_code == 404


def test_retention_in_superscript_digits_is_refused_with_the_rule(admin):
    response = admin_post(admin, "/desk/admin/desks", {"slug": "sofia", "name_en": "Sofia",
                                                       "retention_days": "3" + SUPERSCRIPT})  # fmt: skip
    assert response.status_code == 400
    assert "from 1 to 3650" in response.get_data(as_text=True)


def test_officer_ids_in_superscript_digits_are_ignored_like_an_unticked_box(admin):
    response = admin_post(admin, "/desk/admin/categories", {"desk": "demo", "slug": "graffiti",
                          "name_en": "Graffiti", "officers": [SUPERSCRIPT, "٣"]})  # fmt: skip
    assert response.status_code in (303, 400)
    assert admin.get("/desk/admin/categories").status_code == 200


def test_a_totp_code_of_superscript_digits_is_a_wrong_code_not_a_crash(app, instance):
    name, secret = add_user(instance, "admin")
    assert accounts.matching_step(secret, SUPERSCRIPT * 6, 0) is None
    response = login(app.test_client(), name, secret, totp=SUPERSCRIPT * 6)
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("port", ["⁹⁰⁵¹", "٩٠٥١", "0", "65536", "9" * 5000])
def test_tor_control_port_that_is_no_ascii_port_is_refused_with_the_usage(port):
    with pytest.raises(ValueError, match="--tor-control takes HOST:PORT"):
        onions.parse_control(f"127.0.0.1:{port}")


def signed_bundle(manifest: bytes, key: crypto.SigningKey, kind: str = "replies") -> bytes:
    return bundle.MAGIC + struct.pack(">I", len(manifest)) + manifest + key.sign(f"{kind}-bundle", manifest)


@pytest.mark.parametrize(
    "manifest",
    [
        b"[" * 100_000,
        b'{"format": "sealdrop-replies/1", "items": ' + b"[" * 100 + b"]" * 100 + b"}",
        b'{"format": "sealdrop-replies/1", "items": [{"size": 5, "sha256": "' + b"0" * 64 + b'"}]}',
        b'{"format": "sealdrop-replies/1", "items": [{"name": "a", "size": 1e400, "sha256": "'
        + b"0" * 64
        + b'"}]}',
        b'{"format": "sealdrop-replies/1", "items": [{"name": "a", "size": 99999999999999999999, "sha256": "'
        + b"0" * 64
        + b'"}]}',
    ],
    ids=["deep", "deep items", "item without a name", "size inf", "size past any file"],
)
def test_signed_manifest_that_is_malformed_is_a_bundle_error(manifest):
    key = crypto.SigningKey.generate()
    src = io.BytesIO(signed_bundle(manifest, key) + b"x")  # one byte of items: short of any listed size
    with pytest.raises(bundle.BundleError) as refused:
        for _ in bundle.items(src, bundle.read_manifest(src, "replies", [key.verify_key])):
            pass
    assert refused.value.reason == "tampered"


def test_reply_bundle_with_a_deeply_nested_manifest_is_refused_at_the_desk(app, instance, tmp_path):
    name, secret = add_user(instance, "clerk", desk="demo")
    client = app.test_client()
    assert login(client, name, secret).status_code == 303
    path = tmp_path / "replies.bundle"
    path.write_bytes(signed_bundle(b"[" * 100_000, officer_identity(instance).signing_key))
    response = upload_replies(client, path)
    assert response.status_code == 400
    assert "manifest is not valid JSON" in response.get_data(as_text=True)


def test_viewer_json_loader_refuses_deep_and_other_types():
    for raw in ("[" * 100_000, "[1]", "7", '{"a": ' + "[" * 40 + "]" * 40 + "}", "{", "\ud800"):
        with pytest.raises(documents.NotAnObject):
            documents.json_object(raw)
    assert documents.json_object('{"a": [[1]]}') == {"a": [[1]]}
    assert documents.parse(b'{"what": ' + b"[" * 100_000 + b"}").warnings
