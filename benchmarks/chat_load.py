"""Live chat under load: N buyers and M agents over WebSocket against real `xiaoer serve`.

Buyers send at a set total rate over their sockets (``{"type": "send", …}``); every
agent is signed in and holds one ``/ws/workbench`` socket, as the real workbench does.
When an agent's socket shows a buyer message of a conversation routed to that agent,
the agent replies over that socket, as the workbench does while it is open (``--replies
http``: by ``POST /api/reception/conversations/{id}/messages``, as it does while not).
Measured: buyer messages delivered to their agent per second, buyer→agent delivery
latency (buyer's send until the agent's socket has the ``message.created`` frame),
lost and duplicated messages; the same for a bare relay (Starlette on the same Uvicorn,
no database, each frame forwarded to the one socket that needs it) in the same run, as
the reference, with the ratio. Clients run in several processes with uvloop; their CPU
use is printed so the reader can judge whether the load generator limited the run.

    python benchmarks/chat_load.py                          # the target run, PostgreSQL
    python benchmarks/chat_load.py --database sqlite
    python benchmarks/chat_load.py --quick                  # 200 buyers, 10 agents, 100/s, 10 s
    python benchmarks/chat_load.py --processes 2 --redis redis://127.0.0.1:6379/0
    python benchmarks/chat_load.py --json                   # last line: one JSON object
    python benchmarks/chat_load.py --search --duration 15   # the highest rate held

Only 127.0.0.1 is contacted. PostgreSQL: a fresh database ``xiaoer_bench_<random>`` on
``--pg-admin-url`` is created and dropped at the end; SQLite: a temporary file.

The figures. Sending is open-loop: buyer ``b`` of ``N`` sends every ``N / rate``
seconds, spread evenly, whether or not the server keeps up (a late send is sent late and
its lateness printed). messages/s = buyer messages that reached their agent's socket
inside the measured window, per second ("met" within 1 %, the window's edges). Latencies
are over the messages planned inside the window and not refused; one never delivered
counts as infinite, so p99 shows "—" when more than 1 % never arrived. lost = acked by
the server but never seen by the agent the conversation is routed to (after ``--drain``
s); duplicated = seen twice by that agent's socket, by two agents, or acked twice. A
workbench socket is sent the shop's events except other agents' messages: its sequence
numbers must only go up (a repeat or a step back is counted), and a socket silent for 5
s while the others went on is "stalled". New buyers pose as different addresses through
``X-Forwarded-For``, which xiaoer is told to trust from 127.0.0.1 (a reverse proxy's view),
because xiaoer allows 30 new chats a minute per address; xiaoer also allows a buyer a
set number of messages a minute (``message_limiter`` in ``reception/buyer_api.py``): the
output says so when the rate asks for more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing as mp
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from asyncio.subprocess import PIPE, STDOUT
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

try:  # the clients parse many frames: orjson when installed, else the standard module
    import orjson

    def loads(data: str | bytes) -> Any:
        return orjson.loads(data)

except ImportError:  # pragma: no cover

    def loads(data: str | bytes) -> Any:
        return json.loads(data)


SHOP = "bench"
PASSWORD = "bench-agent-password-2026"
SECRET_KEY = "chat-load-benchmark-secret-0123456789"
KEY_SPAN = 1_000_000  # message key = buyer index * KEY_SPAN + the buyer's message number
BUYER_TEXT = "你好，请问这款还有现货吗？什么时候能发货"
AGENT_TEXT = "亲，在的，有现货，今天下单明天发"
POLICY_TOML = """
[reception]
max_concurrent_conversations = 100
service_hours = "00:00-24:00"
"""
TARGET_P99_MS = 100.0
NS = 1_000_000_000


def now_ns() -> int:
    """CLOCK_MONOTONIC: one clock for every process of this machine."""
    return time.perf_counter_ns()


# ---------------------------------------------------------------------------------------
# A small HTTP/1.1 keep-alive client: the agents' replies must not cost the clients much.


class HttpConn:
    """One keep-alive connection; requests on it are sequential."""

    def __init__(self, host: str) -> None:
        self.host = host
        address, _, port = host.partition(":")
        self.address, self.port = address, int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.reader, self.writer = await asyncio.open_connection(self.address, self.port)
        return self.reader, self.writer

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Status and body. A connection the server closed while idle is reopened once."""
        for attempt in (0, 1):
            reused = self.writer is not None
            reader, writer = (self.reader, self.writer) if reused else await self._open()
            assert reader is not None and writer is not None
            head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
            head += [f"{k}: {v}" for k, v in (headers or {}).items()]
            head.append(f"Content-Length: {len(body)}")
            try:
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
                status_line = await reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed by the server")
                status = int(status_line.split()[1])
                length, close = -1, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value)
                    elif name == "connection" and "close" in value.lower():
                        close = True
                if length < 0:
                    raise RuntimeError(f"{method} {path}: response without Content-Length")
                data = await reader.readexactly(length)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if reused and attempt == 0:  # idle keep-alive timed out on the server
                    continue
                raise
            if close:
                self.close()
            return status, data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


# ---------------------------------------------------------------------------------------
# The reference: a bare relay with the same endpoints and frame shapes, no database.


def serve_relay(port: int, agents: int) -> None:
    """Buyer frames go to the buyer's agent only; agent replies to the buyer only."""
    import itertools

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    tokens = itertools.count(1)
    message_ids = itertools.count(1)

    class Outbox:
        """Like a follower of the product: a queue and one task pushing frames."""

        def __init__(self, websocket: WebSocket) -> None:
            self.websocket = websocket
            self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
            self.seq = 0
            self.task = asyncio.create_task(self._push())

        def put(self, kind: str, data: dict[str, Any]) -> None:
            self.queue.put_nowait((kind, data))

        async def _push(self) -> None:
            while True:
                kind, data = await self.queue.get()
                self.seq += 1
                frame = {"type": "event", "seq": self.seq, "kind": kind, "data": data}
                await self.websocket.send_json(frame)

    buyer_boxes: dict[int, Outbox] = {}
    agent_boxes: dict[int, Outbox] = {}

    async def session(request: Request) -> JSONResponse:
        return JSONResponse({"token": str(next(tokens)), "after": 0, "messages": []})

    def message(conversation: int, agent: int | None, sender: str, text: str) -> dict[str, Any]:
        return {
            "id": next(message_ids),
            "conversation_id": conversation,
            "sender": sender,
            "agent_name": "",
            "text": text,
            "created_at": "",
            "conversation": {"id": conversation, "agent_id": agent, "status": "active"},
        }

    async def buyer_socket(websocket: WebSocket) -> None:
        conversation = int(websocket.query_params["token"])
        agent = (conversation - 1) % agents + 1
        await websocket.accept()
        await websocket.send_json({"type": "hello", "after": 0})
        box = buyer_boxes[conversation] = Outbox(websocket)
        try:
            while True:
                frame = json.loads(await websocket.receive_text())
                data = message(conversation, agent, "buyer", frame["text"])
                ack = {"message_id": data["id"], "conversation_id": conversation}
                await websocket.send_json(
                    {"type": "ack", "client_id": frame["client_id"], **ack, "duplicate": False}
                )
                box.put("message.created", data)
                if agent in agent_boxes:
                    agent_boxes[agent].put("message.created", data)
        except WebSocketDisconnect:
            pass
        finally:
            box.task.cancel()

    async def workbench_socket(websocket: WebSocket) -> None:
        agent = int(websocket.query_params["agent"])
        await websocket.accept()
        await websocket.send_json({"type": "hello", "after": 0})
        box = agent_boxes[agent] = Outbox(websocket)
        try:
            while True:
                raw = await websocket.receive_text()
                if raw == "ping":
                    continue
                frame = json.loads(raw)  # a reply, as the workbench sends it
                conversation = int(frame["conversation_id"])
                data = message(conversation, None, "agent", frame["text"])
                await websocket.send_json(
                    {"type": "ack", "client_id": frame["client_id"], "message_ids": [data["id"]]}
                )
                if conversation in buyer_boxes:
                    buyer_boxes[conversation].put("message.created", data)
        except WebSocketDisconnect:
            pass
        finally:
            box.task.cancel()

    async def reply(request: Request) -> JSONResponse:
        conversation = int(request.path_params["cid"])
        body = json.loads(await request.body())
        data = message(conversation, None, "agent", body["text"])
        if conversation in buyer_boxes:
            buyer_boxes[conversation].put("message.created", data)
        return JSONResponse({"message_ids": [data["id"]], "duplicate": False})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route(f"/b/{SHOP}/session", session, methods=["POST"]),
            WebSocketRoute(f"/b/{SHOP}/ws", buyer_socket),
            WebSocketRoute("/ws/workbench", workbench_socket),
            Route("/api/reception/conversations/{cid:int}/messages", reply, methods=["POST"]),
        ]
    )
    # The same Uvicorn settings as `xiaoer serve` (log level info, so access lines too).
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


