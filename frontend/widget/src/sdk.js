import { uuidv7 } from "./uuid.js";
import { WidgetError, CommandQueue } from "./queue.js";
import { Model } from "./model.js";
import { Store } from "./store.js";
import { Client } from "./client.js";
import { UI } from "./ui.js";
import { checkFiles, sha256Hex, attachmentOf } from "./files.js";

// EVENTS are the names a page may listen to with Threadline.on.
export const EVENTS = new Set([
  "message:received",
  "conversation:resolved",
  "conversation:reopened",
  "thread:started",
  "thread:ended",
  "unread:changed",
  "chat:opened",
  "chat:closed",
  "status:changed",
  "error",
]);

function utf8Bytes(s) {
  return new TextEncoder().encode(s).length;
}

// LOGOUT_GRACE is how long a logout lets events already made go out first.
const LOGOUT_GRACE = 2000;

// SYNC_WAIT is how long a command that picks a conversation (send, thread
// start and end) waits for the session to catch up first, so that on a new
// device it acts on the latest conversation rather than on none.
const SYNC_WAIT = 5000;

// EMAIL is the shape the relay keeps an email of (one @ with something on
// each side, no spaces); it drops anything else, so the widget refuses it.
const EMAIL = /^[^\s@]+@[^\s@]+$/;

function settle(promise, callback) {
  if (typeof callback === "function") {
    promise.then(
      (r) => callback(r, undefined),
      (err) => callback(undefined, err),
    );
  }
  promise.catch(() => {}); // reported to the callback, or the caller's own promise
  return promise;
}

// Widget is the SDK behind window.Threadline and window.$threadline.
export class Widget {
  // env: {document, window, relayUrl (default), css, protocol
  // (WIDGET_CONFIG.protocol: sync/protocol's version, path, limits and close
  // codes), log}
  constructor(env) {
    this.env = env;
    this.p = env.protocol;
    this.log = env.log || console;
    this.listeners = new Map();
    this.queue = new CommandQueue(
      (cmd) => this.runCommand(cmd),
      (err, cmd) => this.report(err, cmd),
    );
    this.started = false;
    this.starting = false;
    this.identityOpts = {}; // set by "set user:*" before start
    this.client = null;
    this.ui = null;
    this.selected = "";
    this.draft = null; // a conversation createConversation opened without a message
    this.typingBy = new Map(); // conv -> Map(participant id -> {participant, timer})
    this.unreadCount = 0;
    this.marked = new Set();
  }

  // ——— page events ———

  on(name, fn) {
    if (!EVENTS.has(name)) throw new WidgetError("bad_event", `Threadline: unknown event ${JSON.stringify(name)}; one of ${[...EVENTS].join(", ")}`);
    if (typeof fn !== "function") throw new WidgetError("bad_event", `Threadline.on(${JSON.stringify(name)}, fn) needs a function`);
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
  }

  off(name, fn) {
    const set = this.listeners.get(name);
    if (!set) return;
    if (fn === undefined) set.clear();
    else set.delete(fn);
  }

  emit(name, detail) {
    for (const fn of [...(this.listeners.get(name) || [])]) {
      try {
        fn(detail);
      } catch (err) {
        this.log.error(`Threadline: a ${name} listener threw:`, err);
      }
    }
  }

  report(err, cmd) {
    const where = cmd ? ` (${JSON.stringify(cmd, (k, v) => (typeof v === "function" ? "[function]" : v))})` : "";
    this.log.error(`${err.message || err}${where}`);
    this.emit("error", { code: err.code || "error", message: err.message || String(err), command: cmd });
  }

  // openedOnce is whether the chat was ever opened in this browser (kept in
  // localStorage per workspace, so a reload remembers it).
  get openedOnce() {
    return !!(this.client && this.client.store.opened);
  }

  requireStarted(method) {
    if (!this.started) {
      throw new WidgetError(
        "not_started",
        `Threadline.${method}() was called before Threadline.start() finished: call it inside start's callback`,
      );
    }
  }

  // ——— Kustomer-style API ———

  start(options, callback) {
    if (typeof options === "function") [options, callback] = [{}, options];
    return settle(this.doStart(options || {}), callback);
  }

