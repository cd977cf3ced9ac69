// The truth about sync: an indicator in the sidebar footer, and banners over the app when offline,
// failing, or catching up for the first time.
import type { Status } from '../api/types'
import { useNow } from '../lib/hooks'
import { plural } from '../lib/format'

export function connectionText(status: Status | null): string {
  if (!status) return 'Starting…'
  const s = status.sync
  const pending = status.pending > 0 ? ` · ${status.pending} pending` : ''
  switch (s?.state) {
    case 'local':
      return 'Local only' + pending
    case 'disconnected':
      return 'Disconnected' + pending
    case 'online':
      return 'Online' + pending
    case 'connecting':
      return 'Connecting…' + pending
    case 'syncing':
      return s.backlog ? `Syncing ${Math.min(100, Math.floor(((s.received ?? 0) / s.backlog) * 100))}%` : 'Syncing…'
    case 'offline':
      return `Offline${pending}`
    case 'failed':
      return `Failed: ${s.error || s.code || 'unknown error'}`
    default:
      return 'Unknown'
  }
}

export function ConnectionIndicator({ status, onClick }: { status: Status | null; onClick?: () => void }) {
  const state = status?.sync?.state ?? 'unknown'
  return (
    <button type="button" className={`conn conn-${state}`} onClick={onClick} data-testid="connection" data-state={state} title="Connection settings">
      <span className="conn-dot" aria-hidden="true" />
      <span className="conn-text">{connectionText(status)}</span>
      {status && status.failed > 0 && (
        <span className="conn-failed" data-testid="failed-count">
          {status.failed} failed
        </span>
      )}
    </button>
  )
}

/** Ends a message with a full stop, unless it has one (the Go side's messages are sentences). */
function endSentence(s: string): string {
  return /[.!?]$/.test(s.trim()) ? s.trim() : `${s.trim()}.`
}

function retryIn(retryAt: string | undefined, now: number): string {
  const at = retryAt ? Date.parse(retryAt) : undefined
  if (!at || Number.isNaN(at)) return ''
  const s = Math.max(0, Math.round((at - now) / 1000))
  if (s <= 0) return 'Retrying now…'
  if (s < 60) return `Next retry in ${s} s.`
  return `Next retry in ${Math.round(s / 60)} min.`
}

export function StatusBanner({ status, onSettings }: { status: Status | null; onSettings: () => void }) {
  const now = useNow(1000)
  if (!status) return null
  const s = status.sync
  if (s?.state === 'offline') {
    return (
      <div className="banner offline" role="status" data-testid="offline-banner" title={s.error || undefined}>
        <strong>You are offline.</strong>{' '}
        {status.pending > 0 ? `${plural(status.pending, 'change')} will be sent when the connection is back.` : 'Everything you do is kept and sent when the connection is back.'}{' '}
        <span className="muted">{retryIn(s.retryAt, now)}</span>
      </div>
    )
  }
  if (s?.state === 'failed') {
    return (
      <div className="banner failed" role="alert" data-testid="failed-banner">
        <strong>Sync stopped:</strong> {endSentence(s.error || s.code || 'the relay refused this device')}{' '}
        <button type="button" className="link" onClick={onSettings}>
          Check the connection settings
        </button>
      </div>
    )
  }
  if (s?.state === 'syncing') {
    const backlog = s.backlog ?? 0
    const received = Math.min(s.received ?? 0, backlog || Infinity)
    const pct = backlog > 0 ? Math.floor((received / backlog) * 100) : 0
    return (
      <div className="banner syncing" role="status" data-testid="sync-progress">
        <span>
          Syncing with the relay… {backlog > 0 ? `${received.toLocaleString()} of ${backlog.toLocaleString()} events` : ''}
        </span>
        <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
          <div className="progress-bar" style={{ width: `${pct}%` }} />
        </div>
      </div>
    )
  }
  return null
}
