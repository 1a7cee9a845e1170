"""`sealdrop viewer-bundle -o DIR`: a folder that installs sealview on a machine that is never online.

    sealdrop viewer-bundle -o DIR [--python 3.11 --python 3.13] [--source CHECKOUT]
    python -m dropbox.viewer_bundle --dir INSTANCE -o DIR          (the same; `make viewer-bundle` runs it)

DIR gets a wheelhouse (this project's wheel and every wheel the viewer needs at run time, for each
CPython version on x86_64 manylinux, plus pip's own wheel to install them with), requirements.txt
pinned with SHA-256 hashes, install.sh and README.txt (dropbox/viewer_bundle_files), the instance's
server public key as server-signing.pem (for openssl) and server-signing.pub (for sealview), a
SHA256SUMS of every file, and SHA256SUMS.sig: an Ed25519 signature over SHA256SUMS by the server's
signing key. install.sh checks all of it with openssl and sha256sum before it installs anything;
docs/viewer-install.md explains the bundle and what the officer compares.

The builder needs the network (pip download from the package index) and a source checkout (the
project's wheel is built from it). The bundle appears whole or not at all: it is built in a hidden
sibling folder and renamed into place at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from crypto import SigningKey, VerifyKey

from . import config as config_mod
from .console import _

# What viewer/, crypto/ and metadata/ import at run time, as distributions (tests/test_viewer_bundle.py
# checks this against their imports). Babel is here although pyproject names it only through flask-babel.
VIEWER_REQUIREMENTS = (
    "babel",
    "cryptography",
    "flask",
    "pillow",
    "pillow-heif",
    "pynacl",
    "reportlab",
    "rich",
    "waitress",
    "werkzeug",
)
VIEWER_PACKAGES = ("viewer", "crypto", "metadata")
PYTHONS = ("3.11", "3.13")  # Debian 12 and Tails 6: 3.11; Debian 13 and Tails 7: 3.13
# Debian 12 has glibc 2.36: a wheel for any manylinux up to that runs there. pip does not widen a
# manylinux_2_X platform to the older ones by itself, so every one is named (manylinux2014 = 2_17 and
# pip adds manylinux2010 and manylinux1 to it).
PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)), "manylinux2014_x86_64")
# What the project's wheel is built from (pyproject.toml's packages and readme).
SOURCE_ITEMS = ("pyproject.toml", "README.md", "crypto", "onion", "metadata", "dropbox", "viewer")
FILES = Path(__file__).resolve().parent / "viewer_bundle_files"
SUMS = "SHA256SUMS"
SIGNATURE = "SHA256SUMS.sig"
PIP_TIMEOUT_S = 900


class BundleBuildError(ValueError):
    """A failure to report in one line; no bundle is left behind."""


@dataclass(frozen=True)
class Built:
    path: Path
    files: int
    size: int
    fingerprint: str
    seconds: float


@dataclass(frozen=True)
class Wheel:
    """A wheel file and the distribution it holds, from its name (PEP 427)."""

    path: Path
    name: str
    version: str

    @classmethod
    def of(cls, path: Path) -> Wheel:
        parts = path.name.split("-")
        if len(parts) < 5 or not path.name.endswith(".whl"):
            raise BundleBuildError(f"not a wheel file name: {path.name}")
        return cls(path, canonical(parts[0]), parts[1])


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- the wheels


def _pip(args: list[str], what: str) -> None:
    """Run this interpreter's pip; on failure, its last meaningful lines in one error."""
    try:
        done = subprocess.run(  # noqa: S603 (this interpreter's own pip, with arguments made here)
            [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BundleBuildError(
            f"{what} took more than {PIP_TIMEOUT_S} s: is the package index reachable?"
        ) from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines()]
        useful = [ln for ln in lines if ln and not ln.startswith("WARNING:")][-3:]
        raise BundleBuildError(f"{what} failed: {' / '.join(useful) or f'pip exited {done.returncode}'}")


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def pinned_requirements() -> list[str]:
    """The viewer's requirements at the versions this environment runs (and its tests ran), and pip.
    One not installed here is left to the index's newest."""
    names = [*VIEWER_REQUIREMENTS, "pip"]
    return [f"{name}=={version}" if (version := _installed(name)) else name for name in names]


def _constraints() -> str:
    """Every distribution installed here at its version: the viewer's dependencies' dependencies
    come at the versions tested with, where the target Python can have them."""
    pins = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) != "sealdrop":
            pins[canonical(name)] = dist.version
    return "".join(f"{name}=={version}\n" for name, version in sorted(pins.items()))


