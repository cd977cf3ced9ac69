import { Fanout, type Transport } from '../api/transport'
import { normalizeError } from '../api/errors'

/** A transport for tests: `handlers[method](...args)` answers calls (a thrown value rejects, as
 * the real transports do, normalized); `emit` delivers events. Never used by the app itself. */
export interface FakeTransport extends Transport {
  readonly calls: { method: string; args: unknown[] }[]
  emit(event: string, ...args: unknown[]): void
  handlers: Record<string, (...args: any[]) => unknown>
  callsTo(method: string): unknown[][]
}

export function fakeTransport(handlers: Record<string, (...args: any[]) => unknown> = {}): FakeTransport {
  const fan = new Fanout(() => () => {})
  const calls: { method: string; args: unknown[] }[] = []
  const t: FakeTransport = {
    kind: 'fake',
    calls,
    handlers,
    async call(method, args) {
      calls.push({ method, args })
      const h = t.handlers[method]
      if (!h) return null
      try {
        const out = await h(...args)
        return out === undefined ? null : out
      } catch (e) {
        throw normalizeError(e)
      }
    },
    subscribe: (event, cb) => fan.add(event, cb),
    emit: (event, ...args) => fan.emit(event, ...args),
    callsTo: (method) => calls.filter((c) => c.method === method).map((c) => c.args),
  }
  return t
}
