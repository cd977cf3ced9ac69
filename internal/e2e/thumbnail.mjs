// thumbnail.mjs — the attachment benchmark's browser side (internal/e2e/thumbnail_bench_test.go
// drives it): time from Send in the web widget to the desktop app painting the image's thumbnail.
//
// Two pages in one Chromium: the widget, as a visitor, on a page of the relay's origin that loads
// the relay's /widget.js; and the desktop app (its real binary in --serve mode, connected to the
// same relay as an agent) with the visitor's conversation open. Each run the visitor attaches a
// new 2 MiB PNG screenshot (1920×1080, new bytes each time, so nothing is stored or cached yet)
// and sends it. The figure runs from the Send click, timed in the widget's page, to the frame in
// which the desktop's thumbnail <img> has loaded and decoded (img.decode(), then
// requestAnimationFrame), timed in the app's page; both pages read one clock
// (performance.timeOrigin + performance.now()).
//
// Two ways to send, and a baseline, in turn, RUNS runs in all after WARMUP runs not counted:
//   at-once   Send is clicked as soon as the widget lets it (the file hashed, its upload just
//             started): the upload is in the figure, as for a pasted screenshot sent at once.
//   uploaded  Send is clicked after the widget shows the upload done: the message's push, the
//             relay, the desktop's sync, its download of the file from the relay and the paint.
//   text      the baseline: a text message, from Send to the frame showing it in the app.
// It prints "MS <mode> <milliseconds>" for each run, and "INFO …" lines.
//
// Env: THREADLINE_ROOT, APP_URL (the desktop app), RELAY_URL (http://…), WORKSPACE, RUNS, WARMUP,
// CHROMIUM.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { deflateSync } from 'node:zlib'

const require = createRequire(join(process.env.THREADLINE_ROOT, 'frontend', 'package.json'))
const { chromium } = require('playwright-core')
const { APP_URL, RELAY_URL } = process.env
const WS = process.env.WORKSPACE || 'acme'
const RUNS = Number(process.env.RUNS || 20)
const WARMUP = Number(process.env.WARMUP || 3)
const MODES = ['at-once', 'uploaded', 'text']
const W = '#threadline-widget'

// ——— a 2 MiB PNG screenshot ———

const CRC = new Int32Array(256).map((_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c
})
function crc32(buf) {
  let c = -1
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ -1) >>> 0
}
function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(td))
  return Buffer.concat([len, td, crc])
}

