import { useCallback, useRef, useState } from 'react'
import { api, describeError } from '../api'
import type { BulkAction, Row } from '../api/types'

const VERBS: Record<BulkAction['kind'], string> = { resolve: 'Resolved', reopen: 'Reopened', assign: 'Assigned', tag: 'Tagged', snooze: 'Snoozed' }

/** The rows chosen for a bulk action (Shift-click a range, Ctrl/Cmd-click one, x the cursor's) and
 * the bulk action itself. rowAt reads the list's rows; after lets the caller reload what it shows. */
export function useSelection(rowAt: (index: number) => Row | undefined, after: () => void) {
  const [checked, setChecked] = useState<ReadonlySet<string>>(() => new Set())
  const anchor = useRef<number | null>(null)
  const [bulk, setBulk] = useState<{ busy: boolean; message: string | null }>({ busy: false, message: null })

  const clear = useCallback(() => {
    setChecked((c) => (c.size ? new Set() : c))
    anchor.current = null
  }, [])

  /** Forgets the choice and the last bulk message (another view). */
  const reset = useCallback(() => {
    setChecked(new Set())
    anchor.current = null
    setBulk({ busy: false, message: null })
  }, [])

  const toggle = useCallback(
    (index: number) => {
      const row = rowAt(index)
      if (!row) return
      anchor.current = index
      setChecked((c) => {
        const n = new Set(c)
        if (n.has(row.id)) n.delete(row.id)
        else n.add(row.id)
        return n
      })
      setBulk((b) => ({ ...b, message: null }))
    },
    [rowAt],
  )

  /** Adds the rows from the anchor (or `from`) to index. */
  const extend = useCallback(
    (index: number, from: number) => {
      const start = anchor.current ?? from
      const [a, b] = start <= index ? [start, index] : [index, start]
      setChecked((c) => {
        const n = new Set(c)
        for (let i = a; i <= b; i++) {
          const r = rowAt(i)
          if (r) n.add(r.id)
        }
        return n
      })
      setBulk((x) => ({ ...x, message: null }))
    },
    [rowAt],
  )

  /** Sets the anchor of the next Shift-click. */
  const setAnchor = useCallback((index: number | null) => {
    anchor.current = index
  }, [])

  /** Runs a bulk action; returns a message when nothing was done (for a dialog to show). */
  const run = useCallback(
    async (action: BulkAction, ids: string[]): Promise<string | null> => {
      if (!ids.length) return null
      setBulk({ busy: true, message: null })
      try {
        const res = await api.Bulk(ids, action)
        const failed = res.failed ?? []
        let message = `${VERBS[action.kind]} ${res.done} ${res.done === 1 ? 'conversation' : 'conversations'}`
        if (failed.length) message += `; ${failed.length} refused: ${failed[0].error?.message ?? failed[0].error?.code ?? ''}`
        setBulk({ busy: false, message })
        // Keep what was refused chosen, so it can be looked at.
        setChecked(new Set(failed.map((f) => f.id)))
        anchor.current = null
        after()
        return failed.length && !res.done ? message : null
      } catch (e) {
        const message = `Could not do it: ${describeError(e)}`
        setBulk({ busy: false, message })
        return message
      }
    },
    [after],
  )

  return { checked, bulk, clear, reset, toggle, extend, setAnchor, run }
}
