// Browser scenarios of the Threadline widget, run by sync/widget/e2e_test.go
// against a real relay that serves the widget. playwright-core drives
// Debian's Chromium; no browser is downloaded.
//
// Env: RELAY_URL (http://127.0.0.1:port), SITE_URL (another origin: a site
// that hosts widget.js itself and reaches the relay through a gate the
// scenarios can take down), WORKSPACE, CHROMIUM (/usr/bin/chromium),
// ARTIFACTS (a folder for screenshots and console logs), ONLY (run the
// scenarios whose name contains it).
//
// The Go test plays the agent: GET /e2e/agent/events lists every event the
// agent's device received; POST /e2e/agent/push and /e2e/agent/typing act
// as the agent. It also plays the site's backend (GET /e2e/hash?id= answers
// protocol.ContactHash) and the network (POST /e2e/gate {"down"}).
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const BASE = process.env.RELAY_URL;
const WS = process.env.WORKSPACE || "acme";
const SITE = process.env.SITE_URL;
const ARTIFACTS = process.env.ARTIFACTS || "artifacts";
const ONLY = process.env.ONLY || "";
if (!BASE || !SITE) {
  console.error("run.mjs: set RELAY_URL and SITE_URL (sync/widget/e2e_test.go does)");
  process.exit(2);
}
mkdirSync(ARTIFACTS, { recursive: true });
// The protocol's limits, as widget.js carries them (written from Go; see unit/protocol.mjs).
const P = JSON.parse(readFileSync(new URL("../unit/protocol.json", import.meta.url), "utf8"));

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});

// ——— helpers ———

