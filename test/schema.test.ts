// Tests of the project's JSON schemas and of the validators made from them: the OCI spec's own
// examples pass, and each MUST rule we enforce has a failing document whose problem names its path.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { AJV_OPTIONS, SCHEMA_ID_BASE, SCHEMA_NAMES, assertValid, checkInput, schemaProblems, schemasDigest, type SchemaName } from '../src/schema.js';
import { UserError } from '../src/errors.js';

const ALL_SCHEMAS: readonly SchemaName[] = [
  'content-descriptor', 'oci-layout', 'image-index', 'image-manifest', 'image-config',
  'docker-manifest', 'docker-repositories',
];

const HEX_A = 'a'.repeat(64);
const HEX_B = 'b'.repeat(64);
const DIGEST_A = `sha256:${HEX_A}`;
const DIGEST_B = `sha256:${HEX_B}`;

/** The example documents of the OCI image-spec v1.1.1 text, copied verbatim (file, title, document). */
const SPEC_EXAMPLES: ReadonlyArray<{ from: string; schema: SchemaName; doc: unknown }> = [
  {
    from: 'descriptor.md: Content Descriptor',
    schema: 'content-descriptor',
    doc: {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 7682,
      "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
    },
  },
  {
    from: 'descriptor.md: Content Descriptor',
    schema: 'content-descriptor',
    doc: {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 7682,
      "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
      "urls": [
        "https://example.com/example-manifest"
      ]
    },
  },
  {
    from: 'descriptor.md: Content Descriptor',
    schema: 'content-descriptor',
    doc: {
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "size": 123,
      "digest": "sha256:87923725d74f4bfb94c9e86d64170f7521aad8221a5de834851470ca142da630",
      "artifactType": "application/vnd.example.sbom.v1"
    },
  },
  {
    from: 'image-layout.md: OCI Layout',
    schema: 'oci-layout',
    doc: {
      "imageLayoutVersion": "1.0.0"
    },
  },
  {
    from: 'image-layout.md: Image Index',
    schema: 'image-index',
    doc: {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {
          "mediaType": "application/vnd.oci.image.index.v1+json",
          "size": 7143,
          "digest": "sha256:0228f90e926ba6b96e4f39cf294b2586d38fbb5a1e385c05cd1ee40ea54fe7fd",
          "annotations": {
            "org.opencontainers.image.ref.name": "stable-release"
          }
        },
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "size": 7143,
          "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
          "platform": {
            "architecture": "ppc64le",
            "os": "linux"
          },
          "annotations": {
            "org.opencontainers.image.ref.name": "v1.0"
          }
        },
        {
          "mediaType": "application/xml",
          "size": 7143,
          "digest": "sha256:b3d63d132d21c3ff4c35a061adf23cf43da8ae054247e32faa95494d904a007e",
          "annotations": {
            "org.freedesktop.specifications.metainfo.version": "1.0",
            "org.freedesktop.specifications.metainfo.type": "AppStream"
          }
        }
      ],
      "annotations": {
        "com.example.index.revision": "r124356"
      }
    },
  },
  {
    from: 'image-index.md: Image Index',
    schema: 'image-index',
    doc: {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "size": 7143,
          "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
          "platform": {
            "architecture": "ppc64le",
            "os": "linux"
          }
        },
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "size": 7682,
          "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
          "platform": {
            "architecture": "amd64",
            "os": "linux"
          }
        }
      ],
      "annotations": {
        "com.example.key1": "value1",
        "com.example.key2": "value2"
      }
    },
  },
  {
    from: 'image-index.md: Image Index',
    schema: 'image-index',
    doc: {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.index.v1+json",
      "manifests": [
        {
          "mediaType": "application/vnd.oci.image.manifest.v1+json",
          "size": 7143,
          "digest": "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
          "platform": {
            "architecture": "ppc64le",
            "os": "linux"
          }
        },
        {
          "mediaType": "application/vnd.oci.image.index.v1+json",
          "size": 7682,
          "digest": "sha256:601570aaff1b68a61eb9c85b8beca1644e698003e0cdb5bce960f193d265a8b7"
        }
      ],
      "annotations": {
        "com.example.key1": "value1",
        "com.example.key2": "value2"
      }
    },
  },
  {
    from: 'manifest.md: Manifest',
    schema: 'image-manifest',
    doc: {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7",
        "size": 7023
      },
      "layers": [
        {
          "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
          "digest": "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0",
          "size": 32654
        },
        {
          "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
          "digest": "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b",
          "size": 16724
        },
        {
          "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
          "digest": "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736",
          "size": 73109
        }
      ],
      "subject": {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
        "size": 7682
      },
      "annotations": {
        "com.example.key1": "value1",
        "com.example.key2": "value2"
      }
    },
  },
  {
    from: 'manifest.md: empty config',
    schema: 'content-descriptor',
    doc: {
      "mediaType": "application/vnd.oci.empty.v1+json",
      "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
      "size": 2,
      "data": "e30="
    },
  },
  {
    from: 'manifest.md: Minimal artifact',
    schema: 'image-manifest',
    doc: {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "artifactType": "application/vnd.example+type",
      "config": {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2
      },
      "layers": [
        {
          "mediaType": "application/vnd.oci.empty.v1+json",
          "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
          "size": 2
        }
      ],
      "annotations": {
        "oci.opencontainers.image.created": "2023-01-02T03:04:05Z",
        "com.example.data": "payload"
      }
    },
  },
  {
    from: 'manifest.md: Artifact without config',
    schema: 'image-manifest',
    doc: {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "artifactType": "application/vnd.example+type",
      "config": {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
        "size": 2
      },
      "layers": [
        {
          "mediaType": "application/vnd.example+type",
          "digest": "sha256:e258d248fda94c63753607f7c4494ee0fcbe92f1a76bfdac795c9d84101eb317",
          "size": 1234
        }
      ]
    },
  },
  {
    from: 'manifest.md: Artifact with config',
    schema: 'image-manifest',
    doc: {
      "schemaVersion": 2,
      "mediaType": "application/vnd.oci.image.manifest.v1+json",
      "artifactType": "application/vnd.example+type",
      "config": {
        "mediaType": "application/vnd.example.config.v1+json",
        "digest": "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
        "size": 123
      },
      "layers": [
        {
          "mediaType": "application/vnd.example.data.v1.tar+gzip",
          "digest": "sha256:e258d248fda94c63753607f7c4494ee0fcbe92f1a76bfdac795c9d84101eb317",
          "size": 1234
        }
      ]
    },
  },
  {
    from: 'config.md: Image JSON',
    schema: 'image-config',
    doc: {
      "created": "2015-10-31T22:22:56.015925234Z",
      "author": "Alyssa P. Hacker <alyspdev@example.com>",
      "architecture": "amd64",
      "os": "linux",
      "config": {
        "User": "alice",
        "ExposedPorts": {
          "8080/tcp": {}
        },
        "Env": [
          "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
          "FOO=oci_is_a",
          "BAR=well_written_spec"
        ],
        "Entrypoint": [
          "/bin/my-app-binary"
        ],
        "Cmd": [
          "--foreground",
          "--config",
          "/etc/my-app.d/default.cfg"
        ],
        "Volumes": {
          "/var/job-result-data": {},
          "/var/log/my-app-logs": {}
        },
        "WorkingDir": "/home/alice",
        "Labels": {
          "com.example.project.git.url": "https://example.com/project.git",
          "com.example.project.git.commit": "45a939b2999782a3f005621a8d0f29aa387e1d6b"
        }
      },
      "rootfs": {
        "diff_ids": [
          "sha256:c6f988f4874bb0add23a778f753c65efe992244e148a1d2ec2a8b664fb66bbd1",
          "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
        ],
        "type": "layers"
      },
      "history": [
        {
          "created": "2015-10-31T22:22:54.690851953Z",
          "created_by": "/bin/sh -c #(nop) ADD file:a3bc1e842b69636f9df5256c49c5374fb4eef1e281fe3f282c65fb853ee171c5 in /"
        },
        {
          "created": "2015-10-31T22:22:55.613815829Z",
          "created_by": "/bin/sh -c #(nop) CMD [\"sh\"]",
          "empty_layer": true
        },
        {
          "created": "2015-10-31T22:22:56.329850019Z",
          "created_by": "/bin/sh -c apk add curl"
        }
      ]
    },
  },
];

