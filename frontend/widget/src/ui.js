import { fileErrorText, formatSize, isImage } from "./files.js";

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

const CLIP_ICON =
  '<svg aria-hidden="true" viewBox="0 0 24 24" width="20" height="20"><path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9"/></svg>';

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
    this.attachments = []; // the composer's files: {key, file, name, size, type, sha256, state, progress, code, message, abort}
    this.attSeq = 0;
    this.nodes = new Map(); // an attachment's drawn thumbnail or chip, kept across redraws
    this.blobURLs = new Map(); // sha256 -> object URL of a file still on this device
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
    // Files: a button (and a hidden file input), paste of a screenshot in
    // the textarea, drag and drop on the panel.
    this.fileInput = el(d, "input", {
      type: "file",
      multiple: true,
      class: "file-input",
      hidden: true,
      tabindex: "-1",
      "aria-hidden": "true",
      onchange: () => {
        this.addFiles([...this.fileInput.files]);
        this.fileInput.value = "";
      },
    });
    this.attachButton = el(d, "button", { class: "attach", type: "button", "aria-label": "Attach files", title: "Attach files", onclick: () => this.fileInput.click() });
    this.attachButton.insertAdjacentHTML("afterbegin", CLIP_ICON);
    this.input.addEventListener("paste", (e) => {
      const files = e.clipboardData ? [...e.clipboardData.files] : [];
      if (!files.length) return;
      if (!e.clipboardData.getData("text/plain")) e.preventDefault();
      this.addFiles(files);
    });
    this.tray = el(d, "ul", { class: "tray", "aria-label": "Files to send", hidden: true });
    this.fileErrors = el(d, "div", { class: "file-errors", role: "alert", hidden: true });
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
      this.attachButton,
      this.input,
      this.sendButton,
      this.fileInput,
    );
    this.viewerImg = el(d, "img", { alt: "" });
    this.viewerLink = el(d, "a", { class: "viewer-download", text: "Download" });
    this.viewer = el(
      d,
      "div",
      { class: "viewer", role: "dialog", "aria-label": "Image", hidden: true, onclick: (e) => e.target === this.viewer && this.closeViewer() },
      el(d, "button", { type: "button", class: "viewer-close", "aria-label": "Close image", text: "×", onclick: () => this.closeViewer() }),
      this.viewerImg,
      this.viewerLink,
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
            if (!this.viewer.hidden) this.closeViewer();
            else this.o.close();
          }
        },
        ondragover: (e) => {
          if (!e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
          e.preventDefault();
          this.panel.classList.add("dragging");
        },
        ondragleave: (e) => {
          if (e.target === this.panel) this.panel.classList.remove("dragging");
        },
        ondrop: (e) => {
          this.panel.classList.remove("dragging");
          if (!e.dataTransfer || !e.dataTransfer.files.length) return;
          e.preventDefault();
          this.addFiles([...e.dataTransfer.files]);
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
      this.fileErrors,
      this.tray,
      this.form,
      this.viewer,
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
    // Files added offline go up as soon as the relay is back.
    if (state === "online") for (const a of this.attachments) if (a.state === "waiting") this.startUpload(a);
  }

  // setComposer enables or disables writing (a session refused for good
  // cannot send anything: better said than left "Sending…" forever).
  setComposer(enabled) {
    this.input.disabled = !enabled;
    this.attachButton.disabled = !enabled;
    this.sendButton.disabled = !enabled || this.attachments.some((a) => a.state === "hashing");
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
    this.usedNodes = new Set();
    for (const it of v.timeline.items) {
      const row = this.item(it);
      if (row) rows.push(row);
      if (it.id === v.timeline.seenItem) rows.push(el(d, "li", { class: "seen", text: "Seen" }));
    }
    if (!rows.length) rows.push(el(d, "li", { class: "empty", text: v.draft ? "Write your message below." : "Ask us anything: we usually answer within minutes." }));
    this.list.replaceChildren(...rows);
    // Only the drawn conversation's attachments stay cached.
    for (const k of this.nodes.keys()) if (!this.usedNodes.has(k)) this.nodes.delete(k);
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
        const li = el(d, "li", { ...base, class: `msg ${mine ? "mine" : "theirs"} ${it.state}` });
        if (it.text || !it.attachments.length) li.append(el(d, "div", { class: "bubble", text: it.text }));
        if (it.attachments.length) li.append(this.attachmentList(it));
        li.append(meta);
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

  // attachmentList draws a message's files: images as thumbnails that open
  // the viewer, other files as a chip (name, type, size) that downloads;
  // a pending message's files show their upload's progress.
  attachmentList(it) {
    const d = this.doc;
    const ul = el(d, "ul", { class: "files" });
    for (const a of it.attachments) {
      const local = it.files ? it.files.find((f) => f.sha256 === a.sha256) : null;
      let src;
      if (local && local.blob) {
        src = this.blobURLs.get(a.sha256);
        if (!src) {
          try {
            src = URL.createObjectURL(local.blob);
            this.blobURLs.set(a.sha256, src);
          } catch {
            src = "";
          }
        }
      } else src = this.o.fileURL ? this.o.fileURL(a.id) : "";
      const key = `${it.id}|${a.id}|${src}`;
      let node = this.nodes.get(key);
      if (!node) {
        node = this.fileNode(a, src);
        this.nodes.set(key, node);
      }
      if (this.usedNodes) this.usedNodes.add(key);
      const li = el(d, "li", { class: "file", "data-sha256": a.sha256, "data-type": a.type || "" }, node);
      if (local && !local.uploaded && it.state !== "failed") {
        const p = typeof local.progress === "number" ? local.progress : 0;
        li.append(el(d, "progress", { class: "upload", max: "1", value: String(p), "aria-label": `Uploading ${a.name}` }));
      }
      ul.append(li);
    }
    return ul;
  }

  fileNode(a, src) {
    const d = this.doc;
    if (isImage(a.type)) {
      const img = el(d, "img", { src, alt: a.name, loading: "lazy", class: "thumb-img" });
      return el(d, "button", { type: "button", class: "thumb", "aria-label": `View image ${a.name}`, onclick: () => this.openViewer(a, src) }, img);
    }
    return el(
      d,
      "a",
      { class: "file-chip", href: src, download: a.name, target: "_blank", rel: "noopener" },
      el(d, "span", { class: "file-name", text: a.name }),
      el(d, "span", { class: "file-info", text: `${a.type || "file"} · ${formatSize(a.size)}` }),
    );
  }

  openViewer(a, src) {
    this.viewerImg.src = src;
    this.viewerImg.alt = a.name;
    this.viewerLink.href = src;
    this.viewerLink.setAttribute("download", a.name);
    this.viewer.setAttribute("aria-label", `Image ${a.name}`);
    this.viewer.hidden = false;
    this.viewer.querySelector(".viewer-close").focus({ preventScroll: true });
  }

  closeViewer() {
    this.viewer.hidden = true;
    this.viewerImg.removeAttribute("src");
    this.input.focus({ preventScroll: true });
  }

  // addFiles takes files the user chose, pasted or dropped: the limits are
  // checked first (a refused file is said why, in words; nothing typed is
  // touched), then each is hashed and uploaded while the user writes.
  addFiles(list) {
    if (this.input.disabled || !this.o.checkFiles) return;
    const { accepted, refused } = this.o.checkFiles(this.attachments.length, list);
    this.fileErrors.replaceChildren(...refused.map((r) => el(this.doc, "p", { "data-code": r.code, text: r.message })));
    this.fileErrors.hidden = refused.length === 0;
    for (const file of accepted) {
      const a = {
        key: ++this.attSeq,
        file,
        name: file.name || `pasted-image.${(file.type.split("/")[1] || "png").replace(/[^a-z0-9]/g, "")}`,
        size: file.size,
        type: file.type || "application/octet-stream",
        sha256: "",
        state: "hashing",
        progress: 0,
      };
      this.attachments.push(a);
      this.o.hash(file).then(
        (sha) => {
          if (!this.attachments.includes(a)) return;
          if (this.attachments.some((x) => x !== a && x.sha256 === sha)) {
            this.removeAttachment(a); // the same file twice: once is enough
            return;
          }
          a.sha256 = sha;
          this.startUpload(a);
        },
        (err) => {
          a.state = "error";
          a.code = "invalid";
          a.message = `${a.name} could not be read${err && err.message ? `: ${err.message}` : ""}.`;
          this.drawTray();
        },
      );
    }
    this.drawTray();
  }

  startUpload(a) {
    a.state = "uploading";
    const u = this.o.upload(a.sha256, a.file, (sent, total) => {
      a.progress = total ? sent / total : 0;
      if (a.bar) a.bar.value = a.progress;
    });
    a.abort = u.abort;
    u.promise.then(
      () => {
        a.state = "done";
        a.progress = 1;
        this.drawTray();
      },
      (err) => {
        if (!this.attachments.includes(a)) return;
        const code = (err && err.code) || "upload_failed";
        if (code === "upload_failed" || code === "unauthorized" || code === "aborted") a.state = "waiting"; // goes up with its message
        else {
          a.state = "error";
          a.code = code;
          a.message = fileErrorText(a.name, code, this.o.limits);
        }
        this.drawTray();
      },
    );
    this.drawTray();
  }

  // removeAttachment takes a file out of the composer, cancelling its
  // upload if it is still going.
  removeAttachment(a) {
    this.attachments = this.attachments.filter((x) => x !== a);
    if (a.state === "uploading" && a.abort) a.abort();
    this.drawTray();
  }

  drawTray() {
    const d = this.doc;
    this.tray.hidden = this.attachments.length === 0;
    this.tray.replaceChildren(
      ...this.attachments.map((a) => {
        const li = el(d, "li", { class: "att", "data-state": a.state, "data-name": a.name, "data-code": a.code || null });
        li.append(el(d, "span", { class: "att-name", text: a.name }), el(d, "span", { class: "att-size", text: formatSize(a.size) }));
        if (a.state === "uploading" || a.state === "hashing") {
          a.bar = el(d, "progress", { max: "1", value: String(a.progress || 0), "aria-label": `Uploading ${a.name}` });
          li.append(a.bar);
        } else a.bar = null;
        if (a.state === "waiting") li.append(el(d, "span", { class: "att-note", text: "Sent when you are back online" }));
        if (a.state === "error") li.append(el(d, "span", { class: "att-error", role: "alert", text: a.message }));
        const cancel = a.state === "uploading" || a.state === "hashing";
        li.append(
          el(d, "button", {
            type: "button",
            class: cancel ? "att-cancel" : "att-remove",
            "aria-label": `${cancel ? "Cancel upload of" : "Remove"} ${a.name}`,
            text: "×",
            onclick: () => this.removeAttachment(a),
          }),
        );
        return li;
      }),
    );
    this.sendButton.disabled = this.input.disabled || this.attachments.some((a) => a.state === "hashing");
  }

  scrollDown() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  submit() {
    const text = this.input.value;
    const atts = this.attachments.filter((a) => a.state !== "error");
    if (this.input.disabled || this.attachments.some((a) => a.state === "hashing")) return;
    if (!text.trim() && !atts.length) return;
    const files = atts.map((a) => ({ sha256: a.sha256, name: a.name, size: a.size, type: a.type, blob: a.file, uploaded: a.state === "done" }));
    const kept = this.attachments;
    this.input.value = "";
    this.attachments = [];
    this.fileErrors.hidden = true;
    this.fileErrors.replaceChildren();
    this.drawTray();
    this.stopTyping();
    try {
      if (files.length) this.o.send(text, files);
      else this.o.send(text);
    } catch (err) {
      // Refused before it was made (too long, a refused session): nothing
      // the user typed or added is lost.
      if (!this.input.value) this.input.value = text;
      if (!this.attachments.length) this.attachments = kept;
      this.drawTray();
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
