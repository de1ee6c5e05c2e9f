import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as errors from '../src/errors.js';
import { defaultOptions, optionNames } from '../src/options.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The rows of the first table after `heading`, as arrays of trimmed cells. */
function table(heading: string): string[][] {
  const start = readme.indexOf(`\n${heading}\n`);
  assert.notEqual(start, -1, `README has no "${heading}" section`);
  const rows: string[][] = [];
  for (const line of readme.slice(start + heading.length + 2).split('\n')) {
    if (!line.startsWith('|')) {
      if (rows.length > 0) break;
      continue;
    }
    rows.push(line.split('|').slice(1, -1).map((cell) => cell.trim()));
  }
  return rows.slice(2); // header and separator
}

const unquote = (cell: string | undefined): string => (cell ?? '').replace(/^`|`$/g, '');

describe('README agrees with the code', () => {
  it('lists every option once, with the default the code uses', () => {
    const rows = table('### Options');
    assert.deepEqual(rows.map((r) => unquote(r[0])).sort(), [...optionNames].sort());
    for (const [option, value] of Object.entries(defaultOptions)) {
      const row = rows.find((r) => unquote(r[0]) === option);
      assert.equal(unquote(row?.[1]), String(value), `README default of ${option}`);
    }
  });

  it('lists every error class with its code', () => {
    const rows = table('### Errors');
    const classes = Object.entries(errors).filter(([, value]) => typeof value === 'function' && value.prototype instanceof errors.LeaseLockerError);
    assert.deepEqual(rows.map((r) => unquote(r[0])).sort(), classes.map(([name]) => name).sort());
    const probe: Record<string, errors.LeaseLockerError> = {
      InvalidConfigError: new errors.InvalidConfigError('x', 'y'),
      AlreadyLockedError: new errors.AlreadyLockedError('x', 'held'),
      AcquireCancelledError: new errors.AcquireCancelledError('x'),
      CredentialError: new errors.CredentialError('x', { cause: new Error('y') }),
      LockLostError: new errors.LockLostError('x', 'taken'),
      LeaseExpiredError: new errors.LeaseExpiredError('x', 1, 0),
      LeaseApiError: new errors.LeaseApiError('x', { statusCode: 500, reason: '', statusMessage: '' }),
      LeaseRequestError: new errors.LeaseRequestError('x', { timedOut: true }),
    };
    for (const row of rows) {
      const name = unquote(row[0]);
      assert.equal(probe[name]?.code, unquote(row[1]), `README code of ${name}`);
      assert.equal(probe[name]?.name, name);
    }
  });
});