# ---------------------------------------------------------------------------------------
# The clients: each worker process holds a share of the buyers and agents.


@dataclass
class AgentSpec:
    staff_id: int
    host: str
    ws_path: str
    headers: dict[str, str]
    after: int


@dataclass
class WorkerSpec:
    index: int
    buyers: list[tuple[int, str]]  # (global buyer index, host)
    agents: list[AgentSpec]
    total_buyers: int
    rate: float
    warmup: float
    duration: float
    drain: float
    deflate: bool
    replies: str = "socket"  # how agents send: over their workbench socket, or by HTTP


@dataclass
class WorkerResult:
    # (key, planned, sent, ack_at, status, acks, reply_at, reply_sent); status below
    messages: list[tuple[int, int, int, int, int, int, int, int]] = field(default_factory=list)
    deliveries: list[tuple[int, int, int]] = field(default_factory=list)  # (key, at, agent)
    replies: list[tuple[int, int, int]] = field(default_factory=list)  # (start, end, status)
    errors: Counter[str] = field(default_factory=Counter)
    same_socket_repeats: int = 0
    frames: int = 0
    seq_repeats: int = 0
    closed_buyers: int = 0
    closed_agents: int = 0
    close_reasons: Counter[str] = field(default_factory=Counter)
    last_seqs: list[tuple[int, int]] = field(default_factory=list)  # workbench: (seq, at)
    unparsed: int = 0
    cpu: tuple[float, float] = (0.0, 0.0)
    buyers: int = 0
    agents: int = 0
    connect_failures: list[str] = field(default_factory=list)
    deflate: bool = False


NOT_ACKED, ACKED, ACKED_DUPLICATE, REFUSED = 0, 1, 2, 3


def _ws_connect(url: str, headers: dict[str, str], deflate: bool) -> Any:
    from websockets.asyncio.client import connect

    return connect(
        url,
        additional_headers=headers,
        compression="deflate" if deflate else None,
        proxy=None,
        ping_interval=None,  # browsers do not ping; a busy server must not be cut off
        open_timeout=120,
        close_timeout=2,
        max_queue=256,
    )


def _close_reason(ws: Any) -> str:
    code, reason = getattr(ws, "close_code", None), getattr(ws, "close_reason", None)
    return f"closed {code} {reason or ''}".strip()


class Buyer:
    def __init__(self, index: int, host: str, spec: WorkerSpec) -> None:
        self.index, self.host, self.spec = index, host, spec
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.count = 0
        self.planned: list[int] = []
        self.sent: list[int] = []
        self.ack_at: list[int] = []
        self.status: list[int] = []
        self.acks: list[int] = []
        self.reply_at: list[int] = []
        self.reply_sent: list[int] = []
        self.errors: Counter[str] = Counter()
        self.closed = False
        self.stopping = False
        self.closed_early = False
        self.close_reason = ""

    async def connect(self, http: HttpConn) -> None:
        # Buyers come from many addresses through the reverse proxy Uvicorn trusts on
        # 127.0.0.1; the product's limit of 30 new chats a minute is per address.
        address = f"10.{self.index >> 16 & 255}.{self.index >> 8 & 255}.{self.index & 255}"
        status, body = await http.request(
            "POST",
            f"/b/{SHOP}/session",
            b"{}",
            {"Content-Type": "application/json", "X-Forwarded-For": address},
        )
        if status != 200:
            raise RuntimeError(f"buyer session: HTTP {status}: {body[:200]!r}")
        opened = loads(body)
        url = f"ws://{self.host}/b/{SHOP}/ws?token={opened['token']}&after={opened['after']}"
        self.ws = await _ws_connect(url, {}, self.spec.deflate)
        hello = loads(await self.ws.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"buyer socket: expected hello, got {hello}")
        self.reader = asyncio.create_task(self._read())

    def plan(self, t0: int) -> None:
        period = self.spec.total_buyers / self.spec.rate * NS
        offset = self.index / self.spec.rate * NS
        until = t0 + (self.spec.warmup + self.spec.duration) * NS
        self.planned = []
        n = 0
        while t0 + offset + n * period < until:
            self.planned.append(int(t0 + offset + n * period))
            n += 1
        self.count = n
        self.sent = [0] * n
        self.ack_at = [0] * n
        self.status = [NOT_ACKED] * n
        self.acks = [0] * n
        self.reply_at = [0] * n
        self.reply_sent = [0] * n

    async def send_all(self) -> None:
        for n, planned in enumerate(self.planned):
            delay = (planned - now_ns()) / NS
            if delay > 0:
                await asyncio.sleep(delay)
            if self.closed:
                return
            key = self.index * KEY_SPAN + n
            sent = now_ns()
            self.sent[n] = sent
            frame = {"type": "send", "client_id": f"k{key}", "text": f"b{key} t{sent} {BUYER_TEXT}"}
            try:
                await self.ws.send(json.dumps(frame, ensure_ascii=False))
            except Exception:
                self.closed = True
                return

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                at = now_ns()
                frame = loads(raw)
                kind = frame.get("type")
                if kind == "ack":
                    n = int(frame["client_id"][1:]) % KEY_SPAN
                    self.acks[n] += 1
                    if self.status[n] == NOT_ACKED:
                        self.ack_at[n] = at
                        self.status[n] = ACKED_DUPLICATE if frame.get("duplicate") else ACKED
                elif kind == "error":
                    self.errors[str(frame.get("message"))] += 1
                    client_id = frame.get("client_id")
                    if client_id:
                        n = int(client_id[1:]) % KEY_SPAN
                        self.status[n] = REFUSED
                        self.ack_at[n] = at
                elif kind == "event" and frame.get("kind") == "message.created":
                    data = frame["data"]
                    if data.get("sender") == "agent" and data["text"].startswith("re b"):
                        key_text, sent_text = data["text"].split(" ", 3)[1:3]
                        n = int(key_text[1:]) % KEY_SPAN
                        if not self.reply_at[n]:
                            self.reply_at[n] = at
                            self.reply_sent[n] = int(sent_text[1:])
        except Exception:
            pass
        finally:
            self.closed = True
            self.closed_early = not self.stopping
            self.close_reason = _close_reason(self.ws)

    def done(self) -> bool:
        for n in range(self.count):
            if not self.sent[n]:
                continue
            if self.status[n] == NOT_ACKED:
                return False
            if self.status[n] == ACKED and not self.reply_at[n]:
                return False
        return True


