"""`sealdrop viewer-bundle` and the install.sh it writes (docs/viewer-install.md, issue 14).

Fast tests run install.sh's checks on a small bundle made here from the builder's own pieces (fake wheels,
no network). The slow ones build the real bundle from this checkout once per session (pip download from
PyPI: skipped when PyPI is unreachable), check it, refuse tampered copies, and install it for real inside
a network namespace with no network (`unshare -n`), then run the installed sealview.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from crypto import SigningKey
from dropbox import viewer_bundle as vb

REPO = Path(__file__).resolve().parents[1]
SYSTEM_PYTHON = "/usr/bin/python3"
# Distributions only the online server needs: none of them may reach the offline machine.
SERVER_ONLY = {"sqlalchemy", "alembic", "psycopg", "psycopg-binary", "flask-babel", "stem", "segno", "pyotp"}


# ---------------------------------------------------------------- what the viewer imports


def _imported_top_levels(package: Path) -> set[str]:
    """Every top-level module that any .py under `package` imports, at any depth of the code."""
    found = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def test_the_viewer_imports_nothing_of_dropbox_and_the_bundle_lists_exactly_its_third_party_imports():
    imported = set().union(*(_imported_top_levels(REPO / name) for name in vb.VIEWER_PACKAGES))
    assert not imported & {"dropbox", "onion"}, "the viewer must not import the online side"
    third_party = imported - set(sys.stdlib_module_names) - set(vb.VIEWER_PACKAGES)
    owners = importlib.metadata.packages_distributions()
    distributions = {vb.canonical(owners[module][0]) for module in third_party}
    assert distributions == set(vb.VIEWER_REQUIREMENTS)


def test_requirements_pin_hashes_and_mark_what_differs_between_pythons(tmp_path):
    def wheel(name: str, version: str, tag: str, content: bytes) -> vb.Wheel:
        path = tmp_path / f"{name}-{version}-{tag}.whl"
        path.write_bytes(content)
        return vb.Wheel.of(path)

    project = wheel("sealdrop", "0.1.0", "py3-none-any", b"project")
    shared = wheel("Shared_Pkg", "1.0", "py3-none-any", b"shared")
    old, new = (
        wheel("binary", "2.0", "cp311-cp311-x", b"old"),
        wheel("binary", "2.1", "cp313-cp313-x", b"new"),
    )
    pip = wheel("pip", "26.0", "py3-none-any", b"pip")
    text = vb.requirements_text(
        {"3.11": [project, shared, old, pip], "3.13": [project, shared, new, pip]}, project, ("3.11", "3.13")
    )
    assert f"sealdrop==0.1.0 \\\n    --hash=sha256:{vb.sha256_file(project.path)}" in text
    assert f"shared-pkg==1.0 \\\n    --hash=sha256:{vb.sha256_file(shared.path)}" in text
    assert 'binary==2.0 ; python_version == "3.11" \\\n' in text
    assert 'binary==2.1 ; python_version == "3.13" \\\n' in text
    assert "pip==" not in text  # pip installs the wheels; it is not one of them


def test_a_python_without_wheels_of_the_tested_versions_gets_the_newest(tmp_path, monkeypatch):
    calls = []

    def fake_download(python: str, dest: Path, requirements: list[str]) -> None:
        calls.append(requirements)
        if "-c" in requirements:  # the tested versions: say the index has none for this Python
            (dest / "half-1.0-py3-none-any.whl").write_bytes(b"left from the first try")
            raise vb.BundleBuildError("pip download for Python 3.99 failed: no matching distribution")
        (dest / "pillow-99.0-cp399-cp399-manylinux_2_28_x86_64.whl").write_bytes(b"newest")

    monkeypatch.setattr(vb, "_download", fake_download)
    said = []
    dest = tmp_path / "cp399"
    dest.mkdir()
    wheels = vb.download("3.99", dest, tmp_path, said.append)
    assert [w.path.name for w in wheels] == ["pillow-99.0-cp399-cp399-manylinux_2_28_x86_64.whl"]
    assert "-c" in calls[0] and "-c" not in calls[1] and "taking the newest" in said[0]
    assert "pillow" in (tmp_path / "newest.in").read_text().split()


# ---------------------------------------------------------------- install.sh on a small bundle


def _instance(path: Path) -> SigningKey:
    path.mkdir()
    key = SigningKey.generate()
    key.save(path / "server-signing.key")
    (path / "server-signing.pub").write_text(key.verify_key.encode() + "\n")
    return key


def _small_bundle(path: Path, key: SigningKey) -> Path:
    """A bundle as the builder lays it out, with two fake wheels: enough for every check before pip."""
    (path / "wheels").mkdir(parents=True)
    pip = path / "wheels" / "pip-26.0-py3-none-any.whl"
    pip.write_bytes(b"not really pip")
    (path / "wheels" / "sealdrop-0.1.0-py3-none-any.whl").write_bytes(b"not really sealdrop")
    (path / "requirements.txt").write_text("sealdrop==0.1.0\n")
    vb.write_texts(path, "0.1.0", vb.PYTHONS, vb.Wheel.of(pip))
    vb.write_public_keys(path, key)
    vb.sign_sums(path, key, vb.write_sums(path))
    return path


def run_install(bundle: Path, home: Path, *args: str, offline: list[str] | None = None):
    home.mkdir(exist_ok=True)
    env = {"HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(
        [*(offline or []), "sh", str(bundle / "install.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=600,
    )


@pytest.fixture
def small(tmp_path):
    key = _instance(tmp_path / "instance")
    return _small_bundle(tmp_path / "bundle", key), key


def _venv(home: Path) -> Path:
    return home / ".local" / "share" / "sealview" / "venv"


def test_install_sh_prints_the_fingerprint_sealdrop_prints_and_refuses_another(small, tmp_path):
    bundle, key = small
    done = run_install(bundle, tmp_path / "home", "--fingerprint", "12345 67890 12345 67890 12345")
    assert done.returncode != 0
    assert f"server key fingerprint: {key.verify_key.fingerprint}" in done.stdout
    assert "REFUSED: the server key's fingerprint is not the one given" in done.stderr
    assert "nothing was installed" in done.stderr and not _venv(tmp_path / "home").exists()


def test_install_sh_will_not_go_on_without_a_fingerprint_when_nobody_can_answer(small, tmp_path):
    done = run_install(small[0], tmp_path / "home")
    assert done.returncode != 0 and "give the fingerprint you have with --fingerprint" in done.stderr


@pytest.mark.parametrize(
    ("answer", "then"), [("no", "fingerprint was not confirmed"), ("yes", "do not match")]
)
def test_install_sh_asks_on_a_terminal_and_goes_on_only_on_yes(small, tmp_path, answer, then):
    if not shutil.which("script"):
        pytest.skip("script (util-linux) is not installed: no terminal to answer on")
    bundle, _key = small
    (bundle / "requirements.txt").write_text("altered after signing, so that yes stops at the hashes\n")
    done = subprocess.run(
        ["script", "-qec", f"sh '{bundle / 'install.sh'}'", "/dev/null"],
        input=f"{answer}\n",
        capture_output=True,
        text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode != 0 and "Is it the same? Type yes to go on:" in done.stdout
    assert then in done.stdout  # script puts the terminal's both streams on its stdout


def _past_the_fingerprint(bundle: Path, key: SigningKey, home: Path):
    return run_install(bundle, home, "--fingerprint", key.verify_key.fingerprint.replace(" ", "-"))


def test_a_changed_file_is_refused_by_name_before_anything_is_installed(small, tmp_path):
    bundle, key = small
    (bundle / "wheels" / "sealdrop-0.1.0-py3-none-any.whl").write_bytes(b"altered")
    done = _past_the_fingerprint(bundle, key, tmp_path / "home")
    assert done.returncode != 0 and "fingerprint: the same as --fingerprint" in done.stdout
    assert "do not match SHA256SUMS" in done.stderr
    assert "wheels/sealdrop-0.1.0-py3-none-any.whl" in done.stderr
    assert not _venv(tmp_path / "home").exists()


def test_an_added_file_is_refused_by_name(small, tmp_path):
    bundle, key = small
    (bundle / "wheels" / "extra-1.0-py3-none-any.whl").write_bytes(b"slipped in")
    done = _past_the_fingerprint(bundle, key, tmp_path / "home")
    assert done.returncode != 0 and "not listed in SHA256SUMS" in done.stderr
    assert "wheels/extra-1.0-py3-none-any.whl" in done.stderr


def test_changed_sums_or_another_key_fail_the_signature(small, tmp_path):
    bundle, key = small
    sums = bundle / "SHA256SUMS"
    original = sums.read_bytes()
    sums.write_bytes(original.replace(original[:8], b"00000000", 1))
    done = _past_the_fingerprint(bundle, key, tmp_path / "home")
    assert done.returncode != 0 and "is not a valid signature over SHA256SUMS" in done.stderr
    sums.write_bytes(original)
    other = SigningKey.generate()  # a whole bundle re-signed by someone else: its own key in it, too
    for name in ("server-signing.pem", "server-signing.pub", "SHA256SUMS.sig"):
        (bundle / name).unlink()
    vb.write_public_keys(bundle, other)
    vb.sign_sums(bundle, other, vb.write_sums(bundle))
    done = _past_the_fingerprint(bundle, key, tmp_path / "home")
    assert done.returncode != 0 and "is not the one given with --fingerprint" in done.stderr


def test_a_signed_list_with_a_line_of_another_shape_is_refused(small, tmp_path):
    bundle, key = small
    sums = vb.write_sums(bundle) + b"not a hash line\n"
    (bundle / "SHA256SUMS").write_bytes(sums)
    vb.sign_sums(bundle, key, sums)
    done = _past_the_fingerprint(bundle, key, tmp_path / "home")
    assert done.returncode != 0 and "SHA256SUMS has a line that is not 'hash  file'" in done.stderr


def test_the_pem_and_the_pub_must_hold_the_same_key(small, tmp_path):
    bundle, key = small
    other = SigningKey.generate()
    (bundle / "server-signing.pub").write_text(other.verify_key.encode() + "\n")
    vb.sign_sums(bundle, key, vb.write_sums(bundle))
    done = _past_the_fingerprint(bundle, key, tmp_path / "home")
    assert done.returncode != 0 and "hold different keys" in done.stderr


def test_the_readmes_checks_by_hand_pass_and_print_the_fingerprint(small):
    """README.txt's commands for an officer who checks the folder before running install.sh."""
    bundle, key = small
    commands = [ln.strip() for ln in (bundle / "README.txt").read_text().splitlines()]
    by_hand = [c for c in commands if c.startswith(("openssl pkeyutl", "sha256sum", "python3 -I"))]
    assert len(by_hand) == 3
    outputs = [
        subprocess.run(["sh", "-c", c], cwd=bundle, capture_output=True, text=True, check=True).stdout
        for c in by_hand
    ]
    assert "Signature Verified Successfully" in outputs[0]
    assert outputs[1] == ""
    assert outputs[2].strip() == key.verify_key.fingerprint


