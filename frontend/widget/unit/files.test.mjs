// Attachments: the limits checked before upload, the words of refusals,
// hashing, and the outbox's order — a message's files go up before it, and
// nothing made after it is pushed before it — against a scripted relay
// (fake WebSocket, fake XMLHttpRequest for the PUTs).
import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { checkFiles, fileErrorText, formatSize, filesBase, fileURL, sha256Hex, pushOrder, putFile, isImage, attachmentOf } from "../src/files.js";
import { Client } from "../src/client.js";
import { Model } from "../src/model.js";
import { Store } from "../src/store.js";
import { PROTOCOL as P } from "./protocol.mjs";

const MiB = 1 << 20;

test("the protocol carries conv's file limits", () => {
  assert.equal(P.maxFileBytes, 25 * MiB);
  assert.equal(P.maxFiles, 10);
  assert.equal(P.filesPath, "/v1/files/");
});

test("checkFiles: 25 MiB a file, not empty, 10 files a message, in the order given", () => {
  const f = (name, size) => ({ name, size });
  let r = checkFiles(0, [f("a.png", 10), f("big.zip", P.maxFileBytes + 1), f("edge.bin", P.maxFileBytes), f("empty.txt", 0)], P);
  assert.deepEqual(r.accepted.map((x) => x.name), ["a.png", "edge.bin"]);
  assert.deepEqual(r.refused.map((x) => [x.file.name, x.code]), [["big.zip", "too_large"], ["empty.txt", "empty"]]);
  assert.equal(r.refused[0].message, "big.zip is too large to send (at most 25.0 MB).");

  r = checkFiles(8, [f("1", 1), f("2", 1), f("3", 1), f("4", 1)], P);
  assert.deepEqual(r.accepted.map((x) => x.name), ["1", "2"]);
  assert.deepEqual(r.refused.map((x) => x.code), ["too_many", "too_many"]);
  assert.match(r.refused[0].message, /at most 10 files a message/);
  // a refused big file does not take a slot
  r = checkFiles(9, [f("big", P.maxFileBytes + 1), f("ok", 1)], P);
  assert.deepEqual(r.accepted.map((x) => x.name), ["ok"]);
});

test("the relay's refusals in words", () => {
  assert.equal(fileErrorText("tool.bin", "unsupported_type", P), "tool.bin is a kind of file this chat does not accept (programs and scripts are refused).");
  assert.equal(fileErrorText("x.pdf", "too_large", P), "x.pdf is too large to send (at most 25.0 MB).");
  assert.equal(fileErrorText("x.pdf", "something_new", P), "x.pdf could not be sent.");
});

test("formatSize, isImage, attachmentOf", () => {
  assert.equal(formatSize(812), "812 B");
  assert.equal(formatSize(1536), "1.5 KB");
  assert.equal(formatSize(200 * 1024), "200 KB");
  assert.equal(formatSize(3.25 * MiB), "3.3 MB");
  assert.ok(isImage("image/png") && isImage("image/jpeg") && isImage("image/webp"));
  assert.ok(!isImage("image/svg+xml"), "SVG is active content: a download, never inline");
  assert.ok(!isImage("application/pdf"));
  assert.deepEqual(attachmentOf({ sha256: "ab", name: "n", size: 3, type: "" }), { id: "ab", name: "n", size: 3, type: "application/octet-stream", sha256: "ab" });
});

test("the file routes' address comes from the sync URL", () => {
  assert.equal(filesBase("wss://relay.example.com/v1/sync", P.filesPath), "https://relay.example.com/v1/files/");
  assert.equal(filesBase("ws://127.0.0.1:8080/v1/sync?x=1", P.filesPath), "http://127.0.0.1:8080/v1/files/");
  assert.equal(fileURL("https://r/v1/files/", "acme", "ab", "t+k"), "https://r/v1/files/acme/ab?token=t%2Bk");
  assert.equal(fileURL("https://r/v1/files/", "acme", "ab", ""), "https://r/v1/files/acme/ab");
});

test("sha256Hex is SHA-256 in hex (crypto.subtle)", async () => {
  const bytes = Buffer.from("hello, threadline");
  const want = createHash("sha256").update(bytes).digest("hex");
  assert.equal(await sha256Hex(new Blob([bytes])), want);
  assert.equal(await sha256Hex(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)), want);
});

