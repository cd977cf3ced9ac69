// measure.mjs — the desktop benchmarks' browser side (internal/e2e/bench_test.go drives it).
// It starts Chromium first, says READY, then waits for one line on stdin:
//   GO launch <url>          from now (the app's process starts now) until the inbox's first
//                            row is painted
//   GO open <url> <conv> <item>  the inbox loaded, from the click on conversation <conv> until
//                            its newest item <item> is painted
//   GO opens <url> <n> <conv> <item> <conv> <item>...  in one page, n opens as above, of the
//                            conversations in turn (a quiet 300 ms between them)
// and prints "MS <milliseconds>" for each figure.
import { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { join } from 'node:path'

const require = createRequire(join(process.env.THREADLINE_ROOT, 'frontend', 'package.json'))
const { chromium } = require('playwright-core')

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
})
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
page.setDefaultTimeout(60_000)
console.log('READY')

const rl = createInterface({ input: process.stdin })
const [, what, url, ...rest] = (await rl[Symbol.asyncIterator]().next()).value.split(' ')
rl.close()

// openIn clicks conversation conv's row in the page and resolves with the milliseconds until
// the frame that shows its newest item. Timed inside the page, from the click: the browser's own
// automation (actionability checks, round trips) is not in the figure.
async function openIn(page, conv, item) {
  await page.locator(`[data-testid="inbox-row"][data-conv="${conv}"]`).waitFor({ state: 'visible' })
  return page.evaluate(([conv, item]) => new Promise((resolve) => {
    const t0 = performance.now()
    document.querySelector(`[data-testid="inbox-row"][data-conv="${conv}"]`).click()
    const look = () => {
      const el = document.querySelector(`[data-item="${item}"]`)
      if (el && el.getBoundingClientRect().height > 0) requestAnimationFrame(() => resolve(performance.now() - t0))
      else requestAnimationFrame(look)
    }
    look()
  }), [conv, item])
}

try {
  if (what === 'launch') {
    const t0 = performance.now()
    for (;;) { // the app is starting: knock until it answers (a browser's error page is slow)
      try { if ((await fetch(url)).ok) break } catch {}
      await new Promise((r) => setTimeout(r, 5))
    }
    await page.goto(url, { waitUntil: 'commit' })
    await page.waitForSelector('[data-testid="inbox-row"]', { state: 'visible' })
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())))
    console.log(`MS ${(performance.now() - t0).toFixed(1)}`)
  } else if (what === 'open') {
    const [conv, item] = rest
    await page.goto(url)
    const ms = await openIn(page, conv, item)
    console.log(`MS ${ms.toFixed(1)}`)
  } else if (what === 'opens') {
    const n = Number(rest[0])
    const pairs = []
    for (let i = 1; i + 1 < rest.length; i += 2) pairs.push([rest[i], rest[i + 1]])
    await page.goto(url)
    for (let i = 0; i < n; i++) {
      const [conv, item] = pairs[i % pairs.length]
      const ms = await openIn(page, conv, item)
      console.log(`MS ${ms.toFixed(1)}`)
      await page.waitForTimeout(300)
    }
  } else {
    throw new Error('unknown measure ' + what)
  }
} finally {
  await browser.close()
}
