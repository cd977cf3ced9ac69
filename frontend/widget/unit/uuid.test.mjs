import { test } from "node:test";
import assert from "node:assert/strict";
import { uuidv7, uuidv7Time } from "../src/uuid.js";
import { backoffDelay } from "../src/backoff.js";

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("uuidv7 has the RFC 9562 layout: version 7, variant 10", () => {
  for (let i = 0; i < 1000; i++) {
    const id = uuidv7();
    assert.match(id, FORMAT, `uuidv7() = ${id}`);
  }
});

test("uuidv7 carries its millisecond timestamp in the first 48 bits", () => {
  const now = 1767225600123; // 2026-01-01T00:00:00.123Z
  const id = uuidv7(now);
  assert.equal(uuidv7Time(id), now);
  assert.equal(id.slice(0, 13), "019b76da-a87b"); // 0x019b76daa87b = now
});

test("uuidv7 keeps the random bits it is given, except version and variant", () => {
  const id = uuidv7(0, (n) => new Uint8Array(n).fill(0xff));
  assert.equal(id, "00000000-0000-7fff-bfff-ffffffffffff");
  const zero = uuidv7(0, (n) => new Uint8Array(n));
  assert.equal(zero, "00000000-0000-7000-8000-000000000000");
});

test("uuidv7 ids made at later milliseconds sort after earlier ones", () => {
  const ids = [];
  for (let t = 1700000000000; t < 1700000000000 + 50; t++) ids.push(uuidv7(t));
  assert.deepEqual([...ids].sort(), ids);
});

test("uuidv7 ids are distinct within one millisecond", () => {
  const seen = new Set();
  for (let i = 0; i < 10000; i++) seen.add(uuidv7(42));
  assert.equal(seen.size, 10000);
});

test("backoffDelay doubles from 250 ms, caps at 30 s, jitters within [d/2, d]", () => {
  const cases = [
    [0, 0, 125],
    [0, 1, 250],
    [1, 0, 250],
    [2, 1, 1000],
    [7, 1, 30000], // 250·2⁷ = 32000, capped
    [50, 0, 15000],
  ];
  for (const [n, r, want] of cases) assert.equal(backoffDelay(n, r), want, `backoffDelay(${n}, ${r})`);
  for (let n = 0; n < 20; n++) {
    const d = backoffDelay(n, Math.random());
    assert.ok(d >= 125 && d <= 30000, `backoffDelay(${n}) = ${d}`);
  }
});
