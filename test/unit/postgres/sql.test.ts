import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../src/lib/errors';
import {
  bootstrapUserRoles, createOrAlterRoleSql, quoteIdent, quoteLiteral, replicationRole, roleOptions, superuserRole,
} from '../../../src/postgres/sql';

describe('SQL quoting', () => {
  it('quotes identifiers, doubling quotes', () => {
    assert.equal(quoteIdent('rep'), '"rep"');
    assert.equal(quoteIdent('we"ird'), '"we""ird"');
  });

  it('quotes literals so they mean the same with or without standard_conforming_strings', () => {
    assert.equal(quoteLiteral('test%123'), "'test%123'");
    assert.equal(quoteLiteral("it's"), "'it''s'");
    assert.equal(quoteLiteral('a\\b'), "E'a\\\\b'");
    assert.throws(() => quoteLiteral('nul\0'), /NUL/);
  });
});

describe('role statements', () => {
  it("upper-cases options and adds LOGIN unless NOLOGIN, like Patroni", () => {
    assert.deepEqual(roleOptions(['createrole', 'createdb']), ['CREATEROLE', 'CREATEDB', 'LOGIN']);
    assert.deepEqual(roleOptions(['nologin']), ['NOLOGIN']);
    assert.deepEqual(roleOptions(['connection  limit 5']), ['CONNECTION LIMIT 5', 'LOGIN']);
  });

  it('refuses options that are not role attributes (no SQL pasted in)', () => {
    assert.throws(() => roleOptions(['superuser; DROP TABLE x']), ConfigError);
  });

  it('builds the ALTER-or-CREATE DO block with the password as a literal', () => {
    const sql = createOrAlterRoleSql('admin', 'test%123', roleOptions(['createrole', 'createdb']));
    assert.match(sql, /^DO \$pgha\$/);
    assert.match(sql, /WHERE rolname = 'admin'/);
    assert.match(sql, /ALTER ROLE "admin" WITH CREATEROLE CREATEDB LOGIN PASSWORD 'test%123';/);
    assert.match(sql, /CREATE ROLE "admin" WITH CREATEROLE CREATEDB LOGIN PASSWORD 'test%123';/);
  });

  it('picks a dollar-quote tag the password does not contain', () => {
    const sql = createOrAlterRoleSql('x', 'a$pgha$b', ['LOGIN']);
    assert.match(sql, /^DO \$pgha0\$/);
    assert.match(sql, /\$pgha0\$$/);
  });

  it('leaves PASSWORD out when there is none', () => {
    assert.doesNotMatch(createOrAlterRoleSql('x', undefined, ['LOGIN']), /PASSWORD/);
    assert.doesNotMatch(createOrAlterRoleSql('x', '', ['LOGIN']), /PASSWORD/);
  });

  it('turns the seed users into roles, skipping the superuser and replication user', () => {
    const users = { admin: { password: 'test%123', options: ['createrole', 'createdb'] }, rep: { password: 'test%123', options: ['replication'] }, app: { options: ['createdb'] } };
    assert.deepEqual(bootstrapUserRoles(users, ['admin', 'rep']), [{ name: 'app', password: undefined, options: ['CREATEDB', 'LOGIN'] }]);
    assert.deepEqual(superuserRole({ username: 'admin', password: 'p' }).options, ['SUPERUSER', 'LOGIN']);
    assert.deepEqual(replicationRole({ username: 'rep' }).options, ['REPLICATION', 'LOGIN']);
  });
});
