import { useEffect, useState } from 'react'
import { type Attachment, fileUrl, formatBytes, isImage, typeLabel } from '../../api/files'

/** A message's or note's files: images as thumbnails (a viewer on click), others as chips that download. */
export function AttachmentList({ files }: { files: Attachment[] }) {
  const [open, setOpen] = useState<Attachment | null>(null)
  if (files.length === 0) return null
  const images = files.filter(isImage)
  const others = files.filter((a) => !isImage(a))
  return (
    <div className="attachments" data-testid="attachments">
      {images.length > 0 && (
        <div className="att-thumbs">
          {images.map((a) => (
            <button type="button" key={a.id} className="att-thumb" title={`${a.name} · ${formatBytes(a.size)}`} onClick={() => setOpen(a)} data-testid="attachment-thumb">
              <img src={fileUrl(a)} alt={a.name} loading="lazy" />
            </button>
          ))}
        </div>
      )}
      {others.map((a) => (
        <a key={a.id} className="att-chip" href={fileUrl(a, true)} download={a.name} data-testid="attachment-chip" title={`Download ${a.name}`}>
          <span className="att-chip-name">{a.name}</span>
          <span className="att-chip-meta">
            {typeLabel(a.type)} · {formatBytes(a.size)}
          </span>
        </a>
      ))}
      {open && <ImageViewer file={open} onClose={() => setOpen(null)} />}
    </div>
  )
}

/** The full image over the app; Escape or a click closes it. */
export function ImageViewer({ file, onClose }: { file: Attachment; onClose: () => void }) {
  useEffect(() => {
    const key = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation()
        onClose()
      }
    }
    window.addEventListener('keydown', key, true)
    return () => window.removeEventListener('keydown', key, true)
  }, [onClose])
  return (
    <div className="att-viewer" role="dialog" aria-label={file.name} data-testid="image-viewer" onClick={onClose}>
      <img src={fileUrl(file)} alt={file.name} onClick={(e) => e.stopPropagation()} />
      <div className="att-viewer-bar" onClick={(e) => e.stopPropagation()}>
        <span>
          {file.name} · {formatBytes(file.size)}
        </span>
        <a className="btn tiny" href={fileUrl(file, true)} download={file.name}>
          Download
        </a>
        <button type="button" className="btn tiny ghost" onClick={onClose} data-testid="image-viewer-close">
          Close
        </button>
      </div>
    </div>
  )
}

/** A file in the composer: its name, size, a progress bar while it is stored, and remove (cancel while storing). */
export interface DraftFile {
  key: string
  name: string
  size: number
  progress: number // 0..1
  att?: Attachment
  error?: string
  abort?: () => void
}

export function DraftFiles({ files, onRemove }: { files: DraftFile[]; onRemove: (key: string) => void }) {
  if (files.length === 0) return null
  return (
    <ul className="draft-files" data-testid="draft-files">
      {files.map((f) => {
        const uploading = !f.att && !f.error
        return (
          <li key={f.key} className={`draft-file${f.error ? ' error' : ''}`} data-testid="draft-file" data-state={f.error ? 'error' : uploading ? 'uploading' : 'ready'}>
            <span className="draft-file-name">{f.name}</span>
            <span className="draft-file-size">{formatBytes(f.size)}</span>
            {uploading && (
              <progress className="draft-file-progress" max={1} value={f.progress} aria-label={`Attaching ${f.name}`} data-testid="draft-file-progress" />
            )}
            {f.error && (
              <span className="draft-file-error" role="alert">
                {f.error}
              </span>
            )}
            <button
              type="button"
              className="btn tiny ghost"
              onClick={() => onRemove(f.key)}
              aria-label={uploading ? `Cancel ${f.name}` : `Remove ${f.name}`}
              data-testid="draft-file-remove"
            >
              {uploading ? 'Cancel' : 'Remove'}
            </button>
          </li>
        )
      })}
    </ul>
  )
}
