import { useMemo, useState } from 'react'
import { fullTime } from '../lib/format'
import { fromLocalInput, snoozeChoices, toLocalInput } from '../lib/snooze'
import { Modal } from './Modal'

export interface SnoozeMenuProps {
  /** What is snoozed, for the title ("this conversation", "3 conversations"). */
  what: string
  onClose: () => void
  /** Snoozes until a time (Unix ms); resolves to an error to show, or null when done. */
  onChoose: (until: number) => Promise<string | null>
}

/** Snooze until: in an hour, tomorrow at 9:00, next Monday at 9:00, or a chosen time. The
 * conversation leaves the open views for Snoozed and comes back then, or when the contact writes. */
export function SnoozeMenu({ what, onClose, onChoose }: SnoozeMenuProps) {
  const choices = useMemo(() => snoozeChoices(new Date()), [])
  const [custom, setCustom] = useState(() => toLocalInput(choices[1].until))
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const choose = async (until: number) => {
    if (!(until > Date.now())) return setError('Choose a time to come')
    setBusy(true)
    setError(null)
    const err = await onChoose(until)
    setBusy(false)
    if (err) setError(err)
    else onClose()
  }

  return (
    <Modal title={`Snooze ${what}`} onClose={onClose} testId="snooze-menu">
      <div className="snooze-choices">
        {choices.map((c) => (
          <button key={c.key} type="button" className="btn snooze-choice" disabled={busy} onClick={() => void choose(c.until)} data-testid={`snooze-${c.key}`}>
            <span>{c.label}</span>
            <span className="muted small">{fullTime(c.until)}</span>
          </button>
        ))}
      </div>
      <form
        className="snooze-custom"
        onSubmit={(e) => {
          e.preventDefault()
          void choose(fromLocalInput(custom))
        }}
      >
        <label className="field">
          <span>Until a time of your choice</span>
          <input
            className="input"
            type="datetime-local"
            value={custom}
            onChange={(e) => {
              setCustom(e.target.value)
              setError(null)
            }}
            data-testid="snooze-custom-input"
          />
        </label>
        <button type="submit" className="btn primary" disabled={busy} data-testid="snooze-custom-submit">
          Snooze
        </button>
      </form>
      {error && (
        <div className="inline-alert" role="alert" data-testid="snooze-error">
          {error}
        </div>
      )}
      <p className="muted small">It comes back to the open views then, or as soon as the contact writes.</p>
    </Modal>
  )
}