class Agent:
    def __init__(self, spec: AgentSpec, worker: WorkerSpec, result: WorkerResult) -> None:
        self.spec, self.worker, self.result = spec, worker, result
        self.me = spec.staff_id
        self.mine = b'"agent_id":%d,' % self.me
        self.ws: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.assigned: dict[int, int] = {}
        self.pending: dict[int, list[tuple[int, int]]] = {}
        self.seen: set[int] = set()
        self.last_seq = spec.after
        self.last_at = 0
        self.idle: list[HttpConn] = []
        self.slots = asyncio.Semaphore(4)  # at most 4 replies of one agent in flight
        self.tasks: set[asyncio.Task[None]] = set()
        self.answers: dict[str, asyncio.Future[int]] = {}  # client id → the reply's status
        self.stopping = False

    async def connect(self) -> None:
        url = f"ws://{self.spec.host}{self.spec.ws_path}"
        self.ws = await _ws_connect(url, self.spec.headers, self.worker.deflate)
        hello = loads(await self.ws.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"workbench socket: expected hello, got {hello}")
        self.last_at = now_ns()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        result = self.result
        try:
            while True:
                raw: bytes = await self.ws.recv(decode=False)
                self._frame(raw, now_ns())
        except Exception:
            if not self.stopping:
                result.closed_agents += 1
                result.close_reasons[f"workbench: {_close_reason(self.ws)}"] += 1

    def _frame(self, raw: bytes, at: int) -> None:
        """Every frame is counted and its sequence checked; few are parsed in full."""
        result = self.result
        result.frames += 1
        self.last_at = at
        if raw.startswith(b'{"type":"event","seq":'):
            seq = int(raw[22 : raw.index(b",", 22)])
            if seq <= self.last_seq:
                result.seq_repeats += 1
            else:
                self.last_seq = seq
        if raw.startswith((b'{"type":"ack"', b'{"type":"error"')):
            answer = loads(raw)
            waiting = self.answers.get(str(answer.get("client_id")))
            if waiting is not None and not waiting.done():
                waiting.set_result(200 if answer["type"] == "ack" else int(answer.get("status", 0)))
            return
        if b'"kind":"message.created"' in raw:
            if b'"sender":"buyer"' in raw and (self.mine in raw or b'"agent_id":null' in raw):
                self._buyer_message(loads(raw)["data"], at)
        elif b'"kind":"conversation.assigned"' in raw:
            data = loads(raw)["data"]
            conversation, agent = int(data["conversation_id"]), int(data["agent_id"])
            self.assigned[conversation] = agent
            for key, when in self.pending.pop(conversation, ()):
                if agent == self.me:
                    self._mine(conversation, key, when)

    def _buyer_message(self, data: dict[str, Any], at: int) -> None:
        text = data["text"]
        if not text.startswith("b"):
            self.result.unparsed += 1
            return
        key = int(text[1 : text.index(" ")])
        conversation = int(data["conversation_id"])
        agent = data["conversation"].get("agent_id") or self.assigned.get(conversation)
        if agent is None:  # routed in the same transaction: conversation.assigned follows
            self.pending.setdefault(conversation, []).append((key, at))
        elif agent == self.me:
            self._mine(conversation, key, at)

    def _mine(self, conversation: int, key: int, at: int) -> None:
        if key in self.seen:
            self.result.same_socket_repeats += 1
            return
        self.seen.add(key)
        self.result.deliveries.append((key, at, self.me))
        task = asyncio.create_task(self._reply(conversation, key))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, conversation: int, key: int) -> None:
        if self.worker.replies == "socket":
            await self._reply_over_socket(conversation, key)
            return
        async with self.slots:
            http = self.idle.pop() if self.idle else HttpConn(self.spec.host)
            start = now_ns()
            body = {"text": f"re b{key} t{start} {AGENT_TEXT}", "client_id": f"r{key}"}
            headers = {"Content-Type": "application/json", **self.spec.headers}
            try:
                status, _ = await http.request(
                    "POST",
                    f"/api/reception/conversations/{conversation}/messages",
                    json.dumps(body, ensure_ascii=False).encode(),
                    headers,
                )
            except Exception:
                status = 0
                http.close()
            self.result.replies.append((start, now_ns(), status))
            self.idle.append(http)

    async def _reply_over_socket(self, conversation: int, key: int) -> None:
        """As the workbench sends a reply when its socket is open: a frame, then the ack."""
        start = now_ns()
        client_id = f"r{key}"
        answer: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.answers[client_id] = answer
        frame = {
            "type": "send",
            "conversation_id": conversation,
            "text": f"re b{key} t{start} {AGENT_TEXT}",
            "client_id": client_id,
        }
        try:
            await self.ws.send(json.dumps(frame, ensure_ascii=False))
            status = await asyncio.wait_for(answer, 30)
        except Exception:
            status = 0
        finally:
            self.answers.pop(client_id, None)
        self.result.replies.append((start, now_ns(), status))

    def busy(self) -> bool:
        return bool(self.tasks)


async def _gather_limited(jobs: Iterable[Callable[[], Awaitable[None]]], limit: int) -> list[str]:
    """Run the jobs, ``limit`` at a time; the errors, as text."""
    slots = asyncio.Semaphore(limit)
    errors: list[str] = []

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with slots:
            try:
                await job()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(job) for job in jobs))
    return errors


async def _receive(conn: Connection, within: float) -> Any:
    """The next message on a pipe, without blocking the event loop."""
    deadline = time.monotonic() + within
    while not conn.poll():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no message within {within:.0f} s")
        await asyncio.sleep(0.02)
    try:
        return conn.recv()
    except EOFError:
        raise RuntimeError("a client process exited without a word") from None


async def _worker(conn: Connection, spec: WorkerSpec) -> None:
    result = WorkerResult(deflate=spec.deflate)
    agents = [Agent(a, spec, result) for a in spec.agents]
    result.connect_failures += await _gather_limited((a.connect for a in agents), 10)
    result.agents = sum(1 for a in agents if a.ws is not None)
    conn.send(("agents", result.agents))
    await _receive(conn, 600)
    buyers = [Buyer(index, host, spec) for index, host in spec.buyers]
    https: dict[str, list[HttpConn]] = {}

    def opener(buyer: Buyer) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            pool = https.setdefault(buyer.host, [])
            http = pool.pop() if pool else HttpConn(buyer.host)
            try:
                await buyer.connect(http)
            finally:
                pool.append(http)

        return job

    result.connect_failures += await _gather_limited((opener(b) for b in buyers), 25)
    for pool in https.values():
        for http in pool:
            http.close()
    buyers = [b for b in buyers if b.ws is not None]
    result.buyers = len(buyers)
    conn.send(("buyers", result.buyers))
    _, t0 = await _receive(conn, 600)
    window = (t0 + spec.warmup * NS, t0 + (spec.warmup + spec.duration) * NS)

    async def measure_cpu() -> None:
        await asyncio.sleep(max(0.0, (window[0] - now_ns()) / NS))
        start = time.process_time()
        await asyncio.sleep(max(0.0, (window[1] - now_ns()) / NS))
        result.cpu = (start, time.process_time())

    cpu_task = asyncio.create_task(measure_cpu())
    for buyer in buyers:
        buyer.plan(t0)
    await asyncio.gather(*(b.send_all() for b in buyers))
    await cpu_task
    deadline = window[1] + spec.drain * NS
    while now_ns() < deadline:
        if all(b.done() or b.closed for b in buyers) and not any(a.busy() for a in agents):
            break
        await asyncio.sleep(0.1)
    conn.send(("drained", None))
    await _receive(conn, 600)
    for buyer in buyers:
        for n in range(buyer.count):
            result.messages.append(
                (
                    buyer.index * KEY_SPAN + n,
                    buyer.planned[n],
                    buyer.sent[n],
                    buyer.ack_at[n],
                    buyer.status[n],
                    buyer.acks[n],
                    buyer.reply_at[n],
                    buyer.reply_sent[n],
                )
            )
        result.errors.update(buyer.errors)
        if buyer.closed_early:
            result.closed_buyers += 1
            result.close_reasons[f"buyer: {buyer.close_reason}"] += 1
        buyer.stopping = True
    for agent in agents:
        agent.stopping = True
        result.last_seqs.append((agent.last_seq, agent.last_at))
    closing = [b.ws.close() for b in buyers] + [a.ws.close() for a in agents if a.ws is not None]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 20)
    for agent in agents:
        for http in agent.idle:
            http.close()
    conn.send(("result", result))


