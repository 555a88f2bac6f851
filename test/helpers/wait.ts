/** Wait on a condition with a deadline (tests never sleep a fixed time). */
export async function waitFor(
  probe: () => Promise<boolean> | boolean,
  options: { timeoutMs?: number; everyMs?: number; what: string; unless?: Promise<unknown> },
): Promise<void> {
  const { timeoutMs = 60_000, everyMs = 100, what } = options;
  const deadline = Date.now() + timeoutMs;
  const state = { gaveUp: false };
  void options.unless?.then(() => { state.gaveUp = true; });
  for (;;) {
    if (await probe()) return;
    if (state.gaveUp) throw new Error(`gave up waiting for ${what}: the process it needs exited`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
