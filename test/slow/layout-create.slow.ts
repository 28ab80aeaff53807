// 20 writers started at once into a layout directory that does not exist yet (issue 9: about 14%
// were refused with "not empty and not an OCI layout" before creation was made safe).
import { test } from 'node:test';
import { concurrentCreators } from '../concurrent-create.js';

test('20 writers started at once into a directory that does not exist yet all succeed, all tags kept', async (t) => {
  await concurrentCreators(t, 20);
});
