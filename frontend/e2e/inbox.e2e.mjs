#!/usr/bin/env node
// End-to-end test of the Threadline UI: a real Chromium (playwright-core, never `playwright
// install`) drives the app served by the real backend in browser mode (`threadline --serve`),
// connected to a real relay, while a second agent posts through that relay.
//
//   THREADLINE_URL=http://127.0.0.1:34115 RELAY_URL=http://127.0.0.1:8470 \
//   THREADLINE_AGENT2_TOKEN=… node frontend/e2e/inbox.e2e.mjs
//
// Environment:
//   THREADLINE_URL            the app (required)
//   THREADLINE_E2E_ARTIFACTS  folder for screenshots (one per step, and one at a failure)
//   CHROMIUM                  the browser (default /usr/bin/chromium)
// The second agent, the first of these that is set:
//   THREADLINE_E2E_AGENT_URL  a harness route: POST <url>/push {"events":[{conv, kind, data}]} makes
//                             the second agent push them (it fills id, device, mid, at, base, actor)
//                             and answers the relay's ack {results: [{id, seq} | {id, error}]}
//   RELAY_URL + THREADLINE_AGENT2_TOKEN (+ THREADLINE_WORKSPACE, else the app's workspace)
//                             the script itself is the second agent: a WebSocket from a blank page
//                             to RELAY_URL/v1/sync
//   neither                   the script prints one line per message it needs,
//                               THREADLINE_E2E_REQUEST {"action":"send","conv":"…","text":"…"}
//                             and waits for the harness (reading stdout) to post it
// If the app is not connected yet and RELAY_URL, THREADLINE_WORKSPACE and THREADLINE_AGENT_TOKEN are
// set, the script first checks the first-run welcome, makes a conversation while local-only, then
// connects through the Settings dialog (answering its question) and checks that conversation went
// up to the relay; near the end it disconnects (the inbox stays writable, a reply waits) and
// connects again with the token field left empty (the reply goes up).
// End users (contact names), with RELAY_URL and THREADLINE_WORKSPACE:
//   THREADLINE_E2E_IDENTITY_SECRET  the workspace's identity secret: the script is then a contact and a
//                             visitor too (WebSockets from a blank page, as the widget would be), and
//                             checks that the desktop names them (contact.updated), never by raw id
//
// It prints one line per step, then "N passed, M failed"; exits 1 on a failure.
import { createHmac } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { deflateSync } from 'node:zlib'
import { chromium } from 'playwright-core'

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
]

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
// A 64×40 PNG (a gradient), for the attachment step.
const PNG_WIDTH = 64
const PNG = (() => {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
    const sum = Buffer.alloc(4)
    sum.writeUInt32BE(crc(body))
    return Buffer.concat([len, body, sum])
  }
  const [w, h] = [PNG_WIDTH, 40]
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr.set([8, 2, 0, 0, 0], 8) // 8-bit RGB
  const rows = Buffer.alloc(h * (1 + 3 * w))
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) rows.set([200, Math.round((255 * x) / w), Math.round((255 * y) / h)], y * (1 + 3 * w) + 1 + 3 * x)
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))])
})()

