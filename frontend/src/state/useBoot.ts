import { useCallback, useEffect, useState } from 'react'
import { api, describeError } from '../api'
import type { Info } from '../api/types'
import { sameOr } from '../lib/hooks'

/** The app's Info, read at boot (and again when asked); bootError when the Go side cannot be reached. */
export function useBoot(onBooted: () => void) {
  const [info, setInfo] = useState<Info | null>(null)
  const [bootError, setBootError] = useState<string | null>(null)

  const boot = useCallback(async () => {
    try {
      setInfo(await api.Info())
      setBootError(null)
    } catch (e) {
      setBootError(describeError(e))
      return
    }
    onBooted()
  }, [onBooted])

  /** Reads Info again (after a connect, a disconnect, coming online). */
  const reloadInfo = useCallback(() => {
    api.Info().then((i) => setInfo(sameOr<Info | null>(i)), () => {})
  }, [])

  useEffect(() => {
    void boot()
  }, [boot])

  return { info, bootError, boot, reloadInfo }
}
