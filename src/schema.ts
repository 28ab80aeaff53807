// Validators for the JSON documents oci-pack writes and reads (OCI layout, index, manifest, config,
// docker-save manifest.json and repositories), compiled ahead of time from the package's schemas/.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Ajv, ErrorObject } from 'ajv';
import { UserError } from './errors.js';
import { packageRoot } from './package.js';
import { generatedValidators } from './schema-generated.js';

export type SchemaName = 'oci-layout' | 'image-index' | 'image-manifest' | 'image-config'
  | 'content-descriptor' | 'docker-manifest' | 'docker-repositories';

export const SCHEMA_NAMES: readonly SchemaName[] = [
  'content-descriptor', 'oci-layout', 'image-index', 'image-manifest', 'image-config',
  'docker-manifest', 'docker-repositories',
];

export const SCHEMA_ID_BASE = 'https://oci-pack.dev/schemas/';

/**
 * How the validators are compiled, by scripts/compile-schemas.mjs at build time and here when its
 * output is missing or stale. allowUnionTypes: config.md lets every OPTIONAL field be null, and a
 * ["string","null"] type reports one error where an anyOf would report three.
 */
export const AJV_OPTIONS = { allErrors: true, strict: true, allowUnionTypes: true, verbose: true } as const;

/** How many problems a bug report (assertValid) lists before it only counts the rest. */
const LISTED_PROBLEMS = 10;
/** Offending values are quoted in messages, but a hostile document must not make one line huge. */
const SHOWN_VALUE_CHARS = 60;

/** Keywords whose failure is better told by the schema's own description than by Ajv's message. */
const DESCRIBED_KEYWORDS = new Set(['pattern', 'maxProperties']);

type Validate = ((doc: unknown) => boolean) & { errors?: ErrorObject[] | null };

let validators: Map<SchemaName, Validate> | undefined;

/** Problems found, one readable line each: "/layers/0/digest: must be a sha256 digest: ..."; [] when valid. */
export function schemaProblems(name: SchemaName, doc: unknown): string[] {
  const validate = validatorFor(name);
  if (validate(doc)) return [];
  const lines = (validate.errors ?? []).filter(isInformative).map(describe);
  return [...new Set(lines)];
}

/** For documents WE are about to write: a failure is a bug; throws a plain Error naming `what` and the problems. */
export function assertValid(name: SchemaName, doc: unknown, what: string): void {
  const problems = schemaProblems(name, doc);
  if (problems.length === 0) return;
  const listed = problems.slice(0, LISTED_PROBLEMS).join('; ');
  const more = problems.length > LISTED_PROBLEMS ? `; and ${problems.length - LISTED_PROBLEMS} more` : '';
  throw new Error(`${what} does not match the ${name} schema, refusing to write it: ${listed}${more}`);
}

/** For documents we READ from user input: throws UserError(`${where}: ${first problem}`, 'EINPUT'). */
export function checkInput(name: SchemaName, doc: unknown, where: string): void {
  const problems = schemaProblems(name, doc);
  const first = problems[0];
  if (first !== undefined) throw new UserError(`${where}: ${first}`, 'EINPUT');
}

/** What the generated validators were compiled from: they are used only while the schemas are the same. */
export function schemasDigest(texts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const text of texts) hash.update(`${text.length}:${text}`);
  return hash.digest('hex');
}

function validatorFor(name: SchemaName): Validate {
  validators ??= loadValidators();
  const validate = validators.get(name);
  if (!validate) throw new Error(`no validator for schemas/${name}.schema.json (does it declare $id ${SCHEMA_ID_BASE}${name}.schema.json?)`);
  return validate;
}

/**
 * The validators compiled at build time; compiled now, with Ajv, when there are none (a build by
 * `tsc` alone) or they were made from other schemas than the package's (an edit since the build).
 */
function loadValidators(): Map<SchemaName, Validate> {
  const require = createRequire(import.meta.url);
  const texts = SCHEMA_NAMES.map((name) => readFileSync(join(packageRoot(), 'schemas', `${name}.schema.json`), 'utf8'));
  const generated = generatedValidators() as Partial<Record<SchemaName, Validate>> & { schemasDigest?: string } | undefined;
  const out = new Map<SchemaName, Validate>();
  if (generated?.schemasDigest === schemasDigest(texts)) {
    for (const name of SCHEMA_NAMES) {
      const validate = generated[name];
      if (validate) out.set(name, validate);
    }
    return out;
  }
  // Every schema is added before any is compiled, so that their $refs to each other resolve.
  const AjvClass = (require('ajv') as { default: typeof Ajv }).default;
  const ajv = new AjvClass(AJV_OPTIONS);
  for (const text of texts) ajv.addSchema(JSON.parse(text) as object);
  for (const name of SCHEMA_NAMES) {
    const validate = ajv.getSchema(`${SCHEMA_ID_BASE}${name}.schema.json`);
    if (validate) out.set(name, validate as Validate);
  }
  return out;
}

/**
 * Drop errors that only repeat others: an `if` failure says which `then` was tried, and a
 * `propertyNames` failure comes with the error of the key itself.
 */
function isInformative(err: ErrorObject): boolean {
  return err.keyword !== 'if' && err.keyword !== 'propertyNames';
}

function describe(err: ErrorObject): string {
  const params = err.params as Record<string, unknown>;
  let where = err.instancePath;
  let text = err.message ?? `fails ${err.keyword}`;
  if (err.keyword === 'type') {
    const types = Array.isArray(params['type']) ? params['type'] : String(params['type']).split(',');
    text = `must be ${types.join(' or ')}`;
  } else if (DESCRIBED_KEYWORDS.has(err.keyword) && typeof err.parentSchema?.['description'] === 'string') {
    // The schema says in words what its rule means; a person should not have to read a regex.
    text = `must be ${err.parentSchema['description']}`;
  } else if (err.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
    text += ` (${params['allowedValues'].map((v) => JSON.stringify(v)).join(', ')})`;
  } else if (err.keyword === 'not' && typeof (err.schema as { description?: unknown } | undefined)?.description === 'string') {
    text = (err.schema as { description: string }).description;
  } else if (err.keyword === 'const') {
    text += ` ${JSON.stringify(params['allowedValue'])}`;
  }
  // A bad key is reported at its object: name the key, and say that the key is what is wrong.
  if (err.propertyName !== undefined) {
    where = `${where}/${escapePointer(err.propertyName)}`;
    text = `key ${text}`;
  } else if (isScalar(err.data) && err.keyword !== 'required') {
    text += `, got ${shown(err.data)}`;
  }
  return `${where === '' ? '/' : where}: ${text}`;
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isScalar(value: unknown): value is string | number | boolean | null {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function shown(value: string | number | boolean | null): string {
  const text = JSON.stringify(value);
  return text.length <= SHOWN_VALUE_CHARS ? text : `${text.slice(0, SHOWN_VALUE_CHARS)}...`;
}
