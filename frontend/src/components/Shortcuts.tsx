import { Modal } from './Modal'

export const SHORTCUTS: [string, string][] = [
  ['j', 'Next conversation in the list'],
  ['k', 'Previous conversation in the list'],
  ['Enter', 'Open the selected conversation'],
  ['r', 'Reply'],
  ['n', 'Write an internal note'],
  ['e', 'Resolve (reopen when resolved)'],
  ['z', 'Snooze (the chosen rows, or the open conversation)'],
  ['x', 'Choose the row under the cursor (Shift-click a range, Ctrl-click one)'],
  ['/', 'Search'],
  ['?', 'Show this list'],
  ['Esc', 'Close, or leave the field you type in'],
  ['Enter (in the composer)', 'Send'],
  ['Shift+Enter (in the composer)', 'New line'],
]

export function ShortcutsOverlay({ onClose }: { onClose: () => void }) {
  return (
    <Modal title="Keyboard shortcuts" onClose={onClose} testId="shortcuts-overlay">
      <table className="shortcuts">
        <tbody>
          {SHORTCUTS.map(([k, what]) => (
            <tr key={k}>
              <td>
                {k.split(' (')[0].split('+').map((part, i) => (
                  <span key={i}>
                    {i > 0 && '+'}
                    <kbd>{part}</kbd>
                  </span>
                ))}
                {k.includes(' (') && <span className="muted"> {k.slice(k.indexOf(' (') + 1)}</span>}
              </td>
              <td>{what}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">Shortcuts do nothing while you type in a field, except Esc.</p>
    </Modal>
  )
}
