"""Which live events an agent's workbench socket carries; a supervisor's carries all."""

from typing import Any

from xiaoer.core.events import EventData
from xiaoer.reception.workbench import concerns

ME = (7, "presale")
AT = "2026-11-23T06:00:00+00:00"
LATER = "2026-11-23T06:00:05+00:00"


def _message(
    agent_id: int | None, team: str = "presale", created: str = AT, sender: str = "buyer"
) -> EventData:
    conversation: dict[str, Any] = {"agent_id": agent_id, "team": team, "queued_at": AT}
    payload = {"created_at": created, "sender": sender, "conversation": conversation}
    return EventData(1, 1, "message.created", payload)


def test_an_agent_sees_the_messages_of_their_own_conversations_only() -> None:
    assert concerns(_message(7), ME)
    assert not concerns(_message(8), ME)


def test_an_agent_sees_a_queued_conversation_arrive_but_not_each_message_after() -> None:
    assert concerns(_message(None), ME)  # the message that queued it
    assert not concerns(_message(None, sender="auto"), ME)  # the welcome that came with it
    assert not concerns(_message(None, created=LATER), ME)
    assert not concerns(_message(None, team="aftersale"), ME)


def test_queue_places_go_to_supervisors_and_other_events_to_everyone() -> None:
    place = EventData(1, 2, "queue.position", {"conversation_id": 3, "position": 4})
    assigned = EventData(1, 3, "conversation.assigned", {"conversation_id": 3, "agent_id": 8})
    assert not concerns(place, ME) and concerns(place, None)
    assert concerns(assigned, ME) and concerns(_message(8), None)


def test_an_agent_hears_only_their_own_missed_deadlines() -> None:
    mine = EventData(1, 4, "sla.breached", {"conversation_id": 3, "agent_id": 7})
    queued = EventData(1, 5, "sla.breached", {"conversation_id": 4, "agent_id": None})
    assert concerns(mine, ME) and not concerns(queued, ME)
    assert concerns(queued, None)
