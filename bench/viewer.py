"""How fast sealview imports and pages, against the physical limit measured in the same run.

Run from the repository root: `python -m bench.viewer` (about two minutes here). Prints, never asserts.

1. Import: an export bundle of 1,000 reports with a 1 MiB photo each (about 1 GiB), made with the test
   helpers and a test server key, imported into a fresh vault (`importer.import_bundle`: signature,
   the chain, every item's SHA-256 and the exact length in one pass, every envelope opened once and
   its plaintext hashed against the report's list, the photos kept as their envelopes, the reports
   database sealed, one syncfs). The baseline is the raw decryption of the same 2,000 envelopes from
   their files into a sink that drops the bytes. Goal: ratio >= 0.5. Also printed, to show where the
   time goes: one SHA-256 pass over the bundle (crypto.bundle.verify), and the disk: the 1,000 photo
   envelopes written as 1,000 files and flushed (what any import that keeps them must at least do).
   Everything the set-up wrote is flushed first (`os.sync`), so the import's one syncfs flushes only
   what the import wrote, as on the officer's machine, where the bundle comes from a USB stick.
2. Inbox: 100,000 reports in a vault, then the time of an inbox page (the query, and the whole page
   through the Flask app), unfiltered, deep in the pages, by state, by category, and with a full-text
   search. Goal: < 200 ms. The 100,000 reports are made directly through the vault's own API
   (`importer.file_documents`, the same code that files an imported report), not through bundles:
   sealing and opening 100,000 envelopes would measure part 1 again and take minutes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import crypto
import crypto.keys
from bench._util import MiB, table, timed
from crypto import Identity, bundle
from tests.viewer.bundles import Server, listed, report_doc

PHOTOS, PHOTO_SIZE = 1000, 1 * MiB
INBOX_REPORTS = 100_000
PASSPHRASE = "bench"
WORDS = [
    *("car", "dealer", "corner", "night", "school", "park", "bus", "station", "drugs", "noise", "fight"),
    *("window", "blue", "red", "man", "woman", "boys", "money", "phone", "shop", "alley", "bridge", "river"),
    *("market", "smoke", "music", "dog", "police", "gate", "yard", "entrance"),
]
CATEGORIES = [
    ("drugs", "Drug dealing"),
    ("noise", "Noise"),
    ("traffic", "Traffic violation"),
    ("hooliganism", "Hooliganism or fights"),
    ("animals", "Cruelty to animals"),
    ("other", "Something else"),
]


class _Drop:
    def write(self, data) -> int:
        return len(data)


def _envelopes(root: Path, officer: Identity) -> list[tuple[dict, Path]]:
    """1,000 report documents and 1,000 one-MiB 'photos' (JPEG magic, then random bytes), sealed."""
    entries = []
    key = officer.public_key.recipient
    for i in range(PHOTOS):
        photo = b"\xff\xd8\xff\xe0" + os.urandom(PHOTO_SIZE - 4)
        doc = report_doc(
            f"Report {i}: " + " ".join(random.choices(WORDS, k=40)),
            attachments=[listed(photo, f"photo{i}.jpg", "image/jpeg")],
        )
        meta = {
            "case_number": f"B{i:04d}-PHOT",
            "submission": i + 1,
            "first": True,
            "sealed_by": "browser",
            "received_day": "2025-05-01",
            "reply_public": "11" * 32,
        }
        for part, data in enumerate([json.dumps(doc).encode(), photo]):
            path = root / f"{i}-{part}.sealed"
            path.write_bytes(crypto.seal_bytes(data, [key]))
            entries.append(({**meta, "part": part}, path))
    return entries


def bench_import(root: Path) -> list[list[str]]:
    from viewer import importer
    from viewer import vault as vault_module
    from viewer.vault import Vault

    officer = Identity.generate()
    server = Server(officer.public_key.recipient)
    envelopes = root / "envelopes"
    envelopes.mkdir()
    print(f"sealing {PHOTOS} reports with a {PHOTO_SIZE // MiB} MiB photo each ...", flush=True)
    entries = _envelopes(envelopes, officer)
    path = root / "export.bundle"
    fields = {"desk": "demo", "sequence": 1, "previous": None, "created_day": "2025-05-02"}
    with open(path, "wb") as f:
        bundle.write(f, "export", fields, entries, server.key)
    size = path.stat().st_size

    def raw() -> None:
        for _, p in entries:
            with open(p, "rb") as src:
                crypto.unseal(src, _Drop(), [officer.decryption_key])

    os.sync()  # the set-up's own 2 GB must not be flushed by the import's syncfs
    raw_s = statistics.median(timed(raw) for _ in range(3))
    hash_s = statistics.median(
        timed(lambda: bundle.verify(path, "export", [server.key.verify_key])) for _ in range(2)
    )
    disk_s = statistics.median(_disk(entries, root) for _ in range(2))
    imports, flushes = [], []
    original_syncfs = vault_module.syncfs

    def counted_syncfs(where: Path) -> None:
        flushes.append(timed(lambda: original_syncfs(where)))

    vault_module.syncfs = counted_syncfs
    for rep in range(2):
        vault_dir = root / f"vault-{rep}"
        with Vault.create(vault_dir, PASSPHRASE, officer) as v:
            v.pin(server.key.verify_key, ["demo"])
        with Vault.open(vault_dir, PASSPHRASE, write=True) as v:
            imports.append(timed(lambda v=v: importer.import_bundle(v, path)))
            assert v.db.execute("SELECT count(*) FROM attachments WHERE opened").fetchone()[0] == PHOTOS
        shutil.rmtree(vault_dir)
        os.sync()
    vault_module.syncfs = original_syncfs
    import_s, flush_s = statistics.median(imports), statistics.median(flushes)
    mb = size / 1e6
    return [
        ["raw decryption of the 2,000 envelopes (baseline)", f"{raw_s:.2f} s", f"{mb / raw_s:.0f} MB/s", ""],
        [
            "one SHA-256 pass over the bundle (bundle.verify)",
            f"{hash_s:.2f} s",
            f"{mb / hash_s:.0f} MB/s",
            "",
        ],
        [
            "sealview import",
            f"{import_s:.2f} s",
            f"{mb / import_s:.0f} MB/s",
            f"ratio {raw_s / import_s:.2f} (goal >= 0.5)",
        ],
        ["  of which the last flush to disk (syncfs)", f"{flush_s:.2f} s", "", ""],
        [
            "the disk: the 1,000 photo envelopes written as files, flushed",
            f"{disk_s:.2f} s",
            f"{mb / disk_s:.0f} MB/s",
            f"import / disk {disk_s / import_s:.2f}",
        ],
    ]


def _disk(entries: list[tuple[dict, Path]], root: Path) -> float:
    """Write the photos' envelopes as files beside the vaults, one file each, and flush them: the file
    system's part of any import that keeps them (no crypto, no hashing, no database)."""
    target = root / "disk-copy"
    target.mkdir()
    photos = [p for meta, p in entries if meta["part"] > 0]

    def copy() -> None:
        for i, p in enumerate(photos):
            with open(target / str(i), "xb", buffering=MiB) as dst:
                dst.write(p.read_bytes())
        os.sync()

    took = timed(copy)
    shutil.rmtree(target)
    os.sync()
    return took


