// Who is typing where. A "typing on" lapses 6 s after its last renewal (DESIGN §5), so a lost
// "off" never leaves an indicator behind.
import type { Participant, TypingEvent } from '../api/types'

export const TYPING_LAPSE_MS = 6000

interface Entry {
  participant: Participant
  until: number
}

export class TypingStore {
  private byConv = new Map<string, Map<string, Entry>>()
  private timer: ReturnType<typeof setTimeout> | null = null
  private listeners = new Set<() => void>()
  private version = 0

  constructor(
    private readonly meId: () => string | undefined,
    private readonly now: () => number = () => Date.now(),
  ) {}

  subscribe = (cb: () => void) => {
    this.listeners.add(cb)
    return () => {
      this.listeners.delete(cb)
    }
  }
  getVersion = () => this.version

  private changed() {
    this.version++
    for (const cb of [...this.listeners]) cb()
  }

  /** Takes a `typing` event's data. */
  handle(ev: TypingEvent) {
    if (!ev.participant?.id) return
    if (ev.participant.id === this.meId()) return
    let m = this.byConv.get(ev.conv)
    if (ev.on) {
      if (!m) this.byConv.set(ev.conv, (m = new Map()))
      m.set(ev.participant.id, { participant: ev.participant, until: this.now() + TYPING_LAPSE_MS })
    } else if (m?.delete(ev.participant.id)) {
      if (m.size === 0) this.byConv.delete(ev.conv)
    } else {
      return
    }
    this.schedule()
    this.changed()
  }

  /** Who is typing in conv now. */
  typers(conv: string): Participant[] {
    const m = this.byConv.get(conv)
    if (!m) return []
    const now = this.now()
    return [...m.values()].filter((e) => e.until > now).map((e) => e.participant)
  }

  /** Conversations with someone typing → the first typer's participant. */
  all(): Map<string, Participant> {
    const out = new Map<string, Participant>()
    const now = this.now()
    for (const [conv, m] of this.byConv)
      for (const e of m.values()) if (e.until > now && !out.has(conv)) out.set(conv, e.participant)
    return out
  }

  private schedule() {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    let next = Infinity
    for (const m of this.byConv.values()) for (const e of m.values()) next = Math.min(next, e.until)
    if (next === Infinity) return
    this.timer = setTimeout(() => this.expire(), Math.max(0, next - this.now()) + 10)
  }

  private expire() {
    const now = this.now()
    let any = false
    for (const [conv, m] of this.byConv) {
      for (const [id, e] of m)
        if (e.until <= now) {
          m.delete(id)
          any = true
        }
      if (m.size === 0) this.byConv.delete(conv)
    }
    this.schedule()
    if (any) this.changed()
  }

  dispose() {
    if (this.timer) clearTimeout(this.timer)
    this.listeners.clear()
  }
}

/** "Maria is typing…", "Maria and Ana are typing…", "3 people are typing…". */
export function typingText(names: string[]): string {
  if (names.length === 0) return ''
  if (names.length === 1) return `${names[0]} is typing…`
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`
  return `${names.length} people are typing…`
}
