import { useState } from 'react'
import { MAX_TAG_CHARS, MAX_TAGS } from '../../lib/format'
import { CloseIcon } from '../Icons'

export interface TagsEditorProps {
  tags: string[]
  /** Applies a change; resolves to an error message or null. */
  onChange: (add: string[], remove: string[]) => Promise<string | null>
}

/** Normalizes a tag as the reducer does (trimmed, lower-cased) and checks its limits. */
export function checkTag(raw: string, current: string[]): { tag?: string; error?: string } {
  const tag = raw.trim().toLowerCase()
  if (!tag) return {}
  if ([...tag].length > MAX_TAG_CHARS) return { error: `A tag has at most ${MAX_TAG_CHARS} characters` }
  if (current.includes(tag)) return { error: `Already tagged “${tag}”` }
  if (current.length >= MAX_TAGS) return { error: `At most ${MAX_TAGS} tags per conversation` }
  return { tag }
}

export function TagsEditor({ tags, onChange }: TagsEditorProps) {
  const [input, setInput] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)

  const apply = async (add: string[], remove: string[]) => {
    setBusy(true)
    const err = await onChange(add, remove)
    setBusy(false)
    setError(err)
    return !err
  }

  const submit = async () => {
    const { tag, error: e } = checkTag(input, tags)
    if (e) return setError(e)
    if (!tag) return
    if (await apply([tag], [])) setInput('')
  }

  return (
    <div className="tags-editor" data-testid="tags-editor">
      <div className="chips">
        {tags.length === 0 && <span className="muted">No tags</span>}
        {tags.map((t) => (
          <span key={t} className="chip removable" data-testid="tag-chip">
            {t}
            <button type="button" aria-label={`Remove tag ${t}`} disabled={busy} onClick={() => void apply([], [t])} data-testid={`remove-tag-${t}`}>
              <CloseIcon size={10} />
            </button>
          </span>
        ))}
      </div>
      <input
        className="input small"
        placeholder="Add a tag…"
        aria-label="Add a tag"
        value={input}
        disabled={busy}
        data-testid="tag-input"
        onChange={(e) => {
          setInput(e.target.value)
          setError(null)
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' || e.key === ',') {
            e.preventDefault()
            void submit()
          }
        }}
      />
      {error && (
        <div className="field-error" role="alert" data-testid="tags-error">
          {error}
        </div>
      )}
    </div>
  )
}