test("pushOrder: pending records go in mid order up to the first whose files are not all uploaded", () => {
  const rec = (mid, state = "pending", files) => ({ id: `e${mid}`, mid, state, files, event: {} });
  const ob = [rec(1, "acked"), rec(2), rec(3, "pending", [{ uploaded: true }]), rec(4, "pending", [{ uploaded: true }, { uploaded: false }]), rec(5), rec(6, "failed")];
  const o = pushOrder(ob);
  assert.deepEqual(o.push.map((r) => r.mid), [2, 3]);
  assert.equal(o.upload.mid, 4);
  ob[3].files[1].uploaded = true;
  assert.deepEqual(pushOrder(ob).push.map((r) => r.mid), [2, 3, 4, 5]);
  assert.equal(pushOrder(ob).upload, null);
  // a failed message with files does not hold the others back
  const failed = [rec(1, "failed", [{ uploaded: false }]), rec(2)];
  assert.deepEqual(pushOrder(failed).push.map((r) => r.mid), [2]);
});

// ——— the client against a scripted relay ———

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
  close() {
    this.readyState = 3;
  }
  frame(f) {
    this.onmessage({ data: JSON.stringify(f) });
  }
  drop(code) {
    this.readyState = 3;
    this.onclose({ code, reason: "" });
  }
  pushes() {
    return this.sent.filter((f) => f.type === "push");
  }
}

// FakeXHR records every PUT; the test answers it.
class FakeXHR {
  static all = [];
  constructor() {
    this.upload = {};
    this.headers = {};
    FakeXHR.all.push(this);
  }
  open(method, url) {
    this.method = method;
    this.url = url;
  }
  setRequestHeader(k, v) {
    this.headers[k] = v;
  }
  send(body) {
    this.body = body;
  }
  abort() {
    this.onabort && this.onabort();
  }
  answer(status, body) {
    if (this.upload.onprogress) this.upload.onprogress({ loaded: this.body.size, total: this.body.size, lengthComputable: true });
    this.status = status;
    this.responseText = JSON.stringify(body);
    this.onload();
  }
  fail() {
    this.onerror();
  }
}

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const me = { id: "contact:42", role: "contact" };
const welcome = { type: "welcome", identity: me, epoch: "E1", head: 0, backlog: 0, lastMid: 0, fileToken: "ft1" };
const clients = [];
const realXHR = globalThis.XMLHttpRequest;
afterEach(() => {
  for (const c of clients.splice(0)) c.stop();
  globalThis.XMLHttpRequest = realXHR;
});

async function online() {
  FakeSocket.all = [];
  FakeXHR.all = [];
  globalThis.XMLHttpRequest = FakeXHR;
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
  });
  clients.push(c);
  await c.init();
  c.connect();
  await tick();
  FakeSocket.all[0].frame(welcome);
  await tick();
  return c;
}

async function fileOf(text, name = "a.png") {
  const bytes = Buffer.from(text);
  const blob = new Blob([bytes], { type: "image/png" });
  return { sha256: await sha256Hex(blob), name, size: bytes.length, type: "image/png", blob, uploaded: false };
}

const msg = (text, f) => ({ kind: "message.sent", conv: "c1", data: { text, attachments: f ? f.map(attachmentOf) : undefined }, files: f });

test("a message's file is PUT with the fileToken before the message is pushed; what came after waits for it", async () => {
  const c = await online();
  const ws = FakeSocket.all[0];
  const f = await fileOf("png bytes");
  await c.make([{ kind: "conversation.created", conv: "c1", data: {} }, msg("look", [f])]);
  await c.make([msg("and another thing")]);
  await tick();
  // conversation.created goes; the message with the file waits for its upload, and the next for it
  assert.deepEqual(ws.pushes().flatMap((p) => p.events.map((e) => e.kind)), ["conversation.created"]);
  assert.equal(FakeXHR.all.length, 1);
  const [put] = FakeXHR.all;
  assert.equal(put.method, "PUT");
  assert.equal(put.url, `http://relay.test/v1/files/acme/${f.sha256}`);
  assert.equal(put.headers.Authorization, "Bearer ft1");
  assert.equal(put.body, f.blob);
  const stored = (await c.store.outbox()).find((r) => r.event.data.text === "look");
  assert.equal(stored.files[0].blob, f.blob, "the Blob waits in the outbox with its event");
  ws.frame({ type: "ack", results: [{ id: ws.pushes()[0].events[0].id, seq: 1 }] });
  await tick();
  assert.equal(ws.pushes().length, 1, "still waiting for the upload");

  put.answer(201, { id: f.sha256, sha256: f.sha256, size: f.size, type: "image/png" });
  await tick();
  assert.equal(ws.pushes().length, 2);
  assert.deepEqual(ws.pushes()[1].events.map((e) => e.data.text), ["look", "and another thing"], "in mid order");
  const after = (await c.store.outbox()).find((r) => r.event.data.text === "look");
  assert.equal(after.files[0].uploaded, true);
  assert.equal(after.files[0].blob, null, "the Blob is dropped once the relay has it");
  assert.equal(FakeXHR.all.length, 1, "uploaded once");
});

