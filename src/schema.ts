// Validators for the JSON documents oci-pack writes and reads (OCI layout, index, manifest, config,
// docker-save manifest.json and repositories), compiled once per process from the package's schemas/.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { UserError } from './errors.js';

export type SchemaName = 'oci-layout' | 'image-index' | 'image-manifest' | 'image-config'
  | 'content-descriptor' | 'docker-manifest' | 'docker-repositories';

const SCHEMA_NAMES: readonly SchemaName[] = [
  'content-descriptor', 'oci-layout', 'image-index', 'image-manifest', 'image-config',
  'docker-manifest', 'docker-repositories',
];

const SCHEMA_ID_BASE = 'https://oci-pack.dev/schemas/';
const PACKAGE_NAME = 'oci-pack';

/** How many problems a bug report (assertValid) lists before it only counts the rest. */
const LISTED_PROBLEMS = 10;
/** Offending values are quoted in messages, but a hostile document must not make one line huge. */
const SHOWN_VALUE_CHARS = 60;

/** Keywords whose failure is better told by the schema's own description than by Ajv's message. */
const DESCRIBED_KEYWORDS = new Set(['pattern', 'maxProperties']);

let ajv: Ajv | undefined;
const validators = new Map<SchemaName, ValidateFunction>();

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

function validatorFor(name: SchemaName): ValidateFunction {
  const cached = validators.get(name);
  if (cached) return cached;
  const validate = loadedAjv().getSchema(`${SCHEMA_ID_BASE}${name}.schema.json`);
  if (!validate) throw new Error(`schemas/${name}.schema.json does not declare $id ${SCHEMA_ID_BASE}${name}.schema.json`);
  validators.set(name, validate);
  return validate;
}

/** Every schema is added before any is compiled, so that their $refs to each other resolve. */
function loadedAjv(): Ajv {
  if (ajv) return ajv;
  const dir = join(packageRoot(), 'schemas');
  // allowUnionTypes: config.md lets every OPTIONAL field be null, and a ["string","null"] type
  // reports one error where an anyOf would report three.
  const instance = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
  for (const name of SCHEMA_NAMES) {
    const file = join(dir, `${name}.schema.json`);
    instance.addSchema(JSON.parse(readFileSync(file, 'utf8')) as object);
  }
  ajv = instance;
  return instance;
}

/** The folder holding our package.json, found from this module whether it runs from dist/src or src. */
function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (isOurPackageJson(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`no package.json named ${PACKAGE_NAME} above ${start}: the package is installed incompletely`);
}

function isOurPackageJson(file: string): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  try {
    return (JSON.parse(text) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false;
  }
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