def test_the_builder_refuses_before_writing_anything(tmp_path):
    with pytest.raises(vb.BundleBuildError, match="no server signing key"):
        vb.build(tmp_path / "nowhere", tmp_path / "out")
    _instance(tmp_path / "instance")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(vb.BundleBuildError, match="not an empty folder"):
        vb.build(tmp_path / "instance", tmp_path / "full")
    with pytest.raises(vb.BundleBuildError, match="not a sealdrop source checkout"):
        vb.build(tmp_path / "instance", tmp_path / "out", source=tmp_path, log=lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "instance"]  # no partial folder left


# ---------------------------------------------------------------- the real bundle (PyPI, slow)


def _system_python_version() -> str | None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return None
    done = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() or None


def _report(config: pytest.Config, line: str) -> None:
    """Measurements go to the terminal even when pytest captures output."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    if capture is None:
        print(line)
        return
    with capture.global_and_fixture_disabled():
        print(line, flush=True)


@pytest.fixture(scope="session")
def real_bundle(tmp_path_factory, pytestconfig):
    """The bundle built once from this checkout; the wheels pip downloaded stay in this session's tmp."""
    try:
        urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=15).close()
    except OSError as e:
        pytest.skip(f"PyPI is unreachable ({e}): the viewer bundle's wheels come from it")
    root = tmp_path_factory.mktemp("viewer-bundle")
    key = _instance(root / "instance")
    system = _system_python_version()
    pythons = vb.PYTHONS if system in vb.PYTHONS or system is None else (*vb.PYTHONS, system)
    built = vb.build(root / "instance", root / "bundle", pythons=pythons, log=lambda _: None)
    _report(
        pytestconfig,
        f"\nviewer bundle: {built.files} files, {built.size / 1e6:.1f} MB, built in {built.seconds:.1f} s",
    )
    return built, key


