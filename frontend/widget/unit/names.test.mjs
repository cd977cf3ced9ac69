// widget.js joins every module of src/ into one classic script (sync/widget drops the imports and
// the `export`s), so two modules may not declare the same top-level name: the later function
// declaration silently replaces the earlier one for all of them (sdk.js's settle(promise, cb) once
// replaced model.js's). This holds the modules' top-level names distinct.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";

const dir = new URL("../src/", import.meta.url);
const decl = /^(?:export\s+)?(?:async\s+)?(?:function\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)/gm;

test("the modules' top-level names are distinct", () => {
  const seen = new Map(); // name -> module
  const clashes = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
    const src = readFileSync(new URL(file, dir), "utf8");
    for (const m of src.matchAll(decl)) {
      const other = seen.get(m[1]);
      if (other && other !== file) clashes.push(`${m[1]} in ${other} and ${file}`);
      seen.set(m[1], file);
    }
  }
  assert.deepEqual(clashes, []);
});
