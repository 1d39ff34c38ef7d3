"""A failed send in plain words, for what people read (notifications, the queue pages).

A delivery's ``last_error`` is technical text for the operator ("PermanentSendError: Slack
said channel_not_found"); it stays so in the store and the log. ``send_words`` drops the
exception class names and says what the service did ("Slack refused it
(channel_not_found)").
"""

from __future__ import annotations

import re

_CLASS = re.compile(r"\b[A-Z][A-Za-z]*(?:Error|Exception|Timeout|Limited)\b:\s*")
_CLASS_IN_BRACKETS = re.compile(r"\s*\([A-Z][A-Za-z]*(?:Error|Exception|Timeout)\)")
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(Slack|Teams) said (\S+)(.*)$", re.S), r"\1 refused it (\2\3)"),
    (re.compile(r"^Slack HTTP (\d{3})\s*(.*)$", re.S), r"Slack answered \1 \2"),
    (re.compile(r"(\[errno 111\]\s*)?connection refused.*$", re.I | re.S),
     "the server refused the connection"),
    (re.compile(r"\btimed out\b.*$", re.S), "did not answer in time"),
)


def send_words(error: str | None, target: str | None = None) -> str:
    """``error`` (a delivery's technical reason) without class names, in plain words;
    without the ``target``'s name in front when the caller says it already."""
    if not error or not error.strip():
        return "it gave up"
    text = _CLASS_IN_BRACKETS.sub("", _CLASS.sub("", error.strip())).strip()
    if target and text.startswith(f"{target}: "):
        text = text[len(target) + 2:]
    for pattern, words in _RULES:
        if pattern.search(text):
            text = pattern.sub(words, text, count=1)
            break
    return " ".join(text.split()) or "it gave up"
