"""Corrections of a message already sent, for channels that cannot edit what they sent.

When comms correct a sent announcement, Slack edits its message in place (``chat.update``);
a Teams webhook cannot, so Teams gets a new card that says first which post it corrects, and
a file target gets the payload again with ``correction_of``. Pure: the dispatcher sends it.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from channels.teams import escape_card_text


def correction_note(original: str, sent_at: datetime | None) -> str:
    """The line that names the post being corrected (plain text, untrusted title)."""
    when = f", posted {sent_at:%a %d %b %Y %H:%M} UTC" if sent_at else ""
    return f"Correction to “{original}”{when}: this replaces it."


def correction_payload(payload: dict[str, Any], original: str,
                       sent_at: datetime | None) -> dict[str, Any]:
    """``payload`` (a channel's rendering of the corrected story) marked as a correction:
    an Adaptive Card gets the note as its first TextBlock, escaped for card Markdown; any
    other payload gets ``correction_of``."""
    note = correction_note(original, sent_at)
    out = copy.deepcopy(payload)
    for attachment in out.get("attachments") or ():
        content = attachment.get("content") if isinstance(attachment, dict) else None
        if isinstance(content, dict) and content.get("type") == "AdaptiveCard":
            content.setdefault("body", []).insert(0, {
                "type": "TextBlock", "text": escape_card_text(note), "wrap": True,
                "weight": "Bolder", "color": "Attention"})
            return out
    out["correction_of"] = note
    return out
