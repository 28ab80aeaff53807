// Naming images in a layout without rebuilding them: tag (SRC is a ref name or a digest) and
// untag, both as one change of index.json under its lock; the blobs stay until gc.
import { MediaType, REF_NAME_ANNOTATION, type Descriptor } from './descriptor.js';
import { parseDigest } from './digest.js';
import { UserError } from './errors.js';
import { isPlainObject } from './json.js';
import { parseCheckedJson } from './jsoncheck.js';
import { Layout, placeImage, refNameOf, type LockOptions } from './layout.js';
import { checkRefName } from './ref.js';

/** Name the image `src` (a ref name, or a digest of a manifest or index in the store) also `dst`. */
export async function tagImage(dir: string, src: string, dst: string, opts: LockOptions = {}): Promise<Descriptor> {
  checkRefName(dst, 'DST');
  const layout = await Layout.open(dir);
  let tagged: Descriptor | undefined;
  await layout.updateIndex(async (index) => {
    const desc = await findSource(layout, index.manifests, src);
    const { [REF_NAME_ANNOTATION]: _old, ...rest } = desc.annotations ?? {};
    const plain: Descriptor = { ...desc, annotations: rest };
    if (Object.keys(rest).length === 0) delete plain.annotations;
    index.manifests = placeImage(index.manifests, plain, [dst]);
    tagged = plain;
    return index;
  }, opts);
  return tagged!;
}

/** Remove the name `ref` from index.json; the image it named stays in the store until gc. */
export async function untagImage(dir: string, ref: string, opts: LockOptions = {}): Promise<Descriptor[]> {
  const layout = await Layout.open(dir);
  let removed: Descriptor[] = [];
  await layout.updateIndex((index) => {
    removed = index.manifests.filter((d) => refNameOf(d) === ref);
    if (removed.length === 0) throw new UserError(`${dir}: no image is tagged ${JSON.stringify(ref)}`, 'ENOTFOUND');
    index.manifests = index.manifests.filter((d) => refNameOf(d) !== ref);
    return index;
  }, opts);
  return removed;
}

async function findSource(layout: Layout, manifests: readonly Descriptor[], src: string): Promise<Descriptor> {
  // A digest is an algorithm and a colon; a ref name that happens to look so is still found by name.
  if (/^sha(?:256|384|512):/.test(src) && !manifests.some((d) => refNameOf(d) === src)) {
    const digest = parseDigest(src, 'SRC');
    const listed = manifests.find((d) => d.digest === digest);
    if (listed) return listed;
    const size = await layout.store.sizeOf(digest);
    if (size === undefined) throw new UserError(`SRC ${src}: no such blob in ${layout.root}`, 'ENOTFOUND');
    const doc = parseCheckedJson(await layout.store.read({ digest, size }), `SRC ${src}`);
    const mediaType = isPlainObject(doc) && typeof doc['mediaType'] === 'string' ? doc['mediaType'] : isPlainObject(doc) && Array.isArray(doc['manifests']) ? MediaType.index : MediaType.manifest;
    if (![MediaType.index, MediaType.manifest, MediaType.dockerManifest, MediaType.dockerManifestList].includes(mediaType as never)) {
      throw new UserError(`SRC ${src}: a ${mediaType}, not an image manifest or index`, 'EINPUT');
    }
    return { mediaType, digest, size };
  }
  const named = manifests.filter((d) => refNameOf(d) === src);
  if (named.length === 0) throw new UserError(`SRC ${src}: no image is tagged so in ${layout.root}`, 'ENOTFOUND');
  if (named.length > 1) throw new UserError(`SRC ${src}: names ${named.length} entries of index.json; give the digest of one`, 'EINPUT');
  return named[0]!;
}