test("an interrupted upload restarts on the next session (PUT is idempotent), and the message goes once", async () => {
  const c = await online();
  let ws = FakeSocket.all[0];
  const f = await fileOf("interrupted");
  await c.make([msg("file", [f])]);
  await tick();
  assert.equal(FakeXHR.all.length, 1);
  ws.drop(1006);
  FakeXHR.all[0].fail();
  await tick(200); // backoff with jitter 0: 125 ms
  ws = FakeSocket.all[1];
  assert.ok(ws, "reconnected");
  ws.frame({ ...welcome, fileToken: "ft2" });
  await tick();
  assert.equal(FakeXHR.all.length, 2, "the upload starts again");
  assert.equal(FakeXHR.all[1].headers.Authorization, "Bearer ft2", "with the new session's token");
  FakeXHR.all[1].answer(200, { id: f.sha256 }); // the relay had the bytes already
  await tick();
  assert.equal(ws.pushes().length, 1);
  assert.equal(ws.pushes()[0].events.length, 1);
  assert.equal(ws.pushes()[0].events[0].data.attachments[0].id, f.sha256);
});

test("a file the relay refuses (415) fails its message with unsupported_type; the next message is not held back", async () => {
  const c = await online();
  const ws = FakeSocket.all[0];
  const f = await fileOf("\x7fELF");
  const { ps } = await c.make([msg("program", [f])]);
  await c.make([msg("text after")]);
  await tick();
  FakeXHR.all[0].answer(415, { error: { code: "unsupported_type", message: "programs are not kept" } });
  await assert.rejects(ps[0], (e) => e.code === "unsupported_type");
  await tick();
  assert.deepEqual(ws.pushes().flatMap((p) => p.events.map((e) => e.data.text)), ["text after"]);
  const failed = c.outbox.find((r) => r.event.data.text === "program");
  assert.equal(failed.state, "failed");
  assert.equal(failed.error.code, "unsupported_type");
});

test("one PUT per file however many ask for it; offline, upload says so at once", async () => {
  const c = await online();
  const f = await fileOf("shared");
  const seen = [];
  const a = c.upload(f.sha256, f.blob, (s) => seen.push(["a", s]));
  const b = c.upload(f.sha256, f.blob, (s) => seen.push(["b", s]));
  assert.equal(FakeXHR.all.length, 1);
  FakeXHR.all[0].answer(201, { id: f.sha256 });
  await a.promise;
  await b.promise;
  assert.ok(seen.some((x) => x[0] === "a") && seen.some((x) => x[0] === "b"), "both hear the progress");
  FakeSocket.all[0].drop(1006);
  await tick();
  await assert.rejects(c.upload(f.sha256, f.blob).promise, (e) => e.code === "upload_failed");
});

test("putFile maps the relay's answers to codes", async () => {
  globalThis.XMLHttpRequest = FakeXHR;
  FakeXHR.all = [];
  const blob = new Blob(["x"]);
  const p1 = putFile("http://r/v1/files/acme/ab", "t", blob);
  FakeXHR.all[0].answer(413, {});
  await assert.rejects(p1.promise, (e) => e.code === "too_large");
  const p2 = putFile("http://r/v1/files/acme/ab", "t", blob);
  FakeXHR.all[1].answer(400, { error: { code: "invalid", message: "not the sha256's bytes" } });
  await assert.rejects(p2.promise, (e) => e.code === "invalid" && /sha256/.test(e.message));
  const p3 = putFile("http://r/v1/files/acme/ab", "t", blob);
  p3.abort();
  await assert.rejects(p3.promise, (e) => e.code === "aborted");
});
