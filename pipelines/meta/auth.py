"""Meta access: which token does what, how long it lives, and the long-lived token exchange.

- The configured token (`META_ACCESS_TOKEN`) is a system-user token (servers; no expiry) or a long-lived user token
  (about 60 days, from `exchange`). It reads the ad account.
- Page insights and posts need a Page token: `/me/accounts` lists the Pages the token manages with their tokens
  (from a long-lived user or system-user token they do not expire). The Instagram business account is found through
  its Page (`instagram_business_account`).
- `/debug_token` (asked with the app token `app_id|app_secret`) says whether the token is valid and when it expires:
  an invalid token fails the run at once, one expiring within `token_warn_days` logs a warning that names what to
  renew, and the status is loaded (`token_status`) so the digest shows it.

    python -m pipelines.meta.auth exchange <short-lived user token>   # prints a long-lived token and its expiry
"""

from __future__ import annotations

import argparse
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.common.config import ConfigurationError, ProviderConfig, provider_config
from pipelines.common.http import ProviderClient
from pipelines.common.redaction import register_secret

from .helpers import MetaClient, MetaTokenError, get, paginate, rest
from .settings import GRAPH_VERSION, RENEW_HINT

log = logging.getLogger("opsdata.meta")


@dataclass(frozen=True)
class TokenStatus:
    token_type: str
    is_valid: bool
    expires_at: datetime | None
    """None: the token does not expire (system user, or a Page token from a long-lived token)."""
    data_access_expires_at: datetime | None
    checked_at: datetime
    warning: str | None

    def row(self) -> dict[str, Any]:
        return {"token": "configured", "token_type": self.token_type, "is_valid": self.is_valid, "expires_at": self.expires_at,
                "data_access_expires_at": self.data_access_expires_at, "checked_at": self.checked_at, "warning": self.warning}


@dataclass(frozen=True)
class MetaAccess:
    token: str
    page_id: str
    page_token: str
    ig_user_id: str | None
    status: TokenStatus


def app_token(config: ProviderConfig) -> str:
    token = f"{config.credential('app_id')}|{config.credential('app_secret')}"
    register_secret(token)
    return token


def _epoch(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


def token_status(config: ProviderConfig, client: ProviderClient, now: datetime, warn_days: int) -> TokenStatus:
    """Ask `/debug_token` about the configured token: fail now if it is invalid, warn if it expires soon."""
    token = config.credential("access_token")
    data = get(rest(config, client, app_token(config)), "/debug_token", {"input_token": token}).get("data") or {}
    if not data.get("is_valid"):
        error = data.get("error") or {}
        raise MetaTokenError(str(error.get("message") or "debug_token says the token is not valid"), error.get("code") or 190,
                             error.get("subcode"), path="/debug_token")
    expires = _epoch(data.get("expires_at"))
    warning = None
    if expires is not None:
        left = expires - now
        if left.total_seconds() <= warn_days * 86400:
            warning = (f"meta: the access token expires on {expires:%Y-%m-%d %H:%M} UTC (in {max(0, left.days)} days). {RENEW_HINT}")
            log.warning(warning)
    return TokenStatus(str(data.get("type") or "USER"), True, expires, _epoch(data.get("data_access_expires_at")), now, warning)


def resolve_access(config: ProviderConfig, client: ProviderClient, now: datetime, warn_days: int) -> MetaAccess:
    """The configured token's status, the Page's token (from `/me/accounts`) and the Page's Instagram account.

    The token check and the Page lookup are sent together (every run's first two round trips, one after the other
    before); the check's verdict comes first either way: a bad token fails naming `/debug_token`, whatever
    `/me/accounts` answered it."""
    token = config.credential("access_token")
    page_id = config.credential("page_id")
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="meta-token") as pool:
        checked = pool.submit(token_status, config, MetaClient(config), now, warn_days)  # its own session
        try:
            page: dict[str, Any] | None = None
            for batch in paginate(rest(config, client, token), "/me/accounts",
                                  {"fields": "id,name,access_token,instagram_business_account", "limit": 100}):
                page = next((p for p in batch if str(p.get("id")) == page_id), page)
        except Exception:
            checked.result()  # the token's own error, if that is what failed
            raise
        status = checked.result()
    if page is None or not page.get("access_token"):
        raise ConfigurationError(f"meta: the token does not manage Page {page_id} (not in /me/accounts); check META_PAGE_ID "
                                 "and that the token's user or system user has a task on the Page")
    page_token = str(page["access_token"])
    register_secret(page_token)
    ig = (page.get("instagram_business_account") or {}).get("id")
    if ig is None:
        node = get(rest(config, client, page_token), f"/{page_id}", {"fields": "instagram_business_account"})
        ig = (node.get("instagram_business_account") or {}).get("id")
    return MetaAccess(token, page_id, page_token, str(ig) if ig else None, status)


def exchange_for_long_lived(config: ProviderConfig, short_lived_token: str) -> tuple[str, int]:
    """Facebook Login gives a short-lived user token (hours); trade it for a long-lived one (~60 days)."""
    register_secret(short_lived_token)
    client = MetaClient(config)
    body = get(rest(config, client, short_lived_token), "/oauth/access_token", {
        "grant_type": "fb_exchange_token", "client_id": config.credential("app_id"),
        "client_secret": config.credential("app_secret"), "fb_exchange_token": short_lived_token})
    token = str(body["access_token"])
    register_secret(token)
    return token, int(body.get("expires_in") or 0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.meta.auth", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("exchange", help="trade a short-lived user token for a long-lived one")
    ex.add_argument("short_lived_token")
    sub.add_parser("status", help="validity and expiry of META_ACCESS_TOKEN (debug_token)")
    args = parser.parse_args()
    config = provider_config("meta")
    if args.command == "exchange":
        token, expires_in = exchange_for_long_lived(config, args.short_lived_token)
        print(f"Long-lived token (Graph {GRAPH_VERSION}), valid for {expires_in // 86400} days; store it as META_ACCESS_TOKEN:")
        print(token)
    else:
        status = token_status(config, MetaClient(config), datetime.now(UTC), 7)
        print(f"{status.token_type} token, valid, expires {status.expires_at or 'never'}")


if __name__ == "__main__":
    main()
