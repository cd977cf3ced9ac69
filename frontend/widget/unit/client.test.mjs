// The widget's protocol engine against a scripted relay: a fake WebSocket
// records what the client sends and lets the test answer. Without
// IndexedDB and localStorage (node), the Store keeps everything in memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client, retryable } from "../src/client.js";
import { Model } from "../src/model.js";
import { Store } from "../src/store.js";
import { PROTOCOL as P } from "./protocol.mjs";

class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.sent = [];
    this.readyState = 0;
    FakeSocket.all.push(this);
    queueMicrotask(() => {
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

async function client(over = {}) {
  FakeSocket.all = [];
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
