// The widget's protocol engine against a scripted relay: a fake WebSocket
// records what the client sends and lets the test answer. Without
// IndexedDB and localStorage (node), the Store keeps everything in memory.
import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Client, retryable } from "../src/client.js";
import { Model } from "../src/model.js";
import { Store } from "../src/store.js";
import { PROTOCOL as P } from "./protocol.mjs";

class FakeSocket {
  static all = [];
  // down: the relay refuses connections (each closes with 1006 at once).
  static down = false;
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    FakeSocket.all.push(this);
    const down = FakeSocket.down;
    queueMicrotask(() => {
      if (down) {
        this.readyState = 3;
        this.onclose && this.onclose({ code: 1006, reason: "" });
        return;
      }
      this.readyState = 1;
      this.onopen && this.onopen();
    });
  }
  send(s) {
    this.sent.push(JSON.parse(s));
  }
  close(code = 1000) {
    this.readyState = 3;
    this.closedWith = code;
  }
  // relay side
  frame(f) {
    this.onmessage({ data: JSON.stringify(f) });
  }
  drop(code, reason = "") {
    this.readyState = 3;
    this.onclose({ code, reason });
  }
  last(type) {
    return this.sent.filter((f) => f.type === type).at(-1);
  }
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const me = { id: "contact:42", role: "contact" };

// Every client a test makes is stopped after it: no retry or hello timer
// outlives its test.
const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.stop();
});

async function client(over = {}) {
  FakeSocket.all = [];
  FakeSocket.down = false;
  const states = [];
  const c = new Client({
    url: "ws://relay.test/v1/sync",
    workspace: "acme",
    auth: { kind: "contact", contactId: "42", hash: "h" },
    store: new Store("acme", "contact:42"),
    model: new Model(),
    protocol: P,
    WebSocket: FakeSocket,
    random: () => 0,
    log: { error() {}, warn() {} },
    onState: (s) => states.push(s),
    ...over,
  });
  c.states = states;
  clients.push(c);
  await c.init();
  return c;
}

const welcome = (epoch = "E1", lastMid = 0) => ({ type: "welcome", identity: me, epoch, head: 0, backlog: 0, lastMid });

test("hello carries the protocol's version, the workspace, the device, the cursor and the auth", async () => {
  const c = await client();
  c.connect();
  await tick();
  const [ws] = FakeSocket.all;
  const h = ws.sent[0];
  assert.equal(h.type, "hello");
  assert.equal(h.protocol, P.version);
  assert.equal(h.workspace, "acme");
  assert.match(h.device, /^[0-9a-f-]{36}$/);
  assert.deepEqual(h.cursor, { epoch: "", seq: 0 });
  assert.deepEqual(h.auth, { kind: "contact", contactId: "42", hash: "h" });
});

test("events move the cursor; the next hello resumes from it", async () => {
  const c = await client();
  c.connect();
  await tick();
  let ws = FakeSocket.all[0];
  ws.frame(welcome());
  ws.frame({ type: "events", events: [{ id: "a", seq: 3, conv: "c1", kind: "conversation.created", actor: me, data: { contact: me } }] });
  ws.frame({ type: "caughtUp", cursor: { epoch: "E1", seq: 7 } });
  await tick();
  assert.deepEqual(c.cursor, { epoch: "E1", seq: 7 });
  assert.equal(c.state, "online");
  ws.drop(1006);
  await tick(200); // backoff with jitter 0: 125 ms
  ws = FakeSocket.all[1];
  assert.ok(ws, "reconnected");
  assert.deepEqual(ws.sent[0].cursor, { epoch: "E1", seq: 7 });
});

test("pending events go out in mid order, one push in flight; acks settle them", async () => {
  const c = await client();
  c.connect();
  await tick();
  const ws = FakeSocket.all[0];
  ws.frame(welcome());
  await tick();
  const first = await c.make([
    { kind: "conversation.created", conv: "c1", data: {} },
    { kind: "message.sent", conv: "c1", data: { text: "hi" } },
  ]);
  const second = await c.make([{ kind: "message.sent", conv: "c1", data: { text: "again" } }]);
  await tick();
  const pushes = ws.sent.filter((f) => f.type === "push");
  assert.equal(pushes.length, 1, "one push in flight");
  assert.deepEqual(pushes[0].events.map((e) => e.mid), [1, 2]);
  assert.equal(pushes[0].events[0].device, ws.sent[0].device);
  ws.frame({ type: "ack", results: [{ id: first.recs[0].id, seq: 1 }, { id: first.recs[1].id, error: { code: "forbidden", message: "no" } }] });
  await tick();
  assert.deepEqual(await first.ps[0], { id: first.recs[0].id, seq: 1 });
  await assert.rejects(first.ps[1], (e) => e.code === "forbidden" && e.message === "no");
  const next = ws.last("push");
  assert.deepEqual(next.events.map((e) => e.id), [second.recs[0].id], "the next push follows the ack");
  ws.frame({ type: "ack", results: [{ id: second.recs[0].id, seq: 0 }] });
  await tick();
  assert.deepEqual(c.outbox.map((r) => [r.state, r.event.data.text || ""]), [["acked", ""], ["failed", "hi"]]);
});

