// WidgetError is every error the SDK reports: a stable code (the relay's
// codes pass through unchanged: unauthorized, unknown_attribute, …; the SDK
// adds its own: not_started, chat_not_opened, bad_command, …) and a message
// for people.
export class WidgetError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "ThreadlineError";
    this.code = code;
  }
}

const VERBS = new Set(["do", "set", "get", "on", "off"]);

// parseCommand checks one Crisp-style command, [verb, name, args?], and
// returns {verb, name, args}. args is an array; a callback (for "on" and
// "off") may stand in its place.
export function parseCommand(cmd) {
  if (!Array.isArray(cmd) || cmd.length < 2 || cmd.length > 3) {
    throw new WidgetError("bad_command", `Threadline: a command is [verb, name, args?], got ${describe(cmd)}`);
  }
  const [verb, name, args] = cmd;
  if (!VERBS.has(verb)) {
    throw new WidgetError("bad_command", `Threadline: unknown verb ${describe(verb)}; use one of ${[...VERBS].join(", ")}`);
  }
  if (typeof name !== "string" || name === "") {
    throw new WidgetError("bad_command", `Threadline: a command needs a name, got ${describe(name)}`);
  }
  if (args !== undefined && !Array.isArray(args) && typeof args !== "function") {
    throw new WidgetError("bad_command", `Threadline: the arguments of ${verb} ${name} are an array, got ${describe(args)}`);
  }
  return { verb, name, args: args === undefined ? [] : args };
}

function describe(v) {
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? s.slice(0, 57) + "..." : s;
  } catch {
    return String(v);
  }
}

// CommandQueue is what window.$threadline becomes once the SDK has loaded.
// The page may push commands before that (into a plain array) or before the
// SDK is started: those wait, in order, and run when open() is called; after
// that, push runs commands at once. push returns a promise of the last
// command's outcome; a failed command is also handed to onError (the SDK logs
// it and emits "error"), so a page that ignores the promise still learns why.
export class CommandQueue {
  constructor(run, onError = () => {}) {
    this.run = run;
    this.onError = onError;
    this.held = [];
    this.ready = false;
  }

  // push runs (or holds) each command in order.
  push(...cmds) {
    let last = Promise.resolve(undefined);
    for (const cmd of cmds) last = this.ready ? this.exec(cmd) : this.hold(cmd);
    return last;
  }

  hold(cmd) {
    let settle;
    const p = new Promise((resolve, reject) => (settle = { resolve, reject }));
    p.catch(() => {}); // reported through onError; the page may ignore the promise
    this.held.push({ cmd, settle });
    return p;
  }

  exec(cmd) {
    let p;
    try {
      p = Promise.resolve(this.run(parseCommand(cmd)));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch((err) => this.onError(err, cmd));
    return p;
  }

  // open runs the held commands in order and then every push at once.
  open() {
    this.ready = true;
    const held = this.held;
    this.held = [];
    for (const { cmd, settle } of held) this.exec(cmd).then(settle.resolve, settle.reject);
  }

  get length() {
    return this.held.length;
  }
}