const DESCRIPTOR = {
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: DIGEST_A,
  size: 32654,
};

const MANIFEST = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: DIGEST_B, size: 7023 },
  layers: [DESCRIPTOR],
};

const INDEX = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.index.v1+json',
  manifests: [
    {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: DIGEST_A,
      size: 7143,
      platform: { architecture: 'arm', os: 'linux', variant: 'v7' },
      annotations: { 'org.opencontainers.image.ref.name': 'latest' },
    },
  ],
};

/** A config as docker 20.10 writes it: nulls for empty fields, and fields the OCI spec does not name. */
const DOCKER_CONFIG = {
  architecture: 'amd64',
  os: 'linux',
  created: '2024-05-06T07:08:09.123456789Z',
  docker_version: '20.10.24',
  container: 'b2a7f1c0',
  container_config: { Hostname: 'b2a7f1c0', Cmd: ['/bin/sh', '-c', '#(nop) ', 'CMD ["/hello"]'] },
  config: {
    Hostname: '',
    Domainname: '',
    User: '',
    AttachStdin: false,
    Tty: false,
    Env: null,
    Cmd: ['/hello'],
    Healthcheck: { Test: ['CMD', '/hello', '--check'], Interval: 30000000000, Retries: 3 },
    Image: '',
    Volumes: null,
    WorkingDir: '',
    Entrypoint: null,
    OnBuild: null,
    Labels: null,
    Shell: ['/bin/sh', '-c'],
  },
  rootfs: { type: 'layers', diff_ids: [DIGEST_A] },
  history: [
    { created: '2024-05-06T07:08:09Z', created_by: '/bin/sh -c #(nop) ADD file:abc in / ' },
    { created: '2024-05-06T07:08:09+02:00', created_by: '/bin/sh -c #(nop)  CMD ["/hello"]', empty_layer: true },
  ],
};

