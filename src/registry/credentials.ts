// Where a registry's credentials come from, in podman's order: an explicit user:pass, the auth
// files (REGISTRY_AUTH_FILE, containers/auth.json, docker's config.json) and credential helpers.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError, usageError } from '../errors.js';
import { parseJsonInput } from '../json.js';
import { tempPath } from '../store.js';

export interface Credentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token (docker's `identitytoken`): exchanged for bearer tokens, never sent as basic. */
  identityToken?: string;
}

export interface CredentialOptions {
  /** `user:pass` given on the command line: wins over every file. */
  creds?: string;
  /** One auth file instead of the usual search (podman's --authfile). */
  authFile?: string;
  /** The environment to read paths from (tests pass their own). */
  env?: NodeJS.ProcessEnv;
}

const MAX_AUTH_FILE_BYTES = 4 * 1024 * 1024;
const DOCKER_HUB_KEYS = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];
const DOCKER_HUB_SERVER_URL = 'https://index.docker.io/v1/';

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Parse `--creds user:pass` (the password may hold ':'; an empty user is refused). */
export function parseCreds(text: string, what = '--creds'): Credentials {
  const colon = text.indexOf(':');
  if (colon <= 0) throw usageError(`${what}: expected USER:PASSWORD`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The auth files consulted, most important first, as podman searches them. */
export function authFiles(opts: CredentialOptions = {}): string[] {
  const env = opts.env ?? process.env;
  if (opts.authFile) return [opts.authFile];
  const home = env.HOME ?? os.homedir();
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  files.push(path.join(env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'containers', 'auth.json'));
  files.push(path.join(env.DOCKER_CONFIG ?? path.join(home, '.docker'), 'config.json'));
  return files;
}

/** The file `oci-pack login` writes: podman's choice (REGISTRY_AUTH_FILE, else the runtime dir, else ~/.config). */
export function loginFile(opts: CredentialOptions = {}): string {
  const env = opts.env ?? process.env;
  if (opts.authFile) return opts.authFile;
  if (env.REGISTRY_AUTH_FILE) return env.REGISTRY_AUTH_FILE;
  const base = env.XDG_RUNTIME_DIR ?? env.XDG_CONFIG_HOME ?? path.join(env.HOME ?? os.homedir(), '.config');
  return path.join(base, 'containers', 'auth.json');
}

/**
 * The credentials for `registry` (and `repository`, for podman's per-namespace entries), or
 * undefined for anonymous access.
 */
export async function findCredentials(registry: string, repository: string | undefined, opts: CredentialOptions = {}): Promise<Credentials | undefined> {
  if (opts.creds !== undefined) return parseCreds(opts.creds);
  for (const file of authFiles(opts)) {
    const doc = await readAuthFile(file);
    if (!doc) continue;
    const helper = doc.credHelpers?.[registry] ?? (registry === 'docker.io' ? doc.credHelpers?.['index.docker.io'] : undefined);
    if (helper) return helperGet(helper, registry);
    const entry = matchAuth(doc.auths ?? {}, registry, repository);
    // docker login with a credsStore leaves an empty entry: the store holds the secret.
    const found = entry && decodeEntry(entry, file, registry);
    if (found) return found;
    if (doc.credsStore) {
      const found = await helperGet(doc.credsStore, registry);
      if (found) return found;
    }
  }
  return undefined;
}

async function readAuthFile(file: string): Promise<AuthFile | undefined> {
  let data: Buffer;
  try {
    data = await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new UserError(`${file}: ${(err as Error).message}`, 'EINPUT');
  }
  const doc = parseJsonInput(data, file, MAX_AUTH_FILE_BYTES);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new UserError(`${file}: not a JSON object`, 'EINPUT');
  return doc as AuthFile;
}

/** The key an `auths` entry stands for: docker writes https://host/v1/, podman host or host/namespace. */
function normaliseKey(key: string): string {
  let k = key;
  const scheme = /^https?:\/\//.exec(k);
  if (scheme) {
    k = k.slice(scheme[0].length);
    k = k.split('/')[0]!;
  }
  k = k.replace(/\/+$/, '');
  const [host, ...rest] = k.split('/');
  const h = DOCKER_HUB_KEYS.includes(host!) ? 'docker.io' : host!;
  return [h, ...rest].join('/');
}

/** The most specific entry: registry/ns/repo before registry/ns before registry. */
function matchAuth(auths: Record<string, AuthEntry>, registry: string, repository: string | undefined): AuthEntry | undefined {
  const byKey = new Map<string, AuthEntry>();
  for (const [key, entry] of Object.entries(auths)) {
    const k = normaliseKey(key);
    if (!byKey.has(k)) byKey.set(k, entry);
  }
  const wanted = DOCKER_HUB_KEYS.includes(registry) ? 'docker.io' : registry;
  const parts = repository ? repository.split('/') : [];
  for (let n = parts.length; n >= 0; n--) {
    const found = byKey.get([wanted, ...parts.slice(0, n)].join('/'));
    if (found) return found;
  }
  return undefined;
}

function decodeEntry(entry: AuthEntry, file: string, registry: string): Credentials | undefined {
  if (entry.identitytoken) return { username: entry.username ?? '', password: '', identityToken: entry.identitytoken };
  if (entry.auth) {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) throw new UserError(`${file}: auths entry for ${registry}: "auth" is not base64 of user:password`, 'EINPUT');
    return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/** Ask `docker-credential-<helper> get` (the docker credential-helper protocol); none found is undefined. */
async function helperGet(helper: string, registry: string): Promise<Credentials | undefined> {
  const program = helperProgram(helper);
  const server = registry === 'docker.io' ? DOCKER_HUB_SERVER_URL : registry;
  const { status, stdout, stderr } = await runHelper(program, ['get'], server);
  if (status !== 0) {
    if (/credentials not found/i.test(stdout + stderr)) return undefined;
    throw new UserError(`${program} get ${server}: ${(stderr || stdout).trim() || `exit status ${status}`}`, 'EAUTH');
  }
  let doc: { Username?: string; Secret?: string };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    throw new UserError(`${program} get ${server}: the answer is not JSON`, 'EAUTH');
  }
  if (typeof doc.Secret !== 'string') return undefined;
  if (doc.Username === '<token>') return { username: '', password: '', identityToken: doc.Secret };
  return { username: doc.Username ?? '', password: doc.Secret };
}

function runHelper(program: string, args: string[], input: string): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d.slice(0, 65536)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d.slice(0, 65536)));
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new UserError(`credential helper ${program} is not installed (named by a docker config)`, 'EAUTH') : err);
    });
    child.on('close', (code) => resolve({ status: code ?? 1, stdout, stderr }));
    child.stdin.end(input);
  });
}

