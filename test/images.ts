// Images the transport and docker tests share: the hello image for two platforms under one index,
// and a layout of two images with three names between them.
import * as path from 'node:path';
import { buildImage, type BuildResult } from '../src/build.js';
import { assembleIndex } from '../src/image-index.js';
import { HELLO, ROOT } from './helpers.js';

export const AMD64 = { os: 'linux', architecture: 'amd64' };
export const ARM64 = { os: 'linux', architecture: 'arm64' };

/** hello:amd64 and hello:arm64 (each its platform's binary) in `layout`, and hello:multi, their index. */
export async function helloMultiLayout(layout: string): Promise<{ amd: BuildResult; arm: BuildResult }> {
  const amd = await buildImage({ layout, platform: AMD64, tags: ['hello:amd64'], layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd: ['/hello'] } });
  const arm = await buildImage({ layout, platform: ARM64, tags: ['hello:arm64'], layers: [{ kind: 'add', src: path.join(ROOT, 'fixtures', 'hello', 'hello-arm64'), dest: '/hello' }], config: { cmd: ['/hello'] } });
  await assembleIndex({ layout, tags: ['hello:multi'], sources: ['hello:amd64', 'hello:arm64'] });
  return { amd, arm };
}

/** Two amd64 images in `layout`: hello:latest (also example.com/x/hello:2) and again:1, which has a second layer. */
export async function twoImageLayout(layout: string): Promise<[BuildResult, BuildResult]> {
  const one = await buildImage({ layout, layers: [{ kind: 'add', src: HELLO, dest: '/hello' }], config: { cmd: ['/hello'] }, platform: AMD64, tags: ['hello:latest', 'example.com/x/hello:2'] });
  const two = await buildImage({
    layout,
    layers: [{ kind: 'add', src: HELLO, dest: '/hello' }, { kind: 'add', src: HELLO, dest: '/bin/again' }],
    config: { cmd: ['/bin/again'] },
    platform: AMD64,
    tags: ['again:1'],
  });
  return [one, two];
}
