"""Moderation rules: what state a collected post starts in, and why.

Applied by the pipeline to every new post; to a changed post only the block
lists are applied again (an edit that adds a blocked word takes the post down,
but an editor's approval is not second-guessed otherwise). The reason is stored
with the post and shown in the studio queue.

Order matters: blocks first, then what the story skips, then holds, then what
approves. A sensitive post from an allowed account is still held.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from samembed.ingest.model import Collected
from samembed.repositories.sources import Rules


@dataclass(frozen=True)
class Verdict:
    state: str  # "approved", "pending" or "rejected"
    reason: str


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _account(handle: str) -> str:
    return _fold(handle).lstrip("@")


def blocked(rules: Rules, post: Collected) -> Verdict | None:
    handle = _account(post.author_handle or "")
    if handle and handle in {_account(a) for a in rules.blocked_accounts}:
        return Verdict("rejected", f"Blocked account @{handle}.")
    text = _fold(f"{post.text} {post.content_warning} {post.author_name}")
    for word in rules.blocked_words:
        # Whole words, so "ass" does not block "class"; phrases work too.
        if re.search(rf"(?<!\w){re.escape(_fold(word))}(?!\w)", text):
            return Verdict("rejected", f"Contains the blocked word “{word}”.")
    return None


def verdict(rules: Rules, post: Collected) -> Verdict:
    """The state a new post starts in."""
    found = blocked(rules, post)
    if found:
        return found
    if rules.skip_replies and post.is_reply:
        return Verdict("rejected", "A reply (this story skips replies).")
    if rules.skip_reposts and post.is_repost:
        return Verdict("rejected", "A repost (this story skips reposts).")
    if rules.languages:
        lang = (post.lang or "").split("-")[0].lower()
        if lang not in {code.lower() for code in rules.languages}:
            return Verdict("rejected", f"Language “{post.lang or 'unknown'}” is not one of "
                                       f"{', '.join(rules.languages)}.")
    if rules.hold_sensitive and (post.sensitive or post.content_warning):
        warning = f": “{post.content_warning}”" if post.content_warning else ""
        return Verdict("pending", f"Held: marked sensitive at the source{warning}.")
    handle = _account(post.author_handle or "")
    if handle and handle in {_account(a) for a in rules.allowed_accounts}:
        return Verdict("approved", f"Approved: @{handle} is on the allow list.")
    if rules.auto_approve:
        return Verdict("approved", "Approved automatically (this story auto-approves).")
    return Verdict("pending", "Waiting for review.")
