// Rule 8's vectors (backend/conv/testdata/unread.json, written from
// conv.CountsAsUnread by conv's TestUnreadVectors): the widget's model
// decides unread as conv does, for every viewer, and counts the same.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Model, countsAsUnread } from "../src/model.js";

const vectors = JSON.parse(readFileSync(new URL("../../../backend/conv/testdata/unread.json", import.meta.url), "utf8"));

test("the vectors are there", () => {
  assert.ok(vectors.length >= 10, `only ${vectors.length} vectors`);
});

for (const v of vectors) {
  test(`countsAsUnread: ${v.name}`, () => {
    assert.equal(countsAsUnread(v.viewer, v.kind, v.actor), v.unread);
  });
}

// A contact's or visitor's own model: the event after a seen mark counts
// exactly when the vector says (the team's vectors are not the widget's:
// it only ever holds the end user's conversations).
const data = { "message.sent": { text: "hi", thread: "t1" }, "note.added": { text: "note" }, "thread.started": { thread: "t2", topic: "" } };
for (const v of vectors.filter((v) => v.viewer.role === "contact" || v.viewer.role === "visitor")) {
  test(`Model.unread: ${v.name}`, () => {
    const m = new Model();
    let seq = 0;
    const ev = (kind, actor, d) => ({ id: `e${++seq}`, seq, conv: "c1", kind, actor, at: seq, base: 0, data: d });
    m.applyCanonical(ev("conversation.created", v.contact, { contact: v.contact }));
    m.applyCanonical(ev("message.sent", v.contact, { text: "hello", thread: "t1" }));
    m.applyCanonical(ev("seen.marked", v.viewer, { upTo: seq }));
    m.applyCanonical(ev(v.kind, v.actor, data[v.kind]));
    assert.equal(m.unread(v.viewer.id), v.unread ? 1 : 0);
    assert.equal(m.unread(v.viewer, "c1"), v.unread ? 1 : 0);
  });
}
