import type { Engine } from '../engine/engine.js';
import { TidemarkError } from '../engine/errors.js';
import type { Job, Progress } from '../engine/jobs/job-types.js';

/**
 * Prints a job's phase changes and progress (at most every `intervalMs`) until it ends.
 * Ctrl-C asks the job to cancel; the job's failure becomes the command's error.
 */
export async function followJob(engine: Engine, job: Job, options: { intervalMs?: number; quiet?: boolean } = {}): Promise<Job> {
  const interval = options.intervalMs ?? 2000;
  let lastPrint = 0;
  let lastPhase = '';
  const print = (j: Job) => {
    if (options.quiet) return;
    const now = Date.now();
    if (j.phase !== lastPhase) {
      lastPhase = j.phase;
      console.log(`[${new Date(now).toISOString().slice(11, 19)}] ${j.title}: ${j.phase}`);
    } else if (now - lastPrint < interval) return;
    lastPrint = now;
    if (j.progress) console.log(`  ${describeProgress(j.progress)}`);
    for (const [name, part] of Object.entries(j.parts)) {
      console.log(`  ${name}: ${part.phase}${part.progress ? `, ${describeProgress(part.progress)}` : ''}${part.message ? ` — ${part.message}` : ''}`);
    }
  };
  const onChange = (j: Job) => j.id === job.id && print(j);
  engine.jobs.on('changed', onChange);
  const cancel = () => {
    console.error('Cancelling… (press Ctrl-C again to quit at once)');
    engine.jobs.cancel(job.id);
    process.once('SIGINT', () => process.exit(130));
  };
  process.once('SIGINT', cancel);
  try {
    const ended = await engine.jobs.wait(job.id);
    if (ended.state !== 'succeeded') {
      const error = ended.error ?? { code: 'internal', message: 'The job failed.' };
      throw new TidemarkError(ended.state === 'cancelled' ? 'cancelled' : 'internal', error.message);
    }
    return ended;
  } finally {
    engine.jobs.off('changed', onChange);
    process.off('SIGINT', cancel);
  }
}

export function describeProgress(p: Progress): string {
  const amount = (n: number) => (p.unit === 'bytes' ? formatBytes(n) : `${Math.round(n)}`);
  const total = p.total !== null ? ` of ${amount(p.total)}` : '';
  const rate = p.rate !== null && p.rate > 0 ? `, ${amount(p.rate)}/s` : '';
  const eta = p.eta !== null ? `, about ${Math.ceil(p.eta)} s left` : '';
  return `${amount(p.done)}${total}${rate}${eta}`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}