  async doStart(options) {
    if (this.started) throw new WidgetError("already_started", "Threadline.start() was already called and finished");
    if (this.starting) throw new WidgetError("already_started", "Threadline.start() is already in progress");
    // Identity and listeners pushed to $threadline before start apply now;
    // the rest waits until start has finished.
    const held = this.queue.held;
    this.queue.held = [];
    for (const h of held) {
      const early = Array.isArray(h.cmd) && (h.cmd[0] === "set" || h.cmd[0] === "on" || h.cmd[0] === "off");
      if (early) this.queue.exec(h.cmd).then(h.settle.resolve, h.settle.reject);
      else this.queue.held.push(h);
    }
    const o = { ...this.identityOpts, ...options };
    const workspace = o.workspace || o.workspaceId;
    if (typeof workspace !== "string" || workspace === "") {
      throw new WidgetError("invalid_options", 'Threadline.start({workspace: "…"}) needs the workspace id');
    }
    const auth = this.authFor(o, "start");
    let url;
    try {
      url = this.relayUrl(o);
    } catch (err) {
      throw new WidgetError("invalid_options", `Threadline.start: relayUrl ${JSON.stringify(o.relayUrl)} is not a URL`);
    }
    this.starting = true;
    try {
      this.options = o;
      const { identity, offline } = await this.boot(workspace, auth, o, url);
      this.started = true;
      this.queue.open();
      if (o.open) this.open();
      return { identity, device: this.client.device, workspace, offline };
    } catch (err) {
      const e = err instanceof WidgetError ? err : new WidgetError("error", String(err && err.message ? err.message : err));
      this.emit("error", { code: e.code, message: e.message });
      throw e;
    } finally {
      this.starting = false;
    }
  }

  // authFor builds the hello's auth from start's options (and what "set
  // user:*" said): a contact's id, hash, name and email; a visitor's name
  // (the relay would ignore an email it cannot verify). Bad values are
  // refused with invalid_options from start, invalid or too_large from set.
  authFor(o, from = "set") {
    const name = this.checkName(o.name, from);
    const email = this.checkEmail(o.email, from);
    if (o.contactId !== undefined && o.contactId !== null && o.contactId !== "") {
      if (typeof o.hash !== "string" || o.hash === "") {
        throw new WidgetError(
          "invalid_options",
          "Threadline.start: an identified contact needs its hash: hex(HMAC-SHA256(workspace identity secret, contactId)), computed by your backend",
        );
      }
      const auth = { kind: "contact", contactId: String(o.contactId), hash: o.hash };
      if (name) auth.name = name;
      if (email) auth.email = email;
      return auth;
    }
    const auth = { kind: "visitor" };
    if (name) auth.name = name;
    return auth;
  }

  checkName(v, from) {
    if (v === undefined || v === null) return "";
    if (typeof v !== "string") throw new WidgetError(from === "start" ? "invalid_options" : "invalid", "Threadline: a name is a string");
    const name = v.trim();
    if ([...name].length > this.p.maxNameChars) {
      throw new WidgetError(from === "start" ? "invalid_options" : "too_large", `Threadline: a name is at most ${this.p.maxNameChars} characters`);
    }
    return name;
  }

  checkEmail(v, from) {
    if (v === undefined || v === null) return "";
    const code = from === "start" ? "invalid_options" : "invalid";
    if (typeof v !== "string") throw new WidgetError(code, "Threadline: an email address is a string");
    const email = v.trim();
    if (email === "") return "";
    if (utf8Bytes(email) > this.p.maxEmailBytes) throw new WidgetError(from === "start" ? code : "too_large", `Threadline: an email address is at most ${this.p.maxEmailBytes} bytes`);
    if (!EMAIL.test(email)) throw new WidgetError(code, `Threadline: ${JSON.stringify(email.slice(0, 60))} is not an email address`);
    return email;
  }

  relayUrl(o) {
    let u = o.relayUrl || this.env.relayUrl;
    if (!u) {
      const base = this.env.scriptSrc || (this.env.window && this.env.window.location.href);
      u = new URL(this.p.path, base).href;
    }
    const url = new URL(u, this.env.window ? this.env.window.location.href : undefined);
    if (url.protocol === "http:") url.protocol = "ws:";
    if (url.protocol === "https:") url.protocol = "wss:";
    return url.href;
  }

