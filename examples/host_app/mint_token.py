"""Mint a bearer token for trying the host application (a deployment's tokens come from
its identity provider instead).

    export IMFLOW_HOST_TOKEN_KEY=$(python -c "import secrets; print(secrets.token_urlsafe(32))")
    TOKEN=$(python examples/host_app/mint_token.py --role manager --subject im-17 \\
        --provider caritas-waldshut --district 08337)
    curl -H "Authorization: Bearer $TOKEN" localhost:8000/cases/wt-1

The key is read from ``IMFLOW_HOST_TOKEN_KEY`` (the one the server was started with);
issuer and audience default to the application's.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta

from app import AUDIENCE, AUDIENCE_ENV, ISSUER, ISSUER_ENV, KEY_ENV
from host_auth import mint_token


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", required=True, choices=["manager", "coordinator", "auditor"])
    parser.add_argument("--subject", default="im-1", help="the pseudonymous staff id")
    parser.add_argument("--provider", help="required for a manager")
    parser.add_argument("--district", help="AGS code; required for managers and coordinators")
    parser.add_argument("--minutes", type=int, default=60, help="lifetime (default: 60)")
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_ENV)
    if not key:
        print(f"mint_token: set {KEY_ENV} to the server's key", file=sys.stderr)
        return 2
    print(
        mint_token(
            key,
            subject=args.subject,
            role=args.role,
            provider=args.provider,
            district=args.district,
            issuer=os.environ.get(ISSUER_ENV, ISSUER),
            audience=os.environ.get(AUDIENCE_ENV, AUDIENCE),
            lifetime=timedelta(minutes=args.minutes),
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
