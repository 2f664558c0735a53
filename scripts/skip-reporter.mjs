// A reporter for node's test runner that writes, as one JSON document, every test that did not
// run: skipped (`{ skip }`, `t.skip()`, a skipped suite) or `todo`. scripts/run-tests.mjs sends
// it to a file and checks the list against scripts/test-skips-allowed.json.
import { relative } from 'node:path';

/** `suite > test` for the test that just ended, from the names its start events recorded. */
function fullName(stack, data) {
  return [...stack.slice(0, data.nesting), data.name].join(' > ');
}

export default async function* skipReporter(source) {
  const notRun = [];
  // Test names by nesting level, per file: start events arrive before their test ends.
  const stacks = new Map();
  for await (const event of source) {
    const { type, data } = event;
    if (type !== 'test:start' && type !== 'test:pass' && type !== 'test:fail') continue;
    const file = data.file ? relative(process.cwd(), data.file) : '';
    if (!stacks.has(file)) stacks.set(file, []);
    const stack = stacks.get(file);
    if (type === 'test:start') {
      stack.length = data.nesting;
      stack.push(data.name);
      continue;
    }
    const kind = data.skip !== undefined ? 'skip' : data.todo !== undefined ? 'todo' : null;
    if (!kind) continue;
    const reason = data[kind];
    notRun.push({ file, name: fullName(stack, data), kind, reason: typeof reason === 'string' ? reason : '' });
  }
  yield `${JSON.stringify({ notRun }, null, 1)}\n`;
}
