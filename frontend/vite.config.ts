/// <reference types="vitest/config" />
import { defineConfig, type Plugin } from 'vite'
import react from '@vitejs/plugin-react'
import { mkdirSync, writeFileSync, existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// dist/ is gitignored except dist/.gitkeep (main.go embeds frontend/dist, so the folder must
// exist in a fresh clone). `emptyOutDir` deletes it on every build: put it back afterwards.
function keepGitkeep(): Plugin {
  return {
    name: 'threadline-keep-gitkeep',
    apply: 'build',
    closeBundle() {
      const dir = fileURLToPath(new URL('./dist', import.meta.url))
      mkdirSync(dir, { recursive: true })
      const keep = `${dir}/.gitkeep`
      if (!existsSync(keep)) writeFileSync(keep, '')
    },
  }
}

export default defineConfig({
  plugins: [react(), keepGitkeep()],
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // One small app: a single chunk loads fastest from the embedded asset server.
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // Browser mode: `THREADLINE_API=http://127.0.0.1:34115 npm run dev` proxies the Go HTTP bridge.
    proxy: process.env.THREADLINE_API
      ? { '/api': { target: process.env.THREADLINE_API, changeOrigin: true } }
      : undefined,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
})
