/* xiaoer chat widget. One tag on any page adds live chat with the shop:
 *   <script src="https://example.com/b/widget.js" data-shop="CODE" async></script>
 * Optional: data-lang="en", data-nick="the buyer's nick".
 * The buyer's token stays in localStorage and is renewed each time the chat opens (it expires
 * when unused for long); messages are resent until the shop acknowledges them. Every text is put on the page with textContent, never as HTML.
 * The buyer app allows cross-origin calls without cookies, so the tag works on any site.
 * A page with a Content-Security-Policy names the widget's site in script-src and
 * style-src (the look is widget.css beside this file) and in connect-src, with wss:.
 */
(() => {
  "use strict";

  const script = document.currentScript || document.querySelector('script[src*="widget.js"][data-shop]');
  if (!script || !script.dataset.shop) return;
  const SHOP = script.dataset.shop;
  const loaded = (window.__xiaoerWidgets = window.__xiaoerWidgets || {});
  if (loaded[SHOP]) return;
  loaded[SHOP] = true;

  const BASE = new URL(script.src, location.href).href.replace(/\/widget\.js(?:[?#].*)?$/, "");
  const WS_BASE = BASE.replace(/^http/, "ws");
  const SHOP_PATH = `/${encodeURIComponent(SHOP)}`;
  const ALL_TEXTS = /*@widget-texts@*/{};
  const TEXTS = ALL_TEXTS[script.dataset.lang || "zh"] || ALL_TEXTS.zh || {};
  const T = (key, values) =>
    (TEXTS[key] || key).replace(/\{(\w+)\}/g, (all, name) => (values && name in values ? String(values[name]) : all));

  const KEY = `xiaoer:${SHOP}:`;
  const store = { // storage may be switched off: then the chat lasts as long as the page
    get(name) {
      try { return localStorage.getItem(KEY + name); } catch { return null; }
    },
    set(name, value) {
      try {
        if (value === null) localStorage.removeItem(KEY + name);
        else localStorage.setItem(KEY + name, value);
      } catch { /* as above */ }
    },
  };

  const P = "xiaoer-w-";

  function h(tag, name, text, attributes = {}) {
    const element = document.createElement(tag);
    if (name) element.className = name.split(" ").map((n) => P + n).join(" ");
    if (text !== undefined) element.textContent = text;
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    return element;
  }

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID(); // secure pages only
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const x = Array.from(b, (n) => n.toString(16).padStart(2, "0")).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  // ---- the page parts ---------------------------------------------------------------------

  const sheet = h("link", "", undefined, { rel: "stylesheet", href: `${BASE}/widget.css` });
  const root = h("div", "root");
  const opener = h("button", "open", T("open"), { type: "button" });
  const badge = h("span", "badge", "", { hidden: "" });
  const panel = h("section", "panel", undefined, { role: "dialog", "aria-label": T("title"), hidden: "" });
  const head = h("header", "head");
  const title = h("div", "title", T("title"));
  const status = h("div", "status", T("hello"), { role: "status" });
  const closer = h("button", "x", "×", { type: "button", "aria-label": T("close") });
  const log = h("ol", "log", undefined, { "aria-live": "polite" });
  const form = h("form", "form");
  const input = h("textarea", "input", undefined, { "aria-label": T("input"), placeholder: T("input"), maxlength: "2000" });
  const heading = h("div");
  heading.append(title, status);
  head.append(heading, closer);
  form.append(input, h("button", "send", T("send"), { type: "submit" }));
  panel.append(head, log, form);
  opener.append(badge);
  root.append(opener, panel);

  // ---- state ------------------------------------------------------------------------------

  let token = store.get("token");
  let [after, socket, live, started, backoff, unread] = [0, null, false, false, 500, 0];
  let stateText = T("hello");
  const seen = new Set(); // ids of the messages shown
  const bubbles = new Map(); // client id → the bubble of an own message not yet acknowledged
  let pending = []; // own messages not yet acknowledged: { client_id, text, id? }
  try {
    pending = (JSON.parse(store.get("pending") || "[]") || []).filter((p) => p && p.client_id && p.text);
  } catch { /* unreadable: start afresh */ }

  const savePending = () =>
    store.set("pending", pending.length ? JSON.stringify(pending.map((p) => ({ client_id: p.client_id, text: p.text }))) : null);

  function later(fn) {
    setTimeout(fn, backoff * (0.75 + Math.random() * 0.5));
    backoff = Math.min(backoff * 2, 15000);
  }

  const setStatus = (text) => (status.textContent = text);
  const setState = (text) => { stateText = text; if (live) setStatus(text); };
  const scrollDown = () => (log.scrollTop = log.scrollHeight);

  function bubble(sender, text, who) {
    const item = h("li", `msg ${sender}`);
    if (who) item.append(h("div", "who", who));
    item.append(h("div", "text", text));
    return item;
  }

  function show(m) {
    if (seen.has(m.id)) return;
    seen.add(m.id);
    const who = m.sender === "agent" ? m.agent_name || T("agent") : m.sender === "auto" ? T("auto") : "";
    const item = bubble(m.sender, m.text, who);
    item.dataset.id = String(m.id);
    log.append(item);
    scrollDown();
    if (panel.hidden && m.sender !== "buyer") {
      unread += 1;
      badge.textContent = String(unread);
      badge.hidden = false;
    }
  }

  function note(text) {
    log.append(bubble("note", text));
    scrollDown();
  }

  function showPending(item) {
    const element = bubble("buyer pending", item.text);
    bubbles.set(item.client_id, element);
    log.append(element);
    scrollDown();
  }

  // ---- the server -------------------------------------------------------------------------

  function start() {
    if (started) return;
    started = true;
    setStatus(T("connecting"));
    openSession();
  }

  async function openSession() {
    let response;
    try {
      const body = { nick: script.dataset.nick || "" };
      if (token) body.token = token;
      response = await fetch(BASE + SHOP_PATH + "/session", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      setStatus(T("reconnecting"));
      return later(openSession);
    }
    if (response.status === 401 && token) {
      token = null; // expired, or signed for another key: start as a new buyer
      store.set("token", null);
      return openSession();
    }
    if (!response.ok) {
      setStatus(T("unavailable"));
      if (response.status !== 404) later(openSession);
      return;
    }
    const data = await response.json();
    token = data.token;
    store.set("token", token);
    title.textContent = data.shop.name;
    // The header says where the open conversation stands, as the live events would.
    const open = data.conversation;
    if (open && open.status === "active") setState(T("with_agent", { name: open.agent_name || T("agent") }));
    else if (open && open.status === "queued") setState(T("queued", { n: open.position }));
    else setState(T("hello"));
    log.replaceChildren();
    seen.clear();
    for (const m of data.messages) show(m);
    if (!data.messages.length && !pending.length) note(T("hello"));
    bubbles.clear();
    for (const item of pending) showPending(item);
    unread = 0;
    badge.hidden = true; // the history is not news
    after = data.after;
    connect();
  }

  function connect() {
    // The token goes in the first frame, not the address: servers and proxies log addresses.
    let ws;
    try {
      ws = new WebSocket(`${WS_BASE}${SHOP_PATH}/ws?after=${after}`);
    } catch {
      // Refused before it started (the page's policy, a browser out of sockets): try
      // again later rather than stay silent for good.
      setStatus(T("reconnecting"));
      return later(connect);
    }
    socket = ws;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token })));
    ws.addEventListener("message", (event) => {
      try { handle(JSON.parse(event.data)); } catch { /* not a frame of ours */ }
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      live = false;
      if (event.code === 4404) return setStatus(T("unavailable"));
      setStatus(T("reconnecting"));
      later(event.code === 4401 ? openSession : connect);
    });
  }

  function transmit(item) {
    if (live && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "send", client_id: item.client_id, text: item.text }));
    }
  }

  function handle(frame) {
    if (frame.type === "hello") {
      live = true;
      backoff = 500;
      setStatus(stateText);
      for (const item of pending) transmit(item); // resent with the same id: stored once
    } else if (frame.type === "event" && frame.seq > after) {
      after = frame.seq;
      onEvent(frame.kind, frame.data || {});
    } else if (frame.type === "skip" && frame.seq > after) {
      after = frame.seq;
    } else if (frame.type === "ack") {
      onAck(frame);
    } else if (frame.type === "error") {
      onError(frame);
    }
  }

  function onEvent(kind, d) {
    if (kind === "message.created") {
      if (seen.has(d.id)) return;
      const mine = d.sender === "buyer" && pending.find((p) => !p.id && p.text === d.text);
      if (mine && bubbles.has(mine.client_id)) {
        mine.id = d.id; // the stream was quicker than the acknowledgement
        seen.add(d.id);
        bubbles.get(mine.client_id).dataset.id = String(d.id);
        return;
      }
      show(d);
    } else if (kind === "conversation.assigned") {
      setState(T("with_agent", { name: d.agent_name || T("agent") }));
    } else if (kind === "queue.position") {
      setState(T("queued", { n: d.position }));
    } else if (kind === "conversation.closed") {
      setState(T("hello"));
      note(T("closed"));
    }
  }

  function onAck(frame) {
    pending = pending.filter((p) => p.client_id !== frame.client_id);
    savePending();
    const element = bubbles.get(frame.client_id);
    bubbles.delete(frame.client_id);
    if (!element) return;
    if (seen.has(frame.message_id) && element.dataset.id !== String(frame.message_id)) {
      element.remove(); // shown already (from the history after a reload)
      return;
    }
    seen.add(frame.message_id);
    element.dataset.id = String(frame.message_id);
    element.classList.remove(P + "pending");
  }

  function onError(frame) {
    const item = pending.find((p) => p.client_id === frame.client_id);
    if (!item) return;
    if (frame.retry) {
      // Busy or a moment's failure on the server: the message stays pending and goes
      // again a little later, with the same id, so it is stored once.
      setTimeout(() => pending.includes(item) && transmit(item), 1500 + Math.random() * 2000);
      return;
    }
    pending = pending.filter((p) => p !== item);
    savePending();
    const element = bubbles.get(item.client_id);
    if (!element) return;
    element.classList.replace(P + "pending", P + "failed");
    element.title = frame.message || "";
    const hint = h("div", "state", T("failed"));
    element.append(hint);
    element.addEventListener(
      "click",
      () => {
        hint.remove();
        element.classList.replace(P + "failed", P + "pending");
        pending.push(item);
        savePending();
        transmit(item);
      },
      { once: true },
    );
  }

  // ---- the buyer's hands ------------------------------------------------------------------

  function send(text) {
    const item = { client_id: uuid(), text };
    pending.push(item);
    savePending();
    showPending(item);
    transmit(item);
    start();
  }

  function submit() {
    const text = input.value.replace(/\r\n/g, "\n").trim();
    if (!text) return;
    input.value = "";
    send(text);
  }

  form.addEventListener("submit", (event) => event.preventDefault() || submit());

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault(); // Enter sends, Shift+Enter starts a new line
      submit();
    }
  });

  opener.addEventListener("click", () => {
    panel.hidden = false;
    opener.hidden = true;
    unread = 0;
    badge.hidden = true;
    start();
    scrollDown();
    input.focus();
  });

  closer.addEventListener("click", () => {
    panel.hidden = true;
    opener.hidden = false;
    opener.focus();
  });

  function mount() {
    // The chat appears once its style sheet is in (or has failed), never unstyled.
    const show = () => root.isConnected || document.body.append(root);
    sheet.addEventListener("load", show, { once: true });
    sheet.addEventListener("error", show, { once: true });
    document.head.append(sheet);
    if (token || pending.length) start(); // a returning buyer: catch up quietly
  }

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
