import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CitusTestCluster } from '../support/citus-cluster.js';
import { PgInstance, postgresAvailable, runPg, testPassword } from '../support/postgres.js';
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
const shots = join(repoRoot, '.tmp');

/**
 * The Clusters, Timeline, Restore and Settings → Repositories sections driven in a real browser
 * against `tidemark web`, a real PostgreSQL without Citus, and the Citus-compatible fixture.
 */
describe.skipIf(!postgresAvailable())('UI sections through `tidemark web`', () => {
  let home: { path: string; cleanup: () => Promise<void> };
  let plain: PgInstance;
  let citus: CitusTestCluster;
  let cli: WebCli;
  let context: BrowserContext;
  let page: Page;
  const pageProblems: string[] = [];

  const section = async (id: string) => {
    await page.getByTestId(`nav-${id}`).click();
    await expect.poll(() => page.getByTestId(`section-${id}`).isVisible()).toBe(true);
  };
  const shot = (name: string) =>
    page.screenshot({ path: join(shots, `ui-${name}.png`), fullPage: true });

  beforeAll(async () => {
    if (
      !existsSync(join(repoRoot, 'out', 'renderer', 'index.html')) ||
      !existsSync(join(repoRoot, 'out', 'cli', 'cli.cjs'))
    ) {
      throw new Error(
        'Tidemark is not built: run "npm run build" before the e2e tests (npm test does it).',
      );
    }
    await mkdir(shots, { recursive: true });
    home = await tempDir('tidemark-ui-sections-');
    plain = await PgInstance.create({ dir: join(home.path, 'plain') });
    citus = await CitusTestCluster.create({ dir: join(home.path, 'citus') });
    cli = await startWebCli({ TIDEMARK_HOME: join(home.path, 'home') });
    context = await chromium.launchPersistentContext(join(home.path, 'chromium-profile'), {
      executablePath: chromiumPath,
      args: chromiumArgs,
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageProblems.push(`console: ${msg.text()}`);
    });
    page.on('pageerror', (err) => pageProblems.push(`page error: ${err.message}`));
    await page.goto(cli.url);
  });

  afterAll(async () => {
    await context?.close();
    // the restored cluster's servers run on: stop them (whatever the tests' outcome)
    const restoredDataDirs: string[] = [];
    if (cli) {
      const api = await connectApi(cli);
      const answer = (await api.call('restores.list', {})) as {
        ok: boolean;
        value?: { nodes: { dataDir: string }[] }[];
      };
      for (const record of answer.value ?? [])
        restoredDataDirs.push(...record.nodes.map((n) => n.dataDir));
      api.close();
    }
    const code = await cli?.stop();
    for (const dataDir of restoredDataDirs)
      await runPg('pg_ctl', ['-D', dataDir, '-m', 'fast', '-w', 'stop']).catch(() => undefined);
    await citus?.stop();
    await plain?.stop();
    await home?.cleanup();
    expect(code, cli?.output()).toBe(0);
  });

  it('creates a folder-zone repository through the Settings form and lists it with its zone healthy', async () => {
    await section('settings');
    await page.getByTestId('create-repository').click();
    const form = page.getByTestId('repository-form');
    await form.getByTestId('repository-name').fill('Backups');
    await mkdir(join(home.path, 'zone-a'));
    await form.getByTestId('zone-0-path').fill(join(home.path, 'zone-a'));
    await form.getByTestId('repository-passphrase').fill('short');
    expect(await form.getByTestId('passphrase-strength').textContent()).toMatch(
      /At least 8 characters/,
    );
    await form.getByTestId('repository-passphrase').fill('correct horse battery staple');
    expect(await form.getByTestId('passphrase-strength').textContent()).toMatch(/^Strong/);
    await form.getByTestId('repository-passphrase-repeat').fill('correct horse battery stapler');
    await form.getByTestId('repository-submit').click();
    expect(await form.getByTestId('field-error').allTextContents()).toEqual([
      'The two passphrases differ.',
    ]);

    await form.getByTestId('repository-passphrase-repeat').fill('correct horse battery staple');
    await form.getByTestId('repository-submit').click();
    const card = page.getByTestId('repository-backups');
    await expect.poll(() => card.isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await page.getByTestId('repository-form').count()).toBe(0);
    expect(await card.getByTestId('repository-state').textContent()).toBe('Healthy');
    expect(await card.getByTestId('zone-health-zone-a').getAttribute('data-health')).toBe(
      'healthy',
    );

    // the recovery kit, with the warning that it opens nothing alone
    await card.getByTestId('repository-kit').click();
    const kit = card.getByTestId('recovery-kit');
    await expect.poll(() => kit.isVisible()).toBe(true);
    expect(await kit.textContent()).toMatch(/the passphrase is still needed/);
    expect((await kit.locator('pre').textContent())!.length).toBeGreaterThan(40);
    // retention dry run of an empty repository: nothing would go
    await card.getByTestId('repository-prune-dry-run').click();
    await expect
      .poll(() => card.getByTestId('prune-preview').textContent())
      .toMatch(/nothing would be deleted/);
    await shot('settings');
  });

  it('refuses to add a PostgreSQL server without Citus, and shows why', async () => {
    await section('clusters');
    expect(await page.getByTestId('empty-state').textContent()).toMatch(/No cluster yet/);
    await page.getByTestId('add-cluster').click();
    const form = page.getByTestId('add-cluster-form');
    // the form's own check, then the API's invalid_input placed under the field
    await form.getByTestId('cluster-submit').click();
    expect(await form.getByTestId('field-error').count()).toBeGreaterThanOrEqual(2);
    await form.getByTestId('cluster-name').fill('Plain');
    await form.getByTestId('cluster-host').fill('not a host');
    await form.getByTestId('cluster-port').fill(String(plain.port));
    await form.getByTestId('cluster-password').fill(testPassword);
    expect(await form.getByTestId('cluster-repository').inputValue()).toBe('backups');
    await form.getByTestId('cluster-submit').click();
    await expect
      .poll(() => form.getByTestId('field-error').allTextContents())
      .toEqual(['a host name or IP address']);

    await form.getByTestId('cluster-host').fill('127.0.0.1');
    await form.getByTestId('cluster-submit').click();
    const error = form.getByTestId('add-cluster-error');
    await expect.poll(() => error.isVisible(), { timeout: 30_000 }).toBe(true);
    expect(await error.textContent()).toMatch(/has no Citus: citus_version\(\) does not exist/);
    // the password field keeps nothing visible and the cluster was not added
    expect(await form.getByTestId('cluster-password').getAttribute('type')).toBe('password');
    const api = await connectApi(cli);
    expect(await api.call('clusters.list', {})).toEqual({ ok: true, value: [] });
    api.close();
    await shot('clusters-refusal');
  });

  it('adds the Citus cluster: three nodes with their checks, and a labelled restore point', async () => {
    const form = page.getByTestId('add-cluster-form');
    await form.getByTestId('cluster-name').fill('Fixture');
    await form.getByTestId('cluster-port').fill(String(citus.coordinator.port));
    await form.getByTestId('cluster-submit').click();
    const added = page.getByTestId('cluster-added');
    await expect.poll(() => added.isVisible(), { timeout: 60_000 }).toBe(true);
    expect(await added.textContent()).toMatch(/3 nodes found: Citus 13\.2/);
    expect(await added.getByTestId('check-fail').count()).toBe(0);
    expect(await added.getByTestId('checks-passed').textContent()).toMatch(
      /All \d+ checks passed on 3 nodes/,
    );
    await added.getByRole('button', { name: 'Show them' }).click();
    expect(await added.getByTestId('check-ok').count()).toBeGreaterThan(3);
    await added.getByRole('button', { name: 'Done' }).click();

    const card = page.getByTestId('cluster-fixture');
    await expect
      .poll(() => card.getByTestId('cluster-nodes').locator('tbody tr').count(), {
        timeout: 20_000,
      })
      .toBe(3);
    expect(await card.getByTestId('cluster-nodes').textContent()).toMatch(
      /coordinator.*worker.*worker/,
    );

    await card.getByTestId('cluster-check').click();
    await expect
      .poll(() => card.getByTestId('cluster-check-result').textContent(), { timeout: 30_000 })
      .toMatch(/Every check passed|Some checks failed/);

    await card.getByTestId('restore-point-label').fill('before migration 42');
    await card.getByTestId('restore-point-create').click();
    await expect
      .poll(() => card.getByTestId('restore-point-created').textContent(), { timeout: 30_000 })
      .toMatch(/“before migration 42”.* on 3 nodes/);
    await shot('clusters');
  });

  it('draws the timeline of every node and says no point is restorable yet', async () => {
    await section('timeline');
    const chart = page.getByTestId('timeline-chart');
    await expect.poll(() => chart.isVisible(), { timeout: 20_000 }).toBe(true);
    expect(await chart.locator('[data-testid^="timeline-node-"]').count()).toBe(3);
    // the one point is listed exactly (not bucketed), and is not restorable without a backup
    expect(await page.getByTestId('timeline-points').getAttribute('data-mode')).toBe('exact');
    expect(await page.getByTestId('timeline-points').locator('line').count()).toBe(1);
    expect(await page.getByTestId('timeline-summary').textContent()).toMatch(
      /No restorable point yet\..*1 restore point \(0 restorable, 1 waiting for WAL/,
    );
    await expect
      .poll(() => page.getByTestId('snap-none').textContent())
      .toMatch(/no restorable point yet/);
    await shot('timeline');
  });

  it("shows the API's refusal in the Restore wizard's plan step for a cluster with no backups", async () => {
    await section('restore');
    expect(await page.getByTestId('restore-cluster').inputValue()).toBe('fixture');
    await page.getByTestId('restore-plan').click();
    const refusal = page.getByTestId('restore-refusal');
    await expect.poll(() => refusal.isVisible(), { timeout: 20_000 }).toBe(true);
    expect(await refusal.textContent()).toMatch(
      /This restore cannot be done.*no restorable point yet/,
    );
    expect(await page.getByTestId('restore-step-where').count()).toBe(0);
    // a named point that does not exist is refused by name
    await page.getByTestId('target-point').check();
    await page.getByTestId('target-point-input').fill('no-such-point');
    await page.getByTestId('restore-plan').click();
    await expect
      .poll(() => refusal.textContent(), { timeout: 20_000 })
      .toMatch(/no restore point named "no-such-point"/);
    await shot('restore');
  });

  it('backs up from the Clusters section; the timeline snaps to the restorable point; Restore plans it', async () => {
    await section('clusters');
    const card = page.getByTestId('cluster-fixture');
    await card.getByTestId('cluster-backup').click();
    const state = card.locator('[data-testid^="job-"] [data-testid="job-state"]');
    await expect.poll(() => state.textContent(), { timeout: 120_000 }).toBe('Succeeded');
    await expect
      .poll(() => card.getByTestId('cluster-nodes').textContent(), { timeout: 20_000 })
      .not.toMatch(/none yet/);
    await card.getByTestId('restore-point-label').fill('after the first backup');
    await card.getByTestId('restore-point-create').click();
    await expect
      .poll(() => card.getByTestId('restore-point-created').textContent(), { timeout: 30_000 })
      .toMatch(/after the first backup/);
    const pointName = (await card
      .getByTestId('restore-point-created')
      .locator('code')
      .textContent())!;

    // who streams each node's WAL, as its server sees it, and where the repository's WAL ends
    await card.getByTestId('cluster-wal-overview').click();
    const walOverview = card.getByTestId('wal-overview');
    await expect
      .poll(() => walOverview.locator('tbody tr').count(), { timeout: 30_000 })
      .toBe(3);
    for (const row of await walOverview.locator('tbody tr').all()) {
      expect(await row.textContent()).toMatch(/this app \(pid \d+/);
      expect(await row.textContent()).toMatch(/[0-9A-F]+\/[0-9A-F]+ timeline 1/);
    }
    await shot('clusters-wal');

    await section('timeline');
    // the point becomes restorable once every node's WAL is archived past it
    const snapName = page.getByTestId('snap-point-name');
    await expect
      .poll(
        async () => {
          await page.getByRole('button', { name: 'Reload' }).click();
          await page.getByTestId('timeline-slider').focus();
          await page.keyboard.press('End');
          return (await snapName.count()) > 0 ? snapName.textContent() : null;
        },
        { timeout: 90_000, interval: 2000 },
      )
      .toBe(pointName);
    expect(await page.getByTestId('timeline-backup').count()).toBe(3);
    expect(await page.getByTestId('timeline-wal').count()).toBeGreaterThanOrEqual(3);
    expect(await page.getByTestId('snap-distance').textContent()).toMatch(
      /before the chosen time|at the chosen time/,
    );
    // before every point: nothing to snap to, and the panel says where the earliest is
    await page.keyboard.press('Home');
    await expect.poll(() => page.getByTestId('snap-none').textContent()).toMatch(/The earliest is/);
    await page.keyboard.press('End');
    await expect.poll(() => snapName.textContent()).toBe(pointName);
    await shot('timeline-restorable');

    await page.getByTestId('restore-this-point').click();
    await expect.poll(() => page.getByTestId('section-restore').isVisible()).toBe(true);
    expect(await page.getByTestId('target-point').isChecked()).toBe(true);
    expect(await page.getByTestId('target-point-input').inputValue()).toBe(pointName);
    const plan = page.getByTestId('restore-plan-view');
    await expect.poll(() => plan.isVisible(), { timeout: 20_000 }).toBe(true);
    expect(await plan.getByTestId('plan-point').textContent()).toBe(pointName);
    expect(await plan.locator('tbody tr').count()).toBe(3);
    expect(await page.getByTestId('restore-step-where').isVisible()).toBe(true);
    await shot('restore-plan');
  });

  it('restores into a local folder, follows the job per node, and ticks the checklist', async () => {
    await page.getByTestId('where-local').check();
    await page.getByTestId('where-dir').fill(join(home.path, 'restored'));
    await page.getByTestId('restore-start').click();
    const job = page.getByTestId('restore-job');
    await expect.poll(() => job.isVisible(), { timeout: 20_000 }).toBe(true);
    await expect
      .poll(() => job.getByTestId('job-state').textContent(), { timeout: 240_000, interval: 1000 })
      .toMatch(/Succeeded|Failed/);
    expect(await job.getByTestId('job-state').textContent(), (await job.textContent()) ?? '').toBe(
      'Succeeded',
    );
    expect(await job.locator('[data-testid^="job-part-"]').count()).toBe(3);

    const result = page.getByTestId('restore-step-result');
    await expect
      .poll(() => result.getByTestId('restore-connection-string').isVisible(), { timeout: 20_000 })
      .toBe(true);
    expect(await result.getByTestId('restore-connection-string').textContent()).toMatch(
      /^postgresql:\/\/.*@(127\.0\.0\.1|localhost|\/).*/,
    );
    const first = result.getByTestId('restore-checklist').locator('input[type="checkbox"]').first();
    await first.check();
    const api = await connectApi(cli);
    await expect
      .poll(async () => {
        const answer = (await api.call('restores.list', {})) as {
          value: { checklist: { done: boolean }[] }[];
        };
        return answer.value[0]?.checklist[0]?.done;
      })
      .toBe(true);
    api.close();
    expect(await first.isChecked()).toBe(true);
    await shot('restore-result');
  });

  it('removes the cluster after a confirmation that says its backups stay', async () => {
    await section('clusters');
    const card = page.getByTestId('cluster-fixture');
    await card.getByTestId('cluster-remove').click();
    expect(await card.getByRole('alertdialog').textContent()).toMatch(
      /Nothing is deleted.*stay in repository backups/,
    );
    await card.getByTestId('cluster-remove-confirm').click();
    await expect
      .poll(() => page.getByTestId('clusters-notice').textContent(), { timeout: 20_000 })
      .toMatch(/nothing was deleted/);
    // the notice can show before the list has reloaded
    await expect.poll(() => page.getByTestId('cluster-fixture').count(), { timeout: 10_000 }).toBe(0);
    expect(pageProblems).toEqual([]);
  });
});
