"""The load of a rehearsal: the forecast's peak hour replayed against the shop's own
server by simulated buyers and agents, and what it showed.

Each session of the hour (``rehearsal_plan``) is a buyer who opens the chat as the
widget does (``/b/<shop>/session``, then the buyer socket) and writes two to four
messages, each after the agent's answer to the one before and a pause to read and
type; the agents, signed in and holding the workbench
socket, answer every message of their conversations after a pause to type, and close
the conversation once the buyer's last message is answered. Pauses are the day's,
divided by ``speed``.

Measured for every buyer message: sent, acknowledged or refused (with the status),
delivered (a scratch agent's workbench socket has it), answered. Lost: acknowledged but
never delivered. An interval fell behind when its messages' delivery p99 is over the
target, or when the backlog (acknowledged, not yet delivered) at its end has grown past
what is in flight at the target latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xiaoer.peakday.rehearsal_http import Browser, post_json
from xiaoer.peakday.rehearsal_plan import HOUR, INTERVAL, Arrival, Interval
from xiaoer.peakday.rehearsal_scratch import Target

BUYER_LINES = (
    "你好，请问这款今天下单什么时候发货？",
    "满300减50的活动还有吗？",
    "能用优惠券吗，怎么领？",
    "好的，谢谢，我去拍了",
)
AGENT_LINE = "亲，在的，今天下单今天发，活动到零点结束哦"
_KEY = re.compile(r"\[(\d+)\.(\d+)(!?)\]$")
_REPLY_KEY = re.compile(r"\[re (\d+)\.(\d+)\]$")
RETRY_AFTER = (1.5, 3.5)  # seconds: the widget and the workbench send again after this


# --- the run -----------------------------------------------------------------------


@dataclass
class Sent:
    buyer: int
    n: int
    sent_at: float
    frame: str
    last: bool = False
    queued: bool = False  # reached an agent when its conversation left the queue
    acked_at: float = 0.0
    refused: int = 0  # the status of a refusal
    delivered_at: float = 0.0
    answered_at: float = 0.0


@dataclass
class Run:
    target: Target
    code: str
    speed: float
    hour: list[Interval]
    arrivals: list[Arrival]
    usernames: list[str]
    password: str
    target_ms: float
    deadline: float  # monotonic
    say_progress: Callable[[str], None]
    started: float = 0.0
    sent: dict[tuple[int, int], Sent] = field(default_factory=dict)
    refusals: Counter[str] = field(default_factory=Counter)
    buyers_started: int = 0
    buyers_connected: int = 0
    buyers_done: int = 0
    agents_connected: int = 0
    problems: Counter[str] = field(default_factory=Counter)
    answered: dict[tuple[int, int], asyncio.Event] = field(default_factory=dict)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    conversation_of: dict[int, int] = field(default_factory=dict)  # buyer → conversation
    buyer_of: dict[int, int] = field(default_factory=dict)  # conversation → buyer
    assigned: set[int] = field(default_factory=set)  # conversations an agent has
    queued: set[int] = field(default_factory=set)  # buyers told their place in the queue
    replying: set[tuple[int, int]] = field(default_factory=set)  # lines being answered
    spread: bool = True

    @property
    def slot(self) -> float:
        return INTERVAL.total_seconds() / self.speed

    def now(self) -> float:
        return time.monotonic() - self.started


def _ws_connect(url: str, headers: dict[str, str] | None = None) -> Any:
    from websockets.asyncio.client import connect

    return connect(
        url,
        additional_headers=headers,
        proxy=None,
        ping_interval=None,
        open_timeout=30,
        close_timeout=2,
    )


def _ws_url(target: Target, path: str) -> str:
    scheme = "wss" if target.scheme == "https" else "ws"
    return f"{scheme}://{target.host}:{target.port}{path}"


def _local_address(run: Run, buyer: int) -> str | None:
    """A loopback address of the buyer's own while the server is on loopback."""
    if not (run.spread and run.target.loopback and run.target.host.startswith("127.")):
        return None
    return f"127.0.{1 + buyer // 250 % 250}.{2 + buyer % 250}"