def download(python: str, dest: Path, work: Path, log: Callable[[str], None] = print) -> list[Wheel]:
    """The binary wheels the viewer needs on CPython `python` (e.g. "3.13"), x86_64 manylinux: the
    versions installed here where that Python has wheels of them all, else the newest that it has."""
    pinned, constraints = work / "pinned.in", work / "constraints.txt"
    pinned.write_text("".join(f"{line}\n" for line in pinned_requirements()))
    constraints.write_text(_constraints())
    try:
        _download(python, dest, ["-r", str(pinned), "-c", str(constraints)])
    except BundleBuildError as e:
        log(f"  not every tested version has a wheel for Python {python} ({e}); taking the newest")
        shutil.rmtree(dest)
        dest.mkdir()
        newest = work / "newest.in"
        newest.write_text("".join(f"{name}\n" for name in (*VIEWER_REQUIREMENTS, "pip")))
        _download(python, dest, ["-r", str(newest)])
    return [Wheel.of(path) for path in sorted(dest.glob("*.whl"))]


def _download(python: str, dest: Path, requirements: list[str]) -> None:
    abi = "cp" + python.replace(".", "")
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    _pip(
        ["download", "--quiet", "--only-binary=:all:", "--python-version", python,
         "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none", *platforms,
         "--dest", str(dest), *requirements],
        f"pip download for Python {python}",
    )  # fmt: skip


def _source_tree(source: Path, work: Path) -> Path:
    """A copy of what the wheel is built from: pip builds in the tree it is given (build/, egg-info),
    which must not be the checkout others work in. The viewer's catalogues are compiled fresh into it."""
    if not (source / "pyproject.toml").is_file():
        raise BundleBuildError(
            f"{source} is not a sealdrop source checkout (no pyproject.toml): use --source"
        )
    tree = work / "source"
    tree.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.partial")
    for item in SOURCE_ITEMS:
        path = source / item
        if path.is_dir():
            shutil.copytree(path, tree / item, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, tree / item)
    _compile_catalogues(tree / "viewer" / "translations")
    return tree


def _compile_catalogues(translations: Path) -> None:
    """Every messages.po into its messages.mo, as `make setup` does, so the wheel speaks bg, ru, kk."""
    from babel.messages.mofile import write_mo  # babel: installed with flask-babel on the server
    from babel.messages.pofile import read_po

    for po in sorted(translations.glob("*/LC_MESSAGES/messages.po")):
        with po.open("rb") as f:
            catalog = read_po(f, locale=po.parent.parent.name)
        with po.with_suffix(".mo").open("wb") as f:
            write_mo(f, catalog)


def project_wheel(source: Path, dest: Path, work: Path) -> Wheel:
    """This project's wheel (sealview is its entry point), built from a copy of `source`."""
    tree = _source_tree(source, work)
    built = work / "project-wheel"
    _pip(["wheel", "--quiet", "--no-deps", "--wheel-dir", str(built), str(tree)], "building sealdrop's wheel")
    (path,) = built.glob("sealdrop-*.whl")
    shutil.copy2(path, dest / path.name)
    return Wheel.of(dest / path.name)


def gather(per_python: dict[str, list[Wheel]], dest: Path) -> dict[str, list[Wheel]]:
    """Copy each Python's wheels into one wheelhouse; a name two Pythons share must be the same file."""
    gathered: dict[str, list[Wheel]] = {}
    for python, wheels in per_python.items():
        gathered[python] = []
        for wheel in wheels:
            target = dest / wheel.path.name
            if not target.exists():
                shutil.copy2(wheel.path, target)
            elif sha256_file(target) != sha256_file(wheel.path):
                raise BundleBuildError(f"two different files named {wheel.path.name}")
            gathered[python].append(Wheel(target, wheel.name, wheel.version))
    return gathered


# ---------------------------------------------------------------- requirements.txt


