/** `pgha ctl VERB --help` and `pgha ctl help VERB`: every verb has its own usage and description. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VERB_OPTIONS } from '../../../src/ctl/args';

const VERBS = Object.keys(VERB_OPTIONS);
import { verbHelp } from '../../../src/cli/ctl-command';

test('every verb has its own help: usage line, description, global options', () => {
  assert.ok(VERBS.length >= 15);
  for (const verb of VERBS) {
    const help = verbHelp(verb);
    assert.ok(help, `no help for ${verb}`);
    assert.match(help, new RegExp(`^Usage: pgha ctl \\[GLOBAL OPTIONS\\] ${verb}( |$)`, 'm'), verb);
    assert.match(help.split('\n')[1]!, /^ {2}\S/, `${verb}: a description line`);
    assert.match(help, /-c, --config-file FILE/);
  }
  assert.equal(verbHelp('nonsense'), undefined);
});
