// backoffDelay is the wait in milliseconds before reconnect attempt n (from
// 0): a random duration in [d/2, d] where d = min·2ⁿ capped at max, for a
// jitter value r in [0, 1). Half of it is fixed, so a flapping relay is never
// hammered; the other half is random, so widgets that lost the relay together
// do not come back together. It is sync/client's Backoff, in JS.
export function backoffDelay(n, r, min = 250, max = 30000) {
  let d = min;
  for (let i = 0; i < n && d < max; i++) d *= 2;
  d = Math.min(d, max);
  r = Math.min(Math.max(r, 0), 1);
  return d / 2 + r * (d / 2);
}