def _documents(n: int) -> list[tuple[dict, bytes]]:
    rng = random.Random(7)
    items = []
    for i in range(n):
        where = {"mode": "none"}
        if rng.random() < 0.3:
            where = {
                "mode": "device",
                "lat": 42.69 + rng.gauss(0, 0.01),
                "lon": 23.32 + rng.gauss(0, 0.01),
                "precision": rng.choice(["exact", "100m", "1km"]),
            }
        day = f"{2024 + i * 2 // n}-{1 + (i // 3000) % 12:02d}-{1 + i % 28:02d}"
        doc = report_doc(
            " ".join(rng.choices(WORDS, k=rng.randint(10, 60))), category=rng.choice(CATEGORIES), where=where
        )
        meta = {
            "case_number": f"C{i:06d}",
            "submission": i + 1,
            "part": 0,
            "first": True,
            "sealed_by": "browser",
            "received_day": day,
            "reply_public": "11" * 32,
        }
        items.append((meta, json.dumps(doc).encode()))
    return items


def _median_ms(fn, reps: int = 15) -> float:
    fn()  # warm
    return statistics.median(timed(fn) for _ in range(reps)) * 1000


def bench_inbox(root: Path) -> list[list[str]]:
    from viewer import importer, queries, triage
    from viewer.vault import Vault
    from viewer.web import create_app

    officer = Identity.generate()
    with Vault.create(root / "big", PASSPHRASE, officer) as v:
        v.pin(None, ["demo"])
        print(f"filing {INBOX_REPORTS:,} reports through the vault's own API ...", flush=True)
        fill_s = timed(lambda: importer.file_documents(v, "demo", _documents(INBOX_REPORTS)))
        with v.change() as db:  # 1,000 cases being checked, for the filter by state
            db.executemany(
                "INSERT INTO state.triage VALUES (?, 'checking', NULL, '')",
                [(f"C{i:06d}",) for i in range(0, 2000, 2)],
            )
    unlock_s = timed(lambda: Vault.open(root / "big", PASSPHRASE).close())
    sealed_mb = sum(p.stat().st_size for p in (root / "big" / "db").iterdir()) / 1e6
    rows = [
        ["filing 100,000 reports (one vault change)", f"{fill_s:.1f} s", "", ""],
        [
            "unlock (Argon2id + open + load both databases)",
            f"{unlock_s * 1000:.0f} ms",
            f"{sealed_mb:.0f} MB sealed",
            "",
        ],
    ]
    with Vault.open(root / "big", PASSPHRASE, write=True) as v:
        app = create_app(v, "t")
        client = app.test_client()
        client.get("/?token=t")
        cases = {
            "first page": {},
            "page 1,000": {"page": "1000"},
            "state = checking": {"status": "checking"},
            "category = noise": {"category": "noise"},
            "search two words (then its next pages)": {"q": "blue bridge"},
            "with photos (none)": {"photos": "yes"},
            "near a point, 500 m": {"near": "42.69,23.32", "radius": "500"},
        }
        for name, args in cases.items():
            f, _ = queries.Filters.parse(args)
            query_ms = _median_ms(lambda f=f: queries.inbox(v, f))
            url = "/?" + "&".join(f"{k}={val}" for k, val in args.items())
            page_ms = _median_ms(lambda url=url: client.get(url))
            total = queries.inbox(v, f).total
            rows.append(
                [
                    f"inbox page: {name} ({total:,} match)",
                    f"{query_ms:.1f} ms query",
                    f"{page_ms:.1f} ms page",
                    "goal < 200 ms",
                ]
            )
        fresh = queries.Filters.parse({"q": "blue bridge"})[0]

        def new_search() -> None:
            v.search_key = None  # as if the officer had typed another search
            queries.inbox(v, fresh)

        rows.append(
            [
                "inbox page: the same search typed anew each time",
                f"{_median_ms(new_search):.1f} ms query",
                "",
                "goal < 200 ms",
            ]
        )
        triage_ms = _median_ms(lambda: triage.set_state(v, "C000001", "credible"), reps=5)
        rows.append(["a triage click (state database sealed and written)", f"{triage_ms:.0f} ms", "", ""])
    return rows


def main() -> int:
    # Argon2id at the cheapest cost: the bench measures the vault, not the passphrase hardening.
    crypto.keys.KDF_OPSLIMIT, crypto.keys.KDF_MEMLIMIT = 1, 8192 * 1024
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-viewer-", dir=os.environ.get("BENCH_TMP")) as tmp:
        root = Path(tmp)
        rows = bench_import(root)
        print(table(["import of 1,000 reports + 1 MiB photos", "time", "rate", ""], rows), flush=True)
        rows = bench_inbox(root)
        print(table(["100,000 reports in the vault", "", "", ""], rows))
    print(f"(bench took {time.perf_counter() - start:.0f} s; nothing is asserted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