test("after a reconnect, unacknowledged events are resent with the same id and mid", async () => {
  const c = await client();
  c.connect();
  await tick();
  let ws = FakeSocket.all[0];
  ws.frame(welcome());
  await tick();
  const { recs } = await c.make([{ kind: "message.sent", conv: "c1", data: { text: "x" } }]);
  await tick();
  const sent = ws.last("push").events[0];
  ws.drop(1006);
  await tick(200);
  ws = FakeSocket.all[1];
  ws.frame(welcome("E1", 1));
  await tick();
  const again = ws.last("push").events[0];
  assert.equal(again.id, recs[0].id);
  assert.equal(again.mid, sent.mid);
});

test("a new epoch drops canonical state, keeps pending events and starts from 0", async () => {
  const c = await client();
  c.connect();
  await tick();
  let ws = FakeSocket.all[0];
  ws.frame(welcome("E1"));
  ws.frame({ type: "events", events: [{ id: "a", seq: 3, conv: "c1", kind: "conversation.created", actor: me, data: { contact: me } }] });
  await tick();
  const { recs } = await c.make([{ kind: "message.sent", conv: "c1", data: { text: "keep me" } }]);
  await tick();
  ws.frame({ type: "ack", results: [{ id: recs[0].id, seq: 4 }] });
  await tick();
  ws.drop(1006);
  await tick(200);
  ws = FakeSocket.all[1];
  assert.deepEqual(ws.sent[0].cursor, { epoch: "E1", seq: 3 });
  ws.frame(welcome("E2"));
  await tick();
  assert.deepEqual(c.cursor, { epoch: "E2", seq: 0 });
  assert.equal(c.model.state("c1"), undefined, "canonical state dropped");
  const push = ws.last("push");
  assert.ok(push, "the acknowledged-but-not-received event is pushed again");
  assert.equal(push.events[0].id, recs[0].id);
});

test("close 4501 (unauthorized) is final: no retry, ready rejects with the relay's code", async () => {
  const c = await client();
  c.connect();
  await tick();
  const ws = FakeSocket.all[0];
  ws.frame({ type: "error", code: "unauthorized", message: "wrong contact hash", fatal: true });
  ws.drop(P.fatalCloseCodes.unauthorized, "unauthorized");
  await assert.rejects(c.ready, (e) => e.code === "unauthorized" && /wrong contact hash/.test(e.message));
  await tick(300);
  assert.equal(FakeSocket.all.length, 1, "no reconnect");
  assert.equal(c.state, "failed");
});

test("a refused push (rate_limited) is retried; bad_frame fails its events", async () => {
  const c = await client();
  c.connect();
  await tick();
  const ws = FakeSocket.all[0];
  ws.frame(welcome());
  await tick();
  const { ps } = await c.make([{ kind: "message.sent", conv: "c1", data: { text: "x" } }]);
  await tick();
  ws.frame({ type: "error", code: "bad_frame", message: "not the frame's shape", fatal: false });
  await assert.rejects(ps[0], (e) => e.code === "bad_frame");
  assert.equal(c.outbox[0].state, "failed");
});

test("retryable mirrors protocol.Retryable", () => {
  const [lo, hi] = P.noRetry;
  const table = [
    [1000, true],
    [1006, true],
    [P.closeCodes.reconnect, true],
    [P.closeCodes.slowReader, true],
    [P.closeCodes.shuttingDown, true],
    [lo - 1, true],
    [lo, false],
    [P.closeCodes.unauthorized, false],
    [P.closeCodes.unsupportedProtocol, false],
    [hi, false],
    [hi + 1, true],
  ];
  for (const [code, want] of table) assert.equal(retryable(P, code), want, `retryable(${code})`);
});

