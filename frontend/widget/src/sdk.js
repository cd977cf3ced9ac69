import { uuidv7 } from "./uuid.js";
import { WidgetError, CommandQueue } from "./queue.js";
import { Model } from "./model.js";
import { Store } from "./store.js";
import { Client } from "./client.js";
import { UI } from "./ui.js";

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
    this.openedOnce = false;
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
    let auth = { kind: "visitor" };
    if (o.contactId !== undefined && o.contactId !== null && o.contactId !== "") {
      if (typeof o.hash !== "string" || o.hash === "") {
        throw new WidgetError(
          "invalid_options",
          "Threadline.start: an identified contact needs its hash: hex(HMAC-SHA256(workspace identity secret, contactId)), computed by your backend",
        );
      }
      auth = { kind: "contact", contactId: String(o.contactId), hash: o.hash };
      if (o.name) auth.name = String(o.name);
      if (o.email) auth.email = String(o.email);
    }
    this.starting = true;
    try {
      this.options = o;
      const identity = await this.boot(workspace, auth, o);
      this.started = true;
      this.queue.open();
      if (o.open) this.open();
      return { identity, device: this.client.device, workspace };
    } catch (err) {
      const e = err instanceof WidgetError ? err : new WidgetError("error", String(err && err.message ? err.message : err));
      this.emit("error", { code: e.code, message: e.message });
      throw e;
    } finally {
      this.starting = false;
    }
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

  async boot(workspace, auth, o) {
    if (this.client) this.client.stop();
    const ik = auth.kind === "contact" ? `contact:${auth.contactId}` : "visitor";
    const model = new Model();
    const store = new Store(workspace, ik);
    this.model = model;
    this.client = new Client({
      url: this.relayUrl(o),
      workspace,
      auth,
      store,
      model,
      protocol: this.p,
      log: this.log,
      onChange: () => this.changed(),
      onState: (s, err) => {
        if (this.ui) this.ui.setStatus(s, err);
        this.emit("status:changed", { state: s, error: err ? { code: err.code, message: err.message } : null });
      },
      onNotify: (n) => this.emit(n.name, n.detail),
      onTyping: (f) => this.typingFrame(f),
    });
    await this.client.init();
    this.mountUI(o);
    this.watchNetwork();
    this.client.connect();
    try {
      return await this.client.ready;
    } catch (err) {
      if (this.ui) this.ui.showError(err);
      throw err;
    }
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
        open: () => (this.started ? this.open() : this.ui.setOpen(true)),
        close: () => (this.started ? this.close() : this.ui.setOpen(false)),
        send: (text) => this.sendText(text).catch((err) => this.report(err)),
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
    if (!this.ui || !this.ui.isOpen() || !this.started) return;
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
    this.openedOnce = true;
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

  checkText(text) {
    if (typeof text !== "string" || text.trim() === "") throw new WidgetError("invalid", "Threadline: a message needs some text");
    if (utf8Bytes(text) > this.p.maxTextBytes) throw new WidgetError("too_large", `Threadline: a message is at most ${this.p.maxTextBytes} bytes of UTF-8`);
  }

  // sendText sends a message the user typed; if the relay rejects it, it
  // stays in the timeline as failed, to retry or discard.
  async sendText(text) {
    this.checkText(text);
    const { conv, first } = this.conversationFor();
    const [res] = (await this.make([...first, { kind: "message.sent", conv, data: { text } }], true)).slice(-1);
    return { conversationId: conv, id: res.id, seq: res.seq };
  }

  async retry(id) {
    const rec = this.client.outbox.find((r) => r.id === id && r.state === "failed");
    if (!rec) return;
    await this.client.discard(id);
    // A retry is a new event (new id, new mid): the relay answers a resent mid
    // as it did the first time.
    await this.make([{ kind: rec.event.kind, conv: rec.event.conv, data: rec.event.data }], true);
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
        o.email = String(args[0] || "");
        break;
      case "user:nickname":
      case "user:name":
        o.name = String(args[0] || "");
        break;
      default:
        throw new WidgetError("bad_command", `Threadline: unknown setting ${JSON.stringify(name)}; use user:id, user:email or user:nickname`);
    }
    this.identityOpts = o;
    if (this.started && name === "user:id") {
      // Identify now: a new session as the contact, carrying the visitor
      // token so the visitor's conversations move with it. What the visitor
      // has not pushed yet gets a few seconds to go out first.
      return this.client.settled(3000).then(() => {
        this.started = false;
        return this.doStart({ ...this.options, ...o });
      });
    }
    return undefined;
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
    if (typeof topic !== "string" || topic.trim() === "") {
      throw new WidgetError("invalid", 'Threadline: message:thread:start needs a topic: ["do","message:thread:start",["Server offline (ticket #1929383)"]]');
    }
    if ([...topic.trim()].length > this.p.maxTopicChars) throw new WidgetError("too_large", `Threadline: a thread topic is at most ${this.p.maxTopicChars} characters`);
    this.requireOpened("message:thread:start");
    const { conv, first } = this.conversationFor();
    const thread = uuidv7();
    await this.make([...first, { kind: "thread.started", conv, data: { thread, topic: topic.trim() } }]);
    return { conversationId: conv, thread, topic: topic.trim() };
  }

  async threadEnd(topic) {
    if (topic !== undefined && topic !== null && typeof topic !== "string") throw new WidgetError("invalid", "Threadline: message:thread:end takes an optional topic (a string)");
    this.requireOpened("message:thread:end");
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
