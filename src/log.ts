import createDebug from 'debug';

// One namespace per concern, so `DEBUG=leaselocker:renew` shows just the renewals.
// Nothing here ever receives a token or a kubeconfig: only lease names, identities and outcomes.
export const log = {
  state: createDebug('leaselocker'),
  acquire: createDebug('leaselocker:acquire'),
  renew: createDebug('leaselocker:renew'),
  release: createDebug('leaselocker:release'),
  api: createDebug('leaselocker:api'),
};
