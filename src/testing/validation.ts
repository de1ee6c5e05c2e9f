// The validation the API server runs on a Lease (ValidateLease,
// ValidateLeaseUpdate and the ObjectMeta rules they call), with its wording:
// a 422 carries one cause per broken rule and a message joining them.

import { goQuote } from './go-format.js';
import { failure, type Status, type StatusCause } from './status.js';

/** `reason` of a cause: the field.ErrorType of the broken rule. */
export type FieldErrorType =
  | 'FieldValueInvalid'
  | 'FieldValueRequired'
  | 'FieldValueForbidden'
  | 'FieldValueNotSupported'
  | 'FieldValueTooLong';

/** One broken rule. `value` is the offending value already printed as Go prints it. */
export interface FieldError {
  readonly type: FieldErrorType;
  readonly field: string;
  readonly value?: string;
  readonly detail: string;
}

const TYPE_TEXT: Record<FieldErrorType, string> = {
  FieldValueInvalid: 'Invalid value',
  FieldValueRequired: 'Required value',
  FieldValueForbidden: 'Forbidden',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueTooLong: 'Too long',
};

/** The part of a field error after the field path (field.Error.ErrorBody). */
export function fieldErrorBody(error: FieldError): string {
  let body = TYPE_TEXT[error.type];
  const showsValue = error.type === 'FieldValueInvalid' || error.type === 'FieldValueNotSupported';
  if (showsValue && error.value !== undefined) body += `: ${error.value}`;
  if (error.detail !== '') body += `: ${error.detail}`;
  return body;
}

/**
 * 422 Invalid (errors.NewInvalid). `label` names the object in the message and
 * `detailsKind` goes to details.kind: validation names the kind
 * (`Lease.coordination.k8s.io`, kind `Lease`); the missing-resourceVersion check
 * of the generic store names the resource (`leases.coordination.k8s.io`, `leases`).
 */
export function invalid(label: string, group: string, detailsKind: string, name: string, errors: readonly FieldError[]): Status {
  const causes: StatusCause[] = errors.map((error) => ({
    reason: error.type,
    message: fieldErrorBody(error),
    field: error.field,
  }));
  const messages = [...new Set(errors.map((error) => `${error.field}: ${fieldErrorBody(error)}`))];
  const aggregate = messages.length === 1 ? (messages[0] ?? '') : `[${messages.join(', ')}]`;
  const head = `${label} ${goQuote(name)} is invalid`;
  return failure(422, 'Invalid', messages.length === 0 ? head : `${head}: ${aggregate}`, {
    name,
    group,
    kind: detailsKind,
    causes,
  });
}

const DNS1123_LABEL_FORMAT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS1123_SUBDOMAIN_FORMAT = `${DNS1123_LABEL_FORMAT}(\\.${DNS1123_LABEL_FORMAT})*`;
const DNS1123_LABEL = new RegExp(`^${DNS1123_LABEL_FORMAT}$`);
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_SUBDOMAIN_FORMAT}$`);
const QUALIFIED_NAME_FORMAT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const QUALIFIED_NAME = new RegExp(`^${QUALIFIED_NAME_FORMAT}$`);
const LABEL_VALUE = new RegExp(`^(${QUALIFIED_NAME_FORMAT})?$`);
const QUALIFIED_NAME_MESSAGE =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024;

function regexError(message: string, format: string, ...examples: string[]): string {
  if (examples.length === 0) return `${message} (regex used for validation is '${format}')`;
  const shown = examples.map((example) => `'${example}', `).join(' or ');
  return `${message} (e.g. ${shown}regex used for validation is '${format}')`;
}

function maxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

/** Messages of IsDNS1123Subdomain (the rule for lease names); empty when valid. */
export function dns1123SubdomainErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > 253) errors.push(maxLenError(253));
  if (!DNS1123_SUBDOMAIN.test(value)) {
    errors.push(
      regexError(
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        DNS1123_SUBDOMAIN_FORMAT,
        'example.com',
      ),
    );
  }
  return errors;
}

/** Messages of IsDNS1123Label (the rule for namespace names); empty when valid. */
export function dns1123LabelErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > 63) errors.push(maxLenError(63));
  if (!DNS1123_LABEL.test(value)) {
    errors.push(
      regexError(
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
        DNS1123_LABEL_FORMAT,
        'my-name',
        '123-abc',
      ),
    );
  }
  return errors;
}

function qualifiedNameErrors(value: string): string[] {
  const errors: string[] = [];
  const parts = value.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0] ?? '';
  } else if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    name = parts[1] ?? '';
    if (prefix === '') errors.push('prefix part must be non-empty');
    else errors.push(...dns1123SubdomainErrors(prefix).map((message) => `prefix part ${message}`));
  } else {
    return [
      `a qualified name ${regexError(QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME_FORMAT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name === '') errors.push('name part must be non-empty');
  else if (name.length > 63) errors.push(`name part ${maxLenError(63)}`);
  if (!QUALIFIED_NAME.test(name)) {
    errors.push(`name part ${regexError(QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME_FORMAT, 'MyName', 'my.name', '123-abc')}`);
  }
  return errors;
}

function labelValueErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.length > 63) errors.push(maxLenError(63));
  if (!LABEL_VALUE.test(value)) {
    errors.push(
      regexError(
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        `(${QUALIFIED_NAME_FORMAT})?`,
        'MyValue',
        'my_value',
        '12345',
      ),
    );
  }
  return errors;
}

/** The metadata a validation rule looks at. */
export interface ValidatedMeta {
  readonly name: string;
  readonly generateName?: string | undefined;
  readonly uid: string;
  readonly generation?: number | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/** The spec a validation rule looks at. */
export interface ValidatedSpec {
  readonly leaseDurationSeconds?: number | undefined;
  readonly leaseTransitions?: number | undefined;
  readonly strategy?: string | undefined;
  readonly preferredHolder?: string | undefined;
}

const invalidValue = (field: string, value: string, detail: string): FieldError => ({
  type: 'FieldValueInvalid',
  field,
  value,
  detail,
});

/** ValidateLease: the rules of a create. */
export function validateLeaseCreate(meta: ValidatedMeta, spec: ValidatedSpec): FieldError[] {
  const errors: FieldError[] = [];
  if (meta.generateName !== undefined && meta.generateName !== '') {
    const masked = maskTrailingDash(meta.generateName);
    for (const message of dns1123SubdomainErrors(masked)) {
      errors.push(invalidValue('metadata.generateName', goQuote(meta.generateName), message));
    }
  }
  if (meta.name === '') {
    errors.push({ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required' });
  } else {
    for (const message of dns1123SubdomainErrors(meta.name)) {
      errors.push(invalidValue('metadata.name', goQuote(meta.name), message));
    }
  }
  if (meta.generation !== undefined && meta.generation < 0) {
    errors.push(invalidValue('metadata.generation', String(meta.generation), 'must be greater than or equal to 0'));
  }
  errors.push(...metadataMapErrors(meta), ...validateLeaseSpec(spec));
  return errors;
}

/** ValidateLeaseUpdate: the rules of an update, against the stored object. */
export function validateLeaseUpdate(meta: ValidatedMeta, old: ValidatedMeta, spec: ValidatedSpec): FieldError[] {
  const errors: FieldError[] = [];
  if (meta.uid !== old.uid) {
    errors.push(invalidValue('metadata.uid', goQuote(meta.uid), 'field is immutable'));
  }
  errors.push(...metadataMapErrors(meta), ...validateLeaseSpec(spec));
  return errors;
}

function metadataMapErrors(meta: ValidatedMeta): FieldError[] {
  const errors: FieldError[] = [];
  const labels = meta.labels ?? {};
  // Go walks a map in random order; sorting gives one stable order.
  for (const key of Object.keys(labels).sort()) {
    for (const message of qualifiedNameErrors(key)) errors.push(invalidValue('metadata.labels', goQuote(key), message));
    const value = labels[key] ?? '';
    for (const message of labelValueErrors(value)) errors.push(invalidValue('metadata.labels', goQuote(value), message));
  }
  const annotations = meta.annotations ?? {};
  let size = 0;
  for (const key of Object.keys(annotations).sort()) {
    size += Buffer.byteLength(key) + Buffer.byteLength(annotations[key] ?? '');
    for (const message of qualifiedNameErrors(key.toLowerCase())) {
      errors.push(invalidValue('metadata.annotations', goQuote(key), message));
    }
  }
  if (size > TOTAL_ANNOTATION_SIZE_LIMIT) {
    errors.push({
      type: 'FieldValueTooLong',
      field: 'metadata.annotations',
      detail: `may not be more than ${TOTAL_ANNOTATION_SIZE_LIMIT} bytes`,
    });
  }
  return errors;
}

const VALID_STRATEGIES = ['OldestEmulationVersion'];

/** ValidateLeaseSpec. */
export function validateLeaseSpec(spec: ValidatedSpec): FieldError[] {
  const errors: FieldError[] = [];
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds <= 0) {
    errors.push(invalidValue('spec.leaseDurationSeconds', String(spec.leaseDurationSeconds), 'must be greater than 0'));
  }
  if (spec.leaseTransitions !== undefined && spec.leaseTransitions < 0) {
    errors.push(
      invalidValue('spec.leaseTransitions', String(spec.leaseTransitions), 'must be greater than or equal to 0'),
    );
  }
  if (spec.strategy !== undefined) errors.push(...strategyErrors(spec.strategy));
  if (spec.preferredHolder !== undefined && spec.preferredHolder !== '' && !spec.strategy) {
    errors.push({
      type: 'FieldValueForbidden',
      field: 'spec.preferredHolder',
      detail: 'may only be specified if `strategy` is defined',
    });
  }
  return errors;
}

function strategyErrors(strategy: string): FieldError[] {
  // The server appends "strategy" to a path that already ends in it: the field
  // really is reported as spec.strategy.strategy.
  const field = 'spec.strategy.strategy';
  if (!strategy.includes('/')) {
    if (VALID_STRATEGIES.includes(strategy)) return [];
    return [
      {
        type: 'FieldValueNotSupported',
        field,
        value: goQuote(strategy),
        detail: `supported values: ${VALID_STRATEGIES.map(goQuote).join(', ')}`,
      },
    ];
  }
  return qualifiedNameErrors(strategy).map((message) => invalidValue(field, goQuote(strategy), message));
}

function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -2)}a` : name;
}
