/**
 * `switchover_drain:` in the agent's YAML (timeout) and in router.yml (timeout, register): defaults, values, and
 * refusals that name the field.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRouterConfig } from '../../../src/config/router';
import { assertConfigError, parseEdited } from './helpers';

const router = (drain: unknown) => loadRouterConfig({ scope: 'pgcluster', etcd: { hosts: ['127.0.0.1:2379'] }, ...(drain === undefined ? {} : { switchover_drain: drain }) }, 'router.yml');

describe('agent switchover_drain', () => {
  test('absent: a 5 s wait', () => {
    assert.deepEqual(parseEdited(() => undefined).switchoverDrain, { timeoutMs: 5000 });
  });
  test('a timeout, or 0 to turn the drain off', () => {
    assert.deepEqual(parseEdited((d) => (d.switchover_drain = { timeout: '2s' })).switchoverDrain, { timeoutMs: 2000 });
    assert.deepEqual(parseEdited((d) => (d.switchover_drain = { timeout: 0 })).switchoverDrain, { timeoutMs: 0 });
  });
  test('over a minute, an unknown key or a bad duration: refused naming the field', () => {
    assertConfigError(() => parseEdited((d) => (d.switchover_drain = { timeout: '5m' })), 'switchover_drain.timeout', ['above']);
    assertConfigError(() => parseEdited((d) => (d.switchover_drain = { timout: '5s' })), 'switchover_drain.timout', ['not a switchover_drain setting']);
    assertConfigError(() => parseEdited((d) => (d.switchover_drain = { timeout: 'soon' })), 'switchover_drain.timeout', ['expected a duration']);
  });
});

describe('router switchover_drain', () => {
  test('absent: 5 s, register auto', () => {
    assert.deepEqual(router(undefined).switchoverDrain, { timeoutMs: 5000, register: 'auto' });
  });
  test('register true / false / auto, and a timeout', () => {
    assert.deepEqual(router({ register: true, timeout: '3s' }).switchoverDrain, { timeoutMs: 3000, register: 'always' });
    assert.equal(router({ register: false }).switchoverDrain?.register, 'never');
    assert.equal(router({ register: 'auto' }).switchoverDrain?.register, 'auto');
  });
  test('a bad register value or an unknown key: refused naming the field', () => {
    assert.throws(() => router({ register: 'sometimes' }), /switchover_drain\.register/);
    assert.throws(() => router({ timeuot: '1s' }), /switchover_drain\.timeuot/);
  });
});
