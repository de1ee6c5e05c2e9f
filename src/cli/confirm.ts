import { createInterface } from 'node:readline/promises';
import { Interrupted } from './signals.js';

/**
 * Asks a yes/no question on a terminal; true only for `y` or `yes`. An empty answer, end of
 * input or anything else is no.
 * @throws Interrupted when Ctrl-C is pressed at the question.
 */
export async function confirm(question: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream): Promise<boolean> {
  const lines = createInterface({ input, output, terminal: true });
  const controller = new AbortController();
  let interrupted = false;
  lines.once('SIGINT', () => { interrupted = true; controller.abort(); });
  lines.once('close', () => controller.abort());
  try {
    const answer = await lines.question(question, { signal: controller.signal });
    return /^y(es)?$/i.test(answer.trim());
  } catch (error) {
    if (!controller.signal.aborted) throw error;
    output.write('\n');
    if (interrupted) throw new Interrupted('SIGINT', 'interrupted at the question; nothing was written');
    return false;
  } finally {
    lines.close();
  }
}
