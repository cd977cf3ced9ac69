import { describe, expect, it, vi, afterEach } from 'vitest'
import { TYPING_LAPSE_MS, TypingStore, typingText } from './typing'

afterEach(() => {
  vi.useRealTimers()
})

describe('TypingStore', () => {
  it('lapses 6 s after the last renewal', () => {
    vi.useFakeTimers()
    const s = new TypingStore(() => 'agent:me')
    const changed = vi.fn()
    s.subscribe(changed)
    const maria = { id: 'contact:maria', role: 'contact' as const, name: 'Maria' }
    s.handle({ conv: 'c1', participant: maria, on: true })
    expect(s.typers('c1')).toEqual([maria])
    vi.advanceTimersByTime(TYPING_LAPSE_MS - 1000)
    s.handle({ conv: 'c1', participant: maria, on: true }) // renewed
    vi.advanceTimersByTime(TYPING_LAPSE_MS - 1000)
    expect(s.typers('c1')).toEqual([maria])
    vi.advanceTimersByTime(1100)
    expect(s.typers('c1')).toEqual([])
    expect(changed).toHaveBeenCalledTimes(3) // on, renew, lapse
  })

  it('ignores me, and stops on "off"', () => {
    const s = new TypingStore(() => 'agent:me')
    s.handle({ conv: 'c1', participant: { id: 'agent:me', role: 'agent' as const }, on: true })
    expect(s.typers('c1')).toEqual([])
    s.handle({ conv: 'c1', participant: { id: 'agent:ana', role: 'agent' as const }, on: true })
    expect(s.all().get('c1')?.id).toBe('agent:ana')
    s.handle({ conv: 'c1', participant: { id: 'agent:ana', role: 'agent' as const }, on: false })
    expect(s.typers('c1')).toEqual([])
    s.dispose()
  })

  it('words it', () => {
    expect(typingText([])).toBe('')
    expect(typingText(['Maria'])).toBe('Maria is typing…')
    expect(typingText(['Maria', 'Ana'])).toBe('Maria and Ana are typing…')
    expect(typingText(['a', 'b', 'c'])).toBe('3 people are typing…')
  })
})
