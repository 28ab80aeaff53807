// `oci-pack login HOST -u USER --password-stdin`: check the credentials with the registry and keep
// them where podman does (REGISTRY_AUTH_FILE, else ${XDG_RUNTIME_DIR}/containers/auth.json).
import type { CommandModule } from 'yargs';
import { usageError } from '../errors.js';
import { readWhole } from '../streams.js';
import type { Readable } from 'node:stream';
import type { Io } from './io.js';
import { registryFlags, registryOptions, type RegistryArgs } from './registry-flags.js';

interface LoginArgs extends RegistryArgs {
  registry: string;
  username: string;
  password?: string;
  'password-stdin': boolean;
}

export function loginCommand(io: Io, setStatus: (s: number) => void, stdin: () => Readable): CommandModule<object, LoginArgs> {
  return {
    command: 'login <registry>',
    describe: 'check a user name and password with a registry and store them for push and pull',
    builder: (y) =>
      registryFlags(
        y
          .positional('registry', { type: 'string', demandOption: true, describe: 'HOST[:PORT]' })
          .option('username', { type: 'string', alias: 'u', demandOption: true, requiresArg: true, describe: 'the user name' })
          .option('password', { type: 'string', alias: 'p', requiresArg: true, describe: 'the password (visible to other users; prefer --password-stdin)' })
          .option('password-stdin', { type: 'boolean', default: false, describe: 'read the password from stdin' })
          .example('echo "$PW" | $0 login localhost:5000 -u me --password-stdin', ''),
        false,
      ) as never,
    handler: async (args) => {
      if (args.password !== undefined && args['password-stdin']) throw usageError('--password and --password-stdin: give one');
      let password = args.password;
      if (args['password-stdin']) password = (await readWhole(stdin(), 64 * 1024, 'stdin')).toString('utf8').replace(/\r?\n$/, '');
      if (password === undefined || password === '') throw usageError('a password is needed: --password-stdin (or -p)');
      const { login } = await import('../registry/login.js');
      const { file } = await login({ ...registryOptions(args), registry: args.registry, username: args.username, password });
      if (args.json) io.stdout(`${JSON.stringify({ registry: args.registry, file })}\n`);
      else if (!args.quiet) io.stdout(`Login Succeeded (${file})\n`);
      setStatus(0);
    },
  };
}
