import type { CommandName } from './args.js';

const clusterFlags = `Cluster access (as kubectl finds it):
  --kubeconfig <file>   the kubeconfig to use (else KUBECONFIG, then ~/.kube/config,
                        then the pod's service account)
  --context <name>      a context of the kubeconfig other than its current one
  -h, --help            this help`;

const exitCodeTable = `Exit codes:
  0        done (run: the command exited 0)
  64       usage error: bad command, flag or value
  66       status: the Lease does not exist
  69       cluster error: no configuration, credentials refused, forbidden, unreachable, TLS
  70       internal error
  75       the lease is held elsewhere: --no-wait, --wait ran out, release of another holder's
           lease, or the Lease changed meanwhile; the command was not run, nothing was written
  124      run: the hold was lost while the command ran; the command was stopped
  126/127  run: the command could not be started / was not found
  128+N    run: signal N ended the command, or ended the wait (the command was not run)
  other    run: the command's own exit code`;

const overview = `leaselocker: a distributed mutex over a Kubernetes Lease, for shell jobs.

Usage:
  leaselocker run --lease <namespace>/<name> [flags] -- <command> [args...]
  leaselocker status <namespace>/<name> [--json]
  leaselocker release <namespace>/<name> (--identity <id> | --force [--yes])
  leaselocker --version

Commands:
  run       wait for the lease, run the command while holding it, release it
  status    who holds the lease, since when, until when
  release   release a lease this identity holds, or (--force) one another holder left

A lease written <name> alone is in the namespace of the kubeconfig's context, else "default".
Run \`leaselocker <command> --help\` for a command's flags.

${exitCodeTable}
`;

const run = `Usage: leaselocker run --lease <namespace>/<name> [flags] -- <command> [args...]

Waits for the lease, runs the command (stdin, stdout and stderr inherited) while renewing the
lease, releases it when the command exits, and exits with the command's exit code (128 + N when
signal N ended it). SIGINT, SIGTERM and SIGHUP are forwarded to the command; one received while
still waiting ends the wait (exit 128 + N) and the command is not run. When the hold is lost,
the command gets SIGTERM, SIGKILL after --kill-after, and leaselocker exits 124. Messages go to
stderr; stdout is the command's.

Flags:
  --lease <namespace>/<name>  the Lease to lock (created if missing)
  --identity <id>             the holder identity written in the Lease
                              (default: $HOSTNAME, the pod name, plus a random suffix)
  --wait <duration>           wait at most this long, then exit 75 (default: no limit)
  --no-wait                   one attempt: exit 75 at once when the lease is held elsewhere
  --lease-duration <duration> how long others wait before taking over a silent holder
                              (default 15s; whole seconds)
  --renew-deadline <duration> a holder that could not renew for this long stops (default 10s)
  --retry-period <duration>   time between renewals (default 2s)
  --kill-after <duration>     SIGKILL the command this long after the SIGTERM sent when the
                              hold was lost (default 10s)

Durations are written as Go and kubectl write them: 15s, 1m30s, 500ms, 2h. They must satisfy
lease-duration > renew-deadline > 1.2 x retry-period.

${clusterFlags}

${exitCodeTable}
`;

const status = `Usage: leaselocker status <namespace>/<name> [--json]

Reads the Lease once and shows its holder, when it was acquired and last renewed, when it
expires (by the clocks: renew time + lease duration), its transitions, its lease duration and
who waits in its line.

Flags:
  --json   one JSON object on one line: namespace, name, holder, held, acquireTime, renewTime,
           expiresInSeconds, leaseTransitions, leaseDurationSeconds, waiting, resourceVersion

${clusterFlags}

Exits 0, 66 when the Lease does not exist, 64 or 69 as every command.
`;

const release = `Usage: leaselocker release <namespace>/<name> (--identity <id> | --force [--yes])

Releases the lease: clears its holder (keeping its transition count), on condition that it did
not change since it was read. With --identity, only when that identity holds it. With --force,
whoever holds it (a crashed holder, say): on a terminal it shows the holder and asks first;
off a terminal it needs --yes. A free or missing lease needs no release (exit 0).

Flags:
  --identity <id>   the identity that holds the lease
  --force           release it whoever holds it
  -y, --yes         do not ask before a --force release

${clusterFlags}

Exits 0; 75 when another identity holds the lease (without --force), the release was not
confirmed, or the Lease changed since it was read; 64 or 69 as every command.
`;

/** The help text of the tool (no command) or of one command. */
export function helpText(command: CommandName | undefined): string {
  switch (command) {
    case undefined:
      return overview;
    case 'run':
      return run;
    case 'status':
      return status;
    case 'release':
      return release;
  }
}
