// PROTOCOL is what widget.js carries as WIDGET_CONFIG.protocol: sync/protocol's
// version, path, limits and close codes. protocol.json is written from Go
// (go test ./sync/widget/ -run TestProtocolFile -update) and kept equal to
// the bundle's by that test: the unit tests never copy a limit by hand.
import { readFileSync } from "node:fs";

export const PROTOCOL = Object.freeze(JSON.parse(readFileSync(new URL("./protocol.json", import.meta.url), "utf8")));
