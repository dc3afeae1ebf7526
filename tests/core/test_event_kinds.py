"""Who receives which event: one table (xiaoer.core.event_kinds) for every stream."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from xiaoer.core.event_kinds import (
    EVENT_KINDS,
    UnknownEventKind,
    Viewer,
    buyer_view,
    receivers,
    staff_receives,
)

pytestmark = pytest.mark.database_free

SRC = Path(__file__).resolve().parents[2] / "src" / "xiaoer"
ME = Viewer(7, "presale", leader=False)
COLLEAGUE = Viewer(8, "presale", leader=False)
BOSS = Viewer(1, "presale", leader=True)
AT = "2026-11-23T06:00:00+00:00"
LATER = "2026-11-23T06:00:05+00:00"


def _message(
    agent_id: int | None, team: str = "presale", created: str = AT, sender: str = "buyer"
) -> dict[str, Any]:
    conversation: dict[str, Any] = {"agent_id": agent_id, "team": team, "queued_at": AT}
    return {"created_at": created, "sender": sender, "conversation": conversation, "text": "hi"}


def test_an_agent_sees_the_messages_of_their_own_conversations_only() -> None:
    assert staff_receives("message.created", _message(7), ME)
    assert not staff_receives("message.created", _message(8), ME)
    assert staff_receives("message.created", _message(8), BOSS)


def test_an_agent_sees_a_queued_conversation_arrive_but_not_each_message_after() -> None:
    assert staff_receives("message.created", _message(None), ME)  # the message that queued it
    assert not staff_receives("message.created", _message(None, sender="auto"), ME)
    assert not staff_receives("message.created", _message(None, created=LATER), ME)
    assert not staff_receives("message.created", _message(None, team="aftersale"), ME)


def test_a_conversation_changing_hands_reaches_who_had_it_and_who_has_it() -> None:
    routed = {"conversation_id": 3, "agent_id": 8, "team": "presale", "from_agent_id": None,
              "from_team": "presale"}  # fmt: skip
    assert staff_receives("conversation.assigned", routed, ME)  # it left my team's queue
    assert not staff_receives("conversation.assigned", {**routed, "from_team": "aftersale",
                              "team": "aftersale"}, ME)  # fmt: skip
    moved = {"conversation_id": 3, "agent_id": 9, "team": "aftersale", "from_agent_id": 7,
             "from_team": "presale"}  # fmt: skip
    assert staff_receives("conversation.assigned", moved, ME)  # it left me
    assert not staff_receives("conversation.assigned", moved, COLLEAGUE)
    queued_away = {**_message(None, team="aftersale", created=LATER), "sender": "system",
                   "from_agent_id": 7, "from_team": "presale"}  # fmt: skip
    assert staff_receives("message.created", queued_away, ME)
    assert not staff_receives("message.created", queued_away, COLLEAGUE)


def test_a_colleagues_record_goes_to_them_and_the_supervisor_only() -> None:
    for kind, payload in [
        ("violation.late_note", {"agent_id": 8, "fine_rule": "note_late_or_wrong"}),
        ("violation.decided", {"violation_id": 1, "agent_id": 8, "status": "upheld"}),
        ("roster.judged", {"entry_id": 1, "staff_id": 8, "status": "late"}),
        ("approval.requested", {"id": 1, "agent_id": 8, "text": "给您便宜50"}),
        ("sla.breached", {"conversation_id": 3, "agent_id": 8}),
        ("order.task", {"task_id": 1, "agent_id": 8}),
        ("leave.requested", {"leave_id": 1, "staff_id": 8}),
    ]:
        assert not staff_receives(kind, payload, ME), kind
        assert staff_receives(kind, payload, COLLEAGUE), kind
        assert staff_receives(kind, payload, BOSS), kind


def test_queue_places_go_to_the_buyer_only() -> None:
    place = {"conversation_id": 3, "position": 4}
    assert not staff_receives("queue.position", place, ME)
    assert not staff_receives("queue.position", place, BOSS)
    assert buyer_view("queue.position", place) == place


def test_a_buyer_sees_only_the_fields_meant_for_them() -> None:
    payload = {**_message(7), "id": 5, "conversation_id": 3, "agent_name": "Mei"}
    shown = buyer_view("message.created", payload)
    assert shown is not None and "conversation" not in shown and shown["text"] == "hi"
    assert buyer_view("approval.requested", {"text": "draft"}) is None
    assert buyer_view("violation.late_note", {"agent_id": 7}) is None


def test_an_unknown_kind_reaches_nobody_and_cannot_be_recorded() -> None:
    from xiaoer.core.event_kinds import audience_of

    assert not staff_receives("made.up", {}, BOSS)
    assert buyer_view("made.up", {}) is None
    with pytest.raises(UnknownEventKind, match=r"made\.up"):
        audience_of("made.up")


# --- every kind recorded anywhere in the code has a rule -------------------------------


def _literal_args(tree: ast.AST, function: str, position: int, name: str) -> set[str] | None:
    """The string literals passed to ``function`` as its parameter ``name``."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        if callee != function:
            continue
        given = [k.value for k in node.keywords if k.arg == name]
        if not given and len(node.args) > position:
            given = [node.args[position]]
        for value in given:
            if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
                return None
            found.add(value.value)
    return found


