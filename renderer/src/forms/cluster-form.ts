import { sslModes, type SslMode } from '../../../main/engine/net/ssl-modes.js';
import type { AddClusterInput } from '../api/types.js';
import { formResult, parsePort, type FormResult } from './form-result.js';

export { sslModes, type SslMode };

/** What the Add cluster form holds: text as typed. */
export interface ClusterForm {
  name: string;
  host: string;
  port: string;
  database: string;
  user: string;
  /** write-only: sent once with the request, never shown again */
  password: string;
  sslmode: SslMode;
  caFile: string;
  repositoryId: string;
}

export type ClusterField = keyof ClusterForm;

export const emptyClusterForm: ClusterForm = {
  name: '',
  host: '',
  port: '5432',
  database: 'postgres',
  user: 'postgres',
  password: '',
  sslmode: 'prefer',
  caFile: '',
  repositoryId: '',
};

export const sslModeDescriptions: Record<SslMode, string> = {
  disable: 'no TLS',
  prefer: 'TLS if the server offers it, without checking its certificate',
  require: 'TLS always, without checking the certificate',
  'verify-ca': 'TLS, certificate signed by the CA file',
  'verify-full': 'TLS, certificate signed by the CA file and naming the host',
};

/** Checks what the API cannot word well (empty fields, a port that is not a number) and builds `clusters.add`. */
export function clusterFormToInput(
  form: ClusterForm,
  options: { force?: boolean } = {},
): FormResult<AddClusterInput> {
  const errors: Partial<Record<ClusterField, string>> = {};
  if (!form.name.trim()) errors.name = 'Name the cluster, e.g. "Production EU".';
  if (!form.host.trim()) errors.host = "The coordinator's host name or IP address.";
  const port = parsePort(form.port);
  if (port === null) errors.port = 'A port number from 1 to 65535.';
  if (!form.database.trim())
    errors.database = 'The database where the citus extension is installed.';
  if (!form.user.trim()) errors.user = 'A superuser role with REPLICATION.';
  if (!form.repositoryId)
    errors.repositoryId =
      'Choose the repository its backups go to (create one in Settings → Repositories).';
  if ((form.sslmode === 'verify-ca' || form.sslmode === 'verify-full') && !form.caFile.trim())
    errors.caFile = `${form.sslmode} checks the server's certificate: give the CA file that signed it.`;
  return formResult(errors, () => ({
    name: form.name.trim(),
    coordinator: {
      host: form.host.trim(),
      port: port!,
      database: form.database.trim(),
      user: form.user.trim(),
      sslmode: form.sslmode,
      ...(form.caFile.trim() ? { caFile: form.caFile.trim() } : {}),
    },
    ...(form.password ? { password: form.password } : {}),
    repositoryId: form.repositoryId,
    ...(options.force ? { force: true } : {}),
  }));
}

const apiPathToField: Record<string, ClusterField> = {
  name: 'name',
  'coordinator.host': 'host',
  'coordinator.port': 'port',
  'coordinator.database': 'database',
  'coordinator.user': 'user',
  'coordinator.sslmode': 'sslmode',
  'coordinator.caFile': 'caFile',
  password: 'password',
  repositoryId: 'repositoryId',
};

/** Where an `invalid_input` issue of `clusters.add` is shown in the form. */
export function clusterFieldOf(apiPath: string): ClusterField | null {
  return apiPathToField[apiPath] ?? null;
}
