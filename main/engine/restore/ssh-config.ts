import { posix } from 'node:path';
import { z } from 'zod';

/**
 * An absolute, normalized POSIX path on a remote host (no `..`, `//`, trailing `/` or control
 * characters): a folder Tidemark may create and later remove.
 */
export function isUsableRemotePath(path: string): boolean {
  return (
    path.length >= 2 &&
    path.startsWith('/') &&
    posix.normalize(path) === path &&
    !path.endsWith('/') &&
    ![...path].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)
  );
}

const remotePath = z
  .string()
  .refine(
    isUsableRemotePath,
    'an absolute path such as /srv/tidemark, without "..", "//", a trailing "/" or control characters',
  );

/** `SHA256:<base64>` as `ssh-keygen -l -E sha256` prints it; the prefix and padding are optional. */
export const hostKeyFingerprintSchema = z
  .string()
  .trim()
  .transform((s) => `SHA256:${s.replace(/^SHA256:/i, '').replace(/=+$/, '')}`)
  .refine(
    (s) => /^SHA256:[A-Za-z0-9+/]{43}$/.test(s),
    'a SHA256 fingerprint such as SHA256:uBaQ/o6Lzc… (ssh-keygen -lf <host key>.pub)',
  );

const sshAuthSchema = z.union([
  z.strictObject({
    privateKeyPath: z.string().min(1),
    /** only held in memory for the restore; persisted configs keep it in the secret store */
    passphrase: z.string().optional(),
  }),
  z.strictObject({
    agent: z.literal(true),
    /** defaults to SSH_AUTH_SOCK */
    socketPath: z.string().min(1).optional(),
  }),
]);

/**
 * One remote host of an SSH restore target. Each node in `nodes` gets `<baseDir>/<nodeId>`
 * (unless the restore names another folder) and its own port, so several nodes can share a host.
 */
export const sshHostConfigSchema = z.object({
  host: z
    .string()
    .min(1)
    .regex(/^[A-Za-z0-9.:_-]+$/, 'a host name or IP address'),
  port: z.number().int().min(1).max(65535).default(22),
  user: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'an OS user name')
    .refine(
      (u) => u !== 'root',
      'PostgreSQL refuses to run as root: log in as the OS user that should own the server (e.g. postgres)',
    ),
  auth: sshAuthSchema,
  /**
   * The host key's fingerprint. Omitted: the first connection fails and shows the host's
   * fingerprint, to be confirmed by the user against the server — never accepted silently.
   */
  hostKey: z.object({ sha256: hostKeyFingerprintSchema }).optional(),
  /** remote PostgreSQL bin dir; omitted: detected from the usual package locations and PATH */
  binDir: remotePath.optional(),
  baseDir: remotePath,
  /** Tidemark node ids (e.g. `n1`) restored on this host */
  nodes: z.array(z.string().min(1)).min(1),
});
export type SshHostConfig = z.infer<typeof sshHostConfigSchema>;
export type SshHostConfigInput = z.input<typeof sshHostConfigSchema>;

export const sshProvisionerConfigSchema = z
  .object({
    hosts: z.array(sshHostConfigSchema).min(1),
    /** seconds `pg_ctl -w start` may wait for a restored server to accept connections */
    startTimeoutSeconds: z.number().int().min(5).max(86_400).default(600),
    keepaliveIntervalMs: z.number().int().min(1000).default(15_000),
    readyTimeoutMs: z.number().int().min(1000).default(20_000),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, string>();
    for (const [index, host] of config.hosts.entries()) {
      for (const nodeId of host.nodes) {
        const previous = seen.get(nodeId);
        if (previous) {
          ctx.addIssue({
            code: 'custom',
            path: ['hosts', index, 'nodes'],
            message: `node ${nodeId} is assigned to both ${previous} and ${host.host}:${host.port}`,
          });
        }
        seen.set(nodeId, `${host.host}:${host.port}`);
      }
    }
  });
export type SshProvisionerConfig = z.infer<typeof sshProvisionerConfigSchema>;
export type SshProvisionerConfigInput = z.input<typeof sshProvisionerConfigSchema>;

export function hostLabel(host: Pick<SshHostConfig, 'user' | 'host' | 'port'>): string {
  return `${host.user}@${host.host}:${host.port}`;
}
