import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseUserlist } from '../../../../src/router/auth/userlist';
import { formatScramSecret, scramSecretFromPassword } from '../../../../src/router/auth/secrets';

describe("userlist: PgBouncer's auth_file format", () => {
  it('reads quoted users and secrets, "" as a quote, comments and blank lines, and ignores trailing fields', () => {
    const scram = scramSecretFromPassword('pw');
    const text = [
      '; PgBouncer comment',
      '# another comment',
      '',
      '"alice" "plain pw"',
      `  "bob"   "${formatScramSecret(scram)}"  `,
      '"carol" "md53175bce1d3201d16594cebf9d7eb3f9d" "ignored trailing field"',
      '"d""q" "say ""hi"""',
      '"empty" ""',
    ].join('\r\n');
    const users = parseUserlist(text, 'userlist.txt');
    assert.deepEqual([...users.keys()], ['alice', 'bob', 'carol', 'd"q', 'empty']);
    assert.deepEqual(users.get('alice'), { kind: 'plain', password: 'plain pw' });
    assert.deepEqual(users.get('bob'), scram);
    assert.deepEqual(users.get('carol'), { kind: 'md5', hash: 'md53175bce1d3201d16594cebf9d7eb3f9d' });
    assert.deepEqual(users.get('d"q'), { kind: 'plain', password: 'say "hi"' });
    assert.deepEqual(users.get('empty'), { kind: 'plain', password: '' });
  });

  it('a broken line: an error with the source and line number, never the secret', () => {
    const cases: [string, RegExp][] = [
      ['alice "topsecret"', /line 2: expected a user name in double quotes/],
      ['"alice" topsecret', /line 2: expected the password or secret of "alice" in double quotes/],
      ['"alice" "topsecret', /line 2: expected the password or secret of "alice"/],
      ['"alice"x "topsecret"', /line 2: no space after the user name "alice"/],
      ['"" "topsecret"', /line 2: empty user name/],
      ['"alice" "SCRAM-SHA-256$4096:topsecret"', /line 2: user "alice": invalid SCRAM-SHA-256 secret: no "\$"/],
      ['"ok" "x"\n"ok" "topsecret"', /line 3: user "ok" is already listed on line 2/],
    ];
    for (const [line, expected] of cases) {
      assert.throws(() => parseUserlist(`; header\n${line}`, '/etc/pgha/userlist.txt'), (err: Error) => {
        assert.match(err.message, expected);
        assert.match(err.message, /^\/etc\/pgha\/userlist\.txt line \d/);
        assert.doesNotMatch(err.message, /topsecret/);
        return true;
      });
    }
  });
});