const rand = () => randomBytes(4).toString("hex");
// hash asks the site's backend (the Go test: protocol.ContactHash) for a
// contact's identity hash.
async function hash(id) {
  const r = await fetch(BASE + "/e2e/hash?id=" + encodeURIComponent(id));
  assert.equal(r.status, 200);
  return r.text();
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let contexts = [];
let consoleLog = [];

// newPage opens path (on the relay's origin, or a whole URL) in a new
// browser context: a browser of its own, with its own storage.
async function newPage(path = "/e2e/page", init, ctxOptions = {}) {
  const ctx = await browser.newContext(ctxOptions);
  contexts.push(ctx);
  if (init) await ctx.addInitScript(init);
  const page = await ctx.newPage();
  const n = contexts.length;
  page.on("console", (m) => consoleLog.push(`[page ${n}] ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => consoleLog.push(`[page ${n}] pageerror: ${e.message}`));
  await page.goto(/^https?:/.test(path) ? path : BASE + path);
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
  const r = await start(page, { contactId: id, hash: await hash(id), ...extra });
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
const readOutbox = (page) => readIDB(page, "outbox");

// readIDB lists one object store of the widget's IndexedDB ("outbox" or "events").
function readIDB(page, name) {
  return page.evaluate(
    (name) =>
      new Promise((resolve, reject) => {
        const r = indexedDB.open("threadline-widget");
        r.onsuccess = () => {
          const tx = r.result.transaction(name, "readonly");
          const g = tx.objectStore(name).getAll();
          g.onsuccess = () => {
            r.result.close();
            resolve(g.result);
          };
          g.onerror = () => reject(g.error);
        };
        r.onerror = () => reject(r.error);
      }),
    name,
  );
}

// gate takes the network path to the relay down (every connection through
// it refused and cut) or brings it back; SITE_URL's pages use it.
async function gate(down) {
  const r = await fetch(BASE + "/e2e/gate", { method: "POST", body: JSON.stringify({ down }) });
  assert.equal(r.status, 204);
}

const lsKeys = (page) => page.evaluate(() => Object.keys(localStorage));

// focused names what has the focus inside the widget's shadow root.
const focused = (page) =>
  page.evaluate(() => {
    const a = document.querySelector("#threadline-widget").shadowRoot.activeElement;
    return a ? a.className.split(" ")[0] : "";
  });

// captureHellos records the auth of every hello the page sends, passing
// every frame on to the relay.
async function captureHellos(page) {
  const auths = [];
  await page.routeWebSocket(/\/v1\/sync$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      const f = JSON.parse(m);
      if (f.type === "hello") auths.push(f.auth);
      server.send(m);
    });
  });
  return auths;
}

// sendCmd pushes a message:send without waiting for its outcome; the
// returned promise settles with {ok} or {code}.
function sendCmd(page, text) {
  return page.evaluate(
    (t) =>
      window.$threadline.push(["do", "message:send", ["text", t]]).then(
        (ok) => ({ ok }),
        (e) => ({ code: e.code, message: e.message }),
      ),
    text,
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
  assert.equal((await cmd(page, ["do", "message:thread:start", ["x".repeat(P.maxTopicChars + 1)]])).code, "too_large");

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
  const r = await cmd(page, ["set", "user:id", [id, await hash(id)]]);
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
  assert.match(await banner.textContent(), /This chat could not verify who you are/);
  assert.match(await banner.textContent(), /unauthorized/);
  // Nothing can be written that would wait "Sending…" forever.
  assert.equal(await page.locator(`${W} textarea.input`).isDisabled(), true, "the composer is disabled");
  assert.equal(await page.locator(`${W} button.send`).isDisabled(), true);
  assert.match(await page.locator(`${W} textarea.input`).getAttribute("placeholder"), /unavailable/);
  await page.locator(`${W} textarea.input`).press("Enter", { timeout: 1000 }).catch(() => {});
  assert.equal(await page.locator(`${W} li.msg`).count(), 0, "no message shows as being sent");
  assert.equal((await readOutbox(page)).length, 0);
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
  // Signing out of the site ends the chat session: back to an anonymous visitor with no history.
  await D.page.locator("#signout").click();
  await D.page.waitForURL(/\/demo$/);
  await waitFor("auto-start as a visitor", () => D.page.evaluate(() => Threadline.isStarted()));
  assert.equal((await state(D.page)).identity.role, "visitor");
  await D.page.locator("#open").click();
  await online(D.page);
  assert.deepEqual(await bubbles(D.page), [], "the signed-out page shows none of the customer's chat");
  const forged = await newPage(`/demo?contact=${id}&hash=${"ab".repeat(32)}`);
  await waitFor("the forged hash to be refused", () => forged.page.evaluate(() => document.getElementById("log").textContent.includes("unauthorized")));
});

scenario("session:reset and Threadline.logout end the contact's session, wipe its data and start a new visitor; other tabs follow", async () => {
  const { page } = await newPage();
  const v = await start(page);
  const visitor1 = v.res.identity.id;
  await cmd(page, ["do", "chat:open"]);
  const asVisitor = `Asked as a visitor ${rand()}`;
  await send(page, asVisitor);
  await waitFor("the visitor's message at the agent", async () => (await agentMessages(asVisitor)).length === 1);
  const id = `leaver-${rand()}`;
  const who = await cmd(page, ["set", "user:id", [id, await hash(id)]]);
  assert.equal(who.ok.identity.id, `contact:${id}`);
  const asContact = `Asked as the contact ${rand()}`;
  await send(page, asContact);
  const contactMsg = await waitFor("the contact's message at the agent", async () => (await agentMessages(asContact))[0]);
  await waitFor("the contact's history", async () => (await bubbles(page)).includes(asVisitor));

  const reset = await cmd(page, ["do", "session:reset"]);
  assert.ok(reset.ok, JSON.stringify(reset));
  assert.equal(reset.ok.identity.role, "visitor");
  assert.notEqual(reset.ok.identity.id, visitor1, "a new visitor, not the one who identified");
  assert.notEqual(reset.ok.device, v.res.device, "on a new device id");
  assert.equal(await page.locator(`${W} .panel`).isVisible(), false, "the panel closed");
  assert.equal((await cmd(page, ["get", "chat:opened"])).ok, false);
  const keys = await lsKeys(page);
  assert.ok(!keys.some((k) => k.includes(id) || k.includes(v.res.device)), `localStorage still holds the old session: ${keys}`);
  const stored = JSON.stringify(await readIDB(page, "events"));
  assert.ok(!stored.includes(asContact) && !stored.includes(asVisitor) && !stored.includes(id), "IndexedDB still holds the contact's events");
  assert.equal((await readOutbox(page)).length, 0);
  assert.equal((await cmd(page, ["do", "message:thread:end"])).code, "chat_not_opened", "the new visitor has not opened the chat");

  await cmd(page, ["do", "chat:open"]);
  await online(page);
  assert.deepEqual(await bubbles(page), [], "the new visitor sees none of the contact's history");
  const after = `once: written after the logout ${rand()}`;
  await send(page, after);
  const m = await waitFor("the new visitor's message at the agent", async () => (await agentMessages(after))[0]);
  assert.equal(m.actor.id, reset.ok.identity.id);
  assert.notEqual(m.conv, contactMsg.conv);
  await page.locator(`${W} li.msg.sent[data-id="${m.id}"]`).waitFor();
  assert.equal(await page.locator(`${W} li.msg.failed`).count(), 0, "nothing fails as 'not yours'");

  // Threadline.logout(callback) in one tab; a second tab of the same browser follows it.
  const id2 = `leaver2-${rand()}`;
  const A = await newPage();
  await startContact(A.page, id2);
  await cmd(A.page, ["do", "chat:open"]);
  const hi = `Hello from tab one ${rand()}`;
  await send(A.page, hi);
  await waitFor("the agent to get it", async () => (await agentMessages(hi)).length === 1);
  const B = await A.ctx.newPage();
  B.on("console", (msg) => consoleLog.push(`[tab B] ${msg.type()}: ${msg.text()}`));
  await B.goto(BASE + "/e2e/page");
  await startContact(B, id2);
  await cmd(B, ["do", "chat:open"]);
  await waitFor("tab two to show the history", async () => (await bubbles(B)).includes(hi));
  const out = await A.page.evaluate(() => new Promise((resolve) => Threadline.logout((res, err) => resolve(err ? { code: err.code } : res))));
  assert.equal(out.identity.role, "visitor", JSON.stringify(out));
  assert.equal(out.offline, false);
  // Following takes a moment: the storage event, the wipe, the new start.
  await waitFor("tab two to follow the logout and show none of it", async () => {
    const s = await state(B);
    return s.identity && s.identity.role === "visitor" && (await bubbles(B)).length === 0;
  });
  assert.equal((await state(B)).identity.id, out.identity.id, "both tabs are the same new visitor");
  assert.ok(!(await lsKeys(B)).some((k) => k.includes(id2)));
});

scenario("a visitor who identified and then loads a page without user:id is a new visitor that can write", async () => {
  const { page } = await newPage();
  const v = await start(page);
  await cmd(page, ["do", "chat:open"]);
  const q = `Asked before signing in ${rand()}`;
  await send(page, q);
  await waitFor("the agent to get it", async () => (await agentMessages(q)).length === 1);
  const id = `reloader-${rand()}`;
  assert.ok((await cmd(page, ["set", "user:id", [id, await hash(id)]])).ok);
  await waitFor("the contact's history", async () => (await bubbles(page)).includes(q));
  await page.reload(); // the site forgot to say session:reset
  const again = await start(page);
  assert.equal(again.res.identity.role, "visitor");
  assert.notEqual(again.res.identity.id, v.res.identity.id, "the identified visitor's token is spent");
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  assert.deepEqual(await bubbles(page), [], "none of the contact's conversations");
  const text = `once: anonymous after identifying ${rand()}`;
  await send(page, text);
  await waitFor("the agent to get it", async () => (await agentMessages(text)).length === 1);
  await page.locator(`${W} li.msg.sent`).waitFor();
  assert.equal(await page.locator(`${W} li.msg.failed`).count(), 0);
});

scenario("'opened at least once' is remembered by the browser: after a reload a site ends a ticket's thread without opening the chat", async () => {
  const id = `ticket-${rand()}`;
  const { page } = await newPage();
  await startContact(page, id);
  assert.equal((await cmd(page, ["do", "message:thread:start", ["Too soon"]])).code, "chat_not_opened");
  await cmd(page, ["do", "chat:open"]);
  const topic = `Server offline (Ticket #${rand()})`;
  const started = await cmd(page, ["do", "message:thread:start", [topic]]);
  assert.ok(started.ok, JSON.stringify(started));
  await page.reload();
  await page.evaluate(() => {
    window.__opened = 0;
    Threadline.on("chat:opened", () => window.__opened++);
  });
  await startContact(page, id);
  const ended = await cmd(page, ["do", "message:thread:end", [topic]]);
  assert.ok(ended.ok && ended.ok.ended, JSON.stringify(ended));
  assert.equal((await cmd(page, ["get", "chat:opened"])).ok, false, "the chat did not pop open");
  assert.equal(await page.locator(`${W} .panel`).isVisible(), false);
  assert.equal(await page.evaluate(() => window.__opened), 0);
  await waitFor("the agent to see the thread end", async () =>
    (await agentEvents()).find((e) => e.kind === "thread.ended" && e.conv === started.ok.conversationId && e.data.topic === topic),
  );
  // Another browser of the same contact has not opened it.
  const other = await newPage();
  await startContact(other.page, id);
  assert.equal((await cmd(other.page, ["do", "message:thread:end"])).code, "chat_not_opened");
});

scenario("the relay down while a page that hosts widget.js loads: the widget shows, says offline, start settles, queued work goes out once it is back", async () => {
  await gate(true);
  try {
    const { page } = await newPage(SITE + "/");
    await page.locator(`${W} .launcher`).waitFor();
    const st = await waitFor("start to settle", () => page.evaluate(() => window.__start));
    assert.equal(st.offline, true, JSON.stringify(st));
    assert.equal(st.identity, null, "a new visitor: the relay has not named it yet");
    assert.match(st.device, UUID);
    assert.equal(await page.evaluate(() => Threadline.isStarted()), true);
    // The chat:open the page queued before the script loaded has run.
    await page.locator(`${W} .panel`).waitFor();
    await waitFor("the offline notice", async () => /Offline/.test(await page.locator(`${W} .status`).textContent()));
    const text = `once: typed while the relay was down ${rand()}`;
    const sent = sendCmd(page, text);
    await page.locator(`${W} li.msg.pending`).waitFor();
    assert.match(await page.locator(`${W} li.msg.pending .pending`).textContent(), /Waiting to send/);
    assert.equal((await readOutbox(page)).filter((r) => r.event.data.text === text).length, 1, "kept in IndexedDB");
    await sleep(800);
    assert.notEqual((await state(page)).state, "online");
    assert.match(await page.locator(`${W} .status`).textContent(), /Offline/, "still offline while retrying");
    assert.equal((await agentMessages(text)).length, 0);

    await gate(false);
    const res = await sent;
    assert.ok(res.ok && res.ok.seq > 0, JSON.stringify(res));
    await online(page);
    await waitFor("the agent to get it", async () => (await agentMessages(text)).length === 1);
    assert.equal((await state(page)).identity.role, "visitor");
    assert.equal(await page.locator(`${W} .status`).isVisible(), false, "the offline notice is gone");
    await page.locator(`${W} li.msg.sent`).waitFor();
  } finally {
    await gate(false);
  }
});

scenario("a wrong hash found out after an offline start: what was typed says it was not sent, and the composer is disabled", async () => {
  await gate(true);
  try {
    const id = `mallory-${rand()}`;
    const { page } = await newPage(`${SITE}/?contact=${id}&hash=${"ab".repeat(32)}`);
    const st = await waitFor("start to settle", () => page.evaluate(() => window.__start));
    assert.equal(st.offline, true, JSON.stringify(st));
    assert.equal(st.identity.id, `contact:${id}`);
    const sent = sendCmd(page, "Typed before the relay answered");
    await page.locator(`${W} li.msg.pending`).waitFor();
    await gate(false);
    const res = await sent;
    assert.equal(res.code, "unauthorized", JSON.stringify(res));
    const banner = page.locator(`${W} .banner.error[data-code="unauthorized"]`);
    await banner.waitFor();
    assert.match(await banner.textContent(), /could not verify who you are/);
    assert.equal(await page.locator(`${W} textarea.input`).isDisabled(), true);
    assert.match(await page.locator(`${W} li.msg .pending`).textContent(), /Not sent/);
    const kept = (await readOutbox(page)).filter((r) => r.event.kind === "message.sent");
    assert.deepEqual(kept.map((r) => r.event.data.text), ["Typed before the relay answered"], "what was typed is kept");
    assert.equal((await cmd(page, ["do", "message:send", ["text", "and again"]])).code, "unauthorized");
  } finally {
    await gate(false);
  }
});

scenario("accessibility: the launcher's name carries the unread count, Escape closes and gives focus back, only arrivals are announced", async () => {
  const id = `a11y-${rand()}`;
  const { page } = await newPage();
  await startContact(page, id);
  await cmd(page, ["do", "chat:open"]);
  const q = `Can a screen reader use this? ${rand()}`;
  await send(page, q);
  const first = await waitFor("the agent to get it", async () => (await agentMessages(q))[0]);
  await cmd(page, ["do", "chat:close"]);
  const launcher = page.locator(`${W} .launcher`);
  assert.equal(await launcher.getAttribute("aria-label"), "Open chat");
  assert.equal(await launcher.getAttribute("aria-expanded"), "false");
  const a1 = `First answer ${rand()}`;
  const a2 = `Second answer ${rand()}`;
  await agentPush([{ conv: first.conv, kind: "message.sent", data: { text: a1 } }]);
  await waitFor("one unread in the launcher's name", async () => (await launcher.getAttribute("aria-label")) === "Open chat, 1 unread message");
  await agentPush([{ conv: first.conv, kind: "message.sent", data: { text: a2 } }]);
  await waitFor("two unread in the launcher's name", async () => (await launcher.getAttribute("aria-label")) === "Open chat, 2 unread messages");
  assert.equal(await page.locator(`${W} .badge`).getAttribute("aria-hidden"), "true", "the badge is not read twice");
  const live = page.locator(`${W} [role="log"][aria-live="polite"]`);
  assert.deepEqual(await live.locator("p").allTextContents(), [`Ana: ${a1}`, `Ana: ${a2}`], "each arrival announced once");
  assert.equal(await page.locator(`${W} ol.timeline`).getAttribute("aria-live"), null, "the redrawn timeline is no live region");

  await launcher.focus();
  await page.keyboard.press("Enter");
  await page.locator(`${W} .panel`).waitFor();
  assert.equal(await launcher.getAttribute("aria-expanded"), "true");
  assert.equal(await focused(page), "input", "opening puts focus in the composer");
  await page.keyboard.press("Escape");
  await page.locator(`${W} .panel`).waitFor({ state: "hidden" });
  assert.equal(await focused(page), "launcher", "Escape gives focus back to the launcher");
  await waitFor("read: no count in the name", async () => (await launcher.getAttribute("aria-label")) === "Open chat");
  // The close button does the same.
  await page.keyboard.press("Enter");
  await page.locator(`${W} .panel`).waitFor();
  await page.locator(`${W} button.close`).click();
  assert.equal(await focused(page), "launcher");

  // A new device of the contact receives the backlog: nothing of it is announced.
  const B = await newPage();
  await startContact(B.page, id);
  await online(B.page);
  await waitFor("the backlog", async () => (await bubbles(B.page)).includes(a2));
  const liveB = B.page.locator(`${W} [role="log"]`);
  assert.deepEqual(await liveB.locator("p").allTextContents(), [], "the backlog is not read out");
  const a3 = `Third answer ${rand()}`;
  await agentPush([{ conv: first.conv, kind: "message.sent", data: { text: a3 } }]);
  await waitFor("only the new one announced", async () => JSON.stringify(await liveB.locator("p").allTextContents()) === JSON.stringify([`Ana: ${a3}`]));
});

scenario("at 375 px long topics and long words wrap inside the panel", async () => {
  const { page } = await newPage("/e2e/page", undefined, { viewport: { width: 375, height: 720 } });
  await startContact(page, `narrow-${rand()}`);
  await cmd(page, ["do", "chat:open"]);
  const topic = "Ticket#" + "X".repeat(P.maxTopicChars - 7);
  assert.ok((await cmd(page, ["do", "message:thread:start", [topic]])).ok);
  const word = "averyveryverylongword".repeat(20);
  await send(page, word);
  await page.locator(`${W} li.thread-start`).waitFor();
  await page.locator(`${W} li.msg.sent`).waitFor();
  const overflow = await page.evaluate(() => {
    const root = document.querySelector("#threadline-widget").shadowRoot;
    const out = [];
    for (const el of root.querySelectorAll(".panel, .panel *")) {
      const r = el.getBoundingClientRect();
      if (r.width && (r.right > window.innerWidth + 0.5 || r.left < -0.5)) out.push(`${el.tagName}.${el.className}: ${Math.round(r.left)}–${Math.round(r.right)}`);
    }
    for (const el of root.querySelectorAll(".timeline, .timeline li")) {
      if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.tagName}.${el.className} scrolls sideways: ${el.scrollWidth} > ${el.clientWidth}`);
    }
    return out;
  });
  assert.deepEqual(overflow, [], "nothing sticks out of a 375 px screen");
  await page.screenshot({ path: join(ARTIFACTS, "narrow-375.png") });
});

scenario("name and email travel in the hello; a change while connected says hello again; bad values are refused, nothing lost", async () => {
  const id = `profile-${rand()}`;
  const { page } = await newPage("/e2e/page", () => {
    window.$threadline = [
      ["set", "user:nickname", ["Dana"]],
      ["set", "user:email", ["dana@example.com"]],
    ];
  });
  const hellos = await captureHellos(page);
  const h = await hash(id);
  await startContact(page, id);
  assert.deepEqual(hellos, [{ kind: "contact", contactId: id, hash: h, name: "Dana", email: "dana@example.com" }]);
  assert.equal((await state(page)).identity.name, "Dana", "the relay took the name");
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  const text = `once: sent just before a rename ${rand()}`;
  await send(page, text);
  const renamed = await cmd(page, ["set", "user:nickname", ["Dana Scully"]]);
  assert.deepEqual(renamed.ok, { name: "Dana Scully", email: "dana@example.com" });
  await waitFor("a new hello with the new name", async () => hellos.length === 2);
  assert.deepEqual(hellos[1], { kind: "contact", contactId: id, hash: h, name: "Dana Scully", email: "dana@example.com" });
  await waitFor("the relay's welcome with the new name", async () => {
    const s = await state(page);
    return s.state === "online" && s.identity.name === "Dana Scully";
  });
  await cmd(page, ["set", "user:email", ["scully@example.com"]]);
  await waitFor("a new hello with the new email", async () => hellos.length === 3);
  assert.equal(hellos[2].email, "scully@example.com");
  // The relay heard both (it logs contact.updated, with what changed, for the team).
  const updated = (field, value) => async () =>
    (await agentEvents()).some((e) => e.kind === "contact.updated" && e.data.contact && e.data.contact.id === `contact:${id}` && e.data[field] === value);
  await waitFor("the agent to see the new name", updated("name", "Dana Scully"));
  await waitFor("the agent to see the new email", updated("email", "scully@example.com"));
  const bad = await cmd(page, ["set", "user:email", ["not an address"]]);
  assert.equal(bad.code, "invalid");
  assert.match(bad.message, /not an email address/);
  const long = await cmd(page, ["set", "user:nickname", ["x".repeat(P.maxNameChars + 1)]]);
  assert.equal(long.code, "too_large");
  const longEmail = await cmd(page, ["set", "user:email", ["d".repeat(P.maxEmailBytes) + "@example.com"]]);
  assert.equal(longEmail.code, "too_large");
  await online(page);
  await sleep(300);
  assert.equal(hellos.length, 3, "a refused value says no hello");
  await waitFor("the message once at the agent", async () => (await agentMessages(text)).length === 1);
  assert.deepEqual(await bubbles(page), [text]);

  // A visitor's hello carries its name, not an email the relay cannot verify.
  const V = await newPage();
  const vh = await captureHellos(V.page);
  const v = await start(V.page, { name: "Guest Gus", email: "gus@example.com" });
  assert.ok(v.res, JSON.stringify(v.error));
  assert.deepEqual(vh[0], { kind: "visitor", name: "Guest Gus" });
  const C = await newPage();
  const refused = await start(C.page, { contactId: id, hash: h, email: "nope" });
  assert.equal(refused.error && refused.error.code, "invalid_options", "bad start options are refused before any hello");
});

// ——— attachments (DESIGN §10) ———

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
// A 1×1 PNG, with random bytes after its end so each run's file is new.
const PNG_1PX = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64");
const png = () => Buffer.concat([PNG_1PX, randomBytes(16)]);
const pdf = () => Buffer.from(`%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% ${rand()}\ntrailer << /Root 1 0 R >>\n%%EOF\n`);
const fileInput = (page) => page.locator(`${W} input.file-input`);

async function agentFileToken() {
  const r = await fetch(BASE + "/e2e/agent/fileToken");
  return r.text();
}

// agentDownload fetches a file as the agent does, with its own fileToken.
async function agentDownload(id) {
  const r = await fetch(`${BASE}/v1/files/${WS}/${id}`, { headers: { Authorization: `Bearer ${await agentFileToken()}` } });
  assert.equal(r.status, 200, `the agent downloads ${id}`);
  return Buffer.from(await r.arrayBuffer());
}

// outboxFiles lists, in the page, the outbox's files as stored: whether each
// is a Blob in IndexedDB and its size.
function outboxFiles(page, text) {
  return page.evaluate(
    (text) =>
      new Promise((resolve, reject) => {
        const r = indexedDB.open("threadline-widget");
        r.onsuccess = () => {
          const g = r.result.transaction("outbox", "readonly").objectStore("outbox").getAll();
          g.onsuccess = () => {
            r.result.close();
            const recs = g.result.filter((x) => x.event.data.text === text);
            resolve(recs.map((x) => ({ id: x.id, state: x.state, attachments: x.event.data.attachments, files: (x.files || []).map((f) => ({ sha256: f.sha256, uploaded: f.uploaded, blob: f.blob instanceof Blob, size: f.blob ? f.blob.size : 0 })) })));
          };
          g.onerror = () => reject(g.error);
        };
        r.onerror = () => reject(r.error);
      }),
    text,
  );
}

scenario("a visitor sends an image and a PDF in one message: the agent sees both with their sha256 and downloads the same bytes; thumbnail, viewer and chip", async () => {
  const { page } = await newPage();
  const r = await start(page);
  assert.ok(r.res, JSON.stringify(r.error));
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  const img = png();
  const doc = pdf();
  await fileInput(page).setInputFiles([
    { name: "screenshot.png", mimeType: "image/png", buffer: img },
    { name: "invoice.pdf", mimeType: "application/pdf", buffer: doc },
  ]);
  await waitFor("both uploads", async () => (await page.locator(`${W} .tray .att[data-state="done"]`).count()) === 2);
  const text = `here are the files ${rand()}`;
  await send(page, text);
  assert.equal(await page.locator(`${W} .tray .att`).count(), 0, "the composer is empty after sending");
  const [m] = await waitFor("the agent to get the message", async () => {
    const ms = await agentMessages(text);
    return ms.length ? ms : null;
  });
  const atts = m.data.attachments;
  assert.equal(atts.length, 2);
  assert.deepEqual(
    atts.map((a) => [a.name, a.sha256, a.id, a.size, a.type]),
    [
      ["screenshot.png", sha256(img), sha256(img), img.length, "image/png"],
      ["invoice.pdf", sha256(doc), sha256(doc), doc.length, "application/pdf"],
    ],
  );
  assert.ok((await agentDownload(atts[0].id)).equals(img), "the image's bytes, identical");
  assert.ok((await agentDownload(atts[1].id)).equals(doc), "the PDF's bytes, identical");

  // The visitor's timeline: the image inline (fetched with ?token=), the PDF as a chip that downloads.
  const sent = page.locator(`${W} li.msg.sent[data-id="${m.id}"]`);
  await sent.waitFor();
  await waitFor("the thumbnail to load", () => sent.locator("img.thumb-img").evaluate((i) => i.complete && i.naturalWidth === 1));
  const chip = sent.locator("a.file-chip");
  assert.match(await chip.textContent(), /invoice\.pdf.*application\/pdf.*B/);
  const href = await chip.getAttribute("href");
  assert.match(href, /\?token=/);
  const got = await page.evaluate((u) => fetch(u).then((r) => r.arrayBuffer()).then((b) => b.byteLength), href);
  assert.equal(got, doc.length, "the chip's link downloads the PDF");
  await sent.locator("button.thumb").click();
  const viewer = page.locator(`${W} .viewer`);
  await viewer.waitFor();
  await waitFor("the viewer's image", () => viewer.locator("img").evaluate((i) => i.complete && i.naturalWidth === 1));
  await page.keyboard.press("Escape");
  await viewer.waitFor({ state: "hidden" });
  assert.equal(await page.locator(`${W} .panel`).isVisible(), true, "Escape closes the viewer, not the chat");
});

scenario("files over 25 MiB, an 11th file and a program are refused in words before or by the relay; the typed text stays; ten files go in one message", async () => {
  const { page } = await newPage();
  await startContact(page, `files-${rand()}`);
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  const draft = `a draft with files ${rand()}`;
  await page.locator(`${W} textarea.input`).fill(draft);

  await fileInput(page).setInputFiles([{ name: "huge.zip", mimeType: "application/zip", buffer: Buffer.alloc(P.maxFileBytes + 1) }]);
  const tooLarge = page.locator(`${W} .file-errors p[data-code="too_large"]`);
  await tooLarge.waitFor();
  assert.match(await tooLarge.textContent(), /huge\.zip is too large to send \(at most 25\.0 MB\)/);
  assert.equal(await page.locator(`${W} .tray .att`).count(), 0, "nothing was added, nor uploaded");

  const elf = Buffer.concat([Buffer.from("\x7fELF\x02\x01\x01", "latin1"), Buffer.alloc(100)]);
  await fileInput(page).setInputFiles([{ name: "tool.bin", mimeType: "application/octet-stream", buffer: elf }]);
  const refused = page.locator(`${W} .tray .att[data-state="error"][data-code="unsupported_type"]`);
  await refused.waitFor();
  assert.match(await refused.textContent(), /tool\.bin is a kind of file this chat does not accept/);
  assert.equal(await page.locator(`${W} textarea.input`).inputValue(), draft, "the typed text stays");
  await refused.locator("button.att-remove").click();
  assert.equal(await page.locator(`${W} .tray .att`).count(), 0, "removed before sending");

  const many = Array.from({ length: 11 }, (_, i) => ({ name: `note-${i + 1}.txt`, mimeType: "text/plain", buffer: Buffer.from(`note ${i + 1} ${rand()}\n`) }));
  await fileInput(page).setInputFiles(many);
  const tooMany = page.locator(`${W} .file-errors p[data-code="too_many"]`);
  await tooMany.waitFor();
  assert.match(await tooMany.textContent(), /note-11\.txt is one file too many \(at most 10 files a message\)/);
  await waitFor("ten uploads", async () => (await page.locator(`${W} .tray .att[data-state="done"]`).count()) === 10);
  assert.equal(await page.locator(`${W} textarea.input`).inputValue(), draft, "the typed text still stays");
  await page.locator(`${W} button.send`).click();
  const [m] = await waitFor("the agent to get the ten files", async () => {
    const ms = await agentMessages(draft);
    return ms.length ? ms : null;
  });
  assert.deepEqual(
    m.data.attachments.map((a) => a.sha256),
    many.slice(0, 10).map((f) => sha256(f.buffer)),
  );
  assert.equal(await page.locator(`${W} li.msg[data-id="${m.id}"] a.file-chip`).count(), 10);
});

scenario("a file added offline waits in IndexedDB with its message, is uploaded after reconnect and delivered once", async () => {
  const { ctx, page } = await newPage();
  await startContact(page, `offline-file-${rand()}`);
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  await ctx.setOffline(true);
  await waitFor("the widget to notice", async () => (await state(page)).state === "offline");
  const img = png();
  await fileInput(page).setInputFiles([{ name: "offline.png", mimeType: "image/png", buffer: img }]);
  await page.locator(`${W} .tray .att[data-state="waiting"]`).waitFor();
  const text = `once: a file sent while offline ${rand()}`;
  await send(page, text);
  const pending = page.locator(`${W} li.msg.pending`);
  await pending.waitFor();
  await waitFor("the local thumbnail", () => pending.locator("img.thumb-img").evaluate((i) => i.complete && i.naturalWidth === 1));
  const [kept] = await outboxFiles(page, text);
  assert.ok(kept, "the message is in the IndexedDB outbox");
  assert.equal(kept.state, "pending");
  assert.deepEqual(kept.files, [{ sha256: sha256(img), uploaded: false, blob: true, size: img.length }], "with its file's Blob");
  assert.equal(kept.attachments[0].sha256, sha256(img));
  await sleep(700);
  assert.equal((await agentMessages(text)).length, 0, "nothing reaches the relay while offline");

  await ctx.setOffline(false);
  await waitFor("the agent to get it", async () => (await agentMessages(text)).length === 1);
  await waitFor("the outbox to empty", async () => (await outboxFiles(page, text)).length === 0);
  const [m] = await agentMessages(text);
  assert.equal(m.id, kept.id, "with the id it was made with");
  assert.equal(m.data.attachments[0].sha256, sha256(img));
  assert.ok((await agentDownload(m.data.attachments[0].id)).equals(img), "the bytes, identical");
  await page.locator(`${W} li.msg.sent[data-id="${m.id}"] img.thumb-img`).waitFor();
  await sleep(1000);
  assert.equal((await agentMessages(text)).length, 1, "delivered exactly once");
});

scenario("a pasted screenshot and a dropped file go in a message of files only", async () => {
  const { page } = await newPage();
  await startContact(page, `paste-${rand()}`);
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  const img = png();
  const doc = pdf();
  // What a browser hands the page for a pasted screenshot and for a file dropped from the desktop.
  await page.evaluate(
    ({ img, doc }) => {
      const root = document.querySelector("#threadline-widget").shadowRoot;
      const paste = new DataTransfer();
      paste.items.add(new File([new Uint8Array(img)], "image.png", { type: "image/png" }));
      root.querySelector("textarea.input").dispatchEvent(new ClipboardEvent("paste", { clipboardData: paste, bubbles: true, cancelable: true }));
      const drop = new DataTransfer();
      drop.items.add(new File([new Uint8Array(doc)], "terms.pdf", { type: "application/pdf" }));
      const panel = root.querySelector(".panel");
      panel.dispatchEvent(new DragEvent("dragover", { dataTransfer: drop, bubbles: true, cancelable: true }));
      panel.dispatchEvent(new DragEvent("drop", { dataTransfer: drop, bubbles: true, cancelable: true }));
    },
    { img: [...img], doc: [...doc] },
  );
  await waitFor("both uploads", async () => (await page.locator(`${W} .tray .att[data-state="done"]`).count()) === 2);
  assert.equal(await page.locator(`${W} textarea.input`).inputValue(), "", "the paste put no text in");
  await page.locator(`${W} button.send`).click();
  const m = await waitFor("the agent to get the files", async () =>
    (await agentEvents()).find((e) => e.kind === "message.sent" && (e.data.attachments || []).some((a) => a.sha256 === sha256(img))),
  );
  assert.equal(m.data.text, "", "a message of files only");
  assert.deepEqual(
    m.data.attachments.map((a) => [a.name, a.sha256]),
    [
      ["image.png", sha256(img)],
      ["terms.pdf", sha256(doc)],
    ],
  );
  await page.locator(`${W} li.msg.sent[data-id="${m.id}"] img.thumb-img`).waitFor();
  assert.equal(await page.locator(`${W} li.msg.sent[data-id="${m.id}"] .bubble`).count(), 0, "no empty bubble");
});

scenario("a file still uploading is cancelled from the composer and not sent", async () => {
  const { page } = await newPage();
  await startContact(page, `cancel-${rand()}`);
  await cmd(page, ["do", "chat:open"]);
  await online(page);
  // The upload hangs until the test lets it go.
  let release;
  const held = new Promise((r) => (release = r));
  await page.route("**/v1/files/**", async (route) => {
    await held;
    await route.abort().catch(() => {});
  });
  await fileInput(page).setInputFiles([{ name: "slow.png", mimeType: "image/png", buffer: png() }]);
  const att = page.locator(`${W} .tray .att[data-state="uploading"]`);
  await att.waitFor();
  assert.equal(await att.locator("progress").count(), 1, "a progress bar while it uploads");
  await att.locator("button.att-cancel").click();
  assert.equal(await page.locator(`${W} .tray .att`).count(), 0, "cancelled");
  release();
  const text = `after a cancelled file ${rand()}`;
  await send(page, text);
  const [m] = await waitFor("the agent to get the message", async () => {
    const ms = await agentMessages(text);
    return ms.length ? ms : null;
  });
  assert.equal(m.data.attachments, undefined, "without the cancelled file");
});

scenario("on a site of its own origin: files go up to the relay across origins; one added while the relay is down survives a reload in IndexedDB and is delivered once", async () => {
  try {
    const { page } = await newPage(SITE + "/");
    await waitFor("start to settle", () => page.evaluate(() => window.__start));
    await online(page);
    const doc = pdf();
    await fileInput(page).setInputFiles([{ name: "cors.pdf", mimeType: "application/pdf", buffer: doc }]);
    await page.locator(`${W} .tray .att[data-state="done"]`).waitFor(); // a cross-origin PUT with its bearer
    await gate(true);
    await waitFor("the widget to notice", async () => (await state(page)).state !== "online");
    const img = png();
    await fileInput(page).setInputFiles([{ name: "down.png", mimeType: "image/png", buffer: img }]);
    await waitFor("the second file to wait", async () => (await page.locator(`${W} .tray .att[data-state="waiting"]`).count()) === 1);
    const text = `once: files while the relay was down ${rand()}`;
    await send(page, text);
    await page.locator(`${W} li.msg.pending`).waitFor();
    const [kept] = await outboxFiles(page, text);
    assert.deepEqual(
      kept.files.map((f) => [f.sha256, f.uploaded, f.blob]),
      [
        [sha256(doc), true, false],
        [sha256(img), false, true],
      ],
      "the uploaded file is only named; the other keeps its Blob",
    );

    await page.reload();
    await waitFor("start to settle again", () => page.evaluate(() => window.__start));
    await page.locator(`${W} li.msg.pending`).waitFor();
    assert.equal((await outboxFiles(page, text)).length, 1, "still in the outbox after the reload");
    await sleep(500);
    assert.equal((await agentMessages(text)).length, 0);

    await gate(false);
    await waitFor("the agent to get it", async () => (await agentMessages(text)).length === 1, 20000);
    const [m] = await agentMessages(text);
    assert.equal(m.id, kept.id);
    assert.deepEqual(m.data.attachments.map((a) => a.sha256), [sha256(doc), sha256(img)]);
    assert.ok((await agentDownload(sha256(img))).equals(img), "the bytes, identical");
    await waitFor("the outbox to empty", async () => (await outboxFiles(page, text)).length === 0);
    await page.locator(`${W} li.msg.sent[data-id="${m.id}"] img.thumb-img`).waitFor();
  } finally {
    await gate(false);
  }
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
