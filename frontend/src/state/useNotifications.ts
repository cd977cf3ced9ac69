import { useEffect } from 'react'
import { api, on } from '../api'
import { EventNotified, EventOpenConversation } from '../events'
import { useLatest, windowAttended } from '../lib/hooks'
import { playChime } from '../lib/sound'

/** Desktop notifications, the UI's part (the Go side decides and raises them): it tells the Go side
 * whether the window has the user's attention (focused and visible) as that changes, plays the
 * sound when a notification asks for it, and opens the conversation of a clicked notification. */
export function useNotifications(ready: boolean, open: (conv: string) => void) {
  const openRef = useLatest(open)
  useEffect(() => {
    if (!ready) return
    let last: boolean | null = null
    const report = () => {
      const now = windowAttended()
      if (now === last) return
      last = now
      api.SetFocused(now).catch(() => {
        last = null // say it again at the next change
      })
    }
    report()
    window.addEventListener('focus', report)
    window.addEventListener('blur', report)
    document.addEventListener('visibilitychange', report)
    const offNotified = on(EventNotified, (n) => {
      if (n.sound) playChime()
    })
    const offOpen = on(EventOpenConversation, (r) => openRef.current(r.conv))
    return () => {
      window.removeEventListener('focus', report)
      window.removeEventListener('blur', report)
      document.removeEventListener('visibilitychange', report)
      offNotified()
      offOpen()
    }
  }, [ready, openRef])
}
