import { useEffect } from 'react'
import { isTypingTarget, useLatest } from '../lib/hooks'

/** What the keyboard map needs to know and do (the overlay in components/Shortcuts.tsx lists it). */
export interface Keymap {
  overlayOpen: boolean
  /** Rows are chosen for a bulk action. */
  hasChecked: boolean
  /** A conversation is open. */
  hasSelection: boolean
  /** The search box has a query: j/k/Enter go through its hits. */
  searching: boolean
  closeOverlay(): void
  clearChecked(): void
  /** j/k: the list's cursor, or the search hits'. */
  move(delta: number): void
  /** Enter: open the row under the cursor, or the search hit. */
  activate(): void
  reply(): void
  note(): void
  toggleResolve(): void
  /** x: choose the cursor's row. */
  toggleChecked(): void
  /** z: snooze the chosen rows, else the open conversation. */
  snooze(): void
  focusSearch(): void
  showShortcuts(): void
}

/** Handles one keydown with the keymap; returns whether it did something. */
export function handleKey(e: KeyboardEvent, k: Keymap): boolean {
  if (e.key === 'Escape') {
    if (k.overlayOpen) k.closeOverlay()
    else if (k.hasChecked && !isTypingTarget(e.target)) k.clearChecked()
    else {
      const a = document.activeElement as HTMLElement | null
      if (a && a !== document.body) a.blur()
    }
    return true
  }
  if (e.defaultPrevented || e.metaKey || e.ctrlKey || e.altKey || isTypingTarget(e.target) || k.overlayOpen) return false
  const conv = (f: () => void) => (k.hasSelection ? (f(), true) : false)
  let done = false
  switch (e.key) {
    case 'j':
      k.move(1)
      done = true
      break
    case 'k':
      k.move(-1)
      done = true
      break
    case 'Enter': {
      const t = e.target as HTMLElement | null
      if (t && (t.tagName === 'BUTTON' || t.tagName === 'A')) return false
      k.activate()
      done = true
      break
    }
    case 'r':
      done = conv(k.reply)
      break
    case 'n':
      done = conv(k.note)
      break
    case 'e':
      done = conv(k.toggleResolve)
      break
    case 'x':
      if (k.searching) return false
      k.toggleChecked()
      done = true
      break
    case 'z':
      if (!k.hasChecked && !k.hasSelection) return false
      k.snooze()
      done = true
      break
    case '/':
      k.focusSearch()
      done = true
      break
    case '?':
      k.showShortcuts()
      done = true
      break
  }
  if (done) e.preventDefault()
  return done
}

/** The app's keyboard map on window keydown; keymap is read when a key is pressed. */
export function useShortcuts(keymap: Keymap) {
  const k = useLatest(keymap)
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => void handleKey(e, k.current)
    window.addEventListener('keydown', onKey)
    return () => window.removeEventListener('keydown', onKey)
  }, [k])
}
