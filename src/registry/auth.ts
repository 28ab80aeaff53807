// Authorisation for one registry: the WWW-Authenticate challenge parsed, basic credentials, and
// bearer tokens fetched from the challenge's realm for a set of scopes, cached per scope set.
import { UserError } from '../errors.js';
import type { Credentials } from './credentials.js';
import { readBody, type HttpResponse } from './http.js';

export interface Challenge {
  /** Lowercase: basic or bearer. */
  scheme: string;
  params: Record<string, string>;
}

const MAX_TOKEN_BYTES = 1024 * 1024;
/** Tokens without expires_in live 60 s (the distribution token spec's default). */
const DEFAULT_TOKEN_SECONDS = 60;

/**
 * Parse a WWW-Authenticate header (RFC 7235): challenges of a scheme and auth-params, whose values
 * are tokens or quoted strings with backslash escapes, several challenges separated by commas.
 */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const texts = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: Challenge[] = [];
  for (const text of texts) {
    let i = 0;
    const skipSpace = (): void => {
      while (i < text.length && /[\s,]/.test(text[i]!)) i++;
    };
    const token = (): string => {
      const m = /^[!#$%&'*+\-.^_`|~0-9A-Za-z/]+/.exec(text.slice(i));
      if (!m) return '';
      i += m[0].length;
      return m[0];
    };
    let current: Challenge | undefined;
    while (i < text.length) {
      skipSpace();
      const name = token();
      if (name === '') {
        i++;
        continue;
      }
      while (i < text.length && text[i] === ' ') i++;
      if (text[i] === '=' && current) {
        i++;
        while (i < text.length && text[i] === ' ') i++;
        let value = '';
        if (text[i] === '"') {
          i++;
          while (i < text.length && text[i] !== '"') {
            if (text[i] === '\\' && i + 1 < text.length) i++;
            value += text[i++];
          }
          i++;
        } else {
          // Lenient beyond RFC 7235's token: some registries leave a URL unquoted.
          const m = /^[^,\s]+/.exec(text.slice(i));
          value = m?.[0] ?? '';
          i += value.length;
        }
        current.params[name.toLowerCase()] = value;
        continue;
      }
      current = { scheme: name.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

/** `repository:NAME:ACTIONS`, the scope a registry expects a token for. */
export function repositoryScope(repository: string, actions: 'pull' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

/** How the authoriser reaches a token service: a GET or POST on the realm, with our TLS settings. */
export type TokenTransport = (method: 'GET' | 'POST', url: URL, headers: Record<string, string>, body?: Buffer) => Promise<HttpResponse>;

interface CachedToken {
  value: string;
  expires: number;
}

export class Authorizer {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly registry: string,
    private readonly credentials: Credentials | undefined,
    private readonly transport: TokenTransport,
  ) {}

  /** Learn how the registry wants to be spoken to, from a 401's WWW-Authenticate. */
  useChallenge(header: string | string[] | undefined): boolean {
    const all = parseChallenges(header);
    const chosen = all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
    if (!chosen) return false;
    this.challenge = chosen;
    return true;
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** The Authorization header for a request needing `scopes`, or undefined when anonymous. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      if (!this.credentials || this.credentials.identityToken) {
        throw new UserError(`${this.registry}: the registry asks for a user name and password; give --creds USER:PASS or run oci-pack login ${this.registry}`, 'EAUTH');
      }
      return `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
    }
    if (c.scheme !== 'bearer') throw new UserError(`${this.registry}: the registry asks for ${c.scheme} authentication, which oci-pack does not speak`, 'EUNSUPPORTED');
    const key = [...new Set(scopes)].sort().join(' ');
    let pending = this.tokens.get(key);
    if (pending) {
      const t = await pending.catch(() => undefined);
      if (!t || t.expires <= Date.now()) pending = undefined;
    }
    if (!pending) {
      pending = this.fetchToken(c, [...new Set(scopes)].sort());
      this.tokens.set(key, pending);
      pending.catch(() => this.tokens.delete(key));
    }
    return `Bearer ${(await pending).value}`;
  }

  /** Forget the token for `scopes` (a 401 on a request that carried it) and adopt the new challenge. */
  refresh(scopes: readonly string[], header: string | string[] | undefined): void {
    this.tokens.delete([...new Set(scopes)].sort().join(' '));
    this.useChallenge(header);
  }

  private async fetchToken(c: Challenge, scopes: string[]): Promise<CachedToken> {
    const realmText = c.params.realm;
    if (!realmText) throw new UserError(`${this.registry}: the bearer challenge names no realm`, 'EREGISTRY');
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch {
      throw new UserError(`${this.registry}: the bearer realm ${JSON.stringify(realmText)} is not a URL`, 'EREGISTRY');
    }
    const creds = this.credentials;
    let res: HttpResponse;
    if (creds?.identityToken) {
      // An identity token is an OAuth2 refresh token: exchanged at the realm by POST (docker's way).
      const form = new URLSearchParams({ grant_type: 'refresh_token', client_id: 'oci-pack', refresh_token: creds.identityToken });
      if (c.params.service) form.set('service', c.params.service);
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      res = await this.transport('POST', realm, { 'Content-Type': 'application/x-www-form-urlencoded' }, Buffer.from(form.toString()));
    } else {
      const url = new URL(realm);
      if (c.params.service) url.searchParams.set('service', c.params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (creds) headers.Authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
      res = await this.transport('GET', url, headers);
    }
    const body = await readBody(res, MAX_TOKEN_BYTES, `token from ${realm.origin}${realm.pathname}`);
    if (res.status === 401 || res.status === 403) {
      const who = creds ? `the credentials${creds.username ? ` of ${creds.username}` : ''} were refused` : 'anonymous access was refused (give --creds or run oci-pack login)';
      throw new UserError(`${this.registry}: token service ${realm.origin}${realm.pathname}: ${who} (HTTP ${res.status}${snippet(body)})`, 'EAUTH');
    }
    if (res.status !== 200) throw new UserError(`${this.registry}: token service ${realm.origin}${realm.pathname} answered HTTP ${res.status}${snippet(body)}`, 'EREGISTRY');
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new UserError(`${this.registry}: token service ${realm.origin}${realm.pathname}: the answer is not JSON`, 'EREGISTRY');
    }
    const value = typeof doc.token === 'string' && doc.token ? doc.token : doc.access_token;
    if (typeof value !== 'string' || value === '') throw new UserError(`${this.registry}: token service ${realm.origin}${realm.pathname}: the answer holds no token`, 'EREGISTRY');
    const seconds = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_SECONDS;
    // Renewed a little early, so a token does not expire between the check and the request.
    return { value, expires: Date.now() + Math.max(1, seconds - 10) * 1000 };
  }
}

function snippet(body: Buffer): string {
  const text = body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
  return text ? `: ${text}` : '';
}
