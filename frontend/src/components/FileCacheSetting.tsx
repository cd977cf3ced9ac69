import { useEffect, useState } from 'react'
import { describeError } from '../api'
import { fileCacheLimit, setFileCacheLimit } from '../api/files'

const MB = 1000 * 1000

/** Settings' line for the files kept for offline viewing: a cap in MB (the least recently viewed go first). */
export function FileCacheSetting() {
  const [mb, setMb] = useState('')
  const [note, setNote] = useState<string | null>(null)
  useEffect(() => {
    let live = true
    fileCacheLimit()
      .then((b) => live && typeof b === 'number' && setMb(String(Math.round(b / MB))))
      .catch(() => {})
    return () => {
      live = false
    }
  }, [])
  const save = async () => {
    const n = Number(mb)
    if (!Number.isFinite(n) || n < 1) {
      setNote('Enter a size of at least 1 MB')
      return
    }
    try {
      await setFileCacheLimit(Math.round(n) * MB)
      setNote('Saved')
    } catch (e) {
      setNote(describeError(e))
    }
  }
  return (
    <div className="settings-files" data-testid="settings-file-cache">
      <label className="muted small">
        Files kept on this computer for offline viewing, at most{' '}
        <input
          type="number"
          min={1}
          value={mb}
          onChange={(e) => {
            setMb(e.target.value)
            setNote(null)
          }}
          onBlur={() => void save()}
          style={{ width: '6em' }}
          data-testid="settings-file-cache-mb"
        />{' '}
        MB (the least recently viewed go first; files waiting to be sent are always kept).
      </label>
      {note && <span className="muted small"> {note}</span>}
    </div>
  )
}
