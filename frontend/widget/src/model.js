// Model is the widget's view of its conversations: canonical events in log
// order (what the relay sent), with the device's pending events laid on top.
// It is pure: no DOM, no storage, no clock. A contact or visitor only ever
// receives its own conversations, minus what rule 13 hides, so this is a
// small subset of backend/conv's reducer: enough to draw a timeline, thread
// separators, seen receipts and unread counts.


// The rules below are the ones every JavaScript client applies as conv does
// (backend/conv): the widget runs them, and the desktop UI imports them from
// here (frontend/src/lib/rules.ts), so there is one implementation. conv's
// tests write their vectors (backend/conv/testdata/unread.json, ids.json,
// settle.json); unit/rules.test.mjs and the desktop UI's Vitest run them.

// isEndUser reports whether a participant is the customer side.
export function isEndUser(p) {
  return !!p && (p.role === "contact" || p.role === "visitor");
}

const ID_PREFIXES = [
  ["agent:", "agent"],
  ["ai:", "assistant"],
  ["contact:", "contact"],
  ["visitor:", "visitor"],
];
const MAX_ID_BYTES = 128; // conv.MaxIDChars

// parseId mirrors conv.RoleOfID (the id scheme, DESIGN §2): the role an id's
// prefix names ("" for none) and whether the id is well-formed: a known
// prefix and at least one more character, at most 128 bytes of UTF-8, no
// control characters or spaces. "system" is the system's.
export function parseId(id) {
  if (typeof id !== "string") return { role: "", valid: false };
  if (id === "system") return { role: "system", valid: true };
  const hit = ID_PREFIXES.find(([prefix]) => id.startsWith(prefix));
  if (!hit) return { role: "", valid: false };
  const [prefix, role] = hit;
  const rest = id.slice(prefix.length);
  const valid = rest !== "" && new TextEncoder().encode(id).length <= MAX_ID_BYTES && !/[\p{Cc}\s]/u.test(rest) && id.isWellFormed?.() !== false;
  return { role, valid };
}

// roleOfId is the role a participant id's prefix names ("" for none).
export function roleOfId(id) {
  return parseId(id).role;
}

// countsAsUnread mirrors conv.CountsAsUnread (rule 8): does an event of
// kind by actor count as unread for viewer? Only a message from the other
// side: for a contact or visitor, the team's (an agent's or the bot's);
// for the team, the contact's or visitor's. Notes (a contact never
// receives them), lifecycle events and one's own side's messages never
// do.
export function countsAsUnread(viewer, kind, actor) {
  if (kind !== "message.sent" || !actor) return false;
  if (isEndUser(viewer)) return !isEndUser(actor) && actor.role !== "system";
  return isEndUser(actor);
}

// settlePending mirrors conv.Settle: what the relay's answer {seq, error} does to a
// pending event of kind on a device that applied the log up to seq applied.
// "drop": it leaves the outbox (a no-op, its canonical copy is there, or a
// refused seen mark); "sent": logged, waiting for its copy; "failed":
// refused, waiting for the user.
export function settlePending(kind, outcome, applied) {
  if (outcome.error) return kind === "seen.marked" ? "drop" : "failed";
  if (!outcome.seq || outcome.seq <= applied) return "drop";
  return "sent";
}

// isTimelineItem mirrors conv.IsTimelineItem.
export function isTimelineItem(kind) {
  return kind !== "seen.marked" && kind !== "contact.identified";
}

export class Model {
  constructor() {
    this.convs = new Map(); // id -> conversation
    this.pending = []; // outbox records, mid order
    this.canonicalIds = new Set();
  }

  // reset forgets every canonical event (an epoch change); pending stays.
  reset() {
    this.convs = new Map();
    this.canonicalIds = new Set();
  }

  // applyCanonical folds one canonical event in and returns what the page
  // should hear about it: [{name, detail}].
  applyCanonical(e) {
    if (this.canonicalIds.has(e.id)) return [];
    this.canonicalIds.add(e.id);
    const d = e.data || {};
    const out = [];
    let c = this.convs.get(e.conv);
    if (e.kind === "conversation.created") {
      if (c) return out;
      c = {
        id: e.conv,
        contact: d.contact || e.actor,
        createdSeq: e.seq,
        createdAt: e.at,
        assistantId: d.assistantId || "",
        assistantMode: !!d.assistantId,
        status: "open",
        thread: null,
        items: [],
        seen: {},
        lastItemSeq: e.seq,
      };
      this.convs.set(e.conv, c);
      return out;
    }
    if (!c) return out; // not ours, or created before what we were sent
    if (isTimelineItem(e.kind)) {
      c.lastItemSeq = Math.max(c.lastItemSeq, e.seq);
      c.items.push(itemOf(e));
    }
    switch (e.kind) {
      case "message.sent":
        if (!isEndUser(e.actor)) {
          out.push({
            name: "message:received",
            detail: { conversationId: c.id, id: e.id, text: d.text || "", from: e.actor, at: e.at, seq: e.seq },
          });
        }
        break;
      case "thread.started":
        c.thread = { id: d.thread, topic: d.topic || "" };
        out.push({ name: "thread:started", detail: { conversationId: c.id, thread: d.thread, topic: d.topic || "" } });
        break;
      case "thread.ended":
        c.thread = null;
        out.push({ name: "thread:ended", detail: { conversationId: c.id, thread: d.thread || "", topic: d.topic || "" } });
        break;
      case "status.changed":
        c.status = d.status;
        if (d.status === "resolved") {
          c.thread = null;
          out.push({ name: "conversation:resolved", detail: { conversationId: c.id } });
        } else {
          out.push({ name: "conversation:reopened", detail: { conversationId: c.id } });
        }
        break;
      case "assistant.handed_off":
        c.assistantMode = false;
        break;
      case "seen.marked":
        if ((d.upTo || 0) > (c.seen[e.actor.id] || 0)) c.seen[e.actor.id] = d.upTo;
        break;
      case "contact.identified":
        if (d.visitor && d.contact && c.contact.id === d.visitor.id) {
          c.contact = d.contact;
          const s = c.seen[d.visitor.id] || 0;
          if (s > (c.seen[d.contact.id] || 0)) c.seen[d.contact.id] = s;
        }
        break;
    }
    return out;
  }