/** manifest.json of the legacy docker-save format (docker before 25, podman save, skopeo). */
const LEGACY_DOCKER_MANIFEST = [
  {
    Config: `${HEX_B}.json`,
    RepoTags: ['hello:latest', 'example.com:5000/team/hello:1.0'],
    Layers: [`${HEX_A}/layer.tar`],
  },
  { Config: `${HEX_A}.json`, RepoTags: null, Layers: [] },
];

/** manifest.json as docker 25 and later write it, beside an OCI layout in the same archive. */
const DOCKER25_MANIFEST = [
  {
    Config: `blobs/sha256/${HEX_B}`,
    RepoTags: ['docker.io/library/hello:latest'],
    Layers: [`blobs/sha256/${HEX_A}`],
    Parent: DIGEST_A,
    LayerSources: {
      [DIGEST_A]: {
        mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
        size: 1024,
        digest: DIGEST_B,
        urls: ['https://example.com/layer.tar.gz'],
      },
    },
  },
];

const REPOSITORIES = { hello: { latest: HEX_A, '1.0': HEX_B }, 'example.com:5000/team/app': { v1: HEX_A } };

/** A deep copy of `doc` changed by `change`, so that each failing case differs from a valid one in one place. */
// `any`: each case reaches into a different corner of the document, and that is the point.
function changed<T>(doc: T, change: (copy: any) => void): T {
  const copy = structuredClone(doc);
  change(copy);
  return copy;
}

/** Assert that validating `doc` reports a problem at exactly `path` (and, if given, one matching `says`). */
function assertProblemAt(name: SchemaName, doc: unknown, path: string, says?: RegExp): void {
  const problems = schemaProblems(name, doc);
  const found = problems.some((line) => line.startsWith(`${path}: `) && (says === undefined || says.test(line)));
  assert.ok(found, `expected a ${name} problem at ${path}${says ? ` matching ${says}` : ''}, got ${JSON.stringify(problems)}`);
}

