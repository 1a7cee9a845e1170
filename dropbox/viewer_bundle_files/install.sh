#!/bin/sh
# Install sealview, the officer's viewer, on this offline machine from the bundle this script sits in.
#
#   sh install.sh [--fingerprint "NNNNN NNNNN NNNNN NNNNN NNNNN"] [--prefix DIR] [--bin-dir DIR]
#                 [--python PYTHON]
#
# Nothing is installed until all of these hold, in this order:
#   1. SHA256SUMS.sig is a good Ed25519 signature over SHA256SUMS by the key in server-signing.pem (openssl);
#   2. that key's fingerprint is the server fingerprint you already have (you are asked, or --fingerprint);
#   3. every file of the bundle is listed in SHA256SUMS and matches its SHA-256 there (sha256sum).
# Then: a virtual environment (default ~/.local/share/sealview/venv, or --prefix), the wheels installed with
# pip's hash checking and no package index, `sealview` linked into ~/.local/bin, and `sealview --version`.
# Needs only what a fresh Debian 12/13 or Tails has: sh, python3, openssl, sha256sum, find, sort, grep.
#
# Written by `sealdrop viewer-bundle` for sealview @VERSION@; docs/viewer-install.md explains it.

set -eu

VERSION='@VERSION@'
PYTHONS='@PYTHONS@'    # the CPython versions this bundle has wheels for
PIP_WHEEL='@PIP_WHEEL@'  # pip runs from its wheel: a fresh Debian has no pip and often no ensurepip

BUNDLE=$(cd "$(dirname "$0")" && pwd)
PREFIX="${HOME}/.local/share/sealview/venv"
BIN_DIR="${HOME}/.local/bin"
PYTHON=python3
EXPECTED=""

say() { printf '%s\n' "$*"; }
refuse() {
    printf 'install.sh: REFUSED: %s\n' "$*" >&2
    printf 'install.sh: nothing was installed.\n' >&2
    exit 1
}
fail() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
}

