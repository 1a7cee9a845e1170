"""sealview: the officer's air-gapped viewer. Imports `crypto` and nothing else of ours (DESIGN.md,
invariant 4), and opens no socket but its own loopback UI.

    vault.py      the vault: sealed SQLite databases, the vault key, head.json, the lock
    schema.py     the vault's two databases (reports and state)
    actors.py     who did something, as the vault records it; matched by key fingerprint, not by name
    importer.py   export bundles in: verified, chained, decrypted, all or nothing
    documents.py  hostile report documents made safe to store and show; media types from bytes
    queries.py    the inbox, a case, the dashboard, hotspots (read-only)
    triage.py     states, notes, replies, the reply bundle
    forward.py    the case file sealed to the police; pdf.py the printable case
    statebundle.py  state bundles to the desk's colleagues; statemerge.py merges theirs
    images.py     photos re-encoded by Pillow under limits; their metadata read out
    media.py      attachments out of the vault (in memory or streamed through a pipe)
    geo.py        distances, clusters, the offline SVG plot
    web/          the loopback UI (Flask); server.py serves it with waitress
    cli.py        the `sealview` command

docs/viewer.md explains the design.
"""
