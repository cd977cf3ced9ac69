// The one module the UI talks to the Go side through. Methods carry the Go names and argument
// order of app.App; the transport (Wails bindings or the HTTP bridge) is picked at first use.
import { hasWails, httpTransport, wailsTransport, type Listener, type Transport } from './transport'
import { bindApp, type AppMethods, type EventData } from './generated'
import { EventReconnected } from './transport'

export * from './types'
export type { AppMethods, EventData } from './generated'
export { ApiError, normalizeError, describeError } from './errors'
export { EventReconnected } from './transport'
export type { Transport } from './transport'

let transport: Transport | null = null

/** The transport in use: Wails when window.go.app.App exists, else the HTTP bridge. */
export function getTransport(): Transport {
  if (!transport) transport = hasWails() ? wailsTransport() : httpTransport()
  return transport
}

/** Replaces the transport (tests inject a fake; nothing else should call this). */
export function setTransport(t: Transport | null) {
  transport = t
}

/** Subscribes to a Go event (names in ../events.ts), its callback typed with the event's data
 * (EventData, generated from app.EventData); returns the unsubscribe. */
export function on<E extends keyof EventData>(event: E, cb: (...args: EventData[E]) => void): () => void
/** Subscribes to the transport's own event: its stream came back after a break. */
export function on(event: typeof EventReconnected, cb: () => void): () => void
export function on(event: string, cb: (...args: never[]) => void): () => void {
  return getTransport().subscribe(event, cb as Listener)
}

/** The Go side's bound methods (generated from app.App: names, parameters and results), through
 * the transport in use. */
export const api: AppMethods = bindApp((method, args) => getTransport().call(method, args))

export type Api = AppMethods