def requirements_text(per_python: dict[str, list[Wheel]], project: Wheel, pythons: tuple[str, ...]) -> str:
    """pip's hash-checking mode: each distribution pinned, with the SHA-256 of every wheel of it that
    some Python here uses; one that differs between Pythons gets a line per Python with a marker."""
    lines = [
        f"# sealview {project.version} and what it needs at run time, for CPython {', '.join(pythons)}.",
        "# install.sh runs: pip install --no-index --find-links wheels --require-hashes --no-deps",
        _requirement(project.name, project.version, [project], None),
    ]
    by_name: dict[str, dict[str, Wheel]] = {}
    for python, wheels in per_python.items():
        for wheel in wheels:
            if wheel.name not in ("pip", project.name):  # pip installs; it is not installed
                by_name.setdefault(wheel.name, {})[python] = wheel
    for name in sorted(by_name):
        chosen = by_name[name]
        versions = {wheel.version for wheel in chosen.values()}
        if len(versions) == 1 and set(chosen) == set(pythons):
            lines.append(_requirement(name, versions.pop(), list(chosen.values()), None))
        else:
            for python, wheel in sorted(chosen.items()):
                lines.append(_requirement(name, wheel.version, [wheel], python))
    return "\n".join(lines) + "\n"


def _requirement(name: str, version: str, wheels: list[Wheel], python: str | None) -> str:
    marker = f' ; python_version == "{python}"' if python else ""
    hashes = sorted({sha256_file(wheel.path) for wheel in wheels})
    return " \\\n".join([f"{name}=={version}{marker}", *(f"    --hash=sha256:{h}" for h in hashes)])


# ---------------------------------------------------------------- install.sh, README.txt, keys, sums


