"""The sign-in rules (auth.py) from plain inputs: settings, st.user-like claims, a proxy header and its peer."""

from __future__ import annotations

import ipaddress

import pytest

import auth
from auth import Identity, Policy, Refusal, decide, email_address, for_user, from_claims, from_header, policy
from config import ConfigError, Fallback, Secret, Settings, load_settings


def settings_with(**variables: str) -> Settings:
    return load_settings(variables)


def rules(**variables: str) -> Policy:
    return policy(settings_with(AUTH="oidc", **variables))


# --- settings ------------------------------------------------------------------------------------------


def test_auth_is_off_by_default_and_then_reads_nothing_else():
    settings = settings_with(AUTH_TRUSTED_PROXIES="not an address", AUTH_ALLOWED="nonsense")
    assert settings.auth == "none" and settings.shared_key_for_users == "off"
    assert policy(settings) == Policy("none")


def test_the_settings_become_one_policy():
    found = policy(
        settings_with(
            AUTH="Header",
            AUTH_ALLOWED="Ann@Example.com, @Example.ORG  bob@b.example",
            AUTH_ADMINS="ann@example.com",
            AUTH_HEADER="X-Auth-Request-Email",
            AUTH_TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.7 ::1",
            SHARED_KEY_FOR_USERS="ON",
        )
    )
    assert found == Policy(
        "header",
        frozenset({"ann@example.com", "@example.org", "bob@b.example"}),
        frozenset({"ann@example.com"}),
        "X-Auth-Request-Email",
        (
            ipaddress.ip_network("10.0.0.0/8"),
            ipaddress.ip_network("192.168.1.7/32"),
            ipaddress.ip_network("::1/128"),
        ),
        shared_key=True,
    )


def test_the_header_name_defaults_to_oauth2_proxys():
    assert rules().header == "X-Forwarded-Email"


def test_an_unknown_mode_is_a_config_error():
    with pytest.raises(ConfigError, match="AUTH='ldap' must be none, oidc or header"):
        settings_with(AUTH="ldap")


def test_every_malformed_entry_is_named_in_one_error():
    with pytest.raises(ConfigError) as raised:
        rules(
            AUTH_ALLOWED="ann@example.com, example.org, @",
            AUTH_ADMINS="@example.com, root",
            AUTH_HEADER="X Email",
            AUTH_TRUSTED_PROXIES="10.0.0.0/33, proxy.local, 10.1.2.3",
        )
    message = str(raised.value)
    for part in (
        "AUTH_ALLOWED entry 'example.org'",
        "AUTH_ALLOWED entry '@'",
        "AUTH_ADMINS entry '@example.com'",
        "AUTH_ADMINS entry 'root'",
        "AUTH_HEADER='X Email'",
        "AUTH_TRUSTED_PROXIES entry '10.0.0.0/33'",
        "AUTH_TRUSTED_PROXIES entry 'proxy.local'",
    ):
        assert part in message, part
    assert "ann@example.com" not in message and "10.1.2.3" not in message


# --- addresses -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        ("  bob.smith+chat@mail.example.org ", "bob.smith+chat@mail.example.org"),
        ("carol@localhost", "carol@localhost"),
        ("", None),
        ("ann", None),
        ("ann@", None),
        ("@example.com", None),
        ("ann@example..com", None),
        ("ann@-example.com", None),
        ("ann@example.com, bob@example.com", None),
        ("Ann <ann@example.com>", None),
        ("ann@@example.com", None),
        ("ann @example.com", None),
        ("ann@exa mple.com", None),
        (["ann@example.com"], None),
        (None, None),
    ],
)
def test_an_email_address_is_one_address_in_lower_case(value, expected):
    assert email_address(value) == expected


# --- the allow-list and the admins ---------------------------------------------------------------------


def test_an_empty_allow_list_admits_anyone_signed_in():
    assert decide(rules(), "anyone@anywhere.example", "Any One") == Identity(
        "anyone@anywhere.example", "Any One", False
    )


def test_the_allow_list_takes_addresses_and_whole_domains():
    allowed = rules(AUTH_ALLOWED="ann@example.com, @example.org")
    assert isinstance(decide(allowed, "ann@example.com"), Identity)
    assert isinstance(decide(allowed, "zed@example.org"), Identity)
    assert decide(allowed, "bob@example.com") == Refusal("not_allowed", "bob@example.com")
    assert decide(allowed, "zed@sub.example.org") == Refusal("not_allowed", "zed@sub.example.org")
    assert decide(allowed, "zed@evilexample.org") == Refusal("not_allowed", "zed@evilexample.org")