def worker_main(conn: Connection, spec: WorkerSpec) -> None:
    """Entry point of a client process."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    try:
        asyncio.run(_worker(conn, spec))
    except KeyboardInterrupt:
        pass
    except BaseException:
        with contextlib.suppress(Exception):
            conn.send(("error", traceback.format_exc()))


# ---------------------------------------------------------------------------------------
# CPU accounting from /proc: the servers, PostgreSQL, the machine.

TICK = os.sysconf("SC_CLK_TCK")


def cpu_snapshot() -> dict[int, tuple[str, float]]:
    """(name, CPU seconds used so far) of every process on this machine."""
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        found[int(entry.name)] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def machine_cpu() -> list[float]:
    """CPU seconds of the machine since boot: user nice system idle iowait irq softirq steal."""
    values = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    return [int(v) / TICK for v in values]


def cpu_breakdown(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    roles: dict[int, str],
    m0: list[float],
    m1: list[float],
    seconds: float,
) -> dict[str, Any]:
    """Percent of one core used in the window, by role; what is left is "other"."""
    used: dict[str, float] = {}
    for pid, (name, cpu) in after.items():
        role = roles.get(pid) or {"postgres": "postgres", "redis-server": "redis"}.get(name, "")
        if not role:
            role = f"other:{name}"
        used[role] = used.get(role, 0.0) + cpu - before.get(pid, (name, 0.0))[1]
    delta = [b - a for a, b in zip(m0, m1, strict=True)]
    total = sum(delta)
    busy = total - delta[3] - delta[4]
    out: dict[str, Any] = {
        k: round(v / seconds * 100, 1) for k, v in used.items() if not k.startswith("other:")
    }
    others = sorted(((v, k) for k, v in used.items() if k.startswith("other:")), reverse=True)
    out["other processes"] = round(sum(v for v, _ in others) / seconds * 100, 1)
    out["kernel irq/softirq"] = round((delta[5] + delta[6]) / seconds * 100, 1)
    out["steal"] = round(delta[7] / seconds * 100, 1)
    # Busy time no process still alive at the end accounts for: processes that came and went.
    accounted = sum(used.values()) + delta[5] + delta[6] + delta[7]
    out["unattributed"] = round(max(0.0, busy - accounted) / seconds * 100, 1)
    out["machine busy % of all cores"] = round(busy / total * 100, 1) if total else 0.0
    out["top others"] = ", ".join(f"{k[6:]} {v / seconds * 100:.0f}" for v, k in others[:3])
    return out


# ---------------------------------------------------------------------------------------
# Setting up: database, shop, agents, servers.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(database_url: str, redis_url: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "XIAOER_DATABASE_URL": database_url,
        "XIAOER_SECRET_KEY": SECRET_KEY,
        "XIAOER_RUN_TIMERS": "false",
    }
    env.pop("XIAOER_REDIS_URL", None)
    # The clients pose as many addresses through X-Forwarded-For, as a proxy would.
    env["XIAOER_TRUSTED_PROXIES"] = "127.0.0.1"
    if redis_url:
        env["XIAOER_REDIS_URL"] = redis_url
    return env


async def create_pg_database(admin_url: str) -> str:
    import asyncpg  # type: ignore[import-untyped]

    name = f"xiaoer_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_pg_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def pg_url(admin_url: str, name: str) -> str:
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{name}"


async def seed(database_url: str, agents: int) -> list[str]:
    """The shop "bench", its policy, a welcome reply only, and agents online; usernames."""
    from xiaoer.core.clock import utcnow
    from xiaoer.core.db import Database
    from xiaoer.core.policy import parse_policy
    from xiaoer.core.policy_store import do_apply_policy
    from xiaoer.reception.models import AutoReply, AutoReplyKind
    from xiaoer.reception.service import do_set_presence
    from xiaoer.shops.service import do_create_shop
    from xiaoer.staff.service import do_add_staff

    db = Database(database_url)
    usernames = [f"bench{j:03d}" for j in range(agents)]
    try:
        async with db.session() as session:
            shop = await do_create_shop(session, code=SHOP, name="压测小铺")
            await do_apply_policy(
                session,
                shop_id=shop.id,
                policy=parse_policy(POLICY_TOML, "chat_load"),
                source=POLICY_TOML,
                effective_from=utcnow().date() - timedelta(days=1),
                actor="bench",
            )
            # One reply set of the shop's own: a welcome, no keyword rules.
            session.add(
                AutoReply(
                    shop_id=shop.id,
                    kind=AutoReplyKind.welcome.value,
                    keywords=[],
                    text="亲，欢迎光临{shop}！我是客服{agent}，有什么可以帮您？",
                    active=True,
                )
            )
            accounts = [
                await do_add_staff(
                    session,
                    shop_id=shop.id,
                    username=username,
                    number=f"B{j:03d}",
                    name=f"客服{j:03d}",
                    password=PASSWORD,
                    team="presale",
                    roles=["agent"],
                    actor="bench",
                )
                for j, username in enumerate(usernames)
            ]
            await session.commit()
            for account in accounts:
                await do_set_presence(session, agent=account, status="online")
            await session.commit()
    finally:
        await db.dispose()
    return usernames


async def wait_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(trust_env=False) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{base}/healthz", timeout=1)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"server did not answer within 60 s: {_tail(log)}")


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(host: str, username: str) -> AgentSpec:
    """Sign in like the browser: the form's CSRF token, the session cookie, the state."""
    import httpx

    async with httpx.AsyncClient(base_url=f"http://{host}", trust_env=False, timeout=60) as http:
        page = await http.get("/login")
        token = _CSRF.search(page.text)
        assert token, "the sign-in page has no CSRF field"
        form = {"username": username, "password": PASSWORD, "csrf_token": token.group(1)}
        signed = await http.post("/login", data=form)
        if signed.status_code != 303:
            raise RuntimeError(f"sign-in of {username}: HTTP {signed.status_code}")
        home = await http.get("/", follow_redirects=True)
        csrf = _CSRF.search(home.text)
        assert csrf, "the home page has no CSRF field"
        state = (await http.get("/api/reception/state")).json()
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    return AgentSpec(
        staff_id=int(state["me"]["id"]),
        host=host,
        ws_path=f"/ws/workbench?after={state['after']}",
        headers={"Cookie": cookie, "X-CSRF-Token": csrf.group(1)},
        after=int(state["after"]),
    )


