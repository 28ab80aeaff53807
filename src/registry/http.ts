// One HTTP exchange with a registry over node:http/https: TLS with the system CAs plus a cert dir
// (docker's certs.d layout), an idle timeout that names what was waited for, keep-alive agents.
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';
import { UserError } from '../errors.js';

export interface TlsOptions {
  /** false: any certificate is accepted and plain HTTP may be used (skopeo's --tls-verify=false). */
  tlsVerify: boolean;
  /** A folder of *.crt (CAs), *.cert and *.key (client certificate), as docker's certs.d/<host>/. */
  certDir?: string;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  /** A fresh stream or buffer per attempt: a body cannot be replayed once sent. */
  body?: Readable | Buffer;
  timeoutMs: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
}

/** A connection-level failure: refused, reset, dropped, timed out. Retried; shown as ENETWORK. */
export class NetworkError extends UserError {
  override readonly cause: unknown;
  constructor(message: string, cause?: unknown) {
    super(message, 'ENETWORK');
    this.cause = cause;
  }
}

/** An HTTPS agent for `host` with the CAs and client certificate its cert dir holds. */
export async function makeAgents(host: string, tls: TlsOptions): Promise<{ http: http.Agent; https: https.Agent }> {
  const dirs = tls.certDir ? [tls.certDir] : ['/etc/containers/certs.d', '/etc/docker/certs.d'].map((d) => path.join(d, host));
  const ca: string[] = [];
  let cert: Buffer | undefined;
  let key: Buffer | undefined;
  for (const dir of dirs) {
    let names: string[];
    try {
      names = (await fs.readdir(dir)).sort();
    } catch (err) {
      if (tls.certDir && (err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`--cert-dir ${dir}: no such directory`, 'ENOENT');
      continue;
    }
    for (const name of names) {
      if (name.endsWith('.crt')) ca.push(await fs.readFile(path.join(dir, name), 'utf8'));
      if (name.endsWith('.cert') && !cert) {
        const keyName = `${name.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(keyName)) throw new UserError(`${path.join(dir, name)}: client certificate without its ${keyName}`, 'EINPUT');
        cert = await fs.readFile(path.join(dir, name));
        key = await fs.readFile(path.join(dir, keyName));
      }
    }
  }
  const agentOpts: https.AgentOptions = { keepAlive: true, maxSockets: 16, rejectUnauthorized: tls.tlsVerify };
  if (ca.length > 0) agentOpts.ca = [...rootCertificates, ...ca];
  if (cert && key) Object.assign(agentOpts, { cert, key });
  return { http: new http.Agent({ keepAlive: true, maxSockets: 16 }), https: new https.Agent(agentOpts) };
}

/** Send one request; resolves when the response head arrives (the body is the caller's to read). */
export function send(req: HttpRequest, agents: { http: http.Agent; https: https.Agent }): Promise<HttpResponse> {
  const what = `${req.method} ${req.url.origin}${req.url.pathname}`;
  return new Promise((resolve, reject) => {
    const secure = req.url.protocol === 'https:';
    const headers: Record<string, string> = { 'User-Agent': 'oci-pack', ...req.headers };
    if (Buffer.isBuffer(req.body)) headers['Content-Length'] = String(req.body.length);
    const options: http.RequestOptions = { method: req.method, headers, agent: secure ? agents.https : agents.http };
    const r = (secure ? https : http).request(req.url, options);
    let response: http.IncomingMessage | undefined;
    const fail = (err: Error): void => {
      const e = err instanceof UserError ? err : new NetworkError(`${what}: ${describe(err)}`, err);
      if (response) response.destroy(e);
      else reject(e);
      r.destroy();
      // A body stream left paused would keep its file open.
      if (req.body && !Buffer.isBuffer(req.body)) req.body.destroy();
    };
    // An idle timeout, not a total one: a large blob may take long, a silent registry may not.
    r.setTimeout(req.timeoutMs, () => {
      fail(new NetworkError(`${what}: the registry did not answer for ${seconds(req.timeoutMs)} (timeout; raise it with --timeout)`));
    });
    r.on('error', fail);
    r.on('response', (res) => {
      response = res;
      res.on('error', () => r.destroy());
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      const body = req.body;
      body.on('error', (err) => fail(err));
      body.pipe(r);
    }
  });
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** Node's codes for a certificate that does not verify: HTTPS works, trust is missing. */
const CERT_ERRORS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Whether a failure is a certificate that does not verify (never a reason to try plain HTTP). */
export function isCertificateError(err: unknown): boolean {
  const cause = err instanceof NetworkError ? err.cause : err;
  return CERT_ERRORS.has((cause as NodeJS.ErrnoException | undefined)?.code ?? '');
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset by the registry';
    case 'EPIPE':
      return 'the registry closed the connection while we were sending';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'no such host';
    default:
      if (code !== undefined && CERT_ERRORS.has(code)) {
        return `${err.message} (the registry's certificate is not trusted: give --cert-dir with its CA, or --tls-verify=false)`;
      }
      return err.message;
  }
}

/** Read a small response body whole (errors, tokens, manifests), refusing more than `limit` bytes. */
export async function readBody(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  const declared = Number(res.headers['content-length'] ?? NaN);
  if (declared > limit) {
    res.body.destroy();
    throw new UserError(`${what}: the answer is ${declared} bytes, more than the ${limit} allowed`, 'EREGISTRY');
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > limit) {
      res.body.destroy();
      throw new UserError(`${what}: the answer is more than the ${limit} bytes allowed`, 'EREGISTRY');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Throw away a response body we do not need, so the connection can be reused. */
export function drain(res: HttpResponse): Promise<void> {
  return new Promise((resolve) => {
    res.body.on('end', resolve).on('error', () => resolve()).on('close', resolve);
    res.body.resume();
  });
}
