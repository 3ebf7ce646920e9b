import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir.js';
import { connectApi, repoRoot, startWebCli, type WebCli } from './web-cli-process.js';

const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('web UI through `tidemark web`', () => {
  let home: { path: string; cleanup: () => Promise<void> };
  let cli: WebCli;
  let context: BrowserContext;
  let page: Page;
  const pageProblems: string[] = [];

  beforeAll(async () => {
    if (
      !existsSync(join(repoRoot, 'out', 'renderer', 'index.html')) ||
      !existsSync(join(repoRoot, 'out', 'cli', 'cli.cjs'))
    ) {
      throw new Error(
        'Tidemark is not built: run "npm run build" before the e2e tests (npm test does it).',
      );
    }
    home = await tempDir();
    cli = await startWebCli({ TIDEMARK_HOME: join(home.path, 'home'), TIDEMARK_DEV_METHODS: '1' });
    context = await chromium.launchPersistentContext(join(home.path, 'chromium-profile'), {
      executablePath: chromiumPath,
      args: chromiumArgs,
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (msg) => {
      if (msg.type() === 'error')
        pageProblems.push(`console: ${msg.text()} (${msg.location().url})`);
    });
    page.on('pageerror', (err) => pageProblems.push(`page error: ${err.message}`));
    page.on('response', (res) => {
      if (res.status() >= 400)
        pageProblems.push(`HTTP ${res.status()}: ${new URL(res.url()).pathname}`);
    });
  });

  afterAll(async () => {
    await context?.close();
    const code = await cli?.stop();
    expect(code, cli?.output()).toBe(0);
    await home?.cleanup();
  });

  it('opens with the printed URL and shows every section', async () => {
    await page.goto(cli.url);
    for (const section of ['clusters', 'timeline', 'restore', 'jobs', 'settings']) {
      await page.getByTestId(`nav-${section}`).click();
      await expect.poll(() => page.getByTestId(`section-${section}`).isVisible()).toBe(true);
      expect(await page.getByTestId(`nav-${section}`).getAttribute('aria-current')).toBe('page');
    }
    // The settings page shows what the engine reports over the socket.
    await expect.poll(() => page.getByTestId('app-shell').textContent()).toMatch(/\S/);
    expect(await page.getByTestId('connection-banner').count()).toBe(0);
    expect(pageProblems).toEqual([]);
  });

  it('shows a running job with growing progress, and its Cancel button ends it as cancelled', async () => {
    const api = await connectApi(cli);
    const started = (await api.call('dev.sleep', { seconds: 60, steps: 120 })) as {
      ok: boolean;
      value: { id: string };
    };
    expect(started.ok).toBe(true);
    const jobId = started.value.id;

    await page.getByTestId('nav-jobs').click();
    const row = page.getByTestId(`job-${jobId}`);
    await expect.poll(() => row.isVisible(), { timeout: 10_000 }).toBe(true);
    const percent = async () =>
      Number((await row.getByRole('progressbar').getAttribute('aria-valuenow')) ?? NaN);
    await expect.poll(percent, { timeout: 10_000 }).toBeGreaterThan(0);
    const first = await percent();
    await expect.poll(percent, { timeout: 10_000 }).toBeGreaterThan(first);
    expect(await row.getByTestId('job-state').textContent()).toBe('Running');

    await mkdir(join(repoRoot, '.tmp'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, '.tmp', 'e2e-web-jobs-running.png') });

    await page.getByTestId(`job-cancel-${jobId}`).click();
    await expect
      .poll(() => row.getByTestId('job-state').textContent(), { timeout: 10_000 })
      .toBe('Cancelled');
    expect(await page.getByTestId(`job-cancel-${jobId}`).count()).toBe(0);
    expect(await api.call('jobs.get', { id: jobId })).toMatchObject({
      ok: true,
      value: { state: 'cancelled' },
    });
    await page.screenshot({ path: join(repoRoot, '.tmp', 'e2e-web-jobs-cancelled.png') });
    api.close();
    expect(pageProblems).toEqual([]);
  });
});
