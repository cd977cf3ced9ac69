import { useEffect, useRef, useState } from 'react'
import { api, describeError } from '../api'
import type { ConnectPlan, Settings, Status } from '../api/types'
import { plural } from '../lib/format'
import { FileCacheSetting } from './FileCacheSetting'
import { NotificationSettings } from './NotificationSettings'
import { SavedReplies } from './SavedReplies'
import { Modal } from './Modal'
import { connectionText } from './StatusBar'

/** Checks the form; returns an error per field. */
export function validateSettings(relayUrl: string, workspace: string, token: string, hasToken: boolean): Record<string, string> {
  const errors: Record<string, string> = {}
  const url = relayUrl.trim()
  if (!url) errors.relayUrl = 'Enter the relay’s address'
  else {
    let u: URL | null = null
    try {
      u = new URL(url)
    } catch {
      u = null
    }
    if (!u || !['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol) || !u.host)
      errors.relayUrl = 'Use an address like wss://relay.example.com or http://127.0.0.1:8470'
  }
  if (!workspace.trim()) errors.workspace = 'Enter the workspace id'
  else if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(workspace.trim())) errors.workspace = 'Letters, digits, dots, dashes and underscores only'
  if (!token.trim() && !hasToken) errors.token = 'Enter your agent token'
  return errors
}

const sameRelay = (a: string, b: string) => a.trim().replace(/\/+$/, '') === b.trim().replace(/\/+$/, '')

/** Whether a plan changes what the user sees enough to ask first. */
export function needsConfirm(plan: ConnectPlan): boolean {
  if (plan.action === 'switch') return true
  return plan.action === 'first' && (plan.send > 0 || plan.keep > 0)
}

/** The plan in plain words: what goes to the relay, what stays on this computer, and the way back. */
export function planText(plan: ConnectPlan, workspace: string): string[] {
  const lines: string[] = []
  if (plan.action === 'first') {
    if (plan.keep > 0) lines.push(plan.demo ? 'Connecting replaces the sample inbox with your team’s.' : `Connecting shows the inbox of ${workspace} instead of this one.`)
    else lines.push(`Connecting shows the inbox of ${workspace}.`)
    if (plan.send > 0)
      lines.push(`Your ${plural(plan.send, 'conversation')} made on this computer will be sent to the relay, where your team sees ${plan.send === 1 ? 'it' : 'them'}.`)
    if (plan.keep > 0)
      lines.push(
        `The ${plural(plan.keep, plan.demo ? 'sample conversation' : 'other conversation')} ${plan.keep === 1 ? 'stays' : 'stay'} on this computer, kept aside: “Back to the local inbox” in Settings brings ${plan.keep === 1 ? 'it' : 'them'} back.`,
      )
    if (plan.returns) lines.push(`Your inbox from your last connection to ${workspace} comes back.`)
  } else if (plan.action === 'switch') {
    lines.push(`Connecting shows the inbox of ${workspace} instead of ${plan.fromWorkspace ?? 'this one'}.`)
    const pending = plan.pending > 0 ? `, with ${plural(plan.pending, 'change')} not sent yet` : ''
    lines.push(
      `Your inbox of ${plan.fromWorkspace} (${plural(plan.keep, 'conversation')}${pending}) stays on this computer: connect to ${plan.fromWorkspace} again to get it back.`,
    )
    if (plan.returns) lines.push(`Your inbox from your last connection to ${workspace} comes back.`)
  }
  return lines
}

function doneText(plan: ConnectPlan | null, workspace: string): string {
  const parts = [`Connected to ${workspace}.`]
  if (plan?.action === 'first' && plan.send > 0) parts.push(`Your ${plural(plan.send, 'conversation')} ${plan.send === 1 ? 'is' : 'are'} on the way to the relay.`)
  if (plan?.action === 'first' && plan.keep > 0) parts.push('The local inbox is kept on this computer.')
  if (plan?.action === 'resume' && plan.pending > 0) parts.push(`${plural(plan.pending, 'change')} made while disconnected ${plan.pending === 1 ? 'is' : 'are'} being sent.`)
  return parts.join(' ')
}

export function SettingsDialog({ status, onClose, onChanged }: { status: Status | null; onClose: () => void; onChanged: () => void }) {
  const [settings, setSettings] = useState<Settings | null>(null)
  const [relayUrl, setRelayUrl] = useState('')
  const [workspace, setWorkspace] = useState('')
  const [token, setToken] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState<'connect' | 'disconnect' | 'local' | null>(null)
  const [done, setDone] = useState<string | null>(null)
  const [confirm, setConfirm] = useState<ConnectPlan | null>(null)

  // What the user typed is theirs: settings that arrive later (the dialog
  // asks for them as it opens) fill only the fields not typed in.
  const typed = useRef({ relayUrl: false, workspace: false })
  const load = () =>
    api
      .Settings()
      .then((s) => {
        setSettings(s)
        if (!typed.current.relayUrl) setRelayUrl(s?.relayUrl ?? '')
        if (!typed.current.workspace) setWorkspace(s?.workspace ?? '')
      })
      .catch((e) => setError(describeError(e)))
  useEffect(() => {
    void load()
  }, [])

  // A saved token counts for the relay and workspace it was saved for.
  const hasToken = !!settings?.hasToken && sameRelay(relayUrl, settings.relayUrl) && workspace.trim() === settings.workspace

  const connect = async (plan: ConnectPlan | null) => {
    setBusy('connect')
    setError(null)
    setConfirm(null)
    const ws = workspace.trim()
    try {
      await api.Connect(relayUrl.trim(), ws, token.trim())
      setToken('')
      setDone(doneText(plan, ws))
      onChanged()
      await load()
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(null)
    }
  }

  const submit = async (e: React.FormEvent) => {
    e.preventDefault()
    setDone(null)
    setConfirm(null)
    const errs = validateSettings(relayUrl, workspace, token, hasToken)
    setErrors(errs)
    if (Object.keys(errs).length) return
    setError(null)
    let plan: ConnectPlan | null = null
    try {
      plan = await api.ConnectPlan(relayUrl.trim(), workspace.trim())
    } catch {
      plan = null // the Go side will say what is wrong when connecting
    }
    if (plan && needsConfirm(plan)) {
      setConfirm(plan)
      return
    }
    await connect(plan)
  }

  const run = async (what: 'disconnect' | 'local', f: () => Promise<unknown>, message: string) => {
    setBusy(what)
    setError(null)
    setDone(null)
    setConfirm(null)
    try {
      await f()
      setDone(message)
      onChanged()
      await load()
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(null)
    }
  }

  const field = (key: string, label: string, input: React.ReactNode, hint?: string) => (
    <label className="field">
      <span>{label}</span>
      {input}
      {errors[key] ? (
        <span className="field-error" role="alert" data-testid={`settings-error-${key}`}>
          {errors[key]}
        </span>
      ) : (
        hint && <span className="muted small">{hint}</span>
      )}
    </label>
  )

  const who = settings?.me?.name || settings?.me?.id
  let intro: React.ReactNode
  if (settings?.connected)
    intro = (
      <>
        Connected to <strong>{settings.workspace}</strong>
        {who ? ` as ${who}` : ''}. Disconnect to work offline: your team’s inbox stays here, and what you do is sent when you connect again.
      </>
    )
  else if (settings?.disconnected)
    intro = (
      <>
        Disconnected from <strong>{settings.workspace}</strong>. Your team’s inbox stays on this computer, readable and writable; what you do is sent when you connect again.
      </>
    )
  else
    intro = (
      <>
        Threadline works on this computer without a relay. Connect to your team’s relay to share the inbox with your teammates and your contacts; conversations you made here go with you.
      </>
    )
  const locked = busy !== null

  return (
    <Modal title="Connection" onClose={onClose} testId="settings">
      <p className="muted">
        Status: <strong data-testid="settings-status">{connectionText(status)}</strong>.
      </p>
      <p className="muted" data-testid="settings-intro">
        {intro}
      </p>
      <form className="form" onSubmit={submit} noValidate>
        {field(
          'relayUrl',
          'Relay address',
          <input
            className="input"
            value={relayUrl}
            placeholder="wss://relay.example.com"
            onChange={(e) => {
              typed.current.relayUrl = true
              setRelayUrl(e.target.value)
            }}
            aria-invalid={!!errors.relayUrl}
            disabled={locked}
            data-testid="settings-relay-url"
          />,
        )}
        {field(
          'workspace',
          'Workspace',
          <input
            className="input"
            value={workspace}
            placeholder="acme"
            onChange={(e) => {
              typed.current.workspace = true
              setWorkspace(e.target.value)
            }}
            aria-invalid={!!errors.workspace}
            disabled={locked}
            data-testid="settings-workspace"
          />,
        )}
        {field(
          'token',
          'Agent token',
          <input
            className="input"
            type="password"
            autoComplete="off"
            value={token}
            placeholder={hasToken ? '•••••••• (saved; leave empty to keep it)' : 'The token your workspace admin gave you'}
            onChange={(e) => setToken(e.target.value)}
            aria-invalid={!!errors.token}
            disabled={locked}
            data-testid="settings-token"
          />,
          'Stored on this device only.',
        )}
        {error && (
          <div className="inline-alert" role="alert" data-testid="settings-error">
            {error}
          </div>
        )}
        {done && !error && (
          <div className="inline-note" role="status" data-testid="settings-done">
            {done}
          </div>
        )}
        {confirm && (
          <div className="inline-alert warn settings-confirm" role="alertdialog" aria-label="Before connecting" data-testid="settings-confirm">
            {planText(confirm, workspace.trim()).map((l) => (
              <p key={l}>{l}</p>
            ))}
            <div className="form-actions">
              <span className="spacer" />
              <button type="button" className="btn ghost" onClick={() => setConfirm(null)} data-testid="settings-confirm-cancel">
                Cancel
              </button>
              <button type="button" className="btn primary" onClick={() => void connect(confirm)} data-testid="settings-confirm-connect">
                Connect
              </button>
            </div>
          </div>
        )}
        {!confirm && (
          <div className="form-actions">
            {settings?.connected && (
              <button
                type="button"
                className="btn ghost danger"
                onClick={() => void run('disconnect', api.Disconnect, 'Disconnected. Your team’s inbox stays on this computer, readable and writable; changes are sent when you connect again.')}
                disabled={locked}
                data-testid="settings-disconnect"
              >
                {busy === 'disconnect' ? 'Disconnecting…' : 'Disconnect'}
              </button>
            )}
            <span className="spacer" />
            <button type="button" className="btn ghost" onClick={onClose}>
              Close
            </button>
            <button type="submit" className="btn primary" disabled={locked} aria-busy={busy === 'connect'} data-testid="settings-connect">
              {busy === 'connect' ? (
                <>
                  <span className="spinner" aria-hidden="true" /> Connecting…
                </>
              ) : settings?.disconnected && sameRelay(relayUrl, settings.relayUrl) && workspace.trim() === settings.workspace ? (
                'Connect again'
              ) : (
                'Connect'
              )}
            </button>
          </div>
        )}
      </form>
      {settings?.localInbox && (settings.connected || settings.disconnected) && (
        <div className="settings-kept" data-testid="settings-local-inbox">
          <p className="muted small">
            Your local inbox is kept on this computer: {plural(settings.localInbox.conversations, 'conversation')}
            {settings.localInbox.sent > 0 ? `, of which ${settings.localInbox.sent} went to the relay` : ''}, set aside{' '}
            {new Date(settings.localInbox.at).toLocaleDateString()}. Going back to it stops syncing; your team’s inbox stays here and comes back when you connect.
          </p>
          <button
            type="button"
            className="btn ghost small"
            disabled={locked}
            onClick={() => void run('local', api.UseLocalInbox, 'Back to the local inbox. Your team’s inbox stays on this computer: connect again to get it back.')}
            data-testid="settings-use-local"
          >
            {busy === 'local' ? 'Opening…' : 'Back to the local inbox'}
          </button>
        </div>
      )}
      <SavedReplies />
      <NotificationSettings />
      <FileCacheSetting />
    </Modal>
  )
}