  async boot(workspace, auth, o, url) {
    if (this.client) this.client.stop();
    const ik = auth.kind === "contact" ? `contact:${auth.contactId}` : "visitor";
    const model = new Model();
    const store = new Store(workspace, ik);
    if (auth.kind === "visitor") this.visitorStore = store;
    this.model = model;
    const client = new Client({
      url,
      workspace,
      auth,
      store,
      model,
      protocol: this.p,
      log: this.log,
      onChange: () => this.changed(),
      onState: (s, err) => {
        if (client !== this.client) return;
        if (this.ui) this.ui.setStatus(s, err);
        this.changed(); // pending items say whether they are being sent
        this.emit("status:changed", { state: s, error: err ? { code: err.code, message: err.message } : null });
      },
      onNotify: (n) => {
        if (n.name === "message:received" && this.ui) this.ui.announce(n.detail);
        this.emit(n.name, n.detail);
      },
      onTyping: (f) => this.typingFrame(f),
      onWelcomed: (f, identified) => {
        if (auth.kind === "contact" && identified) this.identified(workspace, client).catch((err) => this.report(err));
      },
    });
    this.client = client;
    await client.init();
    this.mountUI(o);
    this.watchNetwork();
    this.watchResets();
    client.connect();
    return await client.ready; // the failed state has shown the error already
  }

  // identified runs once a contact's session has been welcomed with this
  // browser's visitor token: the relay moved the visitor's conversations to
  // the contact, so the token is spent and the visitor's copy of them is
  // dropped (a later anonymous page starts as a new visitor instead of
  // showing conversations it may no longer write to). What the visitor had
  // not pushed yet moves to the contact's outbox, with its ids and mids.
  async identified(workspace, client) {
    client.store.visitorToken = "";
    const vs = this.visitorStore && this.visitorStore.ws === workspace ? this.visitorStore : await new Store(workspace, "visitor").open();
    const recs = await vs.outbox();
    if (recs.length) await client.adopt(recs);
    await vs.forget();
    if (this.visitorStore === vs) this.visitorStore = null;
  }

  mountUI(o) {
    if (!this.env.document) return;
    if (!this.ui) {
      this.ui = new UI(this.env.document, this.env.css || "", {
        title: o.title || "Chat with us",
        typingTtl: this.p.typingTtlMs,
        hideLauncher: !!o.hideLauncher,
        // The launcher works before start has finished (or after it
        // failed: the panel shows why); the API's open and close do not.
        open: () => {
          if (this.started) return this.open();
          if (this.client) this.client.store.opened = true;
          this.ui.setOpen(true);
        },
        close: () => (this.started ? this.close() : this.ui.setOpen(false)),
        // Checked first: what the relay could never take (too long, a
        // refused session) throws, and the UI puts the text back.
        send: (text, files = []) => {
          try {
            this.checkMessage(text, files);
            this.checkUsable();
          } catch (err) {
            this.report(err);
            throw err;
          }
          this.sendText(text, files).catch((err) => this.report(err));
        },
        limits: this.p,
        checkFiles: (count, added) => checkFiles(count, added, this.p),
        hash: (blob) => sha256Hex(blob),
        upload: (sha256, blob, onProgress) => this.client.upload(sha256, blob, onProgress),
        fileURL: (id) => this.client.fileURL(id),
        select: (id) => {
          this.selected = id;
          this.changed();
        },
        retry: (id) => this.retry(id).catch((err) => this.report(err)),
        discard: (id) => this.client.discard(id),
        typing: (on) => {
          const c = this.target();
          if (c && this.model.state(c)) this.client.typing(c, on);
        },
        visible: () => this.markSeen(),
      });
      this.ui.mount();
    }
    this.ui.setStatus(this.client.state, null);
    this.changed();
  }

  watchNetwork() {
    if (this.watching || !this.env.window) return;
    this.watching = true;
    this.env.window.addEventListener("offline", () => this.client && this.client.drop(this.p.closeCodes.reconnect, "offline"));
    this.env.window.addEventListener("online", () => {
      if (!this.client) return;
      this.client.attempt = 0;
      this.client.connect();
    });
  }

  // ——— state → page and UI ———

  me() {
    return this.client && this.client.identity ? this.client.identity.id : "";
  }

  target() {
    if (this.draft) return this.draft.conv;
    if (this.selected && this.model.exists(this.selected)) return this.selected;
    return this.model ? this.model.current() : "";
  }