def _enclosing(tree: ast.AST, call: ast.Call) -> ast.FunctionDef | ast.AsyncFunctionDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            inner is call for inner in ast.walk(node)
        ):
            return node
    raise AssertionError("record_event outside a function")


def _kinds_of(tree: ast.AST, call: ast.Call, where: str) -> set[str]:
    kind = next((k.value for k in call.keywords if k.arg == "kind"), None)
    kind = kind or (call.args[2] if len(call.args) > 2 else None)
    if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
        return {kind.value}
    function = _enclosing(tree, call)
    params = [a.arg for a in (*function.args.posonlyargs, *function.args.args)]
    params += [a.arg for a in function.args.kwonlyargs]
    prefix, variable = "", kind
    if isinstance(kind, ast.JoinedStr) and len(kind.values) == 2:
        head, tail = kind.values
        if isinstance(head, ast.Constant) and isinstance(tail, ast.FormattedValue):
            prefix, variable = str(head.value), tail.value
    assert isinstance(variable, ast.Name) and variable.id in params, (
        f"{where}: cannot tell which kinds this record_event records"
    )
    values = _literal_args(tree, function.name, params.index(variable.id), variable.id)
    assert values, f"{where}: {function.name} is called without literal kinds"
    return {prefix + value for value in values}


def recorded_kinds() -> dict[str, str]:
    kinds: dict[str, str] = {}
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "record_event"
            ):
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                for kind in _kinds_of(tree, node, where):
                    kinds.setdefault(kind, where)
    return kinds


def test_every_kind_the_code_records_has_a_rule_and_every_rule_a_kind() -> None:
    kinds = recorded_kinds()
    assert len(kinds) >= 35
    assert {k: w for k, w in kinds.items() if k not in EVENT_KINDS} == {}
    assert set(EVENT_KINDS) - set(kinds) == set()


def test_the_receivers_worked_out_once_are_whom_staff_receives_lets_see() -> None:
    """The feed finds a staff follower's events by ``receivers``; for every kind, many
    payloads and viewers of every kind, it agrees with ``staff_receives``."""
    viewers = [ME, COLLEAGUE, BOSS, Viewer(9, "aftersale", leader=False)]
    viewers.append(Viewer(2, "aftersale", leader=True))
    payloads: list[dict[str, Any]] = [
        {},
        _message(7),
        _message(None),
        _message(None, created=LATER),
        _message(None, sender="auto"),
        _message(None, team="aftersale"),
        {"agent_id": 7, "team": "presale", "from_agent_id": 8, "from_team": "presale"},
        {"agent_id": None, "team": "aftersale", "from_agent_id": 7, "from_team": "presale"},
    ]
    keys = {key for audience in EVENT_KINDS.values() for key in audience.keys}
    for staff_id in (7, 8, 9, None):
        payloads.append({key: staff_id for key in keys})
    checked = 0
    for kind in [*EVENT_KINDS, "no.such.kind"]:
        for payload in payloads:
            found = receivers(kind, payload)
            for viewer in viewers:
                assert found.takes(viewer) == staff_receives(kind, payload, viewer), (
                    kind,
                    payload,
                    viewer,
                )
                checked += 1
    assert checked > 1000
