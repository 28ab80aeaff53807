// The flags every registry command shares (--creds, --authfile, --tls-verify, --cert-dir, --timeout,
// -q, --json) and how they become the library's RegistryOptions.
import type { Argv } from 'yargs';
import { usageError } from '../errors.js';
import type { RegistryOptions } from '../registry/client.js';

export interface RegistryArgs {
  creds?: string;
  authfile?: string;
  'tls-verify': boolean;
  'cert-dir'?: string;
  timeout: number;
  quiet: boolean;
  json: boolean;
}

export function registryFlags<T>(y: Argv<T>, withCreds = true): Argv<T & RegistryArgs> {
  let out = y as unknown as Argv<T & RegistryArgs>;
  if (withCreds) out = (out as Argv).option('creds', { type: 'string', requiresArg: true, describe: 'USER:PASSWORD for the registry (default: the auth files, as podman reads them)' }) as unknown as Argv<T & RegistryArgs>;
  return out
    .option('authfile', { type: 'string', requiresArg: true, describe: 'the auth file to use instead of $REGISTRY_AUTH_FILE, containers/auth.json, ~/.docker/config.json' })
    .option('tls-verify', { type: 'boolean', default: true, describe: 'verify TLS certificates; =false also allows plain HTTP (loopback hosts always may)' })
    .option('cert-dir', { type: 'string', requiresArg: true, describe: 'a folder of *.crt CAs and a *.cert/*.key client certificate' })
    .option('timeout', { type: 'number', default: 60, requiresArg: true, describe: 'seconds the registry may stay silent before a request fails' })
    .option('quiet', { type: 'boolean', alias: 'q', default: false, describe: 'no progress on stderr (shown only on a terminal)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' }) as unknown as Argv<T & RegistryArgs>;
}

export function registryOptions(args: RegistryArgs): RegistryOptions {
  if (!(args.timeout > 0)) throw usageError(`--timeout ${args.timeout}: expected a positive number of seconds`);
  const opts: RegistryOptions = { tlsVerify: args['tls-verify'], timeoutMs: Math.round(args.timeout * 1000) };
  if (args.creds !== undefined) opts.creds = args.creds;
  if (args.authfile !== undefined) opts.authFile = args.authfile;
  if (args['cert-dir'] !== undefined) opts.certDir = args['cert-dir'];
  return opts;
}

/** "sha256:0123456789ab" for progress lines. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 19);
}
