"""Block Kit building, Slack's limits, money formatting and the plain-text fallback.

Limits (docs.slack.dev and slack_sdk's own validators): 50 blocks per message, section text 3 000 characters,
header 150, context elements 10; `chat.postMessage` has also been seen to reject ~13 k characters of blocks in total
(`msg_blocks_too_long`), so a message carries at most `MAX_MESSAGE_BLOCK_CHARS`. Too much content is split into
several messages ("part 2/3"), a too-long line is trimmed: a digest is never rejected.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 2000
MAX_MESSAGE_BLOCK_CHARS = 11000
MAX_FALLBACK_TEXT = 3900
"""Slack truncates `text` beyond 40 000 characters and notifications show far less; the fallback is a summary."""

# Symbol, and digits after the decimal point (ISO 4217 minor units for the zero-decimal currencies).
CURRENCIES: dict[str, tuple[str, int]] = {
    "USD": ("$", 2), "CAD": ("CA$", 2), "AUD": ("A$", 2), "NZD": ("NZ$", 2), "EUR": ("€", 2), "GBP": ("£", 2),
    "JPY": ("¥", 0), "KRW": ("₩", 0), "INR": ("₹", 2), "CHF": ("CHF ", 2), "SEK": ("SEK ", 2), "MXN": ("MX$", 2),
}


def money(amount: Any, currency: str | None) -> str:
    """`$1,234.56`, `€1,234.56`, `¥1,235`, `1,234.56 PLN`; negatives as `-$12.00`. Never sums currencies."""
    code = (currency or "").upper()
    symbol, digits = CURRENCIES.get(code, ("", 2))
    value = Decimal(str(amount if amount is not None else 0))
    quantum = Decimal(1).scaleb(-digits)
    value = value.quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if value < 0 else ""
    body = f"{abs(value):,.{digits}f}"
    return f"{sign}{symbol}{body}" if symbol else f"{sign}{body} {code}".rstrip()


def number(value: Any) -> str:
    return f"{int(value or 0):,}"


def percent(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{float(value) * 100:.{digits}f}%"


def change(current: Any, previous: Any) -> str:
    """Relative change for a headline: `▲ 12.3%`, `▼ 4.0%`, `no change`, `up from 0`, `n/a`."""
    if current is None or previous is None:
        return "n/a"
    cur, prev = Decimal(str(current)), Decimal(str(previous))
    if prev == 0:
        return "no change" if cur == 0 else "up from 0"
    ratio = (cur - prev) / abs(prev)
    if abs(ratio) < Decimal("0.0005"):
        return "no change"
    arrow = "▲" if ratio > 0 else "▼"
    return f"{arrow} {abs(ratio) * 100:.1f}%"


def ratio_change(current: Any, previous: Any) -> Decimal | None:
    if current is None or previous is None or Decimal(str(previous)) == 0:
        return None
    return (Decimal(str(current)) - Decimal(str(previous))) / abs(Decimal(str(previous)))


def trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def escape(text: str) -> str:
    """Slack mrkdwn control characters in user-provided text (order titles, emails)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": trim(text, MAX_HEADER_TEXT), "emoji": True}}


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": trim(text, MAX_CONTEXT_TEXT)}]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def sections(text: str) -> list[dict[str, Any]]:
    """One or more section blocks for `text`, split at line boundaries so each stays within 3 000 characters."""
    blocks: list[dict[str, Any]] = []
    chunk: list[str] = []
    size = 0
    for line in text.split("\n"):
        line = trim(line, MAX_SECTION_TEXT)
        if chunk and size + len(line) + 1 > MAX_SECTION_TEXT:
            blocks.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk and "\n".join(chunk).strip():
        blocks.append(_section("\n".join(chunk)))
    return blocks


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def block_text(block: dict[str, Any], urls: bool = True) -> str:
    """The readable text of a block, for the plain-text fallback (without URLs) and the terminal preview."""
    kind = block.get("type")
    if kind == "divider":
        return "—" * 24
    if kind == "header":
        return str(block["text"]["text"])
    if kind == "context":
        return " · ".join(plain(e.get("text", ""), urls) for e in block.get("elements", []))
    parts = [plain(block["text"]["text"], urls)] if "text" in block else []
    parts += [plain(f["text"], urls) for f in block.get("fields", [])]
    return "\n".join(parts)


_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")


def plain(mrkdwn: str, urls: bool = True) -> str:
    """mrkdwn → plain text: `<url|label>` → `label (url)` (or `label`), `*bold*` → `bold`, entities unescaped."""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if urls else m.group(2), mrkdwn)
    text = re.sub(r"(?<!\w)[*_~](\S(?:.*?\S)?)[*_~](?!\w)", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def fallback_text(blocks: list[dict[str, Any]]) -> str:
    return trim("\n".join(block_text(b, urls=False) for b in blocks if b.get("type") != "divider"), MAX_FALLBACK_TEXT)


def _size(block: dict[str, Any]) -> int:
    return len(block_text(block))


def paginate(blocks: list[dict[str, Any]], title: str) -> list[list[dict[str, Any]]]:
    """Split `blocks` into messages within the block-count and total-size limits; later parts get a header
    `"<title> (part n/N)"` so each message reads on its own."""
    budget_blocks = MAX_BLOCKS - 1  # room for the continuation header
    pages: list[list[dict[str, Any]]] = [[]]
    size = 0
    for block in blocks:
        if pages[-1] and (len(pages[-1]) >= budget_blocks or size + _size(block) > MAX_MESSAGE_BLOCK_CHARS):
            pages.append([])
            size = 0
        pages[-1].append(block)
        size += _size(block)
    if len(pages) > 1:
        total = len(pages)
        for n, page in enumerate(pages, start=1):
            label = header(f"{title} (part {n}/{total})")
            if page and page[0].get("type") == "header":
                page[0] = label
            else:
                page.insert(0, label)
    return pages
