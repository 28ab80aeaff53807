// Image references with a transport, as skopeo names them: oci:DIR[:REF], oci-archive:TAR[:REF],
// docker-archive:TAR[:NAME:TAG|:@N] and docker://NAME; parsed once, before anything is opened.
import { usageError } from '../errors.js';

export type TransportName = 'oci' | 'oci-archive' | 'docker-archive' | 'docker';

export interface TransportRef {
  transport: TransportName;
  /** A path (oci, oci-archive, docker-archive) or a registry reference without docker:// (docker). */
  target: string;
  /** What follows the path: a ref name, NAME:TAG or @N; undefined when not given. */
  ref?: string;
  /** As the user wrote it, for messages. */
  text: string;
}

export const TRANSPORT_NAMES: readonly TransportName[] = ['oci', 'oci-archive', 'docker-archive', 'docker'];

/** The forms, for messages and help. */
export const TRANSPORT_FORMS = 'oci:DIR[:REF], oci-archive:TAR[:REF], docker-archive:TAR[:NAME:TAG|:@N], docker://HOST/REPO[:TAG|@sha256:…]';

/** True when `text` starts with a transport name this tool reads (`oci:`, `docker://`, …). */
export function hasTransport(text: string): boolean {
  const m = /^([a-z][a-z0-9-]*):/.exec(text);
  return m !== null && (TRANSPORT_NAMES as readonly string[]).includes(m[1]!) && (m[1] !== 'docker' || text.startsWith('docker://'));
}

/** Parse `TRANSPORT:REFERENCE`; `what` names the argument in errors ("source", "--from"). */
export function parseTransportRef(text: string, what: string): TransportRef {
  if (text.startsWith('docker://')) {
    const target = text.slice('docker://'.length);
    if (target === '') throw usageError(`${what} ${text}: docker:// needs a name (docker://HOST/REPO:TAG)`);
    return { transport: 'docker', target, text };
  }
  const m = /^([a-z][a-z0-9-]*):(.*)$/s.exec(text);
  if (!m || !hasTransport(text)) {
    throw usageError(`${what} ${JSON.stringify(text)}: expected a transport and a reference: ${TRANSPORT_FORMS}`);
  }
  const transport = m[1] as TransportName;
  const rest = m[2]!;
  // Split at the first ":", as skopeo does: a path with a colon in it cannot be named this way.
  const colon = rest.indexOf(':');
  const target = colon < 0 ? rest : rest.slice(0, colon);
  if (target === '') throw usageError(`${what} ${text}: the ${transport === 'oci' ? 'directory' : 'archive path'} is empty`);
  const out: TransportRef = { transport, target, text };
  if (colon >= 0 && rest.slice(colon + 1) !== '') out.ref = rest.slice(colon + 1);
  return out;
}

/** When a plain image name (FROM alpine) is asked of its registry: never, when the layout has no such tag (default), or always. */
export type PullPolicy = 'never' | 'missing' | 'always';

export const PULL_POLICIES: readonly PullPolicy[] = ['never', 'missing', 'always'];

export function parsePullPolicy(text: string): PullPolicy {
  if (!(PULL_POLICIES as readonly string[]).includes(text)) throw usageError(`--pull ${text}: expected never, missing or always`);
  return text as PullPolicy;
}
