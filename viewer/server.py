"""`sealview open`: the UI on 127.0.0.1 through waitress, until Ctrl-C.

The only socket the viewer ever opens is this listening one, bound to the loopback address. waitress
is told to keep request and response bodies in memory: its default would spool a large response (a
video being played) into a temporary file, which here would be plaintext on disk.
"""

from __future__ import annotations

import signal
import sys
import webbrowser
from collections.abc import Callable

from waitress.server import create_server

from .i18n import _
from .vault import Vault
from .web import create_app, new_token

HOST = "127.0.0.1"
SERVER_OPTIONS = {
    "threads": 4,
    "ident": "sealview",
    "expose_tracebacks": False,
    "clear_untrusted_proxy_headers": True,
    "max_request_body_size": 1 << 20,
    "inbuf_overflow": 2 << 20,  # above max_request_body_size: a request body never reaches a temp file
    "outbuf_high_watermark": 4 << 20,  # the app pauses here...
    "outbuf_overflow": 64 << 20,  # ...long before a response would spill to a temp file
}


def serve(
    vault: Vault,
    port: int = 0,
    *,
    open_browser: bool = True,
    announce: Callable[[str], None] = print,
    language: str = "en",
) -> None:
    token = new_token()
    app = create_app(vault, token, hosts=set(), language=language)
    server = create_server(app, host=HOST, port=port, **SERVER_OPTIONS)
    bound = server.effective_port
    app.config["SEALVIEW_HOSTS"] = {f"{HOST}:{bound}"}
    url = f"http://{HOST}:{bound}/?token={token}"
    announce(_("sealview is open at %(url)s", url=url))
    announce(_("(only this machine can reach it; stop it with Ctrl-C)"))
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    if open_browser:
        webbrowser.open(url)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
