import { describe, expect, it } from 'vitest'
import { fromLocalInput, snoozeChoices, toLocalInput, wakeLabel } from './snooze'

describe('snoozeChoices', () => {
  it('offers an hour from now, tomorrow at 9 and next Monday at 9', () => {
    const wed = new Date(2026, 11, 2, 15, 30) // Wednesday 2 December 2026, 15:30
    const [hour, tomorrow, monday] = snoozeChoices(wed)
    expect(hour.until).toBe(wed.getTime() + 3_600_000)
    expect(new Date(tomorrow.until)).toEqual(new Date(2026, 11, 3, 9, 0))
    expect(new Date(monday.until)).toEqual(new Date(2026, 11, 7, 9, 0))
  })
  it('takes the Monday after, on a Monday or a Sunday', () => {
    expect(new Date(snoozeChoices(new Date(2026, 11, 7, 8, 0))[2].until)).toEqual(new Date(2026, 11, 14, 9, 0))
    expect(new Date(snoozeChoices(new Date(2026, 11, 6, 20, 0))[2].until)).toEqual(new Date(2026, 11, 7, 9, 0))
  })
  it('round-trips a chosen time through the input', () => {
    const t = new Date(2027, 0, 5, 7, 45).getTime()
    expect(toLocalInput(t)).toBe('2027-01-05T07:45')
    expect(fromLocalInput(toLocalInput(t))).toBe(t)
    expect(fromLocalInput('soon')).toBeNaN()
  })
})

describe('wakeLabel', () => {
  it('says when it wakes, short', () => {
    const now = new Date(2026, 11, 2, 15, 30).getTime()
    expect(wakeLabel(new Date(2026, 11, 2, 16, 5).getTime(), now)).toBe('16:05')
    expect(wakeLabel(new Date(2026, 11, 3, 9, 0).getTime(), now)).toBe('tomorrow 9:00')
    expect(wakeLabel(new Date(2026, 11, 7, 9, 0).getTime(), now)).toMatch(/ 9:00$/)
  })
})