def test_case_never_decides():
    allowed = rules(AUTH_ALLOWED="Ann@Example.com, @EXAMPLE.org", AUTH_ADMINS="ROOT@example.ORG")
    assert from_claims(allowed, {"email": "ANN@example.COM"}) == Identity("ann@example.com", "ann@example.com", False)
    assert from_claims(allowed, {"email": "Root@Example.org", "name": "Root"}) == Identity(
        "root@example.org", "Root", True
    )


def test_admins_are_named_and_still_pass_the_allow_list():
    allowed = rules(AUTH_ALLOWED="@example.com", AUTH_ADMINS="boss@example.com, outsider@else.example")
    assert decide(allowed, "boss@example.com").is_admin  # type: ignore[union-attr]
    assert not decide(allowed, "ann@example.com").is_admin  # type: ignore[union-attr]
    assert decide(allowed, "outsider@else.example") == Refusal("not_allowed", "outsider@else.example")


# --- OpenID Connect claims -----------------------------------------------------------------------------


def test_claims_give_the_email_and_name():
    assert from_claims(rules(), {"is_logged_in": True, "email": "ann@example.com", "name": " Ann "}) == Identity(
        "ann@example.com", "Ann", False
    )


def test_claims_without_an_email_are_refused():
    assert from_claims(rules(), {"is_logged_in": True, "sub": "1234"}) == Refusal("no_email")
    assert from_claims(rules(), {"email": ""}) == Refusal("no_email")


def test_a_malformed_email_claim_is_refused():
    assert from_claims(rules(), {"email": "not an address"}) == Refusal("malformed", "not an address")
    assert from_claims(rules(), {"email": ["ann@example.com"]}) == Refusal("malformed", "['ann@example.com']")


def test_an_address_the_provider_marks_unverified_is_refused():
    assert from_claims(rules(), {"email": "ann@example.com", "email_verified": False}) == Refusal(
        "unverified", "ann@example.com"
    )
    assert isinstance(from_claims(rules(), {"email": "ann@example.com", "email_verified": True}), Identity)


# --- the proxy header ----------------------------------------------------------------------------------


def header_rules(proxies: str, **variables: str) -> Policy:
    return policy(settings_with(AUTH="header", AUTH_TRUSTED_PROXIES=proxies, **variables))


def test_the_header_from_a_trusted_proxy_names_the_user():
    found = from_header(header_rules("10.0.0.5"), ["Ann@Example.com"], "10.0.0.5")
    assert found == Identity("ann@example.com", "ann@example.com", False)


def test_the_header_from_an_address_that_is_no_proxy_is_refused():
    assert from_header(header_rules("10.0.0.5"), ["ann@example.com"], "10.0.0.6") == Refusal(
        "untrusted_peer", "10.0.0.6"
    )


def test_with_no_trusted_proxies_everyone_is_refused():
    for peer in ("10.0.0.5", "203.0.113.9", "::1", None):
        assert from_header(header_rules(""), ["ann@example.com"], peer).reason == "untrusted_peer"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("proxies", "peer", "believed"),
    [
        ("10.0.0.0/8", "10.255.3.4", True),
        ("10.0.0.0/8", "11.0.0.1", False),
        ("192.168.1.0/24", "192.168.1.200", True),
        ("192.168.1.0/24", "192.168.2.1", False),
        ("192.168.1.7/24", "192.168.1.9", True),  # host bits set: read as its network
        ("2001:db8::/32", "2001:db8:1::7", True),
        ("2001:db8::/32", "2001:db9::7", False),
        ("10.0.0.0/8", "::ffff:10.0.0.1", False),  # an IPv6 peer never matches an IPv4 network
        ("127.0.0.1", None, True),  # Streamlit reports this machine as no address
        ("::1", None, True),
        ("10.0.0.0/8", None, False),
        ("10.0.0.0/8", "not-an-ip", False),
        ("10.0.0.0/8", "", False),
    ],
)
def test_a_proxy_is_matched_by_address_or_network(proxies, peer, believed):
    assert auth.trusted(header_rules(proxies), peer) is believed


