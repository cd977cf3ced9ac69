import { describe, expect, it, vi } from 'vitest'
import { ApiError, normalizeError, parseErrorString } from './errors'
import { EventReconnected, httpTransport, wailsTransport } from './transport'
import { api, on, setTransport } from './index'
import { fakeTransport } from '../test/fakeTransport'

describe('error normalization', () => {
  it('splits a known code off a Wails error string', () => {
    const e = normalizeError('stale: a new message arrived (seq 12) after what you saw (seq 10)')
    expect(e).toBeInstanceOf(ApiError)
    expect(e.code).toBe('stale')
    expect(e.message).toBe('a new message arrived (seq 12) after what you saw (seq 10)')
  })

  it.each([
    'no_such_thread',
    'no_such_conversation',
    'forbidden',
    'unknown_attribute',
    'invalid_attribute',
    'conflict',
    'invalid',
    'too_large',
    'not_found',
  ])('knows %s', (code) => {
    expect(parseErrorString(`${code}: why`).code).toBe(code)
    expect(parseErrorString(`${code}: why`).message).toBe('why')
  })

  it('keeps an unknown prefix in the message and says "error"', () => {
    const e = normalizeError('inbox: no such conversation')
    expect(e.code).toBe('error')
    expect(e.message).toBe('inbox: no such conversation')
  })

  it('takes {code, message} objects as they are, also wrapped in {error}', () => {
    expect(normalizeError({ code: 'forbidden', message: 'supervisors may not send' }).toJSON()).toEqual({
      code: 'forbidden',
      message: 'supervisors may not send',
    })
    expect(normalizeError({ error: { code: 'too_large', message: 'over 32 KiB' } }).toJSON()).toEqual({
      code: 'too_large',
      message: 'over 32 KiB',
    })
  })

  it('handles Errors and junk', () => {
    expect(normalizeError(new Error('conflict: taken')).code).toBe('conflict')
    expect(normalizeError(undefined).code).toBe('error')
    expect(normalizeError(42).message).toBe('42')
  })
})

describe('Wails transport', () => {
  it('calls window.go.app.App[Method] with the arguments and normalizes rejections', async () => {
    const Resolve = vi.fn().mockRejectedValue('stale: a new message arrived')
    const Send = vi.fn().mockResolvedValue({ id: 'e1' })
    const w = { go: { app: { App: { Resolve, Send } } }, runtime: undefined } as unknown as Window
    const t = wailsTransport(w)
    await expect(t.call('Send', ['c1', 'hi'])).resolves.toEqual({ id: 'e1' })
    expect(Send).toHaveBeenCalledWith('c1', 'hi')
    await expect(t.call('Resolve', ['c1'])).rejects.toMatchObject({ code: 'stale', message: 'a new message arrived' })
    await expect(t.call('Nope', [])).rejects.toBeInstanceOf(ApiError)
  })

  it('subscribes once per event through window.runtime and unsubscribes the last listener', () => {
    const handlers: Record<string, (...a: unknown[]) => void> = {}
    const off = vi.fn()
    const runtime = {
      EventsOn: vi.fn((name: string, cb: (...a: unknown[]) => void) => {
        handlers[name] = cb
        return off
      }),
      EventsOff: vi.fn(),
    }
    const t = wailsTransport({ go: { app: { App: {} } }, runtime } as unknown as Window)
    const a = vi.fn()
    const b = vi.fn()
    const offA = t.subscribe('timeline:changed', a)
    const offB = t.subscribe('timeline:changed', b)
    expect(runtime.EventsOn).toHaveBeenCalledTimes(1)
    handlers['timeline:changed'](['c1', 'c2'])
    expect(a).toHaveBeenCalledWith(['c1', 'c2'])
    expect(b).toHaveBeenCalledWith(['c1', 'c2'])
    offA()
    expect(off).not.toHaveBeenCalled()
    offB()
    expect(off).toHaveBeenCalledTimes(1)
  })
})

