// Every failure the UI sees is an ApiError {code, message}, whichever transport carried it.

/** Codes the Go side puts before ": " in an error string (the rejection codes of DESIGN §5 and
 * the app's own). Any other prefix is part of the message, and the code is "error". */
export const KNOWN_CODES = [
  'stale',
  'no_such_thread',
  'no_such_conversation',
  'forbidden',
  'unknown_attribute',
  'invalid_attribute',
  'conflict',
  'invalid',
  'too_large',
  'not_found',
  'not_ready', // the Go side before its store is open
  // Connect's: the relay could not be reached, or refused (the message is a sentence for people)
  'offline',
  'unauthorized',
  'unknown_workspace',
  'unsupported_protocol',
] as const

export type ErrorCode = (typeof KNOWN_CODES)[number] | 'error' | 'network' | (string & {})

export class ApiError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    super(message)
    this.name = 'ApiError'
    this.code = code
  }
  toJSON() {
    return { code: this.code, message: this.message }
  }
}

const known = new Set<string>(KNOWN_CODES)

/** Splits "stale: a new message arrived …" into {code: "stale", message: "a new message arrived …"}. */
export function parseErrorString(s: string): ApiError {
  const text = s.trim()
  const i = text.indexOf(': ')
  if (i > 0) {
    const head = text.slice(0, i)
    if (known.has(head)) return new ApiError(head, text.slice(i + 2))
  }
  if (known.has(text)) return new ApiError(text, text.replace(/_/g, ' '))
  return new ApiError('error', text || 'Something went wrong')
}

/** Normalizes whatever a transport rejected with: an error string (Wails), an {code, message}
 * object (HTTP bridge, possibly wrapped in {error: …}), an Error, or anything else. */
export function normalizeError(e: unknown): ApiError {
  if (e instanceof ApiError) return e
  if (typeof e === 'string') return parseErrorString(e)
  if (e && typeof e === 'object') {
    const o = e as Record<string, unknown>
    if (o.error && typeof o.error === 'object') return normalizeError(o.error)
    if (typeof o.error === 'string') return parseErrorString(o.error)
    if (typeof o.code === 'string' && o.code) {
      const msg = typeof o.message === 'string' && o.message ? o.message : o.code
      return new ApiError(o.code, msg)
    }
    if (typeof o.message === 'string') return parseErrorString(o.message)
  }
  return new ApiError('error', e === undefined || e === null ? 'Something went wrong' : String(e))
}

/** A one-line, human message for an error. */
export function describeError(e: unknown): string {
  const err = normalizeError(e)
  return err.message
}
