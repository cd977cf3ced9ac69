import { fireEvent, render, screen, waitFor } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { AttributesPanel } from './AttributesPanel'
import { TagsEditor, checkTag } from './TagsEditor'
import { ThreadDialog } from './ThreadDialog'
import { validateSettings } from '../Settings'
import type { AttributeDef } from '../../api/types'

const defs: AttributeDef[] = [
  { key: 'plan', type: 'enum', values: ['free', 'pro'] },
  { key: 'seats', type: 'number' },
  { key: 'vip', type: 'bool' },
  { key: 'company', type: 'string' },
]

describe('AttributesPanel', () => {
  it('shows typed inputs with current values', () => {
    render(<AttributesPanel defs={defs} values={{ plan: 'pro', seats: 12, vip: true, company: 'Acme', legacy: 'x' }} onSet={async () => null} />)
    expect(screen.getByTestId('attr-input-plan')).toHaveValue('pro')
    expect(screen.getByTestId('attr-input-plan').tagName).toBe('SELECT')
    expect(screen.getByTestId('attr-input-seats')).toHaveAttribute('type', 'number')
    expect(screen.getByTestId('attr-input-seats')).toHaveValue(12)
    expect(screen.getByTestId('attr-input-vip')).toBeChecked()
    expect(screen.getByTestId('attr-input-company')).toHaveValue('Acme')
    expect(screen.getByText('legacy')).toBeInTheDocument() // not defined: shown read-only
  })

  it('sets values of the right type, clears them, and shows errors', async () => {
    const onSet = vi.fn(async (key: string) => (key === 'company' ? 'invalid_attribute: company is too long' : null))
    render(<AttributesPanel defs={defs} values={{ seats: 3 }} onSet={onSet} />)
    fireEvent.change(screen.getByTestId('attr-input-plan'), { target: { value: 'free' } })
    expect(onSet).toHaveBeenLastCalledWith('plan', 'free')
    fireEvent.click(screen.getByTestId('attr-input-vip'))
    expect(onSet).toHaveBeenLastCalledWith('vip', true)
    const seats = screen.getByTestId('attr-input-seats')
    fireEvent.change(seats, { target: { value: '25' } })
    fireEvent.keyDown(seats, { key: 'Enter' })
    expect(onSet).toHaveBeenLastCalledWith('seats', 25)
    await waitFor(() => expect(screen.getByTestId('attr-clear-seats')).toBeEnabled())
    fireEvent.click(screen.getByTestId('attr-clear-seats'))
    expect(onSet).toHaveBeenLastCalledWith('seats', null)
    const company = screen.getByTestId('attr-input-company')
    fireEvent.change(company, { target: { value: 'A very long name' } })
    fireEvent.blur(company)
    expect(await screen.findByTestId('attr-error-company')).toHaveTextContent('company is too long')
  })
})

describe('TagsEditor', () => {
  it('normalizes and checks tags like the reducer', () => {
    expect(checkTag('  Billing ', [])).toEqual({ tag: 'billing' })
    expect(checkTag('x'.repeat(33), []).error).toMatch(/at most 32/)
    expect(checkTag('vip', ['vip']).error).toMatch(/Already/)
    expect(checkTag('new', Array.from({ length: 20 }, (_, i) => `t${i}`)).error).toBe('At most 20 tags per conversation')
  })

  it('adds and removes tags and shows the backend error', async () => {
    const onChange = vi.fn(async (add: string[]) => (add[0] === 'broken' ? 'invalid: too many tags' : null))
    render(<TagsEditor tags={['billing']} onChange={onChange} />)
    const input = screen.getByTestId('tag-input')
    fireEvent.change(input, { target: { value: 'VIP' } })
    fireEvent.keyDown(input, { key: 'Enter' })
    await waitFor(() => expect(onChange).toHaveBeenLastCalledWith(['vip'], []))
    fireEvent.click(screen.getByTestId('remove-tag-billing'))
    await waitFor(() => expect(onChange).toHaveBeenLastCalledWith([], ['billing']))
    fireEvent.change(input, { target: { value: 'broken' } })
    fireEvent.keyDown(input, { key: 'Enter' })
    expect(await screen.findByTestId('tags-error')).toHaveTextContent('invalid: too many tags')
  })
})

describe('ThreadDialog', () => {
  it('needs a topic of at most 200 characters', async () => {
    const onStart = vi.fn(async () => null)
    const onClose = vi.fn()
    render(<ThreadDialog onStart={onStart} onClose={onClose} />)
    const submit = screen.getByTestId('thread-start-submit')
    expect(submit).toBeDisabled()
    fireEvent.change(screen.getByTestId('thread-topic'), { target: { value: 'x'.repeat(201) } })
    expect(submit).toBeDisabled()
    expect(screen.getByText('201/200')).toHaveClass('over')
    fireEvent.change(screen.getByTestId('thread-topic'), { target: { value: '  Customer server offline (Ticket #1929383) ' } })
    fireEvent.click(submit)
    await waitFor(() => expect(onStart).toHaveBeenCalledWith('Customer server offline (Ticket #1929383)'))
    await waitFor(() => expect(onClose).toHaveBeenCalled())
  })

  it('shows why the backend refused', async () => {
    render(<ThreadDialog onStart={async () => 'forbidden: not in this conversation'} onClose={() => {}} />)
    fireEvent.change(screen.getByTestId('thread-topic'), { target: { value: 'Topic' } })
    fireEvent.click(screen.getByTestId('thread-start-submit'))
    expect(await screen.findByTestId('thread-error')).toHaveTextContent('forbidden: not in this conversation')
  })
})

describe('settings validation', () => {
  it('wants a relay address, a workspace and a token', () => {
    expect(validateSettings('', '', '', false)).toEqual({
      relayUrl: 'Enter the relay’s address',
      workspace: 'Enter the workspace id',
      token: 'Enter your agent token',
    })
    expect(validateSettings('relay.example.com', 'acme', 't', false).relayUrl).toMatch(/Use an address like/)
    expect(validateSettings('ftp://x', 'acme', 't', false).relayUrl).toMatch(/Use an address like/)
    expect(validateSettings('wss://relay.example.com', 'ac me', 't', false).workspace).toMatch(/Letters/)
    expect(validateSettings('http://127.0.0.1:8470', 'acme', '', true)).toEqual({})
    expect(validateSettings('wss://relay.example.com', 'acme', 'tok', false)).toEqual({})
  })
})