// screenshot is a 1920×1080 RGB PNG of about 2 MiB: a band of noise (a photo, say) that does not
// compress, over a window's flat background with a few lines of "text".
function screenshot() {
  const w = 1920, h = 1080, row = 1 + w * 3
  const raw = Buffer.alloc(row * h)
  const noiseRows = 362
  for (let y = 0; y < h; y++) {
    const o = y * row
    raw[o] = 0 // filter: none
    if (y >= 100 && y < 100 + noiseRows) {
      randomBytes(w * 3).copy(raw, o + 1)
    } else {
      const line = (y >> 4) % 3 === 0 && (y & 15) < 10
      for (let x = 0; x < w; x++) {
        const ink = line && x > 80 && x < 1200 && ((x >> 3) & 3) !== 0
        const v = ink ? 40 : 244
        raw[o + 1 + x * 3] = v
        raw[o + 2 + x * 3] = v
        raw[o + 3 + x * 3] = ink ? 40 : 246
      }
    }
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(w, 0)
  ihdr.writeUInt32BE(h, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 6 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

// ——— the two pages ———

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
})
let failed = false
try {
  // The visitor's page: a shop's page on the relay's origin (a page the relay serves, its
  // content replaced, so that Chromium counts it as of that local address), with /widget.js.
  const wctx = await browser.newContext()
  const visitor = await wctx.newPage({ viewport: { width: 1280, height: 900 } })
  visitor.setDefaultTimeout(60_000)
  visitor.on('pageerror', (e) => console.log(`INFO widget pageerror: ${e.message}`))
  visitor.on('console', (m) => { // the host page's own 404 is expected
    if (m.type() === 'error' && !/status of 404/.test(m.text())) console.log(`INFO widget console: ${m.text()}`)
  })
  await visitor.goto(`${RELAY_URL}/widget/bench-host`)
  await visitor.setContent('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head><body><h1>Shop</h1></body></html>')
  await visitor.addScriptTag({ url: `${RELAY_URL}/widget.js` })
  const started = await visitor.evaluate((ws) => new Promise((resolve) =>
    Threadline.start({ workspace: ws }, (res, err) => resolve(err ? `${err.code}: ${err.message}` : ''))), WS)
  if (started) throw new Error(`Threadline.start: ${started}`)
  await visitor.evaluate(() => window.$threadline.push(['do', 'chat:open']))
  for (let until = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 50))) {
    const st = await visitor.evaluate(() => Threadline.status())
    if (st.state === 'online') break
    if (Date.now() > until) throw new Error(`the widget is not online: ${JSON.stringify(st)}`)
  }
  await visitor.locator(`${W} textarea.input`).fill('hello, a screenshot of the error follows')
  await visitor.locator(`${W} button.send`).click()

  // The agent's desktop app, with the visitor's conversation open.
  const dctx = await browser.newContext()
  const desk = await dctx.newPage({ viewport: { width: 1440, height: 900 } })
  desk.setDefaultTimeout(60_000)
  desk.on('pageerror', (e) => console.log(`INFO app pageerror: ${e.message}`))
  await desk.goto(APP_URL)
  const row = desk.locator('[data-testid="inbox-row"]').first()
  await row.waitFor({ state: 'visible' })
  await row.click()
  await desk.getByText('hello, a screenshot of the error follows').first().waitFor()

  const sizes = []
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const mode = MODES[i % MODES.length]
    const name = `screenshot-${i}-${randomBytes(3).toString('hex')}.png`
    if (mode === 'text') {
      // The baseline: a text message's Send to its frame in the app, no file.
      const text = `the error is back ${randomBytes(4).toString('hex')}`
      await desk.evaluate((text) => {
        window.__painted = new Promise((resolve) => {
          const look = () => {
            const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT)
            for (let n = w.nextNode(); n; n = w.nextNode()) {
              if (n.data.includes(text) && n.parentElement.closest('[data-item]')) { // in the timeline, not the list's preview
                obs.disconnect()
                const dom = performance.timeOrigin + performance.now()
                requestAnimationFrame(() => resolve({ dom, paint: performance.timeOrigin + performance.now() }))
                return
              }
            }
          }
          const obs = new MutationObserver(look)
          obs.observe(document.body, { subtree: true, childList: true, characterData: true })
        })
      }, text)
      await visitor.locator(`${W} textarea.input`).fill(text)
      const t0 = await visitor.evaluate((sel) => {
        const b = document.querySelector(sel).shadowRoot.querySelector('button.send')
        const t = performance.timeOrigin + performance.now()
        b.click()
        return t
      }, W)
      const t1 = await desk.evaluate(() => Promise.race([window.__painted,
        new Promise((_, reject) => setTimeout(() => reject(new Error('no message within 30 s')), 30_000))]))
      console.log(`INFO text in the app's DOM ${(t1.dom - t0).toFixed(0)} ms, painted ${(t1.paint - t0).toFixed(0)}`)
      if (i >= WARMUP) console.log(`MS text ${(t1.paint - t0).toFixed(1)}`)
      await new Promise((r) => setTimeout(r, 200))
      continue
    }
    const png = screenshot()
    sizes.push(png.length)
    // The desktop page waits for the thumbnail named name to be painted.
    await desk.evaluate((name) => {
      performance.clearResourceTimings() // its buffer holds 250 entries
      window.__painted = new Promise((resolve, reject) => {
        const look = () => {
          const img = [...document.querySelectorAll('img')].find((im) => im.alt === name)
          if (!img) return false
          obs.disconnect()
          const now = () => performance.timeOrigin + performance.now()
          const parts = { dom: now() }
          const loaded = () => { parts.load = now() }
          if (img.complete) loaded()
          else img.addEventListener('load', loaded, { once: true })
          img.decode().then(() => {
            parts.decoded = now()
            // The app's answer for the bytes (it fetches them from the relay on a miss).
            const rt = performance.getEntriesByType('resource').find((e) => e.name === img.currentSrc)
            if (rt) Object.assign(parts, { fetch: performance.timeOrigin + rt.fetchStart, ttfb: performance.timeOrigin + rt.responseStart, body: performance.timeOrigin + rt.responseEnd })
            requestAnimationFrame(() => resolve({ ...parts, paint: now() }))
          }, (e) => reject(new Error(`the thumbnail did not decode: ${e.message}`)))
          return true
        }
        const obs = new MutationObserver(look)
        obs.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['alt', 'src'] })
        look()
      })
      window.__painted.catch(() => {})
    }, name)
    await visitor.locator(`${W} input.file-input`).setInputFiles([{ name, mimeType: 'image/png', buffer: png }])
    if (mode === 'uploaded') {
      await visitor.locator(`${W} .tray .att[data-state="done"]`).waitFor()
    }
    // Send, timed in the page as it is clicked (the widget enables it once the file is hashed).
    await visitor.locator(`${W} button.send:not([disabled])`).waitFor()
    const t0 = await visitor.evaluate(([sel, name]) => {
      const root = document.querySelector(sel).shadowRoot
      // When the widget learns its message is logged (its seq drawn on it).
      window.__acked = new Promise((resolve) => {
        const look = () => {
          const li = [...root.querySelectorAll('li.msg.mine')].find((l) => l.dataset.seq !== '0' &&
            [...l.querySelectorAll('img')].some((im) => im.alt === name))
          if (!li) return
          obs.disconnect()
          resolve(performance.timeOrigin + performance.now())
        }
        const obs = new MutationObserver(look)
        obs.observe(root, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-seq'] })
      })
      const b = root.querySelector('button.send')
      const t = performance.timeOrigin + performance.now()
      b.click()
      return t
    }, [W, name])
    const t1 = await desk.evaluate(() => Promise.race([window.__painted,
      new Promise((_, reject) => setTimeout(() => reject(new Error('no thumbnail within 30 s')), 30_000))]))
    const acked = await visitor.evaluate(() => Promise.race([window.__acked, new Promise((r) => setTimeout(() => r(undefined), 5000))]))
    const ms = t1.paint - t0
    // Where the time went: the message in the app's timeline (the <img> made), its bytes
    // loaded (the app fetched them from the relay), decoded, painted.
    const at = (t) => (t === undefined ? '?' : (t - t0).toFixed(0))
    console.log(`INFO ${mode} logged (the widget told) ${at(acked)} ms, img in the app's DOM ${at(t1.dom)} ms, fetched from ${at(t1.fetch)}, first byte ${at(t1.ttfb)}, last ${at(t1.body)}, loaded ${at(t1.load)}, decoded ${at(t1.decoded)}, painted ${at(t1.paint)}`)
    if (i >= WARMUP) console.log(`MS ${mode} ${ms.toFixed(1)}`)
    else console.log(`INFO warm-up ${mode} ${ms.toFixed(1)} ms`)
    await visitor.locator(`${W} .tray .att`).waitFor({ state: 'detached' })
    await new Promise((r) => setTimeout(r, 200))
  }
  console.log(`INFO png ${Math.min(...sizes)}–${Math.max(...sizes)} bytes, 1920×1080`)
} catch (err) {
  console.log(`ERROR ${err.stack || err}`)
  failed = true
} finally {
  await browser.close()
}
process.exit(failed ? 1 : 0)