/** Runs the scenario. Resolves to {passed, failed, failures}; never calls process.exit. */
export async function run(opts = {}) {
  const env = { ...process.env, ...(opts.env ?? {}) }
  const base = (opts.url ?? env.THREADLINE_URL ?? '').replace(/\/$/, '')
  if (!base) throw new Error('THREADLINE_URL is not set: the URL of `threadline --serve`')
  const artifacts = opts.artifacts ?? env.THREADLINE_E2E_ARTIFACTS ?? ''
  if (artifacts) mkdirSync(artifacts, { recursive: true })
  const log = opts.log ?? ((s) => console.log(s))
  const runId = Date.now().toString(36) + Math.random().toString(36).slice(2, 6)
  const timeout = Number(env.THREADLINE_E2E_TIMEOUT_MS ?? 30_000)

  const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS })
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  const page = await context.newPage()
  page.setDefaultTimeout(timeout)
  const pageErrors = []
  page.on('pageerror', (e) => pageErrors.push(e.message))
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`)
  })
  // A binding that answers an error shows in the console only as "Failed to load resource":
  // name the call and its error, so a failure says which.
  const failedCalls = []
  page.on('response', async (r) => {
    if (r.status() < 400 || !r.url().includes('/api/call')) return
    let method = '?'
    try {
      method = JSON.parse(r.request().postData() ?? '{}').method
    } catch {}
    failedCalls.push(`${method} → ${r.status()} ${(await r.text().catch(() => '')).slice(0, 200)}`)
  })

  let passed = 0
  const failures = []
  let shot = 0
  const screenshot = async (name) => {
    if (!artifacts) return ''
    const file = join(artifacts, `${String(++shot).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`)
    await page.screenshot({ path: file }).catch(() => {})
    return file
  }
  const step = async (name, fn) => {
    if (failures.length) {
      log(`SKIP ${name} (an earlier step failed)`)
      return
    }
    const t0 = Date.now()
    try {
      await fn()
      passed++
      await screenshot(name)
      log(`PASS ${name} (${Date.now() - t0} ms)`)
    } catch (e) {
      const file = await screenshot(`FAILED ${name}`)
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e)
      failures.push({ step: name, message: msg, screenshot: file })
      log(`FAIL ${name}: ${msg}${file ? ` (screenshot: ${file})` : ''}`)
    }
  }

  const api = async (method, ...args) => {
    const r = await fetch(`${base}/api/call`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ method, args }) })
    const body = await r.json().catch(() => ({}))
    if (!r.ok) throw new Error(`${method}: ${JSON.stringify(body.error ?? body)}`)
    return body.result
  }

  const ids = {}
  const text = {
    first: `Hello from the e2e run ${runId}`,
    reply: `Reply ${runId}: we are on it`,
    note: `Internal ${runId}: refund via kiwi${runId}`,
    word: `kiwi${runId}`,
    topic: `Server offline (Ticket #${runId})`,
    live: `Live ${runId}: the second agent says hi`,
    unread: `Unread ${runId}: please look`,
    teammateNote: `Ben ${runId}: I called them, no need to answer`,
    snoozeWake: `Customer ${runId}: any news? still down`,
    dana: `Dana ${runId}: where is my invoice?`,
    visitor: `Visitor ${runId}: anyone there?`,
    identified: `Sam ${runId}: logged in now`,
    attach: `Screenshot ${runId}: here is what I see`,
  }

  const convPane = () => page.locator('[data-testid=conversation]')
  const message = (t) => page.locator('[data-testid=timeline-message]', { hasText: t })
  const rowOf = (id) => page.locator(`[data-testid=inbox-row][data-conv="${id}"]`)

  const newConversation = async (label) => {
    await page.getByTestId('new-conversation').click()
    await page.getByTestId('new-contact-id').fill(`e2e-${label}-${runId}@example.com`)
    await page.getByTestId('new-contact-name').fill(`E2E ${label} ${runId}`)
    await page.getByTestId('new-subject').fill(`E2E ${label} ${runId}`)
    await page.getByTestId('new-text').fill(label === 'A' ? text.first : `First message of ${label} ${runId}`)
    await page.getByTestId('new-conversation-submit').click()
    await page.getByTestId('conversation-contact').filter({ hasText: `E2E ${label} ${runId}` }).waitFor()
    return convPane().getAttribute('data-conv')
  }

  const agent2 = await secondAgent({ env, base, browser, api, log })

  try {
    await step('the app loads', async () => {
      await page.goto(base + '/')
      await page.locator('[data-testid=app][data-ready=true]').waitFor()
      const title = await page.title()
      if (!/^Threadline( \(\d+\))?$/.test(title)) throw new Error(`title is ${JSON.stringify(title)}`)
      await page.bringToFront()
    })

    // Connecting never hides work (issue 15): what the user made before connecting goes up with them.
    const startedLocal = !(await api('Info')).connected
    await step('the first run says what Threadline is and how to connect', async () => {
      if (!startedLocal) return log('  (already connected: skipped)')
      const welcome = page.getByTestId('welcome')
      await welcome.waitFor()
      const said = await welcome.textContent()
      for (const want of ['Threadline is your team’s support inbox', 'connect to your team’s relay', 'agent token'])
        if (!said.includes(want)) throw new Error(`the welcome does not say "${want}": ${said}`)
    })

    await step('a conversation made before connecting', async () => {
      if (!startedLocal) return log('  (already connected: skipped)')
      await page.getByTestId('view-open').click()
      ids.local = await newConversation('L')
      if (!ids.local) throw new Error('no conversation id on the pane')
      await message(`First message of L ${runId}`).waitFor()
    })

    await step('the app is connected to the relay', async () => {
      const info = await api('Info')
      if (!info.connected && env.RELAY_URL && env.THREADLINE_WORKSPACE && env.THREADLINE_AGENT_TOKEN) {
        await page.getByTestId('open-settings').click()
        await page.getByTestId('settings-relay-url').fill(env.RELAY_URL)
        await page.getByTestId('settings-workspace').fill(env.THREADLINE_WORKSPACE)
        await page.getByTestId('settings-token').fill(env.THREADLINE_AGENT_TOKEN)
        await page.getByTestId('settings-connect').click()
        // Asked first, in plain words, when the local inbox holds something.
        const ask = page.getByTestId('settings-confirm')
        const answered = await Promise.race([
          ask.waitFor().then(() => 'ask'),
          page.getByTestId('settings-done').waitFor().then(() => 'done'),
          page.locator('[data-testid^=settings-error]').first().waitFor().then(() => 'error'),
        ])
        if (answered === 'error') throw new Error(`Connect failed: ${await page.locator('[data-testid^=settings-error]').first().textContent()}`)
        if (answered === 'ask') {
          const said = await ask.textContent()
          if (ids.local && !said.includes('Your 1 conversation made on this computer will be sent to the relay'))
            throw new Error(`the question before connecting says: ${said}`)
          await page.getByTestId('settings-confirm-connect').click()
        }
        await page.getByTestId('settings-done').filter({ hasText: 'Connected to' }).waitFor({ timeout: Math.max(timeout, 60_000) })
        await page.keyboard.press('Escape')
      }
      await page.locator('[data-testid=connection][data-state=online]').waitFor({ timeout: Math.max(timeout, 60_000) })
    })

    await step('connecting keeps the conversation made before, and sends it to the relay', async () => {
      if (!ids.local) return log('  (no local conversation: skipped)')
      await page.getByTestId('view-open').click()
      await rowOf(ids.local).click()
      await message(`First message of L ${runId}`).and(page.locator('[data-state=sent]')).waitFor()
      // On the relay: a teammate can answer in it.
      await agent2.send(ids.local, `Teammate ${runId}: seen your local one`)
      await message(`Teammate ${runId}: seen your local one`).waitFor()
    })

    await step('create a conversation', async () => {
      await page.getByTestId('view-open').click()
      ids.a = await newConversation('A')
      if (!ids.a) throw new Error('no conversation id on the pane')
      await message(text.first).waitFor()
    })

    await step('a reply shows pending, then sent', async () => {
      // Record every state the reply's item shows, from the first render on.
      await page.evaluate((t) => {
        window.__e2eStates = []
        const seen = () => {
          for (const el of document.querySelectorAll('[data-testid=timeline-message]')) {
            if (el.textContent.includes(t)) {
              const s = el.getAttribute('data-state') || ''
              if (window.__e2eStates.at(-1) !== s) window.__e2eStates.push(s)
            }
          }
        }
        window.__e2eObserver?.disconnect()
        window.__e2eObserver = new MutationObserver(seen)
        window.__e2eObserver.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] })
      }, text.reply)
      await page.getByTestId('composer-mode-reply').click()
      await page.getByTestId('composer-input').fill(text.reply)
      await page.getByTestId('composer-input').press('Enter')
      await message(text.reply).and(page.locator('[data-state=sent]')).waitFor()
      const states = await page.evaluate(() => window.__e2eStates)
      if (states[0] !== 'pending') throw new Error(`the reply showed states ${JSON.stringify(states)}; want pending first, then sent`)
      if (await page.getByTestId('composer-input').inputValue()) throw new Error('the composer was not cleared')
    })

    await step('a private note is visibly distinct', async () => {
      await page.keyboard.press('Escape')
      await page.keyboard.press('n')
      const composer = page.getByTestId('composer')
      if ((await composer.getAttribute('data-mode')) !== 'note') throw new Error('n did not switch the composer to note mode')
      await page.getByTestId('composer-input').fill(text.note)
      await page.getByTestId('composer-input').press('Enter')
      // The stored item: the pending one is replaced (for a moment both may be in the page),
      // and a style read from the node being replaced comes back empty.
      const note = page.locator('[data-testid=timeline-note]', { hasText: text.note }).and(page.locator('[data-state=sent]'))
      await note.waitFor()
      const label = await note.textContent()
      if (!label.includes('Internal note')) throw new Error('the note does not say "Internal note"')
      const bg = await note.locator('[data-testid=item-text]').evaluate((el) => getComputedStyle(el).backgroundColor)
      const msgBg = await message(text.reply).locator('[data-testid=item-text]').evaluate((el) => getComputedStyle(el).backgroundColor)
      if (bg === msgBg) throw new Error(`the note looks like a message (${bg})`)
      if (!/^rgb\(25[0-5], 2[34]\d, 1\d\d\)$/.test(bg)) throw new Error(`the note is not yellow: ${bg}`)
    })

    await step('attach an image: a progress bar, then a thumbnail that opens a viewer; a script is refused in words, the text kept', async () => {
      await page.keyboard.press('Escape')
      await page.getByTestId('composer-mode-reply').click()
      // A program is refused by the device, in words; what was typed stays.
      await page.getByTestId('composer-input').fill(text.attach)
      await page.getByTestId('composer-file-input').setInputFiles({ name: 'run.sh', mimeType: 'text/x-sh', buffer: Buffer.from('#!/bin/sh\necho hi\n') })
      const refused = page.locator('[data-testid=draft-file][data-state=error]')
      await refused.waitFor()
      if (!(await refused.textContent()).includes('cannot be attached')) throw new Error(`the refusal says "${await refused.textContent()}"`)
      if ((await page.getByTestId('composer-input').inputValue()) !== text.attach) throw new Error('the typed text was lost')
      await refused.getByTestId('draft-file-remove').click()
      await page.getByTestId('composer-file-input').setInputFiles({ name: `pixel-${runId}.png`, mimeType: 'image/png', buffer: PNG })
      await page.locator('[data-testid=draft-file][data-state=ready]').waitFor()
      await page.getByTestId('composer-send').click()
      const msg = message(text.attach)
      await msg.and(page.locator('[data-state=sent]')).waitFor()
      const thumb = msg.getByTestId('attachment-thumb')
      await thumb.locator('img').waitFor()
      await waitUntil(() => thumb.locator('img').evaluate((img) => img.complete && img.naturalWidth === 64), timeout, 'the thumbnail to load')
      await thumb.click()
      await page.getByTestId('image-viewer').waitFor()
      await page.keyboard.press('Escape')
      await page.getByTestId('image-viewer').waitFor({ state: 'detached' })
    })

    await step('start a thread with a topic and end it', async () => {
      await page.getByTestId('start-thread').click()
      await page.getByTestId('thread-topic').fill(text.topic)
      await page.getByTestId('thread-start-submit').click()
      await page.locator('[data-testid=thread-separator]', { hasText: `Thread started · ${text.topic}` }).waitFor()
      await page.getByTestId('active-thread').filter({ hasText: text.topic }).waitFor()
      await page.getByTestId('end-thread').click()
      await page.locator('[data-testid=thread-separator]', { hasText: `Thread ended · ${text.topic}` }).waitFor()
      await page.getByTestId('active-thread').waitFor({ state: 'detached' })
    })

    await step('resolve and reopen', async () => {
      await page.getByTestId('resolve-button').click()
      await page.locator('[data-testid=conversation][data-status=resolved]').waitFor()
      await page.locator('[data-testid=timeline-event]', { hasText: 'resolved the conversation' }).last().waitFor()
      await page.getByTestId('reopen-button').click()
      await page.locator('[data-testid=conversation][data-status=open]').waitFor()
      await page.locator('[data-testid=timeline-event]', { hasText: 'reopened the conversation' }).last().waitFor()
    })

    await step('at 960 px the details never cover the header actions and close; a 200-character topic does not overflow', async () => {
      await page.setViewportSize({ width: 960, height: 720 })
      try {
        const topic = `${'Long topic '.repeat(18)}${'x'.repeat(2)}`.slice(0, 200)
        await page.getByTestId('start-thread').click()
        await page.getByTestId('thread-topic').fill(topic)
        await page.getByTestId('thread-start-submit').click()
        const sep = page.locator('[data-testid=thread-separator]', { hasText: `Thread started · ${topic}` }).last()
        await sep.waitFor()
        await page.getByTestId('active-thread').waitFor()
        const pane = await page.getByTestId('conversation').boundingBox()
        for (const [what, loc] of [['the separator', sep.locator('.tl-separator-label')], ['the thread pill', page.getByTestId('active-thread')]]) {
          const b = await loc.boundingBox()
          if (!b || b.x < pane.x - 1 || b.x + b.width > pane.x + pane.width + 1) throw new Error(`${what} with a 200-character topic overflows the pane: ${JSON.stringify(b)} in ${JSON.stringify(pane)}`)
        }
        const wide = await page.evaluate(() => document.documentElement.scrollWidth)
        if (wide > 960) throw new Error(`the page is ${wide} px wide at 960`)
        if (!(await page.getByTestId('details').isVisible())) await page.getByTestId('toggle-details').click()
        await page.getByTestId('details').waitFor()
        const d = await page.getByTestId('details').boundingBox()
        for (const btn of await page.locator('.conv-actions button').all()) {
          const b = await btn.boundingBox()
          if (b && b.x < d.x + d.width && b.x + b.width > d.x && b.y < d.y + d.height && b.y + b.height > d.y) throw new Error(`the details ${JSON.stringify(d)} cover a header action ${JSON.stringify(b)}`)
        }
        await page.getByTestId('details-close').click()
        await page.getByTestId('details').waitFor({ state: 'detached' })
        await page.getByTestId('toggle-details').click()
        await page.getByTestId('details').waitFor()
        await page.getByTestId('end-thread').click()
        await page.getByTestId('active-thread').waitFor({ state: 'detached' })
      } finally {
        await page.setViewportSize({ width: 1440, height: 900 })
      }
    })

    await step('search finds the note and opens it highlighted', async () => {
      await page.locator('body').click({ position: { x: 5, y: 5 } })
      await page.keyboard.press('Escape')
      await page.keyboard.press('/')
      const box = page.getByTestId('search-input')
      if (!(await box.evaluate((el) => el === document.activeElement))) throw new Error('"/" did not focus the search box')
      await box.fill(text.word)
      const hit = page.locator('[data-testid=search-result][data-kind=note]', { hasText: text.word })
      await hit.first().waitFor()
      await hit.first().click()
      await page.locator(`[data-testid=conversation][data-conv="${ids.a}"]`).waitFor()
      await page.locator('[data-testid=timeline-note][data-highlighted=true]', { hasText: text.word }).waitFor()
      await box.fill('')
      await page.locator('[data-testid=inbox-list]').waitFor()
    })

    await step("a second agent's message arrives live", async () => {
      await agent2.send(ids.a, text.live)
      await message(text.live).waitFor()
    })

    const endUsers = endUserClient({ env, browser })
    // Conversation A's contact, through the relay as the widget would be (rule 8: its messages are
    // what the team has to read).
    const contactOfA = async () => {
      const contactId = `e2e-A-${runId}@example.com`
      return endUsers.session({ kind: 'contact', contactId, hash: endUsers.hash(contactId) })
    }
    const indexOf = async (id) => Number(await rowOf(id).getAttribute('data-index'))

    await step("a teammate's note does not mark unread, a contact's message does; the badge clears on open", async () => {
      ids.b = await newConversation('B') // now B is open, A is not; B is on top
      await page.getByTestId('view-open').click()
      await rowOf(ids.a).waitFor()
      // A teammate's note: A stays read, and stays where it was (a note does not move it up).
      await agent2.push(ids.a, 'note.added', { text: text.teammateNote })
      await waitUntil(async () => (await api('Timeline', ids.a, '', 50)).items.some((i) => i.text === text.teammateNote), timeout, "the teammate's note to reach the app")
      await sleep(400) // the list's refresh after the change
      const unreadAfterNote = await rowOf(ids.a).getAttribute('data-unread')
      if (unreadAfterNote !== '0') throw new Error(`a teammate's note marked A unread (${unreadAfterNote})`)
      if ((await indexOf(ids.a)) < (await indexOf(ids.b))) throw new Error("a teammate's note moved A above B")
      if (!endUsers) return log('  (no THREADLINE_E2E_IDENTITY_SECRET: the contact part skipped)')
      // The contact writes: A is unread, and on top.
      const contact = await contactOfA()
      await contact.send(ids.a, text.unread)
      await contact.close()
      const badge = rowOf(ids.a).locator('[data-testid=unread-badge]')
      await badge.waitFor()
      await waitUntil(async () => (await indexOf(ids.a)) < (await indexOf(ids.b)), timeout, "the contact's message to move A to the top")
      // The sidebar and the list header say the same number.
      const said = async () => {
        const [sidebar, header] = await Promise.all(['view-open-unread', 'list-unread'].map((t) => page.getByTestId(t).textContent({ timeout: 1000 }).catch(() => '')))
        return [sidebar, header].map((x) => parseInt(x.replace(/\D/g, ''), 10))
      }
      await waitUntil(async () => {
        const [sidebar, header] = await said()
        return sidebar > 0 && sidebar === header
      }, timeout, 'the sidebar and the list header to say the same unread number')
      const before = await page.title()
      await rowOf(ids.a).click()
      await message(text.unread).waitFor()
      // "New messages" sits right above the contact's message, not above the teammate's note.
      const next = await page.getByTestId('new-messages-divider').evaluate((el) => el.nextElementSibling?.textContent ?? '')
      if (!next.includes(text.unread)) throw new Error(`the New messages divider is above "${next.slice(0, 60)}"`)
      await badge.waitFor({ state: 'detached' })
      const row = await rowOf(ids.a).getAttribute('data-unread')
      if (row !== '0') throw new Error(`the row still counts ${row} unread`)
      const count = (t) => Number(/\((\d+)\)/.exec(t)?.[1] ?? 0)
      await waitUntil(async () => count(await page.title()) < count(before), timeout, `the title count to drop from "${before}"`)
    })

    await step('snooze with z: it leaves All open for Snoozed, and wakes when the contact writes', async () => {
      if (!endUsers) return log('  (no THREADLINE_E2E_IDENTITY_SECRET: skipped)')
      await page.locator(`[data-testid=conversation][data-conv="${ids.a}"]`).waitFor()
      await page.locator('body').click({ position: { x: 5, y: 5 } })
      await page.keyboard.press('Escape')
      await page.keyboard.press('z')
      await page.getByTestId('snooze-menu').waitFor()
      await page.getByTestId('snooze-tomorrow').click()
      await page.locator('[data-testid=conversation-status]', { hasText: 'Snoozed until' }).waitFor()
      await rowOf(ids.a).waitFor({ state: 'detached' }) // gone from All open
      await page.getByTestId('view-snoozed').click()
      await rowOf(ids.a).getByTestId('row-wakes').filter({ hasText: /9:00/ }).waitFor()
      const contact = await contactOfA()
      await contact.send(ids.a, text.snoozeWake)
      await contact.close()
      await rowOf(ids.a).waitFor({ state: 'detached' }) // awake: gone from Snoozed
      await page.getByTestId('view-open').click()
      await rowOf(ids.a).and(page.locator('[data-status=open]')).waitFor()
      await page.locator('[data-testid=conversation-status]', { hasText: 'Open' }).waitFor()
      await message(text.snoozeWake).waitFor()
    })

    await step('bulk: three rows chosen with Shift-click, resolved at once', async () => {
      const three = []
      for (const n of [1, 2, 3]) {
        three.push(await api('CreateConversation', { contactId: `e2e-bulk${n}-${runId}@example.com`, contactName: `Bulk ${n} ${runId}`, subject: `Bulk ${n}`, text: `Bulk ${n} ${runId}` }))
      }
      await page.getByTestId('view-open').click()
      for (const id of three) await rowOf(id).waitFor()
      const order = []
      for (const id of three) order.push([await indexOf(id), id])
      order.sort((x, y) => x[0] - y[0])
      if (order[2][0] - order[0][0] !== 2) throw new Error(`the three new rows are not together: ${JSON.stringify(order)}`)
      await rowOf(order[0][1]).click()
      await rowOf(order[2][1]).click({ modifiers: ['Shift'] })
      await page.getByTestId('bulk-count').filter({ hasText: '3 chosen' }).waitFor()
      await page.getByTestId('bulk-resolve').click()
      await page.getByTestId('bulk-message').filter({ hasText: 'Resolved 3 conversations' }).waitFor()
      for (const id of three) await rowOf(id).waitFor({ state: 'detached' })
      for (const id of three) {
        const v = await api('Conversation', id)
        if (v.row.status !== 'resolved') throw new Error(`${id} is ${v.row.status} after the bulk resolve`)
      }
      await page.getByTestId('view-resolved').click()
      for (const id of three) await rowOf(id).waitFor()
      await page.getByTestId('view-open').click()
    })

    // The contact's own text in the places a contact appears, where a raw id must never show.
    const contactAreas = (id) => [
      rowOf(id).getByTestId('row-contact'),
      page.getByTestId('conversation-contact'),
      page.getByTestId('composer-input'),
      ...['.tl-author', '.tl-event-text', '[data-testid=seen-by]'].map((sel) => page.locator(`[data-testid=timeline] ${sel}`)),
    ]
    const expectNoRawId = async (id, raw) => {
      for (const loc of contactAreas(id)) {
        for (const el of await loc.all()) {
          const shown = `${await el.textContent()} ${(await el.getAttribute('placeholder')) ?? ''}`
          for (const r of raw) if (shown.includes(r)) throw new Error(`"${shown.trim()}" shows the raw id ${r}`)
        }
      }
    }

    await step("a contact's name and email from the relay (contact.updated) show, never its id", async () => {
      if (!endUsers) return log('  (no THREADLINE_E2E_IDENTITY_SECRET: skipped)')
      const contactId = `dana-${runId}`
      const email = `dana-${runId}@example.com`
      const dana = await endUsers.session({ kind: 'contact', contactId, hash: endUsers.hash(contactId), name: 'Dana Whitfield', email })
      ids.dana = await dana.create(`Invoice ${runId}`, text.dana)
      await dana.close()
      await rowOf(ids.dana).getByTestId('row-contact').filter({ hasText: 'Dana Whitfield' }).waitFor()
      await rowOf(ids.dana).click()
      await message(text.dana).waitFor()
      await page.getByTestId('conversation-contact').filter({ hasText: 'Dana Whitfield' }).waitFor()
      await page.getByTestId('conversation-email').filter({ hasText: email }).waitFor()
      const author = await message(text.dana).locator('.tl-author').textContent()
      if (author !== 'Dana Whitfield') throw new Error(`Dana's message is by "${author}"`)
      await page.getByTestId('composer-mode-reply').click()
      const placeholder = await page.getByTestId('composer-input').getAttribute('placeholder')
      if (placeholder !== 'Reply to Dana Whitfield…') throw new Error(`the composer says "${placeholder}"`)
      await page.getByTestId('details-contact-email').filter({ hasText: email }).waitFor()
      await expectNoRawId(ids.dana, [`contact:${contactId}`, contactId])
      // Search finds her by her email, and names her.
      await page.locator('body').click({ position: { x: 5, y: 5 } })
      await page.keyboard.press('Escape')
      await page.keyboard.press('/')
      await page.getByTestId('search-input').fill(email)
      const hit = page.locator(`[data-testid=search-result][data-conv="${ids.dana}"]`)
      await hit.first().waitFor()
      const who = await hit.first().getByTestId('search-hit-contact').textContent()
      if (who !== 'Dana Whitfield') throw new Error(`the search hit names "${who}"`)
      await page.getByTestId('search-input').fill('')
      await page.locator('[data-testid=inbox-list]').waitFor()
    })

    await step('a visitor who identifies shows as one name in the whole timeline', async () => {
      if (!endUsers) return log('  (no THREADLINE_E2E_IDENTITY_SECRET: skipped)')
      const device = `e2e-widget-${runId}`
      const visitor = await endUsers.session({ kind: 'visitor' }, device)
      ids.visitor = await visitor.create('', text.visitor)
      const visitorId = visitor.identity.id
      await visitor.close()
      await rowOf(ids.visitor).click()
      await message(text.visitor).waitFor()
      const contactId = `sam-${runId}`
      const sam = await endUsers.session(
        { kind: 'contact', contactId, hash: endUsers.hash(contactId), name: 'Sam Reyes', email: `sam-${runId}@example.org`, visitorToken: visitor.visitorToken },
        device,
        visitor.lastMid,
      )
      await sam.send(ids.visitor, text.identified)
      await sam.close()
      await message(text.identified).waitFor()
      await page.getByTestId('conversation-contact').filter({ hasText: 'Sam Reyes' }).waitFor()
      await page.getByTestId('conversation-email').filter({ hasText: `sam-${runId}@example.org` }).waitFor()
      const authors = await page.locator('[data-testid=timeline-message].left .tl-author').allTextContents()
      if (authors.length < 2 || authors.some((a) => a !== 'Sam Reyes')) throw new Error(`the end user's messages are by ${JSON.stringify(authors)}; want "Sam Reyes" for all`)
      const started = await page.locator('[data-testid=timeline-event] .tl-event-text').first().textContent()
      if (started !== 'Sam Reyes started the conversation') throw new Error(`the timeline starts with "${started}"`)
      await rowOf(ids.visitor).getByTestId('row-contact').filter({ hasText: 'Sam Reyes' }).waitFor()
      await expectNoRawId(ids.visitor, [visitorId, visitorId.slice('visitor:'.length), `contact:${contactId}`, contactId])
    })

    await step('disconnecting keeps the inbox readable and writable', async () => {
      if (!env.RELAY_URL) return log('  (no relay: skipped)')
      await page.locator('body').click({ position: { x: 5, y: 5 } })
      await page.keyboard.press('Escape')
      await page.getByTestId('open-settings').click()
      await page.getByTestId('settings-disconnect').click()
      await page.getByTestId('settings-done').filter({ hasText: 'Disconnected.' }).waitFor()
      await page.keyboard.press('Escape')
      await page.locator('[data-testid=connection][data-state=disconnected]').waitFor()
      await page.getByTestId('view-open').click()
      await rowOf(ids.a).click()
      await message(text.first).waitFor()
      await page.getByTestId('composer-mode-reply').click()
      await page.getByTestId('composer-input').fill(`Offline ${runId}: written while disconnected`)
      await page.getByTestId('composer-input').press('Enter')
      await message(`Offline ${runId}: written while disconnected`).and(page.locator('[data-state=pending]')).waitFor()
    })

    await step('the next connect sends what waited, with the saved token', async () => {
      if (!env.RELAY_URL) return log('  (no relay: skipped)')
      await page.keyboard.press('Escape')
      await page.getByTestId('open-settings').click()
      // Settings reads the profile when it opens: the field says it has a saved token once that arrives.
      let placeholder = ''
      await waitUntil(async () => {
        placeholder = (await page.getByTestId('settings-token').getAttribute('placeholder')) ?? ''
        return placeholder.includes('saved; leave empty to keep it')
      }, timeout, `the token field to say a token is saved (it says "${placeholder}")`)
      if (await page.getByTestId('settings-token').inputValue()) throw new Error('the token field is not empty')
      await page.getByTestId('settings-connect').click()
      await page.getByTestId('settings-done').filter({ hasText: 'Connected to' }).waitFor({ timeout: Math.max(timeout, 60_000) })
      await page.keyboard.press('Escape')
      await page.locator('[data-testid=connection][data-state=online]').waitFor({ timeout: Math.max(timeout, 60_000) })
      await rowOf(ids.a).click()
      await message(`Offline ${runId}: written while disconnected`).and(page.locator('[data-state=sent]')).waitFor()
    })

    await step('no errors in the page', async () => {
      // The attachment step's script is refused on purpose: Chromium logs that 415 as a console error.
      const real = pageErrors.filter((e) => !/favicon|ResizeObserver loop|status of 415 \(Unsupported Media Type\)/.test(e))
      if (real.length) throw new Error([...real.slice(0, 3), ...failedCalls.slice(0, 3)].join(' | '))
    })
  } finally {
    await agent2.close().catch(() => {})
    await browser.close().catch(() => {})
  }
  log(`${passed} passed, ${failures.length} failed`)
  return { passed, failed: failures.length, failures }
}

