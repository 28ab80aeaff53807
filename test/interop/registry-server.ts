// A real distribution registry (Debian's docker-registry 2.8) for the tests, on 127.0.0.1 with a free
// port and a temp storage dir: plain, htpasswd basic auth, or bearer tokens from an issuer served here;
// and a proxy in front of it that can fail, stall or cut chosen requests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPrivateKey, sign, randomBytes, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import { CI, haveCommand, run, tempDir } from '../helpers.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RegistryServer {
  /** 127.0.0.1:PORT */
  host: string;
  port: number;
  dir: string;
  /** SIGKILL the registry (the storage stays). */
  kill(): Promise<void>;
  /** Start it again on the same port and storage. */
  start(): Promise<void>;
  /** Requests the token issuer answered (token mode). */
  tokenRequests: string[];
}

export interface RegistryConfig {
  auth?: 'htpasswd' | 'token';
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1, left in <dir>/certs/ca.crt. */
  tls?: boolean;
  user?: string;
  password?: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * A bcrypt htpasswd line: apache2-utils' `htpasswd -B` when installed, else python3's crypt module
 * (Blowfish, $2b$, which Go's bcrypt accepts), at the lowest cost so each request stays fast.
 */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  if (haveCommand('htpasswd')) return (await run('htpasswd', ['-nbB', '-C', '4', user, password])).trim();
  const script = 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))';
  const hash = (await run('python3', ['-W', 'ignore', '-c', script, password])).trim();
  if (!hash.startsWith('$2')) throw new Error(`python3 crypt made no bcrypt hash: ${hash}`);
  return `${user}:${hash}`;
}

export async function startRegistry(t: TestContext, cfg: RegistryConfig = {}): Promise<RegistryServer> {
  const dir = await tempDir(t, 'oci-pack-registry-');
  const port = await freePort();
  const tokenRequests: string[] = [];
  let auth = '';
  if (cfg.auth === 'htpasswd') {
    await fs.writeFile(path.join(dir, 'htpasswd'), `${await htpasswdLine(cfg.user!, cfg.password!)}\n`);
    auth = `auth:\n  htpasswd:\n    realm: oci-pack-test\n    path: ${path.join(dir, 'htpasswd')}\n`;
  } else if (cfg.auth === 'token') {
    const issuer = await startTokenIssuer(t, dir, cfg.user!, cfg.password!, tokenRequests);
    auth =
      `auth:\n  token:\n    realm: http://127.0.0.1:${issuer.port}/token\n    service: oci-pack-test\n` +
      `    issuer: oci-pack-test-issuer\n    rootcertbundle: ${issuer.certFile}\n`;
  }
  let tls = '';
  if (cfg.tls) {
    const certs = path.join(dir, 'certs');
    await fs.mkdir(certs);
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'server.key'), '-out', path.join(certs, 'ca.crt'), '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
    tls = `  tls:\n    certificate: ${path.join(certs, 'ca.crt')}\n    key: ${path.join(dir, 'server.key')}\n`;
  }
  const config = path.join(dir, 'config.yml');
  await fs.writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${path.join(dir, 'data')}\n  delete:\n    enabled: true\n` +
      `http:\n  addr: 127.0.0.1:${port}\n${tls}${auth}`,
  );
  let child: ChildProcess | undefined;
  const server: RegistryServer = {
    host: `127.0.0.1:${port}`,
    port,
    dir,
    tokenRequests,
    kill: async () => {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await gone;
    },
    start: async () => {
      const log = await fs.open(path.join(dir, 'registry.log'), 'a');
      child = spawn(REGISTRY_BIN, ['serve', config], { stdio: ['ignore', log.fd, log.fd] });
      child.once('exit', () => void log.close().catch(() => undefined));
      await waitForPort(port, 15_000);
    },
  };
  t.after(() => server.kill());
  await server.start();
  return server;
}

async function waitForPort(port: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 1000 }, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`the registry did not start on port ${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A token issuer like docker's auth server, on loopback: checks basic credentials and signs an
 * RS256 JWT with a key whose self-signed certificate the registry trusts (rootcertbundle), carried in
 * the x5c header, which distribution's token auth checks first (registry/auth/token/token.go).
 */
async function startTokenIssuer(t: TestContext, dir: string, user: string, password: string, log: string[]): Promise<{ port: number; certFile: string }> {
  const keyFile = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=oci-pack-test-token-issuer']);
  const key: KeyObject = createPrivateKey(await fs.readFile(keyFile));
  const certDer = (await fs.readFile(certFile, 'utf8')).replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    log.push(url.search);
    const authz = req.headers.authorization;
    if (authz !== undefined && authz !== expected) {
      res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"details":"wrong user name or password"}');
      return;
    }
    // Anonymous users get a token that grants nothing; the registry then refuses them.
    const access = authz
      ? url.searchParams.getAll('scope').map((s) => {
          const [type, ...rest] = s.split(':');
          const actions = rest.pop()!.split(',');
          return { type, name: rest.join(':'), actions };
        })
      : [];
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = { iss: 'oci-pack-test-issuer', sub: authz ? user : '', aud: url.searchParams.get('service') ?? '', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), key).toString('base64url');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: `${signingInput}.${signature}`, expires_in: 300 }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.address() as net.AddressInfo).port, certFile };
}

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

/** What the proxy does with one request. */
export type ProxyAction = 'forward' | { status: number; body: string } | 'hang' | 'cut' | ((req: http.IncomingMessage, res: http.ServerResponse) => void | Promise<void>);

export interface FaultProxy {
  host: string;
  port: number;
  /** Every request seen, as "METHOD path". */
  seen: string[];
  decide: (req: http.IncomingMessage) => ProxyAction;
}

/** A proxy on loopback in front of `target`, that asks `decide` what to do with each request. */
export async function startProxy(t: TestContext, target: number): Promise<FaultProxy> {
  const proxy: FaultProxy = { host: '', port: 0, seen: [], decide: () => 'forward' };
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    proxy.seen.push(`${req.method} ${req.url}`);
    const action = proxy.decide(req);
    if (action === 'hang') return;
    if (action === 'cut') {
      req.socket.destroy();
      return;
    }
    if (typeof action === 'function') {
      void action(req, res);
      return;
    }
    if (action !== 'forward') {
      req.resume();
      res.writeHead(action.status, { 'Content-Type': 'application/json' }).end(action.body);
      return;
    }
    forward(req, res, target);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  proxy.port = (server.address() as net.AddressInfo).port;
  proxy.host = `127.0.0.1:${proxy.port}`;
  return proxy;
}

/** Pass one request to the registry and its answer back; a failure upstream cuts the client's connection. */
export function forward(req: http.IncomingMessage, res: http.ServerResponse, target: number, onResponse?: (up: http.IncomingMessage) => void): void {
  const up = http.request({ host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
    onResponse?.(upRes);
    res.writeHead(upRes.statusCode ?? 502, upRes.headers);
    upRes.pipe(res);
    upRes.on('error', () => res.socket?.destroy());
  });
  up.on('error', () => res.socket?.destroy());
  req.pipe(up);
}

export function registryAvailable(): boolean {
  return spawnSync('sh', ['-c', `test -x ${REGISTRY_BIN}`]).status === 0;
}

/** True when the registry can be started; otherwise the test skips, except under CI=true, where it fails. */
export function needRegistry(t: TestContext): boolean {
  if (registryAvailable()) return true;
  if (CI) throw new Error(`${REGISTRY_BIN} is missing, and CI=true allows no skip (run ../shared/oracle/install-tools)`);
  t.skip('docker-registry not installed');
  return false;
}