def _template(name: str, values: dict[str, str]) -> str:
    text = (FILES / name).read_text("utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    if leftover := re.search(r"@[A-Z_]+@", text):
        raise BundleBuildError(f"{name}: {leftover.group()} was not filled in")
    return text


def write_texts(bundle: Path, version: str, pythons: tuple[str, ...], pip_wheel: Wheel) -> None:
    values = {
        "VERSION": version,
        "PYTHONS": " ".join(pythons),
        "PYTHONS_OR": " or ".join(pythons),
        "PIP_WHEEL": f"wheels/{pip_wheel.path.name}",
        "DAY": dt.date.today().isoformat(),
    }
    (bundle / "install.sh").write_text(_template("install.sh", values), "utf-8")
    (bundle / "README.txt").write_text(_template("README.txt", values), "utf-8")


def load_server_key(instance: Path) -> SigningKey:
    """The instance's signing key, read from its file (never from the command line), checked against the
    public half the viewers pinned."""
    key_file = instance / config_mod.SIGNING_KEY_FILE
    if not key_file.is_file():
        raise BundleBuildError(
            f"no server signing key at {key_file}: is {instance} an instance? (sealdrop init)"
        )
    key = SigningKey.load(key_file)
    pub_file = instance / config_mod.SIGNING_PUB_FILE
    if pub_file.is_file() and VerifyKey.parse(pub_file.read_text("utf-8")) != key.verify_key:
        raise BundleBuildError(f"{pub_file} is not the public half of {key_file}")
    return key


def write_public_keys(bundle: Path, key: SigningKey) -> None:
    """The public key twice: SubjectPublicKeyInfo PEM for openssl, and sealdrop's own line for sealview."""
    public = Ed25519PrivateKey.from_private_bytes(key.seed()).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (bundle / "server-signing.pem").write_bytes(pem)
    fp = key.verify_key.fingerprint
    text = f"# sealdrop server signing key\n# fingerprint: {fp}\n{key.verify_key.encode()}\n"
    (bundle / "server-signing.pub").write_text(text, "ascii")


def _bundle_files(bundle: Path) -> list[str]:
    names = [p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()]
    return sorted(n for n in names if n not in (SUMS, SIGNATURE))


def write_sums(bundle: Path) -> bytes:
    """GNU sha256sum's format ("<hex>  <path>"), one line per file, sorted: what `sha256sum -c` reads."""
    data = "".join(f"{sha256_file(bundle / name)}  {name}\n" for name in _bundle_files(bundle)).encode()
    (bundle / SUMS).write_bytes(data)
    return data


def sign_sums(bundle: Path, key: SigningKey, sums: bytes) -> None:
    """A plain Ed25519 signature over the file's bytes, which openssl checks with `pkeyutl -rawin`.
    Unlike the project's other signatures it has no context label, as openssl cannot add one. It still
    cannot pass for one of them, nor they for it: theirs sign messages that begin with the label
    ("sealdrop.org/v1/sig/..."), and install.sh accepts only a SHA256SUMS whose every line is
    "<64 hex digits>  <path>"."""
    signature = Ed25519PrivateKey.from_private_bytes(key.seed()).sign(sums)
    # A bundle whose signature does not verify never leaves this function.
    Ed25519PublicKey.from_public_bytes(key.verify_key.public_bytes).verify(signature, sums)
    (bundle / SIGNATURE).write_bytes(signature)


def _readable_modes(bundle: Path) -> None:
    """Plain public files (the umask of sealdrop is 077): readable by whoever copies the stick."""
    for path in [bundle, *bundle.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path.name == "install.sh" else 0o644)


def _size(bundle: Path) -> tuple[int, int]:
    files = [p for p in bundle.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# ---------------------------------------------------------------- the whole


def build(
    instance: Path,
    output: Path,
    *,
    source: Path | None = None,
    pythons: tuple[str, ...] = PYTHONS,
    log: Callable[[str], None] = print,
) -> Built:
    """Write the bundle to `output` (a new folder), whole or not at all."""
    started = time.monotonic()
    output = output.absolute()
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise BundleBuildError(f"{output} exists and is not an empty folder")
    key = load_server_key(instance)
    source = source or Path(__file__).resolve().parents[1]
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="sealdrop-viewer-bundle-") as scratch:
            _fill(staging, key, Path(scratch), source, pythons, log)
        sign_sums(staging, key, write_sums(staging))
        _readable_modes(staging)
        if output.exists():
            output.rmdir()  # empty, checked above
        staging.rename(output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    files, size = _size(output)
    return Built(output, files, size, key.verify_key.fingerprint, time.monotonic() - started)


def _fill(
    bundle: Path,
    key: SigningKey,
    scratch: Path,
    source: Path,
    pythons: tuple[str, ...],
    log: Callable[[str], None],
) -> None:
    wheels = bundle / "wheels"
    wheels.mkdir()
    log(f"building sealdrop's wheel from {source}")
    project = project_wheel(source, wheels, scratch)
    per_python = {}
    for python in pythons:
        log(f"downloading the viewer's wheels for CPython {python} (x86_64 manylinux)")
        dest = scratch / f"cp{python.replace('.', '')}"
        dest.mkdir()
        per_python[python] = download(python, dest, scratch, log)
    gathered = gather(per_python, wheels)
    pip_wheel = next(w for ws in gathered.values() for w in ws if w.name == "pip")
    (bundle / "requirements.txt").write_text(requirements_text(gathered, project, pythons), "utf-8")
    write_texts(bundle, project.version, pythons, pip_wheel)
    write_public_keys(bundle, key)


# ---------------------------------------------------------------- the command


def cmd_viewer_bundle(args: argparse.Namespace) -> None:
    pythons = tuple(dict.fromkeys(args.python or PYTHONS))
    for python in pythons:
        if not re.fullmatch(r"3\.\d{1,2}", python):
            raise BundleBuildError(f"--python takes a version like 3.11, not {python!r}")
    source = Path(args.source) if args.source else None
    built = build(Path(args.dir), Path(args.output), source=source, pythons=pythons)
    print(f"viewer bundle: {built.path}")
    print(f"  {built.files} files, {built.size / 1e6:.1f} MB, built in {built.seconds:.1f} s")
    print(f"  for CPython {', '.join(pythons)} on x86_64 Linux")
    print(f"server signing key fingerprint: {built.fingerprint}")
    print(
        "  the officer compares it with install.sh's; give it to them by phone or on paper, not on the stick"
    )


def add_parser(sub: argparse._SubParsersAction, parser_class: type[argparse.ArgumentParser]) -> None:
    """`sealdrop viewer-bundle`, for dropbox.cli's parser."""
    del parser_class  # one command, no sub-commands of its own: sub's parser class serves
    p = sub.add_parser(
        "viewer-bundle", help=_("a signed folder that installs sealview on an offline machine")
    )
    _add_options(p)


def _add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", required=True, metavar="DIR", help=_("the folder to write (a new one)"))
    p.add_argument(
        "--python",
        action="append",
        metavar="X.Y",
        help=_("a CPython version to carry wheels for (repeatable; default: %(versions)s)")
        % {"versions": ", ".join(PYTHONS)},
    )
    p.add_argument("--source", metavar="CHECKOUT", help=_("the sealdrop source tree (default: this one)"))
    p.set_defaults(run=cmd_viewer_bundle)


def main(argv: list[str] | None = None) -> int:
    """`python -m dropbox.viewer_bundle --dir INSTANCE -o DIR`: the command without dropbox.cli."""
    os.umask(0o077)
    parser = argparse.ArgumentParser(prog="python -m dropbox.viewer_bundle")
    parser.add_argument(
        "--dir", default=os.environ.get("SEALDROP_DIR", "instance"), help=_("the instance folder")
    )
    _add_options(parser)
    parser.set_defaults(run=cmd_viewer_bundle)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        args.run(args)
    except (BundleBuildError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
