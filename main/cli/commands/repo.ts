import { readFile, writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { summarizeVerify } from '../../engine/catalog/verify-summary.js';
import type { Engine } from '../../engine/engine.js';
import { TidemarkError } from '../../engine/errors.js';
import {
  passphraseSecretName,
  type RepositoryConfigInput,
  type RepositorySecrets,
} from '../../engine/repository/repository-manager.js';
import { secretEnvName } from '../../engine/secrets/env-file-secret-store.js';
import { createHeadlessEngine } from '../headless-engine.js';
import {
  formatList,
  formatLock,
  formatPlan,
  formatPruneResult,
  formatRepair,
  formatStatus,
} from './repo-output.js';
import { canPrompt, promptSecret, readSecretFile } from './repo-secret-input.js';
import {
  parseAzureFlag,
  parseFolderFlag,
  parseS3Flag,
  zonesFromFlags,
  type ZoneFlag,
} from './repo-zone-flags.js';

interface SecretOptions {
  passphraseFile?: string;
}

interface DefineOptions extends SecretOptions {
  name?: string;
  folder?: ZoneFlag[];
  s3?: ZoneFlag[];
  azure?: ZoneFlag[];
  config?: string;
  minZones?: number;
  retentionDays?: number;
  readOrder?: string;
  keyFile?: string;
  secretFile?: string;
  kit?: string;
}

const passphraseHelp =
  'a file (mode 0600) holding the passphrase; default: the stored one, or TIDEMARK_SECRET_REPOSITORY_<ID>_PASSPHRASE';

export function register(program: Command): void {
  const repo = program
    .command('repo')
    .description('create, check and maintain backup repositories');

  defineZoneOptions(repo.command('init <id>').description('create a repository in empty zones'))
    .option(
      '--key-file <path>',
      'unlock with a key file instead of a passphrase (created if missing)',
    )
    .action((id: string, options: DefineOptions) => initCommand(id, options));

  defineZoneOptions(
    repo
      .command('attach <id>')
      .description('add an existing repository to this machine (e.g. a new workstation)'),
  )
    .option('--key-file <path>', 'the key file that unlocks it, if it uses one')
    .option('--kit <file>', 'the recovery kit: restores the keyring in zones that lost it')
    .action((id: string, options: DefineOptions) => attachCommand(id, options));

  repo
    .command('list')
    .description('the repositories configured here')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      withEngine(undefined, {}, async (engine) => {
        const configs = await engine.repositories.list();
        console.log(options.json ? JSON.stringify(configs, null, 2) : formatList(configs));
      }),
    );

  repo
    .command('status <id>')
    .description('zones, lock, missed writes and what the catalog holds')
    .option('--json', 'print JSON')
    .option('--passphrase-file <file>', passphraseHelp)
    .action((id: string, options: SecretOptions & { json?: boolean }) =>
      withEngine(id, options, async (engine) => {
        const status = await engine.repositories.status(id);
        console.log(options.json ? JSON.stringify(status, null, 2) : formatStatus(status));
      }),
    );

  repo
    .command('verify <id>')
    .description(
      'authenticate every object in every zone, check WAL continuity and each base backup against its manifest',
    )
    .option(
      '--sample <fraction>',
      'authenticate only this fraction of the objects, e.g. 0.1',
      parseFraction,
    )
    .option('--no-wal', 'skip the WAL continuity check')
    .option('--no-manifests', 'skip reading base backups against their manifests')
    .option('--json', 'print the full report as JSON')
    .option('--passphrase-file <file>', passphraseHelp)
    .action(
      (
        id: string,
        options: SecretOptions & {
          sample?: number;
          wal: boolean;
          manifests: boolean;
          json?: boolean;
        },
      ) =>
        withEngine(id, options, async (engine) => {
          const progress = progressLine();
          const report = await engine.repositories.verify(id, {
            ...(options.sample === undefined ? {} : { sample: options.sample }),
            wal: options.wal,
            manifests: options.manifests,
            onProgress: (p) =>
              progress(`${p.phase}: ${p.objectsChecked}/${p.objectsTotal} objects`),
          });
          progress(null);
          console.log(options.json ? JSON.stringify(report, null, 2) : summarizeVerify(report));
          if (!report.ok) process.exitCode = 1;
        }),
    );

  repo
    .command('repair <id>')
    .description('copy missing or damaged objects into each zone from a zone with a good copy')
    .option('--json', 'print JSON')
    .option('--passphrase-file <file>', passphraseHelp)
    .action((id: string, options: SecretOptions & { json?: boolean }) =>
      withEngine(id, options, async (engine) => {
        const progress = progressLine();
        const report = await engine.repositories.repair(id, {
          onProgress: (p) => progress(`checked ${p.checked}/${p.total}, copied ${p.copied}`),
        });
        progress(null);
        console.log(options.json ? JSON.stringify(report, null, 2) : formatRepair(report));
        if (!report.ok) process.exitCode = 1;
      }),
    );

  repo
    .command('rekey <id>')
    .description('change the passphrase (the master key is re-wrapped; no backup is rewritten)')
    .option(
      '--passphrase-file <file>',
      `the current passphrase; ${passphraseHelp.replace('a file (mode 0600) holding the passphrase; ', '')}`,
    )
    .option(
      '--new-passphrase-file <file>',
      'a file (mode 0600) with the new passphrase; default: asked on the terminal',
    )
    .action((id: string, options: SecretOptions & { newPassphraseFile?: string }) =>
      withEngine(id, options, async (engine) => {
        const current = await engine.secrets.get(passphraseSecretName(id));
        const old = current ?? (await promptSecret(`Current passphrase of ${id}: `));
        const next = options.newPassphraseFile
          ? await readSecretFile(options.newPassphraseFile, 'the new passphrase')
          : await promptSecret(`New passphrase for ${id}: `, { confirm: true });
        const { warnings } = await engine.repositories.rekey(id, old, next);
        console.log(
          `The passphrase of ${id} is changed and stored in the secret store. Export a new recovery kit: tidemark repo export-kit ${id}`,
        );
        // --passphrase-file reaches the engine as an environment variable of this process only
        const injected =
          options.passphraseFile !== undefined &&
          process.env[secretEnvName(passphraseSecretName(id))] === undefined;
        for (const w of warnings)
          if (!(injected && w.kind === 'environment-overrides'))
            console.log(`warning: ${w.message}`);
      }),
    );

  repo
    .command('export-kit <id>')
    .description(
      'print the recovery kit (no secret; with the passphrase it opens the repository anywhere)',
    )
    .option('--output <file>', 'write it to this file (never overwritten) instead of printing it')
    .option('--passphrase-file <file>', passphraseHelp)
    .action((id: string, options: SecretOptions & { output?: string }) =>
      withEngine(id, options, async (engine) => {
        const kit = await engine.repositories.exportKit(id);
        if (!options.output) return void process.stdout.write(kit);
        await writeFile(options.output, kit, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
          throw new TidemarkError(
            err.code === 'EEXIST' ? 'conflict' : 'invalid_input',
            `Could not write ${options.output}: ${err.code === 'EEXIST' ? 'it exists; choose another name' : err.message}.`,
          );
        });
        console.log(
          `Recovery kit written to ${options.output}. Keep it apart from the passphrase.`,
        );
      }),
    );

  repo
    .command('prune <id>')
    .description('delete backups, WAL and restore points older than the retention window needs')
    .option('--dry-run', 'list what would be deleted, delete nothing')
    .option('--json', 'print JSON')
    .option('--passphrase-file <file>', passphraseHelp)
    .action((id: string, options: SecretOptions & { dryRun?: boolean; json?: boolean }) =>
      withEngine(id, options, async (engine) => {
        if (options.dryRun) {
          const run = await engine.repositories.planPrune(id);
          console.log(options.json ? JSON.stringify(run, null, 2) : formatPlan(run, true));
          return;
        }
        const progress = progressLine();
        const result = await engine.repositories.prune(id, {
          onProgress: (done, total) => progress(`deleted ${done}/${total}`),
        });
        progress(null);
        console.log(
          options.json
            ? JSON.stringify(result, null, 2)
            : `${formatPlan(result, false)}\n${formatPruneResult(result)}`,
        );
      }),
    );

  for (const locked of [true, false]) {
    repo
      .command(`${locked ? 'lock' : 'unlock'} <id>`)
      .description(
        locked
          ? 'block every deletion and any shortening of the retention window'
          : 'lift the lock',
      )
      .option('--reason <text>', 'why (shown with the lock)', '')
      .option('--passphrase-file <file>', passphraseHelp)
      .action((id: string, options: SecretOptions & { reason: string }) =>
        withEngine(id, options, async (engine) => {
          const lock = await engine.repositories.setLocked(id, locked, options.reason);
          console.log(`Repository ${id}: ${formatLock(lock)}`);
        }),
      );
  }

  repo
    .command('retention <id> <days>')
    .description('set the retention window in days (a locked repository refuses a shorter one)')
    .option('--passphrase-file <file>', passphraseHelp)
    .action((id: string, days: string, options: SecretOptions) =>
      withEngine(id, options, async (engine) => {
        const config = await engine.repositories.setRetentionDays(id, parseDays(days));
        console.log(`Repository ${id} keeps ${config.retentionDays} days.`);
      }),
    );

  repo
    .command('forget <id>')
    .description('remove the repository from this machine; its zones keep every backup')
    .action((id: string) =>
      withEngine(id, {}, async (engine) => {
        await engine.repositories.forget(id);
        console.log(
          `Repository ${id} is no longer configured here. Its backups stay in its zones; "tidemark repo attach" adds it again.`,
        );
      }),
    );

  repo
    .command('destroy <id>')
    .description(
      'DELETE every backup in the repository, in every zone (needs --confirm <id> and no lock)',
    )
    .requiredOption('--confirm <id>', 'the repository id, typed again')
    .option('--passphrase-file <file>', passphraseHelp)
    .action((id: string, options: SecretOptions & { confirm: string }) =>
      withEngine(id, options, async (engine) => {
        const { deleted } = await engine.repositories.destroy(id, { confirm: options.confirm });
        console.log(`Repository ${id} is deleted: ${deleted} object(s) removed from every zone.`);
      }),
    );
}

