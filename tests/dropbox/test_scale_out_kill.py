"""Scale-out (issue 15; dropbox/shared.py, dropbox/blobs.py): an instance killed mid-flight, with
uploads, report calls and whole reports on their way, loses nothing and files nothing twice when the
reporters' pages try again on the other instance."""

import contextlib
import json
import os
import signal
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import crypto
from tests.dropbox.scale_out_helpers import Page, cluster, doc, export_opened

if os.environ.get("SEALDROP_SKIP_POSTGRES") == "1":
    pytest.skip("SEALDROP_SKIP_POSTGRES=1", allow_module_level=True)


def _partial_request(base: str, path: str, headers: dict, body: bytes) -> socket.socket:
    """A request whose headers and first half of its body have gone out; the rest never will."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(f"{path}\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode())
    sock.sendall(body[: len(body) // 2])
    return sock


def test_an_instance_killed_mid_flight_loses_nothing_and_files_nothing_twice(tmp_path):
    with cluster(tmp_path, max_upload_piece=256 * 1024) as c:
        one, two = Page(c.urls[0]), Page(c.urls[1])
        reporters = []  # (receipt, upload id, envelope, what)
        for n in range(6):
            what = f"report {n} " + "." * 400_000
            envelope = crypto.seal_bytes(doc(what), one.recipients)
            upload_id = os.urandom(16).hex()
            put = one.call(
                "PUT", f"/uploads/{upload_id}?offset=0&size={len(envelope)}", envelope[: 256 * 1024]
            )
            assert put.status_code == 200
            reporters.append((crypto.Receipt.generate(), upload_id, envelope, what))

        def finish_on(page: Page, index: int) -> None:
            _, upload_id, envelope, _ = reporters[index]
            for at in range(256 * 1024, len(envelope), 256 * 1024):
                assert page.call(
                    "PUT", f"/uploads/{upload_id}?offset={at}", envelope[at : at + 256 * 1024]
                ).ok

        # 0, 1: filed on instance 1, whose answers are lost; 2, 3: their report calls are on their way
        # when it dies; 4, 5: a piece is on its way. Beside them, whole reports sent all along.
        for i in (0, 1):
            finish_on(one, i)
            assert one.report_call(reporters[i][0], [reporters[i][1]], one.solution()).status_code == 201
        hanging = []
        for i in (2, 3):
            finish_on(one, i)
            call = {**one.fields(reporters[i][0], one.solution()), "parts": [reporters[i][1]]}
            body = json.dumps(call).encode()
            headers = {"Content-Type": "application/json", "X-Sealdrop-CSRF": one.csrf}
            hanging.append(_partial_request(c.urls[0], "POST /api/demo/reports HTTP/1.1", headers, body))
        for i in (4, 5):
            piece = reporters[i][2][256 * 1024 : 512 * 1024]
            headers = {"Content-Type": "application/octet-stream", "X-Sealdrop-CSRF": one.csrf}
            path = f"PUT /api/demo/uploads/{reporters[i][1]}?offset={256 * 1024} HTTP/1.1"
            hanging.append(_partial_request(c.urls[0], path, headers, piece))
        whole = [
            (crypto.Receipt.generate(), crypto.seal_bytes(doc(f"whole {n} " + "." * 100_000), one.recipients))
            for n in range(60)
        ]
        answered: dict[int, str] = {}
        first_answer = threading.Event()

        def send_whole(n: int) -> None:
            with contextlib.suppress(requests.RequestException):
                answer = one.whole(*whole[n])
                if answer.status_code == 201:
                    answered[n] = answer.json()["case_number"]
                    first_answer.set()

        with ThreadPoolExecutor(max_workers=8) as pool:
            sending = [pool.submit(send_whole, n) for n in range(len(whole))]
            assert first_answer.wait(timeout=120)
            c.processes[0].send_signal(signal.SIGKILL)  # mid-flight: whole reports still on their way
            for future in sending:
                future.result()
        c.processes[0].wait(30)
        for sock in hanging:
            sock.close()
        # Every reporter's page tries again; the balancer sends it to instance 2.
        numbers = {}
        for i, (receipt, upload_id, envelope, what) in enumerate(reporters):
            state = two.call("GET", f"/uploads/{upload_id}")
            if state.status_code == 200:  # resume where the upload stands
                received = state.json()["received"]
                for at in range(received, len(envelope), 256 * 1024):
                    assert two.call(
                        "PUT", f"/uploads/{upload_id}?offset={at}", envelope[at : at + 256 * 1024]
                    ).ok
            answer = two.report_call(receipt, [upload_id], two.solution())
            if answer.json().get("error", "").startswith("pow_"):
                answer = two.report_call(receipt, [upload_id], two.solution())
            assert answer.status_code in (200, 201), answer.text
            numbers[what] = answer.json()["case_number"]
        for n, (receipt, envelope) in enumerate(whole):
            answer = two.whole(receipt, envelope)
            assert answer.status_code in (200, 201), answer.text
            if n in answered:  # filed before the kill: the same case again, not a second one
                assert (answer.status_code, answer.json()["case_number"]) == (200, answered[n])
            numbers[f"whole {n} " + "." * 100_000] = answer.json()["case_number"]
        assert len(set(numbers.values())) == len(reporters) + len(whole)
        assert c.sql("SELECT count(*) FROM cases")[0][0] == len(numbers)
        assert c.sql("SELECT count(*) FROM submissions")[0][0] == len(numbers)
        manifest, opened = export_opened(c, tmp_path)
        assert sorted(json.loads(o)["what"] for o in opened) == sorted(numbers)
        assert {m["case_number"] for m in manifest.items} == set(numbers.values())
