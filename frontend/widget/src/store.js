// Store keeps what the widget must not lose, per workspace and identity:
// in localStorage the device id, the mid counter, the cursor, the visitor
// token, the last identity and whether the chat was ever opened in this
// browser; in IndexedDB the outbox (every pending event with its mid, until
// the relay has answered for it) and the canonical events received so far
// (the cursor only means something next to them). Without IndexedDB (some
// private modes) it keeps both in memory. wipe forgets all of it (a logout).

const DB_NAME = "threadline-widget";
const DB_VERSION = 1;

function lsGet(k) {
  try {
    return globalThis.localStorage.getItem(k);
  } catch {
    return null;
  }
}

function lsSet(k, v) {
  try {
    if (v === null || v === undefined) globalThis.localStorage.removeItem(k);
    else globalThis.localStorage.setItem(k, v);
  } catch {
    /* storage full or denied: the session still works, it just forgets */
  }
}

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
  });
}

let dbPromise = null;

function openDB() {
  if (dbPromise) return dbPromise;
  dbPromise = new Promise((resolve) => {
    let r;
    try {
      r = globalThis.indexedDB.open(DB_NAME, DB_VERSION);
    } catch {
      resolve(null);
      return;
    }
    r.onupgradeneeded = () => {
      const db = r.result;
      const outbox = db.createObjectStore("outbox", { keyPath: "id" });
      outbox.createIndex("key", "key");
      db.createObjectStore("events", { keyPath: ["key", "seq"] });
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => resolve(null);
    r.onblocked = () => resolve(null);
  });
  return dbPromise;
}

export class Store {
  // workspace names the workspace; identityKey the identity within it
  // ("contact:<id>" or "visitor").
  constructor(workspace, identityKey) {
    this.ws = workspace;
    this.ik = identityKey;
    this.key = `${workspace}|${identityKey}`;
    this.prefix = `threadline:${workspace}:`;
    this.db = null;
    this.mem = null; // {outbox: Map, events: []} without IndexedDB
  }

  async open() {
    this.db = await openDB();
    if (!this.db) this.mem = { outbox: new Map(), events: [] };
    return this;
  }

  // deviceId is this browser's device id for the workspace, made once.
  deviceId(make) {
    const k = this.prefix + "device";
    let id = lsGet(k);
    if (!id) {
      id = make();
      lsSet(k, id);
    }
    return id;
  }

  // nextMid hands out the device's next mid: 1, 2, 3, … never reused.
  // Without localStorage the counter lives in memory: the device id does
  // too, so a reloaded page is a new device whose mids start again at 1.
  nextMid(device) {
    const k = this.prefix + "mid:" + device;
    const n = Math.max(parseInt(lsGet(k) || "0", 10) || 0, this.lastMid || 0) + 1;
    this.lastMid = n;
    lsSet(k, String(n));
    return n;
  }

  // bumpMid makes sure the next mid is above n (the relay's lastMid: a
  // device whose storage was cleared must not reuse mids the relay has seen).
  bumpMid(device, n) {
    const k = this.prefix + "mid:" + device;
    if ((parseInt(lsGet(k) || "0", 10) || 0) < n) lsSet(k, String(n));
    this.lastMid = Math.max(this.lastMid || 0, n);
  }

  get visitorToken() {
    return lsGet(this.prefix + "visitorToken") || "";
  }

  set visitorToken(t) {
    lsSet(this.prefix + "visitorToken", t || null);
  }

  get cursor() {
    try {
      const c = JSON.parse(lsGet(this.prefix + "cursor:" + this.ik) || "null");
      if (c && typeof c.epoch === "string" && Number.isSafeInteger(c.seq)) return c;
    } catch {
      /* a damaged cursor is no cursor */
    }
    return { epoch: "", seq: 0 };
  }

  set cursor(c) {
    lsSet(this.prefix + "cursor:" + this.ik, JSON.stringify({ epoch: c.epoch, seq: c.seq }));
  }

  get identity() {
    try {
      return JSON.parse(lsGet(this.prefix + "identity:" + this.ik) || "null");
    } catch {
      return null;
    }
  }

  set identity(p) {
    lsSet(this.prefix + "identity:" + this.ik, p ? JSON.stringify(p) : null);
  }

  // opened is whether the chat has been opened at least once in this
  // browser, for this workspace (thread commands need it), across reloads.
  get opened() {
    return lsGet(this.prefix + "opened") === "1";
  }

  set opened(v) {
    lsSet(this.prefix + "opened", v ? "1" : null);
  }

  // forget drops what this identity keeps besides its outbox: its canonical
  // events, cursor and last identity (a visitor that has become a contact:
  // its conversations are the contact's now, and its token is spent).
  async forget() {
    if (this.mem) {
      this.mem.events = [];
    } else {
      const tx = this.db.transaction("events", "readwrite");
      tx.objectStore("events").delete(IDBKeyRange.bound([this.key, 0], [this.key, Number.MAX_SAFE_INTEGER]));
      await done(tx);
    }
    lsSet(this.prefix + "cursor:" + this.ik, null);
    lsSet(this.prefix + "identity:" + this.ik, null);
  }

  // wipe forgets everything the widget keeps for this workspace in this
  // browser, whatever the identity: every localStorage key of the workspace
  // (device id, mid counters, visitor token, cursors, identities, "opened")
  // and, in IndexedDB, every outbox record and canonical event of the
  // workspace. The next session is a new device and a new visitor.
  async wipe() {
    try {
      const ls = globalThis.localStorage;
      const keys = [];
      for (let i = 0; i < ls.length; i++) {
        const k = ls.key(i);
        if (k && k.startsWith(this.prefix)) keys.push(k);
      }
      for (const k of keys) ls.removeItem(k);
    } catch {
      /* no localStorage: nothing kept there */
    }
    this.lastMid = 0;
    if (this.mem) {
      this.mem = { outbox: new Map(), events: [] };
      return;
    }
    const lo = `${this.ws}|`;
    const hi = `${this.ws}|\uffff`;
    const tx = this.db.transaction(["events", "outbox"], "readwrite");
    tx.objectStore("events").delete(IDBKeyRange.bound([lo], [hi]));
    const ob = tx.objectStore("outbox");
    const r = ob.index("key").openKeyCursor(IDBKeyRange.bound(lo, hi));
    r.onsuccess = () => {
      const c = r.result;
      if (!c) return;
      ob.delete(c.primaryKey);
      c.continue();
    };
    await done(tx);
  }

  // events returns the stored canonical events, seq ascending.
  async events() {
    if (this.mem) return [...this.mem.events];
    const tx = this.db.transaction("events", "readonly");
    const range = IDBKeyRange.bound([this.key, 0], [this.key, Number.MAX_SAFE_INTEGER]);
    const rows = await req(tx.objectStore("events").getAll(range));
    return rows.map((r) => r.event);
  }

  // appendEvents stores canonical events and, once they are durable, the
  // cursor; the pending events they settle leave the outbox in the same
  // transaction.
  async appendEvents(events, cursor) {
    const ids = events.map((e) => e.id);
    if (this.mem) {
      this.mem.events.push(...events);
      for (const id of ids) this.mem.outbox.delete(id);
    } else if (events.length) {
      const tx = this.db.transaction(["events", "outbox"], "readwrite");
      const es = tx.objectStore("events");
      const ob = tx.objectStore("outbox");
      for (const e of events) es.put({ key: this.key, seq: e.seq, event: e });
      for (const id of ids) ob.delete(id);
      await done(tx);
    }
    this.cursor = cursor;
  }

  // clearEvents drops the canonical events (the relay's log changed epoch).
  async clearEvents(epoch) {
    if (this.mem) {
      this.mem.events = [];
    } else {
      const tx = this.db.transaction("events", "readwrite");
      tx.objectStore("events").delete(IDBKeyRange.bound([this.key, 0], [this.key, Number.MAX_SAFE_INTEGER]));
      await done(tx);
    }
    this.cursor = { epoch, seq: 0 };
  }

  // outbox returns this identity's outbox records, mid ascending.
  async outbox() {
    let rows;
    if (this.mem) rows = [...this.mem.outbox.values()];
    else {
      const tx = this.db.transaction("outbox", "readonly");
      rows = await req(tx.objectStore("outbox").index("key").getAll(this.key));
    }
    return rows.sort((a, b) => a.mid - b.mid);
  }

  // putOutbox writes records ({id, mid, event, state, seq?, error?}) in one
  // transaction: either all of a group of events is kept, or none.
  async putOutbox(records) {
    if (this.mem) {
      for (const r of records) this.mem.outbox.set(r.id, { ...r, key: this.key });
      return;
    }
    const tx = this.db.transaction("outbox", "readwrite");
    const ob = tx.objectStore("outbox");
    for (const r of records) ob.put({ ...r, key: this.key });
    await done(tx);
  }

  async deleteOutbox(ids) {
    if (!ids.length) return;
    if (this.mem) {
      for (const id of ids) this.mem.outbox.delete(id);
      return;
    }
    const tx = this.db.transaction("outbox", "readwrite");
    const ob = tx.objectStore("outbox");
    for (const id of ids) ob.delete(id);
    await done(tx);
  }
}
