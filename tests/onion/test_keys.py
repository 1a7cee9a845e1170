"""Onion keys and client keys: tor's formats, made without tor, checked against tor itself."""

import base64
import hashlib
import re
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

import onion
from tests.onion.conftest import assert_no_processes_left
from tests.onion.tornet import die_with_parent


def test_address_is_the_ed25519_public_key_with_checksum(tmp_path):
    seed = bytes(range(32))
    digest = bytearray(hashlib.sha512(seed).digest())
    digest[0] &= 248
    digest[31] = (digest[31] & 127) | 64
    key = onion.OnionKey(bytes(digest))
    expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    assert key.public_key == expected
    assert re.fullmatch(r"[a-z2-7]{55}d\.onion", key.address)  # version 3 makes the last letter "d"


def test_key_file_is_0600_and_the_address_never_changes(tmp_path):
    path = tmp_path / "onion" / "reporter" / onion.SECRET_KEY_FILE
    first = onion.OnionKey.load_or_create(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert len(path.read_bytes()) == 96
    assert onion.OnionKey.load_or_create(path).address == first.address == onion.OnionKey.load(path).address
    assert first.expanded.hex() not in repr(first)


def test_tor_reads_our_key_file_as_its_own(tmp_path):
    """A tor given our folder as HiddenServiceDir writes the same address we derived: same format."""
    service_dir = tmp_path / "hs"
    key = onion.OnionKey.load_or_create(service_dir / onion.SECRET_KEY_FILE)
    data = tmp_path / "tor"
    data.mkdir(mode=0o700)
    torrc = data / "torrc"
    torrc.write_text(f"DataDirectory {data}\nSocksPort 0\nDisableNetwork 1\nHiddenServiceDir {service_dir}\n"
                     "HiddenServicePort 80 127.0.0.1:9\n")  # fmt: skip
    process = subprocess.Popen(["tor", "-f", str(torrc)], stdout=subprocess.PIPE, text=True,
                               preexec_fn=die_with_parent)  # fmt: skip
    try:
        for line in process.stdout:
            if "Bootstrapped 0%" in line or "[err]" in line:
                break
        assert (service_dir / "hostname").read_text().strip() == key.address
    finally:
        process.terminate()
        process.wait(10)
    assert_no_processes_left(data)


RESTORE = "restore it from the backup of DIR/onion/ (do not delete it: a new key is a new onion address)"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"not a key", f"it is not a tor v3 onion key (hs_ed25519_secret_key): {RESTORE}"),
        (b"== ed25519v1-secret: type0 ==\0\0\0" + bytes(64), "not a tor v3 onion key"),  # unclamped
        (None, f"it is a directory, not a key file: move the directory away, then {RESTORE}"),
    ],
)
def test_unreadable_keys_are_named_with_the_reason_and_what_to_do(tmp_path, content, why):
    path = tmp_path / onion.SECRET_KEY_FILE
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(onion.KeyUnreadable) as raised:
        onion.OnionKey.load_or_create(path)
    assert str(raised.value).startswith(f"the onion key {path} is unreadable: ")
    assert why in str(raised.value)


def test_a_missing_key_says_restore_it(tmp_path):
    path = tmp_path / onion.SECRET_KEY_FILE
    with pytest.raises(onion.KeyUnreadable) as raised:
        onion.OnionKey.load(path)
    assert str(raised.value) == f"the onion key {path} is unreadable: there is no such file: {RESTORE}"


def test_a_key_others_may_read_is_refused(tmp_path):
    path = tmp_path / onion.SECRET_KEY_FILE
    onion.OnionKey.load_or_create(path)
    path.chmod(0o640)
    with pytest.raises(onion.KeyUnreadable) as raised:
        onion.OnionKey.load(path)
    assert f"other users may read it: chmod 600 {path} (if someone may have copied it" in str(raised.value)


def test_client_key_auth_line_is_what_tor_expects():
    key = onion.ClientKey.generate()
    address = onion.OnionKey.generate().address
    line = key.auth_line(address)
    onion_part, method, kind, private = line.split(":")
    assert onion_part + ".onion" == address and (method, kind) == ("descriptor", "x25519")
    assert re.fullmatch(r"[A-Z2-7]{52}", private) and re.fullmatch(r"[A-Z2-7]{52}", key.public)
    raw = base64.b32decode(private + "====")
    public = X25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw()
    assert base64.b32encode(public).decode().rstrip("=") == key.public


def test_authorized_clients_keep_public_halves_only(tmp_path):
    clients = onion.AuthorizedClients(tmp_path / "authorized_clients")
    alice = clients.add("alice")
    clients.add("bob.petrov")
    assert clients.names() == ["alice", "bob.petrov"]
    stored = (tmp_path / "authorized_clients" / "alice.auth").read_text()
    assert stored == f"descriptor:x25519:{alice.public}\n"
    assert alice.auth_line("x" * 56).split(":")[-1] not in stored
    assert oct((tmp_path / "authorized_clients" / "alice.auth").stat().st_mode & 0o777) == "0o600"
    assert clients.public_keys()[0] == alice.public
    with pytest.raises(onion.ClientAccessError, match="already has access"):
        clients.add("alice")
    for bad in ("../x", ".hidden", "a b", "x" * 65, ""):
        with pytest.raises(onion.ClientAccessError, match="not a usable name"):
            clients.add(bad)
    clients.revoke("alice")
    assert clients.names() == ["bob.petrov"]
    with pytest.raises(onion.ClientAccessError, match="no access named alice"):
        clients.revoke("alice")


def test_a_damaged_client_file_stops_publication(tmp_path):
    clients = onion.AuthorizedClients(tmp_path)
    clients.add("alice")
    (tmp_path / "alice.auth").write_text("descriptor:x25519:short\n")
    with pytest.raises(onion.ClientAccessError, match="is not a client authorization"):
        clients.public_keys()
