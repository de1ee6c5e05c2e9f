import createDebug from 'debug';

/** Debug log of the command (`DEBUG=leaselocker:cli`). Never given a token or a kubeconfig's contents. */
export const cliLog = createDebug('leaselocker:cli');