  changed() {
    if (!this.model) return;
    const me = this.me();
    const unread = me ? this.model.unread(me) : 0;
    if (unread !== this.unreadCount) {
      this.unreadCount = unread;
      this.emit("unread:changed", { count: unread });
    }
    if (this.ui) {
      const conv = this.target();
      this.ui.render({
        me,
        conversations: this.model.conversations().map((c) => c.id),
        conv,
        timeline: conv ? this.model.timeline(conv) : { items: [], seenItem: "" },
        unread,
        typing: [...(this.typingBy.get(conv) || new Map()).values()].map((t) => t.participant),
        draft: !!this.draft,
      });
    }
    this.markSeen();
  }

  // markSeen marks the shown conversation seen while the panel is open and
  // the page visible (Cossistant: visitors' seen updates are automatic while
  // the widget is open).
  markSeen() {
    if (!this.ui || !this.ui.isOpen() || !this.started || this.client.state === "failed") return;
    const doc = this.env.document;
    if (doc && doc.visibilityState && doc.visibilityState !== "visible") return;
    const conv = this.target();
    const me = this.me();
    if (!conv || !me) return;
    const upTo = this.model.seenTarget(me, conv);
    const key = `${conv}/${upTo}`;
    if (!upTo || this.marked.has(key)) return;
    this.marked.add(key);
    this.client.make([{ kind: "seen.marked", conv, data: { upTo } }]).catch((err) => this.report(err));
  }

  typingFrame(f) {
    if (!f.conv || !f.participant) return;
    let m = this.typingBy.get(f.conv);
    if (!m) this.typingBy.set(f.conv, (m = new Map()));
    const old = m.get(f.participant.id);
    if (old) clearTimeout(old.timer);
    if (f.on) {
      const timer = setTimeout(() => {
        m.delete(f.participant.id);
        this.changed();
      }, this.p.typingTtlMs);
      m.set(f.participant.id, { participant: f.participant, timer });
    } else {
      m.delete(f.participant.id);
    }
    this.changed();
  }

  // ——— actions ———

  open() {
    this.requireStarted("open");
    this.client.store.opened = true;
    if (this.ui && !this.ui.isOpen()) {
      this.ui.setOpen(true);
      this.emit("chat:opened", {});
    }
    this.changed();
  }

  close() {
    this.requireStarted("close");
    if (this.ui && this.ui.isOpen()) {
      this.ui.setOpen(false);
      this.emit("chat:closed", {});
    }
  }

  // make records events and waits for all their acks. On a rejection the
  // events are dropped from the outbox (the caller receives the relay's
  // error: nothing is lost silently) unless keepFailed is set.
  async make(specs, keepFailed = false) {
    const { recs, ps } = await this.client.make(specs);
    try {
      return await Promise.all(ps);
    } catch (err) {
      if (!keepFailed) for (const r of recs) await this.client.discard(r.id);
      throw err;
    }
  }

  // conversationFor returns the conversation new events go to and the specs
  // that must come first (creating it when there is none yet).
  conversationFor() {
    const conv = this.target();
    if (this.draft) {
      const d = this.draft;
      this.draft = null;
      this.selected = d.conv;
      return { conv: d.conv, first: [{ kind: "conversation.created", conv: d.conv, data: d.data }] };
    }
    if (conv) return { conv, first: [] };
    const id = uuidv7();
    this.selected = id;
    return { conv: id, first: [{ kind: "conversation.created", conv: id, data: {} }] };
  }

  // checkUsable refuses new events when the relay refused this session for
  // good (a wrong hash): they could never be sent.
  checkUsable() {
    if (this.client && this.client.state === "failed") {
      const e = this.client.lastError;
      throw new WidgetError(e ? e.code : "unauthorized", e ? e.message : "Threadline: the relay refused this session");
    }
  }

  checkText(text) {
    if (typeof text !== "string" || text.trim() === "") throw new WidgetError("invalid", "Threadline: a message needs some text");
    if (utf8Bytes(text) > this.p.maxTextBytes) throw new WidgetError("too_large", `Threadline: a message is at most ${this.p.maxTextBytes} bytes of UTF-8`);
  }

  // sendText sends a message the user typed; if the relay rejects it, it
  // stays in the timeline as failed, to retry or discard.
  // whenSynced waits, at most SYNC_WAIT, for the session to have caught up.
  whenSynced() {
    let timer;
    return Promise.race([this.client.synced, new Promise((r) => (timer = setTimeout(r, SYNC_WAIT)))]).finally(() => clearTimeout(timer));
  }

