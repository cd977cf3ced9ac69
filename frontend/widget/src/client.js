import { uuidv7 } from "./uuid.js";
import { backoffDelay } from "./backoff.js";
import { WidgetError } from "./queue.js";
import { filesBase, fileURL, putFile, pushOrder, PERMANENT } from "./files.js";
import { settlePending } from "./model.js";

// The protocol's version, limits and close codes are not written here: the
// relay writes them from sync/protocol's constants into widget.js
// (WIDGET_CONFIG.protocol, see sync/widget/protocol.go) and the SDK hands them
// to the Client; the unit tests read the same values from unit/protocol.json.

// retryable mirrors protocol.Retryable: the close codes in the range
// p.noRetry mean "do not retry as is"; every other one, "reconnect".
export function retryable(p, code) {
  return code < p.noRetry[0] || code > p.noRetry[1];
}

// CONNECT_TIMEOUT is how long a connection may take to be welcomed before
// the client gives it up and tries again (a relay that accepts the socket but
// never answers): the widget's own choice, not a protocol limit.
export const CONNECT_TIMEOUT = 10000;

const utf8 = new TextEncoder();

// PUSH_ENVELOPE is the size of a push frame around its events, {"type":"push","events":[…]}.
const PUSH_ENVELOPE = utf8.encode(JSON.stringify({ type: "push", events: [] })).length;

// REFUSED_PUSH are the non-fatal errors that refuse a whole push in place of
// its ack (DESIGN §5): nothing of it was logged.
const REFUSED_PUSH = new Set(["too_many", "rate_limited", "bad_frame", "too_large", "unavailable"]);

// Client speaks sync protocol v1 for one identity of one workspace: hello
// with the cursor, canonical events into the store and the model, the outbox
// pushed in mid order with one push in flight, acks, typing, and reconnects
// with capped, jittered backoff that resume from the cursor.
//
// ready always settles: with {identity, offline: false} at the first
// welcome; with {identity, offline: true} when the first connection fails or
// is not welcomed within connectTimeout (identity: the one this device last
// had, a contact's own id, or null for a visitor the relay has not named
// yet): events made from then on wait in the outbox; or it rejects when the
// relay refuses the session for good (a wrong hash: unauthorized).
export class Client {
  // opts: {url, workspace, auth, store, model, protocol (WIDGET_CONFIG.protocol),
  // WebSocket?, onChange?, onState?, onNotify?, onTyping?, onWelcomed?, log?, random?,
  // connectTimeout?}
  constructor(opts) {
    if (!opts || !opts.protocol || !opts.protocol.version || !Array.isArray(opts.protocol.noRetry)) {
      throw new Error("Threadline: the Client needs the protocol's limits and codes (WIDGET_CONFIG.protocol)");
    }
    Object.assign(this, {
      onChange: () => {},
      onState: () => {},
      onNotify: () => {},
      onTyping: () => {},
      onWelcomed: () => {},
      log: console,
      random: Math.random,
      WebSocket: globalThis.WebSocket,
      connectTimeout: CONNECT_TIMEOUT,
    });
    Object.assign(this, opts);
    this.p = opts.protocol;
    this.state = "offline";
    this.ws = null;
    this.inflight = null; // ids of the push awaiting its ack
    this.outbox = []; // outbox records, mirror of the store's
    this.waiters = new Map(); // event id -> {resolve, reject}
    this.uploads = new Map(); // sha256 -> {promise, abort, listeners}: one PUT in flight per file
    this.uploading = null; // the outbox record whose files are being uploaded
    this.fileToken = "";
    this.attempt = 0;
    this.timer = null;
    this.frames = Promise.resolve(); // frames are handled one at a time, in order
    this.makes = Promise.resolve(); // events are made one at a time, in mid order
    this.welcomed = false;
    this.stopped = false;
    this.lastError = null;
    this.identity = null;
    this.ready = new Promise((resolve, reject) => (this.readyHooks = { resolve, reject }));
    this.ready.catch(() => {});
    // synced resolves once this session first caught up with the relay, or
    // once it is known not to (offline, refused): what is shown is then all
    // this device can know.
    this.synced = new Promise((resolve) => (this.syncedHook = resolve));
  }