class FakeEventSource {
  static last: FakeEventSource | null = null
  listeners: Record<string, ((e: Event) => void)[]> = {}
  closed = false
  constructor(public url: string) {
    FakeEventSource.last = this
  }
  addEventListener(name: string, cb: (e: Event) => void) {
    ;(this.listeners[name] ??= []).push(cb)
  }
  removeEventListener(name: string, cb: (e: Event) => void) {
    this.listeners[name] = (this.listeners[name] ?? []).filter((x) => x !== cb)
  }
  close() {
    this.closed = true
  }
  fire(name: string, data?: string) {
    for (const cb of this.listeners[name] ?? []) cb(Object.assign(new Event(name), { data }))
  }
}

describe('HTTP transport', () => {
  function jsonResponse(status: number, body: unknown) {
    return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
  }

  it('posts {method, args} to /api/call and returns result', async () => {
    const fetch = vi.fn().mockResolvedValue(jsonResponse(200, { result: { rows: [], total: 0 } }))
    const t = httpTransport({ fetch })
    await expect(t.call('Inbox', [{ view: 'open', sort: 'activity' }])).resolves.toEqual({ rows: [], total: 0 })
    const [url, init] = fetch.mock.calls[0]
    expect(url).toBe('/api/call')
    expect(init.method).toBe('POST')
    expect(JSON.parse(init.body)).toEqual({ method: 'Inbox', args: [{ view: 'open', sort: 'activity' }] })
  })

  it('turns a non-2xx {error} into an ApiError with its code', async () => {
    const fetch = vi.fn().mockResolvedValue(jsonResponse(409, { error: { code: 'stale', message: 'read it first' } }))
    await expect(httpTransport({ fetch }).call('Resolve', ['c'])).rejects.toMatchObject({
      code: 'stale',
      message: 'read it first',
    })
  })

  it('reports a network failure and a bare HTTP error', async () => {
    const down = vi.fn().mockRejectedValue(new TypeError('Failed to fetch'))
    await expect(httpTransport({ fetch: down }).call('Info', [])).rejects.toMatchObject({ code: 'network' })
    const bad = vi.fn().mockResolvedValue(new Response('', { status: 500 }))
    await expect(httpTransport({ fetch: bad }).call('Info', [])).rejects.toMatchObject({
      code: 'error',
      message: 'Info failed: HTTP 500',
    })
  })

  it('delivers SSE messages as the emitted arguments and reports reconnects', () => {
    const t = httpTransport({ fetch: vi.fn(), EventSource: FakeEventSource as unknown as typeof EventSource })
    const got = vi.fn()
    const back = vi.fn()
    const off = t.subscribe('timeline:changed', got)
    t.subscribe(EventReconnected, back)
    const es = FakeEventSource.last!
    expect(es.url).toBe('/api/events')
    es.fire('timeline:changed', JSON.stringify([['c1']]))
    expect(got).toHaveBeenCalledWith(['c1'])
    es.fire('error')
    es.fire('open')
    expect(back).toHaveBeenCalledTimes(1)
    off()
    es.fire('timeline:changed', JSON.stringify([['c2']]))
    expect(got).toHaveBeenCalledTimes(1)
  })
})

describe('api module', () => {
  it('forwards typed calls and events to the injected transport', async () => {
    const t = fakeTransport({ Draft: (id: string) => `draft of ${id}` })
    setTransport(t)
    await expect(api.Draft('c9')).resolves.toBe('draft of c9')
    await api.ChangeTags('c9', ['vip'], ['old'])
    expect(t.callsTo('ChangeTags')).toEqual([['c9', ['vip'], ['old']]])
    const cb = vi.fn()
    const off = on('typing', cb)
    t.emit('typing', { conv: 'c9', on: true })
    off()
    t.emit('typing', { conv: 'c9', on: false })
    expect(cb).toHaveBeenCalledTimes(1)
  })
})
