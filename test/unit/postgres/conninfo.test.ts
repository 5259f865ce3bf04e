import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildConninfo, parseConninfo, pgpassLine, postgresUrl, primaryConninfo, quoteConninfoValue, renderPgpass,
} from '../../../src/postgres/conninfo';

const TRICKY = ['test%123', "it's", 'back\\slash', 'with space', "all ' \\ of\tthem", '', 'tail\\', "'"];

describe('conninfo: quoting values', () => {
  it('leaves plain values bare, including the seed password', () => {
    assert.equal(quoteConninfoValue('test%123'), 'test%123');
    assert.equal(quoteConninfoValue(5432), '5432');
    assert.equal(quoteConninfoValue('/tmp/x.y-z'), '/tmp/x.y-z');
  });

  it('quotes empty values, spaces, quotes and backslashes, escaping \\ and \'', () => {
    assert.equal(quoteConninfoValue(''), "''");
    assert.equal(quoteConninfoValue('with space'), "'with space'");
    assert.equal(quoteConninfoValue("it's"), "'it\\'s'");
    assert.equal(quoteConninfoValue('a\\b'), "'a\\\\b'");
  });

  it('round-trips every tricky value through build and parse', () => {
    for (const password of TRICKY) {
      const text = buildConninfo({ host: 'h', password, user: 'u' });
      assert.deepEqual(parseConninfo(text), { host: 'h', password, user: 'u' }, text);
    }
  });

  it('skips undefined values and refuses non-keywords', () => {
    assert.equal(buildConninfo({ host: 'h', port: undefined, user: 'u' }), 'host=h user=u');
    assert.throws(() => buildConninfo({ 'bad key': 'x' }), /not a libpq connection keyword/);
  });

  it('parses bare values with backslash escapes as libpq does', () => {
    assert.deepEqual(parseConninfo("a=x\\ y b='q\\'r'"), { a: 'x y', b: "q'r" });
  });
});

describe('conninfo: primary_conninfo', () => {
  it("uses Patroni's key order and PG15 defaults", () => {
    const text = primaryConninfo({
      host: '127.0.0.1', port: 5433, user: 'rep', passfile: '/tmp/pgpass0', applicationName: 'ty-db2',
    });
    assert.equal(
      text,
      'dbname=postgres user=rep passfile=/tmp/pgpass0 host=127.0.0.1 port=5433 sslmode=prefer application_name=ty-db2 gssencmode=prefer channel_binding=prefer',
    );
  });

  it('puts the password in only without a passfile, quoted', () => {
    const text = primaryConninfo({ host: 'h', port: 1, user: 'rep', password: "it's", applicationName: 'n' });
    assert.equal(parseConninfo(text).password, "it's");
    const withFile = primaryConninfo({ host: 'h', port: 1, user: 'rep', password: 'x', passfile: '/p', applicationName: 'n' });
    assert.equal(parseConninfo(withFile).password, undefined);
  });

  it('gates version-specific defaults and keeps target_session_attrs last before sslnegotiation', () => {
    const pg11 = primaryConninfo({ host: 'h', port: 1, user: 'r', applicationName: 'n', serverVersion: 110000 });
    assert.doesNotMatch(pg11, /gssencmode|channel_binding/);
    const pg17 = primaryConninfo({ host: 'h', port: 1, user: 'r', applicationName: 'n', serverVersion: 170000, target_session_attrs: 'any' });
    assert.match(pg17, /channel_binding=prefer target_session_attrs=any sslnegotiation=postgres$/);
  });

  it('quotes an application name with a space', () => {
    const text = primaryConninfo({ host: 'h', port: 1, user: 'r', applicationName: 'node one' });
    assert.equal(parseConninfo(text).application_name, 'node one');
  });
});

describe('conninfo: pgpass', () => {
  it('escapes : and \\ in every field', () => {
    assert.equal(pgpassLine('127.0.0.1', 5432, '*', 'rep', 'test%123'), '127.0.0.1:5432:*:rep:test%123');
    assert.equal(pgpassLine('::1', 5432, 'db', 'u', 'a:b\\c'), '\\:\\:1:5432:db:u:a\\:b\\\\c');
  });

  it("writes a socket path's host as localhost, the name libpq matches for unix sockets", () => {
    const text = renderPgpass([
      { host: '/var/lib/pg/data', port: 5432, user: 'admin', password: "it's" },
      { host: '10.0.0.1', port: '*', user: 'rep', password: 'test%123' },
    ]);
    assert.equal(text, "localhost:5432:*:admin:it's\n10.0.0.1:*:*:rep:test%123\n");
  });
});

describe('conninfo: postgres URLs', () => {
  it('percent-encodes the password so test%123 survives', () => {
    const url = postgresUrl({ host: '127.0.0.1', port: 5432, user: 'rep', password: 'test%123', database: 'postgres' });
    assert.equal(url, 'postgres://rep:test%25123@127.0.0.1:5432/postgres');
    const parsed = new URL(url);
    assert.equal(decodeURIComponent(parsed.password), 'test%123');
  });

  it('round-trips every tricky password and user through URL parsing', () => {
    for (const password of TRICKY.filter(Boolean)) {
      const parsed = new URL(postgresUrl({ host: 'db', port: 1, user: 'us er@x', password }));
      assert.equal(decodeURIComponent(parsed.password), password);
      assert.equal(decodeURIComponent(parsed.username), 'us er@x');
    }
  });

  it('brackets IPv6 hosts, encodes socket paths and query parameters', () => {
    assert.equal(postgresUrl({ host: '::1', port: 5432 }), 'postgres://[::1]:5432');
    assert.equal(postgresUrl({ host: '/tmp/s', port: 5432, database: 'postgres' }), 'postgres://%2Ftmp%2Fs:5432/postgres');
    assert.equal(
      postgresUrl({ host: 'h', port: 1, params: { application_name: 'a b', sslmode: undefined } }),
      'postgres://h:1?application_name=a%20b',
    );
  });
});