describe('schemas', () => {
  test('every schema compiles, accepts a valid document and refuses a wrong type', () => {
    const valid: Record<SchemaName, unknown> = {
      'content-descriptor': DESCRIPTOR,
      'oci-layout': { imageLayoutVersion: '1.0.0' },
      'image-index': INDEX,
      'image-manifest': MANIFEST,
      'image-config': DOCKER_CONFIG,
      'docker-manifest': LEGACY_DOCKER_MANIFEST,
      'docker-repositories': REPOSITORIES,
    };
    for (const name of ALL_SCHEMAS) {
      assert.deepEqual(schemaProblems(name, valid[name]), [], name);
      assert.notDeepEqual(schemaProblems(name, 'not a document'), [], name);
    }
  });

  test('the example documents of the OCI spec are valid', () => {
    assert.equal(SPEC_EXAMPLES.length, 13);
    for (const example of SPEC_EXAMPLES) {
      assert.deepEqual(schemaProblems(example.schema, example.doc), [], example.from);
    }
  });
});

describe('content descriptor', () => {
  test('digests follow algorithm:encoded, and sha256/sha512 are lowercase hex of their length', () => {
    const valid = [
      DIGEST_A,
      `sha512:${'0'.repeat(128)}`,
      'multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8',
      'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564',
    ];
    for (const digest of valid) assert.deepEqual(schemaProblems('content-descriptor', { ...DESCRIPTOR, digest }), [], digest);
    const invalid = [
      `sha256:${'A'.repeat(64)}`,
      `sha256:${'a'.repeat(63)}`,
      `sha256:${'a'.repeat(65)}`,
      `sha256:${'g'.repeat(64)}`,
      `sha512:${'a'.repeat(64)}`,
      `SHA256:${HEX_A}`,
      HEX_A,
      'sha256:',
      `sha256::${HEX_A}`,
      `-sha256:${HEX_A}`,
      `sha256:${'a'.repeat(60)}/../`,
    ];
    for (const digest of invalid) {
      assertProblemAt('content-descriptor', { ...DESCRIPTOR, digest }, '/digest', /must be a (sha256 |sha512 )?digest/);
    }
  });

  test('an uppercase sha256 digest is named with the rule it breaks', () => {
    const problems = schemaProblems('content-descriptor', { ...DESCRIPTOR, digest: DIGEST_A.toUpperCase().replace('SHA', 'sha') });
    assert.deepEqual(problems, [`/digest: must be a sha256 digest: "sha256:" and 64 lowercase hex digits, got "sha256:${'A'.repeat(52)}...`]);
  });

  test('size is a non-negative integer', () => {
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, size: -1 }, '/size', />= 0/);
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, size: 1.5 }, '/size', /integer/);
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, size: '12' }, '/size', /integer/);
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, size: 2 ** 60 }, '/size');
    assert.deepEqual(schemaProblems('content-descriptor', { ...DESCRIPTOR, size: 0 }), []);
  });

  test('mediaType, digest and size are required', () => {
    for (const field of ['mediaType', 'digest', 'size']) {
      const doc = changed(DESCRIPTOR, (d) => delete d[field]);
      assertProblemAt('content-descriptor', doc, '/', new RegExp(`required property '${field}'`));
    }
  });

  test('media types follow RFC 6838 names', () => {
    assert.deepEqual(schemaProblems('content-descriptor', { ...DESCRIPTOR, mediaType: 'application/vnd.example+type' }), []);
    for (const mediaType of ['application', 'application/', '/json', 'application/json; charset=utf-8', 'text/pl ain', `a/${'b'.repeat(128)}`]) {
      assertProblemAt('content-descriptor', { ...DESCRIPTOR, mediaType }, '/mediaType', /media type/);
    }
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, artifactType: 'sbom' }, '/artifactType', /media type/);
  });

  test('annotations map strings to strings', () => {
    assert.deepEqual(schemaProblems('content-descriptor', { ...DESCRIPTOR, annotations: {} }), []);
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, annotations: { 'com.example.n': 1 } }, '/annotations/com.example.n', /must be string, got 1/);
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, annotations: { 'com.example/x': null } }, '/annotations/com.example~1x', /must be string/);
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, annotations: ['a'] }, '/annotations', /must be object/);
  });

  test('urls are URIs and data is base64', () => {
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, urls: ['https://example.com/ok', 'not a uri'] }, '/urls/1', /URI/);
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, urls: 'https://example.com' }, '/urls', /must be array/);
    assertProblemAt('content-descriptor', { ...DESCRIPTOR, data: 'e30' }, '/data', /base64/);
    assert.deepEqual(schemaProblems('content-descriptor', { ...DESCRIPTOR, data: 'e30=' }), []);
  });

  test('a platform has a string architecture and os', () => {
    const withPlatform = (platform: unknown): unknown => ({ ...DESCRIPTOR, platform });
    assertProblemAt('content-descriptor', withPlatform({ architecture: 'amd64' }), '/platform', /required property 'os'/);
    assertProblemAt('content-descriptor', withPlatform({ architecture: 64, os: 'linux' }), '/platform/architecture', /must be string/);
    assertProblemAt('content-descriptor', withPlatform({ architecture: 'amd64', os: 'windows', 'os.features': 'win32k' }), '/platform/os.features', /array/);
    assertProblemAt('content-descriptor', withPlatform({ architecture: 'arm', os: 'linux', variant: 7 }), '/platform/variant', /string/);
  });
});

