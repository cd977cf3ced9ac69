import { Widget } from "./sdk.js";

// main installs the SDK on the page: window.Threadline (Kustomer-style calls)
// and window.$threadline (Crisp-style command queue). WIDGET_CONFIG is
// written by the Go handler when it builds widget.js: {relayUrl, css,
// protocol} (protocol: sync/protocol's version, path, limits, close codes).
export function main(win, config) {
  if (win.Threadline && win.Threadline.version) return; // loaded twice
  const doc = win.document;
  const script = doc.currentScript;
  const data = (script && script.dataset) || {};
  const widget = new Widget({
    window: win,
    document: doc,
    scriptSrc: script ? script.src : "",
    relayUrl: data.relay || win.THREADLINE_RELAY_URL || config.relayUrl || "",
    css: config.css,
    protocol: config.protocol,
  });
  const earlier = Array.isArray(win.$threadline) ? win.$threadline : [];
  widget.queue.push(...earlier);
  win.$threadline = widget.queue;
  win.Threadline = widget.api();
  const workspace = data.workspace || win.THREADLINE_WORKSPACE;
  const title = data.title || win.THREADLINE_TITLE;
  if (workspace) widget.start({ workspace, title, open: data.open === "true" });
  win.dispatchEvent(new win.CustomEvent("threadline:loaded"));
}

main(window, WIDGET_CONFIG);
