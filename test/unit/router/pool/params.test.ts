import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeSession } from './fake-session';
import { Pooled, bind, execute, parse, query, sync } from './txn-harness';
import { ReportedParams, clientParams, setStatements } from '../../../../src/router/pool/params';

describe('transaction pooling: reported parameters follow the client', () => {
  it('applies the client\'s SET application_name and TimeZone on the next server connection, invisibly', () => {
    const servers = [new FakeSession(), new FakeSession()];
    const c = new Pooled(servers);
    c.lineup = [0, 1];
    assert.deepEqual(c.run([query("SET application_name TO 'billing'; SET TimeZone TO 'Europe/Paris'")]),
      ['S application_name=billing', 'C SET', 'S TimeZone=Europe/Paris', 'C SET', 'Z I']);
    assert.deepEqual(c.run([query('SELECT 1')]), ['T', 'D', 'C SELECT 1', 'Z I'], 'the SET on the second server is not seen');
    assert.deepEqual(servers[1]!.received, [
      `Q SET "TimeZone" TO E'Europe/Paris'; SET "application_name" TO E'billing'`,
      'Q SELECT 1',
    ]);
    assert.equal(servers[1]!.params.get('application_name'), 'billing');
  });

  it('sends nothing extra when the server connection already agrees', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers);
    c.run([query('SELECT 1')]);
    c.run([query('SELECT 1')]);
    assert.deepEqual(servers[0]!.received, ['Q SELECT 1', 'Q SELECT 1']);
  });

  it('puts the client\'s values back on a server connection another client changed', () => {
    const servers = [new FakeSession()];
    const a = new Pooled(servers);
    const b = new Pooled(servers);
    b.sides.splice(0, 1, a.sides[0]!);
    a.run([query("SET DateStyle TO 'German'")]);
    b.run([query('SELECT 1')]);
    assert.equal(servers[0]!.received[1], `Q SET "DateStyle" TO E'ISO, MDY'`);
    a.run([query('SELECT 1')]);
    assert.equal(servers[0]!.received[3], `Q SET "DateStyle" TO E'German'`);
  });

  it('starts from the client\'s startup options (names in any case), so application_name=psql holds on every server', () => {
    const servers = [new FakeSession()];
    const c = new Pooled(servers, { application_name: 'psql', timezone: 'Asia/Tokyo', search_path: 'x' });
    assert.deepEqual(c.run([parse('', 'SELECT 1'), bind(''), execute(), sync()]), ['1', '2', 'D', 'C SELECT 1', 'Z I']);
    assert.equal(servers[0]!.received[0], `Q SET "TimeZone" TO E'Asia/Tokyo'; SET "application_name" TO E'psql'`);
  });

  it('follows RESET ALL through what the server reports back', () => {
    const servers = [new FakeSession(), new FakeSession()];
    const c = new Pooled(servers);
    c.lineup = [0, 1];
    c.run([query("SET application_name TO 'x'")]);
    assert.deepEqual(c.run([query('RESET ALL')]), ['S application_name=', 'C RESET ALL', 'Z I']);
    assert.equal(c.rewriter.params.get('application_name'), '');
  });

  it('keeps the client going when the injected SET fails, and says so', () => {
    const servers = [new FakeSession(), new FakeSession(new Set([`SET "application_name" TO E'odd'`]))];
    const c = new Pooled(servers);
    c.lineup = [0, 1];
    c.run([query("SET application_name TO 'odd'")]);
    assert.deepEqual(c.run([query('SELECT 1')]), ['T', 'D', 'C SELECT 1', 'Z I']);
    assert.equal(c.setupErrors[0]?.C, '22023');
  });

  it('quotes values so that no client value can end the SET', () => {
    const client = new ReportedParams({ application_name: "it's \\ odd" });
    assert.equal(setStatements(client, new ReportedParams()), `SET "application_name" TO E'it''s \\\\ odd'`);
  });

  it('ignores startup options it cannot follow (not reported by PostgreSQL 15)', () => {
    const p = clientParams({ TimeZone: 'UTC' }, { search_path: 'app', user: 'u', datestyle: 'ISO' });
    assert.deepEqual([...p.values], [['TimeZone', 'UTC'], ['DateStyle', 'ISO']]);
  });

  it('compares the followed values as one key, kept until one of them changes', () => {
    const client = new ReportedParams({ application_name: 'app', TimeZone: 'UTC' });
    const server = new ReportedParams({ application_name: 'app', TimeZone: 'UTC', server_version: '15.5' });
    assert.equal(client.followedKey(), server.followedKey(), 'server_version is not followed');
    assert.equal(setStatements(client, server), undefined);
    server.set('timezone', 'Europe/Paris');
    assert.notEqual(client.followedKey(), server.followedKey(), 'a changed value changes the key');
    assert.equal(setStatements(client, server), `SET "TimeZone" TO E'UTC'`);
    server.set('TimeZone', 'UTC');
    assert.equal(setStatements(client, server), undefined);
    assert.notEqual(new ReportedParams({ application_name: '' }).followedKey(), new ReportedParams().followedKey(), 'empty is not unknown');
  });
});
