import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Composer } from './Composer'
import { setTransport } from '../../api'
import { fakeTransport } from '../../test/fakeTransport'

const SHA = 'c'.repeat(64)

// A fake XMLHttpRequest: each send answers with the next of `answers`, after a progress tick.
let answers: { status: number; body: unknown }[] = []
const sent: { url: string; body: unknown }[] = []
class FakeXHR {
  status = 0
  responseText = ''
  upload: { onprogress?: (e: { lengthComputable: boolean; loaded: number; total: number }) => void } = {}
  onload?: () => void
  onerror?: () => void
  onabort?: () => void
  url = ''
  open(_m: string, url: string) {
    this.url = url
  }
  send(body: unknown) {
    sent.push({ url: this.url, body })
    const a = answers.shift() ?? { status: 201, body: {} }
    setTimeout(() => {
      this.upload.onprogress?.({ lengthComputable: true, loaded: 5, total: 10 })
      this.status = a.status
      this.responseText = JSON.stringify(a.body)
      this.onload?.()
    }, 0)
  }
  abort() {
    this.onabort?.()
  }
}

beforeEach(() => {
  answers = []
  sent.length = 0
  vi.stubGlobal('XMLHttpRequest', FakeXHR)
})
afterEach(() => vi.unstubAllGlobals())

function setup() {
  const t = fakeTransport({ Draft: () => '', SendFiles: () => ({ id: 'e1' }), AddNoteFiles: () => ({ id: 'e2' }) })
  setTransport(t)
  render(<Composer convId="c1" contactName="Maria" canReply onSending={() => 'tok'} onSettled={() => {}} />)
  return { t, input: screen.getByTestId('composer-input') as HTMLTextAreaElement }
}

describe('Composer files', () => {
  it('a pasted screenshot is stored, then sent with the reply', async () => {
    const { t, input } = setup()
    answers.push({ status: 201, body: { id: SHA, sha256: SHA, name: 'x.png', size: 10, type: 'image/png' } })
    fireEvent.change(input, { target: { value: 'see this' } })
    const file = new File([new Uint8Array(10)], 'image.png', { type: 'image/png' })
    fireEvent.paste(input, { clipboardData: { files: [file] } })
    await waitFor(() => expect(screen.getByTestId('draft-file').getAttribute('data-state')).toBe('ready'))
    expect(sent[0].url).toMatch(/^\/files\/\?name=screenshot-/)
    fireEvent.click(screen.getByTestId('composer-send'))
    await waitFor(() => expect(t.callsTo('SendFiles')).toHaveLength(1))
    expect(t.callsTo('SendFiles')[0]).toEqual(['c1', 'see this', [{ id: SHA, sha256: SHA, name: 'x.png', size: 10, type: 'image/png' }]])
    await waitFor(() => expect(screen.queryByTestId('draft-file')).toBeNull())
  })

  it('a refused file says why in words, keeps the text, and can be removed', async () => {
    const { t, input } = setup()
    answers.push({ status: 415, body: { error: { code: 'unsupported_type', message: 'programs and scripts cannot be attached' } } })
    fireEvent.change(input, { target: { value: 'my words' } })
    fireEvent.change(screen.getByTestId('composer-file-input'), { target: { files: [new File(['#!/bin/sh'], 'run.sh')] } })
    await waitFor(() => expect(screen.getByTestId('draft-file').getAttribute('data-state')).toBe('error'))
    expect(screen.getByTestId('draft-file').textContent).toContain('“run.sh” cannot be attached')
    expect(input.value).toBe('my words')
    fireEvent.click(screen.getByTestId('draft-file-remove'))
    expect(screen.queryByTestId('draft-file')).toBeNull()
    expect(t.callsTo('SendFiles')).toHaveLength(0)
  })
})
