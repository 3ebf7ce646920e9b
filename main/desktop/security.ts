import { contentSecurityPolicy } from '../bridge/static-files.js';

/**
 * The desktop app's security decisions as plain functions (no Electron import), so they are
 * unit tested in Node; the Electron wiring only applies them.
 */

export const appScheme = 'app';
export const appHost = 'tidemark';
/** The origin the renderer runs under; the only one whose main frame may call the API. */
export const appOrigin = `${appScheme}://${appHost}`;
export const appEntryUrl = `${appOrigin}/index.html`;

/** The renderer talks over IPC only: it needs no network at all. */
export const desktopCsp = contentSecurityPolicy([]);

/** Hosts whose https pages the app may open in the user's browser (documentation). */
export const externalLinkHosts: readonly string[] = ['docs.citusdata.com', 'www.postgresql.org'];

/** Whether a link may leave the app for the system browser: https, known host, no tricks. */
export function isAllowedExternalUrl(raw: string): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  return (
    url.protocol === 'https:' &&
    url.port === '' &&
    url.username === '' &&
    url.password === '' &&
    externalLinkHosts.includes(url.hostname)
  );
}

/** Whether a URL belongs to the app's own renderer. */
export function isAppUrl(raw: string): boolean {
  try {
    const url = new URL(raw);
    return url.protocol === `${appScheme}:` && url.host === appHost;
  } catch {
    return false;
  }
}

/**
 * Why secrets cannot be kept with Electron's safeStorage here, or null when they can. On
 * Linux without a keyring Chromium falls back to `basic_text`, a fixed key that protects
 * nothing: Tidemark refuses it rather than pretend the secrets are encrypted.
 */
export function secretStorageProblem(
  platform: NodeJS.Platform,
  encryptionAvailable: boolean,
  linuxBackend: string | null,
): string | null {
  if (platform === 'linux' && linuxBackend === 'basic_text') {
    return 'No system keyring (GNOME Keyring or KWallet) is available, and Tidemark will not store secrets in plain text; install and unlock a keyring, then restart Tidemark (or run the headless CLI with TIDEMARK_SECRET_* variables).';
  }
  if (!encryptionAvailable) {
    return "The operating system's secret storage is not available, so Tidemark cannot store secrets; unlock your keychain or keyring and restart Tidemark.";
  }
  return null;
}
