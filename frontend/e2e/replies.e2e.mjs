#!/usr/bin/env node
// End-to-end test of saved replies (canned replies, issue 15 part 4): a real Chromium
// (playwright-core) drives two apps served by the real backend in browser mode
// (`threadline --serve`), both connected to one real relay as two agents.
//
//   THREADLINE_URL=http://127.0.0.1:34115 THREADLINE_URL2=http://127.0.0.1:34116 \
//   RELAY_URL=http://127.0.0.1:8470 THREADLINE_WORKSPACE=acme \
//   THREADLINE_AGENT_TOKEN=… THREADLINE_AGENT2_TOKEN=… node frontend/e2e/replies.e2e.mjs
//
// The first agent adds a reply in Settings, opens a conversation with a named contact and types
// "/" in the composer: the picker filters as it types, moves with the arrows, closes with Esc, and
// Enter inserts the reply with {{contact.name}}, {{contact.email}}, {{agent.name}} and
// {{conversation.subject}} filled in (an unknown variable left as written); the reply is sent. The
// second agent's app gets the saved reply through the relay and lists it in its Settings.
//
// It prints one line per step, then "N passed, M failed"; exits 1 on a failure.
import { mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']

/** Runs the scenario. Resolves to {passed, failed, failures}; never calls process.exit. */
export async function run(opts = {}) {
  const env = { ...process.env, ...(opts.env ?? {}) }
  const base = (env.THREADLINE_URL ?? '').replace(/\/$/, '')
  const base2 = (env.THREADLINE_URL2 ?? '').replace(/\/$/, '')
  for (const k of ['THREADLINE_URL', 'THREADLINE_URL2', 'RELAY_URL', 'THREADLINE_WORKSPACE', 'THREADLINE_AGENT_TOKEN', 'THREADLINE_AGENT2_TOKEN'])
    if (!env[k]) throw new Error(`${k} is not set`)
  const artifacts = env.THREADLINE_E2E_ARTIFACTS ?? ''
  if (artifacts) mkdirSync(artifacts, { recursive: true })
  const log = opts.log ?? ((s) => console.log(s))
  const runId = Date.now().toString(36) + Math.random().toString(36).slice(2, 6)
  const timeout = Number(env.THREADLINE_E2E_TIMEOUT_MS ?? 30_000)

  const browser = await chromium.launch({ executablePath: env.CHROMIUM || '/usr/bin/chromium', args: CHROMIUM_ARGS })
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  const page = await context.newPage()
  page.setDefaultTimeout(timeout)
  const pageErrors = []
  const watch = (p, who) => {
    p.on('pageerror', (e) => pageErrors.push(`${who}: ${e.message}`))
    p.on('console', (m) => m.type() === 'error' && pageErrors.push(`${who} console: ${m.text()}`))
  }
  watch(page, 'ana')

  let passed = 0
  const failures = []
  let shot = 0
  const screenshot = async (p, name) => {
    if (!artifacts) return ''
    const file = join(artifacts, `replies-${String(++shot).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`)
    await p.screenshot({ path: file }).catch(() => {})
    return file
  }
  let current = page
  const step = async (name, fn) => {
    if (failures.length) return log(`SKIP ${name} (an earlier step failed)`)
    const t0 = Date.now()
    try {
      await fn()
      passed++
      await screenshot(current, name)
      log(`PASS ${name} (${Date.now() - t0} ms)`)
    } catch (e) {
      const file = await screenshot(current, `FAILED ${name}`)
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e)
      failures.push({ step: name, message: msg, screenshot: file })
      log(`FAIL ${name}: ${msg}${file ? ` (screenshot: ${file})` : ''}`)
    }
  }
  const call = async (url, method, ...args) => {
    const r = await fetch(`${url}/api/call`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ method, args }) })
    const body = await r.json().catch(() => ({}))
    if (!r.ok) throw new Error(`${method}: ${JSON.stringify(body.error ?? body)}`)
    return body.result
  }
  const waitUntil = async (fn, what) => {
    const end = Date.now() + timeout
    for (;;) {
      const v = await fn()
      if (v) return v
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  const reply = {
    title: `Order status ${runId}`,
    shortcut: `order-${runId}`.slice(0, 32),
    text: 'Hi {{contact.name}} ({{ contact.email }}), this is {{agent.name}} about “{{conversation.subject}}”. Ref {{order.id}}.',
  }
  const contact = { id: `maria-${runId}@example.com`, name: `Maria ${runId}`, subject: `Invoice ${runId}` }
  const input = () => page.getByTestId('composer-input')
  let me = null
  let expected = ''

  try {
    await step('both agents’ apps are connected to the relay', async () => {
      for (const [url, token] of [
        [base, env.THREADLINE_AGENT_TOKEN],
        [base2, env.THREADLINE_AGENT2_TOKEN],
      ]) {
        if (!(await call(url, 'Info')).connected) await call(url, 'Connect', env.RELAY_URL, env.THREADLINE_WORKSPACE, token)
      }
      await page.goto(base + '/')
      await page.locator('[data-testid=app][data-ready=true]').waitFor()
      await page.locator('[data-testid=connection][data-state=online]').waitFor({ timeout: Math.max(timeout, 60_000) })
      me = (await call(base, 'Info')).me
      if (!me?.name) throw new Error(`the agent has no name: ${JSON.stringify(me)}`)
    })

    await step('a saved reply is added in Settings', async () => {
      await page.getByTestId('open-settings').click()
      const section = page.getByTestId('settings-replies')
      await section.waitFor()
      await page.getByTestId('settings-reply-title').fill(reply.title)
      await page.getByTestId('settings-reply-shortcut').fill(reply.shortcut)
      await page.getByTestId('settings-reply-text').fill(reply.text)
      await page.getByTestId('settings-reply-save').click()
      const row = page.getByTestId('settings-reply').filter({ hasText: reply.title })
      await row.waitFor()
      // Logged by the relay: no longer "not sent yet".
      await page.locator(`[data-testid=settings-reply][data-state=""]`, { hasText: reply.title }).waitFor()
      await page.keyboard.press('Escape')
      await section.waitFor({ state: 'detached' })
    })

    await step('a conversation with a named contact', async () => {
      await page.getByTestId('new-conversation').click()
      await page.getByTestId('new-contact-id').fill(contact.id)
      await page.getByTestId('new-contact-name').fill(contact.name)
      await page.getByTestId('new-subject').fill(contact.subject)
      await page.getByTestId('new-text').fill(`Where is my invoice? ${runId}`)
      await page.getByTestId('new-conversation-submit').click()
      await page.getByTestId('conversation-contact').filter({ hasText: contact.name }).waitFor()
      const email = (await page.getByTestId('conversation-email').count()) > 0 ? ((await page.getByTestId('conversation-email').textContent()) ?? '').trim() : ''
      expected = `Hi ${contact.name} (${email}), this is ${me.name} about “${contact.subject}”. Ref {{order.id}}.`
    })

    await step('"/" at the start of the composer opens the picker, which filters as one types', async () => {
      await input().click()
      await input().fill('')
      await page.keyboard.type('/')
      const picker = page.getByTestId('reply-picker')
      await picker.waitFor()
      await page.getByTestId('reply-option').filter({ hasText: reply.title }).waitFor()
      await page.keyboard.type('order')
      await waitUntil(async () => (await page.getByTestId('reply-option').first().textContent())?.includes(reply.title), 'the reply first')
      // Not "/" elsewhere: a "/" later in the text is only text.
    })

    await step('the arrows move, Esc closes and leaves what was typed', async () => {
      const selected = () => page.locator('[data-testid=reply-option][aria-selected=true]').textContent()
      const n = await page.getByTestId('reply-option').count()
      const first = await selected()
      await page.keyboard.press('ArrowDown')
      if (n > 1 && (await selected()) === first) throw new Error('ArrowDown did not move the selection')
      await page.keyboard.press('ArrowUp')
      if ((await selected()) !== first) throw new Error('ArrowUp did not move it back')
      await page.keyboard.press('Escape')
      await page.getByTestId('reply-picker').waitFor({ state: 'detached' })
      if ((await input().inputValue()) !== '/order') throw new Error(`the composer holds ${JSON.stringify(await input().inputValue())}`)
      if ((await page.getByTestId('conversation').count()) !== 1) throw new Error('Esc closed the conversation too')
    })

    await step('Enter inserts the reply with its variables filled, and it is sent', async () => {
      await input().fill('')
      await page.keyboard.type(`/${reply.shortcut}`)
      await page.getByTestId('reply-option').first().filter({ hasText: reply.title }).waitFor()
      await page.keyboard.press('Enter')
      await waitUntil(async () => (await input().inputValue()) === expected, `the composer to hold ${JSON.stringify(expected)} (it holds ${JSON.stringify(await input().inputValue())})`)
      if ((await page.getByTestId('reply-picker').count()) !== 0) throw new Error('the picker is still open')
      await page.keyboard.press('Enter')
      await page.locator('[data-testid=timeline-message]', { hasText: expected }).and(page.locator('[data-state=sent]')).waitFor()
    })

    await step('the second agent’s app gets the saved reply through the relay', async () => {
      const got = await waitUntil(async () => (await call(base2, 'Replies'))?.find((r) => r.title === reply.title && !r.state), 'the reply on the second device')
      if (got.text !== reply.text || got.shortcut !== reply.shortcut) throw new Error(`the second agent has ${JSON.stringify(got)}`)
      const page2 = await context.newPage()
      watch(page2, 'ben')
      current = page2
      await page2.goto(base2 + '/')
      await page2.locator('[data-testid=app][data-ready=true]').waitFor()
      await page2.getByTestId('open-settings').click()
      await page2.getByTestId('settings-reply').filter({ hasText: reply.title }).waitFor()
    })

    await step('no errors in the pages', async () => {
      if (pageErrors.length) throw new Error(pageErrors.join(' | '))
    })
  } finally {
    await browser.close().catch(() => {})
  }
  log(`${passed} passed, ${failures.length} failed`)
  return { passed, failed: failures.length, failures }
}

if (resolve(process.argv[1] ?? '') === fileURLToPath(import.meta.url)) {
  run()
    .then((r) => process.exit(r.failed ? 1 : 0))
    .catch((e) => {
      console.error(e)
      process.exit(1)
    })
}
