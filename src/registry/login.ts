// `login`: check a user name and password against a registry (basic, or a token fetched with them)
// and record them in the auth file podman would write, for later pushes and pulls.
import { usageError } from '../errors.js';
import { RegistryClient, registryError, type RegistryOptions } from './client.js';
import { loginFile, storeCredentials } from './credentials.js';
import { drain } from './http.js';
import { apiHost } from './reference.js';

export interface LoginOptions extends Omit<RegistryOptions, 'creds'> {
  /** HOST[:PORT] as images name it (docker.io, localhost:5000). */
  registry: string;
  username: string;
  password: string;
}

/** Verify the credentials with the registry, then store them; returns the file written. */
export async function login(opts: LoginOptions): Promise<{ file: string }> {
  const registry = opts.registry.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (!/^[A-Za-z0-9.[\]:-]+$/.test(registry)) throw usageError(`registry ${JSON.stringify(opts.registry)}: expected HOST[:PORT]`);
  if (opts.username === '' || opts.username.includes(':')) throw usageError('--username: must be non-empty and hold no ":"');
  const client = await RegistryClient.connect({ registry, host: apiHost(registry), repository: '' }, { ...opts, creds: `${opts.username}:${opts.password}` });
  try {
    const res = await client.request('GET', '/v2/', { scopes: [] });
    if (res.status !== 200) throw await registryError(res, `login to ${registry} as ${opts.username}`);
    await drain(res);
  } finally {
    client.close();
  }
  const file = loginFile(opts);
  await storeCredentials(file, registry, { username: opts.username, password: opts.password });
  return { file };
}
