import { useEffect, useRef, useState } from 'react'

/** The current time, renewed every `ms`. */
export function useNow(ms: number): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), ms)
    return () => clearInterval(t)
  }, [ms])
  return now
}

/** A value that follows `value` after it stopped changing for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value)
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms)
    return () => clearTimeout(t)
  }, [value, ms])
  return v
}

/** A ref that always holds the latest value (for event handlers registered once). */
export function useLatest<T>(value: T) {
  const ref = useRef(value)
  ref.current = value
  return ref
}

/** Whether the window is focused and visible: when what is on screen counts as seen. */
export function windowAttended(): boolean {
  return document.visibilityState === 'visible' && document.hasFocus()
}

export function isTypingTarget(t: EventTarget | null): boolean {
  if (!(t instanceof HTMLElement)) return false
  if (t.isContentEditable) return true
  const tag = t.tagName
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true
  if (tag === 'INPUT') {
    const type = (t as HTMLInputElement).type
    return !['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color'].includes(type)
  }
  return false
}

/** A state update that keeps the current value when the new one is equal as JSON: a reload that
 * brought the same thing changes nothing, so what depends on it does not re-render. */
export function sameOr<T>(next: T): (prev: T) => T {
  return (prev) => (prev === next || JSON.stringify(prev) === JSON.stringify(next) ? prev : next)
}
