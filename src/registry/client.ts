// A session with one registry: the /v2/ ping that picks HTTPS or (where allowed) HTTP and learns the
// auth challenge, requests with auth, retries with backoff, and the distribution error JSON.
import { UserError, type ErrorCode } from '../errors.js';
import { Authorizer } from './auth.js';
import { findCredentials, type CredentialOptions } from './credentials.js';
import { drain, isCertificateError, makeAgents, NetworkError, readBody, send, type HttpResponse, type TlsOptions } from './http.js';
import { plainHttpAllowed, type RegistryRef } from './reference.js';
import type { Readable } from 'node:stream';
import type * as http from 'node:http';
import type * as https from 'node:https';

export interface RegistryOptions extends CredentialOptions {
  /** Verify TLS certificates (default true); false also allows plain HTTP, as skopeo's --tls-verify=false. */
  tlsVerify?: boolean;
  /** A folder of CA certificates (*.crt) and a client certificate (*.cert + *.key), as docker's certs.d. */
  certDir?: string;
  /** How long the registry may stay silent before a request fails (default 60 s). */
  timeoutMs?: number;
  /** Attempts after the first on a dropped connection or a 5xx/429 answer (default 4). */
  retries?: number;
  /** The first pause between attempts, doubled each time (default 250 ms). */
  backoffMs?: number;
}

export interface RequestOptions {
  /** The token scopes the request needs (bearer auth). */
  scopes: readonly string[];
  headers?: Record<string, string>;
  /** Makes the body afresh for each attempt. */
  body?: () => Readable | Buffer;
  /** Retry dropped connections and 5xx answers here (false when the caller retries a larger unit). */
  retry?: boolean;
}

const MAX_ERROR_BYTES = 64 * 1024;
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export class RegistryClient {
  readonly registry: string;
  private base!: URL;
  /** Attempts after the first. */
  readonly retries: number;
  private readonly backoffMs: number;
  readonly timeoutMs: number;

  private constructor(
    ref: RegistryRef,
    private readonly agents: { http: http.Agent; https: https.Agent },
    private readonly auth: Authorizer,
    opts: RegistryOptions,
  ) {
    this.registry = ref.registry;
    this.retries = opts.retries ?? 4;
    this.backoffMs = opts.backoffMs ?? 250;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** Open a session with the registry of `ref`: credentials looked up, /v2/ pinged. */
  static async connect(ref: RegistryRef, opts: RegistryOptions = {}): Promise<RegistryClient> {
    const tls: TlsOptions = { tlsVerify: opts.tlsVerify ?? true };
    if (opts.certDir !== undefined) tls.certDir = opts.certDir;
    const agents = await makeAgents(ref.host, tls);
    const creds = await findCredentials(ref.registry, ref.repository, opts);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const auth = new Authorizer(ref.registry, creds, (method, url, headers, body) => {
      const req = { method, url, headers, timeoutMs, ...(body ? { body } : {}) };
      return send(req, agents);
    });
    const client = new RegistryClient(ref, agents, auth, opts);
    await client.ping(ref.host, plainHttpAllowed(ref.host, tls.tlsVerify));
    return client;
  }

  /** Release the keep-alive connections. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private async ping(host: string, plainAllowed: boolean): Promise<void> {
    let res: HttpResponse;
    this.base = new URL(`https://${host}/`);
    try {
      res = await this.request('GET', '/v2/', { scopes: [], retry: !plainAllowed, noAuth: true });
    } catch (err) {
      // A loopback or --tls-verify=false registry that does not speak TLS: plain HTTP, as skopeo does.
      // A certificate we do not trust is a TLS registry: falling back would only hide the real problem.
      if (!plainAllowed || !(err instanceof NetworkError) || isCertificateError(err)) throw err;
      this.base = new URL(`http://${host}/`);
      res = await this.request('GET', '/v2/', { scopes: [], noAuth: true });
    }
    if (res.status === 401) {
      const challenge = res.headers['www-authenticate'];
      await drain(res);
      if (!this.auth.useChallenge(challenge)) throw new UserError(`${this.registry}: /v2/ answered 401 without a usable WWW-Authenticate challenge`, 'EREGISTRY');
      return;
    }
    if (res.status === 200) {
      await drain(res);
      return;
    }
    throw await registryError(res, `${this.registry}: /v2/ (is this a registry?)`);
  }

  url(pathAndQuery: string): URL {
    return new URL(pathAndQuery, this.base);
  }

  /** One request with auth and retries; the caller checks the status and reads or drains the body. */
  async request(method: string, target: string | URL, opts: RequestOptions & { noAuth?: boolean }): Promise<HttpResponse> {
    const url = typeof target === 'string' ? this.url(target) : target;
    let reauthorised = false;
    for (let attempt = 0; ; ) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (!opts.noAuth) {
        const authz = await this.auth.header(opts.scopes);
        // Credentials go only to the registry itself, never to a host a Location points at.
        if (authz && url.host === this.base.host) headers.Authorization = authz;
      }
      let res: HttpResponse;
      try {
        res = await send({ method, url, headers, timeoutMs: this.timeoutMs, ...(opts.body ? { body: opts.body() } : {}) }, this.agents);
      } catch (err) {
        if (opts.retry !== false && err instanceof NetworkError && attempt < this.retries) {
          await this.pause(attempt++);
          continue;
        }
        throw err;
      }
      if (res.status === 401 && !opts.noAuth && !reauthorised) {
        // An expired token, or a scope the first challenge did not name: one fresh token, then give up.
        reauthorised = true;
        const challenge = res.headers['www-authenticate'];
        await drain(res);
        this.auth.refresh(opts.scopes, challenge);
        continue;
      }
      if (opts.retry !== false && RETRY_STATUSES.has(res.status) && attempt < this.retries) {
        await drain(res);
        await this.pause(attempt++);
        continue;
      }
      return res;
    }
  }

  /** Run `fn` again after a pause when it fails with a dropped connection or a retryable answer. */
  async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (attempt >= this.retries || !isRetryable(err)) throw err;
        await this.pause(attempt);
      }
    }
  }

  /** The pause before attempt `attempt + 1`: the backoff doubled each time. */
  pause(attempt: number): Promise<void> {
    return new Promise((r) => setTimeout(r, this.backoffMs * 2 ** attempt));
  }
}