async function waitUntil(fn, timeout, what) {
  const until = Date.now() + timeout
  for (;;) {
    if (await fn()) return
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(100)
  }
}

/** The second agent, driven however the environment allows (see the top of the file). */
async function secondAgent({ env, base, browser, api, log }) {
  if (env.THREADLINE_E2E_AGENT_URL) {
    const url = env.THREADLINE_E2E_AGENT_URL.replace(/\/$/, '')
    const push = async (conv, kind, data) => {
      const r = await fetch(`${url}/push`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ events: [{ conv, kind, data }] }),
      })
      const body = await r.text()
      if (!r.ok) throw new Error(`second agent push: HTTP ${r.status} ${body}`)
      const err = JSON.parse(body).results?.find((x) => x.error)
      if (err) throw new Error(`second agent push rejected: ${JSON.stringify(err.error)}`)
    }
    return {
      send: (conv, text) => push(conv, 'message.sent', { text }),
      push,
      close: async () => {},
    }
  }
  const token = env.THREADLINE_AGENT2_TOKEN ?? env.AGENT2_TOKEN
  if (env.RELAY_URL && token) {
    let workspace = env.THREADLINE_WORKSPACE
    let page = null
    const open = async () => {
      if (page) return page
      if (!workspace) workspace = (await api('Info')).workspace
      if (!workspace) throw new Error('set THREADLINE_WORKSPACE: the app names no workspace')
      const ctx = await browser.newContext()
      page = await ctx.newPage()
      const wsUrl = env.RELAY_URL.replace(/^http/, 'ws').replace(/\/$/, '') + '/v1/sync'
      await page.evaluate(connectAgent, { wsUrl, workspace, token })
      return page
    }
    const push = async (conv, kind, data) => {
      const p = await open()
      const res = await p.evaluate(({ conv, kind, data }) => window.__agent2.push(conv, kind, data), { conv, kind, data })
      if (res.error) throw new Error(`second agent push rejected: ${JSON.stringify(res.error)}`)
    }
    return {
      send: (conv, text) => push(conv, 'message.sent', { text }),
      push,
      close: async () => page?.context().close(),
    }
  }
  return {
    async send(conv, text) {
      // The harness reads stdout and makes its second agent post this.
      log(`THREADLINE_E2E_REQUEST ${JSON.stringify({ action: 'send', conv, text, base })}`)
    },
    async push(conv, kind, data) {
      log(`THREADLINE_E2E_REQUEST ${JSON.stringify({ action: 'push', conv, kind, data, base })}`)
    },
    close: async () => {},
  }
}

