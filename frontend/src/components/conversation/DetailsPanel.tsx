import type { AttributeDef, AttrValue, Conversation, Me, Participant, Priority, Row } from '../../api/types'
import { api } from '../../api'
import { PRIORITIES } from '../../api/types'
import { bareId, fullTime } from '../../lib/format'
import { assignable } from '../../lib/team'
import { Avatar } from '../Avatar'
import { AttributesPanel } from './AttributesPanel'
import { ContactHistory } from './ContactHistory'
import { TagsEditor } from './TagsEditor'

export interface DetailsPanelProps {
  id: string
  c: Conversation
  row: Row
  me: Me | null
  teammates: Participant[]
  attrDefs: AttributeDef[]
  /** The conversation's namer (the contact by its name, the team by theirs). */
  name: (p: Participant | null | undefined) => string
  contactName: string
  contactEmail?: string | null
  visitor: boolean
  /** My participation (joined, or supervising), if any. */
  mine?: Participant
  /** The pane's one way to run an action (ConversationPane's perform). */
  perform: (key: string, fn: () => Promise<unknown>, inline?: boolean) => Promise<string | null>
  onOpenConversation?: (id: string) => void
  onClose: () => void
}

/** The details beside the timeline: the contact and its history, priority, assignee, tags,
 * participants, attributes. */
export function DetailsPanel({ id, c, row, me, teammates, attrDefs, name, contactName, contactEmail, visitor, mine, perform, onOpenConversation, onClose }: DetailsPanelProps) {
  return (
    <aside className="details" data-testid="details" aria-label="Conversation details">
      <div className="details-head">
        <span className="details-title">Details</span>
        <button type="button" className="icon-btn small" aria-label="Close details" title="Close details" onClick={onClose} data-testid="details-close">
          ×
        </button>
      </div>
      <section data-testid="details-contact">
        <h3>{visitor ? 'Visitor' : 'Contact'}</h3>
        <div className="details-contact">
          <Avatar id={c.contact.id} name={contactName} size={28} />
          <div className="details-contact-text">
            <div className="details-contact-name" data-testid="details-contact-name">
              {contactName}
            </div>
            {contactEmail && (
              <div className="details-contact-email" data-testid="details-contact-email">
                {contactEmail}
              </div>
            )}
            {!visitor && (
              <div className="details-contact-id muted" data-testid="details-contact-id">
                Contact ID {bareId(c.contact.id)}
              </div>
            )}
          </div>
        </div>
        <ContactHistory convId={id} contactId={c.contact.id} refreshKey={row.lastActivityAt} onOpen={onOpenConversation} />
      </section>
      <section>
        <h3>Priority</h3>
        <select
          className="input small"
          value={c.priority}
          onChange={(e) => void perform('priority', () => api.SetPriority(id, e.target.value as Priority))}
          data-testid="priority-select"
          aria-label="Priority"
        >
          {PRIORITIES.map((p) => (
            <option key={p} value={p}>
              {p[0].toUpperCase() + p.slice(1)}
            </option>
          ))}
        </select>
      </section>
      <section>
        <h3>Assignee</h3>
        <select
          className="input small"
          value={c.assignee?.id ?? ''}
          onChange={(e) => void perform('assign', () => api.Assign(id, e.target.value))}
          data-testid="assign-select"
          aria-label="Assignee"
        >
          <option value="">Unassigned</option>
          {me && <option value={me.id}>{!me.name || me.name === 'You' ? 'Me' : `${me.name} (you)`}</option>}
          {assignable(teammates)
            .filter((t) => t.id !== me?.id)
            .map((t) => (
              <option key={t.id} value={t.id}>
                {name(t)}
              </option>
            ))}
          {c.assignee && c.assignee.id !== me?.id && !teammates.some((t) => t.id === c.assignee!.id) && (
            <option value={c.assignee.id}>{name(c.assignee)}</option>
          )}
        </select>
      </section>
      <section>
        <h3>Tags</h3>
        <TagsEditor
          tags={c.tags ?? []}
          onChange={(add, remove) => perform('tags', () => api.ChangeTags(id, add, remove), true)}
        />
      </section>
      <section>
        <h3>Participants</h3>
        <ul className="participants" data-testid="participants">
          {(c.participants ?? []).length === 0 && <li className="muted">No teammate has joined</li>}
          {(c.participants ?? []).map((p) => (
            <li key={p.id}>
              <Avatar id={p.id} name={name(p)} size={18} />
              <span>{p.id === me?.id ? `${name(p)} (you)` : name(p)}</span>
              {p.role === 'supervisor' && <span className="muted"> · supervising</span>}
            </li>
          ))}
        </ul>
        <div className="row-buttons">
          {mine ? (
            <button type="button" className="btn small" onClick={() => void perform('leave', () => api.Leave(id))} data-testid="leave-button">
              Leave
            </button>
          ) : (
            <>
              <button type="button" className="btn small" onClick={() => void perform('join', () => api.Join(id, 'agent'))} data-testid="join-button">
                Join
              </button>
              <button
                type="button"
                className="btn small"
                onClick={() => void perform('join', () => api.Join(id, 'supervisor'))}
                data-testid="supervise-button"
                title="Join as supervisor: read and add notes, without replying"
              >
                Supervise
              </button>
            </>
          )}
        </div>
      </section>
      <section>
        <h3>Attributes</h3>
        <AttributesPanel
          defs={attrDefs}
          values={(c.attributes ?? {}) as Record<string, AttrValue>}
          onSet={(key: string, value: AttrValue) => perform('attributes', () => api.SetAttributes(id, { [key]: value }), true)}
        />
      </section>
      <section className="details-meta muted">
        <div>Created {fullTime(c.createdAt)}</div>
        <div>
          {c.messages} messages · {c.notes} notes · {c.threads} threads
        </div>
      </section>
    </aside>
  )
}
