"""Moderation rules: the state a collected post starts in, and the reason given."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from samembed.ingest.model import Collected
from samembed.ingest.rules import Verdict, blocked, verdict
from samembed.repositories.sources import Rules

POST = Collected(external_id="1", author_name="Ada", author_handle="@ada@example.social",
                 text="The harbour festival opens tonight", posted_at=datetime.now(UTC),
                 lang="en")


@pytest.mark.parametrize(("rules", "post", "expected"), [
    (Rules(), POST, Verdict("pending", "Waiting for review.")),
    (Rules(auto_approve=True), POST,
     Verdict("approved", "Approved automatically (this story auto-approves).")),
    (Rules(allowed_accounts=("ADA@example.social",)), POST,
     Verdict("approved", "Approved: @ada@example.social is on the allow list.")),
    (Rules(auto_approve=True, blocked_accounts=("@ada@example.social",)), POST,
     Verdict("rejected", "Blocked account @ada@example.social.")),
    (Rules(auto_approve=True, blocked_words=("Festival",)), POST,
     Verdict("rejected", "Contains the blocked word “Festival”.")),
    (Rules(auto_approve=True, blocked_words=("opens tonight",)), POST,
     Verdict("rejected", "Contains the blocked word “opens tonight”.")),
    (Rules(auto_approve=True, blocked_words=("arbour",)), POST,
     Verdict("approved", "Approved automatically (this story auto-approves).")),
    (Rules(auto_approve=True), replace(POST, is_reply=True),
     Verdict("rejected", "A reply (this story skips replies).")),
    (Rules(auto_approve=True, skip_replies=False), replace(POST, is_reply=True),
     Verdict("approved", "Approved automatically (this story auto-approves).")),
    (Rules(), replace(POST, is_repost=True),
     Verdict("rejected", "A repost (this story skips reposts).")),
    (Rules(auto_approve=True, languages=("pt", "es")), POST,
     Verdict("rejected", "Language “en” is not one of pt, es.")),
    (Rules(auto_approve=True, languages=("pt",)), replace(POST, lang="pt-BR"),
     Verdict("approved", "Approved automatically (this story auto-approves).")),
    (Rules(allowed_accounts=("@ada@example.social",)), replace(POST, sensitive=True),
     Verdict("pending", "Held: marked sensitive at the source.")),
    (Rules(auto_approve=True), replace(POST, content_warning="Spoilers"),
     Verdict("pending", "Held: marked sensitive at the source: “Spoilers”.")),
    (Rules(auto_approve=True, hold_sensitive=False), replace(POST, sensitive=True),
     Verdict("approved", "Approved automatically (this story auto-approves).")),
    (Rules(auto_approve=True, blocked_words=("spoilers",)),
     replace(POST, content_warning="SPOILERS"),
     Verdict("rejected", "Contains the blocked word “spoilers”.")),
])
def test_rules_decide_the_state_and_say_why(rules: Rules, post: Collected,
                                            expected: Verdict) -> None:
    assert verdict(rules, post) == expected


def test_only_block_lists_apply_to_edits() -> None:
    assert blocked(Rules(languages=("pt",)), POST) is None
    assert blocked(Rules(blocked_words=("tonight",)), POST) == Verdict(
        "rejected", "Contains the blocked word “tonight”.")