/** End users through the relay, as the web widget would be (null without an identity secret). */
function endUserClient({ env, browser }) {
  const secret = env.THREADLINE_E2E_IDENTITY_SECRET
  if (!secret || !env.RELAY_URL || !env.THREADLINE_WORKSPACE) return null
  const wsUrl = env.RELAY_URL.replace(/^http/, 'ws').replace(/\/$/, '') + '/v1/sync'
  return {
    /** The hash a website's backend gives its contact (DESIGN §2). */
    hash: (contactId) => createHmac('sha256', secret).update(contactId).digest('hex'),
    /** Says hello with auth from device (default: a new one), its mids after lastMid. */
    async session(auth, device = `e2e-enduser-${Math.random().toString(36).slice(2, 10)}`, lastMid = 0) {
      const ctx = await browser.newContext()
      const p = await ctx.newPage()
      const welcome = await p.evaluate(connectEndUser, { wsUrl, workspace: env.THREADLINE_WORKSPACE, device, auth, lastMid })
      const push = async (events) => {
        const res = await p.evaluate((evs) => window.__endUser.push(evs), events)
        const err = res.find((r) => r.error)
        if (err) throw new Error(`${auth.kind} push rejected: ${JSON.stringify(err.error)}`)
      }
      return {
        identity: welcome.identity,
        visitorToken: welcome.visitorToken,
        get lastMid() {
          return welcome.lastMid
        },
        /** Creates its own conversation with a first message; returns its id. */
        async create(subject, text) {
          const conv = await p.evaluate(() => window.__endUser.uuidv7())
          await push([
            { conv, kind: 'conversation.created', data: subject ? { subject } : {} },
            { conv, kind: 'message.sent', data: { text } },
          ])
          welcome.lastMid = await p.evaluate(() => window.__endUser.mid())
          return conv
        },
        async send(conv, text) {
          await push([{ conv, kind: 'message.sent', data: { text } }])
          welcome.lastMid = await p.evaluate(() => window.__endUser.mid())
        },
        close: () => ctx.close(),
      }
    },
  }
}

