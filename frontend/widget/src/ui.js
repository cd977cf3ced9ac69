// UI draws the widget: a launcher bubble with an unread badge and a panel
// with the conversation, inside a shadow root so the host page's CSS does not
// leak in (and the widget's does not leak out). It only draws and reports
// what the user did; the SDK decides.

function el(doc, tag, attrs = {}, ...kids) {
  const n = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "text") n.textContent = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of kids) if (c) n.append(c);
  return n;
}

// displayName names a participant for people: its name, else its id
// without the role prefix ("agent:ana" → "ana").
export function displayName(p) {
  if (!p) return "";
  if (p.name) return p.name;
  if (p.role === "assistant") return "Assistant";
  const i = (p.id || "").indexOf(":");
  const s = i >= 0 ? p.id.slice(i + 1) : p.id || "";
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function time(at) {
  if (!at) return "";
  try {
    return new Date(at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  } catch {
    return "";
  }
}

const CHAT_ICON =
  '<svg class="icon" aria-hidden="true" viewBox="0 0 24 24" width="28" height="28"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm3 6a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3zm5 0a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z"/></svg>';

const STATUS_TEXT = {
  offline: "Offline: your messages will be sent as soon as the chat is reachable again.",
  connecting: "Connecting…",
  syncing: "",
  online: "",
  failed: "",
};

// ERROR_TEXT says, for people, why a session was refused for good.
const ERROR_TEXT = {
  unauthorized: "This chat could not verify who you are, so it cannot send or receive messages. Please reload the page or sign in again.",
  unknown_workspace: "This chat is not set up for this website.",
  unsupported_protocol: "This chat needs a newer version of this page: please reload it.",
};

// unreadLabel is the launcher's accessible name: what it does, and how many
// messages wait.
export function launcherLabel(open, unread) {
  if (open) return "Close chat";
  if (!unread) return "Open chat";
  return `Open chat, ${unread} unread message${unread === 1 ? "" : "s"}`;
}

// ANNOUNCED is how many recent arrivals the live region keeps.
const ANNOUNCED = 3;

export class UI {
  constructor(doc, css, opts) {
    this.doc = doc;
    this.css = css;
    this.o = opts;
    this.open = false;
    this.lastCount = 0;
    this.typingOn = false;
    this.typingSent = 0;
    this.typingTimer = null;
  }

  mount() {
    const d = this.doc;
    // A tag of its own, so the page's rules for div and friends miss it.
    this.host = el(d, "threadline-widget", { id: "threadline-widget" });
    const root = this.host.attachShadow({ mode: "open" });
    const style = el(d, "style", { text: this.css });
    // The count is in the launcher's name; the badge only draws it.
    this.badge = el(d, "span", { class: "badge", hidden: true, "aria-hidden": "true" });
    this.launcher = el(
      d,
      "button",
      {
        class: "launcher",
        type: "button",
        "aria-label": launcherLabel(false, 0),
        "aria-expanded": "false",
        "aria-controls": "threadline-panel",
        onclick: () => (this.open ? this.o.close() : this.o.open()),
      },
      this.badge,
    );
    // A constant icon (no emoji: a page's fonts may not have one).
    this.launcher.insertAdjacentHTML("afterbegin", CHAT_ICON);
    if (this.o.hideLauncher) this.launcher.hidden = true;
    this.select = el(d, "select", { class: "convs", hidden: true, "aria-label": "Conversations", onchange: () => this.o.select(this.select.value) });
    this.statusLine = el(d, "div", { class: "status", role: "status" });
    this.banner = el(d, "div", { class: "banner error", role: "alert", hidden: true });
    // The timeline is redrawn whole: it is not a live region (a screen reader
    // would read the backlog again at every change). New arrivals are
    // announced by the live region below, one by one.
    this.list = el(d, "ol", { class: "timeline", "aria-label": "Messages" });
    this.live = el(d, "div", { class: "sr-only", role: "log", "aria-live": "polite", "aria-relevant": "additions" });
    this.typingLine = el(d, "div", { class: "typing", hidden: true });
    this.sendButton = el(d, "button", { class: "send", type: "submit", text: "Send" });
    this.input = el(d, "textarea", {
      class: "input",
      rows: 1,
      placeholder: "Write a message…",
      "aria-label": "Message",
      oninput: () => this.onInput(),
      onkeydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        }
      },
    });
    this.form = el(
      d,
      "form",
      {
        class: "composer",
        onsubmit: (e) => {
          e.preventDefault();
          this.submit();
        },
      },
      this.input,
      this.sendButton,
    );
    this.panel = el(
      d,
      "section",
      {
        class: "panel",
        id: "threadline-panel",
        role: "dialog",
        "aria-label": this.o.title,
        hidden: true,
        onkeydown: (e) => {
          if (e.key === "Escape" && !e.isComposing) {
            e.preventDefault();
            e.stopPropagation();
            this.o.close();
          }
        },
      },
      el(
        d,
        "header",
        {},
        el(d, "div", { class: "title", text: this.o.title }),
        this.select,
        el(d, "button", { class: "close", type: "button", "aria-label": "Close chat", text: "×", onclick: () => this.o.close() }),
      ),
      this.statusLine,
      this.banner,
      this.list,
      this.typingLine,
      this.form,
    );
    // A constructed style sheet where the browser has them: a page whose
    // Content-Security-Policy forbids inline styles still styles the widget.
    let sheet = null;
    try {
      const win = d.defaultView;
      if (win && win.CSSStyleSheet && "adoptedStyleSheets" in root) {
        sheet = new win.CSSStyleSheet();
        sheet.replaceSync(this.css);
        root.adoptedStyleSheets = [sheet];
      }
    } catch {
      sheet = null;
    }
    root.append(...(sheet ? [] : [style]), this.panel, this.launcher, this.live);
    this.root = root;
    d.body.append(this.host);
    d.addEventListener("visibilitychange", () => this.o.visible());
  }

  isOpen() {
    return this.open;
  }

  setOpen(open) {
    const focusInside = this.panel.contains(this.root.activeElement);
    this.open = open;
    this.panel.hidden = !open;
    this.launcher.setAttribute("aria-expanded", String(open));
    this.launcher.classList.toggle("opened", open);
    this.updateBadge();
    if (open) {
      this.scrollDown();
      if (!this.input.disabled) this.input.focus({ preventScroll: true });
      else this.panel.querySelector(".close").focus({ preventScroll: true });
    } else {
      this.stopTyping();
      // Closing from inside the panel (Escape, ×) gives focus back to the
      // launcher, so a keyboard user is not dropped at the page's top.
      if (focusInside && !this.launcher.hidden) this.launcher.focus({ preventScroll: true });
    }
  }

  setStatus(state, err) {
    this.host.dataset.state = state;
    // While retrying after a failure the state flips between offline and
    // connecting: keep saying "offline" until the relay answers.
    if (state === "offline") this.wasOffline = true;
    if (state === "online" || state === "syncing") this.wasOffline = false;
    this.state = state;
    const shown = state === "connecting" && this.wasOffline ? "offline" : state;
    this.statusLine.textContent = STATUS_TEXT[shown] || "";
    this.statusLine.hidden = !this.statusLine.textContent;
    this.statusLine.dataset.state = shown;
    if (state === "failed") {
      this.showError(err || { code: "error", message: "The chat is unavailable." });
      this.setComposer(false);
    } else {
      if (state === "online" || state === "syncing") this.showError(null);
      this.setComposer(true);
    }
  }

  // setComposer enables or disables writing (a session refused for good
  // cannot send anything: better said than left "Sending…" forever).
  setComposer(enabled) {
    this.input.disabled = !enabled;
    this.sendButton.disabled = !enabled;
    this.input.placeholder = enabled ? "Write a message…" : "This chat is unavailable";
  }

  showError(err) {
    if (!err) {
      this.banner.hidden = true;
      this.banner.replaceChildren();
      delete this.banner.dataset.code;
      return;
    }
    const d = this.doc;
    const code = err.code || "error";
    this.banner.hidden = false;
    this.banner.dataset.code = code;
    const text = ERROR_TEXT[code] || `The chat is unavailable: ${err.message || code}`;
    this.banner.replaceChildren(el(d, "span", { text }), el(d, "small", { class: "detail", text: ` (${code}${ERROR_TEXT[code] && err.message ? `: ${err.message}` : ""})` }));
  }

  // notice shows, for a while, why what the user did was refused (a message
  // too long): the text stays in the composer to fix.
  notice(err) {
    clearTimeout(this.noticeTimer);
    if (this.state === "failed") return; // the banner says it already
    this.showError(err);
    this.noticeTimer = setTimeout(() => {
      if (this.state !== "failed") this.showError(null);
    }, 8000);
  }

  updateBadge() {
    const n = this.unread || 0;
    this.badge.hidden = this.open || n === 0;
    this.badge.textContent = n > 99 ? "99+" : String(n);
    this.launcher.setAttribute("aria-label", launcherLabel(this.open, n));
    this.host.dataset.unread = String(n);
  }

  // announce reads out a message that has just arrived (never the backlog):
  // the live region gets it as a new line, and keeps only the last few.
  announce(m) {
    const line = el(this.doc, "p", { text: `${displayName(m.from)}: ${m.text}` });
    this.live.append(line);
    while (this.live.childElementCount > ANNOUNCED) this.live.firstElementChild.remove();
  }

  clearAnnouncements() {
    this.live.replaceChildren();
  }

  // render draws a view: {me, conversations, conv, timeline: {items,
  // seenItem}, unread, typing: [participant]}.
  render(v) {
    const d = this.doc;
    this.unread = v.unread;
    this.updateBadge();
    // conversation picker, when there is more than one
    const convs = v.conversations.slice().reverse();
    this.select.hidden = convs.length < 2;
    if (this.select.dataset.list !== convs.join(",") || this.select.value !== v.conv) {
      this.select.replaceChildren(
        ...convs.map((id, i) => el(d, "option", { value: id, text: i === 0 ? "Latest conversation" : `Earlier conversation ${convs.length - i}`, selected: id === v.conv })),
      );
      this.select.dataset.list = convs.join(",");
      this.select.value = v.conv;
    }
    this.host.dataset.conversation = v.conv || "";
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    const rows = [];
    for (const it of v.timeline.items) {
      const row = this.item(it);
      if (row) rows.push(row);
      if (it.id === v.timeline.seenItem) rows.push(el(d, "li", { class: "seen", text: "Seen" }));
    }
    if (!rows.length) rows.push(el(d, "li", { class: "empty", text: v.draft ? "Write your message below." : "Ask us anything: we usually answer within minutes." }));
    this.list.replaceChildren(...rows);
    const names = v.typing.map(displayName);
    this.typingLine.hidden = names.length === 0;
    this.typingLine.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
    if (atBottom || v.timeline.items.length !== this.lastCount) this.scrollDown();
    this.lastCount = v.timeline.items.length;
  }

  item(it) {
    const d = this.doc;
    const base = { "data-id": it.id, "data-kind": it.kind, "data-seq": it.seq || 0, "data-state": it.state };
    switch (it.kind) {
      case "message.sent": {
        const mine = it.actor.role === "contact" || it.actor.role === "visitor" || (it.actor.id === "" && it.state !== "sent");
        const meta = el(d, "div", { class: "meta" });
        if (!mine) meta.append(el(d, "span", { class: "author", text: displayName(it.actor) }));
        meta.append(el(d, "time", { text: time(it.at) }));
        if (it.state === "pending") {
          const waiting = this.state === "failed" ? "Not sent: this chat is unavailable" : this.state === "online" || this.state === "syncing" ? "Sending…" : "Waiting to send";
          meta.append(el(d, "span", { class: "pending", text: waiting }));
        }
        const li = el(d, "li", { ...base, class: `msg ${mine ? "mine" : "theirs"} ${it.state}` }, el(d, "div", { class: "bubble", text: it.text }), meta);
        if (it.state === "failed") {
          li.append(
            el(
              d,
              "div",
              { class: "failed-note", role: "alert" },
              el(d, "span", { text: `Not sent: ${it.error ? it.error.message || it.error.code : "refused"}` }),
              el(d, "button", { type: "button", class: "retry", text: "Retry", onclick: () => this.o.retry(it.id) }),
              el(d, "button", { type: "button", class: "discard", text: "Discard", onclick: () => this.o.discard(it.id) }),
            ),
          );
        }
        return li;
      }
      case "thread.started":
        if (!it.topic) return null; // a thread a message started: no label to show
        return el(d, "li", { ...base, class: "sep thread-start", "data-topic": it.topic }, el(d, "span", { text: it.topic }));
      case "thread.ended":
        if (!it.topic) return null;
        return el(d, "li", { ...base, class: "sep thread-end", "data-topic": it.topic }, el(d, "span", { text: `${it.topic}: ended` }));
      case "status.changed":
        return el(d, "li", { ...base, class: "sys", text: it.status === "resolved" ? "Conversation resolved" : "Conversation reopened" });
      case "participant.joined":
        return el(d, "li", { ...base, class: "sys", text: `${displayName(it.participant)} joined` });
      case "participant.left":
        return el(d, "li", { ...base, class: "sys", text: `${displayName(it.participant)} left` });
      case "assistant.handed_off":
        return el(d, "li", { ...base, class: "sys", text: it.participant ? `Handed over to ${displayName(it.participant)}` : "Handed over to the team" });
    }
    return null;
  }

  scrollDown() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  submit() {
    const text = this.input.value;
    if (!text.trim() || this.input.disabled) return;
    this.input.value = "";
    this.stopTyping();
    try {
      this.o.send(text);
    } catch (err) {
      // Refused before it was made (too long, a refused session): nothing
      // the user typed is lost.
      if (!this.input.value) this.input.value = text;
      this.notice(err);
    }
  }

  // onInput renews "typing" while the user types, every half of the
  // protocol's typing lapse (the relay lets it lapse after the whole: 6 s),
  // and ends it after two thirds of it without a keystroke.
  onInput() {
    const now = Date.now();
    const ttl = this.o.typingTtl;
    if (!this.typingOn || now - this.typingSent > ttl / 2) {
      this.typingOn = true;
      this.typingSent = now;
      this.o.typing(true);
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), (ttl * 2) / 3);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (this.typingOn) {
      this.typingOn = false;
      this.o.typing(false);
    }
  }
}
