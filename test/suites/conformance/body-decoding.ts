// How the server reads a request body: MicroTime strictness and the wording
// of Go's JSON decoder for bodies that are not JSON.

import assert from 'node:assert/strict';
import { it } from 'node:test';

import { uniqueLeaseName } from '../lease-server.js';
import { assertStatus, failureStatus, MICRO_TIME, type Conformance } from './context.js';

const MICRO_LAYOUT = '2006-01-02T15:04:05.000000Z07:00';

function cannotHandle(reason: string): Record<string, unknown> {
  return failureStatus(400, 'BadRequest', `Lease in version "v1" cannot be handled as a Lease: ${reason}`);
}

function unrecognized(reason: string, summary: string): Record<string, unknown> {
  return failureStatus(
    400,
    'BadRequest',
    `the object provided is unrecognized (must be of type Lease): couldn't get version/kind; json parse error: ${reason} (${summary})`,
  );
}

export function bodyDecoding(suite: () => Conformance): void {
  it('a MicroTime with six fractional digits is accepted and echoed as sent', async () => {
    const c = suite();
    const time = '2024-01-02T03:04:05.123456Z';
    const created = await c.create(uniqueLeaseName('micro'), { acquireTime: time, renewTime: time });
    assert.equal(created.spec['acquireTime'], time);
    assert.equal(created.spec['renewTime'], time);
  });

  it('a MicroTime with an offset or a comma is accepted and echoed in UTC with a dot', async () => {
    const c = suite();
    const created = await c.create(uniqueLeaseName('micro-offset'), {
      acquireTime: '2024-01-02T03:04:05.123456+01:00',
      renewTime: '2024-01-02T03:04:05,000001Z',
    });
    assert.equal(created.spec['acquireTime'], '2024-01-02T02:04:05.123456Z');
    assert.equal(created.spec['renewTime'], '2024-01-02T03:04:05.000001Z');
    assert.match(String(created.spec['renewTime']), MICRO_TIME);
  });

  it('a MicroTime with three digits (Date.toISOString) answers 400, on create and on update', async () => {
    const c = suite();
    const name = uniqueLeaseName('millis');
    const time = new Date().toISOString();
    const expected = cannotHandle(`parsing time "${time}" as "${MICRO_LAYOUT}": cannot parse "${time.slice(19)}" as ".000000"`);
    assertStatus(await c.request('POST', c.path(), { body: { metadata: { name }, spec: { renewTime: time } } }), expected);
    const created = await c.create(name);
    assertStatus(await c.put(name, { resourceVersion: created.metadata.resourceVersion }, { renewTime: time }), expected);
  });

  it('a MicroTime with no, seven or nine fractional digits answers 400', async () => {
    const c = suite();
    const cases: [string, string][] = [
      ['2024-01-02T03:04:05Z', 'cannot parse "Z" as ".000000"'],
      ['2024-01-02T03:04:05.1234567Z', 'cannot parse "7Z" as "Z07:00"'],
      ['2024-01-02T03:04:05.123456789Z', 'cannot parse "789Z" as "Z07:00"'],
    ];
    for (const [time, detail] of cases) {
      assertStatus(
        await c.request('POST', c.path(), { body: { metadata: { name: uniqueLeaseName('digits') }, spec: { acquireTime: time } } }),
        cannotHandle(`parsing time "${time}" as "${MICRO_LAYOUT}": ${detail}`),
      );
    }
  });

  it('a body that is not JSON answers 400 with Go\'s decoder error and the start of the body', async () => {
    const c = suite();
    const cases: [string, string, string][] = [
      ['not json', "invalid character 'o' in literal null (expecting 'u')", '6e6f74206a736f6e'],
      ['{"metadata":{"name":"a"', 'unexpected end of JSON input', '{"metadata":{"name":"a"'],
      ['{"metadata":{"name":"a","resourceVersion":"1"},', 'unexpected end of JSON input', '{"metadata":{"name":"a","resou ...'],
      ['{"a" 1}', "invalid character '1' after object key", '{"a" 1}'],
      ['{"a":1 "b":2}', "invalid character '\"' after object key:value pair", '{"a":1 "b":2}'],
      ['{,}', "invalid character ',' looking for beginning of object key string", '{,}'],
      ['[1 2]', "invalid character '2' after array element", '5b3120325d'],
      ['{"a":tru}', "invalid character '}' in literal true (expecting 'e')", '{"a":tru}'],
      ['"\\q"', "invalid character 'q' in string escape code", '225c7122'],
      ['{"a":"\\u00zz"}', "invalid character 'z' in \\u hexadecimal character escape", '{"a":"\\u00zz"}'],
      ['01', "invalid character '1' after top-level value", '3031'],
      ['-a', "invalid character 'a' in numeric literal", '2d61'],
      ['1.a', "invalid character 'a' after decimal point in numeric literal", '312e61'],
      ['1ea', "invalid character 'a' in exponent of numeric literal", '316561'],
      ['{"a":1}x', "invalid character 'x' after top-level value", '{"a":1}x'],
      ['{"a":"\t"}', "invalid character '\\t' in string literal", '{"a":"\t"}'],
      ['é', "invalid character 'Ã' looking for beginning of value", 'c3a9'],
      ['  ', 'unexpected end of JSON input', '2020'],
    ];
    for (const [body, reason, summary] of cases) {
      assertStatus(await c.request('POST', c.path(), { body }), unrecognized(reason, summary));
    }
  });

  it('an empty body answers 400, its summary escaped as Go escapes HTML in JSON', async () => {
    const c = suite();
    const answer = await c.request('POST', c.path(), { body: '' });
    assertStatus(answer, unrecognized('unexpected end of JSON input', '<empty>'));
    assert.ok(answer.text.includes('(\\u003cempty\\u003e)'), answer.text);
  });

  it('PUT reads its body the same way', async () => {
    const c = suite();
    const name = uniqueLeaseName('put-body');
    await c.create(name);
    assertStatus(
      await c.request('PUT', c.path(name), { body: `{"metadata":{"name":"${name}"}` }),
      // The summary is the first 30 bytes.
      unrecognized('unexpected end of JSON input', `{"metadata":{"name":"${name.slice(0, 9)} ...`),
    );
  });
}
