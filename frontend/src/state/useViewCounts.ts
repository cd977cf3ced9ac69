import { useCallback, useEffect, useRef, useState } from 'react'
import { api, EventReconnected, on } from '../api'
import type { View, ViewCount } from '../api/types'
import { EventInboxChanged } from '../events'

const COUNTS_MIN_INTERVAL_MS = 400

export type ViewCounts = Partial<Record<View, ViewCount>>

/** The sidebar's numbers: every view's conversations and those with something unread, in one call
 * (the Go side keeps them; the list header's numbers for a view are the same ones). Read when
 * `ready`, again on every inbox change, at most once per 400 ms. */
export function useViewCounts(ready: boolean) {
  const [counts, setCounts] = useState<ViewCounts>({})
  const state = useRef({ last: 0, timer: 0 as ReturnType<typeof setTimeout> | 0 })
  const refreshCounts = useCallback(() => {
    const st = state.current
    if (st.timer) return
    const wait = Math.max(0, st.last + COUNTS_MIN_INTERVAL_MS - Date.now())
    st.timer = setTimeout(async () => {
      st.timer = 0
      st.last = Date.now()
      try {
        setCounts((await api.Counts()) ?? {})
      } catch {
        // keep the last numbers
      }
    }, wait)
  }, [])

  useEffect(() => {
    if (!ready) return
    refreshCounts()
    const offInbox = on(EventInboxChanged, refreshCounts)
    const offBack = on(EventReconnected, refreshCounts)
    return () => {
      offInbox()
      offBack()
    }
  }, [ready, refreshCounts])

  useEffect(() => () => clearTimeout(state.current.timer || undefined), [])

  return { counts, refreshCounts }
}
