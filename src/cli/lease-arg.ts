import type { LeaseRef } from '../index.js';
import { UsageError } from './cli-error.js';

/** The namespace of a lease given as a bare name when the kubeconfig's context names none. */
export const fallbackNamespace = 'default';

/**
 * Reads the lease argument: `<namespace>/<name>`, or a bare `<name>` in the kubeconfig
 * context's namespace (`contextNamespace`), or in `default` when the context names none. The
 * library validates both parts when the lock is built.
 * @throws UsageError when the argument is empty or has more than one `/`.
 */
export function parseLeaseArg(text: string, contextNamespace: string | undefined): LeaseRef {
  const parts = text.split('/');
  if (parts.length === 1 && text !== '') return { namespace: contextNamespace ?? fallbackNamespace, name: text };
  const [namespace = '', name = ''] = parts;
  if (parts.length !== 2 || namespace === '' || name === '') {
    throw new UsageError(`the lease must be written <namespace>/<name> or <name>, got ${JSON.stringify(text)}`);
  }
  return { namespace, name };
}
