// The exit codes of the leaselocker command. Besides these, `run` exits with the guarded
// command's own code, or 128 + N when signal N ended it.

/** Exit codes of the `leaselocker` command, in the style of sysexits.h and timeout(1). */
export const exitCodes = Object.freeze({
  /** Done. */
  ok: 0,
  /** A bad command line: unknown command or flag, bad value, bad duration (EX_USAGE). */
  usage: 64,
  /** `status`: the Lease does not exist (EX_NOINPUT). */
  noLease: 66,
  /** The cluster could not be used: no configuration, credentials refused, forbidden, unreachable, TLS failure, an unexpected answer (EX_UNAVAILABLE). */
  cluster: 69,
  /** A fault of leaselocker itself (EX_SOFTWARE). */
  internal: 70,
  /** The lease is held elsewhere: `--no-wait`, `--wait` ran out, `release` of another holder's lease, or the Lease changed meanwhile (EX_TEMPFAIL: try again later). */
  held: 75,
  /** `run`: the hold was lost while the command ran; the command was stopped (as timeout(1) exits 124 when it stopped one). */
  lost: 124,
  /** `run`: the command was found but could not be started (as a shell exits). */
  cannotExecute: 126,
  /** `run`: the command was not found (as a shell exits). */
  notFound: 127,
  /** Added to a signal's number: the command (or leaselocker, while waiting) ended by that signal. */
  signalBase: 128,
});