  // checkMessage checks a message's text and files: with files, the text
  // may be empty (DESIGN §10).
  checkMessage(text, files) {
    if (!files || !files.length) return this.checkText(text);
    if (typeof text !== "string") throw new WidgetError("invalid", "Threadline: a message's text is a string");
    if (text.trim() !== "") this.checkText(text);
    if (files.length > this.p.maxFiles) throw new WidgetError("too_large", `Threadline: a message carries at most ${this.p.maxFiles} files`);
    for (const f of files) {
      if (!/^[0-9a-f]{64}$/.test(f.sha256 || "")) throw new WidgetError("invalid", "Threadline: a file needs its SHA-256");
      if (f.size > this.p.maxFileBytes) throw new WidgetError("too_large", `Threadline: ${f.name} is over ${this.p.maxFileBytes} bytes`);
    }
  }

  // sendText sends a message (files: [{sha256, name, size, type, blob,
  // uploaded}], uploaded before the message is pushed).
  async sendText(text, files = []) {
    this.checkMessage(text, files);
    this.checkUsable();
    await this.whenSynced();
    const { conv, first } = this.conversationFor();
    const data = { text };
    if (files.length) data.attachments = files.map(attachmentOf);
    const [res] = (await this.make([...first, { kind: "message.sent", conv, data, files }], true)).slice(-1);
    return { conversationId: conv, id: res.id, seq: res.seq };
  }

  async retry(id) {
    const rec = this.client.outbox.find((r) => r.id === id && r.state === "failed");
    if (!rec) return;
    await this.client.discard(id);
    // A retry is a new event (new id, new mid): the relay answers a resent mid
    // as it did the first time.
    await this.make([{ kind: rec.event.kind, conv: rec.event.conv, data: rec.event.data, files: rec.files }], true);
  }

