import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { findBinDir } from '../../../src/postgres/bin';
import { controlData, isValidSystemId } from '../../../src/postgres/controldata';
import { PghaError } from '../../../src/lib/errors';
import { initdb, type PgTools } from '../../../src/postgres/pgctl';
import { postgresUser, removeDir, tempDir } from '../../support/tmp';

describe('initdb and pg_controldata (real PG, as the postgres user)', () => {
  const tools: PgTools = { binDir: findBinDir(), runAs: postgresUser() };
  const base = tempDir('initdb');
  after(() => removeDir(base));

  it("initdb with the seed's options gives checksums and a valid system id", async () => {
    const dataDir = join(base, 'data');
    await initdb(tools, dataDir, ['--encoding=UTF8', '--data-checksums'], { username: 'admin', password: 'test%123' });
    const st = statSync(dataDir);
    assert.equal(st.mode & 0o777, 0o700);
    if (tools.runAs) assert.equal(st.uid, tools.runAs.uid);

    const cd = await controlData(tools, dataDir);
    assert.equal(cd.dataChecksumVersion, 1);
    assert.match(cd.systemId, /^\d{18,20}$/);
    assert.ok(isValidSystemId(cd.systemId));
    assert.equal(cd.clusterState, 'shut down');
    assert.equal(cd.timeline, 1);
    assert.ok(cd.checkpointLsn > 0);
  });

  it('refuses a non-empty data dir and options pgha sets itself', async () => {
    const dataDir = join(base, 'full');
    dataDirWithAStrayFile(dataDir, tools);
    await assert.rejects(initdb(tools, dataDir, [], { username: 'admin' }), (err: unknown) => err instanceof PghaError && err.code === 'data_dir_not_empty');
    await assert.rejects(initdb(tools, join(base, 'other'), ['--pwfile=/x'], { username: 'admin' }), /pgha sets it/);
  });

  it('reports a failing initdb with its own message', async () => {
    await assert.rejects(
      initdb(tools, join(base, 'bad'), ['--encoding=NOT_AN_ENCODING', '--no-sync'], { username: 'admin', password: 'x' }),
      (err: unknown) => err instanceof PghaError && err.code === 'postgres_tool_failed' && /initdb: exited with code 1\n.*NOT_AN_ENCODING/s.test(err.message),
    );
  });
});

/** A data dir with one file in it, owned as postgres would own it. */
function dataDirWithAStrayFile(dir: string, tools: PgTools): void {
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, 'stray'), 'x');
  if (tools.runAs) chownSync(dir, tools.runAs.uid, tools.runAs.gid);
}