async def _buyer(run: Run, arrival: Arrival) -> None:
    await asyncio.sleep(max(0.0, arrival.at - run.now()))
    run.buyers_started += 1
    try:
        opened = await post_json(
            run.target, f"/b/{run.code}/session", {},
            local_address=_local_address(run, arrival.buyer),
        )  # fmt: skip
    except OSError:
        if run.spread and _local_address(run, arrival.buyer):
            run.spread = False  # this machine will not send from other loopback addresses
            run.problems["buyers sent from one address only"] += 1
            opened = await post_json(run.target, f"/b/{run.code}/session", {})
        else:
            raise
    if opened.status != 200:
        run.refusals[f"new chat {opened.status}"] += 1
        return
    session = opened.json()
    url = _ws_url(run.target, f"/b/{run.code}/ws?after={int(session['after'])}")
    async with _ws_connect(url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": session["token"]}))
        hello = json.loads(await socket.recv())
        if hello.get("type") != "hello":
            run.problems[f"buyer socket: {hello}"[:120]] += 1
            return
        run.buyers_connected += 1
        reader = asyncio.create_task(_buyer_reads(run, socket, arrival.buyer))
        try:
            for n in range(arrival.messages):
                if n:
                    await asyncio.sleep(arrival.pauses[n - 1])
                last = "!" if n == arrival.messages - 1 else ""
                text = f"{BUYER_LINES[n % len(BUYER_LINES)]} [{arrival.buyer}.{n}{last}]"
                key = (arrival.buyer, n)
                answered = run.answered[key] = asyncio.Event()
                frame = {"type": "send", "client_id": f"{arrival.buyer}.{n}", "text": text}
                raw = json.dumps(frame, ensure_ascii=False)
                run.sent[key] = Sent(arrival.buyer, n, run.now(), raw, last=bool(last))
                await socket.send(raw)
                # The buyer waits for the answer a while, as a person does, then goes on.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(answered.wait(), max(RETRY_AFTER[1] + 2, 60 / run.speed))
        finally:
            run.buyers_done += 1
            reader.cancel()


async def _buyer_reads(run: Run, socket: Any, buyer: int) -> None:
    async for raw in socket:
        frame = json.loads(raw)
        kind = frame.get("type")
        client_id = str(frame.get("client_id") or "")
        if kind == "ack" and client_id:
            sent = run.sent.get(_key(client_id))
            if sent is not None and not sent.acked_at:
                sent.acked_at = run.now()
            if frame.get("conversation_id"):
                conversation = int(frame["conversation_id"])
                run.conversation_of[buyer] = conversation
                run.buyer_of[conversation] = buyer
        elif kind == "error" and client_id:
            sent = run.sent.get(_key(client_id))
            status = int(frame.get("status") or 0)
            if sent is None or sent.acked_at:
                continue
            if frame.get("retry"):  # as the widget does: the same message again, later
                run.refusals[f"message {status or '?'}, sent again"] += 1
                resend = asyncio.create_task(_send_again(socket, sent))
                run.background.add(resend)
                resend.add_done_callback(run.background.discard)
            else:
                sent.refused = status or 1
                run.refusals[f"message {status or '?'}"] += 1
                run.answered[_key(client_id)].set()
        elif kind == "event" and frame.get("kind") == "queue.position":
            run.queued.add(buyer)
        elif kind == "event" and frame.get("kind") == "message.created":
            data = frame.get("data") or {}
            found = _REPLY_KEY.search(str(data.get("text", "")))
            if data.get("sender") == "agent" and found and int(found[1]) == buyer:
                key = (buyer, int(found[2]))
                sent = run.sent.get(key)
                if sent is not None and not sent.answered_at:
                    sent.answered_at = run.now()
                    run.answered[key].set()


async def _send_again(socket: Any, sent: Sent) -> None:
    await asyncio.sleep(random.uniform(*RETRY_AFTER))  # noqa: S311 (a pause, not a secret)
    with contextlib.suppress(Exception):
        await socket.send(sent.frame)


def _key(client_id: str) -> tuple[int, int]:
    buyer, _, n = client_id.partition(".")
    return int(buyer), int(n)


class Agent:
    """A simulated agent: signed in, on the workbench socket, answering its buyers."""

    def __init__(self, run: Run, username: str) -> None:
        self.run, self.username = run, username
        self.browser = Browser(run.target)
        self.me = 0
        self.assigned: dict[int, int] = {}
        self.pending: dict[int, list[tuple[int, int, bool]]] = {}
        self.acks: dict[str, asyncio.Future[str]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.socket: Any = None

    async def connect(self) -> None:
        state = await self.browser.sign_in(self.username, self.run.password)
        self.me = int(state["me"]["id"])
        url = _ws_url(self.run.target, f"/ws/workbench?after={int(state['after'])}")
        cookie = {k: v for k, v in self.browser.headers().items() if k == "Cookie"}
        self.socket = await _ws_connect(url, cookie)
        hello = json.loads(await self.socket.recv())
        if hello.get("type") != "hello":
            raise ConnectionError(f"workbench socket: {hello}")
        self.run.agents_connected += 1

    async def read(self) -> None:
        async for raw in self.socket:
            frame = json.loads(raw)
            kind, data = frame.get("kind"), frame.get("data") or {}
            if frame.get("type") in ("ack", "error"):
                waiting = self.acks.get(str(frame.get("client_id")))
                if waiting is not None and not waiting.done():
                    again = "again" if frame.get("retry") else ""
                    waiting.set_result("ack" if frame["type"] == "ack" else again)
            elif kind == "message.created" and data.get("sender") == "buyer":
                self._buyer_message(data)
            elif kind == "conversation.assigned":
                conversation, agent = int(data["conversation_id"]), int(data["agent_id"])
                self.assigned[conversation] = agent
                self.run.assigned.add(conversation)
                pending = self.pending.pop(conversation, [])
                if agent == self.me:
                    self._taken(conversation, pending)

    def _taken(self, conversation: int, seen: list[tuple[int, int, bool]]) -> None:
        """A conversation given to this agent: what the buyer wrote while it waited in
        the queue reaches the agent now (the workbench loads it), and is answered."""
        buyer = self.run.buyer_of.get(conversation)
        waiting = [
            s
            for s in self.run.sent.values()
            if buyer is not None and s.buyer == buyer and s.acked_at and not s.answered_at
        ]
        for sent in waiting:
            if not sent.delivered_at:
                sent.delivered_at, sent.queued = self.run.now(), buyer in self.run.queued
        answers = {(b, n): last for b, n, last in seen}
        answers.update({(s.buyer, s.n): s.last for s in waiting})
        if answers:
            (b, n), last = max(answers.items())  # the latest line answers them all
            self._answer(conversation, b, n, last)

    def _buyer_message(self, data: dict[str, Any]) -> None:
        found = _KEY.search(str(data.get("text", "")))
        if found is None:
            return
        buyer, n, last = int(found[1]), int(found[2]), bool(found[3])
        sent = self.run.sent.get((buyer, n))
        if sent is not None and not sent.delivered_at:
            sent.delivered_at = self.run.now()
        conversation = int(data["conversation_id"])
        self.run.buyer_of.setdefault(conversation, buyer)
        agent = (data.get("conversation") or {}).get("agent_id") or self.assigned.get(
            conversation
        )
        if agent is not None:
            self.run.assigned.add(conversation)
        if agent is None:  # routed in the same transaction: conversation.assigned follows
            self.pending.setdefault(conversation, []).append((buyer, n, last))
        elif agent == self.me:
            self._answer(conversation, buyer, n, last)

    def _answer(self, conversation: int, buyer: int, n: int, last: bool) -> None:
        if (buyer, n) in self.run.replying:  # seen twice: on assignment and as a message
            return
        self.run.replying.add((buyer, n))
        task = asyncio.create_task(self._reply(conversation, buyer, n, last))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, conversation: int, buyer: int, n: int, last: bool) -> None:
        typing = random.uniform(5, 15)  # noqa: S311 (a pause, not a secret)
        await asyncio.sleep(typing / self.run.speed)  # reading and typing
        client_id = f"re{buyer}.{n}"
        frame = {
            "type": "send",
            "conversation_id": conversation,
            "text": f"{AGENT_LINE} [re {buyer}.{n}]",
            "client_id": client_id,
        }
        for attempt in range(3):  # as the workbench: a reply refused for a moment goes again
            waiting: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self.acks[client_id] = waiting
            try:
                await self.socket.send(json.dumps(frame, ensure_ascii=False))
                answer = await asyncio.wait_for(waiting, 30)
            except (TimeoutError, OSError):
                answer = "none"
            finally:
                self.acks.pop(client_id, None)
            if answer == "again" and attempt < 2:
                self.run.problems["an agent's reply sent again"] += 1
                await asyncio.sleep(random.uniform(*RETRY_AFTER))  # noqa: S311 (a pause)
                continue
            if answer != "ack":
                self.run.problems[f"an agent's reply: {answer or 'refused'}"] += 1
            break
        if last:
            closed = await self.browser.post(
                f"/api/reception/conversations/{conversation}/close",
                json.dumps({"outcome": "resolved"}).encode(),
                "application/json",
            )
            if closed.status != 200:
                self.run.problems[f"closing a conversation: HTTP {closed.status}"] += 1


async def run_load(run: Run) -> None:
    """Agents on, then the buyers as planned; stops by the deadline whatever happens."""
    agents = [Agent(run, username) for username in run.usernames]
    for agent in agents:
        await agent.connect()
    readers = [asyncio.create_task(agent.read()) for agent in agents]
    run.started = time.monotonic()
    buyers = [asyncio.create_task(_guarded(run, _buyer(run, a))) for a in run.arrivals]
    watcher = asyncio.create_task(_progress(run))
    try:
        remaining = run.deadline - time.monotonic()
        if buyers:
            _, late = await asyncio.wait(buyers, timeout=max(0.0, remaining))
            if late:
                run.problems["stopped at the time limit"] += 1
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
        # Answers still on their way: a moment to arrive (within the deadline).
        drain_until = min(run.deadline, time.monotonic() + max(5.0, 3 * run.target_ms / 1000))
        while time.monotonic() < drain_until:
            if not any(s.acked_at and not s.delivered_at for s in run.sent.values()):
                break
            await asyncio.sleep(0.1)
        replies = [task for agent in agents for task in agent.tasks]
        if replies:  # the last answers: a moment, not the whole drain
            await asyncio.wait(replies, timeout=min(5.0, max(0.0, run.deadline - time.monotonic())))
    finally:
        watcher.cancel()
        for agent in agents:
            for task in list(agent.tasks):
                task.cancel()
        for reader in [*readers, *run.background]:
            reader.cancel()
        for agent in agents:
            if agent.socket is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(agent.socket.close(), 5)


async def _guarded(run: Run, work: Any) -> None:
    try:
        await work
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        run.problems[f"buyer: {type(exc).__name__}: {exc}"[:160]] += 1


async def _progress(run: Run) -> None:
    every = max(1.0, min(10.0, run.slot / 3))
    while True:
        await asyncio.sleep(every)
        index = min(HOUR - 1, int(run.now() // run.slot))
        delivered = sum(1 for s in run.sent.values() if s.delivered_at)
        again = sum(n for k, n in run.refusals.items() if k.endswith("sent again"))
        refused = sum(1 for s in run.sent.values() if s.refused)
        run.say_progress(
            f"{run.now():6.1f} s · interval {index + 1}/{HOUR} "
            f"({run.hour[index].start:%H:%M}) · buyers {run.buyers_started}/"
            f"{len(run.arrivals)} · messages sent {len(run.sent)}, delivered {delivered}"
            + (f", refused for a moment {again}, refused {refused}" if run.refusals else "")
        )
