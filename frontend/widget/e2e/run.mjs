// Browser scenarios of the Threadline widget, run by sync/widget/e2e_test.go
// against a real relay that serves the widget. playwright-core drives
// Debian's Chromium; no browser is downloaded.
//
// Env: RELAY_URL (http://127.0.0.1:port), WORKSPACE, IDENTITY_SECRET,
// CHROMIUM (/usr/bin/chromium), ARTIFACTS (a folder for screenshots and
// console logs), ONLY (run the scenarios whose name contains it).
//
// The Go test plays the agent: GET /e2e/agent/events lists every event the
// agent's device received; POST /e2e/agent/push and /e2e/agent/typing act
// as the agent.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const BASE = process.env.RELAY_URL;
const WS = process.env.WORKSPACE || "acme";
const SECRET = process.env.IDENTITY_SECRET;
const ARTIFACTS = process.env.ARTIFACTS || "artifacts";
const ONLY = process.env.ONLY || "";
if (!BASE || !SECRET) {
  console.error("run.mjs: set RELAY_URL and IDENTITY_SECRET (sync/widget/e2e_test.go does)");
  process.exit(2);
}
mkdirSync(ARTIFACTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

// ——— helpers ———

const rand = () => randomBytes(4).toString("hex");
const hash = (id) => createHmac("sha256", SECRET).update(id).digest("hex");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let contexts = [];
let consoleLog = [];

async function newPage(path = "/e2e/page", init) {
  const ctx = await browser.newContext();
  contexts.push(ctx);
  if (init) await ctx.addInitScript(init);
  const page = await ctx.newPage();
  const n = contexts.length;
  page.on("console", (m) => consoleLog.push(`[page ${n}] ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLog.push(`[page ${n}] pageerror: ${e.message}`));
  await page.goto(BASE + path);
  return { ctx, page };
}

// start calls Threadline.start in the page and returns {res} or {error}.
function start(page, opts = {}) {
  return page.evaluate(
    (o) =>
      new Promise((resolve) =>
        Threadline.start(o, (res, err) => resolve(err ? { error: { code: err.code, message: err.message } } : { res })),
      ),
    { workspace: WS, ...opts },
  );
}

async function startContact(page, id, extra = {}) {
  const r = await start(page, { contactId: id, hash: hash(id), ...extra });
  assert.ok(r.res, `start as contact ${id}: ${JSON.stringify(r.error)}`);
  assert.equal(r.res.identity.id, `contact:${id}`);
  return r.res;
}

// cmd pushes a Crisp-style command and returns {ok} or {code, message}.
function cmd(page, command) {
  return page.evaluate(
    (c) =>
      window.$threadline.push(c).then(
        (ok) => ({ ok: ok === undefined ? null : ok }),
        (e) => ({ code: e.code, message: e.message }),
      ),
    command,
  );
}

async function waitFor(what, fn, timeout = 15000) {
  const until = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(100);
  }
}

async function agentEvents() {
  const r = await fetch(BASE + "/e2e/agent/events");
  return (await r.json()).events;
}

async function agentPush(events) {
  const r = await fetch(BASE + "/e2e/agent/push", { method: "POST", body: JSON.stringify({ events }) });
  const body = await r.text();
  assert.equal(r.status, 200, `agent push: ${body}`);
  const ack = JSON.parse(body);
  for (const res of ack.results) assert.ok(!res.error, `agent push rejected: ${JSON.stringify(res.error)}`);
  return ack.results;
}

async function agentTyping(conv, on) {
  const r = await fetch(BASE + "/e2e/agent/typing", { method: "POST", body: JSON.stringify({ conv, on }) });
  assert.equal(r.status, 204);
}

const agentMessages = async (text) => (await agentEvents()).filter((e) => e.kind === "message.sent" && e.data.text === text);

const W = "#threadline-widget"; // the shadow host; Playwright's CSS pierces its open shadow root
const bubbles = (page) => page.locator(`${W} li.msg .bubble`).allTextContents();
const state = (page) => page.evaluate(() => Threadline.status());

async function send(page, text) {
  await page.locator(`${W} textarea.input`).fill(text);
  await page.locator(`${W} button.send`).click();
}

async function online(page) {
  await waitFor("the widget to be online", async () => (await state(page)).state === "online");
}

// readOutbox lists the widget's IndexedDB outbox, as stored.
function readOutbox(page) {
  return page.evaluate(
    () =>
      new Promise((resolve, reject) => {
        const r = indexedDB.open("threadline-widget");
        r.onsuccess = () => {
          const tx = r.result.transaction("outbox", "readonly");
          const g = tx.objectStore("outbox").getAll();
          g.onsuccess = () => {
            r.result.close();
            resolve(g.result);
          };
          g.onerror = () => reject(g.error);
        };
        r.onerror = () => reject(r.error);
      }),
  );
}

// ——— scenarios ———

const scenarios = [];
const scenario = (name, fn) => scenarios.push({ name, fn });

scenario("Threadline calls before start fail with not_started", async () => {
  const { page } = await newPage();
  const early = await page.evaluate(
    () => new Promise((resolve) => Threadline.createConversation({ message: "too early" }, (res, err) => resolve({ res, code: err && err.code, message: err && err.message }))),
  );
  assert.equal(early.res, undefined);
  assert.equal(early.code, "not_started");
  assert.match(early.message, /before Threadline\.start\(\) finished/);
  const thrown = await page.evaluate(() => {
    try {
      Threadline.open();
      return "no error";
    } catch (e) {
      return e.code;
    }
  });
  assert.equal(thrown, "not_started");
  // While start is still in progress, the answer is the same.
  const during = await page.evaluate(
    (ws) =>
      new Promise((resolve) => {
        Threadline.start({ workspace: ws });
        Threadline.createConversation({ message: "still early" }, (res, err) => resolve(err && err.code));
      }),
    WS,
  );
  assert.equal(during, "not_started");
  await waitFor("start to finish", () => page.evaluate(() => Threadline.isStarted()));
  const again = await start(page);
  assert.equal(again.error && again.error.code, "already_started");
  // No event of the early calls reached the relay.
  assert.equal((await agentMessages("too early")).length + (await agentMessages("still early")).length, 0);
});

scenario("thread commands fail before the chat was opened; a started thread reaches the agent with its topic", async () => {
  const id = `thread-${rand()}`;
  // Commands queued before the script loaded run once start finishes.
  const { page } = await newPage("/e2e/page", () => {
    window.__errors = [];
    window.$threadline = [
      ["on", "error", (e) => window.__errors.push(e)],
      ["do", "message:thread:start", ["Queued before the chat was opened"]],
    ];
  });
  await startContact(page, id);
  const queuedErr = await waitFor("the queued thread command to fail", () => page.evaluate(() => window.__errors[0]));
  assert.equal(queuedErr.code, "chat_not_opened");
  assert.match(queuedErr.message, /opened at least once/);
  assert.equal((await cmd(page, ["do", "message:thread:start", ["Too soon"]])).code, "chat_not_opened");
  assert.equal((await cmd(page, ["do", "message:thread:end"])).code, "chat_not_opened");
  assert.equal((await cmd(page, ["do", "message:thread:end", ["Too soon"]])).code, "chat_not_opened");

  await cmd(page, ["do", "chat:open"]);
  await cmd(page, ["do", "chat:close"]); // opened once is enough
  const noTopic = await cmd(page, ["do", "message:thread:start"]);
  assert.equal(noTopic.code, "invalid");
  assert.match(noTopic.message, /needs a topic/);
  assert.equal((await cmd(page, ["do", "message:thread:start", ["   "]])).code, "invalid");
  assert.equal((await cmd(page, ["do", "message:thread:start", ["x".repeat(201)]])).code, "too_large");

  const topic = `Customer server offline (Ticket #${rand()})`;
  await page.evaluate(() => {
    window.__threads = [];
    Threadline.on("thread:started", (d) => window.__threads.push(["started", d.topic]));
    Threadline.on("thread:ended", (d) => window.__threads.push(["ended", d.topic]));
  });
  const started = await cmd(page, ["do", "message:thread:start", [topic]]);
  assert.ok(started.ok, JSON.stringify(started));
  assert.equal(started.ok.topic, topic);
  const seen = await waitFor("the agent to see the thread", async () =>
    (await agentEvents()).find((e) => e.kind === "thread.started" && e.data.topic === topic),
  );
  assert.equal(seen.conv, started.ok.conversationId);
  assert.equal(seen.actor.id, `contact:${id}`);
  assert.equal(seen.data.thread, started.ok.thread);
  const created = (await agentEvents()).find((e) => e.kind === "conversation.created" && e.conv === seen.conv);
  assert.ok(created && created.seq < seen.seq, "the conversation is created before its thread");

  await cmd(page, ["do", "chat:open"]);
  await page.locator(`${W} li.thread-start[data-topic="${topic}"]`).waitFor();
  await send(page, "My server answers no pings");
  const msg = await waitFor("the message in the thread", async () => (await agentMessages("My server answers no pings"))[0]);
  assert.equal(msg.data.thread, started.ok.thread, "the message belongs to the started thread");

  const wrong = await cmd(page, ["do", "message:thread:end", ["Some other topic"]]);
  assert.equal(wrong.code, "no_such_thread");
  const ended = await cmd(page, ["do", "message:thread:end", [topic]]);
  assert.ok(ended.ok && ended.ok.ended, JSON.stringify(ended));
  await waitFor("the agent to see the thread end", async () =>
    (await agentEvents()).find((e) => e.kind === "thread.ended" && e.conv === seen.conv && e.data.topic === topic),
  );
  await page.locator(`${W} li.thread-end[data-topic="${topic}"]`).waitFor();
  const none = await cmd(page, ["do", "message:thread:end"]);
  assert.deepEqual(none.ok, { conversationId: seen.conv, ended: false }, "ending no thread changes nothing");
  const threads = await page.evaluate(() => window.__threads);
  assert.ok(threads.some((t) => t[0] === "started" && t[1] === topic), `thread:started fired: ${JSON.stringify(threads)}`);
  assert.ok(threads.some((t) => t[0] === "ended" && t[1] === topic), `thread:ended fired: ${JSON.stringify(threads)}`);
});

scenario("an identified contact sees the same history on two devices; a visitor sees none of it; unread, seen and typing", async () => {
  const id = `dana-${rand()}`;
  const hello = `Hello from my laptop ${rand()}`;
  const A = await newPage();
  await startContact(A.page, id, { name: "Dana" });
  await cmd(A.page, ["do", "chat:open"]);
  await send(A.page, hello);
  const first = await waitFor("the agent to get the laptop's message", async () => (await agentMessages(hello))[0]);
  const conv = first.conv;
  const reply = `Hi Dana, Ana here ${rand()}`;
  await agentPush([{ conv, kind: "message.sent", data: { text: reply } }]);
  await waitFor("the reply on the laptop", async () => (await bubbles(A.page)).includes(reply));
  await A.page.locator(`${W} li.msg.theirs .author`).first().waitFor();
  assert.equal(await A.page.locator(`${W} li.msg.theirs .author`).first().textContent(), "Ana");

  const B = await newPage();
  await startContact(B.page, id);
  await cmd(B.page, ["do", "chat:open"]);
  await waitFor("the phone to show the history", async () => (await bubbles(B.page)).length === 2);
  assert.deepEqual(await bubbles(B.page), await bubbles(A.page));
  assert.deepEqual(await bubbles(B.page), [hello, reply]);
  const devA = (await state(A.page)).identity;
  assert.deepEqual((await state(B.page)).identity.id, devA.id);

  const phone = `And now from my phone ${rand()}`;
  await send(B.page, phone);
  await waitFor("the laptop to show the phone's message", async () => (await bubbles(A.page)).includes(phone));

  const C = await newPage();
  const v = await start(C.page);
  assert.ok(v.res, JSON.stringify(v.error));
  assert.equal(v.res.identity.role, "visitor");
  await cmd(C.page, ["do", "chat:open"]);
  await online(C.page);
  assert.deepEqual(await bubbles(C.page), [], "the visitor sees none of the contact's conversation");
  assert.equal(await C.page.locator(`${W} li.empty`).count(), 1);

  // Unread: both devices closed, the agent writes; the badge counts it.
  await cmd(A.page, ["do", "chat:close"]);
  await cmd(B.page, ["do", "chat:close"]);
  await A.page.evaluate(() => {
    window.__unread = [];
    Threadline.on("unread:changed", (d) => window.__unread.push(d.count));
    window.__received = [];
    Threadline.on("message:received", (d) => window.__received.push(d.text));
  });
  const ping = `Are you still there? ${rand()}`;
  const [pingAck] = await agentPush([{ conv, kind: "message.sent", data: { text: ping } }]);
  await waitFor("the unread badge", async () => (await A.page.locator(`${W} .badge`).isVisible()) && (await A.page.locator(`${W} .badge`).textContent()) === "1");
  assert.deepEqual(await A.page.evaluate(() => window.__unread), [1]);
  assert.deepEqual(await A.page.evaluate(() => window.__received), [ping]);
  await waitFor("the phone's badge too", async () => (await B.page.locator(`${W} .badge`).textContent()) === "1");

  // Opening marks it seen, on every device of the contact.
  await cmd(A.page, ["do", "chat:open"]);
  assert.equal(await A.page.locator(`${W} .badge`).isVisible(), false);
  const mark = await waitFor("the agent to see the contact's seen mark", async () =>
    (await agentEvents()).find((e) => e.kind === "seen.marked" && e.conv === conv && e.actor.id === `contact:${id}` && e.data.upTo >= pingAck.seq),
  );
  assert.ok(mark);
  await waitFor("unread 0 on the laptop", async () => (await A.page.evaluate(() => window.__unread)).at(-1) === 0);
  await waitFor("unread 0 on the phone", async () => (await state(B.page)).unread === 0);
  assert.equal(await B.page.locator(`${W} .badge`).isVisible(), false);

  // Seen receipt: the agent's mark passes the contact's last message.
  const phoneEv = (await agentMessages(phone))[0];
  assert.equal(await A.page.locator(`${W} li.seen`).count(), 0);
  await agentPush([{ conv, kind: "seen.marked", data: { upTo: pingAck.seq } }]);
  await A.page.locator(`${W} li.seen`).waitFor();
  const before = await A.page.locator(`${W} li.seen`).evaluate((li) => li.previousElementSibling.dataset.id);
  assert.equal(before, phoneEv.id, "'Seen' sits under the contact's last message");

  // Typing: relayed, shown, and gone when it stops.
  await agentTyping(conv, true);
  await waitFor("the typing indicator", async () => (await A.page.locator(`${W} .typing`).textContent()) === "Ana is typing…");
  await agentTyping(conv, false);
  await A.page.locator(`${W} .typing`).waitFor({ state: "hidden" });

  await A.page.screenshot({ path: join(ARTIFACTS, "continuity-laptop.png") });
});

scenario("createConversation answers {conversationId, createdAt, ended, isInAssistantMode}", async () => {
  const id = `kus-${rand()}`;
  const { page } = await newPage();
  await startContact(page, id);
  const text = `I need some help ${rand()}`;
  const r = await page.evaluate(
    (text) =>
      new Promise((resolve) =>
        Threadline.createConversation({ message: text, assistantId: "faq", customAttributes: { plan: "pro", seats: 3 } }, (res, err) =>
          resolve({ res, err: err && { code: err.code, message: err.message } }),
        ),
      ),
    text,
  );
  assert.equal(r.err, undefined, JSON.stringify(r.err));
  assert.deepEqual(Object.keys(r.res).sort(), ["conversationId", "createdAt", "ended", "isInAssistantMode"]);
  assert.match(r.res.conversationId, UUID);
  assert.ok(!Number.isNaN(Date.parse(r.res.createdAt)), `createdAt ${r.res.createdAt}`);
  assert.equal(r.res.ended, false);
  assert.equal(r.res.isInAssistantMode, true);

  const evs = await waitFor("the agent to see the conversation and its message", async () => {
    const all = (await agentEvents()).filter((e) => e.conv === r.res.conversationId);
    return all.some((e) => e.kind === "message.sent") && all;
  });
  const created = evs.find((e) => e.kind === "conversation.created");
  const msg = evs.find((e) => e.kind === "message.sent");
  assert.ok(created.seq < msg.seq, "conversation.created comes first");
  assert.deepEqual(created.data.attributes, { plan: "pro", seats: 3 });
  assert.equal(created.data.assistantId, "faq");
  assert.equal(created.data.contact.id, `contact:${id}`);
  assert.equal(msg.data.text, text);
  assert.equal(created.mid + 1, msg.mid, "one push of two events, in mid order");
  assert.ok(await page.locator(`${W} .panel`).isVisible(), "the chat opens on the new conversation");
  await waitFor("the message in the panel", async () => (await bubbles(page)).includes(text));

  // Without an assistant, not in assistant mode.
  const plain = await page.evaluate(
    () => new Promise((resolve) => Threadline.createConversation({ message: "Plain question" }, (res, err) => resolve(err ? { code: err.code } : res))),
  );
  assert.equal(plain.isInAssistantMode, false);
  assert.notEqual(plain.conversationId, r.res.conversationId);
});

scenario("a custom attribute the workspace does not define fails with unknown_attribute", async () => {
  const { page } = await newPage();
  await startContact(page, `attr-${rand()}`);
  const text = `With a made-up attribute ${rand()}`;
  const r = await page.evaluate(
    (text) =>
      new Promise((resolve) =>
        Threadline.createConversation({ message: text, customAttributes: { favourite_colour: "blue" } }, (res, err) =>
          resolve({ res, code: err && err.code, message: err && err.message, isError: err instanceof Error }),
        ),
      ),
    text,
  );
  assert.equal(r.res, undefined);
  assert.equal(r.code, "unknown_attribute");
  assert.ok(r.isError, "the error is a native Error");
  assert.match(r.message, /favourite_colour/);
  const typed = await page.evaluate(
    () => new Promise((resolve) => Threadline.createConversation({ message: "Enterprise please", customAttributes: { plan: "enterprise" } }, (res, err) => resolve(err && err.code))),
  );
  assert.equal(typed, "invalid_attribute");
  await sleep(300);
  assert.equal((await agentMessages(text)).length, 0, "nothing of it was logged");
  assert.equal(await page.locator(`${W} li.msg`).count(), 0, "no half-made conversation stays in the widget");
  assert.equal((await readOutbox(page)).length, 0);
});

scenario("a message sent offline waits in IndexedDB and is delivered exactly once", async () => {
  const { ctx, page } = await newPage();
  await startContact(page, `offline-${rand()}`);
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  await ctx.setOffline(true);
  await waitFor("the widget to notice", async () => (await state(page)).state === "offline");
  const text = `once: sent while offline ${rand()}`;
  await send(page, text);
  await page.locator(`${W} li.msg.pending`).waitFor();
  const kept = (await readOutbox(page)).filter((r) => r.event.data.text === text);
  assert.equal(kept.length, 1, "the message is in the IndexedDB outbox");
  assert.equal(kept[0].state, "pending");
  assert.ok(kept[0].mid > 0 && kept[0].event.mid === kept[0].mid);
  await sleep(700);
  assert.equal((await agentMessages(text)).length, 0, "nothing reaches the relay while offline");

  await ctx.setOffline(false);
  await waitFor("the agent to get it", async () => (await agentMessages(text)).length === 1);
  await waitFor("the outbox to empty", async () => (await readOutbox(page)).filter((r) => r.event.data.text === text).length === 0);
  await page.locator(`${W} li.msg.sent[data-id="${kept[0].id}"]`).waitFor();
  await sleep(1000);
  assert.equal((await agentMessages(text)).length, 1, "delivered exactly once");
  assert.equal((await agentMessages(text))[0].id, kept[0].id, "with the id it was made with");

  await page.reload();
  await startContact(page, kept[0].event.actor.id.replace(/^contact:/, ""));
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  assert.deepEqual(await bubbles(page), [text], "after a reload: the message once, from the stored history");
});

scenario("a push whose ack was lost is resent after a reload with the same id and mid, and logged once", async () => {
  const id = `lost-${rand()}`;
  const { page } = await newPage();
  // Route the widget's WebSocket through a proxy that swallows the relay's
  // acks and events: the relay logs the push, the page never learns it.
  let swallow = true;
  await page.routeWebSocket(/\/v1\/sync$/, (ws) => {
    const server = ws.connectToServer();
    server.onMessage((m) => {
      const t = JSON.parse(m).type;
      if (!swallow || (t !== "ack" && t !== "events")) ws.send(m);
    });
  });
  await startContact(page, id);
  await cmd(page, ["do", "chat:open"]);
  const text = `once: ack lost ${rand()}`;
  await send(page, text);
  await waitFor("the relay to log it", async () => (await agentMessages(text)).length === 1);
  await sleep(300);
  const [rec] = (await readOutbox(page)).filter((r) => r.event.data.text === text);
  assert.ok(rec, "unacknowledged: still in the outbox");
  assert.equal(rec.state, "pending");

  swallow = false;
  await page.reload();
  await startContact(page, id);
  await cmd(page, ["do", "chat:open"]);
  await waitFor("the outbox to empty", async () => (await readOutbox(page)).length === 0);
  await online(page);
  await sleep(500);
  assert.equal((await agentMessages(text)).length, 1, "the resend was not logged again");
  assert.deepEqual(await bubbles(page), [text]);
  assert.equal(await page.locator(`${W} li.msg.sent[data-id="${rec.id}"]`).count(), 1);
});

scenario("a visitor who identifies becomes the contact, and its conversation follows it to another device", async () => {
  const { page } = await newPage();
  const v = await start(page);
  assert.equal(v.res.identity.role, "visitor");
  await cmd(page, ["do", "chat:open"]);
  const text = `Asked before signing in ${rand()}`;
  await send(page, text);
  const first = await waitFor("the agent to get the visitor's message", async () => (await agentMessages(text))[0]);
  assert.equal(first.actor.role, "visitor");
  const id = `signed-${rand()}`;
  const r = await cmd(page, ["set", "user:id", [id, hash(id)]]);
  assert.ok(r.ok, JSON.stringify(r));
  assert.equal(r.ok.identity.id, `contact:${id}`);
  await waitFor("the agent to see contact.identified", async () =>
    (await agentEvents()).find((e) => e.kind === "contact.identified" && e.conv === first.conv && e.data.contact.id === `contact:${id}`),
  );
  await waitFor("the history after identifying", async () => (await bubbles(page)).includes(text));
  const B = await newPage();
  await startContact(B.page, id);
  await cmd(B.page, ["do", "chat:open"]);
  await waitFor("the other device to show the visitor's conversation", async () => (await bubbles(B.page)).includes(text));
});

scenario("a wrong contact hash is refused: unauthorized, shown to the page", async () => {
  const { page } = await newPage();
  await page.evaluate(() => {
    window.__errors = [];
    Threadline.on("error", (e) => window.__errors.push(e.code));
  });
  const r = await start(page, { contactId: "mallory", hash: "00".repeat(32) });
  assert.equal(r.res, undefined);
  assert.equal(r.error.code, "unauthorized");
  assert.match(r.error.message, /unauthorized/);
  assert.deepEqual(await page.evaluate(() => window.__errors), ["unauthorized"]);
  assert.equal(await page.evaluate(() => Threadline.isStarted()), false);
  const banner = page.locator(`${W} .banner.error[data-code="unauthorized"]`);
  await page.locator(`${W} .launcher`).click();
  await banner.waitFor();
  assert.match(await banner.textContent(), /unauthorized/);
  const missing = await start(page, { contactId: "mallory" });
  assert.equal(missing.error.code, "invalid_options", "a contact without a hash is refused before any hello");
});

scenario("the demo page embeds the widget for visitors and identified contacts; host CSS stays out", async () => {
  const V = await newPage("/demo");
  await V.page.locator(`${W} .launcher`).waitFor();
  await waitFor("auto-start", () => V.page.evaluate(() => Threadline.isStarted()));
  assert.equal((await state(V.page)).identity.role, "visitor");
  const bg = await V.page.locator(`${W} .launcher`).evaluate((b) => getComputedStyle(b).backgroundColor);
  assert.equal(bg, "rgb(47, 91, 234)", "the page's `button { background: … !important }` does not reach the launcher");
  const border = await V.page.locator(`${W} .launcher`).evaluate((b) => getComputedStyle(b).borderStyle);
  assert.equal(border, "none");
  await V.page.locator("#open").click();
  await V.page.locator(`${W} .panel`).waitFor();

  const id = `demo-${rand()}`;
  const D = await newPage(`/demo?contact=${id}&name=Dana`);
  await waitFor("auto-start as the contact", () => D.page.evaluate(() => Threadline.isStarted()));
  assert.equal((await state(D.page)).identity.id, `contact:${id}`);
  await D.page.locator("#thread-start").click();
  const t = await waitFor("the agent to see the demo's thread", async () =>
    (await agentEvents()).find((e) => e.kind === "thread.started" && e.actor.id === `contact:${id}`),
  );
  assert.match(t.data.topic, /^Customer server offline \(Ticket #\d+\)$/);
  await D.page.locator(`${W} li.thread-start`).waitFor();
  await send(D.page, "Hello from the demo page");
  await waitFor("the demo message at the agent", async () => (await agentMessages("Hello from the demo page")).length === 1);
  await agentPush([{ conv: t.conv, kind: "message.sent", data: { text: "We are on it: the node is rebooting." } }]);
  await waitFor("the reply on the demo page", async () => (await bubbles(D.page)).includes("We are on it: the node is rebooting."));
  await D.page.screenshot({ path: join(ARTIFACTS, "demo-contact.png") });
  const forged = await newPage(`/demo?contact=${id}&hash=${"ab".repeat(32)}`);
  await waitFor("the forged hash to be refused", () => forged.page.evaluate(() => document.getElementById("log").textContent.includes("unauthorized")));
});

// ——— runner ———

let passed = 0;
let failed = 0;
for (const s of scenarios) {
  if (ONLY && !s.name.includes(ONLY)) continue;
  contexts = [];
  consoleLog = [];
  const t0 = Date.now();
  try {
    await Promise.race([s.fn(), sleep(90000).then(() => Promise.reject(new Error("scenario timed out after 90 s")))]);
    passed++;
    console.log(`ok   ${s.name} (${Date.now() - t0} ms)`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${s.name} (${Date.now() - t0} ms)\n     ${String(err && err.stack ? err.stack : err).split("\n").join("\n     ")}`);
    const slug = s.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
    for (const [i, ctx] of contexts.entries()) {
      for (const [j, p] of ctx.pages().entries()) {
        await p.screenshot({ path: join(ARTIFACTS, `${slug}-${i}-${j}.png`) }).catch(() => {});
      }
    }
    writeFileSync(join(ARTIFACTS, `${slug}.console.txt`), consoleLog.join("\n"));
    console.log(`     page console:\n       ${consoleLog.slice(-30).join("\n       ")}`);
  } finally {
    for (const ctx of contexts) await ctx.close().catch(() => {});
  }
}
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
