// validate against the independent checker ../shared/oracle on the generated hostile corpus: the
// same verdict (pass or fail) on every case the oracle judges. Runs only where ../shared exists.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { validate } from '../../src/validate.js';
import { buildCorpus } from '../corpus.js';
import { ROOT, tempDir } from '../helpers.js';

/** The independent checker beside the clone (as CI lays it); OCI_PACK_ORACLE points elsewhere. */
const ORACLE = process.env['OCI_PACK_ORACLE'] ?? path.join(ROOT, '..', 'shared', 'oracle');
let corpusDir: string | undefined;
after(async () => {
  if (corpusDir) await fs.rm(corpusDir, { recursive: true, force: true });
});

test('validate agrees with ../shared/oracle on every corpus case', { skip: existsSync(ORACLE) ? false : 'no ../shared/oracle (CI-only extra)' }, async () => {
  corpusDir = await tempDir(undefined, 'oci-pack-corpus-');
  for (const c of await buildCorpus(corpusDir)) {
    if (!c.oracle) continue;
    const tool = c.kind === 'docker-archive' ? 'check-docker-archive' : 'check-layout';
    const r = spawnSync(path.join(ORACLE, tool), [c.target, '--no-tools'], { encoding: 'utf8', timeout: 120_000 });
    const oraclePasses = r.status === 0;
    const ours = (await validate(c.target)).problems.length === 0;
    assert.equal(ours, oraclePasses, `${c.name}: validate ${ours ? 'passes' : 'fails'}, the oracle ${oraclePasses ? 'passes' : 'fails'}: ${r.stderr}`);
  }
});
