import '@testing-library/jest-dom/vitest'
import { afterEach } from 'vitest'
import { cleanup } from '@testing-library/react'
import { setTransport } from '../api'

afterEach(() => {
  cleanup()
  setTransport(null)
  document.title = ''
})
