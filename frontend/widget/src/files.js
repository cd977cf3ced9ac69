import { WidgetError } from "./queue.js";

// Attachments (DESIGN §10): the limits checked before anything is uploaded,
// the words for the relay's refusals, SHA-256 with crypto.subtle, the PUT
// with progress, and which outbox records may be pushed (their files
// uploaded first, in mid order). The limits come from WIDGET_CONFIG.protocol
// (maxFileBytes, maxFiles: conv.MaxFileBytes, conv.MaxAttachments).

// FILE_ERROR_TEXT says, for people, why a file was refused.
export const FILE_ERROR_TEXT = {
  too_large: "is too large to send",
  too_many: "is one file too many",
  unsupported_type: "is a kind of file this chat does not accept (programs and scripts are refused)",
  invalid: "changed while it was being sent; please add it again",
  empty: "is empty",
  unauthorized: "could not be sent: the chat is not connected",
  upload_failed: "could not be sent",
};

// formatSize writes a byte count for people: "812 B", "14.2 KB", "3.1 MB".
const KB = 1024;
const MB = KB * KB;

export function formatSize(n) {
  if (!Number.isFinite(n) || n < 0) return "";
  if (n < KB) return `${n} B`;
  if (n < MB) return `${(n / KB).toFixed(n < 10 * KB ? 1 : 0)} KB`;
  return `${(n / MB).toFixed(1)} MB`;
}

// fileErrorText is the sentence a refused file gets: "report.pdf is too
// large to send (at most 25 MB)".
export function fileErrorText(name, code, p) {
  const why = FILE_ERROR_TEXT[code] || FILE_ERROR_TEXT.upload_failed;
  let extra = "";
  if (code === "too_large" && p) extra = ` (at most ${formatSize(p.maxFileBytes)})`;
  if (code === "too_many" && p) extra = ` (at most ${p.maxFiles} files a message)`;
  return `${name || "This file"} ${why}${extra}.`;
}

// checkFiles decides, before any upload, which of the added files (each
// {name, size}) may join the count already in the composer: at most
// p.maxFiles in all, each at most p.maxFileBytes and not empty. It returns
// {accepted, refused: [{file, code, message}]}, in the order given.
export function checkFiles(count, added, p) {
  const accepted = [];
  const refused = [];
  let n = count;
  for (const f of added) {
    let code = "";
    if (f.size > p.maxFileBytes) code = "too_large";
    else if (f.size === 0) code = "empty";
    else if (n >= p.maxFiles) code = "too_many";
    if (code) refused.push({ file: f, code, message: fileErrorText(f.name, code, p) });
    else {
      accepted.push(f);
      n++;
    }
  }
  return { accepted, refused };
}

// isImage says whether a type is drawn inline as a thumbnail (SVG is not:
// the relay serves it as a download).
export function isImage(type) {
  return /^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(type || "");
}

// sha256Hex hashes a Blob (or ArrayBuffer) with crypto.subtle.
export async function sha256Hex(data) {
  const buf = data instanceof ArrayBuffer ? data : await data.arrayBuffer();
  const h = new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", buf));
  let s = "";
  for (const b of h) s += b.toString(16).padStart(2, "0");
  return s;
}

// filesBase is the HTTP address of the relay's file routes, from the sync
// WebSocket's URL: wss://relay.example.com/v1/sync → https://relay.example.com/v1/files/.
export function filesBase(wsUrl, filesPath) {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  u.pathname = filesPath;
  u.search = "";
  u.hash = "";
  return u.toString();
}

// fileURL is the address of one file; with a token it works where no header
// can be sent (an <img>, a link).
export function fileURL(base, workspace, id, token) {
  const u = `${base}${encodeURIComponent(workspace)}/${encodeURIComponent(id)}`;
  return token ? `${u}?token=${encodeURIComponent(token)}` : u;
}

// attachmentOf is an event's attachment for a file: id is its SHA-256.
export function attachmentOf(f) {
  return { id: f.sha256, name: f.name, size: f.size, type: f.type || "application/octet-stream", sha256: f.sha256 };
}

// PERMANENT are the refusals a new attempt would get again.
export const PERMANENT = new Set(["too_large", "unsupported_type", "invalid", "bad_request"]);

// codeOfStatus maps an HTTP status to the relay's code when its body says none.
function codeOfStatus(status) {
  return { 400: "invalid", 401: "unauthorized", 404: "not_found", 413: "too_large", 415: "unsupported_type" }[status] || "upload_failed";
}

// putFile uploads blob to url with the bearer token, reporting progress
// (sent, total). It returns {promise, abort}; the promise resolves with the
// relay's {id, sha256, size, type} or rejects with a WidgetError: the
// relay's code (too_large, unsupported_type, invalid, unauthorized), or
// upload_failed (the network; worth trying again), or aborted.
export function putFile(url, token, blob, onProgress, XHR = globalThis.XMLHttpRequest) {
  const xhr = new XHR();
  const promise = new Promise((resolve, reject) => {
    xhr.open("PUT", url);
    xhr.setRequestHeader("Authorization", `Bearer ${token}`);
    if (xhr.upload && onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : blob.size);
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status === 200 || xhr.status === 201) {
        if (onProgress) onProgress(blob.size, blob.size);
        resolve(body || {});
        return;
      }
      const e = body && body.error;
      reject(new WidgetError((e && e.code) || codeOfStatus(xhr.status), (e && e.message) || `the relay answered ${xhr.status}`));
    };
    xhr.onerror = () => reject(new WidgetError("upload_failed", "Threadline: the upload was interrupted"));
    xhr.onabort = () => reject(new WidgetError("aborted", "Threadline: the upload was cancelled"));
    xhr.send(blob);
  });
  promise.catch(() => {});
  return { promise, abort: () => xhr.abort() };
}

// filesReady says whether every file of an outbox record is on the relay.
export function filesReady(rec) {
  return !rec.files || rec.files.every((f) => f.uploaded);
}

// pushOrder splits the outbox (mid order) at the first pending record whose
// files are not all uploaded yet: {push: the pending records before it, ready
// to go, in order; upload: that record, or null}. Nothing after it is pushed
// before it, so the conversation keeps the order it was written in.
export function pushOrder(outbox) {
  const push = [];
  for (const r of outbox) {
    if (r.state !== "pending") continue;
    if (!filesReady(r)) return { push, upload: r };
    push.push(r);
  }
  return { push, upload: null };
}