class Servers:
    """Processes this run started; all are ended on the way out."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.processes: list[subprocess.Popen[bytes]] = []

    async def start(self, command: list[str], env: dict[str, str], name: str) -> tuple[int, str]:
        port = free_port()
        log = self.folder / f"{name}-{port}.log"
        process = self._spawn([*command, str(port)], env, log)
        await wait_healthy(process, f"http://127.0.0.1:{port}", log)
        return process.pid, f"127.0.0.1:{port}"

    def _spawn(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self.processes.clear()


# ---------------------------------------------------------------------------------------
# One load run against a set of servers, and its figures.


@dataclass
class Options:
    database: str
    buyers: int
    agents: int
    rate: float
    duration: float
    warmup: float
    drain: float
    processes: int
    clients: int
    redis: str | None
    deflate: bool
    pg_admin_url: str
    py_spy: str | None
    py_spy_format: str
    logs: str | None
    json: bool
    search: bool = False
    search_from: float = 50.0
    replies: str = "socket"


@dataclass
class Load:
    """What one run measured, merged from every client process."""

    results: list[WorkerResult]
    t0: int
    options: Options
    cpu: dict[str, Any]  # percent of one core in the window, by role
    pg_stats: dict[str, float]
    pg_activity: Counter[str]
    pg_tables: dict[str, str] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        o = self.options
        w0 = self.t0 + int(o.warmup * NS)
        w1 = w0 + int(o.duration * NS)
        delivered: dict[int, int] = {}
        agents_of: dict[int, set[int]] = {}
        for result in self.results:
            for key, at, agent in result.deliveries:
                delivered[key] = min(at, delivered.get(key, at))
                agents_of.setdefault(key, set()).add(agent)
        latencies: list[float] = []
        acks: list[float] = []
        replies: list[float] = []
        lags: list[float] = []
        status_count: Counter[int] = Counter()
        lost = unanswered = twice_acked = 0
        in_window = sum(1 for at in delivered.values() if w0 <= at < w1)
        sent = 0
        for result in self.results:
            for (
                key,
                planned,
                sent_at,
                ack_at,
                status,
                n_acks,
                reply_at,
                reply_sent,
            ) in result.messages:
                if not sent_at:
                    continue
                sent += 1
                twice_acked += max(0, n_acks - 1) if status == ACKED else 0
                if status in (ACKED, ACKED_DUPLICATE) and key not in delivered:
                    lost += 1
                if status == ACKED and key in delivered and not reply_at:
                    unanswered += 1
                if not (w0 <= planned < w1):
                    continue
                lags.append(sent_at - planned)
                status_count[status] += 1
                if status == REFUSED:
                    continue
                at = delivered.get(key, 0)
                latencies.append(at - sent_at if at else math.inf)
                acks.append(ack_at - sent_at if ack_at else math.inf)
                if reply_at:
                    replies.append(reply_at - reply_sent)
        posts = [
            end - start for r in self.results for start, end, _ in r.replies if w0 <= start < w1
        ]
        post_status: Counter[int] = Counter(s for r in self.results for _, _, s in r.replies)
        errors: Counter[str] = Counter()
        for result in self.results:
            errors.update(result.errors)
        repeats = sum(r.same_socket_repeats for r in self.results)
        by_two = sum(1 for agents in agents_of.values() if len(agents) > 1)
        cpu = [(r.cpu[1] - r.cpu[0]) / o.duration * 100 for r in self.results]
        frames = sum(r.frames for r in self.results)
        # A workbench socket silent for 5 s while another socket still got frames is
        # stalled: at these rates every agent's socket gets several frames a second.
        ends = [at for r in self.results for _, at in r.last_seqs] or [0]
        latest = max(ends)
        stalled = [latest - at for at in ends if at < latest - 5 * NS]
        return {
            "buyers_connected": sum(r.buyers for r in self.results),
            "agents_connected": sum(r.agents for r in self.results),
            "connect_failures": sum(len(r.connect_failures) for r in self.results),
            "connect_errors": sorted({e for r in self.results for e in r.connect_failures})[:3],
            "messages_sent": sent,
            "not_sent": sum(1 for r in self.results for m in r.messages if not m[2]),
            "send_lag_p99_ms": _ms(_percentile(lags, 99)),
            "messages_per_s": round(in_window / o.duration, 1),
            "p50_ms": _ms(_percentile(latencies, 50)),
            "p99_ms": _ms(_percentile(latencies, 99)),
            "max_ms": _ms(max(latencies, default=0)),
            "measured_messages": len(latencies),
            "undelivered_in_window": sum(1 for x in latencies if x == math.inf),
            "lost": lost,
            "duplicated": repeats + by_two + twice_acked,
            "refused": sum(errors.values()),
            "refused_in_window": status_count[REFUSED],
            "refusals": dict(errors.most_common(3)),
            "never_acked": status_count[NOT_ACKED],
            "ack_p50_ms": _ms(_percentile(acks, 50)),
            "ack_p99_ms": _ms(_percentile(acks, 99)),
            "reply_post_p50_ms": _ms(_percentile(posts, 50)),
            "reply_post_p99_ms": _ms(_percentile(posts, 99)),
            "reply_posts_failed": sum(n for s, n in post_status.items() if s != 200),
            "reply_post_statuses": {str(s): n for s, n in sorted(post_status.items())},
            "reply_to_buyer_p50_ms": _ms(_percentile(replies, 50)),
            "reply_to_buyer_p99_ms": _ms(_percentile(replies, 99)),
            "unanswered": unanswered,
            "workbench_frames_per_s": round(frames / (o.warmup + o.duration), 0),
            "workbench_seq_repeats": sum(r.seq_repeats for r in self.results),
            "buyer_sockets_closed": sum(r.closed_buyers for r in self.results),
            "workbench_sockets_closed": sum(r.closed_agents for r in self.results),
            "close_reasons": dict(
                sum((r.close_reasons for r in self.results), Counter()).most_common(3)
            ),
            "workbench_sockets_stalled": len(stalled),
            "workbench_stalled_for_s": round(sum(stalled) / len(stalled) / NS, 1)
            if stalled
            else None,
            "client_cpu_percent": [round(c) for c in cpu],
            "server_cpu_percent": round(self.cpu.get("server", 0)),
            "postgres_cpu_percent": round(self.cpu.get("postgres", 0)),
            "machine_busy_percent": round(self.cpu["machine busy % of all cores"]),
            "cpu_breakdown": self.cpu,
            **{f"pg_{k}": v for k, v in self.pg_stats.items()},
            "pg_sessions": dict(self.pg_activity.most_common()),
            "pg_tables": self.pg_tables,
        }


def _percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)])


def _ms(ns: float) -> float | None:
    if math.isnan(ns) or math.isinf(ns):
        return None
    return round(ns / 1e6, 1)


class PgWatch:
    """Samples pg_stat_activity of the bench database and counts its transactions."""

    COUNTERS = ("xact_commit", "xact_rollback", "tup_inserted", "tup_updated", "tup_fetched")

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url, self.name = admin_url, name
        self.samples: Counter[str] = Counter()
        self.n = 0
        self.first: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self.tables0: dict[str, tuple[int, int]] = {}
        self.tables1: dict[str, tuple[int, int]] = {}

    async def _tables(self) -> dict[str, tuple[int, int]]:
        """Rows read per table so far: (by sequential scans, through indexes)."""
        import asyncpg

        conn = await asyncpg.connect(pg_url(self.admin_url, self.name))
        try:
            rows = await conn.fetch(
                "SELECT relname, coalesce(seq_tup_read, 0), 0 FROM pg_stat_user_tables "
                "UNION ALL SELECT relname || '.' || indexrelname, 0, idx_tup_read "
                "FROM pg_stat_user_indexes"
            )
        finally:
            await conn.close()
        return {name: (int(seq), int(idx)) for name, seq, idx in rows}

    async def _counters(self, conn: Any) -> dict[str, int]:
        row = await conn.fetchrow(
            f"SELECT {', '.join(self.COUNTERS)} FROM pg_stat_database WHERE datname = $1",
            self.name,
        )
        return {k: int(row[k]) for k in self.COUNTERS}

    async def run(self, start: int, end: int) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            await asyncio.sleep(max(0.0, (start - now_ns()) / NS))
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            self.first = await self._counters(conn)
            self.tables0 = await self._tables()
            while now_ns() < end:
                rows = await conn.fetch(
                    "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.name,
                )
                self.n += 1
                for state, wait_type, wait in rows:
                    label = state or "?"
                    if state == "active" and wait_type:
                        label = f"active, waiting {wait_type}:{wait}"
                    self.samples[label] += 1
                await asyncio.sleep(0.25)
            await conn.execute("SELECT pg_stat_clear_snapshot()")
            self.last = await self._counters(conn)
            self.tables1 = await self._tables()
        finally:
            await conn.close()

    def stats(self, delivered: int, seconds: float) -> dict[str, float]:
        if not self.first or not self.last:
            return {}
        out: dict[str, float] = {
            f"{k}_per_s": round((self.last[k] - self.first[k]) / seconds) for k in self.COUNTERS
        }
        if delivered:
            out |= {
                f"{k}_per_message": round((self.last[k] - self.first[k]) / delivered, 1)
                for k in self.COUNTERS
            }
        return out

    def table_reads(self, delivered: int) -> dict[str, str]:
        """The tables (by scans) and indexes read most per delivered buyer message."""
        if not delivered:
            return {}
        reads = []
        for name, (seq1, idx1) in self.tables1.items():
            seq0, idx0 = self.tables0.get(name, (0, 0))
            seq, idx = (seq1 - seq0) / delivered, (idx1 - idx0) / delivered
            if seq + idx >= 0.5:
                reads.append((seq + idx, name, seq, idx))
        reads.sort(reverse=True)
        return {
            name: (f"{seq:.1f} by scans" if seq else f"{idx:.1f} through the index")
            for _, name, seq, idx in reads[:8]
        }

    def activity(self) -> Counter[str]:
        """Average number of backends in each state."""
        return Counter({k: round(v / max(1, self.n), 1) for k, v in self.samples.items()})


async def run_load(
    hosts: list[str],
    agent_specs: list[AgentSpec],
    options: Options,
    server_pids: list[int],
    pg: PgWatch | None = None,
    spy_folder: str | None = None,
    label: str = "",
) -> Load:
    """Spread buyers and agents over the client processes, run, merge."""
    ctx = mp.get_context("spawn")
    k = options.clients
    specs = [
        WorkerSpec(
            index=i,
            buyers=[(g, hosts[g % len(hosts)]) for g in range(i, options.buyers, k)],
            agents=agent_specs[i::k],
            total_buyers=options.buyers,
            rate=options.rate,
            warmup=options.warmup,
            duration=options.duration,
            drain=options.drain,
            deflate=options.deflate,
            replies=options.replies,
        )
        for i in range(k)
    ]
    pipes: list[Connection] = []
    workers: list[Any] = []
    spies: list[subprocess.Popen[bytes]] = []
    try:
        for spec in specs:
            ours, theirs = ctx.Pipe()
            process = ctx.Process(target=worker_main, args=(theirs, spec), daemon=True)
            process.start()
            pipes.append(ours)
            workers.append(process)

        async def every(expected: str, within: float) -> list[Any]:
            answers = []
            for pipe in pipes:
                message = await _receive(pipe, within)
                if message[0] == "error":
                    raise RuntimeError(f"client process failed:\n{message[1]}")
                if message[0] != expected:
                    raise RuntimeError(f"client process said {message[0]!r}, not {expected!r}")
                answers.append(message[1])
            return answers

        roles = {pid: "server" for pid in server_pids}
        roles.update({process.pid: "clients" for process in workers})
        roles[os.getpid()] = "orchestrator"
        started = time.monotonic()
        await every("agents", 600)
        for pipe in pipes:
            pipe.send(("buyers",))
        await every("buyers", 900)
        _say(f"{label}: clients connected in {time.monotonic() - started:.1f} s; running")
        t0 = now_ns() + NS
        for pipe in pipes:
            pipe.send(("start", t0))
        w0, w1 = t0 + int(options.warmup * NS), t0 + int((options.warmup + options.duration) * NS)
        watch = asyncio.create_task(pg.run(w0, w1)) if pg else None
        await asyncio.sleep((w0 - now_ns()) / NS)
        cpu0, m0 = cpu_snapshot(), machine_cpu()
        if spy_folder:
            spies = _start_py_spy(server_pids, options.duration, spy_folder, options.py_spy_format)
        await asyncio.sleep((w1 - now_ns()) / NS)
        cpu1, m1 = cpu_snapshot(), machine_cpu()
        if watch:
            await watch
        await every("drained", options.drain + 120)
        for pipe in pipes:
            pipe.send(("stop",))
        results: list[WorkerResult] = await every("result", 120)
        for process in workers:
            process.join(timeout=10)
    finally:
        for process in workers:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        for spy in spies:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(timeout=30)
            if spy.poll() is None:
                spy.terminate()
    load = Load(
        results=results,
        t0=t0,
        options=options,
        cpu=cpu_breakdown(cpu0, cpu1, roles, m0, m1, options.duration),
        pg_stats={},
        pg_activity=Counter(),
    )
    if pg:
        delivered = sum(1 for r in results for _, at, _ in r.deliveries if w0 <= at < w1)
        load.pg_stats = pg.stats(delivered, options.duration)
        load.pg_activity = pg.activity()
        load.pg_tables = pg.table_reads(delivered)
    return load


def _start_py_spy(
    pids: list[int], duration: float, folder: str, fmt: str
) -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy")
    if spy is None:
        _say("py-spy is not installed; no profile (pip install py-spy)")
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    spies = []
    for pid in pids:
        out = Path(folder) / f"serve-{pid}.{'svg' if fmt == 'flamegraph' else 'txt'}"
        # --gil: only samples where Python holds the lock, i.e. its CPU, not its waits
        command = [spy, "record", "--nonblocking", "--gil", "-f", fmt, "-d", str(int(duration))]
        command += ["-o", str(out)]
        spies.append(
            subprocess.Popen(
                [*command, "--pid", str(pid)],
                stdout=subprocess.DEVNULL,
                stderr=(Path(folder) / f"py-spy-{pid}.log").open("wb"),
            )
        )
        _say(f"py-spy recording server {pid} to {out}")
    return spies


# ---------------------------------------------------------------------------------------
# The two runs, the report.


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def run_reference(options: Options, servers: Servers) -> Load:
    pid, host = await servers.start(
        [sys.executable, __file__, "--relay-agents", str(options.agents), "--relay-port"],
        dict(os.environ),
        "relay",
    )
    agents = [
        AgentSpec(
            staff_id=j + 1,
            host=host,
            ws_path=f"/ws/workbench?agent={j + 1}&after=0",
            headers={},
            after=0,
        )
        for j in range(options.agents)
    ]
    try:
        return await run_load([host], agents, options, [pid], label="bare relay")
    finally:
        servers.stop()


async def run_xiaoer(
    options: Options, servers: Servers, folder: Path
) -> tuple[Load, dict[str, float]]:
    timings: dict[str, float] = {}
    started = time.monotonic()
    pg_name = None
    if options.database == "postgresql":
        pg_name = await create_pg_database(options.pg_admin_url)
        database_url = pg_url(options.pg_admin_url, pg_name)
    else:
        database_url = f"sqlite:///{folder / 'chat_load.sqlite'}"
    try:
        env = _server_env(database_url, options.redis)
        migrate = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "xiaoer", "migrate", env=env, stdout=PIPE, stderr=STDOUT
        )
        output, _ = await migrate.communicate()
        if migrate.returncode != 0:
            raise RuntimeError(f"xiaoer migrate failed: {output.decode(errors='replace')}")
        timings["migrate_s"] = time.monotonic() - started
        started = time.monotonic()
        usernames = await seed(database_url, options.agents)
        timings["seed_s"] = time.monotonic() - started
        started = time.monotonic()
        command = [sys.executable, "-m", "xiaoer", "serve", "--host", "127.0.0.1", "--port"]
        started_servers = [
            await servers.start(command, env, f"serve{i}") for i in range(options.processes)
        ]
        pids = [pid for pid, _ in started_servers]
        hosts = [host for _, host in started_servers]
        _say(f"xiaoer serve: pids {', '.join(map(str, pids))} on {', '.join(hosts)}")
        slots = asyncio.Semaphore(8)

        async def one(j: int, username: str) -> AgentSpec:
            async with slots:
                return await sign_in(hosts[j % len(hosts)], username)

        agents = list(await asyncio.gather(*(one(j, u) for j, u in enumerate(usernames))))
        timings["sign_in_s"] = time.monotonic() - started
        pg = PgWatch(options.pg_admin_url, pg_name) if pg_name else None
        try:
            load = await run_load(hosts, agents, options, pids, pg, options.py_spy, label="xiaoer")
        finally:
            servers.stop()
        return load, timings
    finally:
        if pg_name:
            await drop_pg_database(options.pg_admin_url, pg_name)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return "/".join(str(v) for v in value)
    return str(value)


def report(
    options: Options, xiaoer: dict[str, Any], echo: dict[str, Any], setup: dict[str, float]
) -> dict[str, Any]:
    ratio = (
        round(xiaoer["messages_per_s"] / echo["messages_per_s"], 3)
        if echo["messages_per_s"]
        else None
    )

    def p99_ok(value: Any) -> bool:
        return value is not None and value < TARGET_P99_MS

    targets: list[tuple[str, str, str, str | None]] = [
        # (label, key, target text, met?)
        (
            "buyers connected",
            "buyers_connected",
            f"{options.buyers:,}",
            _met(xiaoer["buyers_connected"] >= options.buyers),
        ),
        (
            "agents connected",
            "agents_connected",
            f"{options.agents:,}",
            _met(xiaoer["agents_connected"] >= options.agents),
        ),
        (
            "messages/s delivered to the agent",
            "messages_per_s",
            f"≥ {options.rate:,.0f}",
            _met(xiaoer["messages_per_s"] >= 0.99 * options.rate),
        ),
        ("buyer→agent p50 ms", "p50_ms", "", None),
        ("buyer→agent p99 ms", "p99_ms", f"< {TARGET_P99_MS:.0f}", _met(p99_ok(xiaoer["p99_ms"]))),
        ("buyer→agent max ms", "max_ms", "", None),
        ("lost (acked, never reached agent)", "lost", "0", _met(xiaoer["lost"] == 0)),
        ("duplicated", "duplicated", "0", _met(xiaoer["duplicated"] == 0)),
        ("refused with an error frame", "refused", "0", _met(xiaoer["refused"] == 0)),
        ("never acked (in the window)", "never_acked", "0", _met(xiaoer["never_acked"] == 0)),
        (
            "not delivered by the end (window)",
            "undelivered_in_window",
            "0",
            _met(xiaoer["undelivered_in_window"] == 0),
        ),
        ("buyer send→ack p50 ms", "ack_p50_ms", "", None),
        ("buyer send→ack p99 ms", "ack_p99_ms", "", None),
        ("agent reply POST p50 ms", "reply_post_p50_ms", "", None),
        ("agent reply POST p99 ms", "reply_post_p99_ms", "", None),
        ("agent reply POST failures", "reply_posts_failed", "0", None),
        ("agent reply→buyer p50 ms", "reply_to_buyer_p50_ms", "", None),
        ("agent reply→buyer p99 ms", "reply_to_buyer_p99_ms", "", None),
        ("acked, reply never reached buyer", "unanswered", "", None),
        ("workbench frames/s (all agent sockets)", "workbench_frames_per_s", "", None),
        ("workbench seq repeats / steps back", "workbench_seq_repeats", "0", None),
        ("buyer sockets closed by the server", "buyer_sockets_closed", "0", None),
        ("workbench sockets closed by the server", "workbench_sockets_closed", "0", None),
        ("workbench sockets stalled (5 s behind)", "workbench_sockets_stalled", "0", None),
        ("… silent for (mean s) by the end", "workbench_stalled_for_s", "", None),
        ("buyer sends behind schedule, p99 ms", "send_lag_p99_ms", "", None),
        ("buyer messages never sent (socket gone)", "not_sent", "0", None),
        ("server CPU % (of one core)", "server_cpu_percent", "", None),
        ("PostgreSQL CPU % (all backends)", "postgres_cpu_percent", "", None),
        ("client processes CPU %", "client_cpu_percent", "", None),
        ("machine busy % (all cores)", "machine_busy_percent", "", None),
    ]
    width = 40
    print(
        f"\nchat_load: {options.buyers:,} buyers, {options.agents} agents, "
        f"{options.rate:,.0f} buyer messages/s offered for {options.duration:.0f} s "
        f"after {options.warmup:.0f} s warm-up"
    )
    print(
        f"  {options.database}, {options.processes} `xiaoer serve` process(es)"
        f"{' + Redis' if options.redis else ''}; {options.clients} client processes with "
        f"{'uvloop' if _has_uvloop() else 'asyncio'}; WebSocket permessage-deflate "
        f"{'on (as browsers)' if options.deflate else 'off'}; {os.cpu_count()} CPU cores"
    )
    print(
        "  setup (not measured): "
        + ", ".join(f"{k.removesuffix('_s').replace('_', ' ')} {v:.1f} s" for k, v in setup.items())
    )
    from xiaoer.reception.buyer_api import message_limiter

    limit = message_limiter.limit * 60 / message_limiter.window
    per_buyer = options.rate / options.buyers * 60
    if per_buyer > limit:
        cap = options.buyers * limit / 60
        print(
            f"  note: each buyer sends {per_buyer:.0f} messages a minute; xiaoer allows "
            f"{limit:.0f} per buyer a minute (reception/buyer_api.py), so "
            f"{options.buyers:,} buyers can get at most {cap:,.0f} messages/s accepted"
        )
    print()
    print(f"  {'':{width}} {'xiaoer':>14} {'bare relay':>14} {'target':>10}")
    for label, key, target, met in targets:
        x, e = xiaoer.get(key), echo.get(key)
        print(f"  {label:{width}} {_fmt(x):>14} {_fmt(e):>14} {target:>10}  {met or ''}")
    print(f"\n  ratio of messages/s to the bare relay: {_fmt(ratio)}")
    if xiaoer["refusals"]:
        print(f"  refusals: {xiaoer['refusals']}")
    if xiaoer["close_reasons"]:
        print(f"  sockets closed by the server: {xiaoer['close_reasons']}")
    if xiaoer["connect_errors"]:
        print(f"  connection errors: {xiaoer['connect_errors']}")
    if xiaoer.get("pg_xact_commit_per_s") is not None:
        for unit in ("s", "message"):
            print(
                f"  PostgreSQL per {'second' if unit == 's' else 'delivered buyer message'}: "
                + ", ".join(
                    f"{k.removeprefix('pg_').removesuffix(f'_per_{unit}')} {v}"
                    for k, v in xiaoer.items()
                    if k.startswith("pg_") and k.endswith(f"_per_{unit}")
                )
            )
        print(
            "  PostgreSQL rows read per delivered buyer message, most first: "
            + "; ".join(f"{k} {v}" for k, v in xiaoer["pg_tables"].items())
        )
        print(
            "  PostgreSQL sessions of the run (average count by state): "
            + "; ".join(f"{k} {v}" for k, v in xiaoer["pg_sessions"].items())
        )
    for name, figures in (("xiaoer", xiaoer), ("bare relay", echo)):
        print(
            f"  CPU in the window, {name} run (% of one core): "
            + ", ".join(f"{k} {v}" for k, v in figures["cpu_breakdown"].items() if v)
        )
    for line in _limits(options, xiaoer, "xiaoer") + _limits(options, echo, "bare relay"):
        print(f"  {line}")
    met_all = all(m == "met" for *_, m in targets if m is not None)
    print(f"\n  target: {'met' if met_all else 'MISSED'}")
    return {
        "database": options.database,
        "buyers": options.buyers,
        "agents": options.agents,
        "rate": options.rate,
        "duration_s": options.duration,
        "processes": options.processes,
        "messages_per_s": xiaoer["messages_per_s"],
        "p50_ms": xiaoer["p50_ms"],
        "p99_ms": xiaoer["p99_ms"],
        "lost": xiaoer["lost"],
        "duplicated": xiaoer["duplicated"],
        "refused": xiaoer["refused"],
        "never_acked": xiaoer["never_acked"],
        "echo_messages_per_s": echo["messages_per_s"],
        "echo_p50_ms": echo["p50_ms"],
        "echo_p99_ms": echo["p99_ms"],
        "ratio_to_echo": ratio,
        "meets_target": met_all,
        "xiaoer": xiaoer,
        "echo": echo,
        "setup_s": {k: round(v, 1) for k, v in setup.items()},
    }


def _limits(options: Options, figures: dict[str, Any], name: str) -> list[str]:
    """Say plainly what limited a run."""
    lines = []
    cpu = figures["cpu_breakdown"]
    foreign = cpu["other processes"] + cpu["unattributed"]
    if foreign >= 20:
        lines.append(
            f"{name}: processes outside this benchmark used {foreign:.0f}% of a core in the "
            f"window (top: {cpu['top others']}; short-lived: {cpu['unattributed']:.0f}): "
            "the machine was shared, the figures are disturbed"
        )
    if cpu["steal"] >= 20:
        lines.append(f"{name}: the hypervisor took {cpu['steal']:.0f}% of a core (steal)")
    busiest = max(figures["client_cpu_percent"], default=0)
    if busiest >= 85:
        lines.append(
            f"{name}: a client process used {busiest}% of a core: the load generator may have "
            "limited this run (its figures are then a lower bound)"
        )
    if figures["machine_busy_percent"] >= 90:
        lines.append(
            f"{name}: the machine was {figures['machine_busy_percent']}% busy: server "
            f"{figures['server_cpu_percent']}%, PostgreSQL {figures['postgres_cpu_percent']}%, "
            f"clients {'+'.join(map(str, figures['client_cpu_percent']))}% share "
            f"{os.cpu_count()} cores"
        )
    elif figures["server_cpu_percent"] >= 90 * options.processes:
        lines.append(f"{name}: the server process(es) were CPU-bound")
    return lines


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def parse_options(argv: list[str] | None = None) -> Options | tuple[int, int]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000, help="buyer messages/s, all buyers")
    parser.add_argument("--duration", type=float, default=60, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5, help="seconds sent, not measured")
    parser.add_argument("--drain", type=float, default=10, help="seconds to wait for stragglers")
    parser.add_argument("--processes", type=int, default=1, help="`xiaoer serve` processes")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--redis", default=None, help="redis://127.0.0.1:6379/0 (--processes > 1)")
    parser.add_argument(
        "--no-deflate",
        dest="deflate",
        action="store_false",
        help="do not offer permessage-deflate (browsers do; so does this by default)",
    )
    parser.add_argument("--pg-admin-url", default="postgresql://postgres@127.0.0.1/postgres")
    parser.add_argument(
        "--py-spy", metavar="DIR", default=None, help="record each server's profile into DIR"
    )
    parser.add_argument(
        "--py-spy-format", choices=("flamegraph", "raw"), default="flamegraph", help="SVG or text"
    )
    parser.add_argument("--logs", metavar="DIR", default=None, help="keep the servers' logs in DIR")
    parser.add_argument("--quick", action="store_true", help="200 buyers, 10 agents, 100/s, 10 s")
    parser.add_argument(
        "--search",
        action="store_true",
        help="find the highest rate held at p99 < 100 ms with nothing lost, doubled or "
        "refused: runs at rising rates, then halves the gap (--duration per step)",
    )
    parser.add_argument("--search-from", type=float, default=50.0, help="the first step's rate")
    parser.add_argument(
        "--replies",
        choices=("socket", "http"),
        default="socket",
        help="agents reply over their workbench socket (as the workbench does while it is "
        "open) or by POST …/messages (as it does while the socket is down)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--relay-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--relay-agents", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.relay_port:
        return args.relay_port, args.relay_agents
    if args.quick:
        args.buyers, args.agents, args.rate, args.duration = 200, 10, 100.0, 10.0
    if args.processes > 1 and not args.redis:
        parser.error("--processes > 1 needs --redis (events travel between processes by Redis)")
    if args.agents > args.buyers or args.buyers >= KEY_SPAN or min(args.agents, args.clients) < 1:
        parser.error("expected 1 ≤ agents ≤ buyers < 1,000,000 and at least one client")
    for url in (args.pg_admin_url, args.redis or "redis://127.0.0.1"):
        if "127.0.0.1" not in url and "localhost" not in url:
            parser.error(f"{url}: this benchmark only talks to 127.0.0.1")
    return Options(
        database=args.database,
        buyers=args.buyers,
        agents=args.agents,
        rate=args.rate,
        duration=args.duration,
        warmup=args.warmup,
        drain=args.drain,
        processes=args.processes,
        clients=args.clients,
        redis=args.redis,
        deflate=args.deflate,
        pg_admin_url=args.pg_admin_url,
        py_spy=args.py_spy,
        py_spy_format=args.py_spy_format,
        logs=args.logs,
        json=args.json,
        search=args.search,
        search_from=args.search_from,
        replies=args.replies,
    )


def _held(figures: dict[str, Any], rate: float) -> bool:
    """Held: the rate delivered, p99 under the target, nothing lost, doubled or refused."""
    p99 = figures["p99_ms"]
    return (
        figures["messages_per_s"] >= 0.99 * rate
        and p99 is not None
        and p99 < TARGET_P99_MS
        and figures["lost"] == figures["duplicated"] == figures["refused"] == 0
        and figures["never_acked"] == 0
    )


def _at_rate(options: Options, rate: float) -> Options:
    """A step's load: buyers enough that none is near the per-buyer limit (a message every
    2 s at most), an agent per 20 buyers, as the target run has."""
    buyers = max(options.buyers if not options.search else 0, int(rate * 2), 40)
    return replace(options, rate=rate, buyers=buyers, agents=max(2, buyers // 20))


async def search(options: Options) -> dict[str, Any]:
    """The step search: double the rate until a step is not held, then halve the gap
    between the last step held and the first not held until it is within 10 %."""
    steps: list[tuple[float, dict[str, Any]]] = []

    async def step(rate: float) -> bool:
        figures = await amain(_at_rate(options, rate), quiet=True)
        steps.append((rate, figures))
        held = _held(figures["xiaoer"], rate)
        x = figures["xiaoer"]
        _say(
            f"step {rate:,.0f}/s: {'held' if held else 'NOT held'} — delivered "
            f"{x['messages_per_s']:,.1f}/s, p50 {_fmt(x['p50_ms'])} ms, p99 "
            f"{_fmt(x['p99_ms'])} ms, lost {x['lost']}, doubled {x['duplicated']}, refused "
            f"{x['refused']}, server CPU {x['server_cpu_percent']}%"
        )
        return held

    good, bad = 0.0, None
    rate = options.search_from
    while bad is None:
        if await step(rate):
            good, rate = rate, rate * 2
        else:
            bad = rate
    while good and bad - good > 0.1 * good:
        middle = round((good + bad) / 2)
        if await step(middle):
            good = middle
        else:
            bad = middle
    print(
        f"\nchat_load --search: {options.database}, {options.processes} `xiaoer serve` "
        f"process(es); {options.duration:.0f} s per step after {options.warmup:.0f} s warm-up; "
        f"{os.cpu_count()} CPU cores"
    )
    print(
        f"  {'rate/s':>8} {'buyers':>7} {'agents':>6} {'delivered/s':>12} {'p50 ms':>9} "
        f"{'p99 ms':>9} {'lost':>5} {'dup':>4} {'refused':>7} {'server %':>8} "
        f"{'relay p99 ms':>12}  held"
    )
    for rate, figures in sorted(steps, key=lambda s: s[0]):
        x, e = figures["xiaoer"], figures["echo"]
        print(
            f"  {rate:>8,.0f} {figures['buyers']:>7,} {figures['agents']:>6} "
            f"{x['messages_per_s']:>12,.1f} {_fmt(x['p50_ms']):>9} {_fmt(x['p99_ms']):>9} "
            f"{x['lost']:>5} {x['duplicated']:>4} {x['refused']:>7} "
            f"{x['server_cpu_percent']:>8} {_fmt(e['p99_ms']):>12}  "
            f"{'yes' if _held(x, rate) else 'no'}"
        )
    print(
        f"\n  highest rate held at p99 < {TARGET_P99_MS:.0f} ms with nothing lost, doubled or "
        f"refused: {good:,.0f} messages/s" + ("" if good else " (none of the steps)")
    )
    return {"held_per_s": good, "steps": [{"rate": r, **f} for r, f in steps]}


async def amain(options: Options, quiet: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chat_load_") as tmp:
        folder = Path(tmp)
        servers = Servers(folder)
        try:
            _say("reference: bare relay …")
            echo = await run_reference(options, servers)
            _say(f"xiaoer on {options.database} …")
            load, setup = await run_xiaoer(options, servers, folder)
        except Exception:
            _show_logs(folder)
            raise
        finally:
            servers.stop()
            if options.logs:
                _keep_logs(folder, Path(options.logs))
    if quiet:
        x, e = load.figures(), echo.figures()
        return {"buyers": options.buyers, "agents": options.agents, "xiaoer": x, "echo": e}
    return report(options, load.figures(), echo.figures(), setup)


def _keep_logs(folder: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for log in folder.glob("*.log"):
        shutil.copy(log, target / log.name)


def _show_logs(folder: Path) -> None:
    for log in sorted(folder.glob("*.log")):
        _say(f"--- {log.name} (last lines)\n{_tail(log, 2000)}")


def main() -> None:
    options = parse_options()
    if isinstance(options, tuple):
        serve_relay(*options)
        return
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    try:
        figures = asyncio.run(search(options) if options.search else amain(options))
    except KeyboardInterrupt:
        _say("interrupted: servers and clients stopped, the benchmark database dropped")
        raise SystemExit(130) from None
    if options.json:
        print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
