"""HTTP plumbing shared by webhook delivery and the partner API client.

One ``requests.Session`` per partner host, per thread of each worker process, so
connections to a partner are kept alive between deliveries. Unless
PARTNER_ALLOW_PRIVATE_NETWORKS is set, every new connection checks the address it actually
reached and drops it when that is not public: a host name that passed the URL check and
then resolves to an internal address (DNS rebinding) gets no request. URLs are redacted
before they reach a log line or an error message (a partner may put a token in its query
string).
"""

import ipaddress
import logging
import re
import threading
from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.utils import requote_uri
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

USER_AGENT = "ChargeCars-Webhooks/1.0"

# urllib3 logs each request's path with its query string at DEBUG (LOG_LEVEL=DEBUG), and a
# partner may put a token there: its log records get the query string replaced.
_QUERY = re.compile(r"\?[^\s\"']*")


class _RedactQueryStrings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True  # not ours to fix: the handler reports a malformed record
        if "?" in message:
            record.msg, record.args = _QUERY.sub("?[redacted]", message), ()
        return True


for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_RedactQueryStrings())

_local = threading.local()


# IPv6 prefixes whose last 32 bits are an IPv4 address the packet ends up at: NAT64's
# well-known prefix (RFC 6052), IPv4-compatible (deprecated) and IPv4-translated (SIIT).
_IPV4_EMBEDDING = tuple(
    ipaddress.ip_network(prefix) for prefix in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)


def address_is_public(address: str) -> bool:
    """A global unicast address: not private, loopback, link-local, reserved or multicast.

    An IPv6 address that stands for an IPv4 one (mapped, 6to4, NAT64, ...) is judged by
    that IPv4 address: 64:ff9b::a9fe:a9fe reaches 169.254.169.254 through a NAT64 gateway.
    """
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip.sixtofour:
            ip = ip.sixtofour
        elif any(ip in network for network in _IPV4_EMBEDDING):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.is_reserved:  # e.g. 64:ff9b:1::/48, NAT64 for local use (RFC 8215)
            return False
    return ip.is_global and not ip.is_multicast


class _PublicPeerOnly:
    def _new_conn(self):
        sock = super()._new_conn()
        if not settings.PARTNER_ALLOW_PRIVATE_NETWORKS:
            peer = sock.getpeername()[0]
            if not address_is_public(peer):
                sock.close()
                raise NewConnectionError(
                    self,
                    f"Refused to connect to {self.host}: it resolved to {peer}, which is not "
                    "a public address.",
                )
        return sock


class _HTTPConnection(_PublicPeerOnly, HTTPConnection):
    pass


class _HTTPSConnection(_PublicPeerOnly, HTTPSConnection):
    pass


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connections refuse non-public peers (see the module doc)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _HTTPConnectionPool,
            "https": _HTTPSConnectionPool,
        }


def session_for(url: str) -> requests.Session:
    """The kept-alive session for ``url``'s scheme, host and port (this thread's)."""
    parts = urlsplit(url)
    key = (parts.scheme, parts.hostname, parts.port)
    sessions = getattr(_local, "sessions", None)
    if sessions is None:
        sessions = _local.sessions = {}
    session = sessions.get(key)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # no proxies or .netrc credentials picked up by accident
        # Integrations on one partner host share this session: a cookie one of them gets
        # must never be sent on behalf of another.
        session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = PublicOnlyAdapter(pool_connections=1, pool_maxsize=4, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers["User-Agent"] = USER_AGENT
        sessions[key] = session
    return session


def sessions_close() -> None:
    for session in getattr(_local, "sessions", {}).values():
        session.close()
    _local.sessions = {}


def redact_url(url: str | None) -> str:
    """``url`` without user-info, query string or fragment: safe to log."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:  # out of range or not a number: show the host only
        port = None
    if port:
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def error_text(exc: BaseException, url: str | None) -> str:
    """An exception's message with the full URL replaced by its redacted form.

    requests percent-encodes the URL before it sends it (``|`` becomes ``%7C``), and its
    exceptions quote that form: both the raw and the encoded forms are redacted.
    """
    text = str(exc)
    if url:
        for form in (url, requote_uri(url)):
            text = text.replace(form, redact_url(url))
        parts = urlsplit(url)
        for secret in (parts.query, parts.password):
            if secret:
                for form in (secret, requote_uri(secret)):
                    text = text.replace(form, "[redacted]")
    # urllib3 quotes the path with the query string it sent (parameters passed apart from
    # the URL, such as a feed's): a partner may put a token there.
    return _QUERY.sub("?[redacted]", text)[:500]