function defineZoneOptions(command: Command): Command {
  return command
    .option('--name <name>', 'a display name (default: the id)')
    .option(
      '--folder <path>',
      'a folder zone: a path, or id=…,path=…,name=… (repeatable)',
      parseFolderFlag,
    )
    .option(
      '--s3 <spec>',
      'an S3 zone: endpoint=…,bucket=…,region=…,prefix=…,access-key-id=…[,id=…,secret-file=…] (repeatable)',
      parseS3Flag,
    )
    .option(
      '--azure <spec>',
      'an Azure zone: account-url=…,account=…,container=…,prefix=…[,id=…,secret-file=…|sas-file=…] (repeatable)',
      parseAzureFlag,
    )
    .option('--config <file>', 'the repository configuration as JSON (instead of zone flags)')
    .option(
      '--min-zones <n>',
      'zones an object must reach to count as stored (default 1)',
      parsePositive,
    )
    .option('--retention-days <n>', 'retention window in days (default 35)', parsePositive)
    .option('--read-order <ids>', 'zone ids to read from first, comma-separated')
    .option(
      '--secret-file <file>',
      'a file (mode 0600) with the secret of the one S3 or Azure zone',
    )
    .option(
      '--passphrase-file <file>',
      'a file (mode 0600) with the passphrase; default: TIDEMARK_SECRET_REPOSITORY_<ID>_PASSPHRASE, or asked on the terminal',
    );
}

