import type { RestoreStartInput, RestoreTarget } from '../api/types.js';
import { formResult, parsePort, type FormResult } from './form-result.js';

export type TargetKind = RestoreTarget['kind'];

/** Step (a): what to restore to. */
export interface TargetForm {
  kind: TargetKind;
  /** `datetime-local` value, in the workstation's time zone */
  time: string;
  pointName: string;
}

export interface SshHostForm {
  key: number;
  host: string;
  port: string;
  user: string;
  privateKeyPath: string;
  useAgent: boolean;
  hostKeySha256: string;
  binDir: string;
  baseDir: string;
  /** node ids (from the plan) restored on this host */
  nodes: string[];
}

/** Step (b): where the new cluster goes, and how. */
export interface WhereForm {
  kind: 'local' | 'ssh';
  dir: string;
  binDir: string;
  hosts: SshHostForm[];
  /** CIDRs, one per line (or separated by commas or spaces) */
  clientCidrs: string;
  fullVerify: boolean;
  register: boolean;
  registerName: string;
  registerRepositoryId: string;
}

export const emptyTargetForm: TargetForm = { kind: 'latest', time: '', pointName: '' };

let nextHostKey = 1;

export function emptySshHost(nodes: string[] = []): SshHostForm {
  return {
    key: nextHostKey++,
    host: '',
    port: '22',
    user: '',
    privateKeyPath: '',
    useAgent: false,
    hostKeySha256: '',
    binDir: '',
    baseDir: '',
    nodes,
  };
}

export function emptyWhereForm(): WhereForm {
  return {
    kind: 'local',
    dir: '',
    binDir: '',
    hosts: [emptySshHost()],
    clientCidrs: '',
    fullVerify: false,
    register: false,
    registerName: '',
    registerRepositoryId: '',
  };
}

function pad(n: number): string {
  return n.toString().padStart(2, '0');
}

/** An instant as a `datetime-local` value (local time, to the second). */
export function toDatetimeLocal(iso: string): string {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** A `datetime-local` value (local time) as an ISO instant, or null. */
export function fromDatetimeLocal(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null;
  // Without an offset, Date reads a date-time as local time, which is what the field shows.
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

export function targetFromForm(form: TargetForm): FormResult<RestoreTarget> {
  const errors: Record<string, string> = {};
  const at = form.kind === 'time' ? fromDatetimeLocal(form.time) : null;
  if (form.kind === 'time' && at === null) errors.time = 'Pick a date and time.';
  if (form.kind === 'point' && !form.pointName.trim())
    errors.pointName = 'The name of a restore point, as on the timeline.';
  return formResult(errors, (): RestoreTarget => {
    switch (form.kind) {
      case 'latest':
        return { kind: 'latest' };
      case 'earliest':
        return { kind: 'earliest' };
      case 'time':
        return { kind: 'time', at: at! };
      case 'point':
        return { kind: 'point', name: form.pointName.trim() };
    }
  });
}

const cidrPattern = /^[0-9a-fA-F:.]+\/\d{1,3}$/;

export function parseCidrs(text: string): { cidrs: string[]; invalid: string[] } {
  const items = text.split(/[\s,]+/).filter((s) => s !== '');
  return {
    cidrs: items.filter((c) => cidrPattern.test(c)),
    invalid: items.filter((c) => !cidrPattern.test(c)),
  };
}

/**
 * Builds `restores.start` from the target, the form and the plan's node ids: every node must
 * land on exactly one SSH host.
 */
export function restoreStartInput(
  clusterId: string,
  target: RestoreTarget,
  form: WhereForm,
  planNodes: readonly string[],
): FormResult<RestoreStartInput> {
  const errors: Record<string, string> = {};
  if (form.kind === 'local' && !form.dir.trim())
    errors.dir =
      'A folder on this computer for the new data directories (one sub-folder per node).';
  if (form.kind === 'ssh') {
    if (form.hosts.length === 0) errors.hosts = 'Add a host.';
    form.hosts.forEach((host, i) => {
      const at = (field: string, message: string) => (errors[`hosts.${i}.${field}`] = message);
      if (!host.host.trim()) at('host', 'Host name or IP address.');
      if (parsePort(host.port) === null) at('port', 'A port number from 1 to 65535.');
      if (!host.user.trim()) at('user', 'The SSH user.');
      if (!host.useAgent && !host.privateKeyPath.trim())
        at('privateKeyPath', 'A private key file, or use the SSH agent.');
      if (!host.hostKeySha256.trim())
        at(
          'hostKeySha256',
          'The host key fingerprint, e.g. SHA256:… from ssh-keyscan | ssh-keygen -lf -',
        );
      if (!host.baseDir.trim()) at('baseDir', 'The folder on the host for the data directories.');
      if (host.nodes.length === 0) at('nodes', 'Choose the nodes restored on this host.');
    });
    for (const nodeId of planNodes) {
      const on = form.hosts.filter((h) => h.nodes.includes(nodeId)).length;
      if (on === 0) errors.hosts = `Node ${nodeId} is on no host: every node needs one.`;
      if (on > 1) errors.hosts = `Node ${nodeId} is on ${on} hosts: choose one.`;
    }
  }
  const { cidrs, invalid } = parseCidrs(form.clientCidrs);
  if (invalid.length > 0)
    errors.clientCidrs = `Not a network in CIDR form (e.g. 10.0.0.0/8, fd00::/64): ${invalid.join(', ')}`;
  if (form.register) {
    if (!form.registerName.trim()) errors.registerName = 'A name for the new cluster in Tidemark.';
    if (!form.registerRepositoryId)
      errors.registerRepositoryId = 'The repository its own backups go to.';
  }
  return formResult(errors, () => ({
    clusterId,
    target,
    provisioner:
      form.kind === 'local'
        ? {
            kind: 'local' as const,
            dir: form.dir.trim(),
            ...(form.binDir.trim() ? { binDir: form.binDir.trim() } : {}),
          }
        : {
            kind: 'ssh' as const,
            hosts: form.hosts.map((h) => ({
              host: h.host.trim(),
              port: parsePort(h.port)!,
              user: h.user.trim(),
              ...(h.useAgent ? { agent: true } : { privateKeyPath: h.privateKeyPath.trim() }),
              hostKeySha256: h.hostKeySha256.trim(),
              ...(h.binDir.trim() ? { binDir: h.binDir.trim() } : {}),
              baseDir: h.baseDir.trim(),
              nodes: planNodes.filter((n) => h.nodes.includes(n)),
            })),
          },
    ...(cidrs.length > 0 ? { clientCidrs: cidrs } : {}),
    ...(form.fullVerify ? { fullVerify: true } : {}),
    ...(form.register
      ? { register: { name: form.registerName.trim(), repositoryId: form.registerRepositoryId } }
      : {}),
  }));
}

/** Where an `invalid_input` issue of `restores.start` is shown. */
export function restoreFieldOf(apiPath: string): string | null {
  if (apiPath === 'provisioner.dir') return 'dir';
  if (apiPath === 'provisioner.binDir') return 'binDir';
  const host = /^provisioner\.hosts\.(\d+)\.(\w+)$/.exec(apiPath);
  if (host) return `hosts.${host[1]}.${host[2]}`;
  if (apiPath.startsWith('clientCidrs')) return 'clientCidrs';
  if (apiPath === 'register.name') return 'registerName';
  if (apiPath === 'register.repositoryId') return 'registerRepositoryId';
  if (apiPath === 'target.at') return 'time';
  if (apiPath === 'target.name') return 'pointName';
  return null;
}
