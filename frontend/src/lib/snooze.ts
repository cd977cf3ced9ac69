// The times a conversation can be snoozed until: in an hour, tomorrow at 9:00, next Monday at
// 9:00, or one the user picks. Local time, computed from `now` (tests pass a fixed one).

export interface SnoozeChoice {
  key: 'hour' | 'tomorrow' | 'monday'
  label: string
  until: number // Unix ms
}

const HOUR = 3_600_000

/** 9:00 local time, `days` days after now's day. */
function nineOClock(now: Date, days: number): Date {
  const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() + days, 9, 0, 0, 0)
  return d
}

export function snoozeChoices(now: Date = new Date()): SnoozeChoice[] {
  const tomorrow = nineOClock(now, 1)
  // Next Monday: the Monday after today (a week on, on a Monday).
  const toMonday = ((8 - now.getDay()) % 7) || 7
  const monday = nineOClock(now, toMonday)
  return [
    { key: 'hour', label: 'In 1 hour', until: now.getTime() + HOUR },
    { key: 'tomorrow', label: 'Tomorrow, 9:00', until: tomorrow.getTime() },
    { key: 'monday', label: 'Next Monday, 9:00', until: monday.getTime() },
  ]
}

/** The value of a datetime-local input for time t (local time, to the minute). */
export function toLocalInput(t: number): string {
  const d = new Date(t)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`
}

/** The time a datetime-local input's value names (local time), or NaN. */
export function fromLocalInput(v: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(v)
  if (!m) return NaN
  return new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]).getTime()
}

/** When a snoozed conversation wakes, short: "14:05" today, "tomorrow 9:00", "Mon 9:00" within a
 * week, else "Mar 4, 9:00". */
export function wakeLabel(until: number, now: number = Date.now()): string {
  const d = new Date(until)
  const n = new Date(now)
  const time = `${d.getHours()}:${String(d.getMinutes()).padStart(2, '0')}`
  const day = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime()
  const days = Math.round((day(d) - day(n)) / 86_400_000)
  if (days <= 0) return time
  if (days === 1) return `tomorrow ${time}`
  if (days < 7) return `${d.toLocaleDateString(undefined, { weekday: 'short' })} ${time}`
  return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })}, ${time}`
}
