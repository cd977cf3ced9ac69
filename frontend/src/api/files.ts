// Attachments' bytes (DESIGN §10) travel over the app's files route, not the bindings, which
// carry JSON: POST /files/?name=… stores a file on this device (content-addressed) and answers
// its Attachment; GET /files/<sha256> serves it, from the device or fetched from the relay.
// The same paths work in the Wails window (its asset server) and in browser mode.
import { getTransport } from '.'

/** A file a message or note carries (backend/conv Attachment). */
export interface Attachment {
  id: string
  name: string
  size: number
  type: string
  sha256: string
}

/** At most this many files on one message (conv.MaxAttachments). */
export const MAX_ATTACHMENTS = 10
/** One file's limit (conv.MaxFileBytes). */
export const MAX_FILE_BYTES = 25 << 20

/** Where the UI reads a file; download asks for it as a download whatever its type. */
export function fileUrl(a: Pick<Attachment, 'id' | 'name'>, download = false): string {
  return `/files/${encodeURIComponent(a.id)}?name=${encodeURIComponent(a.name)}${download ? '&download=1' : ''}`
}

/** "1.2 MB", "340 KB", "12 bytes". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return ''
  if (n < 1000) return `${n} ${n === 1 ? 'byte' : 'bytes'}`
  if (n < 1000 * 1000) return `${Math.round(n / 100) / 10} KB`.replace('.0 ', ' ')
  return `${Math.round(n / 100000) / 10} MB`.replace('.0 ', ' ')
}

/** A short name for a type: "PDF", "PNG image", "ZIP", else the type itself. */
export function typeLabel(t: string): string {
  const base = (t || '').split(';')[0].trim()
  const known: Record<string, string> = {
    'application/pdf': 'PDF',
    'application/zip': 'ZIP',
    'text/plain': 'Text',
    'text/html': 'HTML',
    'text/csv': 'CSV',
    'image/png': 'PNG image',
    'image/jpeg': 'JPEG image',
    'image/gif': 'GIF image',
    'image/webp': 'WebP image',
    'image/svg+xml': 'SVG image',
    'application/octet-stream': 'File',
  }
  return known[base] ?? (base || 'File')
}

/** Whether a file shows inline as a thumbnail (SVG is active content: a download). */
export function isImage(a: Pick<Attachment, 'type'>): boolean {
  return /^image\/(png|jpeg|gif|webp)\b/.test(a.type || '')
}

/** The attachments an item's event data carries. */
export function attachmentsOf(data: unknown): Attachment[] {
  const list = (data as { attachments?: unknown } | null | undefined)?.attachments
  if (!Array.isArray(list)) return []
  return list.filter((a): a is Attachment => !!a && typeof a === 'object' && typeof (a as Attachment).id === 'string')
}

/** Why a file was refused, in words. */
export function refusalText(name: string, status: number, code?: string, message?: string): string {
  if (status === 413 || code === 'too_large') return `“${name}” is too large: a file can be at most ${MAX_FILE_BYTES >> 20} MB`
  if (status === 415 || code === 'unsupported_type') return `“${name}” cannot be attached: programs and scripts are refused`
  if (status === 0) return `“${name}” could not be read`
  return `“${name}” could not be attached${message ? `: ${message}` : ''}`
}

export interface Upload {
  promise: Promise<Attachment>
  abort(): void
}

/** The error of a refused or failed upload; aborted is true after abort(). */
export class UploadError extends Error {
  constructor(
    message: string,
    readonly aborted = false,
  ) {
    super(message)
  }
}

/** Stores file on this device, telling progress (0..1) as it goes. */
export function uploadFile(file: Blob, name: string, onProgress?: (fraction: number) => void): Upload {
  const xhr = new XMLHttpRequest()
  let aborted = false
  const promise = new Promise<Attachment>((resolve, reject) => {
    if (file.size > MAX_FILE_BYTES) {
      reject(new UploadError(refusalText(name, 413)))
      return
    }
    xhr.open('POST', `/files/?name=${encodeURIComponent(name)}`)
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress?.(e.loaded / e.total)
    }
    xhr.onload = () => {
      let body: { error?: { code?: string; message?: string } } & Partial<Attachment> = {}
      try {
        body = JSON.parse(xhr.responseText || '{}')
      } catch {
        /* not JSON: the status says it */
      }
      if (xhr.status === 201 || xhr.status === 200) {
        onProgress?.(1)
        resolve(body as Attachment)
        return
      }
      reject(new UploadError(refusalText(name, xhr.status, body.error?.code, body.error?.message)))
    }
    xhr.onerror = () => reject(new UploadError(refusalText(name, 0)))
    xhr.onabort = () => reject(new UploadError(`“${name}” removed`, true))
    xhr.send(file)
  })
  return {
    promise,
    abort() {
      if (!aborted) {
        aborted = true
        xhr.abort()
      }
    },
  }
}

/** Sends a reply (or, note true, adds a note) carrying files; text may be empty. */
export function sendWithFiles(convId: string, text: string, files: Attachment[], note: boolean): Promise<unknown> {
  return getTransport().call(note ? 'AddNoteFiles' : 'SendFiles', [convId, text, files])
}

/** The cap, in bytes, of the files this device keeps for offline viewing. */
export function fileCacheLimit(): Promise<number> {
  return getTransport().call('FileCacheLimit', []) as Promise<number>
}

/** Sets that cap (0: the default) and trims the kept files to it. */
export function setFileCacheLimit(bytes: number): Promise<unknown> {
  return getTransport().call('SetFileCacheLimit', [bytes])
}
