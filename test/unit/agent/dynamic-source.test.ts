import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DYNAMIC_CACHE_FILE, DynamicConfigSource } from '../../../src/agent/dynamic-source';
import { parseDynamicConfig } from '../../../src/config/dynamic';
import { createLogger } from '../../../src/log/logger';
import { removeDir, tempDir } from '../../support/tmp';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));
const aDir = (): string => {
  const d = tempDir('dyn');
  dirs.push(d);
  return d;
};
function capture(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const destination = new Writable({ write: (chunk, _e, cb) => { out.push(String(chunk)); cb(); } });
  const logger = createLogger({ level: 'info', destination });
  return { logger, lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}
const bootstrap = parseDynamicConfig({ ttl: 30, loop_wait: 10, retry_timeout: 10 });

describe('DynamicConfigSource: the config key, field by field, and patroni.dynamic.json', () => {
  it('starts on bootstrap.dcs without a cache, then on the cache once one was written (Patroni\'s _load_cache)', async () => {
    const dir = aDir();
    const first = DynamicConfigSource.atStart(bootstrap, dir, capture().logger);
    assert.equal(first.config.ttlSeconds, 30);
    assert.equal(first.adopt({ ttl: 12, loop_wait: 2, retry_timeout: 5, postgresql: { parameters: { max_connections: 150 } } }), true);
    await first.saveCache();
    assert.deepEqual(JSON.parse(readFileSync(join(dir, DYNAMIC_CACHE_FILE), 'utf8')), { ttl: 12, loop_wait: 2, retry_timeout: 5, postgresql: { parameters: { max_connections: 150 } } });
    const log = capture();
    const again = DynamicConfigSource.atStart(bootstrap, dir, log.logger);
    assert.deepEqual([again.config.ttlSeconds, again.config.loopWaitSeconds, again.config.postgresql.parameters.max_connections], [12, 2, 150]);
    assert.equal(again.postgresChanged(), false, 'postgres was started on the cached parameters');
    assert.ok(log.lines().some((l) => l.msg === 'dynamic config loaded from the data directory cache'));
  });

  it('a cache that is not JSON is logged and bootstrap.dcs is used', () => {
    const dir = aDir();
    writeFileSync(join(dir, DYNAMIC_CACHE_FILE), '{ttl');
    const log = capture();
    const s = DynamicConfigSource.atStart(bootstrap, dir, log.logger);
    assert.equal(s.config, bootstrap);
    assert.ok(log.lines().some((l) => l.msg === 'cannot read the dynamic config cache; starting on bootstrap.dcs'));
  });

  it('applies the other fields of a key with a bad one, warns once per change, and asks for a reload of postgres', () => {
    const log = capture();
    const s = new DynamicConfigSource(bootstrap, aDir(), log.logger);
    const key = { ttl: 'twenty', postgresql: { parameters: { max_connections: 150 } } };
    assert.equal(s.adopt(key), true);
    assert.equal(s.adopt(key), false, 'the same key again changes nothing');
    assert.equal(s.config.ttlSeconds, 30);
    assert.equal(s.config.postgresql.parameters.max_connections, 150);
    const warnings = log.lines().filter((l) => l.msg === 'dynamic config setting not applied as written');
    assert.deepEqual(warnings.map((l) => l.warning), ['config.ttl: got "twenty", expected a whole number of seconds (write e.g. ttl: 30); config.ttl keeps 30']);
    assert.equal(s.postgresChanged(), true);
    s.postgresApplied();
    assert.equal(s.postgresChanged(), false);
    assert.equal(s.adopt({ ...key, loop_wait: 5 }), true);
    assert.equal(s.postgresChanged(), false, 'a timing change needs no reload');
  });

  it('does not rewrite an unchanged cache', async () => {
    const dir = aDir();
    const s = new DynamicConfigSource(bootstrap, dir, capture().logger);
    await s.saveCache();
    writeFileSync(join(dir, DYNAMIC_CACHE_FILE), 'touched');
    await s.saveCache();
    assert.equal(readFileSync(join(dir, DYNAMIC_CACHE_FILE), 'utf8'), 'touched');
    assert.equal(existsSync(join(dir, `${DYNAMIC_CACHE_FILE}.${process.pid}.tmp`)), false);
  });
});
