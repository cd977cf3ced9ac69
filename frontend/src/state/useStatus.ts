import { useCallback, useMemo, useRef, useState } from 'react'
import { api } from '../api'
import type { Status } from '../api/types'
import { coalesce } from '../lib/coalesce'

/** The Status the banner, the sidebar and the title show: from the events that carry it
 * (inbox:changed, sync:state) and from Status() when asked. An answer to Status() never overwrites
 * a newer status an event brought meanwhile. */
export function useStatus() {
  const [status, setStatus] = useState<Status | null>(null)
  const events = useRef(0)
  const statusFromEvent = useCallback((st: Status) => {
    events.current++
    setStatus(st)
  }, [])
  const refreshStatus = useMemo(
    () =>
      coalesce(async () => {
        const before = events.current
        try {
          const st = await api.Status()
          if (events.current === before) setStatus(st)
        } catch {
          // keep the last known status; the banner would lie less by staying than by vanishing
        }
      }),
    [],
  )
  return { status, statusFromEvent, refreshStatus }
}