/** An error worth another attempt: the connection failed, or the registry answered 5xx or 429. */
export function isRetryable(err: unknown): boolean {
  return err instanceof NetworkError || (err instanceof RegistryError && RETRY_STATUSES.has(err.status));
}

/** The registry answered, and not with what we needed. */
export class RegistryError extends UserError {
  constructor(
    message: string,
    code: ErrorCode,
    readonly status: number,
    readonly codes: string[],
  ) {
    super(message, code);
  }
}

/**
 * The error for an unexpected answer, naming `what` and the registry's words: the distribution
 * spec's `{"errors":[{"code","message","detail"}]}` when it sent that, else the status and body.
 */
export async function registryError(res: HttpResponse, what: string): Promise<RegistryError> {
  let body: Buffer;
  try {
    body = await readBody(res, MAX_ERROR_BYTES, what);
  } catch {
    body = Buffer.alloc(0);
  }
  const codes: string[] = [];
  let words = '';
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown; detail?: unknown }[] };
    if (Array.isArray(doc.errors)) {
      words = doc.errors
        .map((e) => {
          if (typeof e.code === 'string') codes.push(e.code);
          const detail = e.detail !== undefined && e.detail !== null && typeof e.detail !== 'object' ? ` (${String(e.detail)})` : '';
          return [e.code, e.message].filter((x) => typeof x === 'string' && x !== '').join(': ') + detail;
        })
        .join('; ');
    }
  } catch {
    words = body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
  }
  const code: ErrorCode = res.status === 401 || res.status === 403 ? 'EAUTH' : res.status === 404 ? 'ENOTFOUND' : 'EREGISTRY';
  const hint = res.status === 401 ? ' (give --creds USER:PASS or run oci-pack login)' : '';
  return new RegistryError(`${what}: the registry answered HTTP ${res.status}${words ? `: ${words}` : ''}${hint}`, code, res.status, codes);
}
