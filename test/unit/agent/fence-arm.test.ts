/**
 * The runner's fence arming each HA cycle (fence-arm.ts) with the shipping FenceKeeper on a recorded host. Seeds 4235,
 * 4266 and 4268: the fence fired and exited once its postgres stopped, the lease was renewed again, and the agent
 * restarted postgres as primary; with the mode still `renew`, no fence ran until the next keepalive, and a freeze or
 * kill of the agent before it left that primary unfenced while another member promoted.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { armFence } from '../../../src/agent/fence-arm';
import { FenceKeeper, type FenceHost } from '../../../src/fence/keeper';
import type { ArmFacts } from '../../../src/fence/arm-plan';
import { silentLogger } from '../../../src/log/logger';
import { ManualClock } from '../../support/manual-clock';

function recordedHost(): FenceHost & { running: Set<number>; spawned: number[]; grants: number } {
  let next = 90_000;
  const h = {
    agentPid: 10_001,
    running: new Set<number>(),
    spawned: [] as number[],
    grants: 0,
    ensureDir: () => undefined,
    writeGrant: () => void h.grants++,
    runningFence: () => [...h.running][0],
    isFence: (pid: number) => h.running.has(pid),
    spawn: () => {
      const pid = ++next;
      h.running.add(pid);
      h.spawned.push(pid);
      return pid;
    },
  };
  return h;
}

function keeperOn(host: FenceHost): FenceKeeper {
  return new FenceKeeper({ dir: '/f', dataDir: '/d', command: [], logger: silentLogger(), scheduler: new ManualClock(), monoNs: () => 0n, host });
}

const VALID = 20_000;
const MARGIN = 5_000;
const leader: ArmFacts = { enabled: true, paused: false, holdsKeyOnOwnLease: true, postgresMayBePrimary: false, becomesPrimary: true };

describe('armFence: a leader cycle keeps a fence running, not only its keepalives', () => {
  it('the fence fired and exited; the next cycle, restarting postgres as primary, starts a new one before it runs', () => {
    const host = recordedHost();
    const keeper = keeperOn(host);
    armFence(keeper, leader, VALID, MARGIN);
    assert.deepEqual(host.spawned, [90_001]);
    // Its deadline passed, it stopped postgres and exited; the lease is renewed again since (the mode stays renew).
    host.running.clear();
    armFence(keeper, leader, VALID, MARGIN);
    assert.deepEqual(host.spawned, [90_001, 90_002]);
  });

  it('a running fence is renewed, not doubled', () => {
    const host = recordedHost();
    const keeper = keeperOn(host);
    armFence(keeper, leader, VALID, MARGIN);
    const grants = host.grants;
    armFence(keeper, { ...leader, becomesPrimary: false }, VALID, MARGIN);
    assert.deepEqual(host.spawned, [90_001]);
    assert.ok(host.grants > grants);
  });
});