/**
 * Record credentials for `registry` in `file`, keeping the rest. An auth file gets podman's
 * auths.<registry>.auth; a docker config (a file named config.json, as --authfile
 * ~/.docker/config.json names it) is written as docker login does: Docker Hub under
 * https://index.docker.io/v1/, and through its credential helper when it names one (the secret goes
 * to `docker-credential-NAME store`, the file keeps an empty entry). An older entry for the same
 * registry under another key form is replaced, so the new one is the one found.
 */
export async function storeCredentials(file: string, registry: string, creds: Credentials): Promise<void> {
  const doc: AuthFile = (await readAuthFile(file)) ?? {};
  const dockerConfig = path.basename(file) === 'config.json';
  const key = dockerConfig && DOCKER_HUB_KEYS.includes(registry) ? DOCKER_HUB_SERVER_URL : registry;
  const auths = Object.fromEntries(Object.entries(doc.auths ?? {}).filter(([k]) => normaliseKey(k) !== normaliseKey(key)));
  const helper = dockerConfig ? (doc.credHelpers?.[registry] ?? doc.credsStore) : undefined;
  if (helper) await helperStore(helper, key, creds);
  doc.auths = { ...auths, [key]: helper ? {} : { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } };
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = tempPath(path.dirname(file));
  try {
    await fs.writeFile(tmp, `${JSON.stringify(doc, null, '\t')}\n`, { mode: 0o600, flag: 'wx' });
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** `docker-credential-<helper> store` with {ServerURL, Username, Secret} on stdin. */
async function helperStore(helper: string, server: string, creds: Credentials): Promise<void> {
  const program = helperProgram(helper);
  const { status, stdout, stderr } = await runHelper(program, ['store'], JSON.stringify({ ServerURL: server, Username: creds.username, Secret: creds.password }));
  if (status !== 0) throw new UserError(`${program} store ${server}: ${(stderr || stdout).trim() || `exit status ${status}`}`, 'EAUTH');
}

function helperProgram(helper: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) throw new UserError(`credential helper ${JSON.stringify(helper)}: not a plain name`, 'EINPUT');
  return `docker-credential-${helper}`;
}
