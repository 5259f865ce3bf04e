/**
 * The live status page (issue 6) in headless Chromium, against a real 3-node pgha cluster whose agents each run
 * the router embedded. The page served by a router is loaded once; a planned switchover (REST POST /switchover)
 * moves the leader; without a reload the page shows the new leader and the change in its leader-changes list.
 * The agent's page (GET / from a browser) shows the same from `/cluster` and `/history`, with the health check's
 * status code. Screenshots go to test-output/status-page/.
 *
 * Chromium is Debian's (/usr/bin/chromium), driven by playwright-core (no browser download). Without it the test
 * is skipped with a diagnostic, except under CI, where a missing browser fails.
 */
import { after, before, describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import type { BrowserContext, Page } from 'playwright-core';
import { PASSWORD, startTestCluster, type TestCluster } from '../../support/cluster';
import { freePort } from '../../support/ports';
import { waitFor } from '../../support/wait';
import { CHROMIUM, chromiumMissing as missing, inCi, launchChromium } from './browser';

const OUT = resolve(__dirname, '..', '..', '..', '..', 'test-output', 'status-page');

interface RouterPorts { write: number; read: number; metrics: number }

function routerSection(p: RouterPorts): string {
  return `router:
  listeners:
    - {name: write, role: primary, listen: "127.0.0.1:${p.write}", hold_timeout: 30s}
    - {name: read, role: replica, listen: "127.0.0.1:${p.read}", max_lag: 16MB, max_lag_seconds: 30s, hold_timeout: 10s}
  metrics: {listen: "127.0.0.1:${p.metrics}"}
  health: {interval: 1s, timeout: 800ms, fast_interval: 50ms}
`;
}

if (missing && inCi) {
  test('headless Chromium is installed (required under CI)', () => {
    assert.fail(`${CHROMIUM} not found: the status page test needs Debian's chromium (scripts/setup.sh installs it)`);
  });
}

describe('status page in headless Chromium', {
  timeout: 600_000,
  skip: missing ? `${CHROMIUM} not found (apt-get install --no-install-recommends chromium)${inCi ? '' : '; skipped outside CI'}` : false,
}, () => {
  let c: TestCluster;
  let context: BrowserContext | undefined;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  const ports: RouterPorts[] = [];

  before(async () => {
    mkdirSync(OUT, { recursive: true });
    for (let i = 0; i < 3; i++) ports.push({ write: await freePort(), read: await freePort(), metrics: await freePort() });
    c = await startTestCluster({ dcs: { ttl: 10, loop_wait: 1, retry_timeout: 3 }, extra: (i) => routerSection(ports[i]!) });
    browser = await launchChromium();
    context = browser.context;
    await c.waitHealthy(180_000);
  });

  after(async () => {
    await browser?.close();
    if (c) await c.close();
  });

  /** Shows the page's state in a failure message. */
  async function describePage(page: Page): Promise<string> {
    const text = await page.locator('body').innerText({ timeout: 5000 }).catch((err: unknown) => `(no text: ${String(err)})`);
    return text.slice(0, 3000);
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(OUT, name), fullPage: true, timeout: 30_000 });
  }

  const text = (page: Page, selector: string): Promise<string> => page.locator(selector).first().textContent({ timeout: 5000 }).then((t) => t ?? '');
  const attr = (page: Page, selector: string, name: string): Promise<string | null> => page.locator(selector).first().getAttribute(name, { timeout: 5000 });

  it("the router's page follows a switchover without a reload", async (t) => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const oldLeader = c.nodes[li]!.name;
    const candidate = c.nodes[(li + 1) % 3]!.name;
    const ri = (li + 2) % 3;
    const p = ports[ri]!;
    const base = `http://127.0.0.1:${p.metrics}`;
    await waitFor('the router confirms the leader', async () => {
      const s = (await fetch(`${base}/status`).then((r) => r.json())) as { leader: { member: string } | null };
      return s.leader?.member === oldLeader;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    // A tool (no Accept: text/html) still gets /health's JSON at /.
    const plain = await fetch(`${base}/`);
    assert.equal(plain.status, 200);
    assert.match(plain.headers.get('content-type') ?? '', /application\/json/);
    await plain.arrayBuffer();

    const page = await context!.newPage();
    try {
      const res = await page.goto(`${base}/?interval=500`, { waitUntil: 'load', timeout: 60_000 });
      assert.equal(res?.status(), 200);
      assert.match(res?.headers()['content-type'] ?? '', /text\/html/);
      await waitFor('the page shows the leader', async () => (await text(page, '#leader')) === oldLeader, { timeoutMs: 30_000, intervalMs: 200 });
      assert.equal(await page.locator('#members tr').count(), 3);
      assert.equal(await attr(page, `#members tr[data-member="${oldLeader}"]`, 'data-role'), 'leader');
      // One open session through this router's write port shows in the leader's row and the write listener's.
      const client = new Client({ host: '127.0.0.1', port: p.write, user: 'admin', password: PASSWORD, database: 'postgres', connectionTimeoutMillis: 60_000 });
      client.on('error', () => undefined);
      await waitFor('a session through the write port', async () => {
        await client.connect();
        return true;
      }, { timeoutMs: 60_000, intervalMs: 500 });
      try {
        await waitFor('the page shows the open connection and the pools', async () => {
          const row = page.locator(`#members tr[data-member="${oldLeader}"]`);
          const replicaRows = page.locator('#members tr[data-role="replica"]');
          return (await row.getAttribute('data-connections', { timeout: 5000 })) === '1'
            && (await row.innerText({ timeout: 5000 })).includes('✓ write')
            && (await replicaRows.count()) === 2
            && (await text(page, '#members tr[data-role="replica"] td:nth-child(4)')) !== '—'
            && (await text(page, '#listeners tr[data-listener="write"]')).includes(`${oldLeader}: 1`);
        }, { timeoutMs: 60_000, intervalMs: 200 }).catch(async (err: unknown) => {
          throw new Error(`${String(err)}\npage:\n${await describePage(page)}`);
        });
        await shot(page, 'router-before.png');
      } finally {
        await client.end().catch(() => undefined);
      }

      const timelineBefore = Number(await text(page, `#members tr[data-member="${oldLeader}"] td:nth-child(4)`));
      assert.ok(timelineBefore >= 1, `timeline shown: ${timelineBefore}`);
      const loadId = String(await page.evaluate('window.pghaPageLoad'));
      const rendersBefore = Number(await page.evaluate('window.pghaRenders'));
      const started = Date.now();
      await waitFor('the switchover done', async () => {
        const r = await fetch(`http://127.0.0.1:${c.nodes[li]!.apiPort}/switchover`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ leader: oldLeader, candidate }),
          signal: AbortSignal.timeout(60_000),
        });
        const body = await r.text();
        if (r.status === 200) return true;
        // Refused (e.g. the candidate briefly not streaming on a loaded machine): retried while the leader is unchanged.
        const now = await c.view();
        if (now.leader?.name === candidate) return true;
        t.diagnostic(`switchover answered ${r.status}: ${body.trim()}; retrying`);
        return false;
      }, { timeoutMs: 120_000, intervalMs: 2000 });
      await waitFor('the page shows the new leader and the change', async () => {
        const first = page.locator('#changes li').first();
        return (await text(page, '#leader')) === candidate
          && (await attr(page, `#members tr[data-member="${candidate}"]`, 'data-role')) === 'leader'
          && (await first.getAttribute('data-from', { timeout: 5000 })) === oldLeader
          && (await first.getAttribute('data-to', { timeout: 5000 })) === candidate;
      }, { timeoutMs: 120_000, intervalMs: 200 }).catch(async (err: unknown) => {
        await shot(page, 'router-failure.png').catch(() => undefined);
        throw new Error(`${String(err)}\npage:\n${await describePage(page)}`);
      });
      const shownMs = Date.now() - started;
      assert.equal(String(await page.evaluate('window.pghaPageLoad')), loadId, 'the page was not reloaded');
      assert.ok(Number(await page.evaluate('window.pghaRenders')) > rendersBefore);
      assert.match(await text(page, '#changes li'), /planned switchover/);
      await waitFor('writes routed to the new leader, on a new timeline', async () =>
        (await attr(page, '#listeners tr[data-listener="write"]', 'data-backends')) === candidate
        && Number(await text(page, `#members tr[data-member="${candidate}"] td:nth-child(4)`)) > timelineBefore,
      { timeoutMs: 60_000, intervalMs: 200 }).catch(async (err: unknown) => {
        throw new Error(`${String(err)}\npage:\n${await describePage(page)}`);
      });
      await shot(page, 'router-after.png');
      t.diagnostic(`switchover ${oldLeader} → ${candidate} shown on the page ${shownMs} ms after the request; screenshots in ${OUT}`);
    } finally {
      await page.close().catch(() => undefined);
    }
  });

  it("the agent's page: Patroni's GET / for tools, the page for browsers, with the health check's code", async () => {
    const view = await c.view();
    const li = c.leaderIndex(view);
    const leader = c.nodes[li]!;
    const replica = c.nodes[(li + 1) % 3]!;
    // Tools: Patroni's JSON and status code, as before.
    const plain = await fetch(`http://127.0.0.1:${replica.apiPort}/`);
    assert.equal(plain.status, 503);
    assert.equal(((await plain.json()) as { role: string }).role, 'replica');
    const page = await context!.newPage();
    try {
      const onReplica = await page.goto(`http://127.0.0.1:${replica.apiPort}/`, { waitUntil: 'load', timeout: 60_000 });
      assert.equal(onReplica?.status(), 503, 'a replica answers / with 503 (the health check), also to a browser');
      assert.match(onReplica?.headers()['content-type'] ?? '', /text\/html/);
      const onLeader = await page.goto(`http://127.0.0.1:${leader.apiPort}/?interval=500`, { waitUntil: 'load', timeout: 60_000 });
      assert.equal(onLeader?.status(), 200);
      await waitFor('the agent page shows the leader and the switchover in the history', async () =>
        (await text(page, '#leader')) === leader.name
        && (await page.locator('#members tr').count()) === 3
        && (await page.locator('#changes li').first().getAttribute('data-to', { timeout: 5000 })) === leader.name,
      { timeoutMs: 60_000, intervalMs: 200 }).catch(async (err: unknown) => {
        throw new Error(`${String(err)}\npage:\n${await describePage(page)}`);
      });
      assert.equal(await page.locator('#listeners').isVisible(), false, 'no router sections on the agent page');
      await shot(page, 'agent.png');
    } finally {
      await page.close().catch(() => undefined);
    }
  });
});
