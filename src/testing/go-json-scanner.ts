// Go's encoding/json syntax check (the scanner of json.Valid and
// json.Unmarshal), to word a body that is not JSON exactly as the API server
// does: `invalid character 'o' in literal null (expecting 'u')`. JSON.parse
// reports positions in its own words, so the state machine is ported instead.
// It runs over the UTF-8 bytes, as Go's does.

type Step = (scanner: Scanner, byte: number) => void;

const OBJECT_KEY = 0;
const OBJECT_VALUE = 1;
const ARRAY_VALUE = 2;

class Scanner {
  step: Step = beginValue;
  readonly stack: number[] = [];
  endTop = false;
  error: string | undefined;

  fail(byte: number, context: string): void {
    this.step = failed;
    this.error = `invalid character ${quoteByte(byte)} ${context}`;
  }

  pop(): void {
    this.stack.pop();
    if (this.stack.length === 0) {
      this.step = endTop;
      this.endTop = true;
    } else {
      this.step = endValue;
    }
  }
}

/** Go's error for a document that is not valid JSON; undefined when it is valid. */
export function goJsonSyntaxError(text: string): string | undefined {
  const scanner = new Scanner();
  for (const byte of Buffer.from(text, 'utf8')) {
    scanner.step(scanner, byte);
    if (scanner.error !== undefined) return scanner.error;
  }
  // eof: a number or literal may still be waiting for its end.
  if (scanner.endTop) return undefined;
  scanner.step(scanner, 0x20);
  if (scanner.endTop) return undefined;
  return scanner.error ?? 'unexpected end of JSON input';
}

const isSpace = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0d || b === 0x0a;
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;
const isHex = (b: number): boolean => isDigit(b) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);
const is = (b: number, char: string): boolean => b === char.charCodeAt(0);

const failed: Step = () => {};

const beginValueOrEmpty: Step = (s, b) => {
  if (isSpace(b)) return;
  if (is(b, ']')) {
    endValue(s, b);
    return;
  }
  beginValue(s, b);
};

const beginValue: Step = (s, b) => {
  if (isSpace(b)) return;
  switch (String.fromCharCode(b)) {
    case '{':
      s.step = beginStringOrEmpty;
      s.stack.push(OBJECT_KEY);
      return;
    case '[':
      s.step = beginValueOrEmpty;
      s.stack.push(ARRAY_VALUE);
      return;
    case '"':
      s.step = inString;
      return;
    case '-':
      s.step = negative;
      return;
    case '0':
      s.step = zero;
      return;
    case 't':
      s.step = literal('true', 1);
      return;
    case 'f':
      s.step = literal('false', 1);
      return;
    case 'n':
      s.step = literal('null', 1);
      return;
  }
  if (b >= 0x31 && b <= 0x39) {
    s.step = digits;
    return;
  }
  s.fail(b, 'looking for beginning of value');
};

const beginStringOrEmpty: Step = (s, b) => {
  if (isSpace(b)) return;
  if (is(b, '}')) {
    s.stack[s.stack.length - 1] = OBJECT_VALUE;
    endValue(s, b);
    return;
  }
  beginString(s, b);
};

const beginString: Step = (s, b) => {
  if (isSpace(b)) return;
  if (is(b, '"')) {
    s.step = inString;
    return;
  }
  s.fail(b, 'looking for beginning of object key string');
};

const endValue: Step = (s, b) => {
  const depth = s.stack.length;
  if (depth === 0) {
    s.step = endTop;
    s.endTop = true;
    endTop(s, b);
    return;
  }
  if (isSpace(b)) {
    s.step = endValue;
    return;
  }
  switch (s.stack[depth - 1]) {
    case OBJECT_KEY:
      if (is(b, ':')) {
        s.stack[depth - 1] = OBJECT_VALUE;
        s.step = beginValue;
        return;
      }
      s.fail(b, 'after object key');
      return;
    case OBJECT_VALUE:
      if (is(b, ',')) {
        s.stack[depth - 1] = OBJECT_KEY;
        s.step = beginString;
        return;
      }
      if (is(b, '}')) {
        s.pop();
        return;
      }
      s.fail(b, 'after object key:value pair');
      return;
    default:
      if (is(b, ',')) {
        s.step = beginValue;
        return;
      }
      if (is(b, ']')) {
        s.pop();
        return;
      }
      s.fail(b, 'after array element');
  }
};

