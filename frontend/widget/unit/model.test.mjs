import { test } from "node:test";
import assert from "node:assert/strict";
import { Model } from "../src/model.js";

const me = { id: "contact:42", role: "contact" };
const ana = { id: "agent:ana", role: "agent", name: "Ana" };
const sys = { id: "system", role: "system" };
let n = 0;
const ev = (seq, kind, actor, data, conv = "c1") => ({ id: `e${++n}`, seq, conv, kind, actor, at: 1000 + seq, base: 0, data });

function conversation() {
  const m = new Model();
  m.applyCanonical(ev(1, "conversation.created", me, { contact: me }));
  m.applyCanonical(ev(2, "thread.started", sys, { thread: "t1", topic: "" }));
  m.applyCanonical(ev(3, "message.sent", me, { text: "hi", thread: "t1" }));
  return m;
}

test("unread counts the team's messages above my seen mark", () => {
  const m = conversation();
  assert.equal(m.unread(me.id), 0);
  m.applyCanonical(ev(5, "message.sent", ana, { text: "hello", thread: "t1" }));
  m.applyCanonical(ev(6, "message.sent", ana, { text: "how can I help?", thread: "t1" }));
  assert.equal(m.unread(me.id), 2);
  assert.equal(m.seenTarget(me.id, "c1"), 6);
  m.applyCanonical(ev(7, "seen.marked", me, { upTo: 5 }));
  assert.equal(m.unread(me.id), 1);
  m.applyCanonical(ev(8, "seen.marked", me, { upTo: 6 }));
  assert.equal(m.unread(me.id), 0);
  assert.equal(m.seenTarget(me.id, "c1"), 0);
});

test("a seen mark that does not advance changes nothing", () => {
  const m = conversation();
  m.applyCanonical(ev(5, "message.sent", ana, { text: "a", thread: "t1" }));
  m.applyCanonical(ev(6, "seen.marked", me, { upTo: 5 }));
  m.applyCanonical(ev(7, "seen.marked", me, { upTo: 3 }));
  assert.equal(m.state("c1").seen[me.id], 5);
});

test("'Seen' goes under my last message once an agent's mark passes it", () => {
  const m = conversation();
  assert.equal(m.timeline("c1").seenItem, "");
  m.applyCanonical(ev(4, "seen.marked", ana, { upTo: 2 }));
  assert.equal(m.timeline("c1").seenItem, "", "a mark below my message");
  m.applyCanonical(ev(5, "seen.marked", ana, { upTo: 3 }));
  const last = m.state("c1").items.find((i) => i.seq === 3);
  assert.equal(m.timeline("c1").seenItem, last.id);
  m.applyCanonical(ev(6, "message.sent", me, { text: "anyone?", thread: "t1" }));
  assert.equal(m.timeline("c1").seenItem, "", "my newer message is not seen yet");
});

test("my own seen mark is no receipt", () => {
  const m = conversation();
  m.applyCanonical(ev(4, "seen.marked", me, { upTo: 3 }));
  assert.equal(m.timeline("c1").seenItem, "");
});

test("threads and resolution notify the page and keep the active thread", () => {
  const m = conversation();
  const started = m.applyCanonical(ev(4, "thread.started", me, { thread: "t2", topic: "Server offline" }));
  assert.deepEqual(started, [{ name: "thread:started", detail: { conversationId: "c1", thread: "t2", topic: "Server offline" } }]);
  assert.deepEqual(m.state("c1").thread, { id: "t2", topic: "Server offline" });
  const ended = m.applyCanonical(ev(5, "thread.ended", sys, { thread: "t2", topic: "Server offline" }));
  assert.equal(ended[0].name, "thread:ended");
  assert.equal(m.state("c1").thread, null);
  const resolved = m.applyCanonical(ev(6, "status.changed", ana, { status: "resolved" }));
  assert.deepEqual(resolved, [{ name: "conversation:resolved", detail: { conversationId: "c1" } }]);
  const got = m.applyCanonical(ev(7, "message.sent", ana, { text: "bye", thread: "t3" }));
  assert.equal(got[0].name, "message:received");
  assert.equal(got[0].detail.text, "bye");
  assert.deepEqual(m.applyCanonical(ev(8, "message.sent", me, { text: "mine", thread: "t3" })), [], "my own messages are not 'received'");
});

test("a canonical event applies once", () => {
  const m = conversation();
  const e = ev(5, "message.sent", ana, { text: "once", thread: "t1" });
  m.applyCanonical(e);
  assert.deepEqual(m.applyCanonical(e), []);
  assert.equal(m.unread(me.id), 1);
});

test("pending events show after canonical ones until their canonical copy arrives", () => {
  const m = conversation();
  const p = { id: "p1", mid: 1, state: "pending", event: { id: "p1", seq: 0, conv: "c1", kind: "message.sent", actor: me, at: 9, data: { text: "offline msg" } } };
  m.setPending([p]);
  let items = m.timeline("c1").items;
  assert.equal(items.at(-1).id, "p1");
  assert.equal(items.at(-1).state, "pending");
  m.applyCanonical({ ...p.event, seq: 9, data: { text: "offline msg", thread: "t1" } });
  m.setPending([p]);
  items = m.timeline("c1").items;
  assert.equal(items.filter((i) => i.id === "p1").length, 1, "shown once");
  assert.equal(items.at(-1).state, "sent");
});

test("a pending conversation exists and becomes current", () => {
  const m = conversation();
  const created = { id: "p2", mid: 2, state: "pending", event: { id: "p2", seq: 0, conv: "c2", kind: "conversation.created", actor: me, data: {} } };
  m.setPending([created]);
  assert.ok(m.exists("c2"));
  assert.equal(m.current(), "c2");
  m.setPending([{ ...created, state: "failed" }]);
  assert.ok(!m.exists("c2"));
  assert.equal(m.current(), "c1");
});

test("contact.identified hands a visitor's conversation and seen mark to the contact", () => {
  const v = { id: "visitor:v1", role: "visitor" };
  const m = new Model();
  m.applyCanonical(ev(1, "conversation.created", v, { contact: v }, "cv"));
  m.applyCanonical(ev(2, "message.sent", ana, { text: "hi", thread: "t" }, "cv"));
  m.applyCanonical(ev(3, "seen.marked", v, { upTo: 2 }, "cv"));
  m.applyCanonical(ev(4, "contact.identified", sys, { visitor: v, contact: me }, "cv"));
  assert.equal(m.state("cv").contact.id, me.id);
  assert.equal(m.unread(me.id), 0);
});
