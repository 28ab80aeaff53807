// Where this package is installed and what version it is: found from this module, whether it runs
// from dist/src or from src.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'oci-pack';

/** The version in our package.json. */
export function packageVersion(): string {
  const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  return String(version);
}

/** The folder holding our package.json, found from this module whether it runs from dist/src or src. */
export function packageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (isOurPackageJson(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`no package.json named ${PACKAGE_NAME} above ${start}: the package is installed incompletely`);
}

function isOurPackageJson(file: string): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return false;
  }
  try {
    return (JSON.parse(text) as { name?: unknown }).name === PACKAGE_NAME;
  } catch {
    return false;
  }
}

