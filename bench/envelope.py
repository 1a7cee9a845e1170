"""How fast and lean the envelope is: in process against bare AES-GCM, whole process against age and gpg.

Run from the repository root: `python -m bench.envelope` (about three minutes). Every figure is the median of
a few repetitions and is printed as a ratio against a baseline measured in this same run; nothing is
asserted. Every round trip's output is hash-checked against its input: a mismatch exits 1.

1. In process: `crypto.seal` / `crypto.unseal` file to file (raw unbuffered files, like the CLI) against a
   bare loop of AES-256-GCM over 64 KiB chunks reading and writing the same files. Goal: ratio >= 0.8.
2. Whole process: `python -m crypto seal/open` against `age` and `gpg` (cv25519). Goal: ratio >= 1.0.
3. Peak RSS of each child at every size. Goal: ours at 256 MiB within 40 MB of ours at 1 MiB.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cryptography
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import crypto
from bench._util import (
    GNU_TIME,
    HAVE_GNU_TIME,
    MB,
    ChildRun,
    MiB,
    Task,
    filesystem_of,
    measure,
    median_seconds,
    median_time,
    paired_ratio,
    peak_rss,
    random_file,
    remove,
    run_child,
    run_child_in_pty,
    run_main,
    table,
)
from crypto.cli import PASSPHRASE_ENV

REPO = Path(__file__).resolve().parent.parent
IN_PROCESS_SIZES = {1: 7, 64: 7, 512: 5}  # MiB: repetitions
CLI_SIZES = {1: 3, 64: 3, 256: 5, 512: 3}
RSS_SMALL, RSS_LARGE = 1, 256
CHUNK, TAG = 65536, 16
IN_PROCESS_GOAL, CLI_GOAL, RSS_GOAL_MB = 0.8, 1.0, 40
PASSPHRASE = "bench only: correct horse battery staple"
GNUPG_DIR = "gnupg"

Results = dict[int, dict[str, list[ChildRun]]]  # size in MiB -> task name -> runs


# ---------------------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class Keys:
    identity: crypto.Identity
    identity_file: Path  # ours, sealed under PASSPHRASE (Argon2id "moderate")
    public_file: Path
    age_key: Path  # plaintext age identity
    age_key_encrypted: Path  # the same identity encrypted with `age -p` (scrypt), PASSPHRASE
    age_recipient: str
    gnupghome: Path
    gpg_fingerprint: str


def make_keys(tmp: Path) -> Keys:
    identity = crypto.Identity.generate()
    identity.save(tmp / "officer.id", PASSPHRASE)
    (tmp / "officer.pub").write_text(identity.public_key.to_file_text(), encoding="ascii")
    age_key, age_enc = tmp / "age.key", tmp / "age.key.age"
    run_child(["age-keygen", "-o", str(age_key)])
    recipient = subprocess.run(["age-keygen", "-y", str(age_key)], check=True, capture_output=True, text=True)
    run_child_in_pty(["age", "-p", "-o", str(age_enc), str(age_key)], PASSPHRASE)
    home = tmp / GNUPG_DIR
    home.mkdir(mode=0o700)
    unprotected = ["--passphrase", "", "--pinentry-mode", "loopback"]
    user = "sealdrop bench <bench@sealdrop.invalid>"
    run_child([*_gpg(home), *unprotected, "--quick-gen-key", user, "future-default", "default", "never"])
    listing = subprocess.run([*_gpg(home), "--with-colons", "-k"], check=True, capture_output=True, text=True)
    fingerprint = next(ln.split(":")[9] for ln in listing.stdout.splitlines() if ln.startswith("fpr:"))
    return Keys(
        identity=identity,
        identity_file=tmp / "officer.id",
        public_file=tmp / "officer.pub",
        age_key=age_key,
        age_key_encrypted=age_enc,
        age_recipient=recipient.stdout.strip(),
        gnupghome=home,
        gpg_fingerprint=fingerprint,
    )


def _gpg(home: Path) -> list[str]:
    return ["gpg", "--homedir", str(home), "--batch", "--yes", "--quiet"]


def stop_gpg_agent(home: Path) -> None:
    """Stop the gpg-agent that our gpg runs started for this throwaway home (if any)."""
    if home.is_dir():
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)


# ---------------------------------------------------------------------------------- 1. in process


def ours_seal(src: Path, dst: Path, recipient: crypto.RecipientKey) -> None:
    with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as d:
        crypto.seal(s, d, [recipient])


def ours_unseal(src: Path, dst: Path, key: crypto.DecryptionKey) -> None:
    with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as d:
        crypto.unseal(s, d, [key])


def bare_encrypt_file(src: Path, dst: Path, key: bytes) -> None:
    """AES-256-GCM over 64 KiB chunks, file to file: no header, no padding, no last-chunk flag."""
    aead, plain, sealed = AESGCM(key), bytearray(CHUNK), bytearray(CHUNK + TAG)
    plain_view, sealed_view = memoryview(plain), memoryview(sealed)
    with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as d:
        counter = 0
        while n := s.readinto(plain):
            out = sealed_view[: n + TAG]
            aead.encrypt_into(counter.to_bytes(12, "big"), plain_view[:n], None, out)
            d.write(out)
            counter += 1


def bare_decrypt_file(src: Path, dst: Path, key: bytes) -> None:
    aead, sealed, plain = AESGCM(key), bytearray(CHUNK + TAG), bytearray(CHUNK)
    sealed_view, plain_view = memoryview(sealed), memoryview(plain)
    with open(src, "rb", buffering=0) as s, open(dst, "wb", buffering=0) as d:
        counter = 0
        while n := s.readinto(sealed):
            out = plain_view[: n - TAG]
            aead.decrypt_into(counter.to_bytes(12, "big"), sealed_view[:n], None, out)
            d.write(out)
            counter += 1


def bare_encrypt_memory(data: bytes, key: bytes) -> None:
    """The same loop with no file I/O: from a buffer in memory into one reused chunk buffer."""
    aead, view, sealed = AESGCM(key), memoryview(data), memoryview(bytearray(CHUNK + TAG))
    for counter, offset in enumerate(range(0, len(data), CHUNK)):
        chunk = view[offset : offset + CHUNK]
        aead.encrypt_into(counter.to_bytes(12, "big"), chunk, None, sealed[: len(chunk) + TAG])


def bare_decrypt_memory(data: bytes, key: bytes) -> None:
    aead, view, plain = AESGCM(key), memoryview(data), memoryview(bytearray(CHUNK))
    for counter, offset in enumerate(range(0, len(data), CHUNK + TAG)):
        chunk = view[offset : offset + CHUNK + TAG]
        aead.decrypt_into(counter.to_bytes(12, "big"), chunk, None, plain[: len(chunk) - TAG])


def in_process(tmp: Path, keys: Keys, size_mib: int, reps: int) -> list[list[str]]:
    """Table rows for one size: seal and open, ours against the bare loop with and without files."""
    src, env, out = tmp / "plain", tmp / "ours.sd", tmp / "ours.out"
    bare_ct, bare_out = tmp / "bare.ct", tmp / "bare.out"
    digest = random_file(src, size_mib * MiB)
    key = AESGCM.generate_key(256)
    recipient, dkey = keys.identity.public_key.recipient, keys.identity.decryption_key
    file_tasks = [  # each pair adjacent, so that its two runs see the same load
        Task("ours seal", lambda: ours_seal(src, env, recipient), env),
        Task("bare seal", lambda: bare_encrypt_file(src, bare_ct, key), bare_ct),
        Task("ours open", lambda: ours_unseal(env, out, dkey), out, digest),
        Task("bare open", lambda: bare_decrypt_file(bare_ct, bare_out, key), bare_out, digest),
    ]
    s = measure(file_tasks, reps)
    plain, sealed = src.read_bytes(), bare_ct.read_bytes()
    memory = {
        "seal": median_time(lambda: bare_encrypt_memory(plain, key), reps),
        "open": median_time(lambda: bare_decrypt_memory(sealed, key), reps),
    }
    remove(src, env, out, bare_ct, bare_out)
    rows = []
    for op in ("seal", "open"):
        ours, bare = median_seconds(s[f"ours {op}"]), median_seconds(s[f"bare {op}"])
        ratio = _verdict(paired_ratio(s[f"bare {op}"], s[f"ours {op}"]), IN_PROCESS_GOAL)
        speed = f"{size_mib / ours:,.0f}"
        rows.append([f"{size_mib} MiB", op, f"{ours:.3f}", f"{bare:.3f}", ratio, f"{memory[op]:.3f}", speed])
    return rows


def fixed_cost(tmp: Path, keys: Keys) -> tuple[float, float]:
    """Seconds to seal and to open an empty file: HPKE, HKDF, header MAC and the 16 KiB minimum padding."""
    src, env, out = tmp / "empty", tmp / "empty.sd", tmp / "empty.out"
    src.write_bytes(b"")
    recipient, dkey = keys.identity.public_key.recipient, keys.identity.decryption_key
    empty = hashlib.sha256(b"").hexdigest()
    tasks = [
        Task("seal", lambda: ours_seal(src, env, recipient), env),
        Task("open", lambda: ours_unseal(env, out, dkey), out, empty),
    ]
    s = measure(tasks, 7)
    remove(src, env, out)
    return median_seconds(s["seal"]), median_seconds(s["open"])


def _verdict(ratio: float, goal: float) -> str:
    return f"{ratio:.2f} {'ok' if ratio >= goal else 'BELOW'}"


def print_in_process(tmp: Path, keys: Keys) -> None:
    reps = "/".join(map(str, IN_PROCESS_SIZES.values()))
    print(f"\n1. In process, file to file (raw unbuffered files), median of {reps} runs")
    print(f"   ratio = bare loop with files / ours (goal >= {IN_PROCESS_GOAL}), median of per-round ratios.")
    print("   Ours also pads (Padme: +3 % bytes at these power-of-two sizes) and writes a header.")
    rows = [row for size, reps in IN_PROCESS_SIZES.items() for row in in_process(tmp, keys, size, reps)]
    heads = ["size", "op", "ours s", "bare+files s", "ratio", "bare, no I/O s", "ours MiB/s"]
    print(table(heads, rows))
    seal, unseal = fixed_cost(tmp, keys)
    print(
        f"   fixed cost of one envelope (empty file): seal {seal * 1000:.2f} ms, open {unseal * 1000:.2f} ms",
        flush=True,
    )


# ------------------------------------------------------------------------------ 2. whole process


def cli_tasks(tmp: Path, keys: Keys, src: Path, digest: str) -> list[Task]:
    """Seal and open with ours, age and gpg; each decryption is checked against `digest`."""
    base = _child_env(tmp)
    ours_env = {**base, PASSPHRASE_ENV: PASSPHRASE}
    sd, ag, gp = tmp / "x.sd", tmp / "x.age", tmp / "x.gpg"
    outs = {name: tmp / f"{name}.out" for name in ("ours", "age", "age-p", "gpg")}
    ours = [sys.executable, "-m", "crypto"]
    gpg = _gpg(keys.gnupghome)
    gpg_enc = [*gpg, "--trust-model", "always", "--compress-algo", "none", "-r", keys.gpg_fingerprint]
    age_dec = ["age", "-d", "-i"]

    def child(env: dict[str, str], *argv: str | Path) -> Callable[[], ChildRun]:
        return lambda: run_child([str(a) for a in argv], env=env, cwd=REPO)

    def pty_child(*argv: str | Path) -> Callable[[], ChildRun]:
        return lambda: run_child_in_pty([str(a) for a in argv], PASSPHRASE, env=base)

    return [  # each comparison's runs close together, so that they see the same load
        Task("ours seal", child(base, *ours, "seal", "-r", keys.public_file, "-o", sd, src), sd),
        Task("age enc", child(base, "age", "-r", keys.age_recipient, "-o", ag, src), ag),
        Task("gpg enc", child(base, *gpg_enc, "-o", gp, "--encrypt", src), gp),
        Task("age dec", child(base, *age_dec, keys.age_key, "-o", outs["age"], ag), outs["age"], digest),
        Task("unlock", lambda: crypto.Identity.load(keys.identity_file, PASSPHRASE)),  # in process
        Task(
            "ours open",
            child(ours_env, *ours, "open", "-i", keys.identity_file, "-o", outs["ours"], sd),
            outs["ours"],
            digest,
        ),
        Task(
            "age dec -p",
            pty_child(*age_dec, keys.age_key_encrypted, "-o", outs["age-p"], ag),
            outs["age-p"],
            digest,
        ),
        Task("gpg dec", child(base, *gpg, "-o", outs["gpg"], "--decrypt", gp), outs["gpg"], digest),
    ]


def _child_env(tmp: Path) -> dict[str, str]:
    """The children's environment: no passphrase, and compiled bytecode kept (under `tmp`) as an
    installed package has it. Where PYTHONDONTWRITEBYTECODE is set (as on our CI machines) every
    `python -m crypto` would otherwise compile our modules from source first, about 20 ms that no
    installed sealdrop pays; age and gpg, being compiled, pay nothing of the kind either."""
    env = {k: v for k, v in os.environ.items() if k not in (PASSPHRASE_ENV, "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def whole_process(tmp: Path, keys: Keys) -> Results:
    results: Results = {}
    for size_mib, reps in CLI_SIZES.items():
        src = tmp / "plain"
        digest = random_file(src, size_mib * MiB)
        tasks = cli_tasks(tmp, keys, src, digest)
        results[size_mib] = measure(tasks, reps)
        remove(src, *(t.output for t in tasks if t.output is not None))
    return results


def references(tmp: Path) -> dict[str, float]:
    """Interpreter startup, and with our imports (the first run also writes the bytecode cache)."""
    env = _child_env(tmp)
    run_child([sys.executable, "-c", "import crypto.cli"], env=env, cwd=REPO)

    def median_run(code: str) -> float:
        return median_seconds([run_child([sys.executable, "-c", code], env=env, cwd=REPO) for _ in range(5)])

    return {
        "pass": median_run("pass"),
        "import": median_run("import crypto"),
    }


def print_whole_process(results: Results, refs: dict[str, float]) -> None:
    reps = "/".join(map(str, CLI_SIZES.values()))
    print(f"\n2. Whole process (spawn to exit), median of {reps} runs")
    print(f"   ratio = peer / ours (goal >= {CLI_GOAL}), median of per-round ratios; (iii): ratio of medians")
    print("   gpg: cv25519 key without passphrase, AES256 (CFB+MDC), --compress-algo none, gpg-agent running")
    unlock = median_seconds([run for s in results.values() for run in s["unlock"]])
    rows: list[list[str]] = []
    for size_mib, s in results.items():
        size, opens = f"{size_mib} MiB", (s["ours open"], s["age dec"])
        rows += [
            _cli_row(size, "seal vs age", s["ours seal"], s["age enc"]),
            _cli_row(size, "seal vs gpg", s["ours seal"], s["gpg enc"]),
            _cli_row(size, "open (i) vs age, plaintext age identity", s["ours open"], s["age dec"]),
            _cli_row(  # like for like: both identities sealed under a 256 MiB passphrase KDF
                size, "open (ii) vs age, age -p identity (scrypt, pty)", s["ours open"], s["age dec -p"]
            ),
            _cli_row(size, "open (iii) ours minus unlock vs age, plaintext", *opens, s["unlock"]),
            _cli_row(size, "open vs gpg (unprotected key)", s["ours open"], s["gpg dec"]),
        ]
    print(table(["size", "comparison", "ours s", "peer s", "ratio"], rows))
    references = [
        ["python -c pass", f"{refs['pass']:.3f}", "interpreter startup"],
        ["python -c 'import crypto'", f"{refs['import']:.3f}", "startup plus our imports"],
        ["unlock our identity", f"{unlock:.3f}", "Identity.load in process, run in every round (Argon2id)"],
    ]
    print("\n" + table(["reference (median)", "s", "note"], references) + "\n", flush=True)


def _cli_row(
    size: str, what: str, ours: list[ChildRun], peer: list[ChildRun], unlock: list[ChildRun] | None = None
) -> list[str]:
    """One comparison. With `unlock` (iii), timed in process in the same rounds, the ratio is of medians,
    peer / (ours - unlock): a per-round difference of two noisy times would be noisier still."""
    peer_s = median_seconds(peer)
    if unlock is None:
        ours_s, ratio = median_seconds(ours), paired_ratio(peer, ours)
    else:
        ours_s = median_seconds(ours) - median_seconds(unlock)
        if ours_s <= 0:
            return [size, what, f"{ours_s:.3f}", f"{peer_s:.3f}", "n/a (noise)"]
        ratio = peer_s / ours_s
    return [size, what, f"{ours_s:.3f}", f"{peer_s:.3f}", _verdict(ratio, CLI_GOAL)]


# ---------------------------------------------------------------------------------------- 3. RSS


def print_rss(results: Results) -> None:
    goal = f"ours at {RSS_LARGE} MiB within {RSS_GOAL_MB} MB of ours at {RSS_SMALL} MiB"
    print(f"3. Peak RSS of each child, MB = 10^6 bytes; goal: {goal}")
    if not HAVE_GNU_TIME:
        print(
            f"   skipped: needs GNU time at {GNU_TIME} (Debian package `time`), see bench/_util.py",
            flush=True,
        )
        return
    sizes = list(results)
    rows = []
    for name in results[RSS_SMALL]:
        peaks = [peak_rss(results[size][name]) for size in sizes]
        if None in peaks:
            continue  # run in process (the unlock), not a child
        mb = dict(zip(sizes, (p / MB for p in peaks), strict=True))
        growth = mb[RSS_LARGE] - mb[RSS_SMALL]
        verdict = ("ok" if growth <= RSS_GOAL_MB else "OVER") if name.startswith("ours") else ""
        rows.append([name, *(f"{mb[size]:.1f}" for size in sizes), f"{growth:+.1f}", verdict])
    heads = [f"{size} MiB" for size in sizes]
    print(table(["child", *heads, f"{RSS_LARGE} - {RSS_SMALL} MiB", "goal"], rows))
    print("   ru_maxrss from wait4, taken by GNU time as the child's parent (max over runs); ours open and")
    print(
        "   age dec -p include their KDF (Argon2id 256 MiB, scrypt 256 MiB); gpg's private-key step runs in"
    )
    print("   gpg-agent, which is not counted.", flush=True)


# ---------------------------------------------------------------------------------------------- main


def describe(tmp: Path) -> None:
    age = subprocess.run(["age", "--version"], capture_output=True, text=True).stdout.strip()
    gpg = subprocess.run(["gpg", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print("sealdrop envelope benchmark")
    print(f"  machine: {os.cpu_count()} CPUs, {platform.machine()}, {platform.platform()}")
    print(
        f"  python {platform.python_version()}, cryptography {cryptography.__version__} "
        f"({backend.openssl_version_text()}), age {age}, {gpg}"
    )
    print(f"  temp files in {tmp} on {filesystem_of(tmp)}", flush=True)


def run(tmp: Path) -> None:
    describe(tmp)
    keys = make_keys(tmp)
    print_in_process(tmp, keys)
    refs = references(tmp)
    results = whole_process(tmp, keys)
    print_whole_process(results, refs)
    print_rss(results)


def main() -> int:
    def measured(tmp: Path) -> None:
        try:
            run(tmp)
        finally:
            stop_gpg_agent(tmp / GNUPG_DIR)  # before run_main removes its folder

    return run_main("bench", measured)


if __name__ == "__main__":
    sys.exit(main())