async function initCommand(id: string, options: DefineOptions): Promise<void> {
  const { config, zoneSecrets } = await configFromOptions(id, options);
  const secrets: RepositorySecrets = { zones: zoneSecrets };
  let origin = '';
  if (!options.keyFile) {
    const envName = secretEnvName(passphraseSecretName(id));
    if (process.env[envName]) {
      Object.assign(secrets, { passphrase: process.env[envName], storePassphrase: false });
      origin = `The passphrase comes from ${envName}; it is not stored, so keep it set wherever Tidemark opens this repository.`;
    } else {
      const passphrase = options.passphraseFile
        ? await readSecretFile(options.passphraseFile, 'the passphrase')
        : await askNewPassphrase(id, envName);
      Object.assign(secrets, { passphrase });
      origin = 'The passphrase is stored in the secret store (readable by you only).';
    }
  }
  await withEngine(undefined, {}, async (engine) => {
    const created = await engine.repositories.create(config, secrets);
    console.log(
      `Repository ${created.id} created in ${created.zones.length} zone(s): ${created.zones.map((z) => `${z.id} (${z.kind})`).join(', ')}.`,
    );
    console.log(
      options.keyFile
        ? `It is unlocked by the key file ${options.keyFile}; keep a copy of it offline.`
        : origin,
    );
    console.log(
      `Keep the recovery kit apart from the passphrase: tidemark repo export-kit ${created.id} --output <file>`,
    );
  });
}

