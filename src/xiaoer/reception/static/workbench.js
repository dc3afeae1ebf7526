/* The agent workbench (C1–C8): conversations, the chat, the buyer panel, the floor view.
 *
 * Data comes from /api/reception (JSON) and the live stream /ws/workbench. Every text
 * a buyer or an agent wrote is put on the page with textContent, never as HTML.
 * Interface texts come from the page's message catalogue (#messages).
 */
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const M = JSON.parse($("messages").textContent);
  const CSRF = document.querySelector('meta[name="csrf-token"]').content;
  const LEADER = $("workbench").dataset.leader === "true";
  const TEAMS = ["presale", "aftersale", "assist"];
  const MAX_TYPING_MS = 3600000;
  const LONG_GAP_MS = 120000;

  // ---- texts --------------------------------------------------------------------------

  const format = (text, values) =>
    values ? text.replace(/\{(\w+)\}/g, (all, name) => (name in values ? String(values[name]) : all)) : text;
  const msg = (key, values) => format(M[key] ?? key, values);
  const js = (key, values) => msg("reception.js." + key, values);
  const teamName = (team) => M["teams." + team] ?? team ?? "";
  const outcomeName = (outcome) => M["reception.outcomes." + outcome] ?? outcome ?? "";
  const presenceName = (status) => M["reception.presence." + status] ?? status;

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }

  // ---- time and money -----------------------------------------------------------------

  let skew = 0; // the local clock minus the server's, in ms
  const serverNow = () => Date.now() - skew;
  const pad = (n) => String(n).padStart(2, "0");

  function duration(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    return h ? `${h}:${pad(m)}:${pad(total % 60)}` : `${m}:${pad(total % 60)}`;
  }

  function timeOf(iso) {
    const d = new Date(iso);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function dateOf(iso) {
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  function yuan(fen) {
    const abs = Math.abs(fen);
    return `${fen < 0 ? "-" : ""}${Math.floor(abs / 100)}.${pad(abs % 100)}`;
  }

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID(); // secure pages only
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // ---- the server ---------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, network = false, detail = null) {
      super(message);
      this.network = network;
      this.detail = detail;
    }
  }

  function detailText(detail) {
    if (typeof detail === "string") return detail;
    return detail ? JSON.stringify(detail) : "";
  }

  async function api(method, path, body) {
    let response;
    try {
      response = await fetch(path, {
        method,
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "X-CSRF-Token": CSRF,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(js("network"), true);
    }
    if (response.status === 401) {
      location.href = "/login?next=" + encodeURIComponent(location.pathname);
      throw new ApiError(response.statusText);
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      // Every error is {code, detail, …}: the text for people, and what else it carries
      // (needs_approval and its blocks, a form's fields).
      const message = detailText(data && data.detail);
      // 503: busy, or the batch holding it was not stored: the same request again later
      throw new ApiError(message || response.statusText, response.status === 503, data);
    }
    return data;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Network failures are retried with the same body (the client id makes a resend harmless). */
  const SOCKET_ANSWER_MS = 8000;
  const awaited = new Map(); // client id → what waits for the socket's answer to a reply

  function sendOverSocket(conversationId, reply) {
    return new Promise((resolve, reject) => {
      if (!socket || socket.readyState !== WebSocket.OPEN) {
        reject(new ApiError(js("network"), true));
        return;
      }
      const timer = setTimeout(() => {
        awaited.delete(reply.client_id);
        reject(new ApiError(js("network"), true));
      }, SOCKET_ANSWER_MS);
      awaited.set(reply.client_id, { resolve, reject, timer });
      socket.send(JSON.stringify({ type: "send", conversation_id: conversationId, ...reply }));
    });
  }

  function answerArrived(frame) {
    const waiting = awaited.get(frame.client_id);
    if (!waiting) return;
    awaited.delete(frame.client_id);
    clearTimeout(waiting.timer);
    if (frame.type === "ack") waiting.resolve(frame);
    else waiting.reject(new ApiError(frame.message || "", Boolean(frame.retry), frame));
  }

  function socketLost() {
    for (const waiting of awaited.values()) {
      clearTimeout(waiting.timer);
      waiting.reject(new ApiError(js("network"), true));
    }
    awaited.clear();
  }

  async function postPatiently(path, body) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await api("POST", path, body);
      } catch (error) {
        if (!error.network || attempt >= 3) throw error;
        await sleep(1000 * 2 ** attempt);
      }
    }
  }

  // ---- state --------------------------------------------------------------------------

  const S = {
    shop: { code: "", name: "", courier: "" },
    activities: [],
    me: { id: 0, name: "", roles: [], status: "offline" },
    policy: { typing_speed_target_cpm: 90 },
    conversations: [],
    byId: new Map(),
    agents: [],
    phrases: [],
    after: 0,
    openId: null,
    open: null, // the open conversation's panel
    moved: "", // why the open conversation left this agent
    shown: new Set(), // ids of the messages on screen
    pending: new Map(), // client id → the bubble of a reply on its way
    sentIds: new Map(), // message id → the client id it was sent with
    drafts: new Map(), // conversation id → { text, typingStart, typed }
    typingStart: null,
    typed: 0, // characters of the draft typed by hand (not pasted, not inserted)
    alerts: [],
    breaches: 0,
  };

  const buyerName = (c) => (c && (c.buyer || c.nick)) || js("buyer_fallback", { id: c ? c.customer_id || c.id : "" });
  const agentName = (id) => (S.agents.find((a) => a.id === id) || {}).name || "";

  function applyState(data) {
    S.shop = data.shop;
    S.activities = data.activities || [];
    S.me = data.me;
    S.policy = data.policy;
    S.conversations = data.conversations;
    S.byId = new Map(data.conversations.map((c) => [c.id, c]));
    S.agents = data.agents;
    S.phrases = data.phrases;
    setPresence(data.me.status);
    renderList();
    renderTransferTargets();
    renderMonitor();
    announceNewBuyers(data.after);
    const open = S.byId.get(S.openId);
    if (open && open.unread > 0) markRead(); // read while this answer was on its way
  }

  // ---- the conversation list ----------------------------------------------------------

  function renderList() {
    const list = $("wb-conversations");
    list.replaceChildren();
    $("wb-count").textContent = String(S.conversations.length);
    if (!S.conversations.length) list.append(node("li", "wb-none", js("no_conversations")));
    let unread = 0;
    for (const c of S.conversations) {
      // the tab's title counts what waits for this agent: their buyers' unread messages
      // and the messages of buyers in the queue
      if (c.agent_id === S.me.id || c.status === "queued") unread += c.unread;
      const item = node("li");
      const button = node("button", "wb-conv");
      button.type = "button";
      button.dataset.id = String(c.id);
      if (c.id === S.openId) button.setAttribute("aria-current", "true");
      const top = node("div", "wb-conv-top");
      top.append(node("span", "wb-conv-buyer", buyerName(c)));
      if (c.sla_due_at) top.append(slaChip(c.sla_due_at));
      const foot = node("div", "wb-conv-foot");
      foot.append(node("span", "tag", teamName(c.team)));
      if (c.status === "queued") foot.append(node("span", "wb-queued", js("status_queued")));
      else if (c.agent_id !== S.me.id) foot.append(node("span", "", js("with_agent", { name: c.agent_name })));
      foot.append(waitChip(c));
      if (c.unread > 0) {
        const badge = node("span", "wb-unread", String(c.unread));
        badge.title = js("unread", { n: c.unread });
        foot.append(badge);
      }
      button.append(top, node("div", "wb-conv-last", c.last_text), foot);
      button.addEventListener("click", () => openConversation(c.id));
      item.append(button);
      list.append(item);
    }
    document.title = document.title.replace(/^\(\d+\) /, "");
    if (unread) document.title = `(${unread}) ${document.title}`;
    tick();
  }

  function slaChip(due) {
    const chip = node("span", "wb-sla");
    chip.dataset.due = due;
    return chip;
  }

  function waitChip(c) {
    const since = c.waiting_since || (c.status === "queued" ? c.queued_at : null);
    if (!since) return node("span", "wb-wait muted", js("answered"));
    const chip = node("span", "wb-wait");
    chip.dataset.since = since;
    return chip;
  }

  /** Once a second: countdowns and waiting times, red when a deadline has passed. */
  function tick() {
    const now = serverNow();
    for (const chip of document.querySelectorAll("[data-due]")) {
      const left = Date.parse(chip.dataset.due) - now;
      chip.textContent = left >= 0 ? js("sla_left", { time: duration(left) }) : js("sla_over", { time: duration(-left) });
      chip.classList.toggle("late", left < 0);
      chip.classList.toggle("soon", left >= 0 && left < 10000);
    }
    for (const chip of document.querySelectorAll("[data-since]")) {
      chip.textContent = js("waiting", { time: duration(now - Date.parse(chip.dataset.since)) });
    }
  }

  // ---- the open conversation ----------------------------------------------------------

  const text = $("wb-text");
  const messages = $("wb-messages");

  // ---- drafts: kept per agent and conversation in this browser, until sent ----------

  const draftKey = (id) => `xiaoer.draft.${S.me.id}.${id}`;

  function savedDraft(id) {
    try {
      return localStorage.getItem(draftKey(id)) || "";
    } catch {
      return ""; // storage refused (private window): the draft lives while the page does
    }
  }

  function keepDraft() {
    if (S.openId === null) return;
    try {
      if (text.value) localStorage.setItem(draftKey(S.openId), text.value);
      else localStorage.removeItem(draftKey(S.openId));
    } catch {
      // storage full or refused: nothing else to do
    }
  }

  function forgetDraft(id) {
    try {
      localStorage.removeItem(draftKey(id));
    } catch {
      // as above
    }
  }

  // ---- one pane at a time on a phone: the list, the chat, the buyer -----------------

  function showPane(pane) {
    $("workbench").dataset.pane = pane;
  }
  $("wb-back").addEventListener("click", () => showPane("list"));
  $("wb-info").addEventListener("click", () => showPane("side"));
  $("wb-side-back").addEventListener("click", () => showPane("chat"));

  function mayAct() {
    const c = S.open && S.open.conversation;
    return Boolean(c && c.status === "active" && !S.moved && (c.agent_id === S.me.id || LEADER));
  }

  async function openConversation(id) {
    if (S.openId !== null && S.openId !== id) {
      S.drafts.set(S.openId, { text: text.value, typingStart: S.typingStart, typed: S.typed });
    }
    if (S.openId !== id) {
      const draft = S.drafts.get(id) || { text: savedDraft(id), typingStart: null, typed: 0 };
      text.value = draft.text;
      S.typingStart = draft.typingStart;
      S.typed = draft.typed;
      S.moved = "";
    }
    S.openId = id;
    showPane("chat");
    const here = new URL(location.href);
    if (here.searchParams.get("c") !== String(id)) {
      here.searchParams.set("c", String(id));
      history.replaceState(null, "", here);
    }
    for (const b of document.querySelectorAll(".wb-conv")) {
      b.toggleAttribute("aria-current", b.dataset.id === String(id));
    }
    let panel;
    try {
      panel = await api("GET", `/api/reception/conversations/${id}`);
    } catch (error) {
      if (S.openId !== id) return;
      toast(js("failed", { detail: error.message }), "bad");
      if (!error.network) {
        // gone or no longer this agent's: a reload should not try it again
        const here = new URL(location.href);
        here.searchParams.delete("c");
        history.replaceState(null, "", here);
      }
      return;
    }
    if (S.openId !== id) return; // another one was picked meanwhile
    S.open = panel;
    S.moved = "";
    renderConversation();
    const item = S.byId.get(id);
    if (item && item.unread > 0) markRead();
    text.focus();
  }

  function renderConversation() {
    $("wb-chat-empty").hidden = true;
    $("wb-chat-body").hidden = false;
    $("wb-side").hidden = false;
    S.shown = new Set();
    S.pending = new Map();
    messages.replaceChildren();
    for (const m of S.open.messages) appendMessage(m, true);
    messages.scrollTop = messages.scrollHeight;
    renderHead();
    renderSide();
    loadSuggestions();
  }

  // ---- the assistant: what the buyer asks, answers to insert (A1–A4) ------------------

  const aj = (key, values) => js("assistant." + key, values);
  let suggestionsFor = null;

  async function loadSuggestions() {
    const id = S.openId;
    suggestionsFor = id;
    let data;
    try {
      data = await api("POST", "/api/assistant/suggestions", { conversation_id: id });
    } catch {
      return; // the panel stays as it was; the next buyer message asks again
    }
    if (S.openId !== id || suggestionsFor !== id) return;
    renderSuggestions(data);
  }

  function renderSuggestions(data) {
    const list = $("wb-suggestions");
    const items = $("wb-items");
    list.replaceChildren();
    items.replaceChildren();
    if (!data.text) {
      $("wb-asks").textContent = aj("none");
      return;
    }
    let asks = aj("asks", { intent: M["reception.intents." + data.intent] ?? data.intent });
    if (data.bargain_type) {
      const type = M["reception.bargain_types." + data.bargain_type] ?? data.bargain_type;
      asks += " · " + aj("bargain", { type });
    }
    $("wb-asks").textContent = asks;
    if (!data.suggestions.length) list.append(node("li", "muted", aj("none")));
    for (const s of data.suggestions) {
      const item = node("li", "wb-suggestion");
      item.append(node("strong", "", s.title), node("p", "", s.text));
      const feedback = (action, sent) =>
        api("POST", "/api/assistant/feedback", {
          buyer_text: data.text,
          intent: s.intent,
          bargain_type: s.bargain_type,
          action,
          entry_id: s.entry_id,
          sent_text: sent,
        }).catch(() => {});
      const insert = node("button", "wb-secondary", aj("insert"));
      insert.type = "button";
      insert.addEventListener("click", () => {
        if (text.disabled) return;
        text.value = text.value ? `${text.value}\n${s.text}` : s.text;
        if (S.typingStart === null) S.typingStart = performance.now();
        text.focus();
        S.inserted = { id: S.openId, text: text.value, feedback };
        keepDraft();
        feedback("picked", s.text);
      });
      const reject = node("button", "wb-secondary", aj("reject"));
      reject.type = "button";
      reject.addEventListener("click", () => {
        feedback("rejected", "");
        item.remove();
      });
      item.append(insert, reject);
      list.append(item);
    }
    for (const [key, products] of [["similar", data.similar], ["related", data.related]]) {
      if (!products || !products.length) continue;
      items.append(node("h4", "", aj(key)));
      const rows = node("ul", "wb-rows");
      for (const p of products) rows.append(node("li", "", aj("item", p)));
      items.append(rows);
    }
  }

  function renderHead() {
    const c = S.open.conversation;
    $("wb-chat-buyer").textContent = buyerName(S.open.customer);
    const status = js("status_" + c.status);
    const who = c.agent_id ? js("with_agent", { name: c.agent_name || agentName(c.agent_id) }) : js("unassigned");
    $("wb-chat-meta").textContent = `${teamName(c.team)} · ${status} · ${who}`;
    renderTransferTargets();
    const allowed = mayAct();
    const open = c.status !== "closed" && !S.moved && (LEADER || c.agent_id === S.me.id);
    for (const id of ["wb-transfer-target", "wb-transfer", "wb-outcome", "wb-close"]) $(id).disabled = !open;
    text.disabled = !allowed;
    $("wb-send").disabled = !allowed;
    let notice = "";
    if (S.moved) notice = S.moved;
    else if (c.status === "closed") notice = js("closed_read_only", { outcome: outcomeName(c.outcome) });
    else if (c.status === "queued") notice = js("queued_read_only");
    $("wb-notice").textContent = notice;
    $("wb-notice").hidden = !notice;
    if (!allowed) closeMenu();
  }

  function senderLabel(m) {
    if (m.sender === "buyer") return buyerName(S.open.customer);
    if (m.sender === "agent") return m.agent_name || js("sender_agent");
    if (m.sender === "auto") return js("sender_auto");
    return "";
  }

  function messageElement(m) {
    const item = node("li", `wb-msg wb-msg-${m.sender}`);
    if (m.sender !== "system") {
      const meta = node("div", "wb-msg-meta");
      meta.append(node("span", "", senderLabel(m)));
      meta.append(node("time", "", m.created_at ? timeOf(m.created_at) : js("sending")));
      item.append(meta);
    }
    item.append(node("div", "wb-msg-text", m.text));
    return item;
  }

  function appendMessage(m, quiet = false) {
    if (S.shown.has(m.id)) return;
    S.shown.add(m.id);
    const nearBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
    const element = messageElement(m);
    element.dataset.id = String(m.id);
    const clientId = S.sentIds.get(m.id);
    const placeholder = clientId && S.pending.get(clientId);
    if (placeholder) {
      placeholder.replaceWith(element);
      S.pending.delete(clientId);
    } else {
      messages.append(element);
    }
    if (!quiet && (nearBottom || m.sender === "agent")) messages.scrollTop = messages.scrollHeight;
  }

  function renderSide() {
    const customer = S.open.customer;
    const facts = $("wb-buyer");
    facts.replaceChildren();
    const rows = [
      ["name_label", customer.nick],
      ["real_name", customer.name],
      ["city", customer.city],
      ["phone", customer.phone],
      ["tags", (customer.tags || []).join("、")],
    ];
    for (const [key, value] of rows) {
      if (!value) continue;
      facts.append(node("dt", "", js(key)), node("dd", "", value));
    }
    loadOrders(S.openId);
    loadCustomerFile(S.openId);
    fillRows($("wb-earlier"), S.open.earlier, (c) => [
      js("earlier_item", {
        date: dateOf(c.opened_at),
        agent: c.agent_name || js("no_one"),
        outcome: outcomeName(c.outcome) || js("status_active"),
      }),
    ]);
    fillRows($("wb-calls"), S.open.calls, (c) => [
      js("call_item", { date: dateOf(c.at), outcome: js("call_outcomes." + c.outcome) }),
      c.summary,
    ]);
  }

  // ---- the buyer's customer file: level, purchases, online hours (R1, R2) --------------
  // Asked of the customer file's own route, as the orders are of theirs.

  const cp = (key, values) => msg("customers_panel." + key, values);

  async function loadCustomerFile(id) {
    let data;
    try {
      data = await api("GET", `/api/customers/panel/${id}`);
    } catch {
      if (S.openId === id) $("wb-customer-file").hidden = true;
      return; // the file is extra: the chat works without it
    }
    if (S.openId === id) renderCustomerFile(data);
  }

  function renderCustomerFile(c) {
    const box = $("wb-customer");
    box.replaceChildren();
    $("wb-customer-link").href = c.link;
    $("wb-customer-file").hidden = false;
    if (c.erased) {
      box.append(node("p", "muted", cp("erased")));
      return;
    }
    const facts = node("dl", "wb-facts");
    const add = (label, value) => {
      if (value === "" || value === null || value === undefined) return;
      facts.append(node("dt", "", label), node("dd", "", value));
    };
    add(cp("level"), c.level || cp("no_level"));
    if (c.price_level) add(cp("price_level"), cp("price_" + c.price_level));
    let bought = cp("orders", { n: c.orders, amount: yuan(c.spent_fen) });
    bought += " · " + (c.last_paid_at ? cp("last_purchase", { date: dateOf(c.last_paid_at) }) : cp("never_bought"));
    add(cp("purchases"), bought);
    if (c.birthday) add(cp("birthday"), c.birthday + (c.age !== null ? " · " + cp("age", { age: c.age }) : ""));
    add(cp("tags"), (c.tags || []).join("、"));
    add(cp("notes"), c.notes);
    add(cp("greetings"), c.greetings ? cp("greetings_on") : cp("greetings_off"));
    const m = c.member;
    if (m) {
      const p = m.points;
      add(cp("points"), p.debt ? cp("points_debt", { debt: p.debt }) : cp("points_value", { usable: p.usable, pending: p.pending }));
      if (m.next_level) add(cp("next_level"), cp("next_level_gap", { level: m.next_level, orders: m.next_orders, amount: yuan(m.next_fen) }));
      const priced = (m.skus || []).filter((s) => s.member_fen < s.price_fen).slice(0, 5);
      if (priced.length) add(cp("member_prices"), priced.map((s) => cp("member_price", { title: s.title, member: yuan(s.member_fen), price: yuan(s.price_fen) })).join("；"));
    }
    box.append(facts);
    box.append(onlineStrip(c.online));
  }

  function onlineStrip(online) {
    const wrap = node("div", "cp-online");
    if (!online) {
      wrap.append(node("p", "muted", cp("online_none")));
      return wrap;
    }
    const top = Math.max(...online.day, 0) || 1;
    const strip = node("div", "cp-strip");
    strip.setAttribute("role", "img");
    strip.setAttribute("aria-label", cp("online_best", { hour: online.busiest_hour }));
    online.day.forEach((share, hour) => {
      const cell = node("span", "heat-" + Math.round((4 * share) / top));
      cell.title = `${hour}:00`;
      strip.append(cell);
    });
    const hours = node("div", "cp-hours");
    for (const h of [0, 6, 12, 18, 23]) hours.append(node("span", "", String(h)));
    const line = cp("online_best", { hour: online.busiest_hour });
    wrap.append(node("div", "muted", cp("online")), strip, hours);
    const said = node("div", online.unsure ? "cp-unsure" : "muted", line);
    if (online.unsure) said.textContent = `${line} · ${cp("online_unsure")}`;
    wrap.append(said);
    return wrap;
  }

  // ---- the buyer's orders: note, confirmation, reminders (O2, O3, O6) ------------------

  const TASK_ACTIONS = { confirm: "send_confirm", remind: "send_remind" };

  async function loadOrders(id) {
    const customer = S.open && S.open.customer;
    if (!customer) return;
    let data;
    try {
      data = await api("GET", `/api/orders/panel?customer_id=${customer.id}`);
    } catch (error) {
      if (S.openId === id) toast(js("failed", { detail: error.message }), "bad");
      return;
    }
    if (S.openId === id) renderOrders(data.orders);
  }

  function orderButton(label, action) {
    const button = node("button", "wb-mini", label);
    button.type = "button";
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await action();
      } catch (error) {
        toast(js("failed", { detail: error.message }), "bad");
      } finally {
        button.disabled = false;
        loadOrders(S.openId);
      }
    });
    return button;
  }

  function noteLine(o) {
    if (o.note) {
      const line = node("div", "wb-row-sub" + (o.note.ok ? "" : " wb-late"),
        js("orders.note", { text: o.note.text }));
      if (!o.note.ok) line.title = o.note.errors.map((e) => e.message).join("\n");
      return line;
    }
    if (!o.note_due_at) return null;
    const late = new Date(o.note_due_at).getTime() < serverNow();
    return node("div", "wb-row-sub " + (late ? "wb-late" : "muted"),
      late ? js("orders.note_late") : js("orders.note_due", { time: timeOf(o.note_due_at) }));
  }

  function noteForm(o) {
    const form = node("form", "wb-note-form");
    const input = node("input");
    input.placeholder = js("orders.note_placeholder");
    input.setAttribute("aria-label", js("orders.note_label"));
    input.maxLength = 1000;
    const save = node("button", "wb-mini", js("orders.note_save"));
    form.append(input, save);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!input.value.trim()) return;
      try {
        const result = await api("POST", `/api/orders/${o.id}/note`, { text: input.value });
        if (!result.note.ok) toast(result.note.errors.map((e) => e.message).join("; "), "bad");
      } catch (error) {
        toast(js("failed", { detail: error.message }), "bad");
      }
      loadOrders(S.openId);
    });
    return form;
  }

  function renderOrders(orders) {
    const list = $("wb-orders");
    list.replaceChildren();
    if (!orders.length) list.append(node("li", "muted", js("nothing_here")));
    for (const o of orders) {
      const row = node("li", "wb-order");
      const head = node("div", "wb-row-main");
      const link = node("a", "", o.number);
      link.href = `/orders/${o.id}`;
      link.target = "_blank";
      head.append(link, " ", js("order_item", { status: msg("status." + o.status), amount: yuan(o.total_fen) }));
      row.append(head);
      const goods = o.items.map((i) => `${i.title}${i.sku_text ? "（" + i.sku_text + "）" : ""}×${i.quantity}`);
      if (goods.length) row.append(node("div", "wb-row-sub muted", goods.join("；")));
      const note = noteLine(o);
      if (note) row.append(note);
      if (o.paid_at && !o.note) row.append(noteForm(o));
      if (o.confirmed_at) row.append(node("div", "wb-row-sub muted", js("orders.confirmed")));
      const actions = node("div", "wb-order-actions");
      for (const task of o.tasks) {
        const send = TASK_ACTIONS[task.kind];
        if (send && task.outcome !== "sent") {
          actions.append(orderButton(js("orders." + send), () =>
            api("POST", `/api/orders/tasks/${task.id}/send`, {})));
        } else if (task.kind === "confirm" && task.outcome === "sent") {
          actions.append(
            orderButton(js("orders.buyer_confirmed"), () =>
              api("POST", `/api/orders/tasks/${task.id}/finish`, { outcome: "confirmed" })),
            orderButton(js("orders.buyer_changes"), () =>
              api("POST", `/api/orders/tasks/${task.id}/finish`, { outcome: "changes_requested" })),
          );
        } else {
          actions.append(node("span", "wb-task", js("orders.task_" + task.kind)));
        }
      }
      if (o.paid_at) actions.append(ticketButton(o));
      if (actions.childElementCount) row.append(actions);
      list.append(row);
    }
  }

  // One click opens an after-sales ticket carrying this chat, its buyer and the order;
  // the subject is the buyer's last words.
  function ticketButton(o) {
    const button = node("button", "wb-mini wb-open-ticket", js("orders.open_ticket"));
    button.type = "button";
    button.addEventListener("click", async () => {
      button.disabled = true;
      const said = S.open.messages.filter((m) => m.sender === "buyer").map((m) => m.text);
      const subject = (said[said.length - 1] || o.number).slice(0, 200);
      try {
        const made = await api("POST", "/api/aftersales/tickets",
          { conversation_id: S.openId, order_id: o.id, kind: "refund", subject });
        toast(js("orders.ticket_opened", { id: made.ticket.id }), "good");
      } catch (error) {
        toast(js("failed", { detail: error.message }), "bad");
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  function fillRows(list, items, lines) {
    list.replaceChildren();
    if (!items.length) list.append(node("li", "muted", js("nothing_here")));
    for (const item of items) {
      const row = node("li");
      const [first, ...rest] = lines(item);
      row.append(node("div", "wb-row-main", first));
      for (const line of rest) row.append(node("div", "wb-row-sub muted", line));
      list.append(row);
    }
  }

  function renderTransferTargets() {
    const select = $("wb-transfer-target");
    const chosen = select.value;
    select.replaceChildren();
    const prompt = node("option", "", js("transfer_pick"));
    prompt.value = "";
    select.append(prompt);
    const current = S.open ? S.open.conversation.agent_id : null;
    const people = node("optgroup");
    people.label = msg("reception.col_name");
    for (const a of S.agents) {
      if (a.status !== "online" || a.id === current) continue;
      const option = node("option", "", js("transfer_to_agent", { name: a.name, team: teamName(a.team), n: a.active }));
      option.value = `agent:${a.id}`;
      people.append(option);
    }
    if (people.children.length) select.append(people);
    const teams = node("optgroup");
    teams.label = msg("reception.col_team");
    for (const team of TEAMS) {
      const option = node("option", "", js("transfer_to_team", { team: teamName(team) }));
      option.value = `team:${team}`;
      teams.append(option);
    }
    select.append(teams);
    select.value = Array.from(select.options).some((o) => o.value === chosen) ? chosen : "";
  }

  let reading = null;
  /** The assigned agent has seen the buyer's messages (a supervisor looking on has not). */
  function markRead() {
    const mine = S.open && S.open.conversation.agent_id === S.me.id;
    if (!mine || !mayAct() || reading || document.visibilityState !== "visible") return;
    const id = S.openId;
    reading = setTimeout(async () => {
      try {
        await api("POST", `/api/reception/conversations/${id}/read`, {});
        const item = S.byId.get(id);
        if (item) item.unread = 0;
        renderList();
      } catch {
        // the next buyer message tries again
      } finally {
        reading = null;
      }
    }, 300);
  }
  document.addEventListener("visibilitychange", markRead);

  // ---- actions ------------------------------------------------------------------------

  async function act(button, path, body, done) {
    const id = S.openId;
    button.disabled = true;
    try {
      const result = await postPatiently(`/api/reception/conversations/${id}/${path}`, body);
      toast(done);
      refreshSoon(0);
      if (S.openId !== id) return;
      if (path === "transfer" && !LEADER && result.agent_id !== S.me.id) {
        // no longer ours: keep the chat on screen, read-only
        S.moved = result.agent_id ? js("moved_away", { name: agentName(result.agent_id) }) : js("moved_away_queue");
        Object.assign(S.open.conversation, { agent_id: result.agent_id, team: result.team, status: result.status });
        S.open.conversation.agent_name = agentName(result.agent_id);
      } else {
        await openConversation(id);
      }
    } catch (error) {
      toast(js("failed", { detail: error.message }), "bad");
    } finally {
      button.disabled = false;
      if (S.open) renderHead();
    }
  }

  $("wb-transfer").addEventListener("click", (event) => {
    const target = $("wb-transfer-target").value;
    if (!target) {
      $("wb-transfer-target").focus();
      return;
    }
    const [kind, value] = target.split(":");
    const body = kind === "agent" ? { agent_id: Number(value) } : { team: value };
    act(event.currentTarget, "transfer", body, js("transfer_done"));
  });

  $("wb-close").addEventListener("click", (event) => {
    act(event.currentTarget, "close", { outcome: $("wb-outcome").value }, js("close_done"));
  });

  // ---- the composer and quick phrases (C5, C8) ----------------------------------------

  const menu = { items: [], index: 0, token: null };

  function phraseValues() {
    return {
      shop: S.shop.name,
      agent: S.me.name,
      buyer: S.open ? S.open.customer.nick : "",
      activity: S.activities.join("；"),
      courier: S.shop.courier,
      cutoff: S.shop.cutoff || "",
      product: "",
      position: "",
    };
  }

  /** The phrase with its {variables} filled; "{{" and "}}" are literal braces. */
  function fillPhrase(template) {
    const values = phraseValues();
    return template.replace(/\{\{|\}\}|\{(\w*)\}/g, (all, name) =>
      all === "{{" ? "{" : all === "}}" ? "}" : values[name] ?? "",
    );
  }

  function phraseToken() {
    const before = text.value.slice(0, text.selectionStart);
    const found = /(^|\s)\/([^\s/]*)$/.exec(before);
    return found ? { start: before.length - found[2].length - 1, end: before.length, query: found[2] } : null;
  }

  function updateMenu() {
    const token = phraseToken();
    if (!token || !mayAct()) return closeMenu();
    const query = token.query.toLowerCase();
    const found = S.phrases.filter((p) => p.shortcut.toLowerCase().startsWith(query));
    found.sort((a, b) => (a.shortcut.toLowerCase() === query ? -1 : 0) - (b.shortcut.toLowerCase() === query ? -1 : 0)
      || a.shortcut.length - b.shortcut.length);
    menu.items = found.slice(0, 8);
    menu.index = 0;
    menu.token = token;
    renderMenu();
  }

  function renderMenu() {
    const box = $("wb-phrases");
    box.replaceChildren();
    menu.items.forEach((phrase, index) => {
      const option = node("div", "wb-phrase");
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", String(index === menu.index));
      option.append(node("b", "", "/" + phrase.shortcut));
      if (phrase.group) option.append(node("span", "tag", phrase.group));
      option.append(node("span", "wb-phrase-text", fillPhrase(phrase.text)));
      option.addEventListener("mousedown", (event) => {
        event.preventDefault(); // keep the caret in the text box
        choosePhrase(phrase);
      });
      box.append(option);
    });
    if (!menu.items.length) box.append(node("div", "wb-phrase muted", js("phrase_none")));
    box.append(node("div", "wb-phrase-hint", js("phrase_hint")));
    box.hidden = false;
  }

  function closeMenu() {
    menu.items = [];
    menu.token = null;
    $("wb-phrases").hidden = true;
  }

  function choosePhrase(phrase) {
    const { start, end } = menu.token;
    const filled = fillPhrase(phrase.text);
    text.value = text.value.slice(0, start) + filled + text.value.slice(end);
    const caret = start + filled.length;
    text.setSelectionRange(caret, caret);
    closeMenu();
    text.focus();
    keepDraft();
  }

  text.addEventListener("keydown", (event) => {
    if (event.isComposing || event.keyCode === 229) return; // an input method is composing
    if (menu.token && menu.items.length) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        menu.index = (menu.index + step + menu.items.length) % menu.items.length;
        renderMenu();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") {
        event.preventDefault();
        choosePhrase(menu.items[menu.index]);
        return;
      }
    }
    if (menu.token && event.key === "Escape") {
      closeMenu();
      return;
    }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      send();
    }
  });

  // Typing speed counts what the hand typed: a paste, a drop, a phrase or a suggestion
  // put in is not typing (one paste read as 49,565 字/分). An input method's
  // composition counts by the change of length, so its pinyin letters cancel out.
  const TYPING = new Set(["insertText", "insertCompositionText", "insertFromComposition", "insertLineBreak"]);
  let lengthBefore = 0;
  text.addEventListener("beforeinput", () => {
    lengthBefore = text.value.length;
  });
  text.addEventListener("input", (event) => {
    if (!text.value) {
      S.typingStart = null;
      S.typed = 0;
    } else {
      if (TYPING.has(event.inputType)) {
        if (S.typingStart === null) S.typingStart = performance.now();
        S.typed += text.value.length - lengthBefore;
      }
      S.typed = Math.max(0, Math.min(S.typed, text.value.length));
    }
    keepDraft();
    updateMenu();
  });
  text.addEventListener("click", updateMenu);
  text.addEventListener("blur", () => setTimeout(closeMenu, 150));

  $("wb-composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });

  async function send() {
    const body = text.value.trim();
    if (!body || !mayAct()) return;
    const id = S.openId;
    const clientId = uuid();
    const typingMs = S.typingStart === null ? null : Math.min(MAX_TYPING_MS, Math.round(performance.now() - S.typingStart));
    const typed = Math.min(S.typed, body.length);
    text.value = "";
    S.typingStart = null;
    S.typed = 0;
    S.drafts.delete(id);
    forgetDraft(id);
    closeMenu();
    const bubble = messageElement({ sender: "agent", agent_name: S.me.name, text: body, created_at: null });
    bubble.classList.add("pending");
    messages.append(bubble);
    messages.scrollTop = messages.scrollHeight;
    S.pending.set(clientId, bubble);
    try {
      const reply = { text: body, client_id: clientId, typing_ms: typingMs, typed_chars: typed };
      // Over the live socket when it is open (the cheapest way for the server); over HTTP
      // when it is not or gives no answer in time. A reply sent twice is stored once.
      const result = await sendOverSocket(id, reply).catch((error) => {
        if (!error.network) throw error;
        return postPatiently(`/api/reception/conversations/${id}/messages`, reply);
      });
      for (const messageId of result.message_ids) S.sentIds.set(messageId, clientId);
      if (result.message_ids.some((m) => S.shown.has(m))) {
        bubble.remove(); // the live stream was quicker than the answer
        S.pending.delete(clientId);
      }
      showSpeed(typed, typingMs);
      if (S.inserted && S.inserted.id === id) {
        if (body !== S.inserted.text.trim()) S.inserted.feedback("edited", body); // changed first
        S.inserted = null;
      }
    } catch (error) {
      bubble.remove();
      S.pending.delete(clientId);
      if (S.openId === id && !text.value) {
        text.value = body;
        keepDraft();
      }
      if (error.detail && error.detail.needs_approval) {
        showBlocked(id, body, error.detail.blocks);
        return;
      }
      toast(js("failed", { detail: error.message }), "bad");
    }
  }

  // ---- checks before sending, and the supervisor's approval (C9, A5, A6) -------------

  const check = $("wb-check");
  let checkTimer = null;

  function showFindings(findings, blocked) {
    check.replaceChildren();
    check.hidden = !findings.length;
    if (!findings.length) return;
    check.classList.toggle("blocked", blocked);
    check.append(node("p", "", aj(blocked ? "blocked" : "hints")));
    const list = node("ul");
    for (const f of findings) list.append(node("li", `wb-finding wb-finding-${f.severity}`, f.message));
    check.append(list);
  }

  function showBlocked(id, body, blocks) {
    showFindings(blocks.map((b) => ({ ...b, severity: "block" })), true);
    const ask = node("button", "wb-secondary", aj("ask"));
    ask.type = "button";
    ask.addEventListener("click", async () => {
      ask.disabled = true;
      try {
        await api("POST", "/api/assistant/approvals", { conversation_id: id, text: body });
        ask.replaceWith(node("p", "muted", aj("asked")));
      } catch (error) {
        ask.disabled = false;
        toast(js("failed", { detail: error.message }), "bad");
      }
    });
    check.append(ask);
  }

  text.addEventListener("input", () => {
    clearTimeout(checkTimer);
    const id = S.openId;
    checkTimer = setTimeout(async () => {
      const draft = text.value.trim();
      if (!draft || !mayAct()) return showFindings([], false);
      try {
        const found = await api("POST", "/api/assistant/check", { conversation_id: id, text: draft });
        if (S.openId === id && text.value.trim() === draft) showFindings(found.findings, found.blocked);
      } catch {
        // hints are a help, not a gate: the server checks again on sending
      }
    }, 400);
  });

  async function loadApprovals() {
    if (!LEADER) return;
    let data;
    try {
      data = await api("GET", "/api/assistant/approvals");
    } catch {
      return;
    }
    const list = $("wb-approvals");
    list.replaceChildren();
    if (!data.approvals.length) list.append(node("li", "muted", aj("none_waiting")));
    for (const a of data.approvals) {
      const item = node("li", "wb-approval");
      if (a.buyer_text) item.append(node("p", "wb-approval-asked", aj("buyer_asked", { text: a.buyer_text })));
      item.append(node("p", "", aj("requested", { agent: agentName(a.agent_id), text: a.text })));
      for (const reason of a.reasons) item.append(node("p", "muted", reason));
      const chat = node("a", "wb-approval-chat", aj("open_chat"));
      chat.href = `/workbench?c=${a.conversation_id}`;
      chat.addEventListener("click", (event) => {
        event.preventDefault();
        showTab("chats");
        openConversation(a.conversation_id);
      });
      item.append(chat, " ");
      for (const [key, approve] of [["approve", true], ["refuse", false]]) {
        const button = node("button", approve ? "" : "wb-secondary", aj(key));
        button.type = "button";
        button.addEventListener("click", async () => {
          try {
            await api("POST", `/api/assistant/approvals/${a.id}/decision`, { approve });
          } catch (error) {
            toast(js("failed", { detail: error.message }), "bad");
          }
          loadApprovals();
        });
        item.append(button);
      }
      list.append(item);
    }
  }

  function onApproval(kind, d) {
    if (kind === "approval.requested") {
      if (LEADER) {
        addAlert(aj("requested", { agent: d.agent_name, text: d.text }), "warn");
        loadApprovals();
      }
      return;
    }
    if (LEADER) loadApprovals();
    if (d.agent_id !== S.me.id) return;
    if (d.approved) {
      toast(aj("approved"), "good");
      if (S.openId === d.conversation_id) showFindings([], false);
    } else {
      toast(aj("refused", { note: d.note || "" }), "bad");
    }
  }

  function showSpeed(chars, typingMs) {
    if (!typingMs || !chars) return;
    const cpm = Math.round((chars * 60000) / typingMs);
    const target = S.policy.typing_speed_target_cpm;
    const speed = $("wb-speed");
    speed.textContent = js("speed", { cpm, target });
    speed.classList.toggle("muted", false);
    speed.classList.toggle("good", cpm >= target);
  }

  // ---- presence (C7) ------------------------------------------------------------------

  const presence = $("wb-presence");

  function setPresence(status) {
    S.me.status = status;
    if (!presence) return;
    presence.value = status;
    presence.dataset.status = status;
  }

  if (presence) {
    presence.addEventListener("change", async () => {
      const wanted = presence.value;
      try {
        const result = await api("POST", "/api/reception/presence", { status: wanted });
        setPresence(result.status);
      } catch (error) {
        setPresence(S.me.status);
        toast(js("failed", { detail: error.message }), "bad");
      }
    });
  }

  // ---- the floor view and alerts ------------------------------------------------------

  function cell(row, content, className) {
    const td = node("td", className || "");
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    row.append(td);
  }

  function renderMonitor() {
    if (!LEADER) return;
    const live = $("wb-live");
    const queue = $("wb-queue");
    const agents = $("wb-agents");
    live.replaceChildren();
    queue.replaceChildren();
    agents.replaceChildren();
    for (const c of S.conversations) {
      const row = node("tr", "wb-clickable");
      row.addEventListener("click", () => {
        showTab("chats");
        openConversation(c.id);
      });
      cell(row, buyerName(c));
      cell(row, teamName(c.team));
      if (c.status === "queued") {
        cell(row, waitChip(c));
        queue.append(row);
        continue;
      }
      cell(row, c.agent_name);
      cell(row, waitChip(c));
      cell(row, c.sla_due_at ? slaChip(c.sla_due_at) : "");
      cell(row, String(c.unread), "num");
      live.append(row);
    }
    if (!live.children.length) emptyRow(live, 6, js("no_conversations"));
    if (!queue.children.length) emptyRow(queue, 3, js("queue_empty"));
    const order = { online: 0, away: 1, offline: 2 };
    for (const a of [...S.agents].sort((x, y) => order[x.status] - order[y.status])) {
      const row = node("tr");
      cell(row, `${a.name} · ${a.number}`);
      cell(row, teamName(a.team));
      const status = node("span", `wb-dot wb-dot-${a.status}`, presenceName(a.status));
      cell(row, status);
      cell(row, String(a.active), "num");
      agents.append(row);
    }
    $("wb-fig-online").textContent = String(S.agents.filter((a) => a.status === "online").length);
    $("wb-fig-live").textContent = String(S.conversations.filter((c) => c.status === "active").length);
    $("wb-fig-queued").textContent = String(S.conversations.filter((c) => c.status === "queued").length);
    $("wb-fig-breaches").textContent = String(S.breaches);
    renderAlerts();
    tick();
  }

  function emptyRow(body, span, message) {
    const row = node("tr");
    const td = node("td", "muted", message);
    td.colSpan = span;
    row.append(td);
    body.append(row);
  }

  function renderAlerts() {
    const list = $("wb-alerts");
    if (!list) return;
    list.replaceChildren();
    if (!S.alerts.length) list.append(node("li", "muted", js("no_alerts")));
    for (const alert of S.alerts) {
      const item = node("li", `wb-alert wb-alert-${alert.kind}`);
      item.append(node("time", "", timeOf(alert.at)), node("span", "", alert.text));
      list.append(item);
    }
  }

  function addAlert(message, kind) {
    S.alerts.unshift({ at: new Date().toISOString(), text: message, kind });
    S.alerts.length = Math.min(S.alerts.length, 50);
    renderAlerts();
    toast(message, kind);
  }

  function toast(message, kind = "info") {
    const item = node("div", `wb-toast wb-toast-${kind}`, message);
    item.setAttribute("role", kind === "bad" ? "alert" : "status");
    item.addEventListener("click", () => item.remove());
    $("wb-toasts").append(item);
    setTimeout(() => item.remove(), kind === "bad" ? 9000 : 4000);
  }

  function showTab(name) {
    const monitor = $("wb-monitor");
    if (!monitor) return;
    const chats = name === "chats";
    $("wb-reception").hidden = !chats;
    monitor.hidden = chats;
    $("wb-tab-chats").setAttribute("aria-selected", String(chats));
    $("wb-tab-monitor").setAttribute("aria-selected", String(!chats));
  }
  $("wb-tab-chats").addEventListener("click", () => showTab("chats"));
  if ($("wb-tab-monitor")) $("wb-tab-monitor").addEventListener("click", () => showTab("monitor"));

  // ---- never miss a buyer: a sound, a desktop notification (C3) ----------------------

  const alertsKey = () => `xiaoer.alerts.${S.me.id}`;
  const ALERTS = { sound: true, desktop: true }; // each agent may switch either off
  let audio = null;

  function loadAlertSettings() {
    try {
      Object.assign(ALERTS, JSON.parse(localStorage.getItem(alertsKey()) || "{}"));
    } catch {
      // unreadable: the defaults stand
    }
    $("wb-sound").checked = Boolean(ALERTS.sound);
    $("wb-desktop").checked = Boolean(ALERTS.desktop);
  }

  function saveAlertSettings() {
    try {
      localStorage.setItem(alertsKey(), JSON.stringify(ALERTS));
    } catch {
      // kept for this page only
    }
  }

  /** Permission is asked once, and only from something the agent did. */
  function askPermission() {
    if (!ALERTS.desktop || !("Notification" in window) || Notification.permission !== "default") return;
    try {
      const asked = Notification.requestPermission();
      if (asked && asked.catch) asked.catch(() => {});
    } catch {
      // an old browser's callback form: nothing to wait for
    }
  }

  /** Browsers let a page make sound only after a gesture: the context is made then. */
  function wakeAudio() {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume().catch(() => {});
  }

  function onGesture() {
    askPermission();
    wakeAudio();
  }
  document.addEventListener("pointerdown", onGesture, { once: true, capture: true });
  document.addEventListener("keydown", onGesture, { once: true, capture: true });

  $("wb-sound").addEventListener("change", (event) => {
    ALERTS.sound = event.currentTarget.checked;
    saveAlertSettings();
    if (ALERTS.sound) wakeAudio();
  });
  $("wb-desktop").addEventListener("change", (event) => {
    ALERTS.desktop = event.currentTarget.checked;
    saveAlertSettings();
    askPermission();
  });

  /** Two short rising tones, made here: nothing to download. */
  function chime() {
    if (!ALERTS.sound || !audio || audio.state !== "running") return;
    const start = audio.currentTime;
    [880, 1320].forEach((pitch, i) => {
      const tone = audio.createOscillator();
      const volume = audio.createGain();
      tone.frequency.value = pitch;
      volume.gain.setValueAtTime(0.0001, start + i * 0.16);
      volume.gain.exponentialRampToValueAtTime(0.25, start + i * 0.16 + 0.02);
      volume.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.16 + 0.15);
      tone.connect(volume).connect(audio.destination);
      tone.start(start + i * 0.16);
      tone.stop(start + i * 0.16 + 0.16);
    });
  }

  function notifyDesktop(id, title, body) {
    if (!ALERTS.desktop || !("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const shown = new Notification(title, { body, tag: `xiaoer-conversation-${id}` });
      shown.onclick = () => {
        window.focus();
        showTab("chats");
        openConversation(id);
        shown.close();
      };
    } catch {
      // a browser that shows notifications only from a service worker: the sound and title remain
    }
  }

  const onScreen = (id) => id === S.openId && document.visibilityState === "visible";

  /** A buyer's message that this agent should hear of: their own conversation or the
   * queue's, not on screen right now. A leader hears of the queue and their own. */
  function announce(d) {
    if (d.sender !== "buyer" || onScreen(d.conversation_id)) return;
    const known = S.byId.get(d.conversation_id);
    const c = d.conversation || known || {};
    if (c.agent_id && c.agent_id !== S.me.id) return;
    chime();
    if (known) {
      notifyDesktop(d.conversation_id, js("notify_message", { buyer: buyerName(known) }), d.text || "");
    } else {
      // a new buyer: named once the lists, read again for them, are back
      newBuyers.push({ id: d.conversation_id, customer_id: c.customer_id, text: d.text || "", seq: S.after });
    }
  }

  const newBuyers = [];

  /** Lists read at or after event number ``after`` know the buyers announced by then. */
  function announceNewBuyers(after) {
    for (const b of [...newBuyers]) {
      const known = S.byId.get(b.id);
      if (!known && after < b.seq) continue;
      newBuyers.splice(newBuyers.indexOf(b), 1);
      const name = buyerName(known || { customer_id: b.customer_id });
      notifyDesktop(b.id, js("notify_new_buyer", { buyer: name }), b.text);
    }
  }


  // ---- the live stream ----------------------------------------------------------------

  function onEvent(kind, d) {
    switch (kind) {
      case "message.created":
        onMessage(d);
        break;
      case "conversation.assigned":
        if (S.open && d.conversation_id === S.openId) {
          Object.assign(S.open.conversation, { agent_id: d.agent_id, agent_name: d.agent_name, team: d.team, status: "active" });
          if (!LEADER && d.agent_id !== S.me.id) S.moved = js("moved_away", { name: d.agent_name });
          else S.moved = "";
          renderHead();
        }
        if (d.agent_id === S.me.id) toast(js("new_chat"));
        refreshSoon();
        break;
      case "conversation.closed":
        if (S.open && d.conversation_id === S.openId) {
          Object.assign(S.open.conversation, { status: "closed", outcome: d.outcome });
          renderHead();
        }
        refreshSoon();
        break;
      case "agent.presence":
        if (d.staff_id === S.me.id) setPresence(d.status);
        refreshSoon();
        break;
      case "sla.breached":
        onBreach(d);
        break;
      case "agent.idle":
        onIdle(d);
        refreshSoon();
        break;
      case "queue.position":
        refreshSoon();
        break;
      case "approval.requested":
      case "approval.decided":
        onApproval(kind, d);
        break;
      case "complaint.major":
        // Leaders only receive it: a major complaint is told to them at once (S3).
        toast(js("major_complaint", { id: d.ticket_id }), "bad");
        break;
      default:
        break;
    }
  }

  /** When the buyer's open round must be answered (the server's rule, from the event). */
  function slaDue(c) {
    if (!c.waiting_since || !S.policy) return null;
    const seconds = c.first_response_at ? S.policy.reply_seconds : S.policy.first_response_seconds;
    return new Date(Date.parse(c.waiting_since) + seconds * 1000).toISOString();
  }

  function onMessage(d) {
    announce(d);
    const item = S.byId.get(d.conversation_id);
    // A conversation already listed is updated from the event itself; only a new one,
    // or one that changed hands, needs the lists read again.
    let stale = !item;
    if (item) {
      if (d.sender === "buyer") item.last_text = (d.text || "").slice(0, 60);
      if (d.conversation) {
        stale = d.conversation.agent_id !== item.agent_id || d.conversation.status !== item.status;
        item.waiting_since = d.conversation.waiting_since;
        item.unread = d.conversation.unread;
        item.sla_due_at = slaDue(d.conversation);
      }
      renderList();
    }
    if (S.open && d.conversation_id === S.openId) {
      if (d.conversation) {
        const c = S.open.conversation;
        const agentId = d.conversation.agent_id;
        if (agentId !== c.agent_id) {
          c.agent_name = agentName(agentId);
          if (!LEADER && agentId !== S.me.id) {
            S.moved = agentId ? js("moved_away", { name: c.agent_name }) : js("moved_away_queue");
          }
        }
        Object.assign(c, { agent_id: agentId, status: d.conversation.status, team: d.conversation.team });
        renderHead();
      }
      appendMessage(d);
      if (d.sender === "buyer") {
        markRead();
        loadSuggestions();
      }
    }
    if (stale) refreshSoon();
  }

  function onBreach(d) {
    if (!(LEADER || d.agent_id === S.me.id)) return;
    S.breaches += 1;
    const c = S.byId.get(d.conversation_id);
    const values = { buyer: buyerName(c || { customer_id: d.conversation_id }), waited: d.waited_seconds, target: d.target_seconds };
    addAlert(js(d.first ? "alert_first" : "alert_reply", values), "bad");
    renderMonitor();
  }

  function onIdle(d) {
    if (d.staff_id === S.me.id) {
      setPresence("away");
      toast(js("you_idle"), "bad");
    }
    if (LEADER) addAlert(js("alert_idle", { name: agentName(d.staff_id) || js("no_one"), n: d.waiting_buyers }), "warn");
  }

  let refreshTimer = null;
  let refreshing = false;
  let refreshAgain = false;

  /** Re-read the lists a moment after events settle; the server's view is the truth. */
  function refreshSoon(delay = 250) {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      if (refreshing) {
        refreshAgain = true;
        return;
      }
      refreshing = true;
      try {
        const data = await api("GET", "/api/reception/state");
        applyState(data);
        if (S.open) renderHead();
        if (data.after < S.after) refreshAgain = true; // read before the latest events: again
      } catch {
        // the next event or reconnect tries again
      } finally {
        refreshing = false;
        if (refreshAgain) {
          refreshAgain = false;
          refreshSoon();
        }
      }
    }, delay);
  }

  function setLink(state) {
    const link = $("wb-link");
    link.dataset.state = state;
    link.textContent = js({ connecting: "link_connecting", live: "link_live", lost: "link_lost" }[state]);
  }

  let backoff = 1000;
  let lostAt = null;
  let socket = null;
  let retryTimer = null;
  let starting = false;
  let started = false; // the first state is read: the stream may start after it

  async function connect() {
    retryTimer = null;
    if (socket || starting) return; // already open or on its way
    if (lostAt !== null && Date.now() - lostAt > LONG_GAP_MS) {
      // away for long: start over from the current state rather than replay everything
      starting = true;
      try {
        const data = await api("GET", "/api/reception/state");
        S.after = data.after;
        applyState(data);
        if (S.openId !== null) openConversation(S.openId).catch(() => {});
      } catch {
        return retry();
      } finally {
        starting = false;
      }
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    try {
      socket = new WebSocket(`${scheme}://${location.host}/ws/workbench?after=${S.after}`);
    } catch {
      // Refused before it started: try again later rather than stay silent for good.
      socket = null;
      if (lostAt === null) lostAt = Date.now();
      setLink("lost");
      return retry();
    }
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "hello") {
        setLink("live");
        backoff = 1000;
        if (lostAt !== null) refreshSoon(0);
        lostAt = null;
      } else if ((frame.type === "ack" || frame.type === "error") && frame.client_id) {
        answerArrived(frame);
      } else if (frame.type === "event" && frame.seq > S.after) {
        S.after = frame.seq;
        try {
          onEvent(frame.kind, frame.data || {});
        } catch (error) {
          console.error(error); // eslint-disable-line no-console
        }
      }
    });
    socket.addEventListener("close", (event) => {
      socket = null;
      socketLost();
      if (lostAt === null) lostAt = Date.now();
      setLink("lost");
      if (event.code === 4401) {
        location.href = "/login?next=" + encodeURIComponent(location.pathname);
        return;
      }
      if (event.code !== 4403) retry();
    });
  }

  function retry() {
    if (retryTimer !== null) return;
    const wait = backoff * (0.75 + Math.random() * 0.5);
    retryTimer = setTimeout(connect, wait);
    backoff = Math.min(backoff * 2, 30000);
  }

  /** Back on the network: try at once rather than at the end of a long backoff. */
  function reconnectNow() {
    if (socket || !started) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    backoff = 1000;
    connect();
  }

  /** A socket that cannot be trusted (the network went, the laptop slept) is closed;
   * its close handler reconnects and the stream resumes from the last number seen. */
  function dropSocket() {
    if (socket) socket.close(4000, "stale");
  }

  window.addEventListener("offline", dropSocket);
  window.addEventListener("online", reconnectNow);
  // Timers stop while a laptop sleeps: a long gap between two ticks means it slept, and a
  // socket from before may be dead without knowing it.
  let lastBeat = Date.now();
  setInterval(() => {
    const now = Date.now();
    if (now - lastBeat > 15000) dropSocket();
    lastBeat = now;
  }, 5000);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  // Some proxies close quiet connections; the server ignores what we send.
  setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send("ping");
  }, 25000);

  async function start() {
    for (;;) {
      try {
        const sentAt = Date.now();
        const response = await fetch("/api/reception/state", { headers: { Accept: "application/json" } });
        if (response.status === 401) {
          location.href = "/login?next=" + encodeURIComponent(location.pathname);
          return;
        }
        if (!response.ok) throw new Error(response.statusText);
        const served = Date.parse(response.headers.get("Date") || "");
        const offset = (sentAt + Date.now()) / 2 - served - 500; // Date has whole seconds
        if (Number.isFinite(offset) && Math.abs(offset) > 2000) skew = offset;
        const data = await response.json();
        S.after = data.after;
        applyState(data);
        loadAlertSettings();
        loadApprovals();
        const asked = Number(new URL(location.href).searchParams.get("c"));
        if (asked > 0) openConversation(asked).catch(() => {}); // a link, or a reload
        break;
      } catch {
        setLink("lost");
        await sleep(3000);
      }
    }
    started = true;
    connect();
    setInterval(tick, 1000);
  }

  start();
})();