/** Runs in a blank page: a contact's or visitor's device, a minimal client of the sync protocol. */
async function connectEndUser({ wsUrl, workspace, device, auth, lastMid }) {
  const uuidv7 = () => {
    const b = crypto.getRandomValues(new Uint8Array(16))
    let ts = Date.now()
    for (let i = 5; i >= 0; i--) {
      b[i] = ts % 256
      ts = Math.floor(ts / 256)
    }
    b[6] = (b[6] & 0x0f) | 0x70
    b[8] = (b[8] & 0x3f) | 0x80
    const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }
  const ws = new WebSocket(wsUrl)
  let welcome = null
  let head = 0
  let mid = lastMid
  const waiting = []
  await new Promise((res, rej) => {
    ws.onerror = () => rej(new Error(`cannot reach ${wsUrl}`))
    ws.onopen = res
  })
  const welcomed = new Promise((res, rej) => {
    ws.onmessage = (m) => {
      const f = JSON.parse(m.data)
      if (f.type === 'welcome') {
        welcome = f
        head = f.head
        mid = Math.max(mid, f.lastMid ?? 0)
        res()
      } else if (f.type === 'events') {
        for (const e of f.events) head = Math.max(head, e.seq)
      } else if (f.type === 'ack') {
        waiting.shift()?.(f.results ?? [])
      } else if (f.type === 'error') {
        if (!welcome) rej(new Error(`relay refused the ${auth.kind}: ${f.code} ${f.message ?? ''}`))
        else waiting.shift()?.([{ error: { code: f.code, message: f.message } }])
      }
    }
  })
  ws.send(JSON.stringify({ type: 'hello', protocol: 1, workspace, device, cursor: { epoch: '', seq: 0 }, auth }))
  await welcomed
  window.__endUser = {
    uuidv7,
    mid: () => mid,
    push(events) {
      const evs = events.map((e) => ({ id: uuidv7(), seq: 0, actor: welcome.identity, device, mid: ++mid, at: Date.now(), base: head, ...e }))
      return new Promise((res) => {
        waiting.push(res)
        ws.send(JSON.stringify({ type: 'push', events: evs }))
      })
    },
  }
  return { identity: welcome.identity, visitorToken: welcome.visitorToken ?? '', lastMid: mid }
}