const endTop: Step = (s, b) => {
  if (!isSpace(b)) s.fail(b, 'after top-level value');
};

const inString: Step = (s, b) => {
  if (is(b, '"')) s.step = endValue;
  else if (is(b, '\\')) s.step = inStringEscape;
  else if (b < 0x20) s.fail(b, 'in string literal');
};

const inStringEscape: Step = (s, b) => {
  if ('bfnrt\\/"'.includes(String.fromCharCode(b))) s.step = inString;
  else if (is(b, 'u')) s.step = unicodeEscape(0);
  else s.fail(b, 'in string escape code');
};

function unicodeEscape(seen: number): Step {
  return (s, b) => {
    if (!isHex(b)) s.fail(b, 'in \\u hexadecimal character escape');
    else s.step = seen === 3 ? inString : unicodeEscape(seen + 1);
  };
}

const negative: Step = (s, b) => {
  if (is(b, '0')) s.step = zero;
  else if (b >= 0x31 && b <= 0x39) s.step = digits;
  else s.fail(b, 'in numeric literal');
};

const digits: Step = (s, b) => {
  if (isDigit(b)) return;
  zero(s, b);
};

const zero: Step = (s, b) => {
  if (is(b, '.')) s.step = dot;
  else if (is(b, 'e') || is(b, 'E')) s.step = exponent;
  else endValue(s, b);
};

const dot: Step = (s, b) => {
  if (isDigit(b)) s.step = fraction;
  else s.fail(b, 'after decimal point in numeric literal');
};

const fraction: Step = (s, b) => {
  if (isDigit(b)) return;
  if (is(b, 'e') || is(b, 'E')) s.step = exponent;
  else endValue(s, b);
};

const exponent: Step = (s, b) => {
  if (is(b, '+') || is(b, '-')) s.step = exponentSign;
  else exponentSign(s, b);
};

const exponentSign: Step = (s, b) => {
  if (isDigit(b)) s.step = exponentDigits;
  else s.fail(b, 'in exponent of numeric literal');
};

const exponentDigits: Step = (s, b) => {
  if (!isDigit(b)) endValue(s, b);
};

/** The states of true, false and null after their first letter. */
function literal(word: string, next: number): Step {
  return (s, b) => {
    const expected = word[next] ?? '';
    if (!is(b, expected)) {
      s.fail(b, `in literal ${word} (expecting ${quoteByte(expected.charCodeAt(0))})`);
      return;
    }
    s.step = next + 1 === word.length ? endValue : literal(word, next + 1);
  };
}

const QUOTE_ESCAPES: Readonly<Record<number, string>> = {
  0x07: '\\a',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x0b: '\\v',
  0x5c: '\\\\',
};

/** quoteChar: a byte as a Go character literal, the byte read as a code point. */
function quoteByte(byte: number): string {
  if (byte === 0x27) return "'\\''";
  if (byte === 0x22) return "'\"'";
  const escaped = QUOTE_ESCAPES[byte];
  if (escaped !== undefined) return `'${escaped}'`;
  if (byte < 0x20 || byte === 0x7f) return `'\\x${byte.toString(16).padStart(2, '0')}'`;
  // strconv.Quote prints U+0080..U+009F, U+00A0 (no-break space) and U+00AD (soft hyphen) as escapes.
  if ((byte >= 0x80 && byte <= 0xa0) || byte === 0xad) return `'\\u${byte.toString(16).padStart(4, '0')}'`;
  return `'${String.fromCharCode(byte)}'`;
}
