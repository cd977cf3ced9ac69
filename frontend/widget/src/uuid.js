// uuidv7 makes a UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, the
// version, 12 random bits, the variant, 62 random bits. Ids made later on one
// device sort after earlier ones, so the relay's indexes stay append-mostly.
// now and random are parameters so tests can pin them.
export function uuidv7(now = Date.now(), random = randomBytes) {
  const b = random(16);
  let ms = Math.max(0, Math.floor(now));
  for (let i = 5; i >= 0; i--) {
    b[i] = ms % 256;
    ms = Math.floor(ms / 256);
  }
  b[6] = 0x70 | (b[6] & 0x0f); // version 7
  b[8] = 0x80 | (b[8] & 0x3f); // variant 10
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// uuidv7Time returns the Unix milliseconds a UUIDv7 carries.
export function uuidv7Time(id) {
  return parseInt(id.replace(/-/g, "").slice(0, 12), 16);
}

// randomBytes returns n bytes from the platform's cryptographic source.
export function randomBytes(n) {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return b;
}