test("a Client without the protocol's values refuses to start", () => {
  assert.throws(() => new Client({ url: "ws://x", workspace: "acme", auth: { kind: "visitor" } }), /protocol's limits/);
});

test("pushes are packed under the frame limit in UTF-8 bytes and the event limit; an event no frame can carry fails too_large", async () => {
  const c = await client();
  c.connect();
  await tick();
  const ws = FakeSocket.all[0];
  ws.frame(welcome());
  await tick();
  // Three-byte characters: a JSON length in UTF-16 units would count a third.
  const big = "€".repeat(Math.floor(P.maxTextBytes / 3));
  const n = Math.ceil((2 * P.maxFrameBytes) / P.maxTextBytes) + 2;
  const { ps } = await c.make(Array.from({ length: n }, () => ({ kind: "message.sent", conv: "c1", data: { text: big } })));
  const small = await c.make(Array.from({ length: P.maxPushEvents + 5 }, () => ({ kind: "seen.marked", conv: "c1", data: { upTo: 1 } })));
  const huge = await c.make([{ kind: "conversation.created", conv: "c2", data: { attributes: { company: "x".repeat(P.maxFrameBytes) } } }]);
  await tick();
  const seen = new Set();
  for (;;) {
    const push = ws.last("push");
    if (!push || seen.has(push)) break;
    seen.add(push);
    const bytes = new TextEncoder().encode(JSON.stringify(push)).length;
    assert.ok(bytes <= P.maxFrameBytes, `a push of ${bytes} bytes exceeds the frame limit ${P.maxFrameBytes}`);
    assert.ok(push.events.length <= P.maxPushEvents, `a push of ${push.events.length} events`);
    assert.ok(!push.events.some((e) => e.conv === "c2"), "the oversized event is never sent");
    ws.frame({ type: "ack", results: push.events.map((e, i) => ({ id: e.id, seq: 100 + i })) });
    await tick();
  }
  const pushes = ws.sent.filter((f) => f.type === "push");
  assert.equal(pushes.flatMap((p) => p.events).length, n + P.maxPushEvents + 5, "every other event was pushed once");
  assert.ok(pushes.length >= 3, "the large messages took several frames");
  for (const p of ps) await p;
  for (const p of small.ps) await p;
  await assert.rejects(huge.ps[0], (e) => e.code === "too_large");
  assert.equal(c.outbox.find((r) => r.id === huge.recs[0].id).state, "failed");
});

test("a relay down at start: ready settles offline with the contact's own id; events wait and go out once it is back", async () => {
  FakeSocket.down = true;
  const c = await client();
  FakeSocket.down = true;
  c.connect();
  const r = await c.ready;
  assert.deepEqual(r, { identity: me, offline: true });
  assert.equal(c.state, "offline");
  assert.equal(c.lastError.code, "relay_unreachable");
  const { recs, ps } = await c.make([{ kind: "message.sent", conv: "c1", data: { text: "queued" } }]);
  assert.equal(recs[0].event.actor.id, me.id);
  FakeSocket.down = false;
  await tick(400); // backoff with jitter 0: 125 ms, then 250 ms
  const ws = FakeSocket.all.at(-1);
  assert.equal(ws.readyState, 1, "reconnected once the relay is back");
  ws.frame(welcome());
  await tick();
  assert.deepEqual(ws.last("push").events.map((e) => e.id), [recs[0].id]);
  ws.frame({ type: "ack", results: [{ id: recs[0].id, seq: 9 }] });
  assert.deepEqual(await ps[0], { id: recs[0].id, seq: 9 });
});

test("a new visitor whose relay is down starts offline with no identity yet", async () => {
  const c = await client({ auth: { kind: "visitor" }, store: new Store("acme", "visitor") });
  FakeSocket.down = true;
  c.connect();
  assert.deepEqual(await c.ready, { identity: null, offline: true });
  const { recs } = await c.make([{ kind: "conversation.created", conv: "c1", data: {} }]);
  assert.deepEqual(recs[0].event.actor, { id: "", role: "visitor" }, "the relay names the actor");
});

test("a relay that takes the connection but never welcomes it: ready settles offline after connectTimeout, and the client tries again", async () => {
  const c = await client({ connectTimeout: 40 });
  c.connect();
  await tick();
  assert.equal(FakeSocket.all[0].sent[0].type, "hello");
  const r = await c.ready;
  assert.equal(r.offline, true);
  assert.equal(c.lastError.code, "relay_unreachable");
  assert.match(c.lastError.message, /did not answer/);
  assert.ok(FakeSocket.all[0].closedWith, "the silent connection was closed");
  await tick(300);
  assert.ok(FakeSocket.all.length >= 2, "a new connection was tried");
});

test("a refusal after an offline start rejects whoever waits for an event; the events stay in the outbox", async () => {
  FakeSocket.down = true;
  const c = await client();
  FakeSocket.down = true;
  c.connect();
  await c.ready;
  const { ps } = await c.make([{ kind: "message.sent", conv: "c1", data: { text: "typed offline" } }]);
  FakeSocket.down = false;
  await tick(400);
  const ws = FakeSocket.all.at(-1);
  ws.frame({ type: "error", code: "unauthorized", message: "wrong contact hash", fatal: true });
  ws.drop(P.fatalCloseCodes.unauthorized, "unauthorized");
  await assert.rejects(ps[0], (e) => e.code === "unauthorized");
  assert.equal(c.state, "failed");
  assert.equal(c.outbox.length, 1, "nothing typed is lost");
});

test("setAuth replaces an open session with one whose hello carries the new name and email; pending events are resent", async () => {
  const c = await client();
  c.connect();
  await tick();
  const ws = FakeSocket.all[0];
  ws.frame(welcome());
  await tick();
  const { recs } = await c.make([{ kind: "message.sent", conv: "c1", data: { text: "before the rename" } }]);
  await tick();
  c.setAuth({ kind: "contact", contactId: "42", hash: "h", name: "Dana Scully", email: "dana@example.com" });
  await tick();
  assert.equal(ws.closedWith, P.closeCodes.reconnect, "the old session is closed as 'reconnect'");
  const ws2 = FakeSocket.all[1];
  assert.ok(ws2, "a new session at once, without waiting for a backoff");
  assert.deepEqual(ws2.sent[0].auth, { kind: "contact", contactId: "42", hash: "h", name: "Dana Scully", email: "dana@example.com" });
  ws2.frame(welcome("E1", 1));
  await tick();
  assert.equal(ws2.last("push").events[0].id, recs[0].id, "resent with its id");
  assert.equal(ws2.last("push").events[0].mid, recs[0].mid, "and its mid");
});

test("setAuth with nothing new keeps the session", async () => {
  const c = await client();
  c.connect();
  await tick();
  FakeSocket.all[0].frame(welcome());
  await tick();
  c.setAuth({ kind: "contact", contactId: "42", hash: "h" });
  await tick();
  assert.equal(FakeSocket.all.length, 1);
  assert.equal(FakeSocket.all[0].closedWith, undefined);
});

test("setAuth while offline opens nothing: the next hello carries it", async () => {
  FakeSocket.down = true;
  const c = await client();
  FakeSocket.down = true;
  c.connect();
  await c.ready;
  const n = FakeSocket.all.length;
  c.setAuth({ kind: "contact", contactId: "42", hash: "h", name: "Dana" });
  assert.equal(FakeSocket.all.length, n, "no new connection right away");
  FakeSocket.down = false;
  await tick(400);
  assert.equal(FakeSocket.all.at(-1).sent[0].auth.name, "Dana");
});

test("adopt moves a visitor's pending events to the contact with their ids and mids, in mid order", async () => {
  const c = await client();
  c.connect();
  await tick();
  const ws = FakeSocket.all[0];
  ws.frame(welcome());
  await tick();
  const mine = await c.make([{ kind: "message.sent", conv: "c1", data: { text: "as the contact" } }]);
  ws.frame({ type: "ack", results: [{ id: mine.recs[0].id, seq: 5 }] });
  await tick();
  const visitorEvent = { id: "v-1", seq: 0, conv: "cv", kind: "message.sent", actor: { id: "visitor:x", role: "visitor" }, device: c.device, mid: 0, at: 1, base: 0, data: { text: "as the visitor" } };
  await c.adopt([{ id: "v-1", mid: 0, state: "pending", event: visitorEvent }]);
  await tick();
  const push = ws.last("push");
  assert.deepEqual(push.events.map((e) => [e.id, e.mid]), [["v-1", 0]]);
  assert.deepEqual(c.outbox.map((r) => r.id), ["v-1", mine.recs[0].id], "kept in mid order");
  assert.equal((await c.store.outbox()).find((r) => r.id === "v-1").key, "acme|contact:42", "stored under the contact");
});
