"""Who the app works for: the sign-in rules, decided from plain inputs (no Streamlit here).

AUTH=none is the single-user app (no one signs in, the owner is ""). AUTH=oidc takes the claims Streamlit's
``st.user`` holds after an OpenID Connect sign-in; AUTH=header takes an e-mail header set by a reverse proxy
(oauth2-proxy and the like), believed only from the addresses in AUTH_TRUSTED_PROXIES. Either way the e-mail
must be on AUTH_ALLOWED (when it lists anything), and AUTH_ADMINS names the admins.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from config import ConfigError, Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Reason = Literal["not_allowed", "no_email", "unverified", "untrusted_peer", "forwarded", "no_header", "malformed"]

# One address: no spaces, commas, quotes or angle brackets, exactly one @, a domain of dot-separated labels.
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_EMAIL = re.compile(rf"^[^\s@,;<>\"()\[\]]+@{_LABEL}(?:\.{_LABEL})*$")
# Streamlit reports a peer on this machine (127.0.0.1 or ::1) as no address at all.
LOOPBACK = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
# What Streamlit's [auth] section in .streamlit/secrets.toml needs for st.login() with the default provider.
OIDC_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


@dataclass(frozen=True)
class Identity:
    """A signed-in person: the e-mail is who owns their chats (lower case, so one person is one owner)."""

    email: str
    name: str
    is_admin: bool


@dataclass(frozen=True)
class Refusal:
    """Why no one is signed in; ``detail`` is the refused e-mail (or value) to show, when there is one."""

    reason: Reason
    detail: str = ""


@dataclass(frozen=True)
class Policy:
    """The sign-in settings, read and checked once: who may come in, who is admin, which proxies are believed."""

    mode: Literal["none", "oidc", "header"]
    allowed: frozenset[str] = frozenset()  # addresses and @domains, lower case; empty: anyone signed in
    admins: frozenset[str] = frozenset()
    header: str = "X-Forwarded-Email"
    trusted_proxies: tuple[Network, ...] = ()
    shared_key: bool = False

    def admits(self, email: str) -> bool:
        return not self.allowed or email in self.allowed or "@" + email.rsplit("@", 1)[1] in self.allowed


def email_address(value: object) -> str | None:
    """``value`` as one e-mail address in lower case, or None when it is not one (a list, a name, two addresses)."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    return text if _EMAIL.match(text) else None


def _entries(text: str | None) -> list[str]:
    return [entry.strip() for entry in re.split(r"[,\s]+", text or "") if entry.strip()]


def _allowed(text: str | None, problems: list[str]) -> frozenset[str]:
    found = set()
    for entry in _entries(text):
        domain = entry.startswith("@")
        address = email_address(("x" if domain else "") + entry)
        if address is None:
            problems.append(f"AUTH_ALLOWED entry {entry!r} must be an e-mail address or @domain")
        else:
            found.add(address[1:] if domain else address)
    return frozenset(found)


def _admins(text: str | None, problems: list[str]) -> frozenset[str]:
    found = set()
    for entry in _entries(text):
        address = email_address(entry)
        if address is None:
            problems.append(f"AUTH_ADMINS entry {entry!r} must be an e-mail address")
        else:
            found.add(address)
    return frozenset(found)


def _networks(text: str | None, problems: list[str]) -> tuple[Network, ...]:
    found = []
    for entry in _entries(text):
        try:
            found.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            problems.append(f"AUTH_TRUSTED_PROXIES entry {entry!r} must be an IP address or CIDR, e.g. 10.0.0.0/8")
    return tuple(found)


