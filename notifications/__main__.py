"""`python -m notifications preview daily|weekly|alert|approvals [--as-of YYYY-MM-DD] [--json]`

Renders a message locally, as terminal text and as the Block Kit JSON Slack would receive, without posting it
(paste the JSON into Slack's Block Kit Builder to see it). Outbox maintenance: `outbox [--status failed]` lists
messages, `requeue KEY...` makes failed or unconfirmed messages pending again (after fixing a revoked webhook),
`flush` delivers whatever is pending.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime

from . import blocks as bk


def _preview_messages(kind: str, as_of: date | None) -> list[tuple[str, list[dict]]]:
    if kind in ("daily", "weekly"):
        from .digest import build_digest

        digest = build_digest(kind, as_of)
        return [(m.text, m.blocks) for m in digest.messages("#ops")]
    if kind == "alert":
        from .alerts import Alert, alert_blocks

        alert = Alert(
            key="task:extract_stripe.extract",
            title="extract_stripe.extract failed",
            summary="DeliveryError: stripe: 401 Invalid API Key provided (example)",
            details={"DAG": "extract_stripe", "Task": "extract", "Run": "scheduled__2026-11-01T06:00:00+00:00", "Try": "2 of 3"},
            link="http://localhost:8080/dags/extract_stripe/runs/scheduled__2026-11-01T06:00:00+00:00/tasks/extract",
        )
        blocks = alert_blocks(alert, 1, datetime.now(UTC).timestamp(), ":rotating_light:")
        return [(bk.fallback_text(blocks), blocks)]
    if kind == "approvals":
        from .approvals import read_queue, reminder_blocks

        snapshot = read_queue()
        blocks = reminder_blocks(snapshot.items, snapshot.as_of)
        return [(bk.fallback_text(blocks), blocks)]
    raise SystemExit(f"unknown preview {kind!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notifications", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    preview = sub.add_parser("preview", help="render a digest or an alert without posting it")
    preview.add_argument("kind", choices=["daily", "weekly", "alert", "approvals"])
    preview.add_argument("--as-of", type=date.fromisoformat, default=None, help="last day covered (digests)")
    preview.add_argument("--json", action="store_true", help="print only the Block Kit JSON")
    sub.add_parser("flush", help="deliver messages still pending in the outbox")
    listing = sub.add_parser("outbox", help="list outbox messages")
    listing.add_argument("--status", choices=["pending", "sending", "sent", "failed", "unconfirmed"])
    requeue = sub.add_parser("requeue", help="make failed/unconfirmed messages pending again")
    requeue.add_argument("keys", nargs="+")
    args = parser.parse_args(argv)
    if args.command in ("outbox", "requeue"):
        from .jobs import context

        store, _settings = context()
        if args.command == "requeue":
            for key in args.keys:
                message = store.get(key)
                if message is None or message.status not in ("failed", "unconfirmed"):
                    print(f"{key}: not requeued ({message.status if message else 'no such key'})")
                    continue
                store.mark(key, "pending", None)
                print(f"{key}: pending")
            return 0
        for message in store.messages(args.status):
            print(f"{message.status:<12} {message.channel:<12} {message.key}  {message.error or ''}")
        return 0
    if args.command == "flush":
        from .jobs import flush_outbox

        for row in flush_outbox():
            print(row)
        return 0
    messages = _preview_messages(args.kind, args.as_of)
    if args.json:
        json.dump([{"text": text, "blocks": blocks} for text, blocks in messages], sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    for n, (_text, blocks) in enumerate(messages, start=1):
        if len(messages) > 1:
            print(f"===== message {n}/{len(messages)} =====")
        print("\n".join(bk.block_text(b) for b in blocks))
        print()
    print("----- Block Kit JSON -----")
    print(json.dumps([{"blocks": blocks} for _t, blocks in messages], indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