  // setPending replaces the overlay: outbox records {event, state, error?}.
  setPending(records) {
    this.pending = records.filter((r) => !this.canonicalIds.has(r.event.id));
  }

  has(id) {
    return this.canonicalIds.has(id);
  }

  // conversations lists the conversations, canonical and pending, newest
  // activity last.
  conversations() {
    const list = [...this.convs.values()].map((c) => ({ id: c.id, pending: false, order: c.lastItemSeq, conv: c }));
    for (const r of this.pending) {
      if (r.event.kind === "conversation.created" && !this.convs.has(r.event.conv) && r.state !== "failed") {
        list.push({ id: r.event.conv, pending: true, order: Number.MAX_SAFE_INTEGER - 1e6 + (r.event.mid || 0), conv: null });
      }
    }
    for (const l of list) {
      if (l.conv && this.pending.some((r) => r.event.conv === l.id && isTimelineItem(r.event.kind))) {
        l.order = Number.MAX_SAFE_INTEGER - 1e6 + Math.max(...this.pending.filter((r) => r.event.conv === l.id).map((r) => r.event.mid || 0));
      }
    }
    list.sort((a, b) => a.order - b.order);
    return list;
  }

  // current is the conversation the widget shows by default: the one with
  // the latest activity.
  current() {
    const list = this.conversations();
    return list.length ? list[list.length - 1].id : "";
  }

  // state returns a conversation's canonical state (undefined if unknown).
  state(id) {
    return this.convs.get(id);
  }

  // exists reports whether id names a canonical or pending conversation.
  exists(id) {
    return this.convs.has(id) || this.pending.some((r) => r.event.kind === "conversation.created" && r.event.conv === id && r.state !== "failed");
  }

  // timeline is what the widget draws for conversation id: canonical items,
  // then pending ones, and where the "Seen" receipt goes.
  timeline(id) {
    const c = this.convs.get(id);
    const items = c ? c.items.map((it) => ({ ...it, state: "sent" })) : [];
    for (const r of this.pending) {
      const e = r.event;
      if (e.conv !== id || !isTimelineItem(e.kind) || e.kind === "conversation.created") continue;
      items.push({ ...itemOf(e), state: r.state === "failed" ? "failed" : "pending", error: r.error, files: r.files || null });
    }
    let seenItem = "";
    if (c) {
      const last = [...c.items].reverse().find((it) => it.kind === "message.sent" && isEndUser(it.actor));
      if (last) {
        const seenByTeam = Object.entries(c.seen).some(([who, upTo]) => who !== c.contact.id && !who.startsWith("visitor:") && !who.startsWith("contact:") && upTo >= last.seq);
        if (seenByTeam) seenItem = last.id;
      }
    }
    return { items, seenItem, status: c ? c.status : "open", thread: c ? c.thread : null };
  }

  // unread counts what is unread for me (a participant, or its id) above
  // its seen mark in conversation id, or in all conversations when id is
  // omitted: rule 8, countsAsUnread.
  unread(me, id) {
    const viewer = typeof me === "string" ? { id: me, role: roleOfId(me) } : me;
    let n = 0;
    for (const c of this.convs.values()) {
      if (id !== undefined && c.id !== id) continue;
      const seen = c.seen[viewer.id] || 0;
      for (const it of c.items) {
        if (it.seq > seen && countsAsUnread(viewer, it.kind, it.actor)) n++;
      }
    }
    return n;
  }

  // seenTarget is the seq me should mark seen in conversation id, or 0 when
  // its mark already covers everything unread there.
  seenTarget(me, id) {
    const c = this.convs.get(id);
    if (!c || this.unread(me, id) === 0) return 0;
    const pendingMark = Math.max(0, ...this.pending.filter((r) => r.event.conv === id && r.event.kind === "seen.marked" && r.state !== "failed").map((r) => r.event.data.upTo));
    if (pendingMark >= c.lastItemSeq) return 0;
    return c.lastItemSeq;
  }

  // pendingFor lists the records of conversation id still pending.
  pendingFor(id) {
    return this.pending.filter((r) => r.event.conv === id);
  }
}

function itemOf(e) {
  const d = e.data || {};
  return {
    id: e.id,
    seq: e.seq,
    kind: e.kind,
    actor: e.actor || { id: "", role: "" },
    at: e.at,
    text: d.text || "",
    attachments: Array.isArray(d.attachments) ? d.attachments : [],
    topic: d.topic || "",
    thread: d.thread || "",
    status: d.status || "",
    participant: d.participant || d.assignee || d.to || null,
  };
}