parse_arguments() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --fingerprint) [ $# -ge 2 ] || fail "--fingerprint needs a value"; EXPECTED=$2; shift 2 ;;
            --fingerprint=*) EXPECTED=${1#*=}; shift ;;
            --prefix) [ $# -ge 2 ] || fail "--prefix needs a folder"; PREFIX=$2; shift 2 ;;
            --prefix=*) PREFIX=${1#*=}; shift ;;
            --bin-dir) [ $# -ge 2 ] || fail "--bin-dir needs a folder"; BIN_DIR=$2; shift 2 ;;
            --bin-dir=*) BIN_DIR=${1#*=}; shift ;;
            --python) [ $# -ge 2 ] || fail "--python needs a program"; PYTHON=$2; shift 2 ;;
            --python=*) PYTHON=${1#*=}; shift ;;
            -h|--help) usage; exit 0 ;;
            *) fail "unknown argument: $1 (see sh install.sh --help)" ;;
        esac
    done
    case "$PREFIX" in /*) ;; *) PREFIX="$(pwd)/$PREFIX" ;; esac  # the venv's scripts name it in full
}

need_tools() {
    for tool in openssl sha256sum find sort grep "$PYTHON"; do
        command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed on this machine"
    done
}

# 1. The signature. Ed25519 signs the bytes themselves (-rawin), so no digest is chosen here.
check_signature() {
    for f in SHA256SUMS SHA256SUMS.sig server-signing.pem; do
        [ -f "$BUNDLE/$f" ] || refuse "$f is missing from the bundle"
    done
    if ! openssl pkeyutl -verify -pubin -inkey "$BUNDLE/server-signing.pem" -rawin \
            -in "$BUNDLE/SHA256SUMS" -sigfile "$BUNDLE/SHA256SUMS.sig" >/dev/null 2>&1; then
        refuse "SHA256SUMS.sig is not a valid signature over SHA256SUMS by server-signing.pem: the bundle was altered"
    fi
    say "signature: SHA256SUMS is signed by the key in server-signing.pem"
}

# The fingerprint sealdrop prints for a server key (`sealdrop init`, `sealview init --server-key`):
# SHA-256 over a fixed label, "ed25519" and the raw public key; 25 digits of it in groups of five.
# Computed here with Python's standard library only (-I: nothing from this folder or the environment is
# imported). It also checks that server-signing.pub, the file `sealview init --server-key` pins, holds the
# same key as the .pem that openssl checked.
fingerprint() {
    "$PYTHON" -I - "$BUNDLE/server-signing.pem" "$BUNDLE/server-signing.pub" <<'PY'
import base64, hashlib, sys

pem = open(sys.argv[1], encoding="ascii").read().splitlines()
der = base64.b64decode("".join(ln.strip() for ln in pem if not ln.startswith("-----")))
prefix = bytes.fromhex("302a300506032b6570032100")  # SubjectPublicKeyInfo of an Ed25519 key
if len(der) != 44 or not der.startswith(prefix):
    sys.exit("server-signing.pem is not an Ed25519 public key")
raw = der[len(prefix):]
lines = [ln.strip() for ln in open(sys.argv[2], encoding="ascii") if ln.strip() and not ln.startswith("#")]
tag = "sealdrop-verify-key-v1:"
if len(lines) != 1 or not lines[0].startswith(tag):
    sys.exit("server-signing.pub is not a sealdrop server key")
text = lines[0][len(tag):]
if base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) != raw:
    sys.exit("server-signing.pub and server-signing.pem hold different keys")
digest = hashlib.sha256(b"sealdrop.org/v1/fingerprint/" + b"ed25519" + raw).digest()
digits = "%025d" % (int.from_bytes(digest[:16], "big") % 10**25)
print(" ".join(digits[i:i + 5] for i in range(0, 25, 5)))
PY
}

# 2. The trust anchor: the officer compares the key's fingerprint with the one they were given.
check_fingerprint() {
    found=$(fingerprint 2>&1) || refuse "$found"
    say "server key fingerprint: $found"
    if [ -n "$EXPECTED" ]; then
        # Compare the digits only: spaces and dashes as the officer happened to type them do not matter.
        if [ "$(printf '%s' "$EXPECTED" | tr -cd '0-9')" != "$(printf '%s' "$found" | tr -cd '0-9')" ]; then
            refuse "the server key's fingerprint is not the one given with --fingerprint ($EXPECTED)"
        fi
        say "fingerprint: the same as --fingerprint"
        return
    fi
    [ -t 0 ] || refuse "no terminal to ask on: give the fingerprint you have with --fingerprint"
    say "Compare it, digit by digit, with the server fingerprint you were given (by phone, on paper)."
    printf 'Is it the same? Type yes to go on: '
    read -r answer || answer=""
    [ "$answer" = "yes" ] || refuse "the fingerprint was not confirmed"
}

# 3. Every file listed and matching. Lines must be exactly "<64 hex>  <relative path>" (no "..", no
# absolute paths), so the signed file cannot be anything else; a file the list does not name is refused too.
check_files() {
    bad=$(grep -Ev '^[0-9a-f]{64}  [A-Za-z0-9_+-][A-Za-z0-9._+/-]*$' "$BUNDLE/SHA256SUMS" | head -n 1) || true
    [ -z "$bad" ] || refuse "SHA256SUMS has a line that is not 'hash  file': $bad"
    if grep -q -E '(^|/)\.\.(/|$)' "$BUNDLE/SHA256SUMS"; then refuse "SHA256SUMS names a file outside the bundle"; fi
    listed=$(cut -c 67- "$BUNDLE/SHA256SUMS" | sort)
    present=$(cd "$BUNDLE" && find . -type f ! -name SHA256SUMS ! -name SHA256SUMS.sig | sed 's|^\./||' | sort)
    extra=$(printf '%s\n' "$present" | grep -vxF -e "$listed" || true)
    [ -z "$extra" ] || refuse "not listed in SHA256SUMS (added to the bundle?): $(printf '%s\n' "$extra" | tr '\n' ' ')"
    if ! failed=$(cd "$BUNDLE" && sha256sum --strict --quiet -c SHA256SUMS 2>&1); then
        names=$(printf '%s\n' "$failed" | sed -n 's/: FAILED.*$//p' | tr '\n' ' ')
        refuse "these files do not match SHA256SUMS (altered or damaged): ${names:-$failed}"
    fi
    say "files: all $(wc -l < "$BUNDLE/SHA256SUMS" | tr -d ' ') match SHA256SUMS"
}

check_python() {
    version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || fail "$PYTHON does not run"
    case " $PYTHONS " in
        *" $version "*) ;;
        *) fail "this bundle has wheels for Python $PYTHONS, and $PYTHON is $version (try --python python3.X)" ;;
    esac
    say "python: $PYTHON ($version)"
}

# A venv without pip: pip runs from the bundle's own (verified) wheel, so neither ensurepip (Debian's
# python3-venv package) nor any pip on this machine is needed. An earlier sealview venv is rebuilt.
make_venv() {
    if [ -e "$PREFIX" ] && [ ! -f "$PREFIX/pyvenv.cfg" ] && [ -n "$(ls -A "$PREFIX" 2>/dev/null)" ]; then
        fail "$PREFIX exists and is not a Python venv: give another --prefix"
    fi
    "$PYTHON" -m venv --clear --without-pip "$PREFIX" || fail "could not make a venv in $PREFIX"
    say "venv: $PREFIX"
}

# --isolated: no pip.conf or PIP_* variable of this machine takes part; --no-index: nothing from a network;
# --require-hashes: only the exact files requirements.txt pins (and SHA256SUMS, signed, covers that file);
# --no-deps: exactly the viewer's list, not the online server's dependencies.
install_wheels() {
    "$PREFIX/bin/python" -I "$BUNDLE/$PIP_WHEEL/pip" install --isolated --no-index --no-cache-dir \
        --disable-pip-version-check --no-input --quiet --no-warn-script-location \
        --find-links "$BUNDLE/wheels" --require-hashes --no-deps -r "$BUNDLE/requirements.txt" \
        || fail "pip could not install the wheels into $PREFIX"
}

link_command() {
    mkdir -p "$BIN_DIR"
    if [ -e "$BIN_DIR/sealview" ] && [ ! -L "$BIN_DIR/sealview" ]; then
        say "note: $BIN_DIR/sealview exists and is not a link: left as it is; run $PREFIX/bin/sealview"
        return
    fi
    ln -sf "$PREFIX/bin/sealview" "$BIN_DIR/sealview"
    say "command: $BIN_DIR/sealview"
    case ":$PATH:" in
        *":$BIN_DIR:"*) ;;
        *) say "note: $BIN_DIR is not on your PATH; add it, or run $BIN_DIR/sealview in full" ;;
    esac
}

finish() {
    said=$("$PREFIX/bin/sealview" --version) || fail "the installed sealview does not run"
    say "$said"
    [ "$said" = "sealview $VERSION" ] || fail "expected sealview $VERSION, the installed one says: $said"
    say "sealview $VERSION is installed. Next: sealview init --server-key '$BUNDLE/server-signing.pub' --desk SLUG"
}

parse_arguments "$@"
need_tools
check_signature
check_fingerprint
check_files
check_python
make_venv
install_wheels
link_command
finish
