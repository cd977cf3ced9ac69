import { useEffect, useState } from 'react'
import { api, describeError } from '../api'
import type { NotifySettings } from '../api/types'
import { playChime } from '../lib/sound'

/** Settings' switches for desktop notifications: a contact's new message in a conversation assigned
 * to me or unassigned, while the window is not focused (the Go side decides and raises them). */
export function NotificationSettings() {
  const [s, setS] = useState<NotifySettings | null>(null)
  const [note, setNote] = useState<string | null>(null)
  useEffect(() => {
    let live = true
    api.NotifySettings().then(
      (v) => live && setS(v),
      (e) => live && setNote(describeError(e)),
    )
    return () => {
      live = false
    }
  }, [])
  const change = async (next: NotifySettings) => {
    const before = s
    setS(next)
    setNote(null)
    try {
      await api.SetNotifySettings(next)
      if (next.sound && !before?.sound) playChime() // what it will sound like
    } catch (e) {
      setS(before)
      setNote(describeError(e))
    }
  }
  return (
    <section className="settings-notify" data-testid="settings-notifications">
      <h3>Notifications</h3>
      <label className="check">
        <input
          type="checkbox"
          checked={!!s?.desktop}
          disabled={!s}
          onChange={(e) => s && void change({ ...s, desktop: e.target.checked })}
          data-testid="settings-notify-desktop"
        />{' '}
        Notify me of a contact’s new message in my conversations and unassigned ones, while Threadline is in the background
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={!!s?.sound}
          disabled={!s?.desktop}
          onChange={(e) => s && void change({ ...s, sound: e.target.checked })}
          data-testid="settings-notify-sound"
        />{' '}
        Play a sound
      </label>
      {note && <div className="muted small">{note}</div>}
    </section>
  )
}
