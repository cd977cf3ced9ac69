import { useEffect, useRef } from 'react'
import { CloseIcon } from './Icons'

export interface ModalProps {
  title: string
  onClose: () => void
  children: React.ReactNode
  testId?: string
  wide?: boolean
}

/** A dialog over the app. Esc and a click outside close it; focus moves in and comes back. */
export function Modal({ title, onClose, children, testId, wide }: ModalProps) {
  const box = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null
    const first = box.current?.querySelector<HTMLElement>('input, textarea, select, button:not(.modal-close)')
    ;(first ?? box.current)?.focus()
    return () => before?.focus?.()
  }, [])
  return (
    <div
      className="modal-backdrop"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose()
      }}
    >
      <div
        ref={box}
        className={`modal${wide ? ' wide' : ''}`}
        role="dialog"
        aria-modal="true"
        aria-label={title}
        data-testid={testId}
        tabIndex={-1}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation()
            onClose()
          }
        }}
      >
        <div className="modal-head">
          <h2>{title}</h2>
          <button type="button" className="icon-btn modal-close" onClick={onClose} aria-label="Close">
            <CloseIcon />
          </button>
        </div>
        <div className="modal-body">{children}</div>
      </div>
    </div>
  )
}