describe('oci-layout', () => {
  test('imageLayoutVersion is required and is 1.0.0', () => {
    assertProblemAt('oci-layout', {}, '/', /required property 'imageLayoutVersion'/);
    assertProblemAt('oci-layout', { imageLayoutVersion: '2.0.0' }, '/imageLayoutVersion', /"1\.0\.0"/);
    assertProblemAt('oci-layout', { imageLayoutVersion: 1 }, '/imageLayoutVersion', /must be string/);
    assertProblemAt('oci-layout', [], '/', /must be object/);
    assert.deepEqual(schemaProblems('oci-layout', { imageLayoutVersion: '1.0.0', 'com.example.extra': true }), []);
  });
});

describe('image index', () => {
  test('schemaVersion is required and is 2', () => {
    assertProblemAt('image-index', changed(INDEX, (d) => delete d.schemaVersion), '/', /required property 'schemaVersion'/);
    assertProblemAt('image-index', { ...INDEX, schemaVersion: 1 }, '/schemaVersion', /constant 2/);
    assertProblemAt('image-index', { ...INDEX, schemaVersion: '2' }, '/schemaVersion', /integer/);
  });

  test('manifests is a required array of descriptors, which may be empty', () => {
    assertProblemAt('image-index', changed(INDEX, (d) => delete d.manifests), '/', /required property 'manifests'/);
    assert.deepEqual(schemaProblems('image-index', { ...INDEX, manifests: [] }), []);
    assertProblemAt('image-index', changed(INDEX, (d) => { d.manifests[0].digest = 'sha256:1234'; }), '/manifests/0/digest');
    assertProblemAt('image-index', changed(INDEX, (d) => { d.manifests[0].size = -7; }), '/manifests/0/size');
    assertProblemAt('image-index', changed(INDEX, (d) => { delete d.manifests[0].platform.os; }), '/manifests/0/platform', /'os'/);
    assertProblemAt('image-index', changed(INDEX, (d) => { d.manifests[0].annotations['org.opencontainers.image.ref.name'] = 1; }),
      '/manifests/0/annotations/org.opencontainers.image.ref.name', /must be string/);
  });

  test('its own mediaType, when present, is the index type', () => {
    assertProblemAt('image-index', { ...INDEX, mediaType: 'application/vnd.oci.image.manifest.v1+json' }, '/mediaType', /allowed values/);
    assert.deepEqual(schemaProblems('image-index', { ...INDEX, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' }), []);
    assert.deepEqual(schemaProblems('image-index', changed(INDEX, (d) => delete d.mediaType)), []);
  });

  test('annotations and subject are checked', () => {
    assertProblemAt('image-index', { ...INDEX, annotations: { 'com.example.key1': false } }, '/annotations/com.example.key1', /string/);
    assertProblemAt('image-index', { ...INDEX, subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1 } }, '/subject', /'digest'/);
  });
});

describe('image manifest', () => {
  test('schemaVersion, config and layers are required', () => {
    for (const field of ['schemaVersion', 'config', 'layers']) {
      assertProblemAt('image-manifest', changed(MANIFEST, (d) => delete d[field]), '/', new RegExp(`required property '${field}'`));
    }
    assertProblemAt('image-manifest', { ...MANIFEST, schemaVersion: 3 }, '/schemaVersion', /constant 2/);
  });

  test('config and layers are descriptors', () => {
    assertProblemAt('image-manifest', changed(MANIFEST, (d) => delete d.config.size), '/config', /required property 'size'/);
    assertProblemAt('image-manifest', changed(MANIFEST, (d) => { d.layers[0].digest = DIGEST_A.toUpperCase(); }), '/layers/0/digest', /digest/);
    assertProblemAt('image-manifest', changed(MANIFEST, (d) => { d.layers.push({ ...DESCRIPTOR, size: -1 }); }), '/layers/1/size', />= 0/);
    assertProblemAt('image-manifest', { ...MANIFEST, layers: DESCRIPTOR }, '/layers', /must be array/);
  });

  test('its own mediaType, when present, is a manifest type', () => {
    assertProblemAt('image-manifest', { ...MANIFEST, mediaType: 'application/vnd.oci.image.index.v1+json' }, '/mediaType', /allowed values/);
    assert.deepEqual(schemaProblems('image-manifest', { ...MANIFEST, mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }), []);
  });

  test('an empty config needs an artifactType', () => {
    const empty = { mediaType: 'application/vnd.oci.empty.v1+json', digest: DIGEST_B, size: 2 };
    assertProblemAt('image-manifest', { ...MANIFEST, config: empty }, '/', /required property 'artifactType'/);
    assert.deepEqual(schemaProblems('image-manifest', { ...MANIFEST, config: empty, artifactType: 'application/vnd.example+type' }), []);
    assertProblemAt('image-manifest', { ...MANIFEST, config: empty, artifactType: 'example' }, '/artifactType', /media type/);
  });
});

describe('image config', () => {
  test('architecture, os and rootfs are required', () => {
    for (const field of ['architecture', 'os', 'rootfs']) {
      assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => delete d[field]), '/', new RegExp(`required property '${field}'`));
    }
    assertProblemAt('image-config', { ...DOCKER_CONFIG, architecture: null }, '/architecture', /string/);
  });

  test('rootfs.type is "layers" and diff_ids are digests', () => {
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.rootfs.type = 'layer'; }), '/rootfs/type', /"layers"/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => delete d.rootfs.diff_ids), '/rootfs', /'diff_ids'/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.rootfs.diff_ids.push(HEX_B); }), '/rootfs/diff_ids/1', /digest/);
  });

  test('ExposedPorts and Volumes map to empty objects', () => {
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.ExposedPorts = { '8080/tcp': true }; }),
      '/config/ExposedPorts/8080~1tcp', /must be object/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.ExposedPorts = { '8080/tcp': { HostPort: '80' } }; }),
      '/config/ExposedPorts/8080~1tcp', /must be an empty object/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.Volumes = ['/data']; }), '/config/Volumes', /object or null/);
  });

  test('Env, Entrypoint and Cmd are arrays of strings', () => {
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.Env = ['PATH=/bin', 3]; }), '/config/Env/1', /string/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.Env = ['PATH']; }), '/config/Env/0', /NAME=VALUE/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.Entrypoint = '/hello'; }), '/config/Entrypoint', /array or null/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.Cmd = [['/hello']]; }), '/config/Cmd/0', /string/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.Shell = '/bin/sh'; }), '/config/Shell', /array/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config.OnBuild = [1]; }), '/config/OnBuild/0', /string/);
  });

  test('the other config fields have their types', () => {
    const cases: Array<[string, unknown, string]> = [
      ['User', 0, '/config/User'],
      ['WorkingDir', ['/'], '/config/WorkingDir'],
      ['Labels', { 'com.example.n': 1 }, '/config/Labels/com.example.n'],
      ['StopSignal', 9, '/config/StopSignal'],
      ['ArgsEscaped', 'true', '/config/ArgsEscaped'],
      ['Healthcheck', { Interval: -1 }, '/config/Healthcheck/Interval'],
      ['Healthcheck', { Test: 'CMD true' }, '/config/Healthcheck/Test'],
      ['Healthcheck', { Retries: 1.5 }, '/config/Healthcheck/Retries'],
    ];
    for (const [field, value, path] of cases) {
      assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.config[field] = value; }), path);
    }
    assertProblemAt('image-config', { ...DOCKER_CONFIG, config: [] }, '/config', /object or null/);
  });

  test('created is an RFC 3339 date-time, and history entries have typed fields', () => {
    for (const created of ['yesterday', '2024-05-06', '2024-05-06 07:08:09Z', '2024-13-06T07:08:09Z', '2024-05-06T07:08:09']) {
      assertProblemAt('image-config', { ...DOCKER_CONFIG, created }, '/created', /RFC 3339/);
    }
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.history[1].empty_layer = 'yes'; }), '/history/1/empty_layer', /boolean/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.history[0].created = 1715000000; }), '/history/0/created', /string/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.history[0].created_by = ['ADD']; }), '/history/0/created_by', /string/);
    assertProblemAt('image-config', changed(DOCKER_CONFIG, (d) => { d.history.push('ENV A=b'); }), '/history/2', /must be object/);
  });

  test('optional fields may be null, as config.md allows', () => {
    const nulls = { ...DOCKER_CONFIG, created: null, author: null, variant: null, history: null, config: null };
    assert.deepEqual(schemaProblems('image-config', nulls), []);
  });
});

