"""Each flow's state is a small dataclass that survives a restart as typed JSON, never pickle."""

from __future__ import annotations

import dataclasses
import inspect
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest

from bot import flow_state
from bot.flow_state import (
    ApiKeyAddition,
    FlowState,
    KillSwitchChange,
    LoginDraft,
    PendingApiKey,
    RegisterDraft,
)
from bot.flows import flow_state as state_of
from bot.state_codec import NotStorable, decode, encode
from core.accounts.service import LoginAttempt


def _through_the_database(value: object) -> Any:
    return decode(json.loads(json.dumps(encode(value))))


def test_every_flow_state_class_is_known_to_the_codec() -> None:
    # A new draft nobody listed would make its flow memory-only without anyone noticing.
    defined = {
        cls
        for _, cls in inspect.getmembers(flow_state, inspect.isclass)
        if dataclasses.is_dataclass(cls) and cls.__module__ == flow_state.__name__
    }
    assert defined == set(flow_state.STORED) | set(flow_state.MEMORY_ONLY)


def test_a_login_in_progress_round_trips_with_its_types() -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    attempt = LoginAttempt(3, mfa_required=True, stamp="stamp", checked_at=when)
    draft = LoginDraft(email="a@example.com", attempt=attempt, password_tries=2)
    draft.cleanup.append((1001, 55))
    again = _through_the_database(draft)
    assert isinstance(again, LoginDraft) and again == draft
    assert again.cleanup == [(1001, 55)]  # tuples come back as tuples


def test_a_registration_keeps_the_hash_never_the_password() -> None:
    stored = json.dumps(encode(RegisterDraft(email="a@example.com", password_hash="$argon2id$x")))
    assert "$argon2id$x" in stored
    assert {f.name for f in dataclasses.fields(RegisterDraft)}.isdisjoint({"password", "code"})


def test_typed_api_credentials_never_reach_the_disk() -> None:
    addition = ApiKeyAddition(pending=PendingApiKey(exchange="binance", key="K" * 20))
    with pytest.raises(NotStorable) as refused:
        encode({"apikey_add": addition})
    assert "K" * 20 not in str(refused.value)


def test_a_flow_state_stored_by_an_older_version_as_a_mapping_moves_into_its_class() -> None:
    context = cast(Any, SimpleNamespace(user_data={"killswitch": {"reason": "audit", "x": 1}}))
    state = state_of(context, "killswitch", KillSwitchChange)
    assert isinstance(state, KillSwitchChange) and state.reason == "audit"
    assert context.user_data["killswitch"] is state


def test_a_shared_step_s_plain_state_moves_into_the_flows_own() -> None:
    context = cast(Any, SimpleNamespace(user_data={}))
    state_of(context, "register").email = "a@example.com"  # the shared email step
    draft = state_of(context, "register", RegisterDraft)
    assert draft.email == "a@example.com" and draft.password_hash is None
    assert state_of(context, "register") is draft  # the richer one answers for both
    assert isinstance(draft, FlowState)
