import { test } from "node:test";
import assert from "node:assert/strict";
import { CommandQueue, parseCommand, WidgetError } from "../src/queue.js";

test("parseCommand accepts [verb, name, args?]", () => {
  assert.deepEqual(parseCommand(["do", "chat:open"]), { verb: "do", name: "chat:open", args: [] });
  assert.deepEqual(parseCommand(["do", "message:thread:start", ["Topic"]]), { verb: "do", name: "message:thread:start", args: ["Topic"] });
  const fn = () => {};
  assert.equal(parseCommand(["on", "message:received", fn]).args, fn);
});

test("parseCommand refuses malformed commands with bad_command", () => {
  for (const bad of [null, "chat:open", [], ["do"], ["shout", "x"], ["do", ""], ["do", 3], ["do", "x", "not-an-array"], ["do", "x", [], "extra"]]) {
    assert.throws(() => parseCommand(bad), (err) => err instanceof WidgetError && err.code === "bad_command", `parseCommand(${JSON.stringify(bad)})`);
  }
});

test("commands pushed before open wait, then run in order", async () => {
  const ran = [];
  const q = new CommandQueue((c) => ran.push(`${c.verb} ${c.name}`));
  const p1 = q.push(["set", "user:id", ["42", "h"]]);
  const p2 = q.push(["do", "chat:open"], ["do", "message:thread:start", ["T"]]);
  assert.deepEqual(ran, [], "nothing runs before open");
  assert.equal(q.length, 3);
  q.open();
  assert.deepEqual(ran, ["set user:id", "do chat:open", "do message:thread:start"]);
  assert.equal(await p1, 1);
  assert.equal(await p2, 3);
  assert.equal(q.length, 0);
});

test("after open, push runs at once and resolves with the command's outcome", async () => {
  const q = new CommandQueue((c) => (c.name === "async" ? Promise.resolve("later") : "now"));
  q.open();
  assert.equal(await q.push(["get", "sync"]), "now");
  assert.equal(await q.push(["get", "async"]), "later");
});

test("a failing command rejects its promise and is reported, the next ones still run", async () => {
  const reported = [];
  const ran = [];
  const q = new CommandQueue(
    (c) => {
      if (c.name === "boom") throw new WidgetError("chat_not_opened", "open first");
      if (c.name === "async-boom") return Promise.reject(new WidgetError("no_such_thread", "nope"));
      ran.push(c.name);
    },
    (err, cmd) => reported.push([err.code, cmd[1]]),
  );
  const held = q.push(["do", "boom"]);
  q.open();
  await assert.rejects(held, (e) => e.code === "chat_not_opened");
  await assert.rejects(q.push(["do", "async-boom"]), (e) => e.code === "no_such_thread");
  await assert.rejects(q.push(["nonsense"]), (e) => e.code === "bad_command");
  await q.push(["do", "fine"]);
  assert.deepEqual(ran, ["fine"]);
  assert.deepEqual(reported, [
    ["chat_not_opened", "boom"],
    ["no_such_thread", "async-boom"],
    ["bad_command", undefined],
  ]);
});

test("a page that ignores the promises gets no unhandled rejection", async () => {
  let unhandled = 0;
  const on = () => unhandled++;
  process.on("unhandledRejection", on);
  const q = new CommandQueue(() => {
    throw new WidgetError("x", "y");
  });
  q.push(["do", "held"]);
  q.open();
  q.push(["do", "live"]);
  await new Promise((r) => setTimeout(r, 20));
  process.off("unhandledRejection", on);
  assert.equal(unhandled, 0);
});
