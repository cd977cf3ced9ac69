import { useEffect, useState } from 'react'
import type { AttrValue, AttributeDef } from '../../api/types'
import { CloseIcon } from '../Icons'

export interface AttributesPanelProps {
  defs: AttributeDef[]
  values: Record<string, AttrValue>
  /** Sets one attribute (null clears it); resolves to an error message or null. */
  onSet: (key: string, value: AttrValue) => Promise<string | null>
}

function AttributeField({ def, value, onSet }: { def: AttributeDef; value: AttrValue | undefined; onSet: AttributesPanelProps['onSet'] }) {
  const [draft, setDraft] = useState(value === undefined || value === null ? '' : String(value))
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    setDraft(value === undefined || value === null ? '' : String(value))
  }, [value])

  const set = async (v: AttrValue) => {
    setBusy(true)
    const err = await onSet(def.key, v)
    setBusy(false)
    setError(err)
  }

  const commitText = () => {
    const current = value === undefined || value === null ? '' : String(value)
    if (draft === current) return
    if (def.type === 'number') {
      if (draft.trim() === '') return void set(null)
      const n = Number(draft)
      if (!Number.isFinite(n)) return setError('Not a number')
      return void set(n)
    }
    void set(draft === '' ? null : draft)
  }

  const id = `attr-${def.key}`
  let input: React.ReactNode
  switch (def.type) {
    case 'bool':
      input = (
        <input id={id} type="checkbox" checked={value === true} disabled={busy} onChange={(e) => void set(e.target.checked)} data-testid={`attr-input-${def.key}`} />
      )
      break
    case 'enum':
      input = (
        <select
          id={id}
          className="input small"
          value={typeof value === 'string' ? value : ''}
          disabled={busy}
          onChange={(e) => void set(e.target.value === '' ? null : e.target.value)}
          data-testid={`attr-input-${def.key}`}
        >
          <option value="">—</option>
          {(def.values ?? []).map((v) => (
            <option key={v} value={v}>
              {v}
            </option>
          ))}
        </select>
      )
      break
    default:
      input = (
        <input
          id={id}
          className="input small"
          type={def.type === 'number' ? 'number' : 'text'}
          inputMode={def.type === 'number' ? 'decimal' : undefined}
          value={draft}
          disabled={busy}
          onChange={(e) => {
            setDraft(e.target.value)
            setError(null)
          }}
          onBlur={commitText}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault()
              commitText()
            }
          }}
          data-testid={`attr-input-${def.key}`}
        />
      )
  }
  const has = value !== undefined && value !== null
  return (
    <div className="attr-row" data-testid={`attr-${def.key}`}>
      <label htmlFor={id} className="attr-key">
        {def.key}
      </label>
      <div className="attr-value">
        {input}
        <button
          type="button"
          className="icon-btn small"
          aria-label={`Clear ${def.key}`}
          title="Clear"
          disabled={!has || busy}
          onClick={() => void set(null)}
          data-testid={`attr-clear-${def.key}`}
        >
          <CloseIcon size={12} />
        </button>
      </div>
      {error && (
        <div className="field-error" role="alert" data-testid={`attr-error-${def.key}`}>
          {error}
        </div>
      )}
    </div>
  )
}

export function AttributesPanel({ defs, values, onSet }: AttributesPanelProps) {
  const known = new Set(defs.map((d) => d.key))
  const extra = Object.keys(values).filter((k) => !known.has(k)).sort()
  return (
    <div className="attributes" data-testid="attributes-panel">
      {defs.length === 0 && extra.length === 0 && <div className="muted">This workspace defines no custom attributes.</div>}
      {defs.map((d) => (
        <AttributeField key={d.key} def={d} value={values[d.key]} onSet={onSet} />
      ))}
      {extra.map((k) => (
        <div className="attr-row" key={k}>
          <span className="attr-key" title="Not defined in this workspace">
            {k}
          </span>
          <span className="attr-value readonly">{String(values[k])}</span>
        </div>
      ))}
    </div>
  )
}
