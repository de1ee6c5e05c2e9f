/**
 * Waits until `condition` holds, checking every few milliseconds, and fails with `message`
 * if it does not hold within `timeoutMs`. A condition with a deadline, never a fixed sleep.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, message: string, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${message}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 2));
  }
}
