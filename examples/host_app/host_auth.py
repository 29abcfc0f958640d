"""Who is asking: signed bearer tokens (JWT, verified with PyJWT) mapped to an
:class:`imflow.Actor`.

The application is configured with one key at start; a token is accepted only if it is
signed with that key in the one configured algorithm (``alg: none`` and any other
algorithm are refused), has not expired, and names this service as its issuer and
audience. Its claims become the actor:

=============  ==========================================================
claim          meaning
=============  ==========================================================
``sub``        the pseudonymous staff id (``Actor.id``)
``role``       ``manager``, ``coordinator`` or ``auditor``
``provider``   the provider a manager works for (required for managers)
``district``   the district's AGS code (required for managers and coordinators)
``exp``        expiry (required), ``iat`` issued at (required), ``nbf`` optional
``iss``        the issuer the application was configured with
``aud``        the audience the application was configured with
=============  ==========================================================

Nothing about identity is read from any other header. The ``system`` role (deadline
sweeps) has no business over HTTP: a token for it is answered ``403``.

>>> key = generate_key()
>>> tokens = Tokens(key, issuer="https://login.example", audience="imflow-host")
>>> token = mint_token(key, subject="im-17", role="manager", provider="caritas-waldshut",
...                    district="08337", issuer="https://login.example", audience="imflow-host")
>>> tokens.actor(f"Bearer {token}")
Actor(id='im-17', role=<Role.MANAGER: 'manager'>, provider='caritas-waldshut', district='08337')
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from host_http import Problem

from imflow import Actor, InvalidDocument, Role
from imflow.serialization import from_document

HTTP_ROLES = frozenset({Role.MANAGER, Role.COORDINATOR, Role.AUDITOR})
"""The roles that may use the application (``system`` runs sweeps, not requests)."""

ALGORITHMS = frozenset({"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"})
"""Algorithms a deployment may choose from (asymmetric ones need ``pyjwt[crypto]``)."""

MIN_SECRET = 32
"""The shortest shared secret (bytes) accepted for the HMAC algorithms."""

_WWW_AUTHENTICATE = 'Bearer realm="imflow"'


def generate_key() -> str:
    """A fresh random shared secret for HS256 (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def mint_token(
    key: str | bytes,
    *,
    subject: str,
    role: str,
    issuer: str,
    audience: str,
    provider: str | None = None,
    district: str | None = None,
    lifetime: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    algorithm: str = "HS256",
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed token for trying the application (a real deployment gets its tokens
    from its identity provider)."""
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + lifetime,
    }
    if provider is not None:
        claims["provider"] = provider
    if district is not None:
        claims["district"] = district
    claims.update(extra or {})
    return jwt.encode(claims, key, algorithm=algorithm)


class Tokens:
    """Verifies bearer tokens and maps their claims to an :class:`~imflow.Actor`.

    :param key: the shared secret (HS*) or the public key (RS256, ES256, EdDSA).
    :param issuer: the ``iss`` every token must carry.
    :param audience: the ``aud`` every token must carry (this service).
    :param algorithm: the one algorithm tokens are signed with.
    :param leeway: how much clock difference to the token issuer is tolerated.
    """

    def __init__(
        self,
        key: str | bytes,
        *,
        issuer: str,
        audience: str,
        algorithm: str = "HS256",
        leeway: timedelta = timedelta(seconds=30),
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}")
        secret = key.encode() if isinstance(key, str) else key
        if algorithm.startswith("HS") and len(secret) < MIN_SECRET:
            raise ValueError(f"an HMAC key needs at least {MIN_SECRET} bytes")
        if not issuer or not audience:
            raise ValueError("issuer and audience must be given")
        self._key = key
        self.issuer = issuer
        self.audience = audience
        self.algorithms: Sequence[str] = (algorithm,)
        self.leeway = leeway

    def __repr__(self) -> str:  # never the key
        return f"Tokens(issuer={self.issuer!r}, audience={self.audience!r})"

    def actor(self, authorization: str | None) -> Actor:
        """The actor of an ``Authorization: Bearer …`` header; :class:`Problem` 401 for
        a missing or invalid token, 403 for a role that may not use the application."""
        if not authorization:
            raise _unauthenticated("token_missing")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthenticated("token_missing")
        try:
            claims = jwt.decode(
                token.strip(),
                self._key,
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            raise _unauthenticated("token_invalid") from None
        return actor_from_claims(claims)


def actor_from_claims(claims: dict[str, Any]) -> Actor:
    """The actor a verified token's claims describe (see the table above)."""
    document = {
        "id": claims.get("sub"),
        "role": claims.get("role"),
        "provider": claims.get("provider"),
        "district": claims.get("district"),
    }
    try:
        actor: Actor = from_document(document, Actor)
    except InvalidDocument:
        raise _unauthenticated("token_invalid") from None
    if actor.role not in HTTP_ROLES:
        raise Problem(403, "forbidden")
    needs_provider = actor.role is Role.MANAGER
    needs_district = actor.role in (Role.MANAGER, Role.COORDINATOR)
    if (needs_provider and actor.provider is None) or (needs_district and actor.district is None):
        raise _unauthenticated("token_invalid")
    return actor


def _unauthenticated(code: str) -> Problem:
    """401 with the challenge of RFC 6750 (an error attribute only for a bad token)."""
    challenge = _WWW_AUTHENTICATE
    if code == "token_invalid":
        challenge += ', error="invalid_token"'
    return Problem(401, code, headers={"WWW-Authenticate": challenge})