  createConversation(options, callback) {
    if (typeof options === "function") [options, callback] = [{}, options];
    let p;
    try {
      this.requireStarted("createConversation");
      p = this.doCreate(options || {});
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch((err) => this.report(err));
    return settle(p, callback);
  }

  async doCreate(o) {
    const { message, assistantId, customAttributes } = o;
    this.checkUsable();
    if (message !== undefined && message !== null && message !== "") this.checkText(message);
    if (assistantId !== undefined && assistantId !== null && typeof assistantId !== "string") {
      throw new WidgetError("invalid", "Threadline.createConversation: assistantId is a string");
    }
    if (customAttributes !== undefined && (customAttributes === null || typeof customAttributes !== "object" || Array.isArray(customAttributes))) {
      throw new WidgetError("invalid", "Threadline.createConversation: customAttributes is an object of {key: value}");
    }
    const conv = uuidv7();
    const data = {};
    if (assistantId) data.assistantId = assistantId;
    if (customAttributes && Object.keys(customAttributes).length) data.attributes = customAttributes;
    const response = { conversationId: conv, createdAt: null, ended: false, isInAssistantMode: !!assistantId };
    this.draft = null;
    if (!message) {
      // Kustomer: without a message the customer is taken to a new
      // conversation that is created once they send something.
      this.draft = { conv, data };
      this.open();
      return response;
    }
    this.selected = conv;
    this.open();
    const specs = [
      { kind: "conversation.created", conv, data },
      { kind: "message.sent", conv, data: { text: message } },
    ];
    const { recs, ps } = await this.client.make(specs);
    try {
      await Promise.all(ps);
    } catch (err) {
      for (const r of recs) await this.client.discard(r.id);
      if (this.selected === conv) this.selected = "";
      this.changed();
      throw err;
    }
    response.createdAt = new Date(recs[0].event.at).toISOString();
    const st = this.model.state(conv);
    if (st) {
      response.ended = st.status === "resolved";
      response.isInAssistantMode = st.assistantMode;
    }
    return response;
  }

  // ——— Crisp-style commands ———

  push(...cmds) {
    return this.queue.push(...cmds);
  }

  runCommand({ verb, name, args }) {
    switch (verb) {
      case "on":
        this.on(name, typeof args === "function" ? args : args[0]);
        return undefined;
      case "off":
        this.off(name, typeof args === "function" ? args : args[0]);
        return undefined;
      case "set":
        return this.set(name, args);
      case "get":
        return this.get(name);
      case "do":
        return this.do(name, args);
    }
  }

  set(name, args) {
    const o = { ...this.identityOpts };
    switch (name) {
      case "user:id":
        if (args[0] === undefined || args[0] === null || args[0] === "") throw new WidgetError("invalid", 'Threadline: ["set","user:id",[contactId, hash]] needs the contact id');
        if (typeof args[1] !== "string" || args[1] === "") {
          throw new WidgetError("invalid", 'Threadline: ["set","user:id",[contactId, hash]] needs the hash your backend computed');
        }
        o.contactId = String(args[0]);
        o.hash = args[1];
        break;
      case "user:email":
        o.email = this.checkEmail(args[0], "set");
        break;
      case "user:nickname":
      case "user:name":
        o.name = this.checkName(args[0], "set");
        break;
      default:
        throw new WidgetError("bad_command", `Threadline: unknown setting ${JSON.stringify(name)}; use user:id, user:email or user:nickname`);
    }
    this.identityOpts = o;
    if (!this.started) return undefined;
    if (name === "user:id") {
      // Identify now: a new session as the contact, carrying the visitor
      // token so the visitor's conversations move with it. What the visitor
      // has not pushed yet gets a few seconds to go out first (and moves to
      // the contact's outbox after that).
      return this.client.settled(3000).then(() => this.restart({ ...this.options, ...o }));
    }
    // A new name or email: the relay hears it in a new hello, now if
    // connected, else in the next one.
    this.options = { ...this.options, name: o.name, email: o.email };
    this.client.setAuth(this.authFor(this.options));
    return { name: this.options.name || "", email: this.options.email || "" };
  }

  // restart starts over with new options (a visitor identifying, a logout):
  // commands pushed meanwhile wait for it, as they waited for start.
  restart(o) {
    this.started = false;
    this.queue.ready = false;
    return this.doStart(o);
  }

  // logout ends the session (Crisp's session:reset): events already made get
  // LOGOUT_GRACE to go out, then everything this browser keeps for the
  // workspace (device id, mids, tokens, cursors, the outbox, the canonical
  // events, "opened") is wiped, the panel closes and a new anonymous visitor
  // starts on a new device. Other tabs of the workspace follow. It resolves
  // as start does: {identity, device, workspace, offline}.
  async logout() {
    if (!this.client || this.starting) {
      throw new WidgetError("not_started", "Threadline.logout() was called before Threadline.start() finished: call it inside start's callback");
    }
    const c = this.client;
    const workspace = c.workspace;
    this.started = false;
    this.queue.ready = false;
    if (c.state === "online" || c.state === "syncing") await c.settled(LOGOUT_GRACE);
    c.stop();
    await c.store.wipe();
    this.visitorStore = null;
    this.resetView();
    const o = { ...this.options, open: false };
    for (const k of ["contactId", "hash", "name", "email"]) delete o[k];
    this.identityOpts = {};
    const res = await this.doStart(o);
    // Tell the workspace's other tabs (they get a storage event).
    try {
      this.env.window.localStorage.setItem(`threadline:${workspace}:reset`, `${Date.now()}:${res.device}`);
    } catch {
      /* no localStorage: no other tab shares this one's data */
    }
    return res;
  }

  // watchResets makes this tab follow a logout made in another tab of the
  // same browser: it drops what it shows and starts as the new visitor
  // (whose device id and token the other tab has just stored).
  watchResets() {
    const win = this.env.window;
    if (this.watchingResets || !win || !win.addEventListener) return;
    this.watchingResets = true;
    win.addEventListener("storage", (e) => {
      if (!this.client || e.key !== `threadline:${this.client.workspace}:reset` || !e.newValue || !this.started) return;
      const c = this.client;
      this.started = false;
      this.queue.ready = false;
      c.stop();
      const cleanup = c.auth.kind === "contact" ? c.store.forget() : Promise.resolve();
      cleanup
        .then(() => {
          this.resetView();
          const o = { ...this.options, open: false };
          for (const k of ["contactId", "hash", "name", "email"]) delete o[k];
          this.identityOpts = {};
          return this.doStart(o);
        })
        .catch((err) => this.report(err));
    });
  }

  // resetView forgets what the panel showed of the session that ended.
  resetView() {
    for (const m of this.typingBy.values()) for (const t of m.values()) clearTimeout(t.timer);
    this.typingBy.clear();
    this.draft = null;
    this.selected = "";
    this.marked.clear();
    if (this.ui) {
      if (this.ui.isOpen()) {
        this.ui.setOpen(false);
        this.emit("chat:closed", {});
      }
      this.ui.clearAnnouncements();
    }
  }

  get(name) {
    switch (name) {
      case "chat:opened":
        return !!(this.ui && this.ui.isOpen());
      case "message:unread:count":
        return this.unreadCount;
      case "session:identity":
        return this.client && this.client.identity;
    }
    throw new WidgetError("bad_command", `Threadline: unknown value ${JSON.stringify(name)}`);
  }

  do(name, args) {
    if (name === "session:reset") return this.logout();
    this.requireStarted(`push(["do","${name}"])`);
    switch (name) {
      case "chat:open":
        return this.open();
      case "chat:close":
        return this.close();
      case "chat:toggle":
        return this.ui && this.ui.isOpen() ? this.close() : this.open();
      case "message:send": {
        const text = args.length === 2 && args[0] === "text" ? args[1] : args[0];
        return this.sendText(text);
      }
      case "message:thread:start":
        return this.threadStart(args[0]);
      case "message:thread:end":
        return this.threadEnd(args[0]);
    }
    throw new WidgetError("bad_command", `Threadline: unknown action ${JSON.stringify(name)}`);
  }

  requireOpened(name) {
    if (!this.openedOnce) {
      throw new WidgetError(
        "chat_not_opened",
        `Threadline: ${name} needs the chat to have been opened at least once: push ["do","chat:open"] first`,
      );
    }
  }

  async threadStart(topic) {
    this.checkUsable();
    if (typeof topic !== "string" || topic.trim() === "") {
      throw new WidgetError("invalid", 'Threadline: message:thread:start needs a topic: ["do","message:thread:start",["Server offline (ticket #1929383)"]]');
    }
    if ([...topic.trim()].length > this.p.maxTopicChars) throw new WidgetError("too_large", `Threadline: a thread topic is at most ${this.p.maxTopicChars} characters`);
    this.requireOpened("message:thread:start");
    await this.whenSynced();
    const { conv, first } = this.conversationFor();
    const thread = uuidv7();
    await this.make([...first, { kind: "thread.started", conv, data: { thread, topic: topic.trim() } }]);
    return { conversationId: conv, thread, topic: topic.trim() };
  }

  async threadEnd(topic) {
    if (topic !== undefined && topic !== null && typeof topic !== "string") throw new WidgetError("invalid", "Threadline: message:thread:end takes an optional topic (a string)");
    this.requireOpened("message:thread:end");
    this.checkUsable();
    await this.whenSynced();
    const conv = this.draft ? "" : this.target();
    if (!conv || !this.model.exists(conv)) return { conversationId: "", ended: false };
    const data = topic ? { topic: topic.trim() } : {};
    const [res] = await this.make([{ kind: "thread.ended", conv, data }]);
    return { conversationId: conv, ended: res.seq > 0 };
  }

  // api is the object the page sees as window.Threadline.
  api() {
    const w = this;
    const guard = (name, fn) =>
      function (...args) {
        const cb = typeof args[args.length - 1] === "function" ? args[args.length - 1] : undefined;
        try {
          w.requireStarted(name);
        } catch (err) {
          w.report(err);
          if (cb) {
            cb(undefined, err);
            return undefined;
          }
          throw err;
        }
        return fn(...args);
      };
    return Object.freeze({
      version: 1,
      start: (options, callback) => w.start(options, callback),
      createConversation: (options, callback) => w.createConversation(options, callback),
      logout: (callback) => {
        const p = w.logout();
        p.catch((err) => w.report(err));
        return settle(p, callback);
      },
      on: (name, fn) => w.on(name, fn),
      off: (name, fn) => w.off(name, fn),
      open: guard("open", () => w.open()),
      close: guard("close", () => w.close()),
      push: (...cmds) => w.push(...cmds),
      isStarted: () => w.started,
      status: () => ({ state: w.client ? w.client.state : "offline", identity: w.client ? w.client.identity : null, unread: w.unreadCount }),
    });
  }
}