/** Runs in a blank page: a minimal agent client of the sync protocol (DESIGN §5). */
async function connectAgent({ wsUrl, workspace, token }) {
  const uuidv7 = () => {
    const b = crypto.getRandomValues(new Uint8Array(16))
    let ts = Date.now()
    for (let i = 5; i >= 0; i--) {
      b[i] = ts % 256
      ts = Math.floor(ts / 256)
    }
    b[6] = (b[6] & 0x0f) | 0x70
    b[8] = (b[8] & 0x3f) | 0x80
    const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('')
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  }
  const ws = new WebSocket(wsUrl)
  const device = `e2e-agent2-${uuidv7().slice(-12)}`
  let identity = null
  let head = 0
  let mid = 0
  const waiting = []
  await new Promise((res, rej) => {
    ws.onerror = () => rej(new Error(`cannot reach ${wsUrl}`))
    ws.onopen = res
  })
  const welcomed = new Promise((res, rej) => {
    ws.onmessage = (m) => {
      const f = JSON.parse(m.data)
      if (f.type === 'welcome') {
        identity = f.identity
        head = f.head
        res()
      } else if (f.type === 'events') {
        for (const e of f.events) head = Math.max(head, e.seq)
      } else if (f.type === 'ack') {
        waiting.shift()?.(f)
      } else if (f.type === 'error') {
        if (!identity) rej(new Error(`relay refused the second agent: ${f.code} ${f.message ?? ''}`))
        else waiting.shift()?.({ results: [{ error: { code: f.code, message: f.message } }] })
      }
    }
  })
  ws.send(JSON.stringify({ type: 'hello', protocol: 1, workspace, device, cursor: { epoch: '', seq: 0 }, auth: { kind: 'agent', token } }))
  await welcomed
  window.__agent2 = {
    send(conv, text) {
      return window.__agent2.push(conv, 'message.sent', { text })
    },
    async push(conv, kind, data) {
      const ev = { id: uuidv7(), seq: 0, conv, kind, actor: identity, device, mid: ++mid, at: Date.now(), base: head, data }
      const ack = await new Promise((res) => {
        waiting.push(res)
        ws.send(JSON.stringify({ type: 'push', events: [ev] }))
      })
      return { error: ack.results?.[0]?.error ?? null }
    },
  }
}

const invoked = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (invoked) {
  run()
    .then((r) => {
      if (r.failed) {
        console.error(`e2e: FAILED at "${r.failures[0].step}": ${r.failures[0].message}`)
        process.exitCode = 1
      }
    })
    .catch((e) => {
      console.error(`e2e: could not run: ${e instanceof Error ? e.stack : e}`)
      process.exitCode = 1
    })
}