@pytest.mark.slow
def test_the_real_bundle_verifies_with_openssl_and_sha256sum(real_bundle):
    built, key = real_bundle
    bundle = built.path
    assert built.fingerprint == key.verify_key.fingerprint
    verify = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "server-signing.pem", "-rawin",
         "-in", "SHA256SUMS", "-sigfile", "SHA256SUMS.sig"],
        cwd=bundle, capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    sums = subprocess.run(
        ["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=bundle, capture_output=True, text=True
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr
    listed = {line.split("  ", 1)[1] for line in (bundle / "SHA256SUMS").read_text().splitlines()}
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert listed == on_disk - {"SHA256SUMS", "SHA256SUMS.sig"}
    assert {
        "install.sh",
        "README.txt",
        "requirements.txt",
        "server-signing.pem",
        "server-signing.pub",
    } <= listed


@pytest.mark.slow
def test_the_real_wheelhouse_is_the_viewers_and_every_wheel_is_pinned(real_bundle):
    bundle = real_bundle[0].path
    wheels = [vb.Wheel.of(p) for p in (bundle / "wheels").glob("*.whl")]
    names = {w.name for w in wheels}
    assert set(vb.VIEWER_REQUIREMENTS) | {"sealdrop", "pip"} <= names
    assert not names & SERVER_ONLY, names & SERVER_ONLY
    requirements = (bundle / "requirements.txt").read_text()
    for wheel in wheels:
        if wheel.name != "pip":
            assert f"--hash=sha256:{vb.sha256_file(wheel.path)}" in requirements, wheel.path.name
    for python in vb.PYTHONS:  # a binary wheel for each Python, or one that serves all (abi3, pure)
        tag = f"cp{python.replace('.', '')}"
        pillow = [w.path.name for w in wheels if w.name == "pillow"]
        assert any(f"-{tag}-" in n for n in pillow), (python, pillow)


@pytest.mark.slow
@pytest.mark.parametrize("python", vb.PYTHONS)
def test_pip_on_each_target_python_finds_every_requirement_in_the_bundle_alone(real_bundle, python, tmp_path):
    """For the Pythons this machine lacks (3.13 here): pip's dry run as that Python on manylinux x86_64,
    with the bundle's own flags and no index, must find a wheel of the right tag for every requirement."""
    bundle = real_bundle[0].path
    tag = f"cp{python.replace('.', '')}"
    platforms = [arg for platform in vb.PLATFORMS for arg in ("--platform", platform)]
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--quiet", "--no-index",
         "--find-links", str(bundle / "wheels"), "--require-hashes", "--no-deps",
         "-r", str(bundle / "requirements.txt"), "--only-binary=:all:", "--python-version", python,
         "--implementation", "cp", "--abi", tag, "--abi", "abi3", "--abi", "none", *platforms,
         "--target", str(tmp_path / "target"), "--report", str(report)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    chosen = [
        item["download_info"]["url"].rsplit("/", 1)[1] for item in json.loads(report.read_text())["install"]
    ]
    assert {vb.Wheel.of(Path(name)).name for name in chosen} >= set(vb.VIEWER_REQUIREMENTS) | {"sealdrop"}
    for name in chosen:
        python_tag, abi = name.split("-")[-3:-1]
        assert abi in ("none", "abi3") or python_tag == tag, (python, name)


@pytest.mark.slow
def test_a_tampered_wheel_in_the_real_bundle_is_refused_before_installing(real_bundle, tmp_path):
    built, key = real_bundle
    copy = tmp_path / "bundle"
    shutil.copytree(built.path, copy, copy_function=os.link)  # cheap: links, and one file replaced below
    victim = next((copy / "wheels").glob("cryptography-*.whl"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 1
    victim.unlink()
    victim.write_bytes(bytes(data))
    done = run_install(copy, tmp_path / "home", "--fingerprint", key.verify_key.fingerprint)
    assert done.returncode != 0 and f"wheels/{victim.name}" in done.stderr, done.stderr
    assert not _venv(tmp_path / "home").exists()
    done = run_install(
        built.path, tmp_path / "home", "--fingerprint", SigningKey.generate().verify_key.fingerprint
    )
    assert done.returncode != 0 and "is not the one given with --fingerprint" in done.stderr
    assert not _venv(tmp_path / "home").exists()


def _no_network_prefix() -> list[str] | None:
    if not shutil.which("unshare"):
        return None
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        return None
    return ["unshare", "-n", "--"]


@pytest.mark.slow
def test_the_real_bundle_installs_with_no_network_and_sealview_runs(real_bundle, tmp_path, pytestconfig):
    built, key = real_bundle
    offline = _no_network_prefix()
    if offline is None:
        pytest.skip("unshare -n is not permitted here: the offline install needs its own network namespace")
    if _system_python_version() is None:
        pytest.skip(f"no {SYSTEM_PYTHON} to make the venv with")
    home, prefix = tmp_path / "home", tmp_path / "sealview venv"  # a space, as on a USB stick's label
    started = time.monotonic()
    done = run_install(
        built.path, home, "--fingerprint", key.verify_key.fingerprint, "--prefix", str(prefix),
        "--python", SYSTEM_PYTHON, offline=offline,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    _report(pytestconfig, f"\nviewer bundle: installed offline in {seconds:.1f} s")
    version = importlib.metadata.version("sealdrop")
    assert f"sealview {version}" in done.stdout.splitlines()
    link = home / ".local" / "bin" / "sealview"
    assert link.is_symlink() and link.resolve() == (prefix / "bin" / "sealview").resolve()

    def offline_run(*argv: str) -> subprocess.CompletedProcess:
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        return subprocess.run([*offline, *argv], capture_output=True, text=True, env=env, timeout=120)

    assert offline_run(str(link), "--version").stdout.strip() == f"sealview {version}"
    helped = offline_run(str(link), "--help")
    assert helped.returncode == 0 and "export-replies" in helped.stdout
    assert "использование:" in offline_run(str(link), "--lang", "ru", "--help").stdout  # the catalogues came
    # Every module of the viewer imports in the installed venv, and none of the server's packages came.
    probe = (
        "import importlib, pkgutil, sys\n"
        "import crypto, metadata, viewer\n"
        "for pkg in (viewer, crypto, metadata):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        if not m.name.endswith('__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "print(sorted({k.split('.')[0] for k in sys.modules} & {'dropbox', 'onion', 'sqlalchemy', 'stem'}))\n"
    )
    imported = offline_run(str(prefix / "bin" / "python"), "-I", "-c", probe)
    assert imported.returncode == 0 and imported.stdout.strip() == "[]", imported.stderr
    installed = offline_run(str(prefix / "bin" / "python"), "-I", "-c", "import pip")
    assert installed.returncode != 0  # pip ran from the bundle's wheel; the venv holds only the viewer
    _offline_import_and_reply(link, tmp_path, offline)


def _offline_import_and_reply(sealview: Path, tmp_path: Path, offline: list[str]) -> None:
    """The installed sealview, with no network, does an officer's loop: a new vault pinned to a
    server key, an export bundle sealed to its officer imported, a reply queued, the signed reply
    bundle written; the server side (here the test) verifies that bundle with the officer's key."""
    from crypto import PublicKey, bundle
    from tests.viewer.bundles import Server, Submission, jpeg, listed, report_doc

    vault, work = tmp_path / "vault", tmp_path / "usb"
    work.mkdir()
    env = {"HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
           "SEALDROP_PASSPHRASE": "correct horse battery staple"}  # fmt: skip

    def sealview_offline(*argv: str) -> str:
        done = subprocess.run([*offline, str(sealview), "--vault", str(vault), *argv],
                              capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    server_key = SigningKey.generate()
    (work / "server-signing.pub").write_text(
        f"# sealdrop server signing key\n{server_key.verify_key.encode()}\n"
    )
    sealview_offline(
        "init", "--desk", "demo", "--server-key", str(work / "server-signing.pub"), "--name", "Petrova"
    )
    officer = PublicKey.load(vault / "officer.pub")
    server = Server(officer.recipient, key=server_key)
    photo = jpeg()
    doc = report_doc("Offline install, then a report", attachments=[listed(photo, "p.jpg", "image/jpeg")])
    server.bundle(work / "export.bundle", [Submission("OFFL-0001", doc, [photo])])
    assert "OFFL-0001" in sealview_offline("import", str(work / "export.bundle")) + sealview_offline("list")
    sealview_offline("reply", "OFFL-0001", "--text", "Thank you, we are checking", "--status", "checking")
    sealview_offline("export-replies", "-o", str(work / "replies.bundle"))
    manifest = bundle.verify(work / "replies.bundle", "replies", [officer.verify_key])
    assert manifest.data["desk"] == "demo" and len(manifest.items) == 1
