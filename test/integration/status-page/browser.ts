/**
 * Headless Chromium for the status page tests: Debian's (/usr/bin/chromium), driven by playwright-core (no browser
 * download). Without it the page tests are skipped with a diagnostic, except under CI, where a missing browser fails.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { removeDir } from '../../support/tmp';

/** Debian's chromium; PGHA_CHROMIUM names another binary (or a missing one, to check the skip/fail rule). */
export const CHROMIUM = process.env.PGHA_CHROMIUM || '/usr/bin/chromium';
export const inCi = ![undefined, '', '0', 'false'].includes(process.env.CI);
export const chromiumMissing = !existsSync(CHROMIUM);

/**
 * Headless, and quiet on a closed network: without the background-networking flags Chromium's own connections
 * (updates, sync, QUIC probes) are refused here and slow it down. --no-sandbox: the tests run as root.
 */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** A browser with its own profile in a /tmp/pgha-* directory (CI's cleanup of leftovers finds a crashed one). */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = mkdtempSync(join(tmpdir(), 'pgha-chromium-'));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1280, height: 800 },
      timeout: 60_000,
    });
    return {
      context,
      close: async () => {
        await context.close().catch(() => undefined);
        removeDir(profile);
      },
    };
  } catch (err) {
    removeDir(profile);
    throw err;
  }
}
