/** Calls fn at most once at a time; a call meanwhile runs it once more afterwards. */
export function coalesce(fn: () => Promise<void>): () => void {
  let running = false
  let again = false
  const run = () => {
    if (running) {
      again = true
      return
    }
    running = true
    fn().finally(() => {
      running = false
      if (again) {
        again = false
        run()
      }
    })
  }
  return run
}
