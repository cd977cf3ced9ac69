// conv's vectors for the id scheme (backend/conv/testdata/ids.json, from
// conv.RoleOfID) and for how the relay's answer settles a pending event
// (settle.json, from conv.Settle), run against the one JavaScript
// implementation (src/model.js), which the desktop UI imports too.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseId, roleOfId, settlePending } from "../src/model.js";

const load = (name) => JSON.parse(readFileSync(new URL(`../../../backend/conv/testdata/${name}`, import.meta.url), "utf8"));
const ids = load("ids.json");
const settles = load("settle.json");

test("the vectors are there", () => {
  assert.ok(ids.length >= 10, `only ${ids.length} id vectors`);
  assert.ok(settles.length >= 8, `only ${settles.length} settlePending vectors`);
});

for (const v of ids) {
  test(`parseId(${JSON.stringify(v.id)})`, () => {
    assert.deepEqual(parseId(v.id), { role: v.role, valid: v.valid });
    assert.equal(roleOfId(v.id), v.role);
  });
}

for (const v of settles) {
  test(`settlePending: ${v.name}`, () => {
    assert.equal(settlePending(v.kind, { seq: v.seq, error: v.error ?? null }, v.applied), v.settlement);
  });
}
