// The benchmark harness end to end in --quick mode on tiny workloads (a smoke test of the harness,
// not a measurement), and the pure parts it judges with: medians, GNU time's output, the targets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { median, parseTimeOutput, haveGnuTime } from '../../bench/measure.js';
import { judge } from '../../bench/targets.js';
import type { TaskResult } from '../../bench/runner.js';
import { makeTasks } from '../../bench/tasks.js';
import { haveCommand, ROOT, tempDir } from '../helpers.js';

/** A literal string (a markdown cell, with its escaped pipes) as a regular expression. */
const literal = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('median takes the middle value, or the mean of the two middle ones', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([]), undefined);
});

test("GNU time's last line gives CPU seconds and peak RSS in bytes", () => {
  assert.deepEqual(parseTimeOutput('0.50 0.25 40108\n'), { cpu: 0.75, rss: 40108 * 1024 });
  assert.deepEqual(parseTimeOutput('Command exited with non-zero status 3\n0.00 0.01 1628\n'), { cpu: 0.01, rss: 1628 * 1024 });
  assert.equal(parseTimeOutput('garbage'), undefined);
});

test('targets: a ratio over the limit is a MISS saying how far off, under it a PASS, a missing peer n/a', () => {
  const workloads = [{ id: 'rootfs', path: '/w', description: '', bytes: 1, files: 1 }];
  const tasks = makeTasks(workloads, '/bin.js', '/out');
  const layout = tasks.find((t) => t.id === 'layout/rootfs')!;
  const version = tasks.find((t) => t.id === 'version')!;
  const sample = (wall: number, rss = 50 * 2 ** 20) => ({ wall, cpu: wall, rss });
  const results: TaskResult[] = [
    {
      task: layout,
      ours: { name: 'oci-pack', status: 'ok', samples: [sample(4), sample(5), sample(6)], outBytes: 102 },
      peers: [
        { name: 'umoci insert', status: 'ok', samples: [sample(10)], outBytes: 100 },
        { name: 'tar | pigz -6 | sha256sum', status: 'missing', samples: [] },
      ],
    },
    { task: version, ours: { name: 'oci-pack', status: 'ok', samples: [sample(0.3, 200 * 2 ** 20)] }, peers: [{ name: 'node -e 0', status: 'failed', samples: [] }] },
  ];
  const verdicts = judge(results);
  const by = (prefix: string) => verdicts.find((v) => v.target.startsWith(prefix))!;
  assert.equal(by('layout rootfs').verdict, 'PASS'); // 5 / 10 = 0.5 ≤ 0.8
  assert.match(by('layout rootfs').measured, /^0\.50×/);
  assert.equal(by('layer of rootfs').verdict, 'MISS'); // 1.02 > 1.01
  assert.match(by('layer of rootfs').gap!, /1\.0% too large/);
  assert.equal(by('peak RSS < 150 MB').verdict, 'MISS');
  assert.match(by('peak RSS < 150 MB').measured, /200 MB \(version\)/);
  assert.equal(by('oci-pack --version').verdict, 'n/a');
});

