import { fireEvent, render, screen, within } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { TimelineItem } from './TimelineItem'
import { attachmentsOf, fileUrl, formatBytes, refusalText, typeLabel } from '../../api/files'
import { nameOf } from '../../lib/format'
import { ME, item } from '../../test/fixtures'

const sha = (c: string) => c.repeat(64)

describe('attachments', () => {
  it('shows images as thumbnails that open a viewer, other files as chips that download', () => {
    const it1 = item('message.sent', {
      actor: ME,
      mine: true,
      text: '',
      data: {
        text: '',
        attachments: [
          { id: sha('a'), sha256: sha('a'), name: 'screen.png', size: 2048, type: 'image/png' },
          { id: sha('b'), sha256: sha('b'), name: 'invoice.pdf', size: 1_500_000, type: 'application/pdf' },
        ],
      },
    })
    render(<TimelineItem item={it1} name={(p) => nameOf(p)} highlighted={false} onRetry={vi.fn()} onDiscard={vi.fn()} />)
    expect(screen.queryByTestId('item-text')).toBeNull() // files only: no empty bubble
    const thumb = screen.getByTestId('attachment-thumb')
    expect(within(thumb).getByRole('img').getAttribute('src')).toBe(`/files/${sha('a')}?name=screen.png`)
    const chip = screen.getByTestId('attachment-chip')
    expect(chip.textContent).toContain('invoice.pdf')
    expect(chip.textContent).toContain('PDF · 1.5 MB')
    expect(chip.getAttribute('download')).toBe('invoice.pdf')
    expect(chip.getAttribute('href')).toBe(`/files/${sha('b')}?name=invoice.pdf&download=1`)
    fireEvent.click(thumb)
    expect(screen.getByTestId('image-viewer')).toBeTruthy()
    fireEvent.keyDown(window, { key: 'Escape' })
    expect(screen.queryByTestId('image-viewer')).toBeNull()
  })

  it('words sizes, types and refusals', () => {
    expect(formatBytes(12)).toBe('12 bytes')
    expect(formatBytes(340_000)).toBe('340 KB')
    expect(formatBytes(25 * 1000 * 1000)).toBe('25 MB')
    expect(typeLabel('text/plain; charset=utf-8')).toBe('Text')
    expect(refusalText('big.zip', 413)).toContain('too large')
    expect(refusalText('run.sh', 415)).toContain('cannot be attached')
    expect(attachmentsOf({ attachments: [{ id: 'x' }, 3] })).toHaveLength(1)
    expect(fileUrl({ id: 'ab', name: 'a b.png' })).toBe('/files/ab?name=a%20b.png')
  })
})
