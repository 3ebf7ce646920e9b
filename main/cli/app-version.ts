// Bundled into the CLI at build time, so the version is right wherever the bundle runs.
import { version } from '../../package.json';

export const appVersion: string = version;