def test_a_missing_or_empty_header_is_refused():
    trusted = header_rules("10.0.0.0/8")
    assert from_header(trusted, [], "10.0.0.1") == Refusal("no_header")
    assert from_header(trusted, ["", "  "], "10.0.0.1") == Refusal("no_header")


def test_a_malformed_or_repeated_header_is_refused():
    trusted = header_rules("10.0.0.0/8")
    assert from_header(trusted, ["ann"], "10.0.0.1") == Refusal("malformed", "ann")
    assert from_header(trusted, ["ann@example.com,bob@example.com"], "10.0.0.1").reason == "malformed"  # type: ignore[union-attr]
    assert from_header(trusted, ["ann@example.com", "bob@example.com"], "10.0.0.1") == Refusal(
        "malformed", "ann@example.com, bob@example.com"
    )


def test_the_header_passes_the_allow_list_and_names_admins():
    trusted = header_rules("10.0.0.0/8", AUTH_ALLOWED="@example.com", AUTH_ADMINS="boss@example.com")
    assert from_header(trusted, ["bob@else.example"], "10.0.0.1") == Refusal("not_allowed", "bob@else.example")
    assert from_header(trusted, ["Boss@example.com"], "10.0.0.1") == Identity(
        "boss@example.com", "boss@example.com", True
    )


# --- Streamlit's [auth] section ------------------------------------------------------------------------


def test_what_the_auth_section_lacks_is_named():
    complete = {key: "x" for key in auth.OIDC_KEYS}
    assert auth.oidc_problem(complete) is None
    assert auth.oidc_problem(None) == ", ".join(auth.OIDC_KEYS)
    assert auth.oidc_problem({**complete, "client_secret": "", "cookie_secret": None}) == "cookie_secret, client_secret"


# --- whose key ------------------------------------------------------------------------------------------


def keyed_settings(**variables: str) -> Settings:
    return settings_with(
        AUTH="oidc",
        OPENAI_API_KEY="sk-shared-0123456789",
        OTHER_KEY="sk-other-0123456789",
        FALLBACK_MODELS="gpt-4o, deepseek-chat@https://api.deepseek.com/v1#OTHER_KEY, llama@http://127.0.0.1:9/v1",
        **variables,
    )


def test_a_signed_in_user_gets_no_shared_key_unless_allowed():
    settings = keyed_settings()
    user = Identity("ann@example.com", "Ann", False)
    own = for_user(settings, policy(settings), user)
    assert own.api_key is None and own.provider == settings.provider == "openai" and own.needs_setup
    assert own.fallbacks == (Fallback("gpt-4o"), Fallback("llama", "http://127.0.0.1:9/v1"))


def test_the_shared_key_serves_users_when_allowed_and_admins_always():
    settings = keyed_settings(SHARED_KEY_FOR_USERS="on")
    assert for_user(settings, policy(settings), Identity("ann@example.com", "Ann", False)) == settings
    strict = keyed_settings()
    assert for_user(strict, policy(strict), Identity("boss@example.com", "Boss", True)) == strict
    assert for_user(strict, policy(strict), None).api_key == Secret("sk-shared-0123456789")


# --- X-Forwarded-For: Streamlit's server (uvicorn) reports a connection from this machine under the address it names


def test_a_peer_named_by_x_forwarded_for_proves_no_proxy():
    trusted = header_rules("10.0.0.0/8")
    assert from_header(trusted, ["ann@example.com"], "10.0.0.5", ["10.0.0.5"]) == Refusal("forwarded", "10.0.0.5")
    assert from_header(trusted, ["ann@example.com"], "10.0.0.5", ["203.0.113.7, 10.0.0.5:4431"]).reason == "forwarded"  # type: ignore[union-attr]


def test_a_proxy_forwarding_its_clients_address_is_believed():
    remote = header_rules("10.0.0.0/8")
    assert isinstance(from_header(remote, ["ann@example.com"], "10.0.0.5", ["203.0.113.7", "198.51.100.2"]), Identity)
    local = header_rules("127.0.0.1")
    assert isinstance(from_header(local, ["ann@example.com"], None, ["203.0.113.7"]), Identity)


def test_forwarded_hosts_are_read_as_uvicorn_reads_them():
    assert auth.forwarded_hosts(["203.0.113.7:5000, [2001:db8::1]:443", " 2001:db8::2 ,unknown", ""]) == {
        "203.0.113.7",
        "2001:db8::1",
        "2001:db8::2",
        "unknown",
        "",
    }