def policy(settings: Settings) -> Policy:
    """The sign-in rules the settings give; a ConfigError names every malformed entry. AUTH=none reads nothing
    else, so the single-user app is exactly what it was."""
    if settings.auth == "none":
        return Policy("none")
    problems: list[str] = []
    header = (settings.auth_header or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9-]+", header):
        problems.append(f"AUTH_HEADER={header!r} must be an HTTP header name, e.g. X-Forwarded-Email")
    found = Policy(
        "header" if settings.auth == "header" else "oidc",
        _allowed(settings.auth_allowed, problems),
        _admins(settings.auth_admins, problems),
        header,
        _networks(settings.auth_trusted_proxies, problems),
        settings.shared_key_for_users == "on",
    )
    if problems:
        raise ConfigError("; ".join(problems))
    return found


def decide(rules: Policy, email: str, name: str = "") -> Identity | Refusal:
    """The allow-list and the admins for a checked address."""
    if not rules.admits(email):
        return Refusal("not_allowed", email)
    return Identity(email, name.strip() or email, email in rules.admins)


def from_claims(rules: Policy, claims: Mapping[str, object]) -> Identity | Refusal:
    """AUTH=oidc: the person ``st.user`` describes. An address the provider marks unverified is refused (anyone
    could have typed it); one without a verified flag is taken as the provider gives it."""
    address = email_address(claims.get("email"))
    if address is None:
        return Refusal("no_email" if not claims.get("email") else "malformed", str(claims.get("email") or ""))
    if claims.get("email_verified") is False:
        return Refusal("unverified", address)
    name = claims.get("name")
    return decide(rules, address, name if isinstance(name, str) else "")


def trusted(rules: Policy, peer: str | None) -> bool:
    """Whether the connection comes from a configured proxy; ``peer`` None is Streamlit's word for this machine."""
    try:
        addresses = LOOPBACK if peer is None else (ipaddress.ip_address(peer),)
    except ValueError:
        return False
    return any(address in network for address in addresses for network in rules.trusted_proxies)


def forwarded_hosts(values: Sequence[str]) -> set[str]:
    """The hosts X-Forwarded-For names, each read as uvicorn reads it (``host``, ``host:port``, ``[v6]:port``)."""
    found = set()
    for item in (part.strip() for value in values for part in value.split(",")):
        if item.startswith("[") and "]" in item:
            found.add(item[1 : item.index("]")])
        else:
            found.add(item.rsplit(":", 1)[0] if item.count(":") == 1 else item)
    return found


def from_header(
    rules: Policy, values: Sequence[str], peer: str | None, forwarded_for: Sequence[str] = ()
) -> Identity | Refusal:
    """AUTH=header: the person the proxy's header names (``values``: every occurrence of it), only when the
    connection comes from a trusted proxy; anyone else could set the header themselves. Streamlit's server
    (uvicorn) reports a connection from this machine under the address its X-Forwarded-For names
    (``forwarded_for``), which anyone can write: a peer named there proves nothing and is refused."""
    if peer is not None and peer in forwarded_hosts(forwarded_for):
        return Refusal("forwarded", peer)
    if not trusted(rules, peer):
        return Refusal("untrusted_peer", peer or "127.0.0.1")
    present = [value for value in values if value.strip()]
    if not present:
        return Refusal("no_header")
    address = email_address(present[0])
    if len(present) > 1 or address is None:
        return Refusal("malformed", ", ".join(present))
    return decide(rules, address)


def oidc_problem(section: Mapping[str, object] | None) -> str | None:
    """What Streamlit's [auth] section lacks for a sign-in with the default provider, or None when complete."""
    missing = [key for key in OIDC_KEYS if not (section or {}).get(key)]
    return ", ".join(missing) if missing else None


def for_user(settings: Settings, rules: Policy, who: Identity | None) -> Settings:
    """The settings a signed-in person works with: without SHARED_KEY_FOR_USERS (admins excepted) no key from
    `.env` reaches their requests (they type their own in the sidebar), fallbacks with their own keys included."""
    if who is None or rules.shared_key or who.is_admin:
        return settings
    own = tuple(fallback for fallback in settings.fallbacks if fallback.api_key is None)
    return settings.with_overrides(api_key=None, fallbacks=own)