  // init loads the device id, the stored canonical events and the outbox.
  async init() {
    await this.store.open();
    this.device = this.store.deviceId(uuidv7);
    this.identity = this.store.identity;
    if (!this.identity && this.auth.kind === "contact") this.identity = { id: `contact:${this.auth.contactId}`, role: "contact" };
    let cursor = this.store.cursor;
    const events = await this.store.events();
    if (cursor.seq > 0 && events.length === 0) cursor = { epoch: cursor.epoch, seq: 0 };
    this.cursor = cursor;
    for (const e of events) this.model.applyCanonical(e);
    const stale = [];
    this.outbox = (await this.store.outbox()).filter((r) => {
      const settled = this.model.has(r.id) || (r.state === "acked" && r.seq <= cursor.seq);
      if (settled) stale.push(r.id);
      return !settled;
    });
    await this.store.deleteOutbox(stale);
    this.model.setPending(this.outbox);
    this.onChange();
    return this;
  }

  setState(s, err) {
    this.state = s;
    if (err !== undefined) this.lastError = err;
    this.onState(s, this.lastError);
  }

  // connect opens a session now (cancelling a scheduled retry).
  connect() {
    if (this.stopped || this.state === "failed") return;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) return;
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch (err) {
      this.log.error("Threadline: cannot open the relay connection:", err);
      this.unreachable(`Threadline: cannot open a connection to ${this.url}: ${err && err.message ? err.message : err}`);
      this.retry();
      return;
    }
    this.ws = ws;
    this.fatal = null;
    this.setState("connecting");
    // A relay that takes the connection but never welcomes it is as
    // unreachable as one that refuses it.
    clearTimeout(this.helloTimer);
    this.helloTimer = setTimeout(() => {
      if (ws !== this.ws || this.welcomed) return;
      this.unreachable(`Threadline: the relay at ${this.url} did not answer within ${Math.round(this.connectTimeout / 1000)} s`);
      this.drop(this.p.closeCodes.reconnect, "no welcome");
    }, this.connectTimeout);
    ws.onopen = () => {
      if (ws !== this.ws) return;
      const auth = { ...this.auth };
      const vt = this.store.visitorToken;
      if (vt) auth.visitorToken = vt;
      this.sentVisitorToken = !!vt;
      this.send({
        type: "hello",
        protocol: this.p.version,
        workspace: this.workspace,
        device: this.device,
        cursor: { epoch: this.cursor.epoch, seq: this.cursor.seq },
        auth,
      });
    };
    ws.onmessage = (m) => {
      if (ws !== this.ws) return;
      let f;
      try {
        f = JSON.parse(m.data);
      } catch {
        this.log.error("Threadline: the relay sent a frame that is not JSON");
        return;
      }
      this.frames = this.frames
        .then(() => (ws === this.ws ? this.onFrame(f) : undefined))
        .catch((err) => {
          this.log.error("Threadline: handling a relay frame failed:", err);
          this.drop(this.p.closeCodes.reconnect, "client error");
        });
    };
    ws.onerror = () => {}; // a close event follows
    ws.onclose = (ev) => {
      if (ws !== this.ws) return;
      this.frames = this.frames.then(() => this.onClose(ev.code, ev.reason));
    };
  }

  // drop abandons the current connection at once (offline, a client error);
  // pending pushes are resent, with the same ids and mids, on the next one.
  drop(code = this.p.closeCodes.reconnect, reason = "") {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this.inflight = null;
    this.welcomed = false;
    try {
      ws.close(code >= 4000 && code < 5000 ? code : 1000, reason);
    } catch {
      /* already closing */
    }
    if (!this.stopped && this.state !== "failed") {
      this.setState("offline");
      this.retry();
    }
  }

  // unreachable records why the relay could not be reached and, on the first
  // attempt, lets ready settle offline.
  unreachable(message) {
    this.lastError = new WidgetError("relay_unreachable", message);
    if (!this.welcomed) this.readyHooks.resolve({ identity: this.identity, offline: true });
    this.syncedHook();
  }

  // setAuth changes what the next hello says (a contact's name or email):
  // when a session is open or opening, it is replaced at once by one whose
  // hello carries the new auth, so the relay learns of it now. Pending
  // events are resent on the new session with their ids and mids.
  setAuth(auth) {
    if (JSON.stringify(auth) === JSON.stringify(this.auth)) return; // nothing new to say
    this.auth = auth;
    if (this.stopped || this.state === "failed" || !this.ws) return;
    const ws = this.ws;
    this.ws = null;
    this.inflight = null;
    this.welcomed = false;
    clearTimeout(this.helloTimer);
    try {
      ws.close(this.p.closeCodes.reconnect, "new hello");
    } catch {
      /* already closing */
    }
    this.attempt = 0;
    this.connect();
  }

  // stop closes the session for good.
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.helloTimer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, "bye");
  }

  retry() {
    if (this.stopped || this.timer) return;
    if (globalThis.navigator && globalThis.navigator.onLine === false) return; // "online" calls connect
    const wait = backoffDelay(this.attempt++, this.random());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, wait);
  }

  onClose(code, reason) {
    clearTimeout(this.helloTimer);
    const wasWelcomed = this.welcomed;
    this.ws = null;
    this.inflight = null;
    this.welcomed = false;
    if (this.stopped) return;
    const refused = !retryable(this.p, code) || (this.fatal && !retryable(this.p, this.closeCodeFor(this.fatal.code)));
    if (refused && this.sentVisitorToken && (!this.fatal || this.fatal.code === "unauthorized")) {
      // A visitor token this relay does not know (its log was replaced, or
      // the token is from another relay): forget it and say hello without
      // it, once. A contact's wrong hash is refused again, for good.
      this.store.visitorToken = "";
      this.sentVisitorToken = false;
      this.connect();
      return;
    }
    if (refused) {
      const f = this.fatal || { code: "closed", message: reason || `the relay closed the connection (${code})` };
      const err = new WidgetError(f.code, `Threadline: the relay refused this session: ${f.code}: ${f.message}`);
      this.setState("failed", err);
      this.readyHooks.reject(err);
      this.syncedHook();
      // Nothing waiting can go out on this session: say so to whoever waits
      // (the events stay in the outbox, for a page that fixes the identity).
      for (const [, w] of this.waiters) w.reject(err);
      this.waiters.clear();
      this.onChange();
      return;
    }
    if (this.fatal) this.lastError = new WidgetError(this.fatal.code, this.fatal.message);
    else if (!wasWelcomed) this.unreachable(`Threadline: cannot reach the relay at ${this.url}${reason ? `: ${reason}` : ""}`);
    else this.lastError = null;
    this.setState("offline");
    this.retry();
  }

  // closeCodeFor mirrors protocol.CloseCodeFor: the close that follows a
  // fatal error with this code.
  closeCodeFor(code) {
    return this.p.fatalCloseCodes[code] || this.p.closeCodes.reconnect;
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  async onFrame(f) {
    switch (f.type) {
      case "welcome":
        return this.onWelcome(f);
      case "events":
        return this.onEvents(f.events || []);
      case "caughtUp":
        if (f.cursor && f.cursor.epoch === this.cursor.epoch && f.cursor.seq > this.cursor.seq) {
          this.cursor = { epoch: f.cursor.epoch, seq: f.cursor.seq };
          this.store.cursor = this.cursor;
        }
        this.quiet = false;
        this.setState("online", null);
        this.syncedHook();
        this.onChange();
        return;
      case "ack":
        return this.onAck(f.results || []);
      case "typing":
        this.onTyping(f);
        return;
      case "error":
        return this.onError(f);
    }
    this.log.warn("Threadline: ignoring a frame of unknown type", f.type);
  }

  async onWelcome(f) {
    clearTimeout(this.helloTimer);
    if (this.cursor.epoch !== "" && this.cursor.epoch !== f.epoch) {
      // The relay's log was replaced: start over from its beginning, keeping
      // every pending event (acknowledged ones too: the new log may not
      // hold them).
      await this.store.clearEvents(f.epoch);
      this.model.reset();
      const again = this.outbox.filter((r) => r.state === "acked");
      for (const r of again) {
        r.state = "pending";
        delete r.seq;
      }
      await this.store.putOutbox(again);
      this.cursor = { epoch: f.epoch, seq: 0 };
    } else if (this.cursor.epoch === "") {
      this.cursor = { epoch: f.epoch, seq: this.cursor.seq };
      this.store.cursor = this.cursor;
    }
    this.identity = f.identity;
    this.store.identity = f.identity;
    this.fileToken = f.fileToken || "";
    if (f.visitorToken) this.store.visitorToken = f.visitorToken;
    this.store.bumpMid(this.device, f.lastMid || 0);
    this.welcomed = true;
    // A device's first sync replays history: the page hears about what
    // arrives from now on, not about old messages.
    this.quiet = this.cursor.seq === 0;
    this.attempt = 0;
    this.model.setPending(this.outbox);
    this.setState("syncing", null);
    this.readyHooks.resolve({ identity: f.identity, offline: false });
    this.onChange();
    this.pump();
    this.onWelcomed(f, this.sentVisitorToken);
  }

  async onEvents(events) {
    const fresh = events.filter((e) => e.seq > this.cursor.seq);
    if (!fresh.length) return;
    const upTo = fresh[fresh.length - 1].seq;
    await this.store.appendEvents(fresh, { epoch: this.cursor.epoch, seq: upTo });
    this.cursor = { epoch: this.cursor.epoch, seq: upTo };
    const notes = [];
    for (const e of fresh) notes.push(...this.model.applyCanonical(e));
    this.outbox = this.outbox.filter((r) => !this.model.has(r.id));
    this.model.setPending(this.outbox);
    this.onChange();
    if (!this.quiet) for (const n of notes) this.onNotify(n);
  }

  async onAck(results) {
    this.inflight = null;
    const drop = [];
    const keep = [];
    for (const r of results) {
      const rec = this.outbox.find((x) => x.id === r.id);
      const w = this.waiters.get(r.id);
      this.waiters.delete(r.id);
      if (rec) {
        // conv.Settle's rule (settle.json's vectors); a copy already in the model counts as applied.
        const applied = this.model.has(r.id) ? Math.max(this.cursor.seq, r.seq || 0) : this.cursor.seq;
        switch (settlePending(rec.event.kind, r, applied)) {
          case "drop":
            drop.push(rec.id);
            break;
          case "failed":
            rec.state = "failed";
            rec.error = r.error;
            keep.push(rec);
            break;
          default:
            rec.state = "acked";
            rec.seq = r.seq;
            keep.push(rec);
        }
      }
      if (r.error) {
        if (w) w.reject(new WidgetError(r.error.code, r.error.message));
      } else if (w) w.resolve({ id: r.id, seq: r.seq });
    }
    this.outbox = this.outbox.filter((x) => !drop.includes(x.id));
    await this.store.deleteOutbox(drop);
    await this.store.putOutbox(keep);
    this.model.setPending(this.outbox);
    this.onChange();
    this.pump();
  }

  async onError(f) {
    if (f.fatal) {
      this.fatal = f; // the close follows
      this.log.error(`Threadline: ${f.code}: ${f.message}`);
      return;
    }
    if (this.inflight && REFUSED_PUSH.has(f.code)) {
      const ids = this.inflight;
      this.inflight = null;
      if (f.code === "rate_limited" || f.code === "too_many" || f.code === "unavailable") {
        setTimeout(() => this.pump(), 1000);
        return;
      }
      // bad_frame, too_large: sending the same again would fail the same way.
      const failed = this.outbox.filter((r) => ids.includes(r.id));
      for (const r of failed) {
        r.state = "failed";
        r.error = { code: f.code, message: f.message };
        const w = this.waiters.get(r.id);
        this.waiters.delete(r.id);
        if (w) w.reject(new WidgetError(f.code, f.message));
      }
      await this.store.putOutbox(failed);
      this.model.setPending(this.outbox);
      this.onChange();
      this.pump();
      return;
    }
    this.log.warn(`Threadline: the relay said ${f.code}: ${f.message}`);
  }

  // pump sends the next push: the pending events in mid order, at most
  // maxPushEvents of them in a frame of at most maxFrameBytes (UTF-8, as the
  // relay counts), one push in flight at a time. An event too large for any
  // frame fails here, with too_large: sent, it would make the relay close the
  // connection, and every reconnect would send it again.
  pump() {
    if (!this.ws || !this.welcomed || this.inflight) return;
    const batch = [];
    let bytes = PUSH_ENVELOPE;
    const tooLarge = [];
    // A message's files go up before it does, and nothing made after it is
    // pushed before it (pushOrder).
    const order = pushOrder(this.outbox);
    if (order.upload) this.uploadFor(order.upload);
    for (const r of order.push) {
      const n = utf8.encode(JSON.stringify(r.event)).length + (batch.length ? 1 : 0); // and its comma
      if (!batch.length && PUSH_ENVELOPE + n > this.p.maxFrameBytes) {
        tooLarge.push(r);
        continue;
      }
      if (batch.length >= this.p.maxPushEvents || bytes + n > this.p.maxFrameBytes) break;
      batch.push(r.event);
      bytes += n;
    }
    if (tooLarge.length) {
      this.fail(tooLarge, { code: "too_large", message: `Threadline: this event is larger than the relay's frame limit (${this.p.maxFrameBytes} bytes)` });
      this.store.putOutbox(tooLarge).catch((err) => this.log.error("Threadline: could not store a failed event:", err));
      this.model.setPending(this.outbox);
      this.onChange();
    }
    if (!batch.length) return;
    if (this.send({ type: "push", events: batch })) this.inflight = batch.map((e) => e.id);
  }

  // fail marks outbox records failed with error {code, message} and rejects
  // whoever waits for them.
  fail(records, error) {
    for (const r of records) {
      r.state = "failed";
      r.error = error;
      const w = this.waiters.get(r.id);
      this.waiters.delete(r.id);
      if (w) w.reject(new WidgetError(error.code, error.message));
    }
  }

  // make records new events (specs: [{kind, conv, data}]) in the outbox, in
  // one transaction, applies them optimistically and pushes them. It returns
  // one promise per event, settled by the relay's ack: {id, seq} or a
  // WidgetError with the relay's code.
  make(specs) {
    const run = async () => {
      const at = Date.now();
      const recs = specs.map((s) => {
        const id = s.id || uuidv7(at);
        const event = {
          id,
          seq: 0,
          conv: s.conv,
          kind: s.kind,
          actor: this.identity ? { id: this.identity.id, role: this.identity.role } : { id: "", role: this.auth.kind },
          device: this.device,
          mid: this.store.nextMid(this.device),
          at,
          base: this.cursor.seq,
          data: s.data || {},
        };
        const rec = { id, mid: event.mid, state: "pending", event };
        // files: [{sha256, name, size, type, blob, uploaded}]: the Blob
        // waits in IndexedDB with its event until the relay has the bytes.
        if (s.files && s.files.length) rec.files = s.files.map((f) => ({ ...f, blob: f.uploaded ? null : f.blob }));
        return rec;
      });
      await this.store.putOutbox(recs);
      const ps = recs.map(
        (r) =>
          new Promise((resolve, reject) => {
            this.waiters.set(r.id, { resolve, reject });
          }),
      );
      for (const p of ps) p.catch(() => {});
      this.outbox.push(...recs);
      this.model.setPending(this.outbox);
      this.onChange();
      this.pump();
      return { recs, ps };
    };
    const p = this.makes.then(run);
    this.makes = p.catch(() => {});
    return p;
  }

  // fileURL is the address of a file of this workspace, with this session's
  // fileToken (an <img> or a link cannot send a header).
  fileURL(id) {
    return fileURL(filesBase(this.url, this.p.filesPath), this.workspace, id, this.fileToken);
  }

  // upload PUTs one file (idempotent by its hash: the relay answers 200 when
  // it has it already), one PUT per file at a time however many ask for it.
  // onProgress(sent, total) hears about this upload. It returns {promise,
  // abort}; abort cancels it for everyone (the outbox starts it again when
  // a message still needs it). Without a session (offline) the promise
  // rejects with upload_failed at once.
  upload(sha256, blob, onProgress) {
    let u = this.uploads.get(sha256);
    if (!u) {
      if (!this.welcomed || !this.fileToken) {
        const promise = Promise.reject(new WidgetError("upload_failed", "Threadline: offline; the file will be sent with its message"));
        promise.catch(() => {});
        return { promise, abort: () => {} };
      }
      const listeners = new Set();
      const put = putFile(fileURL(filesBase(this.url, this.p.filesPath), this.workspace, sha256, ""), this.fileToken, blob, (sent, total) => {
        u.sent = sent;
        for (const l of listeners) l(sent, total);
      });
      u = { promise: put.promise, abort: put.abort, listeners, sent: 0 };
      this.uploads.set(sha256, u);
      put.promise.then(
        () => this.uploads.delete(sha256),
        () => this.uploads.delete(sha256),
      );
    }
    if (onProgress) u.listeners.add(onProgress);
    return { promise: u.promise, abort: u.abort };
  }

  // uploadFor uploads the files of an outbox record that are not on the
  // relay yet, in order, marks each uploaded in IndexedDB (dropping its
  // Blob), then pumps. A refusal the relay would repeat (too_large,
  // unsupported_type, invalid) fails the message; an interrupted upload is
  // tried again on the next session (or in 2 s while this one lasts).
  async uploadFor(rec) {
    if (this.uploading || !this.welcomed || !this.fileToken) return;
    this.uploading = rec;
    const ws = this.ws;
    try {
      for (const f of rec.files) {
        if (f.uploaded) continue;
        if (!f.blob) throw new WidgetError("invalid", `Threadline: the bytes of ${f.name} are no longer on this device`);
        const { promise } = this.upload(f.sha256, f.blob, (sent, total) => {
          f.progress = total ? sent / total : 0;
          this.onChange();
        });
        await promise;
        f.uploaded = true;
        f.blob = null;
        delete f.progress;
        await this.store.putOutbox([rec]);
        this.onChange();
      }
    } catch (err) {
      const code = err && err.code;
      if (PERMANENT.has(code) && this.outbox.includes(rec)) {
        this.fail([rec], { code, message: err.message });
        await this.store.putOutbox([rec]);
        this.model.setPending(this.outbox);
        this.onChange();
      } else {
        this.log.warn("Threadline: an upload did not finish; trying again:", err && err.message);
        this.uploading = null;
        setTimeout(() => {
          if (ws === this.ws) this.pump();
        }, 2000);
        return;
      }
    } finally {
      if (this.uploading === rec) this.uploading = null;
    }
    this.pump();
  }

  // adopt takes outbox records made on this device under another identity
  // (a visitor who has just identified as this contact): they keep their ids
  // and mids, move to this identity's outbox in one transaction, and go out
  // on this session (the relay counts the visitor's mids as this device's).
  async adopt(records) {
    const fresh = records.filter((r) => !this.outbox.some((x) => x.id === r.id) && !this.model.has(r.id));
    if (!fresh.length) return;
    for (const r of fresh) if (r.state === "acked") r.state = "pending";
    await this.store.putOutbox(fresh);
    this.outbox.push(...fresh);
    this.outbox.sort((a, b) => a.mid - b.mid);
    this.model.setPending(this.outbox);
    this.onChange();
    this.pump();
  }

  // discard drops a failed event from the outbox.
  async discard(id) {
    this.outbox = this.outbox.filter((r) => r.id !== id);
    await this.store.deleteOutbox([id]);
    this.model.setPending(this.outbox);
    this.onChange();
  }

  // settled resolves once no event waits to be pushed or acknowledged, or
  // after ms, whichever comes first.
  async settled(ms) {
    const until = Date.now() + ms;
    while (this.outbox.some((r) => r.state === "pending") && Date.now() < until && this.state !== "failed") {
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  typing(conv, on) {
    if (this.welcomed) this.send({ type: "typing", conv, on });
  }
}
