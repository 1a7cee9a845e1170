"""Tor for sealdrop: onion services with persistent keys, client authorization and proof of work.

The only importer of stem; imports nothing of ours. The whole API:

    tor = Tor.launch(data_dir)                      # our own tor, or:
    tor = Tor.attach(host, port, password=None)     # a running tor's ControlPort (cookie or password)
    service = tor.publish("reporter", key_file, target_port, client_auth=[...], pow=True)
    service.address                                 # "<56 chars>.onion", the same for as long as key_file
    service.wait_published(timeout)                 # every descriptor accepted, no upload in flight
    tor.close()                                     # DEL_ONION, close the controller, stop our tor

Keys live in files in tor's own formats (`keys.py`); `AuthorizedClients` issues and revokes client keys;
`status` writes and reads the state a running server leaves for `status` commands. Every failure is an
`OnionError` whose message tells the operator what to do.
"""

from . import status
from .errors import (
    PASSWORD_ENV,
    ClientAccessError,
    ControlAuthenticationFailed,
    ControlCommandFailed,
    ControlConnectionLost,
    ControlConnectionRefused,
    ControlPasswordMissing,
    CookieUnreadable,
    KeyUnreadable,
    NotTorControlPort,
    OnionAddressChanged,
    OnionError,
    PublishFailed,
    PublishTimeout,
    TorFailedToStart,
    TorNotInstalled,
    TorTooOld,
    WrongControlPassword,
)
from .keys import AUTHORIZED_CLIENTS, SECRET_KEY_FILE, AuthorizedClients, ClientKey, OnionKey, onion_address
from .password import hash_control_password
from .service import OnionService, Publication
from .tor import Tor

__all__ = [
    "AUTHORIZED_CLIENTS",
    "PASSWORD_ENV",
    "SECRET_KEY_FILE",
    "AuthorizedClients",
    "ClientAccessError",
    "ClientKey",
    "ControlAuthenticationFailed",
    "ControlCommandFailed",
    "ControlConnectionLost",
    "ControlConnectionRefused",
    "ControlPasswordMissing",
    "CookieUnreadable",
    "KeyUnreadable",
    "NotTorControlPort",
    "OnionAddressChanged",
    "OnionError",
    "OnionKey",
    "OnionService",
    "Publication",
    "PublishFailed",
    "PublishTimeout",
    "Tor",
    "TorFailedToStart",
    "TorNotInstalled",
    "TorTooOld",
    "WrongControlPassword",
    "hash_control_password",
    "onion_address",
    "status",
]
