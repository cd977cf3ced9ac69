import { useEffect, useState } from 'react'
import { api, describeError } from '../api'
import type { Settings, Status } from '../api/types'
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

export function SettingsDialog({ status, onClose, onChanged }: { status: Status | null; onClose: () => void; onChanged: () => void }) {
  const [settings, setSettings] = useState<Settings | null>(null)
  const [relayUrl, setRelayUrl] = useState('')
  const [workspace, setWorkspace] = useState('')
  const [token, setToken] = useState('')
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const [done, setDone] = useState<string | null>(null)

  useEffect(() => {
    api
      .Settings()
      .then((s) => {
        setSettings(s)
        setRelayUrl(s?.relayUrl ?? '')
        setWorkspace(s?.workspace ?? '')
      })
      .catch((e) => setError(describeError(e)))
  }, [])

  const connect = async (e: React.FormEvent) => {
    e.preventDefault()
    setDone(null)
    const errs = validateSettings(relayUrl, workspace, token, !!settings?.hasToken)
    setErrors(errs)
    if (Object.keys(errs).length) return
    setBusy(true)
    setError(null)
    try {
      await api.Connect(relayUrl.trim(), workspace.trim(), token.trim())
      setToken('')
      setSettings((s) => ({ relayUrl: relayUrl.trim(), workspace: workspace.trim(), hasToken: !!token.trim() || !!s?.hasToken }))
      setDone('Saved. Connecting…')
      onChanged()
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(false)
    }
  }

  const disconnect = async () => {
    setBusy(true)
    setError(null)
    try {
      await api.Disconnect()
      setDone('Disconnected. This device keeps working on its own.')
      onChanged()
    } catch (err) {
      setError(describeError(err))
    } finally {
      setBusy(false)
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

  return (
    <Modal title="Connection" onClose={onClose} testId="settings">
      <p className="muted">
        Status: <strong data-testid="settings-status">{connectionText(status)}</strong>. Threadline works without a relay; connect one to share the inbox with
        your team and your contacts.
      </p>
      <form className="form" onSubmit={connect} noValidate>
        {field(
          'relayUrl',
          'Relay address',
          <input
            className="input"
            value={relayUrl}
            placeholder="wss://relay.example.com"
            onChange={(e) => setRelayUrl(e.target.value)}
            aria-invalid={!!errors.relayUrl}
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
            onChange={(e) => setWorkspace(e.target.value)}
            aria-invalid={!!errors.workspace}
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
            placeholder={settings?.hasToken ? '•••••••• (saved; leave empty to keep it)' : 'The token your workspace admin gave you'}
            onChange={(e) => setToken(e.target.value)}
            aria-invalid={!!errors.token}
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
          <div className="inline-note" role="status">
            {done}
          </div>
        )}
        <div className="form-actions">
          {settings?.relayUrl && (
            <button type="button" className="btn ghost danger" onClick={disconnect} disabled={busy} data-testid="settings-disconnect">
              Disconnect
            </button>
          )}
          <span className="spacer" />
          <button type="button" className="btn ghost" onClick={onClose}>
            Close
          </button>
          <button type="submit" className="btn primary" disabled={busy} data-testid="settings-connect">
            Connect
          </button>
        </div>
      </form>
    </Modal>
  )
}