describe('docker-save manifest.json', () => {
  test('the legacy and the docker 25 forms are valid', () => {
    assert.deepEqual(schemaProblems('docker-manifest', LEGACY_DOCKER_MANIFEST), []);
    assert.deepEqual(schemaProblems('docker-manifest', DOCKER25_MANIFEST), []);
    assert.deepEqual(schemaProblems('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => delete d[0].RepoTags)), []);
  });

  test('it is a non-empty array of objects with Config and Layers', () => {
    assertProblemAt('docker-manifest', [], '/', /fewer than 1/);
    assertProblemAt('docker-manifest', { Config: 'x.json', Layers: [] }, '/', /must be array/);
    assertProblemAt('docker-manifest', ['x.json'], '/0', /must be object/);
    assertProblemAt('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => delete d[1].Config), '/1', /required property 'Config'/);
    assertProblemAt('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => delete d[0].Layers), '/0', /required property 'Layers'/);
  });

  test('Layers is an array of paths, and no path leaves the archive', () => {
    assertProblemAt('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => { d[0].Layers = `${HEX_A}/layer.tar`; }), '/0/Layers', /must be array/);
    assertProblemAt('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => { d[0].Layers = null; }), '/0/Layers', /must be array/);
    for (const path of ['/etc/passwd', '../outside.tar', `${HEX_A}/../../outside.tar`, 'a/..', '']) {
      assertProblemAt('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => { d[0].Layers[0] = path; }), '/0/Layers/0', /relative path/);
      assertProblemAt('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => { d[0].Config = path; }), '/0/Config', /relative path/);
    }
    assert.deepEqual(schemaProblems('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => { d[0].Layers[0] = 'a..b/..c/layer.tar'; })), []);
  });

  test('RepoTags are NAME:TAG references or null, Parent is a digest, LayerSources are descriptors', () => {
    for (const tag of ['hello', 'Hello:latest', 'hello:', 'hello:-x', 'hello latest:1']) {
      assertProblemAt('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => { d[0].RepoTags = [tag]; }), '/0/RepoTags/0', /NAME:TAG/);
    }
    assertProblemAt('docker-manifest', changed(LEGACY_DOCKER_MANIFEST, (d) => { d[0].RepoTags = 'hello:latest'; }), '/0/RepoTags', /array or null/);
    assertProblemAt('docker-manifest', changed(DOCKER25_MANIFEST, (d) => { d[0].Parent = HEX_A; }), '/0/Parent', /digest/);
    assertProblemAt('docker-manifest', changed(DOCKER25_MANIFEST, (d) => { d[0].LayerSources = { [HEX_A]: DESCRIPTOR }; }),
      `/0/LayerSources/${HEX_A}`, /key must be a digest/);
    assertProblemAt('docker-manifest', changed(DOCKER25_MANIFEST, (d) => { delete d[0].LayerSources[DIGEST_A].size; }),
      `/0/LayerSources/${DIGEST_A}`, /required property 'size'/);
  });
});

describe('docker-save repositories', () => {
  test('names map tags to 64-hex layer ids', () => {
    assert.deepEqual(schemaProblems('docker-repositories', {}), []);
    assertProblemAt('docker-repositories', { hello: { latest: 'sha256:' + HEX_A } }, '/hello/latest', /64 lowercase hex/);
    assertProblemAt('docker-repositories', { hello: { latest: HEX_A.toUpperCase() } }, '/hello/latest', /64 lowercase hex/);
    assertProblemAt('docker-repositories', { hello: { latest: HEX_A.slice(1) } }, '/hello/latest', /64 lowercase hex/);
    assertProblemAt('docker-repositories', { hello: { latest: 7 } }, '/hello/latest', /string/);
    assertProblemAt('docker-repositories', { hello: ['latest'] }, '/hello', /must be object/);
    assertProblemAt('docker-repositories', { hello: { '-bad': HEX_A } }, '/hello/-bad', /key must be a tag/);
    assertProblemAt('docker-repositories', { 'Hello World': { latest: HEX_A } }, '/Hello World', /key must be an image name/);
  });
});

describe('error reporting', () => {
  test('every problem line starts with a JSON pointer', () => {
    const bad = changed(MANIFEST, (d) => { d.layers[0].size = -1; d.config.digest = 'md5'; d.schemaVersion = 1; });
    const problems = schemaProblems('image-manifest', bad);
    assert.ok(problems.length >= 3, JSON.stringify(problems));
    for (const line of problems) assert.match(line, /^\/[^ ]*: \S/);
  });

  test('a hostile value is shown shortened', () => {
    const [line] = schemaProblems('content-descriptor', { ...DESCRIPTOR, mediaType: 'x'.repeat(100_000) });
    assert.ok(line !== undefined && line.length < 300, line?.slice(0, 300));
  });

  test('checkInput throws a UserError that starts with where it looked', () => {
    assert.doesNotThrow(() => checkInput('image-manifest', MANIFEST, 'blobs/sha256/abc'));
    const bad = changed(MANIFEST, (d) => { d.layers[0].digest = 'sha256:XYZ'; });
    assert.throws(() => checkInput('image-manifest', bad, 'archive.tar: blobs/sha256/abc'), (err: unknown) => {
      assert.ok(err instanceof UserError);
      assert.equal(err.code, 'EINPUT');
      assert.ok(err.message.startsWith('archive.tar: blobs/sha256/abc: /layers/0/digest: '), err.message);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  });

  test('assertValid throws a plain Error naming the document and its problems', () => {
    assert.doesNotThrow(() => assertValid('image-index', INDEX, 'index.json'));
    assert.throws(() => assertValid('image-index', { ...INDEX, schemaVersion: 1 }, 'index.json'), (err: unknown) => {
      assert.ok(err instanceof Error && !(err instanceof UserError));
      assert.match(err.message, /index\.json/);
      assert.match(err.message, /\/schemaVersion: must be equal to constant 2/);
      return true;
    });
  });
});

test('the validators compiled at build time match the schemas and report what Ajv compiled now reports', async (t) => {
  const require = createRequire(import.meta.url);
  const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  let generated: Record<string, ((doc: unknown) => boolean) & { errors?: unknown }> & { schemasDigest?: string };
  try {
    generated = require(path.join(root, 'dist/src/schema-validators.cjs')) as typeof generated;
  } catch {
    if (process.env.CI === 'true') throw new Error('dist/src/schema-validators.cjs is missing: npm run build makes it');
    t.skip('built by tsc alone: npm run build compiles the schemas');
    return;
  }
  const texts = SCHEMA_NAMES.map((name) => readFileSync(path.join(root, 'schemas', `${name}.schema.json`), 'utf8'));
  assert.equal(generated.schemasDigest, schemasDigest(texts), 'made from the schemas as they are now');
  const { Ajv } = await import('ajv');
  const ajv = new Ajv(AJV_OPTIONS);
  for (const text of texts) ajv.addSchema(JSON.parse(text) as object);
  const bad = { schemaVersion: 1, mediaType: 'x', config: { digest: 'sha256:XYZ' }, layers: [{}] };
  for (const name of SCHEMA_NAMES) {
    const now = ajv.getSchema(`${SCHEMA_ID_BASE}${name}.schema.json`)!;
    const built = generated[name]!;
    assert.equal(built(bad), now(bad), name);
    assert.deepEqual(built.errors, now.errors, name);
  }
});
