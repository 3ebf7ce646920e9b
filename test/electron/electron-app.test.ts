import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { _electron, type ElectronApplication, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { methodNames, type TidemarkBridge } from '../../main/api/contract/index.js';
import { tempDir } from '../support/temp-dir.js';

const repoRoot = resolve(import.meta.dirname, '..', '..');

/** The Electron binary, or why it is missing: require('electron') throws when it was never downloaded. */
function findElectron(): { path: string } | { missing: string } {
  try {
    const path = createRequire(import.meta.url)('electron') as unknown;
    if (typeof path === 'string' && existsSync(path)) return { path };
    return { missing: `the electron package points at ${String(path)}, which does not exist` };
  } catch (err) {
    return { missing: err instanceof Error ? err.message : String(err) };
  }
}

const electron = findElectron();
if ('missing' in electron)
  console.log(
    `Skipping the Electron tests: the Electron binary is not installed here (${electron.missing}).`,
  );

/** What the preload put on the page, as the page sees it. */
type PageGlobals = {
  tidemark?: TidemarkBridge & Record<string, unknown>;
  require?: unknown;
  process?: unknown;
  location: { href: string };
  open(url: string): unknown;
};
const pageGlobals = () => globalThis as unknown as PageGlobals;

describe.skipIf('missing' in electron)('desktop app (Electron)', () => {
  let home: { path: string; cleanup: () => Promise<void> };
  let app: ElectronApplication;
  let page: Page;

  beforeAll(async () => {
    if (
      !existsSync(join(repoRoot, 'out', 'desktop', 'main.cjs')) ||
      !existsSync(join(repoRoot, 'out', 'renderer', 'index.html'))
    ) {
      throw new Error('Tidemark is not built: run "npm run build" first (npm test does it).');
    }
    home = await tempDir();
    app = await _electron.launch({
      executablePath: (electron as { path: string }).path,
      // Chromium's sandbox refuses to start as root; everywhere else it stays on.
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), repoRoot],
      env: { ...process.env, TIDEMARK_HOME: home.path, TIDEMARK_DEV_METHODS: '1' },
    });
    page = await app.firstWindow();
    await page.waitForLoadState('domcontentloaded');
  });

  afterAll(async () => {
    await app?.close();
    await home?.cleanup();
  });

  it('loads the renderer from app://tidemark with only the contract exposed', async () => {
    expect(page.url()).toMatch(/^app:\/\/tidemark\//);
    const exposed = await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      return {
        keys: Object.keys(g.tidemark ?? {}).sort(),
        hasRequire: typeof g.require !== 'undefined',
        hasProcess: typeof g.process !== 'undefined',
      };
    });
    expect(exposed.keys).toEqual([...methodNames, 'on'].sort());
    expect(exposed.hasRequire).toBe(false);
    expect(exposed.hasProcess).toBe(false);
  });

  it('answers calls over IPC as the desktop shell', async () => {
    const info = await page.evaluate(() => pageGlobals().tidemark!['app.info']({}));
    expect(info).toMatchObject({
      ok: true,
      value: { shell: 'desktop', secrets: { backend: 'safe-storage' } },
    });
    const bad = await page.evaluate(() =>
      pageGlobals().tidemark!['jobs.get']({} as { id: string }),
    );
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
  });

  it('pushes job events to the window and cancels jobs', async () => {
    const outcome = await page.evaluate(async () => {
      const bridge = pageGlobals().tidemark!;
      const seen: { state: string; seq: number }[] = [];
      const started = await bridge['dev.sleep']({ seconds: 20, steps: 40 });
      if (!started.ok) return { started, seen };
      const id = started.value.id;
      await new Promise<void>((done) => {
        const off = bridge.on('job.updated', (job) => {
          if (job.id !== id) return;
          seen.push({ state: job.state, seq: job.seq });
          if (seen.length === 3) void bridge['jobs.cancel']({ id });
          if (job.state === 'cancelled') {
            off();
            done();
          }
        });
      });
      return { started, seen };
    });
    expect(outcome.started.ok).toBe(true);
    const seqs = outcome.seen.map((s) => s.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(outcome.seen.at(-1)?.state).toBe('cancelled');
  });

  it('shows every section', async () => {
    for (const section of ['clusters', 'timeline', 'restore', 'jobs', 'settings']) {
      await page.getByTestId(`nav-${section}`).click();
      await expect.poll(() => page.getByTestId(`section-${section}`).isVisible()).toBe(true);
    }
    await mkdir(join(repoRoot, '.tmp'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, '.tmp', 'e2e-electron-settings.png') });
  });

  it('blocks navigation away, new windows and files outside the renderer', async () => {
    await page.evaluate(() => {
      pageGlobals().location.href = 'https://example.com/';
    });
    await page.waitForTimeout(500);
    expect(page.url()).toMatch(/^app:\/\/tidemark\//);
    const opened = await page.evaluate(() => pageGlobals().open('https://example.com/') === null);
    expect(opened).toBe(true);
    expect(app.windows()).toHaveLength(1);
    const status = await page.evaluate(
      async () => (await fetch('app://tidemark/%2e%2e/package.json')).status,
    );
    expect(status).toBe(404);
  });
});
