import { act, fireEvent, render, screen, waitFor } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'
import { setTransport } from '../api'
import { playChime } from '../lib/sound'
import { renderApp } from '../test/app'
import { fakeTransport } from '../test/fakeTransport'
import { NotificationSettings } from './NotificationSettings'

vi.mock('../lib/sound', () => ({ playChime: vi.fn() }))

describe('desktop notifications, the UI’s part', () => {
  it('tells the Go side whether the window has the user’s attention, as it changes', async () => {
    const { t } = renderApp()
    await screen.findAllByTestId('inbox-row')
    await waitFor(() => expect(t.callsTo('SetFocused')).toEqual([[true]]))
    vi.mocked(document.hasFocus).mockReturnValue(false)
    act(() => void window.dispatchEvent(new Event('blur')))
    await waitFor(() => expect(t.callsTo('SetFocused')).toEqual([[true], [false]]))
    vi.mocked(document.hasFocus).mockReturnValue(true)
    act(() => void window.dispatchEvent(new Event('focus')))
    await waitFor(() => expect(t.callsTo('SetFocused')).toEqual([[true], [false], [true]]))
  })

  it('opens the conversation of a clicked notification, and plays the sound when asked', async () => {
    const { t } = renderApp()
    await screen.findAllByTestId('inbox-row')
    act(() => t.emit('conversation:open', { conv: 'c7' }))
    expect(await screen.findByTestId('conversation')).toHaveAttribute('data-conv', 'c7')
    expect(document.querySelector('.inbox-row.active')).toHaveAttribute('data-index', '7')
    act(() => t.emit('notify:sent', { conv: 'c7', sound: false }))
    expect(playChime).not.toHaveBeenCalled()
    act(() => t.emit('notify:sent', { conv: 'c7', sound: true }))
    expect(playChime).toHaveBeenCalledTimes(1)
  })

  it('has its switches in Settings', async () => {
    let saved = { desktop: true, sound: false }
    const t = fakeTransport({
      NotifySettings: () => saved,
      SetNotifySettings: (s: typeof saved) => {
        saved = s
      },
    })
    setTransport(t)
    render(<NotificationSettings />)
    const desktop = await screen.findByTestId('settings-notify-desktop')
    await waitFor(() => expect(desktop).toBeChecked())
    const sound = screen.getByTestId('settings-notify-sound')
    expect(sound).not.toBeChecked()
    fireEvent.click(sound)
    await waitFor(() => expect(t.callsTo('SetNotifySettings')).toEqual([[{ desktop: true, sound: true }]]))
    fireEvent.click(desktop)
    await waitFor(() => expect(saved).toEqual({ desktop: false, sound: true }))
    expect(sound).toBeDisabled()
  })
})
