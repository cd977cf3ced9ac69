// The two ways the UI reaches the Go side, chosen at runtime:
//   - Wails (desktop): window.go.app.App[Method](...args) → Promise; events through window.runtime.
//   - Browser mode (no window.go): POST /api/call {method, args} → {result} | {error: {code, message}};
//     events through an EventSource on /api/events (SSE `event: <name>`, `data: <JSON array of args>`).
import { ApiError, normalizeError } from './errors'

export type Listener = (...args: unknown[]) => void

export interface Transport {
  readonly kind: 'wails' | 'http' | 'fake'
  /** Calls a bound Go method; rejects with an ApiError. */
  call(method: string, args: unknown[]): Promise<unknown>
  /** Subscribes to a Go event; the callback gets the emitted arguments. Returns the unsubscribe. */
  subscribe(event: string, cb: Listener): () => void
}

/** Emitted by a transport (never by Go) when its event stream came back after a break: events may
 * have been missed, so everything shown should be reloaded. */
export const EventReconnected = 'transport:reconnected'

type WailsMethod = (...args: unknown[]) => Promise<unknown>
interface WailsRuntime {
  EventsOn(name: string, cb: Listener): (() => void) | void
  EventsOff(name: string, ...more: string[]): void
}
declare global {
  interface Window {
    go?: { app?: { App?: Record<string, WailsMethod> } }
    runtime?: WailsRuntime
  }
}

/** A set of listeners per event name; subscribes upstream once per name. */
export class Fanout {
  private readonly listeners = new Map<string, Set<Listener>>()
  private readonly upstream = new Map<string, () => void>()
  constructor(private readonly attach: (event: string, dispatch: Listener) => () => void) {}

  add(event: string, cb: Listener): () => void {
    let set = this.listeners.get(event)
    if (!set) {
      set = new Set()
      this.listeners.set(event, set)
      this.upstream.set(
        event,
        this.attach(event, (...args) => this.emit(event, ...args)),
      )
    }
    set.add(cb)
    return () => {
      const s = this.listeners.get(event)
      if (!s || !s.delete(cb) || s.size > 0) return
      this.listeners.delete(event)
      const off = this.upstream.get(event)
      this.upstream.delete(event)
      off?.()
    }
  }

  emit(event: string, ...args: unknown[]) {
    const set = this.listeners.get(event)
    if (!set) return
    for (const cb of [...set]) {
      try {
        cb(...args)
      } catch (e) {
        console.error(`threadline: a ${event} listener failed`, e)
      }
    }
  }
}

export function hasWails(w: Window = window): boolean {
  return !!w.go?.app?.App
}

export function wailsTransport(w: Window = window): Transport {
  const fan = new Fanout((event, dispatch) => {
    if (event === EventReconnected) return () => {}
    const rt = w.runtime
    if (!rt) return () => {}
    const off = rt.EventsOn(event, dispatch)
    return typeof off === 'function' ? off : () => rt.EventsOff(event)
  })
  return {
    kind: 'wails',
    async call(method, args) {
      const fn = w.go?.app?.App?.[method]
      if (typeof fn !== 'function') throw new ApiError('error', `The app has no method ${method}`)
      try {
        const out = await fn(...args)
        return out === undefined ? null : out
      } catch (e) {
        throw normalizeError(e)
      }
    },
    subscribe: (event, cb) => fan.add(event, cb),
  }
}

export interface HttpOptions {
  base?: string
  fetch?: typeof fetch
  EventSource?: typeof EventSource
}

export function httpTransport(opts: HttpOptions = {}): Transport {
  const base = (opts.base ?? '').replace(/\/$/, '')
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init))
  const ES = opts.EventSource ?? (typeof EventSource !== 'undefined' ? EventSource : undefined)
  let source: EventSource | null = null
  let broke = false
  let users = 0

  const fan: Fanout = new Fanout((event, dispatch) => {
    if (!ES) return () => {}
    if (!source) {
      source = new ES(`${base}/api/events`)
      source.addEventListener('error', () => {
        broke = true
      })
      source.addEventListener('open', () => {
        if (broke) {
          broke = false
          fan.emit(EventReconnected)
        }
      })
    }
    users++
    const s = source
    const handler = (ev: Event) => {
      const data = (ev as MessageEvent).data
      let args: unknown[] = []
      if (typeof data === 'string' && data !== '') {
        try {
          const parsed = JSON.parse(data)
          args = Array.isArray(parsed) ? parsed : [parsed]
        } catch {
          args = [data]
        }
      }
      dispatch(...args)
    }
    if (event !== EventReconnected) s.addEventListener(event, handler)
    return () => {
      if (event !== EventReconnected) s.removeEventListener(event, handler)
      if (--users === 0) {
        s.close()
        if (source === s) source = null
      }
    }
  })

  return {
    kind: 'http',
    async call(method, args) {
      let res: Response
      try {
        res = await doFetch(`${base}/api/call`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ method, args }),
        })
      } catch (e) {
        throw new ApiError('network', `Cannot reach the Threadline backend (${e instanceof Error ? e.message : String(e)})`)
      }
      let body: unknown = null
      const text = await res.text()
      if (text) {
        try {
          body = JSON.parse(text)
        } catch {
          body = text
        }
      }
      if (!res.ok) {
        if (body && typeof body === 'object' && 'error' in body) throw normalizeError((body as { error: unknown }).error)
        if (typeof body === 'string' && body.trim()) throw normalizeError(body)
        throw new ApiError('error', `${method} failed: HTTP ${res.status}`)
      }
      if (body && typeof body === 'object' && 'result' in body) {
        const r = (body as { result: unknown }).result
        return r === undefined ? null : r
      }
      return null
    },
    subscribe: (event, cb) => fan.add(event, cb),
  }
}