test('npm run bench -- --quick runs every tool and writes a report with numbers and verdicts', async (t) => {
  const dir = await tempDir(t, 'oci-pack-bench-test-');
  const out = path.join(dir, 'RESULTS.md');
  await fs.writeFile(out, 'old table\n<!-- notes: kept when the benchmark rewrites this file -->\n## Notes\n\nkeep me\n');
  const args = ['--quick', '--dir', dir, '--out', out, '--rootfs-mb', '1', '--rootfs-from', '/usr/bin', '--tiny-files', '100', '--big-mb', '1,2'];
  // Every kind of task, but the gzip layout of tiny (its --compression none twin stands for it).
  const only = ['--only', 'layout/rootfs,layout/big,none/tiny,to-docker/rootfs,from-docker/rootfs,version,hello'];
  const r = spawnSync(process.execPath, [path.join(ROOT, 'dist', 'bench', 'run.js'), ...args, ...only], { encoding: 'utf8', cwd: ROOT, timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const report = await fs.readFile(out, 'utf8');
  assert.equal(r.stdout.trim(), report.slice(0, report.indexOf('<!-- notes')).trim());
  assert.doesNotMatch(report, /old table/);
  assert.match(report, /keep me\n$/, 'the notes of the previous report are kept');
  assert.match(report, /^Machine: \d+ cores \(.+\), [\d.]+ GiB memory, .+, Node v\d+\.\d+\.\d+; \d{4}-\d\d-\d\d \d\d:\d\d UTC; (idle|\*\*busy\*\*) \(load average [\d. ]+/m);
  assert.match(report, /^- tiny: 100 files of 0-200 bytes in 1,111 nested folders$/m);
  assert.match(report, /^- big-2: 2 MiB in 4 files/m);

  const num = String.raw`\d+\.\d+`;
  const rows = report.split('\n').filter((l) => l.startsWith('| '));
  const ours = (title: string) => rows.find((l) => l.startsWith(`| \`${title}\` | oci-pack |`));
  for (const title of ['layout --add rootfs:/', 'layout --add big-1:/', 'layout --add big-2:/', 'layout --add tiny:/ --compression none', 'to-docker (the rootfs image)', 'from-docker (the rootfs archive)', '--version']) {
    const row = ours(title);
    assert.ok(row, `no oci-pack row for ${title}`);
    // wall, CPU, peak RSS (those two only with GNU time), output size (but for --version)
    const cpuRss = haveGnuTime() ? `${num} \\| ${num}` : '– \\| –';
    const output = title === '--version' ? '–' : num;
    assert.match(row, new RegExp(`\\| oci-pack \\| ${num} \\| ${cpuRss} \\| ${output} \\|`), row);
  }
  const peerRow = (title: string, peer: string) => {
    const at = rows.indexOf(ours(title)!);
    return rows.slice(at + 1).find((l) => l.startsWith(`|  | ${peer}`));
  };
  for (const [title, peer, cmd] of [
    ['layout --add rootfs:/', 'umoci insert', 'umoci'],
    ['layout --add big-1:/', 'tar \\| pigz -6 \\| sha256sum', 'pigz'],
    ['layout --add tiny:/ --compression none', 'tar \\| openssl dgst -sha256', 'openssl'],
    ['to-docker (the rootfs image)', 'skopeo copy', 'skopeo'],
    ['--version', 'node -e 0', process.execPath],
  ] as const) {
    const row = peerRow(title, peer);
    assert.ok(row, `no ${peer} row under ${title}`);
    if (haveCommand(cmd)) assert.match(row, new RegExp(`^\\|  \\| ${literal(peer)} \\| ${num} \\|.* ${num}× \\|$`), row);
    else assert.match(row, /missing: not installed/, row);
  }
  assert.match(report, /^\| `the hello example end to end \(layout, then to-docker\)` \| \d+\.\d+ s \| node -e 0: \d+\.\d+ s \| \d+\.\d+× \|$/m);

  for (const target of ['layout rootfs ≤ 0.8× umoci insert', 'layout tiny --compression none ≤ 1.5× tar \\| openssl', 'to-docker rootfs ≤ 0.7× skopeo copy', 'oci-pack --version ≤ 2× node -e 0', 'hello end to end ≤ 3× node -e 0']) {
    assert.match(report, new RegExp(`^\\| ${literal(target)} \\| .+ \\| (PASS|\\*\\*MISS\\*\\*: .+|n/a) \\|$`, 'm'), target);
  }
  if (haveGnuTime()) {
    assert.match(report, /^\| peak RSS < 150 MB, every oci-pack operation \| highest \d+ MB \(\S+\) \| (PASS|\*\*MISS\*\*: \d+ MB over) \|$/m);
    assert.match(report, /^\| peak RSS flat, layout of big-1 → big-2 \(within 10%\) \| \d+ MB → \d+ MB \| (PASS|\*\*MISS\*\*: .+) \|$/m);
  }
  // Nothing but the workloads and the report is left in the scratch directory.
  assert.deepEqual((await fs.readdir(dir)).sort(), ['RESULTS.md', 'workloads']);
});
