import { forwardRef, useCallback, useEffect, useImperativeHandle, useRef, useState } from 'react'
import { api, describeError } from '../../api'
import { MAX_ATTACHMENTS, sendWithFiles, uploadFile, UploadError } from '../../api/files'
import { MAX_TEXT_BYTES, utf8Length } from '../../lib/format'
import { LockIcon } from '../Icons'
import { DraftFiles, type DraftFile } from './Attachments'
import { useReplyPicker } from './ReplyPicker'
import type { ReplyVars } from '../../lib/replies'

export type ComposerMode = 'reply' | 'note'

export interface ComposerHandle {
  focus(mode?: ComposerMode): void
}

export interface ComposerProps {
  convId: string
  contactName: string
  /** False for a supervisor: notes only. */
  canReply: boolean
  /** Called as a send starts (to show the item as pending at once); returns a token. */
  onSending?: (kind: 'message.sent' | 'note.added', text: string) => string
  /** Called when the send call returned (ok) or failed. */
  onSettled?: (token: string, ok: boolean) => void
  /** What a saved reply's variables are filled with ("/" at the start opens the picker). */
  replyVars?: ReplyVars
}

export const DRAFT_SAVE_MS = 300
export const TYPING_RENEW_MS = 3000

export const Composer = forwardRef<ComposerHandle, ComposerProps>(function Composer({ convId, contactName, canReply, onSending, onSettled, replyVars }, ref) {
  const [text, setText] = useState('')
  const [mode, setMode] = useState<ComposerMode>(canReply ? 'reply' : 'note')
  const [sending, setSending] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [files, setFiles] = useState<DraftFile[]>([])
  const fileInput = useRef<HTMLInputElement>(null)
  const fileSeq = useRef(0)
  const area = useRef<HTMLTextAreaElement>(null)
  const dirty = useRef(false)
  const saveTimer = useRef<ReturnType<typeof setTimeout> | null>(null)
  const pendingSave = useRef<{ id: string; text: string } | null>(null)
  const typingOn = useRef<string | null>(null) // the conv we said we type in
  const lastTyping = useRef(0)

  const flushSave = useCallback(() => {
    if (saveTimer.current) clearTimeout(saveTimer.current)
    saveTimer.current = null
    const p = pendingSave.current
    pendingSave.current = null
    if (p) api.SaveDraft(p.id, p.text).catch(() => {})
  }, [])

  const stopTyping = useCallback(() => {
    const c = typingOn.current
    if (!c) return
    typingOn.current = null
    lastTyping.current = 0
    api.Typing(c, false).catch(() => {})
  }, [])

  // Each conversation has its own draft: save the old one, load the new one.
  useEffect(() => {
    dirty.current = false
    setText('')
    setError(null)
    setFiles([])
    let live = true
    api
      .Draft(convId)
      .then((d) => {
        if (live && !dirty.current) setText(d)
      })
      .catch(() => {})
    return () => {
      live = false
      flushSave()
      stopTyping()
    }
  }, [convId, flushSave, stopTyping])

  useEffect(() => {
    if (!canReply) setMode('note')
  }, [canReply])

  // A window closing within the debounce still keeps the draft.
  useEffect(() => {
    window.addEventListener('pagehide', flushSave)
    return () => window.removeEventListener('pagehide', flushSave)
  }, [flushSave])

  useImperativeHandle(ref, () => ({
    focus(m?: ComposerMode) {
      if (m) setMode(m === 'reply' && !canReply ? 'note' : m)
      if (m === 'note') stopTyping()
      area.current?.focus()
    },
  }))

  const change = (value: string) => {
    dirty.current = true
    setText(value)
    setError(null)
    pendingSave.current = { id: convId, text: value }
    if (saveTimer.current) clearTimeout(saveTimer.current)
    saveTimer.current = setTimeout(flushSave, DRAFT_SAVE_MS)
    // Typing goes to the contact too: never while writing a private note.
    if (mode !== 'reply' || value.trim() === '') {
      stopTyping()
      return
    }
    const now = Date.now()
    if (typingOn.current !== convId || now - lastTyping.current >= TYPING_RENEW_MS) {
      typingOn.current = convId
      lastTyping.current = now
      api.Typing(convId, true).catch(() => {})
    }
  }

  // Saved replies: "/" at the start opens the picker; the chosen reply replaces the "/…" typed.
  const picker = useReplyPicker(text, replyVars ?? { contactName }, (filled) => {
    change(filled)
    requestAnimationFrame(() => {
      const el = area.current
      if (!el) return
      el.focus()
      el.setSelectionRange(el.value.length, el.value.length)
    })
  })

  // Files: each is stored on this device at once (a progress bar per file); the Go side uploads
  // it to the relay before the message, now or after a reconnect.
  const addFiles = (list: ArrayLike<File>) => {
    const incoming = Array.from(list)
    if (incoming.length === 0) return
    setError(null)
    const room = MAX_ATTACHMENTS - files.length
    if (incoming.length > room) setError(`At most ${MAX_ATTACHMENTS} files on one message`)
    const added: DraftFile[] = []
    for (const file of incoming.slice(0, Math.max(0, room))) {
      const key = `f${++fileSeq.current}`
      let name = file.name || 'file'
      if (name === 'image.png' && file.type === 'image/png') name = `screenshot-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}.png`
      const up = uploadFile(file, name, (p) => setFiles((fs) => fs.map((f) => (f.key === key ? { ...f, progress: p } : f))))
      up.promise.then(
        (att) => setFiles((fs) => fs.map((f) => (f.key === key ? { ...f, progress: 1, att, abort: undefined } : f))),
        (e: unknown) => {
          if (e instanceof UploadError && e.aborted) return
          setFiles((fs) => fs.map((f) => (f.key === key ? { ...f, error: e instanceof Error ? e.message : String(e), abort: undefined } : f)))
        },
      )
      added.push({ key, name, size: file.size, progress: 0, abort: up.abort })
    }
    setFiles((cur) => [...cur, ...added])
    area.current?.focus()
  }
  const removeFile = (key: string) => {
    files.find((f) => f.key === key)?.abort?.()
    setFiles((fs) => fs.filter((f) => f.key !== key))
  }
  const readyFiles = files.filter((f) => f.att)
  const uploading = files.some((f) => !f.att && !f.error)

  const send = async () => {
    const body = text
    const atts = files.filter((f) => f.att)
    if ((!body.trim() && atts.length === 0) || sending || uploading) return
    if (utf8Length(body) > MAX_TEXT_BYTES) {
      setError(`Too long: at most ${MAX_TEXT_BYTES / 1024} KiB of text`)
      return
    }
    const kind = mode === 'note' ? 'note.added' : 'message.sent'
    setSending(true)
    stopTyping()
    const token = onSending?.(kind, body) ?? ''
    // The item shows as pending in the timeline at once: the composer is free for the next one.
    if (saveTimer.current) clearTimeout(saveTimer.current)
    saveTimer.current = null
    pendingSave.current = null
    setText('')
    setFiles((fs) => fs.filter((f) => !f.att))
    try {
      if (atts.length > 0) await sendWithFiles(convId, body, atts.map((f) => f.att!), mode === 'note')
      else if (mode === 'note') await api.AddNote(convId, body)
      else await api.Send(convId, body)
      dirty.current = false
      api.SaveDraft(convId, '').catch(() => {})
      onSettled?.(token, true)
    } catch (e) {
      onSettled?.(token, false)
      // Nothing typed is lost: the text comes back unless something new was typed meanwhile.
      setText((t) => (t === '' ? body : t))
      if (atts.length > 0) setFiles((fs) => [...atts, ...fs.filter((f) => !atts.some((a) => a.key === f.key))])
      setError(describeError(e))
    } finally {
      setSending(false)
      area.current?.focus()
    }
  }

  const onKeyDown = (e: React.KeyboardEvent<HTMLTextAreaElement>) => {
    if (picker.onKeyDown(e)) return
    if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.nativeEvent.isComposing) {
      e.preventDefault()
      void send()
    }
  }

  const note = mode === 'note'
  const over = utf8Length(text) > MAX_TEXT_BYTES
  return (
    <form
      className={`composer${note ? ' note' : ''}`}
      data-testid="composer"
      data-mode={mode}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) e.preventDefault()
      }}
      onDrop={(e) => {
        if (e.dataTransfer.files.length > 0) {
          e.preventDefault()
          addFiles(e.dataTransfer.files)
        }
      }}
      onSubmit={(e) => {
        e.preventDefault()
        void send()
      }}
    >
      <div className="composer-tabs" role="tablist" aria-label="Compose">
        <button
          type="button"
          role="tab"
          aria-selected={!note}
          className={!note ? 'on' : ''}
          disabled={!canReply}
          title={canReply ? 'Reply to the contact (r)' : 'Supervisors can add notes only'}
          onClick={() => {
            setMode('reply')
            area.current?.focus()
          }}
          data-testid="composer-mode-reply"
        >
          Reply
        </button>
        <button
          type="button"
          role="tab"
          aria-selected={note}
          className={note ? 'on' : ''}
          title="Internal note, only your team sees it (n)"
          onClick={() => {
            setMode('note')
            stopTyping()
            area.current?.focus()
          }}
          data-testid="composer-mode-note"
        >
          <LockIcon size={12} /> Private note
        </button>
        {!canReply && <span className="composer-hint">You are supervising: notes only</span>}
      </div>
      {picker.element}
      <textarea
        ref={area}
        className="composer-input"
        data-testid="composer-input"
        aria-label={note ? 'Internal note' : `Reply to ${contactName}`}
        aria-expanded={picker.open}
        placeholder={note ? 'Write an internal note — only your team sees it' : `Reply to ${contactName}…`}
        value={text}
        rows={3}
        onChange={(e) => change(e.target.value)}
        onKeyDown={onKeyDown}
        onPaste={(e) => {
          const pasted = Array.from(e.clipboardData?.files ?? [])
          if (pasted.length > 0) {
            e.preventDefault()
            addFiles(pasted)
          }
        }}
        onBlur={() => {
          stopTyping()
          flushSave()
        }}
      />
      <DraftFiles files={files} onRemove={removeFile} />
      <div className="composer-foot">
        {error ? (
          <span className="composer-error" role="alert" data-testid="composer-error">
            {error}
          </span>
        ) : (
          <span className={`composer-help${over ? ' over' : ''}`}>
            {over ? `Too long: at most ${MAX_TEXT_BYTES / 1024} KiB` : 'Enter to send · Shift+Enter for a new line · / for saved replies'}
          </span>
        )}
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          data-testid="composer-file-input"
          onChange={(e) => {
            if (e.target.files) addFiles(e.target.files)
            e.target.value = ''
          }}
        />
        <button
          type="button"
          className="btn ghost composer-attach"
          title="Attach files (or drop them here, or paste a screenshot)"
          aria-label="Attach files"
          onClick={() => fileInput.current?.click()}
          data-testid="composer-attach"
        >
          Attach
        </button>
        <button
          type="submit"
          className={`btn primary${note ? ' note' : ''}`}
          disabled={sending || uploading || (!text.trim() && readyFiles.length === 0) || over}
          data-testid="composer-send"
        >
          {note ? 'Add note' : 'Send'}
        </button>
      </div>
    </form>
  )
})