async function attachCommand(id: string, options: DefineOptions): Promise<void> {
  const { config, zoneSecrets } = await configFromOptions(id, options);
  const secrets: RepositorySecrets = { zones: zoneSecrets };
  const envName = secretEnvName(passphraseSecretName(id));
  if (!options.keyFile && !process.env[envName]) {
    secrets.passphrase = options.passphraseFile
      ? await readSecretFile(options.passphraseFile, 'the passphrase')
      : await promptSecret(`Passphrase of ${id}: `);
  } else if (!options.keyFile) {
    Object.assign(secrets, { passphrase: process.env[envName], storePassphrase: false });
  }
  const kit = options.kit ? await readFile(options.kit, 'utf8') : undefined;
  await withEngine(undefined, {}, async (engine) => {
    const attached = await engine.repositories.attach(
      config,
      secrets,
      kit === undefined ? {} : { kit },
    );
    const { catalog } = await engine.repositories.open(attached.id);
    console.log(
      `Repository ${attached.id} attached: ${catalog.clusters().length} cluster(s) in its catalog.`,
    );
  });
}

async function configFromOptions(
  id: string,
  options: DefineOptions,
): Promise<{
  config: RepositoryConfigInput;
  zoneSecrets: NonNullable<RepositorySecrets['zones']>;
}> {
  const flags = [...(options.folder ?? []), ...(options.s3 ?? []), ...(options.azure ?? [])];
  let base: Record<string, unknown> = {};
  if (options.config) {
    try {
      base = JSON.parse(await readFile(options.config, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new TidemarkError(
        'invalid_input',
        `The configuration file ${options.config} could not be read as JSON: ${(err as Error).message}`,
      );
    }
    if (base.id !== undefined && base.id !== id)
      throw new TidemarkError(
        'invalid_input',
        `The configuration file is for repository "${String(base.id)}", not "${id}".`,
      );
  }
  if (flags.length === 0 && !Array.isArray(base.zones)) {
    throw new TidemarkError(
      'invalid_input',
      'Give at least one zone: --folder <path>, --s3 <spec> or --azure <spec>, or a --config file with "zones".',
    );
  }
  const { zones, secrets } = await zonesFromFlags(id, flags, {
    ...(options.secretFile ? { secretFile: options.secretFile } : {}),
    env: process.env,
  });
  const config = {
    ...base,
    id,
    name: options.name ?? (base.name as string | undefined) ?? id,
    zones: [...((base.zones as unknown[] | undefined) ?? []), ...zones],
    ...(options.minZones ? { minZones: options.minZones } : {}),
    ...(options.retentionDays ? { retentionDays: options.retentionDays } : {}),
    ...(options.readOrder ? { readOrder: options.readOrder.split(',').map((s) => s.trim()) } : {}),
    ...(options.keyFile ? { key: { source: 'keyfile', path: options.keyFile } } : {}),
  } as RepositoryConfigInput;
  return { config, zoneSecrets: secrets };
}

async function askNewPassphrase(id: string, envName: string): Promise<string> {
  if (!canPrompt()) {
    throw new TidemarkError(
      'invalid_input',
      `Repository "${id}" needs a passphrase: give --passphrase-file <file readable only by you>, set ${envName}, or run this on a terminal to type it.`,
    );
  }
  return promptSecret(
    `New passphrase for ${id} (at least 8 characters; several words are best): `,
    { confirm: true },
  );
}

/** Runs with the headless engine; `--passphrase-file` reaches the engine as its environment variable, never stored. */
async function withEngine(
  id: string | undefined,
  options: SecretOptions,
  run: (engine: Engine) => Promise<void>,
): Promise<void> {
  const env = { ...process.env };
  if (id && options.passphraseFile)
    env[secretEnvName(passphraseSecretName(id))] = await readSecretFile(
      options.passphraseFile,
      'the passphrase',
    );
  const engine = await createHeadlessEngine({ env });
  try {
    await run(engine);
  } finally {
    await engine.close();
  }
}

/** A progress line on a terminal's stderr, rewritten in place; `null` clears it. */
function progressLine(): (text: string | null) => void {
  if (!process.stderr.isTTY) return () => undefined;
  let last = 0;
  return (text) => {
    if (text === null) return void process.stderr.write('\r\x1b[K');
    const now = Date.now();
    if (now - last < 200) return;
    last = now;
    process.stderr.write(`\r\x1b[K${text}`);
  };
}

function parseFraction(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1))
    throw new InvalidArgumentError('expected a fraction above 0 and at most 1, e.g. 0.1.');
  return n;
}

function parsePositive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1.');
  return n;
}

function parseDays(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 3650)
    throw new TidemarkError(
      'invalid_input',
      `The retention must be a whole number of days from 1 to 3650 (got "${value}").`,
    );
  return n;
}
